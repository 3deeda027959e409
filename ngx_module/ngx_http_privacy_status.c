
/*
 * privacy-edge: counters of decisions, by reason and region group.
 *
 * Kept in a shared memory zone so that every worker adds to the same
 * numbers; counted once per request in the log phase, from the decision
 * the request ended with.  A request that privacy_enforce report let
 * through although a check would have refused it is counted apart, by
 * that reason, and so is one whose cookies the filter would have
 * dropped.  privacy_status shows them as JSON, or as Prometheus text
 * with ?format=prometheus.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


#define NGX_HTTP_PRIVACY_GROUP_SLOTS  (NGX_HTTP_PRIVACY_GROUPS_MAX + 2)




/* $privacy_limit_status: PASSED, DELAYED, REJECTED, ERROR */
#define NGX_HTTP_PRIVACY_LIMIT_STATES  5

static const char  *ngx_http_privacy_limit_states[] = {
    NULL, "passed", "delayed", "rejected", "error"
};


static const char  *ngx_http_privacy_redis_events[] = {
    "calls", "replies", "errors", "timeouts", "skipped"
};


static const char  *ngx_http_privacy_sync_events[] = {
    "keys", "lost"
};


/* upper bounds of the Redis latency histogram, ms; the last is +Inf */
static ngx_msec_t  ngx_http_privacy_latency_bounds[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000
};

#define NGX_HTTP_PRIVACY_LATENCY_BUCKETS  11


typedef struct {
    ngx_atomic_t  decisions[NGX_HTTP_PRIVACY_REASONS]
                           [NGX_HTTP_PRIVACY_GROUP_SLOTS];
    ngx_atomic_t  report[NGX_HTTP_PRIVACY_REPORTS]    /* [0]: unused */
                        [NGX_HTTP_PRIVACY_GROUP_SLOTS];
    ngx_atomic_t  limits[NGX_HTTP_PRIVACY_LIMIT_STATES];
    ngx_atomic_t  redis[NGX_HTTP_PRIVACY_REDIS_EVENTS];
    ngx_atomic_t  sync[NGX_HTTP_PRIVACY_SYNC_EVENTS];
    ngx_atomic_t  latency[NGX_HTTP_PRIVACY_LATENCY_BUCKETS];
    ngx_atomic_t  latency_sum;          /* ms */
} ngx_http_privacy_counters_t;


