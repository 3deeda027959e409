
/*
 * privacy-edge: consent.
 *
 * The decision of a request is made once: the region and its policy
 * (ngx_http_privacy_region.c), Global Privacy Control, and the consent
 * cookies present, each parsed by its CMP's format.  Each category is
 * decided by the first present cookie, in configuration order, that
 * expresses it; what none expresses follows the region's policy, except
 * an explicit category, which only a cookie that grants it grants.  Then,
 * in the preaccess phase, where a later "allow" under "satisfy any"
 * cannot undo it: a blocked region is refused, privacy_require is
 * enforced, and the request's cookies of refused categories are dropped
 * before the request goes on (ngx_http_privacy_cookie.c, which also drops
 * Set-Cookie of refused categories from the response).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"
#include "pe_gpp.h"


static ngx_int_t ngx_http_privacy_cookie_name_check(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *name);



static const struct {
    const char  *name;
    pe_cmp_e     format;
} ngx_http_privacy_formats[] = {
    { "tcf", PE_CMP_TCF },
    { "onetrust", PE_CMP_ONETRUST },
    { "cookiebot", PE_CMP_COOKIEBOT },
    { "cookieyes", PE_CMP_COOKIEYES },
    { "kv", PE_CMP_KV },
    { "gpp", PE_CMP_GPP },
    { NULL, PE_CMP_TCF }
};


static ngx_int_t
ngx_http_privacy_cookie_name_check(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name)
{
    if (name->len == 0
        || ngx_strlchr(name->data, name->data + name->len, '=')
        || ngx_strlchr(name->data, name->data + name->len, ';'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cookie name \"%V\" in \"%V\" directive",
                           name, &cmd->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_privacy_consent_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_str_t                          *value;
    ngx_uint_t                          i;
    ngx_http_privacy_consent_cookie_t  *cc;

    value = cf->args->elts;

    if (plcf->consent_cookies == NULL) {
        plcf->consent_cookies = ngx_array_create(cf->pool, 2,
                                    sizeof(ngx_http_privacy_consent_cookie_t));
        if (plcf->consent_cookies == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; ngx_http_privacy_formats[i].name; i++) {
        if (ngx_strcmp(value[2].data, ngx_http_privacy_formats[i].name)
            == 0)
        {
            break;
        }
    }

    if (ngx_http_privacy_formats[i].name == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid format \"%V\" in \"%V\" directive, "
                           "expected \"tcf\", \"gpp\", \"onetrust\", "
                           "\"cookiebot\", \"cookieyes\" or \"kv\"",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_privacy_cookie_name_check(cf, cmd, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cc = ngx_array_push(plcf->consent_cookies);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    cc->name = value[1];
    cc->format = ngx_http_privacy_formats[i].format;
    ngx_str_null(&cc->sid);

    if (cf->args->nelts == 4) {
        if (cc->format != PE_CMP_GPP
            || ngx_strncmp(value[3].data, "sid=", 4) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive (only \"gpp\" takes \"sid=\")",
                               &value[3], &cmd->name);
            return NGX_CONF_ERROR;
        }

        cc->sid.data = value[3].data + 4;
        cc->sid.len = value[3].len - 4;

        if (ngx_http_privacy_cookie_name_check(cf, cmd, &cc->sid) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_privacy_category_bit(ngx_http_privacy_main_conf_t *pmcf,
    ngx_str_t *name)
{
    ngx_uint_t   i;
    ngx_str_t   *c;

    c = pmcf->categories.elts;

    for (i = 0; i < pmcf->categories.nelts; i++) {
        if (c[i].len == name->len
            && ngx_strncmp(c[i].data, name->data, name->len) == 0)
        {
            return (ngx_int_t) i;
        }
    }

    return NGX_ERROR;
}


char *
ngx_http_privacy_consent_category(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    size_t      i;
    ngx_str_t  *value, *c;

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (!((value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')
              || value[1].data[i] == '_'))
        {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > 32 || i != value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid category \"%V\" in \"%V\" directive: "
                           "lower case letters, digits and \"_\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_privacy_category_bit(pmcf, &value[1]) != NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate category \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3 && ngx_strcmp(value[2].data, "explicit") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"explicit\"", &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (pmcf->categories.nelts == PE_CAT_MAX) {
        return "has too many categories";
    }

    if (cf->args->nelts == 3) {
        pmcf->explicit_categories |= 1u << pmcf->categories.nelts;
    }

    c = ngx_array_push(&pmcf->categories);
    if (c == NULL) {
        return NGX_CONF_ERROR;
    }

    *c = value[1];

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_category_arg(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name)
{
    ngx_int_t                      bit;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);

    bit = ngx_http_privacy_category_bit(pmcf, name);

    if (bit == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown category \"%V\" in \"%V\" directive "
                           "(declare it with privacy_consent_category "
                           "before its use)", name, &cmd->name);
    }

    return bit;
}


char *
ngx_http_privacy_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_loc_conf_t *plcf = conf;

    ngx_int_t    bit, status;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (plcf->require) {
        return "is duplicate";
    }

    value = cf->args->elts;
    plcf->require_status = NGX_HTTP_FORBIDDEN;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;
            status = ngx_atoi(s.data, s.len);

            if (status < 400 || status > 599) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid status \"%V\" in \"%V\" "
                                   "directive, expected 400 to 599",
                                   &s, &cmd->name);
                return NGX_CONF_ERROR;
            }

            plcf->require_status = status;
            continue;
        }

        bit = ngx_http_privacy_category_arg(cf, cmd, &value[i]);
        if (bit == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        plcf->require |= 1u << bit;
    }

    if (plcf->require == 0) {
        return "needs a category";
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_consent_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    ngx_uint_t   i;
    ngx_str_t   *c;

    c = pmcf->categories.elts;

    for (i = 0; i < pmcf->categories.nelts; i++) {
        pmcf->pe_categories.name[i] = (const char *) c[i].data;
        pmcf->pe_categories.len[i] = c[i].len;
    }

    pmcf->pe_categories.n = pmcf->categories.nelts;

    pmcf->consent_cache = ngx_pcalloc(cf->pool,
                                  NGX_HTTP_PRIVACY_CONSENT_SLOTS
                                  * sizeof(ngx_http_privacy_consent_entry_t));
    if (pmcf->consent_cache == NULL) {
        return NGX_ERROR;
    }

    if (pmcf->cookie_classes) {
        pmcf->class_cache = ngx_pcalloc(cf->pool,
                                  NGX_HTTP_PRIVACY_CLASS_SLOTS
                                  * sizeof(ngx_http_privacy_class_entry_t));
        if (pmcf->class_cache == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


char *
ngx_http_privacy_consent_merge(ngx_conf_t *cf,
    ngx_http_privacy_loc_conf_t *prev, ngx_http_privacy_loc_conf_t *conf)
{
    if (conf->consent_cookies == NULL) {
        conf->consent_cookies = prev->consent_cookies;
    }

    ngx_conf_merge_value(conf->cookie_filter, prev->cookie_filter, 0);

    /* privacy_require is not inherited: it guards its own location */

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_privacy_gpc(ngx_http_request_t *r)
{
    ngx_uint_t        i, gpc;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    gpc = 0;
    part = &r->headers_in.headers.part;
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

        if (h[i].key.len == 7
            && ngx_strncasecmp(h[i].key.data, (u_char *) "sec-gpc", 7) == 0)
        {
            /* W3C GPC: the value is exactly "1"; any other voids it */
            if (h[i].value.len != 1 || h[i].value.data[0] != '1') {
                return 0;
            }

            gpc = 1;
        }
    }

    return gpc;
}


