/*
 * libFuzzer target for the region parsers.  Oracle: what they accept is
 * upper case and of the documented shape ("DE", "US-CA"), and a
 * subdivision always belongs to the country it was asked for.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_region.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    country[3], sub[PE_REGION_MAX];
    size_t  i, n;

    if (pe_region_country(data, size, country) == 0) {
        if (strlen(country) != 2 || country[0] < 'A' || country[0] > 'Z'
            || country[1] < 'A' || country[1] > 'Z')
        {
            abort();
        }
    }

    if (pe_region_subdivision("US", data, size, sub) == 0) {
        n = strlen(sub);

        if (n < 4 || n > 6 || memcmp(sub, "US-", 3) != 0) {
            abort();
        }

        for (i = 3; i < n; i++) {
            if (!((sub[i] >= 'A' && sub[i] <= 'Z')
                  || (sub[i] >= '0' && sub[i] <= '9')))
            {
                abort();
            }
        }
    }

    return 0;
}
