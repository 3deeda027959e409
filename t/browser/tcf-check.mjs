// The demo's two TC strings, read back by the IAB's own @iabtcf/core
// (t/iab): what each grants and refuses under the mapping of
// docs/directives.md.  One JSON line per string.
//
//   node tcf-check.mjs ACCEPT_STRING REJECT_STRING

import { tcfExpect } from '../iab/common.mjs';

for (const s of process.argv.slice(2)) {
    const e = tcfExpect(s);
    const d = e.decoded;
    process.stdout.write(JSON.stringify({
        s, granted: e.granted, refused: e.refused, purposes: e.purposes,
        version: d.version, policy: d.policyVersion,
        serviceSpecific: d.isServiceSpecific, vendors: d.vendorConsents.size,
    }) + '\n');
}
