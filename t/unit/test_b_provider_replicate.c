/*
 * Unit tests of the Replicate adapter (backend/provider_replicate.c): the
 * prediction a submission creates (by model or by version, the webhook
 * and its filter, nothing a parameter could smuggle), model names refused,
 * and answers well formed, truncated at every byte and hostile (URLs on
 * another origin, ids that are not Replicate's, outputs that are no URL).
 */

#include "tap.h"

#include <stdlib.h>

#include "provider.h"


static pe_conf_provider_t  conf = {
    .name = "replicate", .kind = PE_PROVIDER_REPLICATE,
    .base = "https://api.replicate.com", .timeout = 30, .submit_parallel = 1
};

static pe_provider_t  rep = { .conf = &conf, .ops = &pe_provider_replicate,
                              .secret = "r8_tok" };

static json_t  *last_params;


static void
task_init(pe_task_t *t, const char *model, const char *params)
{
    json_decref(last_params);
    memset(t, 0, sizeof(*t));
    t->model = model;
    t->prompt = "a heron";
    t->params = json_loads(params, 0, NULL);
    last_params = t->params;
    t->inputs[0].role = PE_ROLE_IMAGE;
    t->inputs[0].url = "data:image/png;base64,AAAA";
    t->ninputs = 1;
}


static pe_remote_e
parse(pe_task_t *t, pe_op_e op, long code, const char *body)
{
    return pe_provider_replicate.parse(&rep, t, op, code, body,
                                       strlen(body));
}


static void
req_free(pe_preq_t *req)
{
    curl_slist_free_all(req->headers);
    free(req->body);
    memset(req, 0, sizeof(*req));
}


#define GOOD "{\"id\":\"gm3qorzdhgbfurvjtvhg6dckhu\",\"status\":\"starting\"," \
    "\"urls\":{\"get\":\"https://api.replicate.com/v1/predictions/gm3q\"," \
    "\"cancel\":\"https://api.replicate.com/v1/predictions/gm3q/cancel\"}}"


/* each role to its field: Replicate's names, or the model's fields= */
static void
test_fields(void)
{
    char        err[256];
    json_t     *j, *in;
    pe_task_t   t;
    pe_preq_t   req;

    task_init(&t, "owner/model", "{\"last_image\":\"x\",\"seed\":1}");
    t.inputs[1].role = PE_ROLE_LAST_FRAME;
    t.inputs[1].url = "data:image/png;base64,BBBB";
    t.inputs[2].role = PE_ROLE_VIDEO;
    t.inputs[2].url = "https://b.example/v1/media/v";
    t.inputs[3].role = PE_ROLE_AUDIO;
    t.inputs[3].url = "https://b.example/v1/media/a";
    t.ninputs = 4;
    memset(&req, 0, sizeof(req));
    pe_provider_replicate.prepare(&rep, &t, PE_OP_SUBMIT, &req, err,
                                  sizeof(err));
    j = json_loads(req.body, 0, NULL);
    in = json_object_get(j, "input");
    is_int(json_object_size(in), 6, "four inputs: six fields");
    is_str(json_string_value(json_object_get(in, "image")),
           "data:image/png;base64,AAAA", "... image: image");
    is_str(json_string_value(json_object_get(in, "last_image")),
           "data:image/png;base64,BBBB", "... last_frame: last_image");
    is_str(json_string_value(json_object_get(in, "video")),
           "https://b.example/v1/media/v", "... video: video");
    is_str(json_string_value(json_object_get(in, "audio")),
           "https://b.example/v1/media/a", "... audio: audio");
    json_decref(j);
    req_free(&req);

    t.inputs[0].field = "start_image";
    pe_provider_replicate.prepare(&rep, &t, PE_OP_SUBMIT, &req, err,
                                  sizeof(err));
    j = json_loads(req.body, 0, NULL);
    in = json_object_get(j, "input");
    is_str(json_string_value(json_object_get(in, "start_image")),
           "data:image/png;base64,AAAA", "fields=image:start_image");
    ok(json_object_get(in, "image") == NULL, "... image no more");
    json_decref(j);
    req_free(&req);
}


