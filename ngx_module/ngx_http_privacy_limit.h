
/*
 * privacy-edge: rate limits, the parts that the local zones
 * (ngx_http_privacy_limit.c) and their sync through Redis
 * (ngx_http_privacy_limit_redis.c) share.
 */

#ifndef _NGX_HTTP_PRIVACY_LIMIT_H_INCLUDED_
#define _NGX_HTTP_PRIVACY_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"
#include "pe_jws.h"


#define NGX_HTTP_PRIVACY_LIMIT_PASSED    1
#define NGX_HTTP_PRIVACY_LIMIT_DELAYED   2
#define NGX_HTTP_PRIVACY_LIMIT_REJECTED  3
#define NGX_HTTP_PRIVACY_LIMIT_ERROR     4


typedef struct {
    u_char                       color;
    u_char                       share_nodes;  /* the N of share, to 255 */
    u_short                      len;
    ngx_queue_t                  queue;
    uint64_t                     tat;
    uint64_t                     blocked;  /* sync=redis: refused until */
    ngx_queue_t                  unsent;   /* sync_interval: charged, or
                                              asked (see asked) */
    uint64_t                     first;    /* the oldest unsent, sync clock */
    uint64_t                     alone;    /* the unsent's own arrival time */
    uint64_t                     share;    /* this node's own, at rate / N */
    uint64_t                     shared;   /* sent, with others', until */
    uint32_t                     pending;  /* unsent charges; 0: unlisted */
    uint32_t                     kept;     /* charges in share, not sent */
    unsigned                     over:1;   /* over this node's share */
    unsigned                     asked:1;  /* new here, Redis to be asked */
    unsigned                     checked:1;  /* asked, or sent, once */
    u_char                       data[1];
} ngx_http_privacy_limit_node_t;


/* a key shared by other nodes, read before this node had it */
typedef struct {
    ngx_rbtree_key_t             id;
    uint64_t                     tat;      /* its global state then */
    uint64_t                     until;    /* shared until */
} ngx_http_privacy_limit_heard_t;

#define NGX_HTTP_PRIVACY_LIMIT_HEARD  256


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    ngx_queue_t                  unsent;      /* sync_interval: to send */
    ngx_queue_t                  asked;       /* keys new here, to ask */
    ngx_msec_t                   flush_next;  /* the node's next flush */
    ngx_msec_t                   flush_busy;  /* one under way, until */
    ngx_msec_t                   soon_next;   /* new keys flushed from */
    ngx_pid_t                    flush_owner; /* the worker flushing */
    ngx_uint_t                   flush_soon;  /* a key new to the node */
    ngx_uint_t                   probe_only;  /* an answer was lost */
    ngx_uint_t                   nodes;       /* sharing the zone; 0: ? */
    ngx_uint_t                   active;      /* charged since a flush */
    uint64_t                     cursor;      /* of Redis's shared keys */
    u_char                       id[16];      /* this node's, in hex */
    ngx_http_privacy_limit_heard_t  *heard;   /* made when first needed */
} ngx_http_privacy_limit_shctx_t;


typedef struct {
    ngx_http_privacy_limit_shctx_t  *sh;
    ngx_slab_pool_t                 *shpool;
    pe_rate_t                        rate;
    ngx_http_complex_value_t         key;
    ngx_str_t                        name;
    ngx_str_t                        policy;   /* "name";q=N;w=S */
    ngx_uint_t                       sync;     /* sync=redis */
    ngx_msec_t                       sync_interval;  /* 0: exact */
    void                            *flusher;  /* this worker's */
    ngx_http_privacy_main_conf_t    *pmcf;
} ngx_http_privacy_limit_zone_t;


/* asked of Redis for each request: sync=redis without sync_interval */
#define ngx_http_privacy_limit_exact(zone)                                   \
    ((zone)->sync && (zone)->sync_interval == 0)


/* allowed, refusing zone, retry; then remaining, reset, delay per zone */
#define NGX_HTTP_PRIVACY_REPLY_MAX      (3 + 3 * NGX_HTTP_PRIVACY_LIMITS_MAX)

