
/*
 * privacy-edge: ngx_http_privacy_module, shared declarations.
 */

#ifndef _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_
#define _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "pe_consent.h"
#include "pe_gcra.h"
#include "pe_region.h"


#define NGX_HTTP_PRIVACY_OPT_IN    1
#define NGX_HTTP_PRIVACY_OPT_OUT   2
#define NGX_HTTP_PRIVACY_BLOCK     3

/* what a policy entry names, most specific first */
#define NGX_HTTP_PRIVACY_SUBDIVISION  0
#define NGX_HTTP_PRIVACY_COUNTRY      1
#define NGX_HTTP_PRIVACY_GROUP        2
#define NGX_HTTP_PRIVACY_DEFAULT      3
#define NGX_HTTP_PRIVACY_UNKNOWN      4

#define NGX_HTTP_PRIVACY_GROUPS_MAX   30

#define NGX_HTTP_PRIVACY_LIMITS_MAX   8

/* privacy_enforce */
#define NGX_HTTP_PRIVACY_ENFORCE_ON      1
#define NGX_HTTP_PRIVACY_ENFORCE_REPORT  2

/*
 * What a check that would have refused returns in report mode: passed up
 * like a status to the phase handler or request body filter, which lets
 * the request go on.  No nginx code or HTTP status has this value.
 */
#define NGX_HTTP_PRIVACY_REPORTED     -100


/* the Redis of sync=redis zones: ngx_http_privacy_redis.c */
typedef struct ngx_http_privacy_redis_s  ngx_http_privacy_redis_t;
typedef struct ngx_http_privacy_redis_call_s  ngx_http_privacy_redis_call_t;

/* reply: the call's part of Redis's answer, Redis's error when it refused
   the call, or NULL when no answer came */
typedef void (*ngx_http_privacy_redis_handler_pt)(void *data, void *reply);

typedef struct {
    ngx_str_t                  text;
    u_char                     sha1[40];    /* hex, for EVALSHA */
} ngx_http_privacy_redis_script_t;

/* what privacy_status counts of Redis */
#define NGX_HTTP_PRIVACY_REDIS_CALLS     0  /* sent */
#define NGX_HTTP_PRIVACY_REDIS_REPLIES   1  /* answered: round trips */
#define NGX_HTTP_PRIVACY_REDIS_ERRORS    2  /* refused or connection lost */
#define NGX_HTTP_PRIVACY_REDIS_TIMEOUTS  3
#define NGX_HTTP_PRIVACY_REDIS_SKIPPED   4  /* not asked: down, breaker */
#define NGX_HTTP_PRIVACY_REDIS_EVENTS    5

/* what it counts of sync_interval zones' exchanges */
#define NGX_HTTP_PRIVACY_SYNC_KEYS       0  /* keys answered */
#define NGX_HTTP_PRIVACY_SYNC_LOST       1  /* charges whose answer was lost */
#define NGX_HTTP_PRIVACY_SYNC_EVENTS     2


typedef struct {
    ngx_str_t                  pattern;     /* "image/png" or "image/" + "*" */
    off_t                      max_size;    /* 0: no cap of its own */
} ngx_http_privacy_upload_type_t;


typedef struct {
    ngx_str_t                  name;
    ngx_array_t               *codes;       /* ngx_str_t: "DE", "US-CA" */
} ngx_http_privacy_group_t;


typedef struct {
    uint32_t                   category;    /* a category bit */
    ngx_regex_t               *regex;
    ngx_str_t                  source;      /* the joined patterns */
} ngx_http_privacy_cookie_class_t;


typedef struct {
    ngx_str_t                  key;         /* "US-CA", "DE", "eea" */
    ngx_uint_t                 kind;        /* NGX_HTTP_PRIVACY_COUNTRY .. */
    ngx_uint_t                 mode;        /* NGX_HTTP_PRIVACY_OPT_IN .. */
    ngx_uint_t                 gpc;
} ngx_http_privacy_policy_t;


typedef struct {
    ngx_str_t                  name;
    pe_cmp_e                   format;
    ngx_str_t                  sid;         /* gpp: __gpp_sid, or empty */
} ngx_http_privacy_consent_cookie_t;


/*
 * Cookie names repeat from request to request: what each was classified
 * as is kept in a small table per worker (the main configuration is
 * copied into each worker at fork, so writes stay in the worker).
 */
