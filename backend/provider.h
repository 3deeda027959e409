/*
 * privacy-backend: the provider adapter interface.
 *
 * An adapter knows one kind of provider and nothing else: which of the
 * provider directive's attributes it takes and needs, its wire format,
 * and its callbacks.  It turns an operation on a task (submit, poll,
 * result, cancel) into an HTTP request, and the provider's answer into
 * what it means for the job; it verifies a callback and says which task
 * it is about.  The worker (worker.h) owns the sockets, the retries, the
 * timers and Redis; an adapter never blocks and never sees the subject, a
 * cookie or a token: what it may send is in pe_task_t and nothing else.
 *
 * A new kind is an adapter file, a value of pe_provider_kind_e and a line
 * of the table in providers.c; nothing else names a kind.
 */

#ifndef PE_BACKEND_PROVIDER_H
#define PE_BACKEND_PROVIDER_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>


#define PE_URL_MAX        2048
#define PE_REMOTE_ID_MAX  128
#define PE_REASON_MAX     256


typedef enum {
    PE_OP_SUBMIT = 0,
    PE_OP_POLL,
    PE_OP_RESULT,
    PE_OP_CANCEL,
    PE_OP_FIND,                 /* by our job id, after a crash */
    PE_OPS
} pe_op_e;


/* what an answer meant */
typedef enum {
    PE_REMOTE_QUEUED = 0,       /* accepted (submit) or still waiting */
    PE_REMOTE_RUNNING,
    PE_REMOTE_DONE,             /* finished: ask for the result next */
    PE_REMOTE_SUCCEEDED,        /* the output is in the task */
    PE_REMOTE_FAILED,           /* the reason is in the task */
    PE_REMOTE_CANCELED,
    PE_REMOTE_RETRY,            /* not taken now: the same call, later */
    PE_REMOTE_LATER,            /* cancel: not in the task's present state
                                   (running): the same call once it ended */
    PE_REMOTE_NOT_FOUND,        /* find: the provider has no such task */
    PE_REMOTE_INVALID           /* an answer that made no sense */
} pe_remote_e;


/*
 * The media roles a job's inputs play, as the API names its parts and a
 * model's inputs= lists them; each adapter maps a role to its provider's
 * field (a model's fields= may rename it).
 */
typedef enum {
    PE_ROLE_IMAGE = 0,
    PE_ROLE_LAST_FRAME,
    PE_ROLE_VIDEO,
    PE_ROLE_AUDIO,
    PE_ROLES
} pe_role_e;

/* "image" ... "audio"; and back: -1 for an unknown name (len bytes) */
const char *pe_role_name(pe_role_e role);
int pe_role_parse(const char *name, size_t len);


/* one input: its role and its media, a data: URI or a signed link */
typedef struct {
    pe_role_e             role;
    const char           *url;
    const char           *field;           /* the model's fields= name for
                                              the role, or NULL */
} pe_input_t;


/*
 * What a provider may learn about a job, and what it told us.  The
 * inputs are in the order the job gave them.
 */
typedef struct {
    const char           *job_id;          /* ours, random: Kling's
                                              external_task_id */
    const char           *model;
    const char           *prompt;          /* NULL: none */
    json_t               *params;          /* an object; never NULL */
    pe_input_t            inputs[PE_ROLES];  /* urls NULL until loaded */
    size_t                ninputs;         /* 0: a text-only job */
    const char           *webhook_url;     /* NULL: poll */
    long                  keep_output;     /* seconds the provider need
                                              keep what it makes for us:
                                              the output's retention */

    char                  remote_id[PE_REMOTE_ID_MAX];
    char                  status_url[PE_URL_MAX];
    char                  response_url[PE_URL_MAX];
    char                  cancel_url[PE_URL_MAX];
    char                  output[PE_URL_MAX];
    char                  reason[PE_REASON_MAX];
} pe_task_t;


