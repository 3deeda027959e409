/*
 * privacy-edge: metadata out of WebP files as they stream (pe_strip.h).
 *
 * The RIFF size is at the start and the end is not known then, so nothing
 * is taken out: a chunk to go is neutralised in place, the same size, its
 * FourCC made PE_WEBP_VOID and its payload zeros.
 *
 * Kept:        VP8, VP8L, VP8X (its Exif and XMP flags cleared), ALPH,
 *              ANIM, ANMF, ICCP.
 * Neutralised: EXIF, "XMP " and every unknown chunk.
 *
 * An ANMF frame is a 16-byte header and chunks of its own; a writer may
 * put EXIF or XMP there too, and readers skip them as at the top, so its
 * chunks are walked the same way and all but ALPH, VP8 and VP8L are
 * neutralised.  The chunks must fill the frame exactly.
 *
 * So what comes out is exactly as long as what came in.  Bytes after the
 * RIFF end are refused rather than dropped: they are no part of a WebP,
 * a second file appended, and cutting them would break that rule.
 *
 * Refused: no "RIFF" size "WEBP" header, a RIFF size too small for one
 * chunk, a chunk (with its pad byte) past the RIFF end, a first chunk
 * other than VP8, VP8L or VP8X (libwebp reads no other), VP8X not first
 * or not 10 bytes, no image chunk, bytes after the RIFF end, and an end
 * before it.
 */

#include "pe_strip.h"

#include <stdlib.h>
#include <string.h>


/*
 * A FourCC WebP does not define, which readers skip (the container spec
 * has them ignore unknown chunks), and which nothing else reads either:
 * not "JUNK", whose payload ExifTool, for one, parses as camera maker
 * notes or text.  Lower case, so no future WebP chunk (all upper case so
 * far) can take it.  Its payload is zeros, so a second pass counts it only
 * if someone wrote something into it.
 */
#define PE_WEBP_VOID        "void"

#define PE_WEBP_VP8X_EXIF   0x08
#define PE_WEBP_VP8X_XMP    0x04


enum {
    PE_WEBP_S_RIFF = 0,     /* "RIFF" size "WEBP" */
    PE_WEBP_S_HEADER,       /* a chunk's FourCC and size */
    PE_WEBP_S_VP8X,         /* its payload, held to clear two flags */
    PE_WEBP_S_FRAME,        /* an ANMF payload's 16-byte header */
    PE_WEBP_S_COPY,
    PE_WEBP_S_ZERO,
    PE_WEBP_S_END           /* the RIFF end */
};


typedef struct {
    int            state;
    unsigned       got;          /* bytes held in buf */
    unsigned char  buf[16];
    uint64_t       end;          /* the RIFF end, from the file's start */
    uint64_t       pos;          /* bytes read of the file */
    uint64_t       left;         /* of the chunk, bytes still to come */
    uint64_t       frame_end;    /* of the ANMF payload and its pad */
    unsigned       chunks;
    unsigned       image:1;
    unsigned       own:1;        /* a PE_WEBP_VOID chunk ... */
    unsigned       dirty:1;      /* ... but not zeros */
    unsigned       frame:1;      /* in an ANMF payload */
    unsigned       frame_pad:1;  /* its size is odd: a pad byte follows */
} pe_webp_t;


static int pe_webp_chunk(pe_strip_t *s, pe_webp_t *w);
static int pe_webp_next(pe_strip_t *s, pe_webp_t *w);
static int pe_webp_void(pe_strip_t *s, pe_webp_t *w);
static int pe_webp_frame_chunk(pe_strip_t *s, pe_webp_t *w);


static int
pe_webp_init(pe_strip_t *s)
{
    pe_webp_t  *w;

    w = calloc(1, sizeof(pe_webp_t));
    if (w == NULL) {
        return -1;
    }

    w->state = PE_WEBP_S_RIFF;
    s->state = w;

    return 0;
}


static void
pe_webp_free(pe_strip_t *s)
{
    free(s->state);
    s->state = NULL;
}


