/*
 * privacy-backend: Kling's API.
 *
 *   submit   POST {base}/v1/videos/image2video   (text2video without media)
 *            {"model_name", "image", "prompt", "external_task_id",
 *             "callback_url", ...}
 *            -> {"code": 0, "data": {"task_id", "task_status"}}
 *   poll     GET  {base}/v1/videos/image2video/{task_id}
 *            data.task_status submitted | processing | succeed | failed;
 *            data.task_result.videos[0].url; data.task_status_msg
 *   find     GET  {base}/v1/videos/image2video/{external_task_id}
 *
 * Every call carries "Authorization: Bearer JWT", a JWT (HS256) minted for
 * it from the access key and the secret key: {"iss": access key, "exp":
 * now + 1800, "nbf": now - 5}.  The image goes as raw base64 (no "data:"
 * prefix) when small, else as the backend's signed link.
 *
 * external_task_id is our job id, and Kling keeps it unique: after a crash
 * during a submission the task is first looked up by it (find), so a
 * retry finds the task instead of making another.  Kling has no cancel:
 * a deleted job is forgotten here and its result discarded on arrival.
 *
 * Errors come as {"code", "message"}: 1302 and 1303 (too fast, too many
 * at once) and 5000-5002 (Kling's own trouble) are tried again later;
 * 1301 (content policy) and every other code fail the job with the words.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pe_jws.h"
#include "provider.h"


#define PE_KLING_JWT_TTL  1800


static int
pe_kling_check(const pe_conf_provider_t *conf, char *err, size_t errlen)
{
    if (pe_provider_takes_only(conf, PE_HOOK_CALLBACKS, err, errlen) != 0) {
        return -1;
    }

    if (conf->access_key_env == NULL || conf->secret_key_env == NULL) {
        snprintf(err, errlen, "provider \"%s\" needs access_key_env= and "
                 "secret_key_env=", conf->name);
        return -1;
    }

    return 0;
}


static int
pe_kling_init(pe_provider_t *p, char *err, size_t errlen)
{
    if (pe_provider_env(p->conf->name, p->conf->access_key_env, p->secret,
                        sizeof(p->secret), err, errlen)
        != 0)
    {
        return -1;
    }

    return pe_provider_env(p->conf->name, p->conf->secret_key_env,
                           p->secret2, sizeof(p->secret2), err, errlen);
}


/* a JWT for one call, header.payload.signature, into out */
static int
pe_kling_jwt(pe_provider_t *p, time_t now, char *out, size_t size)
{
    int      rc;
    char    *json, *o;
    size_t   len;
    json_t  *claims;
    static const char  header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    claims = json_pack("{s:s,s:I,s:I}", "iss", p->secret,
                       "exp", (json_int_t) now + PE_KLING_JWT_TTL,
                       "nbf", (json_int_t) now - 5);
    json = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);

    if (json == NULL) {
        return -1;
    }

    len = strlen(json);
    rc = -1;

    /* the two encoded parts, two dots, the signature, the end */
    if (4 * ((sizeof(header) + 1) / 3) + 4 * ((len + 2) / 3) + 2
        + PE_JWS_SIG_LEN + 1 <= size)
    {
        o = out;
        o += pe_base64url((const unsigned char *) header, sizeof(header) - 1,
                          o);
        *o++ = '.';
        o += pe_base64url((const unsigned char *) json, len, o);

        if (pe_hs256((const unsigned char *) p->secret2, strlen(p->secret2),
                     (const unsigned char *) out, (size_t) (o - out), o + 1)
            == 0)
        {
            *o = '.';
            o[1 + PE_JWS_SIG_LEN] = '\0';
            rc = 0;
        }
    }

    memset(json, 0, len);
    free(json);

    return rc;
}


/* Kling's field of each role Kling takes (a model's fields= renames one) */
static const char  *pe_kling_fields[PE_ROLES] = {
    "image", "image_tail", NULL, NULL
};


/* image2video for a job with an image, text2video for one without */
static const char *
pe_kling_kind(const pe_task_t *t)
{
    return pe_task_input(t, PE_ROLE_IMAGE) ? "image2video" : "text2video";
}


