
/*
 * privacy-edge: the Redis that sync=redis zones share, reached without
 * ever blocking a worker.
 *
 * Each worker holds one hiredis async connection, bound to nginx's event
 * loop by the adapter below: hiredis asks to read or write, and the
 * requests are nginx events of an ngx_connection_t around hiredis's
 * socket.  Level-triggered, because hiredis reads at most one buffer per
 * event.  Replies pipeline: each call carries its own callback data, and
 * hiredis answers calls in the order they were sent.
 *
 * A call is heap memory, not the request's: a request may go (timeout,
 * client gone) before its reply comes, and the call then lives on,
 * detached, until hiredis hands back the reply.  hiredis calls back every
 * call exactly once, with NULL when the connection is lost.
 *
 * Failures are counted: after a few in a row the breaker opens and Redis
 * is not asked at all for a while, so that requests do not each wait out
 * the timeout; then one request probes it.  A connection that stops
 * answering (a stopped server keeps the TCP connection up) is dropped and
 * made again, with exponential backoff and jitter.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <openssl/evp.h>

#include "ngx_http_privacy_module.h"


#define NGX_HTTP_PRIVACY_REDIS_FAILURES    3     /* in a row: breaker opens */
#define NGX_HTTP_PRIVACY_REDIS_OPEN        1000  /* ms the breaker stays */
#define NGX_HTTP_PRIVACY_REDIS_BACKOFF     100   /* first reconnect, ms */
#define NGX_HTTP_PRIVACY_REDIS_BACKOFF_MAX 2000
#define NGX_HTTP_PRIVACY_REDIS_PENDING_MAX 10000 /* calls in flight */
#define NGX_HTTP_PRIVACY_REDIS_BUCKETS     256
#define NGX_HTTP_PRIVACY_REDIS_BATCH       64    /* requests in one call */
#define NGX_HTTP_PRIVACY_REDIS_TIMEOUT_MAX 10000 /* ms */



struct ngx_http_privacy_redis_s {
    ngx_str_t                       name;      /* as configured, for logs */
    u_char                         *host;      /* numeric, NUL-terminated */
    int                             port;
    u_char                         *path;      /* unix:, NUL-terminated */
    ngx_msec_t                      timeout;
    ngx_uint_t                      fail_closed;
    ngx_str_t                       password;
    ngx_int_t                       db;

    ngx_http_privacy_main_conf_t   *pmcf;

    /* the worker's own state, from here on */
    redisAsyncContext              *ac;
    ngx_connection_t               *conn;
    ngx_event_t                     reconnect;
    ngx_msec_t                      backoff;
    ngx_uint_t                      failures;  /* in a row */
    ngx_msec_t                      open_until;
    ngx_uint_t                      pending;
    ngx_event_t                     flush;
    ngx_queue_t                     ready;     /* formed, to be sent */
    ngx_queue_t                     buckets[NGX_HTTP_PRIVACY_REDIS_BUCKETS];
    unsigned                        breaker_open:1;
    unsigned                        probing:1;
    unsigned                        down_logged:1;
    unsigned                        exiting:1;
    unsigned                        writing:1;
};


/*
 * A call: one EVALSHA for every request of the same keys and arguments
 * that comes while it forms, within one event loop cycle.  The script is
 * told how many requests it decides (ARGV[1]), decides them one after the
 * other, atomically, and answers each its own: a hot key costs Redis one
 * call per cycle, not one per request.  (Holding requests back until the
 * previous call of the same keys returned made calls no larger here, and
 * requests slower.)
 */

struct ngx_http_privacy_redis_call_s {
    ngx_http_privacy_redis_t              *rd;
    ngx_http_privacy_redis_script_t       *script;
    ngx_http_privacy_redis_handler_pt      handler;
    ngx_queue_t                            bucket;  /* while forming */
    ngx_queue_t                            ready;
    uint32_t                               hash;
    ngx_uint_t                             n;
    ngx_msec_t                             start;
    unsigned                               probe:1;
    unsigned                               retried:1;
    int                                    argc;
    size_t                                 keys_len;  /* numkeys and keys */
    size_t                                 len;       /* all of the body */
    void                                  *data[NGX_HTTP_PRIVACY_REDIS_BATCH];
    /* the body follows: numkeys, keys, arguments, in RESP */
};


static void ngx_http_privacy_redis_connect(ngx_http_privacy_redis_t *rd);
static void ngx_http_privacy_redis_schedule(ngx_http_privacy_redis_t *rd);
static void ngx_http_privacy_redis_failure(ngx_http_privacy_redis_t *rd,
    ngx_uint_t drop);
