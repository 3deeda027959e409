
/*
 * privacy-edge: media signatures ("magic bytes").
 * Pure C over bytes, no nginx types: unit-tested and fuzzed standalone.
 */

#ifndef PE_SNIFF_H
#define PE_SNIFF_H

#include <stddef.h>


/* the most leading bytes any signature below needs */
#define PE_SNIFF_BYTES  64


typedef enum {
    PE_SNIFF_MATCH = 0,
    PE_SNIFF_MISMATCH,
    PE_SNIFF_NEED_MORE,     /* fewer than PE_SNIFF_BYTES and not complete */
    PE_SNIFF_UNKNOWN_TYPE   /* no signature is known for the declared type */
} pe_sniff_rc_e;


/*
 * The canonical media type the leading bytes show (e.g. "image/jpeg"),
 * or NULL.  n may be short: only what is there is looked at.
 */
const char *pe_sniff_detect(const unsigned char *p, size_t n);

/*
 * Do the leading bytes of a file fit its declared (lowercased, parameter
 * free) media type?  complete: p holds the whole file, so a short file is
 * judged rather than waited on.
 */
pe_sniff_rc_e pe_sniff_check(const char *type, size_t type_len,
    const unsigned char *p, size_t n, int complete);

/* is there a signature for this declared type at all? */
int pe_sniff_known(const char *type, size_t type_len);

#endif /* PE_SNIFF_H */
