/*
 * privacy-backend: one call of a job to its provider, and what its answer
 * means for the job (see worker.h for the rules of retries and of
 * submissions that may have arrived).
 */

#ifndef PE_BACKEND_WORKER_CALL_H
#define PE_BACKEND_WORKER_CALL_H

#include <curl/curl.h>

#include "worker_job.h"


/* the job's next call, started on the worker's multi handle; may free j */
void pe_wcall_start(pe_wjob_t *j);

/* the call came back (cc: how); the job's next step decided; may free j */
void pe_wcall_done(pe_wjob_t *j, CURLcode cc);

#endif /* PE_BACKEND_WORKER_CALL_H */
