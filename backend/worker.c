#define _GNU_SOURCE
/*
 * privacy-backend: the worker (see worker.h).
 */

#include "worker.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "jobs.h"
#include "log.h"
#include "media.h"
#include "provider.h"
#include "retention.h"
#include "spool.h"
#include "store.h"


#define PE_WORKER_BODY_MAX     (1024 * 1024)   /* of a provider's answer */
#define PE_WORKER_TICK_MS      1000
#define PE_WORKER_BATCH        32


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

/*
 * Seconds from one poll a callback asked for to the last poll's start:
 * callbacks (Kling's unsigned) cannot make a job cost its provider more
 * than a poll a second, however many arrive; those in between are
 * coalesced into the next.
 */
#define PE_WORKER_HINT_GAP  1.0


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
    char                  media_type[128];
    uint64_t              size;            /* of the upload, recorded */
    char                 *prompt;
    char                 *media_url;
    int                   media_inline;

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

    pe_provider_t         providers[PE_CONF_MAX_PROVIDERS];
    pe_wjob_t            *jobs;
    size_t                njobs;

    char                  consumer[160];
    int                   own_pending;     /* still to re-read after start */
    double                next_intake;
    double                next_claim;
    double                next_touch;
    double                next_sweep;
    double                next_spool;

    pthread_mutex_t       hint_lock;
    char                  hints[PE_WORKER_HINTS][PE_JOB_ID_LEN + 1];
    size_t                nhints;
};


static double
pe_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static double
pe_random01(void)
{
    uint32_t  r;

    if (RAND_bytes((unsigned char *) &r, sizeof(r)) != 1) {
        return 0.5;
    }

    return (double) r / 4294967296.0;
}


/*
 * Exponential backoff with full jitter, 0.5 s doubling to 30 s, never
 * sooner than the provider asked (Retry-After, seconds, capped at 10 min).
 */
static double
pe_backoff(int attempt, long retry_after)
{
    double  cap, d;

    cap = 0.5 * pow(2.0, attempt < 6 ? attempt : 6);
    cap = cap < 30.0 ? cap : 30.0;
    d = cap / 2 + pe_random01() * cap / 2;

    if (retry_after > 0) {
        retry_after = retry_after < 600 ? retry_after : 600;
        d = d > (double) retry_after ? d : (double) retry_after;
    }

    return d;
}


/* --- the record ---------------------------------------------------------- */

/*
 * HSET on a job's record only if it is still there: an erased job must
 * not come back as a half record because an answer arrived late.
 */
static int pe_worker_write(pe_wjob_t *j, const char *const *fv, size_t n);
static void pe_worker_unload(pe_wjob_t *j);

static const char  pe_update_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[1], unpack(ARGV)) "
    "return 1";


/* 1 written, 0 the job is gone, -1 Redis failed */
static int
pe_worker_update(pe_wjob_t *j, const char *const *fv, size_t n)
{
    int           rc;
    size_t        k;
    const char   *all[32];

    if (!j->unsaved || n > 22) {
        return pe_worker_write(j, fv, n);
    }

    /* the provider's id and URLs, still owed to the record, go along */
    for (k = 0; k < n; k++) {
        all[k] = fv[k];
    }

    all[n++] = "remote_id";     all[n++] = j->task.remote_id;
    all[n++] = "status_url";    all[n++] = j->task.status_url;
    all[n++] = "response_url";  all[n++] = j->task.response_url;
    all[n++] = "cancel_url";    all[n++] = j->task.cancel_url;

    rc = pe_worker_write(j, all, n);

    if (rc == 1) {
        j->unsaved = 0;
    }

    return rc;
}


static int
pe_worker_write(pe_wjob_t *j, const char *const *fv, size_t n)
{
    int           rc;
    char          key[64], now[32];
    size_t        argc, i;
    redisReply   *r;
    const char   *argv[40];

    if (n > 30) {
        return -1;
    }

    snprintf(key, sizeof(key), "pe:job:%s", j->id);
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pe_update_script;
    argv[argc++] = "1";
    argv[argc++] = key;

    for (i = 0; i < n; i++) {
        argv[argc++] = fv[i];
    }

    argv[argc++] = "updated";
    argv[argc++] = now;

    r = pe_store_argv(j->worker->be->store, (int) argc, argv, NULL);

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        pe_log(PE_LOG_ERR, "job %s: record not updated: %s", j->id,
               r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        rc = -1;

    } else {
        rc = r->integer == 1;
    }

    freeReplyObject(r);

    return rc;
}


static void
pe_worker_count(pe_wjob_t *j, pe_job_state_e state)
{
    if (j->pidx >= 0) {
        atomic_fetch_add(&j->worker->be->metrics[j->pidx].jobs[state], 1);
    }
}


/* the stream entry is done with: acknowledged and deleted */
static void
pe_worker_ack(pe_worker_t *w, const char *entry)
{
    redisReply  *r;

    if (*entry == '\0') {
        return;
    }

    r = pe_store_command(w->be->store, "XACK %s %s %s", PE_JOBS_STREAM,
                         PE_GROUP, entry);
    freeReplyObject(r);
    r = pe_store_command(w->be->store, "XDEL %s %s", PE_JOBS_STREAM, entry);
    freeReplyObject(r);
}


