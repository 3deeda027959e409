/*
 * privacy-backend: a subject's rights over its own jobs, each request for
 * the verified context's subject only (another's job is as good as none):
 *
 *   GET    /v1/jobs, /v1/jobs/ID    what the API shows of its jobs
 *   DELETE /v1/jobs/ID              one job, at once
 *   DELETE /v1/subjects/me          erasure: every job, and the edge's
 *                                   rate-limit keys of the subject
 *   GET    /v1/subjects/me/export   everything held, the prompts too
 *
 * Deletion and erasure do at once, in one Lua script, what the sweeper
 * (retention.h) would do in time, so Redis never holds half a subject; a
 * job still at its provider leaves a cancel for the worker.
 */

#ifndef PE_BACKEND_SUBJECT_H
#define PE_BACKEND_SUBJECT_H

#include "backend.h"
#include "context.h"


void pe_subject_job(pe_backend_t *be, const pe_context_t *ctx,
    const char *id, unsigned *status, char **body);
void pe_subject_jobs(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body);

void pe_subject_delete_job(pe_backend_t *be, const pe_context_t *ctx,
    const char *id, unsigned *status, char **body);
void pe_subject_erase(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body);
void pe_subject_export(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body);

#endif /* PE_BACKEND_SUBJECT_H */
