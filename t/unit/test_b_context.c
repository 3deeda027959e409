
/*
 * Unit tests of the backend's Privacy-Context verification
 * (backend/context.c): the edge's own token shape accepted, and forged,
 * altered, expired, future, alg-swapped, malformed, truncated and
 * oversized tokens refused; no context valid for more than five minutes;
 * the Redis mark of a used jti.
 */

#include "tap.h"

#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "context.h"
#include "pe_jws.h"


static const unsigned char  key[] = "0123456789abcdef0123456789abcdef";
#define KLEN  32

/* {"alg":"HS256","typ":"JWT"}, as the edge writes it */
#define EDGE_HEADER  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


/* base64url, terminated */
static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
    size_t  o = pe_base64url(in, n, out);

    out[o] = '\0';

    return o;
}


/* header (JSON, or NULL for the edge's) . payload . HS256 with k */
static char *
token(const char *header, const char *payload, const unsigned char *k,
    size_t klen)
{
    static char     buf[8192];
    size_t          o;
    unsigned int    maclen;
    unsigned char   mac[64];

    if (header) {
        o = b64url((const unsigned char *) header, strlen(header), buf);
    } else {
        o = strlen(EDGE_HEADER);
        memcpy(buf, EDGE_HEADER, o);
    }

    buf[o++] = '.';
    o += b64url((const unsigned char *) payload, strlen(payload), buf + o);

    HMAC(EVP_sha256(), k, (int) klen, (unsigned char *) buf, o, mac, &maclen);

    buf[o++] = '.';
    b64url(mac, 32, buf + o);

    return buf;
}


static time_t  now = 1790000000;


static int
check(const char *tok, pe_context_t *c, char *err)
{
    return pe_context_verify(key, KLEN, tok, strlen(tok), now, c, err, 256);
}


static char *
claims(long long iat, long long exp, const char *rest)
{
    static char  buf[2048];

    snprintf(buf, sizeof(buf),
             "{\"sub\":\"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE\","
             "\"reg\":\"DE\",\"grp\":\"eea\","
             "\"con\":[\"necessary\",\"ai_processing\"],\"gpc\":false,"
             "\"iat\":%lld,\"exp\":%lld,\"jti\":\"0f3c\"%s}",
             iat, exp, rest);

    return buf;
}


