// Shared by the generators of t/37-consent-iab.t: a seeded random source
// (so a failure replays from its seed), the TCF purpose mapping of
// docs/directives.md applied to what the IAB's libraries DECODE, and a
// random TC string made with @iabtcf/core.
//
// Nothing here decides what a string means from the values we put in: the
// expected answer is always computed from the library's own decoding of
// the string it encoded.

import {
    TCModel, TCString, GVL, Segment, SegmentEncoder, PurposeRestriction,
    Base64Url,
} from '@iabtcf/core';
import { GppModel } from '@iabgpp/cmpapi';

// ------------------------------------------------------------------------
// arguments: --seed N --count N

export function args(argv = process.argv.slice(2)) {
    const a = { seed: 1, count: 1000 };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i].replace(/^--/, '');
        a[k] = Number(argv[++i]);
        if (!Number.isFinite(a[k])) {
            throw new Error(`--${k} needs a number`);
        }
    }
    return a;
}

// ------------------------------------------------------------------------
// sfc32 seeded through splitmix32: the same seed, the same strings

export function rng(seed) {
    let s = seed >>> 0;
    const mix = () => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        return (z ^ (z >>> 16)) >>> 0;
    };
    let a = mix(), b = mix(), c = mix(), d = mix();
    const next = () => {
        a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
        const t = (a + b) | 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) | 0;
        c = (c << 21) | (c >>> 11);
        d = (d + 1) | 0;
        const r = (t + d) | 0;
        c = (c + r) | 0;
        return (r >>> 0) / 4294967296;
    };
    const r = {
        f: next,                                       // [0, 1)
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        bool: (p = 0.5) => next() < p,
        pick: (arr) => arr[Math.floor(next() * arr.length)],
        // a weighted choice: [[weight, value], ...]
        weighted: (pairs) => {
            const total = pairs.reduce((s, [w]) => s + w, 0);
            let x = next() * total;
            for (const [w, v] of pairs) {
                if ((x -= w) < 0) return v;
            }
            return pairs[pairs.length - 1][1];
        },
    };
    return r;
}

// ------------------------------------------------------------------------
// docs/directives.md: a category needs all of its purposes

export const BUILTIN = ['preferences', 'analytics', 'marketing'];

export const TCF_MAP = {
    preferences: [1, 5, 6],
    analytics: [1, 8, 9],
    marketing: [1, 2, 3, 4, 7],
};

// What a decoded TC string expresses.  It counts only if Version 2,
// IsServiceSpecific and TcfPolicyVersion >= 4; then it answers for each
// built-in category (granted or refused); else it refuses them all.
// hasPurpose(n) says whether purpose n is consented.
export function tcfDecision({ version, serviceSpecific, policy, hasPurpose }) {
    const counts = version === 2 && serviceSpecific === true && policy >= 4;
    const granted = [];
    const refused = [];
    for (const cat of BUILTIN) {
        if (counts && TCF_MAP[cat].every((p) => hasPurpose(p))) {
            granted.push(cat);
        } else {
            refused.push(cat);
        }
    }
    let why;
    if (version !== 2) why = `version ${version}: not counted`;
    else if (serviceSpecific !== true) why = 'global scope: not counted';
    else if (policy < 4) why = `policy ${policy}: not counted`;
    else why = hasPurpose(1) ? 'counted' : 'no purpose 1';
    return { counts, granted, refused, why };
}

// the decision for a TC string, from @iabtcf/core's decoding of it
export function tcfExpect(tc) {
    const d = TCString.decode(tc);
    const purposes = [];
    for (let p = 1; p <= 24; p++) {
        if (d.purposeConsents.has(p)) purposes.push(p);
    }
    const dec = tcfDecision({
        version: d.version,
        serviceSpecific: d.isServiceSpecific,
        policy: d.policyVersion,
        hasPurpose: (p) => d.purposeConsents.has(p),
    });
    return { ...dec, decoded: d, purposes };
}

// ------------------------------------------------------------------------
// GPP: the US sections, and the fields by which they opt out

export const US = [
    'uspv1', 'usnat', 'usca', 'usva', 'usco', 'usut', 'usct', 'usfl', 'usmt',
    'usor', 'ustx', 'usde', 'usia', 'usne', 'usnh', 'usnj', 'ustn', 'usmn',
    'usmd', 'usin', 'usky', 'usri',
];
export const OPT_OUTS = ['SaleOptOut', 'SharingOptOut',
                         'TargetedAdvertisingOptOut'];

// ------------------------------------------------------------------------
// what a GPP string expresses, as @iabgpp/cmpapi decodes it
// (docs/directives.md):
// section 2 decides like a TC string; the US sections refuse marketing on
// an opt-out of sale, sharing or targeted advertising (2-bit value 1;
// uspv1 OptOutSale "Y") or Gpc, and say nothing else; other sections say
// nothing; a refusal from any section wins over a grant

