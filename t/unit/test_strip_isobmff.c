
/*
 * Unit tests of the ISO BMFF stripper (MP4, MOV, HEIC, AVIF): hand-built
 * files and the exact bytes expected of them, the same output however the
 * input is cut, a second pass that changes nothing, every truncation, and
 * hostile sizes, nestings and item locations.
 */

#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

#include "pe_strip.h"


/*
 * A file builder.  Built with stripped set, the same calls give the bytes
 * the stripper is expected to write: metadata boxes become free boxes
 * with their payload zeroed, metadata items' bytes zeros.
 */
typedef struct {
    unsigned char  b[1 << 16];
    size_t         n;
    size_t         open[24];
    int            blank[24];
    int            depth;
    int            stripped;
    size_t         tops[16];       /* ends of the top-level boxes */
    int            ntops;
    size_t         whole_from;     /* a size 0 box's payload begins */
} bld_t;


static void
put(bld_t *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}


static void
put_n(bld_t *b, int c, size_t n)
{
    memset(b->b + b->n, c, n);
    b->n += n;
}


static void
put_be(bld_t *b, uint64_t v, size_t n)
{
    while (n--) {
        b->b[b->n++] = (unsigned char) (v >> (n * 8));
    }
}


static void
patch_be(bld_t *b, size_t at, uint64_t v, size_t n)
{
    while (n--) {
        b->b[at++] = (unsigned char) (v >> (n * 8));
    }
}


static void
put_str(bld_t *b, const char *s)
{
    put(b, s, strlen(s) + 1);
}


/* data that is metadata: zeros in the expected output */
static void
put_meta(bld_t *b, const void *p, size_t n)
{
    if (b->stripped) {
        put_n(b, 0, n);

    } else {
        put(b, p, n);
    }
}


/* n bytes of c that are metadata: zeros in the expected output */
static void
put_meta_n(bld_t *b, int c, size_t n)
{
    put_n(b, b->stripped ? 0 : c, n);
}


static void
box(bld_t *b, const char *type)
{
    b->open[b->depth] = b->n;
    b->blank[b->depth] = 0;
    b->depth++;
    put_be(b, 0, 4);
    put(b, type, 4);
}


/* a box the stripper is to neutralise */
static void
mbox(bld_t *b, const char *type)
{
    box(b, b->stripped ? "free" : type);
    b->blank[b->depth - 1] = b->stripped;
}


/* a free box whose payload is to be zeroed */
static void
fbox(bld_t *b)
{
    box(b, "free");
    b->blank[b->depth - 1] = b->stripped;
}


static void
full(bld_t *b, const char *type, unsigned version, unsigned flags)
{
    box(b, type);
    put_be(b, version << 24 | flags, 4);
}


static void
end(bld_t *b)
{
    size_t  at;

    at = b->open[--b->depth];
    patch_be(b, at, b->n - at, 4);

    if (b->blank[b->depth]) {
        memset(b->b + at + 8, 0, b->n - at - 8);
    }

    if (b->depth == 0) {
        b->tops[b->ntops++] = b->n;
    }
}


/* a leaf box with opaque contents */
static void
leaf(bld_t *b, const char *type, int fill, size_t n)
{
    box(b, type);
    put_n(b, fill, n);
    end(b);
}


static void
ftyp(bld_t *b, const char *major, const char *compat)
{
    box(b, "ftyp");
    put(b, major, 4);
    put_be(b, 0x200, 4);
    put(b, compat, strlen(compat));
    end(b);
}


static void
hdlr(bld_t *b, const char *handler)
{
    full(b, "hdlr", 0, 0);
    put_be(b, 0, 4);
    put(b, handler, 4);
    put_n(b, 0, 12);
    put_str(b, "");
    end(b);
}


/* ---- the runs ---- */

typedef struct {
    unsigned char  *p;
    size_t          n;
    size_t          cap;
    int             stop_at;        /* answer stop on this call; -1 never */
    int             calls;
} sink_t;


static int
sink(void *data, const unsigned char *p, size_t n)
{
    sink_t  *o = data;

    if (o->calls++ == o->stop_at) {
        return 1;
    }

    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->p = realloc(o->p, o->cap);
    }

    memcpy(o->p + o->n, p, n);
    o->n += n;

    return 0;
}


typedef struct {
    int          rc;
    unsigned     removed;
    const char  *err;
    sink_t       out;
} result_t;


static void
result_free(result_t *r)
{
    free(r->out.p);
    memset(r, 0, sizeof(result_t));
}


/* the file fed in pieces cut at cuts[], then finished (if whole) */
static void
run(const char *type, const unsigned char *in, size_t len,
    const size_t *cuts, size_t ncuts, int finish, result_t *r)
{
    int          nomem;
    size_t       i, from, to;
    pe_strip_t  *s;

    memset(r, 0, sizeof(result_t));
    r->out.stop_at = -1;

    s = pe_strip_new(type, strlen(type), sink, &r->out, &nomem);
    if (s == NULL) {
        r->rc = 99;
        r->err = "no stripper";
        return;
    }

    from = 0;
    r->rc = PE_STRIP_OK;

    for (i = 0; i <= ncuts && r->rc == PE_STRIP_OK; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        r->rc = pe_strip_feed(s, in + from, to - from);
        from = to;
    }

    if (r->rc == PE_STRIP_OK && finish) {
        r->rc = pe_strip_finish(s);
    }

    r->removed = pe_strip_removed(s);
    r->err = pe_strip_error(s);

    pe_strip_free(s);
}


