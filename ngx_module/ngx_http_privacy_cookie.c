
/*
 * privacy-edge: cookies.
 *
 * Finding a consent cookie among the request's Cookie headers, the cookie
 * classes (privacy_cookie_class: a cookie's name says its category), and
 * the cookie filter both ways: cookies of refused categories dropped from
 * the request before it goes on, and their Set-Cookie from the response.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


#define NGX_HTTP_PRIVACY_COOKIES_MAX  4096


static ngx_int_t ngx_http_privacy_set_cookie_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


char *
ngx_http_privacy_cookie_class(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    u_char                           *p, errstr[NGX_MAX_CONF_ERRSTR];
    size_t                            len;
    ngx_int_t                         bit;
    ngx_str_t                        *value, source;
    ngx_uint_t                        i;
    ngx_regex_compile_t               rc;
    ngx_http_privacy_cookie_class_t  *cls, *last;

    value = cf->args->elts;

    bit = ngx_http_privacy_category_arg(cf, cmd, &value[1]);
    if (bit == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (pmcf->cookie_classes == NULL) {
        pmcf->cookie_classes = ngx_array_create(cf->pool, 16,
                                   sizeof(ngx_http_privacy_cookie_class_t));
        if (pmcf->cookie_classes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    len = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        len += value[i].len + sizeof("|(?:)") - 1;
    }

    /*
     * One alternation of the patterns, joined to the class before when it
     * is of the same category: the first match still wins, and a cookie
     * is matched once a class instead of once a pattern.
     */

    last = NULL;

    if (pmcf->cookie_classes->nelts) {
        last = (ngx_http_privacy_cookie_class_t *) pmcf->cookie_classes->elts
               + pmcf->cookie_classes->nelts - 1;

        if (last->category != (1u << bit)) {
            last = NULL;
        }
    }

    if (last) {
        len += last->source.len;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    source.data = p;

    if (last) {
        p = ngx_cpymem(p, last->source.data, last->source.len);
    }

    for (i = 2; i < cf->args->nelts; i++) {
        p = ngx_sprintf(p, "%s(?:%V)", p == source.data ? "" : "|",
                        &value[i]);
    }

    source.len = p - source.data;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));
    rc.pattern = source;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {

        /*
         * Which pattern was it: each alone, on the configuration's pool
         * (nginx keeps every compiled regex in a list of its own until the
         * cycle ends, so a shorter-lived pool would leave it dangling).
         */

        for (i = 2; i < cf->args->nelts; i++) {
            ngx_memzero(&rc, sizeof(ngx_regex_compile_t));
            rc.pattern = value[i];
            rc.pool = cf->pool;
            rc.err.len = NGX_MAX_CONF_ERRSTR;
            rc.err.data = errstr;

            if (ngx_regex_compile(&rc) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid pattern \"%V\" in \"%V\" "
                                   "directive: %V", &value[i], &cmd->name,
                                   &rc.err);
                return NGX_CONF_ERROR;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid patterns in "
                           "\"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    /*
     * No JIT here: nginx JIT-compiles every regex itself under
     * "pcre_jit on", and owns their memory; a JIT done behind its back
     * crashed the worker at exit.  The per-worker name cache keeps these
     * off the hot path anyway.
     */

    cls = last ? last : ngx_array_push(pmcf->cookie_classes);
    if (cls == NULL) {
        return NGX_CONF_ERROR;
    }

    cls->category = 1u << bit;
    cls->regex = rc.regex;
    cls->source = source;

    return NGX_CONF_OK;
}


/*
 * The request's Cookie headers: an array in nginx before 1.23, a list
 * linked through "next" since.
 */

static ngx_uint_t
ngx_http_privacy_cookie_headers(ngx_http_request_t *r,
    ngx_table_elt_t ***headers)
{
#if (nginx_version >= 1023000)
    ngx_uint_t        n;
    ngx_table_elt_t  *h, **list;

    n = 0;

    for (h = r->headers_in.cookie; h; h = h->next) {
        n++;
    }

    list = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_table_elt_t *));
    if (list == NULL) {
        return 0;
    }

    n = 0;

    for (h = r->headers_in.cookie; h; h = h->next) {
        list[n++] = h;
    }

    *headers = list;

    return n;
#else
    *headers = r->headers_in.cookies.elts;

    return r->headers_in.cookies.nelts;
#endif
}


/* the next "name=value" of a Cookie header from *p; 0 at the end */