static void
ngx_http_privacy_parse_consent(ngx_http_privacy_main_conf_t *pmcf,
    pe_cmp_e format, uint64_t sections, ngx_str_t *value,
    pe_consent_t *consent)
{
    ngx_uint_t                         hash;
    ngx_http_privacy_consent_entry_t  *e;

    e = NULL;
    hash = 0;

    if (value->len && value->len <= NGX_HTTP_PRIVACY_CONSENT_VALUE) {
        hash = ngx_hash_key(value->data, value->len) ^ format
               ^ (ngx_uint_t) sections;
        e = &pmcf->consent_cache[hash % NGX_HTTP_PRIVACY_CONSENT_SLOTS];

        if (e->len == value->len && e->hash == hash && e->format == format
            && e->sections == sections
            && ngx_memcmp(e->value, value->data, value->len) == 0)
        {
            *consent = e->consent;
            return;
        }
    }

    if (format == PE_CMP_GPP) {
        if (pe_gpp_consent(value->data, value->len, sections, consent) != 0)
        {
            consent->granted = PE_CAT_NECESSARY;
            consent->refused = pe_consent_expressible(PE_CMP_GPP);
        }

    } else {
        (void) pe_consent_parse(format, value->data, value->len,
                                &pmcf->pe_categories, consent);
    }

    if (e) {
        ngx_memcpy(e->value, value->data, value->len);
        e->len = value->len;
        e->hash = hash;
        e->format = format;
        e->sections = sections;
        e->consent = *consent;
    }
}


/*
 * What the consent cookies present say, category by category: each is
 * decided by the first cookie, in configuration order, that expresses it.
 * Returns the categories decided; *granted holds those granted.
 */

