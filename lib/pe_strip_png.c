/*
 * privacy-edge: metadata out of PNG files as they stream (pe_strip.h).
 *
 * Chunks are copied or dropped whole; only the 8-byte chunk header is held
 * to decide, a kept chunk's data goes out as it comes.
 *
 * Kept:    IHDR, PLTE, IDAT, IEND, and the ancillary chunks rendering
 *          reads: iCCP, sRGB, gAMA, cHRM, cICP, mDCv, cLLi, sBIT, bKGD,
 *          tRNS, hIST, sPLT, pHYs, and APNG's acTL, fcTL, fdAT.
 * Dropped: every other ancillary chunk (tEXt, zTXt, iTXt, eXIf, tIME,
 *          private and unknown ones), and all after IEND.
 *
 * Orientation: an eXIf before IDAT, which browsers read for it, is
 * replaced by a minimal one holding only its Orientation when that is
 * 2..8, as in JPEG; its first 64 KiB are held to read it.
 *
 * Every chunk's CRC is checked, dropped ones' too: a file with a bad one
 * is damaged and refused, as libpng refuses a bad critical chunk, rather
 * than passed on for the decoder behind to make of what it will.
 *
 * Refused besides: no PNG signature, a chunk length over 2^31 - 1, a
 * chunk type that is not four letters, an unknown critical chunk (it
 * could not be rendered, nor vouched for), IHDR not first or not 13
 * bytes, a second IHDR or PLTE, PLTE after IDAT, IDAT chunks not in one
 * run, no IDAT, IEND with data, and an end before IEND.
 */

#include "pe_strip.h"

#include <stdlib.h>
#include <string.h>


enum {
    PE_PNG_S_SIG = 0,
    PE_PNG_S_HEADER,        /* length and type */
    PE_PNG_S_DATA,
    PE_PNG_S_CRC,
    PE_PNG_S_TRAILER        /* after IEND */
};


typedef struct {
    int            state;
    unsigned       got;          /* bytes of the signature, header, CRC */
    unsigned char  buf[8];
    uint32_t       left;         /* data bytes still to come */
    uint32_t       crc;          /* of the type and data so far */
    unsigned       keep:1;
    unsigned       iend:1;
    unsigned       seen_ihdr:1;
    unsigned       seen_plte:1;
    unsigned       idat:2;       /* 0 none yet, 1 in their run, 2 after */
    unsigned       trailer:1;
    unsigned       holding:1;    /* this chunk is the eXIf, held */
    unsigned       seen_exif:1;
    uint32_t       len;          /* this chunk's */
    uint32_t       held;         /* of the eXIf, bytes in exif[] */
    uint32_t       table[8][256];  /* slice-by-8: 8 bytes a step */
    unsigned char  exif[65535];
} pe_png_t;


static const unsigned char  pe_png_sig[8] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};


/* the ancillary chunks kept: colour, transparency, geometry, animation */
static const char  pe_png_keep[][5] = {
    "iCCP", "sRGB", "gAMA", "cHRM", "cICP", "mDCv", "cLLi", "sBIT",
    "bKGD", "tRNS", "hIST", "sPLT", "pHYs", "acTL", "fcTL", "fdAT"
};


static int pe_png_chunk(pe_strip_t *s, pe_png_t *g);
static int pe_png_exif(pe_strip_t *s, pe_png_t *g);


static int
pe_png_init(pe_strip_t *s)
{
    unsigned   i, k;
    uint32_t   c;
    pe_png_t  *g;

    g = calloc(1, sizeof(pe_png_t));
    if (g == NULL) {
        return -1;
    }

    /*
     * CRC-32 (ISO 3309), built here rather than shared: no static state.
     * Eight tables, so that eight bytes cost one step: the pixels of
     * every PNG pass through it.
     */
    for (i = 0; i < 256; i++) {
        c = i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }

        g->table[0][i] = c;
    }

    for (i = 0; i < 256; i++) {
        c = g->table[0][i];

        for (k = 1; k < 8; k++) {
            c = g->table[0][c & 0xff] ^ (c >> 8);
            g->table[k][i] = c;
        }
    }

    g->state = PE_PNG_S_SIG;
    s->state = g;

    return 0;
}


static void
pe_png_free(pe_strip_t *s)
{
    free(s->state);
    s->state = NULL;
}


