
/*
 * privacy-edge: metadata out of ISO BMFF files (MP4, MOV, M4A, HEIC, HEIF,
 * AVIF) as they stream (pe_strip.h).
 *
 * Nothing is removed and nothing moves: chunk offsets (stco, co64) and item
 * locations (iloc) point into the file.  Metadata is overwritten in place.
 * What is kept is an allowlist, since cameras and editors write metadata
 * in boxes of their own (Canon's uuid with Exif and GPS, udat GPS logs,
 * IDIT dates, thum thumbnails, ...) that no list of known ones catches:
 *
 *   at the top                             ftyp, moov, mdat, moof, mfra,
 *                                          free, skip, wide, sidx, ssix,
 *                                          styp, prft (and HEIF's meta)
 *   in moov, trak, mdia, minf, stbl,       the boxes ISO BMFF and
 *   dinf, edts, mvex, moof, traf, mfra     QuickTime define there for
 *                                          playback (pe_bmff_kids); the
 *                                          others, sample entries in stsd
 *                                          among them, pass whole
 *   every other box: udta, meta, every     becomes a 'free' box of the
 *   uuid, emsg, vendor boxes               same size, payload zeroed
 *   free, skip                             payload zeroed: leftovers of
 *                                          edits may hide there
 *   mvhd, tkhd, mdhd                       creation and modification
 *                                          times zeroed: when the camera
 *                                          recorded
 *   HEIF/AVIF top-level meta               kept: it is the image's
 *                                          structure.  It is held whole
 *                                          (bounded), its Exif and XMP
 *                                          items found through iinf and
 *                                          iloc, and their bytes zeroed,
 *                                          in its idat or further on in
 *                                          the file as that streams;
 *                                          udes properties (a user's
 *                                          name, description, tags)
 *                                          emptied
 *
 * Timed metadata tracks (gpmd, camm, mebx sample entries: GPS samples in
 * mdat) are not touched: their samples are media data.  Memory is
 * the state (about 2 KiB) and, while it is read, the HEIF meta box (at
 * most 1 MiB).  Item data that cannot be zeroed as it passes (before the
 * meta box, over a box header, past the end, built from other items, in
 * another file) has the file refused.
 */

#include "pe_strip.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define PE_BMFF_DEPTH_MAX     16            /* levels of boxes */
#define PE_BMFF_FTYP_MAX      4096
#define PE_BMFF_META_MAX      (1 << 20)     /* a held HEIF meta box */
#define PE_BMFF_EXTENTS_MAX   64            /* item ranges still to zero */
#define PE_BMFF_ITEMS_MAX     64            /* Exif and XMP items */
#define PE_BMFF_LIMIT         ((uint64_t) 1 << 62)
#define PE_BMFF_TO_END        UINT64_MAX    /* a size 0 box */

#define pe_bmff_4cc(a, b, c, d)                                              \
    ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8      \
     | (uint32_t) (d))

#define PE_BMFF_FTYP  pe_bmff_4cc('f', 't', 'y', 'p')
#define PE_BMFF_META  pe_bmff_4cc('m', 'e', 't', 'a')
#define PE_BMFF_UUID  pe_bmff_4cc('u', 'u', 'i', 'd')
#define PE_BMFF_FREE  pe_bmff_4cc('f', 'r', 'e', 'e')
#define PE_BMFF_SKIP  pe_bmff_4cc('s', 'k', 'i', 'p')
#define PE_BMFF_IINF  pe_bmff_4cc('i', 'i', 'n', 'f')
#define PE_BMFF_INFE  pe_bmff_4cc('i', 'n', 'f', 'e')
#define PE_BMFF_ILOC  pe_bmff_4cc('i', 'l', 'o', 'c')
#define PE_BMFF_IDAT  pe_bmff_4cc('i', 'd', 'a', 't')
#define PE_BMFF_IPRP  pe_bmff_4cc('i', 'p', 'r', 'p')
#define PE_BMFF_IPCO  pe_bmff_4cc('i', 'p', 'c', 'o')
#define PE_BMFF_UDES  pe_bmff_4cc('u', 'd', 'e', 's')
#define PE_BMFF_EXIF  pe_bmff_4cc('E', 'x', 'i', 'f')
#define PE_BMFF_MIME  pe_bmff_4cc('m', 'i', 'm', 'e')
#define PE_BMFF_MVHD  pe_bmff_4cc('m', 'v', 'h', 'd')
#define PE_BMFF_TKHD  pe_bmff_4cc('t', 'k', 'h', 'd')
#define PE_BMFF_MDHD  pe_bmff_4cc('m', 'd', 'h', 'd')
#define PE_BMFF_TIMES_MAX     4096          /* a held mvhd, tkhd, mdhd */


enum {
    PE_BMFF_S_HEADER = 0,     /* collecting a box header */
    PE_BMFF_S_PASS,           /* a payload passing as it is */
    PE_BMFF_S_ZERO,           /* a neutralised box's payload */
    PE_BMFF_S_WIPE,           /* a free or skip box's payload */
    PE_BMFF_S_HOLD            /* a box held whole: ftyp, HEIF meta */
};


