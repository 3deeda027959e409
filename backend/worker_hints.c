/*
 * privacy-backend: callbacks' hints across backends (see worker_hints.h).
 */

#include "worker_hints.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "store.h"


#define PE_HINTS_RETRY  5.0     /* seconds between subscription attempts */


static void
pe_hints_channel(const pe_backend_t *be, char *buf, size_t size)
{
    snprintf(buf, size, "pe:hints:%d", be->conf.redis_db);
}


/* the jobs this backend's callbacks named are marked, if held here */
void
pe_hints_take(pe_worker_t *w)
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
        j = pe_wjob_find(w, ids[i]);

        if (j) {
            j->hinted = 1;
        }
    }
}


/* for the worker of this backend alone, when Redis carries no message */
static void
pe_hints_local(pe_backend_t *be, const char *id)
{
    size_t        i;
    pe_worker_t  *w = be->worker;

    if (w == NULL || !w->running) {
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
pe_hints_publish(pe_backend_t *be, const char *id)
{
    char         channel[32];
    redisReply  *r;

    pe_hints_channel(be, channel, sizeof(channel));

    r = pe_store_command(be->store, "PUBLISH %s %s", channel, id);

    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        /* no one heard, not even this backend's worker: it is told here */
        pe_log(PE_LOG_INFO, "hints: not published, this backend's only");
        freeReplyObject(r);
        pe_hints_local(be, id);
        return;
    }

    freeReplyObject(r);
}


void
pe_hints_close(pe_worker_t *w)
{
    redisFree(w->hints_sub);
    w->hints_sub = NULL;
}


/* the replies the reader holds: messages naming a job of this worker */
static void
pe_hints_drain(pe_worker_t *w)
{
    void        *reply;
    pe_wjob_t   *j;
    redisReply  *r, **e;

    for ( ;; ) {
        reply = NULL;

        if (redisGetReplyFromReader(w->hints_sub, &reply) != REDIS_OK) {
            pe_log(PE_LOG_WARN, "hints: the subscription broke, the "
                   "fallback polls until it is made again");
            pe_hints_close(w);
            return;
        }

        if (reply == NULL) {
            return;
        }

        r = reply;
        e = r->element;

        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3
            && e[0]->type == REDIS_REPLY_STRING
            && strcmp(e[0]->str, "message") == 0
            && e[2]->type == REDIS_REPLY_STRING
            && pe_job_id_valid(e[2]->str))
        {
            j = pe_wjob_find(w, e[2]->str);

            if (j) {
                j->hinted = 1;
            }
        }

        freeReplyObject(r);
    }
}


int
pe_hints_fd(pe_worker_t *w, double now)
{
    char           channel[32];
    redisReply    *r;
    redisContext  *c;

    if (w->hints_sub) {
        return w->hints_sub->fd;
    }

    if (now < w->next_hints) {
        return -1;
    }

    w->next_hints = now + PE_HINTS_RETRY;

    c = pe_store_dial(w->be->store);
    if (c == NULL) {
        return -1;
    }

    pe_hints_channel(w->be, channel, sizeof(channel));
    r = redisCommand(c, "SUBSCRIBE %s", channel);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        pe_log(PE_LOG_WARN, "hints: cannot subscribe: %s",
               r ? "unexpected reply" : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        return -1;
    }

    freeReplyObject(r);
    w->hints_sub = c;

    /* a message may have come in the subscription's own read */
    pe_hints_drain(w);

    return w->hints_sub ? w->hints_sub->fd : -1;
}


void
pe_hints_read(pe_worker_t *w)
{
    if (w->hints_sub == NULL) {
        return;
    }

    if (redisBufferRead(w->hints_sub) != REDIS_OK) {
        pe_log(PE_LOG_WARN, "hints: the subscription broke: %s",
               w->hints_sub->errstr);
        pe_hints_close(w);
        return;
    }

    pe_hints_drain(w);
}
