
/*
 * privacy-edge: streaming multipart/form-data parser.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE         /* memmem, where there is no SIMD scan */
#endif

#include "pe_multipart.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) && defined(__SSE2__)
#define PE_MP_SIMD  1
#include <immintrin.h>
#endif


enum {
    PE_MP_S_PREAMBLE = 0,
    PE_MP_S_DATA,
    PE_MP_S_AFTER_DELIM,
    PE_MP_S_DELIM_PAD,
    PE_MP_S_DELIM_LF,
    PE_MP_S_CLOSE_DASH,
    PE_MP_S_HEADER,
    PE_MP_S_HEADER_LF,
    PE_MP_S_EPILOGUE,
    PE_MP_S_FAILED
};


static pe_mp_rc_e pe_mp_fail(pe_multipart_t *mp, const char *why);
static pe_mp_rc_e pe_mp_header_line(pe_multipart_t *mp);
static const unsigned char *pe_mp_find(const pe_multipart_t *mp,
    const unsigned char *p, const unsigned char *end);


int
pe_multipart_init(pe_multipart_t *mp, const unsigned char *boundary,
    size_t len, size_t max_parts, const pe_mp_callbacks_t *cb, void *data)
{
    size_t  i;

    memset(mp, 0, sizeof(pe_multipart_t));

    if (len == 0 || len > PE_BOUNDARY_MAX) {
        return -1;
    }

    /* RFC 2046 bchars: the scanner relies on the delimiter holding no CR
     * but its first byte */
    for (i = 0; i < len; i++) {
        if (!pe_is_bchar(boundary[i])) {
            return -1;
        }
    }

    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, len);
    mp->delim_len = 4 + len;

    /* the first delimiter may stand at the very start, without a CRLF */
    mp->match = 2;
    mp->state = PE_MP_S_PREAMBLE;
    mp->max_parts = max_parts ? max_parts : 256;
    mp->cb = cb;
    mp->data = data;

#if defined(PE_MP_SIMD) && (defined(__GNUC__) || defined(__clang__))
    mp->avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif

    return 0;
}


const char *
pe_multipart_error(const pe_multipart_t *mp)
{
    return mp->error ? mp->error : "";
}


static pe_mp_rc_e
pe_mp_fail(pe_multipart_t *mp, const char *why)
{
    mp->state = PE_MP_S_FAILED;
    mp->error = why;
    return PE_MP_ERROR;
}


static pe_mp_rc_e
pe_mp_emit(pe_multipart_t *mp, const unsigned char *p, size_t n)
{
    if (n == 0 || mp->cb == NULL || mp->cb->part_data == NULL) {
        return PE_MP_OK;
    }

    return mp->cb->part_data(mp->data, p, n) ? PE_MP_STOPPED : PE_MP_OK;
}


