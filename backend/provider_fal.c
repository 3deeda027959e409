/*
 * privacy-backend: fal.ai's queue API.
 *
 *   submit   POST {base}/{model}        the model input as JSON
 *            -> {"request_id", "status_url", "response_url", "cancel_url"}
 *   poll     GET  status_url            {"status": "IN_QUEUE" |
 *                                        "IN_PROGRESS" | "COMPLETED"}
 *   result   GET  response_url          the model output
 *   cancel   PUT  cancel_url
 *
 * With webhooks (webhook_jwks=), the submission asks for a callback:
 * ?fal_webhook={public_url}/v1/providers/NAME/webhook?job=ID, which is
 * believed when signed (Ed25519) by a key of fal's published JWKS, the
 * file read again whenever it changes (keys rotate).
 *
 * Every call carries "Authorization: Key ...".  The URLs the provider
 * returns are used only if they lie under the configured base: the key is
 * never sent to another origin, whatever an answer says.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "log.h"
#include "provider.h"
#include "webhook.h"


#define PE_FAL_JWKS_MAX  (256 * 1024)
#define PE_FAL_KEYS_MAX  8              /* held at once, in a rotation */


/* what verifies one fal provider's callbacks */
typedef struct {
    pthread_mutex_t    lock;
    const char        *jwks;
    struct timespec    jwks_mtime;
    unsigned char      keys[PE_FAL_KEYS_MAX][32];
    size_t             nkeys;
} pe_fal_hook_t;


static int
pe_fal_check(const pe_conf_provider_t *conf, char *err, size_t errlen)
{
    if (pe_provider_takes_only(conf, PE_HOOK_JWKS, err, errlen) != 0) {
        return -1;
    }

    if (pe_provider_needs_key(conf, err, errlen) != 0) {
        return -1;
    }

    return 0;
}


static int
pe_fal_hooks(const pe_conf_provider_t *conf)
{
    return conf->webhook_jwks != NULL;
}



/* fal's field of each role (a model's fields= renames one) */
static const char  *pe_fal_fields[PE_ROLES] = {
    "image_url", "tail_image_url", "video_url", "audio_url"
};


/* the input: the parameters, then what only we set */
static char *
pe_fal_input(const pe_task_t *t)
{
    int      r;
    char    *s;
    size_t   k;
    json_t  *in;

    in = json_deep_copy(t->params);
    if (in == NULL) {
        return NULL;
    }

    /* a parameter cannot stand in for the prompt or the media */
    json_object_del(in, "prompt");

    for (r = 0; r < PE_ROLES; r++) {
        json_object_del(in, pe_fal_fields[r]);
    }

    for (k = 0; k < t->ninputs; k++) {
        if (t->inputs[k].field) {
            json_object_del(in, t->inputs[k].field);    /* fields= */
        }
    }

    if (t->prompt) {
        json_object_set_new(in, "prompt", json_string(t->prompt));
    }

    for (k = 0; k < t->ninputs; k++) {
        json_object_set_new(in, pe_input_field(&t->inputs[k],
                                pe_fal_fields[t->inputs[k].role]),
                            json_string(t->inputs[k].url));
    }

    s = json_dumps(in, JSON_COMPACT);
    json_decref(in);

    return s;
}


