// The privacy-edge demo: consent cookies, the region switch, uploads and
// the visitor's jobs.  Plain JavaScript, nothing from another origin.
// Whatever the page says happened is what a server answered.
'use strict';

// Example TC strings (TCF v2, policy version 5, service specific, no
// vendors), made once with the IAB's own encoder and checked by decoding:
// every purpose 1-11 consented, and none
const TC_ACCEPT_ALL = 'CQujIwAQujIwA__ABBENABFgAP_gAAAAAAYgAAAAAAAA';
const TC_REJECT_ALL = 'CQujIwAQujIwA__ABBENABFgAAAAAAAAAAYgAAAAAAAA';

const YEAR = 365 * 24 * 3600;

// the region headers a CDN would add, per choice of the switch
const REGIONS = {
    eea: { label: 'the EEA (DE)', headers: { 'CF-IPCountry': 'DE' } },
    uk: { label: 'the United Kingdom (GB)', headers: { 'CF-IPCountry': 'GB' } },
    ca: { label: 'California (US-CA)',
          headers: { 'CF-IPCountry': 'US', 'CF-Region-Code': 'CA' } },
    elsewhere: { label: 'elsewhere (JP)', headers: { 'CF-IPCountry': 'JP' } },
};

// the models of conf/backend.conf and the media roles each takes
// (inputs=; "?" optional; without inputs= one image or video as "file")
const MODELS = [
    { name: 'fal-ai/kling-video/v2.1/standard/image-to-video',
      provider: 'fal', inputs: [{ role: 'file', optional: false }] },
    { name: 'fal-ai/kling-video/v1.6/pro/image-to-video', provider: 'fal',
      inputs: [{ role: 'image', optional: false },
               { role: 'last_frame', optional: true }] },
    { name: 'bytedance/seedance-1-pro', provider: 'replicate',
      inputs: [{ role: 'file', optional: false }] },
    { name: 'kling-v2-1', provider: 'kling',
      inputs: [{ role: 'file', optional: false }] },
    { name: 'kling-v2-1-master', provider: 'kling',
      inputs: [{ role: 'image', optional: true }] },
    { name: 'seedance-1-0-pro-250528', provider: 'seedance',
      inputs: [{ role: 'image', optional: true },
               { role: 'last_frame', optional: true }] },
    { name: 'veo-3.1-generate-preview', provider: 'veo',
      inputs: [{ role: 'image', optional: true },
               { role: 'last_frame', optional: true }] },
];

const ROLE_LABEL = { file: 'Picture', image: 'First frame',
                     last_frame: 'Last frame' };

const ENDED = new Set(['succeeded', 'failed', 'canceled', 'expired',
                       'deleted']);

const $ = (id) => document.getElementById(id);

// --- cookies -------------------------------------------------------------

function getCookie(name) {
    for (const part of document.cookie.split(';')) {
        const i = part.indexOf('=');
        if (i < 0) continue;
        if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
    }
    return null;
}

function setCookie(name, value, maxAge) {
    document.cookie = `${name}=${value}; Path=/; Max-Age=${maxAge}; ` +
                      'SameSite=Lax';
}

function deleteCookie(name) {
    document.cookie = `${name}=; Path=/; Max-Age=0; SameSite=Lax`;
}

function showCookies() {
    const names = document.cookie.split(';').map((c) => c.split('=')[0].trim())
        .filter((n) => n);
    $('cookie-list').textContent = names.length ? names.join(', ') : 'none';
}

// a random session id, made here, first party, 128 bits
function session() {
    let s = getCookie('session');
    if (!s) {
        const b = new Uint8Array(16);
        crypto.getRandomValues(b);
        s = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
        setCookie('session', s, 30 * 24 * 3600);
        showCookies();
    }
    return s;
}

// --- the region switch ---------------------------------------------------

function region() {
    const r = recall('pe-demo-region');
    return REGIONS[r] ? r : 'eea';
}

function remember(key, value) {
    try {
        localStorage.setItem(key, value);
    } catch (e) {
        // storage refused: the choice lasts for this page
    }
}

function recall(key) {
    try {
        return localStorage.getItem(key);
    } catch (e) {
        return null;
    }
}

function setRegion(r) {
    remember('pe-demo-region', r);
    current.region = r;
}

const current = { region: 'eea', gpc: false };

// every request of this page: the region's headers, its own cookies, and
// with the GPC switch on, the path through nginx's GPC hop
async function api(method, url, body) {
    const res = await fetch((current.gpc ? '/demo/gpc' : '') + url, {
        method, body, credentials: 'same-origin', cache: 'no-store',
        headers: REGIONS[current.region].headers,
    });
    const text = await res.text();
    let json = null;
    try {
        json = JSON.parse(text);
    } catch (e) {
        json = null;
    }
    return { status: res.status, statusText: res.statusText,
             reason: res.headers.get('Privacy-Reason'),
             retryAfter: res.headers.get('Retry-After'),
             type: res.headers.get('Content-Type'), text, json };
}