static void
pe_wjob_free(pe_wjob_t *j)
{
    pe_worker_t  *w = j->worker;
    pe_wjob_t   **pp;

    for (pp = &w->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            w->njobs--;
            break;
        }
    }

    if (j->easy) {
        if (j->step == PE_W_SUBMIT) {
            j->provider->submitting--;
        }

        curl_multi_remove_handle(w->multi, j->easy);
        curl_easy_cleanup(j->easy);
        if (j->pidx >= 0) {
            atomic_fetch_sub(&w->be->metrics[j->pidx].in_flight, 1);
        }
    }

    curl_slist_free_all(j->req.headers);
    free(j->req.body);
    free(j->body);
    pe_worker_unload(j);
    json_decref(j->task.params);
    free(j);
}


/*
 * The end of a job: its final state in the record, the retention it is
 * owed scheduled, the stream entry done with.
 */
static void
pe_worker_finish(pe_wjob_t *j, pe_job_state_e state)
{
    int          rc;
    size_t       n;
    const char  *fv[8];

    n = 0;
    fv[n++] = "status";
    fv[n++] = pe_job_state_name(state);

    if (state == PE_JOB_SUCCEEDED) {
        fv[n++] = "output";
        fv[n++] = j->task.output;
    }

    if (state == PE_JOB_FAILED || state == PE_JOB_EXPIRED) {
        fv[n++] = "reason";
        fv[n++] = j->task.reason[0] ? j->task.reason : "failed";
    }

    rc = pe_worker_update(j, fv, n);

    if (rc == -1) {
        /* Redis is away: written later, nothing else done meanwhile */
        j->ending = (int) state + 1;
        j->due = pe_now() + pe_backoff(j->attempts++, 0);
        return;
    }

    if (rc == 1) {
        pe_retention_job_ended(j->worker->be, j->id, j->sub, state);
        pe_worker_count(j, state);
        pe_log(PE_LOG_INFO, "job %s %s%s%s", j->id, pe_job_state_name(state),
               state == PE_JOB_FAILED ? ": " : "",
               state == PE_JOB_FAILED ? j->task.reason : "");
    }

    pe_worker_ack(j->worker, j->entry);
    pe_wjob_free(j);
}


/* the job was erased while in flight: the provider is told, if it can be */
static void
pe_worker_orphan(pe_wjob_t *j)
{
    pe_log(PE_LOG_INFO, "job %s erased while in flight", j->id);

    pe_retention_unlink(j->worker->be, j->id);

    if (j->task.cancel_url[0] && j->step != PE_W_CANCEL) {
        j->step = PE_W_CANCEL;
        j->attempts = 0;
        j->due = pe_now();
        return;
    }

    pe_worker_ack(j->worker, j->entry);
    pe_wjob_free(j);
}


/* --- what is sent ------------------------------------------------------- */

/* what a submission carried, gone from memory */
static void
pe_worker_unload(pe_wjob_t *j)
{
    if (j->prompt) {
        OPENSSL_cleanse(j->prompt, strlen(j->prompt));
        free(j->prompt);
        j->prompt = NULL;
    }

    j->task.prompt = NULL;

    if (j->media_url) {
        OPENSSL_cleanse(j->media_url, strlen(j->media_url));
        free(j->media_url);
        j->media_url = NULL;
    }

    j->task.media_url = NULL;
}


/* the prompt, the media: only now, and only what the task may carry */
static int
pe_worker_load(pe_wjob_t *j)
{
    char                 path[PATH_MAX], err[160], token[PE_MEDIA_TOKEN_MAX];
    ssize_t              n;
    size_t               len;
    uint64_t             size;
    pe_backend_t        *be = j->worker->be;
    pe_spool_reader_t   *r;

    snprintf(path, sizeof(path), "%s/%s.prompt", be->conf.spool, j->id);

    if (j->prompt == NULL && access(path, F_OK) == 0) {
        r = pe_spool_open(path, be->conf.data_key, err, sizeof(err));
        j->prompt = calloc(1, PE_PROMPT_MAX + 2);

        if (r == NULL || j->prompt == NULL) {
            pe_spool_close(r);
            goto corrupt;
        }

        len = 0;

        while ((n = pe_spool_read(r, j->prompt + len, PE_PROMPT_MAX + 1 - len,
                                  err, sizeof(err)))
               > 0)
        {
            len += (size_t) n;

            if (len > PE_PROMPT_MAX) {
                break;
            }
        }

        pe_spool_close(r);

        if (n != 0) {
            goto corrupt;
        }
    }

    j->task.prompt = j->prompt;

    snprintf(path, sizeof(path), "%s/%s.media", be->conf.spool, j->id);

    free(j->media_url);
    j->media_url = NULL;

    /*
     * The whole file verified before the first byte leaves: an inline one
     * as it is read, a linked one here (and again when it is fetched).
     */
    if (!j->media_inline) {
        if (pe_spool_verify(path, be->conf.data_key, &size, err, sizeof(err))
            != 0)
        {
            goto corrupt;
        }

        if (size != j->size) {
            snprintf(err, sizeof(err), "size differs from the record");
            goto corrupt;
        }
    }

    if (j->media_inline) {
        j->media_url = pe_media_data_uri(be, path, j->media_type, j->size,
                                         err, sizeof(err));
        if (j->media_url == NULL) {
            goto corrupt;
        }

    } else {
        if (pe_media_token(be, j->id, time(NULL) + PE_MEDIA_URL_TTL, token,
                           sizeof(token))
            != 0
            || asprintf(&j->media_url, "%s/v1/media/%s", be->conf.public_url,
                        token) < 0)
        {
            j->media_url = NULL;
            snprintf(err, sizeof(err), "cannot sign a media link");
            goto corrupt;
        }
    }

    j->task.media_url = j->media_url;

    return 0;

corrupt:

    pe_log(PE_LOG_ERR, "job %s: upload unusable, nothing sent: %s", j->id,
           err);
    snprintf(j->task.reason, sizeof(j->task.reason),
             "upload_corrupt: the stored upload failed verification");

    return -1;
}