static char *
pe_kling_body(const pe_task_t *t)
{
    int          r;
    char        *s;
    size_t       k;
    json_t      *in;
    const char  *image, *comma;

    in = json_deep_copy(t->params);
    if (in == NULL) {
        return NULL;
    }

    /* what only we set; a parameter cannot stand in for any of it */
    json_object_del(in, "model_name");
    json_object_del(in, "prompt");
    json_object_del(in, "external_task_id");
    json_object_del(in, "callback_url");

    for (r = 0; r < PE_ROLES; r++) {
        if (pe_kling_fields[r]) {
            json_object_del(in, pe_kling_fields[r]);
        }
    }

    for (k = 0; k < t->ninputs; k++) {
        if (t->inputs[k].field) {
            json_object_del(in, t->inputs[k].field);    /* fields= */
        }
    }

    json_object_set_new(in, "model_name", json_string(t->model));

    for (k = 0; k < t->ninputs; k++) {
        image = t->inputs[k].url;

        /* raw base64: what follows "data:TYPE;base64," */
        if (strncmp(image, "data:", 5) == 0) {
            comma = strchr(image, ',');
            image = comma ? comma + 1 : "";
        }

        json_object_set_new(in, pe_input_field(&t->inputs[k],
                                pe_kling_fields[t->inputs[k].role]),
                            json_string(image));
    }

    if (t->prompt) {
        json_object_set_new(in, "prompt", json_string(t->prompt));
    }

    json_object_set_new(in, "external_task_id", json_string(t->job_id));

    if (t->webhook_url) {
        json_object_set_new(in, "callback_url", json_string(t->webhook_url));
    }

    s = json_dumps(in, JSON_COMPACT);
    json_decref(in);

    return s;
}


static int
pe_kling_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op, pe_preq_t *req,
    char *err, size_t errlen)
{
    int          n;
    char         jwt[1024];
    size_t       k;
    const char  *kind;

    kind = pe_kling_kind(t);
    n = 0;

    switch (op) {

    case PE_OP_SUBMIT:
        for (k = 0; k < t->ninputs; k++) {
            if (pe_kling_fields[t->inputs[k].role] == NULL) {
                snprintf(err, errlen, "kling makes videos from images and "
                         "text, not from %s", pe_role_name(t->inputs[k].role));
                return -1;
            }
        }

        /* a last frame is the end of a video that starts at an image */
        if (pe_task_input(t, PE_ROLE_LAST_FRAME)
            && !pe_task_input(t, PE_ROLE_IMAGE))
        {
            snprintf(err, errlen, "kling takes a last frame only with an "
                     "image");
            return -1;
        }

        n = snprintf(req->url, sizeof(req->url), "%s/v1/videos/%s",
                     p->conf->base, kind);
        req->method = "POST";
        req->body = pe_kling_body(t);

        if (req->body == NULL) {
            snprintf(err, errlen, "cannot build the task");
            return -1;
        }

        break;

    case PE_OP_POLL:
    case PE_OP_RESULT:
        if (t->status_url[0] == '\0') {
            snprintf(err, errlen, "no task URL");
            return -1;
        }

        n = snprintf(req->url, sizeof(req->url), "%s", t->status_url);
        req->method = "GET";
        break;

    case PE_OP_FIND:
        n = snprintf(req->url, sizeof(req->url), "%s/v1/videos/%s/%s",
                     p->conf->base, kind, t->job_id);
        req->method = "GET";
        break;

    default:
        snprintf(err, errlen, "kling has no cancel");
        return -1;
    }

    if (n < 0 || (size_t) n >= sizeof(req->url)) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }

    if (pe_kling_jwt(p, time(NULL), jwt, sizeof(jwt)) != 0) {
        snprintf(err, errlen, "cannot mint the token");
        return -1;
    }

    n = pe_provider_headers(req, "Bearer", jwt);
    memset(jwt, 0, sizeof(jwt));

    return n;
}


static const char  *pe_kling_reasons[] = { "message", NULL };


/* Kling's code: later, or a failure in its own words */
static pe_remote_e
pe_kling_error(pe_task_t *t, json_int_t kcode, long code, const char *body,
    size_t len)
{
    if (kcode == 1302 || kcode == 1303 || (kcode >= 5000 && kcode <= 5002)) {
        return PE_REMOTE_RETRY;
    }

    pe_provider_reason(t, code, body, len, pe_kling_reasons);

    if (kcode == 1301) {
        /* "provider 400: ..." becomes "content_policy: provider 400: ..." */
        char  r[PE_REASON_MAX];

        snprintf(r, sizeof(r), "%s", t->reason);
        snprintf(t->reason, sizeof(t->reason), "content_policy: %.200s", r);
    }

    return PE_REMOTE_FAILED;
}