#define NGX_HTTP_PRIVACY_WAIT_ASKED     0
#define NGX_HTTP_PRIVACY_WAIT_ANSWERED  1
#define NGX_HTTP_PRIVACY_WAIT_FAILED    2

/* a request waiting for Redis; in the request's pool */
struct ngx_http_privacy_limit_wait_s {
    ngx_http_request_t              *r;
    ngx_http_privacy_redis_call_t   *call;     /* NULL: not waiting */
    ngx_uint_t                       index;    /* its place in the call */
    ngx_event_t                      ev;       /* timeout, then wake-up */
    ngx_uint_t                       state;
    ngx_uint_t                       nsync;
    int64_t                          values[NGX_HTTP_PRIVACY_REPLY_MAX];
};


/* the zones in shared memory: ngx_http_privacy_limit.c */
ngx_http_privacy_limit_node_t *ngx_http_privacy_limit_lookup(
    ngx_http_privacy_limit_zone_t *zone, ngx_str_t *key, ngx_rbtree_key_t hash);
ngx_http_privacy_limit_node_t *ngx_http_privacy_limit_create(
    ngx_http_privacy_limit_zone_t *zone, ngx_str_t *key, ngx_rbtree_key_t hash,
    uint64_t now);
uint64_t ngx_http_privacy_limit_now(void);
void ngx_http_privacy_limit_see(ngx_http_privacy_ctx_t *ctx,
    ngx_shm_zone_t *shm_zone, uint64_t remaining, uint64_t reset_ns);
ngx_int_t ngx_http_privacy_limit_reject(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_http_privacy_limit_zone_t *zone,
    uint64_t retry_ns);
ngx_uint_t ngx_http_privacy_limit_keyed(ngx_str_t *key);
ngx_uint_t ngx_http_privacy_limit_ask(ngx_http_privacy_loc_conf_t *plcf,
    ngx_http_privacy_ctx_t *ctx, uint64_t now, ngx_uint_t local_sync,
    uint64_t *retry);
ngx_int_t ngx_http_privacy_limit_charge(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx,
    uint64_t now, ngx_http_privacy_limit_wait_t *wait);

/* sync=redis sync_interval=: ngx_http_privacy_limit_sync.c */
char *ngx_http_privacy_limit_sync_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf);
ngx_http_privacy_limit_heard_t *ngx_http_privacy_limit_sync_heard(
    ngx_http_privacy_limit_zone_t *zone, ngx_rbtree_key_t hash,
    uint64_t now);
void ngx_http_privacy_limit_sync_created(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, ngx_rbtree_key_t hash, uint64_t now);
void ngx_http_privacy_limit_sync_charged(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, uint64_t burst, uint64_t now);
ngx_int_t ngx_http_privacy_limit_sync_node_id(u_char *id);
ngx_rbtree_key_t ngx_http_privacy_limit_sync_hash(
    ngx_http_privacy_main_conf_t *pmcf, ngx_str_t *key);
void ngx_http_privacy_limit_unsent(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, uint32_t n, uint64_t first,
    uint64_t alone);
void ngx_http_privacy_limit_sync_dropped(ngx_http_privacy_limit_zone_t *zone,
    ngx_uint_t n);

/* sync=redis: ngx_http_privacy_limit_redis.c */
#define NGX_HTTP_PRIVACY_LIMIT_REDIS_KEY_LEN(zone)                           \
    (sizeof("privacy:{:}") - 1 + (zone)->name.len + PE_JWS_SIG_LEN)

u_char *ngx_http_privacy_limit_redis_key(ngx_http_privacy_main_conf_t *pmcf,
    ngx_http_privacy_limit_zone_t *zone, ngx_str_t *key, u_char *p);
uint64_t ngx_http_privacy_limit_blocked(ngx_http_privacy_limit_zone_t *zone,
    ngx_str_t *key, ngx_rbtree_key_t hash, uint64_t now, uint64_t *reset);
ngx_int_t ngx_http_privacy_limit_ask_redis(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_limit_redis_failed(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx,
    uint64_t now);
ngx_int_t ngx_http_privacy_limit_answered(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx);


#endif /* _NGX_HTTP_PRIVACY_LIMIT_H_INCLUDED_ */