int
main(void)
{
    int          bad;
    char         err[128], *cut;
    size_t       i, n;
    json_t      *j;
    pe_task_t    t;
    pe_preq_t    req;

    /* --- the prediction ------------------------------------------------ */

    task_init(&t, "bytedance/seedance-1-pro",
              "{\"duration\":5,\"prompt\":\"smuggled\","
              "\"image\":\"https://evil.example/x.png\"}");
    t.webhook_url = "https://b.example/v1/providers/replicate/webhook?job=x";
    memset(&req, 0, sizeof(req));
    is_int(pe_provider_replicate.prepare(&rep, &t, PE_OP_SUBMIT, &req, err,
                                         sizeof(err)), 0, "submit: prepared");
    is_str(req.url, "https://api.replicate.com/v1/models/bytedance/"
           "seedance-1-pro/predictions", "... at the model's endpoint");
    is_str(req.method, "POST", "... POST");
    is_str(req.headers ? req.headers->data : NULL,
           "Authorization: Bearer r8_tok", "... with the token");
    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(json_object_get(j, "input"),
                                             "prompt")),
           "a heron", "... the prompt ours, not the parameter's");
    is_str(json_string_value(json_object_get(json_object_get(j, "input"),
                                             "image")),
           "data:image/png;base64,AAAA", "... the image ours");
    is_int(json_integer_value(json_object_get(json_object_get(j, "input"),
                                              "duration")),
           5, "... the parameters kept");
    is_str(json_string_value(json_object_get(j, "webhook")), t.webhook_url,
           "... the webhook");
    is_str(json_string_value(json_array_get(
               json_object_get(j, "webhook_events_filter"), 0)),
           "completed", "... completed events only");
    ok(json_object_get(j, "version") == NULL, "... no version");
    json_decref(j);
    req_free(&req);

    task_init(&t, "owner/name:5fe0a3b1", "{}");
    is_int(pe_provider_replicate.prepare(&rep, &t, PE_OP_SUBMIT, &req, err,
                                         sizeof(err)), 0,
           "a model with a version: prepared");
    is_str(req.url, "https://api.replicate.com/v1/predictions",
           "... at /v1/predictions");
    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(j, "version")), "5fe0a3b1",
           "... with the version");
    ok(json_object_get(j, "webhook") == NULL, "... no webhook unasked");
    json_decref(j);
    req_free(&req);

    {
        static const char  *bad_models[] = {
            "seedance", "/name", "owner/", "owner/name/more",
            "owner/name:", "own er/name", "owner/../x", "owner/:v",
            "owner/name?x=1", "owner/na#me", NULL
        };

        bad = 0;

        for (i = 0; bad_models[i]; i++) {
            task_init(&t, bad_models[i], "{}");

            if (pe_provider_replicate.prepare(&rep, &t, PE_OP_SUBMIT, &req,
                                              err, sizeof(err))
                != -1)
            {
                printf("# accepted: %s\n", bad_models[i]);
                bad++;
            }

            req_free(&req);
        }

        is_int(bad, 0, "every malformed model name refused");
    }

    /* --- answers to the submission ------------------------------------- */

    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 201, GOOD), PE_REMOTE_QUEUED,
           "201 starting: queued");
    is_str(t.remote_id, "gm3qorzdhgbfurvjtvhg6dckhu", "... its id");
    is_str(t.status_url, "https://api.replicate.com/v1/predictions/gm3q",
           "... urls.get to poll");
    is_str(t.cancel_url,
           "https://api.replicate.com/v1/predictions/gm3q/cancel",
           "... urls.cancel to cancel");

    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 201,
                 "{\"id\":\"abc\",\"status\":\"starting\",\"urls\":{\"get\":"
                 "\"https://evil.example/v1/predictions/abc\"}}"),
           PE_REMOTE_INVALID, "urls.get on another origin: not understood");
    is_str(t.status_url, "", "... and not kept");
    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 201,
                 "{\"id\":\"abc\",\"status\":\"starting\",\"urls\":{\"get\":"
                 "\"https://api.replicate.com.evil.example/x\"}}"),
           PE_REMOTE_INVALID, "a host that only starts like the base: no");
    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 201,
                 "{\"id\":\"ABC/../x\",\"status\":\"starting\",\"urls\":"
                 "{\"get\":\"https://api.replicate.com/v1/predictions/a\"}}"),
           PE_REMOTE_INVALID, "an id that is not Replicate's: no");
    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 201,
                 "{\"id\":\"abc\",\"status\":\"starting\",\"urls\":{\"get\":"
                 "\"https://api.replicate.com/v1/x\",\"cancel\":"
                 "\"https://evil.example/c\"}}"),
           PE_REMOTE_QUEUED, "a cancel URL elsewhere: taken, without it");
    is_str(t.cancel_url, "", "... no cancel URL");

    task_init(&t, "bytedance/seedance-1-pro", "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 422, "{\"title\":\"Input validation "
                 "failed\",\"detail\":\"- input.image: bad\",\"status\":422}"),
           PE_REMOTE_FAILED, "422: failed");
    is_str(t.reason, "provider 422: - input.image: bad",
           "... with the detail");

    n = strlen(GOOD);
    cut = malloc(n + 1);
    bad = 0;

    for (i = 0; i < n; i++) {
        memcpy(cut, GOOD, i);
        cut[i] = '\0';
        task_init(&t, "bytedance/seedance-1-pro", "{}");

        if (parse(&t, PE_OP_SUBMIT, 201, cut) != PE_REMOTE_INVALID) {
            bad++;
        }
    }

    free(cut);
    is_int(bad, 0, "every truncation of a good answer: not understood");

    /* --- polls ---------------------------------------------------------- */

    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"starting\"}"),
           PE_REMOTE_QUEUED, "starting: queued");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"processing\"}"),
           PE_REMOTE_RUNNING, "processing: running");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"succeeded\",\"output\":"
                 "[\"https://replicate.delivery/x/out.mp4\"]}"),
           PE_REMOTE_SUCCEEDED, "succeeded with a list: succeeded");
    is_str(t.output, "https://replicate.delivery/x/out.mp4",
           "... its first URL");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"succeeded\",\"output\":"
                 "\"https://replicate.delivery/y.mp4\"}"),
           PE_REMOTE_SUCCEEDED, "succeeded with a string");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"succeeded\",\"output\":"
                 "\"javascript:alert(1)\"}"),
           PE_REMOTE_FAILED, "an output that is no http(s) URL: failed");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"succeeded\",\"output\":"
                 "[1,{\"a\":2}]}"),
           PE_REMOTE_FAILED, "an output without a URL: failed");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"failed\",\"error\":"
                 "\"CUDA out of\\nmemory\"}"),
           PE_REMOTE_FAILED, "failed");
    is_str(t.reason, "provider 200: CUDA out of memory",
           "... its error, control characters blanked");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"canceled\"}"),
           PE_REMOTE_CANCELED, "canceled");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"aborted\"}"),
           PE_REMOTE_FAILED, "aborted: failed");
    is_int(parse(&t, PE_OP_POLL, 200, "{\"status\":\"weird\"}"),
           PE_REMOTE_INVALID, "an unknown status: not understood");
    is_int(parse(&t, PE_OP_POLL, 200, "[\"status\"]"), PE_REMOTE_INVALID,
           "not an object: not understood");
    is_int(parse(&t, PE_OP_POLL, 200, ""), PE_REMOTE_INVALID,
           "empty: not understood");

    /* --- cancel ---------------------------------------------------------- */

    task_init(&t, "bytedance/seedance-1-pro", "{}");
    snprintf(t.cancel_url, sizeof(t.cancel_url),
             "https://api.replicate.com/v1/predictions/gm3q/cancel");
    is_int(pe_provider_replicate.prepare(&rep, &t, PE_OP_CANCEL, &req, err,
                                         sizeof(err)), 0, "cancel: prepared");
    is_str(req.method, "POST", "... POST to urls.cancel");
    req_free(&req);
    is_int(parse(&t, PE_OP_CANCEL, 200, "{}"), PE_REMOTE_CANCELED,
           "200: canceled");
    is_int(parse(&t, PE_OP_CANCEL, 404, "{}"), PE_REMOTE_CANCELED,
           "404: nothing left to cancel");
    is_int(pe_provider_replicate.prepare(&rep, &t, PE_OP_FIND, &req, err,
                                         sizeof(err)), -1,
           "find: Replicate has no such lookup");
    req_free(&req);

    test_fields();
    json_decref(last_params);

    return done_testing();
}