typedef struct {
    uint64_t         start;
    uint64_t         end;
    unsigned         item;          /* index in items[] */
} pe_bmff_extent_t;


typedef struct {
    int               state;
    uint64_t          pos;          /* file offset of the next input byte */

    unsigned char     hdr[32];      /* size, type, largesize, uuid */
    size_t            hdr_len;
    size_t            hdr_need;
    uint32_t          type;
    uint64_t          box_start;
    uint64_t          box_end;      /* PE_BMFF_TO_END for size 0 */
    int               wiped;        /* the free box had bytes to zero */

    unsigned          boxes;        /* top-level boxes begun */
    int               heif;         /* ftyp names a HEIF brand */
    int               seen_meta;    /* the HEIF meta box has passed */

    uint64_t          stack[PE_BMFF_DEPTH_MAX];   /* open boxes' ends */
    uint32_t          parent[PE_BMFF_DEPTH_MAX];  /* and their types */
    unsigned          depth;

    unsigned char    *hold;
    size_t            hold_len;
    size_t            hold_size;

    /* ranges of Exif and XMP items after the meta box, sorted */
    pe_bmff_extent_t  ext[PE_BMFF_EXTENTS_MAX];
    unsigned          next_ext;
    unsigned          n_ext;

    uint32_t          item_id[PE_BMFF_ITEMS_MAX];
    unsigned char     item_counted[PE_BMFF_ITEMS_MAX];
    unsigned          n_items;
} pe_bmff_t;


static int pe_bmff_next(pe_strip_t *s, pe_bmff_t *b);
static int pe_bmff_box(pe_strip_t *s, pe_bmff_t *b);
static int pe_bmff_out(pe_strip_t *s, pe_bmff_t *b, const unsigned char *p,
    size_t n);
static int pe_bmff_held(pe_strip_t *s, pe_bmff_t *b);
static int pe_bmff_meta(pe_strip_t *s, pe_bmff_t *b);
static int pe_bmff_times(pe_strip_t *s, pe_bmff_t *b);


static uint32_t
pe_bmff_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static uint64_t
pe_bmff_be64(const unsigned char *p)
{
    return (uint64_t) pe_bmff_be32(p) << 32 | pe_bmff_be32(p + 4);
}


static int
pe_bmff_zero(const unsigned char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}


static int
pe_bmff_init(pe_strip_t *s)
{
    pe_bmff_t  *b;

    b = calloc(1, sizeof(pe_bmff_t));
    if (b == NULL) {
        return -1;
    }

    b->state = PE_BMFF_S_HEADER;
    b->hdr_need = 8;
    s->state = b;

    return 0;
}


static void
pe_bmff_free(pe_strip_t *s)
{
    pe_bmff_t  *b = s->state;

    if (b) {
        free(b->hold);
        free(b);
        s->state = NULL;
    }
}


static int
pe_bmff_feed(pe_strip_t *s, const unsigned char *p, size_t n)
{
    int         rc;
    size_t      k;
    uint64_t    left;
    pe_bmff_t  *b = s->state;

    if (n > PE_BMFF_LIMIT - b->pos) {
        return pe_strip_fail(s, "file too large");
    }

    while (n) {

        switch (b->state) {

        case PE_BMFF_S_HEADER:
            k = b->hdr_need - b->hdr_len;
            k = n < k ? n : k;
            memcpy(b->hdr + b->hdr_len, p, k);
            b->hdr_len += k;
            b->pos += k;
            p += k;
            n -= k;

            if (b->hdr_len < b->hdr_need) {
                break;
            }

            if (b->hdr_need == 8) {
                /* the size and type say what else the header holds */
                if (pe_bmff_be32(b->hdr) == 1) {
                    b->hdr_need += 8;
                }

                if (pe_bmff_be32(b->hdr + 4) == PE_BMFF_UUID) {
                    b->hdr_need += 16;
                }

                if (b->hdr_need > 8) {
                    break;
                }
            }

            rc = pe_bmff_box(s, b);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            break;

        case PE_BMFF_S_PASS:
        case PE_BMFF_S_ZERO:
        case PE_BMFF_S_WIPE:
            left = b->box_end - b->pos;
            k = n < left ? n : (size_t) left;

            rc = pe_bmff_out(s, b, p, k);
            if (rc != PE_STRIP_OK) {
                return rc;
            }

            p += k;
            n -= k;

            if (b->pos == b->box_end) {
                rc = pe_bmff_next(s, b);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }
            }

            break;

        default: /* PE_BMFF_S_HOLD */
            k = b->hold_size - b->hold_len;
            k = n < k ? n : k;
            memcpy(b->hold + b->hold_len, p, k);
            b->hold_len += k;
            b->pos += k;
            p += k;
            n -= k;

            if (b->hold_len == b->hold_size) {
                rc = pe_bmff_held(s, b);
                if (rc != PE_STRIP_OK) {
                    return rc;
                }
            }

            break;
        }
    }

    return PE_STRIP_OK;
}