static size_t
pe_worker_body_cb(char *p, size_t size, size_t n, void *data)
{
    char       *b;
    pe_wjob_t  *j = data;

    n *= size;

    if (j->body_len + n > PE_WORKER_BODY_MAX) {
        return 0;                   /* too long an answer: an error */
    }

    b = realloc(j->body, j->body_len + n + 1);
    if (b == NULL) {
        return 0;
    }

    memcpy(b + j->body_len, p, n);
    j->body = b;
    j->body_len += n;
    j->body[j->body_len] = '\0';

    return n;
}


static size_t
pe_worker_header_cb(char *p, size_t size, size_t n, void *data)
{
    pe_wjob_t  *j = data;

    n *= size;

    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        j->retry_after = strtol(p + 12, NULL, 10);   /* seconds form only */
    }

    return n;
}


static const pe_op_e  pe_step_op[] = {
    PE_OP_SUBMIT, PE_OP_POLL, PE_OP_RESULT, PE_OP_CANCEL, PE_OP_FIND
};


/* the job's next call, started */
static void
pe_worker_call(pe_wjob_t *j)
{
    int            rc;
    char           err[160];
    size_t         n;
    CURL          *e;
    const char    *fv[4];
    pe_worker_t   *w = j->worker;

    if (j->step == PE_W_SUBMIT) {
        /* the rules may have changed since the job was accepted */
        if (!pe_conf_residency_allows(&w->be->conf, j->grp,
                                      j->provider->conf))
        {
            snprintf(j->task.reason, sizeof(j->task.reason),
                     "residency: data from the %s group may not go to "
                     "provider %s", j->grp, j->provider->conf->name);
            pe_retention_unlink(w->be, j->id);
            pe_worker_finish(j, PE_JOB_FAILED);
            return;
        }

        if (j->media_url == NULL && pe_worker_load(j) != 0) {
            pe_retention_unlink(w->be, j->id);
            pe_worker_finish(j, PE_JOB_FAILED);
            return;
        }

        if (j->state != PE_JOB_SUBMITTING) {
            /* before a byte leaves: a crash from here on may resubmit */
            n = 0;
            fv[n++] = "status";
            fv[n++] = "submitting";
            rc = pe_worker_update(j, fv, n);

            if (rc == 0) {
                pe_worker_orphan(j);
                return;
            }

            if (rc == -1) {
                j->due = pe_now() + pe_backoff(j->attempts, 0);
                return;
            }

            j->state = PE_JOB_SUBMITTING;
            pe_worker_count(j, PE_JOB_SUBMITTING);
        }
    }

    curl_slist_free_all(j->req.headers);
    free(j->req.body);
    memset(&j->req, 0, sizeof(j->req));
    free(j->body);
    j->body = NULL;
    j->body_len = 0;
    j->retry_after = 0;

    if (j->provider->ops->prepare(j->provider, &j->task, pe_step_op[j->step],
                                  &j->req, err, sizeof(err))
        != 0)
    {
        snprintf(j->task.reason, sizeof(j->task.reason), "%s", err);
        pe_worker_finish(j, PE_JOB_FAILED);
        return;
    }

    e = curl_easy_init();
    if (e == NULL) {
        j->due = pe_now() + 1;
        return;
    }

    curl_easy_setopt(e, CURLOPT_URL, j->req.url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->req.method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->req.headers);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, j->provider->conf->timeout);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "privacy-backend");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, pe_worker_body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pe_worker_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);

    if (j->req.body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->req.body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) strlen(j->req.body));

    } else if (strcmp(j->req.method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }

    if (j->step == PE_W_SUBMIT) {
        j->provider->submitting++;
    }

    j->easy = e;
    j->started = pe_now();
    j->due = 0;

    if (j->step == PE_W_POLL) {
        /* this poll answers every callback received so far */
        j->polled = j->started;
        j->hinted = 0;
    }

    curl_multi_add_handle(w->multi, e);
    atomic_fetch_add(&w->be->metrics[j->pidx].calls, 1);
    atomic_fetch_add(&w->be->metrics[j->pidx].in_flight, 1);
}


/* --- what came back ------------------------------------------------------ */

static void
pe_worker_latency(pe_wjob_t *j)
{
    size_t                  b;
    unsigned long           ms;
    pe_provider_metrics_t  *m = &j->worker->be->metrics[j->pidx];
    static const unsigned   bounds[] = PE_LATENCY_BUCKETS;

    ms = (unsigned long) ((pe_now() - j->started) * 1000);

    for (b = 0; b < PE_LATENCY_NBUCKETS && ms > bounds[b]; b++) {
        /* void */
    }

    atomic_fetch_add(&m->latency[b], 1);
    atomic_fetch_add(&m->latency_ms, ms);
}