pe_mp_rc_e
pe_multipart_feed(pe_multipart_t *mp, const unsigned char *p, size_t n)
{
    int                   in_part;
    size_t                i;
    pe_mp_rc_e            rc;
    unsigned char         c;
    const unsigned char  *cr, *from, *end, *scan;

    i = 0;

    while (i < n) {

        switch (mp->state) {

        case PE_MP_S_PREAMBLE:
        case PE_MP_S_DATA:
            in_part = (mp->state == PE_MP_S_DATA);

            if (mp->match == 0) {
                /*
                 * Fast path: search the whole delimiter rather than stop
                 * at each CR (compressed media has one every 256 bytes or
                 * so).  The data up to a delimiter, or up to a partial
                 * one cut by the end of the input, goes out in one piece.
                 */
                from = p + i;
                end = p + n;

                cr = pe_mp_find(mp, from, end);

                if (cr == NULL) {
                    /* the last CR may start a delimiter cut by the end */
                    scan = end - from < (ptrdiff_t) mp->delim_len
                           ? from : end - mp->delim_len + 1;
                    cr = end;

                    while (scan < end
                           && (scan = memchr(scan, '\r', end - scan)))
                    {
                        if (memcmp(scan, mp->delim, end - scan) == 0) {
                            cr = scan;
                            break;
                        }

                        scan++;
                    }
                }

                if (in_part) {
                    rc = pe_mp_emit(mp, from, cr - from);
                    if (rc != PE_MP_OK) {
                        return rc;
                    }
                }

                i = cr - p;

                if (cr == end) {
                    break;
                }

                if ((size_t) (end - cr) < mp->delim_len) {
                    mp->match = end - cr;
                    i = n;
                    break;
                }

                /* a whole delimiter */
                i += mp->delim_len;
                mp->state = PE_MP_S_AFTER_DELIM;

                if (in_part && mp->cb && mp->cb->part_end
                    && mp->cb->part_end(mp->data))
                {
                    return PE_MP_STOPPED;
                }

                break;
            }

            c = p[i];

            if (c == mp->delim[mp->match]) {
                mp->match++;
                i++;

                if (mp->match < mp->delim_len) {
                    break;
                }

                mp->match = 0;
                mp->state = PE_MP_S_AFTER_DELIM;

                if (in_part && mp->cb && mp->cb->part_end
                    && mp->cb->part_end(mp->data))
                {
                    return PE_MP_STOPPED;
                }

                break;
            }

            /*
             * A partial delimiter was data after all.  The delimiter's
             * only CR is its first byte (bchars hold none), so the current
             * byte can start a new match only if it is a CR.
             */

            if (in_part && mp->state == PE_MP_S_DATA) {
                rc = pe_mp_emit(mp, mp->delim, mp->match);
                if (rc != PE_MP_OK) {
                    mp->match = 0;
                    return rc;
                }
            }

            mp->match = 0;

            if (c == '\r') {
                mp->match = 1;
                i++;
            }

            break;

        case PE_MP_S_AFTER_DELIM:
            c = p[i++];

            if (c == '-') {
                mp->state = PE_MP_S_CLOSE_DASH;

            } else if (c == '\r') {
                mp->state = PE_MP_S_DELIM_LF;

            } else if (c == ' ' || c == '\t') {
                mp->state = PE_MP_S_DELIM_PAD;

            } else {
                return pe_mp_fail(mp, "garbage after boundary");
            }

            break;

        case PE_MP_S_DELIM_PAD:
            c = p[i++];

            if (c == '\r') {
                mp->state = PE_MP_S_DELIM_LF;

            } else if (c != ' ' && c != '\t') {
                return pe_mp_fail(mp, "garbage after boundary");
            }

            break;

        case PE_MP_S_CLOSE_DASH:
            if (p[i++] != '-') {
                return pe_mp_fail(mp, "garbage after boundary");
            }

            mp->state = PE_MP_S_EPILOGUE;
            break;

        case PE_MP_S_DELIM_LF:
            if (p[i++] != '\n') {
                return pe_mp_fail(mp, "boundary line not ended by CRLF");
            }

            if (mp->parts == mp->max_parts) {
                return pe_mp_fail(mp, "too many parts");
            }

            memset(&mp->part, 0, sizeof(pe_mp_part_t));
            mp->part.index = mp->parts++;
            mp->line_len = 0;
            mp->headers_len = 0;
            mp->seen_disposition = 0;
            mp->state = PE_MP_S_HEADER;
            break;

        case PE_MP_S_HEADER:
            c = p[i++];

            if (++mp->headers_len > PE_MP_HEADERS_MAX) {
                return pe_mp_fail(mp, "part headers too large");
            }

            if (c == '\r') {
                mp->state = PE_MP_S_HEADER_LF;
                break;
            }

            if (c == '\n' || c == '\0') {
                return pe_mp_fail(mp, "bad byte in part header");
            }

            if (mp->line_len == PE_MP_LINE_MAX) {
                return pe_mp_fail(mp, "part header line too long");
            }

            mp->line[mp->line_len++] = c;
            break;

        case PE_MP_S_HEADER_LF:
            mp->headers_len++;

            if (p[i++] != '\n') {
                return pe_mp_fail(mp, "part header not ended by CRLF");
            }

            if (mp->line_len) {
                rc = pe_mp_header_line(mp);
                if (rc != PE_MP_OK) {
                    return rc;
                }

                mp->line_len = 0;
                mp->state = PE_MP_S_HEADER;
                break;
            }

            if (!mp->seen_disposition) {
                return pe_mp_fail(mp, "part without Content-Disposition");
            }

            /* a part's data starts right after its blank line */
            mp->state = PE_MP_S_DATA;
            mp->match = 0;

            if (mp->cb && mp->cb->part_begin
                && mp->cb->part_begin(mp->data, &mp->part))
            {
                return PE_MP_STOPPED;
            }

            break;

        case PE_MP_S_EPILOGUE:
            return PE_MP_OK;

        default: /* PE_MP_S_FAILED */
            return PE_MP_ERROR;
        }
    }

    return PE_MP_OK;
}