/* a task object: its id (kept), its status, and what it says */
static pe_remote_e
pe_kling_task(pe_provider_t *p, pe_task_t *t, json_t *data, long code,
    const char *body, size_t len)
{
    int          n;
    json_t      *v;
    const char  *id, *s;

    id = json_string_value(json_object_get(data, "task_id"));
    s = json_string_value(json_object_get(data, "task_status"));

    if (id == NULL || *id == '\0' || s == NULL
        || strlen(id) >= sizeof(t->remote_id)
        || strspn(id, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
           != strlen(id)
        || (t->remote_id[0] && strcmp(t->remote_id, id) != 0))
    {
        return PE_REMOTE_INVALID;
    }

    if (t->remote_id[0] == '\0') {
        n = snprintf(t->status_url, sizeof(t->status_url),
                     "%s/v1/videos/%s/%s", p->conf->base, pe_kling_kind(t),
                     id);
        if (n < 0 || (size_t) n >= sizeof(t->status_url)) {
            return PE_REMOTE_INVALID;
        }

        snprintf(t->remote_id, sizeof(t->remote_id), "%s", id);
    }

    if (strcmp(s, "submitted") == 0) {
        return PE_REMOTE_QUEUED;
    }

    if (strcmp(s, "processing") == 0) {
        return PE_REMOTE_RUNNING;
    }

    if (strcmp(s, "succeed") == 0) {
        v = json_object_get(json_object_get(data, "task_result"), "videos");
        s = json_string_value(json_object_get(json_array_get(v, 0), "url"));

        if (!pe_provider_output_url(s) || strlen(s) >= sizeof(t->output)) {
            snprintf(t->reason, sizeof(t->reason),
                     "provider: no video in the task's result");
            return PE_REMOTE_FAILED;
        }

        snprintf(t->output, sizeof(t->output), "%s", s);
        return PE_REMOTE_SUCCEEDED;
    }

    if (strcmp(s, "failed") == 0) {
        s = json_string_value(json_object_get(data, "task_status_msg"));
        snprintf(t->reason, sizeof(t->reason), "provider: %.200s",
                 s && *s ? s : "the task failed");

        for (n = 0; t->reason[n]; n++) {
            if ((unsigned char) t->reason[n] < 0x20) {
                t->reason[n] = ' ';
            }
        }

        return PE_REMOTE_FAILED;
    }

    (void) code;
    (void) body;
    (void) len;

    return PE_REMOTE_INVALID;
}


static pe_remote_e
pe_kling_parse(pe_provider_t *p, pe_task_t *t, pe_op_e op, long code,
    const char *body, size_t len)
{
    json_t       *j, *kcode;
    pe_remote_e   rc;

    j = pe_provider_json(body, len);
    kcode = json_object_get(j, "code");

    if (op == PE_OP_FIND && (code == 404 || json_integer_value(kcode) == 1203))
    {
        /* no task with our id: it never arrived, so it may be sent */
        json_decref(j);
        return PE_REMOTE_NOT_FOUND;
    }

    if (!json_is_object(j) || !json_is_integer(kcode)) {
        if (code >= 400) {
            pe_provider_reason(t, code, body, len, pe_kling_reasons);
            json_decref(j);
            return PE_REMOTE_FAILED;
        }

        json_decref(j);
        return PE_REMOTE_INVALID;
    }

    if (json_integer_value(kcode) != 0 || code >= 400) {
        rc = pe_kling_error(t, json_integer_value(kcode), code, body, len);
        json_decref(j);
        return rc;
    }

    rc = pe_kling_task(p, t, json_object_get(j, "data"), code, body, len);

    if (op == PE_OP_SUBMIT && rc != PE_REMOTE_INVALID) {
        /* whatever it says now, the first poll tells what it is */
        rc = rc == PE_REMOTE_RUNNING ? PE_REMOTE_RUNNING : PE_REMOTE_QUEUED;
    }

    json_decref(j);

    return rc;
}


/* its task_id; and our job id, which it keeps as external_task_id */
static const char *
pe_kling_hook_task(json_t *body, const char **job)
{
    *job = json_string_value(json_object_get(json_object_get(body,
                                                             "task_info"),
                                             "external_task_id"));

    return json_string_value(json_object_get(body, "task_id"));
}


const pe_provider_ops_t  pe_provider_kling = {
    .kind = "kling",
    .roles = 1u << PE_ROLE_IMAGE | 1u << PE_ROLE_LAST_FRAME,
    .inline_max = 0,
    .check = pe_kling_check,
    .hooks = pe_provider_hooks_on,     /* callbacks=on */
    .init = pe_kling_init,
    .prepare = pe_kling_prepare,
    .parse = pe_kling_parse,
    .finds = 1,
    .deletes_ended = 0,
    .hook_init = NULL,
    .hook_verify = pe_provider_hook_unsigned,   /* hints only */
    .hook_task = pe_kling_hook_task,
    .hook_free = NULL
};
