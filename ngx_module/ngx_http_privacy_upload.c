
/*
 * privacy-edge: the upload gate.
 *
 * What the headers already tell is refused in the access phase, before a
 * byte of the body is read: a Content-Length over the cap, a type that is
 * not allowed.  Everything else is checked in a request body filter while
 * the body streams in, ahead of nginx's own save filter: the byte count of
 * chunked and HTTP/2 bodies, each multipart file part's type and cap, and
 * the leading bytes of each file against its declared type.
 *
 * With request buffering on (the default) the upstream is contacted only
 * after the whole body passed this filter, so it sees nothing of a refused
 * body.  With proxy_request_buffering off the filter holds the body back
 * (copied, up to NGX_HTTP_PRIVACY_HOLD_MAX) until the first file has been
 * judged; a refusal after that point aborts the upstream request before
 * its body is complete.
 *
 * In report mode (privacy_enforce report) a check that would refuse
 * returns NGX_HTTP_PRIVACY_REPORTED: in the access phase the body is then
 * not inspected at all, in this filter no further; either way it goes on
 * as it came.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"
#include "pe_media_type.h"
#include "pe_multipart.h"
#include "pe_sniff.h"


#define NGX_HTTP_PRIVACY_HOLD_MAX  65536


struct ngx_http_privacy_upload_s {
    ngx_http_request_t           *request;
    ngx_http_privacy_ctx_t       *ctx;
    ngx_http_privacy_loc_conf_t  *conf;

    off_t                         limit;        /* whole body, 0: none */
    off_t                         received;

    pe_multipart_t               *multipart;
    ngx_int_t                     rc;           /* refusal in a callback */

    /* the raw body, or the multipart file part being read */
    ngx_str_t                     type;
    u_char                        type_data[PE_MEDIA_TYPE_MAX + 1];
    ngx_str_t                     part;         /* ,"part":"name" or "" */
    off_t                         size;
    off_t                         size_limit;
    u_char                        head[PE_SNIFF_BYTES];
    size_t                        head_len;

    ngx_buf_t                    *hold;

    unsigned                      in_file:1;
    unsigned                      deferred:1;   /* length unknown, no byte
                                                   seen yet */
    unsigned                      sniffing:1;
    unsigned                      verdict:1;    /* the first file judged */
    unsigned                      released:1;   /* nothing held any more */
    unsigned                      reported:1;   /* report mode: would have
                                                   refused, passes */
};


static ngx_int_t ngx_http_privacy_upload_start(
    ngx_http_privacy_upload_t *up);
static ngx_int_t ngx_http_privacy_upload_file(ngx_http_privacy_upload_t *up,
    const char *type, size_t len);
static ngx_int_t ngx_http_privacy_upload_data(ngx_http_privacy_upload_t *up,
    const u_char *p, size_t n);
static ngx_int_t ngx_http_privacy_upload_judge(ngx_http_privacy_upload_t *up,
    ngx_uint_t complete);
static ngx_int_t ngx_http_privacy_upload_inspect(
    ngx_http_privacy_upload_t *up, u_char *p, size_t n);
static void ngx_http_privacy_upload_reported(ngx_http_privacy_upload_t *up);
static ngx_int_t ngx_http_privacy_upload_hold(ngx_http_request_t *r,
    ngx_http_privacy_upload_t *up, ngx_chain_t *in, ngx_uint_t last);
static ngx_int_t ngx_http_privacy_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static int ngx_http_privacy_part_begin(void *data, const pe_mp_part_t *part);
static int ngx_http_privacy_part_data(void *data, const unsigned char *p,
    size_t n);
static int ngx_http_privacy_part_end(void *data);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;

static const pe_mp_callbacks_t  ngx_http_privacy_part_callbacks = {
    ngx_http_privacy_part_begin,
    ngx_http_privacy_part_data,
    ngx_http_privacy_part_end
};