/*
 * The first whole delimiter in [p, end), or NULL.  A position is a
 * candidate only if it holds the delimiter's first byte (CR) and, a
 * delimiter's length on, its last byte: on media-like data one position
 * in 65536, and a CR-heavy or text body still fails the second test.
 * 64 or 128 positions are tested a step; the rest of each candidate is
 * compared in full, so what is found is exactly what a plain search
 * finds.  A comparison that goes k bytes deep has passed k bytes without
 * a CR, where no candidate can start: hostile input keeps the work linear.
 */

#ifdef PE_MP_SIMD

static const unsigned char *
pe_mp_find_tail(const pe_multipart_t *mp, const unsigned char *p,
    const unsigned char *end)
{
    size_t                len;
    const unsigned char  *stop;

    len = mp->delim_len;

    if ((size_t) (end - p) < len) {
        return NULL;
    }

    stop = end - len + 1;

    while (p < stop && (p = memchr(p, '\r', stop - p)) != NULL) {
        if (p[len - 1] == mp->delim[len - 1]
            && memcmp(p + 1, mp->delim + 1, len - 2) == 0)
        {
            return p;
        }

        p++;
    }

    return NULL;
}


/*
 * The first 128-byte block at or after p whose positions hold a
 * candidate, within the first "blocks" blocks; its candidates in *mask.
 * Apart from the verification so the loop keeps its registers (a call
 * would have them spilled and reloaded every step).
 */

__attribute__((target("avx2"), noinline))
static const unsigned char *
pe_mp_block_avx2(const unsigned char *p, size_t blocks, size_t len,
    unsigned char c_last, uint64_t mask[2])
{
    __m256i  first, last, m0, m1, m2, m3, any;

    first = _mm256_set1_epi8('\r');
    last = _mm256_set1_epi8((char) c_last);

#define pe_mp_cand(off)                                                     \
    _mm256_and_si256(                                                      \
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *) (p + off)), \
                          first),                                          \
        _mm256_cmpeq_epi8(_mm256_loadu_si256(                              \
                              (const __m256i *) (p + len - 1 + off)),      \
                          last))

    for ( /* void */ ; blocks; blocks--, p += 128) {
        m0 = pe_mp_cand(0);
        m1 = pe_mp_cand(32);
        m2 = pe_mp_cand(64);
        m3 = pe_mp_cand(96);

        any = _mm256_or_si256(_mm256_or_si256(m0, m1),
                              _mm256_or_si256(m2, m3));

        if (_mm256_testz_si256(any, any)) {
            continue;
        }

        mask[0] = (uint32_t) _mm256_movemask_epi8(m0)
                  | (uint64_t) (uint32_t) _mm256_movemask_epi8(m1) << 32;
        mask[1] = (uint32_t) _mm256_movemask_epi8(m2)
                  | (uint64_t) (uint32_t) _mm256_movemask_epi8(m3) << 32;

        return p;
    }

#undef pe_mp_cand

    return NULL;
}


static const unsigned char *
pe_mp_find_avx2(const pe_multipart_t *mp, const unsigned char *p,
    const unsigned char *end)
{
    size_t                len, blocks, half;
    uint64_t              mask[2], m;
    unsigned int          bit;
    const unsigned char  *q;

    len = mp->delim_len;

    /* whole blocks whose every candidate's delimiter ends in the input */
    if ((size_t) (end - p) < len - 1 + 128) {
        return pe_mp_find_tail(mp, p, end);
    }

    blocks = ((size_t) (end - p) - (len - 1)) / 128;

    while (blocks) {
        q = pe_mp_block_avx2(p, blocks, len, mp->delim[len - 1], mask);

        if (q == NULL) {
            p += blocks * 128;
            break;
        }

        for (half = 0; half < 2; half++) {
            for (m = mask[half]; m; m &= m - 1) {
                bit = (unsigned int) __builtin_ctzll(m) + half * 64;

                if (memcmp(q + bit + 1, mp->delim + 1, len - 2) == 0) {
                    return q + bit;
                }
            }
        }

        blocks -= (size_t) (q - p) / 128 + 1;
        p = q + 128;
    }

    return pe_mp_find_tail(mp, p, end);
}


