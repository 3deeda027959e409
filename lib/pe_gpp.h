
/*
 * privacy-edge: IAB Global Privacy Platform (GPP) strings.
 *
 * Pure C over bytes, no nginx types, no allocation, no recursion: like
 * the other consent parsers, unit-tested and fuzzed standalone.  Input
 * beyond PE_CONSENT_MAX bytes is refused.
 */

#ifndef PE_GPP_H
#define PE_GPP_H

#include <stddef.h>
#include <stdint.h>

#include "pe_categories.h"


/* section ids, as the IAB's registry numbers them */
#define PE_GPP_TCFEUV2        2
#define PE_GPP_USPV1          6
#define PE_GPP_USNAT          7
#define PE_GPP_USRI           27       /* the last US state section */

/* bit n of a section mask is GPP section id n (ids 1..63) */
#define PE_GPP_SID(n)         ((uint64_t) 1 << (n))
#define PE_GPP_ALL            (~(uint64_t) 0)


/* what a GPP string says, section by section */
typedef struct {
    unsigned      count;        /* sections in the string, any id */
    uint64_t      sections;     /* ids 1..63 the header lists */
    uint64_t      read;         /* sections read: applicable, and of an
                                   id and version this parser knows */
    uint64_t      opt_out;      /* US sections that opt out of sale,
                                   sharing or targeted advertising */
    uint64_t      gpc;          /* US sections whose GPC subsection has
                                   Gpc = 1 */
    pe_consent_t  tcf;          /* section 2's verdict, when it is read */
} pe_gpp_t;


/*
 * The applicable section ids as a cookie like __gpp_sid holds them:
 * decimal ids 1..63 separated by ',' or '_' (or "%2C"), or "-1", the CMP
 * API's "no section applies" (an empty mask).  0, or -1 on anything
 * malformed, empty, 0 or above 63; then *mask is 0.
 */
int pe_gpp_sid(const unsigned char *s, size_t n, uint64_t *mask);

/*
 * Decodes a GPP string: the header, and the sections whose id is in
 * applicable; the others are only split off.  0, or -1 when malformed.
 */
int pe_gpp_decode(const unsigned char *s, size_t n, uint64_t applicable,
    pe_gpp_t *g);

/*
 * A GPP string's verdict over the built-in categories, counting the
 * sections whose id is in applicable (PE_GPP_ALL without a __gpp_sid):
 * section 2 decides like a TC string, the US sections refuse "marketing"
 * on an opt-out of sale, sharing or targeted advertising, or on GPC, and
 * express nothing else; a "no" wins over a "yes".  0, or -1 when
 * malformed: then out grants "necessary" only and refuses the other
 * built-in categories (never a custom one, which GPP cannot speak of).
 */
int pe_gpp_consent(const unsigned char *s, size_t n, uint64_t applicable,
    pe_consent_t *out);

#endif /* PE_GPP_H */
