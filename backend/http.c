/*
 * privacy-backend: the HTTP API.
 *
 * libmicrohttpd with its own epoll thread and a small thread pool; every
 * answer is JSON but /metrics.  Routes not yet served answer 404 in the
 * same JSON form as every other refusal.
 */

#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"


#define PE_HTTP_THREADS          2
#define PE_HTTP_CONNECTION_MAX   1024
#define PE_HTTP_TIMEOUT          30


static enum MHD_Result
pe_http_reply(struct MHD_Connection *conn, unsigned int status,
    const char *type, const char *body)
{
    enum MHD_Result       rc;
    struct MHD_Response  *res;

    res = MHD_create_response_from_buffer(strlen(body), (void *) body,
                                          MHD_RESPMEM_MUST_COPY);
    if (res == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);

    return rc;
}


static enum MHD_Result
pe_http_metrics(pe_backend_t *be, struct MHD_Connection *conn)
{
    char  body[1024];

    snprintf(body, sizeof(body),
             "# HELP privacy_backend_up 1 while the backend serves.\n"
             "# TYPE privacy_backend_up gauge\n"
             "privacy_backend_up 1\n"
             "# HELP privacy_backend_start_time_seconds Start time.\n"
             "# TYPE privacy_backend_start_time_seconds gauge\n"
             "privacy_backend_start_time_seconds %lld\n"
             "# HELP privacy_backend_http_requests_total HTTP requests.\n"
             "# TYPE privacy_backend_http_requests_total counter\n"
             "privacy_backend_http_requests_total %lu\n",
             (long long) be->started,
             (unsigned long) atomic_load(&be->http_requests));

    return pe_http_reply(conn, MHD_HTTP_OK,
                         "text/plain; version=0.0.4; charset=utf-8", body);
}


static enum MHD_Result
pe_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    int            is_get;
    pe_backend_t  *be = cls;

    (void) version;
    (void) upload_data;

    if (*con_cls == NULL) {
        /* the first call has the headers only */
        *con_cls = be;
        atomic_fetch_add(&be->http_requests, 1);
        return MHD_YES;
    }

    if (*upload_data_size) {
        /* bodies of routes not served here are read and dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }

    is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0
             || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    if (strcmp(url, "/healthz") == 0) {
        if (!is_get) {
            return pe_http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                 "application/json",
                                 "{\"error\":\"method_not_allowed\"}\n");
        }

        return pe_http_reply(conn, MHD_HTTP_OK, "application/json",
                             "{\"status\":\"ok\"}\n");
    }

    if (strcmp(url, "/metrics") == 0 && is_get) {
        return pe_http_metrics(be, conn);
    }

    return pe_http_reply(conn, MHD_HTTP_NOT_FOUND, "application/json",
                         "{\"error\":\"not_found\"}\n");
}


static void
pe_http_log(void *cls, const char *fmt, va_list ap)
{
    char  msg[512];

    (void) cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    pe_log(PE_LOG_ERR, "http: %s", msg);
}


int
pe_http_start(pe_backend_t *be, char *err, size_t errlen)
{
    struct sockaddr_in6   sin6;
    struct sockaddr_in    sin;
    struct sockaddr      *sa;
    unsigned int          flags;

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL
            | MHD_USE_ERROR_LOG;

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));

    if (inet_pton(AF_INET, be->conf.listen_host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t) be->conf.listen_port);
        sa = (struct sockaddr *) &sin;

    } else if (inet_pton(AF_INET6, be->conf.listen_host, &sin6.sin6_addr)
               == 1)
    {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t) be->conf.listen_port);
        sa = (struct sockaddr *) &sin6;
        flags |= MHD_USE_IPv6;

    } else {
        snprintf(err, errlen, "listen address \"%s\" is not an IP address",
                 be->conf.listen_host);
        return -1;
    }

    be->httpd = MHD_start_daemon(flags, (uint16_t) be->conf.listen_port,
                    NULL, NULL, pe_http_handler, be,
                    MHD_OPTION_EXTERNAL_LOGGER, pe_http_log, NULL,
                    MHD_OPTION_SOCK_ADDR, sa,
                    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) PE_HTTP_THREADS,
                    MHD_OPTION_CONNECTION_LIMIT,
                    (unsigned int) PE_HTTP_CONNECTION_MAX,
                    MHD_OPTION_CONNECTION_TIMEOUT,
                    (unsigned int) PE_HTTP_TIMEOUT,
                    MHD_OPTION_END);

    if (be->httpd == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d", be->conf.listen_host,
                 be->conf.listen_port);
        return -1;
    }

    return 0;
}


void
pe_http_stop(pe_backend_t *be)
{
    if (be->httpd) {
        MHD_stop_daemon(be->httpd);
        be->httpd = NULL;
    }
}
