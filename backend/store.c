/*
 * privacy-backend: the Redis connection pool (see store.h).
 */

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "store.h"


struct pe_store_s {
    pthread_mutex_t   lock;
    pthread_cond_t    free_cond;
    redisContext     *idle[PE_STORE_CONNECTIONS];
    size_t            nidle;
    size_t            out;              /* connections handed out */
    char             *host;
    int               port;
    int               db;
    char             *password;         /* from the environment or a file */
};


static char *
pe_store_password(const pe_conf_t *conf, char *err, size_t errlen)
{
    FILE        *f;
    char         buf[512];
    size_t       n;
    const char  *v;

    if (conf->redis_password_env) {
        v = getenv(conf->redis_password_env);

        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, "environment variable \"%s\" of redis "
                     "password_env= is not set", conf->redis_password_env);
            return NULL;
        }

        return strdup(v);
    }

    f = fopen(conf->redis_password_file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "redis password_file \"%s\": %s",
                 conf->redis_password_file, strerror(errno));
        return NULL;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);

    /* one line; the newline an editor leaves is not part of it */
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';

    if (buf[0] == '\0') {
        snprintf(err, errlen, "redis password_file \"%s\" is empty",
                 conf->redis_password_file);
        return NULL;
    }

    return strdup(buf);
}


pe_store_t *
pe_store_open(const pe_conf_t *conf, char *err, size_t errlen)
{
    pe_store_t  *s;

    s = calloc(1, sizeof(pe_store_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->free_cond, NULL);
    s->host = strdup(conf->redis_host);
    s->port = conf->redis_port;
    s->db = conf->redis_db;

    if (conf->redis_password_env || conf->redis_password_file) {
        s->password = pe_store_password(conf, err, errlen);

        if (s->password == NULL) {
            pe_store_close(s);
            return NULL;
        }
    }

    return s;
}


void
pe_store_close(pe_store_t *s)
{
    size_t  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->nidle; i++) {
        redisFree(s->idle[i]);
    }

    if (s->password) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }

    free(s->host);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->free_cond);
    free(s);
}


redisContext *
pe_store_dial(pe_store_t *s)
{
    redisReply      *r;
    redisContext    *c;
    struct timeval   tv;

    tv.tv_sec = PE_STORE_TIMEOUT_MS / 1000;
    tv.tv_usec = (PE_STORE_TIMEOUT_MS % 1000) * 1000;

    c = redisConnectWithTimeout(s->host, s->port, tv);

    if (c == NULL || c->err) {
        pe_log(PE_LOG_ERR, "redis %s:%d: %s", s->host, s->port,
               c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }

    redisSetTimeout(c, tv);

    if (s->password) {
        r = redisCommand(c, "AUTH %s", s->password);

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            /* Redis's message names no password */
            pe_log(PE_LOG_ERR, "redis %s:%d: AUTH refused: %s", s->host,
                   s->port, r ? r->str : c->errstr);
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }

        freeReplyObject(r);
    }

    if (s->db) {
        r = redisCommand(c, "SELECT %d", s->db);

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            pe_log(PE_LOG_ERR, "redis %s:%d: SELECT %d refused", s->host,
                   s->port, s->db);
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }

        freeReplyObject(r);
    }

    return c;
}


redisContext *
pe_store_get(pe_store_t *s)
{
    redisContext  *c;

    pthread_mutex_lock(&s->lock);

    while (s->nidle == 0 && s->out >= PE_STORE_CONNECTIONS) {
        pthread_cond_wait(&s->free_cond, &s->lock);
    }

    c = s->nidle ? s->idle[--s->nidle] : NULL;
    s->out++;

    pthread_mutex_unlock(&s->lock);

    if (c == NULL) {
        c = pe_store_dial(s);

        if (c == NULL) {
            pe_store_put(s, NULL);
        }
    }

    return c;
}


void
pe_store_put(pe_store_t *s, redisContext *c)
{
    pthread_mutex_lock(&s->lock);

    s->out--;

    if (c && c->err == 0 && s->nidle < PE_STORE_CONNECTIONS) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }

    pthread_cond_signal(&s->free_cond);
    pthread_mutex_unlock(&s->lock);

    /* a connection that saw an error is not used again */
    redisFree(c);
}


redisReply *
pe_store_command(pe_store_t *s, const char *fmt, ...)
{
    va_list        ap;
    redisReply    *r;
    redisContext  *c;

    c = pe_store_get(s);
    if (c == NULL) {
        return NULL;
    }

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);

    pe_store_put(s, c);

    return r;
}


redisReply *
pe_store_argv(pe_store_t *s, int argc, const char **argv, const size_t *lens)
{
    redisReply    *r;
    redisContext  *c;

    c = pe_store_get(s);
    if (c == NULL) {
        return NULL;
    }

    r = redisCommandArgv(c, argc, argv, lens);
    pe_store_put(s, c);

    return r;
}
