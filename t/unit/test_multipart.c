
/*
 * Unit tests of the streaming multipart parser and the Content-Type parser:
 * well-formed bodies split at every byte, and malformed, truncated and
 * hostile ones.
 */

#include "tap.h"

#include <stdlib.h>

#include "pe_media_type.h"
#include "pe_multipart.h"


/* a transcript of the callbacks, compared across ways of feeding a body */
typedef struct {
    char    log[1 << 16];
    size_t  len;
    int     stop_at_part;       /* -1: never */
} recorder_t;


static void
rec_append(recorder_t *r, const char *s, size_t n)
{
    if (r->len + n < sizeof(r->log)) {
        memcpy(r->log + r->len, s, n);
        r->len += n;
        r->log[r->len] = '\0';
    }
}


static int
rec_begin(void *data, const pe_mp_part_t *part)
{
    recorder_t  *r = data;
    char         buf[512];
    int          n;

    n = snprintf(buf, sizeof(buf), "[%zu name=%s file=%d type=%s]",
                 part->index, part->name, part->is_file,
                 part->has_type ? part->type : "-");
    rec_append(r, buf, (size_t) n);

    return r->stop_at_part == (int) part->index;
}


static int
rec_data(void *data, const unsigned char *p, size_t n)
{
    rec_append(data, (const char *) p, n);
    return 0;
}


static int
rec_end(void *data)
{
    rec_append(data, "[end]", 5);
    return 0;
}


static const pe_mp_callbacks_t  rec_cb = { rec_begin, rec_data, rec_end };


/* 1: run() scans 16 bytes at a time even where the wider scan can run */
static int  narrow;


/* feeds body in pieces cut at the given positions; returns final rc */
static pe_mp_rc_e
run(const char *boundary, const char *body, size_t len, const size_t *cuts,
    size_t ncuts, recorder_t *r, const char **err)
{
    size_t          i, from, to;
    pe_mp_rc_e      rc;
    pe_multipart_t  mp;

    memset(r, 0, sizeof(recorder_t));
    r->stop_at_part = -1;

    if (pe_multipart_init(&mp, (const unsigned char *) boundary,
                          strlen(boundary), 0, &rec_cb, r) != 0)
    {
        *err = "init";
        return PE_MP_ERROR;
    }

    if (narrow) {
        mp.avx2 = 0;
    }

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        rc = pe_multipart_feed(&mp, (const unsigned char *) body + from,
                               to - from);
        if (rc != PE_MP_OK) {
            *err = pe_multipart_error(&mp);
            return rc;
        }
        from = to;
    }

    rc = pe_multipart_finish(&mp);
    *err = pe_multipart_error(&mp);

    return rc;
}


static pe_mp_rc_e
run_whole(const char *boundary, const char *body, recorder_t *r,
    const char **err)
{
    return run(boundary, body, strlen(body), NULL, 0, r, err);
}


#define B "----pe7MA4YWxkTrZu0gW"
#define P "----pe7MA4YWxkTrZu0g"     /* all of B but its last byte */

static const char  *good_body =
    "preamble is ignored\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"prompt\"\r\n"
    "\r\n"
    "a cat in \r\n--" P "x-ish\r\r\n-- the rain\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"c.png\"\r\n"
    "Content-Type: Image/PNG\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n\r\n-\r\n--\r\n--" P "\r\n"
    "--" B "  \r\n"
    "content-disposition: form-data; name=empty; filename=e.bin\r\n"
    "\r\n"
    "\r\n"
    "--" B "--\r\n"
    "epilogue is ignored too\r\n";

static const char  *good_log =
    "[0 name=prompt file=0 type=-]a cat in \r\n--" P "x-ish\r\r\n-- the rain"
    "[end]"
    "[1 name=file file=1 type=image/png]\x89PNG\r\n\x1a\n\r\n-\r\n--\r\n--"
    P "[end]"
    "[2 name=empty file=1 type=-][end]";