/*
 * Until the next poll: with callbacks, a fallback every poll= seconds (the
 * callback wakes it sooner); without, 0.25 s growing to poll= (5 s).
 */
static double
pe_worker_poll_delay(pe_wjob_t *j)
{
    double  delay, most;

    most = (double) j->provider->conf->poll;

    if (j->task.webhook_url) {
        return most;
    }

    delay = 0.25 * pow(1.5, j->polls < 16 ? j->polls : 16);

    return delay < most ? delay : most;
}


/* the provider has the submission: its id kept before anything else */
static void
pe_worker_submitted(pe_wjob_t *j)
{
    int           rc;
    size_t        n;
    const char   *fv[16];
    pe_backend_t *be = j->worker->be;

    n = 0;
    fv[n++] = "status";        fv[n++] = "submitted";
    fv[n++] = "remote_id";     fv[n++] = j->task.remote_id;
    fv[n++] = "status_url";    fv[n++] = j->task.status_url;
    fv[n++] = "response_url";  fv[n++] = j->task.response_url;
    fv[n++] = "cancel_url";    fv[n++] = j->task.cancel_url;

    rc = pe_worker_write(j, fv, n);

    if (rc == 0) {
        pe_worker_orphan(j);
        return;
    }

    /* Redis away: kept in memory and written with the next state */
    j->unsaved = rc == -1;

    j->state = PE_JOB_SUBMITTED;
    pe_worker_count(j, PE_JOB_SUBMITTED);
    pe_retention_job_submitted(be, j->id, j->media_inline);

    pe_worker_unload(j);

    pe_log(PE_LOG_INFO, "job %s submitted to %s", j->id,
           j->provider->conf->name);

    j->step = PE_W_POLL;
    j->attempts = 0;
    j->due = pe_now() + pe_worker_poll_delay(j);
}


/* -1 when the job was erased meanwhile (and is no longer polled) */
static int
pe_worker_state(pe_wjob_t *j, pe_job_state_e state)
{
    int          rc;
    const char  *fv[2];

    if (j->state == state && !j->unsaved) {
        return 0;
    }

    fv[0] = "status";
    fv[1] = pe_job_state_name(state);
    rc = pe_worker_update(j, fv, 2);

    if (rc == 0) {
        pe_worker_orphan(j);
        return -1;
    }

    if (j->state != state) {
        j->state = state;
        pe_worker_count(j, state);

        if (state == PE_JOB_RUNNING && j->task.has_media
            && !j->media_inline)
        {
            pe_media_job_running(j->worker->be, j->id);
        }
    }

    return 0;
}


/* no answer, or one saying "not now": the same call later, or the end */
static void
pe_worker_retry(pe_wjob_t *j, CURLcode cc, long code)
{
    double        delay;
    pe_worker_t  *w = j->worker;

    if (cc != CURLE_OK) {
        atomic_fetch_add(&w->be->metrics[j->pidx].errors, 1);
    }

    /*
     * A submission that may have arrived is never sent again: only a
     * connection never made, or an answer saying "not taken", is
     * retried.
     */
    if (j->step == PE_W_SUBMIT && cc != CURLE_OK
        && cc != CURLE_COULDNT_CONNECT && cc != CURLE_COULDNT_RESOLVE_HOST)
    {
        const char  *fv[2] = { "submit_uncertain", "1" };

        pe_worker_update(j, fv, 2);
        snprintf(j->task.reason, sizeof(j->task.reason),
                 "provider_no_answer: %s; not resubmitted, it may run "
                 "at the provider", curl_easy_strerror(cc));
        pe_worker_finish(j, PE_JOB_FAILED);
        return;
    }

    j->attempts++;

    if ((j->step == PE_W_SUBMIT || j->step == PE_W_FIND)
        && j->attempts >= PE_WORKER_SUBMITS)
    {
        snprintf(j->task.reason, sizeof(j->task.reason),
                 "provider_unavailable: %ld after %d attempts", code,
                 j->attempts);
        pe_worker_finish(j, PE_JOB_FAILED);
        return;
    }

    if (j->step == PE_W_CANCEL && j->attempts >= PE_WORKER_SUBMITS) {
        pe_log(PE_LOG_WARN, "job %s: cancel not confirmed by %s", j->id,
               j->provider->conf->name);
        pe_worker_ack(w, j->entry);
        pe_wjob_free(j);
        return;
    }

    if (j->step == PE_W_SUBMIT) {
        /* read again, and verified again, when its turn comes */
        pe_worker_unload(j);
    }

    atomic_fetch_add(&w->be->metrics[j->pidx].retries, 1);
    delay = pe_backoff(j->attempts - 1, j->retry_after);
    j->due = pe_now() + delay;

    if (cc != CURLE_OK) {
        pe_log(PE_LOG_INFO, "job %s: %s: %s, retry in %.1fs", j->id,
               j->provider->conf->name, curl_easy_strerror(cc), delay);

    } else {
        pe_log(PE_LOG_INFO, "job %s: %s answered %ld, retry in %.1fs", j->id,
               j->provider->conf->name, code, delay);
    }
}


/*
 * After a crash mid-submission, the provider was asked for a task with our
 * job id: found, it is polled as if the submission had answered; not
 * found, it is submitted (again, and said so).
 */