static ngx_uint_t
ngx_http_privacy_next_cookie(u_char **p, u_char *last, ngx_str_t *name,
    ngx_str_t *value, ngx_str_t *whole)
{
    u_char  *s, *eq, *end;

    s = *p;

    while (s < last && (*s == ' ' || *s == '\t' || *s == ';')) {
        s++;
    }

    if (s == last) {
        *p = last;
        return 0;
    }

    end = ngx_strlchr(s, last, ';');
    if (end == NULL) {
        end = last;
    }

    *p = end;

    whole->data = s;
    whole->len = end - s;

    while (whole->len && (s[whole->len - 1] == ' '
                          || s[whole->len - 1] == '\t'))
    {
        whole->len--;
    }

    eq = ngx_strlchr(s, s + whole->len, '=');

    name->data = s;
    name->len = (eq ? eq : s + whole->len) - s;

    while (name->len && name->data[name->len - 1] == ' ') {
        name->len--;
    }

    if (eq) {
        value->data = eq + 1;
        value->len = s + whole->len - value->data;

        while (value->len && *value->data == ' ') {
            value->data++;
            value->len--;
        }

        /* a quoted cookie value (RFC 6265) */
        if (value->len >= 2 && value->data[0] == '"'
            && value->data[value->len - 1] == '"')
        {
            value->data++;
            value->len -= 2;
        }

    } else {
        ngx_str_null(value);
    }

    return 1;
}