static int
pe_bmff_finish(pe_strip_t *s)
{
    pe_bmff_t  *b = s->state;

    if (b->boxes == 0 && b->hdr_len == 0) {
        return pe_strip_fail(s, "empty file");
    }

    /* only a size 0 box may end with the file */
    if (!(b->state == PE_BMFF_S_HEADER && b->hdr_len == 0 && b->depth == 0)
        && !(b->box_end == PE_BMFF_TO_END
             && (b->state == PE_BMFF_S_PASS || b->state == PE_BMFF_S_ZERO
                 || b->state == PE_BMFF_S_WIPE)))
    {
        return pe_strip_fail(s, "truncated file");
    }

    if (b->next_ext < b->n_ext) {
        return pe_strip_fail(s, "item data past the end of the file");
    }

    return PE_STRIP_OK;
}


/* a box has ended: the next header, and the ends of the boxes around it */
static int
pe_bmff_next(pe_strip_t *s, pe_bmff_t *b)
{
    b->state = PE_BMFF_S_HEADER;
    b->hdr_len = 0;
    b->hdr_need = 8;
    b->box_start = b->pos;

    while (b->depth && b->stack[b->depth - 1] == b->pos) {
        b->depth--;
    }

    if (b->depth && b->stack[b->depth - 1] - b->pos < 8) {
        return pe_strip_fail(s, "box overruns its parent");
    }

    return PE_STRIP_OK;
}


static int
pe_bmff_first(uint32_t type)
{
    /* QuickTime files may begin without ftyp */
    return type == PE_BMFF_FTYP
           || type == pe_bmff_4cc('m', 'o', 'o', 'v')
           || type == pe_bmff_4cc('m', 'd', 'a', 't')
           || type == pe_bmff_4cc('w', 'i', 'd', 'e')
           || type == PE_BMFF_FREE
           || type == PE_BMFF_SKIP;
}


/*
 * The boxes kept inside a box that is walked into, as FourCCs one after
 * another; NULL for a box that is not walked into.  Only what playback
 * needs (ISO/IEC 14496-12, QuickTime File Format); all else is made free.
 * QuickTime's load, clip, matt, tapt (the track aperture, which some
 * players need), imap and txas are kept whole, and so are gmhd and the
 * sample entries in stsd (colr, pasp and the like live there).
 */
static const char *
pe_bmff_kids(uint32_t parent)
{
    switch (parent) {

    case 0:
        return "ftypmoovmdatmoofmfrafreeskipwidesidxssixstypprft";

    case pe_bmff_4cc('m', 'o', 'o', 'v'):
        /* iods: MPEG-4 systems; pssh: DRM; ctab: QuickTime's colours */
        return "mvhdtrakmvexiodspsshctabclipfreeskipwide";

    case pe_bmff_4cc('t', 'r', 'a', 'k'):
        return "tkhdtreftrgredtsmdialoadclipmatttapt"
               "imaptxasfreeskipwide";

    case pe_bmff_4cc('m', 'd', 'i', 'a'):
        return "mdhdhdlrminfelngfreeskipwide";

    case pe_bmff_4cc('m', 'i', 'n', 'f'):
        /* QuickTime puts its data handler's hdlr here */
        return "vmhdsmhdhmhdnmhdsthdgmhddinfstblhdlrfreeskipwide";

    case pe_bmff_4cc('s', 't', 'b', 'l'):
        return "stsdsttscttscslgstscstszstz2stcoco64stssstshpadbstdp"
               "sdtpsbgpsgpdsubssaizsaiostpsfreeskipwide";

    case pe_bmff_4cc('d', 'i', 'n', 'f'):
        return "dreffreeskipwide";

    case pe_bmff_4cc('e', 'd', 't', 's'):
        return "elstfreeskipwide";

    case pe_bmff_4cc('m', 'v', 'e', 'x'):
        return "mehdtrexlevatrepfreeskipwide";

    case pe_bmff_4cc('m', 'o', 'o', 'f'):
        return "mfhdtrafpsshfreeskipwide";

    case pe_bmff_4cc('t', 'r', 'a', 'f'):
        /* senc: the sample encryption, which playback needs */
        return "tfhdtruntfdtsbgpsgpdsubssaizsaiosencfreeskipwide";

    case pe_bmff_4cc('m', 'f', 'r', 'a'):
        return "tframfrofreeskipwide";

    default:
        return NULL;
    }
}


static int
pe_bmff_in(const char *list, uint32_t type)
{
    size_t  i;

    for (i = 0; list[i]; i += 4) {
        if (pe_bmff_be32((const unsigned char *) list + i) == type) {
            return 1;
        }
    }

    return 0;
}


static int
pe_bmff_container(uint32_t type)
{
    return type != 0 && pe_bmff_kids(type) != NULL;
}


