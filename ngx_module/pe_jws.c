
/*
 * privacy-edge: HS256 and base64url.
 */

#include "pe_jws.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


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
