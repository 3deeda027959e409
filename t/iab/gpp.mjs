// Random GPP strings made by the IAB's @iabgpp/cmpapi (GppModel), one JSON
// line each:
//   {"s": GPP string, "granted": [...], "refused": [...], "why": ...,
//    "sections": [ids as the library decodes them], "extra": [...]}
// granted and refused: what the string says of preferences, analytics and
// marketing under docs/directives.md, computed from the library's own decoding:
//   - section 2 (tcfeuv2) decides like a TC string;
//   - the US sections (6 uspv1, 7 usnat, 8-27) refuse marketing when the
//     visitor opted out of sale, sharing or targeted advertising (a 2-bit
//     field of value 1; uspv1 OptOutSale "Y") or their GPC subsection says
//     Gpc, and express nothing else;
//   - other sections (5 tcfcav1, ids the library does not know) express
//     nothing;
//   - a refusal from any section wins over a grant.
//
//   node gpp.mjs --seed 12345 --count 3000

import * as G from '@iabgpp/cmpapi';
import { TCString } from '@iabtcf/core';
import {
    args, rng, randomTcString, tcfDecision, gppExpect, US, OPT_OUTS,
} from './common.mjs';

const { GppModel, HeaderV1, RangeEntry } = G;

// each section's fields and their defaults, from the library's classes
const CLASS = Object.fromEntries(Object.values(G)
    .filter((c) => typeof c === 'function' && typeof c.NAME === 'string'
            && typeof c.ID === 'number')
    .map((c) => [c.NAME, c]));
const ID = Object.fromEntries(Object.entries(CLASS)
    .map(([n, c]) => [n, c.ID]));

for (const n of ['tcfeuv2', 'tcfcav1', ...US]) {
    if (!CLASS[n]) throw new Error(`@iabgpp/cmpapi has no section ${n}`);
}

const { seed, count } = args();
const r = rng(seed);

// ------------------------------------------------------------------------
// setting a section's fields at random

function bools(n, p) {
    return Array.from({ length: n }, () => r.bool(p));
}

function sortedIds(max, p) {
    const out = [];
    for (let i = 1; i <= max; i++) if (r.bool(p)) out.push(i);
    return out;
}

function setTcfEu(m, when) {
    const set = (f, v) => m.setFieldValue('tcfeuv2', f, v);
    // Version other than 2 now and then: a reader must not count it
    set('Version', r.weighted([[30, 2], [1, 1], [1, 3]]));
    set('CmpId', r.int(2, 4095));
    set('CmpVersion', r.int(1, 4095));
    set('ConsentScreen', r.int(0, 63));
    set('ConsentLanguage', r.pick(['EN', 'DE', 'FR', 'IT']));
    set('VendorListVersion', r.int(1, 4095));
    set('PolicyVersion', r.weighted([[1, 2], [1, 3], [4, 4], [4, 5]]));
    // IsServiceSpecific stays true: the library refuses to encode false
    // (such strings come in through embed() below)
    set('UseNonStandardStacks', r.bool(0.1));
    set('SpecialFeatureOptins', bools(12, 0.3));
    const scene = r.weighted([[1, 'all'], [1, 'none'], [8, 'random']]);
    const q = scene === 'all' ? 1 : scene === 'none' ? 0
            : r.pick([0.3, 0.6, 0.85, 0.95]);
    const pc = bools(24, 0).map((_, i) => (i < 11 ? r.bool(q) : r.bool(0.02)));
    set('PurposeConsents', pc);
    set('PurposeLegitimateInterests', bools(24, 0.3));
    set('PurposeOneTreatment', r.bool(0.1));
    set('PublisherCountryCode', r.pick(['DE', 'FR', 'AA', 'IE']));
    const top = r.int(1, 1500);
    set('VendorConsents', sortedIds(top, r.pick([0.01, 0.1, 0.5, 0.9])));
    set('VendorLegitimateInterests', sortedIds(r.int(1, 1500),
                                               r.pick([0.01, 0.3])));
    if (r.bool(0.3)) {
        const n = r.int(1, 3);
        set('PublisherRestrictions', Array.from({ length: n }, () =>
            new RangeEntry(r.int(1, 11), r.int(0, 2),
                           sortedIds(r.int(1, 600), 0.05))));
    }
    if (r.bool(0.3)) set('PublisherConsents', bools(24, 0.5));
    set('Created', when);               // and LastUpdated with it
}

function setUs(m, name, q) {
    const defaults = new CLASS[name]().toObj();
    const set = (f, v) => m.setFieldValue(name, f, v);
    if (name === 'uspv1') {
        set('Notice', r.pick(['-', 'Y', 'N']));
        set('OptOutSale', r.bool(q) ? 'Y' : r.pick(['-', 'N']));
        set('LspaCovered', r.pick(['-', 'Y', 'N']));
        return;
    }
    for (const [f, d] of Object.entries(defaults)) {
        if (f === 'MspaVersion' || f === 'GpcSegmentType') continue;
        if (f === 'Version') {
            // usnat: both the 2023 layout (version 1) and the current one
            if (name === 'usnat') set(f, r.bool(0.4) ? 1 : 2);
            continue;
        }
        if (f === 'Gpc') {
            set('GpcSegmentIncluded', r.bool(0.6));
            set(f, r.bool(q));
        } else if (OPT_OUTS.includes(f)) {
            set(f, r.bool(q) ? 1 : r.pick([0, 2]));
        } else if (f === 'MspaCoveredTransaction') {
            set(f, r.int(1, 2));
        } else if (Array.isArray(d)) {
            set(f, d.map(() => r.int(0, 2)));
        } else if (typeof d === 'number') {
            set(f, r.int(0, 2));
        }
    }
    if ('SensitiveDataProcessing' in defaults
        && ['usin', 'usky', 'usri'].includes(name)) {
        set('SensitiveDataConsentSegmentIncluded', r.bool(0.5));
    }
}