int
main(void)
{
    char           err[256], *tok, *copy;
    size_t         i, len, bad;
    pe_context_t   c;

    /* the edge's token */
    tok = token(NULL, claims(now, now + 60, ""), key, KLEN);
    ok(check(tok, &c, err) == 0, "the edge's token verifies");
    is_str(c.sub, "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE",
           "... sub");
    is_str(c.reg, "DE", "... reg");
    is_str(c.grp, "eea", "... grp");
    is_str(c.jti, "0f3c", "... jti");
    is_int(c.ncon, 2, "... two categories");
    ok(pe_context_granted(&c, "ai_processing"), "... ai_processing granted");
    ok(!pe_context_granted(&c, "analytics"), "... analytics not granted");
    is_int(c.gpc, 0, "... gpc false");

    /* signatures */
    tok = token(NULL, claims(now, now + 60, ""),
                (const unsigned char *) "another key of thirty-two bytes!",
                32);
    ok(check(tok, &c, err) != 0, "another key: refused");
    is_str(err, "context signature is not valid", "... signature not valid");

    tok = token(NULL, claims(now, now + 60, ""), key, KLEN);
    copy = strdup(tok);
    copy[strlen(EDGE_HEADER) + 5] ^= 1;
    ok(check(copy, &c, err) != 0, "a payload altered after signing: "
                                  "refused");
    free(copy);

    /* every prefix of a valid token fails */
    tok = token(NULL, claims(now, now + 60, ""), key, KLEN);
    len = strlen(tok);

    for (i = 0, bad = 0; i < len; i++) {
        bad += pe_context_verify(key, KLEN, tok, i, now, &c, err, 256) == 0;
    }

    ok(bad == 0, "no truncation of the token verifies (%zu did)", bad);

    /* every single changed character fails */
    copy = strdup(tok);

    for (i = 0, bad = 0; i < len; i++) {
        char  was = copy[i];

        copy[i] = (was == 'A') ? 'B' : 'A';
        bad += check(copy, &c, err) == 0;
        copy[i] = was;
    }

    ok(bad == 0, "no changed character verifies (%zu did)", bad);
    free(copy);

    /* time */
    tok = token(NULL, claims(now - 200, now - 31, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "expired 31 s ago: refused");
    is_str(err, "context expired", "... as expired");
    tok = token(NULL, claims(now - 89, now - 29, ""), key, KLEN);
    ok(check(tok, &c, err) == 0, "expired 29 s ago: within the skew");
    tok = token(NULL, claims(now + 100, now + 160, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "issued 100 s in the future: refused");
    /* life: the edge's contexts live 60 s; five minutes at most */
    tok = token(NULL, claims(now, now + 300, ""), key, KLEN);
    ok(check(tok, &c, err) == 0, "valid for 300 s: accepted");
    tok = token(NULL, claims(now - 250, now + 51, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "valid for 301 s: refused");
    is_str(err, "context valid for more than 300 s", "... as valid too long");
    tok = token(NULL, claims(now, now + 365LL * 86400, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "valid for a year: refused");
    tok = token(NULL, claims(now, 9223372036854775807LL, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "exp the largest integer: refused");
    tok = token(NULL, claims(-9223372036854775807LL - 1, now, ""), key,
                KLEN);
    ok(check(tok, &c, err) != 0, "iat the smallest integer: refused");

    tok = token(NULL, "{\"sub\":\"x\",\"iat\":1790000000}", key, KLEN);
    ok(check(tok, &c, err) != 0, "no exp: refused");
    tok = token(NULL, "{\"sub\":\"x\",\"iat\":\"1790000000\","
                      "\"exp\":\"1790000060\"}", key, KLEN);
    ok(check(tok, &c, err) != 0, "exp as a string: refused");

    /* algorithms: only HS256, even when the HMAC matches */
    tok = token("{\"alg\":\"none\",\"typ\":\"JWT\"}",
                claims(now, now + 60, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "alg none: refused");
    tok = token("{\"alg\":\"HS512\"}", claims(now, now + 60, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "alg HS512: refused");
    tok = token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                claims(now, now + 60, ""), key, KLEN);
    ok(check(tok, &c, err) != 0, "a crit header: refused");
    tok = token("{\"alg\":\"HS256\"}", claims(now, now + 60, ""), key, KLEN);
    ok(check(tok, &c, err) == 0, "alg HS256 without typ: accepted");

    {
        char  unsigned_tok[4096];

        tok = token("{\"alg\":\"none\"}", claims(now, now + 60, ""), key,
                    KLEN);
        snprintf(unsigned_tok, sizeof(unsigned_tok), "%.*s.",
                 (int) (strrchr(tok, '.') - tok), tok);
        ok(check(unsigned_tok, &c, err) != 0,
           "an unsigned token (empty signature): refused");
    }

    /* claims */
    tok = token(NULL, "{\"iat\":1790000000,\"exp\":1790000060}", key, KLEN);
    ok(check(tok, &c, err) != 0, "no sub: refused");
    tok = token(NULL, "{\"sub\":\"\",\"iat\":1790000000,"
                      "\"exp\":1790000060}", key, KLEN);
    ok(check(tok, &c, err) != 0, "an empty sub (no privacy_subject at the "
                                 "edge): refused");
    is_str(err, "context has no subject", "... as no subject");
    tok = token(NULL, "{\"sub\":42,\"iat\":1790000000,\"exp\":1790000060}",
                key, KLEN);
    ok(check(tok, &c, err) != 0, "a numeric sub: refused");
    tok = token(NULL, "{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaa\",\"iat\":1790000000,"
                      "\"exp\":1790000060}", key, KLEN);
    ok(check(tok, &c, err) != 0, "a sub of 67 bytes: refused");
    tok = token(NULL, "{\"sub\":\"a\\u0000b\",\"iat\":1790000000,"
                      "\"exp\":1790000060}", key, KLEN);
    ok(check(tok, &c, err) != 0, "a sub with a NUL: refused");
    tok = token(NULL, claims(now, now + 60, ",\"sub\":\"other\""), key,
                KLEN);
    ok(check(tok, &c, err) != 0, "a second sub (duplicate key): refused");
    tok = token(NULL, "{\"sub\":\"x\",\"iat\":1790000000,"
                      "\"exp\":1790000060,\"con\":\"ai_processing\"}",
                key, KLEN);
    ok(check(tok, &c, err) != 0, "con as a string: refused");
    tok = token(NULL, "{\"sub\":\"x\",\"iat\":1790000000,"
                      "\"exp\":1790000060,\"con\":[1]}", key, KLEN);
    ok(check(tok, &c, err) != 0, "con with a number: refused");
    tok = token(NULL, "{\"sub\":\"x\",\"iat\":1790000000,"
                      "\"exp\":1790000060,\"gpc\":1}", key, KLEN);
    ok(check(tok, &c, err) != 0, "gpc as a number: refused");
    tok = token(NULL, "[1,2,3]", key, KLEN);
    ok(check(tok, &c, err) != 0, "a payload that is not an object: refused");

    /* shapes */
    ok(check("", &c, err) != 0, "an empty context: refused");
    ok(check("a.b", &c, err) != 0, "two parts: refused");
    ok(check("a.b.c.d", &c, err) != 0, "four parts: refused");
    tok = token(NULL, claims(now, now + 60, ""), key, KLEN);
    copy = malloc(strlen(tok) + 2);
    snprintf(copy, strlen(tok) + 2, "%s=", tok);
    ok(check(copy, &c, err) != 0, "a padded signature: refused");
    free(copy);

    copy = malloc(PE_CONTEXT_MAX + 2);
    memset(copy, 'A', PE_CONTEXT_MAX + 1);
    copy[10] = '.';
    copy[20] = '.';
    copy[PE_CONTEXT_MAX + 1] = '\0';
    ok(check(copy, &c, err) != 0, "a token over %d bytes: refused",
       PE_CONTEXT_MAX);
    is_str(err, "context too long", "... as too long");
    free(copy);

    /* the mark of a used jti: an HMAC under the key, never the jti */
    {
        char           m[PE_CONTEXT_MARK_LEN + 1] = "", m2[sizeof(m)] = "";
        char           want[sizeof(m)];
        unsigned int   maclen;
        unsigned char  mac[64];
        pe_context_t   a;

        memset(&a, 0, sizeof(a));
        strcpy(a.jti, "0f3c");
        ok(pe_context_mark(key, KLEN, &a, m, sizeof(m)) == 0, "a jti's mark");
        HMAC(EVP_sha256(), key, KLEN, (const unsigned char *) "jti:0f3c", 8,
             mac, &maclen);
        memcpy(want, "pe:ctx:", 7);
        b64url(mac, 32, want + 7);
        is_str(m, want, "... pe:ctx: and the HMAC of \"jti:\" and the jti");
        ok(strstr(m, "0f3c") == NULL, "... which is not in it");

        strcpy(a.jti, "0f3d");
        pe_context_mark(key, KLEN, &a, m2, sizeof(m2));
        ok(strcmp(m, m2) != 0, "another jti, another mark");
        strcpy(a.jti, "0f3c");
        pe_context_mark((const unsigned char *) "another key of thirty-two "
                        "bytes!", 32, &a, m2, sizeof(m2));
        ok(strcmp(m, m2) != 0, "another key, another mark");
        ok(pe_context_mark(key, KLEN, &a, m2, sizeof(m2) - 1) != 0,
           "a buffer too small: none");
        a.jti[0] = '\0';
        ok(pe_context_mark(key, KLEN, &a, m2, sizeof(m2)) != 0,
           "no jti: no mark");
    }

    return done_testing();
}
