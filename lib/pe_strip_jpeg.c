/*
 * privacy-edge: metadata out of JPEG files as they stream (pe_strip.h).
 *
 * The marker segments are walked and copied or dropped whole; the entropy-
 * coded data is copied untouched, so the decoded pixels are the same.
 *
 * Kept:    SOFn, DHT, DAC, DQT, DRI, DNL, SOS and the scans, EOI;
 *          APP0 "JFIF" (its thumbnail, if any, cut off), APP2
 *          "ICC_PROFILE", APP14 "Adobe" (colour transform), all three
 *          only before the first scan, where decoders read them.
 * Dropped: every other APPn (Exif, XMP, extended XMP, JFXX thumbnails,
 *          MPF, FlashPix, IPTC/Photoshop, maker segments), COM, and all
 *          after EOI (MPF's second images, vendor trailers).
 *
 * Orientation: the first Exif APP1 before the first scan, the one
 * browsers read, is buffered whole (at most 65533 bytes) and replaced by
 * a minimal Exif holding only its Orientation when that is 2..8.  An Exif
 * that cannot be read is dropped like any other, not refused: it is going
 * anyway.
 *
 * Fill bytes (0xFF before a marker) pass as they are, in scans and between
 * segments; before a dropped segment they stay, still valid before the
 * next marker.
 *
 * Refused: no SOI first, a segment length under 2, a byte other than
 * 0xFF where a marker must be, 0xFF00 or a restart marker outside a scan,
 * SOS before SOF, two SOFs (hierarchical JPEG, which browsers do not
 * decode), EOI before any scan, reserved and extension markers (JPG,
 * JPGn, TEM, RES, DHP, EXP), a second SOI, and an end before EOI.
 */

#include "pe_strip.h"

#include <stdlib.h>
#include <string.h>


#define PE_JPEG_SOF_FIRST   0xc0
#define PE_JPEG_DHT         0xc4
#define PE_JPEG_JPG         0xc8
#define PE_JPEG_DAC         0xcc
#define PE_JPEG_RST0        0xd0
#define PE_JPEG_RST7        0xd7
#define PE_JPEG_SOI         0xd8
#define PE_JPEG_EOI         0xd9
#define PE_JPEG_SOS         0xda
#define PE_JPEG_DQT         0xdb
#define PE_JPEG_DNL         0xdc
#define PE_JPEG_DRI         0xdd
#define PE_JPEG_APP0        0xe0
#define PE_JPEG_APP1        0xe1
#define PE_JPEG_APP2        0xe2
#define PE_JPEG_APP14       0xee
#define PE_JPEG_APP15       0xef
#define PE_JPEG_COM         0xfe

/* the longest identifier looked at: a JFIF APP0 up to its thumbnail */
#define PE_JPEG_ID_MAX      14


enum {
    PE_JPEG_S_SOI0 = 0,
    PE_JPEG_S_SOI1,
    PE_JPEG_S_MARK,         /* the 0xFF of the next marker */
    PE_JPEG_S_CODE,         /* the marker's code, after any fill 0xFFs */
    PE_JPEG_S_LEN0,
    PE_JPEG_S_LEN1,
    PE_JPEG_S_ID,           /* an APPn's identifier */
    PE_JPEG_S_EXIF,         /* an Exif APP1, buffered */
    PE_JPEG_S_COPY,         /* a kept segment's payload */
    PE_JPEG_S_SKIP,         /* a dropped one's */
    PE_JPEG_S_ECS,          /* entropy-coded data */
    PE_JPEG_S_ECS_FF,       /* ... just after an 0xFF */
    PE_JPEG_S_TRAILER       /* after EOI */
};


typedef struct {
    int            state;
    unsigned       marker;
    unsigned       len;          /* the segment's length field */
    unsigned       left;         /* of its payload, bytes still to come */
    unsigned       got;          /* of its payload, bytes in buf */
    unsigned       want;         /* ... bytes wanted in buf */
    unsigned       seen_sof:1;
    unsigned       seen_sos:1;
    unsigned       seen_exif:1;
    unsigned       trailer:1;
    unsigned char  buf[65535];
} pe_jpeg_t;