static uint32_t
pe_png_crc(const pe_png_t *g, uint32_t crc, const unsigned char *p, size_t n)
{
    uint32_t  lo, hi;

    while (n >= 8) {
        lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8
                    | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
        hi = (uint32_t) p[4] | (uint32_t) p[5] << 8 | (uint32_t) p[6] << 16
             | (uint32_t) p[7] << 24;
        crc = g->table[7][lo & 0xff] ^ g->table[6][(lo >> 8) & 0xff]
              ^ g->table[5][(lo >> 16) & 0xff] ^ g->table[4][lo >> 24]
              ^ g->table[3][hi & 0xff] ^ g->table[2][(hi >> 8) & 0xff]
              ^ g->table[1][(hi >> 16) & 0xff] ^ g->table[0][hi >> 24];
        p += 8;
        n -= 8;
    }

    while (n--) {
        crc = g->table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return crc;
}


static int
pe_png_feed(pe_strip_t *s, const unsigned char *p, size_t n)
{
    int                   rc;
    size_t                i, k;
    uint32_t              crc;
    pe_png_t             *g;
    const unsigned char  *end;

    g = s->state;
    end = p + n;

    while (p < end) {

        switch (g->state) {

        case PE_PNG_S_SIG:
            if (*p++ != pe_png_sig[g->got++]) {
                return pe_strip_fail(s, "not a PNG: no signature");
            }

            if (g->got < 8) {
                break;
            }

            if (pe_strip_emit(s, pe_png_sig, 8) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            g->got = 0;
            g->state = PE_PNG_S_HEADER;
            break;

        case PE_PNG_S_HEADER:
        case PE_PNG_S_CRC:
            k = (g->state == PE_PNG_S_HEADER ? 8 : 4) - g->got;
            k = k < (size_t) (end - p) ? k : (size_t) (end - p);

            memcpy(g->buf + g->got, p, k);
            g->got += k;
            p += k;

            if (g->state == PE_PNG_S_HEADER) {
                if (g->got < 8) {
                    break;
                }

                rc = pe_png_chunk(s, g);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }

                break;
            }

            if (g->got < 4) {
                break;
            }

            crc = ~g->crc;

            if (g->buf[0] != (crc >> 24) || g->buf[1] != ((crc >> 16) & 0xff)
                || g->buf[2] != ((crc >> 8) & 0xff)
                || g->buf[3] != (crc & 0xff))
            {
                return pe_strip_fail(s, "PNG chunk CRC mismatch");
            }

            if (g->keep && pe_strip_emit(s, g->buf, 4) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            if (g->holding) {
                rc = pe_png_exif(s, g);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }
            }

            g->got = 0;
            g->state = g->iend ? PE_PNG_S_TRAILER : PE_PNG_S_HEADER;
            break;

        case PE_PNG_S_DATA:
            k = g->left < (size_t) (end - p) ? g->left : (size_t) (end - p);

            g->crc = pe_png_crc(g, g->crc, p, k);

            if (g->holding && g->held < sizeof(g->exif)) {
                i = sizeof(g->exif) - g->held;
                i = i < k ? i : k;
                memcpy(g->exif + g->held, p, i);
                g->held += i;
            }

            if (g->keep && pe_strip_emit(s, p, k) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            g->left -= k;
            p += k;

            if (g->left == 0) {
                g->state = PE_PNG_S_CRC;
            }

            break;

        default: /* PE_PNG_S_TRAILER */
            if (!g->trailer) {
                g->trailer = 1;
                s->removed++;
            }

            p = end;
            break;
        }
    }

    return PE_STRIP_OK;
}


/* a chunk's length and type are in buf: check them, keep or drop it */
static int
pe_png_chunk(pe_strip_t *s, pe_png_t *g)
{
    size_t          i;
    uint32_t        len;
    unsigned char  *t;

    len = (uint32_t) g->buf[0] << 24 | (uint32_t) g->buf[1] << 16
          | (uint32_t) g->buf[2] << 8 | (uint32_t) g->buf[3];
    t = g->buf + 4;

    if (len > 0x7fffffff) {
        return pe_strip_fail(s, "PNG chunk length over 2^31 - 1");
    }

    for (i = 0; i < 4; i++) {
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) {
            return pe_strip_fail(s, "PNG chunk type not four letters");
        }
    }

    if (!g->seen_ihdr && memcmp(t, "IHDR", 4) != 0) {
        return pe_strip_fail(s, "PNG without IHDR first");
    }

    /* the state of the IDAT run, before this chunk is taken into it */
    if (memcmp(t, "IDAT", 4) == 0) {
        if (g->idat == 2) {
            return pe_strip_fail(s, "PNG IDAT chunks not consecutive");
        }

        g->idat = 1;

    } else if (g->idat == 1) {
        g->idat = 2;
    }

    g->keep = 1;

    if (memcmp(t, "IHDR", 4) == 0) {
        if (g->seen_ihdr) {
            return pe_strip_fail(s, "PNG with two IHDR chunks");
        }

        if (len != 13) {
            return pe_strip_fail(s, "PNG IHDR length not 13");
        }

        g->seen_ihdr = 1;

    } else if (memcmp(t, "PLTE", 4) == 0) {
        if (g->seen_plte || g->idat) {
            return pe_strip_fail(s, "PNG PLTE misplaced");
        }

        g->seen_plte = 1;

    } else if (memcmp(t, "IEND", 4) == 0) {
        if (len != 0) {
            return pe_strip_fail(s, "PNG IEND with data");
        }

        if (g->idat == 0) {
            return pe_strip_fail(s, "PNG without IDAT");
        }

        g->iend = 1;

    } else if (memcmp(t, "IDAT", 4) != 0) {

        if (!(t[0] & 0x20)) {
            return pe_strip_fail(s, "unknown critical PNG chunk");
        }

        g->keep = 0;

        if (memcmp(t, "eXIf", 4) == 0 && !g->seen_exif && g->idat == 0) {
            g->seen_exif = 1;
            g->holding = 1;
            g->held = 0;
        }

        for (i = 0; i < sizeof(pe_png_keep) / sizeof(pe_png_keep[0]); i++) {
            if (memcmp(t, pe_png_keep[i], 4) == 0) {
                g->keep = 1;
                break;
            }
        }

        if (!g->keep && !g->holding) {
            s->removed++;
        }
    }

    if (g->keep && pe_strip_emit(s, g->buf, 8) != PE_STRIP_OK) {
        return PE_STRIP_STOPPED;
    }

    g->crc = pe_png_crc(g, 0xffffffff, t, 4);
    g->len = len;
    g->left = len;
    g->got = 0;
    g->state = len ? PE_PNG_S_DATA : PE_PNG_S_CRC;

    return PE_STRIP_OK;
}


/* the eXIf held, its CRC right: out goes its Orientation alone, if any */
static int
pe_png_exif(pe_strip_t *s, pe_png_t *g)
{
    unsigned       o;
    uint32_t       crc;
    unsigned char  c[12 + PE_STRIP_TIFF_MIN];

    g->holding = 0;

    o = pe_strip_exif_orientation(g->exif, g->held);

    if (o == 0) {
        s->removed++;
        return PE_STRIP_OK;
    }

    memcpy(c, "\0\0\0\0eXIf", 8);
    c[3] = PE_STRIP_TIFF_MIN;
    pe_strip_exif_minimal(c + 8, o);

    crc = ~pe_png_crc(g, 0xffffffff, c + 4, 4 + PE_STRIP_TIFF_MIN);
    c[8 + PE_STRIP_TIFF_MIN] = (unsigned char) (crc >> 24);
    c[9 + PE_STRIP_TIFF_MIN] = (unsigned char) (crc >> 16);
    c[10 + PE_STRIP_TIFF_MIN] = (unsigned char) (crc >> 8);
    c[11 + PE_STRIP_TIFF_MIN] = (unsigned char) crc;

    /* the minimal eXIf itself, as written by an earlier pass, stays */
    if (g->len != PE_STRIP_TIFF_MIN
        || memcmp(g->exif, c + 8, PE_STRIP_TIFF_MIN) != 0)
    {
        s->removed++;
    }

    return pe_strip_emit(s, c, sizeof(c));
}


static int
pe_png_finish(pe_strip_t *s)
{
    pe_png_t  *g = s->state;

    if (g->state != PE_PNG_S_TRAILER) {
        return pe_strip_fail(s, "truncated PNG");
    }

    return PE_STRIP_OK;
}


const pe_strip_format_t  pe_strip_png = {
    "png",
    pe_png_init,
    pe_png_feed,
    pe_png_finish,
    pe_png_free
};
