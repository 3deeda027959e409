/*
 * privacy-backend: the worker, where jobs go to their providers.
 *
 * One thread drives every job in flight through libcurl's multi
 * interface.  Jobs come from the Redis stream pe:jobs through a consumer
 * group: an entry stays pending until its job has ended, so a worker that
 * crashed leaves its jobs to be taken again (its own, at once, when it
 * restarts under the same name; another's, by XAUTOCLAIM, once idle for
 * PE_WORKER_CLAIM_IDLE).  Every state change is written to the job's
 * record before the next step, and the provider's request id the moment
 * it is known: a restart polls what was submitted instead of submitting
 * it again.
 *
 * Retries: 429, 5xx and connection failures, with exponential backoff and
 * full jitter, Retry-After honoured.  A submission that may have reached
 * the provider without an answer (a timeout once sent, a connection reset)
 * is never sent again: the job fails with submit_uncertain=1 in its
 * record.  After a crash during a submission, the job is submitted again
 * once and marked resubmitted=1: that is the only way a job can exist
 * twice at a provider.  Submissions to one provider go one at a time by
 * default (submit_parallel=1), the answer's request id written to Redis
 * before the next goes: a crash leaves at most one submission in doubt,
 * so at most one duplicate.  Polls are not limited.
 */

#ifndef PE_BACKEND_WORKER_H
#define PE_BACKEND_WORKER_H

#include <stddef.h>

#include "backend.h"


int pe_worker_start(pe_backend_t *be, char *err, size_t errlen);
void pe_worker_stop(pe_backend_t *be);

/* a job was queued, or a cancel: look at the stream now (thread-safe) */
void pe_worker_wake(pe_backend_t *be);

/*
 * A provider's callback named a job: poll it now, wherever it is held
 * (thread-safe): the hint goes to every backend on the same Redis (see
 * worker_hints.h), and the one holding the job polls it at once, or a
 * second after its last poll: however many callbacks come, a job is
 * polled at most once a second, those in between coalesced into the next
 * poll.  Only a hint: what the job becomes comes from the poll, an
 * authenticated call to the provider, never from the callback.
 */
void pe_worker_hint(pe_backend_t *be, const char *id);

#endif /* PE_BACKEND_WORKER_H */
