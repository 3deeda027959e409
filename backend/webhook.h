/*
 * privacy-backend: provider webhooks, verified before they are believed.
 *
 * Standard Webhooks (Replicate's): the headers webhook-id,
 * webhook-timestamp and webhook-signature; the signature is
 * base64(HMAC-SHA256(key, id "." timestamp "." body)) where the key is the
 * base64 after "whsec_" of the endpoint's secret; the header may carry
 * several space-separated "v1,..." signatures (a key being rotated), any
 * of which may match; the timestamp must be within 5 minutes of the
 * clock.
 *
 * fal's: the headers X-Fal-Webhook-Request-Id, -User-Id, -Timestamp and
 * -Signature (hex); the signature is Ed25519 over
 * request_id "\n" user_id "\n" timestamp "\n" hex(sha256(body)), by any
 * of the keys of fal's JWKS; the same 5 minutes.
 *
 * Pure: bytes and lengths in, a verdict out, so they are tested against
 * published vectors (Standard Webhooks', RFC 8032's) and hostile input.
 */

#ifndef PE_BACKEND_WEBHOOK_H
#define PE_BACKEND_WEBHOOK_H

#include <stddef.h>
#include <time.h>


#define PE_WEBHOOK_TOLERANCE   300     /* seconds either way */
#define PE_WEBHOOK_HEADER_MAX  4096    /* bytes of webhook-signature */
#define PE_WEBHOOK_ID_MAX      256


/*
 * 0 when the request is genuinely signed with secret and fresh; -1 with a
 * short reason (never the secret or a signature) in err otherwise.
 */
int pe_webhook_verify_standard(const char *secret, const char *id,
    const char *timestamp, const char *signatures,
    const unsigned char *body, size_t len, time_t now, char *err,
    size_t errlen);

/* 1 when secret is a usable Standard Webhooks secret (whsec_ base64) */
int pe_webhook_secret_valid(const char *secret);

/* 0 when sig (64 bytes) is key's (32 bytes) Ed25519 signature of msg */
int pe_ed25519_verify(const unsigned char *key, const unsigned char *sig,
    const unsigned char *msg, size_t len);

/* as pe_webhook_verify_standard, for fal's headers and keys */
int pe_webhook_verify_fal(const unsigned char (*keys)[32], size_t nkeys,
    const char *request_id, const char *user_id, const char *timestamp,
    const char *signature, const unsigned char *body, size_t len,
    time_t now, char *err, size_t errlen);

/*
 * The Ed25519 keys of a JWKS document ({"keys": [{"kty": "OKP", "crv":
 * "Ed25519", "x": base64url}, ...]}; keys of other kinds passed over):
 * how many, or -1 with a reason.
 */
long pe_webhook_jwks(const char *json, size_t len, unsigned char (*keys)[32],
    size_t max, char *err, size_t errlen);

#endif /* PE_BACKEND_WEBHOOK_H */
