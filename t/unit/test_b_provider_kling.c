/*
 * Unit tests of the Kling adapter (backend/provider_kling.c): the JWT of
 * each call (HS256 with the secret key, iss, exp, nbf), the task a
 * submission creates (raw base64, our id as external_task_id, the
 * callback, nothing a parameter could smuggle), the lookup by our id, and
 * answers: Kling's codes mapped (1303, 1302, 5000 later; 1301 content
 * policy; others failed), well formed, truncated at every byte, hostile.
 */

#include "tap.h"

#include <stdlib.h>
#include <time.h>

#include "pe_jws.h"
#include "provider.h"


static pe_conf_provider_t  conf = {
    .name = "kling", .kind = PE_PROVIDER_KLING,
    .base = "https://api-singapore.klingai.com", .timeout = 30,
    .submit_parallel = 1
};

static pe_provider_t  kling = { .conf = &conf, .ops = &pe_provider_kling,
                                .secret = "AK-access", .secret2 = "SK-secret" };

static json_t  *last_params;


static void
task_init(pe_task_t *t, const char *params)
{
    json_decref(last_params);
    memset(t, 0, sizeof(*t));
    t->job_id = "0123456789abcdef0123456789abcdef";
    t->model = "kling-v2-1";
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
    return pe_provider_kling.parse(&kling, t, op, code, body, strlen(body));
}


static void
req_free(pe_preq_t *req)
{
    curl_slist_free_all(req->headers);
    free(req->body);
    memset(req, 0, sizeof(*req));
}


/* the claims of the JWT in "Authorization: Bearer ...", if it verifies */
static json_t *
jwt_claims(const char *header, const char *secret)
{
    long            n;
    char            sig[PE_JWS_SIG_LEN + 1];
    const char     *tok, *dot1, *dot2;
    unsigned char   buf[512];

    if (strncmp(header, "Authorization: Bearer ", 22) != 0) {
        return NULL;
    }

    tok = header + 22;
    dot1 = strchr(tok, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;

    if (dot2 == NULL
        || pe_hs256((const unsigned char *) secret, strlen(secret),
                    (const unsigned char *) tok, (size_t) (dot2 - tok), sig)
           != 0
        || strlen(dot2 + 1) != PE_JWS_SIG_LEN
        || memcmp(sig, dot2 + 1, PE_JWS_SIG_LEN) != 0)
    {
        return NULL;
    }

    n = pe_base64url_decode(tok, (size_t) (dot1 - tok), buf, sizeof(buf));
    if (n < 0 || strncmp((char *) buf, "{\"alg\":\"HS256\"", 14) != 0) {
        return NULL;
    }

    n = pe_base64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), buf,
                            sizeof(buf));

    return n < 0 ? NULL : json_loadb((char *) buf, (size_t) n, 0, NULL);
}


#define TASK(status, extra)                                                 \
    "{\"code\":0,\"message\":\"SUCCEED\",\"request_id\":\"r1\",\"data\":"   \
    "{\"task_id\":\"CjhkL2Vx9\",\"task_status\":\"" status "\"" extra "}}"


/* image and image_tail; a last frame alone or a sound refused */
static void
test_fields(void)
{
    char        err[256];
    json_t     *j;
    pe_task_t   t;
    pe_preq_t   req;

    memset(&req, 0, sizeof(req));
    task_init(&t, "{\"image_tail\":\"x\"}");
    t.inputs[1].role = PE_ROLE_LAST_FRAME;
    t.inputs[1].url = "https://b.example/v1/media/tail";
    t.ninputs = 2;
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                                     sizeof(err)), 0, "image and last frame");
    is_str(req.url, "https://api-singapore.klingai.com/v1/videos/image2video",
           "... image2video");
    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(j, "image")), "iVBORw0KGgo=",
           "... image: raw base64");
    is_str(json_string_value(json_object_get(j, "image_tail")),
           "https://b.example/v1/media/tail",
           "... last_frame: image_tail, not a parameter's");
    json_decref(j);
    req_free(&req);

    t.inputs[0] = t.inputs[1];
    t.ninputs = 1;
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                                     sizeof(err)), -1,
           "a last frame without an image: refused");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_AUDIO;
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                                     sizeof(err)), -1, "a sound: refused");
    req_free(&req);
}


