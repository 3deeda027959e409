
/*
 * privacy-edge: rate limits, local to this nginx.
 *
 * Each zone is a red-black tree of keys in shared memory, as in
 * ngx_http_limit_req_module, with an LRU queue to expire idle keys; a key
 * holds one number, its theoretical arrival time (pe_gcra.c), so every
 * worker decides exactly.  A request is checked against every zone of its
 * location first and charged only when all pass: a refused request
 * consumes nothing.  Every response of a limited location carries the
 * RateLimit-Policy and RateLimit headers (draft-ietf-httpapi-ratelimit-
 * headers); a refusal is 429 rate_limited with Retry-After.
 *
 * In report mode (privacy_enforce report) the zones are asked and charged
 * exactly as with "on", so the counts and the quota left are real; a
 * request over the limit is neither refused nor charged, one within the
 * burst is not held.  The RateLimit headers still go out, the quota they
 * tell being the one "on" will enforce; Retry-After does not, as nothing
 * was refused.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_limit.h"


static void ngx_http_privacy_limit_delay(ngx_http_request_t *r);
static ngx_int_t ngx_http_privacy_limit_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;

static ngx_str_t  ngx_http_privacy_limit_statuses[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("DELAYED"),
    ngx_string("REJECTED"),
    ngx_string("ERROR")
};


static void
ngx_http_privacy_limit_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_privacy_limit_node_t   *ln, *lnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            ln = (ngx_http_privacy_limit_node_t *) &node->color;
            lnt = (ngx_http_privacy_limit_node_t *) &temp->color;

            p = (ngx_memn2cmp(ln->data, lnt->data, ln->len, lnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_privacy_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_privacy_limit_zone_t  *octx = data;

    size_t                          len;
    ngx_http_privacy_limit_zone_t  *zone;

    zone = shm_zone->data;

    if (octx) {
        /* a reload with the same zone: keep the keys */
        zone->sh = octx->sh;
        zone->shpool = octx->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_privacy_limit_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_privacy_limit_rbtree_insert);
    ngx_queue_init(&zone->sh->queue);
    ngx_queue_init(&zone->sh->unsent);
    ngx_queue_init(&zone->sh->asked);
    /* "not before now" on a clock that may wrap (32 bits) */
    zone->sh->flush_next = ngx_current_msec;
    zone->sh->flush_busy = 0;
    zone->sh->soon_next = ngx_current_msec;
    zone->sh->flush_owner = 0;
    zone->sh->flush_soon = 0;
    zone->sh->probe_only = 0;
    zone->sh->nodes = 0;
    zone->sh->active = 0;
    zone->sh->cursor = 0;
    zone->sh->heard = NULL;

    /* this node's name among those sharing the zone in Redis */
    if (ngx_http_privacy_limit_sync_node_id(zone->sh->id) != NGX_OK) {
        return NGX_ERROR;
    }

    len = sizeof(" in privacy_limit_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in privacy_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_privacy_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    pe_rate_t                          rate;
    ngx_msec_t                         interval;
    ngx_shm_zone_t                    *shm_zone, **zonep;
    ngx_http_privacy_limit_zone_t     *zone;
    ngx_http_privacy_main_conf_t      *pmcf;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;
    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_privacy_limit_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    ngx_str_null(&name);
    ngx_memzero(&rate, sizeof(pe_rate_t));

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL || p == name.data) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=redis") == 0) {
            zone->sync = 1;
            pmcf->redis_used = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sync_interval=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            interval = ngx_parse_time(&s, 0);

            if (interval == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            /* more often would cost every worker a wake-up a millisecond
               for little: an exchange is a round trip */
            if (interval < 10) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" is shorter than 10ms", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->sync_interval = interval;
            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            if (pe_rate_parse(value[i].data + 5, value[i].len - 5, &rate)
                != 0)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (zone->sync_interval && !zone->sync) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sync_interval\" needs \"sync=redis\" in "
                           "\"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || rate.count == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone=NAME:SIZE\" and "
                           "\"rate=N r/s|r/m|r/h|r/d\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone->rate = rate;
    zone->name = name;
    zone->pmcf = pmcf;

    /* RateLimit-Policy's part for the zone: the same for every response */
    zone->policy.data = ngx_pnalloc(cf->pool, name.len + 8
                                              + 2 * NGX_INT64_LEN);
    if (zone->policy.data == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->policy.len = ngx_sprintf(zone->policy.data, "\"%V\";q=%uL;w=%uL",
                                   &name, (uint64_t) rate.count,
                                   (uint64_t) rate.window)
                       - zone->policy.data;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_privacy_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\" in \"%V\" directive",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_privacy_limit_init_zone;
    shm_zone->data = zone;

    if (zone->sync_interval) {
        if (pmcf->sync_zones == NULL) {
            pmcf->sync_zones = ngx_array_create(cf->pool, 2,
                                                sizeof(ngx_shm_zone_t *));
            if (pmcf->sync_zones == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        zonep = ngx_array_push(pmcf->sync_zones);
        if (zonep == NULL) {
            return NGX_CONF_ERROR;
        }

        *zonep = shm_zone;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive",
                       &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


char *
ngx_http_privacy_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_int_t                  burst;
    ngx_str_t                 *value, s;
    ngx_uint_t                 i, nodelay;
    ngx_shm_zone_t            *shm_zone;
    ngx_http_privacy_limit_t  *limit, *limits;

    value = cf->args->elts;

    shm_zone = NULL;
    burst = 0;
    nodelay = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            shm_zone = ngx_shared_memory_add(cf, &s, 0,
                                             &ngx_http_privacy_module);
            if (shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst < 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\" in \"%V\" "
                                   "directive", &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            nodelay = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (plcf->limits == NULL) {
        plcf->limits = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_privacy_limit_t));
        if (plcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = plcf->limits->elts;

    for (i = 0; i < plcf->limits->nelts; i++) {
        if (shm_zone == limits[i].zone) {
            return "is duplicate";
        }
    }

    if (plcf->limits->nelts == NGX_HTTP_PRIVACY_LIMITS_MAX) {
        return "has too many zones";
    }

    limit = ngx_array_push(plcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->zone = shm_zone;
    limit->burst = burst;
    limit->nodelay = nodelay;

    return NGX_CONF_OK;
}


ngx_http_privacy_limit_node_t *
ngx_http_privacy_limit_lookup(ngx_http_privacy_limit_zone_t *zone,
    ngx_str_t *key, ngx_rbtree_key_t hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_privacy_limit_node_t  *ln;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        ln = (ngx_http_privacy_limit_node_t *) &node->color;
        rc = ngx_memn2cmp(key->data, ln->data, key->len, (size_t) ln->len);

        if (rc == 0) {
            return ln;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Frees idle keys (back to full: tat passed) from the LRU end, at most two;
 * force: the oldest one whatever its state, when memory ran out.
 */

static void
ngx_http_privacy_limit_expire(ngx_http_privacy_limit_zone_t *zone,
    uint64_t now, ngx_uint_t force)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_rbtree_node_t              *node;
    ngx_http_privacy_limit_node_t  *ln;

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        ln = ngx_queue_data(q, ngx_http_privacy_limit_node_t, queue);

        /* unsent charges are kept for the flush, and a node's share of a
           key until it drains (it drains N times slower), but for want of
           memory (or when a reload made the zone one without
           sync_interval) */
        if (!(force && n == 0)
            && (ln->tat > now
                || (zone->sync_interval
                    && (ln->pending || ln->share > now || ln->shared > now))))
        {
            return;
        }

        ngx_queue_remove(q);

        if (ln->kept && ln->share > now) {
            ngx_http_privacy_limit_sync_dropped(zone, ln->kept);
        }

        if (ln->pending) {
            ngx_queue_remove(&ln->unsent);
            ngx_http_privacy_limit_sync_dropped(zone, ln->pending);

        } else if (ln->asked) {
            ngx_queue_remove(&ln->unsent);
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) ln - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&zone->sh->rbtree, node);
        ngx_slab_free_locked(zone->shpool, node);
    }
}


ngx_http_privacy_limit_node_t *
ngx_http_privacy_limit_create(ngx_http_privacy_limit_zone_t *zone,
    ngx_str_t *key, ngx_rbtree_key_t hash, uint64_t now)
{
    size_t                          size;
    ngx_rbtree_node_t              *node;
    ngx_http_privacy_limit_node_t  *ln;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_privacy_limit_node_t, data)
           + key->len;

    ngx_http_privacy_limit_expire(zone, now, 0);

    node = ngx_slab_alloc_locked(zone->shpool, size);

    if (node == NULL) {
        ngx_http_privacy_limit_expire(zone, now, 1);

        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node == NULL) {
            return NULL;
        }
    }

    node->key = hash;

    ln = (ngx_http_privacy_limit_node_t *) &node->color;
    ln->len = (u_short) key->len;
    ln->tat = 0;
    ln->blocked = 0;
    ln->first = 0;
    ln->share = 0;
    ln->share_nodes = 0;
    ln->shared = 0;
    ln->pending = 0;
    ln->kept = 0;
    ln->over = 0;
    ln->asked = 0;
    ln->checked = 0;
    ngx_memcpy(ln->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->queue, &ln->queue);

    return ln;
}


uint64_t
ngx_http_privacy_limit_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000000000 + (uint64_t) tp->msec * 1000000;
}


void
ngx_http_privacy_limit_see(ngx_http_privacy_ctx_t *ctx,
    ngx_shm_zone_t *shm_zone, uint64_t remaining, uint64_t reset_ns)
{
    ngx_http_privacy_limit_seen_t  *seen;

    seen = &ctx->limit_seen[ctx->limit_nseen++];
    seen->zone = shm_zone;
    seen->remaining = remaining;
    seen->reset = (reset_ns + 999999999) / 1000000000;
}


ngx_int_t
ngx_http_privacy_limit_reject(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_http_privacy_limit_zone_t *zone,
    uint64_t retry_ns)
{
    ctx->retry_after = (retry_ns + 999999999) / 1000000000;
    ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_REJECTED;

    return ngx_http_privacy_refuse(r, ctx,
                                   NGX_HTTP_PRIVACY_RATE_LIMITED,
                                   ",\"limit\":\"%V\",\"retry_after\":%uL",
                                   &zone->name, ctx->retry_after);
}


ngx_uint_t
ngx_http_privacy_limit_keyed(ngx_str_t *key)
{
    /* no key: not limited, as limit_req */
    return key->len != 0 && key->len <= 65535;
}


/*
 * The local zones are asked, and nothing is charged.  local_sync: the
 * sync=redis zones are asked locally too (Redis cannot be).  Returns the
 * index of a zone that refuses, or NGX_CONF_UNSET_UINT, with the longest
 * wait in *retry.
 */

ngx_uint_t
ngx_http_privacy_limit_ask(ngx_http_privacy_loc_conf_t *plcf,
    ngx_http_privacy_ctx_t *ctx, uint64_t now, ngx_uint_t local_sync,
    uint64_t *retry)
{
    uint64_t                         tat;
    ngx_uint_t                       i, rejected;
    pe_gcra_t                        g;
    ngx_http_privacy_limit_t        *limits;
    ngx_http_privacy_limit_node_t   *ln;
    ngx_http_privacy_limit_zone_t   *zone;
    ngx_http_privacy_limit_heard_t  *heard;

    limits = plcf->limits->elts;
    rejected = NGX_CONF_UNSET_UINT;
    *retry = 0;

    for (i = 0; i < plcf->limits->nelts; i++) {
        zone = limits[i].zone->data;

        if (!ngx_http_privacy_limit_keyed(&ctx->limit_key[i])
            || (ngx_http_privacy_limit_exact(zone) && !local_sync))
        {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);
        ln = ngx_http_privacy_limit_lookup(zone, &ctx->limit_key[i],
                                           ctx->limit_hash[i]);
        tat = ln ? ln->tat : 0;

        if (ln == NULL && zone->sync_interval) {
            /* new here, shared elsewhere: from its global state, as the
               charge would be */
            heard = ngx_http_privacy_limit_sync_heard(zone,
                                                      ctx->limit_hash[i],
                                                      now);
            tat = heard ? heard->tat : 0;
        }

        pe_gcra(&zone->rate, limits[i].burst, tat, now, &g);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (!g.allowed) {
            if (rejected == NGX_CONF_UNSET_UINT) {
                rejected = i;
            }

            if (g.retry_after > *retry) {
                *retry = g.retry_after;
            }
        }
    }

    return rejected;
}


/*
 * All passed: each zone is charged.  wait: Redis's answer for the
 * sync=redis zones, which are then charged locally too (a node that loses
 * Redis goes on from its own share, not from a full bucket); without it
 * they count as local zones.
 */

ngx_int_t
ngx_http_privacy_limit_charge(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx,
    uint64_t now, ngx_http_privacy_limit_wait_t *wait)
{
    int64_t                        *v;
    uint64_t                        delay, zdelay;
    ngx_uint_t                      i, s, one;
    pe_gcra_t                       g;
    ngx_http_privacy_limit_t       *limits;
    ngx_http_privacy_limit_node_t  *ln;
    ngx_http_privacy_limit_zone_t  *zone;

    limits = plcf->limits->elts;
    delay = 0;
    ctx->limit_nseen = 0;
    one = (plcf->limits->nelts == 1);
    s = 0;

    for (i = 0; i < plcf->limits->nelts; i++) {
        zone = limits[i].zone->data;

        if (!ngx_http_privacy_limit_keyed(&ctx->limit_key[i])) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        ln = ngx_http_privacy_limit_lookup(zone, &ctx->limit_key[i],
                                           ctx->limit_hash[i]);

        if (ln == NULL) {
            ln = ngx_http_privacy_limit_create(zone, &ctx->limit_key[i],
                                               ctx->limit_hash[i], now);

            if (ln == NULL) {
                ngx_shmtx_unlock(&zone->shpool->mutex);
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "privacy: zone \"%V\" is out of memory",
                              &zone->name);
                ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_ERROR;

                /* report mode refuses nothing, a failure included */
                return ngx_http_privacy_report_mode(r)
                       ? NGX_HTTP_PRIVACY_REPORTED
                       : NGX_HTTP_SERVICE_UNAVAILABLE;
            }

            if (zone->sync_interval) {
                ngx_http_privacy_limit_sync_created(zone, ln,
                                                    ctx->limit_hash[i], now);
            }

        } else {
            ngx_queue_remove(&ln->queue);
            ngx_queue_insert_head(&zone->sh->queue, &ln->queue);
        }

        pe_gcra(&zone->rate, limits[i].burst, ln->tat, now, &g);

        /*
         * Several zones: another worker may have come first since they
         * were asked, and then this request passes uncharged.
         */
        if (g.allowed) {
            ln->tat = g.tat;

            if (zone->sync_interval) {
                ngx_http_privacy_limit_sync_charged(zone, ln,
                                                    limits[i].burst, now);
            }
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (ngx_http_privacy_limit_exact(zone) && wait) {
            /* Redis decided, and its numbers are the global ones */
            v = &wait->values[3 + 3 * s++];
            ngx_http_privacy_limit_see(ctx, limits[i].zone, (uint64_t) v[0],
                                       (uint64_t) v[1] * 1000);
            zdelay = (uint64_t) v[2] * 1000;

        } else {
            ngx_http_privacy_limit_see(ctx, limits[i].zone, g.remaining,
                                       g.reset);

            if (!g.allowed && one) {
                return ngx_http_privacy_limit_reject(r, ctx, zone,
                                                     g.retry_after);
            }

            zdelay = g.allowed ? g.delay : 0;
        }

        if (!limits[i].nodelay && zdelay > delay) {
            delay = zdelay;
        }
    }

    if (ctx->limit_nseen == 0) {
        return NGX_DECLINED;        /* no key in any zone: not limited */
    }

    if (delay == 0) {
        ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_PASSED;
        return NGX_DECLINED;
    }

    /* within the burst, without nodelay: held to the rate, as limit_req */

    ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_DELAYED;

    if (plcf->enforce == NGX_HTTP_PRIVACY_ENFORCE_REPORT) {
        return NGX_DECLINED;        /* counted as delayed, not held */
    }

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_privacy_limit_delay;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, (ngx_msec_t) (delay / 1000000) + 1);

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_privacy_limit_preaccess(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf)
{
    uint64_t                        now, retry, blocked, reset;
    ngx_int_t                       rc;
    ngx_uint_t                      i, rejected, nsync;
    ngx_http_privacy_ctx_t         *ctx;
    ngx_http_privacy_limit_t       *limits;
    ngx_http_privacy_limit_zone_t  *zone;

    ctx = ngx_http_privacy_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->limit_done) {
        return NGX_DECLINED;        /* back from a delay */
    }

    if (ctx->limit_wait) {
        if (ctx->limit_wait->state == NGX_HTTP_PRIVACY_WAIT_ASKED) {
            return NGX_AGAIN;       /* still waiting for Redis */
        }

        ctx->limit_done = 1;
        return ngx_http_privacy_limit_answered(r, plcf, ctx);
    }

    now = ngx_http_privacy_limit_now();
    limits = plcf->limits->elts;
    rejected = NGX_CONF_UNSET_UINT;
    retry = 0;
    nsync = 0;
    ctx->limit_nseen = 0;

    for (i = 0; i < plcf->limits->nelts; i++) {
        zone = limits[i].zone->data;

        if (ngx_http_complex_value(r, &zone->key, &ctx->limit_key[i])
            != NGX_OK)
        {
            ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_ERROR;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->limit_hash[i] = zone->sync_interval
                             ? ngx_http_privacy_limit_sync_hash(
                                   zone->pmcf, &ctx->limit_key[i])
                             : ngx_crc32_short(ctx->limit_key[i].data,
                                               ctx->limit_key[i].len);

        if (!ngx_http_privacy_limit_exact(zone)
            || !ngx_http_privacy_limit_keyed(&ctx->limit_key[i]))
        {
            continue;
        }

        nsync++;

        blocked = ngx_http_privacy_limit_blocked(zone, &ctx->limit_key[i],
                                                 ctx->limit_hash[i], now,
                                                 &reset);
        if (blocked) {
            ngx_http_privacy_limit_see(ctx, limits[i].zone, 0, reset);

            if (rejected == NGX_CONF_UNSET_UINT) {
                rejected = i;
            }

            if (blocked > retry) {
                retry = blocked;
            }
        }
    }

    if (rejected != NGX_CONF_UNSET_UINT) {
        ctx->limit_done = 1;
        return ngx_http_privacy_limit_reject(r, ctx,
                                             limits[rejected].zone->data,
                                             retry);
    }

    /*
     * With several zones, first every local zone is asked and nothing
     * charged; one zone alone is asked and charged at once, under one
     * lock.  A request that a local zone refuses costs no global quota.
     */

    if (plcf->limits->nelts > 1) {
        rejected = ngx_http_privacy_limit_ask(plcf, ctx, now, 0, &retry);

        if (rejected != NGX_CONF_UNSET_UINT) {
            ctx->limit_done = 1;
            return ngx_http_privacy_limit_reject(r, ctx,
                                                 limits[rejected].zone->data,
                                                 retry);
        }
    }

    if (nsync == 0) {
        ctx->limit_done = 1;
        return ngx_http_privacy_limit_charge(r, plcf, ctx, now, NULL);
    }

    rc = ngx_http_privacy_limit_ask_redis(r, plcf, ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ctx->limit_done = 1;

    if (rc == NGX_ERROR) {
        ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_ERROR;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_privacy_limit_redis_failed(r, plcf, ctx, now);
}


static void
ngx_http_privacy_limit_delay(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_privacy_limit_header_filter(ngx_http_request_t *r)
{
    u_char                         *p, *q;
    size_t                          len, plen;
    ngx_str_t                       policy, value;
    ngx_uint_t                      i;
    ngx_table_elt_t                *h;
    ngx_http_privacy_ctx_t         *ctx;
    ngx_http_privacy_limit_zone_t  *zone;

    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (r != r->main || ctx == NULL || ctx->limit_nseen == 0) {
        return ngx_http_next_header_filter(r);
    }

    len = 0;
    plen = 0;

    for (i = 0; i < ctx->limit_nseen; i++) {
        zone = ctx->limit_seen[i].zone->data;
        len += zone->name.len + 2 + 2 * (3 + NGX_INT64_LEN) + 2;
        plen += zone->policy.len + 2;
    }

    /*
     * RateLimit-Policy: "name";q=10;w=60  RateLimit: "name";r=3;t=42,
     * written out by hand: this runs for every response of the location.
     * One zone, the usual case: its policy as made at configuration.
     */

    if (ctx->limit_nseen == 1) {
        zone = ctx->limit_seen[0].zone->data;
        policy = zone->policy;

    } else {
        p = ngx_pnalloc(r->pool, plen);
        if (p == NULL) {
            return NGX_ERROR;
        }

        policy.data = p;

        for (i = 0; i < ctx->limit_nseen; i++) {
            zone = ctx->limit_seen[i].zone->data;

            if (i) {
                p = ngx_cpymem(p, ", ", 2);
            }

            p = ngx_cpymem(p, zone->policy.data, zone->policy.len);
        }

        policy.len = p - policy.data;
    }

    q = ngx_pnalloc(r->pool, len);
    if (q == NULL) {
        return NGX_ERROR;
    }

    value.data = q;

    for (i = 0; i < ctx->limit_nseen; i++) {
        zone = ctx->limit_seen[i].zone->data;

        if (i) {
            q = ngx_cpymem(q, ", ", 2);
        }

        *q++ = '"';
        q = ngx_cpymem(q, zone->name.data, zone->name.len);
        q = ngx_cpymem(q, "\";r=", 4);
        q = ngx_http_privacy_decimal(q, ctx->limit_seen[i].remaining);
        q = ngx_cpymem(q, ";t=", 3);
        q = ngx_http_privacy_decimal(q, ctx->limit_seen[i].reset);
    }

    value.len = q - value.data;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "RateLimit-Policy");
    h->value = policy;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "RateLimit");
    h->value = value;

    /* ours only: an upstream's own 429 for a request we only reported
       gets no Retry-After of ours */
    if (ctx->limit_status == NGX_HTTP_PRIVACY_LIMIT_REJECTED
        && r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS
        && ctx->status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = p;
        h->value.len = ngx_sprintf(p, "%uL", ctx->retry_after) - p;
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_privacy_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_privacy_ctx_t  *ctx;

    ctx = ngx_http_privacy_get_ctx(r->main);

    if (ctx == NULL || ctx->limit_status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_http_privacy_limit_statuses[ctx->limit_status].data;
    v->len = ngx_http_privacy_limit_statuses[ctx->limit_status].len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_privacy_limit_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_privacy_limit_header_filter;

    return NGX_OK;
}