/* the same in 64-byte blocks, with the SSE2 every x86-64 has */

__attribute__((noinline))
static const unsigned char *
pe_mp_block_sse2(const unsigned char *p, size_t blocks, size_t len,
    unsigned char c_last, uint64_t *mask)
{
    __m128i  first, last, m0, m1, m2, m3, any;

    first = _mm_set1_epi8('\r');
    last = _mm_set1_epi8((char) c_last);

#define pe_mp_cand(off)                                                     \
    _mm_and_si128(                                                         \
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (p + off)),       \
                       first),                                             \
        _mm_cmpeq_epi8(_mm_loadu_si128(                                    \
                           (const __m128i *) (p + len - 1 + off)),         \
                       last))

    for ( /* void */ ; blocks; blocks--, p += 64) {
        m0 = pe_mp_cand(0);
        m1 = pe_mp_cand(16);
        m2 = pe_mp_cand(32);
        m3 = pe_mp_cand(48);

        any = _mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3));

        if (_mm_movemask_epi8(any) == 0) {
            continue;
        }

        *mask = (uint64_t) (uint16_t) _mm_movemask_epi8(m0)
                | (uint64_t) (uint16_t) _mm_movemask_epi8(m1) << 16
                | (uint64_t) (uint16_t) _mm_movemask_epi8(m2) << 32
                | (uint64_t) (uint16_t) _mm_movemask_epi8(m3) << 48;

        return p;
    }

#undef pe_mp_cand

    return NULL;
}


static const unsigned char *
pe_mp_find_sse2(const pe_multipart_t *mp, const unsigned char *p,
    const unsigned char *end)
{
    size_t                len, blocks;
    uint64_t              m;
    const unsigned char  *q;

    len = mp->delim_len;

    if ((size_t) (end - p) < len - 1 + 64) {
        return pe_mp_find_tail(mp, p, end);
    }

    blocks = ((size_t) (end - p) - (len - 1)) / 64;

    while (blocks) {
        q = pe_mp_block_sse2(p, blocks, len, mp->delim[len - 1], &m);

        if (q == NULL) {
            p += blocks * 64;
            break;
        }

        for ( /* void */ ; m; m &= m - 1) {
            if (memcmp(q + __builtin_ctzll(m) + 1, mp->delim + 1, len - 2)
                == 0)
            {
                return q + __builtin_ctzll(m);
            }
        }

        blocks -= (size_t) (q - p) / 64 + 1;
        p = q + 64;
    }

    return pe_mp_find_tail(mp, p, end);
}

#endif


static const unsigned char *
pe_mp_find(const pe_multipart_t *mp, const unsigned char *p,
    const unsigned char *end)
{
#ifdef PE_MP_SIMD
    return mp->avx2 ? pe_mp_find_avx2(mp, p, end)
                    : pe_mp_find_sse2(mp, p, end);
#else
    return memmem(p, end - p, mp->delim, mp->delim_len);
#endif
}


pe_mp_rc_e
pe_multipart_finish(pe_multipart_t *mp)
{
    if (mp->state == PE_MP_S_EPILOGUE) {
        return PE_MP_OK;
    }

    if (mp->state == PE_MP_S_FAILED) {
        return PE_MP_ERROR;
    }

    return pe_mp_fail(mp, mp->parts ? "truncated body" : "no parts");
}


