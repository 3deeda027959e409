/*
 * privacy-backend: Replicate's predictions API.
 *
 *   submit   POST {base}/v1/models/{owner}/{name}/predictions
 *            or, for a model named owner/name:version,
 *            POST {base}/v1/predictions with "version"
 *            {"input": {...}, "webhook", "webhook_events_filter"}
 *            -> 201 a prediction {"id", "status", "urls": {"get",
 *               "cancel"}}
 *   poll     GET  urls.get          the prediction: "status" starting |
 *                                   processing | succeeded | failed |
 *                                   canceled | aborted; "output" and
 *                                   "error" in the same object
 *   cancel   POST urls.cancel
 *
 * Every call carries "Authorization: Bearer ...".  As with fal, the URLs
 * of an answer are used only under the configured base.  The media goes
 * as the input "image" (or "video"): a data URI when small, else the
 * backend's signed link.
 *
 * With webhook_secret_env=, each prediction asks for callbacks, believed
 * when signed with the endpoint's secret (Standard Webhooks).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "provider.h"
#include "webhook.h"


#define PE_REPLICATE_SECRET_MAX  256


static int
pe_replicate_check(const pe_conf_provider_t *conf, char *err, size_t errlen)
{
    if (pe_provider_takes_only(conf, PE_HOOK_SECRET, err, errlen) != 0) {
        return -1;
    }

    if (pe_provider_needs_key(conf, err, errlen) != 0) {
        return -1;
    }

    return 0;
}


static int
pe_replicate_hooks(const pe_conf_provider_t *conf)
{
    return conf->webhook_secret_env != NULL;
}



/* owner/name, or owner/name:version: letters, digits and -_. only */
static int
pe_replicate_model_valid(const char *m)
{
    const char  *slash, *colon;

    slash = strchr(m, '/');
    colon = strchr(m, ':');

    return slash != NULL && slash != m && slash[1] != '\0'
           && slash[1] != ':' && strchr(slash + 1, '/') == NULL
           && (colon == NULL || (colon > slash && colon[1] != '\0'))
           && strspn(m, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:")
              == strlen(m);
}


/* Replicate's field of each role (a model's fields= renames one) */
static const char  *pe_replicate_fields[PE_ROLES] = {
    "image", "last_image", "video", "audio"
};


static char *
pe_replicate_body(const pe_task_t *t, const char *version)
{
    int      r;
    char    *s;
    size_t   k;
    json_t  *in, *body;

    in = json_deep_copy(t->params);
    body = json_object();

    if (in == NULL || body == NULL) {
        json_decref(in);
        json_decref(body);
        return NULL;
    }

    /* a parameter cannot stand in for the prompt or the media */
    json_object_del(in, "prompt");

    for (r = 0; r < PE_ROLES; r++) {
        json_object_del(in, pe_replicate_fields[r]);
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
                                pe_replicate_fields[t->inputs[k].role]),
                            json_string(t->inputs[k].url));
    }

    if (version) {
        json_object_set_new(body, "version", json_string(version));
    }

    json_object_set_new(body, "input", in);

    if (t->webhook_url) {
        json_object_set_new(body, "webhook", json_string(t->webhook_url));
        json_object_set_new(body, "webhook_events_filter",
                            json_pack("[s]", "completed"));
    }

    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    return s;
}


