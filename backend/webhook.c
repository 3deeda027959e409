/*
 * privacy-backend: webhook signatures (see webhook.h).
 */

#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <jansson.h>

#include "pe_jws.h"


#define PE_SIG_B64  44      /* base64 of 32 bytes, padded */


/* strict standard base64 of a secret: its bytes, or -1 */
static int
pe_webhook_key(const char *secret, unsigned char *key, size_t size)
{
    int      n;
    size_t   len, pad;

    if (strncmp(secret, "whsec_", 6) == 0) {
        secret += 6;
    }

    len = strlen(secret);

    if (len == 0 || len % 4 != 0 || len / 4 * 3 > size
        || strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/=") != len)
    {
        return -1;
    }

    pad = secret[len - 1] == '=' ? (secret[len - 2] == '=' ? 2 : 1) : 0;

    if (strchr(secret, '=') != NULL && strchr(secret, '=') < secret + len - pad)
    {
        return -1;
    }

    n = EVP_DecodeBlock(key, (const unsigned char *) secret, (int) len);

    return n < 0 ? -1 : n - (int) pad;
}


int
pe_webhook_secret_valid(const char *secret)
{
    int            n;
    unsigned char  key[256];

    n = pe_webhook_key(secret, key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));

    return n > 0;
}


int
pe_webhook_verify_standard(const char *secret, const char *id,
    const char *timestamp, const char *signatures,
    const unsigned char *body, size_t len, time_t now, char *err,
    size_t errlen)
{
    int             klen, ok;
    char            expect[PE_SIG_B64 + 1];
    size_t          n;
    long long       ts;
    const char     *p, *end;
    size_t          mlen;
    EVP_MAC        *m;
    OSSL_PARAM      params[2];
    EVP_MAC_CTX    *h;
    unsigned char   key[256], mac[EVP_MAX_MD_SIZE];

    if (id == NULL || timestamp == NULL || signatures == NULL) {
        snprintf(err, errlen, "webhook headers missing");
        return -1;
    }

    n = strlen(id);

    if (n == 0 || n > PE_WEBHOOK_ID_MAX || strchr(id, '.') != NULL) {
        snprintf(err, errlen, "bad webhook-id");
        return -1;
    }

    n = strlen(timestamp);

    if (n == 0 || n > 12 || strspn(timestamp, "0123456789") != n) {
        snprintf(err, errlen, "bad webhook-timestamp");
        return -1;
    }

    ts = strtoll(timestamp, NULL, 10);

    if (ts < (long long) now - PE_WEBHOOK_TOLERANCE
        || ts > (long long) now + PE_WEBHOOK_TOLERANCE)
    {
        snprintf(err, errlen, "webhook-timestamp outside %d s",
                 PE_WEBHOOK_TOLERANCE);
        return -1;
    }

    if (strlen(signatures) > PE_WEBHOOK_HEADER_MAX) {
        snprintf(err, errlen, "webhook-signature too long");
        return -1;
    }

    klen = pe_webhook_key(secret, key, sizeof(key));

    if (klen <= 0) {
        snprintf(err, errlen, "the webhook secret is not whsec_ base64");
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h = m ? EVP_MAC_CTX_new(m) : NULL;
    ok = h != NULL
         && EVP_MAC_init(h, key, (size_t) klen, params)
         && EVP_MAC_update(h, (const unsigned char *) id, strlen(id))
         && EVP_MAC_update(h, (const unsigned char *) ".", 1)
         && EVP_MAC_update(h, (const unsigned char *) timestamp,
                           strlen(timestamp))
         && EVP_MAC_update(h, (const unsigned char *) ".", 1)
         && EVP_MAC_update(h, body, len)
         && EVP_MAC_final(h, mac, &mlen, sizeof(mac))
         && mlen == 32;
    EVP_MAC_CTX_free(h);
    EVP_MAC_free(m);
    OPENSSL_cleanse(key, sizeof(key));

    if (!ok) {
        snprintf(err, errlen, "cannot compute the signature");
        return -1;
    }

    EVP_EncodeBlock((unsigned char *) expect, mac, (int) mlen);
    OPENSSL_cleanse(mac, sizeof(mac));

    /* "v1,SIG v1,SIG ...": any v1 that matches; other versions ignored */
    ok = 0;

    for (p = signatures; *p; p = end) {
        while (*p == ' ') {
            p++;
        }

        end = p + strcspn(p, " ");

        if (end - p == 3 + PE_SIG_B64 && strncmp(p, "v1,", 3) == 0
            && CRYPTO_memcmp(p + 3, expect, PE_SIG_B64) == 0)
        {
            ok = 1;
        }
    }

    OPENSSL_cleanse(expect, sizeof(expect));

    if (!ok) {
        snprintf(err, errlen, "no webhook signature matches");
        return -1;
    }

    return 0;
}


int
pe_ed25519_verify(const unsigned char *key, const unsigned char *sig,
    const unsigned char *msg, size_t len)
{
    int          ok;
    EVP_PKEY    *pk;
    EVP_MD_CTX  *md;

    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
    md = pk ? EVP_MD_CTX_new() : NULL;

    ok = md != NULL
         && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1
         && EVP_DigestVerify(md, sig, 64, msg, len) == 1;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);

    return ok ? 0 : -1;
}