static int
same(const result_t *r, const unsigned char *want, size_t len)
{
    return r->rc == PE_STRIP_OK && r->out.n == len
           && memcmp(r->out.p, want, len) == 0;
}


/*
 * The checks every well-formed file gets: the exact output, and the same
 * for every way of cutting it, a second pass changing nothing, and every
 * truncation refused unless it falls between top-level boxes.
 */
static void
check_file(const char *name, const char *type, const bld_t *in,
    const bld_t *want, unsigned removed)
{
    int       all, k;
    size_t    i, *cuts;
    result_t  r, r2;

    run(type, in->b, in->n, NULL, 0, 1, &r);
    is_int(r.rc, PE_STRIP_OK, "%s: stripped (%s)", name, r.err);
    ok(same(&r, want->b, want->n), "%s: the expected %zu bytes", name,
       want->n);
    is_int(r.removed, removed, "%s: %u items neutralised", name, removed);

    if (r.rc == PE_STRIP_OK && r.out.n == want->n) {
        for (i = 0; i < want->n && r.out.p[i] == want->b[i]; i++) {
            /* void */
        }

        if (i < want->n) {
            printf("# first difference at %zu: got %02x, expected %02x\n",
                   i, r.out.p[i], want->b[i]);
        }
    }

    for (i = 0; i + 5 <= r.out.n; i++) {
        if (memcmp(r.out.p + i, "Alice", 5) == 0
            || memcmp(r.out.p + i, "+48.8", 5) == 0
            || memcmp(r.out.p + i, "GPS 4", 5) == 0)
        {
            break;
        }
    }

    ok(i + 5 > r.out.n, "%s: no name or location left in the output", name);

    run(type, r.out.p, r.out.n, NULL, 0, 1, &r2);
    ok(same(&r2, r.out.p, r.out.n) && r2.removed == 0,
       "%s: a second pass changes nothing and counts 0 (%u)", name,
       r2.removed);
    result_free(&r2);
    result_free(&r);

    cuts = malloc(in->n * sizeof(size_t));

    for (i = 0; i < in->n; i++) {
        cuts[i] = i + 1;
    }

    run(type, in->b, in->n, cuts, in->n - 1, 1, &r);
    ok(same(&r, want->b, want->n) && r.removed == removed,
       "%s: the same fed one byte at a time", name);
    result_free(&r);
    free(cuts);

    all = 1;

    for (i = 0; i <= in->n && all; i++) {
        run(type, in->b, in->n, &i, 1, 1, &r);

        if (!same(&r, want->b, want->n) || r.removed != removed) {
            printf("# differs when cut at %zu (%s)\n", i, r.err);
            all = 0;
        }

        result_free(&r);
    }

    ok(all, "%s: the same cut in two at every byte (%zu cuts)", name,
       in->n + 1);

    /* a prefix is whole only if it ends between top-level boxes */
    all = 1;

    for (i = 0; i < in->n && all; i++) {
        int  whole = in->whole_from && i >= in->whole_from;

        for (k = 0; k < in->ntops; k++) {
            whole |= (in->tops[k] == i);
        }

        run(type, in->b, i, NULL, 0, 1, &r);

        /* what came out before the end is the expected output's start */
        if (r.out.n > want->n
            || (r.out.n && memcmp(r.out.p, want->b, r.out.n) != 0))
        {
            printf("# cut at %zu: output is not a prefix\n", i);
            all = 0;
        }

        if (whole ? r.rc != PE_STRIP_OK && strcmp(r.err,
                        "item data past the end of the file") != 0
                  : r.rc != PE_STRIP_ERROR)
        {
            printf("# cut at %zu: rc %d (%s)\n", i, r.rc, r.err);
            all = 0;
        }

        result_free(&r);
    }

    ok(all, "%s: every truncation refused, never a partial strip", name);
}


static void
expect_error(const char *name, const char *type, const unsigned char *in,
    size_t len, const char *why)
{
    size_t    i, *cuts;
    result_t  r;

    run(type, in, len, NULL, 0, 1, &r);
    is_int(r.rc, PE_STRIP_ERROR, "%s: refused", name);
    is_str(r.err, why, "%s: reason", name);
    result_free(&r);

    if (len == 0) {
        return;
    }

    cuts = malloc(len * sizeof(size_t));

    for (i = 0; i < len; i++) {
        cuts[i] = i + 1;
    }

    run(type, in, len, cuts, len - 1, 1, &r);
    ok(r.rc == PE_STRIP_ERROR && strcmp(r.err, why) == 0,
       "%s: refused alike fed one byte at a time", name);
    result_free(&r);
    free(cuts);
}


/* ---- MP4 and MOV ---- */

static const char  loc[] = "+48.8566+002.3522/";