// what the edge decided for a request with this region and these cookies
async function refreshDecision() {
    let r;
    try {
        r = await api('GET', '/demo/decision');
    } catch (e) {
        $('d-required').textContent = `The edge did not answer: ${e.message}`;
        return null;
    }
    const d = r.json;
    if (!d) {
        $('d-required').textContent = `The edge answered ${r.status}.`;
        return null;
    }
    const granted = d.consent ? d.consent.split(',') : [];
    $('d-region').textContent = d.region;
    $('d-group').textContent = d.group || '(none: the default policy)';
    $('d-consent').textContent = granted.join(', ') || '(nothing)';
    $('d-gpc').textContent = d.gpc ? 'yes' : 'no';
    // what the shipped policies (conf/nginx.conf, privacy_region_policy)
    // mean for the group the edge answered; another policy there needs
    // these words changed
    const strict = ['eea', 'uk', 'ch', 'unknown'].includes(d.group);
    const gpcCounts = d.gpc && d.group === 'us_privacy_states';
    let say = strict
        ? 'Here analytics, marketing and preferences need your consent. '
        : 'Here analytics, marketing and preferences are allowed unless you '
          + 'refuse them' + (gpcCounts ? ', and GPC refuses marketing. '
                                       : '. ');
    say += granted.includes('ai_processing')
        ? 'You have opted in to AI processing: uploads are allowed.'
        : 'AI processing needs your explicit opt-in in every region: '
          + 'without it uploads are refused.';
    $('d-required').textContent = say;
    $('d-required').dataset.granted = granted.join(',');
    // the analytics cookie stays only while analytics is granted
    if (!granted.includes('analytics') && getCookie('_pk_demo') !== null) {
        deleteCookie('_pk_demo');
    }
    showCookies();
    return d;
}

// the analytics pixel: its cookie is set only if the edge lets it through
async function visit() {
    try {
        await api('GET', '/demo/visit');
    } catch (e) {
        // no pixel, no cookie
    }
    showCookies();
}

async function refreshEdge() {
    await visit();
    await refreshDecision();
}

// --- the consent banner --------------------------------------------------

function showBanner() {
    const kv = parseKv(getCookie('pe_consent'));
    const tc = getCookie('euconsent-v2');
    for (const c of ['analytics', 'marketing', 'preferences']) {
        $(`c-${c}`).checked = tc === TC_ACCEPT_ALL || kv[c] === '1';
    }
    $('c-ai').checked = kv.ai_processing === '1';
    $('banner').hidden = false;
    $('banner-title').focus();
}

function parseKv(v) {
    const out = {};
    for (const p of (v || '').split(',')) {
        const [k, val] = p.split(':');
        if (k) out[k.trim()] = (val || '').trim();
    }
    return out;
}

async function saveConsent(mode) {
    const ai = mode !== 'reject' && $('c-ai').checked ? 1 : 0;
    if (mode === 'accept') {
        setCookie('euconsent-v2', TC_ACCEPT_ALL, YEAR);
        setCookie('pe_consent', `ai_processing:${ai}`, YEAR);
    } else if (mode === 'reject') {
        setCookie('euconsent-v2', TC_REJECT_ALL, YEAR);
        setCookie('pe_consent', 'ai_processing:0', YEAR);
        $('c-ai').checked = false;
    } else {
        // one's own choices: pe_consent speaks for every category, and
        // no TC string may decide before it
        deleteCookie('euconsent-v2');
        const v = ['preferences', 'analytics', 'marketing']
            .map((c) => `${c}:${$(`c-${c}`).checked ? 1 : 0}`);
        v.push(`ai_processing:${ai}`);
        setCookie('pe_consent', v.join(','), YEAR);
    }
    $('banner').hidden = true;
    $('open-settings').focus();
    await refreshEdge();
}

// --- uploads -------------------------------------------------------------

function model() {
    return MODELS.find((m) => m.name === $('model').value) || MODELS[0];
}

function renderInputs() {
    const m = model();
    const box = $('inputs');
    box.textContent = '';
    for (const inp of m.inputs) {
        const id = `in-${inp.role}`;
        const label = document.createElement('label');
        label.htmlFor = id;
        label.textContent = `${ROLE_LABEL[inp.role]} (${inp.role}` +
                            `${inp.optional ? ', optional' : ''})`;
        const input = document.createElement('input');
        input.type = 'file';
        input.id = id;
        input.name = inp.role;
        input.required = !inp.optional;
        box.append(label, input);
    }
    $('model-hint').textContent = `Provider: ${m.provider}; takes ` +
        (m.inputs.length ? m.inputs.map((i) => i.role + (i.optional ? '?' : ''))
            .join(', ') : 'the prompt only') + '.';
}

