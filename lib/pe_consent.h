
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


#define PE_CONSENT_MAX        4096

/* the built-in categories; custom ones take the bits from 4 up */
#define PE_CAT_NECESSARY      0x01u
#define PE_CAT_PREFERENCES    0x02u
#define PE_CAT_ANALYTICS      0x04u
#define PE_CAT_MARKETING      0x08u
#define PE_CAT_BUILTIN        0x0fu
#define PE_CAT_MAX            32


typedef enum {
    PE_CMP_TCF = 0,
    PE_CMP_ONETRUST,
    PE_CMP_COOKIEBOT,
    PE_CMP_COOKIEYES,
    PE_CMP_KV,
    PE_CMP_GPP
} pe_cmp_e;


/*
 * What a consent value says: categories granted and categories refused
 * explicitly.  A category in neither was not asked about.  "necessary" is
 * always granted.
 */
typedef struct {
    uint32_t  granted;
    uint32_t  refused;
} pe_consent_t;


/* category names, index = bit number, for the kv format */
typedef struct {
    const char  *name[PE_CAT_MAX];
    size_t       len[PE_CAT_MAX];
    size_t       n;
} pe_categories_t;


/* the core segment of a TC string, as far as the mapping needs it */
typedef struct {
    unsigned  version;
    unsigned  cmp_id;
    unsigned  cmp_version;
    unsigned  consent_screen;
    unsigned  vendor_list_version;
    unsigned  policy_version;
    unsigned  is_service_specific;
    uint32_t  special_features;      /* bit n-1: feature n */
    uint32_t  purposes;              /* bit n-1: purpose n consented */
    uint32_t  purposes_li;
    unsigned  max_vendor_id;
} pe_tcf_t;


/*
 * Decodes a TC string's core segment (everything before the first ".")
 * and checks that the segment is whole: vendor consents, vendor
 * legitimate interests and publisher restrictions all fit.  0 or -1.
 */
int pe_tcf_decode(const unsigned char *s, size_t n, pe_tcf_t *tc);

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
