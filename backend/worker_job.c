#define _GNU_SOURCE
/*
 * privacy-backend: a job in flight (see worker_job.h).
 */

#include "worker_job.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "media.h"
#include "retention.h"
#include "spool.h"
#include "store.h"


double
pe_wjob_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static double
pe_wjob_random01(void)
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
double
pe_wjob_backoff(int attempt, long retry_after)
{
    double  cap, d;

    cap = 0.5 * pow(2.0, attempt < 6 ? attempt : 6);
    cap = cap < 30.0 ? cap : 30.0;
    d = cap / 2 + pe_wjob_random01() * cap / 2;

    if (retry_after > 0) {
        retry_after = retry_after < 600 ? retry_after : 600;
        d = d > (double) retry_after ? d : (double) retry_after;
    }

    return d;
}


static const char  pe_update_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[1], unpack(ARGV)) "
    "return 1";


/* 1 written, 0 the job is gone, -1 Redis failed */
int
pe_wjob_update(pe_wjob_t *j, const char *const *fv, size_t n)
{
    int           rc;
    size_t        k;
    const char   *all[32];

    if (!j->unsaved || n > 22) {
        return pe_wjob_write(j, fv, n);
    }

    /* the provider's id and URLs, still owed to the record, go along */
    for (k = 0; k < n; k++) {
        all[k] = fv[k];
    }

    all[n++] = "remote_id";     all[n++] = j->task.remote_id;
    all[n++] = "status_url";    all[n++] = j->task.status_url;
    all[n++] = "response_url";  all[n++] = j->task.response_url;
    all[n++] = "cancel_url";    all[n++] = j->task.cancel_url;

    rc = pe_wjob_write(j, all, n);

    if (rc == 1) {
        j->unsaved = 0;
    }

    return rc;
}


int
pe_wjob_write(pe_wjob_t *j, const char *const *fv, size_t n)
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


void
pe_wjob_count(pe_wjob_t *j, pe_job_state_e state)
{
    if (j->pidx >= 0) {
        atomic_fetch_add(&j->worker->be->metrics[j->pidx].jobs[state], 1);
    }
}


/* the stream entry is done with: acknowledged and deleted */
void
pe_wjob_ack(pe_worker_t *w, const char *entry)
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


void
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
    pe_wjob_unload(j);
    json_decref(j->task.params);
    free(j);
}


/*
 * The end of a job: its final state in the record, the retention it is
 * owed scheduled, the stream entry done with.
 */
void
pe_wjob_finish(pe_wjob_t *j, pe_job_state_e state)
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

    rc = pe_wjob_update(j, fv, n);

    if (rc == -1) {
        /* Redis is away: written later, nothing else done meanwhile */
        j->ending = (int) state + 1;
        j->due = pe_wjob_now() + pe_wjob_backoff(j->attempts++, 0);
        return;
    }

    if (rc == 1) {
        pe_retention_job_ended(j->worker->be, j->id, j->sub, state);

        if (j->provider->ops->deletes_ended && j->task.cancel_url[0]
            && state != PE_JOB_CANCELED)
        {
            pe_retention_remote(j->worker->be, j->id,
                                state == PE_JOB_SUCCEEDED);
        }

        pe_wjob_count(j, state);
        pe_log(PE_LOG_INFO, "job %s %s%s%s", j->id, pe_job_state_name(state),
               state == PE_JOB_FAILED ? ": " : "",
               state == PE_JOB_FAILED ? j->task.reason : "");
    }

    pe_wjob_ack(j->worker, j->entry);
    pe_wjob_free(j);
}


/* the job was erased while in flight: the provider is told, if it can be */
void
pe_wjob_orphan(pe_wjob_t *j)
{
    pe_log(PE_LOG_INFO, "job %s erased while in flight", j->id);

    pe_retention_unlink(j->worker->be, j->id);

    /* the cancel entry the erasure left may be ours already */
    if (j->task.cancel_url[0] && j->step != PE_W_CANCEL
        && pe_wjob_find_cancel(j->worker, j->id, j) == NULL)
    {
        /* a cancel may wait for days: nothing of the subject waits too */
        pe_wjob_unload(j);
        memset(j->media, 0, sizeof(j->media));
        j->sub[0] = '\0';
        j->grp[0] = '\0';
        j->model[0] = '\0';
        j->task.output[0] = '\0';
        j->task.reason[0] = '\0';
        json_decref(j->task.params);
        j->task.params = json_object();

        j->step = PE_W_CANCEL;
        j->attempts = 0;
        j->created = pe_wjob_now();
        j->due = j->created;
        return;
    }

    pe_wjob_ack(j->worker, j->entry);
    pe_wjob_free(j);
}


/* --- what is sent ------------------------------------------------------- */