ngx_int_t
ngx_http_privacy_upload_access(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx)
{
    off_t                       len;
    ngx_http_privacy_upload_t  *up;

    if (ctx->upload_checked) {
        return NGX_DECLINED;
    }

    ctx->upload_checked = 1;

    len = r->headers_in.content_length_n;

    if (len <= 0 && !r->headers_in.chunked) {
        return NGX_DECLINED;
    }

    if (plcf->upload_max_size && len > plcf->upload_max_size) {
        return ngx_http_privacy_refuse(r, ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE,
                                       ",\"limit\":%O",
                                       plcf->upload_max_size);
    }

    up = ngx_pcalloc(r->pool, sizeof(ngx_http_privacy_upload_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->request = r;
    up->ctx = ctx;
    up->conf = plcf;

    /* the body is judged, and refused or reported, by this location's
       rules, wherever an internal redirect takes the request meanwhile */
    ctx->upload_set = 1;
    ctx->upload_report = plcf->enforce == NGX_HTTP_PRIVACY_ENFORCE_REPORT;
    up->limit = plcf->upload_max_size;

    if (plcf->upload_types == NULL && !plcf->upload_sniff) {
        /* the size alone is checked: nothing to wait for */
        up->verdict = 1;
        ctx->upload = up;
        return NGX_DECLINED;
    }

    if (len < 0) {
        /*
         * Chunked, or HTTP/2 without a length: an empty body is no upload
         * (as "Content-Length: 0" is none), and whether this one is empty
         * is known at its first byte or at its end.
         */
        up->deferred = 1;
        ctx->upload = up;
        return NGX_DECLINED;
    }

    return ngx_http_privacy_upload_start(up);
}


/* what the Content-Type says the body is: multipart, or one raw file */

static ngx_int_t
ngx_http_privacy_upload_start(ngx_http_privacy_upload_t *up)
{
    off_t                    len;
    ngx_int_t                rc;
    ngx_str_t               *raw;
    ngx_table_elt_t         *ct;
    pe_media_type_t          mt;
    ngx_http_request_t      *r;
    ngx_http_privacy_ctx_t  *ctx;

    r = up->request;
    ctx = up->ctx;
    len = r->headers_in.content_length_n;

    ct = r->headers_in.content_type;

    if (ct == NULL) {
        return ngx_http_privacy_refuse(r, ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TYPE,
                                       ",\"type\":null");
    }

    if (pe_media_type_parse(ct->value.data, ct->value.len, &mt) != 0) {
        raw = ngx_http_privacy_json_escape(r->pool, ct->value.data,
                                           ct->value.len);
        if (raw == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_privacy_refuse(r, ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TYPE,
                                       ",\"type\":\"%V\"",
                                       raw);
    }

    if (mt.type_len == sizeof("multipart/form-data") - 1
        && ngx_strncmp(mt.type, "multipart/form-data", mt.type_len) == 0)
    {
        if (mt.boundary_len == 0) {
            return ngx_http_privacy_refuse(r, ctx,
                                           NGX_HTTP_PRIVACY_UPLOAD_MALFORMED,
                                           ",\"detail\":\"no boundary\"");
        }

        up->multipart = ngx_palloc(r->pool, sizeof(pe_multipart_t));
        if (up->multipart == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) pe_multipart_init(up->multipart, (u_char *) mt.boundary,
                                 mt.boundary_len, 0,
                                 &ngx_http_privacy_part_callbacks, up);

        ctx->upload = up;
        return NGX_DECLINED;
    }

    /* a raw body is one file */

    rc = ngx_http_privacy_upload_file(up, mt.type, mt.type_len);
    if (rc != NGX_OK) {
        return rc;
    }

    if (up->size_limit && len > up->size_limit) {
        return ngx_http_privacy_refuse(r, ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE,
                                       ",\"limit\":%O,\"type\":\"%V\"",
                                       up->size_limit, &up->type);
    }

    ctx->upload = up;

    return NGX_DECLINED;
}


/* a file begins: the raw body, or a file part of a multipart body */

static ngx_int_t
ngx_http_privacy_upload_file(ngx_http_privacy_upload_t *up, const char *type,
    size_t len)
{
    ngx_uint_t                       i, pass;
    ngx_http_request_t              *r;
    ngx_http_privacy_upload_type_t  *t;

    r = up->request;

    ngx_memcpy(up->type_data, type, len);
    up->type.data = up->type_data;
    up->type.len = len;
    up->size = 0;
    up->size_limit = 0;
    up->head_len = 0;
    up->sniffing = 0;
    up->in_file = 1;

    if (up->conf->upload_types) {
        t = up->conf->upload_types->elts;

        /* an exact type wins over a wildcard, whatever the order */
        for (pass = 0; pass < 2; pass++) {
            for (i = 0; i < up->conf->upload_types->nelts; i++) {
                if ((pass == 0)
                    == (t[i].pattern.data[t[i].pattern.len - 1] == '*'))
                {
                    continue;
                }

                if (pe_media_type_match((char *) t[i].pattern.data,
                                        t[i].pattern.len, type, len))
                {
                    up->size_limit = t[i].max_size;
                    goto allowed;
                }
            }
        }

        return ngx_http_privacy_refuse(r, up->ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TYPE,
                                       ",\"type\":\"%V\"%V",
                                       &up->type, &up->part);
    }

allowed:

    if (up->conf->upload_sniff) {
        if (!pe_sniff_known(type, len)) {
            return ngx_http_privacy_refuse(r, up->ctx,
                                   NGX_HTTP_PRIVACY_UPLOAD_MISMATCH,
                                   ",\"type\":\"%V\",\"detected\":null%V,"
                                   "\"detail\":\"no signature is known for "
                                   "this type\"", &up->type, &up->part);
        }

        up->sniffing = 1;

    } else {
        up->verdict = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_upload_data(ngx_http_privacy_upload_t *up, const u_char *p,
    size_t n)
{
    size_t  take;

    up->size += n;

    if (up->size_limit && up->size > up->size_limit) {
        return ngx_http_privacy_refuse(up->request, up->ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE,
                                       ",\"limit\":%O,\"type\":\"%V\"%V",
                                       up->size_limit, &up->type, &up->part);
    }

    if (!up->sniffing) {
        return NGX_OK;
    }

    take = ngx_min(n, PE_SNIFF_BYTES - up->head_len);
    ngx_memcpy(up->head + up->head_len, p, take);
    up->head_len += take;

    return ngx_http_privacy_upload_judge(up, 0);
}


static ngx_int_t
ngx_http_privacy_upload_judge(ngx_http_privacy_upload_t *up,
    ngx_uint_t complete)
{
    const char     *detected;
    pe_sniff_rc_e   rc;

    if (!up->sniffing) {
        return NGX_OK;
    }

    rc = pe_sniff_check((char *) up->type.data, up->type.len, up->head,
                        up->head_len, (int) complete);

    if (rc == PE_SNIFF_NEED_MORE) {
        return NGX_OK;
    }

    up->sniffing = 0;
    up->verdict = 1;

    if (rc == PE_SNIFF_MATCH) {
        return NGX_OK;
    }

    detected = pe_sniff_detect(up->head, up->head_len);

    if (detected == NULL) {
        return ngx_http_privacy_refuse(up->request, up->ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_MISMATCH,
                                       ",\"type\":\"%V\",\"detected\":null%V",
                                       &up->type, &up->part);
    }

    return ngx_http_privacy_refuse(up->request, up->ctx,
                                   NGX_HTTP_PRIVACY_UPLOAD_MISMATCH,
                                   ",\"type\":\"%V\",\"detected\":\"%s\"%V",
                                   &up->type, detected, &up->part);
}


static int
ngx_http_privacy_part_begin(void *data, const pe_mp_part_t *part)
{
    u_char                     *p;
    ngx_str_t                  *name;
    ngx_http_privacy_upload_t  *up = data;

    up->in_file = 0;

    /* a typed part is a file even without a filename: it is checked too */
    if (!part->is_file
        && (!part->has_type
            || (part->type_len == 10
                && ngx_strncmp(part->type, "text/plain", 10) == 0)))
    {
        return 0;
    }

    name = ngx_http_privacy_json_escape(up->request->pool,
                                        (u_char *) part->name,
                                        part->name_len);
    if (name == NULL) {
        up->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return 1;
    }

    p = ngx_pnalloc(up->request->pool, name->len + sizeof(",\"part\":\"\""));
    if (p == NULL) {
        up->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return 1;
    }

    up->part.data = p;
    up->part.len = ngx_sprintf(p, ",\"part\":\"%V\"", name) - p;

    /* RFC 7578: a part without a Content-Type is of no known media type */
    if (part->has_type) {
        up->rc = ngx_http_privacy_upload_file(up, part->type, part->type_len);

    } else {
        up->rc = ngx_http_privacy_upload_file(up, "application/octet-stream",
                                          sizeof("application/octet-stream")
                                          - 1);
    }

    return up->rc != NGX_OK;
}


static int
ngx_http_privacy_part_data(void *data, const unsigned char *p, size_t n)
{
    ngx_http_privacy_upload_t  *up = data;

    if (!up->in_file) {
        return 0;
    }

    up->rc = ngx_http_privacy_upload_data(up, p, n);

    return up->rc != NGX_OK;
}


static int
ngx_http_privacy_part_end(void *data)
{
    ngx_http_privacy_upload_t  *up = data;

    if (!up->in_file) {
        return 0;
    }

    up->in_file = 0;
    up->rc = ngx_http_privacy_upload_judge(up, 1);

    return up->rc != NGX_OK;
}


static ngx_int_t
ngx_http_privacy_upload_inspect(ngx_http_privacy_upload_t *up, u_char *p,
    size_t n)
{
    ngx_str_t   *why;
    pe_mp_rc_e   rc;

    up->received += n;

    if (up->limit && up->received > up->limit) {
        return ngx_http_privacy_refuse(up->request, up->ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_TOO_LARGE,
                                       ",\"limit\":%O",
                                       up->limit);
    }

    if (up->multipart == NULL) {
        return up->in_file ? ngx_http_privacy_upload_data(up, p, n) : NGX_OK;
    }

    rc = pe_multipart_feed(up->multipart, p, n);

    if (rc == PE_MP_STOPPED) {
        return up->rc;
    }

    if (rc == PE_MP_ERROR) {
        why = ngx_http_privacy_json_escape(up->request->pool,
                  (u_char *) pe_multipart_error(up->multipart),
                  ngx_strlen(pe_multipart_error(up->multipart)));
        if (why == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_privacy_refuse(up->request, up->ctx,
                                       NGX_HTTP_PRIVACY_UPLOAD_MALFORMED,
                                       ",\"detail\":\"%V\"", why);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_upload_finish(ngx_http_privacy_upload_t *up)
{
    ngx_str_t  *why;

    if (up->multipart == NULL) {
        return ngx_http_privacy_upload_judge(up, 1);
    }

    if (pe_multipart_finish(up->multipart) == PE_MP_OK) {
        return NGX_OK;
    }

    why = ngx_http_privacy_json_escape(up->request->pool,
              (u_char *) pe_multipart_error(up->multipart),
              ngx_strlen(pe_multipart_error(up->multipart)));
    if (why == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_privacy_refuse(up->request, up->ctx,
                                   NGX_HTTP_PRIVACY_UPLOAD_MALFORMED,
                                   ",\"detail\":\"%V\"",
                                   why);
}


static ngx_int_t
ngx_http_privacy_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  last;
    ngx_chain_t                *cl;
    ngx_http_privacy_ctx_t     *ctx;
    ngx_http_privacy_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (ctx == NULL || ctx->upload == NULL) {
        return ngx_http_next_request_body_filter(r, in);
    }

    if (ctx->status) {
        return ctx->status;     /* refused: not a byte more goes on */
    }

    up = ctx->upload;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        if (up->reported) {
            continue;
        }

        if (up->deferred && (b->in_file || b->last > b->pos)) {
            up->deferred = 0;

            rc = ngx_http_privacy_upload_start(up);

            if (rc == NGX_HTTP_PRIVACY_REPORTED) {
                ngx_http_privacy_upload_reported(up);
                continue;
            }

            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        if (b->in_file) {
            /* bodies reach this filter in memory; count what is not */
            up->received += b->file_last - b->file_pos;

        } else if (b->last > b->pos) {
            rc = ngx_http_privacy_upload_inspect(up, b->pos, b->last - b->pos);

            if (rc == NGX_HTTP_PRIVACY_REPORTED) {
                ngx_http_privacy_upload_reported(up);
                continue;
            }

            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    if (up->reported) {
        /* void */

    } else if (last && up->deferred) {
        /* it ended before a byte of it came: no upload */
        up->deferred = 0;
        up->verdict = 1;

    } else if (last) {
        rc = ngx_http_privacy_upload_finish(up);

        if (rc == NGX_HTTP_PRIVACY_REPORTED) {
            ngx_http_privacy_upload_reported(up);

        } else if (rc != NGX_OK) {
            return rc;
        }
    }

    if (!r->request_body_no_buffering || up->released || in == NULL) {
        return ngx_http_next_request_body_filter(r, in);
    }

    return ngx_http_privacy_upload_hold(r, up, in, last);
}


/*
 * Report mode: a check would have refused the body.  Nothing more of it
 * is inspected (with "on" nothing more would have been read), and what
 * is held back is let go: the body goes on unchanged.
 */

static void
ngx_http_privacy_upload_reported(ngx_http_privacy_upload_t *up)
{
    up->reported = 1;
    up->deferred = 0;
    up->sniffing = 0;
    up->verdict = 1;
}


/*
 * Unbuffered bodies go to the upstream as they arrive: hold them back
 * until the first file is judged.  The bytes are copied, because the
 * buffers they come in are reused for the next read.
 */

static ngx_int_t
ngx_http_privacy_upload_hold(ngx_http_request_t *r,
    ngx_http_privacy_upload_t *up, ngx_chain_t *in, ngx_uint_t last)
{
    off_t         size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *out;

    size = 0;

    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (up->hold == NULL) {
        up->hold = ngx_create_temp_buf(r->pool, NGX_HTTP_PRIVACY_HOLD_MAX);
        if (up->hold == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->hold->tag = (ngx_buf_tag_t) &ngx_http_privacy_module;
    }

    if (up->verdict || last
        || size > up->hold->end - up->hold->last)
    {
        up->released = 1;

        if (up->hold->last == up->hold->pos) {
            return ngx_http_next_request_body_filter(r, in);
        }

        out = ngx_alloc_chain_link(r->pool);
        if (out == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        out->buf = up->hold;
        out->next = in;

        return ngx_http_next_request_body_filter(r, out);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        up->hold->last = ngx_cpymem(up->hold->last, b->pos, b->last - b->pos);
        b->pos = b->last;
    }

    return NGX_OK;
}


char *
ngx_http_privacy_upload_type(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    u_char                          *slash;
    off_t                            size;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    pe_media_type_t                  mt;
    ngx_http_privacy_upload_type_t  *t;

    value = cf->args->elts;

    if (pe_media_type_parse(value[1].data, value[1].len, &mt) != 0
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, ';'))
    {
        goto invalid_type;
    }

    /* a star stands only for a whole subtype, or for both halves */
    slash = (u_char *) ngx_strchr(mt.type, '/');

    if (ngx_strlchr((u_char *) mt.type, slash, '*')
        && ngx_strcmp(mt.type, "*/*") != 0)
    {
        goto invalid_type;
    }

    if (ngx_strlchr(slash + 1, (u_char *) mt.type + mt.type_len, '*')
        && ngx_strcmp(slash + 1, "*") != 0)
    {
        goto invalid_type;
    }

    size = ngx_parse_offset(&value[2]);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (plcf->upload_types == NULL) {
        plcf->upload_types = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_privacy_upload_type_t));
        if (plcf->upload_types == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    t = plcf->upload_types->elts;

    for (i = 0; i < plcf->upload_types->nelts; i++) {
        if (t[i].pattern.len == mt.type_len
            && ngx_strncmp(t[i].pattern.data, mt.type, mt.type_len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate type \"%V\" in \"%V\" directive",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    t = ngx_array_push(plcf->upload_types);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    t->pattern.data = ngx_pstrdup(cf->pool, &(ngx_str_t) { mt.type_len,
                                                       (u_char *) mt.type });
    if (t->pattern.data == NULL) {
        return NGX_CONF_ERROR;
    }

    t->pattern.len = mt.type_len;
    t->max_size = size;

    return NGX_CONF_OK;

invalid_type:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid media type \"%V\" in \"%V\" directive, "
                       "expected \"type/subtype\" or \"type/*\"",
                       &value[1], &cmd->name);

    return NGX_CONF_ERROR;
}


char *
ngx_http_privacy_upload_max_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_str_t  *value;

    if (plcf->upload_max_size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    plcf->upload_max_size = ngx_parse_offset(&value[1]);

    if (plcf->upload_max_size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Where privacy_upload_max_size is set it governs: nginx's own
 * client_max_body_size check runs earlier (when the location is found, and
 * in the chunked parser) and would answer its plain 413 page first, so it
 * is lifted and the module enforces the cap.  But a client_max_body_size
 * set at the same or a more specific level than the privacy_upload_max_size
 * in force is a decision too: the stricter of the two is the cap.
 *
 * The core module's configuration is merged before ours, level by level
 * from the http block down; core_body_size keeps the core's value at each
 * level as the core module left it.  A value that differs from its
 * parent's was set at that level.  (A level that sets exactly its
 * parent's value is taken as inheriting it.)
 */

static void
ngx_http_privacy_upload_cap(ngx_http_core_loc_conf_t *clcf,
    ngx_http_privacy_loc_conf_t *conf, off_t parent_core)
{
    off_t  core;

    core = clcf->client_max_body_size;
    conf->core_body_size = core;

    if (conf->upload_max_size == 0) {
        return;
    }

    /* set here, so as specific as the cap or more: the stricter */
    if (core != parent_core && core && core < conf->upload_max_size) {
        conf->upload_max_size = core;
    }

    clcf->client_max_body_size = 0;
}


ngx_int_t
ngx_http_privacy_upload_init_main(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_privacy_loc_conf_t  *plcf;

    /* the http block's own: never merged, so unset is still unset here */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_privacy_module);

    if (clcf->client_max_body_size == NGX_CONF_UNSET) {
        /* nginx's default, which the servers will inherit */
        plcf->core_body_size = 1024 * 1024;
        return NGX_OK;
    }

    plcf->core_body_size = clcf->client_max_body_size;

    if (plcf->upload_max_size != NGX_CONF_UNSET
        && plcf->upload_max_size != 0 && plcf->core_body_size != 0
        && plcf->core_body_size < plcf->upload_max_size)
    {
        /* both set in the http block: the stricter */
        plcf->upload_max_size = plcf->core_body_size;
    }

    return NGX_OK;
}


char *
ngx_http_privacy_upload_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_off_value(conf->upload_max_size, prev->upload_max_size, 0);
    ngx_conf_merge_value(conf->upload_sniff, prev->upload_sniff, 0);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    ngx_http_privacy_upload_cap(clcf, conf, prev->core_body_size);

    if (conf->upload_types == NULL) {
        conf->upload_types = prev->upload_types;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_upload_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_privacy_request_body_filter;

    return NGX_OK;
}