static pe_mp_rc_e
pe_mp_header_line(pe_multipart_t *mp)
{
    size_t            i, name_len;
    pe_media_type_t   mt;
    unsigned char    *line;

    line = mp->line;

    if (line[0] == ' ' || line[0] == '\t') {
        return pe_mp_fail(mp, "folded part header");
    }

    for (i = 0; i < mp->line_len && pe_is_tchar(line[i]); i++) {
        /* void */
    }

    name_len = i;

    if (name_len == 0 || i == mp->line_len || line[i] != ':') {
        return pe_mp_fail(mp, "malformed part header");
    }

    for (i++; i < mp->line_len && (line[i] == ' ' || line[i] == '\t'); i++) {
        /* void */
    }

    if (name_len == 19
        && strncasecmp((char *) line, "content-disposition", 19) == 0)
    {
        if (mp->seen_disposition) {
            return pe_mp_fail(mp, "duplicate Content-Disposition");
        }

        mp->seen_disposition = 1;

        if (pe_mp_parse_disposition(line + i, mp->line_len - i, &mp->part)
            != 0)
        {
            return pe_mp_fail(mp, "malformed Content-Disposition");
        }

        return PE_MP_OK;
    }

    if (name_len == 12
        && strncasecmp((char *) line, "content-type", 12) == 0)
    {
        if (mp->part.has_type) {
            return pe_mp_fail(mp, "duplicate part Content-Type");
        }

        if (pe_media_type_parse(line + i, mp->line_len - i, &mt) != 0) {
            return pe_mp_fail(mp, "malformed part Content-Type");
        }

        mp->part.has_type = 1;
        memcpy(mp->part.type, mt.type, mt.type_len + 1);
        mp->part.type_len = mt.type_len;

        return PE_MP_OK;
    }

    /*
     * An encoded part would be checked in its encoded form and decoded
     * behind the gate: only identity encodings pass.
     */

    if (name_len == 25
        && strncasecmp((char *) line, "content-transfer-encoding", 25) == 0)
    {
        size_t  vlen = mp->line_len - i;

        while (vlen && (line[i + vlen - 1] == ' '
                        || line[i + vlen - 1] == '\t'))
        {
            vlen--;
        }

        if (!((vlen == 6 && strncasecmp((char *) line + i, "binary", 6) == 0)
              || (vlen == 4 && strncasecmp((char *) line + i, "8bit", 4) == 0)
              || (vlen == 4 && strncasecmp((char *) line + i, "7bit", 4) == 0)))
        {
            return pe_mp_fail(mp, "encoded part");
        }
    }

    return PE_MP_OK;
}


int
pe_mp_parse_disposition(const unsigned char *p, size_t n, pe_mp_part_t *part)
{
    int            seen_name, seen_file, is_name, is_file;
    size_t         i, start, klen, vlen;
    unsigned char  c;

    seen_name = 0;
    seen_file = 0;

    if (n < 9 || strncasecmp((const char *) p, "form-data", 9) != 0) {
        return -1;
    }

    i = 9;

    for ( ;; ) {
        while (i < n && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }

        if (i == n) {
            break;
        }

        if (p[i++] != ';') {
            return -1;
        }

        while (i < n && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }

        start = i;

        while (i < n && pe_is_tchar(p[i])) {
            i++;
        }

        klen = i - start;

        if (klen == 0 || i == n || p[i] != '=') {
            return -1;
        }

        is_name = (klen == 4 && strncasecmp((char *) p + start, "name", 4)
                                == 0);
        is_file = ((klen == 8
                    && strncasecmp((char *) p + start, "filename", 8) == 0)
                   || (klen == 9
                       && strncasecmp((char *) p + start, "filename*", 9)
                          == 0));

        if ((is_name && seen_name) || (is_file && seen_file)) {
            return -1;                  /* ambiguous: which one counts? */
        }

        seen_name |= is_name;
        seen_file |= is_file;

        if (is_name) {
            part->name_len = 0;
        }

        i++;
        vlen = 0;

        if (i < n && p[i] == '"') {
            for (i++; ; i++) {
                if (i == n) {
                    return -1;
                }

                c = p[i];

                if (c == '"') {
                    i++;
                    break;
                }

                if (c == '\\' && i + 1 < n
                    && (p[i + 1] == '"' || p[i + 1] == '\\'))
                {
                    c = p[++i];
                }

                if (is_name && part->name_len < PE_MP_NAME_MAX) {
                    part->name[part->name_len++] = (char) c;
                }

                vlen++;
            }

        } else {
            for ( ; i < n && p[i] != ';' && p[i] != ' ' && p[i] != '\t';
                 i++)
            {
                if (p[i] == '"') {
                    return -1;
                }

                if (is_name && part->name_len < PE_MP_NAME_MAX) {
                    part->name[part->name_len++] = (char) p[i];
                }

                vlen++;
            }

            if (vlen == 0) {
                return -1;
            }
        }
    }

    if (!seen_name) {
        return -1;
    }

    part->name[part->name_len] = '\0';
    part->is_file = seen_file;

    return 0;
}
