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
#include "job.h"
#include "provider.h"


struct MHD_Daemon;
typedef struct pe_store_s   pe_store_t;
typedef struct pe_worker_s  pe_worker_t;


/* upper bounds in milliseconds of the provider latency histogram */
#define PE_LATENCY_BUCKETS  { 50, 100, 250, 500, 1000, 2500, 5000, 10000, \
                              30000 }
#define PE_LATENCY_NBUCKETS 9

/* per provider, for /metrics */
typedef struct {
    atomic_ulong          jobs[PE_JOB_STATES];   /* entered each state */
    atomic_ulong          calls;
    atomic_ulong          retries;
    atomic_ulong          errors;                 /* no answer at all */
    atomic_ulong          latency[PE_LATENCY_NBUCKETS + 1];
    atomic_ulong          latency_ms;
    atomic_long           in_flight;
} pe_provider_metrics_t;


typedef struct {
    pe_conf_t             conf;
    struct MHD_Daemon    *httpd;
    pe_store_t           *store;        /* Redis */
    pe_worker_t          *worker;       /* provider jobs */

    /* the configured providers, by index; secrets, what verifies
     * callbacks (providers.h) */
    pe_provider_t         providers[PE_CONF_MAX_PROVIDERS];
    time_t                started;

    /* signs the media URLs providers fetch; derived from data_key */
    unsigned char         media_key[32];

    pe_provider_metrics_t metrics[PE_CONF_MAX_PROVIDERS];
    atomic_ulong          media_served;

    atomic_ulong          http_requests;
    atomic_ulong          http_errors;
} pe_backend_t;


#endif /* PE_BACKEND_H */