// a section body that refuses everything it can: what an unknown section
// carries, so that reading it as a known one would show
function trapBody() {
    const m = new GppModel();
    for (const f of OPT_OUTS) m.setFieldValue('usnat', f, 1);
    m.setFieldValue('usnat', 'Gpc', true);
    return m.encode().split('~')[1];
}
const TRAP = trapBody();

// the header, re-encoded by the library for another list of ids
function header(ids) {
    const h = new HeaderV1();
    h.setFieldValue('SectionIds', ids);
    return h.encode();
}

// ------------------------------------------------------------------------

const out = [];
let undecodable = 0;
let disagree = 0;
const seen = {};

for (let i = 0; i < count; i++) {
    const m = new GppModel();
    const when = new Date(Date.UTC(2021, 0, 1) + r.int(0, 5 * 365) * 86400e3);
    const q = r.pick([0, 0, 0.1, 0.3, 0.6]);          // how often opting out
    const extra = [];

    const names = [];
    if (r.bool(0.4)) names.push('tcfeuv2');
    if (r.bool(0.05)) names.push('tcfcav1');
    if (r.bool(0.3)) names.push('uspv1');
    if (r.bool(0.4)) names.push('usnat');
    const pState = r.pick([0.02, 0.08, 0.3]);
    for (const n of US.slice(2)) if (r.bool(pState)) names.push(n);
    if (names.length === 0) names.push(r.pick(['tcfeuv2', ...US]));

    for (const n of names) {
        if (n === 'tcfeuv2') setTcfEu(m, when);
        else if (n === 'tcfcav1') {
            m.setFieldValue('tcfcav1', 'PurposesExpressConsent', bools(24, 1));
            m.setFieldValue('tcfcav1', 'Created', when);
            m.setFieldValue('tcfcav1', 'LastUpdated', when);
        } else setUs(m, n, q);
    }

    let str;
    try {
        str = m.encode();
    } catch (err) {
        process.stderr.write(`unencodable [${names}]: ${err.message}\n`);
        continue;
    }
    let parts = str.split('~');
    let ids = m.getSectionIds();

    // the tcfeuv2 section as @iabtcf/core writes a TC string (24-bit
    // padding, any segments, global scope too)
    let embedded = null;
    if (names.includes('tcfeuv2') && r.bool(0.3)) {
        embedded = randomTcString(r).s;
        parts[1 + ids.indexOf(ID.tcfeuv2)] = embedded;
        extra.push('embedded @iabtcf/core string');
    }

    // a section of an id the library does not know, carrying opt-outs
    if (r.bool(0.08)) {
        const u = r.pick([1, 4, 28, 29, 30, 35, 40, 63, 64, 100]);
        const at = ids.filter((x) => x < u).length;
        ids = [...ids.slice(0, at), u, ...ids.slice(at)];
        parts = [null, ...parts.slice(1, 1 + at), TRAP,
                 ...parts.slice(1 + at)];
        extra.push(`unknown section ${u}`);
    }
    parts[0] = header(ids);
    str = parts.join('~');

    let e;
    try {
        e = gppExpect(str);
    } catch (err) {
        process.stderr.write(`undecodable: ${str}: ${err.message}\n`);
        undecodable++;
        continue;
    }

    // the two IAB libraries must read an embedded TC string alike
    if (embedded) {
        const d = TCString.decode(embedded);
        const alone = tcfDecision({
            version: d.version, serviceSpecific: d.isServiceSpecific,
            policy: d.policyVersion,
            hasPurpose: (p) => d.purposeConsents.has(p),
        });
        const inGpp = new GppModel(str);
        const pc = inGpp.getFieldValue('tcfeuv2', 'PurposeConsents');
        const viaGpp = tcfDecision({
            version: inGpp.getFieldValue('tcfeuv2', 'Version'),
            serviceSpecific: inGpp.getFieldValue('tcfeuv2',
                                                 'IsServiceSpecific'),
            policy: inGpp.getFieldValue('tcfeuv2', 'PolicyVersion'),
            hasPurpose: (p) => pc[p - 1] === true,
        });
        if (alone.granted.join() !== viaGpp.granted.join()) {
            process.stderr.write(`libraries disagree on ${embedded}: `
                + `@iabtcf/core [${alone.granted}], `
                + `@iabgpp/cmpapi [${viaGpp.granted}]\n`);
            disagree++;
        }
    }

    for (const id of e.sections) seen[id] = (seen[id] ?? 0) + 1;
    out.push(JSON.stringify({ s: str, ...e, extra }));
}

out.push(JSON.stringify({
    summary: true, generated: count, undecodable, libraries_disagree: disagree,
    sections_seen: seen,
}));
process.stdout.write(out.join('\n') + '\n');
