
/*
 * privacy-edge: region codes as CDNs and geo modules send them.
 * Pure C over bytes, no nginx types: unit-tested and fuzzed standalone.
 */

#ifndef PE_REGION_H
#define PE_REGION_H

#include <stddef.h>


/* "DE", or "US-CA": country, a dash, up to three subdivision characters */
#define PE_REGION_MAX  8


/*
 * An officially assigned ISO 3166-1 alpha-2 country code, uppercased into
 * out (3 bytes).  Returns -1 for anything else: reserved and
 * user-assigned codes ("EU", "AP", "UK", "XK", "ZZ", Cloudflare's "XX"
 * and "T1") are no region.
 */
int pe_region_country(const unsigned char *v, size_t n, char *out);

/*
 * An ISO 3166-2 subdivision of the given country, in any of the shapes
 * CDNs send: "CA" (Cloudflare cf-region-code, CloudFront), "US-CA",
 * "USCA" (Google's load balancer), any case.  Writes "US-CA" into out
 * (PE_REGION_MAX bytes).  Returns -1 when it is malformed or names
 * another country.
 */
int pe_region_subdivision(const char *country, const unsigned char *v,
    size_t n, char *out);

#endif /* PE_REGION_H */
