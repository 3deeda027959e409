// The demo site (conf/demo/) in Debian's chromium, headless, over the
// DevTools protocol (playwright-core: it downloads no browser).  Run by
// t/70-demo-browser.t against the shipped stack; each check is one JSON
// line on stdout ({"ok", "name", "detail"}), then {"result": ...} with
// what the test checks at the providers' stand-ins.  {"skip": why} when
// the browser cannot start.
//
//   node demo.mjs --base http://127.0.0.1:PORT --png cat.png \
//                 --screens build/demo-screens [--chromium /usr/bin/chromium]

import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// the driver is installed under build/ (scripts/deps.sh), not in t/
const require = createRequire(new URL('../../build/browser/package.json',
                                      import.meta.url));
const { chromium } = require('playwright-core');

const arg = {};
for (let i = 2; i < process.argv.length; i += 2) {
    arg[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
const BASE = arg.base;
const SCREENS = arg.screens;
const PNG = readFileSync(arg.png);
mkdirSync(SCREENS, { recursive: true });

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let failed = 0;
function check(ok, name, detail) {
    if (!ok) failed++;
    out({ ok: !!ok, name, detail: ok ? undefined : detail });
    return ok;
}
function is(got, want, name) {
    return check(got === want, name, { got, want });
}

// chromium refuses its sandbox to root, and a container may lack the user
// namespaces it needs: then without it (the browser visits this test's
// own loopback pages only)
const launch = (sandbox) => chromium.launch({
    executablePath: arg.chromium || '/usr/bin/chromium',
    headless: true,
    args: sandbox ? [] : ['--no-sandbox'],
    timeout: 30000,
});
let browser;
try {
    const root = process.getuid && process.getuid() === 0;
    browser = await launch(!root).catch((e) => {
        if (root) throw e;
        return launch(false);
    });
} catch (e) {
    out({ skip: `chromium cannot start: ${e.message.split('\n')[0]}` });
    process.exit(0);
}

const ctx = await browser.newContext({ acceptDownloads: true,
                                       viewport: { width: 1100, height: 900 } });
ctx.setDefaultTimeout(15000);
const page = await ctx.newPage();
const origin = new URL(BASE).origin;
const elsewhere = [];
const errors = [];
ctx.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('blob:' + origin)
        && !u.startsWith('data:')) elsewhere.push(u);
});
page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
// the refusals this walk asks for are logged by chromium as failed loads;
// anything else (a CSP violation, a 404, a script error) counts
const EXPECTED = /^Failed to load resource: the server responded with a status of (403|413|415|429) /;
page.on('console', (m) => {
    if (m.type() === 'error' && !EXPECTED.test(m.text())) {
        errors.push(`console: ${m.text()}`);
    }
});

let shot = 0;
async function screen(name) {
    shot++;
    const file = `${String(shot).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path: join(SCREENS, file), fullPage: true });
}

async function cookies() {
    const c = {};
    for (const k of await ctx.cookies(origin)) c[k.name] = k.value;
    return c;
}

const text = (sel) => page.locator(sel).innerText();

// the decision panel after the page's own requests for a region
async function pickRegion(value, region) {
    await page.locator(`input[name=region][value=${value}]`).check();
    await page.waitForFunction((r) =>
        document.getElementById('d-region').textContent === r, region);
    // and the analytics pixel has been asked (the pixel goes first)
    await page.waitForTimeout(150);
}

// the upload form: the result box's status and reason, as the page shows
async function submitUpload(prompt, file) {
    await page.fill('#prompt', prompt);
    await page.setInputFiles('#in-file', file);
    await page.evaluate(() => {
        document.getElementById('upload-result').dataset.status = '';
    });
    await page.click('#upload-button');
    await page.waitForFunction(() => {
        const s = document.getElementById('upload-result').dataset.status;
        return s && s !== '';
    });
    return {
        status: await page.getAttribute('#upload-result', 'data-status'),
        reason: await page.getAttribute('#upload-result', 'data-reason'),
        text: await text('#upload-result'),
    };
}

async function waitJob(id, secs) {
    const row = page.locator(`#jobs-body tr[data-id="${id}"]`);
    await row.waitFor();
    await page.waitForFunction((i) => {
        const r = document.querySelector(`#jobs-body tr[data-id="${i}"]`);
        return r && ['succeeded', 'failed', 'canceled', 'expired']
            .includes(r.dataset.status);
    }, id, { timeout: secs * 1000 });
    return {
        status: await row.getAttribute('data-status'),
        output: await row.locator('a.output').getAttribute('href')
            .catch(() => null),
    };
}

