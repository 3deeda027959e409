// The IAB's published example strings, with what they grant under
// docs/directives.md as the IAB's own libraries decode them; one JSON line
// each:
//   {"kind": "tcf"|"gpp", "s", "granted", "refused", "why", "source"}
// A string the library refuses to decode is a string that does not parse:
// it grants nothing ("why" says so).
//
//   node vectors.mjs

import { tcfExpect, gppExpect, BUILTIN } from './common.mjs';

const TCF = [
    // the TCF v2 specification ("TC String Format"): core, disclosed
    // vendors, allowed vendors and publisher TC segments
    ['TCF v2 spec, four segments',
     'COw4XqLOw4XqLAAAAAENAXCAAAAAAAAAAAAAAAAAAAAA.IFukWSQgAIQwgI0QEByFAAAAeI'
     + 'AACAIgSAAQAIAgEQACEABAAAgAQFAEAIAAAGBAAgAAAAQAIFAAMCQAAgAAQiRAEQAAAAA'
     + 'NAAIAAggAIYQFAAARmggBC3ZCYzU2yIA.QFukWSQgAIQwgI0QEByFAAAAeIAACAIgSAAQ'
     + 'AIAgEQACEABAAAgAQFAEAIAAAGBAAgAAAAQAIFAAMCQAAgAAQiRAEQAAAAANAAIAAggAI'
     + 'YQFAAARmggBC3ZCYzU2yIA.YAAAAAAAAAAAAAAAAAA'],
    // the same specification: core and publisher TC
    ['TCF v2 spec, core and publisher TC',
     'CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAA'
     + 'AAAEAIAEgAA.argAC0gAAAAAAAAAAAA'],
    // the GPP specification's TCF EU v2 example
    ['GPP spec, its TC string',
     'CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA'],
    // the CMP 675 example already in t/31-consent.t
    ['TCF 2.0 example (CMP 675)',
     'COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA'],
    // @iabtcf/core's tests (ReportedIssues.test.ts): publisher
    // restrictions with a vendor given several times, many segments
    ['@iabtcf/core reported: restrictions, many segments',
     'CO4VGswO4VGswAfZCBDEAzCsAP_AAH_AAAigGUNf_X9fb2vj-_599_t0eY1f9_63t-wz'
     + 'jheMs-8NyZ-X_J4Wv2MyvB34JqQKGRgkunLBAQdtHGncTQgBwIlViTLMY02MjzNKJrJE'
     + 'ilsbe2dYGH9vn8XT_ZKZ70-_v__7v3___33_5Ayhr_6_r7e18f3_Pvv9ujzGr_v_W9v2'
     + 'GccLxln3huTPy_5PC1-xmV4O_BNSBQyMEl05YICDto407iaEAOBEqsSZZjGmxkeZpRNZ'
     + 'IkUtjb2zrAw_t8_i6f7JTPen39___d-___--__ICgKAOAAcAA4AFAAjgB6AEYALcGACA'
     + 'W0AtoJAHAAOAAcACgARwA9ACMAFuFABALaAW0GgDgAHAAOABQAI4AegBGAC3DgAgFtAL'
     + 'aEQBwADgAHAAoAEcAPQAjABbiQAQC2gFtCoA4ABwADgAUACOAHoARgAtxYAIBbQC2hkA'
     + 'cAA4ABwAKABHAD0AIwAW40AEAtoBbQ6AOAAcAA4AFAAjgB6AEYALceACAW0AtohAHAAO'
     + 'AAcACgARwA9ACMAFuRABALaAW0SgDgAHAAOABQAI4AegBGAC3JgAgFtALaKQBwADgAHA'
     + 'AoAEcAPQAjABblQAQC2gFtA'],
    // @iabgpp/cmpapi's tests (TcfEuV2.test.ts): CMP-made strings, 772
    // vendor consents; and a global-scope one with allowed and disclosed
    // vendors
    ['@iabgpp TcfEuV2 test "decode 2"',
     'CPi8wgAPi8wgAAOACBENCuCoAP_AAEfAACiQJHNd_H__bX9n-f7_6ft0eY1f9_r37uQz'
     + 'DhfNk-8F3L_W_LwX_2E7NF36tq4KmR4ku1LBIUNtHMnUDUmxaokVrzHsak2cpzNKJ_Bk'
     + 'knsZe2dYGF9vm5tj-QKZ7_5_d3f52T_9_9v-39z33913v3d93-_13LjdV5_9H_v9fR_b'
     + '8_Kf9_5-_4v8_____3_e______8AEEggCTDVuIAuxLHAm0DCKBECMKwkKoFABBQDC0QG'
     + 'ADg4KdlYBPrCBAAgFAEYEQIcAUYEAgAAAgCQiACQIsEAAAIgEAAIAEQiEABAwCCgAsDA'
     + 'IAAQDQMUQoABAkIMiAiKUwICIEggJbKhBKC6Q0wgCrLACgkRsFAAiAAAUgACAsHAMESA'
     + 'lYsECTFG-QAjBCgFEqFaAGGgAwABBI4RABgACCRwqADAAEEjgA'],
    ['@iabgpp TcfEuV2 test "decode"',
     'CPcqBNJPcqBNJNwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAA.QGLtV_T9fb2'
     + 'vj-_Z99_tkeYwf95y3p-wzhheMs-8NyZeH_B4Wv2MyvBX4JiQKGRgksjLBAQdtHGlcTQ'
     + 'gBwIlViTLMYk2MjzNKJrJEilsbO2dYGD9Pn8HT3ZCY70-vv__7v3ff_3g.IGLtV_T9fb'
     + '2vj-_Z99_tkeYwf95y3p-wzhheMs-8NyZeH_B4Wv2MyvBX4JiQKGRgksjLBAQdtHGlcT'
     + 'QgBwIlViTLMYk2MjzNKJrJEilsbO2dYGD9Pn8HT3ZCY70-vv__7v3ff_3g'],
    // ... and two TCF v1 strings (version 1: never consent)
    ['@iabtcf/core reported: TCF v1, long',
     'BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-'
     + '_7fi_20nV4u_1vft9yfk1-5ctDztp507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8'
     + '_v-b7BCON_YxEiA'],
    ['@iabtcf/core reported: TCF v1, short',
     'BO2e4qiO2e4qiB9ABADEDS-AAAAxKABgACBiQA'],
    // ... a bit field shorter than its MaxVendorId; the library
    // must throw on it
    ['@iabtcf/core reported: a short bit field (malformed)',
     'CLSYjTaOngnCIAOABBENAXCMAGOAABBAAA7IA5n-m7fP6_3fbqVv6E__PoA5Aqff3aJx8tv'
     + '_1967rfnQEQoAIAAQCrwkAEABAcACABIMACAAuApEVABABUSABgBCAVSAtIoACACIArYQ'
     + 'AHACgAFgAVwBJgDcAI7AWgMAAgBiKgAgBMgFfKQAQBRkQAQA4AFiBAAoA-AEVAJlAVgAt'
     + 'YcACAJcAr4eABAK8OgBgFzAOmAqwgABAWyA.IFukWSQh'],
];

