/*
 * privacy-backend: providers' callbacks, POST /v1/providers/NAME/webhook.
 *
 * The URL each job gives its provider names the job (?job=ID).  A callback
 * is believed only when:
 *   - its provider has callbacks configured (config.h, pe_conf_webhooks);
 *   - it is genuinely signed and fresh: Replicate's Standard Webhooks
 *     signature, fal's Ed25519 signature (Kling's carry none);
 *   - it is about that job: the job exists, is that provider's, and the
 *     provider's id in the body is the job's;
 *   - it was not seen before: each signed message once (Redis SET NX,
 *     kept past the 5-minute tolerance).
 * Even then it is only a hint: the job is polled now, and what it becomes
 * comes from that poll, an authenticated call to the provider.  A
 * callback that fails a check changes nothing.
 *
 *   200 {"accepted":true}         hint taken
 *   401 {"error":"signature"}      unsigned, wrongly signed or stale
 *   404 {"error":"not_found"}      no such provider, job, or not its job
 *   409 {"error":"replayed"}       a message already received
 *   400, 413                       not JSON, too long
 */

#ifndef PE_BACKEND_CALLBACKS_H
#define PE_BACKEND_CALLBACKS_H

#include <stddef.h>

#include "backend.h"


#define PE_CALLBACK_BODY_MAX  (64 * 1024)


/* reads what verifies callbacks (secrets, JWKS files); -1 with a reason */
int pe_callbacks_init(pe_backend_t *be, char *err, size_t errlen);

void pe_callbacks_free(pe_backend_t *be);


/* a request header by name, or NULL */
typedef const char *(*pe_header_get_pt)(void *data, const char *name);

void pe_callback_handle(pe_backend_t *be, const char *provider,
    const char *job, pe_header_get_pt header, void *data, const char *body,
    size_t len, unsigned *status, char **out);

#endif /* PE_BACKEND_CALLBACKS_H */