static ngx_int_t ngx_http_privacy_status_zone_init(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_privacy_status_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_privacy_status_handler(ngx_http_request_t *r);


static ngx_str_t  ngx_http_privacy_zone_name =
    ngx_string("ngx_http_privacy_status");


char *
ngx_http_privacy_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_privacy_status_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_status_init(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    pmcf->status_zone = ngx_shared_memory_add(cf, &ngx_http_privacy_zone_name,
                                              64 * ngx_pagesize,
                                              &ngx_http_privacy_module);
    if (pmcf->status_zone == NULL) {
        return NGX_ERROR;
    }

    pmcf->status_zone->init = ngx_http_privacy_status_zone_init;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_status_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_status_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        /* a reload: the counts go on */
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    zone->data = ngx_slab_calloc(shpool, sizeof(ngx_http_privacy_counters_t));
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    shpool->data = zone->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_status_log(ngx_http_request_t *r)
{
    ngx_uint_t                     reason, group;
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_counters_t   *counters;
    ngx_http_privacy_main_conf_t  *pmcf;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_privacy_get_ctx(r);

    /* a request the module had nothing to say about is not counted */
    if (ctx == NULL || !(ctx->evaluated || ctx->status || ctx->report
                         || ctx->upload_checked || ctx->limit_status))
    {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);
    counters = pmcf->status_zone->data;

    group = ctx->group_index < NGX_HTTP_PRIVACY_GROUP_SLOTS
            ? ctx->group_index : 0;

    /* once: refused, or else reported (privacy_enforce report), or else */

    if (ctx->status) {
        (void) ngx_atomic_fetch_add(&counters->decisions[ctx->reason][group],
                                    1);

    } else if (ctx->report || ctx->cookies_report) {
        reason = ctx->report ? ctx->reason : NGX_HTTP_PRIVACY_COOKIE_FILTERED;
        (void) ngx_atomic_fetch_add(&counters->report[reason][group], 1);

    } else {
        (void) ngx_atomic_fetch_add(
                   &counters->decisions[NGX_HTTP_PRIVACY_ALLOW][group], 1);
    }

    if (ctx->limit_status && ctx->limit_status < NGX_HTTP_PRIVACY_LIMIT_STATES)
    {
        (void) ngx_atomic_fetch_add(&counters->limits[ctx->limit_status], 1);
    }

    return NGX_OK;
}


void
ngx_http_privacy_status_sync(ngx_http_privacy_main_conf_t *pmcf,
    ngx_uint_t event, ngx_uint_t n)
{
    ngx_http_privacy_counters_t  *counters;

    counters = pmcf->status_zone->data;

    (void) ngx_atomic_fetch_add(&counters->sync[event], n);
}


void
ngx_http_privacy_status_redis(ngx_http_privacy_main_conf_t *pmcf,
    ngx_uint_t event, ngx_msec_t latency)
{
    ngx_uint_t                    i;
    ngx_http_privacy_counters_t  *counters;

    counters = pmcf->status_zone->data;

    (void) ngx_atomic_fetch_add(&counters->redis[event], 1);

    if (event != NGX_HTTP_PRIVACY_REDIS_REPLIES) {
        return;
    }

    for (i = 0; i < NGX_HTTP_PRIVACY_LATENCY_BUCKETS - 1; i++) {
        if (latency <= ngx_http_privacy_latency_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&counters->latency[i], 1);
    (void) ngx_atomic_fetch_add(&counters->latency_sum, latency);
}


static ngx_str_t *
ngx_http_privacy_group_name(ngx_http_privacy_main_conf_t *pmcf, ngx_uint_t i)
{
    static ngx_str_t           none = ngx_string("none");
    static ngx_str_t           unknown = ngx_string("unknown");
    ngx_http_privacy_group_t  *g;

    if (i == 0) {
        return &none;
    }

    if (i == 1) {
        return &unknown;
    }

    g = pmcf->groups.elts;

    return (i - 2 < pmcf->groups.nelts) ? &g[i - 2].name : NULL;
}


/*
 * The counts by reason and group: the decisions (report 0), or the
 * reports of privacy_enforce report, by the reason "on" would have
 * refused for, and cookie_filtered.  JSON: "reason":{"group":n,...,
 * "total":n},...; Prometheus: a line per reason and group, the reports
 * with mode="report".
 */

static u_char *
ngx_http_privacy_status_table(u_char *p, u_char *last,
    ngx_http_privacy_main_conf_t *pmcf, ngx_atomic_t *counts,
    ngx_uint_t report, ngx_uint_t prometheus)
{
    ngx_str_t          *gname, name;
    ngx_uint_t          reason, group, first, total, n_reasons;
    ngx_atomic_uint_t   n;

    n_reasons = report ? NGX_HTTP_PRIVACY_REPORTS : NGX_HTTP_PRIVACY_REASONS;

    /* the reports have no "allow" */
    for (reason = report; reason < n_reasons; reason++) {

        if (report) {
            name.data = ngx_http_privacy_report_names[reason].data + 7;
            name.len = ngx_http_privacy_report_names[reason].len - 7;

        } else {
            name = ngx_http_privacy_reasons[reason].name;
        }

        if (!prometheus) {
            p = ngx_slprintf(p, last, "%s\"%V\":{",
                             reason > report ? "," : "", &name);
        }

        first = 1;
        total = 0;

        for (group = 0; group < NGX_HTTP_PRIVACY_GROUP_SLOTS; group++) {
            n = counts[reason * NGX_HTTP_PRIVACY_GROUP_SLOTS + group];
            gname = ngx_http_privacy_group_name(pmcf, group);

            if (gname == NULL || (n == 0 && group > 1)) {
                continue;
            }

            total += n;

            if (prometheus) {
                p = ngx_slprintf(p, last,
                                 "privacy_decisions_total{reason=\"%V\","
                                 "group=\"%V\"%s} %uA\n",
                                 &name, gname,
                                 report ? ",mode=\"report\"" : "", n);
                continue;
            }

            p = ngx_slprintf(p, last, "%s\"%V\":%uA", first ? "" : ",",
                             gname, n);
            first = 0;
        }

        if (!prometheus) {
            p = ngx_slprintf(p, last, ",\"total\":%ui}", total);
        }
    }

    return p;
}


static ngx_int_t
ngx_http_privacy_status_handler(ngx_http_request_t *r)
{
    size_t                         size;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_str_t                      format;
    ngx_uint_t                     prometheus, i;
    ngx_chain_t                    out;
    ngx_atomic_uint_t              n;
    ngx_http_privacy_counters_t   *counters;
    ngx_http_privacy_main_conf_t  *pmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
                 && format.len == 10
                 && ngx_strncmp(format.data, "prometheus", 10) == 0;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);
    counters = pmcf->status_zone->data;

    size = 4096 + (NGX_HTTP_PRIVACY_REASONS + NGX_HTTP_PRIVACY_REPORTS)
                  * NGX_HTTP_PRIVACY_GROUP_SLOTS
                  * (64 + 48 + NGX_ATOMIC_T_LEN);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (prometheus) {
        b->last = ngx_cpymem(b->last,
                      "# HELP privacy_decisions_total Requests decided, by "
                      "reason and region group; mode=\"report\": not "
                      "refused, privacy_enforce report.\n"
                      "# TYPE privacy_decisions_total counter\n",
                      sizeof("# HELP privacy_decisions_total Requests "
                             "decided, by reason and region group; "
                             "mode=\"report\": not refused, privacy_enforce "
                             "report.\n"
                             "# TYPE privacy_decisions_total counter\n") - 1);
    } else {
        b->last = ngx_cpymem(b->last, "{\"decisions\":{", 14);
    }

    b->last = ngx_http_privacy_status_table(b->last, b->end, pmcf,
                                            &counters->decisions[0][0], 0,
                                            prometheus);

    if (!prometheus) {
        b->last = ngx_cpymem(b->last, "},\"report\":{", 12);
    }

    b->last = ngx_http_privacy_status_table(b->last, b->end, pmcf,
                                            &counters->report[0][0], 1,
                                            prometheus);

    if (prometheus) {
        b->last = ngx_slprintf(b->last, b->end,
                      "# HELP privacy_limit_requests_total Requests of "
                      "limited locations, by outcome.\n"
                      "# TYPE privacy_limit_requests_total counter\n");

        for (i = 1; i < NGX_HTTP_PRIVACY_LIMIT_STATES; i++) {
            b->last = ngx_slprintf(b->last, b->end,
                          "privacy_limit_requests_total{outcome=\"%s\"} "
                          "%uA\n", ngx_http_privacy_limit_states[i],
                          counters->limits[i]);
        }

        b->last = ngx_slprintf(b->last, b->end,
                      "# HELP privacy_redis_total Calls to the Redis of "
                      "sync=redis zones, by event.\n"
                      "# TYPE privacy_redis_total counter\n");

        for (i = 0; i < NGX_HTTP_PRIVACY_REDIS_EVENTS; i++) {
            b->last = ngx_slprintf(b->last, b->end,
                          "privacy_redis_total{event=\"%s\"} %uA\n",
                          ngx_http_privacy_redis_events[i],
                          counters->redis[i]);
        }

        b->last = ngx_slprintf(b->last, b->end,
                      "# HELP privacy_redis_latency_ms Redis round trips, "
                      "by time to the reply.\n"
                      "# TYPE privacy_redis_latency_ms histogram\n");

        for (i = 0, n = 0; i < NGX_HTTP_PRIVACY_LATENCY_BUCKETS; i++) {
            n += counters->latency[i];

            if (i < NGX_HTTP_PRIVACY_LATENCY_BUCKETS - 1) {
                b->last = ngx_slprintf(b->last, b->end,
                              "privacy_redis_latency_ms_bucket{le=\"%M\"} "
                              "%uA\n", ngx_http_privacy_latency_bounds[i], n);
            } else {
                b->last = ngx_slprintf(b->last, b->end,
                              "privacy_redis_latency_ms_bucket{le=\"+Inf\"} "
                              "%uA\n", n);
            }
        }

        b->last = ngx_slprintf(b->last, b->end,
                               "privacy_redis_latency_ms_sum %uA\n"
                               "privacy_redis_latency_ms_count %uA\n",
                               counters->latency_sum, n);

        b->last = ngx_slprintf(b->last, b->end,
                      "# HELP privacy_limit_sync_total What sync_interval "
                      "zones exchanged with Redis: keys answered, charges "
                      "whose answer was lost.\n"
                      "# TYPE privacy_limit_sync_total counter\n");

        for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_EVENTS; i++) {
            b->last = ngx_slprintf(b->last, b->end,
                          "privacy_limit_sync_total{event=\"%s\"} %uA\n",
                          ngx_http_privacy_sync_events[i],
                          counters->sync[i]);
        }

    } else {
        b->last = ngx_slprintf(b->last, b->end, "},\"limits\":{");

        for (i = 1; i < NGX_HTTP_PRIVACY_LIMIT_STATES; i++) {
            b->last = ngx_slprintf(b->last, b->end, "%s\"%s\":%uA",
                                   i > 1 ? "," : "",
                                   ngx_http_privacy_limit_states[i],
                                   counters->limits[i]);
        }

        b->last = ngx_slprintf(b->last, b->end, "},\"redis\":{");

        for (i = 0; i < NGX_HTTP_PRIVACY_REDIS_EVENTS; i++) {
            b->last = ngx_slprintf(b->last, b->end, "\"%s\":%uA,",
                                   ngx_http_privacy_redis_events[i],
                                   counters->redis[i]);
        }

        b->last = ngx_slprintf(b->last, b->end, "\"latency_ms\":{");

        /* cumulative, as Prometheus buckets: "le5" counts all <= 5 ms */
        for (i = 0, n = 0; i < NGX_HTTP_PRIVACY_LATENCY_BUCKETS - 1; i++) {
            n += counters->latency[i];
            b->last = ngx_slprintf(b->last, b->end, "\"le%M\":%uA,",
                                   ngx_http_privacy_latency_bounds[i], n);
        }

        n += counters->latency[i];
        b->last = ngx_slprintf(b->last, b->end, "\"count\":%uA,", n);

        b->last = ngx_slprintf(b->last, b->end, "\"sum\":%uA}},\"sync\":{",
                               counters->latency_sum);

        for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_EVENTS; i++) {
            b->last = ngx_slprintf(b->last, b->end, "%s\"%s\":%uA",
                                   i ? "," : "",
                                   ngx_http_privacy_sync_events[i],
                                   counters->sync[i]);
        }

        b->last = ngx_slprintf(b->last, b->end, "}}\n");
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    if (prometheus) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
