
/*
 * privacy-edge: rate limits global across nodes, through Redis.
 *
 * A sync=redis zone is decided by one Lua call per request (requests of
 * the same keys in one event loop cycle share it), on Redis's clock, with
 * keys "privacy:{zone:HMAC(key)}": no address or account in Redis, each
 * key its own Cluster hash slot.  The request waits on nginx's event loop,
 * never blocking the worker; a key Redis refused is refused here until it
 * may pass (the over-limit cache); and when Redis is away, privacy_redis's
 * fail= decides: the local zones alone, or 503 limiter_unavailable.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_privacy_limit.h"
#include "pe_jws.h"


static void ngx_http_privacy_limit_redis_done(void *data, void *r);
static void ngx_http_privacy_limit_wake(ngx_event_t *ev);
static void ngx_http_privacy_limit_wait_cleanup(void *data);


/*
 * GCRA in Redis, on Redis's clock, for every sync=redis zone of a request
 * at once: all must pass for any to be charged, atomically.  ARGV[1] is
 * how many requests of the same keys the call decides, one after the
 * other; then interval (ns) and burst per zone.  Times in microseconds (a
 * Lua number holds them exactly; nanoseconds it would round).  Answers,
 * for each request: allowed, the first refusing zone, the microseconds
 * until a retry may pass, then remaining, reset and delay for each zone.
 * Redis before 5 needs replicate_commands() to write after TIME.
 */

static ngx_http_privacy_redis_script_t  ngx_http_privacy_limit_script = {
    ngx_string(
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local n = tonumber(ARGV[1])\n"
    "local z = #KEYS\n"
    "local iv, tau, tat, old = {}, {}, {}, {}\n"
    "for i = 1, z do\n"
    "  iv[i] = tonumber(ARGV[2 * i]) / 1000\n"
    "  tau[i] = tonumber(ARGV[2 * i + 1]) * iv[i]\n"
    "  tat[i] = tonumber(redis.call('GET', KEYS[i])) or 0\n"
    "  old[i] = tat[i]\n"
    "end\n"
    "local res = {}\n"
    "for j = 1, n do\n"
    "  local out = {1, 0, 0}\n"
    "  local base, nxt = {}, {}\n"
    "  for i = 1, z do\n"
    "    base[i] = math.max(tat[i], now)\n"
    "    nxt[i] = base[i] + iv[i]\n"
    "    local at = nxt[i] - tau[i] - iv[i]\n"
    "    if now < at then\n"
    "      if out[1] == 1 then out[1] = 0; out[2] = i end\n"
    "      out[3] = math.max(out[3], math.ceil(at - now))\n"
    "    end\n"
    "  end\n"
    "  for i = 1, z do\n"
    "    local delay = 0\n"
    "    if out[1] == 1 then tat[i] = nxt[i]; delay = base[i] - now end\n"
    "    local left = (now + tau[i] + iv[i] - math.max(tat[i], now)) / iv[i]\n"
    "    out[#out + 1] = math.max(math.floor(left + 0.000001), 0)\n"
    "    out[#out + 1] = math.ceil(math.max(tat[i] - now, 0))\n"
    "    out[#out + 1] = math.ceil(delay)\n"
    "  end\n"
    "  res[j] = out\n"
    "end\n"
    "for i = 1, z do\n"
    "  if tat[i] ~= old[i] then\n"
    "    redis.call('SET', KEYS[i], string.format('%.0f', tat[i]), 'PX',\n"
    "               math.ceil((tat[i] - now) / 1000) + 1)\n"
    "  end\n"
    "end\n"
    "return res\n"),
    { 0 }
};


char *
ngx_http_privacy_limit_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    if (!pmcf->redis_used) {
        return NGX_CONF_OK;
    }

    if (pmcf->redis == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"privacy_limit_zone\" with \"sync=redis\" needs "
                      "\"privacy_redis\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_privacy_limit_script.sha1[0] == '\0'
        && ngx_http_privacy_redis_script_init(&ngx_http_privacy_limit_script)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_privacy_limit_sync_init_main(cf, pmcf);
}


/*
 * A key's name in Redis, "privacy:{zone:HMAC(key)}": no address or
 * account in Redis, and each key its own Cluster hash slot.  NULL: the
 * HMAC failed.
 */

u_char *
ngx_http_privacy_limit_redis_key(ngx_http_privacy_main_conf_t *pmcf,
    ngx_http_privacy_limit_zone_t *zone, ngx_str_t *key, u_char *p)
{
    p = ngx_cpymem(p, "privacy:{", 9);
    p = ngx_cpymem(p, zone->name.data, zone->name.len);
    *p++ = ':';

    if (pe_hmac_hs256(pmcf->hmac, key->data, key->len, (char *) p) != 0) {
        return NULL;
    }

    p += PE_JWS_SIG_LEN;
    *p++ = '}';

    return p;
}


