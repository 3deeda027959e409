
/*
 * privacy-edge: the pseudonymous subject and the signed context.
 *
 * $privacy_subject is HMAC-SHA256(privacy_key, the subject's raw value),
 * base64url: stable for one user, useless to anyone without the key, and
 * the raw value never leaves the edge.  $privacy_context is a compact JWS
 * (HS256, RFC 7515) of the decision for the backend, valid for 60 s.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"
#include "pe_jws.h"


#define NGX_HTTP_PRIVACY_KEY_MIN    32
#define NGX_HTTP_PRIVACY_KEY_MAX    4096
#define NGX_HTTP_PRIVACY_CTX_TTL    60

/* base64url of {"alg":"HS256","typ":"JWT"} */
#define NGX_HTTP_PRIVACY_JWT_HEADER  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


char *
ngx_http_privacy_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (pmcf->key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_PRIVACY_KEY_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "privacy_key \"%V\" is not a file of at most "
                           "%d bytes", &name, NGX_HTTP_PRIVACY_KEY_MAX);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    pmcf->key.data = ngx_pnalloc(cf->pool, NGX_HTTP_PRIVACY_KEY_MAX);
    if (pmcf->key.data == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, pmcf->key.data, NGX_HTTP_PRIVACY_KEY_MAX, 0);
    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    /* the key is the file's bytes as they are: the backend reads it so */
    if (n < NGX_HTTP_PRIVACY_KEY_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "privacy_key \"%V\" holds %z bytes, at least %d "
                           "are needed", &name, n, NGX_HTTP_PRIVACY_KEY_MIN);
        return NGX_CONF_ERROR;
    }

    pmcf->key.len = n;

    return NGX_CONF_OK;
}


char *
ngx_http_privacy_subject(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (plcf->subject) {
        return "is duplicate";
    }

    value = cf->args->elts;

    plcf->subject = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (plcf->subject == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = plcf->subject;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_subject_value(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx)
{
    u_char                        *out;
    ngx_str_t                      raw;
    ngx_http_privacy_loc_conf_t   *plcf;
    ngx_http_privacy_main_conf_t  *pmcf;

    if (ctx->subject_done) {
        return NGX_OK;
    }

    ctx->subject_done = 1;
    ngx_str_null(&ctx->subject);

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);
    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    if (plcf->subject == NULL || pmcf->key.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, plcf->subject, &raw) != NGX_OK) {
        return NGX_ERROR;
    }

    if (raw.len == 0) {
        return NGX_OK;              /* no subject: an empty pseudonym */
    }

    out = ngx_pnalloc(r->pool, PE_JWS_SIG_LEN);
    if (out == NULL) {
        return NGX_ERROR;
    }

    if (pe_hmac_hs256(pmcf->hmac, raw.data, raw.len, (char *) out) != 0) {
        return NGX_ERROR;
    }

    ctx->subject.data = out;
    ctx->subject.len = PE_JWS_SIG_LEN;

    return NGX_OK;
}


ngx_int_t
ngx_http_privacy_context_value(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx)
{
    u_char                        *jwt, *p, payload[1024], con[512];
    size_t                         clen, plen;
    time_t                         now;
    ngx_str_t                      jti;
    ngx_http_variable_value_t     *id;
    ngx_http_privacy_main_conf_t  *pmcf;

    if (ctx->context.data) {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    if (pmcf->key.len == 0) {
        return NGX_OK;              /* no key, no context */
    }

    if (ngx_http_privacy_subject_value(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&jti);

    if (pmcf->request_id_index != NGX_ERROR) {
        id = ngx_http_get_indexed_variable(r, pmcf->request_id_index);

        if (id && !id->not_found) {
            jti.data = id->data;
            jti.len = id->len;
        }
    }

    clen = ngx_http_privacy_categories_text(pmcf, ctx->granted, con,
                                            sizeof(con), 1);
    now = ngx_time();

    /* every value here is ASCII that needs no escaping */
    p = ngx_slprintf(payload, payload + sizeof(payload),
                     "{\"sub\":\"%V\",\"reg\":\"%V\",\"grp\":\"%V\","
                     "\"con\":[%*s],\"gpc\":%s,\"iat\":%T,\"exp\":%T,"
                     "\"jti\":\"%V\"}",
                     &ctx->subject, &ctx->region, &ctx->group, clen, con,
                     ctx->gpc ? "true" : "false", now,
                     now + NGX_HTTP_PRIVACY_CTX_TTL, &jti);
    plen = p - payload;

    if (plen == sizeof(payload)) {
        return NGX_ERROR;           /* cut short: never sign half a claim */
    }

    jwt = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_PRIVACY_JWT_HEADER)
                      + ngx_base64_encoded_length(plen)
                      + 1 + PE_JWS_SIG_LEN);
    if (jwt == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(jwt, NGX_HTTP_PRIVACY_JWT_HEADER ".",
                   sizeof(NGX_HTTP_PRIVACY_JWT_HEADER));

    p += pe_base64url(payload, plen, (char *) p);

    if (pe_hmac_hs256(pmcf->hmac, jwt, p - jwt, (char *) p + 1) != 0) {
        return NGX_ERROR;
    }

    *p++ = '.';
    p += PE_JWS_SIG_LEN;

    ctx->context.data = jwt;
    ctx->context.len = p - jwt;

    return NGX_OK;
}


/* the client's address cut to a network: IPv4 /24, IPv6 /48 */

ngx_int_t
ngx_http_privacy_anon_addr(ngx_http_request_t *r, ngx_str_t *out)
{
    u_char  buf[NGX_SOCKADDR_STRLEN];

    out->len = ngx_http_privacy_anon_sockaddr(r->connection->sockaddr,
                                              r->connection->socklen, buf,
                                              sizeof(buf));
    if (out->len == 0) {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(r->pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, buf, out->len);

    return NGX_OK;
}
