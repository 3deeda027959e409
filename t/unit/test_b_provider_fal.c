/*
 * Unit tests of the fal.ai adapter (backend/provider_fal.c): what a
 * submission carries (the parameters, the prompt and the media, and
 * nothing a parameter could smuggle in their place), and how answers are
 * read: well formed, malformed, truncated at every byte, and hostile
 * (URLs on another origin, a base that is only a prefix, oversized ids,
 * control characters in a reason).
 */

#include "tap.h"

#include <stdlib.h>

#include "provider.h"


static pe_conf_provider_t  conf = {
    .name = "fal", .kind = PE_PROVIDER_FAL,
    .base = "https://queue.fal.run", .timeout = 30, .submit_parallel = 1
};

static pe_provider_t  fal = { .conf = &conf, .ops = &pe_provider_fal,
                              .secret = "s3cret" };


static json_t  *last_params;


/* a fresh task; the previous one's parameters freed */
static void
task_init(pe_task_t *t, const char *params)
{
    json_decref(last_params);
    memset(t, 0, sizeof(*t));
    t->model = "fal-ai/kling-video/v2.1/standard/image-to-video";
    t->prompt = "a cat";
    t->params = json_loads(params, 0, NULL);
    last_params = t->params;
    t->inputs[0].role = PE_ROLE_IMAGE;
    t->inputs[0].url = "data:image/png;base64,AAAA";
    t->ninputs = 1;
}


static pe_remote_e
parse(pe_task_t *t, pe_op_e op, long code, const char *body)
{
    return pe_provider_fal.parse(&fal, t, op, code, body, strlen(body));
}


static int
has_header(struct curl_slist *l, const char *h)
{
    for (; l; l = l->next) {
        if (strcmp(l->data, h) == 0) {
            return 1;
        }
    }

    return 0;
}


/* each role to its field: fal's names, or the model's fields= */
static void
test_fields(void)
{
    char        err[256];
    json_t     *j;
    pe_task_t   t;
    pe_preq_t   req;

    task_init(&t, "{\"tail_image_url\":\"x\",\"audio_url\":\"y\","
              "\"end_image_url\":\"z\",\"seed\":1}");
    t.inputs[1].role = PE_ROLE_LAST_FRAME;
    t.inputs[1].url = "data:image/png;base64,BBBB";
    t.inputs[2].role = PE_ROLE_VIDEO;
    t.inputs[2].url = "https://b.example/v1/media/v";
    t.inputs[3].role = PE_ROLE_AUDIO;
    t.inputs[3].url = "https://b.example/v1/media/a";
    t.ninputs = 4;
    memset(&req, 0, sizeof(req));
    pe_provider_fal.prepare(&fal, &t, PE_OP_SUBMIT, &req, err, sizeof(err));
    j = json_loads(req.body, 0, NULL);
    is_int(json_object_size(j), 7,
           "four inputs, the prompt, two parameters not standing in");
    is_str(json_string_value(json_object_get(j, "image_url")),
           "data:image/png;base64,AAAA", "... image: image_url");
    is_str(json_string_value(json_object_get(j, "tail_image_url")),
           "data:image/png;base64,BBBB", "... last_frame: tail_image_url");
    is_str(json_string_value(json_object_get(j, "video_url")),
           "https://b.example/v1/media/v", "... video: video_url");
    is_str(json_string_value(json_object_get(j, "audio_url")),
           "https://b.example/v1/media/a", "... audio: audio_url");
    json_decref(j);
    curl_slist_free_all(req.headers);
    free(req.body);

    t.inputs[1].field = "end_image_url";
    memset(&req, 0, sizeof(req));
    pe_provider_fal.prepare(&fal, &t, PE_OP_SUBMIT, &req, err, sizeof(err));
    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(j, "end_image_url")),
           "data:image/png;base64,BBBB",
           "fields=last_frame:end_image_url: renamed, not a parameter's");
    ok(json_object_get(j, "tail_image_url") == NULL,
       "... and the default name neither ours nor a parameter's");
    json_decref(j);
    curl_slist_free_all(req.headers);
    free(req.body);
}