static int pe_jpeg_marker(pe_strip_t *s, pe_jpeg_t *j, unsigned c);
static int pe_jpeg_segment(pe_strip_t *s, pe_jpeg_t *j);
static int pe_jpeg_app(pe_strip_t *s, pe_jpeg_t *j);
static int pe_jpeg_exif(pe_strip_t *s, pe_jpeg_t *j);


static int
pe_jpeg_init(pe_strip_t *s)
{
    pe_jpeg_t  *j;

    j = malloc(sizeof(pe_jpeg_t));
    if (j == NULL) {
        return -1;
    }

    j->state = PE_JPEG_S_SOI0;
    j->seen_sof = 0;
    j->seen_sos = 0;
    j->seen_exif = 0;
    j->trailer = 0;

    s->state = j;

    return 0;
}


static void
pe_jpeg_free(pe_strip_t *s)
{
    free(s->state);
    s->state = NULL;
}


/* after a segment's payload: the next marker, or the scan after SOS */
static void
pe_jpeg_next(pe_jpeg_t *j, int kept)
{
    if (j->left) {
        j->state = kept ? PE_JPEG_S_COPY : PE_JPEG_S_SKIP;

    } else {
        j->state = (j->marker == PE_JPEG_SOS) ? PE_JPEG_S_ECS
                                              : PE_JPEG_S_MARK;
    }
}


static int
pe_jpeg_header(pe_strip_t *s, pe_jpeg_t *j)
{
    unsigned char  h[4];

    h[0] = 0xff;
    h[1] = (unsigned char) j->marker;
    h[2] = (unsigned char) (j->len >> 8);
    h[3] = (unsigned char) j->len;

    return pe_strip_emit(s, h, 4);
}


