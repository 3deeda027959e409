/*
 * privacy-backend: ByteDance Seedance through BytePlus ModelArk.
 *
 *   submit   POST   {base}/api/v3/contents/generations/tasks
 *            {"model", "content": [{"type": "text", "text"},
 *             {"type": "image_url", "image_url": {"url"}, "role":
 *              "first_frame" | "last_frame"}], "callback_url", ...}
 *            -> {"id": "cgt-..."}
 *   poll     GET    {base}/api/v3/contents/generations/tasks/{id}
 *            "status" queued | running | succeeded | failed | cancelled
 *            (| expired); "content": {"video_url"}; "error": {"code",
 *            "message"}
 *   cancel   DELETE {base}/api/v3/contents/generations/tasks/{id}
 *            a queued task cancelled; an ended one's record deleted; a
 *            running one refused (asked again once it has ended)
 *
 * Every call carries "Authorization: Bearer KEY" (key_env=).  A job's
 * image is the first frame, its last_frame the last one: each a data URI
 * when small, else the backend's signed link.  A text-only job is a
 * text-to-video task.  Parameters (ratio, duration, ...) go at the top of
 * the body; none may stand in for the model, the content or the callback.
 *
 * Errors come as {"error": {"code", "message"}}; a 4xx fails the job with
 * the message (a code naming sensitive content as content_policy).
 *
 * With callbacks=on, each task carries a callback_url; ModelArk's
 * callbacks (the task object) carry no signature, so one is only a hint
 * to poll, as Kling's are.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"


#define PE_SEEDANCE_TASKS  "/api/v3/contents/generations/tasks"


static int
pe_seedance_check(const pe_conf_provider_t *conf, char *err, size_t errlen)
{
    if (pe_provider_takes_only(conf, PE_HOOK_CALLBACKS, err, errlen) != 0) {
        return -1;
    }

    if (pe_provider_needs_key(conf, err, errlen) != 0) {
        return -1;
    }

    return 0;
}



/* the content role of each job role Seedance takes (fields= renames) */
static const char  *pe_seedance_roles[PE_ROLES] = {
    "first_frame", "last_frame", NULL, NULL
};


static char *
pe_seedance_body(const pe_task_t *t)
{
    int          r;
    char        *s;
    json_t      *in, *content, *part;
    const pe_input_t  *input;

    in = json_deep_copy(t->params);
    content = json_array();

    if (in == NULL || content == NULL) {
        json_decref(in);
        json_decref(content);
        return NULL;
    }

    /* what only we set; a parameter cannot stand in for any of it */
    json_object_del(in, "model");
    json_object_del(in, "content");
    json_object_del(in, "callback_url");

    if (t->prompt) {
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text",
                                                 "text", t->prompt));
    }

    /* the first frame before the last, whatever order the job gave */
    for (r = 0; r < PE_ROLES; r++) {
        input = pe_task_input(t, (pe_role_e) r);

        if (input == NULL || pe_seedance_roles[r] == NULL) {
            continue;
        }

        part = json_pack("{s:s,s:{s:s},s:s}", "type", "image_url",
                         "image_url", "url", input->url ? input->url : "",
                         "role", pe_input_field(input,
                                                pe_seedance_roles[r]));
        if (part == NULL) {
            json_decref(in);
            json_decref(content);
            return NULL;
        }

        json_array_append_new(content, part);
    }

    json_object_set_new(in, "model", json_string(t->model));
    json_object_set_new(in, "content", content);

    if (t->webhook_url) {
        json_object_set_new(in, "callback_url", json_string(t->webhook_url));
    }

    s = json_dumps(in, JSON_COMPACT);
    json_decref(in);

    return s;
}


