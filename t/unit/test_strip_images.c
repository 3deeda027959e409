/*
 * Unit tests of the JPEG, PNG and WebP strippers: hand-built files with
 * metadata, the exact bytes that must come out, whatever the split; a
 * second pass changes nothing; truncated, damaged and hostile files are
 * refused, never crash.
 */

#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

#include "pe_strip.h"


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          cap;
} buf_t;


static void
put(buf_t *b, const void *p, size_t n)
{
    if (b == NULL) {
        return;
    }

    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            abort();
        }
    }

    if (n) {
        memcpy(b->p + b->len, p, n);
    }

    b->len += n;
}


static void
put8(buf_t *b, unsigned v)
{
    unsigned char  c = (unsigned char) v;

    put(b, &c, 1);
}


static void
put16be(buf_t *b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v);
}


static void
put32be(buf_t *b, uint32_t v)
{
    put16be(b, v >> 16);
    put16be(b, v & 0xffff);
}


static void
put32le(buf_t *b, uint32_t v)
{
    put8(b, v);
    put8(b, v >> 8);
    put8(b, v >> 16);
    put8(b, v >> 24);
}


static void
puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}


static void
both(buf_t *in, buf_t *exp, const void *p, size_t n)
{
    put(in, p, n);
    put(exp, p, n);
}


static void
buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(buf_t));
}


/* the output, and where to say stop (SIZE_MAX: never) */
typedef struct {
    buf_t   out;
    size_t  stop_at;
} sink_t;


static int
sink(void *data, const unsigned char *p, size_t n)
{
    sink_t  *k = data;

    if (k->out.len + n > k->stop_at) {
        return 1;
    }

    put(&k->out, p, n);

    return 0;
}


typedef struct {
    int          rc;
    unsigned     removed;
    const char  *error;
    buf_t        out;
} result_t;


/* strips in, cut at the given positions (ascending), into r */
static void
run_cuts(const char *type, const unsigned char *in, size_t len,
    const size_t *cuts, size_t ncuts, size_t stop_at, result_t *r)
{
    int          rc, nomem;
    size_t       i, from, to;
    sink_t       k;
    pe_strip_t  *s;

    static const unsigned char  none;

    if (in == NULL) {
        in = &none;             /* an empty file: no NULL + 0 */
    }

    memset(&k, 0, sizeof(sink_t));
    k.stop_at = stop_at;

    s = pe_strip_new(type, strlen(type), sink, &k, &nomem);
    if (s == NULL) {
        abort();
    }

    rc = PE_STRIP_OK;
    from = 0;

    for (i = 0; i <= ncuts && rc == PE_STRIP_OK; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        rc = pe_strip_feed(s, in + from, to - from);
        from = to;
    }

    if (rc == PE_STRIP_OK) {
        rc = pe_strip_finish(s);
    }

    r->rc = rc;
    r->removed = pe_strip_removed(s);
    r->error = pe_strip_error(s);
    r->out = k.out;

    pe_strip_free(s);
}


static void
run(const char *type, const unsigned char *in, size_t len, result_t *r)
{
    run_cuts(type, in, len, NULL, 0, SIZE_MAX, r);
}


static int
same(const result_t *r, const buf_t *exp)
{
    return r->out.len == exp->len
           && (exp->len == 0 || memcmp(r->out.p, exp->p, exp->len) == 0);
}


static void
show_diff(const result_t *r, const buf_t *exp)
{
    size_t  i;

    for (i = 0; i < r->out.len && i < exp->len; i++) {
        if (r->out.p[i] != exp->p[i]) {
            break;
        }
    }

    printf("#   output %zu bytes, expected %zu, first difference at %zu\n",
           r->out.len, exp->len, i);
}


/*
 * The checks every well-formed file gets: exact output and count, the
 * same for any split, a second pass changing nothing, a refusal when it
 * is cut anywhere before end (the length without its trailer), and a
 * clean stop when the output says stop at any byte.
 */
static void
check_file(const char *name, const char *type, const buf_t *in,
    const buf_t *exp, unsigned removed, size_t end)
{
    int       good;
    size_t    i, j, cuts[2], *bytes;
    result_t  r;

    run(type, in->p, in->len, &r);
    is_int(r.rc, PE_STRIP_OK, "%s: stripped (%s)", name, r.error);
    if (!same(&r, exp)) {
        show_diff(&r, exp);
    }
    ok(same(&r, exp), "%s: the exact bytes expected", name);
    is_int(r.removed, removed, "%s: items removed", name);
    buf_free(&r.out);

    good = 1;

    for (i = 0; i <= in->len && good; i++) {
        cuts[0] = i;
        run_cuts(type, in->p, in->len, cuts, 1, SIZE_MAX, &r);
        if (r.rc != PE_STRIP_OK || !same(&r, exp) || r.removed != removed) {
            printf("# differs when cut at %zu\n", i);
            good = 0;
        }
        buf_free(&r.out);
    }

    ok(good, "%s: the same cut in two at every byte", name);

    good = 1;

    for (i = 0; i <= in->len && good; i += 3) {
        for (j = i; j <= in->len && good; j += 11) {
            cuts[0] = i;
            cuts[1] = j;
            run_cuts(type, in->p, in->len, cuts, 2, SIZE_MAX, &r);
            if (r.rc != PE_STRIP_OK || !same(&r, exp)) {
                printf("# differs when cut at %zu and %zu\n", i, j);
                good = 0;
            }
            buf_free(&r.out);
        }
    }

    ok(good, "%s: the same cut in three", name);

    bytes = malloc((in->len + 1) * sizeof(size_t));
    for (i = 0; i < in->len; i++) {
        bytes[i] = i + 1;
    }

    run_cuts(type, in->p, in->len, bytes, in->len, SIZE_MAX, &r);
    ok(r.rc == PE_STRIP_OK && same(&r, exp) && r.removed == removed,
       "%s: the same fed one byte at a time", name);
    buf_free(&r.out);
    free(bytes);

    run(type, exp->p, exp->len, &r);
    ok(r.rc == PE_STRIP_OK && same(&r, exp) && r.removed == 0,
       "%s: a second pass changes and removes nothing (%u removed)", name,
       r.removed);
    buf_free(&r.out);

    good = 1;

    for (i = 0; i < end && good; i++) {
        run(type, in->p, i, &r);
        if (r.rc != PE_STRIP_ERROR) {
            printf("# not refused when cut to %zu bytes\n", i);
            good = 0;
        }
        buf_free(&r.out);
    }

    ok(good, "%s: refused when cut short anywhere (%zu lengths)", name, end);

    good = 1;

    for (i = 0; i < exp->len && good; i++) {
        run_cuts(type, in->p, in->len, NULL, 0, i, &r);
        if (r.rc != PE_STRIP_STOPPED || r.out.len > i) {
            printf("# no clean stop at %zu\n", i);
            good = 0;
        }
        buf_free(&r.out);
    }

    ok(good, "%s: stops when the output says stop, at any byte", name);
}


