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
