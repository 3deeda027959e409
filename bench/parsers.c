/*
 * The pure parsers' speed, side by side with what they cannot beat: a
 * memchr pass and a memcpy of the same bytes.  Input: 1 MB random-looking
 * file parts (CR bytes all through them, as in compressed media), fed in
 * 16 KB pieces as nginx hands them over.  Then the metadata stripper on a
 * 16 MB JPEG (a phone's Exif, then scan data with every 0xFF stuffed) and
 * a 16 MB MP4 (its moov with a udta, then the mdat), its output copied
 * out as the spool's writer takes it, next to a memcpy of the same bytes.
 * Prints GB/s, median of rounds.
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pe_multipart.h"
#include "pe_sniff.h"
#include "pe_strip.h"


#define MB        (1024 * 1024)
#define PIECE     (16 * 1024)
#define ROUNDS    15


static size_t  sink;


static int
on_data(void *data, const unsigned char *p, size_t n)
{
    (void) data;
    sink += n + p[0];
    return 0;
}


static const pe_mp_callbacks_t  cb = { NULL, on_data, NULL };


static double now(void);
static double median(double *v);


/* the stripper's output, copied out as the spool's writer would */
typedef struct {
    unsigned char  *p;
    size_t          len;
} out_t;


static int
on_strip(void *data, const unsigned char *p, size_t n)
{
    out_t  *o = data;

    memcpy(o->p + o->len, p, n);
    o->len += n;
    return 0;
}


static unsigned int  rnd = 20261201;


static unsigned char
next_byte(void)
{
    rnd = rnd * 1103515245 + 12345;
    return (unsigned char) (rnd >> 16);
}


static unsigned char *
be32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
    return p + 4;
}


/* SOI, an Exif APP1 of 1 KB, JFIF, SOF0, SOS, stuffed scan data, EOI */
static size_t
make_jpeg(unsigned char *f, size_t size)
{
    size_t          i;
    unsigned char  *p = f, c;

    memcpy(p, "\xff\xd8\xff\xe1\x04\x02" "Exif\0\0" "MM\0\x2a\0\0\0\x08"
           "\0\0", 22);
    p += 22;
    memset(p, 0, 1024 - 16);           /* an IFD0 of no entries, padding */
    p += 1024 - 16;
    memcpy(p, "\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
           "\x00\x00", 18);
    p += 18;
    memcpy(p, "\xff\xc0\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x00",
           13);
    p += 13;
    memcpy(p, "\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", 10);
    p += 10;

    for (i = 0; (size_t) (p - f) < size - 3; i++) {
        c = next_byte();
        *p++ = c;
        if (c == 0xff) {
            *p++ = 0x00;
        }
    }

    *p++ = 0xff;
    *p++ = 0xd9;

    return p - f;
}


/* ftyp, a moov whose udta holds 1 KB, one mdat of the rest */
static size_t
make_mp4(unsigned char *f, size_t size)
{
    size_t          i, rest;
    unsigned char  *p = f;

    memcpy(p, "\0\0\0\x18" "ftypisom" "\0\0\x02\0" "isomiso2", 24);
    p += 24;
    p = be32(p, 8 + 8 + 1024);
    memcpy(p, "moov", 4);
    p += 4;
    p = be32(p, 8 + 1024);
    memcpy(p, "udta", 4);
    p += 4;
    memset(p, 'u', 1024);
    p += 1024;
    rest = size - (p - f);
    p = be32(p, (uint32_t) rest);
    memcpy(p, "mdat", 4);
    p += 4;
    for (i = 8; i < rest; i++) {
        *p++ = next_byte();
    }

    return p - f;
}


/* the stripper over f in 16 KB pieces: seconds, or -1 if it refused */
static double
strip_once(const char *type, const unsigned char *f, size_t len, out_t *o)
{
    int          nomem;
    double       t0;
    size_t       off, n;
    pe_strip_t  *s;

    t0 = now();
    o->len = 0;
    s = pe_strip_new(type, strlen(type), on_strip, o, &nomem);
    if (s == NULL) {
        return -1;
    }

    for (off = 0; off < len; off += PIECE) {
        n = len - off < PIECE ? len - off : PIECE;

        if (pe_strip_feed(s, f + off, n) != PE_STRIP_OK) {
            fprintf(stderr, "%s: %s\n", type, pe_strip_error(s));
            pe_strip_free(s);
            return -1;
        }
    }

    if (pe_strip_finish(s) != PE_STRIP_OK) {
        fprintf(stderr, "%s: %s\n", type, pe_strip_error(s));
        pe_strip_free(s);
        return -1;
    }

    pe_strip_free(s);
    return now() - t0;
}


