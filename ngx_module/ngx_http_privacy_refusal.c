
/*
 * privacy-edge: refusals.
 *
 * A refusal is recorded in the request context and answered through
 * nginx's own error path: the handler or request body filter that refuses
 * returns the status, nginx finalizes the request as it would for any
 * error, and the header and body filters here turn the standard error page
 * into the JSON answer with a Privacy-Reason header.  So refusals from the
 * access phase and from the middle of a streaming body look the same, and
 * an operator's error_page for the status still wins: the internal
 * redirect clears r->ctx and the filters leave that page alone.
 *
 * Where "privacy_enforce report" is in force a refusal is only recorded:
 * the reason is kept for $privacy_decision and privacy_status, the check
 * returns NGX_HTTP_PRIVACY_REPORTED, and the phase handler or body filter
 * it returns to lets the request go on, untouched.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


#define NGX_HTTP_PRIVACY_JSON_MAX  1024


static ngx_int_t ngx_http_privacy_refusal_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_privacy_refusal_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* the reasons, as docs/directives.md names them, each with its status */
const ngx_http_privacy_reason_t
    ngx_http_privacy_reasons[NGX_HTTP_PRIVACY_REASONS] =
{
    { ngx_string("allow"), 0 },
    { ngx_string("consent_required"), NGX_HTTP_FORBIDDEN },
    { ngx_string("region_blocked"), 451 },
    { ngx_string("upload_too_large"), NGX_HTTP_REQUEST_ENTITY_TOO_LARGE },
    { ngx_string("upload_type"), NGX_HTTP_UNSUPPORTED_MEDIA_TYPE },
    { ngx_string("upload_mismatch"), NGX_HTTP_UNSUPPORTED_MEDIA_TYPE },
    { ngx_string("upload_malformed"), NGX_HTTP_BAD_REQUEST },
    { ngx_string("rate_limited"), NGX_HTTP_TOO_MANY_REQUESTS },
    { ngx_string("limiter_unavailable"), NGX_HTTP_SERVICE_UNAVAILABLE }
};


/* $privacy_decision in report mode; privacy_status shows them unprefixed */
const ngx_str_t  ngx_http_privacy_report_names[NGX_HTTP_PRIVACY_REPORTS] = {
    ngx_string("allow"),
    ngx_string("report:consent_required"),
    ngx_string("report:region_blocked"),
    ngx_string("report:upload_too_large"),
    ngx_string("report:upload_type"),
    ngx_string("report:upload_mismatch"),
    ngx_string("report:upload_malformed"),
    ngx_string("report:rate_limited"),
    ngx_string("report:limiter_unavailable"),
    ngx_string("report:cookie_filtered")
};


ngx_uint_t
ngx_http_privacy_report_mode(ngx_http_request_t *r)
{
    ngx_http_privacy_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);

    return plcf->enforce == NGX_HTTP_PRIVACY_ENFORCE_REPORT;
}


static ngx_int_t
ngx_http_privacy_vrefuse(ngx_http_request_t *r, ngx_http_privacy_ctx_t *ctx,
    ngx_uint_t status, ngx_http_privacy_reason_e reason, const char *fmt,
    va_list args)
{
    u_char      *p, *last;
    ngx_str_t   *name;
    ngx_uint_t   report;

    if (ctx->status) {
        return ctx->status;      /* the first reason stands */
    }

    report = ngx_http_privacy_report_mode(r);

    if (ctx->upload_set
        && (reason == NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE
            || reason == NGX_HTTP_PRIVACY_UPLOAD_TYPE
            || reason == NGX_HTTP_PRIVACY_UPLOAD_MISMATCH
            || reason == NGX_HTTP_PRIVACY_UPLOAD_MALFORMED))
    {
        report = ctx->upload_report;
    }

    if (report && ctx->report) {
        return NGX_HTTP_PRIVACY_REPORTED;   /* the first reason stands */
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_PRIVACY_JSON_MAX);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name = (ngx_str_t *) &ngx_http_privacy_reasons[reason].name;

    ctx->reason = reason;
    ctx->body.data = p;

    last = p + NGX_HTTP_PRIVACY_JSON_MAX - 3;
    p = ngx_slprintf(p, last, "{\"error\":\"%V\"", name);
    p = ngx_vslprintf(p, last, fmt, args);

    *p++ = '}';
    *p++ = LF;
    ctx->body.len = p - ctx->body.data;

    if (report) {
        /* recorded, and the request goes on as it came */
        ctx->report = 1;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "privacy: report: would refuse %ui %V: %*s", status,
                      name, ctx->body.len - 1, ctx->body.data);

        return NGX_HTTP_PRIVACY_REPORTED;
    }

    ctx->status = status;

    /* what the client intended to send may still be on its way */
    r->expect_tested = 1;
    r->keepalive = 0;
    r->lingering_close = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "privacy: refused %ui %V: %*s", status, name,
                  ctx->body.len - 1, ctx->body.data);

    return status;
}


/*
 * Records a refusal and returns its status for the caller to return.
 * fmt adds JSON members after "error", each starting with a comma; string
 * values from the client must be escaped by the caller
 * (ngx_http_privacy_json_escape).
 */

ngx_int_t
ngx_http_privacy_refuse(ngx_http_request_t *r, ngx_http_privacy_ctx_t *ctx,
    ngx_http_privacy_reason_e reason, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_privacy_vrefuse(r, ctx,
                                  ngx_http_privacy_reasons[reason].status,
                                  reason, fmt, args);
    va_end(args);

    return rc;
}


/* likewise, with a status of the operator's (privacy_require status=) */

ngx_int_t
ngx_http_privacy_refuse_with(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_uint_t status,
    ngx_http_privacy_reason_e reason, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_privacy_vrefuse(r, ctx, status, reason, fmt, args);
    va_end(args);

    return rc;
}


ngx_str_t *
ngx_http_privacy_json_escape(ngx_pool_t *pool, u_char *s, size_t len)
{
    size_t      n;
    ngx_str_t  *out;

    /* bounded: a hostile value must not grow the answer without end */
    len = ngx_min(len, 128);

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    if (out == NULL) {
        return NULL;
    }

    n = ngx_escape_json(NULL, s, len);

    out->data = ngx_pnalloc(pool, len + n);
    if (out->data == NULL) {
        return NULL;
    }

    ngx_escape_json(out->data, s, len);
    out->len = len + n;

    return out;
}


static ngx_int_t
ngx_http_privacy_refusal_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t         *h;
    ngx_http_privacy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /* r->ctx only: after an error_page redirect the operator's page wins */
    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (ctx == NULL || ctx->status == 0
        || r->headers_out.status != ctx->status)
    {
        return ngx_http_next_header_filter(r);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Privacy-Reason");
    h->value = ngx_http_privacy_reasons[ctx->reason].name;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    r->headers_out.content_length_n = ctx->body.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    ctx->body_replaced = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_privacy_refusal_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t               *b;
    ngx_chain_t             *cl, out;
    ngx_http_privacy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (ctx == NULL || !ctx->body_replaced || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's own error page is swallowed; the JSON goes out once */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->body.len = 0;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_privacy_refusal_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_privacy_refusal_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_privacy_refusal_body_filter;

    return NGX_OK;
}