static int
pe_fal_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op, pe_preq_t *req,
    char *err, size_t errlen)
{
    int          n;
    char        *hook, keep[64];
    const char  *url;

    switch (op) {

    case PE_OP_SUBMIT:
        hook = t->webhook_url ? curl_easy_escape(NULL, t->webhook_url, 0)
                              : NULL;
        n = snprintf(req->url, sizeof(req->url), "%s/%s%s%s", p->conf->base,
                     t->model, hook ? "?fal_webhook=" : "", hook ? hook : "");
        curl_free(hook);

        if (n < 0 || (size_t) n >= sizeof(req->url)) {
            snprintf(err, errlen, "URL too long");
            return -1;
        }
        req->method = "POST";
        req->body = pe_fal_input(t);

        if (req->body == NULL) {
            snprintf(err, errlen, "cannot build the input");
            return -1;
        }

        break;

    case PE_OP_POLL:
    case PE_OP_RESULT:
    case PE_OP_CANCEL:
        url = op == PE_OP_POLL ? t->status_url
              : op == PE_OP_RESULT ? t->response_url : t->cancel_url;

        if (*url == '\0') {
            snprintf(err, errlen, "no %s URL", op == PE_OP_POLL ? "status"
                     : op == PE_OP_RESULT ? "response" : "cancel");
            return -1;
        }

        snprintf(req->url, sizeof(req->url), "%s", url);
        req->method = op == PE_OP_CANCEL ? "PUT" : "GET";
        break;

    default:
        return -1;
    }

    if (pe_provider_headers(req, "Key", p->secret) != 0) {
        return -1;
    }

    if (op == PE_OP_SUBMIT) {
        /*
         * fal keeps a request's payload (our inputs, inline or by link)
         * for 30 days unless told not to, and the files it makes on its
         * CDN for as long as the caller prefers: as long as our output
         * retention, an hour at least so that the output can be fetched.
         */
        snprintf(keep, sizeof(keep), "{\"expiration_duration_seconds\":%ld}",
                 t->keep_output > 3600 ? t->keep_output : 3600);

        req->headers = pe_provider_header(req->headers, "X-Fal-Store-IO", "0");
        req->headers = pe_provider_header(req->headers,
                                          "X-Fal-Object-Lifecycle-Preference",
                                          keep);

        if (req->headers == NULL) {
            return -1;
        }
    }

    return 0;
}


/* the output's URL: {"video": {"url"}}, {"image": ...}, or a list */
static const char *
pe_fal_output(json_t *j)
{
    size_t       i;
    json_t      *v;
    const char  *s;
    static const char  *keys[] = { "video", "image", "videos", "images",
                                   NULL };

    for (i = 0; keys[i]; i++) {
        v = json_object_get(j, keys[i]);

        if (json_is_array(v)) {
            v = json_array_get(v, 0);
        }

        s = json_string_value(json_object_get(v, "url"));

        if (pe_provider_output_url(s)) {
            return s;
        }
    }

    return NULL;
}


static pe_remote_e
pe_fal_parse(pe_provider_t *p, pe_task_t *t, pe_op_e op, long code,
    const char *body, size_t len)
{
    json_t       *j;
    const char   *s;
    pe_remote_e   rc;
    static const char  *reasons[] = { "detail", "error", "message", NULL };

    if (code >= 400) {
        if (op == PE_OP_CANCEL) {
            /* 400 ALREADY_COMPLETED: nothing left to cancel */
            return PE_REMOTE_CANCELED;
        }

        pe_provider_reason(t, code, body, len, reasons);
        return PE_REMOTE_FAILED;
    }

    j = pe_provider_json(body, len);
    if (!json_is_object(j)) {
        json_decref(j);
        return PE_REMOTE_INVALID;
    }

    rc = PE_REMOTE_INVALID;

    switch (op) {

    case PE_OP_SUBMIT:
        s = json_string_value(json_object_get(j, "request_id"));

        if (s == NULL || *s == '\0' || strlen(s) >= sizeof(t->remote_id)) {
            break;
        }

        snprintf(t->remote_id, sizeof(t->remote_id), "%s", s);

        if (pe_provider_url(p, j, "status_url", t->status_url,
                            sizeof(t->status_url)) != 0
            || pe_provider_url(p, j, "response_url", t->response_url,
                               sizeof(t->response_url)) != 0)
        {
            break;
        }

        if (pe_provider_url(p, j, "cancel_url", t->cancel_url,
                            sizeof(t->cancel_url)) != 0)
        {
            t->cancel_url[0] = '\0';
        }

        rc = PE_REMOTE_QUEUED;
        break;

    case PE_OP_POLL:
        s = json_string_value(json_object_get(j, "status"));

        if (s == NULL) {
            break;
        }

        if (strcmp(s, "IN_QUEUE") == 0) {
            rc = PE_REMOTE_QUEUED;

        } else if (strcmp(s, "IN_PROGRESS") == 0) {
            rc = PE_REMOTE_RUNNING;

        } else if (strcmp(s, "COMPLETED") == 0) {
            s = json_string_value(json_object_get(j, "error"));

            if (s) {
                pe_provider_reason(t, code, body, len, reasons);
                rc = PE_REMOTE_FAILED;

            } else {
                rc = PE_REMOTE_DONE;
            }
        }

        break;

    case PE_OP_RESULT:
        s = pe_fal_output(j);

        if (s == NULL || strlen(s) >= sizeof(t->output)) {
            snprintf(t->reason, sizeof(t->reason),
                     "provider: no output in the result");
            rc = PE_REMOTE_FAILED;
            break;
        }

        snprintf(t->output, sizeof(t->output), "%s", s);
        rc = PE_REMOTE_SUCCEEDED;
        break;

    case PE_OP_CANCEL:
        rc = PE_REMOTE_CANCELED;
        break;

    default:
        break;
    }

    json_decref(j);

    return rc;
}