const cat = (name) => ({ name, mimeType: 'image/png', buffer: PNG });
const result = { prompts: {}, jobs: {} };

try {
    // --- first visit: the banner, nothing optional yet ----------------------
    await page.goto(BASE + '/');
    await page.waitForSelector('body[data-ready="1"]');
    check(await page.isVisible('#banner'), 'the consent banner appears');
    is(await page.evaluate(() => document.activeElement.id), 'banner-title',
       'the banner takes the keyboard focus');
    for (const c of ['c-analytics', 'c-marketing', 'c-preferences', 'c-ai']) {
        is(await page.isChecked(`#${c}`), false, `${c} is not ticked`);
    }
    await page.keyboard.press('Tab');
    is(await page.evaluate(() => document.activeElement.id), 'c-analytics',
       'Tab from the banner reaches its first choice');
    const reject = await page.locator('#reject-all').boundingBox();
    const accept = await page.locator('#accept-all').boundingBox();
    check(Math.abs(reject.width - accept.width) < 2
          && Math.abs(reject.height - accept.height) < 2,
          'Reject all is as large as Accept all', { reject, accept });
    let c = await cookies();
    is(c._pk_demo, undefined, 'EEA, no consent: no analytics cookie');
    is(c.session, undefined, 'no session before the first upload');
    is(await text('#d-region'), 'DE', 'the page starts as the EEA (DE)');
    is(await text('#d-consent'), 'necessary', '... where the edge grants '
       + 'only what is necessary');
    await screen('banner');

    // --- the region switch: what each region requires ------------------------
    await pickRegion('elsewhere', 'JP');
    is(await text('#d-consent'),
       'necessary, preferences, analytics, marketing',
       'elsewhere (JP): the opt-out policy grants the cookie categories');
    check(/explicit opt-in in every region/.test(await text('#d-required')),
          '... but AI processing still needs the explicit opt-in');
    c = await cookies();
    check(c._pk_demo !== undefined, 'elsewhere: the analytics cookie is set '
          + 'without a banner choice', c);
    await screen('region-elsewhere');

    const gpcIs = (v) => page.waitForFunction((w) =>
        document.getElementById('d-gpc').textContent === w, v);
    await pickRegion('ca', 'US-CA');
    is(await text('#d-group'), 'us_privacy_states',
       'California: the us_privacy_states group');
    is(await text('#d-gpc'), 'no', '... no GPC yet');
    is(await text('#d-consent'),
       'necessary, preferences, analytics, marketing',
       '... opt-out: the cookie categories granted');
    // the demo's GPC switch: its requests through nginx's GPC hop
    await page.check('#gpc-hop');
    await gpcIs('yes');
    is(await text('#d-consent'), 'necessary, preferences, analytics',
       'California with the demo\'s GPC switch: GPC refuses marketing');
    await screen('region-california-gpc');
    await page.uncheck('#gpc-hop');
    await gpcIs('no');

    // a browser that sends GPC itself (as the test's chromium is told to)
    await page.setExtraHTTPHeaders({ 'Sec-GPC': '1' });
    await pickRegion('uk', 'GB');
    is(await text('#d-gpc'), 'yes', 'the edge receives the browser\'s '
       + 'own GPC');
    is(await text('#d-consent'), 'necessary',
       'the United Kingdom: opt-in, only what is necessary');
    c = await cookies();
    is(c._pk_demo, undefined, '... and the page removed the analytics '
       + 'cookie the edge no longer grants');
    await page.setExtraHTTPHeaders({});
    await pickRegion('eea', 'DE');
    is(await text('#d-group'), 'eea', 'back to the EEA');
    is(await text('#d-gpc'), 'no', '... without GPC');

    // --- reject all, by keyboard; then an upload ------------------------------
    await page.focus('#reject-all');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#banner', { state: 'hidden' });
    c = await cookies();
    is(c['euconsent-v2'], 'CQujIwAQujIwA__ABBENABFgAAAAAAAAAAYgAAAAAAAA',
       'reject all: the reject-all TC string');
    is(c.pe_consent, 'ai_processing:0', '... and pe_consent refuses the '
       + 'AI processing');
    is(c._pk_demo, undefined, '... and no analytics cookie');

    result.prompts.refused = 'a refused cat, no opt-in given';
    let r = await submitUpload(result.prompts.refused,
                               cat('IMG_0041-visitor-cat.png'));
    is(r.status, '403', 'the upload without the opt-in: 403');
    is(r.reason, 'consent_required', '... Privacy-Reason consent_required');
    check(/No opt-in/.test(r.text) && /Privacy-Reason: consent_required/
          .test(r.text) && /"missing":\["ai_processing"\]/.test(r.text),
          '... the page shows the reason, the header and the JSON', r.text);
    c = await cookies();
    check(/^[0-9a-f]{32}$/.test(c.session || ''),
          'the page made a random session cookie', c.session);
    result.session = c.session;
    await screen('refused-no-opt-in');

    // --- change of mind: accept all with the AI opt-in ----------------------
    await page.click('#open-settings');
    await page.waitForSelector('#banner', { state: 'visible' });
    is(await page.isChecked('#c-ai'), false, 'settings again: the AI opt-in '
       + 'is as it was (not ticked)');
    await page.check('#c-ai');
    await page.click('#accept-all');
    await page.waitForSelector('#banner', { state: 'hidden' });
    await page.waitForFunction(() => /ai_processing/.test(
        document.getElementById('d-consent').textContent));
    c = await cookies();
    is(c['euconsent-v2'], 'CQujIwAQujIwA__ABBENABFgAP_gAAAAAAYgAAAAAAAA',
       'accept all: the accept-all TC string');
    is(c.pe_consent, 'ai_processing:1', '... and pe_consent grants the AI '
       + 'processing');
    check(c._pk_demo !== undefined, '... the analytics cookie is set once '
          + 'granted', c);
    is(await text('#d-consent'),
       'necessary, preferences, analytics, marketing, ai_processing',
       '... the edge grants every category');
    await screen('accepted');

    // --- two jobs: accepted, followed to their output -----------------------
    result.prompts.job1 = 'a cat surfing at dusk, from the demo page';
    r = await submitUpload(result.prompts.job1,
                           cat('IMG_0042-visitor-cat.png'));
    is(r.status, '202', 'with the opt-in the upload is accepted: 202');
    const id1 = (r.text.match(/job ([0-9a-f]{32})/) || [])[1];
    check(id1, '... the page shows the job id', r.text);
    // the second from California, through the GPC hop
    await pickRegion('ca', 'US-CA');
    await page.check('#gpc-hop');
    await gpcIs('yes');
    result.prompts.job2 = 'the same cat, a second wave';
    r = await submitUpload(result.prompts.job2,
                           cat('IMG_0043-visitor-cat.png'));
    is(r.status, '202', 'a second upload, from California with GPC: 202');
    const id2 = (r.text.match(/job ([0-9a-f]{32})/) || [])[1];
    await page.uncheck('#gpc-hop');
    await gpcIs('no');
    await pickRegion('eea', 'DE');
    result.jobs = { job1: id1, job2: id2 };
    await screen('uploaded');
    let j = await waitJob(id1, 30);
    is(j.status, 'succeeded', 'the job shows up and runs to succeeded');
    check(/^https?:\/\/[^/]+\/\S+$/.test(j.output || ''),
          '... with the output link', j.output);
    result.output = j.output;
    j = await waitJob(id2, 30);
    is(j.status, 'succeeded', 'the second job too');
    is(await text(`#jobs-body tr[data-id="${id1}"] .job-group`), 'eea',
       'the first job\'s record: region group eea');
    is(await text(`#jobs-body tr[data-id="${id2}"] .job-group`),
       'us_privacy_states', 'the second\'s: us_privacy_states');
    await screen('jobs-succeeded');

    // --- delete one ---------------------------------------------------------
    await page.click(`#jobs-body tr[data-id="${id2}"] button.delete`);
    await page.waitForFunction((i) =>
        !document.querySelector(`#jobs-body tr[data-id="${i}"]`), id2);
    check(/deleted job/.test(await text('#jobs-status'))
          && /"status":"deleted"/.test(await text('#jobs-status')),
          'a job deleted, the backend\'s answer shown',
          await text('#jobs-status'));
    is(await page.locator('#jobs-body tr').count(), 1, '... one job left');
    await screen('deleted-one');

    // --- refusals at the edge: wrong type, disguised, too large -------------
    result.prompts.wrong = 'a cat in a text file';
    r = await submitUpload(result.prompts.wrong, {
        name: 'notes.txt', mimeType: 'text/plain',
        buffer: Buffer.from('not a picture\n') });
    is(r.status, '415', 'a text file: 415');
    is(r.reason, 'upload_type', '... upload_type');
    check(/not accepted \(text\/plain/.test(r.text)
          && /Privacy-Reason: upload_type/.test(r.text),
          '... shown with its type and the header', r.text);
    await screen('refused-wrong-type');

    result.prompts.disguised = 'a script dressed as a cat';
    r = await submitUpload(result.prompts.disguised, {
        name: 'IMG_0044-visitor-cat.png', mimeType: 'image/png',
        buffer: Buffer.from('<html><script>alert(1)</script></html>\n') });
    is(r.status, '415', 'HTML named .png: 415');
    is(r.reason, 'upload_mismatch', '... upload_mismatch');
    check(/not what its type says: it says image\/png/.test(r.text)
          && /Privacy-Reason: upload_mismatch/.test(r.text),
          '... shown as the disguise it is', r.text);
    await screen('refused-disguised');

    result.prompts.large = 'a very large cat';
    const big = Buffer.alloc(10 * 1024 * 1024 + 4096);
    PNG.copy(big);
    r = await submitUpload(result.prompts.large,
        { name: 'IMG_0045-big.png', mimeType: 'image/png', buffer: big });
    is(r.status, '413', 'a PNG over 10 MB: 413');
    is(r.reason, 'upload_too_large', '... upload_too_large');
    check(/Too large: the limit is 10485760 bytes for image\/png/.test(r.text),
          '... shown with the limit', r.text);
    await screen('refused-too-large');

    // --- the rate limit: uploads until the edge says no ----------------------
    let limited = null;
    for (let i = 0; i < 12 && !limited; i++) {
        r = await submitUpload(`rate limit try ${i}`, {
            name: 'notes.txt', mimeType: 'text/plain',
            buffer: Buffer.from('x') });
        if (r.status === '429') limited = r;
    }
    check(limited, 'quick uploads meet the rate limit: 429');
    if (limited) {
        is(limited.reason, 'rate_limited', '... rate_limited');
        check(/Too many uploads: try again in \d+ s/.test(limited.text)
              && /Retry-After: \d+/.test(limited.text),
              '... shown with when to try again', limited.text);
    }
    await screen('refused-rate-limited');

    // --- export everything ---------------------------------------------------
    const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('#export'),
    ]);
    is(download.suggestedFilename(), 'privacy-edge-export.json',
       'export: a JSON file is downloaded');
    const file = join(SCREENS, 'export.json');
    await download.saveAs(file);
    const raw = readFileSync(file, 'utf8');
    let exp = null;
    try {
        exp = JSON.parse(raw);
    } catch (e) {
        exp = null;
    }
    check(exp, '... it is JSON', raw.slice(0, 200));
    check(raw.includes(id1), '... holding the job', raw.slice(0, 400));
    check(!raw.includes(id2), '... and not the deleted one');
    result.export = exp;
    await screen('exported');

    // --- one's own choices: analytics withdrawn, the AI opt-in kept --------
    await page.click('#open-settings');
    await page.waitForSelector('#banner', { state: 'visible' });
    is(await page.isChecked('#c-analytics'), true, 'settings again: the '
       + 'choices as they are (accept all: analytics ticked)');
    await page.uncheck('#c-analytics');
    await page.uncheck('#c-marketing');
    await page.click('#save-choices');
    await page.waitForSelector('#banner', { state: 'hidden' });
    await page.waitForFunction(() => !/analytics/.test(
        document.getElementById('d-consent').textContent));
    c = await cookies();
    is(c.pe_consent, 'preferences:1,analytics:0,marketing:0,ai_processing:1',
       'save my choices: pe_consent names each category');
    is(c['euconsent-v2'], undefined, '... and no TC string decides before it');
    is(c._pk_demo, undefined, '... analytics withdrawn: the page removed '
       + 'its cookie');
    is(await text('#d-consent'), 'necessary, preferences, ai_processing',
       '... the edge grants what was chosen');
    await screen('own-choices');

    // --- erase everything ------------------------------------------------
    await page.click('#erase');
    await page.waitForSelector('#erase-confirm', { state: 'visible' });
    is(await page.evaluate(() => document.activeElement.id), 'erase-yes',
       'erase asks first, the answer in focus');
    await screen('erase-confirm');
    await page.click('#erase-yes');
    await page.waitForFunction(() => /Erased/.test(
        document.getElementById('jobs-status').textContent));
    check(/erased, 1 job/.test(await text('#jobs-status')),
          'erase: the backend says erased, 1 job', await text('#jobs-status'));
    await page.waitForSelector('#jobs-empty', { state: 'visible' });
    is(await page.locator('#jobs-body tr').count(), 0, '... the list is empty');
    await screen('erased');

    // --- the status page -----------------------------------------------------
    await page.goto(BASE + '/status/');
    await page.waitForSelector('body[data-drawn="1"]');
    for (const id of ['chart-reasons', 'chart-groups', 'chart-limits',
                      'chart-redis', 'chart-latency']) {
        const n = await page.locator(`#${id} svg rect.bar`).count();
        check(n > 0, `status page: ${id} drawn (${n} bars)`);
    }
    const val = async (chart, label) => Number(await page.getAttribute(
        `#${chart} rect[data-label="${label}"]`, 'data-value'));
    check(await val('chart-reasons', 'consent_required') >= 1,
          'status page: the consent refusal counted');
    check(await val('chart-reasons', 'upload_mismatch') >= 1,
          '... the disguised file');
    check(await val('chart-limits', 'rejected') >= 1, '... the rate limit');
    check(await val('chart-redis', 'replies') >= 1, '... Redis replies');
    await screen('status');
} catch (e) {
    check(false, `the walk through the demo went on to the end`,
          e.stack || e.message);
    await screen('failure').catch(() => {});
}

check(elsewhere.length === 0, 'nothing was requested from another origin',
      elsewhere);
check(errors.length === 0, 'no script error, no console error (CSP)', errors);
out({ result });
await browser.close();
process.exit(failed ? 1 : 0);
