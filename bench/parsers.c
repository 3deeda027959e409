/*
 * The pure parsers' speed, side by side with what they cannot beat: a
 * memchr pass and a memcpy of the same bytes.  Input: 1 MB random-looking
 * file parts (CR bytes all through them, as in compressed media), fed in
 * 16 KB pieces as nginx hands them over.  Prints GB/s, median of rounds.
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pe_multipart.h"
#include "pe_sniff.h"


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
    printf("%-34s %6.2f GB/s   %.1f us per MB\n", "pe_multipart_feed:",
           len / median(mp_t) / 1e9, median(mp_t) / (len / (double) MB) * 1e6);

    return sink == 42;
}