static int
bench_strip(void)
{
    int              r, k;
    size_t           len, off, n;
    double           t0, st[ROUNDS], ct[ROUNDS], cost;
    out_t            o;
    unsigned char   *f;
    const char      *types[] = { "image/jpeg", "video/mp4" };
    const char      *names[] = { "pe_strip JPEG (Exif out):",
                                 "pe_strip MP4 (udta out):" };

    f = malloc(16 * MB + 64);
    o.p = malloc(16 * MB + 64);

    printf("# the metadata stripper over a 16 MB file in 16 KB pieces, its "
           "output copied out, median of %d\n", ROUNDS);

    for (k = 0; k < 2; k++) {
        len = k == 0 ? make_jpeg(f, 16 * MB) : make_mp4(f, 16 * MB);

        for (r = 0; r < ROUNDS; r++) {
            st[r] = strip_once(types[k], f, len, &o);
            if (st[r] < 0) {
                return 1;
            }

            t0 = now();
            for (off = 0; off < len; off += PIECE) {
                n = len - off < PIECE ? len - off : PIECE;
                memcpy(o.p + off, f + off, n);
            }
            sink += o.p[len / 2];
            ct[r] = now() - t0;
        }

        cost = median(st);
        printf("%-34s %6.2f GB/s   %.1f us per MB, %.2fx a memcpy "
               "(%.2f GB/s)\n", names[k], len / cost / 1e9,
               cost / (len / (double) MB) * 1e6, cost / median(ct),
               len / median(ct) / 1e9);
    }

    free(f);
    free(o.p);

    return 0;
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
median(double *v)
{
    qsort(v, ROUNDS, sizeof(double), cmp);
    return v[ROUNDS / 2];
}


int
main(void)
{
    int              r;
    size_t           len, off, i, parts;
    double           t0, mp_t[ROUNDS], chr_t[ROUNDS], cpy_t[ROUNDS];
    double           mem_t[ROUNDS];
    char             delim[128];
    size_t           dlen;
    unsigned char   *body, *copy, *p;
    const char      *b = "----benchBoundary9f8e7d";
    pe_multipart_t   mp;
    unsigned int     seed = 20261122;

    parts = 16;
    body = malloc(parts * (MB + 256) + 64);
    copy = malloc(parts * (MB + 256) + 64);
    p = body;

    for (i = 0; i < parts; i++) {
        p += sprintf((char *) p, "--%s\r\nContent-Disposition: form-data; "
                     "name=\"f%zu\"; filename=\"a.png\"\r\nContent-Type: "
                     "image/png\r\n\r\n", b, i);
        for (off = 0; off < MB; off++) {
            seed = seed * 1103515245 + 12345;
            *p++ = (unsigned char) (seed >> 16);
        }
        *p++ = '\r';
        *p++ = '\n';
    }

    p += sprintf((char *) p, "--%s--\r\n", b);
    len = p - body;
    dlen = (size_t) snprintf(delim, sizeof(delim), "\r\n--%s", b);

    for (r = 0; r < ROUNDS; r++) {
        t0 = now();
        pe_multipart_init(&mp, (const unsigned char *) b, strlen(b), 0, &cb,
                          NULL);
        for (off = 0; off < len; off += PIECE) {
            size_t  n = len - off < PIECE ? len - off : PIECE;

            if (pe_multipart_feed(&mp, body + off, n) != PE_MP_OK) {
                fprintf(stderr, "parse failed: %s\n",
                        pe_multipart_error(&mp));
                return 1;
            }
        }
        if (pe_multipart_finish(&mp) != PE_MP_OK) {
            fprintf(stderr, "parse failed\n");
            return 1;
        }
        mp_t[r] = now() - t0;

        t0 = now();
        for (off = 0; off < len; off += PIECE) {
            size_t                n = len - off < PIECE ? len - off : PIECE;
            const unsigned char  *s = body + off, *e = s + n;

            while ((s = memchr(s, '\r', e - s)) != NULL) {
                sink++;
                s++;
            }
        }
        chr_t[r] = now() - t0;

        /* what the parser's scan replaced: a library substring search */
        t0 = now();
        for (off = 0; off < len; off += PIECE) {
            size_t                n = len - off < PIECE ? len - off : PIECE;
            const unsigned char  *s = body + off, *e = s + n;

            while ((s = memmem(s, e - s, delim, dlen)) != NULL) {
                sink++;
                s++;
            }
        }
        mem_t[r] = now() - t0;

        t0 = now();
        for (off = 0; off < len; off += PIECE) {
            size_t  n = len - off < PIECE ? len - off : PIECE;

            memcpy(copy + off, body + off, n);
        }
        sink += copy[len / 2];
        cpy_t[r] = now() - t0;
    }

    printf("# parsers over %zu MB of random file parts in 16 KB pieces, "
           "median of %d\n", len / MB, ROUNDS);
    printf("%-34s %6.2f GB/s\n", "memcpy (a copy nginx already makes):",
           len / median(cpy_t) / 1e9);
    printf("%-34s %6.2f GB/s\n", "memchr CR, every hit (lower bound):",
           len / median(chr_t) / 1e9);
    printf("%-34s %6.2f GB/s\n", "memmem of the delimiter:",
           len / median(mem_t) / 1e9);
    printf("%-34s %6.2f GB/s   %.1f us per MB\n", "pe_multipart_feed:",
           len / median(mp_t) / 1e9, median(mp_t) / (len / (double) MB) * 1e6);

    if (bench_strip() != 0) {
        return 1;
    }

    return sink == 42;
}