/* refused, and why */
static void
check_refused(const char *name, const char *type, const buf_t *in,
    const char *why)
{
    result_t  r;

    run(type, in->p, in->len, &r);
    is_int(r.rc, PE_STRIP_ERROR, "%s: refused", name);
    is_str(r.error, why, "%s: the reason", name);
    buf_free(&r.out);
}


/* stripped, to exactly exp */
static void
check_exact(const char *name, const char *type, const buf_t *in,
    const buf_t *exp, unsigned removed)
{
    result_t  r;

    run(type, in->p, in->len, &r);
    if (r.rc != PE_STRIP_OK) {
        printf("#   error: %s\n", r.error);
    }
    if (!same(&r, exp)) {
        show_diff(&r, exp);
    }
    ok(r.rc == PE_STRIP_OK && same(&r, exp) && r.removed == removed,
       "%s (%u removed)", name, r.removed);
    buf_free(&r.out);
}


/* ---- JPEG ---- */


/* a marker segment into in, and into exp when kept */
static void
jseg(buf_t *in, buf_t *exp, unsigned m, const void *p, size_t n)
{
    put8(in, 0xff);
    put8(in, m);
    put16be(in, n + 2);
    put(in, p, n);

    if (exp) {
        put8(exp, 0xff);
        put8(exp, m);
        put16be(exp, n + 2);
        put(exp, p, n);
    }
}


static void
p16le(buf_t *b, unsigned v)
{
    put8(b, v);
    put8(b, v >> 8);
}


/* a TIFF with IFD0 of the given entries (tag, type, count, value) */
static void
tiff(buf_t *t, int le, const uint32_t (*e)[4], size_t n)
{
    size_t  i;

    void  (*p16)(buf_t *, unsigned);
    void  (*p32)(buf_t *, uint32_t);

    p16 = le ? p16le : put16be;
    p32 = le ? put32le : put32be;

    puts_(t, le ? "II" : "MM");
    p16(t, 42);
    p32(t, 8);
    p16(t, n);

    for (i = 0; i < n; i++) {
        p16(t, e[i][0]);
        p16(t, e[i][1]);
        p32(t, e[i][2]);

        if (e[i][1] == 3 && e[i][2] == 1) {
            p16(t, e[i][3]);
            p16(t, 0);

        } else {
            p32(t, e[i][3]);
        }
    }

    p32(t, 0);
}



/* an Exif APP1 payload: "Exif\0\0", the TIFF, and some text */
static void
exif(buf_t *b, int le, const uint32_t (*e)[4], size_t n)
{
    put(b, "Exif\0\0", 6);
    tiff(b, le, e, n);
    puts_(b, "Alice's camera SN123, GPS 48.8N 2.3E");
}


static const unsigned char  min_exif6[36] = {
    0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
    'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
    0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,
    0, 0, 0, 0
};


/* SOF, SOS, a scan and EOI, into both */
static void
jimage(buf_t *in, buf_t *exp)
{
    static const unsigned char  sof[15] = {
        8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1
    };
    static const unsigned char  sos[10] = { 3, 1, 0, 2, 0x11, 3, 0x11, 0,
                                            63, 0 };
    static const unsigned char  ecs[] = { 0x12, 0x34, 0xff, 0x00, 0x56,
                                          0xff, 0xd9 };

    jseg(in, exp, 0xc0, sof, sizeof(sof));
    jseg(in, exp, 0xda, sos, sizeof(sos));
    both(in, exp, ecs, sizeof(ecs));
}


