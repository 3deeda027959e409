/*
 * Unit tests of the Veo adapter (backend/provider_veo.c): the request a
 * submission makes (predictLongRunning, the key header, the prompt, both
 * frames inline as bytesBase64Encoded and mimeType, the parameters), what
 * it refuses (a frame by link, a last frame alone, a video or a sound),
 * and answers: an operation not done, done with its video, done with an
 * error or filtered; HTTP errors in Google's words; well formed,
 * truncated at every byte, hostile (bad JSON, missing fields, a name that
 * would leave the path or is too long, an answer about another operation).
 */

#include "tap.h"

#include <stdlib.h>

#include "provider.h"


static pe_conf_provider_t  conf = {
    .name = "veo", .kind = PE_PROVIDER_VEO,
    .base = "https://generativelanguage.googleapis.com", .timeout = 30,
    .submit_parallel = 1, .key_env = "GEMINI_API_KEY"
};

static pe_provider_t  veo = { .conf = &conf, .ops = &pe_provider_veo,
                              .secret = "AIza-secret-key" };

static json_t  *last_params;

#define BASE  "https://generativelanguage.googleapis.com"
#define NAME  "models/veo-3.1-generate-preview/operations/abc123xyz"


static void
task_init(pe_task_t *t, const char *params)
{
    json_decref(last_params);
    memset(t, 0, sizeof(*t));
    t->job_id = "0123456789abcdef0123456789abcdef";
    t->model = "veo-3.1-generate-preview";
    t->prompt = "a door opens";
    t->params = json_loads(params, 0, NULL);
    last_params = t->params;
    t->inputs[0].role = PE_ROLE_IMAGE;
    t->inputs[0].url = "data:image/png;base64,iVBORw0KGgo=";
    t->inputs[1].role = PE_ROLE_LAST_FRAME;
    t->inputs[1].url = "data:image/jpeg;base64,/9j/4AAQ";
    t->ninputs = 2;
}


static pe_remote_e
parse(pe_task_t *t, pe_op_e op, long code, const char *body)
{
    return pe_provider_veo.parse(&veo, t, op, code, body, strlen(body));
}


static int
prepare(pe_task_t *t, pe_op_e op, pe_preq_t *req)
{
    char  err[256];

    return pe_provider_veo.prepare(&veo, t, op, req, err, sizeof(err));
}


static void
req_free(pe_preq_t *req)
{
    curl_slist_free_all(req->headers);
    free(req->body);
    memset(req, 0, sizeof(*req));
}


static int
has_header(pe_preq_t *req, const char *h)
{
    struct curl_slist  *l;

    for (l = req->headers; l; l = l->next) {
        if (strcmp(l->data, h) == 0) {
            return 1;
        }
    }

    return 0;
}


/* a task submitted and its operation kept */
static void
submitted(pe_task_t *t)
{
    task_init(t, "{}");
    parse(t, PE_OP_SUBMIT, 200, "{\"name\":\"" NAME "\"}");
}


#define DONE(extra)                                                         \
    "{\"name\":\"" NAME "\",\"done\":true" extra "}"

#define VIDEO(uri)                                                          \
    DONE(",\"response\":{\"@type\":\"type.googleapis.com/google.ai."        \
         "generativelanguage.v1beta.PredictLongRunningResponse\","          \
         "\"generateVideoResponse\":{\"generatedSamples\":[{\"video\":"    \
         "{\"uri\":\"" uri "\"}}]}}")


