/*
 * privacy-backend: the job, what every part agrees a job is.
 *
 * An accepted upload becomes a job (upload.h), which the worker takes to
 * its provider (worker.h), its subject reads, deletes or exports
 * (subject.h), and retention ends (retention.h).  Redis, per job:
 *
 *   pe:job:ID        hash: sub, model, provider, status, created, updated,
 *                    inputs (the roles, "image,last_frame"; "" text
 *                    only; absent: one image or video, as before),
 *                    media_type, size (the first input's), media_type1,
 *                    size1 ... (the others'), private, grp, params, entry (its
 *                    stream entry); then remote_id, status_url,
 *                    response_url, cancel_url, output, reason, and the
 *                    notes submit_uncertain, resubmitted (worker.h)
 *   pe:sub:SUB:jobs  set of the subject's job ids (history, export, erasure)
 *   pe:jobs          stream for the workers: "job ID", or "cancel ID
 *                    provider NAME url URL" for a job erased while at its
 *                    provider
 *   pe:media:ID      hash: GETs of the job's media link, and whether it
 *                    was served whole (media.h)
 *   pe:retention     what retention owes, by when (retention.h)
 *
 * The prompt is never in Redis: it is a spool file, ID.prompt, next to
 * the media: ID.media (the first input), ID.media1 ... (the others).
 */

#ifndef PE_BACKEND_JOB_H
#define PE_BACKEND_JOB_H

#include <stddef.h>

#include <hiredis/hiredis.h>


#define PE_JOB_ID_LEN      32          /* hex of 16 random bytes */
#define PE_PROMPT_MAX      4000        /* bytes */
#define PE_PARAMS_MAX      16384       /* bytes of JSON */
#define PE_JOB_FILES       5           /* media files of a job at most:
                                          the parts an upload may carry */
#define PE_JOBS_STREAM     "pe:jobs"
#define PE_GROUP           "pe-workers" /* the stream's consumer group */


typedef enum {
    PE_JOB_QUEUED = 0,
    PE_JOB_SUBMITTING,
    PE_JOB_SUBMITTED,
    PE_JOB_RUNNING,
    PE_JOB_SUCCEEDED,
    PE_JOB_FAILED,
    PE_JOB_CANCELED,
    PE_JOB_EXPIRED,
    PE_JOB_STATES
} pe_job_state_e;


/* a new random job id; -1 without randomness */
int pe_job_new_id(char id[PE_JOB_ID_LEN + 1]);

/* is this a well-formed job id (32 lowercase hex digits)? */
int pe_job_id_valid(const char *id);

/* "queued" ... "expired"; and back: -1 for an unknown name */
const char *pe_job_state_name(pe_job_state_e state);
int pe_job_state_parse(const char *name);

/* the spool file of a job's input k: SPOOL/ID.media, SPOOL/ID.mediaK */
void pe_job_media_path(char *buf, size_t size, const char *spool,
    const char *id, unsigned k);

/* the suffix of input k's record fields: "" for the first, "1" ... */
const char *pe_job_input_suffix(unsigned k);

/* a field of an HGETALL answer (a record), or NULL */
const char *pe_job_field(const redisReply *r, const char *field);

#endif /* PE_BACKEND_JOB_H */
