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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "callbacks.h"
#include "context.h"
#include "job.h"
#include "log.h"
#include "media.h"
#include "reply.h"
#include "store.h"
#include "subject.h"
#include "upload.h"


#define PE_HTTP_THREADS          2


/* bytes in the spool now: what is held encrypted at rest */
static unsigned long long
pe_http_spool_bytes(pe_backend_t *be, unsigned long *files)
{
    DIR                 *d;
    char                 path[PATH_MAX];
    struct stat          st;
    struct dirent       *e;
    unsigned long long   bytes;

    bytes = 0;
    *files = 0;

    d = opendir(be->conf.spool);
    if (d == NULL) {
        return 0;
    }

    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", be->conf.spool, e->d_name);

        if (e->d_name[0] != '.' && stat(path, &st) == 0
            && S_ISREG(st.st_mode))
        {
            bytes += (unsigned long long) st.st_size;
            (*files)++;
        }
    }

    closedir(d);

    return bytes;
}


/* appends to a growing text; the text is dropped if memory runs out */
static void
pe_text(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    int       n;
    char     *b;
    va_list   ap;

    if (*buf == NULL) {
        return;
    }

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);

        if (n >= 0 && (size_t) n < *cap - *len) {
            *len += (size_t) n;
            return;
        }

        b = realloc(*buf, *cap * 2);
        if (b == NULL || n < 0) {
            free(b ? b : *buf);
            *buf = NULL;
            return;
        }

        *buf = b;
        *cap *= 2;
    }
}


static enum MHD_Result
pe_http_metrics(pe_backend_t *be, struct MHD_Connection *conn)
{
    int                     s;
    char                   *b;
    enum MHD_Result         rc;
    size_t                  i, k, len, cap;
    const char             *p;
    unsigned long           files, cum;
    unsigned long long      bytes;
    pe_provider_metrics_t  *m;
    static const unsigned   bounds[] = PE_LATENCY_BUCKETS;

    cap = 8192;
    len = 0;
    b = malloc(cap);

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_up 1 while the backend serves.\n"
            "# TYPE privacy_backend_up gauge\n"
            "privacy_backend_up 1\n"
            "# HELP privacy_backend_start_time_seconds Start time.\n"
            "# TYPE privacy_backend_start_time_seconds gauge\n"
            "privacy_backend_start_time_seconds %lld\n"
            "# HELP privacy_backend_http_requests_total HTTP requests.\n"
            "# TYPE privacy_backend_http_requests_total counter\n"
            "privacy_backend_http_requests_total %lu\n"
            "# HELP privacy_backend_jobs_total Jobs that entered each "
            "state.\n"
            "# TYPE privacy_backend_jobs_total counter\n",
            (long long) be->started,
            (unsigned long) atomic_load(&be->http_requests));

    for (i = 0; i < be->conf.nproviders; i++) {
        p = be->conf.providers[i].name;

        for (s = 0; s < PE_JOB_STATES; s++) {
            pe_text(&b, &len, &cap,
                    "privacy_backend_jobs_total{provider=\"%s\","
                    "state=\"%s\"} %lu\n", p, pe_job_state_name(s),
                    (unsigned long) atomic_load(&be->metrics[i].jobs[s]));
        }
    }

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_provider_in_flight Provider calls in "
            "flight.\n"
            "# TYPE privacy_backend_provider_in_flight gauge\n");

    for (i = 0; i < be->conf.nproviders; i++) {
        pe_text(&b, &len, &cap,
                "privacy_backend_provider_in_flight{provider=\"%s\"} %ld\n",
                be->conf.providers[i].name,
                (long) atomic_load(&be->metrics[i].in_flight));
    }

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_provider_retries_total Provider calls "
            "retried (429, 5xx, no connection).\n"
            "# TYPE privacy_backend_provider_retries_total counter\n");

    for (i = 0; i < be->conf.nproviders; i++) {
        pe_text(&b, &len, &cap,
                "privacy_backend_provider_retries_total{provider=\"%s\"} "
                "%lu\n", be->conf.providers[i].name,
                (unsigned long) atomic_load(&be->metrics[i].retries));
    }

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_provider_errors_total Provider calls "
            "without an answer.\n"
            "# TYPE privacy_backend_provider_errors_total counter\n");

    for (i = 0; i < be->conf.nproviders; i++) {
        pe_text(&b, &len, &cap,
                "privacy_backend_provider_errors_total{provider=\"%s\"} "
                "%lu\n", be->conf.providers[i].name,
                (unsigned long) atomic_load(&be->metrics[i].errors));
    }

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_provider_latency_seconds Provider call "
            "latency.\n"
            "# TYPE privacy_backend_provider_latency_seconds histogram\n");

    for (i = 0; i < be->conf.nproviders; i++) {
        m = &be->metrics[i];
        p = be->conf.providers[i].name;
        cum = 0;

        for (k = 0; k <= PE_LATENCY_NBUCKETS; k++) {
            cum += atomic_load(&m->latency[k]);

            if (k < PE_LATENCY_NBUCKETS) {
                pe_text(&b, &len, &cap,
                        "privacy_backend_provider_latency_seconds_bucket{"
                        "provider=\"%s\",le=\"%g\"} %lu\n", p,
                        bounds[k] / 1000.0, cum);
            }
        }

        pe_text(&b, &len, &cap,
                "privacy_backend_provider_latency_seconds_bucket{"
                "provider=\"%s\",le=\"+Inf\"} %lu\n"
                "privacy_backend_provider_latency_seconds_sum{"
                "provider=\"%s\"} %.3f\n"
                "privacy_backend_provider_latency_seconds_count{"
                "provider=\"%s\"} %lu\n", p, cum, p,
                atomic_load(&m->latency_ms) / 1000.0, p, cum);
    }

    bytes = pe_http_spool_bytes(be, &files);

    pe_text(&b, &len, &cap,
            "# HELP privacy_backend_spool_bytes Bytes held in the spool, "
            "encrypted.\n"
            "# TYPE privacy_backend_spool_bytes gauge\n"
            "privacy_backend_spool_bytes %llu\n"
            "# HELP privacy_backend_spool_files Files in the spool.\n"
            "# TYPE privacy_backend_spool_files gauge\n"
            "privacy_backend_spool_files %lu\n"
            "# HELP privacy_backend_media_links_served_total Media links "
            "served to providers.\n"
            "# TYPE privacy_backend_media_links_served_total counter\n"
            "privacy_backend_media_links_served_total %lu\n",
            bytes, files, (unsigned long) atomic_load(&be->media_served));

    if (b == NULL) {
        return MHD_NO;
    }

    rc = (enum MHD_Result) pe_reply(conn, MHD_HTTP_OK,
                       "text/plain; version=0.0.4; charset=utf-8", b);
    free(b);

    return rc;
}