static void
build_udta(bld_t *b)
{
    mbox(b, "udta");

    box(b, "\xa9xyz");
    put_be(b, sizeof(loc) - 1, 2);
    put_be(b, 0x15c7, 2);
    put(b, loc, sizeof(loc) - 1);
    end(b);

    full(b, "meta", 0, 0);
    hdlr(b, "mdir");
    box(b, "ilst");
    box(b, "\xa9" "ART");
    full(b, "data", 0, 1);
    put_be(b, 0, 4);
    put(b, "Alice", 5);
    end(b);
    end(b);
    end(b);
    end(b);

    box(b, "XMP_");
    put(b, "<x:xmpmeta>Alice</x:xmpmeta>", 28);
    end(b);

    end(b);
}


/* QuickTime metadata: meta without version and flags, keys, ilst */
static void
build_qt_meta(bld_t *b)
{
    static const char  key[] = "com.apple.quicktime.location.ISO6709";

    mbox(b, "meta");
    hdlr(b, "mdta");
    full(b, "keys", 0, 0);
    put_be(b, 1, 4);
    put_be(b, 8 + sizeof(key) - 1, 4);
    put(b, "mdta", 4);
    put(b, key, sizeof(key) - 1);
    end(b);
    box(b, "ilst");
    box(b, "\0\0\0\1");
    full(b, "data", 0, 1);
    put_be(b, 0, 4);
    put(b, loc, sizeof(loc) - 1);
    end(b);
    end(b);
    end(b);
    end(b);
}


/*
 * A movie, track or media header: creation and modification times
 * (32 bits each in version 0, 64 in version 1) zeroed, the rest kept.
 */
static void
times_box(bld_t *b, const char *type, unsigned version, int c, size_t rest)
{
    full(b, type, version, type[0] == 't' ? 3 : 0);
    put_meta_n(b, c, version ? 16 : 8);
    put_n(b, c, rest);
    end(b);
}


/* a track: headers of version 1 in the second, without udta */
static void
build_trak(bld_t *b, int with_udta)
{
    static const unsigned char  unknown_uuid[16] = {
        0x50, 0x52, 0x4f, 0x46, 0x21, 0xd2, 0x4f, 0xce,
        0xbb, 0x88, 0x69, 0x5c, 0xfa, 0xc9, 0xc7, 0x40
    };

    box(b, "trak");
    times_box(b, "tkhd", !with_udta, 0x22, 72);
    leaf(b, "tapt", 0x23, 20);          /* QuickTime's aperture: kept */
    box(b, "edts");
    full(b, "elst", 0, 0);
    put_be(b, 1, 4);
    put_n(b, 0x33, 12);
    end(b);
    end(b);
    box(b, "mdia");
    times_box(b, "mdhd", !with_udta, 0x44, 12);
    hdlr(b, "vide");
    box(b, "minf");
    full(b, "vmhd", 0, 1);
    put_n(b, 0, 8);
    end(b);
    box(b, "dinf");
    full(b, "dref", 0, 0);
    put_be(b, 1, 4);
    full(b, "url ", 0, 1);
    end(b);
    end(b);
    end(b);
    box(b, "stbl");
    full(b, "stsd", 0, 0);
    put_be(b, 1, 4);
    leaf(b, "avc1", 0x55, 40);
    end(b);
    full(b, "stco", 0, 0);
    put_be(b, 1, 4);
    put_be(b, 0x1234, 4);
    end(b);
    mbox(b, "uuid");                    /* unknown, deep down: free */
    put(b, unknown_uuid, 16);
    put(b, "SensorData GPS 48", 17);
    end(b);
    end(b);
    end(b);
    end(b);

    if (with_udta) {
        mbox(b, "udta");
        box(b, "\xa9nam");
        put(b, "track secret", 12);
        end(b);
        end(b);
    }

    /* a track's own meta */
    mbox(b, "meta");
    put_be(b, 0, 4);
    hdlr(b, "mdir");
    end(b);

    end(b);
}


static void
build_mp4(bld_t *b, int stripped)
{
    static const unsigned char  xmp_uuid[16] = {
        0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8,
        0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf, 0xac
    };
    static const unsigned char  other_uuid[16] = {
        0xa5, 0xd4, 0x0b, 0x30, 0xe8, 0x14, 0x11, 0xdd,
        0xba, 0x2f, 0x08, 0x00, 0x20, 0x0c, 0x9a, 0x66
    };
    static const unsigned char  canon_uuid[16] = {
        0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0,
        0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b, 0x6a, 0x48
    };

    memset(b, 0, sizeof(bld_t));
    b->stripped = stripped;

    ftyp(b, "isom", "isomiso2avc1mp41");

    mbox(b, "udat");                    /* a camera's NMEA log */
    put(b, "$GPRMC,120000,A,4851.39,N,00221.13,E", 36);
    end(b);

    box(b, "moov");
    times_box(b, "mvhd", 0, 0x11, 88);
    leaf(b, "iods", 0x12, 16);          /* MPEG-4 systems: kept */

    mbox(b, "uuid");                    /* Canon's: Exif in CMT1..CMT4 */
    put(b, canon_uuid, 16);
    box(b, "CMT1");
    put(b, "II*\0Canon Alice", 15);
    end(b);
    box(b, "CMT4");
    put(b, "II*\0GPS 48.8566", 15);
    end(b);
    end(b);

    build_trak(b, 1);
    build_trak(b, 0);
    build_udta(b);
    build_qt_meta(b);

    mbox(b, "uuid");
    put(b, xmp_uuid, 16);
    put(b, "<x:xmpmeta>Alice</x:xmpmeta>", 28);
    end(b);

    mbox(b, "uuid");                    /* not XMP, but a uuid: free */
    put(b, other_uuid, 16);
    put_n(b, 0x66, 8);
    end(b);
    end(b);

    mbox(b, "IDIT");                    /* the capture date */
    put(b, "2024:05:06 07:08:09", 20);
    end(b);

    mbox(b, "thum");                    /* a JPEG thumbnail */
    put(b, "\xff\xd8\xff\xdb", 4);
    put_n(b, 0x5a, 30);
    end(b);

    fbox(b);                            /* leftovers in a free box */
    put_meta(b, "old Alice", 9);
    end(b);

    leaf(b, "free", 0, 8);              /* zeros already: not counted */
    leaf(b, "wide", 0, 0);

    box(b, "mdat");
    put_n(b, 0x77, 200);
    end(b);

    mbox(b, "Xtra");
    put(b, "WM/Publisher Alice", 18);
    end(b);
}