export function gppExpect(str) {
    const m = new GppModel(str);
    const ids = m.getSectionIds();
    const why = [];
    let granted = [];
    const refused = new Set();

    if (m.hasSection('tcfeuv2')) {
        const pc = m.getFieldValue('tcfeuv2', 'PurposeConsents');
        const d = tcfDecision({
            version: m.getFieldValue('tcfeuv2', 'Version'),
            serviceSpecific: m.getFieldValue('tcfeuv2', 'IsServiceSpecific'),
            policy: m.getFieldValue('tcfeuv2', 'PolicyVersion'),
            hasPurpose: (p) => pc[p - 1] === true,
        });
        granted = d.granted;
        d.refused.forEach((c) => refused.add(c));
        why.push(`tcfeuv2 ${d.why}` + (d.counts ? ` +[${d.granted}]` : ''));
    }

    for (const name of US) {
        if (!m.hasSection(name)) continue;
        const o = m.getSection(name);
        const said = [];
        if (name === 'uspv1') {
            if (o.OptOutSale === 'Y') said.push('OptOutSale=Y');
        } else {
            for (const f of OPT_OUTS) if (o[f] === 1) said.push(`${f}=1`);
            if (o.Gpc === true) said.push('Gpc');
        }
        if (said.length) {
            refused.add('marketing');
            why.push(`${name} ${said.join(',')}`);
        }
        if (name === 'usnat') why.push(`usnat v${o.Version}`);
    }

    granted = granted.filter((c) => !refused.has(c));
    return {
        granted, refused: BUILTIN.filter((c) => refused.has(c)),
        sections: ids, why: why.join('; ') || 'nothing expressed',
    };
}

// ------------------------------------------------------------------------
// a GVL made up in memory: TCString.encode() wants one (it drops consents
// of vendors it does not know, and clones the whole list on every call, so
// the list is kept small: vendors 1-40 and every eighth id up to 1200); no
// network, no real vendor list

const gvls = new Map();

export function syntheticGvl(policy) {
    if (gvls.has(policy)) return gvls.get(policy);
    const named = (n) => Object.fromEntries(
        Array.from({ length: n }, (_, i) => [i + 1, {
            id: i + 1, name: `#${i + 1}`, description: '', illustrations: [],
        }]));
    const vendors = {};
    for (let id = 1; id <= 1200; id++) {
        if (id > 40 && id % 8 !== 1) continue;
        vendors[id] = {
            id, name: '',
            purposes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            legIntPurposes: [2, 7, 8, 9, 10, 11],
            flexiblePurposes: [2, 7, 8, 9, 10],
            specialPurposes: [1, 2], features: [], specialFeatures: [1, 2],
        };
    }
    const gvl = new GVL({
        gvlSpecificationVersion: 3, vendorListVersion: 100 + policy,
        tcfPolicyVersion: policy, lastUpdated: '2024-01-01T00:00:00Z',
        purposes: named(11), specialPurposes: named(2), features: named(3),
        specialFeatures: named(2), stacks: {}, vendors,
    });
    gvls.set(policy, gvl);
    return gvl;
}

// ------------------------------------------------------------------------
// a random TC string, encoded by @iabtcf/core

function ids(r, max, style) {
    const out = [];
    if (style === 'none' || max === 0) return out;
    if (style === 'dense') {
        const p = r.pick([0.5, 0.8, 0.97]);
        for (let i = 1; i <= max; i++) if (r.bool(p)) out.push(i);
    } else if (style === 'runs') {
        let i = r.int(1, 20);
        while (i <= max) {
            const len = r.int(1, 40);
            for (let j = i; j < i + len && j <= max; j++) out.push(j);
            i += len + r.int(1, 80);
        }
    } else {                                            // sparse
        const n = r.int(1, 12);
        for (let k = 0; k < n; k++) out.push(r.int(1, max));
    }
    if (r.bool(0.5)) out.push(max);   // the highest id is there, often
    return out;
}

