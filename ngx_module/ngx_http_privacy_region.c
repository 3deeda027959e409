
/*
 * privacy-edge: the region a request comes from, and its policy.
 *
 * The region comes from variables a CDN or a geo module fills
 * (privacy_region $http_cf_ipcountry ...), and is believed only when the
 * TCP peer is trusted.  The peer is judged in the post-read phase, before
 * ngx_http_realip_module replaces the address with one the client sent:
 * handlers of one phase run in reverse order of registration, and a
 * dynamic module registers after the static ones.  An untrusted peer, a
 * missing or malformed value: the region is "unknown", and "unknown" gets
 * the strictest policy unless the operator says otherwise.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


typedef struct {
    const char  *name;
    const char  *codes;
} ngx_http_privacy_builtin_group_t;


static const ngx_http_privacy_builtin_group_t  ngx_http_privacy_builtin[] = {

    /* the EU's 27 and Iceland, Liechtenstein, Norway: the EEA */
    { "eea", "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL "
             "PL PT RO SK SI ES SE IS LI NO" },

    { "uk", "GB" },

    { "ch", "CH" },

    /* US states whose privacy laws make Global Privacy Control an opt-out */
    { "us_privacy_states", "US-CA US-CO US-CT US-DE US-MD US-MN US-MT US-NE "
                           "US-NH US-NJ US-OR US-TX" },

    { NULL, NULL }
};


char *
ngx_http_privacy_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_complex_value_t         **slot;
    ngx_http_privacy_main_conf_t      *pmcf;
    ngx_http_compile_complex_value_t   ccv;

    if (plcf->region_country) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        slot = (i == 1) ? &plcf->region_country : &plcf->region_subdivision;

        *slot = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*slot == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = *slot;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);
    pmcf->region_used = 1;

    return NGX_CONF_OK;
}