/* is the box kept inside parent (0: at the top)? */
static int
pe_bmff_kept(uint32_t parent, uint32_t type)
{
    const char  *kids;

    kids = pe_bmff_kids(parent);

    return kids != NULL && pe_bmff_in(kids, type);
}


/*
 * The children of a HEIF meta box kept: its structure.  In iprp the item
 * properties are kept (udes emptied): one unknown to a reader and marked
 * essential would have the image not decode if made free.
 */
static int
pe_bmff_meta_kept(uint32_t type)
{
    return pe_bmff_in("hdlrpitmilociinfirefiprpidatgrpldinfipro", type);
}


/* a box header made a free box's: the size stays, the uuid goes */
static void
pe_bmff_blank_header(unsigned char *h, size_t hlen, uint32_t type)
{
    memcpy(h + 4, "free", 4);

    if (type == PE_BMFF_UUID) {
        memset(h + hlen - 16, 0, 16);
    }
}


static int
pe_bmff_box(pe_strip_t *s, pe_bmff_t *b)
{
    int            rc;
    size_t         hlen;
    uint32_t       type;
    uint64_t       size;
    unsigned char  h[32];

    hlen = b->hdr_len;
    type = pe_bmff_be32(b->hdr + 4);
    size = pe_bmff_be32(b->hdr);
    b->type = type;

    if (b->depth == 0 && b->boxes++ == 0 && !pe_bmff_first(type)) {
        return pe_strip_fail(s, "not an ISO BMFF file");
    }

    if (size == 1) {
        size = pe_bmff_be64(b->hdr + 8);
    }

    if (size == 0) {
        if (b->depth) {
            return pe_strip_fail(s, "box without a size inside another");
        }

        b->box_end = PE_BMFF_TO_END;

    } else {
        if (size < hlen) {
            return pe_strip_fail(s, "bad box size");
        }

        if (size > PE_BMFF_LIMIT - b->box_start) {
            return pe_strip_fail(s, "file too large");
        }

        b->box_end = b->box_start + size;
    }

    if (b->depth) {
        if (b->box_end > b->stack[b->depth - 1]) {
            return pe_strip_fail(s, "box overruns its parent");
        }

        if (b->depth == PE_BMFF_DEPTH_MAX) {
            return pe_strip_fail(s, "boxes nested too deeply");
        }
    }

    /* item data must lie in payloads: the walk reads headers unzeroed */
    if (b->next_ext < b->n_ext && b->ext[b->next_ext].start < b->pos) {
        return pe_strip_fail(s, "item data overlaps a box header");
    }

    if (type == PE_BMFF_FTYP && b->depth == 0 && b->boxes == 1) {
        goto hold;
    }

    if ((type == PE_BMFF_MVHD || type == PE_BMFF_TKHD || type == PE_BMFF_MDHD)
        && pe_bmff_kept(b->depth ? b->parent[b->depth - 1] : 0, type))
    {
        goto hold;
    }

    if (type == PE_BMFF_META && b->depth == 0 && b->heif) {
        if (b->seen_meta) {
            return pe_strip_fail(s, "two metadata boxes");
        }

        b->seen_meta = 1;
        goto hold;
    }

    if (!pe_bmff_kept(b->depth ? b->parent[b->depth - 1] : 0, type)) {
        memcpy(h, b->hdr, hlen);
        pe_bmff_blank_header(h, hlen, type);
        s->removed++;
        b->state = PE_BMFF_S_ZERO;

        rc = pe_strip_emit(s, h, hlen);
        if (rc != PE_STRIP_OK) {
            return rc;
        }

        return b->pos == b->box_end ? pe_bmff_next(s, b) : PE_STRIP_OK;
    }

    rc = pe_strip_emit(s, b->hdr, hlen);
    if (rc != PE_STRIP_OK) {
        return rc;
    }

    if (pe_bmff_container(type)) {
        if (b->box_end == PE_BMFF_TO_END) {
            return pe_strip_fail(s, "box without a size inside another");
        }

        b->parent[b->depth] = type;
        b->stack[b->depth++] = b->box_end;

        return pe_bmff_next(s, b);
    }

    b->state = (type == PE_BMFF_FREE || type == PE_BMFF_SKIP)
               ? PE_BMFF_S_WIPE : PE_BMFF_S_PASS;
    b->wiped = 0;

    return b->pos == b->box_end ? pe_bmff_next(s, b) : PE_STRIP_OK;

hold:

    if (b->box_end == PE_BMFF_TO_END) {
        return pe_strip_fail(s, "ftyp or metadata box without a size");
    }

    if (size > (type == PE_BMFF_FTYP ? PE_BMFF_FTYP_MAX
                : type == PE_BMFF_META ? PE_BMFF_META_MAX
                : PE_BMFF_TIMES_MAX))
    {
        return pe_strip_fail(s, type == PE_BMFF_FTYP ? "ftyp box too large"
                                : type == PE_BMFF_META
                                ? "metadata box too large"
                                : "movie, track or media header too large");
    }

    b->hold = malloc((size_t) size);
    if (b->hold == NULL) {
        return pe_strip_fail(s, "out of memory");
    }

    memcpy(b->hold, b->hdr, hlen);
    b->hold_len = hlen;
    b->hold_size = (size_t) size;
    b->state = PE_BMFF_S_HOLD;

    return b->hold_len == b->hold_size ? pe_bmff_held(s, b) : PE_STRIP_OK;
}


