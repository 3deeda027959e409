/*
 * privacy-backend: providers' callbacks, POST /v1/providers/NAME/webhook.
 *
 * The URL each job gives its provider names the job (?job=ID).  A callback
 * is believed only when:
 *   - its provider has callbacks configured (the adapter's hooks());
 *   - it is genuinely signed and fresh, as its adapter verifies it:
 *     Replicate's Standard Webhooks signature, fal's Ed25519 signature
 *     (Kling's carry none);
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


void pe_callback_handle(pe_backend_t *be, const char *provider,
    const char *job, pe_header_get_pt header, void *data, const char *body,
    size_t len, unsigned *status, char **out);

#endif /* PE_BACKEND_CALLBACKS_H */