char *
ngx_http_privacy_region_trust(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (plcf->region_trust) {
        return "is duplicate";
    }

    plcf->region_trust = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
    if (plcf->region_trust == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(plcf->region_trust);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid network \"%V\" in \"%V\" directive",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_privacy_valid_code(ngx_str_t *code)
{
    char  c[3], out[PE_REGION_MAX];

    if (pe_region_country(code->data, ngx_min(code->len, 2), c) != 0) {
        return NGX_ERROR;
    }

    if (code->len == 2) {
        return ngx_strncmp(code->data, c, 2) == 0 ? NGX_OK : NGX_ERROR;
    }

    /* a subdivision is written in full, upper case: "US-CA" */
    if (code->len < 4 || code->data[2] != '-'
        || pe_region_subdivision(c, code->data, code->len, out) != 0
        || ngx_strncmp(code->data, out, code->len) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_privacy_group_t *
ngx_http_privacy_find_group(ngx_http_privacy_main_conf_t *pmcf,
    ngx_str_t *name)
{
    ngx_uint_t                 i;
    ngx_http_privacy_group_t  *g;

    g = pmcf->groups.elts;

    for (i = 0; i < pmcf->groups.nelts; i++) {
        if (g[i].name.len == name->len
            && ngx_strncmp(g[i].name.data, name->data, name->len) == 0)
        {
            return &g[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_privacy_valid_name(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0 || name->len > 32) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        if (!((name->data[i] >= 'a' && name->data[i] <= 'z')
              || (name->data[i] >= '0' && name->data[i] <= '9')
              || name->data[i] == '_' || name->data[i] == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


char *
ngx_http_privacy_region_group(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    ngx_str_t                 *value, *code;
    ngx_uint_t                 i;
    ngx_http_privacy_group_t  *g;

    value = cf->args->elts;

    /* lower case: "uk" is a group, "GB" a country */
    if (ngx_http_privacy_valid_name(&value[1]) != NGX_OK
        || ngx_strcmp(value[1].data, "default") == 0
        || ngx_strcmp(value[1].data, "unknown") == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid group name \"%V\" in \"%V\" directive: "
                           "lower case letters, digits, \"_\" and \"-\", "
                           "not \"default\" or \"unknown\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* a group named again, a built-in one too, is defined anew */
    g = ngx_http_privacy_find_group(pmcf, &value[1]);

    if (g == NULL) {
        if (pmcf->groups.nelts == NGX_HTTP_PRIVACY_GROUPS_MAX) {
            return "has too many groups";
        }

        g = ngx_array_push(&pmcf->groups);
        if (g == NULL) {
            return NGX_CONF_ERROR;
        }

        g->name = value[1];
    }

    g->codes = ngx_array_create(cf->pool, cf->args->nelts,
                                sizeof(ngx_str_t));
    if (g->codes == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_privacy_valid_code(&value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid region \"%V\" in \"%V\" directive, "
                               "expected a country (\"DE\") or a "
                               "subdivision (\"US-CA\")",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        code = ngx_array_push(g->codes);
        if (code == NULL) {
            return NGX_CONF_ERROR;
        }

        *code = value[i];
    }

    return NGX_CONF_OK;
}


char *
ngx_http_privacy_region_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_privacy_policy_t     *p;
    ngx_http_privacy_main_conf_t  *pmcf;

    value = cf->args->elts;

    if (plcf->policies == NULL) {
        plcf->policies = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_http_privacy_policy_t));
        if (plcf->policies == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    p = plcf->policies->elts;

    for (i = 0; i < plcf->policies->nelts; i++) {
        if (p[i].key.len == value[1].len
            && ngx_strncmp(p[i].key.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate region \"%V\" in \"%V\" directive",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    p = ngx_array_push(plcf->policies);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(p, sizeof(ngx_http_privacy_policy_t));
    p->key = value[1];

    if (ngx_strcmp(value[1].data, "default") == 0) {
        p->kind = NGX_HTTP_PRIVACY_DEFAULT;

    } else if (ngx_strcmp(value[1].data, "unknown") == 0) {
        p->kind = NGX_HTTP_PRIVACY_UNKNOWN;

    } else if (ngx_http_privacy_valid_code(&value[1]) == NGX_OK) {
        p->kind = value[1].len == 2 ? NGX_HTTP_PRIVACY_COUNTRY
                                    : NGX_HTTP_PRIVACY_SUBDIVISION;

    } else if (ngx_http_privacy_valid_name(&value[1]) == NGX_OK) {
        pmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_privacy_module);

        if (ngx_http_privacy_find_group(pmcf, &value[1]) == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown region group \"%V\" in \"%V\" "
                               "directive (define it with "
                               "privacy_region_group before its use)",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }

        p->kind = NGX_HTTP_PRIVACY_GROUP;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid region \"%V\" in \"%V\" directive, "
                           "expected a group, a country (\"DE\"), a "
                           "subdivision (\"US-CA\"), \"default\" or "
                           "\"unknown\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[2].data, "opt-in") == 0) {
        p->mode = NGX_HTTP_PRIVACY_OPT_IN;

    } else if (ngx_strcmp(value[2].data, "opt-out") == 0) {
        p->mode = NGX_HTTP_PRIVACY_OPT_OUT;

    } else if (ngx_strcmp(value[2].data, "block") == 0) {
        p->mode = NGX_HTTP_PRIVACY_BLOCK;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid policy \"%V\" in \"%V\" directive, "
                           "expected \"opt-in\", \"opt-out\" or \"block\"",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "gpc") == 0 && !p->gpc) {
            p->gpc = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The built-in groups, made with the main configuration so that a policy
 * can name them at once; privacy_region_group may define them anew.
 */

ngx_int_t
ngx_http_privacy_region_create_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    u_char                                  *p, *last, *start;
    ngx_str_t                                name, *code;
    ngx_http_privacy_group_t                *g;
    const ngx_http_privacy_builtin_group_t  *b;

    for (b = ngx_http_privacy_builtin; b->name; b++) {
        name.data = (u_char *) b->name;
        name.len = ngx_strlen(b->name);

        if (ngx_http_privacy_find_group(pmcf, &name)) {
            continue;
        }

        if (pmcf->groups.nelts == NGX_HTTP_PRIVACY_GROUPS_MAX) {
            break;
        }

        g = ngx_array_push(&pmcf->groups);
        if (g == NULL) {
            return NGX_ERROR;
        }

        g->name = name;
        g->codes = ngx_array_create(cf->pool, 32, sizeof(ngx_str_t));
        if (g->codes == NULL) {
            return NGX_ERROR;
        }

        p = (u_char *) b->codes;
        last = p + ngx_strlen(b->codes);

        while (p < last) {
            start = p;

            while (p < last && *p != ' ') {
                p++;
            }

            code = ngx_array_push(g->codes);
            if (code == NULL) {
                return NGX_ERROR;
            }

            code->data = start;
            code->len = p - start;
            p++;
        }
    }

    return NGX_OK;
}


char *
ngx_http_privacy_region_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf)
{
    ngx_str_t    loopback;
    ngx_cidr_t  *cidr;

    if (conf->region_country == NULL) {
        conf->region_country = prev->region_country;
        conf->region_subdivision = prev->region_subdivision;
    }

    if (conf->policies == NULL) {
        conf->policies = prev->policies;
    }

    if (conf->region_trust == NULL) {
        conf->region_trust = prev->region_trust;
    }

    /* by default only loopback is believed: a local CDN stand-in */
    if (conf->region_trust == NULL) {
        conf->region_trust = ngx_array_create(cf->pool, 2,
                                              sizeof(ngx_cidr_t));
        if (conf->region_trust == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&loopback, "127.0.0.0/8");
        cidr = ngx_array_push(conf->region_trust);
        if (cidr == NULL || ngx_ptocidr(&loopback, cidr) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

#if (NGX_HAVE_INET6)
        ngx_str_set(&loopback, "::1/128");
        cidr = ngx_array_push(conf->region_trust);
        if (cidr == NULL || ngx_ptocidr(&loopback, cidr) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
#endif

        prev->region_trust = conf->region_trust;
    }

    return NGX_CONF_OK;
}


/* post-read: is the TCP peer, before realip, one whose headers we believe */

ngx_int_t
ngx_http_privacy_region_post_read(ngx_http_request_t *r)
{
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_loc_conf_t   *plcf;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    if (!pmcf->region_used || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_privacy_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->peer_checked) {
        plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);
        ctx->peer_checked = 1;
        ctx->peer_trusted = plcf->region_trust
                            && ngx_cidr_match(r->connection->sockaddr,
                                              plcf->region_trust) == NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_privacy_group_has(ngx_http_privacy_group_t *g, ngx_str_t *country,
    ngx_str_t *subdivision)
{
    ngx_uint_t   i;
    ngx_str_t   *code;

    code = g->codes->elts;

    for (i = 0; i < g->codes->nelts; i++) {
        if ((code[i].len == country->len
             && ngx_strncmp(code[i].data, country->data, country->len) == 0)
            || (subdivision->len && code[i].len == subdivision->len
                && ngx_strncmp(code[i].data, subdivision->data,
                               subdivision->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}


/* block is stricter than opt-in, opt-in than opt-out; then "gpc" */

static ngx_uint_t
ngx_http_privacy_stricter(ngx_http_privacy_policy_t *a,
    ngx_http_privacy_policy_t *b)
{
    static const ngx_uint_t  strictness[] = { 0, 2, 1, 3 };

    if (strictness[a->mode] != strictness[b->mode]) {
        return strictness[a->mode] > strictness[b->mode];
    }

    return a->gpc && !b->gpc;
}


void
ngx_http_privacy_region_evaluate(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_ctx_t *ctx)
{
    char                           country_code[3];
    ngx_str_t                      v, country, subdivision;
    ngx_uint_t                     i, best, rank;
    ngx_http_privacy_group_t      *g;
    ngx_http_privacy_policy_t     *p, *chosen;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    ngx_str_set(&ctx->region, "unknown");
    ngx_str_set(&ctx->group, "unknown");
    ctx->group_index = 1;
    ngx_str_null(&country);
    ngx_str_null(&subdivision);

    if (plcf->region_country && ctx->peer_trusted
        && ngx_http_complex_value(r, plcf->region_country, &v) == NGX_OK
        && pe_region_country(v.data, v.len, country_code) == 0)
    {
        ngx_memcpy(ctx->region_data, country_code, 3);
        country.data = ctx->region_data;
        country.len = 2;
        ctx->region = country;

        if (plcf->region_subdivision
            && ngx_http_complex_value(r, plcf->region_subdivision, &v)
               == NGX_OK
            && pe_region_subdivision(country_code, v.data, v.len,
                                     (char *) ctx->region_data) == 0)
        {
            subdivision.data = ctx->region_data;
            subdivision.len = ngx_strlen(ctx->region_data);
            ctx->region = subdivision;
        }

        ngx_str_set(&ctx->group, "");
        ctx->group_index = 0;

        g = pmcf->groups.elts;

        for (i = 0; i < pmcf->groups.nelts; i++) {
            if (ngx_http_privacy_group_has(&g[i], &country, &subdivision)) {
                ctx->group = g[i].name;
                ctx->group_index = i + 2;
                break;
            }
        }
    }

    /* the most specific entry wins; nothing that fits: opt-in */
    ctx->mode = NGX_HTTP_PRIVACY_OPT_IN;
    chosen = NULL;
    best = NGX_HTTP_PRIVACY_UNKNOWN + 1;

    if (plcf->policies == NULL) {
        return;
    }

    p = plcf->policies->elts;

    for (i = 0; i < plcf->policies->nelts; i++) {
        rank = p[i].kind;

        if (country.len == 0) {
            if (rank != NGX_HTTP_PRIVACY_UNKNOWN) {
                continue;
            }

        } else if (rank == NGX_HTTP_PRIVACY_UNKNOWN) {
            continue;

        } else if (rank == NGX_HTTP_PRIVACY_SUBDIVISION) {
            if (p[i].key.len != subdivision.len
                || ngx_strncmp(p[i].key.data, subdivision.data,
                               subdivision.len) != 0)
            {
                continue;
            }

        } else if (rank == NGX_HTTP_PRIVACY_COUNTRY) {
            if (ngx_strncmp(p[i].key.data, country.data, 2) != 0) {
                continue;
            }

        } else if (rank == NGX_HTTP_PRIVACY_GROUP) {
            g = ngx_http_privacy_find_group(pmcf, &p[i].key);

            if (g == NULL
                || !ngx_http_privacy_group_has(g, &country, &subdivision))
            {
                continue;
            }
        }

        if (rank < best) {
            best = rank;
            chosen = &p[i];

        } else if (rank == best && rank == NGX_HTTP_PRIVACY_GROUP
                   && ngx_http_privacy_stricter(&p[i], chosen))
        {
            /* in several groups: the strictest of their policies */
            chosen = &p[i];
        }
    }

    if (chosen == NULL) {
        return;
    }

    ctx->mode = chosen->mode;
    ctx->policy_gpc = chosen->gpc;

    /* the group named is the one whose policy applied */
    if (chosen->kind == NGX_HTTP_PRIVACY_GROUP) {
        g = pmcf->groups.elts;

        for (i = 0; i < pmcf->groups.nelts; i++) {
            if (g[i].name.len == chosen->key.len
                && ngx_strncmp(g[i].name.data, chosen->key.data,
                               chosen->key.len) == 0)
            {
                ctx->group = g[i].name;
                ctx->group_index = i + 2;
                break;
            }
        }
    }
}
