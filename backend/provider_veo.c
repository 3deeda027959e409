/*
 * privacy-backend: Google's Veo, through the Gemini API.
 *
 *   submit   POST {base}/v1beta/models/{model}:predictLongRunning
 *            {"instances": [{"prompt",
 *                            "image": {"bytesBase64Encoded", "mimeType"},
 *                            "lastFrame": {"bytesBase64Encoded",
 *                                          "mimeType"}}],
 *             "parameters": {the job's parameters}}
 *            -> an operation {"name": "models/M/operations/ID", "done"}
 *   poll     GET  {base}/v1beta/{name}
 *            until "done": true; then
 *            response.generateVideoResponse.generatedSamples[0].video.uri,
 *            or "error": {"code", "message"}: failed
 *
 * Every call carries "x-goog-api-key: KEY".  Veo takes its frames inline
 * only (no URL), in a request of at most 20 MB: each frame up to 7 MiB
 * (two, in base64, still fit) goes inline; a larger one is refused before
 * anything is sent.  The operation's name is only ever
 * appended to {base}/v1beta/, and only when it is a plain path: the key
 * never goes to another origin or path, whatever an answer says.  Veo has
 * neither callbacks nor a lookup by our id nor a cancel: a deleted job is
 * forgotten here and its result discarded.
 *
 * Errors come as {"error": {"code", "message", "status"}}; 429 and 5xx are
 * tried again later by the worker, every other 4xx fails the job with
 * Google's message.  A finished operation whose samples were all filtered
 * (raiMediaFilteredReasons, or only raiMediaFilteredCount) fails as
 * content_policy.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"


/* two frames, base64, and the prompt in one request of at most 20 MB */
#define PE_VEO_INLINE_MAX  (7 * 1024 * 1024)


static int
pe_veo_check(const pe_conf_provider_t *conf, char *err, size_t errlen)
{
    if (pe_provider_takes_only(conf, 0, err, errlen) != 0) {
        return -1;
    }

    if (pe_provider_needs_key(conf, err, errlen) != 0) {
        return -1;
    }

    return 0;
}


static int
pe_veo_hooks(const pe_conf_provider_t *conf)
{
    (void) conf;

    return 0;
}



/* Veo's field of each role Veo takes (a model's fields= renames one) */
static const char  *pe_veo_fields[PE_ROLES] = {
    "image", "lastFrame", NULL, NULL
};


/* {"bytesBase64Encoded", "mimeType"} of a data: URI, or NULL */
static json_t *
pe_veo_image(const char *url)
{
    const char  *type, *semi, *data;

    if (url == NULL || strncmp(url, "data:", 5) != 0) {
        return NULL;
    }

    type = url + 5;
    semi = strchr(type, ';');

    if (semi == NULL || semi == type || strncmp(semi, ";base64,", 8) != 0) {
        return NULL;
    }

    data = semi + 8;

    return json_pack("{s:s,s:s%}", "bytesBase64Encoded", data, "mimeType",
                     type, (size_t) (semi - type));
}


static char *
pe_veo_body(const pe_task_t *t)
{
    char     *s;
    size_t    k;
    json_t   *body, *inst, *img;

    inst = json_object();
    body = json_pack("{s:[o]}", "instances", inst);

    if (body == NULL) {
        return NULL;
    }

    if (t->prompt) {
        json_object_set_new(inst, "prompt", json_string(t->prompt));
    }

    for (k = 0; k < t->ninputs; k++) {
        img = pe_veo_image(t->inputs[k].url);

        if (img == NULL) {
            json_decref(body);
            return NULL;
        }

        json_object_set_new(inst, pe_input_field(&t->inputs[k],
                                  pe_veo_fields[t->inputs[k].role]), img);
    }

    if (json_object_size(t->params) > 0) {
        json_object_set_new(body, "parameters", json_deep_copy(t->params));
    }

    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    return s;
}