static void ngx_http_privacy_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_privacy_redis_flush_handler(ngx_event_t *ev);


char *
ngx_http_privacy_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_privacy_main_conf_t *pmcf = conf;

    ngx_str_t                 *value, s;
    ngx_url_t                  u;
    ngx_int_t                  n;
    ngx_uint_t                 i;
    ngx_http_privacy_redis_t  *rd;

    if (pmcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_privacy_redis_t));
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->name = value[1];
    rd->timeout = 100;
    rd->db = 0;
    rd->pmcf = pmcf;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    /* hostnames are resolved here, once: never in a worker */
    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                               u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        rd->path = ngx_pnalloc(cf->pool, u.host.len + 1);
        if (rd->path == NULL) {
            return NGX_CONF_ERROR;
        }

        /* ngx_parse_url leaves "unix:" off the host */
        ngx_cpystrn(rd->path, u.host.data, u.host.len + 1);

    } else {
        rd->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rd->host == NULL) {
            return NGX_CONF_ERROR;
        }

        n = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, rd->host,
                          NGX_SOCKADDR_STRLEN, 0);
        rd->host[n] = '\0';
        rd->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rd->timeout = ngx_parse_time(&s, 0);
            if (rd->timeout == (ngx_msec_t) NGX_ERROR || rd->timeout == 0) {
                goto invalid;
            }

            /* a request waits this long for a Redis that went quiet, and
               interval zones keep keys in Redis for two of it */
            if (rd->timeout > NGX_HTTP_PRIVACY_REDIS_TIMEOUT_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" is longer than 10s", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "fail=open") == 0) {
            rd->fail_closed = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fail=closed") == 0) {
            rd->fail_closed = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rd->password.data = value[i].data + 9;
            rd->password.len = value[i].len - 9;

            if (rd->password.len == 0) {
                /* the value is not echoed: it is a secret */
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty \"password=\" in \"%V\"",
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            rd->db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (rd->db == NGX_ERROR || rd->db > 65535) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    pmcf->redis = rd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive",
                       &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


ngx_uint_t
ngx_http_privacy_redis_fail_closed(ngx_http_privacy_redis_t *rd)
{
    return rd->fail_closed;
}


ngx_msec_t
ngx_http_privacy_redis_timeout(ngx_http_privacy_redis_t *rd)
{
    return rd->timeout;
}


/* connected, and answering as far as anyone knows: worth sending data */

ngx_uint_t
ngx_http_privacy_redis_usable(ngx_http_privacy_redis_t *rd)
{
    return rd->ac != NULL && (rd->ac->c.flags & REDIS_CONNECTED)
           && !rd->breaker_open;
}


ngx_int_t
ngx_http_privacy_redis_script_init(ngx_http_privacy_redis_script_t *script)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  n;

    if (EVP_Digest(script->text.data, script->text.len, md, &n, EVP_sha1(),
                   NULL)
        != 1 || n != 20)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(script->sha1, md, 20);

    return NGX_OK;
}


/* the adapter: hiredis's event hooks onto an ngx_connection_t */

static void
ngx_http_privacy_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_privacy_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


/*
 * A connected socket is writable as a rule: rather than wait for epoll to
 * say so, the write is posted to the end of this event loop cycle, and
 * every command queued until then leaves in one write().  Only a socket
 * that is full (hiredis asks again from inside the write) or still
 * connecting waits for the write event.
 */

static void
ngx_http_privacy_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_privacy_redis_t  *rd;

    rd = c->data;

    if (rd->ac && (rd->ac->c.flags & REDIS_CONNECTED) && !rd->writing) {
        if (!c->write->posted) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return;
    }

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_privacy_redis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees its context: the socket is closed by hiredis, not here */

static void
ngx_http_privacy_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_privacy_redis_t  *rd;

    rd = c->data;

    ngx_http_privacy_redis_del_read(c);
    ngx_http_privacy_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    rd->ac = NULL;
    rd->conn = NULL;

    ngx_http_privacy_redis_schedule(rd);
}


static void
ngx_http_privacy_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_privacy_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_privacy_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_privacy_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        rd->writing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->writing = 0;
    }
}