static void
test_submit(void)
{
    json_t      *j, *inst, *img;
    pe_task_t    t;
    pe_preq_t    req;

    memset(&req, 0, sizeof(req));
    task_init(&t, "{\"aspectRatio\":\"16:9\",\"durationSeconds\":8}");
    is_int(prepare(&t, PE_OP_SUBMIT, &req), 0, "submit: prepared");
    is_str(req.url, BASE "/v1beta/models/veo-3.1-generate-preview:"
           "predictLongRunning", "... predictLongRunning of the model");
    is_str(req.method, "POST", "... POST");
    ok(has_header(&req, "x-goog-api-key: AIza-secret-key"),
       "... the key in x-goog-api-key");
    ok(has_header(&req, "Content-Type: application/json"), "... JSON");
    ok(!has_header(&req, "Authorization: Bearer AIza-secret-key"),
       "... and in no Authorization header");

    j = json_loads(req.body ? req.body : "", 0, NULL);
    ok(json_array_size(json_object_get(j, "instances")) == 1,
       "... one instance");
    inst = json_array_get(json_object_get(j, "instances"), 0);
    is_int((long) json_object_size(inst), 3,
           "... prompt, image, lastFrame: nothing else");
    is_str(json_string_value(json_object_get(inst, "prompt")),
           "a door opens", "... the prompt");
    img = json_object_get(inst, "image");
    is_str(json_string_value(json_object_get(img, "bytesBase64Encoded")),
           "iVBORw0KGgo=", "... the image: raw base64");
    is_str(json_string_value(json_object_get(img, "mimeType")), "image/png",
           "... with its type");
    is_int((long) json_object_size(img), 2, "... and nothing more");
    img = json_object_get(inst, "lastFrame");
    is_str(json_string_value(json_object_get(img, "bytesBase64Encoded")),
           "/9j/4AAQ", "... the last frame: lastFrame, raw base64");
    is_str(json_string_value(json_object_get(img, "mimeType")), "image/jpeg",
           "... with its type");
    is_str(json_string_value(json_object_get(json_object_get(j,
           "parameters"), "aspectRatio")), "16:9", "... the parameters");
    is_int((long) json_integer_value(json_object_get(json_object_get(j,
           "parameters"), "durationSeconds")), 8, "... as given");
    is_int((long) json_object_size(j), 2,
           "... instances and parameters, nothing else");
    json_decref(j);
    req_free(&req);

    /* no parameters, no prompt, an image only */
    task_init(&t, "{}");
    t.prompt = NULL;
    t.ninputs = 1;
    prepare(&t, PE_OP_SUBMIT, &req);
    is_str(req.body, "{\"instances\":[{\"image\":{\"bytesBase64Encoded\":"
           "\"iVBORw0KGgo=\",\"mimeType\":\"image/png\"}}]}",
           "an image alone, no parameters: exactly that");
    req_free(&req);

    /* text only */
    task_init(&t, "{}");
    t.ninputs = 0;
    prepare(&t, PE_OP_SUBMIT, &req);
    is_str(req.body, "{\"instances\":[{\"prompt\":\"a door opens\"}]}",
           "text only: the prompt alone");
    req_free(&req);

    /* fields= renames */
    task_init(&t, "{}");
    t.inputs[1].field = "referenceFrame";
    prepare(&t, PE_OP_SUBMIT, &req);
    j = json_loads(req.body ? req.body : "", 0, NULL);
    inst = json_array_get(json_object_get(j, "instances"), 0);
    ok(json_object_get(inst, "referenceFrame") != NULL
       && json_object_get(inst, "lastFrame") == NULL,
       "fields=last_frame:referenceFrame renames it");
    json_decref(j);
    req_free(&req);

    /* refusals */
    task_init(&t, "{}");
    t.inputs[1].url = "https://b.example/v1/media/tok";
    is_int(prepare(&t, PE_OP_SUBMIT, &req), -1,
           "a frame by link (too large to inline): refused");
    ok(req.body == NULL, "... nothing built");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].url = "data:image/png,notbase64";
    is_int(prepare(&t, PE_OP_SUBMIT, &req), -1,
           "a data: URI that is not base64: refused");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0] = t.inputs[1];
    t.ninputs = 1;
    is_int(prepare(&t, PE_OP_SUBMIT, &req), -1,
           "a last frame without an image: refused");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[1].role = PE_ROLE_VIDEO;
    is_int(prepare(&t, PE_OP_SUBMIT, &req), -1, "a video: refused");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_AUDIO;
    t.ninputs = 1;
    is_int(prepare(&t, PE_OP_SUBMIT, &req), -1, "a sound: refused");
    req_free(&req);

    task_init(&t, "{}");
    is_int(prepare(&t, PE_OP_CANCEL, &req), -1, "cancel: none");
    req_free(&req);
    is_int(prepare(&t, PE_OP_FIND, &req), -1, "find: none");
    req_free(&req);
    is_int(prepare(&t, PE_OP_POLL, &req), -1, "poll before submit: none");
    req_free(&req);

    ok(pe_provider_veo.roles
       == (1u << PE_ROLE_IMAGE | 1u << PE_ROLE_LAST_FRAME),
       "roles: image and last_frame");
    ok(!pe_provider_veo.finds && !pe_provider_veo.hooks(&conf),
       "no lookup, no callbacks");
}