static void
test_jpeg(void)
{
    size_t         end;
    buf_t          in, exp, t, big;
    unsigned char  pay[256];
    result_t       r;

    static const unsigned char  soi[2] = { 0xff, 0xd8 };
    static const unsigned char  jfif[14] = { 'J', 'F', 'I', 'F', 0, 1, 2,
                                             1, 0, 72, 0, 72, 0, 0 };
    static const unsigned char  ecs1[] = {
        0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xd1, 0x78,
        0xff, 0xff, 0x00, 0x9a, 0xff, 0xd7, 0x00, 0x00, 0xbc
    };
    static const unsigned char  ecs2[] = { 0x01, 0xff, 0x00, 0xff, 0xd3,
                                           0x02 };
    static const uint32_t  ifd6[][4] = {
        { 0x010f, 2, 4, 0x41414100 },       /* Make, in place */
        { 0x0112, 3, 1, 6 },                /* Orientation */
        { 0x8825, 4, 1, 0x1000 },           /* a GPS IFD out of range */
        { 0x013b, 2, 4, 0x416c6900 }        /* Artist */
    };

    memset(&in, 0, sizeof(buf_t));
    memset(&exp, 0, sizeof(buf_t));
    memset(&t, 0, sizeof(buf_t));
    memset(&big, 0, sizeof(buf_t));
    memset(pay, 0x5a, sizeof(pay));

    /* a file with every kind of segment */
    both(&in, &exp, soi, 2);
    jseg(&in, &exp, 0xe0, jfif, sizeof(jfif));
    exif(&t, 0, ifd6, 4);
    jseg(&in, NULL, 0xe1, t.p, t.len);
    put(&exp, min_exif6, sizeof(min_exif6));
    buf_free(&t);
    puts_(&t, "http://ns.adobe.com/xap/1.0/");
    put8(&t, 0);
    puts_(&t, "<x:xmpmeta><dc:creator>Alice</dc:creator></x:xmpmeta>");
    jseg(&in, NULL, 0xe1, t.p, t.len);
    buf_free(&t);
    put(&t, "ICC_PROFILE\0\1\1", 14);
    put(&t, pay, 40);
    jseg(&in, &exp, 0xe2, t.p, t.len);
    buf_free(&t);
    jseg(&in, NULL, 0xe2, "MPF\0MM\0*", 8);
    jseg(&in, NULL, 0xe2, "FPXR\0\0\1", 7);
    jseg(&in, NULL, 0xed, "Photoshop 3.0\08BIM\4\4secret", 26);
    jseg(&in, &exp, 0xee, "Adobe\0\144\0\0\0\0\1", 12);
    jseg(&in, NULL, 0xfe, "hello", 5);
    jseg(&in, NULL, 0xe0, "JFXX\0\x10\xff\xd8\xff\xd9", 10);
    jseg(&in, NULL, 0xef, "Ducky", 5);
    jseg(&in, NULL, 0xe1, "", 0);
    jseg(&in, &exp, 0xdb, pay, 65);
    jseg(&in, &exp, 0xc2, pay, 15);
    jseg(&in, &exp, 0xc4, pay, 30);
    jseg(&in, &exp, 0xdd, "\0\1", 2);
    jseg(&in, &exp, 0xda, pay, 10);
    both(&in, &exp, ecs1, sizeof(ecs1));
    /* fill bytes before the next marker stay; they are allowed there */
    both(&in, &exp, "\xff\xff", 2);
    jseg(&in, &exp, 0xc4, pay, 20);
    /* an Exif after a scan is read by no one, and goes */
    buf_free(&t);
    exif(&t, 0, ifd6, 4);
    jseg(&in, NULL, 0xe1, t.p, t.len);
    jseg(&in, NULL, 0xfe, "after", 5);
    jseg(&in, &exp, 0xda, pay, 8);
    both(&in, &exp, ecs2, sizeof(ecs2));
    both(&in, &exp, "\xff\xd9", 2);
    end = in.len;
    puts_(&in, "\xff\xd8 a second image, a vendor trailer");

    check_file("jpeg", "image/jpeg", &in, &exp, 12, end);

    /* the orientation */
    {
        static const uint32_t  o1[][4] = { { 0x0112, 3, 1, 1 } };
        static const uint32_t  o8[][4] = { { 0x0100, 4, 1, 16 },
                                           { 0x0112, 3, 1, 8 } };
        static const uint32_t  o9[][4] = { { 0x0112, 3, 1, 9 } };
        static const uint32_t  olong[][4] = { { 0x0112, 4, 1, 6 } };
        static const uint32_t  ocount[][4] = { { 0x0112, 3, 2, 6 } };
        static const uint32_t  onone[][4] = { { 0x010f, 2, 4, 0 } };

        static const struct {
            const char        *name;
            int                le;
            const uint32_t   (*e)[4];
            size_t             n;
            unsigned           o;
        } cases[] = {
            { "orientation 6 kept, alone", 0, ifd6, 4, 6 },
            { "orientation 8, little-endian, kept big-endian", 1, o8, 2, 8 },
            { "orientation 1: no Exif", 0, o1, 1, 0 },
            { "orientation 9: no Exif", 1, o9, 1, 0 },
            { "orientation as a LONG: no Exif", 0, olong, 1, 0 },
            { "orientation with count 2: no Exif", 0, ocount, 1, 0 },
            { "no orientation: no Exif", 0, onone, 1, 0 },
        };

        size_t  i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            buf_free(&in);
            buf_free(&exp);
            buf_free(&t);
            both(&in, &exp, soi, 2);
            exif(&t, cases[i].le, cases[i].e, cases[i].n);
            jseg(&in, NULL, 0xe1, t.p, t.len);

            if (cases[i].o) {
                put(&exp, min_exif6, sizeof(min_exif6));
                exp.p[exp.len - 7] = (unsigned char) cases[i].o;
            }

            jimage(&in, &exp);
            check_exact(cases[i].name, "image/jpeg", &in, &exp, 1);

            if (cases[i].o) {
                run("image/jpeg", exp.p, exp.len, &r);
                ok(r.rc == 0 && same(&r, &exp) && r.removed == 0,
                   "%s: the minimal Exif passes a second time as it is",
                   cases[i].name);
                buf_free(&r.out);
            }
        }
    }

    /* a minimal Exif, but little-endian: rewritten, and counted */
    {
        static const uint32_t  o6[][4] = { { 0x0112, 3, 1, 6 } };

        buf_free(&in);
        buf_free(&exp);
        buf_free(&t);
        both(&in, &exp, soi, 2);
        put(&t, "Exif\0\0", 6);
        tiff(&t, 1, o6, 1);
        jseg(&in, NULL, 0xe1, t.p, t.len);
        put(&exp, min_exif6, sizeof(min_exif6));
        jimage(&in, &exp);
        ok(in.len == exp.len, "a little-endian minimal Exif is as long");
        check_exact("... and is rewritten big-endian", "image/jpeg", &in,
                    &exp, 1);
    }

    /* no Exif at all: nothing written in its place */
    buf_free(&in);
    buf_free(&exp);
    both(&in, &exp, soi, 2);
    jseg(&in, &exp, 0xe0, jfif, sizeof(jfif));
    jimage(&in, &exp);
    check_exact("jpeg without metadata: unchanged", "image/jpeg", &in, &exp,
                0);

    /* the first Exif decides; a second one goes, orientation or not */
    {
        static const uint32_t  o3[][4] = { { 0x0112, 3, 1, 3 } };
        static const uint32_t  onone[][4] = { { 0x010f, 2, 4, 0 } };

        buf_free(&in);
        buf_free(&exp);
        buf_free(&t);
        both(&in, &exp, soi, 2);
        exif(&t, 0, o3, 1);
        jseg(&in, NULL, 0xe1, t.p, t.len);
        put(&exp, min_exif6, sizeof(min_exif6));
        exp.p[exp.len - 7] = 3;
        buf_free(&t);
        exif(&t, 0, ifd6, 4);
        jseg(&in, NULL, 0xe1, t.p, t.len);
        jimage(&in, &exp);
        check_exact("two Exifs: the first's orientation", "image/jpeg", &in,
                    &exp, 2);

        buf_free(&in);
        buf_free(&exp);
        buf_free(&t);
        both(&in, &exp, soi, 2);
        exif(&t, 0, onone, 1);
        jseg(&in, NULL, 0xe1, t.p, t.len);
        buf_free(&t);
        exif(&t, 0, ifd6, 4);
        jseg(&in, NULL, 0xe1, t.p, t.len);
        jimage(&in, &exp);
        check_exact("two Exifs, the first without orientation: none",
                    "image/jpeg", &in, &exp, 2);
    }

    /* bogus Exif structures: dropped, never read out of bounds */
    {
        static const struct {
            const char     *name;
            unsigned char   tiff[32];
            size_t          len;
        } cases[] = {
            { "IFD0 offset past the end",
              "MM\0*\0\0\0\x40", 8 },
            { "IFD0 offset 0xffffffff",
              "II*\0\xff\xff\xff\xff\0\0", 10 },
            { "IFD0 offset inside the header",
              "MM\0*\0\0\0\4\1\x12\0\3", 12 },
            { "IFD0 offset at the last byte",
              "MM\0*\0\0\0\x09\0", 10 },
            { "entry count past the end",
              "MM\0*\0\0\0\x08\xff\xff\x01\x12\0\3\0\0\0\1\0\6", 20 },
            { "cut inside the header", "MM\0*\0\0", 6 },
            { "an orientation, but no room for the next IFD offset",
              "MM\0*\0\0\0\x08\0\1\x01\x12\0\3\0\0\0\1\0\6\0\0", 22 },
            { "bad byte order", "IM\0*\0\0\0\x08\0\0", 10 },
            { "bad magic", "MM\0+\0\0\0\x08\0\0", 10 },
        };

        size_t  i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            buf_free(&in);
            buf_free(&exp);
            buf_free(&t);
            both(&in, &exp, soi, 2);
            put(&t, "Exif\0\0", 6);
            put(&t, cases[i].tiff, cases[i].len);
            jseg(&in, NULL, 0xe1, t.p, t.len);
            jimage(&in, &exp);
            check_exact(cases[i].name, "image/jpeg", &in, &exp, 1);
        }
    }

    /* a 65535-byte Exif with its orientation, and as much XMP */
    buf_free(&in);
    buf_free(&exp);
    buf_free(&t);
    both(&in, &exp, soi, 2);
    exif(&t, 1, ifd6, 4);
    while (t.len < 65533) {
        put8(&t, t.len);
    }
    jseg(&in, NULL, 0xe1, t.p, t.len);
    put(&exp, min_exif6, sizeof(min_exif6));
    buf_free(&t);
    puts_(&t, "http://ns.adobe.com/xap/1.0/");
    while (t.len < 65533) {
        put8(&t, 'x');
    }
    jseg(&in, NULL, 0xe1, t.p, t.len);
    jimage(&in, &exp);
    ok(in.p[4] == 0xff && in.p[5] == 0xff, "the Exif's length is 65535");
    check_exact("a 65535-byte Exif and XMP", "image/jpeg", &in, &exp, 2);

    {
        size_t    cuts[2] = { 5, 40000 };

        run_cuts("image/jpeg", in.p, in.len, cuts, 2, SIZE_MAX, &r);
        ok(r.rc == 0 && same(&r, &exp), "... the same cut inside it");
        buf_free(&r.out);
    }

    /* a JFIF thumbnail is cut off, the JFIF header kept */
    buf_free(&in);
    buf_free(&exp);
    buf_free(&t);
    both(&in, &exp, soi, 2);
    put(&t, jfif, 12);
    put8(&t, 2);
    put8(&t, 2);
    put(&t, pay, 12);
    jseg(&in, NULL, 0xe0, t.p, t.len);
    jseg(NULL, &exp, 0xe0, jfif, sizeof(jfif));
    jimage(&in, &exp);
    check_exact("a JFIF thumbnail cut off", "image/jpeg", &in, &exp, 1);

    buf_free(&in);
    buf_free(&exp);
    both(&in, &exp, soi, 2);
    jseg(&in, NULL, 0xe0, "JFIF\0\1\2", 7);
    jseg(&in, NULL, 0xe2, "ICC_PROF", 8);
    jseg(&in, NULL, 0xe0, "", 0);
    jseg(&in, NULL, 0xfe, "", 0);
    jseg(&in, &exp, 0xdb, "", 0);
    jimage(&in, &exp);
    check_exact("short identifiers and empty segments", "image/jpeg", &in,
                &exp, 4);

    /* refused */
    {
        static const struct {
            const char     *name;
            unsigned char   head[16];
            size_t          len;
            int             image;      /* SOF SOS scan EOI follow */
            const char     *why;
        } cases[] = {
            { "empty", "", 0, 0, "truncated JPEG" },
            { "no SOI", "\xff\xd9", 2, 0, "not a JPEG: no SOI" },
            { "a PNG", "\x89PNG", 4, 0, "not a JPEG: no SOI" },
            { "segment length 0", "\xff\xd8\xff\xe1\0\0", 6, 1,
              "JPEG segment length under 2" },
            { "segment length 1", "\xff\xd8\xff\xdb\0\1", 6, 1,
              "JPEG segment length under 2" },
            { "no 0xFF before a marker", "\xff\xd8\x12", 3, 1,
              "JPEG marker expected" },
            { "0xFF00 outside a scan", "\xff\xd8\xff\x00", 4, 1,
              "JPEG marker expected" },
            { "restart outside a scan", "\xff\xd8\xff\xd0", 4, 1,
              "JPEG restart marker outside a scan" },
            { "second SOI", "\xff\xd8\xff\xd8", 4, 1,
              "JPEG SOI inside the image" },
            { "EOI first", "\xff\xd8\xff\xd9", 4, 0,
              "JPEG EOI before any scan" },
            { "TEM", "\xff\xd8\xff\x01", 4, 1, "unsupported JPEG marker" },
            { "RES", "\xff\xd8\xff\x02\0\2", 6, 1,
              "unsupported JPEG marker" },
            { "JPG", "\xff\xd8\xff\xc8\0\2", 6, 1,
              "unsupported JPEG marker" },
            { "JPG7 (JPEG-LS)", "\xff\xd8\xff\xf7\0\2", 6, 1,
              "unsupported JPEG marker" },
            { "DHP", "\xff\xd8\xff\xde\0\2", 6, 1,
              "unsupported JPEG marker" },
            { "SOS before SOF", "\xff\xd8\xff\xda\0\2", 6, 1,
              "JPEG SOS before SOF" },
            { "two SOFs", "\xff\xd8\xff\xc1\0\2", 6, 1,
              "JPEG with two SOF markers" },
            { "a length past the end", "\xff\xd8\xff\xe1\xff\xff", 6, 0,
              "truncated JPEG" },
            { "no EOI", "\xff\xd8\xff\xc0\0\2\xff\xda\0\2\1\2", 12, 0,
              "truncated JPEG" },
        };

        size_t  i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            buf_free(&in);
            put(&in, cases[i].head, cases[i].len);
            if (cases[i].image) {
                jimage(&in, NULL);
            }
            check_refused(cases[i].name, "image/jpeg", &in, cases[i].why);
        }
    }

    buf_free(&in);
    buf_free(&exp);
    buf_free(&t);
    buf_free(&big);
}


