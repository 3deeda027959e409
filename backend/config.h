/*
 * privacy-backend: configuration.
 *
 * An nginx-style file: one directive per line, arguments separated by
 * blanks, ";" at the end, "#" comments, "..." or '...' quoting.  Secrets
 * are never in it: keys come from files (context_key, data_key) or from
 * environment variables named by *_env= attributes.
 */

#ifndef PE_BACKEND_CONFIG_H
#define PE_BACKEND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "provider.h"


#define PE_CONF_MAX_PROVIDERS   8
#define PE_CONF_MAX_MODELS      64
#define PE_CONF_ERR_MAX         512
#define PE_CONF_MAX_RESIDENCY   16

/* the HTTP server's connections at once, and from one address by default:
 * a quarter, well above what nginx keeps (keepalive per worker) and has
 * in flight, so one other address cannot take them all */
#define PE_CONF_CONNECTIONS     1024
#define PE_CONF_PER_IP          256
#define PE_CONF_HTTP_TIMEOUT    30      /* seconds idle, then closed */
#define PE_CONF_MAX_LIMIT_ZONES 16
#define PE_CONF_PROVIDER_NAME   32      /* bytes of a name, with its NUL */


/*
 * model NAME provider=P [inputs=ROLE[?],...|none] [fields=ROLE:NAME,...]
 * [strip=off]: without inputs=, one image or video as "file", as before
 * (legacy).
 */
typedef struct {
    char                 *name;
    pe_conf_provider_t   *provider;
    int                   legacy;          /* no inputs=: one image or
                                              video */
    pe_role_e             inputs[PE_ROLES];  /* as declared; [0] is what
                                                "file" means */
    int                   optional[PE_ROLES];  /* by role */
    size_t                ninputs;         /* 0 and !legacy: text only */
    char                 *fields[PE_ROLES];  /* by role: the provider's
                                                field, or NULL */
    int                   strip_off;       /* strip=off: the originals */
} pe_conf_model_t;

/* does the model take the role?  Its index in inputs, or -1 */
int pe_conf_model_takes(const pe_conf_model_t *m, pe_role_e role);


/* residency GROUP region=R[,R...]: where a group's data may go */
typedef struct {
    char                 *group;           /* a context's "grp" */
    char                 *regions;         /* "eu" or "eu,uk" */
} pe_conf_residency_t;


typedef struct {
    char                 *file;

    char                 *listen_host;
    int                   listen_port;
    int                   listen_per_ip;   /* connections from one address */
    long                  listen_timeout;  /* seconds a connection may idle */

    char                 *redis_host;
    int                   redis_port;
    int                   redis_db;
    char                 *redis_password_env;
    char                 *redis_password_file;

    char                 *spool;
    char                 *context_key_file;
    char                 *data_key_file;
    char                 *public_url;

    /* seconds; -1: keep until the record goes */
    long                  retain_upload;
    long                  retain_output;
    long                  retain_record;
    long                  retain_prompt;

    int                   strip_metadata;  /* on unless configured off */

    /* upload_max_size: bytes of one input, by its type's kind */
    uint64_t              max_image;
    uint64_t              max_video;
    uint64_t              max_audio;

    pe_conf_provider_t    providers[PE_CONF_MAX_PROVIDERS];
    size_t                nproviders;
    pe_conf_model_t       models[PE_CONF_MAX_MODELS];
    size_t                nmodels;
    pe_conf_residency_t   residency[PE_CONF_MAX_RESIDENCY];
    size_t                nresidency;

    /*
     * subject_limit_zones: the edge's sync=redis privacy_limit_zone names
     * keyed by $privacy_subject alone, whose Redis keys erasure deletes
     */
    char                 *subject_zones[PE_CONF_MAX_LIMIT_ZONES];
    size_t                nsubject_zones;

    /* loaded by pe_conf_load_keys(), never logged */
    unsigned char         context_key[256];
    size_t                context_key_len;
    unsigned char         data_key[32];
} pe_conf_t;


/*
 * Reads and checks a configuration file.  On error returns -1 and writes
 * "reason in FILE:LINE" (nginx's form) into err.
 */
int pe_conf_load(pe_conf_t *conf, const char *file, char *err, size_t errlen);

/*
 * Parses configuration text (for tests and -t); name is used in messages.
 */
int pe_conf_parse(pe_conf_t *conf, const char *name, const char *text,
    size_t len, char *err, size_t errlen);

/* reads the key files; checks their sizes */
int pe_conf_load_keys(pe_conf_t *conf, char *err, size_t errlen);

void pe_conf_free(pe_conf_t *conf);

const pe_conf_model_t *pe_conf_find_model(const pe_conf_t *conf,
    const char *name);

/* the index of a configured provider, by name; -1 if none */
int pe_conf_provider_index(const pe_conf_t *conf, const char *name);

/*
 * May data of a region group (the context's "grp") go to a provider?
 * Yes when no residency rule names the group; otherwise only when the
 * provider declares a region= the rule lists.
 */
int pe_conf_residency_allows(const pe_conf_t *conf, const char *group,
    const pe_conf_provider_t *provider);

/* the rule of a group, or NULL */
const pe_conf_residency_t *pe_conf_residency(const pe_conf_t *conf,
    const char *group);

#endif /* PE_BACKEND_CONFIG_H */