static int
pe_replicate_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op,
    pe_preq_t *req, char *err, size_t errlen)
{
    int          n;
    char         model[256];
    const char  *url, *colon;

    switch (op) {

    case PE_OP_SUBMIT:
        if (!pe_replicate_model_valid(t->model)
            || strlen(t->model) >= sizeof(model))
        {
            snprintf(err, errlen, "not a Replicate model name: "
                     "owner/name or owner/name:version");
            return -1;
        }

        colon = strchr(t->model, ':');

        if (colon) {
            n = snprintf(req->url, sizeof(req->url), "%s/v1/predictions",
                         p->conf->base);
            req->body = pe_replicate_body(t, colon + 1);

        } else {
            snprintf(model, sizeof(model), "%s", t->model);
            n = snprintf(req->url, sizeof(req->url),
                         "%s/v1/models/%s/predictions", p->conf->base, model);
            req->body = pe_replicate_body(t, NULL);
        }

        if (n < 0 || (size_t) n >= sizeof(req->url) || req->body == NULL) {
            snprintf(err, errlen, "cannot build the prediction");
            return -1;
        }

        req->method = "POST";
        break;

    case PE_OP_POLL:
    case PE_OP_RESULT:
    case PE_OP_CANCEL:
        url = op == PE_OP_CANCEL ? t->cancel_url : t->status_url;

        if (*url == '\0') {
            snprintf(err, errlen, "no %s URL",
                     op == PE_OP_CANCEL ? "cancel" : "prediction");
            return -1;
        }

        snprintf(req->url, sizeof(req->url), "%s", url);
        req->method = op == PE_OP_CANCEL ? "POST" : "GET";
        break;

    default:
        snprintf(err, errlen, "not an operation of Replicate's");
        return -1;
    }

    return pe_provider_headers(req, "Bearer", p->secret);
}


/* "output": a URL, or a list whose first string is one */
static const char *
pe_replicate_output(json_t *j)
{
    size_t       i;
    json_t      *v;
    const char  *s;

    v = json_object_get(j, "output");

    for (i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        if (json_is_string(json_array_get(v, i))) {
            v = json_array_get(v, i);
            break;
        }
    }

    s = json_string_value(v);

    return pe_provider_output_url(s) ? s : NULL;
}


/* a prediction object: its status, and what it says */
static pe_remote_e
pe_replicate_prediction(pe_task_t *t, long code, json_t *j, const char *body,
    size_t len)
{
    const char  *s;
    static const char  *errors[] = { "error", NULL };

    s = json_string_value(json_object_get(j, "status"));

    if (s == NULL) {
        return PE_REMOTE_INVALID;
    }

    if (strcmp(s, "starting") == 0) {
        return PE_REMOTE_QUEUED;
    }

    if (strcmp(s, "processing") == 0) {
        return PE_REMOTE_RUNNING;
    }

    if (strcmp(s, "succeeded") == 0) {
        s = pe_replicate_output(j);

        if (s == NULL || strlen(s) >= sizeof(t->output)) {
            snprintf(t->reason, sizeof(t->reason),
                     "provider: no output in the prediction");
            return PE_REMOTE_FAILED;
        }

        snprintf(t->output, sizeof(t->output), "%s", s);
        return PE_REMOTE_SUCCEEDED;
    }

    if (strcmp(s, "failed") == 0) {
        pe_provider_reason(t, code, body, len, errors);
        return PE_REMOTE_FAILED;
    }

    if (strcmp(s, "canceled") == 0) {
        return PE_REMOTE_CANCELED;
    }

    if (strcmp(s, "aborted") == 0) {
        snprintf(t->reason, sizeof(t->reason),
                 "provider: the prediction was aborted before it ran");
        return PE_REMOTE_FAILED;
    }

    return PE_REMOTE_INVALID;
}