static void
ngx_http_privacy_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_privacy_redis_t  *rd = ac->data;

    if (status != REDIS_OK) {
        if (!rd->down_logged) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "privacy: redis \"%V\": connect failed: %s",
                          &rd->name, ac->errstr);
            rd->down_logged = 1;
        }

        return;                     /* hiredis frees the context */
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "privacy: redis \"%V\" connected", &rd->name);
}


static void
ngx_http_privacy_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_privacy_redis_t  *rd = ac->data;

    if (status != REDIS_OK && !rd->exiting && !rd->down_logged) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "privacy: redis \"%V\": connection lost: %s",
                      &rd->name, ac->errstr);
        rd->down_logged = 1;
    }
}


static void
ngx_http_privacy_redis_on_setup(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                *reply = r;
    ngx_http_privacy_redis_t  *rd = data;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* Redis's own message: it never repeats the password it was given */
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "privacy: redis \"%V\": AUTH or SELECT refused: %*s",
                  &rd->name, (size_t) ngx_min(reply->len, 200), reply->str);

    rd->down_logged = 1;
    redisAsyncFree(ac);             /* deferred by hiredis: in a callback */
}


static void
ngx_http_privacy_redis_connect(ngx_http_privacy_redis_t *rd)
{
    u_char              db[NGX_INT_T_LEN];
    size_t              dblen;
    const char         *argv[2];
    size_t              argvlen[2];
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    if (rd->path) {
        ac = redisAsyncConnectUnix((const char *) rd->path);

    } else {
        /* a numeric address: hiredis's getaddrinfo() does no lookup */
        ac = redisAsyncConnect((const char *) rd->host, rd->port);
    }

    if (ac == NULL) {
        ngx_http_privacy_redis_schedule(rd);
        return;
    }

    if (ac->err) {
        if (!rd->down_logged) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "privacy: redis \"%V\": connect failed: %s",
                          &rd->name, ac->errstr);
            rd->down_logged = 1;
        }

        redisAsyncFree(ac);
        ngx_http_privacy_redis_schedule(rd);
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_privacy_redis_schedule(rd);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_privacy_redis_read_handler;
    c->write->handler = ngx_http_privacy_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_privacy_redis_add_read;
    ac->ev.delRead = ngx_http_privacy_redis_del_read;
    ac->ev.addWrite = ngx_http_privacy_redis_add_write;
    ac->ev.delWrite = ngx_http_privacy_redis_del_write;
    ac->ev.cleanup = ngx_http_privacy_redis_cleanup;

    rd->ac = ac;
    rd->conn = c;

    /* the connect is complete at the first write event */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_privacy_redis_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac,
                                        ngx_http_privacy_redis_on_disconnect);

    /* sent ahead of every call, in order: hiredis pipelines them */

    if (rd->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rd->password.data;
        argvlen[1] = rd->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_privacy_redis_on_setup, rd,
                                     2, argv, argvlen);
    }

    if (rd->db) {
        dblen = ngx_sprintf(db, "%i", rd->db) - db;

        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = dblen;

        (void) redisAsyncCommandArgv(ac, ngx_http_privacy_redis_on_setup, rd,
                                     2, argv, argvlen);
    }
}


static void
ngx_http_privacy_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_privacy_redis_t  *rd = ev->data;

    if (rd->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_privacy_redis_connect(rd);
}


/* a new connection after a pause that doubles, up to a cap, with jitter */

static void
ngx_http_privacy_redis_schedule(ngx_http_privacy_redis_t *rd)
{
    ngx_msec_t  delay;

    if (rd->exiting || rd->reconnect.timer_set) {
        return;
    }

    rd->backoff = rd->backoff ? ngx_min(rd->backoff * 2,
                                        NGX_HTTP_PRIVACY_REDIS_BACKOFF_MAX)
                              : NGX_HTTP_PRIVACY_REDIS_BACKOFF;

    /* between half and all of it: workers and nodes do not come in step */
    delay = rd->backoff / 2 + (ngx_msec_t) ngx_random() % (rd->backoff / 2 + 1);

    ngx_add_timer(&rd->reconnect, delay);
}


ngx_int_t
ngx_http_privacy_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_privacy_redis_t      *rd;
    ngx_http_privacy_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_privacy_module);

    if (pmcf == NULL || pmcf->redis == NULL || !pmcf->redis_used) {
        return NGX_OK;
    }

    rd = pmcf->redis;

    rd->reconnect.handler = ngx_http_privacy_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = cycle->log;
    rd->reconnect.cancelable = 1;   /* does not hold a worker at exit */

    rd->flush.handler = ngx_http_privacy_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = cycle->log;

    ngx_queue_init(&rd->ready);

    for (i = 0; i < NGX_HTTP_PRIVACY_REDIS_BUCKETS; i++) {
        ngx_queue_init(&rd->buckets[i]);
    }

    ngx_http_privacy_redis_connect(rd);

    return NGX_OK;
}


