// The status page: /privacy-status drawn as bar charts, in SVG made here.
'use strict';

// the SVG namespace, as the HTML parser gives it
const SVG = (() => {
    const t = document.createElement('template');
    t.innerHTML = '<svg></svg>';
    return t.content.firstChild.namespaceURI;
})();

function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
}

// horizontal bars: [[label, value, class], ...]
function bars(id, rows, title) {
    const fig = document.getElementById(id);
    const old = fig.querySelector('svg');
    if (old) old.remove();
    const rowH = 22;
    const labelW = 150;
    const width = 420;
    const max = Math.max(1, ...rows.map((r) => r[1]));
    const svg = el('svg', {
        viewBox: `0 0 ${width} ${rows.length * rowH + 4}`,
        role: 'img',
        'aria-label': `${title}: ` +
            rows.map((r) => `${r[0]} ${r[1]}`).join(', '),
    });
    rows.forEach(([label, value, cls], i) => {
        const y = i * rowH + 2;
        svg.append(el('text', { x: labelW - 6, y: y + 15,
                                'text-anchor': 'end' }, label));
        const w = Math.round((width - labelW - 50) * value / max);
        svg.append(el('rect', { x: labelW, y: y + 3, height: rowH - 6,
                                width: Math.max(w, value > 0 ? 2 : 0),
                                class: `bar ${cls || ''}`.trim(),
                                'data-label': label,
                                'data-value': String(value) }));
        svg.append(el('text', { x: labelW + w + 6, y: y + 15 },
                      String(value)));
    });
    fig.append(svg);
}

function draw(s) {
    const dec = s.decisions || {};
    // by reason: each reason's total
    bars('chart-reasons', Object.entries(dec).map(([reason, g]) =>
        [reason, g.total || 0, reason === 'allow' ? 'ok' : 'refusal']),
        'Decisions by reason');
    // by region group: every reason added up, per group
    const groups = {};
    for (const g of Object.values(dec)) {
        for (const [name, n] of Object.entries(g)) {
            if (name === 'total') continue;
            groups[name] = (groups[name] || 0) + n;
        }
    }
    bars('chart-groups', Object.entries(groups).map(([g, n]) => [g, n]),
         'Decisions by region group');
    const lim = s.limits || {};
    bars('chart-limits', ['passed', 'delayed', 'rejected', 'error'].map((k) =>
        [k, lim[k] || 0, k === 'passed' ? 'ok' : 'refusal']),
        'Rate limits');
    const r = s.redis || {};
    bars('chart-redis', ['calls', 'replies', 'errors', 'timeouts', 'skipped']
        .map((k) => [k, r[k] || 0,
                     ['errors', 'timeouts', 'skipped'].includes(k)
                         ? 'refusal' : '']), 'Redis events');
    // the histogram is cumulative (le1 holds le1's, le2 le1's and le2's):
    // each bucket's own count
    const lat = r.latency_ms || {};
    const les = Object.keys(lat).filter((k) => /^le\d+$/.test(k))
        .sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
    let before = 0;
    const rows = les.map((k) => {
        const n = lat[k] - before;
        before = lat[k];
        return [`≤ ${k.slice(2)} ms`, n];
    });
    rows.push(['slower', Math.max(0, (lat.count || 0) - before)]);
    bars('chart-latency', rows, 'Redis replies by time');
}

async function refresh() {
    const line = document.getElementById('status-line');
    try {
        const res = await fetch('/privacy-status', { cache: 'no-store' });
        if (res.status !== 200) {
            line.textContent = `/privacy-status answered ${res.status}.`;
            return;
        }
        const s = await res.json();
        draw(s);
        const total = Object.values(s.decisions || {})
            .reduce((a, g) => a + (g.total || 0), 0);
        line.textContent = `${total} decisions counted; read at ` +
            new Date().toLocaleTimeString() + '.';
        document.body.dataset.drawn = '1';
    } catch (e) {
        line.textContent = `/privacy-status could not be read: ${e.message}`;
    } finally {
        setTimeout(refresh, 2000);
    }
}

refresh();
