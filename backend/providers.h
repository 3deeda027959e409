/*
 * privacy-backend: the provider kinds, and the configured providers.
 *
 * The one table of the kinds (type= names) and their adapters
 * (provider.h), and the providers of a configuration made ready to use:
 * their secrets read, what verifies their callbacks loaded.
 */

#ifndef PE_BACKEND_PROVIDERS_H
#define PE_BACKEND_PROVIDERS_H

#include <stddef.h>

#include "provider.h"


/* the adapter of a kind, or NULL */
const pe_provider_ops_t *pe_provider_ops(pe_provider_kind_e kind);

/* the kind of a type= name; -1 for none */
int pe_provider_kind(const char *type);

/* the kinds for a message, "fal, replicate or kling", into buf */
const char *pe_provider_kinds(char *buf, size_t size);

/*
 * The n configured providers into ps: what verifies callbacks first (of
 * those that get callbacks: public_url set and the adapter's hooks()),
 * then the keys, each from where the configuration says; -1 with a
 * reason.  stop wipes what start read.
 */
int pe_providers_start(pe_provider_t *ps, const pe_conf_provider_t *confs,
    size_t n, const char *public_url, char *err, size_t errlen);
void pe_providers_stop(pe_provider_t *ps, size_t n);

#endif /* PE_BACKEND_PROVIDERS_H */
