
/*
 * privacy-edge: consent values of the common CMPs, mapped onto categories.
 *
 * Pure C over bytes, no nginx types: unit-tested and fuzzed standalone.
 * Every parser does bounded work: input beyond PE_CONSENT_MAX bytes is
 * not read, and is itself a reason to grant nothing.
 */

#ifndef PE_CONSENT_H
#define PE_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "pe_categories.h"
#include "pe_tcf.h"


typedef enum {
    PE_CMP_TCF = 0,
    PE_CMP_ONETRUST,
    PE_CMP_COOKIEBOT,
    PE_CMP_COOKIEYES,
    PE_CMP_KV,
    PE_CMP_GPP
} pe_cmp_e;


/*
 * Parses a consent value of the given format.  Returns 0 when it parsed,
 * -1 when it did not; then out grants "necessary" only and refuses every
 * other category the format can express, as a broken cookie must not
 * count as consent (and cannot speak for a category it never could).
 *
 * A category in neither out->granted nor out->refused is one the value
 * does not express: the next consent source, or the region's policy,
 * decides it.
 */
int pe_consent_parse(pe_cmp_e fmt, const unsigned char *v, size_t n,
    const pe_categories_t *cats, pe_consent_t *out);

/* the categories a format can express at all */
uint32_t pe_consent_expressible(pe_cmp_e fmt);

/* percent-decoding ("%2C" -> ","), into at most cap bytes; -1 if longer */
int pe_url_decode(const unsigned char *s, size_t n, unsigned char *out,
    size_t cap, size_t *outlen);

#endif /* PE_CONSENT_H */