static void
test_mp4(void)
{
    bld_t   *in, *want;
    size_t   i;

    in = malloc(sizeof(bld_t));
    want = malloc(sizeof(bld_t));

    build_mp4(in, 0);
    build_mp4(want, 1);

    ok(in->n == want->n, "mp4 test file: %zu bytes", in->n);
    check_file("mp4", "video/mp4", in, want, 20);

    /* the same as MOV and M4A, and a MOV without ftyp */
    {
        result_t  r;

        run("video/quicktime", in->b, in->n, NULL, 0, 1, &r);
        ok(same(&r, want->b, want->n), "video/quicktime strips alike");
        result_free(&r);
        run("audio/x-m4a", in->b, in->n, NULL, 0, 1, &r);
        ok(same(&r, want->b, want->n), "audio/x-m4a strips alike");
        result_free(&r);
        run("audio/mp4", in->b, in->n, NULL, 0, 1, &r);
        ok(same(&r, want->b, want->n), "audio/mp4 strips alike");
        result_free(&r);
    }

    for (i = 0; i < 2; i++) {
        bld_t  *b = i ? want : in;

        memset(b, 0, sizeof(bld_t));
        b->stripped = (int) i;

        leaf(b, "wide", 0, 0);
        box(b, "mdat");
        put_n(b, 0x77, 50);
        end(b);
        box(b, "moov");
        times_box(b, "mvhd", 1, 0x11, 88);
        build_trak(b, 1);
        build_udta(b);
        end(b);
    }

    check_file("mov without ftyp", "video/quicktime", in, want, 7);

    /* a last mdat of size 0 runs to the end; largesize boxes */
    for (i = 0; i < 2; i++) {
        bld_t  *b = i ? want : in;

        memset(b, 0, sizeof(bld_t));
        b->stripped = (int) i;

        ftyp(b, "qt  ", "qt  ");

        /* a udta with a largesize: free, the largesize kept */
        put_be(b, 1, 4);
        put(b, i ? "free" : "udta", 4);
        put_be(b, 16 + 12, 8);
        put_meta(b, "\0\0\0\x0c\xa9" "ART" "Bob!", 12);
        b->tops[b->ntops++] = b->n;

        put_be(b, 1, 4);
        put(b, "moov", 4);
        put_be(b, 16 + 8, 8);
        leaf(b, "wide", 0, 0);          /* the end of moov too */

        put_be(b, 0, 4);
        put(b, "mdat", 4);
        b->whole_from = b->n;
        put_n(b, 0x77, 40);
    }

    check_file("size 0 mdat, largesize boxes", "video/quicktime", in, want,
               1);

    free(in);
    free(want);
}


