/*
 * privacy-backend: retention, what is held and for how long.
 *
 * What retention owes a job is scheduled when the job is submitted or
 * ends, in a sorted set (pe:retention, scored by when it is due, members
 * "upload:ID", "prompt:ID", "output:ID", "remote:ID", "record:ID:SUB"),
 * and done by
 * the sweeper: durable across restarts, and a record past its time also
 * carries a Redis TTL.  Erasure (subject.h) does at once what the sweeper
 * would do in time.
 */

#ifndef PE_BACKEND_RETENTION_H
#define PE_BACKEND_RETENTION_H

#include <time.h>

#include "backend.h"
#include "job.h"


#define PE_RETENTION_KEY   "pe:retention"
#define PE_SPOOL_ORPHAN    3600      /* seconds before a stray file goes */


/* the provider has the job: an inline upload and the prompt can go */
void pe_retention_job_submitted(pe_backend_t *be, const char *id,
    int media_inline);

/* the job ended: what retention says, scheduled */
void pe_retention_job_ended(pe_backend_t *be, const char *id,
    const char *sub, pe_job_state_e state);

/*
 * The job ended at a provider whose cancel deletes an ended task: that is
 * asked for now, or, for an output (output 1), when the output's
 * retention ends, as the output is the provider's URL.
 */
void pe_retention_remote(pe_backend_t *be, const char *id, int output);

/* a job's spool files, gone */
void pe_retention_unlink(pe_backend_t *be, const char *id);

/* what is due by now; the worker calls it about once a second */
void pe_retention_sweep(pe_backend_t *be, time_t now);

/*
 * Spool files without a record (a crash between file and record), older
 * than PE_SPOOL_ORPHAN; at start and every few minutes.
 */
void pe_retention_sweep_spool(pe_backend_t *be);

#endif /* PE_BACKEND_RETENTION_H */
