
/*
 * libFuzzer target for the GPP parser.
 *
 * Oracles: "necessary" is always granted, nothing is granted and refused
 * at once, only built-in categories are ever refused, a string that does
 * not parse gives exactly the failure result, and pe_gpp_decode() agrees.
 * Metamorphic: counting fewer sections never refuses more (and a string
 * that parses with every section parses with any fewer), counting only US
 * sections never grants anything, and a '~' appended always breaks it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_gpp.h"


#define REFUSABLE  (PE_CAT_BUILTIN & ~PE_CAT_NECESSARY)
#define US         ((PE_GPP_SID(PE_GPP_USRI + 1) - 1)                       \
                    & ~(PE_GPP_SID(PE_GPP_USPV1) - 1))


static void
sane(int rc, const pe_consent_t *c)
{
    if (!(c->granted & PE_CAT_NECESSARY)
        || (c->granted & c->refused)
        || (c->granted & ~PE_CAT_BUILTIN)
        || (c->refused & ~REFUSABLE)
        || (rc != 0 && (c->granted != PE_CAT_NECESSARY
                        || c->refused != REFUSABLE))
        || (rc != 0 && rc != -1))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc, r;
    size_t                 i;
    uint64_t               mask;
    pe_gpp_t               g;
    pe_consent_t           all, c;
    static unsigned char   buf[PE_CONSENT_MAX + 1];
    static const uint64_t  masks[] = {
        0, US, PE_GPP_SID(2), PE_GPP_SID(6), PE_GPP_SID(7),
        PE_GPP_SID(2) | PE_GPP_SID(7), PE_GPP_ALL & ~PE_GPP_SID(2)
    };

    rc = pe_gpp_consent(data, size, PE_GPP_ALL, &all);
    sane(rc, &all);

    for (i = 0; i < sizeof(masks) / sizeof(masks[0]) + 1; i++) {
        /* the last mask comes from the input itself */
        mask = i < sizeof(masks) / sizeof(masks[0]) ? masks[i]
               : (size >= 8 ? ((uint64_t) data[size - 1] << 56
                               | (uint64_t) data[0] << 40
                               | (uint64_t) data[size / 2] << 8
                               | data[size - 2]) * 0x9e3779b97f4a7c15ull
                            : 0);

        r = pe_gpp_consent(data, size, mask, &c);
        sane(r, &c);

        if (rc == 0 && (r != 0 || (c.refused & ~all.refused))) {
            abort();
        }

        if ((mask & ~US) == 0 && r == 0 && c.granted != PE_CAT_NECESSARY) {
            abort();
        }

        if (mask == 0 && r == 0 && c.refused != 0) {
            abort();
        }
    }

    if (pe_gpp_decode(data, size, PE_GPP_ALL, &g) != rc) {
        abort();
    }

    if (rc == 0
        && ((g.read & ~g.sections) || ((g.opt_out | g.gpc) & ~g.read)
            || ((g.opt_out | g.gpc) & ~US)
            || g.count < (unsigned) __builtin_popcountll(g.sections)))
    {
        abort();
    }

    if (size < PE_CONSENT_MAX) {
        memcpy(buf, data, size);
        buf[size] = '~';

        if (pe_gpp_consent(buf, size + 1, PE_GPP_ALL, &c) != -1) {
            abort();
        }
    }

    /* the same bytes as a __gpp_sid: ids 1..63 only, or "-1" for none */
    r = pe_gpp_sid(data, size, &mask);
    if ((r == 0 && (mask & 1))
        || (r == 0 && mask == 0
            && !(size == 2 && data[0] == '-' && data[1] == '1'))
        || (r != 0 && mask != 0))
    {
        abort();
    }

    return 0;
}