/* one HTTP request to a provider, as an adapter built it */
typedef struct {
    char                  url[PE_URL_MAX];
    const char           *method;          /* "GET", "POST", "PUT" */
    struct curl_slist    *headers;
    char                 *body;            /* malloc'd, or NULL */
} pe_preq_t;


typedef enum {
    PE_PROVIDER_FAL = 0,
    PE_PROVIDER_REPLICATE,
    PE_PROVIDER_KLING,
    PE_PROVIDER_SEEDANCE,
    PE_PROVIDER_VEO,
    PE_PROVIDER_KINDS
} pe_provider_kind_e;


/*
 * provider NAME [type=KIND] base=URL ...: NAME is what models, callback
 * URLs, Redis and /metrics say; KIND (NAME when no type=) the adapter, so
 * two accounts or regions of one kind are two providers.
 */
typedef struct {
    char                 *name;
    pe_provider_kind_e    kind;
    char                 *base;            /* URL, no trailing slash */
    char                 *key_env;         /* fal, replicate */
    char                 *webhook_secret_env;
    char                 *access_key_env;  /* kling */
    char                 *secret_key_env;
    char                 *region;          /* e.g. "eu", "us"; or NULL */
    long                  timeout;         /* seconds per provider call */
    int                   submit_parallel; /* submissions in flight */
    long                  poll;            /* seconds, longest between
                                              polls */
    char                 *webhook_jwks;    /* fal: a JWKS file */
    int                   callbacks;       /* kling: callback_url sent */
} pe_conf_provider_t;


/* a request header of a callback by name, or NULL */
typedef const char *(*pe_header_get_pt)(void *data, const char *name);


typedef struct pe_provider_s  pe_provider_t;

typedef struct {
    const char  *kind;          /* its name in type= */

    /* the media roles it can send, 1 << pe_role_e each: -t refuses others */
    unsigned     roles;

    /*
     * Bytes of the largest image sent inline, as a data: URI, rather than
     * by link; 0: the backend's default (media.h)
     */
    size_t       inline_max;

    /*
     * The configuration's check of the attributes this kind needs and of
     * those only another kind takes: 0, or -1 with a reason.
     */
    int        (*check)(const pe_conf_provider_t *conf, char *err,
                        size_t errlen);

    /* are callbacks configured?  Then each job gives a webhook URL */
    int        (*hooks)(const pe_conf_provider_t *conf);

    /* reads the provider's secrets from the environment at start */
    int        (*init)(pe_provider_t *p, char *err, size_t errlen);

    /* 0, or -1 with a reason when the task cannot be sent at all */
    int        (*prepare)(pe_provider_t *p, pe_task_t *t, pe_op_e op,
                          pe_preq_t *req, char *err, size_t errlen);

    /* a 2xx answer, or a 4xx other than 429 (code says which) */
    pe_remote_e (*parse)(pe_provider_t *p, pe_task_t *t, pe_op_e op,
                         long code, const char *body, size_t len);

    /* can look a task up by our job id (PE_OP_FIND) */
    int          finds;

    /*
     * Its cancel (PE_OP_CANCEL) of a task that has ended deletes what the
     * provider keeps of it: the backend asks for that when the job is
     * deleted or erased, and when the output's retention ends.
     */
    int          deletes_ended;

    /*
     * Callbacks, when hooks() says they are configured.  hook_init reads
     * at start what verifies them (NULL: nothing).  hook_verify: 0 when
     * the callback is genuinely signed and fresh, with the Redis key that
     * names the message for the replay check in key ("" when it carries
     * no signature), or -1 with a reason.  hook_task: the provider's id of
     * the task the body is about, or NULL; and in *job our job id when the
     * body carries it.  hook_free: what init and hook_init took.
     */
    int        (*hook_init)(pe_provider_t *p, char *err, size_t errlen);
    int        (*hook_verify)(pe_provider_t *p, pe_header_get_pt header,
                              void *data, const char *body, size_t len,
                              char *key, size_t keylen, char *err,
                              size_t errlen);
    const char *(*hook_task)(json_t *body, const char **job);
    void       (*hook_free)(pe_provider_t *p);
} pe_provider_ops_t;