/* ---- PNG ---- */


static uint32_t
crc32_(const unsigned char *p, size_t n)
{
    int       k;
    uint32_t  c = 0xffffffff;

    while (n--) {
        c ^= *p++;
        for (k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320 & (0 - (c & 1)));
        }
    }

    return ~c;
}


/* a chunk into in, and into exp when kept; crc_xor damages the CRC */
static void
pchunk_crc(buf_t *in, buf_t *exp, const char *type, const void *p,
    size_t n, uint32_t len, uint32_t crc_xor)
{
    buf_t  c;

    memset(&c, 0, sizeof(buf_t));
    put32be(&c, len);
    put(&c, type, 4);
    put(&c, p, n);
    put32be(&c, crc32_(c.p + 4, n + 4) ^ crc_xor);

    put(in, c.p, c.len);
    put(exp, c.p, c.len);
    buf_free(&c);
}


static void
pchunk(buf_t *in, buf_t *exp, const char *type, const void *p, size_t n)
{
    pchunk_crc(in, exp, type, p, n, n, 0);
}


static const unsigned char  png_sig[8] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

static const unsigned char  ihdr[13] = { 0, 0, 0, 2, 0, 0, 0, 2, 8, 3,
                                         0, 0, 0 };


static void
test_png(void)
{
    size_t         end;
    buf_t          in, exp;
    unsigned char  pay[64];

    memset(&in, 0, sizeof(buf_t));
    memset(&exp, 0, sizeof(buf_t));
    memset(pay, 0xa5, sizeof(pay));

    both(&in, &exp, png_sig, 8);
    pchunk(&in, &exp, "IHDR", ihdr, 13);
    pchunk(&in, &exp, "iCCP", "sRGB\0\0xyz", 9);
    pchunk(&in, NULL, "tEXt", "Author\0Alice", 12);
    pchunk(&in, &exp, "gAMA", "\0\0\xb1\x8f", 4);
    pchunk(&in, &exp, "cHRM", pay, 32);
    pchunk(&in, NULL, "eXIf", "MM\0*\0\0\0\x08\0\0", 10);
    pchunk(&in, &exp, "sRGB", "\0", 1);
    pchunk(&in, NULL, "zTXt", "Comment\0\0x\x9c", 11);
    pchunk(&in, &exp, "PLTE", pay, 12);
    pchunk(&in, &exp, "tRNS", "\0\x80", 2);
    pchunk(&in, &exp, "bKGD", "\0", 1);
    pchunk(&in, &exp, "pHYs", pay, 9);
    pchunk(&in, NULL, "iTXt", "XML:com.adobe.xmp\0\0\0\0\0<x/>", 26);
    pchunk(&in, NULL, "prVt", "", 0);
    pchunk(&in, &exp, "acTL", pay, 8);
    pchunk(&in, &exp, "fcTL", pay, 26);
    pchunk(&in, &exp, "IDAT", pay, 20);
    pchunk(&in, &exp, "IDAT", pay, 7);
    pchunk(&in, &exp, "fcTL", pay, 26);
    pchunk(&in, &exp, "fdAT", pay, 11);
    pchunk(&in, NULL, "tIME", "\x07\xea\x0c\x01\x11\x22\x33", 7);
    pchunk(&in, NULL, "caBX", "jumb", 4);
    pchunk(&in, &exp, "IEND", "", 0);
    end = in.len;
    puts_(&in, "after IEND: a zip, a second file");

    check_file("png", "image/png", &in, &exp, 8, end);

    buf_free(&in);
    buf_free(&exp);
    both(&in, &exp, png_sig, 8);
    pchunk(&in, &exp, "IHDR", ihdr, 13);
    pchunk(&in, &exp, "sBIT", "\10\10\10", 3);
    pchunk(&in, &exp, "cICP", "\1\15\0\1", 4);
    pchunk(&in, &exp, "mDCv", pay, 24);
    pchunk(&in, &exp, "cLLi", pay, 8);
    pchunk(&in, &exp, "hIST", pay, 8);
    pchunk(&in, &exp, "sPLT", "p\0\10\0\0\0\0\0\0", 9);
    pchunk(&in, &exp, "IDAT", pay, 1);
    pchunk(&in, &exp, "IEND", "", 0);
    check_exact("png without metadata: unchanged", "image/png", &in, &exp,
                0);

    /* the orientation: an eXIf before IDAT gives way to a minimal one */
    {
        buf_t  t;

        static const uint32_t  o6[][4] = { { 0x010f, 2, 4, 0x41414100 },
                                           { 0x0112, 3, 1, 6 } };

        memset(&t, 0, sizeof(buf_t));
        tiff(&t, 1, o6, 2);
        puts_(&t, "GPS 48.8N 2.3E, serial SN123");

        buf_free(&in);
        buf_free(&exp);
        both(&in, &exp, png_sig, 8);
        pchunk(&in, &exp, "IHDR", ihdr, 13);
        pchunk(&in, NULL, "eXIf", t.p, t.len);
        pchunk(NULL, &exp, "eXIf", min_exif6 + 10, 26);
        pchunk(&in, &exp, "IDAT", pay, 3);
        pchunk(&in, NULL, "eXIf", t.p, t.len);
        pchunk(&in, &exp, "IEND", "", 0);
        check_file("png orientation 6", "image/png", &in, &exp, 2, in.len);

        /* a long one: its first 64 KiB are read */
        while (t.len < 100000) {
            put8(&t, t.len);
        }

        buf_free(&in);
        buf_free(&exp);
        both(&in, &exp, png_sig, 8);
        pchunk(&in, &exp, "IHDR", ihdr, 13);
        pchunk(&in, NULL, "eXIf", t.p, t.len);
        pchunk(NULL, &exp, "eXIf", min_exif6 + 10, 26);
        pchunk(&in, &exp, "IDAT", pay, 3);
        pchunk(&in, &exp, "IEND", "", 0);
        check_exact("png: an eXIf of 100000 bytes, orientation kept",
                    "image/png", &in, &exp, 1);

        /* one only after IDAT: no browser reads it, it goes */
        buf_free(&in);
        buf_free(&exp);
        both(&in, &exp, png_sig, 8);
        pchunk(&in, &exp, "IHDR", ihdr, 13);
        pchunk(&in, &exp, "IDAT", pay, 3);
        pchunk(&in, NULL, "eXIf", min_exif6 + 10, 26);
        pchunk(&in, &exp, "IEND", "", 0);
        check_exact("png: an eXIf after IDAT goes, orientation or not",
                    "image/png", &in, &exp, 1);

        buf_free(&t);
    }

    /* refused */
    {
        static const struct {
            const char  *name;
            int          what;
            const char  *why;
        } cases[] = {
            { "no signature", 0, "not a PNG: no signature" },
            { "length 2^31", 1, "PNG chunk length over 2^31 - 1" },
            { "length 0xffffffff", 2, "PNG chunk length over 2^31 - 1" },
            { "a length past the end", 3, "truncated PNG" },
            { "a bad CRC in a kept chunk", 4, "PNG chunk CRC mismatch" },
            { "a bad CRC in a dropped chunk", 5, "PNG chunk CRC mismatch" },
            { "an unknown critical chunk", 6, "unknown critical PNG chunk" },
            { "IHDR not first", 7, "PNG without IHDR first" },
            { "IHDR of 12 bytes", 8, "PNG IHDR length not 13" },
            { "two IHDRs", 9, "PNG with two IHDR chunks" },
            { "no IDAT", 10, "PNG without IDAT" },
            { "IDATs apart", 11, "PNG IDAT chunks not consecutive" },
            { "PLTE after IDAT", 12, "PNG PLTE misplaced" },
            { "IEND with data", 13, "PNG IEND with data" },
            { "a type with a digit", 14, "PNG chunk type not four letters" },
            { "no IEND", 15, "truncated PNG" },
            { "empty", 16, "truncated PNG" },
        };

        size_t  i;
        int     w;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            w = cases[i].what;
            buf_free(&in);

            if (w == 16) {
                check_refused(cases[i].name, "image/png", &in,
                              cases[i].why);
                continue;
            }

            put(&in, w == 0 ? (const unsigned char *) "\x89PNG\r\n\x1a\r"
                            : png_sig, 8);

            if (w == 7) {
                pchunk(&in, NULL, "gAMA", "\0\0\xb1\x8f", 4);
            }

            pchunk(&in, NULL, "IHDR", ihdr, w == 8 ? 12 : 13);

            switch (w) {
            case 1:
                pchunk_crc(&in, NULL, "tEXt", "", 0, 0x80000000, 0);
                break;
            case 2:
                pchunk_crc(&in, NULL, "IDAT", "", 0, 0xffffffff, 0);
                break;
            case 3:
                pchunk_crc(&in, NULL, "IDAT", pay, 10, 1000, 0);
                check_refused(cases[i].name, "image/png", &in,
                              cases[i].why);
                continue;
            case 4:
                pchunk_crc(&in, NULL, "IDAT", pay, 10, 10, 1);
                break;
            case 5:
                pchunk_crc(&in, NULL, "tEXt", "a\0b", 3, 3, 0x100);
                break;
            case 6:
                pchunk(&in, NULL, "CgBI", pay, 4);
                break;
            case 9:
                pchunk(&in, NULL, "IHDR", ihdr, 13);
                break;
            case 11:
                pchunk(&in, NULL, "IDAT", pay, 4);
                pchunk(&in, NULL, "tEXt", "a\0b", 3);
                break;
            case 12:
                pchunk(&in, NULL, "IDAT", pay, 4);
                pchunk(&in, NULL, "PLTE", pay, 3);
                break;
            case 13:
                pchunk(&in, NULL, "IDAT", pay, 4);
                pchunk(&in, NULL, "IEND", "x", 1);
                break;
            case 14:
                pchunk(&in, NULL, "tE1t", "", 0);
                break;
            }

            if (w != 10 && w != 12 && w != 13) {
                pchunk(&in, NULL, "IDAT", pay, 4);
            }

            if (w != 15) {
                pchunk(&in, NULL, "IEND", "", 0);
            }

            check_refused(cases[i].name, "image/png", &in, cases[i].why);
        }
    }

    buf_free(&in);
    buf_free(&exp);
}


