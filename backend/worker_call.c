/*
 * privacy-backend: a job's calls to its provider (see worker_call.h).
 */

#include "worker_call.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "media.h"
#include "retention.h"


#define PE_WORKER_BODY_MAX     (1024 * 1024)   /* of a provider's answer */


static size_t
pe_wcall_body(char *p, size_t size, size_t n, void *data)
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
pe_wcall_header(char *p, size_t size, size_t n, void *data)
{
    pe_wjob_t  *j = data;

    n *= size;

    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        j->retry_after = strtol(p + 12, NULL, 10);   /* seconds form only */
    }

    return n;
}


static const pe_op_e  pe_wcall_op[] = {
    PE_OP_SUBMIT, PE_OP_POLL, PE_OP_RESULT, PE_OP_CANCEL, PE_OP_FIND
};


/* the job's next call, started */
void
pe_wcall_start(pe_wjob_t *j)
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
            pe_wjob_finish(j, PE_JOB_FAILED);
            return;
        }

        if (!j->loaded && pe_wjob_load(j) != 0) {
            pe_retention_unlink(w->be, j->id);
            pe_wjob_finish(j, PE_JOB_FAILED);
            return;
        }

        if (j->state != PE_JOB_SUBMITTING) {
            /* before a byte leaves: a crash from here on may resubmit */
            n = 0;
            fv[n++] = "status";
            fv[n++] = "submitting";
            rc = pe_wjob_update(j, fv, n);

            if (rc == 0) {
                pe_wjob_orphan(j);
                return;
            }

            if (rc == -1) {
                /* its media (inline, up to 2 x 7 MiB for Veo) not held
                   while it waits: loaded again when it is due */
                pe_wjob_unload(j);
                j->due = pe_wjob_now() + pe_wjob_backoff(j->attempts, 0);
                return;
            }

            j->state = PE_JOB_SUBMITTING;
            pe_wjob_count(j, PE_JOB_SUBMITTING);
        }
    }

    curl_slist_free_all(j->req.headers);
    free(j->req.body);
    memset(&j->req, 0, sizeof(j->req));
    free(j->body);
    j->body = NULL;
    j->body_len = 0;
    j->retry_after = 0;

    if (j->provider->ops->prepare(j->provider, &j->task, pe_wcall_op[j->step],
                                  &j->req, err, sizeof(err))
        != 0)
    {
        snprintf(j->task.reason, sizeof(j->task.reason), "%s", err);
        pe_wjob_finish(j, PE_JOB_FAILED);
        return;
    }

    e = curl_easy_init();
    if (e == NULL) {
        pe_wjob_unload(j);
        curl_slist_free_all(j->req.headers);
        free(j->req.body);
        memset(&j->req, 0, sizeof(j->req));
        j->due = pe_wjob_now() + 1;
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
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, pe_wcall_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pe_wcall_header);
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
    j->started = pe_wjob_now();
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
pe_wcall_latency(pe_wjob_t *j)
{
    size_t                  b;
    unsigned long           ms;
    pe_provider_metrics_t  *m = &j->worker->be->metrics[j->pidx];
    static const unsigned   bounds[] = PE_LATENCY_BUCKETS;

    ms = (unsigned long) ((pe_wjob_now() - j->started) * 1000);

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
pe_wcall_poll_delay(pe_wjob_t *j)
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
pe_wcall_submitted(pe_wjob_t *j)
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

    rc = pe_wjob_write(j, fv, n);

    if (rc == 0) {
        pe_wjob_orphan(j);
        return;
    }

    /* Redis away: kept in memory and written with the next state */
    j->unsaved = rc == -1;

    j->state = PE_JOB_SUBMITTED;
    pe_wjob_count(j, PE_JOB_SUBMITTED);
    pe_retention_job_submitted(be, j->id, j->media_inline);

    pe_wjob_unload(j);

    pe_log(PE_LOG_INFO, "job %s submitted to %s", j->id,
           j->provider->conf->name);

    j->step = PE_W_POLL;
    j->attempts = 0;
    j->due = pe_wjob_now() + pe_wcall_poll_delay(j);
}