/* the value of a hex digit, or -1 */
static int
pe_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


int
pe_webhook_verify_fal(const unsigned char (*keys)[32], size_t nkeys,
    const char *request_id, const char *user_id, const char *timestamp,
    const char *signature, const unsigned char *body, size_t len,
    time_t now, char *err, size_t errlen)
{
    int             hi, lo;
    char           *msg;
    size_t          i, n, mlen;
    long long       ts;
    unsigned int    dlen;
    unsigned char   sig[64], digest[32];
    static const char  hex[] = "0123456789abcdef";

    if (request_id == NULL || user_id == NULL || timestamp == NULL
        || signature == NULL)
    {
        snprintf(err, errlen, "webhook headers missing");
        return -1;
    }

    if (strlen(request_id) > PE_WEBHOOK_ID_MAX
        || strlen(user_id) > PE_WEBHOOK_ID_MAX
        || strpbrk(request_id, "\n") || strpbrk(user_id, "\n"))
    {
        snprintf(err, errlen, "bad webhook request or user id");
        return -1;
    }

    n = strlen(timestamp);

    if (n == 0 || n > 12 || strspn(timestamp, "0123456789") != n) {
        snprintf(err, errlen, "bad webhook timestamp");
        return -1;
    }

    ts = strtoll(timestamp, NULL, 10);

    if (ts < (long long) now - PE_WEBHOOK_TOLERANCE
        || ts > (long long) now + PE_WEBHOOK_TOLERANCE)
    {
        snprintf(err, errlen, "webhook timestamp outside %d s",
                 PE_WEBHOOK_TOLERANCE);
        return -1;
    }

    if (strlen(signature) != 128) {
        snprintf(err, errlen, "bad webhook signature");
        return -1;
    }

    for (i = 0; i < 64; i++) {
        hi = pe_hex_value((unsigned char) signature[2 * i]);
        lo = pe_hex_value((unsigned char) signature[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            snprintf(err, errlen, "bad webhook signature");
            return -1;
        }

        sig[i] = (unsigned char) (hi << 4 | lo);
    }

    if (nkeys == 0) {
        snprintf(err, errlen, "no webhook keys");
        return -1;
    }

    /* request_id \n user_id \n timestamp \n hex(sha256(body)) */
    if (EVP_Digest(body, len, digest, &dlen, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "cannot hash the body");
        return -1;
    }

    mlen = strlen(request_id) + strlen(user_id) + n + 3 + 64;
    msg = malloc(mlen + 1);

    if (msg == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    i = (size_t) sprintf(msg, "%s\n%s\n%s\n", request_id, user_id,
                         timestamp);

    for (n = 0; n < 32; n++) {
        msg[i++] = hex[digest[n] >> 4];
        msg[i++] = hex[digest[n] & 0xf];
    }

    for (n = 0; n < nkeys; n++) {
        if (pe_ed25519_verify(keys[n], sig, (unsigned char *) msg, mlen)
            == 0)
        {
            free(msg);
            return 0;
        }
    }

    free(msg);
    snprintf(err, errlen, "no webhook key verifies the signature");

    return -1;
}


long
pe_webhook_jwks(const char *json, size_t len, unsigned char (*keys)[32],
    size_t max, char *err, size_t errlen)
{
    long          n;
    size_t        i, count;
    json_t       *j, *list, *k;
    const char   *x;

    j = json_loadb(json, len, 0, NULL);
    list = json_object_get(j, "keys");

    if (!json_is_array(list)) {
        json_decref(j);
        snprintf(err, errlen, "not a JWKS: no \"keys\" list");
        return -1;
    }

    count = 0;

    for (i = 0; i < json_array_size(list); i++) {
        k = json_array_get(list, i);

        /* only Ed25519 keys; others (for other uses) are passed over */
        if (!json_is_string(json_object_get(k, "kty"))
            || strcmp(json_string_value(json_object_get(k, "kty")), "OKP")
            || !json_is_string(json_object_get(k, "crv"))
            || strcmp(json_string_value(json_object_get(k, "crv")),
                      "Ed25519"))
        {
            continue;
        }

        x = json_string_value(json_object_get(k, "x"));

        if (count == max) {
            json_decref(j);
            snprintf(err, errlen, "more than %zu Ed25519 keys", max);
            return -1;
        }

        n = x ? pe_base64url_decode(x, strlen(x), keys[count], 32) : -1;

        if (n != 32) {
            json_decref(j);
            snprintf(err, errlen, "key %zu: \"x\" is not 32 bytes of "
                     "base64url", i);
            return -1;
        }

        count++;
    }

    json_decref(j);

    if (count == 0) {
        snprintf(err, errlen, "no Ed25519 key in the JWKS");
        return -1;
    }

    return (long) count;
}
