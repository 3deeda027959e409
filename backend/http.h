/*
 * privacy-backend: the HTTP API (libmicrohttpd).
 */

#ifndef PE_BACKEND_HTTP_H
#define PE_BACKEND_HTTP_H

#include "backend.h"

int pe_http_start(pe_backend_t *be, char *err, size_t errlen);
void pe_http_stop(pe_backend_t *be);

struct MHD_Connection;

/* an answer from a string (copied), never cached: MHD_YES or MHD_NO */
int pe_http_reply(struct MHD_Connection *conn, unsigned status,
    const char *type, const char *body);

#endif /* PE_BACKEND_HTTP_H */