/* ---- WebP ---- */


enum { KEEP, VOID, VP8X };


/* a chunk into in and exp: kept, neutralised, or a VP8X flags cleared */
static void
wchunk(buf_t *in, buf_t *exp, int how, const char *fourcc, const void *p,
    size_t n)
{
    size_t         i;
    unsigned char  f;

    put(in, fourcc, 4);
    put32le(in, n);
    put(in, p, n);

    if (n & 1) {
        put8(in, 0);
    }

    if (exp == NULL) {
        return;
    }

    put(exp, how == VOID ? "void" : fourcc, 4);
    put32le(exp, n);

    if (how == VOID) {
        for (i = 0; i < n + (n & 1); i++) {
            put8(exp, 0);
        }
        return;
    }

    if (how == VP8X) {
        f = ((const unsigned char *) p)[0] & ~0x0c;
        put8(exp, f);
        put(exp, (const unsigned char *) p + 1, n - 1);

    } else {
        put(exp, p, n);
    }

    if (n & 1) {
        put8(exp, 0);
    }
}


/* the RIFF size of a file built so far: its length less 8 (or size) */
static void
riff_size(buf_t *b, size_t len, int64_t size)
{
    uint32_t  v = size >= 0 ? (uint32_t) size : (uint32_t) (len - 8);

    if (b) {
        b->p[4] = v;
        b->p[5] = v >> 8;
        b->p[6] = v >> 16;
        b->p[7] = v >> 24;
    }
}