static void
test_well_formed(void)
{
    size_t       len, i, j, cuts[2];
    int          all_same;
    recorder_t   r, whole;
    const char  *err;

    len = strlen(good_body);

    /* the body holds CRLF "--" and all but the last byte of B: data */
    is_int(run_whole(B, good_body, &whole, &err), PE_MP_OK,
           "well-formed body parses (%s)", err);
    is_str(whole.log, good_log, "parts, names, types and data are exact");

    all_same = 1;

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        if (run(B, good_body, len, cuts, 1, &r, &err) != PE_MP_OK
            || strcmp(r.log, whole.log) != 0)
        {
            all_same = 0;
            printf("# differs when cut at %zu\n", i);
            break;
        }
    }

    ok(all_same, "same result with the body cut at every byte (%zu cuts)",
       len + 1);

    all_same = 1;

    for (i = 0; i <= len && all_same; i += 7) {
        for (j = i; j <= len; j += 3) {
            cuts[0] = i;
            cuts[1] = j;
            if (run(B, good_body, len, cuts, 2, &r, &err) != PE_MP_OK
                || strcmp(r.log, whole.log) != 0)
            {
                all_same = 0;
                printf("# differs when cut at %zu and %zu\n", i, j);
                break;
            }
        }
    }

    ok(all_same, "same result with the body cut in three anywhere");

    {
        size_t  *bytes = malloc(len * sizeof(size_t));

        for (i = 0; i < len; i++) {
            bytes[i] = i + 1;
        }

        ok(run(B, good_body, len, bytes, len - 1, &r, &err) == PE_MP_OK
           && strcmp(r.log, whole.log) == 0, "same result fed byte by byte");
        free(bytes);
    }
}


static void
expect_error(const char *body, const char *why, const char *name)
{
    recorder_t   r;
    const char  *err;

    is_int(run_whole(B, body, &r, &err), PE_MP_ERROR, "%s is refused", name);
    is_str(err, why, "%s: reason", name);
}