/*
 * The over-limit cache: a sync=redis key that Redis refused stays refused
 * here, without asking, until Redis said it may pass again.  Nothing any
 * node does meanwhile can make it pass sooner.
 */

uint64_t
ngx_http_privacy_limit_blocked(ngx_http_privacy_limit_zone_t *zone,
    ngx_str_t *key, ngx_rbtree_key_t hash, uint64_t now, uint64_t *reset)
{
    uint64_t                        blocked;
    ngx_http_privacy_limit_node_t  *ln;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ln = ngx_http_privacy_limit_lookup(zone, key, hash);
    blocked = 0;

    if (ln && ln->blocked > now) {
        blocked = ln->blocked - now;
        *reset = ln->tat > now ? ln->tat - now : blocked;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return blocked;
}


/*
 * Redis refused the key until "until", and it is back to full at "full":
 * the local state learns both, so that a fallback to the local zone goes
 * on from the global state.
 */

static void
ngx_http_privacy_limit_block(ngx_http_privacy_limit_zone_t *zone,
    ngx_str_t *key, ngx_rbtree_key_t hash, uint64_t now, uint64_t until,
    uint64_t full)
{
    ngx_http_privacy_limit_node_t  *ln;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ln = ngx_http_privacy_limit_lookup(zone, key, hash);

    if (ln == NULL) {
        ln = ngx_http_privacy_limit_create(zone, key, hash, now);
    }

    if (ln) {
        ln->blocked = until;

        /* also keeps the node from LRU expiry while it blocks */
        if (ln->tat < full) {
            ln->tat = full;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* Redis answered, or the call failed: from hiredis's callback */

static void
ngx_http_privacy_limit_redis_done(void *data, void *r)
{
    redisReply                     *reply = r;
    ngx_uint_t                      i, n;
    ngx_http_privacy_limit_wait_t  *wait = data;

    wait->call = NULL;
    wait->state = NGX_HTTP_PRIVACY_WAIT_FAILED;

    n = 3 + 3 * wait->nsync;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == n) {

        for (i = 0; i < n; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER
                || reply->element[i]->integer < 0)
            {
                break;
            }

            wait->values[i] = reply->element[i]->integer;
        }

        if (i == n && wait->values[1] <= (int64_t) wait->nsync) {
            wait->state = NGX_HTTP_PRIVACY_WAIT_ANSWERED;

        } else {
            ngx_log_error(NGX_LOG_ERR, wait->r->connection->log, 0,
                          "privacy: unexpected reply from redis");
        }
    }

    if (wait->ev.timer_set) {
        ngx_del_timer(&wait->ev);
    }

    /* woken from the event loop, not from inside hiredis */
    ngx_post_event(&wait->ev, &ngx_posted_events);
}


static void
ngx_http_privacy_limit_wake(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_privacy_limit_wait_t  *wait;

    wait = ev->data;
    r = wait->r;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (wait->call) {
            ngx_http_privacy_redis_detach(wait->call, wait->index, 1);
            wait->call = NULL;
        }

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "privacy: redis did not answer in time");

        wait->state = NGX_HTTP_PRIVACY_WAIT_FAILED;
    }

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_privacy_limit_wait_cleanup(void *data)
{
    ngx_http_privacy_limit_wait_t  *wait = data;

    if (wait->call) {
        ngx_http_privacy_redis_detach(wait->call, wait->index, 0);
        wait->call = NULL;
    }

    if (wait->ev.timer_set) {
        ngx_del_timer(&wait->ev);
    }

    if (wait->ev.posted) {
        ngx_delete_posted_event(&wait->ev);
    }
}


ngx_int_t
ngx_http_privacy_limit_ask_redis(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx)
{
    u_char                          *p;
    ngx_str_t                        keys[NGX_HTTP_PRIVACY_LIMITS_MAX];
    ngx_str_t                        args[2 * NGX_HTTP_PRIVACY_LIMITS_MAX];
    ngx_uint_t                       i, nsync;
    ngx_pool_cleanup_t              *cln;
    ngx_http_privacy_limit_t        *limits;
    ngx_http_privacy_limit_wait_t   *wait;
    ngx_http_privacy_limit_zone_t   *zone;
    ngx_http_privacy_main_conf_t    *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);
    limits = plcf->limits->elts;

    wait = ngx_pcalloc(r->pool, sizeof(ngx_http_privacy_limit_wait_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (wait == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    /*
     * Keys "privacy:{zone:HMAC(key)}": no address or account in Redis,
     * and each its own Cluster hash slot.  Arguments: interval and burst.
     */

    nsync = 0;

    for (i = 0; i < plcf->limits->nelts; i++) {
        zone = limits[i].zone->data;

        if (!ngx_http_privacy_limit_exact(zone)
            || !ngx_http_privacy_limit_keyed(&ctx->limit_key[i]))
        {
            continue;
        }

        p = ngx_pnalloc(r->pool, NGX_HTTP_PRIVACY_LIMIT_REDIS_KEY_LEN(zone)
                                 + 2 * NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        keys[nsync].data = p;
        p = ngx_http_privacy_limit_redis_key(pmcf, zone, &ctx->limit_key[i],
                                             p);
        if (p == NULL) {
            return NGX_ERROR;
        }

        keys[nsync].len = p - keys[nsync].data;

        args[2 * nsync].data = p;
        args[2 * nsync].len = ngx_http_privacy_decimal(p, zone->rate.interval)
                               - p;
        p += args[2 * nsync].len;

        args[2 * nsync + 1].data = p;
        args[2 * nsync + 1].len = ngx_http_privacy_decimal(p, limits[i].burst)
                                   - p;

        nsync++;
    }

    wait->r = r;
    wait->nsync = nsync;
    wait->state = NGX_HTTP_PRIVACY_WAIT_ASKED;
    wait->ev.handler = ngx_http_privacy_limit_wake;
    wait->ev.data = wait;
    wait->ev.log = r->connection->log;

    wait->call = ngx_http_privacy_redis_eval(pmcf->redis,
                                             &ngx_http_privacy_limit_script,
                                             nsync, keys, 2 * nsync, args,
                                             ngx_http_privacy_limit_redis_done,
                                             wait, &wait->index);
    if (wait->call == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_privacy_limit_wait_cleanup;
    cln->data = wait;
    ctx->limit_wait = wait;

    /* the worker goes on; the request waits for the reply or the timer */

    if (!r->connection->read->ready
        && ngx_handle_read_event(r->connection->read, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_add_timer(&wait->ev, ngx_http_privacy_redis_timeout(pmcf->redis));

    return NGX_AGAIN;
}


/* Redis was not asked or did not answer: privacy_redis's fail= decides */

ngx_int_t
ngx_http_privacy_limit_redis_failed(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx,
    uint64_t now)
{
    uint64_t                       retry;
    ngx_uint_t                     rejected;
    ngx_http_privacy_limit_t      *limits;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    if (ngx_http_privacy_redis_fail_closed(pmcf->redis)) {
        ctx->limit_status = NGX_HTTP_PRIVACY_LIMIT_ERROR;
        return ngx_http_privacy_refuse(r, ctx,
                                       NGX_HTTP_PRIVACY_LIMITER_UNAVAILABLE,
                                       "");
    }

    /* fail=open: the synced zones limit as local ones, on this node */

    if (plcf->limits->nelts > 1) {
        rejected = ngx_http_privacy_limit_ask(plcf, ctx, now, 1, &retry);

        if (rejected != NGX_CONF_UNSET_UINT) {
            limits = plcf->limits->elts;
            return ngx_http_privacy_limit_reject(r, ctx,
                                                 limits[rejected].zone->data,
                                                 retry);
        }
    }

    return ngx_http_privacy_limit_charge(r, plcf, ctx, now, NULL);
}


ngx_int_t
ngx_http_privacy_limit_answered(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx)
{
    int64_t                         *v;
    uint64_t                         now, retry;
    ngx_uint_t                       i, s, rejected;
    ngx_http_privacy_limit_t        *limits;
    ngx_http_privacy_limit_wait_t   *wait;
    ngx_http_privacy_limit_zone_t   *zone;

    wait = ctx->limit_wait;
    now = ngx_http_privacy_limit_now();
    limits = plcf->limits->elts;

    if (wait->state != NGX_HTTP_PRIVACY_WAIT_ANSWERED) {
        return ngx_http_privacy_limit_redis_failed(r, plcf, ctx, now);
    }

    if (wait->values[0] == 1) {
        return ngx_http_privacy_limit_charge(r, plcf, ctx, now, wait);
    }

    /* refused by Redis: remembered here until it may pass */

    rejected = NGX_CONF_UNSET_UINT;
    retry = (uint64_t) wait->values[2] * 1000;
    ctx->limit_nseen = 0;
    s = 0;

    for (i = 0; i < plcf->limits->nelts; i++) {
        zone = limits[i].zone->data;

        if (!ngx_http_privacy_limit_exact(zone)
            || !ngx_http_privacy_limit_keyed(&ctx->limit_key[i]))
        {
            continue;
        }

        v = &wait->values[3 + 3 * s++];
        ngx_http_privacy_limit_see(ctx, limits[i].zone, (uint64_t) v[0],
                                   (uint64_t) v[1] * 1000);

        if (s == (ngx_uint_t) wait->values[1]) {
            rejected = i;
            ngx_http_privacy_limit_block(zone, &ctx->limit_key[i],
                                         ctx->limit_hash[i], now,
                                         now + retry,
                                         now + (uint64_t) v[1] * 1000);
        }
    }

    if (rejected == NGX_CONF_UNSET_UINT) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_privacy_limit_reject(r, ctx, limits[rejected].zone->data,
                                         retry);
}