/* the JWKS file read, if it changed since; -1 with a reason */
static int
pe_fal_jwks(pe_fal_hook_t *cb, char *err, size_t errlen)
{
    long           n;
    FILE          *f;
    char          *text;
    size_t         len;
    struct stat    st;
    unsigned char  keys[PE_FAL_KEYS_MAX][32];

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

    if (st.st_size > PE_FAL_JWKS_MAX) {
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

    n = pe_webhook_jwks(text, len, keys, PE_FAL_KEYS_MAX, err, errlen);
    free(text);

    if (n < 0) {
        return -1;
    }

    memcpy(cb->keys, keys, sizeof(keys));
    cb->nkeys = (size_t) n;
    cb->jwks_mtime = st.st_mtim;

    return 0;
}


static int
pe_fal_hook_init(pe_provider_t *p, char *err, size_t errlen)
{
    pe_fal_hook_t  *cb;

    cb = calloc(1, sizeof(pe_fal_hook_t));
    if (cb == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pthread_mutex_init(&cb->lock, NULL);
    cb->jwks = p->conf->webhook_jwks;
    p->hook = cb;

    return pe_fal_jwks(cb, err, errlen);
}


/* a fal signature, by the keys as the JWKS file has them now */
static int
pe_fal_hook_verify(pe_provider_t *p, pe_header_get_pt header, void *data,
    const char *body, size_t len, char *key, size_t keylen, char *err,
    size_t errlen)
{
    int             rc;
    char            jerr[160];
    pe_fal_hook_t  *cb = p->hook;

    pthread_mutex_lock(&cb->lock);

    if (pe_fal_jwks(cb, jerr, sizeof(jerr)) != 0) {
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

    if (rc == 0) {
        snprintf(key, keylen, "pe:hook:%s:%s:%s", p->conf->name,
                 header(data, "X-Fal-Webhook-Request-Id"),
                 header(data, "X-Fal-Webhook-Timestamp"));
    }

    return rc;
}


static const char *
pe_fal_hook_task(json_t *body, const char **job)
{
    *job = NULL;

    return json_string_value(json_object_get(body, "request_id"));
}


static void
pe_fal_hook_free(pe_provider_t *p)
{
    pe_fal_hook_t  *cb = p->hook;

    if (cb) {
        pthread_mutex_destroy(&cb->lock);
        OPENSSL_cleanse(cb, sizeof(pe_fal_hook_t));
        free(cb);
        p->hook = NULL;
    }
}


const pe_provider_ops_t  pe_provider_fal = {
    .kind = "fal",
    .roles = (1u << PE_ROLES) - 1,
    .inline_max = 0,
    .check = pe_fal_check,
    .hooks = pe_fal_hooks,
    .init = pe_provider_init_key,
    .prepare = pe_fal_prepare,
    .parse = pe_fal_parse,
    .finds = 0,
    .deletes_ended = 0,
    .hook_init = pe_fal_hook_init,
    .hook_verify = pe_fal_hook_verify,
    .hook_task = pe_fal_hook_task,
    .hook_free = pe_fal_hook_free
};