static void
pe_worker_found(pe_wjob_t *j, pe_remote_e rc)
{
    const char  *fv[2] = { "resubmitted", "1" };

    if (j->task.remote_id[0]) {
        pe_log(PE_LOG_WARN, "job %s: submission interrupted, found at %s, "
               "not submitted again", j->id, j->provider->conf->name);
        pe_worker_submitted(j);
        return;
    }

    if (rc == PE_REMOTE_NOT_FOUND) {
        pe_worker_update(j, fv, 2);
        pe_log(PE_LOG_WARN, "job %s: submission interrupted, not at %s, "
               "submitted again", j->id, j->provider->conf->name);
        j->step = PE_W_SUBMIT;
        j->attempts = 0;
        j->due = pe_now();
        return;
    }

    /* an answer that says neither: asked again, a few times */
    pe_worker_retry(j, CURLE_OK, 0);
}


/* the call of a job came back, or failed */
static void
pe_worker_done(pe_wjob_t *j, CURLcode cc)
{
    long          code;
    pe_remote_e   rc;
    pe_worker_t  *w = j->worker;

    code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(w->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    atomic_fetch_sub(&w->be->metrics[j->pidx].in_flight, 1);
    pe_worker_latency(j);

    if (j->step == PE_W_SUBMIT) {
        j->provider->submitting--;
    }

    /* the request (perhaps the media, inline) is not kept while waiting */
    curl_slist_free_all(j->req.headers);
    free(j->req.body);
    memset(&j->req, 0, sizeof(j->req));

    rc = PE_REMOTE_RETRY;

    if (cc == CURLE_OK && code != 429 && code < 500) {
        rc = j->provider->ops->parse(j->provider, &j->task,
                                     pe_step_op[j->step], code,
                                     j->body ? j->body : "", j->body_len);
    }

    free(j->body);
    j->body = NULL;
    j->body_len = 0;

    if (rc == PE_REMOTE_RETRY) {
        pe_worker_retry(j, cc, code);
        return;
    }

    if (j->step == PE_W_CANCEL) {
        pe_log(PE_LOG_INFO, "job %s canceled at %s", j->id,
               j->provider->conf->name);
        pe_worker_ack(w, j->entry);
        pe_wjob_free(j);
        return;
    }

    if (j->step == PE_W_FIND) {
        pe_worker_found(j, rc);
        return;
    }

    switch (rc) {

    case PE_REMOTE_QUEUED:
    case PE_REMOTE_RUNNING:
        if (j->step == PE_W_SUBMIT) {
            pe_worker_submitted(j);
            return;
        }

        if (pe_worker_state(j, rc == PE_REMOTE_RUNNING ? PE_JOB_RUNNING
                                                       : PE_JOB_SUBMITTED)
            != 0)
        {
            return;
        }

        j->polls++;
        j->due = pe_now() + pe_worker_poll_delay(j);
        j->attempts = 0;

        if (pe_now() - j->created > PE_WORKER_JOB_DEADLINE) {
            snprintf(j->task.reason, sizeof(j->task.reason),
                     "deadline: not finished in %d s",
                     PE_WORKER_JOB_DEADLINE);
            pe_worker_finish(j, PE_JOB_EXPIRED);
        }

        return;

    case PE_REMOTE_DONE:
        j->step = PE_W_RESULT;
        j->attempts = 0;
        j->due = pe_now();
        return;

    case PE_REMOTE_SUCCEEDED:
        pe_worker_finish(j, PE_JOB_SUCCEEDED);
        return;

    case PE_REMOTE_CANCELED:
        pe_worker_finish(j, PE_JOB_CANCELED);
        return;

    case PE_REMOTE_FAILED:
        pe_worker_finish(j, PE_JOB_FAILED);
        return;

    default:
        if (j->step == PE_W_SUBMIT) {
            /* accepted, maybe, in words we do not understand */
            const char  *fv[2] = { "submit_uncertain", "1" };

            pe_worker_update(j, fv, 2);
            snprintf(j->task.reason, sizeof(j->task.reason),
                     "provider_invalid_answer: %ld; not resubmitted", code);
            pe_worker_finish(j, PE_JOB_FAILED);
            return;
        }

        j->attempts++;
        atomic_fetch_add(&w->be->metrics[j->pidx].retries, 1);
        j->due = pe_now() + pe_backoff(j->attempts, 0);
        return;
    }
}


/* --- intake -------------------------------------------------------------- */

static pe_wjob_t *
pe_worker_find(pe_worker_t *w, const char *id)
{
    pe_wjob_t  *j;

    for (j = w->jobs; j; j = j->next) {
        if (strcmp(j->id, id) == 0) {
            return j;
        }
    }

    return NULL;
}


static const char *
pe_hash_get(redisReply *r, const char *field)
{
    size_t  i;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, field) == 0) {
            return r->element[i + 1]->str;
        }
    }

    return NULL;
}


static void
pe_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}