static void
test_mp4_hostile(void)
{
    bld_t   *b, *w;
    size_t   i;

    b = malloc(sizeof(bld_t));

#define RESET()  memset(b, 0, sizeof(bld_t)); ftyp(b, "isom", "isom")
#define REFUSED(name, why)                                                   \
    expect_error(name, "video/mp4", b->b, b->n, why)

    memset(b, 0, sizeof(bld_t));
    expect_error("empty file", "video/mp4", b->b, 0, "empty file");

    put(b, "\xff\xd8\xff\xe0\0\x10JFIF\0", 11);
    put_n(b, 0, 20);
    REFUSED("a JPEG", "not an ISO BMFF file");

    memset(b, 0, sizeof(bld_t));
    leaf(b, "mvhd", 0, 8);
    REFUSED("a file starting with mvhd", "not an ISO BMFF file");

    memset(b, 0, sizeof(bld_t));
    put(b, "\0\0\0\x08" "ft", 6);
    REFUSED("half a header", "truncated file");

    RESET();
    put_be(b, 20, 4);
    put(b, "moov", 4);
    put_be(b, 13, 4);                    /* trak: one byte past moov */
    put(b, "trak", 4);
    put_n(b, 0, 5);
    REFUSED("a child past its parent", "box overruns its parent");

    RESET();
    box(b, "moov");
    put_be(b, 8, 4);
    put(b, "udta", 4);
    put_n(b, 0, 2);                      /* 2 bytes left: no header fits */
    end(b);
    put_n(b, 0, 8);
    REFUSED("a header past its parent", "box overruns its parent");

    RESET();
    put_be(b, 4, 4);
    put(b, "free", 4);
    REFUSED("a box of size 4", "bad box size");

    RESET();
    put_be(b, 1, 4);
    put(b, "mdat", 4);
    put_be(b, 8, 8);
    REFUSED("a largesize of 8", "bad box size");

    RESET();
    put_be(b, 16, 4);
    put(b, "uuid", 4);
    put_n(b, 0, 16);
    REFUSED("a uuid box of size 16", "bad box size");

    RESET();
    put_be(b, 1, 4);
    put(b, "mdat", 4);
    put_be(b, (uint64_t) 1 << 62, 8);
    REFUSED("a box past 2^62", "file too large");

    RESET();
    box(b, "moov");
    put_be(b, 0, 4);
    put(b, "udta", 4);
    end(b);
    REFUSED("a size 0 box inside moov", "box without a size inside another");

    RESET();
    put_be(b, 0, 4);
    put(b, "moov", 4);
    REFUSED("a size 0 moov", "box without a size inside another");

    RESET();
    put_be(b, 100, 4);
    put(b, "moov", 4);
    leaf(b, "mvhd", 0, 20);
    REFUSED("a moov cut short", "truncated file");

    RESET();
    box(b, "moov");
    leaf(b, "mvhd", 0, 11);
    end(b);
    REFUSED("an mvhd too short for its times",
            "malformed movie, track or media header");

    RESET();
    box(b, "moov");
    box(b, "trak");
    full(b, "tkhd", 1, 0);
    put_n(b, 0, 15);
    end(b);
    end(b);
    end(b);
    REFUSED("a tkhd of version 1 too short for its times",
            "malformed movie, track or media header");

    RESET();
    box(b, "moov");
    full(b, "mvhd", 2, 0);
    put_n(b, 0, 96);
    end(b);
    end(b);
    REFUSED("an mvhd of version 2", "unknown movie, track or media header "
            "version");

    RESET();
    box(b, "moov");
    leaf(b, "mvhd", 0, 4097 - 8);
    end(b);
    REFUSED("an mvhd of 4097 bytes", "movie, track or media header too "
            "large");

    /*
     * Nesting is bounded by what playback knows (moov, trak, mdia, minf,
     * stbl): a trak in a trak, and all deeper, is made free unread.
     */
    w = malloc(sizeof(bld_t));

    for (i = 0; i < 2; i++) {
        bld_t  *x = i ? w : b;
        size_t  j;

        memset(x, 0, sizeof(bld_t));
        x->stripped = (int) i;
        ftyp(x, "isom", "isom");
        box(x, "moov");
        box(x, "trak");
        mbox(x, "trak");
        for (j = 0; j < 20; j++) {
            box(x, "trak");
        }
        leaf(x, "tkhd", 0x22, 4);
        for (j = 0; j < 20; j++) {
            end(x);
        }
        end(x);
        end(x);
        end(x);

        if (i) {
            result_t  r;

            run("video/mp4", b->b, b->n, NULL, 0, 1, &r);
            ok(r.rc == PE_STRIP_OK && same(&r, w->b, w->n)
               && r.removed == 1,
               "a trak in a trak, 20 deep: made free (%s)", r.err);
            result_free(&r);
        }
    }

    free(w);

    RESET();
    box(b, "moov");
    leaf(b, "mvhd", 0, 20);
    end(b);

    {
        result_t  r;

        /* the output callback says stop: the stripper stops, and stays */
        memset(&r, 0, sizeof(r));
        r.out.stop_at = 1;
        {
            int          nomem;
            pe_strip_t  *s;

            s = pe_strip_new("video/mp4", 9, sink, &r.out, &nomem);
            is_int(pe_strip_feed(s, b->b, b->n), PE_STRIP_STOPPED,
                   "a callback can stop the stripper");
            is_int(pe_strip_feed(s, b->b, 1), PE_STRIP_STOPPED,
                   "a stopped stripper stays stopped");
            is_int(pe_strip_finish(s), PE_STRIP_STOPPED,
                   "and finishes stopped");
            pe_strip_free(s);
        }
        result_free(&r);
    }

#undef RESET
#undef REFUSED

    free(b);
}


/* ---- HEIC and AVIF ---- */

enum {
    EXIF_MDAT = 0,       /* Exif in mdat */
    EXIF_IDAT,           /* in idat, construction method 1 */
    EXIF_IDAT_ABS        /* in idat, method 0: a file offset into it */
};


typedef struct {
    int       where;
    unsigned  iloc_version;
    int       qt_meta;              /* meta without version and flags */
    int       exif_extents;         /* the Exif item cut in so many */
    const char *brand;

    /* filled in: where to patch */
    size_t    exif_field;           /* the Exif item's first extent_offset */
    size_t    exif_len_field;
    size_t    exif_method_field;
    size_t    exif_dref_field;
    size_t    count_field;          /* iloc item_count */
    size_t    iinf_at, iloc_at, infe_at;
    size_t    meta_at, mdat_at, xmp_at;
    size_t    osz;                  /* offset_size */
} heic_t;