static void
test_check(void)
{
    char                err[256];
    pe_conf_provider_t  c = conf;

    is_int(pe_provider_veo.check(&c, err, sizeof(err)), 0, "check: key_env");
    c.key_env = NULL;
    is_int(pe_provider_veo.check(&c, err, sizeof(err)), -1,
           "check: no key_env refused");
    c = conf;
    c.callbacks = 1;
    is_int(pe_provider_veo.check(&c, err, sizeof(err)), -1,
           "check: callbacks= refused");
    c = conf;
    c.webhook_secret_env = "S";
    is_int(pe_provider_veo.check(&c, err, sizeof(err)), -1,
           "check: webhook_secret_env= refused");
}


static void
test_answers(void)
{
    char        name[300], body[512];
    pe_task_t   t;
    pe_preq_t   req;

    memset(&req, 0, sizeof(req));

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"name\":\"" NAME "\"}"),
           PE_REMOTE_QUEUED, "submit: an operation, queued");
    is_str(t.remote_id, NAME, "... its name kept");
    is_str(t.status_url, BASE "/v1beta/" NAME, "... polled under base");
    is_int(prepare(&t, PE_OP_POLL, &req), 0, "poll: prepared");
    is_str(req.url, BASE "/v1beta/" NAME, "... GET the operation");
    is_str(req.method, "GET", "... GET");
    ok(has_header(&req, "x-goog-api-key: AIza-secret-key"),
       "... with the key");
    ok(req.body == NULL, "... no body");
    req_free(&req);

    is_int(parse(&t, PE_OP_POLL, 200, "{\"name\":\"" NAME "\"}"),
           PE_REMOTE_RUNNING, "not done (no done): running");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"name\":\"" NAME "\","
                 "\"done\":false,\"metadata\":{}}"),
           PE_REMOTE_RUNNING, "done false: running");
    is_int(parse(&t, PE_OP_POLL, 200,
                 VIDEO(BASE "/v1beta/files/abc:download?alt=media")),
           PE_REMOTE_SUCCEEDED, "done with a video: succeeded");
    is_str(t.output, BASE "/v1beta/files/abc:download?alt=media",
           "... its URI the output");

    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, VIDEO("https://cdn.example/x.mp4")),
           PE_REMOTE_SUCCEEDED,
           "a video on another origin: kept (as the other adapters do; "
           "the key never goes there)");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, VIDEO("file:///etc/passwd")),
           PE_REMOTE_FAILED, "a video that is no http(s) URL: failed");
    is_str(t.output, "", "... no output");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, VIDEO("https://x/a b")),
           PE_REMOTE_FAILED, "a URI with a blank: failed");

    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"error\":{\"code\":3,"
                 "\"message\":\"bad\\u0007prompt\"}")),
           PE_REMOTE_FAILED, "done with an error: failed");
    is_str(t.reason, "provider: 3: bad prompt",
           "... its code and message, control characters blanked");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"error\":{}")),
           PE_REMOTE_FAILED, "an empty error: failed");
    is_str(t.reason, "provider: the operation failed", "... saying so");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"raiMediaFilteredCount\":1,"
                 "\"raiMediaFilteredReasons\":[\"filtered\"]}}")),
           PE_REMOTE_FAILED, "done, filtered: failed");
    is_str(t.reason, "content_policy: provider: filtered",
           "... as content policy");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"raiMediaFilteredCount\":2"
                 "}}")),
           PE_REMOTE_FAILED, "done, a filtered count without reasons: "
           "failed");
    is_str(t.reason, "content_policy: provider: the video was filtered",
           "... as content policy too");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"raiMediaFilteredCount\":0"
                 "}}")),
           PE_REMOTE_FAILED, "a count of 0 and no video: failed");
    is_str(t.reason, "provider: no video in the operation's result",
           "... as no video, not content policy");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE("")), PE_REMOTE_FAILED,
           "done without a response: failed");
    is_str(t.reason, "provider: no video in the operation's result",
           "... no video");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"generatedSamples\":[]}}")),
           PE_REMOTE_FAILED, "no samples: failed");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"generatedSamples\":[{"
                 "\"video\":{\"uri\":7}}]}}")),
           PE_REMOTE_FAILED, "a URI that is no string: failed");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, DONE(",\"response\":{"
                 "\"generateVideoResponse\":{\"generatedSamples\":[{"
                 "\"video\":{\"uri\":\"https://x/\\u0000.mp4\"}}]}}")),
           PE_REMOTE_FAILED, "a URI holding a NUL: failed");

    /* HTTP errors */
    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"error\":{\"code\":400,"
                 "\"message\":\"API key not valid.\",\"status\":"
                 "\"INVALID_ARGUMENT\"}}"),
           PE_REMOTE_FAILED, "400: failed");
    is_str(t.reason, "provider 400: API key not valid.",
           "... in Google's words");
    is_int(parse(&t, PE_OP_SUBMIT, 403, "not json"), PE_REMOTE_FAILED,
           "403 without JSON: failed");
    is_str(t.reason, "provider 403: refused", "... refused");
    is_int(parse(&t, PE_OP_SUBMIT, 404, "{\"error\":\"x\"}"),
           PE_REMOTE_FAILED, "404 with an odd error: failed");
    is_str(t.reason, "provider 404: refused", "... refused");
    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 404, "{\"error\":{\"code\":404,"
                 "\"message\":\"Operation not found\"}}"),
           PE_REMOTE_FAILED, "poll 404: failed");

    /* hostile and malformed */
    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "not json"), PE_REMOTE_INVALID,
           "bad JSON: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "[]"), PE_REMOTE_INVALID,
           "an array: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"done\":false}"),
           PE_REMOTE_INVALID, "no name: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"name\":7}"), PE_REMOTE_INVALID,
           "a name that is no string: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"name\":\"\"}"),
           PE_REMOTE_INVALID, "an empty name: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"name\":\"" NAME "\","
                 "\"done\":\"yes\"}"), PE_REMOTE_INVALID,
           "done that is no boolean: not understood");

    {
        static const char  *bad[] = {
            "models/../../v1/x", "../operations/x", "models/x/..",
            "/models/x", "models//x", "models/x/", "models/x?key=1",
            "models/x#y", "models/x\\ny", "models/x%2F..", "models/./x",
            "https://evil.example/x", "models/x y", "models/\\u00e9",
            NULL
        };
        int  i, wrong = 0;

        for (i = 0; bad[i]; i++) {
            task_init(&t, "{}");
            snprintf(body, sizeof(body), "{\"name\":\"%s\"}", bad[i]);

            if (parse(&t, PE_OP_SUBMIT, 200, body) != PE_REMOTE_INVALID
                || t.status_url[0] != '\0' || t.remote_id[0] != '\0')
            {
                printf("# accepted: %s\n", bad[i]);
                wrong++;
            }
        }

        is_int(wrong, 0, "a name that could leave the path: none kept");
    }

    memset(name, 'a', sizeof(name));
    memcpy(name, "models/m/operations/", 20);
    name[PE_REMOTE_ID_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200, body), PE_REMOTE_INVALID,
           "an oversized name: not understood");
    is_str(t.status_url, "", "... nothing kept");
    name[PE_REMOTE_ID_MAX - 1] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    is_int(parse(&t, PE_OP_SUBMIT, 200, body), PE_REMOTE_QUEUED,
           "... one byte shorter: taken");

    submitted(&t);
    is_int(parse(&t, PE_OP_POLL, 200, "{\"name\":\"models/veo/operations/"
                 "other\",\"done\":true,\"response\":{\"generateVideoResponse"
                 "\":{\"generatedSamples\":[{\"video\":{\"uri\":"
                 "\"https://x/y\"}}]}}}"),
           PE_REMOTE_INVALID, "an answer about another operation: no");
    is_str(t.output, "", "... no output");
    is_str(t.status_url, BASE "/v1beta/" NAME, "... the operation unchanged");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"done\":true}"), PE_REMOTE_INVALID,
           "a poll answer without a name: not understood");
}


static void
test_truncated(void)
{
    int         bad;
    char       *cut;
    size_t      i, n;
    pe_task_t   t;
    static const char  good[] = VIDEO("https://x.example/v.mp4");

    n = strlen(good);
    cut = malloc(n + 1);
    bad = 0;

    for (i = 0; i < n; i++) {
        memcpy(cut, good, i);
        cut[i] = '\0';
        submitted(&t);

        if (parse(&t, PE_OP_POLL, 200, cut) != PE_REMOTE_INVALID
            || t.output[0] != '\0')
        {
            bad++;
        }
    }

    is_int(bad, 0, "every truncation of a good answer: not understood");

    for (i = 0, bad = 0; i < n; i++) {
        memcpy(cut, good, i);
        cut[i] = '\0';
        task_init(&t, "{}");

        if (parse(&t, PE_OP_SUBMIT, 200, cut) != PE_REMOTE_INVALID) {
            bad++;
        }
    }

    is_int(bad, 0, "... nor as a submission's answer");
    free(cut);
}


int
main(void)
{
    test_submit();
    test_check();
    test_answers();
    test_truncated();
    json_decref(last_params);

    return done_testing();
}