static uint32_t
ngx_http_privacy_consent_sources(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf, ngx_http_privacy_main_conf_t *pmcf,
    uint32_t *granted)
{
    uint32_t                            decided, said;
    uint64_t                            sections;
    ngx_str_t                           value, sid;
    ngx_uint_t                          i;
    pe_consent_t                        consent;
    ngx_http_privacy_consent_cookie_t  *cc;

    decided = 0;
    *granted = 0;

    if (plcf->consent_cookies == NULL) {
        return 0;
    }

    cc = plcf->consent_cookies->elts;

    for (i = 0; i < plcf->consent_cookies->nelts; i++) {
        if (ngx_http_privacy_find_cookie(r, &cc[i].name, &value) != NGX_OK) {
            continue;
        }

        /* a GPP string counts only its applicable sections, when told */
        sections = ~(uint64_t) 0;

        if (cc[i].sid.len
            && ngx_http_privacy_find_cookie(r, &cc[i].sid, &sid) == NGX_OK
            && pe_gpp_sid(sid.data, sid.len, &sections) != 0)
        {
            /* a section list that does not parse: no consent from it */
            ngx_str_null(&value);
        }

        ngx_http_privacy_parse_consent(pmcf, cc[i].format, sections, &value,
                                       &consent);

        said = (consent.granted | consent.refused) & ~decided;
        *granted |= consent.granted & said;
        decided |= said;
    }

    return decided;
}


/* the decision of the main request, made once and cached */

ngx_http_privacy_ctx_t *
ngx_http_privacy_evaluate(ngx_http_request_t *r)
{
    uint32_t                       all, decided, granted, open;
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_loc_conf_t   *plcf;
    ngx_http_privacy_main_conf_t  *pmcf;

    r = r->main;

    ctx = ngx_http_privacy_create_ctx(r);
    if (ctx == NULL || ctx->evaluated) {
        return ctx;
    }

    ctx->evaluated = 1;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_privacy_module);
    pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);

    ctx->gpc = ngx_http_privacy_gpc(r);

    ngx_http_privacy_region_evaluate(r, plcf, ctx);

    all = (pmcf->categories.nelts >= 32)
          ? 0xffffffffu : ((1u << pmcf->categories.nelts) - 1);

    decided = ngx_http_privacy_consent_sources(r, plcf, pmcf, &granted);

    /* what no cookie spoke of: the policy, never an explicit category */
    open = all & ~decided & ~pmcf->explicit_categories;

    switch (ctx->mode) {

    case NGX_HTTP_PRIVACY_OPT_OUT:
        ctx->granted = (granted | open) & all;
        break;

    case NGX_HTTP_PRIVACY_BLOCK:
        ctx->granted = PE_CAT_NECESSARY;
        break;

    default: /* NGX_HTTP_PRIVACY_OPT_IN */
        ctx->granted = granted & all;
        break;
    }

    if (ctx->gpc && ctx->policy_gpc) {
        ctx->granted &= ~PE_CAT_MARKETING;
    }

    ctx->granted |= PE_CAT_NECESSARY;

    return ctx;
}


size_t
ngx_http_privacy_categories_text(ngx_http_privacy_main_conf_t *pmcf,
    uint32_t bits, u_char *buf, size_t len, ngx_uint_t json)
{
    u_char      *p, *last;
    ngx_str_t   *c;
    ngx_uint_t   i, first;

    p = buf;
    last = buf + len;
    c = pmcf->categories.elts;
    first = 1;

    for (i = 0; i < pmcf->categories.nelts; i++) {
        if (!(bits & (1u << i))) {
            continue;
        }

        p = ngx_slprintf(p, last, json ? "%s\"%V\"" : "%s%V",
                         first ? "" : ",", &c[i]);
        first = 0;
    }

    return p - buf;
}


ngx_int_t
ngx_http_privacy_consent_preaccess(ngx_http_request_t *r,
    ngx_http_privacy_loc_conf_t *plcf)
{
    u_char                         names[512];
    size_t                         len;
    uint32_t                       missing;
    ngx_uint_t                     i;
    ngx_str_t                      first;
    ngx_http_privacy_ctx_t        *ctx;
    ngx_http_privacy_main_conf_t  *pmcf;

    ctx = ngx_http_privacy_evaluate(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->mode == NGX_HTTP_PRIVACY_BLOCK) {
        return ngx_http_privacy_refuse(r, ctx, NGX_HTTP_PRIVACY_REGION_BLOCKED,
                                       ",\"region\":\"%V\"", &ctx->region);
    }

    if (plcf->require && (ctx->granted & plcf->require) != plcf->require) {
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_privacy_module);
        missing = plcf->require & ~ctx->granted;

        for (i = 0; !(missing & (1u << i)); i++) {
            /* void */
        }

        first = ((ngx_str_t *) pmcf->categories.elts)[i];
        len = ngx_http_privacy_categories_text(pmcf, missing, names,
                                               sizeof(names), 1);

        return ngx_http_privacy_refuse_with(r, ctx, plcf->require_status,
                                            NGX_HTTP_PRIVACY_CONSENT_REQUIRED,
                                            ",\"category\":\"%V\","
                                            "\"missing\":[%*s]",
                                            &first, len, names);
    }

    if (plcf->cookie_filter && !ctx->cookies_filtered) {
        /* report mode leaves them: an "on" location reached by an
           internal redirect still filters them */
        ctx->cookies_filtered = !ngx_http_privacy_report_mode(r);

        if (ngx_http_privacy_filter_request_cookies(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_DECLINED;
}