static const unsigned char  exif[] =
    "\0\0\0\0Exif\0\0MM\0*\0\0\0\x08" "GPS 48.8566 2.3522 SN12345 Alice"
    " Canon EOS R5, owner Alice Example";
static const char  xmp[] =
    "<x:xmpmeta><rdf:RDF>Alice, Paris</rdf:RDF></x:xmpmeta>";


static void
build_heic(bld_t *b, int stripped, heic_t *h)
{
    int            i, n;
    size_t         img_field, xmp_base_field, exif_fields[80];
    unsigned       v;
    size_t         isz, idsz, img_at, exif_at, idat_at;
    static const unsigned char  img[] = "\x26\x01\xaf\x1f\x00hevc image!";

    memset(b, 0, sizeof(bld_t));
    b->stripped = stripped;
    v = h->iloc_version;
    isz = v ? 4 : 0;                    /* index_size */
    idsz = v < 2 ? 2 : 4;
    n = h->exif_extents ? h->exif_extents : 1;
    idat_at = 0;

    ftyp(b, h->brand ? h->brand : "heic", "mif1heic");

    h->meta_at = b->n;

    if (h->qt_meta) {
        box(b, "meta");

    } else {
        full(b, "meta", 0, 0);
    }

    hdlr(b, "pict");
    full(b, "pitm", 0, 0);
    put_be(b, 1, 2);
    end(b);

    h->iinf_at = b->n;
    full(b, "iinf", 0, 0);
    put_be(b, 3, 2);
    h->infe_at = b->n;
    full(b, "infe", 2, 0);
    put_be(b, 1, 2);
    put_be(b, 0, 2);
    put(b, "hvc1", 4);
    put_str(b, "");
    end(b);
    full(b, "infe", 2, 0);
    put_be(b, 2, 2);
    put_be(b, 0, 2);
    put(b, "Exif", 4);
    put_str(b, "");
    end(b);
    full(b, "infe", 3, 0);
    put_be(b, 3, 4);
    put_be(b, 0, 2);
    put(b, "mime", 4);
    put_str(b, "XMP");
    put_str(b, "application/rdf+xml");
    end(b);
    end(b);

    h->iloc_at = b->n;
    h->osz = 4;
    full(b, "iloc", v, 0);
    put_be(b, 0x44, 1);                 /* offset_size 4, length_size 4 */
    put_be(b, 0x40 | isz, 1);           /* base_offset_size 4 */
    h->count_field = b->n;
    put_be(b, 3, idsz);

    put_be(b, 1, idsz);                 /* the image */
    if (v) {
        put_be(b, 0, 2);
    }
    put_be(b, 0, 2);
    put_be(b, 0, 4);
    put_be(b, 1, 2);
    put_n(b, 0, isz);
    img_field = b->n;
    put_be(b, 0, 4);
    put_be(b, sizeof(img) - 1, 4);

    put_be(b, 2, idsz);                 /* Exif */
    if (v) {
        h->exif_method_field = b->n;
        put_be(b, h->where == EXIF_IDAT ? 1 : 0, 2);
    }
    h->exif_dref_field = b->n;
    put_be(b, 0, 2);
    put_be(b, 0, 4);
    put_be(b, n, 2);
    for (i = 0; i < n; i++) {
        size_t  len = (i < n - 1) ? 1 : sizeof(exif) - 1 - (n - 1);

        put_n(b, 0, isz);
        exif_fields[i] = b->n;
        put_be(b, i, 4);
        if (i == 0) {
            h->exif_field = exif_fields[0];
            h->exif_len_field = b->n;
        }
        put_be(b, len, 4);
    }

    put_be(b, 3, idsz);                 /* XMP: base_offset, two extents */
    if (v) {
        put_be(b, 0, 2);
    }
    put_be(b, 0, 2);
    xmp_base_field = b->n;
    put_be(b, 0, 4);
    put_be(b, 2, 2);
    put_n(b, 0, isz);
    put_be(b, 0, 4);
    put_be(b, 10, 4);
    put_n(b, 0, isz);
    put_be(b, 10, 4);
    put_be(b, sizeof(xmp) - 1 - 10, 4);
    end(b);

    if (h->where != EXIF_MDAT) {
        box(b, "idat");
        idat_at = b->n;
        put_n(b, 0x99, 3);              /* other data before the Exif */
        put_meta(b, exif, sizeof(exif) - 1);
        end(b);
    }

    box(b, "iprp");
    box(b, "ipco");
    full(b, "ispe", 0, 0);
    put_be(b, 64, 4);
    put_be(b, 48, 4);
    end(b);
    box(b, "udes");                     /* emptied: all zeros */
    put_meta(b, "\0\0\0\0en\0Alice\0at home\0tag\0", 25);
    end(b);
    end(b);
    full(b, "ipma", 0, 0);
    put_be(b, 1, 4);
    put_be(b, 1, 2);
    put_be(b, 1, 1);
    put_be(b, 0x81, 1);
    end(b);
    end(b);

    mbox(b, "uuid");                    /* a vendor's, in meta: free */
    put_n(b, 0xab, 16);
    put(b, "PreviewImage", 12);
    end(b);

    fbox(b);                            /* leftovers: zeroed */
    put_meta(b, "old", 3);
    end(b);

    leaf(b, "free", 0, 4);              /* zeros already: not counted */

    end(b);                             /* meta */

    h->mdat_at = b->n;
    box(b, "mdat");
    img_at = b->n;
    put(b, img, sizeof(img) - 1);
    exif_at = b->n;
    if (h->where == EXIF_MDAT) {
        put_meta(b, exif, sizeof(exif) - 1);
    }
    h->xmp_at = b->n;
    put_meta(b, xmp, sizeof(xmp) - 1);
    put_n(b, 0x77, 20);
    end(b);

    patch_be(b, img_field, img_at, 4);
    patch_be(b, xmp_base_field, h->xmp_at, 4);

    for (i = 0; i < n; i++) {
        uint64_t  off;

        off = h->where == EXIF_MDAT ? exif_at
              : h->where == EXIF_IDAT ? 3 : idat_at + 3;
        patch_be(b, exif_fields[i], off + i, 4);
    }
}


