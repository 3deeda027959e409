/*
 * privacy-backend: Redis, where jobs are durable.
 *
 * A small pool of synchronous hiredis connections shared by the HTTP
 * threads and the workers: a thread takes one for the few commands of a
 * request and gives it back.  A connection that failed is dropped and made
 * again on next use, with AUTH and SELECT; the password comes from the
 * environment or a file, never from the configuration text.
 */

#ifndef PE_BACKEND_STORE_H
#define PE_BACKEND_STORE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "config.h"


#define PE_STORE_CONNECTIONS  8
#define PE_STORE_TIMEOUT_MS   2000


typedef struct pe_store_s  pe_store_t;


pe_store_t *pe_store_open(const pe_conf_t *conf, char *err, size_t errlen);
void pe_store_close(pe_store_t *s);

/* a connection, made or checked; NULL when Redis cannot be reached */
redisContext *pe_store_get(pe_store_t *s);

/*
 * A connection of the caller's own, outside the pool (a subscription):
 * AUTH and SELECT done; NULL when Redis cannot be reached.
 */
redisContext *pe_store_dial(pe_store_t *s);

/* back to the pool; broken: an I/O error happened, drop it */
void pe_store_put(pe_store_t *s, redisContext *c);

/*
 * One command on a pooled connection: the reply (the caller frees it), or
 * NULL when Redis could not be reached or the connection failed.
 */
redisReply *pe_store_command(pe_store_t *s, const char *fmt, ...);
redisReply *pe_store_argv(pe_store_t *s, int argc, const char **argv,
    const size_t *lens);

#endif /* PE_BACKEND_STORE_H */