int
main(void)
{
    int          bad;
    char         err[128], *cut;
    size_t       i, n;
    time_t       now;
    json_t      *j, *c;
    pe_task_t    t;
    pe_preq_t    req;

    /* --- the submission and its token ---------------------------------- */

    task_init(&t, "{\"duration\":\"5\",\"prompt\":\"smuggled\","
                  "\"image\":\"https://evil.example/x.png\","
                  "\"external_task_id\":\"other\",\"model_name\":\"x\","
                  "\"callback_url\":\"https://evil.example/cb\"}");
    t.webhook_url = "https://b.example/v1/providers/kling/webhook?job=0123";
    memset(&req, 0, sizeof(req));
    now = time(NULL);
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                                     sizeof(err)), 0, "submit: prepared");
    is_str(req.url, "https://api-singapore.klingai.com/v1/videos/image2video",
           "... image2video");
    is_str(req.method, "POST", "... POST");

    c = req.headers ? jwt_claims(req.headers->data, "SK-secret") : NULL;
    ok(c != NULL, "... a JWT, HS256, signed with the secret key");
    is_str(json_string_value(json_object_get(c, "iss")), "AK-access",
           "... iss: the access key");
    ok(labs((long) json_integer_value(json_object_get(c, "exp"))
            - (long) (now + 1800)) <= 2, "... exp: in 30 minutes");
    ok(labs((long) json_integer_value(json_object_get(c, "nbf"))
            - (long) (now - 5)) <= 2, "... nbf: 5 s ago");
    json_decref(c);
    ok(req.headers && jwt_claims(req.headers->data, "SK-other") == NULL,
       "... which another secret does not verify");
    ok(req.headers && strstr(req.headers->data, "SK-secret") == NULL,
       "... the secret key not in it");

    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(j, "image")), "iVBORw0KGgo=",
           "... the image as raw base64, no data: prefix");
    is_str(json_string_value(json_object_get(j, "prompt")), "a fox",
           "... the prompt ours");
    is_str(json_string_value(json_object_get(j, "model_name")), "kling-v2-1",
           "... the model ours");
    is_str(json_string_value(json_object_get(j, "external_task_id")),
           "0123456789abcdef0123456789abcdef", "... external_task_id: ours");
    is_str(json_string_value(json_object_get(j, "callback_url")),
           t.webhook_url, "... the callback ours");
    is_str(json_string_value(json_object_get(j, "duration")), "5",
           "... the parameters kept");
    json_decref(j);
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].url = "https://b.example/v1/media/tok";
    pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                              sizeof(err));
    j = json_loads(req.body, 0, NULL);
    is_str(json_string_value(json_object_get(j, "image")),
           "https://b.example/v1/media/tok", "a large image: by its link");
    ok(json_object_get(j, "callback_url") == NULL,
       "... no callback unasked");
    json_decref(j);
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].role = PE_ROLE_VIDEO;
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                                     sizeof(err)), -1, "a video: refused");
    req_free(&req);

    task_init(&t, "{}");
    t.ninputs = 0;
    pe_provider_kling.prepare(&kling, &t, PE_OP_SUBMIT, &req, err,
                              sizeof(err));
    is_str(req.url, "https://api-singapore.klingai.com/v1/videos/text2video",
           "no media: text2video");
    req_free(&req);

    task_init(&t, "{}");
    t.inputs[0].url = NULL;
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_FIND, &req, err,
                                     sizeof(err)), 0, "find: prepared");
    is_str(req.url, "https://api-singapore.klingai.com/v1/videos/image2video/"
           "0123456789abcdef0123456789abcdef", "... by external_task_id");
    is_str(req.method, "GET", "... GET");
    req_free(&req);
    is_int(pe_provider_kling.prepare(&kling, &t, PE_OP_CANCEL, &req, err,
                                     sizeof(err)), -1, "cancel: none");
    req_free(&req);

    /* --- answers -------------------------------------------------------- */

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200, TASK("submitted", "")),
           PE_REMOTE_QUEUED, "submitted: queued");
    is_str(t.remote_id, "CjhkL2Vx9", "... the task id");
    is_str(t.status_url, "https://api-singapore.klingai.com/v1/videos/"
           "image2video/CjhkL2Vx9", "... polled by it");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("processing", "")),
           PE_REMOTE_RUNNING, "processing: running");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeed",
                 ",\"task_result\":{\"videos\":[{\"id\":\"v\",\"url\":"
                 "\"https://cdn.klingai.com/x.mp4\"}]}")),
           PE_REMOTE_SUCCEEDED, "succeed: succeeded");
    is_str(t.output, "https://cdn.klingai.com/x.mp4", "... the video");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeed",
                 ",\"task_result\":{\"videos\":[{\"url\":"
                 "\"file:///etc/passwd\"}]}")),
           PE_REMOTE_FAILED, "a video that is no http(s) URL: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("succeed", "")),
           PE_REMOTE_FAILED, "succeed without a result: failed");
    is_int(parse(&t, PE_OP_POLL, 200, TASK("failed",
                 ",\"task_status_msg\":\"bad\\u0007input\"")),
           PE_REMOTE_FAILED, "failed");
    is_str(t.reason, "provider: bad input",
           "... its message, control characters blanked");
    is_int(parse(&t, PE_OP_POLL, 200,
                 "{\"code\":0,\"data\":{\"task_id\":\"OtherTask\","
                 "\"task_status\":\"succeed\"}}"),
           PE_REMOTE_INVALID, "an answer about another task: not believed");
    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 200,
                 "{\"code\":0,\"data\":{\"task_id\":\"../../x\","
                 "\"task_status\":\"submitted\"}}"),
           PE_REMOTE_INVALID, "a task id that could leave the path: no");
    is_str(t.status_url, "", "... nothing kept");

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_SUBMIT, 429, "{\"code\":1303,\"message\":"
                 "\"parallel task over resource pack limit\"}"),
           PE_REMOTE_RETRY, "1303: later");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"code\":1303,\"message\":\"x\"}"),
           PE_REMOTE_RETRY, "1303 in a 400: later too");
    is_int(parse(&t, PE_OP_SUBMIT, 429, "{\"code\":1302,\"message\":\"x\"}"),
           PE_REMOTE_RETRY, "1302 (too fast): later");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"code\":5000,\"message\":\"x\"}"),
           PE_REMOTE_RETRY, "5000 in a 200: later");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"code\":1301,\"message\":"
                 "\"Trial of content security policy failed\"}"),
           PE_REMOTE_FAILED, "1301: failed");
    is_str(t.reason, "content_policy: provider 400: Trial of content "
           "security policy failed", "... as content policy");
    is_int(parse(&t, PE_OP_SUBMIT, 400, "{\"code\":1201,\"message\":"
                 "\"external_task_id already exists\"}"),
           PE_REMOTE_FAILED, "1201: failed");
    is_str(t.reason, "provider 400: external_task_id already exists",
           "... in Kling's words");
    is_int(parse(&t, PE_OP_SUBMIT, 401, "not json"), PE_REMOTE_FAILED,
           "401 without JSON: failed");
    is_int(parse(&t, PE_OP_SUBMIT, 200, "{\"data\":{}}"), PE_REMOTE_INVALID,
           "200 without a code: not understood");

    task_init(&t, "{}");
    is_int(parse(&t, PE_OP_FIND, 404, "{\"code\":1203,\"message\":\"x\"}"),
           PE_REMOTE_NOT_FOUND, "find, 404: not there");
    is_int(parse(&t, PE_OP_FIND, 400, "{\"code\":1203,\"message\":\"x\"}"),
           PE_REMOTE_NOT_FOUND, "find, 1203: not there");
    is_int(parse(&t, PE_OP_FIND, 200, TASK("processing", "")),
           PE_REMOTE_RUNNING, "find: found, running");
    is_str(t.remote_id, "CjhkL2Vx9", "... its task id taken");

    n = strlen(TASK("submitted", ""));
    cut = malloc(n + 1);
    bad = 0;

    for (i = 0; i < n; i++) {
        memcpy(cut, TASK("submitted", ""), i);
        cut[i] = '\0';
        task_init(&t, "{}");

        if (parse(&t, PE_OP_SUBMIT, 200, cut) != PE_REMOTE_INVALID) {
            bad++;
        }
    }

    free(cut);
    is_int(bad, 0, "every truncation of a good answer: not understood");

    test_fields();
    json_decref(last_params);

    return done_testing();
}