/* "x-goog-api-key" (never logged), and JSON */
static int
pe_veo_headers(pe_provider_t *p, pe_preq_t *req)
{
    req->headers = pe_provider_header(req->headers, "x-goog-api-key",
                                      p->secret);

    if (req->headers) {
        req->headers = curl_slist_append(req->headers,
                                         "Accept: application/json");
    }

    if (req->headers && req->body) {
        req->headers = curl_slist_append(req->headers,
                                         "Content-Type: application/json");
    }

    return req->headers ? 0 : -1;
}


static int
pe_veo_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op, pe_preq_t *req,
    char *err, size_t errlen)
{
    int     n;
    size_t  k;

    switch (op) {

    case PE_OP_SUBMIT:
        for (k = 0; k < t->ninputs; k++) {
            if (pe_veo_fields[t->inputs[k].role] == NULL) {
                snprintf(err, errlen, "veo makes videos from images and "
                         "text, not from %s", pe_role_name(t->inputs[k].role));
                return -1;
            }

            if (t->inputs[k].url == NULL
                || strncmp(t->inputs[k].url, "data:", 5) != 0)
            {
                snprintf(err, errlen, "veo takes the %s only inline, up to "
                         "%d MiB", pe_role_name(t->inputs[k].role),
                         PE_VEO_INLINE_MAX / (1024 * 1024));
                return -1;
            }
        }

        /* a last frame is the end of a video that starts at an image */
        if (pe_task_input(t, PE_ROLE_LAST_FRAME)
            && !pe_task_input(t, PE_ROLE_IMAGE))
        {
            snprintf(err, errlen, "veo takes a last frame only with an "
                     "image");
            return -1;
        }

        n = snprintf(req->url, sizeof(req->url),
                     "%s/v1beta/models/%s:predictLongRunning", p->conf->base,
                     t->model);
        req->method = "POST";

        if (n < 0 || (size_t) n >= sizeof(req->url)) {
            snprintf(err, errlen, "URL too long");
            return -1;
        }

        req->body = pe_veo_body(t);

        if (req->body == NULL) {
            snprintf(err, errlen, "cannot build the request");
            return -1;
        }

        break;

    case PE_OP_POLL:
    case PE_OP_RESULT:
        if (t->status_url[0] == '\0') {
            snprintf(err, errlen, "no operation URL");
            return -1;
        }

        snprintf(req->url, sizeof(req->url), "%s", t->status_url);
        req->method = "GET";
        break;

    default:
        snprintf(err, errlen, "veo has no %s",
                 op == PE_OP_CANCEL ? "cancel" : "lookup by our id");
        return -1;
    }

    return pe_veo_headers(p, req);
}


/*
 * An operation's name fit to be a path under {base}/v1beta/: segments of
 * letters, digits, "-", "_" and ".", none empty, "." or "..".
 */
static int
pe_veo_name_ok(const char *s, size_t max)
{
    size_t       len, seg;
    const char  *c;

    len = strlen(s);

    if (len == 0 || len >= max
        || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-_./") != len)
    {
        return 0;
    }

    seg = 0;

    for (c = s; ; c++) {
        if (*c == '/' || *c == '\0') {
            if (seg == 0 || (seg == 1 && c[-1] == '.')
                || (seg == 2 && c[-1] == '.' && c[-2] == '.'))
            {
                return 0;
            }

            if (*c == '\0') {
                return 1;
            }

            seg = 0;

        } else {
            seg++;
        }
    }
}


/* Google's words, kept short and printable */
static void
pe_veo_reason(pe_task_t *t, const char *prefix, json_t *error)
{
    size_t       i;
    const char  *msg;

    msg = json_string_value(json_object_get(error, "message"));

    snprintf(t->reason, sizeof(t->reason), "%s%.200s", prefix,
             msg && *msg ? msg : "the operation failed");

    for (i = 0; t->reason[i]; i++) {
        if ((unsigned char) t->reason[i] < 0x20) {
            t->reason[i] = ' ';
        }
    }
}


/* a finished operation: its video, or why there is none */
static pe_remote_e
pe_veo_done(pe_task_t *t, json_t *op)
{
    json_t      *err, *r, *v;
    const char  *s;
    char         prefix[64];

    err = json_object_get(op, "error");

    if (err != NULL) {
        if (json_is_integer(json_object_get(err, "code"))) {
            snprintf(prefix, sizeof(prefix), "provider: %lld: ",
                     (long long) json_integer_value(json_object_get(err,
                                                                    "code")));
        } else {
            snprintf(prefix, sizeof(prefix), "provider: ");
        }

        pe_veo_reason(t, prefix, err);
        return PE_REMOTE_FAILED;
    }

    r = json_object_get(json_object_get(op, "response"),
                        "generateVideoResponse");
    v = json_array_get(json_object_get(r, "generatedSamples"), 0);
    s = json_string_value(json_object_get(json_object_get(v, "video"),
                                          "uri"));

    if (pe_provider_output_url(s) && strlen(s) < sizeof(t->output)) {
        snprintf(t->output, sizeof(t->output), "%s", s);
        return PE_REMOTE_SUCCEEDED;
    }

    v = json_array_get(json_object_get(r, "raiMediaFilteredReasons"), 0);

    if (json_is_string(v)) {
        json_t  *e = json_pack("{s:O}", "message", v);

        pe_veo_reason(t, "content_policy: provider: ", e);
        json_decref(e);
        return PE_REMOTE_FAILED;
    }

    /* a count without its reasons is a filter all the same */
    v = json_object_get(r, "raiMediaFilteredCount");

    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(t->reason, sizeof(t->reason),
                 "content_policy: provider: the video was filtered");
        return PE_REMOTE_FAILED;
    }

    snprintf(t->reason, sizeof(t->reason),
             "provider: no video in the operation's result");

    return PE_REMOTE_FAILED;
}


