/*
 * privacy-backend: the worker's loop, and its face to the other threads
 * (see worker.h); a job's record and end are in worker_job.c, its calls
 * in worker_call.c, the stream in worker_intake.c.
 */

#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "retention.h"
#include "worker_call.h"
#include "worker_hints.h"
#include "worker_intake.h"
#include "worker_job.h"


#define PE_WORKER_TICK_MS      1000


/*
 * Seconds from one poll a callback asked for to the last poll's start:
 * callbacks (Kling's unsigned) cannot make a job cost its provider more
 * than a poll a second, however many arrive; those in between are
 * coalesced into the next.
 */
#define PE_WORKER_HINT_GAP  1.0


/* --- hints --------------------------------------------------------------- */

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
    int                  running, timeout_ms;
    double               now, next;
    CURLMsg             *msg;
    pe_wjob_t           *j, *jn;
    pe_worker_t         *w = data;
    struct curl_waitfd   hint;

    pe_intake_group(w);

    while (!atomic_load(&w->stop)) {
        now = pe_wjob_now();

        if (atomic_load(&w->hinted)) {
            atomic_store(&w->hinted, 0);
            pe_hints_take(w);
        }

        if (atomic_exchange(&w->woken, 0) || now >= w->next_intake) {
            pe_intake_read(w);
            w->next_intake = now + (w->own_pending ? 0 : 1);
        }

        if (now >= w->next_claim) {
            pe_intake_claim(w);
            w->next_claim = now + 10;
        }

        if (now >= w->next_touch) {
            pe_intake_touch(w);
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
                    pe_wjob_finish(j, (pe_job_state_e) (j->ending - 1));

                } else {
                    pe_wcall_start(j);     /* may free j */
                }

            } else if (j->easy == NULL && j->due < next) {
                next = j->due;
            }
        }

        now = pe_wjob_now();
        timeout_ms = next > now ? (int) ((next - now) * 1000) + 1 : 0;
        timeout_ms = timeout_ms < PE_WORKER_TICK_MS ? timeout_ms
                                                    : PE_WORKER_TICK_MS;

        hint.fd = pe_hints_fd(w, now);
        hint.events = CURL_WAIT_POLLIN;
        hint.revents = 0;

        curl_multi_poll(w->multi, &hint, hint.fd >= 0, timeout_ms, NULL);

        if (hint.revents) {
            pe_hints_read(w);
        }

        curl_multi_perform(w->multi, &running);

        while ((msg = curl_multi_info_read(w->multi, &running)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            j = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                              (char **) &j);

            if (j) {
                pe_wcall_done(j, msg->data.result);
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
    char           host[64];
    size_t         i;
    pe_worker_t   *w;
    unsigned char  self[8];

    w = calloc(1, sizeof(pe_worker_t));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    w->be = be;
    pthread_mutex_init(&w->hint_lock, NULL);

    /* who this worker is in the hints it publishes (worker_hints.h) */
    if (RAND_bytes(self, sizeof(self)) != 1) {
        snprintf(err, errlen, "no random bytes");
        pthread_mutex_destroy(&w->hint_lock);
        free(w);
        return -1;
    }

    for (i = 0; i < sizeof(self); i++) {
        snprintf(w->hints_self + 2 * i, 3, "%02x", self[i]);
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
    if (strlen(id) <= PE_JOB_ID_LEN) {
        pe_hints_publish(be, id);
    }
}


void
pe_worker_stop(pe_backend_t *be)
{
    pe_worker_t  *w = be->worker;

    if (w == NULL) {
        return;
    }

    if (w->running) {
        atomic_store(&w->stop, 1);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }

    pe_hints_close(w);
    curl_multi_cleanup(w->multi);
    curl_global_cleanup();
    pthread_mutex_destroy(&w->hint_lock);

    free(w);
    be->worker = NULL;
}