static void
riff(buf_t *b)
{
    put(b, "RIFF\0\0\0\0WEBP", 12);
}


/*
 * An ANMF frame into in and exp: its 16-byte header, then ALPH and VP8L
 * kept, and EXIF, "XMP " and an unknown chunk inside it neutralised (3).
 */
static void
wframe(buf_t *in, buf_t *exp, const unsigned char *pay)
{
    buf_t  fin, fexp;

    memset(&fin, 0, sizeof(buf_t));
    memset(&fexp, 0, sizeof(buf_t));

    both(&fin, &fexp, pay, 16);
    wchunk(&fin, &fexp, KEEP, "ALPH", pay, 3);
    wchunk(&fin, &fexp, VOID, "EXIF", "MM\0*\0\0\0\x08GPS", 11);
    wchunk(&fin, &fexp, KEEP, "VP8L", pay, 5);
    wchunk(&fin, &fexp, VOID, "XMP ", "<x:xmpmeta/>", 12);
    wchunk(&fin, &fexp, VOID, "abcd", "", 0);

    put(in, "ANMF", 4);
    put32le(in, fin.len);
    put(in, fin.p, fin.len);
    put(exp, "ANMF", 4);
    put32le(exp, fexp.len);
    put(exp, fexp.p, fexp.len);

    buf_free(&fin);
    buf_free(&fexp);
}