/* what one request carries from MHD's first call to its last */
typedef struct {
    pe_context_t     ctx;
    int              ctx_ok;
    pe_upload_t     *upload;
    unsigned         status;        /* an answer decided early */
    char            *body;

    /* a provider's callback: its body, whole, before it is judged */
    char             provider[32];
    char            *hook;
    size_t           hook_len;
    int              hook_over;
} pe_http_request_t;


static const char *
pe_http_header(void *data, const char *name)
{
    return MHD_lookup_connection_value(data, MHD_HEADER_KIND, name);
}


#define PE_HOOK_PREFIX  "/v1/providers/"
#define PE_HOOK_SUFFIX  "/webhook"


/* "/v1/providers/NAME/webhook": NAME into req, or -1 */
static int
pe_http_hook_route(const char *url, pe_http_request_t *req)
{
    size_t       n;
    const char  *name, *end;

    if (strncmp(url, PE_HOOK_PREFIX, sizeof(PE_HOOK_PREFIX) - 1) != 0) {
        return -1;
    }

    name = url + sizeof(PE_HOOK_PREFIX) - 1;
    end = strchr(name, '/');

    if (end == NULL || strcmp(end, PE_HOOK_SUFFIX) != 0) {
        return -1;
    }

    n = (size_t) (end - name);

    if (n == 0 || n >= sizeof(req->provider)) {
        return -1;
    }

    memcpy(req->provider, name, n);
    req->provider[n] = '\0';

    return 0;
}


