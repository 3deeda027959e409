/*
 * privacy-backend: providers' callbacks (see callbacks.h).
 */

#include "callbacks.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "jobs.h"
#include "log.h"
#include "provider.h"
#include "store.h"
#include "webhook.h"
#include "worker.h"


#define PE_JWKS_MAX  (256 * 1024)


struct pe_callbacks_s {
    /* Replicate's signing secrets, by provider index */
    char               secret[PE_CONF_MAX_PROVIDERS][256];

    /* fal's keys, read again when the JWKS file changes (keys rotate) */
    pthread_mutex_t    lock;
    const char        *jwks;
    struct timespec    jwks_mtime;
    unsigned char      keys[PE_CALLBACK_KEYS_MAX][32];
    size_t             nkeys;
};


/* the JWKS file read, if it changed since; -1 with a reason */
static int
pe_callbacks_jwks(pe_callbacks_t *cb, char *err, size_t errlen)
{
    long           n;
    FILE          *f;
    char          *text;
    size_t         len;
    struct stat    st;
    unsigned char  keys[PE_CALLBACK_KEYS_MAX][32];

    if (stat(cb->jwks, &st) != 0) {
        snprintf(err, errlen, "webhook_jwks \"%s\": %s", cb->jwks,
                 strerror(errno));
        return -1;
    }

    if (cb->nkeys && st.st_mtim.tv_sec == cb->jwks_mtime.tv_sec
        && st.st_mtim.tv_nsec == cb->jwks_mtime.tv_nsec)
    {
        return 0;
    }

    if (st.st_size > PE_JWKS_MAX) {
        snprintf(err, errlen, "webhook_jwks \"%s\": too large", cb->jwks);
        return -1;
    }

    text = malloc((size_t) st.st_size + 1);
    f = text ? fopen(cb->jwks, "r") : NULL;

    if (f == NULL) {
        free(text);
        snprintf(err, errlen, "webhook_jwks \"%s\": cannot read", cb->jwks);
        return -1;
    }

    len = fread(text, 1, (size_t) st.st_size, f);
    fclose(f);

    n = pe_webhook_jwks(text, len, keys, PE_CALLBACK_KEYS_MAX, err, errlen);
    free(text);

    if (n < 0) {
        return -1;
    }

    memcpy(cb->keys, keys, sizeof(keys));
    cb->nkeys = (size_t) n;
    cb->jwks_mtime = st.st_mtim;

    return 0;
}


