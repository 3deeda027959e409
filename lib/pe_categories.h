
/*
 * privacy-edge: consent categories, and what a consent value says of them.
 * Shared by every consent format (pe_consent, pe_tcf, pe_gpp).
 */

#ifndef PE_CATEGORIES_H
#define PE_CATEGORIES_H

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

#endif /* PE_CATEGORIES_H */
