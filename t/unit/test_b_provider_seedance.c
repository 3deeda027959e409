/*
 * Unit tests of the Seedance adapter (backend/provider_seedance.c): the
 * task a submission creates (the prompt as text, the image as first_frame,
 * the last frame as last_frame, inline or by link, the callback, nothing a
 * parameter could smuggle), a text-only task, the poll and the cancel
 * (DELETE), and answers: every status, errors, well formed, truncated at
 * every byte, hostile.
 */

#include "tap.h"

#include <stdlib.h>

#include "provider.h"


static pe_conf_provider_t  conf = {
    .name = "seedance", .kind = PE_PROVIDER_SEEDANCE,
    .base = "https://ark.ap-southeast.bytepluses.com", .timeout = 30,
    .submit_parallel = 1, .key_env = "ARK_API_KEY"
};

static pe_provider_t  ark = { .conf = &conf, .ops = &pe_provider_seedance,
                              .secret = "ark-SECRET" };

static json_t  *last_params;

#define TASKS  "https://ark.ap-southeast.bytepluses.com" \
               "/api/v3/contents/generations/tasks"


static void
task_init(pe_task_t *t, const char *params)
{
    json_decref(last_params);
    memset(t, 0, sizeof(*t));
    t->job_id = "0123456789abcdef0123456789abcdef";
    t->model = "seedance-1-0-pro-250528";
    t->prompt = "a fox";
    t->params = json_loads(params, 0, NULL);
    last_params = t->params;
    t->inputs[0].role = PE_ROLE_IMAGE;
    t->inputs[0].url = "data:image/png;base64,iVBORw0KGgo=";
    t->ninputs = 1;
}


static pe_remote_e
parse(pe_task_t *t, pe_op_e op, long code, const char *body)
{
    return pe_provider_seedance.parse(&ark, t, op, code, body, strlen(body));
}


static void
req_free(pe_preq_t *req)
{
    curl_slist_free_all(req->headers);
    free(req->body);
    memset(req, 0, sizeof(*req));
}


static int
has_header(const pe_preq_t *req, const char *h)
{
    const struct curl_slist  *l;

    for (l = req->headers; l; l = l->next) {
        if (strcmp(l->data, h) == 0) {
            return 1;
        }
    }

    return 0;
}


#define TASK(status, extra)                                                 \
    "{\"id\":\"cgt-20250101-abc\",\"model\":\"seedance-1-0-pro-250528\","  \
    "\"status\":\"" status "\"" extra "}"


