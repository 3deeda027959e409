
/*
 * privacy-edge: region codes.
 */

#include "pe_region.h"

#include <string.h>


static int
pe_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}


static int
pe_alnum(unsigned char c)
{
    return pe_alpha(c) || (c >= '0' && c <= '9');
}


static char
pe_upper(unsigned char c)
{
    return (char) ((c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c);
}


/*
 * The 249 officially assigned ISO 3166-1 alpha-2 codes, by first letter.
 * Nothing else is a country: not the reserved EU, UK or AP that legacy
 * GeoIP databases and some CDNs send, not the user-assigned XK, XX, ZZ
 * or QQ, not Cloudflare's T1 (Tor).  Such a request is of no known
 * region, and gets the strictest policy.
 */
static const char  *pe_iso3166[26] = {
    /* A */ "DEFGILMOQRSTUWXZ",
    /* B */ "ABDEFGHIJLMNOQRSTVWYZ",
    /* C */ "ACDFGHIKLMNORUVWXYZ",
    /* D */ "EJKMOZ",
    /* E */ "CEGHRST",
    /* F */ "IJKMOR",
    /* G */ "ABDEFGHILMNPQRSTUWY",
    /* H */ "KMNRTU",
    /* I */ "DELMNOQRST",
    /* J */ "EMOP",
    /* K */ "EGHIMNPRWYZ",
    /* L */ "ABCIKRSTUVY",
    /* M */ "ACDEFGHKLMNOPQRSTUVWXYZ",
    /* N */ "ACEFGILOPRUZ",
    /* O */ "M",
    /* P */ "AEFGHKLMNRSTWY",
    /* Q */ "A",
    /* R */ "EOSUW",
    /* S */ "ABCDEGHIJKLMNORSTVXYZ",
    /* T */ "CDFGHJKLMNORTVWZ",
    /* U */ "AGMSYZ",
    /* V */ "ACEGINU",
    /* W */ "FS",
    /* X */ "",
    /* Y */ "ET",
    /* Z */ "AMW"
};


int
pe_region_country(const unsigned char *v, size_t n, char *out)
{
    if (n != 2 || !pe_alpha(v[0]) || !pe_alpha(v[1])) {
        return -1;
    }

    out[0] = pe_upper(v[0]);
    out[1] = pe_upper(v[1]);
    out[2] = '\0';

    if (strchr(pe_iso3166[out[0] - 'A'], out[1]) == NULL) {
        return -1;
    }

    return 0;
}


int
pe_region_subdivision(const char *country, const unsigned char *v,
    size_t n, char *out)
{
    size_t  i;

    if (country == NULL || country[0] == '\0') {
        return -1;
    }

    /* "US-CA": the country must be the one the region says */
    if (n >= 4 && v[2] == '-') {
        if (pe_upper(v[0]) != country[0] || pe_upper(v[1]) != country[1]) {
            return -1;
        }

        v += 3;
        n -= 3;

    /*
     * "USCA": Google's load balancer runs them together.  A subdivision
     * part has at most three characters, so four or five starting with
     * the country are this form.
     */
    } else if (n >= 4 && n <= 5 && pe_upper(v[0]) == country[0]
               && pe_upper(v[1]) == country[1])
    {
        v += 2;
        n -= 2;
    }

    if (n == 0 || n > 3) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!pe_alnum(v[i])) {
            return -1;
        }
    }

    out[0] = country[0];
    out[1] = country[1];
    out[2] = '-';

    for (i = 0; i < n; i++) {
        out[3 + i] = pe_upper(v[i]);
    }

    out[3 + n] = '\0';

    return 0;
}
