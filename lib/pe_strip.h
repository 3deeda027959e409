
/*
 * privacy-edge: metadata out of media files as they stream.
 *
 * Pure C over bytes, no nginx types.  A file is fed in pieces split at
 * any byte; what is left of it comes out through a callback, in order, as
 * it can be decided, so memory stays bounded whatever the file's size.
 * Only metadata is touched: the picture, the frames and the sound are the
 * same bytes after as before.  Each format keeps what rendering needs
 * (colour profiles, orientation) and removes or neutralises the rest:
 * Exif (GPS, serial numbers, owner, timestamps, thumbnails), XMP, IPTC,
 * comments, text chunks, location and identity boxes.
 *
 * A file that does not parse as its format is refused, never passed on
 * half-stripped: pe_strip_feed() or pe_strip_finish() answer
 * PE_STRIP_ERROR and pe_strip_error() says why.
 *
 *   JPEG      segments dropped (see pe_strip_jpeg.c)
 *   PNG       chunks dropped (pe_strip_png.c)
 *   WebP      chunks neutralised in place: the RIFF size stays right
 *             without knowing the end first (pe_strip_webp.c)
 *   ISO BMFF  MP4, MOV, M4A, HEIC, AVIF: boxes and items overwritten in
 *             place, sizes and offsets unchanged (pe_strip_isobmff.c)
 *
 * Other types have no stripper: pe_strip_new() answers NULL for them.
 */

#ifndef PE_STRIP_H
#define PE_STRIP_H

#include <stddef.h>
#include <stdint.h>


#define PE_STRIP_OK       0
#define PE_STRIP_ERROR   -1    /* not a well-formed file of its format */
#define PE_STRIP_STOPPED -2    /* the output callback said stop */


/* the output: 0 to go on; anything else stops the stripper */
typedef int (*pe_strip_out_pt)(void *data, const unsigned char *p,
    size_t n);


typedef struct pe_strip_s  pe_strip_t;


/* one format's stripper; its state is behind s->state */
typedef struct {
    const char  *name;                       /* "jpeg", "png", ... */
    int        (*init)(pe_strip_t *s);       /* 0, or -1 out of memory */
    int        (*feed)(pe_strip_t *s, const unsigned char *p, size_t n);
    int        (*finish)(pe_strip_t *s);     /* the end of the file */
    void       (*free)(pe_strip_t *s);
} pe_strip_format_t;


struct pe_strip_s {
    const pe_strip_format_t  *format;
    void                     *state;        /* the format's own, malloc'd */

    pe_strip_out_pt           out;
    void                     *data;

    uint64_t                  in;           /* bytes fed so far */
    uint64_t                  written;      /* bytes given to out */
    unsigned                  removed;      /* metadata items removed or
                                               neutralised */
    const char               *error;        /* static text */
    int                       rc;           /* sticky: once not OK, stays */
};


/*
 * A stripper for a media type ("image/jpeg", len bytes, lowercase, no
 * parameters), writing to out; NULL when the type has none (its bytes
 * need no stripping or cannot be stripped) or out of memory (*nomem set).
 */
pe_strip_t *pe_strip_new(const char *type, size_t len, pe_strip_out_pt out,
    void *data, int *nomem);

/* has the type a stripper? */
int pe_strip_known(const char *type, size_t len);

/* the next piece of the file; PE_STRIP_OK, _ERROR or _STOPPED */
int pe_strip_feed(pe_strip_t *s, const unsigned char *p, size_t n);

/* the file has ended: is it whole?  What is held back is written */
int pe_strip_finish(pe_strip_t *s);

const char *pe_strip_error(const pe_strip_t *s);
unsigned pe_strip_removed(const pe_strip_t *s);

void pe_strip_free(pe_strip_t *s);


/* for the formats: write bytes out; a failure is remembered */
int pe_strip_emit(pe_strip_t *s, const unsigned char *p, size_t n);

/* n zero bytes out */
int pe_strip_emit_zeros(pe_strip_t *s, uint64_t n);

/* the file is refused: why (static text); answers PE_STRIP_ERROR */
int pe_strip_fail(pe_strip_t *s, const char *why);

/*
 * For the formats, Exif (in pe_strip_jpeg.c, used by PNG too): the
 * Orientation, 2..8, in IFD0 of a TIFF structure of n bytes, or 0 for
 * none, 1 or an unreadable one; and a minimal TIFF holding it alone,
 * PE_STRIP_TIFF_MIN bytes, big-endian.
 */
#define PE_STRIP_TIFF_MIN  26

unsigned pe_strip_exif_orientation(const unsigned char *tiff, size_t n);
void pe_strip_exif_minimal(unsigned char *tiff, unsigned orientation);


extern const pe_strip_format_t  pe_strip_jpeg;
extern const pe_strip_format_t  pe_strip_png;
extern const pe_strip_format_t  pe_strip_webp;
extern const pe_strip_format_t  pe_strip_isobmff;

#endif /* PE_STRIP_H */