struct pe_provider_s {
    const pe_conf_provider_t  *conf;
    const pe_provider_ops_t   *ops;
    char                       secret[512];     /* never logged */
    char                       secret2[512];
    int                        hooks;           /* callbacks configured and
                                                   a public_url to get them */
    void                      *hook;            /* the adapter's, for
                                                   callbacks */
    int                        submitting;      /* in flight, worker's */
};


extern const pe_provider_ops_t  pe_provider_fal;
extern const pe_provider_ops_t  pe_provider_replicate;
extern const pe_provider_ops_t  pe_provider_kling;
extern const pe_provider_ops_t  pe_provider_seedance;
extern const pe_provider_ops_t  pe_provider_veo;

/* the value of an environment variable into buf, or -1 with a reason */
int pe_provider_env(const char *provider, const char *name, char *buf,
    size_t size, char *err, size_t errlen);

/* "Name: value" appended to a header list (value never logged) */
struct curl_slist *pe_provider_header(struct curl_slist *list,
    const char *name, const char *value);

/* a URL of an answer's object, only if it lies under the provider's base */
int pe_provider_url(pe_provider_t *p, json_t *j, const char *name, char *out,
    size_t size);

/*
 * "Authorization: SCHEME CREDENTIAL" (never logged), "Accept" and, with a
 * body, "Content-Type", all JSON: 0, or -1 out of memory
 */
int pe_provider_headers(pe_preq_t *req, const char *scheme,
    const char *credential);

/* an output a job may keep: an http(s) URL, no blanks or line breaks */
int pe_provider_output_url(const char *s);

/*
 * A provider's answer or callback as JSON, or NULL.  \u0000 is valid JSON
 * and a provider's logs may hold one; a string that does is made null, so
 * no id, URL or status is ever read cut short at its NUL.
 */
json_t *pe_provider_json(const char *body, size_t len);

/*
 * "provider NAME takes no ATTR=" for the first callback attribute set in
 * conf that is not one of this kind's (webhook_secret_env, webhook_jwks,
 * callbacks: PE_HOOK_SECRET, PE_HOOK_JWKS, PE_HOOK_CALLBACKS); 0 if none
 */
#define PE_HOOK_SECRET     0x1
#define PE_HOOK_JWKS       0x2
#define PE_HOOK_CALLBACKS  0x4

int pe_provider_takes_only(const pe_conf_provider_t *conf, unsigned takes,
    char *err, size_t errlen);

/*
 * A provider of one key (all but Kling): "needs key_env=" when it has
 * none, "takes no access_key_env= or secret_key_env=" (Kling's pair) when
 * it has those; 0 if right
 */
int pe_provider_needs_key(const pe_conf_provider_t *conf, char *err,
    size_t errlen);

/* init of a provider of one key: key_env='s value into p->secret */
int pe_provider_init_key(pe_provider_t *p, char *err, size_t errlen);

/* hooks of a provider whose callbacks are asked for by callbacks=on */
int pe_provider_hooks_on(const pe_conf_provider_t *conf);

/*
 * hook_verify of a provider whose callbacks carry no signature: each is
 * only a hint to poll, with no replay key, believed only about the job's
 * own task.
 */
int pe_provider_hook_unsigned(pe_provider_t *p, pe_header_get_pt header,
    void *data, const char *body, size_t len, char *key, size_t keylen,
    char *err, size_t errlen);

/* the task's input of a role, or NULL */
const pe_input_t *pe_task_input(const pe_task_t *t, pe_role_e role);

/* the provider's field of an input: the model's fields= name, or dflt */
const char *pe_input_field(const pe_input_t *in, const char *dflt);

/* the first string of a JSON error answer, for a job's reason */
void pe_provider_reason(pe_task_t *t, long code, const char *body,
    size_t len, const char *const *fields);

#endif /* PE_BACKEND_PROVIDER_H */
