/*
 * privacy-backend: POST /v1/jobs.  An accepted upload becomes a job (job.h):
 * the media and the prompt in the spool, encrypted; the record in Redis,
 * with the job's id added to its subject's set and to the jobs stream,
 * all in one Lua script before the 202.
 */

#ifndef PE_BACKEND_UPLOAD_H
#define PE_BACKEND_UPLOAD_H

#include <stddef.h>

#include "backend.h"
#include "context.h"


typedef struct pe_upload_s  pe_upload_t;


/*
 * Streamed: begin with the request's verified context and its
 * Content-Type, feed the body as it comes, end when it has all come.
 * begin: NULL and *status, *body for an answer at once (bad context type
 * or consent); end: the answer, status and JSON body (malloc'd).
 */
pe_upload_t *pe_upload_begin(pe_backend_t *be, const pe_context_t *ctx,
    const char *content_type, unsigned *status, char **body);
void pe_upload_feed(pe_upload_t *u, const char *data, size_t n);
void pe_upload_end(pe_upload_t *u, unsigned *status, char **body);

/* frees, and removes whatever an unfinished upload left in the spool */
void pe_upload_free(pe_upload_t *u);

#endif /* PE_BACKEND_UPLOAD_H */