const GPP = [
    // the GPP specification, "GPP String Examples" 1-3
    ['GPP spec example 1 (tcfeuv2)',
     'DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA'],
    ['GPP spec example 2 (tcfeuv2, uspv1)',
     'DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN'],
    ['GPP spec example 3 (tcfcav1, uspv1)',
     'DBABjw~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN'],
    // @iabgpp/cmpapi's tests (GppModel.test.ts, UsNat.test.ts)
    ['@iabgpp GppModel test: uspv1 1YNN', 'DBABTA~1YNN'],
    ['@iabgpp GppModel test: tcfeuv2 and uspv1',
     'DBACNYA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~1YNN'],
    ['@iabgpp GppModel test: all sections of 2023, defaults',
     'DBACOaw~CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~CPSG_8AP'
     + 'SG_8AAAAAAENAACAAAAAAAAAAAAAAAAA.YAAAAAAAAAA~1---~BAAAAAAAAAA.QA~BAAA'
     + 'AAAA.QA~BAAAAAA~BAAAAAA.QA~BAAAAAAA~BAAAAAAA.QA'],
    ['@iabgpp UsNat test: every opt-out, GPC', 'DBABLA~BVVVkkkkkpFY.YA'],
    ['@iabgpp UsNat test: every opt-out, no GPC', 'DBABLA~BVVVkkkkkpFY'],
    ['@iabgpp UsNat test: version 1 layout, no opt-out',
     'DBABLA~BVQqAAAACg'],
    ['@iabgpp UsNat test: defaults', 'DBABLA~BAAAAAAAAABA.QA'],
];

const out = [];
for (const [source, s] of TCF) {
    let e;
    try {
        const x = tcfExpect(s);
        e = { granted: x.granted, refused: x.refused,
              why: `${x.why} (v${x.decoded.version}, policy `
                   + `${x.decoded.policyVersion}, purposes [${x.purposes}])` };
    } catch (err) {
        e = { granted: [], refused: [...BUILTIN],
              why: `@iabtcf/core cannot decode it: ${err.message}` };
    }
    out.push(JSON.stringify({ kind: 'tcf', s, source, ...e }));
}
for (const [source, s] of GPP) {
    let e;
    try {
        const x = gppExpect(s);
        e = { granted: x.granted, refused: x.refused,
              why: `sections [${x.sections}]: ${x.why}` };
    } catch (err) {
        e = { granted: [], refused: [...BUILTIN],
              why: `@iabgpp/cmpapi cannot decode it: ${err.message}` };
    }
    out.push(JSON.stringify({ kind: 'gpp', s, source, ...e }));
}
process.stdout.write(out.join('\n') + '\n');