int
main(void)
{
    int          bad;
    char         err[128], *cut, *want;
    size_t       i, n;
    json_t      *j, *c;
    pe_task_t    t;
    pe_preq_t    req;

    /* --- the submission ------------------------------------------------- */

    task_init(&t, "{\"duration\":5,\"ratio\":\"16:9\",\"model\":\"x\","
                  "\"content\":[{\"type\":\"text\",\"text\":\"smuggled\"}],"
                  "\"callback_url\":\"https://evil.example/cb\"}");
    t.inputs[1].role = PE_ROLE_LAST_FRAME;
    t.inputs[1].url = "https://b.example/v1/media/tail";
    t.ninputs = 2;
    /* the last frame first in the job: still after the first frame */
    t.inputs[2] = t.inputs[0];
    t.inputs[0] = t.inputs[1];
    t.inputs[1] = t.inputs[2];
    memset(&t.inputs[2], 0, sizeof(t.inputs[2]));
    t.webhook_url = "https://b.example/v1/providers/seedance/webhook?job=0123";
    memset(&req, 0, sizeof(req));
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                        sizeof(err)), 0, "submit: prepared");
    is_str(req.url, TASKS, "... to the tasks");
    is_str(req.method, "POST", "... POST");
    ok(has_header(&req, "Authorization: Bearer ark-SECRET"),
       "... the bearer key");

    j = json_loads(req.body, 0, NULL);
    c = json_pack("{s:s,s:[{s:s,s:s},{s:s,s:{s:s},s:s},{s:s,s:{s:s},s:s}],"
                  "s:s,s:i,s:s}",
                  "model", "seedance-1-0-pro-250528",
                  "content",
                  "type", "text", "text", "a fox",
                  "type", "image_url", "image_url", "url",
                  "data:image/png;base64,iVBORw0KGgo=", "role", "first_frame",
                  "type", "image_url", "image_url", "url",
                  "https://b.example/v1/media/tail", "role", "last_frame",
                  "callback_url", t.webhook_url,
                  "duration", 5, "ratio", "16:9");
    if (!ok(j && c && json_equal(j, c),
            "... exactly the prompt, the frames in order, the callback and "
            "the parameters; nothing smuggled"))
    {
        printf("# %s\n", req.body);
    }
    json_decref(j);
    json_decref(c);
    req_free(&req);

    /* text only */
    task_init(&t, "{}");
    t.ninputs = 0;
    t.inputs[0].url = NULL;
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                        sizeof(err)), 0, "text only: prepared");
    is_str(req.body, "{\"model\":\"seedance-1-0-pro-250528\",\"content\":"
           "[{\"type\":\"text\",\"text\":\"a fox\"}]}",
           "... the prompt alone, no callback unasked");
    req_free(&req);

    /* an image alone, by its link; a model's fields= renames the role */
    task_init(&t, "{}");
    t.inputs[0].url = "https://b.example/v1/media/tok";
    t.inputs[0].field = "reference_image";
    t.prompt = NULL;
    pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                 sizeof(err));
    is_str(req.body, "{\"model\":\"seedance-1-0-pro-250528\",\"content\":"
           "[{\"type\":\"image_url\",\"image_url\":{\"url\":"
           "\"https://b.example/v1/media/tok\"},\"role\":\"reference_image\"}"
           "]}", "an image by its link, no prompt, a renamed role");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_LAST_FRAME;
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                        sizeof(err)), -1,
           "a last frame without an image: refused");
    req_free(&req);
    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_VIDEO;
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                        sizeof(err)), -1, "a video: refused");
    req_free(&req);
    t.inputs[0].role = PE_ROLE_AUDIO;
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_SUBMIT, &req, err,
                                        sizeof(err)), -1, "a sound: refused");
    req_free(&req);
    ok(pe_provider_seedance.roles
       == (1u << PE_ROLE_IMAGE | 1u << PE_ROLE_LAST_FRAME),
       "the roles declared: image and last_frame");

    /* --- poll, cancel --------------------------------------------------- */

    task_init(&t, "{}");
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_POLL, &req, err,
                                        sizeof(err)), -1,
           "poll before a task: refused");
    req_free(&req);
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_FIND, &req, err,
                                        sizeof(err)), -1, "find: none");
    req_free(&req);
    ok(!pe_provider_seedance.finds, "... and none declared");

    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"id\":\"cgt-20250101-abc\"}"),
           PE_REMOTE_QUEUED, "submitted: queued");
    is_str(t.remote_id, "cgt-20250101-abc", "... the task id");
    is_str(t.status_url, TASKS "/cgt-20250101-abc", "... polled by it");
    is_str(t.cancel_url, TASKS "/cgt-20250101-abc", "... canceled by it");

    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_POLL, &req, err,
                                        sizeof(err)), 0, "poll: prepared");
    is_str(req.url, TASKS "/cgt-20250101-abc", "... the task");
    is_str(req.method, "GET", "... GET");
    ok(req.body == NULL, "... no body");
    ok(has_header(&req, "Authorization: Bearer ark-SECRET"),
       "... the bearer key");
    req_free(&req);
    is_int(pe_provider_seedance.prepare(&ark, &t, PE_OP_CANCEL, &req, err,
                                        sizeof(err)), 0, "cancel: prepared");
    is_str(req.url, TASKS "/cgt-20250101-abc", "... the task");
    is_str(req.method, "DELETE", "... DELETE");
    req_free(&req);
    is_int(parse(&t, PE_OP_CANCEL, 200, "{}"), PE_REMOTE_CANCELED,
           "cancel, 200: canceled");
    is_int(parse(&t, PE_OP_CANCEL, 404, "{\"error\":{}}"), PE_REMOTE_CANCELED,
           "cancel, 404: nothing left to cancel");
    is_int(parse(&t, PE_OP_CANCEL, 409,
                 "{\"error\":{\"code\":\"InvalidAction\"}}"),
           PE_REMOTE_LATER, "cancel refused (a running task): later");
    is_int(parse(&t, PE_OP_CANCEL, 400, "{}"), PE_REMOTE_LATER,
           "cancel, another 4xx: later, not taken as done");

    /* --- every status --------------------------------------------------- */

    is_int(parse(&t, PE_OP_POLL, 200, TASK("queued", "")), PE_REMOTE_QUEUED,
           "queued");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("running", "")), PE_REMOTE_RUNNING,
           "running");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeeded",
                 ",\"content\":{\"video_url\":\"https://ark-cdn.example/x.mp4"
                 "?X-Tos-Signature=1\"}")),
           PE_REMOTE_SUCCEEDED, "succeeded");
    is_str(t.output, "https://ark-cdn.example/x.mp4?X-Tos-Signature=1",
           "... content.video_url");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeeded",
                 ",\"content\":{\"video_url\":\"file:///etc/passwd\"}")),
           PE_REMOTE_FAILED, "a video that is no http(s) URL: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeeded",
                 ",\"content\":{\"video_url\":\"https://a b\"}")),
           PE_REMOTE_FAILED, "a video URL with a blank: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeeded", "")),
           PE_REMOTE_FAILED, "succeeded without content: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("failed",
                 ",\"error\":{\"code\":\"InternalServiceError\","
                 "\"message\":\"bad\\u0007input\"}")),
           PE_REMOTE_FAILED, "failed");
    is_str(t.reason, "provider: bad input",
           "... its message, control characters blanked");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("failed",
                 ",\"error\":{\"code\":\"OutputVideoSensitiveContentDetected\""
                 ",\"message\":\"may contain sensitive information\"}")),
           PE_REMOTE_FAILED, "failed on sensitive content");
    is_str(t.reason, "content_policy: provider: may contain sensitive "
           "information", "... as content policy");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("failed", "")),
           PE_REMOTE_FAILED, "failed without an error");
    is_str(t.reason, "provider: the task failed", "... said so");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("cancelled", "")),
           PE_REMOTE_CANCELED, "cancelled");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("expired", "")),
           PE_REMOTE_FAILED, "expired: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("exploded", "")),
           PE_REMOTE_INVALID, "an unknown status: not understood");
    is_int(parse(&t, PE_OP_POLL, 200,
                 "{\"id\":\"cgt-other\",\"status\":\"succeeded\",\"content\":"
                 "{\"video_url\":\"https://x.example/v.mp4\"}}"),
           PE_REMOTE_INVALID, "an answer about another task: not believed");
    is_int(parse(&t, PE_OP_POLL, 200,
                 "{\"id\":\"cgt-20250101-abc\\u0000x\",\"status\":\"queued\"}"),
           PE_REMOTE_INVALID, "an id with a NUL: not believed");
    is_int(parse(&t, PE_OP_POLL, 200, "[1,2]"), PE_REMOTE_INVALID,
           "not an object: not understood");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"id\":1,\"status\":\"queued\"}"),
           PE_REMOTE_INVALID, "an id that is no string: not understood");

    /* --- errors and hostile answers ------------------------------------- */

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"error\":{\"code\":"
                 "\"InvalidParameter\",\"message\":\"the parameter ratio "
                 "is invalid\"}}"),
           PE_REMOTE_FAILED, "400: failed");
    is_str(t.reason, "provider 400: the parameter ratio is invalid",
           "... in ModelArk's words");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"error\":{\"code\":"
                 "\"InputTextSensitiveContentDetected\",\"message\":\"m\"}}"),
           PE_REMOTE_FAILED, "400, sensitive input: failed");
    is_str(t.reason, "content_policy: provider 400: m", "... content policy");
    is_int(parse(&t, PE_OP_SUBMIT, 401, "not json"), PE_REMOTE_FAILED,
           "401 without JSON: failed");
    is_str(t.reason, "provider 401: refused", "... refused");
    is_str(t.remote_id, "", "... no task kept");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"id\":\"../../x\"}"),
           PE_REMOTE_INVALID, "a task id that could leave the path: no");
    is_str(t.status_url, "", "... nothing kept");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"id\":\"\"}"), PE_REMOTE_INVALID,
           "an empty id: no");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{}"), PE_REMOTE_INVALID,
           "no id: no");

    want = malloc(300);
    memset(want, 'a', 299);
    want[299] = '\0';
    n = strlen(want) + 16;
    cut = malloc(n);
    snprintf(cut, n, "{\"id\":\"%s\"}", want);
    is_int(parse(&t, PE_OP_SUBMIT, 200, cut), PE_REMOTE_INVALID,
           "an id too long: no");
    free(cut);
    free(want);

    n = strlen("{\"id\":\"cgt-20250101-abc\"}");
    cut = malloc(n + 1);
    bad = 0;

    for (i = 0; i < n; i++) {
        memcpy(cut, "{\"id\":\"cgt-20250101-abc\"}", i);
        cut[i] = '\0';
        task_init(&t, "{}");

        if (parse(&t, PE_OP_SUBMIT, 200, cut) != PE_REMOTE_INVALID) {
            bad++;
        }
    }

    free(cut);
    is_int(bad, 0, "every truncation of a submission's answer: not "
           "understood");

    n = strlen(TASK("succeeded", ",\"content\":{\"video_url\":"
                    "\"https://x.example/v.mp4\"}"));
    cut = malloc(n + 1);
    bad = 0;

    for (i = 0; i < n; i++) {
        memcpy(cut, TASK("succeeded", ",\"content\":{\"video_url\":"
                         "\"https://x.example/v.mp4\"}"), i);
        cut[i] = '\0';
        task_init(&t, "{}");
        snprintf(t.remote_id, sizeof(t.remote_id), "cgt-20250101-abc");

        if (parse(&t, PE_OP_POLL, 200, cut) != PE_REMOTE_INVALID) {
            bad++;
        }
    }

    free(cut);
    is_int(bad, 0, "every truncation of a task: not understood");

    /* --- callbacks: unsigned, a hint ------------------------------------ */

    {
        char         key[64] = "x";
        const char  *job = "y";

        is_int(pe_provider_seedance.hook_verify(&ark, NULL, NULL, "{}", 2,
                                                key, sizeof(key), err,
                                                sizeof(err)), 0,
               "a callback: taken as a hint");
        is_str(key, "", "... with no replay key");
        j = json_loads(TASK("succeeded", ""), 0, NULL);
        is_str(pe_provider_seedance.hook_task(j, &job), "cgt-20250101-abc",
               "... about the task its id names");
        ok(job == NULL, "... and no job of ours");
        json_decref(j);
    }

    /* --- the configuration ---------------------------------------------- */

    {
        pe_conf_provider_t  c2 = conf;

        is_int(pe_provider_seedance.check(&conf, err, sizeof(err)), 0,
               "check: key_env= is all it needs");
        c2.key_env = NULL;
        is_int(pe_provider_seedance.check(&c2, err, sizeof(err)), -1,
               "... and without it: refused");
        c2 = conf;
        c2.webhook_secret_env = "X";
        is_int(pe_provider_seedance.check(&c2, err, sizeof(err)), -1,
               "... webhook_secret_env=: refused");
        c2 = conf;
        c2.callbacks = 1;
        ok(pe_provider_seedance.hooks(&c2) && !pe_provider_seedance.hooks(&conf),
           "callbacks=on: callbacks");
    }

    json_decref(last_params);

    return done_testing();
}
