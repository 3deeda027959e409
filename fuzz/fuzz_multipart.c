/*
 * libFuzzer target for the streaming multipart parser.
 *
 * Input: a boundary line, then the body.  Beyond "no crash, no overflow",
 * the oracle is split invariance: the body fed whole and fed in pieces
 * (sizes drawn from the input) must give the same callbacks in the same
 * order and the same verdict.  A parser that depends on where reads end
 * would judge a body differently from the backend behind it.  The body
 * fed whole is also run through the SSE2 delimiter scan where the AVX2
 * one would run: both must agree.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_multipart.h"


typedef struct {
    uint64_t  hash;
    size_t    events;
} trace_t;


static void
mix(trace_t *t, const void *p, size_t n)
{
    const unsigned char  *c = p;

    while (n--) {
        t->hash = (t->hash ^ *c++) * 1099511628211ULL;
    }
}


static int
on_begin(void *data, const pe_mp_part_t *part)
{
    trace_t  *t = data;

    mix(t, "B", 1);
    mix(t, part->name, part->name_len);
    mix(t, &part->is_file, sizeof(part->is_file));
    mix(t, part->type, part->type_len);
    t->events++;
    return 0;
}


static int
on_data(void *data, const unsigned char *p, size_t n)
{
    /* data may come in any pieces: hash the bytes, not the calls */
    mix(data, p, n);
    return 0;
}


static int
on_end(void *data)
{
    trace_t  *t = data;

    mix(t, "E", 1);
    t->events++;
    return 0;
}


static const pe_mp_callbacks_t  cb = { on_begin, on_data, on_end };


static int
run(const uint8_t *b, size_t blen, const uint8_t *body, size_t n,
    const uint8_t *cuts, size_t ncuts, int narrow, trace_t *t)
{
    size_t          off, step, i;
    pe_mp_rc_e      rc;
    pe_multipart_t  mp;

    memset(t, 0, sizeof(trace_t));
    t->hash = 1469598103934665603ULL;

    if (pe_multipart_init(&mp, b, blen, 8, &cb, t) != 0) {
        return -1;
    }

    if (narrow) {
        mp.avx2 = 0;
    }

    off = 0;
    i = 0;

    while (off < n) {
        step = ncuts ? (size_t) cuts[i++ % ncuts] + 1 : n - off;
        if (step > n - off) {
            step = n - off;
        }

        rc = pe_multipart_feed(&mp, body + off, step);
        if (rc != PE_MP_OK) {
            return (int) rc;
        }

        off += step;
    }

    return (int) pe_multipart_finish(&mp);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc1, rc2, rc3;
    size_t          blen, ncuts;
    trace_t         whole, split, narrow;
    const uint8_t  *nl, *body, *cuts;

    nl = memchr(data, '\n', size < 71 ? size : 71);
    if (nl == NULL || nl == data) {
        return 0;
    }

    blen = (size_t) (nl - data);
    body = nl + 1;
    size -= blen + 1;

    /* the first bytes of the body double as the piece sizes */
    cuts = body;
    ncuts = size < 16 ? size : 16;

    rc1 = run(data, blen, body, size, NULL, 0, 0, &whole);
    rc2 = run(data, blen, body, size, cuts, ncuts, 0, &split);
    rc3 = run(data, blen, body, size, NULL, 0, 1, &narrow);

    if (rc1 != rc2 || (rc1 == PE_MP_OK && (whole.hash != split.hash
                                           || whole.events != split.events)))
    {
        abort();
    }

    if (rc1 != rc3 || whole.hash != narrow.hash
        || whole.events != narrow.events)
    {
        abort();
    }

    return 0;
}