static pe_wjob_t *
pe_wjob_new(pe_worker_t *w, const char *id, const char *entry,
    const char *provider)
{
    int          p;
    pe_wjob_t   *j, **pp;

    p = pe_job_provider_index(&w->be->conf, provider);

    if (p < 0 || w->providers[p].ops == NULL) {
        return NULL;
    }

    j = calloc(1, sizeof(pe_wjob_t));
    if (j == NULL) {
        return NULL;
    }

    j->worker = w;
    j->pidx = p;
    j->provider = &w->providers[p];
    pe_copy(j->id, sizeof(j->id), id);
    pe_copy(j->entry, sizeof(j->entry), entry);
    j->task.job_id = j->id;
    j->task.params = json_object();

    /* the callback names the job; it is believed only as the route says */
    if (pe_conf_webhooks(&w->be->conf, j->provider->conf)) {
        snprintf(j->webhook, sizeof(j->webhook),
                 "%s/v1/providers/%s/webhook?job=%s", w->be->conf.public_url,
                 j->provider->conf->name, j->id);
        j->task.webhook_url = j->webhook;
    }
    j->due = pe_now();
    j->created = j->due;

    /* at the end: taken first, sent first */
    for (pp = &w->jobs; *pp; pp = &(*pp)->next) { /* void */ }

    *pp = j;
    w->njobs++;

    return j;
}


/* a cancel entry: the provider and the URL, nothing of the subject */
static void
pe_worker_take_cancel(pe_worker_t *w, const char *entry, redisReply *f)
{
    pe_wjob_t   *j;
    const char  *id, *url;

    id = pe_hash_get(f, "cancel");
    url = pe_hash_get(f, "url");

    j = pe_wjob_new(w, id, entry, pe_hash_get(f, "provider"));

    if (j == NULL || url == NULL) {
        if (j) {
            pe_wjob_free(j);
        }

        pe_worker_ack(w, entry);
        return;
    }

    j->step = PE_W_CANCEL;
    pe_copy(j->task.cancel_url, sizeof(j->task.cancel_url), url);
}


static void
pe_worker_take(pe_worker_t *w, const char *entry, redisReply *fields)
{
    int          state;
    double       created;
    json_t      *params;
    pe_wjob_t   *j;
    redisReply  *r;
    const char  *id, *v;

    if (pe_hash_get(fields, "cancel")) {
        pe_worker_take_cancel(w, entry, fields);
        return;
    }

    id = pe_hash_get(fields, "job");

    if (id == NULL || !pe_job_id_valid(id)) {
        pe_worker_ack(w, entry);
        return;
    }

    if (pe_worker_find(w, id)) {
        return;                     /* ours already */
    }

    r = pe_store_command(w->be->store, "HGETALL pe:job:%s", id);

    if (r == NULL) {
        return;                     /* Redis is away: taken again later */
    }

    state = r->type == REDIS_REPLY_ARRAY && r->elements
            ? pe_job_state_parse(pe_hash_get(r, "status")) : -1;

    /* erased, or ended before a crash let it be acknowledged */
    if (state < 0 || state >= PE_JOB_SUCCEEDED) {
        freeReplyObject(r);
        pe_worker_ack(w, entry);
        return;
    }

    j = pe_wjob_new(w, id, entry, pe_hash_get(r, "provider"));

    if (j == NULL) {
        freeReplyObject(r);
        pe_log(PE_LOG_ERR, "job %s: provider not configured", id);
        return;
    }

    j->state = (pe_job_state_e) state;
    pe_copy(j->sub, sizeof(j->sub), pe_hash_get(r, "sub"));
    pe_copy(j->model, sizeof(j->model), pe_hash_get(r, "model"));
    pe_copy(j->media_type, sizeof(j->media_type),
            pe_hash_get(r, "media_type"));
    pe_copy(j->grp, sizeof(j->grp), pe_hash_get(r, "grp"));
    j->task.model = j->model;

    v = pe_hash_get(r, "size");
    j->size = v ? strtoull(v, NULL, 10) : 0;
    j->task.has_media = j->size > 0;
    j->task.is_video = strncmp(j->media_type, "video/", 6) == 0;
    j->media_inline = !j->task.is_video && j->size <= PE_MEDIA_INLINE_MAX;

    v = pe_hash_get(r, "created");
    created = v ? strtod(v, NULL) : 0;
    j->created = created > 0 ? created : pe_now();

    v = pe_hash_get(r, "params");
    params = v ? json_loads(v, 0, NULL) : NULL;

    if (json_is_object(params)) {
        json_decref(j->task.params);
        j->task.params = params;

    } else {
        json_decref(params);
    }

    pe_copy(j->task.remote_id, sizeof(j->task.remote_id),
            pe_hash_get(r, "remote_id"));
    pe_copy(j->task.status_url, sizeof(j->task.status_url),
            pe_hash_get(r, "status_url"));
    pe_copy(j->task.response_url, sizeof(j->task.response_url),
            pe_hash_get(r, "response_url"));
    pe_copy(j->task.cancel_url, sizeof(j->task.cancel_url),
            pe_hash_get(r, "cancel_url"));
    j->resubmitted = pe_hash_get(r, "resubmitted") != NULL;

    freeReplyObject(r);

    if (j->task.remote_id[0]) {
        /* the provider has it: poll, never submit again */
        j->step = PE_W_POLL;

    } else if (state == PE_JOB_SUBMITTING && j->provider->ops->finds) {
        /* a crash mid-submission: is it there under our id? */
        j->step = PE_W_FIND;

    } else {
        j->step = PE_W_SUBMIT;

        if (state == PE_JOB_SUBMITTING) {
            /* a crash mid-submission: once more, and said so */
            const char  *fv[2] = { "resubmitted", "1" };

            pe_worker_update(j, fv, 2);
            pe_log(PE_LOG_WARN, "job %s: submission interrupted, submitted "
                   "again", id);
        }
    }
}


