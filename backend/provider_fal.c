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
 * ?fal_webhook={public_url}/v1/providers/fal/webhook?job=ID.
 *
 * Every call carries "Authorization: Key ...".  The URLs the provider
 * returns are used only if they lie under the configured base: the key is
 * never sent to another origin, whatever an answer says.
 */

#include <stdio.h>
#include <string.h>

#include "provider.h"


static int
pe_fal_init(pe_provider_t *p, char *err, size_t errlen)
{
    return pe_provider_env(p->conf->name, p->conf->key_env, p->secret,
                           sizeof(p->secret), err, errlen);
}


/* the input: the parameters, then what only we set */
static char *
pe_fal_input(const pe_task_t *t)
{
    char    *s;
    json_t  *in;

    in = json_deep_copy(t->params);
    if (in == NULL) {
        return NULL;
    }

    /* a parameter cannot stand in for the prompt or the media */
    json_object_del(in, "prompt");
    json_object_del(in, "image_url");
    json_object_del(in, "video_url");

    if (t->prompt) {
        json_object_set_new(in, "prompt", json_string(t->prompt));
    }

    json_object_set_new(in, t->is_video ? "video_url" : "image_url",
                        json_string(t->media_url));

    s = json_dumps(in, JSON_COMPACT);
    json_decref(in);

    return s;
}


static int
pe_fal_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op, pe_preq_t *req,
    char *err, size_t errlen)
{
    int          n;
    char        *hook;
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

    return pe_provider_headers(req, "Key", p->secret);
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


const pe_provider_ops_t  pe_provider_fal = {
    "fal",
    pe_fal_init,
    pe_fal_prepare,
    pe_fal_parse,
    0
};