/* the body kept, up to PE_CALLBACK_BODY_MAX; past it, only drained */
static void
pe_http_hook_feed(pe_http_request_t *req, const char *data, size_t n)
{
    char  *b;

    if (req->hook_over || req->hook_len + n > PE_CALLBACK_BODY_MAX) {
        req->hook_over = 1;
        return;
    }

    b = realloc(req->hook, req->hook_len + n + 1);
    if (b == NULL) {
        req->hook_over = 1;
        return;
    }

    memcpy(b + req->hook_len, data, n);
    req->hook = b;
    req->hook_len += n;
    req->hook[req->hook_len] = '\0';
}


/*
 * A context that may change something is good for one request: its jti is
 * marked in Redis (SET NX) until the context would be refused as expired,
 * and a second use finds the mark.  The edge signs a context per request,
 * so only a replay ever does.  0, or the refusal's status and reason.
 */
static unsigned
pe_http_once(pe_backend_t *be, const pe_context_t *ctx, time_t now,
    const char **error, const char **reason)
{
    char         key[PE_CONTEXT_MARK_LEN + 1];
    unsigned     status;
    redisReply  *r;

    *error = "context_invalid";

    if (pe_context_mark(be->conf.context_key, be->conf.context_key_len, ctx,
                        key, sizeof(key))
        != 0)
    {
        *reason = "context has no jti";
        return MHD_HTTP_UNAUTHORIZED;
    }

    /* verified: now - skew <= exp <= now + skew + life */
    r = pe_store_command(be->store, "SET %s 1 NX PX %lld", key,
                         (ctx->exp + PE_CONTEXT_SKEW - (long long) now + 1)
                         * 1000);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        *error = "store_unavailable";
        *reason = NULL;
        status = MHD_HTTP_SERVICE_UNAVAILABLE;

    } else if (r->type == REDIS_REPLY_NIL) {
        *reason = "context replayed";
        status = MHD_HTTP_UNAUTHORIZED;

    } else {
        status = 0;
    }

    freeReplyObject(r);

    return status;
}


/*
 * Every /v1/ route but the provider webhooks and the media links needs the
 * edge's signed context: who the request is for comes from it alone.  A
 * request that may write (any method but GET and HEAD) spends it.
 */
static int
pe_http_context(pe_backend_t *be, struct MHD_Connection *conn,
    pe_http_request_t *req, int spend)
{
    char         err[128];
    time_t       now;
    const char  *token, *error, *reason;

    token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        "Privacy-Context");
    now = time(NULL);
    error = NULL;
    reason = NULL;

    if (pe_context_verify(be->conf.context_key, be->conf.context_key_len,
                          token, token ? strlen(token) : 0, now, &req->ctx,
                          err, sizeof(err))
        != 0)
    {
        req->status = MHD_HTTP_UNAUTHORIZED;
        error = "context_invalid";
        reason = err;

    } else if (spend) {
        req->status = pe_http_once(be, &req->ctx, now, &error, &reason);
    }

    if (req->status) {
        req->body = pe_error_body(error, reason);
        pe_log(PE_LOG_INFO, "http: refused: %s", reason ? reason : error);
        return -1;
    }

    req->ctx_ok = 1;

    return 0;
}