static void
check_heic(const char *name, const char *type, heic_t *h)
{
    bld_t  *in, *want;
    heic_t  h2 = *h;

    in = malloc(sizeof(bld_t));
    want = malloc(sizeof(bld_t));

    build_heic(in, 0, h);
    build_heic(want, 1, &h2);
    check_file(name, type, in, want, 5);

    free(in);
    free(want);
}


static void
test_heic(void)
{
    heic_t  h;

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    check_heic("heic, Exif and XMP in mdat", "image/heic", &h);

    memset(&h, 0, sizeof(h));
    h.iloc_version = 0;
    h.exif_extents = 3;
    check_heic("heic, iloc v0, the Exif in 3 extents", "image/heif", &h);

    memset(&h, 0, sizeof(h));
    h.iloc_version = 2;
    h.where = EXIF_IDAT;
    h.brand = "avif";
    check_heic("avif, iloc v2, the Exif in idat", "image/avif", &h);

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    h.where = EXIF_IDAT_ABS;
    check_heic("heic, the Exif in idat by file offset", "image/heic", &h);

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    h.qt_meta = 1;
    check_heic("heic, meta without version and flags", "image/heic", &h);

    /* an MP4 brand: the top-level meta is not an image's, it goes */
    {
        bld_t     *in;
        result_t   r;
        size_t     i;
        int        blank;

        in = malloc(sizeof(bld_t));
        memset(&h, 0, sizeof(h));
        h.iloc_version = 1;
        h.brand = "isom";
        build_heic(in, 0, &h);
        memcpy(in->b + 16, "isom", 4);   /* no HEIF brand anywhere */
        memcpy(in->b + 20, "iso2", 4);
        run("video/mp4", in->b, in->n, NULL, 0, 1, &r);

        blank = r.rc == PE_STRIP_OK
                && memcmp(r.out.p + h.meta_at + 4, "free", 4) == 0;
        for (i = h.meta_at + 8; blank && i < h.mdat_at; i++) {
            blank = (r.out.p[i] == 0);
        }

        ok(blank && r.removed == 1,
           "a top-level meta in an MP4 becomes a free box");
        result_free(&r);
        free(in);
    }
}