/* payload bytes out: item ranges zeroed, or all of them in ZERO and WIPE */
static int
pe_bmff_out(pe_strip_t *s, pe_bmff_t *b, const unsigned char *p, size_t n)
{
    int                rc;
    size_t             k;
    pe_bmff_extent_t  *e;

    while (n) {
        k = n;
        e = NULL;

        if (b->next_ext < b->n_ext) {
            e = &b->ext[b->next_ext];

            if (e->start > b->pos) {
                if (e->start - b->pos < k) {
                    k = (size_t) (e->start - b->pos);
                }

                e = NULL;

            } else if (e->end - b->pos < k) {
                k = (size_t) (e->end - b->pos);
            }
        }

        if (e) {
            if (!b->item_counted[e->item] && !pe_bmff_zero(p, k)) {
                b->item_counted[e->item] = 1;
                s->removed++;
            }

            rc = pe_strip_emit_zeros(s, k);

        } else if (b->state == PE_BMFF_S_PASS) {
            rc = pe_strip_emit(s, p, k);

        } else {
            /* a free box counts once, and only if it held anything */
            if (b->state == PE_BMFF_S_WIPE && !b->wiped
                && !pe_bmff_zero(p, k))
            {
                b->wiped = 1;
                s->removed++;
            }

            rc = pe_strip_emit_zeros(s, k);
        }

        if (rc != PE_STRIP_OK) {
            return rc;
        }

        p += k;
        n -= k;
        b->pos += k;

        if (e && b->pos == e->end) {
            b->next_ext++;
        }
    }

    return PE_STRIP_OK;
}