static enum MHD_Result
pe_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    int                 is_get, is_post, is_delete;
    char               *body;
    unsigned            status;
    pe_backend_t       *be = cls;
    pe_http_request_t  *req = *con_cls;

    (void) version;

    is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0
             || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    is_delete = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;

    if (req == NULL) {
        /* the first call has the headers only */
        req = calloc(1, sizeof(pe_http_request_t));
        if (req == NULL) {
            return MHD_NO;
        }

        *con_cls = req;
        atomic_fetch_add(&be->http_requests, 1);

        /* the routes served; anything else is a 404 with or without */
        if ((strcmp(url, "/v1/jobs") == 0
             || strncmp(url, "/v1/jobs/", 9) == 0
             || strcmp(url, "/v1/subjects/me") == 0
             || strcmp(url, "/v1/subjects/me/export") == 0)
            && pe_http_context(be, conn, req, !is_get) == 0
            && is_post && strcmp(url, "/v1/jobs") == 0)
        {
            req->upload = pe_upload_begin(be, &req->ctx,
                              MHD_lookup_connection_value(conn,
                                  MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_CONTENT_TYPE),
                              &req->status, &req->body);

        } else if (is_post) {
            (void) pe_http_hook_route(url, req);
        }

        return MHD_YES;
    }

    if (*upload_data_size) {
        /* the body as it comes; refused requests' bodies are drained */
        if (req->upload) {
            pe_upload_feed(req->upload, upload_data, *upload_data_size);

        } else if (req->provider[0]) {
            pe_http_hook_feed(req, upload_data, *upload_data_size);
        }

        *upload_data_size = 0;
        return MHD_YES;
    }

    if (req->upload) {
        pe_upload_end(req->upload, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    if (req->status) {
        body = req->body;
        req->body = NULL;
        return pe_reply_json(conn, req->status, body);
    }

    if (strcmp(url, "/healthz") == 0) {
        if (!is_get) {
            return pe_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                 "application/json",
                                 "{\"error\":\"method_not_allowed\"}\n");
        }

        return pe_reply(conn, MHD_HTTP_OK, "application/json",
                             "{\"status\":\"ok\"}\n");
    }

    if (strcmp(url, "/metrics") == 0 && is_get) {
        return pe_http_metrics(be, conn);
    }

    if (req->ctx_ok && is_get && strcmp(url, "/v1/jobs") == 0) {
        pe_subject_jobs(be, &req->ctx, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    if (req->ctx_ok && is_get && strncmp(url, "/v1/jobs/", 9) == 0) {
        pe_subject_job(be, &req->ctx, url + 9, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    if (req->ctx_ok && is_delete && strncmp(url, "/v1/jobs/", 9) == 0) {
        pe_subject_delete_job(be, &req->ctx, url + 9, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    if (req->ctx_ok && is_delete && strcmp(url, "/v1/subjects/me") == 0) {
        pe_subject_erase(be, &req->ctx, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    if (req->ctx_ok && is_get
        && strcmp(url, "/v1/subjects/me/export") == 0)
    {
        pe_subject_export(be, &req->ctx, &status, &body);
        return pe_reply_json(conn, status, body);
    }

    /* no context: the provider's signature, and a check of the job */
    if (req->provider[0]) {
        if (req->hook_over) {
            return pe_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                 "application/json",
                                 "{\"error\":\"too_large\"}\n");
        }

        pe_callback_handle(be, req->provider,
                           MHD_lookup_connection_value(conn,
                               MHD_GET_ARGUMENT_KIND, "job"),
                           pe_http_header, conn,
                           req->hook ? req->hook : "", req->hook_len,
                           &status, &body);
        return pe_reply_json(conn, status, body);
    }

    /* no context: the token is the only key, and one job's only */
    if (is_get && strncmp(url, "/v1/media/", 10) == 0) {
        return (enum MHD_Result) pe_media_serve(be, conn,
                   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0, url + 10);
    }

    return pe_reply(conn, MHD_HTTP_NOT_FOUND, "application/json",
                         "{\"error\":\"not_found\"}\n");
}


static void
pe_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    pe_http_request_t  *req = *con_cls;

    (void) cls;
    (void) conn;
    (void) toe;

    if (req == NULL) {
        return;
    }

    /* an upload the client did not finish leaves nothing behind */
    pe_upload_free(req->upload);
    free(req->body);
    free(req->hook);
    memset(&req->ctx, 0, sizeof(req->ctx));
    free(req);
    *con_cls = NULL;
}


static void
pe_http_log(void *cls, const char *fmt, va_list ap)
{
    char   msg[512], *link, *end;

    (void) cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';

    /* libmicrohttpd names the URL: a media link is a live capability */
    for (link = strstr(msg, "/v1/media/"); link;
         link = strstr(link, "/v1/media/"))
    {
        link += sizeof("/v1/media/") - 1;
        end = link + strcspn(link, " \"'?");

        if (end > link) {
            memmove(link + 1, end, strlen(end) + 1);
            *link = '*';
        }
    }

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
                    MHD_OPTION_NOTIFY_COMPLETED, pe_http_completed, NULL,
                    MHD_OPTION_SOCK_ADDR, sa,
                    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) PE_HTTP_THREADS,
                    MHD_OPTION_CONNECTION_LIMIT,
                    (unsigned int) PE_CONF_CONNECTIONS,
                    /* one address (a host, a stray local process) holding
                     * idle, half-sent connections leaves the rest to
                     * nginx; those over the limit are closed at accept */
                    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                    (unsigned int) be->conf.listen_per_ip,
                    MHD_OPTION_CONNECTION_TIMEOUT,
                    (unsigned int) be->conf.listen_timeout,
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
