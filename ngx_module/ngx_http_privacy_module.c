
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
#include "pe_jws.h"


static ngx_int_t ngx_http_privacy_preaccess_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_privacy_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_privacy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_privacy_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_privacy_init_main_conf(ngx_conf_t *cf, void *conf);
static void ngx_http_privacy_ctx_cleanup(void *data);
static ngx_int_t ngx_http_privacy_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_privacy_add_variables(ngx_conf_t *cf);
static void *ngx_http_privacy_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_privacy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_http_privacy_report_note(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *conf);
static ngx_int_t ngx_http_privacy_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_privacy_init_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_privacy_enforce[] = {
    { ngx_string("on"), NGX_HTTP_PRIVACY_ENFORCE_ON },
    { ngx_string("report"), NGX_HTTP_PRIVACY_ENFORCE_REPORT },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_privacy_commands[] = {

    { ngx_string("privacy_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_privacy_region,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_region_trust"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_privacy_region_trust,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_region_group"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_privacy_region_group,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_region_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_privacy_region_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_consent_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_privacy_consent_cookie,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_error_log_anon"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_privacy_main_conf_t, error_log_anon),
      NULL },

    { ngx_string("privacy_error_log_hide_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_privacy_error_log_hide_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_privacy_loc_conf_t, error_log_hide_uri),
      NULL },

    { ngx_string("privacy_consent_category"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_privacy_consent_category,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_cookie_class"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_privacy_cookie_class,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_cookie_filter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_privacy_loc_conf_t, cookie_filter),
      NULL },

    { ngx_string("privacy_require"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF|NGX_CONF_1MORE,
      ngx_http_privacy_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_subject"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_privacy_subject,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_privacy_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_privacy_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_privacy_limit_zone,
      0,
      0,
      NULL },

    { ngx_string("privacy_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_privacy_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("privacy_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_1MORE,
      ngx_http_privacy_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

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

    { ngx_string("privacy_enforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_privacy_loc_conf_t, enforce),
      &ngx_http_privacy_enforce },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_privacy_module_ctx = {
    ngx_http_privacy_add_variables,        /* preconfiguration */
    ngx_http_privacy_init,                 /* postconfiguration */

    ngx_http_privacy_create_main_conf,     /* create main configuration */
    ngx_http_privacy_init_main_conf,       /* init main configuration */

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
    ngx_http_privacy_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_privacy_redis_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_PRIVACY_VAR_REGION = 0,
    NGX_HTTP_PRIVACY_VAR_GROUP,
    NGX_HTTP_PRIVACY_VAR_CONSENT,
    NGX_HTTP_PRIVACY_VAR_GPC,
    NGX_HTTP_PRIVACY_VAR_SUBJECT,
    NGX_HTTP_PRIVACY_VAR_CONTEXT,
    NGX_HTTP_PRIVACY_VAR_ANON_ADDR
};


static ngx_http_variable_t  ngx_http_privacy_vars[] = {

    { ngx_string("privacy_decision"), NULL,
      ngx_http_privacy_decision_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_region"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_REGION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_region_group"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_GROUP, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_consent"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_CONSENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_gpc"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_GPC, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_subject"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_context"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_CONTEXT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_remote_addr_anon"), NULL, ngx_http_privacy_variable,
      NGX_HTTP_PRIVACY_VAR_ANON_ADDR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("privacy_limit_status"), NULL,
      ngx_http_privacy_limit_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * Preaccess, not access: under "satisfy any" a later "allow" would undo a
 * refusal of the access phase.  A region that is blocked and consent that
 * is missing are refused whatever else lets the request in.
 *
 * In report mode (privacy_enforce report) a check that would refuse
 * returns NGX_HTTP_PRIVACY_REPORTED, and the request goes on.  The checks
 * that "on" would not have reached after that refusal are not run either:
 * a request reported for consent costs no rate quota, as one refused for
 * it costs none, so the counts are those "on" would have made.
 */

static ngx_int_t
ngx_http_privacy_preaccess_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_privacy_ctx_t       *ctx;
    ngx_http_privacy_loc_conf_t  *plcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);

    /* consent first: a request refused for it costs no rate quota */
    if (plcf->region_country || plcf->policies || plcf->consent_cookies
        || plcf->require || plcf->cookie_filter)
    {
        rc = ngx_http_privacy_consent_preaccess(r, plcf);

        if (rc == NGX_HTTP_PRIVACY_REPORTED) {
            return NGX_DECLINED;
        }

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (plcf->limits) {
        ctx = ngx_http_privacy_get_ctx(r);

        /* reported here, in report mode: "on" would not have got here;
           an "on" location an internal redirect leads to checks anew */
        if (ctx && ctx->report && ngx_http_privacy_report_mode(r)) {
            return NGX_DECLINED;
        }

        rc = ngx_http_privacy_limit_preaccess(r, plcf);

        return (rc == NGX_HTTP_PRIVACY_REPORTED) ? NGX_DECLINED : rc;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_privacy_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
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

    if (ctx->report && ngx_http_privacy_report_mode(r)) {
        return NGX_DECLINED;    /* "on" would have refused it already */
    }

    rc = ngx_http_privacy_upload_access(r, plcf, ctx);

    return (rc == NGX_HTTP_PRIVACY_REPORTED) ? NGX_DECLINED : rc;
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

    /*
     * After an internal redirect (index, try_files, error_page) the same
     * context again: a request is limited and counted once, as with
     * limit_req, however many locations it passes through.
     */
    ctx = ngx_http_privacy_get_ctx(r);

    if (ctx) {
        ngx_http_set_ctx(r, ctx, ngx_http_privacy_module);
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
        v->data = ngx_http_privacy_reasons[ctx->reason].name.data;
        v->len = ngx_http_privacy_reasons[ctx->reason].name.len;

    } else if (ctx && ctx->report) {
        v->data = ngx_http_privacy_report_names[ctx->reason].data;
        v->len = ngx_http_privacy_report_names[ctx->reason].len;

    } else if (ctx && ctx->cookies_report) {
        v->data = ngx_http_privacy_report_names
                      [NGX_HTTP_PRIVACY_COOKIE_FILTERED].data;
        v->len = ngx_http_privacy_report_names
                     [NGX_HTTP_PRIVACY_COOKIE_FILTERED].len;

    } else {
        ngx_str_set(v, "allow");
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_privacy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    ngx_str_t                      s;
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_main_conf_t  *pmcf;

    ctx = ngx_http_privacy_evaluate(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    switch (data) {

    case NGX_HTTP_PRIVACY_VAR_REGION:
        s = ctx->region;
        break;

    case NGX_HTTP_PRIVACY_VAR_GROUP:
        s = ctx->group;
        break;

    case NGX_HTTP_PRIVACY_VAR_CONSENT:
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

        p = ngx_pnalloc(r->pool, PE_CAT_MAX * 34);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_http_privacy_categories_text(pmcf, ctx->granted, p,
                                                 PE_CAT_MAX * 34, 0);
        break;

    case NGX_HTTP_PRIVACY_VAR_GPC:
        if (ctx->gpc) {
            ngx_str_set(&s, "1");
        } else {
            ngx_str_set(&s, "0");
        }
        break;

    case NGX_HTTP_PRIVACY_VAR_SUBJECT:
        if (ngx_http_privacy_subject_value(r->main, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        s = ctx->subject;
        break;

    case NGX_HTTP_PRIVACY_VAR_CONTEXT:
        if (ngx_http_privacy_context_value(r->main, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        s = ctx->context;
        break;

    default: /* NGX_HTTP_PRIVACY_VAR_ANON_ADDR */
        if (ngx_http_privacy_anon_addr(r, &s) != NGX_OK) {
            v->not_found = 1;
            return NGX_OK;
        }
        break;
    }

    v->data = s.data;
    v->len = s.len;
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


/* a worker's Redis connection, then the flushers that use it */

static ngx_int_t
ngx_http_privacy_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_privacy_redis_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_privacy_limit_sync_init_process(cycle);
}


static void
ngx_http_privacy_hmac_cleanup(void *data)
{
    pe_hmac_free(data);
}


static void *
ngx_http_privacy_create_main_conf(ngx_conf_t *cf)
{
    ngx_str_t                     *c;
    ngx_uint_t                     i;
    ngx_http_privacy_main_conf_t  *pmcf;
    static ngx_str_t               builtin[] = {
        ngx_string("necessary"), ngx_string("preferences"),
        ngx_string("analytics"), ngx_string("marketing")
    };

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_privacy_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&pmcf->categories, cf->pool, PE_CAT_MAX,
                       sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&pmcf->groups, cf->pool, 8,
                          sizeof(ngx_http_privacy_group_t))
           != NGX_OK)
    {
        return NULL;
    }

    /* the built-in categories hold bits 0 to 3, as pe_consent.h says */
    for (i = 0; i < 4; i++) {
        c = ngx_array_push(&pmcf->categories);
        if (c == NULL) {
            return NULL;
        }

        *c = builtin[i];
    }

    pmcf->request_id_index = NGX_ERROR;
    pmcf->error_log_anon = NGX_CONF_UNSET;

    if (ngx_http_privacy_region_create_main(cf, pmcf) != NGX_OK) {
        return NULL;
    }

    return pmcf;
}


static char *
ngx_http_privacy_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    ngx_str_t            request_id = ngx_string("request_id");
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_privacy_consent_init_main(cf, pmcf) != NGX_OK
        || ngx_http_privacy_upload_init_main(cf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_value(pmcf->error_log_anon, 0);

    pmcf->request_id_index = ngx_http_get_variable_index(cf, &request_id);

    /* the key's HMAC pads, hashed once; without privacy_key, an empty key */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->hmac = pe_hmac_new(pmcf->key.data, pmcf->key.len);
    if (pmcf->hmac == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_privacy_hmac_cleanup;
    cln->data = pmcf->hmac;

    return ngx_http_privacy_limit_init_main(cf, pmcf);
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
     *     conf->region_country = NULL;
     *     conf->region_subdivision = NULL;
     *     conf->region_trust = NULL;
     *     conf->policies = NULL;
     *     conf->consent_cookies = NULL;
     *     conf->require = 0;
     *     conf->require_status = 0;
     *     conf->subject = NULL;
     *     conf->limits = NULL;
     */

    conf->upload_max_size = NGX_CONF_UNSET;
    conf->upload_sniff = NGX_CONF_UNSET;
    conf->cookie_filter = NGX_CONF_UNSET;
    conf->error_log_hide_uri = NGX_CONF_UNSET;
    conf->enforce = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_privacy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_privacy_loc_conf_t  *prev = parent;
    ngx_http_privacy_loc_conf_t  *conf = child;

    ngx_http_privacy_main_conf_t  *pmcf;

    if (ngx_http_privacy_upload_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_privacy_region_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_privacy_consent_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->subject == NULL) {
        conf->subject = prev->subject;
    }

    if (conf->limits == NULL) {
        conf->limits = prev->limits;
    }

    ngx_conf_merge_value(conf->error_log_hide_uri, prev->error_log_hide_uri,
                         0);
    ngx_conf_merge_uint_value(conf->enforce, prev->enforce,
                              NGX_HTTP_PRIVACY_ENFORCE_ON);

    if (conf->enforce == NGX_HTTP_PRIVACY_ENFORCE_REPORT) {
        ngx_http_privacy_report_note(cf, conf);
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);

    if (conf->subject && pmcf->key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"privacy_subject\" needs \"privacy_key\" in the "
                           "http block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * nginx -t and every reload say where nothing is refused, so that report
 * mode is not forgotten: each location in it with a check that could
 * refuse or strip (the checks are merged by now).  A warning, not a
 * notice: nginx -t prints only warnings and worse to the terminal.
 */

static void
ngx_http_privacy_report_note(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_core_srv_conf_t  *cscf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    /* the server's own level, "if" and limit_except: not locations */
    if (clcf->name.len == 0 || clcf->noname) {
        return;
    }

    if (!(conf->require || conf->policies || conf->cookie_filter
          || conf->limits || conf->upload_max_size || conf->upload_types
          || conf->upload_sniff))
    {
        return;
    }

    if (cscf->server_name.len) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "privacy_enforce report: nothing is refused in "
                      "location \"%V\" of server \"%V\"",
                      &clcf->name, &cscf->server_name);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "privacy_enforce report: nothing is refused in "
                  "location \"%V\"", &clcf->name);
}


static ngx_int_t
ngx_http_privacy_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_privacy_main_conf_t  *pmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);

    /* before realip's post-read handler: see ngx_http_privacy_region.c */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_region_post_read;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_preaccess_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_access_handler;

    if (ngx_http_privacy_status_init(cf, pmcf) != NGX_OK
        || ngx_http_privacy_log_init(cf, pmcf) != NGX_OK
        || ngx_http_privacy_limit_init(cf) != NGX_OK
        || ngx_http_privacy_cookie_init(cf) != NGX_OK
        || ngx_http_privacy_refusal_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_privacy_upload_init(cf);
}


/*
 * A decimal number, faster than ngx_sprintf() where it runs per request
 * (every limited response): two digits a division.
 */

u_char *
ngx_http_privacy_decimal(u_char *p, uint64_t n)
{
    u_char      *d;
    ngx_uint_t   i;
    u_char       digits[NGX_INT64_LEN];

    static const u_char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930"
        "31323334353637383940414243444546474849505152535455565758596061"
        "62636465666768697071727374757677787980818283848586878889909192"
        "93949596979899";

    d = digits + NGX_INT64_LEN;

    while (n >= 100) {
        i = (ngx_uint_t) (n % 100) * 2;
        n /= 100;
        *--d = pairs[i + 1];
        *--d = pairs[i];
    }

    if (n >= 10) {
        i = (ngx_uint_t) n * 2;
        *--d = pairs[i + 1];
        *--d = pairs[i];

    } else {
        *--d = (u_char) ('0' + n);
    }

    return ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
}
