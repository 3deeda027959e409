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


/* seconds to the next subscription attempt: 5, doubling to 80 */
#define PE_HINTS_RETRY       5.0
#define PE_HINTS_RETRY_MOST  80.0

/*
 * A subscription is only read, so a path that died without a FIN (a NAT's
 * or a balancer's idle timeout) would never be noticed: it is PINGed, and
 * made again when the pong is late.
 */
#define PE_HINTS_PING   15.0
#define PE_HINTS_PONG   5.0


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
    char         channel[32], msg[64];
    redisReply  *r;

    /* this backend's worker at once, whatever Redis does */
    pe_hints_local(be, id);

    if (be->worker == NULL) {
        return;
    }

    /* the others': "SELF ID", so that this worker skips its own echo */
    pe_hints_channel(be, channel, sizeof(channel));
    snprintf(msg, sizeof(msg), "%s %s", be->worker->hints_self, id);

    r = pe_store_command(be->store, "PUBLISH %s %s", channel, msg);

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        pe_log(PE_LOG_WARN, "hints: not published; another backend's job "
               "waits for its fallback poll");
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
            && e[2]->len > sizeof(w->hints_self)
            && e[2]->str[sizeof(w->hints_self) - 1] == ' '
            && memcmp(e[2]->str, w->hints_self, sizeof(w->hints_self) - 1)
               != 0
            && pe_job_id_valid(e[2]->str + sizeof(w->hints_self)))
        {
            j = pe_wjob_find(w, e[2]->str + sizeof(w->hints_self));

            if (j) {
                j->hinted = 1;
            }

        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2
                   && e[0]->type == REDIS_REPLY_STRING
                   && strcmp(e[0]->str, "pong") == 0)
        {
            w->pong_due = 0;
        }

        freeReplyObject(r);
    }
}


static int
pe_hints_flush(redisContext *c)
{
    int  done;

    do {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            return -1;
        }
    } while (!done);

    return 0;
}


int
pe_hints_fd(pe_worker_t *w, double now)
{
    char           channel[32];
    redisReply    *r;
    redisContext  *c;

    if (w->hints_sub && w->pong_due && now > w->pong_due) {
        pe_log(PE_LOG_WARN, "hints: the subscription does not answer, it is "
               "made again");
        pe_hints_close(w);
    }

    if (w->hints_sub && now >= w->next_ping) {
        w->next_ping = now + PE_HINTS_PING;

        if (w->pong_due == 0) {
            w->pong_due = now + PE_HINTS_PONG;
        }

        /* a few bytes: written at once, or the socket is broken */
        if (redisAppendCommand(w->hints_sub, "PING") != REDIS_OK
            || pe_hints_flush(w->hints_sub) != 0)
        {
            pe_log(PE_LOG_WARN, "hints: the subscription broke: %s",
                   w->hints_sub->errstr);
            pe_hints_close(w);
        }
    }

    if (w->hints_sub) {
        return w->hints_sub->fd;
    }

    if (now < w->next_hints) {
        return -1;
    }

    /* each failed try blocks this loop up to Redis's timeout: back off */
    w->hints_retry = w->hints_retry ? w->hints_retry * 2 : PE_HINTS_RETRY;
    w->hints_retry = w->hints_retry < PE_HINTS_RETRY_MOST
                     ? w->hints_retry : PE_HINTS_RETRY_MOST;
    w->next_hints = now + w->hints_retry;

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
    redisEnableKeepAlive(c);
    w->hints_sub = c;
    w->hints_retry = 0;
    w->next_ping = now + PE_HINTS_PING;
    w->pong_due = 0;

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