int
pe_callbacks_init(pe_backend_t *be, char *err, size_t errlen)
{
    size_t                     i;
    pe_callbacks_t            *cb;
    const pe_conf_provider_t  *pr;

    cb = calloc(1, sizeof(pe_callbacks_t));
    if (cb == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pthread_mutex_init(&cb->lock, NULL);
    be->callbacks = cb;

    for (i = 0; i < be->conf.nproviders; i++) {
        pr = &be->conf.providers[i];

        if (!pe_conf_webhooks(&be->conf, pr)) {
            continue;
        }

        if (pr->kind == PE_PROVIDER_REPLICATE
            && pe_provider_env(pr->name, pr->webhook_secret_env,
                               cb->secret[i], sizeof(cb->secret[i]), err,
                               errlen)
               != 0)
        {
            return -1;
        }

        if (pr->kind == PE_PROVIDER_REPLICATE
            && !pe_webhook_secret_valid(cb->secret[i]))
        {
            snprintf(err, errlen, "provider \"%s\": the value of %s is not "
                     "a webhook secret (whsec_ and base64)", pr->name,
                     pr->webhook_secret_env);
            return -1;
        }

        if (pr->kind == PE_PROVIDER_FAL) {
            cb->jwks = pr->webhook_jwks;

            if (pe_callbacks_jwks(cb, err, errlen) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


void
pe_callbacks_free(pe_backend_t *be)
{
    if (be->callbacks) {
        pthread_mutex_destroy(&be->callbacks->lock);
        OPENSSL_cleanse(be->callbacks, sizeof(pe_callbacks_t));
        free(be->callbacks);
        be->callbacks = NULL;
    }
}


/* a fal signature, by the keys as the JWKS file has them now */
static int
pe_callbacks_fal(pe_callbacks_t *cb, pe_header_get_pt header, void *data,
    const char *body, size_t len, char *err, size_t errlen)
{
    int   rc;
    char  jerr[160];

    pthread_mutex_lock(&cb->lock);

    if (pe_callbacks_jwks(cb, jerr, sizeof(jerr)) != 0) {
        /* the keys read before stay in use */
        pe_log(PE_LOG_WARN, "callbacks: %s", jerr);
    }

    rc = pe_webhook_verify_fal((const unsigned char (*)[32]) cb->keys,
                               cb->nkeys,
                               header(data, "X-Fal-Webhook-Request-Id"),
                               header(data, "X-Fal-Webhook-User-Id"),
                               header(data, "X-Fal-Webhook-Timestamp"),
                               header(data, "X-Fal-Webhook-Signature"),
                               (const unsigned char *) body, len, time(NULL),
                               err, errlen);

    pthread_mutex_unlock(&cb->lock);

    return rc;
}


/* the provider's id of the task the body is about, or NULL */
static const char *
pe_callbacks_remote_id(pe_provider_kind_e kind, json_t *j)
{
    switch (kind) {
    case PE_PROVIDER_REPLICATE:
        return json_string_value(json_object_get(j, "id"));
    case PE_PROVIDER_FAL:
        return json_string_value(json_object_get(j, "request_id"));
    case PE_PROVIDER_KLING:
        return json_string_value(json_object_get(j, "task_id"));
    }

    return NULL;
}


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
    int                        p;
    char                       err[160], owner[64], remote[PE_REMOTE_ID_MAX];
    char                       key[PE_WEBHOOK_ID_MAX * 2 + 64];
    json_t                    *j;
    redisReply                *r;
    const char                *id, *ext;
    pe_callbacks_t            *cb = be->callbacks;
    const pe_conf_provider_t  *pr;

    p = pe_job_provider_index(&be->conf, provider);
    pr = p >= 0 ? &be->conf.providers[p] : NULL;

    if (pr == NULL || !pe_conf_webhooks(&be->conf, pr) || cb == NULL) {
        pe_callbacks_answer(status, out, 404, "not_found", NULL);
        return;
    }

    /* first the signature: nothing about a job is looked up before */
    key[0] = '\0';

    if (pr->kind == PE_PROVIDER_REPLICATE) {
        if (pe_webhook_verify_standard(cb->secret[p],
                                       header(data, "webhook-id"),
                                       header(data, "webhook-timestamp"),
                                       header(data, "webhook-signature"),
                                       (const unsigned char *) body, len,
                                       time(NULL), err, sizeof(err))
            != 0)
        {
            goto unsigned_;
        }

        snprintf(key, sizeof(key), "pe:hook:%s:%s", pr->name,
                 header(data, "webhook-id"));

    } else if (pr->kind == PE_PROVIDER_FAL) {
        if (pe_callbacks_fal(cb, header, data, body, len, err, sizeof(err))
            != 0)
        {
            goto unsigned_;
        }

        snprintf(key, sizeof(key), "pe:hook:%s:%s:%s", pr->name,
                 header(data, "X-Fal-Webhook-Request-Id"),
                 header(data, "X-Fal-Webhook-Timestamp"));
    }

    j = pe_provider_json(body, len);

    if (!json_is_object(j)) {
        json_decref(j);
        pe_callbacks_answer(status, out, 400, "bad_request",
                            "the body is not a JSON object");
        return;
    }

    /* the job named, that provider's, and the body about its task */
    id = pe_callbacks_remote_id(pr->kind, j);
    ext = json_string_value(json_object_get(json_object_get(j, "task_info"),
                                            "external_task_id"));

    if (job == NULL || !pe_job_id_valid(job)
        || pe_callbacks_field(be, job, "provider", owner, sizeof(owner)) != 0
        || strcmp(owner, pr->name) != 0
        || pe_callbacks_field(be, job, "remote_id", remote, sizeof(remote))
           != 0
        || id == NULL
        || (remote[0] ? strcmp(remote, id) != 0
                      /* not yet saved: only Kling's own id says whose */
                      : pr->kind != PE_PROVIDER_KLING
                        || ext == NULL || strcmp(ext, job) != 0))
    {
        json_decref(j);
        pe_log(PE_LOG_INFO, "callbacks: %s: not about a job of its own",
               pr->name);
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
                   "refused", pr->name);
            pe_callbacks_answer(status, out, 409, "replayed", NULL);
            return;
        }

        freeReplyObject(r);
    }

    pe_worker_hint(be, job);

    *status = 200;
    *out = strdup("{\"accepted\":true}\n");

    return;

unsigned_:

    pe_log(PE_LOG_WARN, "callbacks: %s: refused: %s", pr->name, err);
    pe_callbacks_answer(status, out, 401, "signature", err);
}