const EXPLAIN = {
    consent_required: (j) => 'No opt-in: you have not agreed to AI processing '
        + `(${(j.missing || [j.category]).join(', ')}), so the edge refused `
        + 'the upload before it went any further. Change it in the cookie '
        + 'settings.',
    upload_type: (j) => `This type of file is not accepted (${j.type ?? 'no type'}`
        + `, in ${j.part ?? j.role}).`,
    upload_mismatch: (j) => `The file is not what its type says: it says `
        + `${j.type}, but its bytes are `
        + (j.detected ? j.detected : 'no media type the edge knows')
        + ` (${j.part ?? j.role}).`,
    upload_too_large: (j) => `Too large: the limit is ${j.limit} bytes`
        + (j.type ? ` for ${j.type}` : '') + '.',
    upload_malformed: (j) => `The upload is malformed: ${j.detail ?? j.reason}.`,
    rate_limited: (j) => 'Too many uploads: try again in '
        + `${j.retry_after} s.`,
    region_blocked: (j) => `Not available in your region (${j.region}).`,
};

function showAnswer(box, r, okText) {
    box.textContent = '';
    const head = document.createElement('p');
    head.className = r.status < 300 ? 'ok' : 'refused';
    const err = r.json && r.json.error;
    const why = err && EXPLAIN[err] ? EXPLAIN[err](r.json) : null;
    head.textContent = r.status < 300 ? okText
        : (why || `Refused: ${err || r.statusText}` +
           (r.json && r.json.reason ? `: ${r.json.reason}` : ''));
    const meta = document.createElement('p');
    meta.className = 'meta';
    meta.textContent = `HTTP ${r.status}` +
        (r.reason ? `, Privacy-Reason: ${r.reason}` : '') +
        (r.retryAfter ? `, Retry-After: ${r.retryAfter}` : '');
    const pre = document.createElement('pre');
    pre.textContent = r.text.trim();
    box.append(head, meta, pre);
    box.dataset.status = String(r.status);
    box.dataset.reason = r.reason || (err || '');
}

async function upload(ev) {
    ev.preventDefault();
    const box = $('upload-result');
    session();
    const fd = new FormData();
    fd.append('prompt', $('prompt').value);
    fd.append('model', $('model').value);
    for (const input of $('inputs').querySelectorAll('input[type=file]')) {
        if (input.files.length) fd.append(input.name, input.files[0]);
    }
    $('upload-button').disabled = true;
    box.dataset.status = '';
    box.textContent = 'Uploading…';
    try {
        const r = await api('POST', '/v1/jobs', fd);
        showAnswer(box, r, r.json && r.json.id
            ? `Accepted: job ${r.json.id}, ${r.json.status}.` : 'Accepted.');
        if (r.status === 202) await loadJobs();
    } catch (e) {
        box.textContent = `The upload did not reach the edge: ${e.message}`;
        box.dataset.status = 'error';
    } finally {
        $('upload-button').disabled = false;
    }
}

// --- the visitor's jobs --------------------------------------------------

let polling = null;

function jobsStatus(text, status) {
    $('jobs-status').textContent = text;
    $('jobs-status').dataset.status = status || '';
}

async function loadJobs() {
    if (!getCookie('session')) {
        renderJobs([]);
        return;
    }
    let r;
    try {
        r = await api('GET', '/v1/jobs');
    } catch (e) {
        jobsStatus(`The jobs could not be read: ${e.message}`, 'error');
        return;
    }
    if (r.status !== 200 || !r.json || !Array.isArray(r.json.jobs)) {
        jobsStatus(`Reading the jobs: HTTP ${r.status} ${r.text.trim()}`,
                   String(r.status));
        return;
    }
    renderJobs(r.json.jobs);
    const running = r.json.jobs.some((j) => !ENDED.has(j.status));
    clearTimeout(polling);
    polling = running ? setTimeout(loadJobs, 1000) : null;
}