static void
pe_worker_group(pe_worker_t *w)
{
    redisReply  *r;

    r = pe_store_command(w->be->store, "XGROUP CREATE %s %s 0 MKSTREAM",
                         PE_JOBS_STREAM, PE_GROUP);
    freeReplyObject(r);
}


/* entries of an XREADGROUP or XAUTOCLAIM answer: [[id, [f, v...]], ...] */
static size_t
pe_worker_entries(pe_worker_t *w, redisReply *list)
{
    size_t       i, n;
    redisReply  *e;

    n = 0;

    for (i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements;
         i++)
    {
        e = list->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;               /* deleted since: nil fields */
        }

        if (e->element[1]->type == REDIS_REPLY_ARRAY) {
            pe_worker_take(w, e->element[0]->str, e->element[1]);

        } else {
            pe_worker_ack(w, e->element[0]->str);
        }

        n++;
    }

    return n;
}


static void
pe_worker_intake(pe_worker_t *w)
{
    size_t       room, n;
    redisReply  *r;

    room = PE_WORKER_MAX_JOBS - w->njobs;
    room = room < PE_WORKER_BATCH ? room : PE_WORKER_BATCH;

    if (room == 0) {
        return;
    }

    /* after a start, what this consumer held before it died, first */
    r = pe_store_command(w->be->store,
                         "XREADGROUP GROUP %s %s COUNT %d STREAMS %s %s",
                         PE_GROUP, w->consumer, (int) room, PE_JOBS_STREAM,
                         w->own_pending ? "0" : ">");

    if (r && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOGROUP", 7) == 0)
    {
        pe_worker_group(w);         /* Redis lost it, or a first start */
    }

    n = 0;

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->elements == 2)
    {
        n = pe_worker_entries(w, r->element[0]->element[1]);
    }

    if (r && r->type != REDIS_REPLY_ERROR && w->own_pending && n < room) {
        w->own_pending = 0;
    }

    freeReplyObject(r);
}


/* entries another worker took and left idle: it died */
static void
pe_worker_claim(pe_worker_t *w)
{
    redisReply  *r;

    r = pe_store_command(w->be->store,
                         "XAUTOCLAIM %s %s %s %d 0-0 COUNT %d",
                         PE_JOBS_STREAM, PE_GROUP, w->consumer,
                         PE_WORKER_CLAIM_IDLE * 1000, PE_WORKER_BATCH);

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        pe_worker_entries(w, r->element[1]);
    }

    freeReplyObject(r);
}


/* what this worker holds is kept from looking idle to the others */
static void
pe_worker_touch(pe_worker_t *w)
{
    size_t       argc;
    pe_wjob_t   *j;
    redisReply  *r;
    const char  *argv[PE_WORKER_MAX_JOBS + 8];

    argc = 0;
    argv[argc++] = "XCLAIM";
    argv[argc++] = PE_JOBS_STREAM;
    argv[argc++] = PE_GROUP;
    argv[argc++] = w->consumer;
    argv[argc++] = "0";

    for (j = w->jobs; j && argc < PE_WORKER_MAX_JOBS + 5; j = j->next) {
        if (j->entry[0]) {
            argv[argc++] = j->entry;
        }
    }

    if (argc == 5) {
        return;
    }

    argv[argc++] = "JUSTID";
    r = pe_store_argv(w->be->store, (int) argc, argv, NULL);
    freeReplyObject(r);
}


/* --- hints --------------------------------------------------------------- */

/* the jobs a webhook named are marked, if this worker holds them */
static void
pe_worker_hints(pe_worker_t *w)
{
    size_t      i, n;
    pe_wjob_t  *j;
    char        ids[PE_WORKER_HINTS][PE_JOB_ID_LEN + 1];

    pthread_mutex_lock(&w->hint_lock);
    n = w->nhints;
    memcpy(ids, w->hints, n * sizeof(ids[0]));
    w->nhints = 0;
    pthread_mutex_unlock(&w->hint_lock);

    for (i = 0; i < n; i++) {
        j = pe_worker_find(w, ids[i]);

        if (j) {
            j->hinted = 1;
        }
    }
}


/*
 * A marked job's next poll brought forward: at once, or PE_WORKER_HINT_GAP
 * after its last.  Kept until it can be: a poll or submission in flight,
 * a backoff (never cut short: the provider asked for it) or the end.
 */
static void
pe_worker_heed(pe_wjob_t *j, double now)
{
    double  at;

    if (j->step != PE_W_POLL || j->easy || j->ending || j->attempts) {
        return;
    }

    at = j->polled + PE_WORKER_HINT_GAP;
    at = at > now ? at : now;

    if (at < j->due) {
        j->due = at;
    }

    j->hinted = 0;
}


/* --- the loop ------------------------------------------------------------ */

