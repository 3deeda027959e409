/*
 * privacy-backend: providers' callbacks (see callbacks.h).  What a
 * callback of a kind looks like, and how it is verified, is its
 * adapter's (provider.h); here only what every callback must pass.
 */

#include "callbacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "job.h"
#include "log.h"
#include "provider.h"
#include "reply.h"
#include "store.h"
#include "webhook.h"
#include "worker.h"


/* HGET of a record field into buf ("" when none); -1 when Redis is away */
static int
pe_callbacks_field(pe_backend_t *be, const char *id, const char *field,
    char *buf, size_t size)
{
    redisReply  *r;

    r = pe_store_command(be->store, "HGET pe:job:%s %s", id, field);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return -1;
    }

    snprintf(buf, size, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);

    return 0;
}


static void
pe_callbacks_answer(unsigned *status, char **out, unsigned code,
    const char *error, const char *reason)
{
    *status = code;
    *out = pe_error_body(error, reason);
}


void
pe_callback_handle(pe_backend_t *be, const char *provider, const char *job,
    pe_header_get_pt header, void *data, const char *body, size_t len,
    unsigned *status, char **out)
{
    int             i;
    char            err[160], owner[64], remote[PE_REMOTE_ID_MAX];
    char            key[PE_WEBHOOK_ID_MAX * 2 + 64];
    json_t         *j;
    redisReply     *r;
    const char     *id, *ext;
    pe_provider_t  *p;

    i = pe_conf_provider_index(&be->conf, provider);
    p = i >= 0 ? &be->providers[i] : NULL;

    if (p == NULL || p->ops == NULL || !p->hooks) {
        pe_callbacks_answer(status, out, 404, "not_found", NULL);
        return;
    }

    /* first the signature: nothing about a job is looked up before */
    key[0] = '\0';

    if (p->ops->hook_verify(p, header, data, body, len, key, sizeof(key),
                            err, sizeof(err))
        != 0)
    {
        pe_log(PE_LOG_WARN, "callbacks: %s: refused: %s", p->conf->name,
               err);
        pe_callbacks_answer(status, out, 401, "signature", err);
        return;
    }

    j = pe_provider_json(body, len);

    if (!json_is_object(j)) {
        json_decref(j);
        pe_callbacks_answer(status, out, 400, "bad_request",
                            "the body is not a JSON object");
        return;
    }

    /* the job named, that provider's, and the body about its task */
    id = p->ops->hook_task(j, &ext);

    if (job == NULL || !pe_job_id_valid(job)
        || pe_callbacks_field(be, job, "provider", owner, sizeof(owner)) != 0
        || strcmp(owner, p->conf->name) != 0
        || pe_callbacks_field(be, job, "remote_id", remote, sizeof(remote))
           != 0
        || id == NULL
        || (remote[0] ? strcmp(remote, id) != 0
                      /* not yet saved: only a body naming our job says */
                      : ext == NULL || strcmp(ext, job) != 0))
    {
        json_decref(j);
        pe_log(PE_LOG_INFO, "callbacks: %s: not about a job of its own",
               p->conf->name);
        pe_callbacks_answer(status, out, 404, "not_found", NULL);
        return;
    }

    json_decref(j);

    /* each signed message once; kept past the tolerance either way */
    if (key[0]) {
        r = pe_store_command(be->store, "SET %s 1 NX EX %d", key,
                             2 * PE_WEBHOOK_TOLERANCE);

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            pe_callbacks_answer(status, out, 503, "unavailable", NULL);
            return;
        }

        if (r->type == REDIS_REPLY_NIL) {
            freeReplyObject(r);
            pe_log(PE_LOG_WARN, "callbacks: %s: a message received before, "
                   "refused", p->conf->name);
            pe_callbacks_answer(status, out, 409, "replayed", NULL);
            return;
        }

        freeReplyObject(r);
    }

    pe_worker_hint(be, job);

    *status = 200;
    *out = strdup("{\"accepted\":true}\n");
}