#define NGX_HTTP_PRIVACY_CLASS_SLOTS  256
#define NGX_HTTP_PRIVACY_CLASS_NAME   48

typedef struct {
    ngx_uint_t                 hash;
    size_t                     len;         /* 0: empty */
    uint32_t                   category;
    u_char                     name[NGX_HTTP_PRIVACY_CLASS_NAME];
} ngx_http_privacy_class_entry_t;


/*
 * Likewise the parsed consent values: one user's page load sends the same
 * cookie dozens of times.  Compared whole, byte for byte, so that a value
 * never borrows another's answer.
 */
#define NGX_HTTP_PRIVACY_CONSENT_SLOTS  64
#define NGX_HTTP_PRIVACY_CONSENT_VALUE  512

typedef struct {
    ngx_uint_t                 hash;
    size_t                     len;         /* 0: empty */
    pe_cmp_e                   format;
    uint64_t                   sections;    /* gpp: applicable sections */
    pe_consent_t               consent;
    u_char                     value[NGX_HTTP_PRIVACY_CONSENT_VALUE];
} ngx_http_privacy_consent_entry_t;


typedef struct {
    ngx_array_t                categories;  /* ngx_str_t, index = bit */
    uint32_t                   explicit_categories;
    pe_categories_t            pe_categories;
    ngx_array_t                groups;      /* ngx_http_privacy_group_t */
    ngx_array_t               *cookie_classes;
    ngx_http_privacy_class_entry_t  *class_cache;
    ngx_http_privacy_consent_entry_t  *consent_cache;
    ngx_str_t                  key;         /* privacy_key, as read */
    struct pe_hmac_s          *hmac;        /* keyed with it */
    ngx_int_t                  request_id_index;
    ngx_shm_zone_t            *status_zone;
    ngx_flag_t                 region_used;
    ngx_http_privacy_redis_t  *redis;       /* privacy_redis, or NULL */
    ngx_flag_t                 redis_used;  /* a zone has sync=redis */
    ngx_array_t               *sync_zones;  /* with sync_interval */
    u_char                     sync_hash_key[16];  /* of privacy_key */
    ngx_flag_t                 error_log_anon;
    ngx_flag_t                 error_log_hide_used;  /* somewhere "on" */
} ngx_http_privacy_main_conf_t;


typedef struct {
    off_t                      upload_max_size;
    off_t                      core_body_size;   /* see upload_merge */
    ngx_array_t               *upload_types;
    ngx_flag_t                 upload_sniff;

    ngx_http_complex_value_t  *region_country;
    ngx_http_complex_value_t  *region_subdivision;
    ngx_array_t               *region_trust;     /* ngx_cidr_t */
    ngx_array_t               *policies;
    ngx_array_t               *consent_cookies;
    ngx_flag_t                 cookie_filter;
    uint32_t                   require;          /* category bits */
    ngx_uint_t                 require_status;
    ngx_http_complex_value_t  *subject;
    ngx_uint_t                 status;           /* privacy_status here */

    ngx_array_t               *limits;   /* ngx_http_privacy_limit_t */

    ngx_flag_t                 error_log_hide_uri;
    ngx_uint_t                 enforce;          /* privacy_enforce */
} ngx_http_privacy_loc_conf_t;


typedef struct {
    ngx_shm_zone_t            *zone;
    ngx_uint_t                 burst;
    ngx_uint_t                 nodelay;
} ngx_http_privacy_limit_t;

/* what one zone said of a request, for the RateLimit headers */
typedef struct {
    ngx_shm_zone_t            *zone;
    uint64_t                   remaining;
    uint64_t                   reset;        /* seconds */
} ngx_http_privacy_limit_seen_t;


typedef struct ngx_http_privacy_upload_s  ngx_http_privacy_upload_t;
typedef struct ngx_http_privacy_limit_wait_s  ngx_http_privacy_limit_wait_t;


