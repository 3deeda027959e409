
/*
 * privacy-edge: streaming multipart/form-data parser (RFC 7578, RFC 2046).
 *
 * Pure C over bytes, no nginx types, no allocation: the state lives in one
 * fixed-size struct, input may be split at any byte, and the work per input
 * byte is constant.  Anything the parser cannot read unambiguously (bare LF
 * line ends, folded or duplicated part headers, a missing
 * Content-Disposition) is an error rather than a guess: a gate that reads a
 * body differently from the application behind it can be walked around.
 */

#ifndef PE_MULTIPART_H
#define PE_MULTIPART_H

#include <stddef.h>

#include "pe_media_type.h"


#define PE_MP_LINE_MAX      1024   /* one part header line */
#define PE_MP_HEADERS_MAX   8192   /* all header lines of one part */
#define PE_MP_NAME_MAX      255


typedef struct {
    char    name[PE_MP_NAME_MAX + 1];   /* form field name, may be cut */
    size_t  name_len;
    int     is_file;                    /* has a filename parameter */
    int     has_type;
    char    type[PE_MEDIA_TYPE_MAX + 1];/* lowercased, without parameters */
    size_t  type_len;
    size_t  index;                      /* 0-based part number */
} pe_mp_part_t;


/* callbacks return 0 to go on; anything else stops the parser */
typedef struct {
    int   (*part_begin)(void *data, const pe_mp_part_t *part);
    int   (*part_data)(void *data, const unsigned char *p, size_t n);
    int   (*part_end)(void *data);
} pe_mp_callbacks_t;


typedef enum {
    PE_MP_OK = 0,
    PE_MP_STOPPED,      /* a callback said stop */
    PE_MP_ERROR         /* malformed: pe_multipart_error() says why */
} pe_mp_rc_e;


typedef struct {
    int                       state;
    const char               *error;

    unsigned char             delim[4 + PE_BOUNDARY_MAX];  /* CRLF--bound */
    size_t                    delim_len;
    size_t                    match;         /* delimiter bytes matched */
    int                       avx2;          /* the wider scan can run */

    unsigned char             line[PE_MP_LINE_MAX];
    size_t                    line_len;
    size_t                    headers_len;
    int                       seen_disposition;

    size_t                    parts;
    size_t                    max_parts;

    pe_mp_part_t              part;
    const pe_mp_callbacks_t  *cb;
    void                     *data;
} pe_multipart_t;


/* boundary: the parameter value, 1..70 bytes; max_parts: 0 for 256 */
int pe_multipart_init(pe_multipart_t *mp, const unsigned char *boundary,
    size_t len, size_t max_parts, const pe_mp_callbacks_t *cb, void *data);

pe_mp_rc_e pe_multipart_feed(pe_multipart_t *mp, const unsigned char *p,
    size_t n);

/* the body ended: PE_MP_OK only after the close delimiter was seen */
pe_mp_rc_e pe_multipart_finish(pe_multipart_t *mp);

const char *pe_multipart_error(const pe_multipart_t *mp);

/*
 * Parses a Content-Disposition value of a part: "form-data" and its
 * parameters.  Exposed for the unit tests.  Returns 0 or -1.
 */
int pe_mp_parse_disposition(const unsigned char *p, size_t n,
    pe_mp_part_t *part);

#endif /* PE_MULTIPART_H */
