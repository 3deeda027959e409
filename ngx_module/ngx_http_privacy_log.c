
/*
 * privacy-edge: no full client address in the error log.
 *
 * nginx ends each error log line of a request with ", client: ADDRESS",
 * the full address, whatever the access log's format says: a denied
 * request, an upstream error, a slow client.  With privacy_error_log_anon
 * the module puts its own handler in front of nginx's on each request's
 * connection log, and the address it names is the anonymised one
 * ($privacy_remote_addr_anon: IPv4 /24, IPv6 /48) at the moment the line
 * is written, so after realip too.  Lines written before a request is
 * read (a client that connects and says nothing) are not the request's,
 * and keep nginx's wording; they are info-level.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_privacy_module.h"


/* nginx's own handler, the same for every HTTP connection */
static ngx_log_handler_pt  ngx_http_privacy_log_next;


static u_char *ngx_http_privacy_log_addr(ngx_log_t *log,
    ngx_connection_t *c, u_char *buf, size_t len);


size_t
ngx_http_privacy_anon_sockaddr(struct sockaddr *sockaddr, socklen_t socklen,
    u_char *buf, size_t size)
{
    ngx_sockaddr_t        sa;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    if (socklen > (socklen_t) sizeof(ngx_sockaddr_t)) {
        return 0;
    }

    ngx_memcpy(&sa, sockaddr, socklen);

    switch (sa.sockaddr.sa_family) {

    case AF_INET:
        sin = &sa.sockaddr_in;
        sin->sin_addr.s_addr &= htonl(0xffffff00);
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = &sa.sockaddr_in6;
        ngx_memzero(&sin6->sin6_addr.s6_addr[6], 10);
        break;
#endif

    default:
        return 0;
    }

    return ngx_sock_ntop(&sa.sockaddr, socklen, buf, size, 0);
}


static ngx_str_t  ngx_http_privacy_hidden = ngx_string("(hidden)");


static u_char *
ngx_http_privacy_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                       *p;
    ngx_str_t                     line, uri;
    ngx_connection_t             *c;
    ngx_http_request_t           *r, *sr;
    ngx_http_upstream_t          *u;
    ngx_http_log_ctx_t           *ctx;
    ngx_http_privacy_loc_conf_t  *plcf;

    ctx = log->data;
    c = ctx->connection;
    r = ctx->request;
    sr = ctx->current_request;
    u = NULL;
    ngx_str_null(&line);
    ngx_str_null(&uri);

    /*
     * A URI that is a capability (a media link) stays out of the line:
     * the request line and the upstream's URI are written as "(hidden)".
     */
    plcf = r && r->loc_conf
           ? ngx_http_get_module_loc_conf(r, ngx_http_privacy_module) : NULL;

    if (plcf && plcf->error_log_hide_uri) {
        line = r->request_line;
        r->request_line = ngx_http_privacy_hidden;

        u = sr ? sr->upstream : NULL;

        if (u) {
            uri = u->uri;
            u->uri = ngx_http_privacy_hidden;
        }
    }

    p = ngx_http_privacy_log_addr(log, c, buf, len);

    if (plcf && plcf->error_log_hide_uri) {
        r->request_line = line;

        if (u) {
            u->uri = uri;
        }
    }

    return p;
}


/* nginx's line, the client's address in it anonymised */
static u_char *
ngx_http_privacy_log_addr(ngx_log_t *log, ngx_connection_t *c, u_char *buf,
    size_t len)
{
    u_char     *p, anon[NGX_SOCKADDR_STRLEN];
    ngx_str_t   full;

    full = c->addr_text;

    c->addr_text.len = ngx_http_privacy_anon_sockaddr(c->sockaddr,
                                                      c->socklen, anon,
                                                      sizeof(anon));
    c->addr_text.data = anon;

    if (c->addr_text.len == 0) {
        /* a unix socket: no address to hide */
        c->addr_text = full;
    }

    p = ngx_http_privacy_log_next(log, buf, len);

    c->addr_text = full;

    return p;
}


static ngx_int_t
ngx_http_privacy_log_post_read(ngx_http_request_t *r)
{
    ngx_log_t  *log;

    log = r->connection->log;

    /*
     * Every HTTP connection's log has nginx's ngx_http_log_error (an
     * HTTP/2 stream's is a copy of its connection's); one that has another
     * handler is left alone rather than given the wrong one.
     */
    if (ngx_http_privacy_log_next == NULL) {
        ngx_http_privacy_log_next = log->handler;
    }

    if (log->handler == ngx_http_privacy_log_next) {
        log->handler = ngx_http_privacy_log_error;
    }

    return NGX_DECLINED;
}


char *
ngx_http_privacy_error_log_hide_uri(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                          *rv;
    ngx_flag_t                    *fp;
    ngx_http_privacy_main_conf_t  *pmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    fp = (ngx_flag_t *) ((char *) conf + cmd->offset);

    if (*fp) {
        pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_privacy_module);
        pmcf->error_log_hide_used = 1;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_privacy_log_init(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (pmcf->error_log_hide_used && !pmcf->error_log_anon) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"privacy_error_log_hide_uri\" needs "
                           "\"privacy_error_log_anon on\"");
        return NGX_ERROR;
    }

    if (!pmcf->error_log_anon) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_privacy_log_post_read;

    return NGX_OK;
}