/* -1 when the job was erased meanwhile (and is no longer polled) */
static int
pe_wcall_state(pe_wjob_t *j, pe_job_state_e state)
{
    int          rc;
    const char  *fv[2];

    if (j->state == state && !j->unsaved) {
        return 0;
    }

    fv[0] = "status";
    fv[1] = pe_job_state_name(state);
    rc = pe_wjob_update(j, fv, 2);

    if (rc == 0) {
        pe_wjob_orphan(j);
        return -1;
    }

    if (j->state != state) {
        j->state = state;
        pe_wjob_count(j, state);

        if (state == PE_JOB_RUNNING && j->task.ninputs
            && !j->media_inline)
        {
            pe_media_job_running(j->worker->be, j->id);
        }
    }

    return 0;
}


/*
 * A cancel the provider cannot do yet (a task runs to its end): asked
 * again after as long as it has waited, until the task must have ended.
 */
static void
pe_wcall_later(pe_wjob_t *j, long code)
{
    double        waited, delay;
    pe_worker_t  *w = j->worker;

    waited = pe_wjob_now() - j->created;

    if (waited > PE_WORKER_CANCEL_DEADLINE) {
        pe_log(PE_LOG_WARN, "job %s: cancel not confirmed by %s in %d s",
               j->id, j->provider->conf->name, PE_WORKER_CANCEL_DEADLINE);
        pe_wjob_ack(w, j->entry);
        pe_wjob_free(j);
        return;
    }

    delay = waited > PE_WORKER_CANCEL_FIRST ? waited : PE_WORKER_CANCEL_FIRST;
    delay = delay > (double) j->retry_after ? delay : (double) j->retry_after;
    delay = delay < PE_WORKER_CANCEL_MOST ? delay : PE_WORKER_CANCEL_MOST;
    j->due = pe_wjob_now() + delay;

    pe_log(PE_LOG_INFO, "job %s: cancel not done by %s (%ld), asked again "
           "in %.1fs", j->id, j->provider->conf->name, code, delay);
}


/* no answer, or one saying "not now": the same call later, or the end */
static void
pe_wcall_retry(pe_wjob_t *j, CURLcode cc, long code)
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

        pe_wjob_update(j, fv, 2);
        snprintf(j->task.reason, sizeof(j->task.reason),
                 "provider_no_answer: %s; not resubmitted, it may run "
                 "at the provider", curl_easy_strerror(cc));
        pe_wjob_finish(j, PE_JOB_FAILED);
        return;
    }

    j->attempts++;

    if ((j->step == PE_W_SUBMIT || j->step == PE_W_FIND)
        && j->attempts >= PE_WORKER_SUBMITS)
    {
        snprintf(j->task.reason, sizeof(j->task.reason),
                 "provider_unavailable: %ld after %d attempts", code,
                 j->attempts);
        pe_wjob_finish(j, PE_JOB_FAILED);
        return;
    }

    if (j->step == PE_W_CANCEL && j->attempts >= PE_WORKER_SUBMITS) {
        /* a provider away a while: asked more slowly, not given up */
        pe_wcall_later(j, code);
        return;
    }

    if (j->step == PE_W_SUBMIT) {
        /* read again, and verified again, when its turn comes */
        pe_wjob_unload(j);
    }

    atomic_fetch_add(&w->be->metrics[j->pidx].retries, 1);
    delay = pe_wjob_backoff(j->attempts - 1, j->retry_after);
    j->due = pe_wjob_now() + delay;

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
pe_wcall_found(pe_wjob_t *j, pe_remote_e rc)
{
    const char  *fv[2] = { "resubmitted", "1" };

    if (j->task.remote_id[0]) {
        pe_log(PE_LOG_WARN, "job %s: submission interrupted, found at %s, "
               "not submitted again", j->id, j->provider->conf->name);
        pe_wcall_submitted(j);
        return;
    }

    if (rc == PE_REMOTE_NOT_FOUND) {
        pe_wjob_update(j, fv, 2);
        pe_log(PE_LOG_WARN, "job %s: submission interrupted, not at %s, "
               "submitted again", j->id, j->provider->conf->name);
        j->step = PE_W_SUBMIT;
        j->attempts = 0;
        j->due = pe_wjob_now();
        return;
    }

    /* an answer that says neither: asked again, a few times */
    pe_wcall_retry(j, CURLE_OK, 0);
}


