
/*
 * privacy-edge: HS256 and base64url.
 */

#include "pe_jws.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define PE_SHA256_BLOCK  64


struct pe_hmac_s {
    EVP_MD_CTX  *inner;     /* SHA-256 over key ^ ipad, ready for data */
    EVP_MD_CTX  *outer;     /* SHA-256 over key ^ opad */
    EVP_MD_CTX  *work;
};


size_t
pe_base64url(const unsigned char *in, size_t n, char *out)
{
    size_t             i, o;
    unsigned long      v;
    static const char  b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                               "vwxyz0123456789-_";

    o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned long) in[i] << 16 | (unsigned long) in[i + 1] << 8
            | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }

    if (n - i == 1) {
        v = (unsigned long) in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];

    } else if (n - i == 2) {
        v = (unsigned long) in[i] << 16 | (unsigned long) in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
    }

    return o;
}


int
pe_base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


long
pe_base64url_decode(const char *in, size_t n, unsigned char *out,
    size_t outlen)
{
    int            v;
    size_t         i, o;
    unsigned long  acc;
    unsigned int   bits;

    /* a length of 1 mod 4 cannot come from any bytes */
    if (n % 4 == 1 || (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0) > outlen) {
        return -1;
    }

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < n; i++) {
        v = pe_base64url_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1UL << bits) - 1;
        }
    }

    /* the bits left over must be zero: one encoding per value */
    if (acc != 0) {
        return -1;
    }

    return (long) o;
}


int
pe_hs256(const unsigned char *key, size_t klen, const unsigned char *data,
    size_t n, char *out)
{
    unsigned int   maclen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (HMAC(EVP_sha256(), key, (int) klen, data, n, mac, &maclen) == NULL
        || maclen != 32)
    {
        return -1;
    }

    (void) pe_base64url(mac, maclen, out);

    return 0;
}


pe_hmac_t *
pe_hmac_new(const unsigned char *key, size_t klen)
{
    size_t          i;
    unsigned int    n;
    unsigned char   k[PE_SHA256_BLOCK], ipad[PE_SHA256_BLOCK],
                    opad[PE_SHA256_BLOCK];
    const EVP_MD   *md;
    pe_hmac_t      *h;

    md = EVP_sha256();
    memset(k, 0, sizeof(k));

    /* a key longer than a block is hashed first (RFC 2104) */
    if (klen > PE_SHA256_BLOCK) {
        if (EVP_Digest(key, klen, k, &n, md, NULL) != 1) {
            return NULL;
        }

    } else if (klen) {
        memcpy(k, key, klen);
    }

    for (i = 0; i < PE_SHA256_BLOCK; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }

    h = calloc(1, sizeof(pe_hmac_t));
    if (h == NULL) {
        return NULL;
    }

    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    h->work = EVP_MD_CTX_new();

    if (h->inner == NULL || h->outer == NULL || h->work == NULL
        || EVP_DigestInit_ex(h->inner, md, NULL) != 1
        || EVP_DigestUpdate(h->inner, ipad, sizeof(ipad)) != 1
        || EVP_DigestInit_ex(h->outer, md, NULL) != 1
        || EVP_DigestUpdate(h->outer, opad, sizeof(opad)) != 1)
    {
        pe_hmac_free(h);
        return NULL;
    }

    return h;
}


void
pe_hmac_free(pe_hmac_t *h)
{
    if (h == NULL) {
        return;
    }

    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->work);
    free(h);
}


int
pe_hmac_hs256(pe_hmac_t *h, const unsigned char *data, size_t n, char *out)
{
    unsigned int   len;
    unsigned char  inner[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];

    if (EVP_MD_CTX_copy_ex(h->work, h->inner) != 1
        || EVP_DigestUpdate(h->work, data, n) != 1
        || EVP_DigestFinal_ex(h->work, inner, &len) != 1
        || EVP_MD_CTX_copy_ex(h->work, h->outer) != 1
        || EVP_DigestUpdate(h->work, inner, len) != 1
        || EVP_DigestFinal_ex(h->work, mac, &len) != 1
        || len != 32)
    {
        return -1;
    }

    (void) pe_base64url(mac, len, out);

    return 0;
}
