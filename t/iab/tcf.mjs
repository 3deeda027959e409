// Random TC strings made by the IAB's @iabtcf/core, one JSON line each:
//   {"s": TC string, "granted": [...], "refused": [...], "why": ...,
//    "purposes": [...], "v", "pv", "ss", "vc", "pad", "segs", "mode"}
// granted and refused: what the string says of preferences, analytics and
// marketing under the mapping of docs/directives.md, computed from the
// library's own decoding of the string it encoded.
//
//   node tcf.mjs --seed 12345 --count 3000

import { args, rng, randomTcString, tcfExpect, tcfLayout } from './common.mjs';

const { seed, count } = args();
const r = rng(seed);
const out = [];

let undecodable = 0;

for (let i = 0; i < count; i++) {
    const { s, mode } = randomTcString(r);
    let e;
    try {
        e = tcfExpect(s);
    } catch (err) {
        // the library cannot read what it wrote: no expected value
        process.stderr.write(`undecodable: ${s}: ${err.message}\n`);
        undecodable++;
        continue;
    }
    const d = e.decoded;
    out.push(JSON.stringify({
        s, granted: e.granted, refused: e.refused, why: e.why,
        purposes: e.purposes, v: d.version, pv: d.policyVersion,
        ss: d.isServiceSpecific, mode, ...tcfLayout(s, d),
    }));
}

out.push(JSON.stringify({ summary: true, generated: count, undecodable }));
process.stdout.write(out.join('\n') + '\n');