/* what a submission carried, gone from memory */
void
pe_wjob_unload(pe_wjob_t *j)
{
    size_t  k;

    if (j->prompt) {
        OPENSSL_cleanse(j->prompt, strlen(j->prompt));
        free(j->prompt);
        j->prompt = NULL;
    }

    j->task.prompt = NULL;

    for (k = 0; k < PE_ROLES; k++) {
        if (j->media[k].url) {
            OPENSSL_cleanse(j->media[k].url, strlen(j->media[k].url));
            free(j->media[k].url);
            j->media[k].url = NULL;
        }

        j->task.inputs[k].url = NULL;
    }

    j->loaded = 0;
}


/* input k: a data: URI, or a signed link to it, into its url */
static int
pe_wjob_load_input(pe_wjob_t *j, size_t k, char *err, size_t errlen)
{
    char           path[PATH_MAX], token[PE_MEDIA_TOKEN_MAX];
    uint64_t       size;
    pe_wmedia_t   *m = &j->media[k];
    pe_backend_t  *be = j->worker->be;

    pe_job_media_path(path, sizeof(path), be->conf.spool, j->id,
                      (unsigned) k);

    free(m->url);
    m->url = NULL;

    /*
     * The whole file verified before the first byte leaves: an inline one
     * as it is read, a linked one here (and again when it is fetched).
     */
    if (m->inline_) {
        m->url = pe_media_data_uri(be, path, m->media_type, m->size, err,
                                   errlen);
        return m->url ? 0 : -1;
    }

    if (pe_spool_verify(path, be->conf.data_key, &size, err, errlen) != 0) {
        return -1;
    }

    if (size != m->size) {
        snprintf(err, errlen, "size differs from the record");
        return -1;
    }

    if (pe_media_token(be, j->id, (unsigned) k,
                       time(NULL) + PE_MEDIA_URL_TTL, token, sizeof(token))
        != 0
        || asprintf(&m->url, "%s/v1/media/%s", be->conf.public_url, token)
           < 0)
    {
        m->url = NULL;
        snprintf(err, errlen, "cannot sign a media link");
        return -1;
    }

    return 0;
}


/* the prompt, the media: only now, and only what the task may carry */
int
pe_wjob_load(pe_wjob_t *j)
{
    char                 path[PATH_MAX], err[160];
    ssize_t              n;
    size_t               len, k;
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

    for (k = 0; k < j->task.ninputs; k++) {
        if (pe_wjob_load_input(j, k, err, sizeof(err)) != 0) {
            goto corrupt;
        }

        j->task.inputs[k].url = j->media[k].url;
    }

    j->loaded = 1;

    return 0;

corrupt:

    pe_log(PE_LOG_ERR, "job %s: upload unusable, nothing sent: %s", j->id,
           err);
    snprintf(j->task.reason, sizeof(j->task.reason),
             "upload_corrupt: the stored upload failed verification");

    return -1;
}


pe_wjob_t *
pe_wjob_find(pe_worker_t *w, const char *id)
{
    pe_wjob_t  *j;

    for (j = w->jobs; j; j = j->next) {
        if (strcmp(j->id, id) == 0) {
            return j;
        }
    }

    return NULL;
}


pe_wjob_t *
pe_wjob_find_cancel(pe_worker_t *w, const char *id, const pe_wjob_t *j)
{
    pe_wjob_t  *c;

    for (c = w->jobs; c; c = c->next) {
        if (c != j && c->step == PE_W_CANCEL && strcmp(c->id, id) == 0) {
            return c;
        }
    }

    return NULL;
}


void
pe_wjob_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}


pe_wjob_t *
pe_wjob_new(pe_worker_t *w, const char *id, const char *entry,
    const char *provider)
{
    int          p;
    pe_wjob_t   *j, **pp;

    p = pe_conf_provider_index(&w->be->conf, provider);

    if (p < 0 || w->be->providers[p].ops == NULL) {
        return NULL;
    }

    j = calloc(1, sizeof(pe_wjob_t));
    if (j == NULL) {
        return NULL;
    }

    j->worker = w;
    j->pidx = p;
    j->provider = &w->be->providers[p];
    pe_wjob_copy(j->id, sizeof(j->id), id);
    pe_wjob_copy(j->entry, sizeof(j->entry), entry);
    j->task.job_id = j->id;
    j->task.params = json_object();

    /* the callback names the job; it is believed only as the route says */
    if (j->provider->hooks) {
        snprintf(j->webhook, sizeof(j->webhook),
                 "%s/v1/providers/%s/webhook?job=%s", w->be->conf.public_url,
                 j->provider->conf->name, j->id);
        j->task.webhook_url = j->webhook;
    }
    j->due = pe_wjob_now();
    j->created = j->due;

    /* at the end: taken first, sent first */
    for (pp = &w->jobs; *pp; pp = &(*pp)->next) { /* void */ }

    *pp = j;
    w->njobs++;

    return j;
}
