
/*
 * privacy-edge: IAB TCF v2.2 TC strings: the core segment, and what it
 * grants of the built-in categories.
 *
 * Pure C over bytes, no nginx types, bounded work (PE_CONSENT_MAX).
 */

#ifndef PE_TCF_H
#define PE_TCF_H

#include <stddef.h>
#include <stdint.h>

#include "pe_categories.h"


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
 * A TC string's verdict: valid under TCF v2.2 (Version 2,
 * IsServiceSpecific 1, TcfPolicyVersion >= 4), a category needs consent to
 * all of its purposes, and what it does not grant it refuses.  0, or -1
 * (then "necessary" only, the other built-in categories refused).
 */
int pe_tcf_consent(const unsigned char *s, size_t n, pe_consent_t *out);

#endif /* PE_TCF_H */