int
main(void)
{
    char         err[128], *body;
    size_t       i, n;
    json_t      *j;
    pe_task_t    t;
    pe_preq_t    req;
    pe_remote_e  rc;

    /* --- the submission ------------------------------------------------ */

    task_init(&t, "{\"duration\":\"5\",\"prompt\":\"smuggled\","
                  "\"image_url\":\"https://evil.example/x.png\"}");
    memset(&req, 0, sizeof(req));
    ok(pe_provider_fal.prepare(&fal, &t, PE_OP_SUBMIT, &req, err,
                               sizeof(err)) == 0, "submit: prepared");
    is_str(req.url, "https://queue.fal.run/fal-ai/kling-video/v2.1/"
                    "standard/image-to-video", "... POST {base}/{model}");
    is_str(req.method, "POST", "... a POST");
    ok(has_header(req.headers, "Authorization: Key s3cret"),
       "... Authorization: Key");
    ok(has_header(req.headers, "Content-Type: application/json"),
       "... JSON");
    j = json_loads(req.body, 0, NULL);
    is_int(json_object_size(j), 3, "... three fields in the input");
    is_str(json_string_value(json_object_get(j, "prompt")), "a cat",
           "... the prompt is the job's, not a parameter's");
    is_str(json_string_value(json_object_get(j, "image_url")),
           "data:image/png;base64,AAAA",
           "... the media is the job's, not a parameter's");
    is_str(json_string_value(json_object_get(j, "duration")), "5",
           "... the parameters as given");
    json_decref(j);
    curl_slist_free_all(req.headers);
    free(req.body);

    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_VIDEO;
    t.prompt = NULL;
    memset(&req, 0, sizeof(req));
    pe_provider_fal.prepare(&fal, &t, PE_OP_SUBMIT, &req, err, sizeof(err));
    j = json_loads(req.body, 0, NULL);
    ok(json_object_get(j, "video_url") && !json_object_get(j, "image_url")
       && !json_object_get(j, "prompt"),
       "a video without a prompt: video_url only");
    json_decref(j);
    curl_slist_free_all(req.headers);
    free(req.body);

    memset(&req, 0, sizeof(req));
    ok(pe_provider_fal.prepare(&fal, &t, PE_OP_POLL, &req, err, sizeof(err))
       != 0, "a poll without a status_url: refused");
    curl_slist_free_all(req.headers);

    /* --- the submission's answer ---------------------------------------- */

    task_init(&t, "{}");
    rc = parse(&t, PE_OP_SUBMIT, 200,
               "{\"request_id\":\"80e732af-660e-45cd-bd63-580e4f2a94cc\","
               "\"response_url\":\"https://queue.fal.run/fal-ai/kling-video/"
               "requests/80e7\",\"status_url\":\"https://queue.fal.run/"
               "fal-ai/kling-video/requests/80e7/status\",\"cancel_url\":"
               "\"https://queue.fal.run/fal-ai/kling-video/requests/80e7/"
               "cancel\",\"queue_position\":0}");
    is_int(rc, PE_REMOTE_QUEUED, "submit answered: queued");
    is_str(t.remote_id, "80e732af-660e-45cd-bd63-580e4f2a94cc",
           "... the request id");
    is_str(t.status_url, "https://queue.fal.run/fal-ai/kling-video/requests/"
                         "80e7/status", "... the status_url");

    task_init(&t, "{}");
    rc = parse(&t, PE_OP_SUBMIT, 200,
               "{\"request_id\":\"r\",\"response_url\":\"https://evil.example"
               "/r\",\"status_url\":\"https://evil.example/r/status\"}");
    is_int(rc, PE_REMOTE_INVALID,
           "URLs on another origin: not followed (the key would go there)");
    ok(t.status_url[0] == '\0', "... and not kept");

    task_init(&t, "{}");
    rc = parse(&t, PE_OP_SUBMIT, 200,
               "{\"request_id\":\"r\",\"response_url\":\"https://queue.fal."
               "run.evil.example/r\",\"status_url\":\"https://queue.fal.run."
               "evil.example/r/status\"}");
    is_int(rc, PE_REMOTE_INVALID, "a host that merely starts with the "
           "base's: not followed");

    task_init(&t, "{}");
    rc = parse(&t, PE_OP_SUBMIT, 200,
               "{\"request_id\":\"r\",\"response_url\":\"https://queue.fal."
               "run/a b\",\"status_url\":\"https://queue.fal.run/a\"}");
    is_int(rc, PE_REMOTE_INVALID, "a URL with a blank: refused");

    body = malloc(400);
    memset(body, 0, 400);
    n = (size_t) snprintf(body, 400, "{\"request_id\":\"");
    memset(body + n, 'a', 200);
    strcat(body, "\"}");
    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200, body), PE_REMOTE_INVALID,
           "a request id of 200 bytes: refused");
    free(body);

    is_int(parse(&t, PE_OP_SUBMIT, 200, "{}"), PE_REMOTE_INVALID,
           "no request id: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "[1,2]"), PE_REMOTE_INVALID,
           "an array: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"request_id\":7}"),
           PE_REMOTE_INVALID, "a number for the id: not understood");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "<html>502</html>"),
           PE_REMOTE_INVALID, "HTML: not understood");

    {
        static const char  good[] =
            "{\"request_id\":\"r1\",\"response_url\":\"https://queue.fal.run"
            "/a/b/requests/r1\",\"status_url\":\"https://queue.fal.run/a/b/"
            "requests/r1/status\"}";
        int  bad = 0;

        for (i = 0; i < sizeof(good) - 1; i++) {
            task_init(&t, "{}");
            if (pe_provider_fal.parse(&fal, &t, PE_OP_SUBMIT, 200, good, i)
                != PE_REMOTE_INVALID)
            {
                bad++;
            }
        }

        is_int(bad, 0, "every truncation of a good answer: not understood");
    }

    /* --- polls and results ---------------------------------------------- */

    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"IN_QUEUE\","
                 "\"queue_position\":3}"), PE_REMOTE_QUEUED, "IN_QUEUE");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"IN_PROGRESS\"}"),
           PE_REMOTE_RUNNING, "IN_PROGRESS");
    is_int(parse(&t, PE_OP_POLL, 202, "{\"status\":\"COMPLETED\"}"),
           PE_REMOTE_DONE, "COMPLETED: the result next");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"COMPLETED\","
                 "\"error\":\"runner crashed\"}"), PE_REMOTE_FAILED,
           "COMPLETED with an error: failed");
    is_str(t.reason, "provider 200: runner crashed", "... with its words");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"SOMETHING\"}"),
           PE_REMOTE_INVALID, "an unknown status: not understood");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":null}"),
           PE_REMOTE_INVALID, "a null status: not understood");

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_RESULT, 200, "{\"video\":{\"url\":"
                 "\"https://v3.fal.media/files/x/out.mp4\"},\"seed\":1}"),
           PE_REMOTE_SUCCEEDED, "a result with video.url: succeeded");
    is_str(t.output, "https://v3.fal.media/files/x/out.mp4", "... its URL");
    is_int(parse(&t, PE_OP_RESULT, 200, "{\"images\":[{\"url\":"
                 "\"https://v3.fal.media/i.png\"}]}"),
           PE_REMOTE_SUCCEEDED, "images[0].url: succeeded");
    is_int(parse(&t, PE_OP_RESULT, 200, "{\"video\":{\"url\":"
                 "\"javascript:alert(1)\"}}"), PE_REMOTE_FAILED,
           "a javascript: URL: never an output");
    is_int(parse(&t, PE_OP_RESULT, 200, "{\"seed\":1}"), PE_REMOTE_FAILED,
           "no output at all: failed");

    /* --- refusals -------------------------------------------------------- */

    is_int(parse(&t, PE_OP_SUBMIT, 422, "{\"detail\":[{\"loc\":[\"body\"],"
                 "\"msg\":\"field required\",\"type\":\"missing\"}]}"),
           PE_REMOTE_FAILED, "422: failed");
    is_str(t.reason, "provider 422: field required",
           "... with the validation message");
    is_int(parse(&t, PE_OP_SUBMIT, 401, "{\"detail\":\"bad\\nkey\\u0007\"}"),
           PE_REMOTE_FAILED, "401: failed");
    is_str(t.reason, "provider 401: bad key ",
           "... control characters made blanks");
    is_int(parse(&t, PE_OP_RESULT, 404, "not json"), PE_REMOTE_FAILED,
           "404 with no JSON: failed");
    is_str(t.reason, "provider 404: refused", "... said plainly");
    is_int(parse(&t, PE_OP_CANCEL, 400, "{\"status\":\"ALREADY_COMPLETED\"}"),
           PE_REMOTE_CANCELED, "cancel of a finished request: nothing to do");

    test_fields();
    json_decref(last_params);

    return done_testing();
}