static void
test_malformed(void)
{
    char         big[PE_MP_HEADERS_MAX + 512], *p;
    size_t       i;
    recorder_t   r;
    const char  *err;

    expect_error("", "no parts", "empty body");
    expect_error("no delimiter here at all", "no parts", "body w/o boundary");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
                 "truncated body", "body without close delimiter");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n",
                 "truncated body", "body cut in the headers");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                 "x\r\n--" B, "truncated body", "body cut after a boundary");
    expect_error("--" B "\nContent-Disposition: form-data; name=a\n\nx\n--"
                 B "--", "garbage after boundary", "bare LF");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "\r\nx\r\n--" B "x-ish\r\n--" B "--",
                 "garbage after boundary",
                 "the whole boundary inside data, then other bytes");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "\r\nx\r\n--" B "\rx", "boundary line not ended by CRLF",
                 "a boundary line ended by CR alone");
    expect_error("--" B "\r\nContent-Type: image/png\r\n\r\nx\r\n--" B "--",
                 "part without Content-Disposition", "no disposition");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 " ; filename=x\r\n\r\nx\r\n--" B "--",
                 "folded part header", "folded header");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "Content-Type: image/png\r\nContent-Type: text/plain\r\n\r\n"
                 "x\r\n--" B "--", "duplicate part Content-Type",
                 "two Content-Types");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "Content-Disposition: form-data; name=b\r\n\r\n"
                 "x\r\n--" B "--", "duplicate Content-Disposition",
                 "two dispositions");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a; "
                 "filename=x; filename=y\r\n\r\nx\r\n--" B "--",
                 "malformed Content-Disposition", "two filenames");
    expect_error("--" B "\r\nContent-Disposition: attachment; name=a\r\n\r\n"
                 "x\r\n--" B "--", "malformed Content-Disposition",
                 "not form-data");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=\"a\r\n"
                 "\r\nx\r\n--" B "--", "malformed Content-Disposition",
                 "unterminated quote");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "Content-Type: image/png; x=\"\r\n\r\nx\r\n--" B "--",
                 "malformed part Content-Type", "bad part Content-Type");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\niVBO\r\n--" B "--",
                 "encoded part", "base64 part");
    expect_error("--" B "X\r\n", "garbage after boundary",
                 "garbage after the first boundary");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                 "x\r\n--" B "-x", "garbage after boundary",
                 "half a close delimiter");
    expect_error("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "Bad Header: x\r\n\r\nx\r\n--" B "--",
                 "malformed part header", "header name with a space");
    {
        static const char  nul[] = "--" B "\r\nContent-Disposition: "
                                   "form-data; name=a\r\nX: a\0b\r\n\r\n"
                                   "x\r\n--" B "--";

        is_int(run(B, nul, sizeof(nul) - 1, NULL, 0, &r, &err), PE_MP_ERROR,
               "a NUL byte in a part header is refused");
        is_str(err, "bad byte in part header", "NUL byte: reason");
    }

    /* huge part headers: many short lines, then one very long line */
    p = big;
    p += sprintf(p, "--" B "\r\nContent-Disposition: form-data; name=a\r\n");
    for (i = 0; p - big < PE_MP_HEADERS_MAX + 400; i++) {
        p += sprintf(p, "X-Pad-%04zu: yyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n", i);
    }
    sprintf(p, "\r\nx\r\n--" B "--");
    expect_error(big, "part headers too large", "8 KiB of part headers");

    p = big;
    p += sprintf(p, "--" B "\r\nContent-Disposition: form-data; name=a\r\n"
                 "X-Long: ");
    memset(p, 'a', PE_MP_LINE_MAX + 10);
    p += PE_MP_LINE_MAX + 10;
    sprintf(p, "\r\n\r\nx\r\n--" B "--");
    expect_error(big, "part header line too long", "one 1 KiB header line");

    {
        pe_multipart_t  mp;
        char            part[256];
        int             n;

        memset(&r, 0, sizeof(r));
        r.stop_at_part = -1;
        pe_multipart_init(&mp, (const unsigned char *) B, strlen(B), 3,
                          &rec_cb, &r);
        n = snprintf(part, sizeof(part), "--" B "\r\nContent-Disposition: "
                     "form-data; name=a\r\n\r\nx\r\n");
        for (i = 0; i < 3; i++) {
            pe_multipart_feed(&mp, (unsigned char *) part, (size_t) n);
        }
        ok(pe_multipart_feed(&mp, (unsigned char *) part, (size_t) n)
           == PE_MP_ERROR && strcmp(pe_multipart_error(&mp),
                                    "too many parts") == 0,
           "a fourth part is refused when max_parts is 3");
        ok(pe_multipart_feed(&mp, (unsigned char *) "x", 1) == PE_MP_ERROR,
           "a failed parser stays failed");
    }

    {
        pe_multipart_t  mp;
        const char     *body = "--" B "\r\nContent-Disposition: form-data; "
                               "name=a; filename=b\r\n\r\nxyz\r\n--" B "--";

        memset(&r, 0, sizeof(r));
        r.stop_at_part = 0;
        pe_multipart_init(&mp, (const unsigned char *) B, strlen(B), 0,
                          &rec_cb, &r);
        is_int(pe_multipart_feed(&mp, (const unsigned char *) body,
                                 strlen(body)), PE_MP_STOPPED,
               "a callback can stop the parser at a part's headers");
        is_str(r.log, "[0 name=a file=1 type=-]",
               "nothing of the part's data was given after stop");
    }

    {
        pe_multipart_t  mp;
        char            longb[80];

        memset(longb, 'b', sizeof(longb));
        ok(pe_multipart_init(&mp, (unsigned char *) longb, 71, 0, NULL, NULL)
           == -1, "a 71-byte boundary is refused");
        ok(pe_multipart_init(&mp, (unsigned char *) longb, 0, 0, NULL, NULL)
           == -1, "an empty boundary is refused");
        ok(pe_multipart_init(&mp, (unsigned char *) longb, 70, 0, NULL, NULL)
           == 0, "a 70-byte boundary is fine");
        ok(pe_multipart_init(&mp, (unsigned char *) "a\rb", 3, 0, NULL, NULL)
           == -1, "a boundary holding a CR is refused");
        ok(pe_multipart_init(&mp, (unsigned char *) "a\"b", 3, 0, NULL, NULL)
           == -1, "a boundary holding a quote is refused");
    }
}