/* why a request is refused; each with its status, in one table */
typedef enum {
    NGX_HTTP_PRIVACY_ALLOW = 0,
    NGX_HTTP_PRIVACY_CONSENT_REQUIRED,
    NGX_HTTP_PRIVACY_REGION_BLOCKED,
    NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE,
    NGX_HTTP_PRIVACY_UPLOAD_TYPE,
    NGX_HTTP_PRIVACY_UPLOAD_MISMATCH,
    NGX_HTTP_PRIVACY_UPLOAD_MALFORMED,
    NGX_HTTP_PRIVACY_RATE_LIMITED,
    NGX_HTTP_PRIVACY_LIMITER_UNAVAILABLE,
    NGX_HTTP_PRIVACY_REASONS
} ngx_http_privacy_reason_e;

/* reported, not refused: the reasons, and cookies the filter left alone */
#define NGX_HTTP_PRIVACY_COOKIE_FILTERED  NGX_HTTP_PRIVACY_REASONS
#define NGX_HTTP_PRIVACY_REPORTS          (NGX_HTTP_PRIVACY_REASONS + 1)

typedef struct {
    ngx_str_t                  name;        /* "upload_type" */
    ngx_uint_t                 status;      /* 415 */
} ngx_http_privacy_reason_t;

extern const ngx_http_privacy_reason_t
    ngx_http_privacy_reasons[NGX_HTTP_PRIVACY_REASONS];

/* "report:consent_required", ..., "report:cookie_filtered" */
extern const ngx_str_t
    ngx_http_privacy_report_names[NGX_HTTP_PRIVACY_REPORTS];


/* per request; found again after an internal redirect (see _get_ctx) */
typedef struct {
    ngx_uint_t                 status;      /* of a refusal, 0: allowed */
    ngx_http_privacy_reason_e  reason;      /* of a refusal or a report */
    ngx_str_t                  body;        /* the JSON body of a refusal */

    ngx_http_privacy_upload_t *upload;      /* body inspection, or NULL */

    /* the decision, computed once (ngx_http_privacy_evaluate) */
    u_char                     region_data[PE_REGION_MAX];
    ngx_str_t                  region;      /* "US-CA", "DE", "unknown" */
    ngx_str_t                  group;       /* "eea", "" */
    ngx_uint_t                 group_index; /* 0: none, 1: unknown, 2.. */
    ngx_uint_t                 mode;
    uint32_t                   granted;
    ngx_str_t                  subject;
    ngx_str_t                  context;

    ngx_http_privacy_limit_seen_t  limit_seen[NGX_HTTP_PRIVACY_LIMITS_MAX];
    ngx_uint_t                 limit_nseen;
    ngx_uint_t                 limit_status;     /* 0: none; 1 PASSED .. */
    uint64_t                   retry_after;      /* seconds */
    ngx_http_privacy_limit_wait_t  *limit_wait;  /* asked Redis */
    ngx_str_t                  limit_key[NGX_HTTP_PRIVACY_LIMITS_MAX];
    ngx_rbtree_key_t           limit_hash[NGX_HTTP_PRIVACY_LIMITS_MAX];

    unsigned                   upload_checked:1;
    unsigned                   body_replaced:1;
    unsigned                   peer_checked:1;
    unsigned                   peer_trusted:1;
    unsigned                   evaluated:1;
    unsigned                   gpc:1;          /* Sec-GPC: 1 */
    unsigned                   policy_gpc:1;   /* the policy honours it */
    unsigned                   subject_done:1;
    unsigned                   cookies_filtered:1;
    unsigned                   limit_done:1;
    unsigned                   report:1;       /* would have refused */
    unsigned                   cookies_report:1;  /* would have dropped */
    unsigned                   upload_set:1;   /* body checks set up, ... */
    unsigned                   upload_report:1;  /* ... in report mode */
} ngx_http_privacy_ctx_t;


extern ngx_module_t  ngx_http_privacy_module;


ngx_http_privacy_ctx_t *ngx_http_privacy_get_ctx(ngx_http_request_t *r);
u_char *ngx_http_privacy_decimal(u_char *p, uint64_t n);
ngx_http_privacy_ctx_t *ngx_http_privacy_create_ctx(ngx_http_request_t *r);

/* refusal: ngx_http_privacy_refusal.c */
ngx_int_t ngx_http_privacy_refuse(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_http_privacy_reason_e reason,
    const char *fmt, ...);
ngx_int_t ngx_http_privacy_refuse_with(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_uint_t status,
    ngx_http_privacy_reason_e reason, const char *fmt, ...);
ngx_str_t *ngx_http_privacy_json_escape(ngx_pool_t *pool, u_char *s,
    size_t len);
