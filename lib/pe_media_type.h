
/*
 * privacy-edge: media type (Content-Type) parsing and matching.
 * Pure C over bytes, no nginx types: unit-tested and fuzzed standalone.
 */

#ifndef PE_MEDIA_TYPE_H
#define PE_MEDIA_TYPE_H

#include <stddef.h>


#define PE_MEDIA_TYPE_MAX  127
#define PE_BOUNDARY_MAX    70      /* RFC 2046, 5.1.1 */


typedef struct {
    char    type[PE_MEDIA_TYPE_MAX + 1];   /* "image/png", lowercased */
    size_t  type_len;
    char    boundary[PE_BOUNDARY_MAX + 1];
    size_t  boundary_len;                  /* 0: no boundary parameter */
} pe_media_type_t;


/*
 * Parses a Content-Type value: type "/" subtype *( ";" name "=" value ),
 * value a token or a quoted-string.  Returns 0 on success, -1 on anything
 * malformed (no slash, bad characters, unterminated quote, a boundary that
 * is not 1..70 RFC 2046 bchars, a type longer than PE_MEDIA_TYPE_MAX).
 */
int pe_media_type_parse(const unsigned char *p, size_t n, pe_media_type_t *mt);

/* RFC 9110 tchar, and RFC 2046 bchars (a boundary holds no CR, LF, quote) */
int pe_is_tchar(unsigned char c);
int pe_is_bchar(unsigned char c);

/*
 * Does a lowercased "type/subtype" match a pattern: exact, "type/\*" or
 * "\*\/\*"?  Returns 1 or 0.
 */
int pe_media_type_match(const char *pattern, size_t plen,
    const char *type, size_t tlen);

#endif /* PE_MEDIA_TYPE_H */