static void
test_heic_hostile(void)
{
    bld_t   *b;
    heic_t   h;
    size_t   i;

    b = malloc(sizeof(bld_t));

#define BUILD(v)                                                             \
    memset(&h, 0, sizeof(h)); h.iloc_version = v; build_heic(b, 0, &h)
#define REFUSED(name, why)                                                   \
    expect_error(name, "image/heic", b->b, b->n, why)

    BUILD(1);
    patch_be(b, h.exif_field, 0, 4);
    REFUSED("Exif pointing at ftyp", "item data before the metadata box");

    BUILD(1);
    patch_be(b, h.exif_field, h.meta_at + 8, 4);
    REFUSED("Exif pointing into meta, outside idat",
            "item data outside idat");

    BUILD(1);
    patch_be(b, h.exif_field, b->n - 10, 4);
    REFUSED("Exif running past the end",
            "item data past the end of the file");

    BUILD(1);
    patch_be(b, h.exif_field, 0xfffffff0, 4);
    REFUSED("Exif far past the end", "item data past the end of the file");

    BUILD(1);
    patch_be(b, h.exif_field, h.mdat_at + 2, 4);
    REFUSED("Exif over the mdat header", "item data overlaps a box header");

    BUILD(1);
    patch_be(b, h.exif_field, h.xmp_at + 5, 4);
    REFUSED("Exif overlapping XMP", "item extents overlap");

    BUILD(1);
    patch_be(b, h.exif_len_field, 0, 4);
    REFUSED("Exif of length 0", "metadata item extent without a length");

    BUILD(1);
    patch_be(b, h.exif_method_field, 2, 2);
    REFUSED("Exif built from other items",
            "metadata item built from other items");

    BUILD(1);
    patch_be(b, h.exif_method_field, 1, 2);
    REFUSED("Exif in an idat that is not there", "item data outside idat");

    BUILD(1);
    patch_be(b, h.exif_dref_field, 1, 2);
    REFUSED("Exif in another file", "metadata item in another file");

    BUILD(1);
    patch_be(b, h.count_field, 0xffff, 2);
    REFUSED("iloc v1 with 65535 items", "malformed iloc box");

    BUILD(2);
    patch_be(b, h.count_field, 0xffffffff, 4);
    REFUSED("iloc v2 with 2^32-1 items", "malformed iloc box");

    BUILD(1);
    b->b[h.iloc_at + 8] = 3;
    REFUSED("iloc version 3", "unknown iloc version");

    BUILD(1);
    b->b[h.iloc_at + 12] = 0x54;        /* offset_size 5 */
    REFUSED("iloc offset_size 5", "malformed iloc box");

    BUILD(1);
    b->b[h.infe_at + 8] = 4;
    REFUSED("infe version 4", "unknown infe version");

    BUILD(1);
    memcpy(b->b + h.iinf_at + 4, "iloc", 4);
    REFUSED("two iloc boxes", "duplicate item box");

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    h.exif_extents = 65;
    build_heic(b, 0, &h);
    REFUSED("Exif in 65 extents", "too many item extents");

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    h.exif_extents = 64;
    build_heic(b, 0, &h);
    {
        result_t  r;

        /* 64 Exif extents and 2 of XMP: 66 */
        run("image/heic", b->b, b->n, NULL, 0, 1, &r);
        is_str(r.err, "too many item extents", "66 extents in all: refused");
        result_free(&r);
    }

    memset(&h, 0, sizeof(h));
    h.iloc_version = 1;
    h.exif_extents = 62;
    build_heic(b, 0, &h);
    {
        result_t  r;

        run("image/heic", b->b, b->n, NULL, 0, 1, &r);
        ok(r.rc == PE_STRIP_OK && r.removed == 5,
           "64 extents in all are fine (%s)", r.err);
        result_free(&r);
    }

    /* the mdat before the meta box: too late to zero */
    {
        bld_t   *a = malloc(sizeof(bld_t));
        size_t   at;

        BUILD(1);
        memset(a, 0, sizeof(bld_t));
        put(a, b->b, b->tops[0]);                           /* ftyp */
        box(a, "mdat");
        at = a->n;
        put(a, exif, sizeof(exif) - 1);
        end(a);
        i = a->n;
        put(a, b->b + h.meta_at, h.mdat_at - h.meta_at);
        patch_be(a, i + h.exif_field - h.meta_at, at, 4);
        expect_error("Exif in an mdat before meta", "image/heic", a->b,
                     a->n, "item data before the metadata box");
        free(a);
    }

    /* Exif placed in an mvhd, which is held to zero its times */
    {
        bld_t   *a = malloc(sizeof(bld_t));
        size_t   at;

        BUILD(1);
        memcpy(a, b, sizeof(bld_t));
        box(a, "moov");
        full(a, "mvhd", 0, 0);
        at = a->n;
        put_n(a, 0, 120);
        end(a);
        end(a);
        patch_be(a, h.exif_field, at, 4);
        expect_error("Exif in an mvhd", "image/heic", a->b, a->n,
                     "item data in a movie, track or media header");
        free(a);
    }

    /* a meta box too large to hold, and a second one */
    memset(b, 0, sizeof(bld_t));
    ftyp(b, "heic", "mif1");
    put_be(b, (1 << 20) + 1, 4);
    put(b, "meta", 4);
    REFUSED("a 1 MiB meta box", "metadata box too large");

    BUILD(1);
    i = h.mdat_at - h.meta_at;
    memmove(b->b + h.mdat_at + i, b->b + h.mdat_at, b->n - h.mdat_at);
    memcpy(b->b + h.mdat_at, b->b + h.meta_at, i);
    b->n += i;
    REFUSED("two meta boxes", "two metadata boxes");

    memset(b, 0, sizeof(bld_t));
    ftyp(b, "avif", "mif1");
    put_be(b, 0, 4);
    put(b, "meta", 4);
    put_n(b, 0, 8);
    REFUSED("a size 0 meta", "ftyp or metadata box without a size");

    memset(b, 0, sizeof(bld_t));
    ftyp(b, "avif", "mif1");
    box(b, "meta");
    put_be(b, 0, 4);
    put_be(b, 20, 4);
    put(b, "iinf", 4);
    put_n(b, 0, 8);
    end(b);
    REFUSED("an iinf past meta", "box overruns its parent");

    memset(b, 0, sizeof(bld_t));
    put(b, "\0\0\0\x08" "ftyp", 8);
    REFUSED("an ftyp without brands", "malformed ftyp box");

#undef BUILD
#undef REFUSED

    free(b);
}


static void
test_types(void)
{
    static const char  *types[] = {
        "video/mp4", "video/quicktime", "audio/mp4", "audio/x-m4a",
        "image/heic", "image/heif", "image/avif", NULL
    };
    int                 i, nomem, all;
    pe_strip_t         *s;

    all = 1;

    for (i = 0; types[i]; i++) {
        s = pe_strip_new(types[i], strlen(types[i]), sink, NULL, &nomem);
        all &= s != NULL && strcmp(s->format->name, "isobmff") == 0;
        pe_strip_free(s);
    }

    ok(all, "the ISO BMFF types have the isobmff stripper");
}


int
main(void)
{
    test_types();
    test_mp4();
    test_mp4_hostile();
    test_heic();
    test_heic_hostile();

    return done_testing();
}