ngx_int_t
ngx_http_privacy_find_cookie(ngx_http_request_t *r, ngx_str_t *want,
    ngx_str_t *value)
{
    u_char            *p, *last;
    ngx_str_t          name, whole;
    ngx_uint_t         i, n, seen;
    ngx_table_elt_t  **h;

    n = ngx_http_privacy_cookie_headers(r, &h);
    seen = 0;

    for (i = 0; i < n; i++) {
        p = h[i]->value.data;
        last = p + h[i]->value.len;

        /* bounded: a header holds at most this many cookies for us */
        while (seen++ < NGX_HTTP_PRIVACY_COOKIES_MAX
               && ngx_http_privacy_next_cookie(&p, last, &name, value,
                                                &whole))
        {
            if (name.len == want->len
                && ngx_strncmp(name.data, want->data, want->len) == 0)
            {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


static uint32_t
ngx_http_privacy_classify(ngx_http_privacy_main_conf_t *pmcf, ngx_str_t *name)
{
    uint32_t                         category;
    ngx_uint_t                       i, hash;
    ngx_http_privacy_class_entry_t  *e;
    ngx_http_privacy_cookie_class_t *cls;

    if (pmcf->cookie_classes == NULL) {
        return PE_CAT_NECESSARY;
    }

    hash = ngx_hash_key(name->data, name->len);
    e = &pmcf->class_cache[hash % NGX_HTTP_PRIVACY_CLASS_SLOTS];

    if (e->len == name->len && e->hash == hash
        && ngx_memcmp(e->name, name->data, name->len) == 0)
    {
        return e->category;
    }

    /* an unclassified cookie is a necessary one */
    category = PE_CAT_NECESSARY;
    cls = pmcf->cookie_classes->elts;

    for (i = 0; i < pmcf->cookie_classes->nelts; i++) {
        if (ngx_regex_exec(cls[i].regex, name, NULL, 0) >= 0) {
            category = cls[i].category;
            break;
        }
    }

    if (name->len && name->len <= NGX_HTTP_PRIVACY_CLASS_NAME) {
        ngx_memcpy(e->name, name->data, name->len);
        e->len = name->len;
        e->hash = hash;
        e->category = category;
    }

    return category;
}


/*
 * Drops cookies of refused categories from the request.  A Cookie header
 * left with nothing is taken out of the header list altogether: nginx
 * passes every request header on, and an empty "Cookie:" is still one.
 */

ngx_int_t
ngx_http_privacy_filter_request_cookies(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx)
{
    u_char                        *p, *last, *out, *o;
    ngx_str_t                      name, value, whole;
    ngx_uint_t                     i, j, n, dropped, seen;
    ngx_list_t                     headers;
    ngx_list_part_t               *part;
    ngx_table_elt_t              **h, *e, *copy;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    n = ngx_http_privacy_cookie_headers(r, &h);
    dropped = 0;
    seen = 0;

    if (ngx_http_privacy_report_mode(r)) {
        /* report mode: noted, the headers left as they came */

        for (i = 0; i < n; i++) {
            p = h[i]->value.data;
            last = p + h[i]->value.len;

            while (ngx_http_privacy_next_cookie(&p, last, &name, &value,
                                                &whole))
            {
                if (seen++ >= NGX_HTTP_PRIVACY_COOKIES_MAX
                    || !(ngx_http_privacy_classify(pmcf, &name)
                         & ctx->granted))
                {
                    ctx->cookies_report = 1;
                    return NGX_OK;
                }
            }
        }

        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        p = h[i]->value.data;
        last = p + h[i]->value.len;

        out = ngx_pnalloc(r->pool, h[i]->value.len);
        if (out == NULL) {
            return NGX_ERROR;
        }

        o = out;

        while (ngx_http_privacy_next_cookie(&p, last, &name, &value, &whole))
        {
            /* past the bound nothing is classified: dropped, fail safe */
            if (seen++ >= NGX_HTTP_PRIVACY_COOKIES_MAX
                || !(ngx_http_privacy_classify(pmcf, &name) & ctx->granted))
            {
                continue;
            }

            if (o != out) {
                *o++ = ';';
                *o++ = ' ';
            }

            o = ngx_cpymem(o, whole.data, whole.len);
        }

        if ((size_t) (o - out) == h[i]->value.len) {
            continue;                       /* nothing dropped */
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "privacy cookie filter: \"%V\" -> \"%*s\"",
                       &h[i]->value, o - out, out);

        h[i]->value.data = out;
        h[i]->value.len = o - out;

        if (o == out) {
            /* marked: copied out of the list below */
            h[i]->hash = 0;
            dropped++;
        }
    }

    if (!dropped) {
        return NGX_OK;
    }

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    e = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            e = part->elts;
            i = 0;
        }

        if (e[i].hash == 0 && e[i].value.len == 0
            && e[i].key.len == 6
            && ngx_strncasecmp(e[i].key.data, (u_char *) "cookie", 6) == 0)
        {
            continue;
        }

        copy = ngx_list_push(&headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = e[i];

        /* the cookie headers that stay are known by their new place */
        for (j = 0; j < n; j++) {
            if (h[j] == &e[i]) {
                h[j] = copy;
            }
        }
    }

    r->headers_in.headers = headers;

#if (nginx_version >= 1023000)
    r->headers_in.cookie = NULL;

    for (j = n; j > 0; j--) {
        if (h[j - 1]->hash != 0 || h[j - 1]->value.len) {
            h[j - 1]->next = r->headers_in.cookie;
            r->headers_in.cookie = h[j - 1];
        }
    }
#else
    for (i = 0, j = 0; i < n; i++) {
        if (h[i]->hash != 0 || h[i]->value.len) {
            h[j++] = h[i];
        }
    }

    r->headers_in.cookies.nelts = j;
#endif

    return NGX_OK;
}


/* drops Set-Cookie of refused categories from the response */

static ngx_int_t
ngx_http_privacy_set_cookie_filter(ngx_http_request_t *r)
{
    u_char                        *eq, *semi;
    ngx_str_t                      name;
    ngx_uint_t                     i, report;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_loc_conf_t   *plcf;
    ngx_http_privacy_main_conf_t  *pmcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);

    if (!plcf->cookie_filter || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_privacy_evaluate(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);
    report = (plcf->enforce == NGX_HTTP_PRIVACY_ENFORCE_REPORT);

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != 10
            || ngx_strncasecmp(h[i].key.data, (u_char *) "set-cookie", 10)
               != 0)
        {
            continue;
        }

        name.data = h[i].value.data;
        semi = ngx_strlchr(name.data, name.data + h[i].value.len, ';');
        eq = ngx_strlchr(name.data, semi ? semi : name.data + h[i].value.len,
                         '=');

        name.len = (eq ? eq : (semi ? semi : name.data + h[i].value.len))
                   - name.data;

        while (name.len && (*name.data == ' ' || *name.data == '\t')) {
            name.data++;
            name.len--;
        }

        while (name.len && name.data[name.len - 1] == ' ') {
            name.len--;
        }

        if (ngx_http_privacy_classify(pmcf, &name) & ctx->granted) {
            continue;
        }

        if (report) {
            /* report mode: noted, and it goes out */
            ctx->cookies_report = 1;
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "privacy: Set-Cookie \"%V\" dropped", &name);
        h[i].hash = 0;
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_privacy_cookie_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_privacy_set_cookie_filter;

    return NGX_OK;
}
