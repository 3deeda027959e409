/*
 * privacy-backend: jobs.  An accepted upload becomes a job: the media and
 * the prompt in the spool, encrypted; the record in Redis, with the job's
 * id added to its subject's set and to the jobs stream, all in one Lua
 * script before the 202.
 *
 * Redis, per job:
 *   pe:job:ID        hash: sub, model, provider, status, created, updated,
 *                    media_type, size, private, params, entry (its stream
 *                    entry); then remote_id, status_url, response_url,
 *                    cancel_url, output, reason, and the notes
 *                    submit_uncertain, resubmitted (worker.h)
 *   pe:sub:SUB:jobs  set of the subject's job ids (history, export, erasure)
 *   pe:jobs          stream for the workers: "job ID", or "cancel ID
 *                    provider NAME url URL" for a job erased while at its
 *                    provider
 *   pe:media:ID      hash: GETs of the job's media link, and whether it
 *                    was served whole (media.h)
 *   pe:retention     what retention owes, by when (retention.h)
 * The prompt is never in Redis: it is a spool file, ID.prompt, next to
 * the media, ID.media.
 */

#ifndef PE_BACKEND_JOBS_H
#define PE_BACKEND_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "context.h"

#include <jansson.h>


#define PE_JOB_ID_LEN      32          /* hex of 16 random bytes */
#define PE_PROMPT_MAX      4000        /* bytes */
#define PE_PARAMS_MAX      16384       /* bytes of JSON */
#define PE_JOBS_STREAM     "pe:jobs"


typedef struct pe_upload_s  pe_upload_t;


/*
 * POST /v1/jobs, streamed: begin with the request's verified context and
 * its Content-Type, feed the body as it comes, end when it has all come.
 * begin: NULL and *status, *body for an answer at once (bad context type
 * or consent); end: the answer, status and JSON body (malloc'd).
 */
pe_upload_t *pe_upload_begin(pe_backend_t *be, const pe_context_t *ctx,
    const char *content_type, unsigned *status, char **body);
void pe_upload_feed(pe_upload_t *u, const char *data, size_t n);
void pe_upload_end(pe_upload_t *u, unsigned *status, char **body);

/* frees, and removes whatever an unfinished upload left in the spool */
void pe_upload_free(pe_upload_t *u);

/* GET /v1/jobs/ID and GET /v1/jobs, for the context's subject only */
void pe_jobs_get(pe_backend_t *be, const pe_context_t *ctx, const char *id,
    unsigned *status, char **body);
void pe_jobs_list(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body);

/* an answer's JSON text (malloc'd), taking j; and {"error","reason"} */
char *pe_json_body(json_t *j);
char *pe_error_body(const char *error, const char *detail);

/* is this a well-formed job id (32 lowercase hex digits)? */
int pe_job_id_valid(const char *id);

/* "queued" ... "expired"; and back: -1 for an unknown name */
const char *pe_job_state_name(pe_job_state_e state);
int pe_job_state_parse(const char *name);

/* the index of a configured provider, by name; -1 if none */
int pe_job_provider_index(const pe_conf_t *conf, const char *name);

#endif /* PE_BACKEND_JOBS_H */