function renderJobs(jobs) {
    const body = $('jobs-body');
    body.textContent = '';
    jobs = jobs.slice().sort((a, b) => (b.created || 0) - (a.created || 0));
    for (const j of jobs) {
        const tr = document.createElement('tr');
        tr.dataset.id = j.id;
        tr.dataset.status = j.status;
        const id = document.createElement('td');
        const code = document.createElement('code');
        code.textContent = `${String(j.id).slice(0, 8)}…`;
        code.title = j.id;
        const full = document.createElement('span');
        full.className = 'visually-hidden';
        full.textContent = j.id;
        code.setAttribute('aria-hidden', 'true');
        id.append(code, full);
        const m = document.createElement('td');
        m.textContent = j.model || '';
        const when = document.createElement('td');
        when.textContent = j.created
            ? new Date(Number(j.created) * 1000).toLocaleTimeString() : '';
        const grp = document.createElement('td');
        grp.className = 'job-group';
        grp.textContent = j.grp || '';
        const st = document.createElement('td');
        st.className = 'job-status';
        st.textContent = j.status + (j.reason ? `: ${j.reason}` : '');
        const out = document.createElement('td');
        if (j.output && /^https?:\/\//.test(j.output)) {
            const a = document.createElement('a');
            a.href = j.output;
            a.rel = 'noopener noreferrer';
            a.className = 'output';
            a.textContent = 'the video';
            out.append(a);
        }
        const act = document.createElement('td');
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'delete';
        del.textContent = 'Delete';
        del.setAttribute('aria-label', `Delete job ${j.id}`);
        del.addEventListener('click', () => deleteJob(j.id));
        act.append(del);
        tr.append(id, m, when, grp, st, out, act);
        body.append(tr);
    }
    $('jobs-empty').hidden = jobs.length > 0;
    $('jobs-table').hidden = jobs.length === 0;
}

async function deleteJob(id) {
    const r = await api('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
    jobsStatus(r.status === 200
        ? `The backend deleted job ${id}: ${r.text.trim()}`
        : `Deleting job ${id}: HTTP ${r.status} ${r.text.trim()}`,
        String(r.status));
    await loadJobs();
}

async function exportAll() {
    if (!getCookie('session')) {
        jobsStatus('No session yet: nothing is held about you.', 'none');
        return;
    }
    const r = await api('GET', '/v1/subjects/me/export');
    if (r.status !== 200) {
        jobsStatus(`Export: HTTP ${r.status} ${r.text.trim()}`,
                   String(r.status));
        return;
    }
    const blob = new Blob([r.text], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = 'privacy-edge-export.json';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    jobsStatus(`Exported: the backend's answer, ${r.text.length} ` +
               'characters, handed to your browser as ' +
               'privacy-edge-export.json.', '200');
}

async function eraseAll() {
    $('erase-confirm').hidden = true;
    const r = await api('DELETE', '/v1/subjects/me');
    jobsStatus(r.status === 200 && r.json
        ? `Erased: the backend says ${r.json.status}, ${r.json.jobs} job(s).`
        : `Erasing: HTTP ${r.status} ${r.text.trim()}`, String(r.status));
    $('erase').focus();
    await loadJobs();
}

// --- start ---------------------------------------------------------------

function start() {
    current.region = region();
    for (const radio of document.querySelectorAll('input[name=region]')) {
        radio.checked = radio.value === current.region;
        radio.addEventListener('change', async () => {
            setRegion(radio.value);
            await refreshEdge();
        });
    }
    current.gpc = recall('pe-demo-gpc') === '1';
    $('gpc-hop').checked = current.gpc;
    $('gpc-hop').addEventListener('change', async () => {
        current.gpc = $('gpc-hop').checked;
        remember('pe-demo-gpc', current.gpc ? '1' : '0');
        await refreshEdge();
    });
    const gpc = navigator.globalPrivacyControl;
    $('gpc-browser').textContent = gpc === true ? 'that GPC is on'
        : gpc === false ? 'that GPC is off'
        : 'nothing of GPC to pages (it may still send the header)';

    for (const m of MODELS) {
        const o = document.createElement('option');
        o.value = m.name;
        o.textContent = `${m.name} (${m.provider})`;
        $('model').append(o);
    }
    $('model').addEventListener('change', renderInputs);
    renderInputs();

    $('open-settings').addEventListener('click', showBanner);
    $('accept-all').addEventListener('click', () => saveConsent('accept'));
    $('reject-all').addEventListener('click', () => saveConsent('reject'));
    $('save-choices').addEventListener('click', () => saveConsent('custom'));
    $('upload-form').addEventListener('submit', upload);
    $('refresh-jobs').addEventListener('click', loadJobs);
    $('export').addEventListener('click', exportAll);
    $('erase').addEventListener('click', () => {
        $('erase-confirm').hidden = false;
        $('erase-yes').focus();
    });
    $('erase-yes').addEventListener('click', eraseAll);
    $('erase-no').addEventListener('click', () => {
        $('erase-confirm').hidden = true;
        $('erase').focus();
    });

    // no choice recorded yet: ask
    if (getCookie('pe_consent') === null) showBanner();
    showCookies();
    refreshEdge().then(() => {
        document.body.dataset.ready = '1';
    });
    loadJobs();
}

start();