static uint32_t
pe_webp_get32(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static int
pe_webp_feed(pe_strip_t *s, const unsigned char *p, size_t n)
{
    int                   rc;
    size_t                i, k, want;
    uint32_t              size;
    pe_webp_t            *w;
    const unsigned char  *end;

    w = s->state;
    end = p + n;

    while (p < end) {

        switch (w->state) {

        case PE_WEBP_S_RIFF:
        case PE_WEBP_S_HEADER:
        case PE_WEBP_S_VP8X:
        case PE_WEBP_S_FRAME:
            want = (w->state == PE_WEBP_S_RIFF) ? 12
                   : (w->state == PE_WEBP_S_HEADER) ? 8
                   : (w->state == PE_WEBP_S_VP8X) ? 10 : 16;
            k = want - w->got;
            k = k < (size_t) (end - p) ? k : (size_t) (end - p);

            memcpy(w->buf + w->got, p, k);
            w->got += k;
            w->pos += k;
            p += k;

            if (w->got < want) {
                break;
            }

            w->got = 0;

            if (w->state == PE_WEBP_S_HEADER) {
                rc = pe_webp_chunk(s, w);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }

                break;
            }

            if (w->state == PE_WEBP_S_FRAME) {
                /* position, size, duration, flags: no metadata */
                if (pe_strip_emit(s, w->buf, 16) != PE_STRIP_OK) {
                    return PE_STRIP_STOPPED;
                }

                w->frame = 1;

                rc = pe_webp_next(s, w);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }

                break;
            }

            if (w->state == PE_WEBP_S_VP8X) {
                w->buf[0] &= ~(PE_WEBP_VP8X_EXIF | PE_WEBP_VP8X_XMP);

                if (pe_strip_emit(s, w->buf, 10) != PE_STRIP_OK) {
                    return PE_STRIP_STOPPED;
                }

                rc = pe_webp_next(s, w);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }

                break;
            }

            if (memcmp(w->buf, "RIFF", 4) != 0
                || memcmp(w->buf + 8, "WEBP", 4) != 0)
            {
                return pe_strip_fail(s, "not a WebP: no RIFF WEBP header");
            }

            size = pe_webp_get32(w->buf + 4);

            if (size < 4 + 8) {
                return pe_strip_fail(s, "WebP RIFF size too small");
            }

            w->end = (uint64_t) size + 8;

            if (pe_strip_emit(s, w->buf, 12) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            w->state = PE_WEBP_S_HEADER;
            break;

        case PE_WEBP_S_COPY:
        case PE_WEBP_S_ZERO:
            k = w->left < (uint64_t) (end - p) ? (size_t) w->left
                                               : (size_t) (end - p);

            if (w->state == PE_WEBP_S_COPY) {
                rc = pe_strip_emit(s, p, k);

            } else {
                for (i = 0; i < k && !w->dirty; i++) {
                    w->dirty = (p[i] != 0);
                }

                rc = pe_strip_emit_zeros(s, k);
            }

            if (rc != PE_STRIP_OK) {
                return rc;
            }

            w->left -= k;
            w->pos += k;
            p += k;

            if (w->left) {
                break;
            }

            if (w->state == PE_WEBP_S_ZERO && (!w->own || w->dirty)) {
                s->removed++;
            }

            rc = pe_webp_next(s, w);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            break;

        default: /* PE_WEBP_S_END */
            return pe_strip_fail(s, "data after the WebP RIFF end");
        }
    }

    return PE_STRIP_OK;
}


/* a chunk has ended: the next one, or the RIFF end */
static int
pe_webp_next(pe_strip_t *s, pe_webp_t *w)
{
    if (w->frame) {
        if (w->frame_end - w->pos == 1 && w->frame_pad) {
            /* an odd frame's pad byte, not taken by a last odd chunk's */
            w->frame = 0;
            w->left = 1;
            w->state = PE_WEBP_S_COPY;
            return PE_STRIP_OK;
        }

        if (w->pos < w->frame_end) {
            w->state = PE_WEBP_S_HEADER;
            return PE_STRIP_OK;
        }

        w->frame = 0;
    }

    if (w->pos < w->end) {
        w->state = PE_WEBP_S_HEADER;
        return PE_STRIP_OK;
    }

    if (!w->image) {
        return pe_strip_fail(s, "WebP without image data");
    }

    w->state = PE_WEBP_S_END;

    return PE_STRIP_OK;
}