/*
 * The delimiter search tests 16 or 64 positions a step for the
 * delimiter's first and last bytes: a delimiter at every offset from
 * those steps, cut across two and three pieces, behind data built to pass
 * that test without being a delimiter (near misses, CR and '-' runs, a CR
 * with the last byte a delimiter's length on).
 */

static const char  *fillers[] = {
    "\r\n--" P "X\r\n--bounX\r\r\r\r--------\rxxxxxxxxxxxxxxxxxxxxxxxW"
        "\r\n-\r\n--W\rW\r\nW--" P,
    "\r",
    "-",
    "\r\n-",
    "\r\n--",
    "\rxxxxxxxxxxxxxxxxxxxxxxxW",
};


static size_t
scan_body(char *body, char *want, size_t filler, size_t n)
{
    size_t       i, len, flen;
    const char  *f, *head;

    head = "--" B "\r\nContent-Disposition: form-data; name=f; "
           "filename=a\r\n\r\n";
    f = fillers[filler];
    flen = strlen(f);

    len = strlen(head);
    memcpy(body, head, len);

    for (i = 0; i < n; i++) {
        body[len + i] = f[i % flen];
    }

    len += n;
    memcpy(body + len, "\r\n--" B "--\r\n", sizeof("\r\n--" B "--\r\n"));
    len += sizeof("\r\n--" B "--\r\n") - 1;

    i = sprintf(want, "[0 name=f file=1 type=-]");
    memcpy(want + i, body + strlen(head), n);
    memcpy(want + i + n, "[end]", sizeof("[end]"));

    return len;
}


static int
scan_same(const char *body, size_t len, const size_t *cuts, size_t ncuts,
    const char *want)
{
    int          w;
    recorder_t   r;
    const char  *err;

    for (w = 0; w < 2; w++) {
        narrow = w;

        if (run(B, body, len, cuts, ncuts, &r, &err) != PE_MP_OK
            || r.len != strlen(want) || memcmp(r.log, want, r.len) != 0)
        {
            narrow = 0;
            return 0;
        }
    }

    narrow = 0;
    return 1;
}


static void
test_scan(void)
{
    char     *body, *want;
    size_t    f, n, len, i, j, cuts[2];
    int       good;

    body = malloc(8192);
    want = malloc(8192);

    for (f = 0; f < sizeof(fillers) / sizeof(fillers[0]); f++) {
        good = 1;

        for (n = 0; n <= 300 && good; n++) {
            len = scan_body(body, want, f, n);
            good = scan_same(body, len, NULL, 0, want);
            if (!good) {
                printf("# filler %zu: differs with %zu data bytes\n", f, n);
            }
        }

        ok(good, "filler %zu: a delimiter after 0 to 300 data bytes", f);

        /* a delimiter and its prefixes at each end of a piece */
        good = 1;

        for (n = 60; n <= 200 && good; n += 7) {
            len = scan_body(body, want, f, n);

            for (i = 0; i <= len && good; i++) {
                cuts[0] = i;
                good = scan_same(body, len, cuts, 1, want);
                if (!good) {
                    printf("# filler %zu, %zu bytes: differs cut at %zu\n",
                           f, n, i);
                }
            }
        }

        ok(good, "filler %zu: cut in two at every byte", f);

        good = 1;
        n = 130;
        len = scan_body(body, want, f, n);

        for (i = 0; i <= len && good; i++) {
            for (j = i; j <= len && good; j++) {
                cuts[0] = i;
                cuts[1] = j;
                good = scan_same(body, len, cuts, 2, want);
                if (!good) {
                    printf("# filler %zu: differs cut at %zu and %zu\n",
                           f, i, j);
                }
            }
        }

        ok(good, "filler %zu: cut in three at every pair of bytes", f);

        len = scan_body(body, want, f, 5000);
        ok(scan_same(body, len, NULL, 0, want),
           "filler %zu: 5000 data bytes in one piece", f);
    }

    /*
     * All of the delimiter but its last byte ends a piece, and the next
     * piece does not finish it: data after all (the final CRLF is held
     * back as a possible delimiter, and the body is truncated).
     */
    len = scan_body(body, want, 0, 100);
    len -= sizeof("W--\r\n") - 1;
    for (i = 0; i < 2; i++) {
        recorder_t      r;
        pe_multipart_t  mp;

        memset(&r, 0, sizeof(r));
        r.stop_at_part = -1;
        pe_multipart_init(&mp, (const unsigned char *) B, strlen(B), 0,
                          &rec_cb, &r);
        if (i) {
            mp.avx2 = 0;
        }
        ok(pe_multipart_feed(&mp, (const unsigned char *) body, len)
           == PE_MP_OK
           && pe_multipart_feed(&mp, (const unsigned char *) "X--\r\n", 5)
              == PE_MP_OK
           && pe_multipart_finish(&mp) == PE_MP_ERROR
           && r.len == strlen(want) - 5 + sizeof("\r\n--" P "X--") - 1
           && memcmp(r.log + strlen(want) - 5, "\r\n--" P "X--",
                     sizeof("\r\n--" P "X--") - 1) == 0,
           "a prefix of the delimiter ending a piece is data when the next "
           "byte differs (%s)", i ? "narrow" : "wide");
    }

    free(body);
    free(want);
}