void
ngx_http_privacy_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_privacy_redis_t      *rd;
    ngx_http_privacy_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_privacy_module);

    if (pmcf == NULL || pmcf->redis == NULL) {
        return;
    }

    rd = pmcf->redis;
    rd->exiting = 1;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);     /* no socket left behind */
    }

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }
}


static void
ngx_http_privacy_redis_breaker_close(ngx_http_privacy_redis_t *rd)
{
    rd->failures = 0;
    rd->backoff = 0;
    rd->breaker_open = 0;
    rd->probing = 0;

    if (rd->down_logged) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "privacy: redis \"%V\" answers again", &rd->name);
        rd->down_logged = 0;
    }
}


/*
 * A call failed (lost, refused or timed out).  drop: it timed out, and
 * when the breaker opens on such failures the connection is dropped too,
 * since its pipeline is stuck behind a server that does not answer.
 */

static void
ngx_http_privacy_redis_failure(ngx_http_privacy_redis_t *rd, ngx_uint_t drop)
{
    rd->failures++;

    if (!rd->probing && rd->failures < NGX_HTTP_PRIVACY_REDIS_FAILURES) {
        return;
    }

    if (!rd->breaker_open) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "privacy: redis \"%V\": %ui failures in a row, "
                      "not asked for %M ms", &rd->name, rd->failures,
                      (ngx_msec_t) NGX_HTTP_PRIVACY_REDIS_OPEN);
        rd->down_logged = 1;
    }

    rd->breaker_open = 1;
    rd->probing = 0;
    rd->open_until = ngx_current_msec + NGX_HTTP_PRIVACY_REDIS_OPEN;

    if (drop && rd->ac && rd->pending) {
        redisAsyncFree(rd->ac);
    }
}


static size_t
ngx_http_privacy_redis_bulk(u_char *p, ngx_str_t *s)
{
    u_char  *start;

    start = p;
    *p++ = '$';
    p = ngx_http_privacy_decimal(p, s->len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, s->data, s->len);
    *p++ = CR; *p++ = LF;

    return p - start;
}


/*
 * The call goes out as EVALSHA sha numkeys keys... n arguments..., or
 * whole (EVAL) after NOSCRIPT.  Written here in RESP: hiredis's own
 * formatting (sds) costs more than the rest of the call.
 */

static int
ngx_http_privacy_redis_send(ngx_http_privacy_redis_call_t *call,
    ngx_uint_t whole)
{
    int                               rc;
    u_char                           *cmd, *p, *body;
    u_char                            digits[NGX_INT_T_LEN];
    size_t                            size;
    ngx_str_t                         n;
    ngx_http_privacy_redis_script_t  *script;

    script = call->script;
    body = (u_char *) call + sizeof(ngx_http_privacy_redis_call_t);

    size = sizeof("*\r\n$7\r\nEVALSHA\r\n$\r\n\r\n$\r\n\r\n") - 1
           + 3 * NGX_INT_T_LEN + (whole ? script->text.len : 40) + call->len;

    cmd = ngx_alloc(size, ngx_cycle->log);
    if (cmd == NULL) {
        return REDIS_ERR;
    }

    if (whole) {
        *cmd = '*';
        p = ngx_http_privacy_decimal(cmd + 1, call->argc);
        p = ngx_cpymem(p, "\r\n$4\r\nEVAL\r\n$", 13);
        p = ngx_http_privacy_decimal(p, script->text.len);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, script->text.data, script->text.len);

    } else {
        *cmd = '*';
        p = ngx_http_privacy_decimal(cmd + 1, call->argc);
        p = ngx_cpymem(p, "\r\n$7\r\nEVALSHA\r\n$40\r\n", 20);
        p = ngx_cpymem(p, script->sha1, 40);
    }

    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, body, call->keys_len);

    /* ARGV[1]: how many requests the call decides */
    n.data = digits;
    n.len = ngx_http_privacy_decimal(digits, call->n) - digits;
    p += ngx_http_privacy_redis_bulk(p, &n);

    p = ngx_cpymem(p, body + call->keys_len, call->len - call->keys_len);

    rc = redisAsyncFormattedCommand(call->rd->ac,
                                    ngx_http_privacy_redis_reply, call,
                                    (const char *) cmd, p - cmd);
    ngx_free(cmd);

    return rc;
}


