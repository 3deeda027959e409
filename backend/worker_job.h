/*
 * privacy-backend: a job in flight, the worker's own (see worker.h).
 *
 * What the worker's parts share and nothing else includes: the worker,
 * the jobs it holds, and what is done to a job whatever its step: its
 * record written (only while it exists: an erased job never comes back
 * as half a record), what it sends loaded and wiped, and its end.
 */

#ifndef PE_BACKEND_WORKER_JOB_H
#define PE_BACKEND_WORKER_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "backend.h"
#include "job.h"
#include "provider.h"


#define PE_WORKER_MAX_JOBS      256     /* in flight in one worker */
#define PE_WORKER_SUBMITS       6       /* attempts at a submission */
#define PE_WORKER_CLAIM_IDLE    120     /* seconds before another claims */
#define PE_WORKER_JOB_DEADLINE  86400   /* seconds before a job expires */

/*
 * A cancel the provider refuses for now (a task running to its end) is
 * asked again after as long as it has waited, 1 s at least, 15 min at
 * most, until two days after the erasure: by then the task has ended.
 */
#define PE_WORKER_CANCEL_FIRST     1
#define PE_WORKER_CANCEL_MOST      900
#define PE_WORKER_CANCEL_DEADLINE  172800


/* what a job in flight is doing */
typedef enum {
    PE_W_SUBMIT = 0,        /* to be (re)submitted */
    PE_W_POLL,
    PE_W_RESULT,
    PE_W_CANCEL,            /* a cancel at the provider, nothing else */
    PE_W_FIND,              /* after a crash mid-submission: is it there? */
} pe_wstep_e;


/* job ids a webhook named: their polls are due now */
#define PE_WORKER_HINTS  64


/* one input of a job in flight: what the record says, what is sent */
typedef struct {
    char                  media_type[128];
    uint64_t              size;            /* recorded */
    int                   inline_;         /* a data: URI, not a link */
    char                 *url;             /* loaded for the submission */
} pe_wmedia_t;


typedef struct pe_wjob_s  pe_wjob_t;

struct pe_wjob_s {
    pe_wjob_t            *next;
    pe_worker_t          *worker;

    char                  id[PE_JOB_ID_LEN + 1];
    char                  entry[64];       /* in the stream, for XACK */
    char                  sub[64];
    int                   pidx;            /* provider index */
    pe_provider_t        *provider;
    pe_job_state_e        state;
    pe_wstep_e            step;

    pe_task_t             task;
    char                  webhook[PE_URL_MAX];
    char                  grp[32];         /* the context's region group */
    char                  model[256];
    pe_wmedia_t           media[PE_ROLES];   /* by input, as task.inputs */
    char                 *prompt;
    int                   loaded;          /* prompt and media, for the
                                              submission */
    int                   media_inline;    /* every input inline */

    double                due;             /* when the next call may go */
    double                created;
    int                   attempts;        /* of the current step */
    int                   polls;
    double                polled;          /* when its last poll went */
    int                   hinted;          /* a callback not yet heeded */
    int                   resubmitted;
    int                   ending;          /* final state + 1, unwritten */
    int                   unsaved;         /* the provider's id not yet
                                              in Redis */

    CURL                 *easy;            /* a call in flight */
    pe_preq_t             req;
    char                 *body;
    size_t                body_len;
    long                  retry_after;
    double                started;
};


struct pe_worker_s {
    pe_backend_t         *be;
    pthread_t             thread;
    int                   running;
    atomic_int            stop;
    atomic_int            woken;
    atomic_int            hinted;
    CURLM                *multi;

    pe_wjob_t            *jobs;
    size_t                njobs;

    char                  consumer[160];
    int                   own_pending;     /* still to re-read after start */
    double                next_intake;
    double                next_claim;
    double                next_touch;
    double                next_sweep;
    double                next_spool;

    struct redisContext  *hints_sub;      /* worker_hints.c */
    double                next_hints;      /* a subscription tried */
    double                hints_retry;     /* seconds, after a failure */
    double                next_ping;       /* the subscription checked */
    double                pong_due;        /* 0: no PING unanswered */
    char                  hints_self[17];  /* this worker, in messages */

    pthread_mutex_t       hint_lock;
    char                  hints[PE_WORKER_HINTS][PE_JOB_ID_LEN + 1];
    size_t                nhints;
};


double pe_wjob_now(void);

/*
 * Exponential backoff with full jitter, 0.5 s doubling to 30 s, never
 * sooner than the provider asked (Retry-After, seconds, capped at 10 min).
 */
double pe_wjob_backoff(int attempt, long retry_after);

/* a job of provider NAME taken from the stream entry; NULL: none such */
pe_wjob_t *pe_wjob_new(pe_worker_t *w, const char *id, const char *entry,
    const char *provider);
void pe_wjob_free(pe_wjob_t *j);
pe_wjob_t *pe_wjob_find(pe_worker_t *w, const char *id);

/* the job's cancel held (step PE_W_CANCEL) other than j, or NULL */
pe_wjob_t *pe_wjob_find_cancel(pe_worker_t *w, const char *id,
    const pe_wjob_t *j);

/* src, or "" for NULL, cut to size */
void pe_wjob_copy(char *dst, size_t size, const char *src);

/*
 * Fields into the job's record, if it is still there: 1 written, 0 the
 * job is gone, -1 Redis failed.  update also writes what the provider
 * told (its id and URLs) if that is still owed to the record.
 */
int pe_wjob_update(pe_wjob_t *j, const char *const *fv, size_t n);
int pe_wjob_write(pe_wjob_t *j, const char *const *fv, size_t n);

/* the job entered a state: counted for /metrics */
void pe_wjob_count(pe_wjob_t *j, pe_job_state_e state);

/* the stream entry is done with: acknowledged and deleted */
void pe_wjob_ack(pe_worker_t *w, const char *entry);

/*
 * The end of a job: its final state in the record, the retention it is
 * owed scheduled, the stream entry done with, j freed (or, Redis away,
 * kept to be ended again later).
 */
void pe_wjob_finish(pe_wjob_t *j, pe_job_state_e state);

/* the job was erased while in flight: the provider is told, if it can be */
void pe_wjob_orphan(pe_wjob_t *j);

/* the prompt, the media: loaded only to be sent, and wiped after */
int pe_wjob_load(pe_wjob_t *j);
void pe_wjob_unload(pe_wjob_t *j);

#endif /* PE_BACKEND_WORKER_JOB_H */