static int
pe_bmff_heif_brand(const unsigned char *p)
{
    static const char  brands[] = "mif1mif2msf1miafheicheixheimheishevc"
                                  "hevxhevmhevsavifavisavio";
    size_t             i;

    for (i = 0; i + 4 < sizeof(brands); i += 4) {
        if (memcmp(p, brands + i, 4) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * mvhd, tkhd, mdhd: after version and flags, creation_time and
 * modification_time, 32 bits each in version 0, 64 in version 1.  They
 * say when the camera recorded; zeros are what a writer without a clock
 * puts, and players use neither.
 */
static int
pe_bmff_times(pe_strip_t *s, pe_bmff_t *b)
{
    size_t          n, len;
    unsigned char  *p;

    p = b->hold + b->hdr_len;
    n = b->hold_size - b->hdr_len;

    if (n < 1) {
        return pe_strip_fail(s, "malformed movie, track or media header");
    }

    if (p[0] > 1) {
        return pe_strip_fail(s, "unknown movie, track or media header "
                                "version");
    }

    len = p[0] == 1 ? 16 : 8;

    if (n < 4 + len) {
        return pe_strip_fail(s, "malformed movie, track or media header");
    }

    if (!pe_bmff_zero(p + 4, len)) {
        memset(p + 4, 0, len);
        s->removed++;
    }

    return PE_STRIP_OK;
}


static int
pe_bmff_held(pe_strip_t *s, pe_bmff_t *b)
{
    int             rc;
    size_t          i, n;
    unsigned char  *p;

    if (b->type == PE_BMFF_FTYP) {
        p = b->hold + b->hdr_len;
        n = b->hold_size - b->hdr_len;

        if (n < 8) {
            return pe_strip_fail(s, "malformed ftyp box");
        }

        /* the major brand, then the compatible ones after minor_version */
        for (i = 0; i + 4 <= n; i += (i == 0) ? 8 : 4) {
            if (pe_bmff_heif_brand(p + i)) {
                b->heif = 1;
            }
        }

    } else if (b->type == PE_BMFF_META) {
        rc = pe_bmff_meta(s, b);
        if (rc != PE_STRIP_OK) {
            return rc;
        }

    } else {
        /* held, its bytes do not pass pe_bmff_out to have items zeroed */
        if (b->next_ext < b->n_ext && b->ext[b->next_ext].start < b->pos) {
            return pe_strip_fail(s, "item data in a movie, track or media "
                                    "header");
        }

        rc = pe_bmff_times(s, b);
        if (rc != PE_STRIP_OK) {
            return rc;
        }
    }

    rc = pe_strip_emit(s, b->hold, b->hold_size);

    free(b->hold);
    b->hold = NULL;
    b->hold_len = 0;
    b->hold_size = 0;

    if (rc != PE_STRIP_OK) {
        return rc;
    }

    return pe_bmff_next(s, b);
}


/*
 * The HEIF meta box, held whole in b->hold.  Its children are walked with
 * bounds checked against the buffer; offsets are in the buffer.
 */

typedef struct {
    size_t           start;         /* of the box */
    size_t           body;          /* of its payload */
    size_t           end;
    uint32_t         type;
} pe_bmff_child_t;


/* the box at off, inside a box ending at end */
static const char *
pe_bmff_child(const unsigned char *m, size_t off, size_t end,
    pe_bmff_child_t *c)
{
    size_t    hlen;
    uint64_t  size;

    if (end - off < 8) {
        return "box overruns its parent";
    }

    size = pe_bmff_be32(m + off);
    c->type = pe_bmff_be32(m + off + 4);
    hlen = 8;

    if (size == 1) {
        if (end - off < 16) {
            return "box overruns its parent";
        }

        size = pe_bmff_be64(m + off + 8);
        hlen = 16;

    } else if (size == 0) {
        return "box without a size inside another";
    }

    if (c->type == PE_BMFF_UUID) {
        hlen += 16;
    }

    if (size < hlen) {
        return "bad box size";
    }

    if (size > end - off) {
        return "box overruns its parent";
    }

    c->start = off;
    c->body = off + hlen;
    c->end = off + (size_t) size;

    return NULL;
}


/* a cursor over a box's payload; reads past its end set bad */
typedef struct {
    const unsigned char  *p;
    size_t                off;
    size_t                end;
    int                   bad;
} pe_bmff_rd_t;


static uint64_t
pe_bmff_read(pe_bmff_rd_t *r, size_t n)
{
    size_t    i;
    uint64_t  v;

    if (r->bad || r->end - r->off < n) {
        r->bad = 1;
        return 0;
    }

    v = 0;

    for (i = 0; i < n; i++) {
        v = v << 8 | r->p[r->off + i];
    }

    r->off += n;

    return v;
}


/* a NUL-terminated string; the end of the box ends it too */
static void
pe_bmff_string(pe_bmff_rd_t *r, size_t *start, size_t *len)
{
    const unsigned char  *z;

    *start = r->off;
    z = memchr(r->p + r->off, '\0', r->end - r->off);

    if (z == NULL) {
        *len = r->end - r->off;
        r->off = r->end;
        return;
    }

    *len = z - (r->p + r->off);
    r->off += *len + 1;
}


static int
pe_bmff_is_xmp_type(const unsigned char *p, size_t n)
{
    return n >= 19 && strncasecmp((const char *) p, "application/rdf+xml", 19)
                      == 0
           && (n == 19 || p[19] == ';' || p[19] == ' ');
}


/* an infe box: is it an Exif or XMP item?  Then its ID is kept */
static const char *
pe_bmff_infe(pe_bmff_t *b, const unsigned char *m, pe_bmff_child_t *c)
{
    int           meta;
    size_t        start, len;
    unsigned      i, version;
    uint32_t      id, type;
    pe_bmff_rd_t  r;

    r.p = m;
    r.off = c->body;
    r.end = c->end;
    r.bad = 0;

    version = (unsigned) pe_bmff_read(&r, 4) >> 24;
    meta = 0;

    if (version <= 1) {
        /* item_name, content_type, content_encoding: MIME items only */
        id = (uint32_t) pe_bmff_read(&r, 2);
        pe_bmff_read(&r, 2);

        if (r.bad) {
            return "malformed infe box";
        }

        pe_bmff_string(&r, &start, &len);
        pe_bmff_string(&r, &start, &len);
        meta = pe_bmff_is_xmp_type(m + start, len);

    } else if (version <= 3) {
        id = (uint32_t) pe_bmff_read(&r, version == 2 ? 2 : 4);
        pe_bmff_read(&r, 2);
        type = (uint32_t) pe_bmff_read(&r, 4);

        if (r.bad) {
            return "malformed infe box";
        }

        pe_bmff_string(&r, &start, &len);

        if (type == PE_BMFF_EXIF) {
            meta = 1;

        } else if (type == PE_BMFF_MIME) {
            pe_bmff_string(&r, &start, &len);
            meta = pe_bmff_is_xmp_type(m + start, len);
        }

    } else {
        return "unknown infe version";
    }

    if (!meta) {
        return NULL;
    }

    for (i = 0; i < b->n_items; i++) {
        if (b->item_id[i] == id) {
            return NULL;
        }
    }

    if (b->n_items == PE_BMFF_ITEMS_MAX) {
        return "too many metadata items";
    }

    b->item_id[b->n_items++] = id;

    return NULL;
}


static const char *
pe_bmff_iinf(pe_bmff_t *b, const unsigned char *m, pe_bmff_child_t *iinf)
{
    size_t           off;
    unsigned         version;
    const char      *err;
    pe_bmff_child_t  c;

    if (iinf->end - iinf->body < 4) {
        return "malformed iinf box";
    }

    version = m[iinf->body];
    off = iinf->body + 4 + (version == 0 ? 2 : 4);

    if (off > iinf->end) {
        return "malformed iinf box";
    }

    /*
     * entry_count is not trusted: every infe present is looked at, which
     * finds at least what any reader finds.
     */

    while (off < iinf->end) {
        err = pe_bmff_child(m, off, iinf->end, &c);
        if (err) {
            return err;
        }

        if (c.type == PE_BMFF_INFE) {
            err = pe_bmff_infe(b, m, &c);
            if (err) {
                return err;
            }
        }

        off = c.end;
    }

    return NULL;
}


/* one range of an item in the file after the meta box, kept sorted */
static const char *
pe_bmff_add_extent(pe_bmff_t *b, uint64_t start, uint64_t end,
    unsigned item)
{
    unsigned  i;

    if (b->n_ext == PE_BMFF_EXTENTS_MAX) {
        return "too many item extents";
    }

    for (i = b->n_ext; i && b->ext[i - 1].start > start; i--) {
        /* void */
    }

    if ((i && b->ext[i - 1].end > start)
        || (i < b->n_ext && b->ext[i].start < end))
    {
        return "item extents overlap";
    }

    memmove(&b->ext[i + 1], &b->ext[i], (b->n_ext - i) * sizeof(b->ext[0]));
    b->ext[i].start = start;
    b->ext[i].end = end;
    b->ext[i].item = item;
    b->n_ext++;

    return NULL;
}


/* an item's bytes inside the held meta box */
static void
pe_bmff_zero_held(pe_strip_t *s, pe_bmff_t *b, size_t off, size_t len,
    unsigned item)
{
    if (!pe_bmff_zero(b->hold + off, len)) {
        memset(b->hold + off, 0, len);

        if (!b->item_counted[item]) {
            b->item_counted[item] = 1;
            s->removed++;
        }
    }
}


static const char *
pe_bmff_iloc(pe_strip_t *s, pe_bmff_t *b, pe_bmff_child_t *iloc,
    pe_bmff_child_t *idat)
{
    size_t        osz, lsz, bsz, isz, esz;
    unsigned      version, item, method, i;
    uint32_t      id, count, ext, dref;
    uint64_t      base, eoff, elen, start, end, mstart, mend;
    const char   *err;
    pe_bmff_rd_t  r;

    r.p = b->hold;
    r.off = iloc->body;
    r.end = iloc->end;
    r.bad = 0;

    version = (unsigned) (pe_bmff_read(&r, 4) >> 24);

    if (version > 2) {
        return "unknown iloc version";
    }

    osz = (size_t) pe_bmff_read(&r, 1);
    lsz = osz & 0x0f;
    osz >>= 4;
    bsz = (size_t) pe_bmff_read(&r, 1);
    isz = version ? bsz & 0x0f : 0;
    bsz >>= 4;

    if ((osz != 0 && osz != 4 && osz != 8)
        || (lsz != 0 && lsz != 4 && lsz != 8)
        || (bsz != 0 && bsz != 4 && bsz != 8)
        || (isz != 0 && isz != 4 && isz != 8))
    {
        return "malformed iloc box";
    }

    esz = isz + osz + lsz;
    count = (uint32_t) pe_bmff_read(&r, version < 2 ? 2 : 4);

    mstart = b->box_start;
    mend = b->box_start + b->hold_size;

    /* a huge count runs out of box: each entry takes 6 bytes or more */
    while (count-- && !r.bad) {
        id = (uint32_t) pe_bmff_read(&r, version < 2 ? 2 : 4);
        method = version ? (unsigned) pe_bmff_read(&r, 2) & 0x0f : 0;
        dref = (uint32_t) pe_bmff_read(&r, 2);
        base = pe_bmff_read(&r, bsz);
        ext = (uint32_t) pe_bmff_read(&r, 2);

        for (item = 0; item < b->n_items && b->item_id[item] != id; item++) {
            /* void */
        }

        if (item == b->n_items) {
            /* not metadata: its extents are skipped whole */
            if (r.bad || (uint64_t) ext * esz > r.end - r.off) {
                return "malformed iloc box";
            }

            r.off += ext * esz;
            continue;
        }

        if (dref != 0) {
            return "metadata item in another file";
        }

        if (method == 2) {
            return "metadata item built from other items";
        }

        if (method > 2) {
            return "unknown item construction method";
        }

        for (i = 0; i < ext; i++) {
            pe_bmff_read(&r, isz);
            eoff = pe_bmff_read(&r, osz);
            elen = pe_bmff_read(&r, lsz);

            if (r.bad) {
                return "malformed iloc box";
            }

            if (elen == 0) {
                /* "the whole file": nothing to zero item by item */
                return "metadata item extent without a length";
            }

            if (base > PE_BMFF_LIMIT || eoff > PE_BMFF_LIMIT
                || elen > PE_BMFF_LIMIT)
            {
                return "item data past the end of the file";
            }

            start = base + eoff;
            end = start + elen;

            if (method == 1) {
                if (idat->end == 0 || end > idat->end - idat->body) {
                    return "item data outside idat";
                }

                pe_bmff_zero_held(s, b, idat->body + (size_t) start,
                                  (size_t) elen, item);
                continue;
            }

            if (end > PE_BMFF_LIMIT) {
                return "item data past the end of the file";
            }

            if (start >= mend) {
                err = pe_bmff_add_extent(b, start, end, item);
                if (err) {
                    return err;
                }

                continue;
            }

            /* already out, or part of the structure of the meta box */
            if (idat->end == 0 || start < mstart + idat->body
                || end > mstart + idat->end)
            {
                return start < mstart ? "item data before the metadata box"
                                      : "item data outside idat";
            }

            pe_bmff_zero_held(s, b, (size_t) (start - mstart), (size_t) elen,
                              item);
        }
    }

    if (r.bad) {
        return "malformed iloc box";
    }

    return NULL;
}


/*
 * The user descriptions among the item properties (udes: a name, a
 * description, tags; free text) are emptied: zeros read as version 0 and
 * empty strings.  Made a free box instead, an image that marks it
 * essential would no longer decode.
 */
static const char *
pe_bmff_iprp(pe_strip_t *s, unsigned char *m, pe_bmff_child_t *iprp)
{
    size_t           off, off2;
    const char      *err;
    pe_bmff_child_t  c, p;

    for (off = iprp->body; off < iprp->end; off = c.end) {
        err = pe_bmff_child(m, off, iprp->end, &c);
        if (err) {
            return err;
        }

        if (c.type != PE_BMFF_IPCO) {
            continue;
        }

        for (off2 = c.body; off2 < c.end; off2 = p.end) {
            err = pe_bmff_child(m, off2, c.end, &p);
            if (err) {
                return err;
            }

            if (p.type == PE_BMFF_UDES && !pe_bmff_zero(m + p.body,
                                                         p.end - p.body))
            {
                memset(m + p.body, 0, p.end - p.body);
                s->removed++;
            }
        }
    }

    return NULL;
}


/* QuickTime's meta has no version and flags: a child box follows at once */
static int
pe_bmff_qt_meta(const unsigned char *p, size_t n)
{
    size_t    i;
    uint32_t  size;

    if (n < 8) {
        return 0;
    }

    size = pe_bmff_be32(p);

    if (size < 8 || size > n) {
        return 0;
    }

    for (i = 4; i < 8; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static int
pe_bmff_meta(pe_strip_t *s, pe_bmff_t *b)
{
    size_t            off;
    const char       *err;
    unsigned char    *m;
    pe_bmff_child_t   c, iinf, iloc, idat;

    m = b->hold;
    off = b->hdr_len;

    if (b->hold_size - off < 4) {
        return pe_strip_fail(s, "malformed meta box");
    }

    if (!pe_bmff_qt_meta(m + off, b->hold_size - off)) {
        off += 4;
    }

    memset(&iinf, 0, sizeof(pe_bmff_child_t));
    memset(&iloc, 0, sizeof(pe_bmff_child_t));
    memset(&idat, 0, sizeof(pe_bmff_child_t));

    while (off < b->hold_size) {
        err = pe_bmff_child(m, off, b->hold_size, &c);
        if (err) {
            return pe_strip_fail(s, err);
        }

        switch (c.type) {

        case PE_BMFF_IINF:
        case PE_BMFF_ILOC:
        case PE_BMFF_IDAT:
            /* two would leave it to each reader which one counts */
            if (c.type == PE_BMFF_IINF ? iinf.end
                : c.type == PE_BMFF_ILOC ? iloc.end : idat.end)
            {
                return pe_strip_fail(s, "duplicate item box");
            }

            if (c.type == PE_BMFF_IINF) {
                iinf = c;

            } else if (c.type == PE_BMFF_ILOC) {
                iloc = c;

            } else {
                idat = c;
            }

            break;

        case PE_BMFF_IPRP:
            err = pe_bmff_iprp(s, m, &c);
            if (err) {
                return pe_strip_fail(s, err);
            }

            break;

        case PE_BMFF_FREE:
        case PE_BMFF_SKIP:
            /* leftovers of edits: counted only if there were any */
            if (!pe_bmff_zero(m + c.body, c.end - c.body)) {
                memset(m + c.body, 0, c.end - c.body);
                s->removed++;
            }

            break;

        default:
            if (!pe_bmff_meta_kept(c.type)) {
                pe_bmff_blank_header(m + c.start, c.body - c.start, c.type);
                memset(m + c.body, 0, c.end - c.body);
                s->removed++;
            }

            break;
        }

        off = c.end;
    }

    if (iinf.end) {
        err = pe_bmff_iinf(b, m, &iinf);
        if (err) {
            return pe_strip_fail(s, err);
        }
    }

    if (iloc.end && b->n_items) {
        err = pe_bmff_iloc(s, b, &iloc, &idat);
        if (err) {
            return pe_strip_fail(s, err);
        }
    }

    return PE_STRIP_OK;
}


const pe_strip_format_t  pe_strip_isobmff = {
    "isobmff",
    pe_bmff_init,
    pe_bmff_feed,
    pe_bmff_finish,
    pe_bmff_free
};
