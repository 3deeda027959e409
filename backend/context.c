/*
 * privacy-backend: verifying the edge's signed context (see context.h).
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "context.h"
#include "pe_jws.h"


static void
pe_context_error(char *err, size_t errlen, const char *reason)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s", reason);
    }
}


/* a string claim into buf; absent is "" when optional */
static int
pe_claim_string(json_t *payload, const char *name, char *buf, size_t size,
    int required)
{
    json_t      *v;
    const char  *s;
    size_t       len;

    v = json_object_get(payload, name);

    if (v == NULL) {
        buf[0] = '\0';
        return required ? -1 : 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len >= size || memchr(s, '\0', len) != NULL) {
        return -1;
    }

    memcpy(buf, s, len + 1);

    return 0;
}


int
pe_context_verify(const unsigned char *key, size_t klen, const char *token,
    size_t len, time_t now, pe_context_t *out, char *err, size_t errlen)
{
    long            n;
    size_t          i, hlen, plen, slen;
    json_t         *header, *payload, *v, *item;
    const char     *dot1, *dot2;
    unsigned int    maclen;
    unsigned char   mac[EVP_MAX_MD_SIZE], sig[64], buf[PE_CONTEXT_MAX];

    memset(out, 0, sizeof(pe_context_t));

    if (token == NULL || len == 0) {
        pe_context_error(err, errlen, "no context");
        return -1;
    }

    if (len > PE_CONTEXT_MAX) {
        pe_context_error(err, errlen, "context too long");
        return -1;
    }

    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;

    if (dot1 == NULL || dot2 == NULL
        || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
    {
        pe_context_error(err, errlen, "context is not a compact JWS");
        return -1;
    }

    hlen = dot1 - token;
    plen = dot2 - dot1 - 1;
    slen = len - (dot2 + 1 - token);

    /* the signature first: nothing unsigned is parsed */

    n = pe_base64url_decode(dot2 + 1, slen, sig, sizeof(sig));

    if (n != 32
        || HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) token,
                hlen + 1 + plen, mac, &maclen) == NULL
        || maclen != 32
        || CRYPTO_memcmp(mac, sig, 32) != 0)
    {
        pe_context_error(err, errlen, "context signature is not valid");
        return -1;
    }

    /* a valid signature over a header that says another algorithm is
     * still refused: only HS256 is ever accepted */

    n = pe_base64url_decode(token, hlen, buf, sizeof(buf));
    header = n > 0 ? json_loadb((const char *) buf, (size_t) n,
                                JSON_REJECT_DUPLICATES, NULL)
                   : NULL;

    if (header == NULL || !json_is_object(header)
        || !json_is_string(json_object_get(header, "alg"))
        || strcmp(json_string_value(json_object_get(header, "alg")), "HS256")
           != 0
        || json_object_get(header, "crit") != NULL
        || ((v = json_object_get(header, "typ")) != NULL
            && (!json_is_string(v) || strcmp(json_string_value(v), "JWT"))))
    {
        json_decref(header);
        pe_context_error(err, errlen, "context header is not HS256 JWT");
        return -1;
    }

    json_decref(header);

    n = pe_base64url_decode(dot1 + 1, plen, buf, sizeof(buf));
    payload = n > 0 ? json_loadb((const char *) buf, (size_t) n,
                                 JSON_REJECT_DUPLICATES, NULL)
                    : NULL;

    if (payload == NULL || !json_is_object(payload)) {
        json_decref(payload);
        pe_context_error(err, errlen, "context payload is not JSON");
        return -1;
    }

    if (!json_is_integer(json_object_get(payload, "exp"))
        || !json_is_integer(json_object_get(payload, "iat")))
    {
        json_decref(payload);
        pe_context_error(err, errlen, "context has no exp or iat");
        return -1;
    }

    out->exp = json_integer_value(json_object_get(payload, "exp"));
    out->iat = json_integer_value(json_object_get(payload, "iat"));

    if ((long long) now - PE_CONTEXT_SKEW > out->exp) {
        json_decref(payload);
        pe_context_error(err, errlen, "context expired");
        return -1;
    }

    if (out->iat > (long long) now + PE_CONTEXT_SKEW || out->exp < out->iat) {
        json_decref(payload);
        pe_context_error(err, errlen, "context issued in the future");
        return -1;
    }

    /* the edge's live a minute; a longer life only serves a replay (iat
     * is bounded above by now, so the sum cannot overflow) */
    if (out->exp > out->iat + PE_CONTEXT_LIFE) {
        json_decref(payload);
        pe_context_error(err, errlen, "context valid for more than 300 s");
        return -1;
    }

    if (pe_claim_string(payload, "sub", out->sub, sizeof(out->sub), 1) != 0
        || out->sub[0] == '\0')
    {
        json_decref(payload);
        pe_context_error(err, errlen, "context has no subject");
        return -1;
    }

    if (pe_claim_string(payload, "reg", out->reg, sizeof(out->reg), 0) != 0
        || pe_claim_string(payload, "grp", out->grp, sizeof(out->grp), 0)
           != 0
        || pe_claim_string(payload, "jti", out->jti, sizeof(out->jti), 0)
           != 0)
    {
        json_decref(payload);
        pe_context_error(err, errlen, "context claim of a wrong type");
        return -1;
    }

    v = json_object_get(payload, "gpc");

    if (v != NULL && !json_is_boolean(v)) {
        json_decref(payload);
        pe_context_error(err, errlen, "context claim of a wrong type");
        return -1;
    }

    out->gpc = json_is_true(v);

    v = json_object_get(payload, "con");

    if (v != NULL) {
        if (!json_is_array(v) || json_array_size(v) > PE_CONTEXT_CATS) {
            json_decref(payload);
            pe_context_error(err, errlen, "context claim of a wrong type");
            return -1;
        }

        json_array_foreach(v, i, item) {
            if (!json_is_string(item)
                || json_string_length(item) >= sizeof(out->con[0])
                || json_string_length(item) == 0)
            {
                json_decref(payload);
                pe_context_error(err, errlen,
                                 "context claim of a wrong type");
                return -1;
            }

            memcpy(out->con[i], json_string_value(item),
                   json_string_length(item) + 1);
        }

        out->ncon = json_array_size(v);
    }

    json_decref(payload);

    return 0;
}


int
pe_context_mark(const unsigned char *key, size_t klen,
    const pe_context_t *ctx, char *buf, size_t size)
{
    size_t          n;
    unsigned int    maclen;
    unsigned char   mac[EVP_MAX_MD_SIZE];
    char            in[sizeof("jti:") + sizeof(ctx->jti)];

    n = strnlen(ctx->jti, sizeof(ctx->jti));

    if (n == 0 || n == sizeof(ctx->jti) || size <= PE_CONTEXT_MARK_LEN) {
        return -1;
    }

    /* "jti:" sets it apart from the tokens' own HMACs, whose input is
     * base64url and dots */
    memcpy(in, "jti:", 4);
    memcpy(in + 4, ctx->jti, n);

    if (HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) in,
             n + 4, mac, &maclen) == NULL
        || maclen != 32)
    {
        return -1;
    }

    memcpy(buf, "pe:ctx:", 7);
    buf[7 + pe_base64url(mac, 32, buf + 7)] = '\0';

    return 0;
}


int
pe_context_granted(const pe_context_t *ctx, const char *category)
{
    size_t  i;

    for (i = 0; i < ctx->ncon; i++) {
        if (strcmp(ctx->con[i], category) == 0) {
            return 1;
        }
    }

    return 0;
}
