/*
 * libFuzzer target for the metadata stripper: the first byte picks the
 * type, the rest is the file.  Oracles:
 *   - the same answer and output however the file is split;
 *   - what it leaves, stripped again, comes out unchanged, nothing
 *     removed: stripping twice is stripping once, and its output parses;
 *   - formats that neutralise in place (WebP, ISO BMFF) keep the size;
 *     the others only ever take bytes out.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_strip.h"


static const char  *types[] = {
    "image/jpeg", "image/png", "image/webp", "image/heic", "video/mp4",
    "video/quicktime"
};


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          cap;
} buf_t;


static int
out(void *data, const unsigned char *p, size_t n)
{
    buf_t  *b = data;

    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);

        if (b->p == NULL) {
            abort();
        }
    }

    memcpy(b->p + b->len, p, n);
    b->len += n;

    return 0;
}


/* the file in pieces cut at the given points; the answer, the output */
static int
strip(const char *type, const uint8_t *p, size_t n, size_t cut1,
    size_t cut2, buf_t *b, unsigned *removed)
{
    int          rc, nomem;
    pe_strip_t  *s;

    s = pe_strip_new(type, strlen(type), out, b, &nomem);
    if (s == NULL) {
        abort();
    }

    rc = pe_strip_feed(s, p, cut1);

    if (rc == PE_STRIP_OK) {
        rc = pe_strip_feed(s, p + cut1, cut2 - cut1);
    }

    if (rc == PE_STRIP_OK) {
        rc = pe_strip_feed(s, p + cut2, n - cut2);
    }

    if (rc == PE_STRIP_OK) {
        rc = pe_strip_finish(s);
    }

    if (rc == PE_STRIP_ERROR && pe_strip_error(s)[0] == '\0') {
        abort();                    /* a refusal always says why */
    }

    *removed = pe_strip_removed(s);
    pe_strip_free(s);

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc1, rc2, rc3;
    size_t       cut1, cut2;
    buf_t        a, b, c;
    unsigned     r1, r2, r3;
    const char  *type;

    if (size < 1) {
        return 0;
    }

    type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    data++;
    size--;

    memset(&a, 0, sizeof(buf_t));
    memset(&b, 0, sizeof(buf_t));
    memset(&c, 0, sizeof(buf_t));

    /* whole, then in three pieces cut where the bytes say */
    rc1 = strip(type, data, size, size, size, &a, &r1);

    cut1 = size ? (data[size - 1] * 7919u) % (size + 1) : 0;
    cut2 = cut1 + (size - cut1) / 2;
    rc2 = strip(type, data, size, cut1, cut2, &b, &r2);

    if (rc1 != rc2 || r1 != r2 || a.len != b.len
        || (a.len && memcmp(a.p, b.p, a.len) != 0))
    {
        abort();
    }

    if (rc1 == PE_STRIP_OK) {
        if (strcmp(type, "image/jpeg") == 0
            || strcmp(type, "image/png") == 0)
        {
            if (a.len > size) {
                abort();
            }

        } else if (a.len != size) {
            abort();
        }

        rc3 = strip(type, a.p, a.len, a.len / 3, a.len / 2, &c, &r3);

        if (rc3 != PE_STRIP_OK || r3 != 0 || c.len != a.len
            || (a.len && memcmp(a.p, c.p, a.len) != 0))
        {
            abort();
        }
    }

    free(a.p);
    free(b.p);
    free(c.p);

    return 0;
}