static int
pe_seedance_prepare(pe_provider_t *p, pe_task_t *t, pe_op_e op,
    pe_preq_t *req, char *err, size_t errlen)
{
    int          n;
    size_t       k;
    const char  *url;

    n = 0;

    switch (op) {

    case PE_OP_SUBMIT:
        for (k = 0; k < t->ninputs; k++) {
            if (pe_seedance_roles[t->inputs[k].role] == NULL) {
                snprintf(err, errlen, "seedance makes videos from images "
                         "and text, not from %s",
                         pe_role_name(t->inputs[k].role));
                return -1;
            }
        }

        /* a last frame is the end of a video that starts at an image */
        if (pe_task_input(t, PE_ROLE_LAST_FRAME)
            && !pe_task_input(t, PE_ROLE_IMAGE))
        {
            snprintf(err, errlen, "seedance takes a last frame only with an "
                     "image");
            return -1;
        }

        n = snprintf(req->url, sizeof(req->url), "%s" PE_SEEDANCE_TASKS,
                     p->conf->base);
        req->method = "POST";
        req->body = pe_seedance_body(t);

        if (req->body == NULL) {
            snprintf(err, errlen, "cannot build the task");
            return -1;
        }

        break;

    case PE_OP_POLL:
    case PE_OP_RESULT:
    case PE_OP_CANCEL:
        url = op == PE_OP_CANCEL ? t->cancel_url : t->status_url;

        if (*url == '\0') {
            snprintf(err, errlen, "no task URL");
            return -1;
        }

        n = snprintf(req->url, sizeof(req->url), "%s", url);
        req->method = op == PE_OP_CANCEL ? "DELETE" : "GET";
        break;

    default:
        snprintf(err, errlen, "not an operation of ModelArk's");
        return -1;
    }

    if (n < 0 || (size_t) n >= sizeof(req->url)) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }

    return pe_provider_headers(req, "Bearer", p->secret);
}


/* "provider: WORDS", printable, into the task's reason */
static void
pe_seedance_words(pe_task_t *t, const char *prefix, const char *s)
{
    size_t  i;

    snprintf(t->reason, sizeof(t->reason), "%sprovider: %.200s", prefix, s);

    for (i = 0; t->reason[i]; i++) {
        if ((unsigned char) t->reason[i] < 0x20) {
            t->reason[i] = ' ';
        }
    }
}


/* ModelArk's codes for what its moderation refused */
static const char *
pe_seedance_policy(const char *code)
{
    return code && strstr(code, "Sensitive") ? "content_policy: " : "";
}


/* {"error": {"code", "message"}} of a 4xx: the job fails with the words */
static pe_remote_e
pe_seedance_error(pe_task_t *t, long code, const char *body, size_t len)
{
    json_t      *j, *e;
    const char  *c, *m;

    j = pe_provider_json(body, len);
    e = json_object_get(j, "error");
    c = json_string_value(json_object_get(e, "code"));
    m = json_string_value(json_object_get(e, "message"));

    snprintf(t->reason, sizeof(t->reason), "%sprovider %ld: %.200s",
             pe_seedance_policy(c), code,
             m && *m ? m : c && *c ? c : "refused");

    for (len = 0; t->reason[len]; len++) {
        if ((unsigned char) t->reason[len] < 0x20) {
            t->reason[len] = ' ';
        }
    }

    json_decref(j);

    return PE_REMOTE_FAILED;
}


