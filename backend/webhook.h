/*
 * privacy-backend: provider webhooks, verified before they are believed.
 *
 * Standard Webhooks (Replicate's): the headers webhook-id,
 * webhook-timestamp and webhook-signature; the signature is
 * base64(HMAC-SHA256(key, id "." timestamp "." body)) where the key is the
 * base64 after "whsec_" of the endpoint's secret; the header may carry
 * several space-separated "v1,..." signatures (a key being rotated), any
 * of which may match; the timestamp must be within 5 minutes of the
 * clock.  Pure: bytes and lengths in, a verdict out, so it is tested
 * against the specification's published vector and fuzzed.
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

#endif /* PE_BACKEND_WEBHOOK_H */