/*
 * Every request still waiting on the call is told it failed: with Redis's
 * error when Redis refused it, NULL when no answer came.
 */

static void
ngx_http_privacy_redis_fail_call(ngx_http_privacy_redis_call_t *call,
    redisReply *error)
{
    ngx_uint_t  i;

    for (i = 0; i < call->n; i++) {
        if (call->data[i]) {
            call->handler(call->data[i], error);
        }
    }
}


static ngx_uint_t
ngx_http_privacy_redis_live(ngx_http_privacy_redis_call_t *call)
{
    ngx_uint_t  i;

    for (i = 0; i < call->n; i++) {
        if (call->data[i]) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_privacy_redis_flush_handler(ngx_event_t *ev)
{
    ngx_queue_t                    *q;
    ngx_http_privacy_redis_t       *rd;
    ngx_http_privacy_redis_call_t  *call;

    rd = ev->data;

    while (!ngx_queue_empty(&rd->ready)) {
        q = ngx_queue_head(&rd->ready);
        ngx_queue_remove(q);
        call = ngx_queue_data(q, ngx_http_privacy_redis_call_t, ready);

        /* formed: later requests start a call of their own */
        ngx_queue_remove(&call->bucket);

        /* every request of it timed out or went: nothing to ask */
        if (!ngx_http_privacy_redis_live(call)) {
            rd->pending--;
            ngx_free(call);
            continue;
        }

        if (rd->ac == NULL
            || ngx_http_privacy_redis_send(call, 0) != REDIS_OK)
        {
            rd->pending--;
            ngx_http_privacy_status_redis(rd->pmcf,
                                          NGX_HTTP_PRIVACY_REDIS_ERRORS, 0);
            ngx_http_privacy_redis_fail_call(call, NULL);
            ngx_free(call);
            continue;
        }

        call->start = ngx_current_msec;
        ngx_http_privacy_status_redis(rd->pmcf, NGX_HTTP_PRIVACY_REDIS_CALLS,
                                      0);
    }
}


static void
ngx_http_privacy_redis_ready(ngx_http_privacy_redis_t *rd,
    ngx_http_privacy_redis_call_t *call)
{
    ngx_queue_insert_tail(&rd->ready, &call->ready);

    if (!rd->flush.posted) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }
}


static void
ngx_http_privacy_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_uint_t                      i, ok;
    redisReply                     *reply = r;
    ngx_http_privacy_redis_t       *rd;
    ngx_http_privacy_redis_call_t  *call = data;

    rd = call->rd;

    if (reply && reply->type == REDIS_REPLY_ERROR && !call->retried
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* not cached there (a restart, SCRIPT FLUSH): sent whole, once */
        call->retried = 1;

        if (ngx_http_privacy_redis_send(call, 1) == REDIS_OK) {
            return;
        }

        reply = NULL;
    }

    rd->pending--;

    ok = reply && reply->type == REDIS_REPLY_ARRAY
         && reply->elements == call->n;

    if (!ok) {

        if (reply && reply->type == REDIS_REPLY_ERROR && !rd->exiting) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "privacy: redis \"%V\": %*s", &rd->name,
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        /*
         * A call whose requests all timed out has been counted as a
         * failure already; a probe whose requests went away still tells
         * whether Redis is back.
         */
        if ((ngx_http_privacy_redis_live(call) || call->probe)
            && !rd->exiting)
        {
            ngx_http_privacy_status_redis(rd->pmcf,
                                          NGX_HTTP_PRIVACY_REDIS_ERRORS, 0);
            ngx_http_privacy_redis_failure(rd, 0);
        }

        ngx_http_privacy_redis_fail_call(call,
                              (reply && reply->type == REDIS_REPLY_ERROR)
                              ? reply : NULL);
        ngx_free(call);
        return;
    }

    ngx_http_privacy_status_redis(rd->pmcf, NGX_HTTP_PRIVACY_REDIS_REPLIES,
                                  ngx_current_msec - call->start);

    ngx_http_privacy_redis_breaker_close(rd);

    for (i = 0; i < call->n; i++) {
        if (call->data[i]) {
            call->handler(call->data[i], reply->element[i]);
        }
    }

    ngx_free(call);
}