/* a task id we may put in a path */
static int
pe_seedance_id_valid(const char *id)
{
    return id != NULL && *id != '\0' && strlen(id) < PE_REMOTE_ID_MAX
           && strspn(id, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
              == strlen(id);
}


static pe_remote_e
pe_seedance_task(pe_task_t *t, json_t *j)
{
    json_t      *e;
    const char  *id, *s, *c, *m;

    id = json_string_value(json_object_get(j, "id"));
    s = json_string_value(json_object_get(j, "status"));

    if (!pe_seedance_id_valid(id) || s == NULL
        || strcmp(id, t->remote_id) != 0)
    {
        return PE_REMOTE_INVALID;
    }

    if (strcmp(s, "queued") == 0) {
        return PE_REMOTE_QUEUED;
    }

    if (strcmp(s, "running") == 0) {
        return PE_REMOTE_RUNNING;
    }

    if (strcmp(s, "succeeded") == 0) {
        s = json_string_value(json_object_get(json_object_get(j, "content"),
                                              "video_url"));

        if (!pe_provider_output_url(s) || strlen(s) >= sizeof(t->output)) {
            snprintf(t->reason, sizeof(t->reason),
                     "provider: no video in the task's result");
            return PE_REMOTE_FAILED;
        }

        snprintf(t->output, sizeof(t->output), "%s", s);
        return PE_REMOTE_SUCCEEDED;
    }

    if (strcmp(s, "failed") == 0) {
        e = json_object_get(j, "error");
        c = json_string_value(json_object_get(e, "code"));
        m = json_string_value(json_object_get(e, "message"));
        pe_seedance_words(t, pe_seedance_policy(c),
                          m && *m ? m : c && *c ? c : "the task failed");
        return PE_REMOTE_FAILED;
    }

    if (strcmp(s, "cancelled") == 0) {
        return PE_REMOTE_CANCELED;
    }

    if (strcmp(s, "expired") == 0) {
        pe_seedance_words(t, "", "the task expired before it ran");
        return PE_REMOTE_FAILED;
    }

    return PE_REMOTE_INVALID;
}


static pe_remote_e
pe_seedance_parse(pe_provider_t *p, pe_task_t *t, pe_op_e op, long code,
    const char *body, size_t len)
{
    int           n;
    json_t       *j;
    const char   *id;
    pe_remote_e   rc;

    if (op == PE_OP_CANCEL) {
        /*
         * 2xx: a queued task cancelled, or an ended one's record (and
         * video) deleted; 404: gone already.  A running task's DELETE is
         * refused and the task runs on, to be deleted once it has ended.
         * ModelArk documents no code for that refusal, so any other 4xx
         * is "later"; a cancelled task refuses it for good, and is asked
         * until the worker gives up.
         */
        return code < 300 || code == 404 ? PE_REMOTE_CANCELED
                                         : PE_REMOTE_LATER;
    }

    if (code >= 400) {
        return pe_seedance_error(t, code, body, len);
    }

    j = pe_provider_json(body, len);

    if (!json_is_object(j)) {
        json_decref(j);
        return PE_REMOTE_INVALID;
    }

    rc = PE_REMOTE_INVALID;

    if (op == PE_OP_SUBMIT) {
        id = json_string_value(json_object_get(j, "id"));

        if (pe_seedance_id_valid(id) && t->remote_id[0] == '\0') {
            n = snprintf(t->status_url, sizeof(t->status_url),
                         "%s" PE_SEEDANCE_TASKS "/%s", p->conf->base, id);

            if (n > 0 && (size_t) n < sizeof(t->status_url)) {
                snprintf(t->cancel_url, sizeof(t->cancel_url), "%s",
                         t->status_url);
                snprintf(t->remote_id, sizeof(t->remote_id), "%s", id);
                rc = PE_REMOTE_QUEUED;

            } else {
                t->status_url[0] = '\0';
            }
        }

    } else {
        rc = pe_seedance_task(t, j);
    }

    json_decref(j);

    return rc;
}


/* the task object: its id; our job id it does not carry */
static const char *
pe_seedance_hook_task(json_t *body, const char **job)
{
    *job = NULL;

    return json_string_value(json_object_get(body, "id"));
}


const pe_provider_ops_t  pe_provider_seedance = {
    .kind = "seedance",
    .roles = 1u << PE_ROLE_IMAGE | 1u << PE_ROLE_LAST_FRAME,
    .inline_max = 0,
    .check = pe_seedance_check,
    .hooks = pe_provider_hooks_on,     /* callbacks=on */
    .init = pe_provider_init_key,
    .prepare = pe_seedance_prepare,
    .parse = pe_seedance_parse,
    .finds = 0,
    .deletes_ended = 1,
    .hook_init = NULL,
    .hook_verify = pe_provider_hook_unsigned,   /* hints only */
    .hook_task = pe_seedance_hook_task,
    .hook_free = NULL
};