ngx_int_t ngx_http_privacy_refusal_init(ngx_conf_t *cf);
ngx_uint_t ngx_http_privacy_report_mode(ngx_http_request_t *r);

/* region: ngx_http_privacy_region.c */
char *ngx_http_privacy_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_privacy_region_trust(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_region_group(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_region_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_region_create_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);
char *ngx_http_privacy_region_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf);
ngx_int_t ngx_http_privacy_region_post_read(ngx_http_request_t *r);
void ngx_http_privacy_region_evaluate(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx);

/* consent: ngx_http_privacy_consent.c */
char *ngx_http_privacy_consent_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_consent_category(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_consent_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);
char *ngx_http_privacy_consent_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf);
ngx_http_privacy_ctx_t *ngx_http_privacy_evaluate(ngx_http_request_t *r);
ngx_int_t ngx_http_privacy_consent_preaccess(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf);
size_t ngx_http_privacy_categories_text(ngx_http_privacy_main_conf_t *pmcf,
    uint32_t bits, u_char *buf, size_t len, ngx_uint_t json);
ngx_int_t ngx_http_privacy_category_arg(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name);

/* cookies: ngx_http_privacy_cookie.c */
char *ngx_http_privacy_cookie_class(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_find_cookie(ngx_http_request_t *r,
    ngx_str_t *want, ngx_str_t *value);
ngx_int_t ngx_http_privacy_filter_request_cookies(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_cookie_init(ngx_conf_t *cf);

/* the pseudonym and the signed context: ngx_http_privacy_context.c */
char *ngx_http_privacy_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_privacy_subject(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_subject_value(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_context_value(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_anon_addr(ngx_http_request_t *r, ngx_str_t *out);

/* the error log's client address: ngx_http_privacy_log.c */
size_t ngx_http_privacy_anon_sockaddr(struct sockaddr *sockaddr,
    socklen_t socklen, u_char *buf, size_t size);
char *ngx_http_privacy_error_log_hide_uri(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_log_init(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);

/* rate limits: ngx_http_privacy_limit.c */
char *ngx_http_privacy_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_privacy_limit_preaccess(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf);
ngx_int_t ngx_http_privacy_limit_init(ngx_conf_t *cf);
char *ngx_http_privacy_limit_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);
ngx_int_t ngx_http_privacy_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* Redis: ngx_http_privacy_redis.c */
char *ngx_http_privacy_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_privacy_redis_script_init(
    ngx_http_privacy_redis_script_t *script);
ngx_int_t ngx_http_privacy_redis_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_privacy_limit_sync_init_process(ngx_cycle_t *cycle);
void ngx_http_privacy_redis_exit_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_privacy_redis_fail_closed(ngx_http_privacy_redis_t *rd);
ngx_msec_t ngx_http_privacy_redis_timeout(ngx_http_privacy_redis_t *rd);
ngx_uint_t ngx_http_privacy_redis_usable(ngx_http_privacy_redis_t *rd);
ngx_http_privacy_redis_call_t *ngx_http_privacy_redis_eval(
    ngx_http_privacy_redis_t *rd, ngx_http_privacy_redis_script_t *script,
    ngx_uint_t nkeys, ngx_str_t *keys, ngx_uint_t nargs, ngx_str_t *args,
    ngx_http_privacy_redis_handler_pt handler, void *data,
    ngx_uint_t *index);
void ngx_http_privacy_redis_detach(ngx_http_privacy_redis_call_t *call,
    ngx_uint_t index, ngx_uint_t timed_out);

/* status: ngx_http_privacy_status.c */
void ngx_http_privacy_status_sync(ngx_http_privacy_main_conf_t *pmcf,
    ngx_uint_t event, ngx_uint_t n);
void ngx_http_privacy_status_redis(ngx_http_privacy_main_conf_t *pmcf,
    ngx_uint_t event, ngx_msec_t latency);
char *ngx_http_privacy_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_status_init(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);

/* upload gate: ngx_http_privacy_upload.c */
ngx_int_t ngx_http_privacy_upload_access(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_upload_init(ngx_conf_t *cf);
char *ngx_http_privacy_upload_type(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_upload_max_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_privacy_upload_init_main(ngx_conf_t *cf);
char *ngx_http_privacy_upload_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf);


#endif /* _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_ */
