
/*
 * privacy-edge: ngx_http_privacy_module, shared declarations.
 */

#ifndef _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_
#define _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t                  pattern;     /* "image/png" or "image/" + "*" */
    off_t                      max_size;    /* 0: no cap of its own */
} ngx_http_privacy_upload_type_t;


typedef struct {
    off_t                      upload_max_size;
    ngx_array_t               *upload_types;
    ngx_flag_t                 upload_sniff;
} ngx_http_privacy_loc_conf_t;


typedef struct ngx_http_privacy_upload_s  ngx_http_privacy_upload_t;


/* per request; found again after an internal redirect (see _get_ctx) */
typedef struct {
    ngx_uint_t                 status;      /* of a refusal, 0: allowed */
    ngx_str_t                  reason;      /* "upload_too_large" */
    ngx_str_t                  body;        /* the JSON body of a refusal */

    ngx_http_privacy_upload_t *upload;      /* body inspection, or NULL */

    unsigned                   upload_checked:1;
    unsigned                   body_replaced:1;
} ngx_http_privacy_ctx_t;


extern ngx_module_t  ngx_http_privacy_module;


ngx_http_privacy_ctx_t *ngx_http_privacy_get_ctx(ngx_http_request_t *r);
ngx_http_privacy_ctx_t *ngx_http_privacy_create_ctx(ngx_http_request_t *r);

/* refusal: ngx_http_privacy_refusal.c */
ngx_int_t ngx_http_privacy_refuse(ngx_http_request_t *r,
    ngx_http_privacy_ctx_t *ctx, ngx_uint_t status, const char *reason,
    const char *fmt, ...);
ngx_str_t *ngx_http_privacy_json_escape(ngx_pool_t *pool, u_char *s,
    size_t len);
ngx_int_t ngx_http_privacy_refusal_init(ngx_conf_t *cf);

/* upload gate: ngx_http_privacy_upload.c */
ngx_int_t ngx_http_privacy_upload_access(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx);
ngx_int_t ngx_http_privacy_upload_init(ngx_conf_t *cf);
char *ngx_http_privacy_upload_type(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_upload_max_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_privacy_upload_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf);


#endif /* _NGX_HTTP_PRIVACY_MODULE_H_INCLUDED_ */