static pe_remote_e
pe_replicate_parse(pe_provider_t *p, pe_task_t *t, pe_op_e op, long code,
    const char *body, size_t len)
{
    json_t       *j, *urls;
    const char   *s;
    pe_remote_e   rc;
    static const char  *reasons[] = { "detail", "title", "error", NULL };

    if (op == PE_OP_CANCEL) {
        /* 200 canceled, or 4xx: already ended, nothing left to cancel */
        return PE_REMOTE_CANCELED;
    }

    if (code >= 400) {
        pe_provider_reason(t, code, body, len, reasons);
        return PE_REMOTE_FAILED;
    }

    j = pe_provider_json(body, len);
    if (!json_is_object(j)) {
        json_decref(j);
        return PE_REMOTE_INVALID;
    }

    rc = PE_REMOTE_INVALID;

    if (op == PE_OP_SUBMIT) {
        s = json_string_value(json_object_get(j, "id"));
        urls = json_object_get(j, "urls");

        if (s == NULL || *s == '\0' || strlen(s) >= sizeof(t->remote_id)
            || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789")
               != strlen(s)
            || pe_provider_url(p, urls, "get", t->status_url,
                               sizeof(t->status_url)) != 0)
        {
            t->status_url[0] = '\0';
            goto done;
        }

        snprintf(t->remote_id, sizeof(t->remote_id), "%s", s);

        if (pe_provider_url(p, urls, "cancel", t->cancel_url,
                            sizeof(t->cancel_url)) != 0)
        {
            t->cancel_url[0] = '\0';
        }

        /* whatever it says now, the first poll tells what it is */
        rc = pe_replicate_prediction(t, code, j, body, len)
             == PE_REMOTE_RUNNING ? PE_REMOTE_RUNNING : PE_REMOTE_QUEUED;
        goto done;
    }

    if (op == PE_OP_POLL || op == PE_OP_RESULT) {
        rc = pe_replicate_prediction(t, code, j, body, len);
    }

done:

    json_decref(j);

    return rc;
}


/* the signing secret of the endpoint, from the environment */
static int
pe_replicate_hook_init(pe_provider_t *p, char *err, size_t errlen)
{
    char  *secret;

    secret = calloc(1, PE_REPLICATE_SECRET_MAX);
    if (secret == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    p->hook = secret;

    if (pe_provider_env(p->conf->name, p->conf->webhook_secret_env, secret,
                        PE_REPLICATE_SECRET_MAX, err, errlen)
        != 0)
    {
        return -1;
    }

    if (!pe_webhook_secret_valid(secret)) {
        snprintf(err, errlen, "provider \"%s\": the value of %s is not "
                 "a webhook secret (whsec_ and base64)", p->conf->name,
                 p->conf->webhook_secret_env);
        return -1;
    }

    return 0;
}


static int
pe_replicate_hook_verify(pe_provider_t *p, pe_header_get_pt header,
    void *data, const char *body, size_t len, char *key, size_t keylen,
    char *err, size_t errlen)
{
    if (pe_webhook_verify_standard(p->hook, header(data, "webhook-id"),
                                   header(data, "webhook-timestamp"),
                                   header(data, "webhook-signature"),
                                   (const unsigned char *) body, len,
                                   time(NULL), err, errlen)
        != 0)
    {
        return -1;
    }

    snprintf(key, keylen, "pe:hook:%s:%s", p->conf->name,
             header(data, "webhook-id"));

    return 0;
}


static const char *
pe_replicate_hook_task(json_t *body, const char **job)
{
    *job = NULL;

    return json_string_value(json_object_get(body, "id"));
}


static void
pe_replicate_hook_free(pe_provider_t *p)
{
    if (p->hook) {
        OPENSSL_cleanse(p->hook, PE_REPLICATE_SECRET_MAX);
        free(p->hook);
        p->hook = NULL;
    }
}


const pe_provider_ops_t  pe_provider_replicate = {
    .kind = "replicate",
    .roles = (1u << PE_ROLES) - 1,
    .inline_max = 0,
    .check = pe_replicate_check,
    .hooks = pe_replicate_hooks,
    .init = pe_provider_init_key,
    .prepare = pe_replicate_prepare,
    .parse = pe_replicate_parse,
    .finds = 0,
    .deletes_ended = 0,
    .hook_init = pe_replicate_hook_init,
    .hook_verify = pe_replicate_hook_verify,
    .hook_task = pe_replicate_hook_task,
    .hook_free = pe_replicate_hook_free
};