const LANGS = ['EN', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'PT', 'SV', 'FI'];
const CCS = ['DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'GB', 'US', 'AA', 'IE'];

// options: policy, serviceSpecific, version, mode ('gvl' | 'raw'),
// segments (names, in order)
export function randomTcString(r, opt = {}) {
    // 'gvl': TCString.encode() with the made-up GVL; 'raw': no GVL, the
    // library's segment encoder (faster, and any vendor id goes)
    const mode = opt.mode ?? (r.bool(0.4) ? 'gvl' : 'raw');
    const policy = opt.policy ?? r.weighted([[1, 2], [1, 3], [4, 4], [4, 5]]);
    // version 1 is not generated: 1.5.6 encodes a v1 model, but cannot
    // decode what it wrote (its range encoding lacks v1's default bit)
    const version = opt.version ?? 2;
    const m = mode === 'gvl' ? new TCModel(syntheticGvl(policy))
                             : new TCModel();

    m.cmpId = r.int(2, 4095);
    m.cmpVersion = r.int(1, 4095);
    m.consentScreen = r.int(0, 63);
    m.isServiceSpecific = opt.serviceSpecific ?? r.bool(0.85);
    m.useNonStandardStacks = r.bool(0.1);
    m.purposeOneTreatment = r.bool(0.1);
    m.publisherCountryCode = r.pick(CCS);
    if (mode === 'raw') {
        m.version = version;
        m.policyVersion = policy;
        m.vendorListVersion = r.int(1, 4095);
        m.consentLanguage = r.pick(LANGS);
    }

    // purposes: everything, nothing, or a random share of 1..11 (now and
    // then a reserved one above)
    const scene = r.weighted([[1, 'all'], [1, 'none'], [8, 'random']]);
    if (scene === 'all') {
        for (let p = 1; p <= 11; p++) m.purposeConsents.set(p);
    } else if (scene === 'random') {
        const q = r.pick([0.3, 0.6, 0.85, 0.95]);
        for (let p = 1; p <= 11; p++) if (r.bool(q)) m.purposeConsents.set(p);
        if (r.bool(0.05)) m.purposeConsents.set(r.int(12, 24));
    }
    for (let p = 2; p <= 11; p++) {
        if (r.bool(0.4)) m.purposeLegitimateInterests.set(p);
    }
    for (let f = 1; f <= 12; f++) {
        if (r.bool(f <= 2 ? 0.5 : 0.05)) m.specialFeatureOptins.set(f);
    }

    const top = mode === 'gvl' ? 1200 : 2500;
    const style = () => r.weighted([[1, 'none'], [3, 'sparse'], [3, 'dense'],
                                    [3, 'runs']]);
    m.vendorConsents.set(ids(r, r.int(1, top), style()));
    m.vendorLegitimateInterests.set(ids(r, r.int(1, top), style()));

    // (the restrictions' encoder asks a GVL which vendor ids exist)
    if (mode === 'raw') m.publisherRestrictions.gvl = syntheticGvl(policy);
    if (r.bool(0.3)) {
        const n = r.int(1, 4);
        for (let k = 0; k < n; k++) {
            const pr = new PurposeRestriction(r.int(1, 11), r.int(0, 2));
            const max = r.int(1, top);
            for (const v of ids(r, max, r.pick(['sparse', 'runs']))) {
                m.publisherRestrictions.add(v, pr);
            }
        }
    }

    // the publisher TC segment's own fields, for when it is there
    for (let p = 1; p <= 11; p++) {
        if (r.bool(0.5)) m.publisherConsents.set(p);
        if (r.bool(0.3)) m.publisherLegitimateInterests.set(p);
    }
    if (r.bool(0.3)) {
        const n = r.int(1, 6);
        m.numCustomPurposes = n;
        for (let p = 1; p <= n; p++) {
            if (r.bool(0.5)) m.publisherCustomConsents.set(p);
            if (r.bool(0.5)) m.publisherCustomLegitimateInterests.set(p);
        }
    }
    m.vendorsAllowed.set(ids(r, r.int(1, top), 'sparse'));

    // created and last updated: seeded, not today
    const when = new Date(Date.UTC(2020, 0, 1) + r.int(0, 6 * 365) * 86400e3);
    m.created = when;
    m.lastUpdated = when;

    let segments = opt.segments ?? r.weighted([
        [6, [Segment.CORE]],
        [1, [Segment.CORE, Segment.PUBLISHER_TC]],
        [1, [Segment.CORE, Segment.VENDORS_DISCLOSED]],
        [1, [Segment.CORE, Segment.VENDORS_DISCLOSED, Segment.VENDORS_ALLOWED,
             Segment.PUBLISHER_TC]],
        [1, null],                         // the library's own choice
    ]);

    let s;
    if (mode === 'gvl') {
        s = segments ? TCString.encode(m, { segments })
                     : TCString.encode(m);
    } else {
        // no GVL: the library's segment encoder, without the semantic
        // pass that needs one (and that forces version 2)
        if (version === 1) segments = [Segment.CORE];
        if (!segments) segments = [Segment.CORE];
        s = segments.map((seg) => SegmentEncoder.encode(m, seg)).join('.');
    }
    return { s, mode };
}

// how the core segment is laid out, from its bits: whether the vendor
// consents are a bit field or ranges, and how many bits of padding end it
export function tcfLayout(tc, decoded) {
    const core = tc.split('.')[0];
    const bits = Base64Url.decode(core);
    // Version .. PublisherCC: 213 bits; then MaxVendorId (16), IsRange
    const vcRange = bits.charAt(213 + 16) === '1';
    let used = null;
    if (decoded.version === 2) {
        used = 213 + decoded.vendorConsents.bitLength
            + decoded.vendorLegitimateInterests.bitLength
            + decoded.publisherRestrictions.bitLength;
    }
    return {
        vc: vcRange ? 'range' : 'bitfield',
        pad: used === null ? null : bits.length - used,
        segs: tc.split('.').length,
    };
}
