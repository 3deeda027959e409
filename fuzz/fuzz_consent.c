/*
 * libFuzzer target for the consent parsers, every format on every input.
 * Oracle: "necessary" is always granted, nothing is granted and refused
 * at once, a value that does not parse grants "necessary" only, and no
 * value speaks of a category its format cannot express (a CMP's string
 * never refuses, let alone grants, a custom category).
 */

#include <stdint.h>
#include <stdlib.h>

#include "pe_consent.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              fmt, rc;
    pe_consent_t     c;
    pe_tcf_t         tc;
    pe_categories_t  cats = {
        { "necessary", "preferences", "analytics", "marketing", "ai" },
        { 9, 11, 9, 9, 2 }, 5
    };

    for (fmt = PE_CMP_TCF; fmt <= PE_CMP_GPP; fmt++) {
        rc = pe_consent_parse((pe_cmp_e) fmt, data, size, &cats, &c);

        if (!(c.granted & PE_CAT_NECESSARY) || (c.granted & c.refused)
            || (rc != 0 && c.granted != PE_CAT_NECESSARY)
            || ((c.granted | c.refused) & ~PE_CAT_NECESSARY
                & ~pe_consent_expressible((pe_cmp_e) fmt)))
        {
            abort();
        }
    }

    (void) pe_tcf_decode(data, size, &tc);

    return 0;
}
