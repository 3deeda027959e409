
/*
 * Unit tests of the region code parsers: every shape CDNs send, and
 * malformed, binary and mismatched input.
 */

#include "tap.h"

#include "pe_region.h"


static const char *
country(const char *v)
{
    static char  out[3];

    return pe_region_country((const unsigned char *) v, strlen(v), out) == 0
           ? out : NULL;
}


static const char *
sub(const char *c, const char *v)
{
    static char  out[PE_REGION_MAX];

    return pe_region_subdivision(c, (const unsigned char *) v, strlen(v),
                                 out) == 0 ? out : NULL;
}


int
main(void)
{
    is_str(country("DE"), "DE", "DE");
    is_str(country("de"), "DE", "lower case is uppercased");
    is_str(country("XX"), NULL, "Cloudflare's XX is no country");
    is_str(country("T1"), NULL, "Cloudflare's T1 (Tor) is no country");
    is_str(country("EU"), NULL, "EU (legacy GeoIP) is reserved, no country");
    is_str(country("AP"), NULL, "AP (legacy GeoIP) is no country");
    is_str(country("UK"), NULL, "UK is reserved: the code is GB");
    is_str(country("ZZ"), NULL, "ZZ (user-assigned) is no country");
    is_str(country("qq"), NULL, "qq (user-assigned) is no country");
    is_str(country("XK"), NULL, "XK (user-assigned, Kosovo) is no country");
    is_str(country("gb"), "GB", "gb is the United Kingdom");
    is_str(country("ZW"), "ZW", "the last assigned code");
    is_str(country("AD"), "AD", "the first assigned code");
    is_str(country(""), NULL, "empty");
    is_str(country("DEU"), NULL, "alpha-3 is not accepted");
    is_str(country("D"), NULL, "one letter");
    is_str(country("\xc3\xa9"), NULL, "UTF-8 bytes");
    is_str(country("\xff\xfe"), NULL, "invalid UTF-8");
    is_str(country("D\0"), NULL, "a NUL");

    is_str(sub("US", "CA"), "US-CA", "Cloudflare/CloudFront: CA");
    is_str(sub("US", "US-CA"), "US-CA", "ISO 3166-2: US-CA");
    is_str(sub("US", "USCA"), "US-CA", "Google LB: USCA");
    is_str(sub("US", "us-ca"), "US-CA", "lower case");
    is_str(sub("AU", "NSW"), "AU-NSW", "a three-letter subdivision");
    is_str(sub("AU", "AUNSW"), "AU-NSW", "run together, three letters");
    is_str(sub("FR", "75"), "FR-75", "digits");
    is_str(sub("US", "DE-BY"), NULL, "another country's subdivision");
    is_str(sub("US", "CALI"), NULL, "four letters not starting with US");
    is_str(sub("US", ""), NULL, "empty");
    is_str(sub("US", "C A"), NULL, "a space");
    is_str(sub("US", "US-"), NULL, "a dash and nothing");
    is_str(sub("US", "\xc3\xa9"), NULL, "UTF-8 bytes");
    is_str(sub("", "CA"), NULL, "no country: no subdivision");
    is_str(sub("US", "US-CALIF"), NULL, "too long");

    return done_testing();
}