static void
test_webp(void)
{
    buf_t          in, exp;
    result_t       r;
    unsigned char  pay[64];

    memset(&in, 0, sizeof(buf_t));
    memset(&exp, 0, sizeof(buf_t));
    memset(pay, 0x3c, sizeof(pay));

    riff(&in);
    riff(&exp);
    wchunk(&in, &exp, VP8X, "VP8X", "\x3c\0\0\0\x0f\0\0\x0f\0\0", 10);
    wchunk(&in, &exp, KEEP, "ICCP", pay, 13);
    wchunk(&in, &exp, KEEP, "ANIM", pay, 6);
    wchunk(&in, &exp, KEEP, "ALPH", pay, 9);
    wchunk(&in, &exp, KEEP, "VP8 ", pay, 21);
    wchunk(&in, &exp, VOID, "EXIF", "MM\0*\0\0\0\x08\0\0Alice", 15);
    wchunk(&in, &exp, VOID, "XMP ", "<x:xmpmeta>Alice</x:xmpmeta>", 28);
    wchunk(&in, &exp, VOID, "ABCD", pay, 3);
    wchunk(&in, &exp, VOID, "JUNK", "", 0);
    wframe(&in, &exp, pay);
    wchunk(&in, &exp, VOID, "void", "smuggled", 8);
    riff_size(&in, in.len, -1);
    riff_size(&exp, exp.len, -1);
    ok(in.len == exp.len, "webp: as long after as before");

    check_file("webp", "image/webp", &in, &exp, 8, in.len);

    /* an animation alone: Exif hidden in its frames, and a frame's pad */
    buf_free(&in);
    buf_free(&exp);
    riff(&in);
    riff(&exp);
    wchunk(&in, &exp, VP8X, "VP8X", "\x1a\0\0\0\x0f\0\0\x0f\0\0", 10);
    wchunk(&in, &exp, KEEP, "ANIM", pay, 6);
    wframe(&in, &exp, pay);
    wframe(&in, &exp, pay);
    {
        /* a frame of odd size: the pad byte after it is copied */
        static const unsigned char  odd[] = {
            'A', 'N', 'M', 'F', 25, 0, 0, 0,
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
            'V', 'P', '8', 'L', 1, 0, 0, 0, 0x2f, 0
        };

        both(&in, &exp, odd, sizeof(odd));
    }
    riff_size(&in, in.len, -1);
    riff_size(&exp, exp.len, -1);
    check_file("an animated WebP with Exif in its frames", "image/webp",
               &in, &exp, 6, in.len);

    /* a simple file: unchanged */
    buf_free(&in);
    buf_free(&exp);
    riff(&in);
    riff(&exp);
    wchunk(&in, &exp, KEEP, "VP8L", pay, 7);
    riff_size(&in, in.len, -1);
    riff_size(&exp, exp.len, -1);
    check_exact("a simple lossless WebP: unchanged", "image/webp", &in, &exp,
                0);

    /* a simple lossy one with Exif after its image, though it lacks VP8X */
    buf_free(&in);
    buf_free(&exp);
    riff(&in);
    riff(&exp);
    wchunk(&in, &exp, KEEP, "VP8 ", pay, 10);
    wchunk(&in, &exp, VOID, "EXIF", pay, 10);
    riff_size(&in, in.len, -1);
    riff_size(&exp, exp.len, -1);
    check_exact("a simple WebP's Exif", "image/webp", &in, &exp, 1);

    run("image/webp", exp.p, exp.len, &r);
    ok(r.rc == 0 && same(&r, &exp) && r.removed == 0,
       "... a second pass leaves its zeroed chunk alone");
    buf_free(&r.out);

    /* refused */
    {
        static const struct {
            const char  *name;
            int          what;
            const char  *why;
        } cases[] = {
            { "not RIFF", 0, "not a WebP: no RIFF WEBP header" },
            { "not WEBP", 1, "not a WebP: no RIFF WEBP header" },
            { "a chunk size of 0xffffffff", 2,
              "WebP chunk past the RIFF end" },
            { "a RIFF size of 0xffffffff", 3, "truncated WebP" },
            { "a RIFF size of 4", 4, "WebP RIFF size too small" },
            { "a RIFF size short of a chunk", 5,
              "WebP chunk past the RIFF end" },
            { "a RIFF size inside a chunk header", 6,
              "WebP chunk past the RIFF end" },
            { "a pad byte past the RIFF end", 7,
              "WebP chunk past the RIFF end" },
            { "VP8X not first", 8, "WebP VP8X not first" },
            { "VP8X of 9 bytes", 9, "WebP VP8X size not 10" },
            { "EXIF first", 10, "WebP first chunk not VP8, VP8L or VP8X" },
            { "no image", 11, "WebP without image data" },
            { "empty", 12, "truncated WebP" },
            { "data after the RIFF end", 13, "data after the WebP RIFF end" },
            { "an ANMF of 15 bytes", 14, "WebP ANMF frame too small" },
            { "a chunk past its ANMF frame", 15,
              "WebP chunk past its ANMF frame" },
            { "a chunk header cut by its ANMF frame's end", 16,
              "WebP chunk past its ANMF frame" },
        };

        size_t  i;
        int     w;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            w = cases[i].what;
            buf_free(&in);

            if (w == 12) {
                check_refused(cases[i].name, "image/webp", &in,
                              cases[i].why);
                continue;
            }

            riff(&in);

            if (w == 0) {
                memcpy(in.p, "RIFX", 4);
            }

            if (w == 1) {
                memcpy(in.p + 8, "WEBM", 4);
            }

            if (w == 9) {
                wchunk(&in, NULL, KEEP, "VP8X", pay, 9);
            } else if (w == 10) {
                wchunk(&in, NULL, KEEP, "EXIF", pay, 4);
            } else if (w != 8) {
                wchunk(&in, NULL, KEEP, "VP8X", "\0\0\0\0\0\0\0\0\0\0", 10);
            }

            if (w == 2) {
                put(&in, "EXIF\xff\xff\xff\xff", 8);
            }

            if (w != 11) {
                wchunk(&in, NULL, KEEP, w == 7 ? "VP8L" : "VP8 ", pay,
                       w == 7 ? 5 : 4);
            }

            if (w == 8) {
                wchunk(&in, NULL, KEEP, "VP8X", "\0\0\0\0\0\0\0\0\0\0", 10);
            }

            wchunk(&in, NULL, KEEP, "ICCP", pay, 2);

            riff_size(&in, in.len, w == 3 ? 0xffffffff
                                   : w == 4 ? 4
                                   : w == 5 ? (int64_t) in.len - 8 - 2
                                   : w == 6 ? (int64_t) in.len - 8 - 10 + 4
                                   : w == 7 ? (int64_t) in.len - 8 - 10 - 1
                                   : -1);

            if (w == 7) {
                /* the RIFF ends before VP8L's pad byte */
                in.len -= 10;
            }

            if (w == 13) {
                put8(&in, 0);
            }

            if (w == 14) {
                wchunk(&in, NULL, KEEP, "ANMF", pay, 15);
                riff_size(&in, in.len, -1);
            }

            if (w == 15 || w == 16) {
                /* 16 header bytes, then VP8L claiming 8 bytes of 4 */
                put(&in, "ANMF", 4);
                put32le(&in, w == 15 ? 16 + 8 + 4 : 16 + 4);
                put(&in, pay, 16);
                put(&in, "VP8L", 4);
                put32le(&in, w == 15 ? 8 : 4);
                put(&in, pay, w == 15 ? 4 : 0);
                wchunk(&in, NULL, KEEP, "ICCP", pay, 8);
                riff_size(&in, in.len, -1);
            }

            check_refused(cases[i].name, "image/webp", &in, cases[i].why);
        }
    }

    buf_free(&in);
    buf_free(&exp);
}


static void
test_types(void)
{
    int          nomem;
    pe_strip_t  *s;

    ok(pe_strip_known("image/jpeg", 10) && pe_strip_known("image/png", 9)
       && pe_strip_known("image/webp", 10), "the three types are known");
    ok(!pe_strip_known("image/gif", 9), "GIF has no stripper");

    s = pe_strip_new("image/gif", 9, sink, NULL, &nomem);
    ok(s == NULL && nomem == 0, "none made for GIF");

    s = pe_strip_new("image/png", 9, sink, NULL, &nomem);
    is_str(s ? s->format->name : "", "png", "image/png gets png");
    pe_strip_free(s);
}


int
main(void)
{
    test_types();
    test_jpeg();
    test_png();
    test_webp();

    return done_testing();
}
