/*
 * privacy-backend: the provider kinds, and the configured providers (see
 * providers.h).
 */

#include "providers.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>


/* by pe_provider_kind_e */
static const pe_provider_ops_t  *pe_provider_table[PE_PROVIDER_KINDS] = {
    &pe_provider_fal,
    &pe_provider_replicate,
    &pe_provider_kling,
    &pe_provider_seedance,
    &pe_provider_veo
};


const pe_provider_ops_t *
pe_provider_ops(pe_provider_kind_e kind)
{
    return (unsigned) kind < PE_PROVIDER_KINDS ? pe_provider_table[kind]
                                               : NULL;
}


int
pe_provider_kind(const char *type)
{
    int  k;

    for (k = 0; k < PE_PROVIDER_KINDS; k++) {
        if (strcmp(pe_provider_table[k]->kind, type) == 0) {
            return k;
        }
    }

    return -1;
}


const char *
pe_provider_kinds(char *buf, size_t size)
{
    int     k;
    size_t  n;

    n = 0;
    buf[0] = '\0';

    for (k = 0; k < PE_PROVIDER_KINDS && n < size; k++) {
        n += snprintf(buf + n, size - n, "%s%s",
                      k == 0 ? "" : k == PE_PROVIDER_KINDS - 1 ? " or "
                                                               : ", ",
                      pe_provider_table[k]->kind);
    }

    return buf;
}


int
pe_providers_start(pe_provider_t *ps, const pe_conf_provider_t *confs,
    size_t n, const char *public_url, char *err, size_t errlen)
{
    size_t          i;
    pe_provider_t  *p;

    for (i = 0; i < n; i++) {
        p = &ps[i];
        p->conf = &confs[i];
        p->ops = pe_provider_ops(confs[i].kind);

        if (p->ops == NULL) {
            snprintf(err, errlen, "provider \"%s\": no adapter in this "
                     "build", confs[i].name);
            return -1;
        }

        p->hooks = public_url != NULL && p->ops->hooks(p->conf);

        if (p->hooks && p->ops->hook_init
            && p->ops->hook_init(p, err, errlen) != 0)
        {
            return -1;
        }
    }

    for (i = 0; i < n; i++) {
        if (ps[i].ops->init(&ps[i], err, errlen) != 0) {
            return -1;
        }
    }

    return 0;
}


void
pe_providers_stop(pe_provider_t *ps, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (ps[i].ops && ps[i].ops->hook_free) {
            ps[i].ops->hook_free(&ps[i]);
        }

        OPENSSL_cleanse(&ps[i], sizeof(pe_provider_t));
    }
}