static pe_remote_e
pe_veo_parse(pe_provider_t *p, pe_task_t *t, pe_op_e op, long code,
    const char *body, size_t len)
{
    int           n;
    json_t       *j, *done;
    const char   *name;
    char          prefix[64];
    pe_remote_e   rc;

    j = pe_provider_json(body, len);

    if (code >= 400) {
        snprintf(prefix, sizeof(prefix), "provider %ld: ", code);
        pe_veo_reason(t, prefix, json_object_get(j, "error"));

        if (!json_is_string(json_object_get(json_object_get(j, "error"),
                                             "message")))
        {
            snprintf(t->reason, sizeof(t->reason), "provider %ld: refused",
                     code);
        }

        json_decref(j);
        return PE_REMOTE_FAILED;
    }

    rc = PE_REMOTE_INVALID;
    name = json_string_value(json_object_get(j, "name"));
    done = json_object_get(j, "done");

    if (!json_is_object(j) || name == NULL
        || !pe_veo_name_ok(name, sizeof(t->remote_id))
        || (t->remote_id[0] && strcmp(t->remote_id, name) != 0)
        || (done != NULL && !json_is_boolean(done)))
    {
        goto out;
    }

    if (t->remote_id[0] == '\0') {
        n = snprintf(t->status_url, sizeof(t->status_url), "%s/v1beta/%s",
                     p->conf->base, name);
        if (n < 0 || (size_t) n >= sizeof(t->status_url)) {
            t->status_url[0] = '\0';
            goto out;
        }

        snprintf(t->remote_id, sizeof(t->remote_id), "%s", name);
    }

    if (op == PE_OP_SUBMIT) {
        /* whatever it says now, the first poll tells what it is */
        rc = PE_REMOTE_QUEUED;

    } else if (!json_is_true(done)) {
        rc = PE_REMOTE_RUNNING;

    } else {
        rc = pe_veo_done(t, j);
    }

out:

    json_decref(j);

    return rc;
}


const pe_provider_ops_t  pe_provider_veo = {
    .kind = "veo",
    .roles = 1u << PE_ROLE_IMAGE | 1u << PE_ROLE_LAST_FRAME,
    .inline_max = PE_VEO_INLINE_MAX,
    .check = pe_veo_check,
    .hooks = pe_veo_hooks,
    .init = pe_provider_init_key,
    .prepare = pe_veo_prepare,
    .parse = pe_veo_parse,
    .finds = 0,
    .deletes_ended = 0,
    .hook_init = NULL,
    .hook_verify = NULL,
    .hook_task = NULL,
    .hook_free = NULL
};