static void
test_media_type(void)
{
    pe_media_type_t  mt;

#define MT(s) pe_media_type_parse((const unsigned char *) s, strlen(s), &mt)

    ok(MT("multipart/form-data; boundary=" B) == 0
       && strcmp(mt.type, "multipart/form-data") == 0
       && strcmp(mt.boundary, B) == 0, "form-data with a token boundary");
    ok(MT("Multipart/Form-Data ;BOUNDARY=\"a b'c\"; charset=utf-8") == 0
       && strcmp(mt.type, "multipart/form-data") == 0
       && strcmp(mt.boundary, "a b'c") == 0,
       "quoted boundary, odd case and spacing");
    ok(MT("image/png") == 0 && mt.boundary_len == 0
       && strcmp(mt.type, "image/png") == 0, "a plain type");
    ok(MT("  image/png ; ") == 0, "white space and a trailing ';'");
    ok(MT("image/png; q=\"a\\\"b\"") == 0, "a quoted-pair in a parameter");
    ok(MT("") == -1, "empty");
    ok(MT("image") == -1, "no slash");
    ok(MT("/png") == -1, "no type");
    ok(MT("image/") == -1, "no subtype");
    ok(MT("image/png/x") == -1, "two slashes");
    ok(MT("image/p\xc3\xa9g") == -1, "non-ASCII in the type");
    ok(MT("image/png; x") == -1, "parameter without a value");
    ok(MT("image/png; x=") == -1, "parameter with an empty value");
    ok(MT("image/png; x=\"abc") == -1, "unterminated quoted value");
    ok(MT("image/png x") == -1, "garbage after the type");
    ok(MT("multipart/form-data; boundary=a; boundary=b") == -1,
       "two boundaries");
    ok(MT("multipart/form-data; boundary=\"a\rb\"") == -1,
       "CR in a boundary");
    ok(MT("multipart/form-data; boundary=\"ab \"") == -1,
       "boundary ending in a space");
    ok(MT("multipart/form-data; boundary="
          "01234567890123456789012345678901234567890123456789012345678901234"
          "567890") == -1, "a 71-byte boundary");

    {
        char  t[300];

        memset(t, 'a', sizeof(t));
        t[5] = '/';
        t[299] = '\0';
        ok(MT(t) == -1, "a 299-byte type");
    }

    ok(pe_media_type_match("image/*", 7, "image/png", 9), "image/* matches");
    ok(!pe_media_type_match("image/*", 7, "video/mp4", 9),
       "image/* does not match video");
    ok(!pe_media_type_match("image/*", 7, "image/", 6),
       "image/* needs a subtype");
    ok(!pe_media_type_match("image/*", 7, "imagex/png", 10),
       "image/* is not a prefix match");
    ok(pe_media_type_match("*/*", 3, "video/mp4", 9), "*/* matches all");
    ok(pe_media_type_match("video/mp4", 9, "video/mp4", 9), "exact");
    ok(!pe_media_type_match("video/mp4", 9, "video/mp4x", 10),
       "exact is exact");
#undef MT
}


int
main(void)
{
    test_well_formed();
    test_malformed();
    test_scan();
    test_media_type();

    return done_testing();
}