static int
pe_jpeg_feed(pe_strip_t *s, const unsigned char *p, size_t n)
{
    int                   rc;
    size_t                k;
    unsigned              c;
    pe_jpeg_t            *j;
    unsigned char         d[2];
    const unsigned char  *end, *ff;

    static const unsigned char  soi[2] = { 0xff, PE_JPEG_SOI };
    static const unsigned char  fill = 0xff;

    j = s->state;
    end = p + n;

    while (p < end) {

        switch (j->state) {

        case PE_JPEG_S_SOI0:
            if (*p++ != 0xff) {
                return pe_strip_fail(s, "not a JPEG: no SOI");
            }

            j->state = PE_JPEG_S_SOI1;
            break;

        case PE_JPEG_S_SOI1:
            if (*p++ != PE_JPEG_SOI) {
                return pe_strip_fail(s, "not a JPEG: no SOI");
            }

            if (pe_strip_emit(s, soi, 2) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            j->state = PE_JPEG_S_MARK;
            break;

        case PE_JPEG_S_MARK:
            if (*p++ != 0xff) {
                return pe_strip_fail(s, "JPEG marker expected");
            }

            j->state = PE_JPEG_S_CODE;
            break;

        case PE_JPEG_S_CODE:
            c = *p++;

            if (c == 0xff) {
                /* a fill byte: kept, it may stand before any marker */
                if (pe_strip_emit(s, &fill, 1) != PE_STRIP_OK) {
                    return PE_STRIP_STOPPED;
                }

                break;
            }

            rc = pe_jpeg_marker(s, j, c);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            break;

        case PE_JPEG_S_LEN0:
            j->len = (unsigned) *p++ << 8;
            j->state = PE_JPEG_S_LEN1;
            break;

        case PE_JPEG_S_LEN1:
            j->len |= *p++;

            rc = pe_jpeg_segment(s, j);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            break;

        case PE_JPEG_S_ID:
        case PE_JPEG_S_EXIF:
            k = j->want - j->got;
            k = k < (size_t) (end - p) ? k : (size_t) (end - p);

            memcpy(j->buf + j->got, p, k);
            j->got += k;
            j->left -= k;
            p += k;

            if (j->got < j->want) {
                break;
            }

            rc = (j->state == PE_JPEG_S_ID) ? pe_jpeg_app(s, j)
                                            : pe_jpeg_exif(s, j);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            break;

        case PE_JPEG_S_COPY:
        case PE_JPEG_S_SKIP:
            k = j->left < (size_t) (end - p) ? j->left : (size_t) (end - p);

            if (j->state == PE_JPEG_S_COPY
                && pe_strip_emit(s, p, k) != PE_STRIP_OK)
            {
                return PE_STRIP_STOPPED;
            }

            j->left -= k;
            p += k;

            if (j->left == 0) {
                pe_jpeg_next(j, 0);
            }

            break;

        case PE_JPEG_S_ECS:
            /* the scan goes out in runs up to each 0xFF */
            ff = memchr(p, 0xff, end - p);
            k = (ff ? ff : end) - p;

            if (pe_strip_emit(s, p, k) != PE_STRIP_OK) {
                return PE_STRIP_STOPPED;
            }

            p += k;

            if (ff) {
                p++;
                j->state = PE_JPEG_S_ECS_FF;
            }

            break;

        case PE_JPEG_S_ECS_FF:
            c = *p;

            if (c == 0x00 || (c >= PE_JPEG_RST0 && c <= PE_JPEG_RST7)) {
                /* a stuffed 0xFF or a restart marker: scan data */
                d[0] = 0xff;
                d[1] = (unsigned char) c;

                if (pe_strip_emit(s, d, 2) != PE_STRIP_OK) {
                    return PE_STRIP_STOPPED;
                }

                p++;
                j->state = PE_JPEG_S_ECS;
                break;
            }

            if (c == 0xff) {
                /* a fill byte: the next one may still be data */
                if (pe_strip_emit(s, &fill, 1) != PE_STRIP_OK) {
                    return PE_STRIP_STOPPED;
                }

                p++;
                break;
            }

            /* any other marker ends the scan */
            j->state = PE_JPEG_S_CODE;
            break;

        default: /* PE_JPEG_S_TRAILER */
            if (!j->trailer) {
                j->trailer = 1;
                s->removed++;
            }

            p = end;
            break;
        }
    }

    return PE_STRIP_OK;
}


static int
pe_jpeg_marker(pe_strip_t *s, pe_jpeg_t *j, unsigned c)
{
    static const unsigned char  eoi[2] = { 0xff, PE_JPEG_EOI };

    if (c == PE_JPEG_EOI) {
        if (!j->seen_sos) {
            return pe_strip_fail(s, "JPEG EOI before any scan");
        }

        if (pe_strip_emit(s, eoi, 2) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        j->state = PE_JPEG_S_TRAILER;
        return PE_STRIP_OK;
    }

    if (c == PE_JPEG_SOI) {
        return pe_strip_fail(s, "JPEG SOI inside the image");
    }

    if (c >= PE_JPEG_RST0 && c <= PE_JPEG_RST7) {
        return pe_strip_fail(s, "JPEG restart marker outside a scan");
    }

    if (c == 0x00) {
        return pe_strip_fail(s, "JPEG marker expected");
    }

    /*
     * What a browser's decoder (libjpeg) reads, and nothing it does not:
     * an extension marker's contents could not be vouched for.
     */

    if (c < PE_JPEG_SOF_FIRST || c == PE_JPEG_JPG
        || (c > PE_JPEG_DRI && c < PE_JPEG_APP0)
        || (c > PE_JPEG_APP15 && c != PE_JPEG_COM))
    {
        return pe_strip_fail(s, "unsupported JPEG marker");
    }

    j->marker = c;
    j->state = PE_JPEG_S_LEN0;

    return PE_STRIP_OK;
}


static int
pe_jpeg_segment(pe_strip_t *s, pe_jpeg_t *j)
{
    unsigned  m;

    if (j->len < 2) {
        return pe_strip_fail(s, "JPEG segment length under 2");
    }

    m = j->marker;
    j->left = j->len - 2;
    j->got = 0;

    if ((m >= PE_JPEG_APP0 && m <= PE_JPEG_APP15) || m == PE_JPEG_COM) {

        if (m == PE_JPEG_COM || j->seen_sos) {
            s->removed++;
            pe_jpeg_next(j, 0);
            return PE_STRIP_OK;
        }

        j->want = j->left < PE_JPEG_ID_MAX ? j->left : PE_JPEG_ID_MAX;
        j->state = PE_JPEG_S_ID;

        return j->want ? PE_STRIP_OK : pe_jpeg_app(s, j);
    }

    if (m == PE_JPEG_SOS) {
        if (!j->seen_sof) {
            return pe_strip_fail(s, "JPEG SOS before SOF");
        }

        j->seen_sos = 1;

    } else if (m != PE_JPEG_DHT && m != PE_JPEG_DAC && m < PE_JPEG_RST0) {
        if (j->seen_sof) {
            return pe_strip_fail(s, "JPEG with two SOF markers");
        }

        j->seen_sof = 1;
    }

    if (pe_jpeg_header(s, j) != PE_STRIP_OK) {
        return PE_STRIP_STOPPED;
    }

    pe_jpeg_next(j, 1);

    return PE_STRIP_OK;
}


/* an APPn's first bytes are in buf: keep it, drop it, or read its Exif */
static int
pe_jpeg_app(pe_strip_t *s, pe_jpeg_t *j)
{
    unsigned       m, size;
    unsigned char  jfif[4 + PE_JPEG_ID_MAX];

    m = j->marker;
    size = j->len - 2;

    if (m == PE_JPEG_APP0 && size >= 14 && memcmp(j->buf, "JFIF\0", 5) == 0) {

        if (size == 14 && j->buf[12] == 0 && j->buf[13] == 0) {
            if (pe_jpeg_header(s, j) != PE_STRIP_OK
                || pe_strip_emit(s, j->buf, 14) != PE_STRIP_OK)
            {
                return PE_STRIP_STOPPED;
            }

            pe_jpeg_next(j, 1);
            return PE_STRIP_OK;
        }

        /* its thumbnail is a picture of the picture, perhaps uncropped */
        jfif[0] = 0xff;
        jfif[1] = PE_JPEG_APP0;
        jfif[2] = 0;
        jfif[3] = 16;
        memcpy(jfif + 4, j->buf, 12);
        jfif[16] = 0;
        jfif[17] = 0;

        if (pe_strip_emit(s, jfif, sizeof(jfif)) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        s->removed++;
        pe_jpeg_next(j, 0);
        return PE_STRIP_OK;
    }

    if (m == PE_JPEG_APP1 && !j->seen_exif && j->got >= 6
        && memcmp(j->buf, "Exif\0\0", 6) == 0)
    {
        /* the first Exif is the one read for the orientation */
        j->seen_exif = 1;
        j->want = size;
        j->state = PE_JPEG_S_EXIF;

        return j->left ? PE_STRIP_OK : pe_jpeg_exif(s, j);
    }

    if ((m == PE_JPEG_APP2 && j->got >= 12
         && memcmp(j->buf, "ICC_PROFILE\0", 12) == 0)
        || (m == PE_JPEG_APP14 && j->got >= 5
            && memcmp(j->buf, "Adobe", 5) == 0))
    {
        if (pe_jpeg_header(s, j) != PE_STRIP_OK
            || pe_strip_emit(s, j->buf, j->got) != PE_STRIP_OK)
        {
            return PE_STRIP_STOPPED;
        }

        pe_jpeg_next(j, 1);
        return PE_STRIP_OK;
    }

    s->removed++;
    pe_jpeg_next(j, 0);

    return PE_STRIP_OK;
}


/* a whole Exif APP1 is in buf: out goes its Orientation alone, if any */
static int
pe_jpeg_exif(pe_strip_t *s, pe_jpeg_t *j)
{
    unsigned       o;
    unsigned char  exif[10 + PE_STRIP_TIFF_MIN];

    j->state = PE_JPEG_S_MARK;

    o = pe_strip_exif_orientation(j->buf + 6, j->got - 6);

    if (o == 0) {
        s->removed++;
        return PE_STRIP_OK;
    }

    exif[0] = 0xff;
    exif[1] = PE_JPEG_APP1;
    exif[2] = 0;
    exif[3] = sizeof(exif) - 2;
    memcpy(exif + 4, "Exif\0\0", 6);
    pe_strip_exif_minimal(exif + 10, o);

    /* the minimal Exif itself, as written by an earlier pass, stays */
    if (j->len != sizeof(exif) - 2 || memcmp(j->buf, exif + 4, j->got) != 0) {
        s->removed++;
    }

    return pe_strip_emit(s, exif, sizeof(exif));
}


static unsigned
pe_exif_get16(const unsigned char *p, int le)
{
    return le ? (unsigned) p[0] | (unsigned) p[1] << 8
              : (unsigned) p[0] << 8 | (unsigned) p[1];
}


static uint32_t
pe_exif_get32(const unsigned char *p, int le)
{
    return le ? (uint32_t) p[0] | (uint32_t) p[1] << 8
                | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24
              : (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
                | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}


/* the Orientation is tag 0x0112, a SHORT, count 1, in IFD0 */
unsigned
pe_strip_exif_orientation(const unsigned char *t, size_t n)
{
    int       le;
    size_t    i, count, e;
    uint32_t  off;
    unsigned  v;

    /* shorter, it cannot hold all of IFD0: and what replaces it is never
     * longer than it was */
    if (n < PE_STRIP_TIFF_MIN) {
        return 0;
    }

    if (memcmp(t, "II*\0", 4) == 0) {
        le = 1;

    } else if (memcmp(t, "MM\0*", 4) == 0) {
        le = 0;

    } else {
        return 0;
    }

    off = pe_exif_get32(t + 4, le);

    if (off < 8 || off > n - 2) {
        return 0;
    }

    count = pe_exif_get16(t + off, le);

    for (i = 0; i < count; i++) {
        e = off + 2 + 12 * i;

        if (e + 12 > n) {
            return 0;
        }

        if (pe_exif_get16(t + e, le) != 0x0112) {
            continue;
        }

        if (pe_exif_get16(t + e + 2, le) != 3
            || pe_exif_get32(t + e + 4, le) != 1)
        {
            return 0;
        }

        v = pe_exif_get16(t + e + 8, le);

        return (v >= 2 && v <= 8) ? v : 0;
    }

    return 0;
}


void
pe_strip_exif_minimal(unsigned char *t, unsigned orientation)
{
    static const unsigned char  tiff[PE_STRIP_TIFF_MIN] = {
        'M', 'M', 0, 42, 0, 0, 0, 8,                /* IFD0 at 8 */
        0, 1,                                       /* 1 entry */
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,   /* Orientation */
        0, 0, 0, 0                                  /* no next IFD */
    };

    memcpy(t, tiff, PE_STRIP_TIFF_MIN);
    t[19] = (unsigned char) orientation;
}


static int
pe_jpeg_finish(pe_strip_t *s)
{
    pe_jpeg_t  *j = s->state;

    if (j->state != PE_JPEG_S_TRAILER) {
        return pe_strip_fail(s, "truncated JPEG");
    }

    return PE_STRIP_OK;
}


const pe_strip_format_t  pe_strip_jpeg = {
    "jpeg",
    pe_jpeg_init,
    pe_jpeg_feed,
    pe_jpeg_finish,
    pe_jpeg_free
};