static int
pe_webp_kept(const unsigned char *t)
{
    size_t  i;

    static const char  keep[][5] = {
        "VP8 ", "VP8L", "ALPH", "ANIM", "ANMF", "ICCP"
    };

    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        if (memcmp(t, keep[i], 4) == 0) {
            return 1;
        }
    }

    return 0;
}


/* a chunk's FourCC and size are in buf */
static int
pe_webp_chunk(pe_strip_t *s, pe_webp_t *w)
{
    int             first;
    uint32_t        size;
    unsigned char  *t;

    t = w->buf;
    size = pe_webp_get32(w->buf + 4);

    /* a header cut by the RIFF end is caught too: pos is then past it */
    if (w->pos > w->end
        || (uint64_t) size + (size & 1) > w->end - w->pos)
    {
        return pe_strip_fail(s, "WebP chunk past the RIFF end");
    }

    w->left = (uint64_t) size + (size & 1);

    if (w->frame) {
        return pe_webp_frame_chunk(s, w);
    }

    first = (w->chunks++ == 0);

    if (memcmp(t, "VP8X", 4) == 0) {
        if (!first) {
            return pe_strip_fail(s, "WebP VP8X not first");
        }

        if (size != 10) {
            return pe_strip_fail(s, "WebP VP8X size not 10");
        }

        if (pe_strip_emit(s, w->buf, 8) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        w->state = PE_WEBP_S_VP8X;
        return PE_STRIP_OK;
    }

    if (memcmp(t, "ANMF", 4) == 0) {
        if (size < 16) {
            return pe_strip_fail(s, "WebP ANMF frame too small");
        }

        if (pe_strip_emit(s, w->buf, 8) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        w->image = 1;
        w->frame_end = w->pos + w->left;
        w->frame_pad = size & 1;
        w->state = PE_WEBP_S_FRAME;
        return PE_STRIP_OK;
    }

    if (memcmp(t, "VP8 ", 4) == 0 || memcmp(t, "VP8L", 4) == 0
        || memcmp(t, "ANMF", 4) == 0)
    {
        w->image = 1;

    } else if (first) {
        return pe_strip_fail(s, "WebP first chunk not VP8, VP8L or VP8X");
    }

    if (pe_webp_kept(t)) {
        if (pe_strip_emit(s, w->buf, 8) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        w->state = PE_WEBP_S_COPY;
        return w->left ? PE_STRIP_OK : pe_webp_next(s, w);
    }

    return pe_webp_void(s, w);
}


/* the chunk whose header is in buf is neutralised */
static int
pe_webp_void(pe_strip_t *s, pe_webp_t *w)
{
    w->own = (memcmp(w->buf, PE_WEBP_VOID, 4) == 0);
    w->dirty = 0;

    memcpy(w->buf, PE_WEBP_VOID, 4);

    if (pe_strip_emit(s, w->buf, 8) != PE_STRIP_OK) {
        return PE_STRIP_STOPPED;
    }

    w->state = PE_WEBP_S_ZERO;

    if (w->left) {
        return PE_STRIP_OK;
    }

    if (!w->own) {
        s->removed++;
    }

    return pe_webp_next(s, w);
}


/* a chunk inside an ANMF frame, its header in buf */
static int
pe_webp_frame_chunk(pe_strip_t *s, pe_webp_t *w)
{
    const unsigned char  *t = w->buf;

    /* the chunks, pads and all, must end where the frame does */
    if (w->pos > w->frame_end || w->left > w->frame_end - w->pos) {
        return pe_strip_fail(s, "WebP chunk past its ANMF frame");
    }

    if (memcmp(t, "VP8 ", 4) == 0 || memcmp(t, "VP8L", 4) == 0
        || memcmp(t, "ALPH", 4) == 0)
    {
        if (pe_strip_emit(s, w->buf, 8) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        w->state = PE_WEBP_S_COPY;
        return w->left ? PE_STRIP_OK : pe_webp_next(s, w);
    }

    return pe_webp_void(s, w);
}


static int
pe_webp_finish(pe_strip_t *s)
{
    pe_webp_t  *w = s->state;

    if (w->state != PE_WEBP_S_END) {
        return pe_strip_fail(s, "truncated WebP");
    }

    return PE_STRIP_OK;
}


const pe_strip_format_t  pe_strip_webp = {
    "webp",
    pe_webp_init,
    pe_webp_feed,
    pe_webp_finish,
    pe_webp_free
};
