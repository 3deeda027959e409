
/*
 * privacy-edge: ngx_http_privacy_module.
 *
 * This file wires the module together: directives, configuration
 * create/merge, the access phase handler, the per-request context and the
 * variables.  Each concern lives in its own file.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


static ngx_int_t ngx_http_privacy_access_handler(ngx_http_request_t *r);
static void ngx_http_privacy_ctx_cleanup(void *data);
static ngx_int_t ngx_http_privacy_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_privacy_add_variables(ngx_conf_t *cf);
static void *ngx_http_privacy_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_privacy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_privacy_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_privacy_commands[] = {

    { ngx_string("privacy_upload_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_privacy_upload_max_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_upload_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_privacy_upload_type,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_upload_sniff"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_privacy_loc_conf_t, upload_sniff),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_privacy_module_ctx = {
    ngx_http_privacy_add_variables,        /* preconfiguration */
    ngx_http_privacy_init,                 /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_privacy_create_loc_conf,      /* create location configuration */
    ngx_http_privacy_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_privacy_module = {
    NGX_MODULE_V1,
    &ngx_http_privacy_module_ctx,          /* module context */
    ngx_http_privacy_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_privacy_vars[] = {

    { ngx_string("privacy_decision"), NULL,
      ngx_http_privacy_decision_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_privacy_access_handler(ngx_http_request_t *r)
{
    ngx_http_privacy_ctx_t       *ctx;
    ngx_http_privacy_loc_conf_t  *plcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);

    if (plcf->upload_max_size == 0 && plcf->upload_types == NULL
        && !plcf->upload_sniff)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_privacy_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_privacy_upload_access(r, plcf, ctx);
}


/*
 * The context is kept in a pool cleanup as well, so that it is found after
 * an internal redirect (error_page, try_files) has cleared r->ctx: the
 * access log's $privacy_decision then still tells why a request was
 * refused.  The same technique as ngx_http_realip_module.
 */

ngx_http_privacy_ctx_t *
ngx_http_privacy_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_privacy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_privacy_ctx_cleanup) {
                ctx = cln->data;
                break;
            }
        }
    }

    return ctx;
}


ngx_http_privacy_ctx_t *
ngx_http_privacy_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_privacy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_privacy_module);

    if (ctx) {
        return ctx;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_privacy_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_privacy_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_privacy_module);

    return ctx;
}


static void
ngx_http_privacy_ctx_cleanup(void *data)
{
    /* nothing to free: the cleanup only marks where the context is */
}


static ngx_int_t
ngx_http_privacy_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_privacy_ctx_t  *ctx;

    ctx = ngx_http_privacy_get_ctx(r->main);

    if (ctx && ctx->status) {
        v->data = ctx->reason.data;
        v->len = ctx->reason.len;

    } else {
        ngx_str_set(v, "allow");
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_privacy_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_privacy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_privacy_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_privacy_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upload_types = NULL;
     */

    conf->upload_max_size = NGX_CONF_UNSET;
    conf->upload_sniff = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_privacy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_privacy_loc_conf_t  *prev = parent;
    ngx_http_privacy_loc_conf_t  *conf = child;

    return ngx_http_privacy_upload_merge(cf, prev, conf);
}


static ngx_int_t
ngx_http_privacy_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_access_handler;

    if (ngx_http_privacy_refusal_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_privacy_upload_init(cf);
}
