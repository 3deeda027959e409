/*
 * privacy-backend: the HTTP API (libmicrohttpd).
 */

#ifndef PE_BACKEND_HTTP_H
#define PE_BACKEND_HTTP_H

#include "backend.h"

int pe_http_start(pe_backend_t *be, char *err, size_t errlen);
void pe_http_stop(pe_backend_t *be);

#endif /* PE_BACKEND_HTTP_H */