/*
 * Asks Redis to run the script over keys and args for one request, whose
 * handler gets the reply's element at *index (or NULL if the call fails).
 * NULL: Redis is not asked (down, breaker open), decide without it.
 */

ngx_http_privacy_redis_call_t *
ngx_http_privacy_redis_eval(ngx_http_privacy_redis_t *rd,
    ngx_http_privacy_redis_script_t *script, ngx_uint_t nkeys,
    ngx_str_t *keys, ngx_uint_t nargs, ngx_str_t *args,
    ngx_http_privacy_redis_handler_pt handler, void *data,
    ngx_uint_t *index)
{
    u_char                         *body, *p;
    size_t                          size;
    ngx_str_t                       numkeys;
    ngx_uint_t                      i;
    ngx_queue_t                    *bucket, *q;
    u_char                          nk[NGX_INT_T_LEN];
    ngx_http_privacy_redis_call_t  *call, *c;

    if (rd->ac == NULL || rd->pending >= NGX_HTTP_PRIVACY_REDIS_PENDING_MAX) {
        goto skipped;
    }

    if (rd->breaker_open) {
        if ((ngx_msec_int_t) (rd->open_until - ngx_current_msec) > 0
            || rd->probing)
        {
            goto skipped;
        }

        rd->probing = 1;            /* this call tells if it is back */
    }

    numkeys.data = nk;
    numkeys.len = ngx_http_privacy_decimal(nk, nkeys) - nk;

    size = sizeof(ngx_http_privacy_redis_call_t)
           + sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + numkeys.len;

    for (i = 0; i < nkeys; i++) {
        size += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + keys[i].len;
    }

    for (i = 0; i < nargs; i++) {
        size += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + args[i].len;
    }

    call = ngx_alloc(size, ngx_cycle->log);
    if (call == NULL) {
        rd->probing = 0;
        return NULL;
    }

    body = (u_char *) call + sizeof(ngx_http_privacy_redis_call_t);
    p = body;

    p += ngx_http_privacy_redis_bulk(p, &numkeys);

    for (i = 0; i < nkeys; i++) {
        p += ngx_http_privacy_redis_bulk(p, &keys[i]);
    }

    call->keys_len = p - body;

    for (i = 0; i < nargs; i++) {
        p += ngx_http_privacy_redis_bulk(p, &args[i]);
    }

    call->len = p - body;
    call->hash = ngx_crc32_long(body, call->len);

    /* a call of the same keys and arguments, forming in this cycle */

    bucket = &rd->buckets[call->hash % NGX_HTTP_PRIVACY_REDIS_BUCKETS];

    for (q = ngx_queue_head(bucket);
         q != ngx_queue_sentinel(bucket);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_http_privacy_redis_call_t, bucket);

        if (c->hash != call->hash || c->len != call->len
            || ngx_memcmp((u_char *) c + sizeof(ngx_http_privacy_redis_call_t),
                          body, call->len)
               != 0)
        {
            continue;
        }

        if (c->n < NGX_HTTP_PRIVACY_REDIS_BATCH && !rd->probing) {
            ngx_free(call);
            c->data[c->n] = data;
            *index = c->n++;
            return c;
        }
    }

    call->rd = rd;
    call->script = script;
    call->handler = handler;
    call->n = 1;
    call->data[0] = data;
    call->start = ngx_current_msec;
    call->probe = rd->probing;
    call->retried = 0;
    call->argc = (int) (2 + 1 + nkeys + 1 + nargs);
    *index = 0;

    ngx_queue_insert_tail(bucket, &call->bucket);
    rd->pending++;

    ngx_http_privacy_redis_ready(rd, call);

    return call;

skipped:

    ngx_http_privacy_status_redis(rd->pmcf, NGX_HTTP_PRIVACY_REDIS_SKIPPED, 0);

    return NULL;
}


/*
 * The request no longer waits for the call: it timed out (timed_out) or
 * went away.  The call stays with hiredis until its reply comes.
 */

void
ngx_http_privacy_redis_detach(ngx_http_privacy_redis_call_t *call,
    ngx_uint_t index, ngx_uint_t timed_out)
{
    ngx_http_privacy_redis_t  *rd;

    rd = call->rd;
    call->data[index] = NULL;

    if (timed_out) {
        call->probe = 0;
        ngx_http_privacy_status_redis(rd->pmcf,
                                      NGX_HTTP_PRIVACY_REDIS_TIMEOUTS, 0);
        ngx_http_privacy_redis_failure(rd, 1);
    }
}