/* the call of a job came back, or failed */
void
pe_wcall_done(pe_wjob_t *j, CURLcode cc)
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
    pe_wcall_latency(j);

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
                                     pe_wcall_op[j->step], code,
                                     j->body ? j->body : "", j->body_len);
    }

    free(j->body);
    j->body = NULL;
    j->body_len = 0;

    if (rc == PE_REMOTE_LATER && j->step == PE_W_CANCEL) {
        j->attempts = 0;            /* an answer: the provider is there */
        pe_wcall_later(j, code);
        return;
    }

    if (rc == PE_REMOTE_RETRY || rc == PE_REMOTE_LATER) {
        pe_wcall_retry(j, cc, code);
        return;
    }

    if (j->step == PE_W_CANCEL) {
        pe_log(PE_LOG_INFO, "job %s: canceled or deleted at %s", j->id,
               j->provider->conf->name);
        pe_wjob_ack(w, j->entry);
        pe_wjob_free(j);
        return;
    }

    if (j->step == PE_W_FIND) {
        pe_wcall_found(j, rc);
        return;
    }

    switch (rc) {

    case PE_REMOTE_QUEUED:
    case PE_REMOTE_RUNNING:
        if (j->step == PE_W_SUBMIT) {
            pe_wcall_submitted(j);
            return;
        }

        if (pe_wcall_state(j, rc == PE_REMOTE_RUNNING ? PE_JOB_RUNNING
                                                       : PE_JOB_SUBMITTED)
            != 0)
        {
            return;
        }

        j->polls++;
        j->due = pe_wjob_now() + pe_wcall_poll_delay(j);
        j->attempts = 0;

        if (pe_wjob_now() - j->created > PE_WORKER_JOB_DEADLINE) {
            snprintf(j->task.reason, sizeof(j->task.reason),
                     "deadline: not finished in %d s",
                     PE_WORKER_JOB_DEADLINE);
            pe_wjob_finish(j, PE_JOB_EXPIRED);
        }

        return;

    case PE_REMOTE_DONE:
        j->step = PE_W_RESULT;
        j->attempts = 0;
        j->due = pe_wjob_now();
        return;

    case PE_REMOTE_SUCCEEDED:
        pe_wjob_finish(j, PE_JOB_SUCCEEDED);
        return;

    case PE_REMOTE_CANCELED:
        pe_wjob_finish(j, PE_JOB_CANCELED);
        return;

    case PE_REMOTE_FAILED:
        pe_wjob_finish(j, PE_JOB_FAILED);
        return;

    default:
        if (j->step == PE_W_SUBMIT) {
            /* accepted, maybe, in words we do not understand */
            const char  *fv[2] = { "submit_uncertain", "1" };

            pe_wjob_update(j, fv, 2);
            snprintf(j->task.reason, sizeof(j->task.reason),
                     "provider_invalid_answer: %ld; not resubmitted", code);
            pe_wjob_finish(j, PE_JOB_FAILED);
            return;
        }

        j->attempts++;
        atomic_fetch_add(&w->be->metrics[j->pidx].retries, 1);
        j->due = pe_wjob_now() + pe_wjob_backoff(j->attempts, 0);
        return;
    }
}