static void *
pe_worker_loop(void *data)
{
    int           running, timeout_ms;
    double        now, next;
    CURLMsg      *msg;
    pe_wjob_t    *j, *jn;
    pe_worker_t  *w = data;

    pe_worker_group(w);

    while (!atomic_load(&w->stop)) {
        now = pe_now();

        if (atomic_load(&w->hinted)) {
            atomic_store(&w->hinted, 0);
            pe_worker_hints(w);
        }

        if (atomic_exchange(&w->woken, 0) || now >= w->next_intake) {
            pe_worker_intake(w);
            w->next_intake = now + (w->own_pending ? 0 : 1);
        }

        if (now >= w->next_claim) {
            pe_worker_claim(w);
            w->next_claim = now + 10;
        }

        if (now >= w->next_touch) {
            pe_worker_touch(w);
            w->next_touch = now + PE_WORKER_CLAIM_IDLE / 3;
        }

        if (now >= w->next_sweep) {
            pe_retention_sweep(w->be, (time_t) now);
            w->next_sweep = now + 1;
        }

        if (now >= w->next_spool) {
            pe_retention_sweep_spool(w->be);
            w->next_spool = now + 600;
        }

        next = w->next_intake < w->next_sweep ? w->next_intake
                                              : w->next_sweep;

        for (j = w->jobs; j; j = jn) {
            jn = j->next;

            if (j->hinted) {
                pe_worker_heed(j, now);
            }

            if (j->easy == NULL && j->due <= now) {
                if (j->step == PE_W_SUBMIT && !j->ending
                    && j->provider->submitting
                       >= j->provider->conf->submit_parallel)
                {
                    continue;           /* its turn comes (see worker.h) */
                }

                if (j->ending) {
                    pe_worker_finish(j, (pe_job_state_e) (j->ending - 1));

                } else {
                    pe_worker_call(j);     /* may free j */
                }

            } else if (j->easy == NULL && j->due < next) {
                next = j->due;
            }
        }

        now = pe_now();
        timeout_ms = next > now ? (int) ((next - now) * 1000) + 1 : 0;
        timeout_ms = timeout_ms < PE_WORKER_TICK_MS ? timeout_ms
                                                    : PE_WORKER_TICK_MS;

        curl_multi_poll(w->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(w->multi, &running);

        while ((msg = curl_multi_info_read(w->multi, &running)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            j = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                              (char **) &j);

            if (j) {
                pe_worker_done(j, msg->data.result);
            }
        }
    }

    while (w->jobs) {
        pe_wjob_free(w->jobs);      /* their entries stay pending */
    }

    return NULL;
}


int
pe_worker_start(pe_backend_t *be, char *err, size_t errlen)
{
    size_t        i;
    char          host[64];
    pe_worker_t  *w;

    w = calloc(1, sizeof(pe_worker_t));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    w->be = be;
    pthread_mutex_init(&w->hint_lock, NULL);

    for (i = 0; i < be->conf.nproviders; i++) {
        w->providers[i].conf = &be->conf.providers[i];
        w->providers[i].ops = pe_provider_ops(be->conf.providers[i].kind);

        if (w->providers[i].ops == NULL) {
            /* an adapter yet to come: its jobs wait in the stream */
            pe_log(PE_LOG_WARN, "provider \"%s\": no adapter in this build",
                   be->conf.providers[i].name);
            continue;
        }

        if (w->providers[i].ops->init(&w->providers[i], err, errlen) != 0) {
            free(w);
            return -1;
        }
    }

    /* the same name after a restart: its pending entries are ours again */
    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }

    host[sizeof(host) - 1] = '\0';
    snprintf(w->consumer, sizeof(w->consumer), "%s:%d", host,
             be->conf.listen_port);
    w->own_pending = 1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
        || (w->multi = curl_multi_init()) == NULL)
    {
        snprintf(err, errlen, "libcurl cannot start");
        free(w);
        return -1;
    }

    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32L);

    be->worker = w;

    if (pthread_create(&w->thread, NULL, pe_worker_loop, w) != 0) {
        snprintf(err, errlen, "cannot start the worker thread");
        curl_multi_cleanup(w->multi);
        be->worker = NULL;
        free(w);
        return -1;
    }

    w->running = 1;

    return 0;
}


void
pe_worker_wake(pe_backend_t *be)
{
    if (be->worker && be->worker->running) {
        atomic_store(&be->worker->woken, 1);
        curl_multi_wakeup(be->worker->multi);
    }
}


void
pe_worker_hint(pe_backend_t *be, const char *id)
{
    size_t        i;
    pe_worker_t  *w = be->worker;

    if (w == NULL || !w->running || strlen(id) > PE_JOB_ID_LEN) {
        return;
    }

    pthread_mutex_lock(&w->hint_lock);

    /* once each: a flood for one job does not crowd the others out */
    for (i = 0; i < w->nhints && strcmp(w->hints[i], id) != 0; i++) {
        /* void */
    }

    /* full: the fallback poll finds it soon enough */
    if (i == w->nhints && w->nhints < PE_WORKER_HINTS) {
        memcpy(w->hints[w->nhints++], id, strlen(id) + 1);
    }

    pthread_mutex_unlock(&w->hint_lock);

    atomic_store(&w->hinted, 1);
    curl_multi_wakeup(w->multi);
}


void
pe_worker_stop(pe_backend_t *be)
{
    size_t        i;
    pe_worker_t  *w = be->worker;

    if (w == NULL) {
        return;
    }

    if (w->running) {
        atomic_store(&w->stop, 1);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }

    curl_multi_cleanup(w->multi);
    curl_global_cleanup();
    pthread_mutex_destroy(&w->hint_lock);

    for (i = 0; i < PE_CONF_MAX_PROVIDERS; i++) {
        OPENSSL_cleanse(&w->providers[i], sizeof(pe_provider_t));
    }

    free(w);
    be->worker = NULL;
}
