
/*
 * privacy-edge: HS256 signatures (RFC 7515 JWS, RFC 7518 HMAC-SHA256) and
 * base64url.  Pure C over bytes and OpenSSL, no nginx types.
 */

#ifndef PE_JWS_H
#define PE_JWS_H

#include <stddef.h>


/* base64url of 32 bytes, no padding */
#define PE_JWS_SIG_LEN  43


/* base64url without padding; out holds 4 * ((n + 2) / 3) bytes; returns
 * the length written */
size_t pe_base64url(const unsigned char *in, size_t n, char *out);

/* the value of a base64url character, 0..63, or -1 */
int pe_base64url_value(unsigned char c);

/* base64url without padding, strictly (the spare bits of the last
 * character must be zero: one encoding per value); the decoded length, or
 * -1 when malformed or longer than outlen */
long pe_base64url_decode(const char *in, size_t n, unsigned char *out,
    size_t outlen);

/*
 * The HS256 signature of a JWS signing input ("header.payload"), base64url
 * encoded into out (PE_JWS_SIG_LEN bytes, not terminated).  Also the
 * pseudonym of a subject: the same HMAC over its raw value.  0 or -1.
 */
int pe_hs256(const unsigned char *key, size_t klen,
    const unsigned char *data, size_t n, char *out);

/*
 * The same, with the key's inner and outer pad hashed once (RFC 2104,
 * section 4): per signature two SHA-256 contexts are copied instead of an
 * HMAC being set up, several times faster on OpenSSL 3.  Not thread-safe:
 * one per thread.  pe_hmac_new() returns NULL when out of memory.
 */
typedef struct pe_hmac_s  pe_hmac_t;

pe_hmac_t *pe_hmac_new(const unsigned char *key, size_t klen);
void pe_hmac_free(pe_hmac_t *h);
int pe_hmac_hs256(pe_hmac_t *h, const unsigned char *data, size_t n,
    char *out);

#endif /* PE_JWS_H */
