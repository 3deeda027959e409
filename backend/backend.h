/*
 * privacy-backend: the one process-wide context.
 *
 * Everything the daemon holds lives here and is passed down explicitly;
 * there is no other global mutable state (the signal flag aside, which a
 * signal handler can only reach through a global).
 */

#ifndef PE_BACKEND_H
#define PE_BACKEND_H

#include <stdatomic.h>
#include <time.h>

#include "config.h"


struct MHD_Daemon;
typedef struct pe_store_s  pe_store_t;


typedef struct {
    pe_conf_t             conf;
    struct MHD_Daemon    *httpd;
    pe_store_t           *store;        /* Redis */
    time_t                started;

    atomic_ulong          http_requests;
    atomic_ulong          http_errors;
} pe_backend_t;


#endif /* PE_BACKEND_H */
