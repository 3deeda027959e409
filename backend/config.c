/*
 * privacy-backend: configuration, what its directives mean (see
 * config.h); the syntax is conf_text.c's, the key files config_keys.c's.
 */

#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_text.h"
#include "providers.h"


typedef struct {
    char         *err;
    size_t        errlen;
    pe_conf_t    *conf;
    unsigned      seen_listen:1;
    unsigned      seen_redis:1;
    unsigned      seen_retention:1;
    unsigned      seen_max_size:1;
} pe_parse_t;


typedef int (*pe_directive_pt)(pe_parse_t *p, int argc, char **argv);

typedef struct {
    const char       *name;
    int               min_args;    /* not counting the name */
    int               max_args;
    pe_directive_pt   handler;
} pe_directive_t;


static int pe_conf_listen(pe_parse_t *p, int argc, char **argv);
static int pe_conf_redis(pe_parse_t *p, int argc, char **argv);
static int pe_conf_path(pe_parse_t *p, int argc, char **argv);
static int pe_conf_public_url(pe_parse_t *p, int argc, char **argv);
static int pe_conf_retention(pe_parse_t *p, int argc, char **argv);
static int pe_conf_upload_max_size(pe_parse_t *p, int argc, char **argv);
static int pe_conf_provider(pe_parse_t *p, int argc, char **argv);
static int pe_conf_model(pe_parse_t *p, int argc, char **argv);
static int pe_conf_strip_metadata(pe_parse_t *p, int argc, char **argv);
static int pe_conf_residency_rule(pe_parse_t *p, int argc, char **argv);
static int pe_conf_subject_zones(pe_parse_t *p, int argc, char **argv);


static const pe_directive_t  pe_directives[] = {
    { "listen", 1, 3, pe_conf_listen },
    { "redis", 1, 4, pe_conf_redis },
    { "spool", 1, 1, pe_conf_path },
    { "context_key", 1, 1, pe_conf_path },
    { "data_key", 1, 1, pe_conf_path },
    { "public_url", 1, 1, pe_conf_public_url },
    { "retention", 1, 4, pe_conf_retention },
    { "upload_max_size", 1, 3, pe_conf_upload_max_size },
    { "provider", 2, 9, pe_conf_provider },
    { "model", 2, 5, pe_conf_model },
    { "strip_metadata", 1, 1, pe_conf_strip_metadata },
    { "residency", 2, 2, pe_conf_residency_rule },
    { "subject_limit_zones", 1, PE_CONF_MAX_ARGS - 2, pe_conf_subject_zones },
    { NULL, 0, 0, NULL }
};


static int
pe_fail(pe_parse_t *p, const char *fmt, ...)
{
    va_list  ap;

    /* the syntax's reader adds where: " in FILE:LINE" */
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);

    return -1;
}


/* listen ADDR:PORT [per_ip=N] [timeout=D] */
static int
pe_conf_listen(pe_parse_t *p, int argc, char **argv)
{
    int         i;
    long        n;
    char       *end;
    pe_conf_t  *c = p->conf;

    if (p->seen_listen) {
        return pe_fail(p, "\"listen\" directive is duplicate");
    }

    p->seen_listen = 1;
    free(c->listen_host);

    if (pe_conf_hostport(argv[1], &c->listen_host, &c->listen_port) != 0) {
        return pe_fail(p, "invalid address \"%s\" in \"listen\" directive",
                       argv[1]);
    }

    for (i = 2; i < argc; i++) {
        if (strncmp(argv[i], "per_ip=", 7) == 0) {
            errno = 0;
            n = strtol(argv[i] + 7, &end, 10);

            if (errno || *end || end == argv[i] + 7 || n < 1
                || n > PE_CONF_CONNECTIONS)
            {
                return pe_fail(p, "invalid per_ip \"%s\" in \"listen\" "
                               "directive, expected 1 to %d", argv[i] + 7,
                               PE_CONF_CONNECTIONS);
            }

            c->listen_per_ip = (int) n;

        } else if (strncmp(argv[i], "timeout=", 8) == 0) {
            n = pe_conf_parse_duration(argv[i] + 8);

            if (n <= 0 || n > 600) {
                return pe_fail(p, "invalid timeout \"%s\" in \"listen\" "
                               "directive, expected 1s to 10m", argv[i] + 8);
            }

            c->listen_timeout = n;

        } else {
            return pe_fail(p, "invalid parameter \"%s\" in \"listen\" "
                           "directive", argv[i]);
        }
    }

    return 0;
}


static int
pe_conf_redis(pe_parse_t *p, int argc, char **argv)
{
    int         i;
    long        db;
    char       *end;
    pe_conf_t  *c = p->conf;

    if (p->seen_redis) {
        return pe_fail(p, "\"redis\" directive is duplicate");
    }

    p->seen_redis = 1;
    free(c->redis_host);

    if (pe_conf_hostport(argv[1], &c->redis_host, &c->redis_port) != 0) {
        return pe_fail(p, "invalid address \"%s\" in \"redis\" directive",
                       argv[1]);
    }

    for (i = 2; i < argc; i++) {
        if (strncmp(argv[i], "db=", 3) == 0) {
            errno = 0;
            db = strtol(argv[i] + 3, &end, 10);
            if (errno || *end || end == argv[i] + 3 || db < 0 || db > 15) {
                return pe_fail(p, "invalid \"%s\" in \"redis\" directive",
                               argv[i]);
            }
            c->redis_db = (int) db;

        } else if (strncmp(argv[i], "password_env=", 13) == 0
                   && argv[i][13])
        {
            c->redis_password_env = pe_conf_strdup(argv[i] + 13);

        } else if (strncmp(argv[i], "password_file=", 14) == 0
                   && argv[i][14])
        {
            c->redis_password_file = pe_conf_strdup(argv[i] + 14);

        } else if (strncmp(argv[i], "password=", 9) == 0) {
            /* the value is not echoed: it is a secret */
            return pe_fail(p, "a password is not read from the "
                           "configuration text, use password_env=NAME or "
                           "password_file=PATH in \"redis\" directive");

        } else {
            return pe_fail(p, "invalid parameter \"%s\" in \"redis\" "
                           "directive", argv[i]);
        }
    }

    return 0;
}


static int
pe_conf_path(pe_parse_t *p, int argc, char **argv)
{
    char  **slot;

    (void) argc;

    if (strcmp(argv[0], "spool") == 0) {
        slot = &p->conf->spool;
    } else if (strcmp(argv[0], "context_key") == 0) {
        slot = &p->conf->context_key_file;
    } else {
        slot = &p->conf->data_key_file;
    }

    if (*slot) {
        return pe_fail(p, "\"%s\" directive is duplicate", argv[0]);
    }

    if (argv[1][0] != '/') {
        return pe_fail(p, "\"%s\" must be an absolute path, not \"%s\"",
                       argv[0], argv[1]);
    }

    *slot = pe_conf_strdup(argv[1]);

    return 0;
}


static int
pe_conf_public_url(pe_parse_t *p, int argc, char **argv)
{
    (void) argc;

    if (p->conf->public_url) {
        return pe_fail(p, "\"public_url\" directive is duplicate");
    }

    if (!pe_conf_url(argv[1])) {
        return pe_fail(p, "invalid URL \"%s\" in \"public_url\" directive",
                       argv[1]);
    }

    p->conf->public_url = pe_conf_strip_slash(argv[1]);

    return 0;
}


static int
pe_conf_retention(pe_parse_t *p, int argc, char **argv)
{
    int          i;
    long         v, *slot;
    char        *eq;
    size_t       klen;
    pe_conf_t   *c = p->conf;

    if (p->seen_retention) {
        return pe_fail(p, "\"retention\" directive is duplicate");
    }

    p->seen_retention = 1;

    for (i = 1; i < argc; i++) {
        eq = strchr(argv[i], '=');
        if (eq == NULL) {
            return pe_fail(p, "invalid parameter \"%s\" in \"retention\" "
                           "directive, expected KIND=DURATION", argv[i]);
        }

        klen = eq - argv[i];

        if (klen == 6 && strncmp(argv[i], "upload", 6) == 0) {
            slot = &c->retain_upload;
        } else if (klen == 6 && strncmp(argv[i], "output", 6) == 0) {
            slot = &c->retain_output;
        } else if (klen == 6 && strncmp(argv[i], "record", 6) == 0) {
            slot = &c->retain_record;
        } else if (klen == 6 && strncmp(argv[i], "prompt", 6) == 0) {
            slot = &c->retain_prompt;
        } else {
            return pe_fail(p, "unknown kind \"%.*s\" in \"retention\" "
                           "directive, expected upload, output, record or "
                           "prompt", (int) klen, argv[i]);
        }

        v = pe_conf_parse_duration(eq + 1);
        if (v < 0) {
            return pe_fail(p, "invalid duration \"%s\" in \"retention\" "
                           "directive", eq + 1);
        }

        *slot = v;
    }

    return 0;
}


/* upload_max_size image=SIZE video=SIZE audio=SIZE */
static int
pe_conf_upload_max_size(pe_parse_t *p, int argc, char **argv)
{
    int          i;
    char        *eq;
    size_t       klen;
    int64_t      v;
    uint64_t    *slot;
    pe_conf_t   *c = p->conf;

    if (p->seen_max_size) {
        return pe_fail(p, "\"upload_max_size\" directive is duplicate");
    }

    p->seen_max_size = 1;

    for (i = 1; i < argc; i++) {
        eq = strchr(argv[i], '=');
        if (eq == NULL) {
            return pe_fail(p, "invalid parameter \"%s\" in "
                           "\"upload_max_size\" directive, expected "
                           "KIND=SIZE", argv[i]);
        }

        klen = eq - argv[i];

        if (klen == 5 && strncmp(argv[i], "image", 5) == 0) {
            slot = &c->max_image;
        } else if (klen == 5 && strncmp(argv[i], "video", 5) == 0) {
            slot = &c->max_video;
        } else if (klen == 5 && strncmp(argv[i], "audio", 5) == 0) {
            slot = &c->max_audio;
        } else {
            return pe_fail(p, "unknown kind \"%.*s\" in \"upload_max_size\" "
                           "directive, expected image, video or audio",
                           (int) klen, argv[i]);
        }

        v = pe_conf_parse_size(eq + 1);
        if (v <= 0) {
            return pe_fail(p, "invalid size \"%s\" in \"upload_max_size\" "
                           "directive", eq + 1);
        }

        *slot = (uint64_t) v;
    }

    return 0;
}


/* a provider's name: it is in callback URLs, Redis keys and /metrics */
static int
pe_conf_provider_name(const char *s)
{
    size_t  n;

    n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

    return n > 0 && n < PE_CONF_PROVIDER_NAME && s[n] == '\0';
}


/* provider NAME [type=KIND] base=URL ...: KIND is NAME without type= */
static int
pe_conf_provider(pe_parse_t *p, int argc, char **argv)
{
    int                  i, kind;
    char                *eq, **slot, kinds[128];
    size_t               k;
    const char          *type;
    pe_conf_t           *c = p->conf;
    pe_conf_provider_t  *pr;

    for (k = 0; k < c->nproviders; k++) {
        if (strcmp(c->providers[k].name, argv[1]) == 0) {
            return pe_fail(p, "duplicate provider \"%s\"", argv[1]);
        }
    }

    if (c->nproviders == PE_CONF_MAX_PROVIDERS) {
        return pe_fail(p, "too many providers");
    }

    type = NULL;

    for (i = 2; i < argc; i++) {
        if (strncmp(argv[i], "type=", 5) == 0 && argv[i][5]) {
            type = argv[i] + 5;
        }
    }

    kind = pe_provider_kind(type ? type : argv[1]);

    if (kind < 0 && type) {
        return pe_fail(p, "unknown type \"%s\" of provider \"%s\", "
                       "expected %s", type, argv[1],
                       pe_provider_kinds(kinds, sizeof(kinds)));
    }

    if (kind < 0) {
        return pe_fail(p, "unknown provider \"%s\", expected %s, or a "
                       "name and type=", argv[1],
                       pe_provider_kinds(kinds, sizeof(kinds)));
    }

    if (!pe_conf_provider_name(argv[1])) {
        return pe_fail(p, "invalid provider name \"%s\", expected letters, "
                       "digits, \"-\" and \"_\", %d at most", argv[1],
                       PE_CONF_PROVIDER_NAME - 1);
    }

    pr = &c->providers[c->nproviders];
    pr->kind = (pe_provider_kind_e) kind;
    pr->name = pe_conf_strdup(argv[1]);
    pr->timeout = 30;
    pr->submit_parallel = 1;
    pr->poll = 5;
    c->nproviders++;

    for (i = 2; i < argc; i++) {
        eq = strchr(argv[i], '=');

        if (eq == NULL || eq[1] == '\0') {
            return pe_fail(p, "invalid parameter \"%s\" in \"provider\" "
                           "directive", argv[i]);
        }

#define PE_KEY(k) (eq - argv[i] == (int) sizeof(k) - 1                        \
                   && strncmp(argv[i], k, sizeof(k) - 1) == 0)

        if (PE_KEY("type")) {
            continue;                   /* read above */
        }

        if (PE_KEY("base")) {
            if (!pe_conf_url(eq + 1)) {
                return pe_fail(p, "invalid URL \"%s\" in \"provider\" "
                               "directive", eq + 1);
            }
            free(pr->base);
            pr->base = pe_conf_strip_slash(eq + 1);
            continue;
        }

        if (PE_KEY("timeout")) {
            pr->timeout = pe_conf_parse_duration(eq + 1);

            if (pr->timeout <= 0 || pr->timeout > 600) {
                return pe_fail(p, "invalid timeout \"%s\" in \"provider\" "
                               "directive, expected 1s to 10m", eq + 1);
            }
            continue;
        }

        if (PE_KEY("poll")) {
            pr->poll = pe_conf_parse_duration(eq + 1);

            if (pr->poll <= 0 || pr->poll > 3600) {
                return pe_fail(p, "invalid poll \"%s\" in \"provider\" "
                               "directive, expected 1s to 1h", eq + 1);
            }
            continue;
        }

        if (PE_KEY("callbacks")) {
            if (strcmp(eq + 1, "on") != 0 && strcmp(eq + 1, "off") != 0) {
                return pe_fail(p, "invalid callbacks \"%s\" in \"provider\" "
                               "directive, expected on or off", eq + 1);
            }
            pr->callbacks = strcmp(eq + 1, "on") == 0;
            continue;
        }

        if (PE_KEY("submit_parallel")) {
            pr->submit_parallel = atoi(eq + 1);

            if (pr->submit_parallel < 1 || pr->submit_parallel > 64
                || strspn(eq + 1, "0123456789") != strlen(eq + 1))
            {
                return pe_fail(p, "invalid submit_parallel \"%s\" in "
                               "\"provider\" directive, expected 1 to 64",
                               eq + 1);
            }
            continue;
        }

        if (PE_KEY("key") || PE_KEY("secret") || PE_KEY("token")
            || PE_KEY("access_key") || PE_KEY("secret_key")
            || PE_KEY("webhook_secret"))
        {
            return pe_fail(p, "a key is not read from the configuration "
                           "text, use %.*s_env=NAME in \"provider\" "
                           "directive", (int) (eq - argv[i]), argv[i]);
        }

        if (PE_KEY("key_env")) {
            slot = &pr->key_env;
        } else if (PE_KEY("webhook_secret_env")) {
            slot = &pr->webhook_secret_env;
        } else if (PE_KEY("access_key_env")) {
            slot = &pr->access_key_env;
        } else if (PE_KEY("secret_key_env")) {
            slot = &pr->secret_key_env;
        } else if (PE_KEY("region")) {
            slot = &pr->region;
        } else if (PE_KEY("webhook_jwks")) {
            slot = &pr->webhook_jwks;
        } else {
            return pe_fail(p, "invalid parameter \"%s\" in \"provider\" "
                           "directive", argv[i]);
        }

#undef PE_KEY

        free(*slot);
        *slot = pe_conf_strdup(eq + 1);
    }

    if (pr->base == NULL) {
        return pe_fail(p, "provider \"%s\" has no base=URL", pr->name);
    }

    /* what this kind takes and needs, as its adapter says */
    if (pe_provider_ops(pr->kind)->check(pr, kinds, sizeof(kinds)) != 0) {
        return pe_fail(p, "%s", kinds);
    }

    return 0;
}


/* inputs=image,last_frame?: the roles in order, ? an optional one */
static int
pe_conf_model_inputs(pe_parse_t *p, pe_conf_model_t *m, const char *v)
{
    int          r;
    size_t       len;
    const char  *end;

    m->legacy = 0;

    if (strcmp(v, "none") == 0) {
        return 0;                   /* text only */
    }

    for ( ;; ) {
        end = strchr(v, ',');
        len = end ? (size_t) (end - v) : strlen(v);

        if (len && v[len - 1] == '?') {
            r = pe_role_parse(v, len - 1);
            if (r >= 0) {
                m->optional[r] = 1;
            }

        } else {
            r = pe_role_parse(v, len);
        }

        if (r < 0) {
            return pe_fail(p, "unknown input \"%.*s\" of model \"%s\", "
                           "expected image, last_frame, video or audio",
                           (int) len, v, m->name);
        }

        if (pe_conf_model_takes(m, (pe_role_e) r) >= 0) {
            return pe_fail(p, "duplicate input \"%s\" of model \"%s\"",
                           pe_role_name((pe_role_e) r), m->name);
        }

        m->inputs[m->ninputs++] = (pe_role_e) r;

        if (end == NULL) {
            return 0;
        }

        v = end + 1;
    }
}


/* fields=last_frame:end_image_url,...: the provider's name for a role */
static int
pe_conf_model_fields(pe_parse_t *p, pe_conf_model_t *m, const char *v)
{
    int          r;
    size_t       len;
    const char  *end, *colon;

    for ( ;; ) {
        end = strchr(v, ',');
        len = end ? (size_t) (end - v) : strlen(v);
        colon = memchr(v, ':', len);
        r = colon ? pe_role_parse(v, (size_t) (colon - v)) : -1;

        if (r < 0 || colon + 1 == v + len) {
            return pe_fail(p, "invalid field \"%.*s\" of model \"%s\", "
                           "expected ROLE:NAME", (int) len, v, m->name);
        }

        if (m->fields[r]) {
            return pe_fail(p, "duplicate field of input \"%s\" of model "
                           "\"%s\"", pe_role_name((pe_role_e) r), m->name);
        }

        m->fields[r] = strndup(colon + 1, (size_t) (v + len - colon - 1));
        if (m->fields[r] == NULL) {
            return pe_fail(p, "out of memory");
        }

        if (end == NULL) {
            return 0;
        }

        v = end + 1;
    }
}


/* each input one its provider's adapter can send */
static int
pe_conf_model_roles(pe_parse_t *p, const pe_conf_model_t *m)
{
    size_t                    k;
    const pe_provider_ops_t  *ops;

    ops = pe_provider_ops(m->provider->kind);

    for (k = 0; k < m->ninputs; k++) {
        if (!(ops->roles & 1u << m->inputs[k])) {
            return pe_fail(p, "model \"%s\": provider \"%s\" takes no %s "
                           "input", m->name, m->provider->name,
                           pe_role_name(m->inputs[k]));
        }
    }

    return 0;
}


int
pe_conf_model_takes(const pe_conf_model_t *m, pe_role_e role)
{
    size_t  k;

    for (k = 0; k < m->ninputs; k++) {
        if (m->inputs[k] == role) {
            return (int) k;
        }
    }

    return -1;
}


static int
pe_conf_model(pe_parse_t *p, int argc, char **argv)
{
    int               a;
    size_t            k;
    const char       *provider;
    pe_conf_t        *c = p->conf;
    pe_conf_model_t  *m;

    for (k = 0; k < c->nmodels; k++) {
        if (strcmp(c->models[k].name, argv[1]) == 0) {
            return pe_fail(p, "duplicate model \"%s\"", argv[1]);
        }
    }

    if (c->nmodels == PE_CONF_MAX_MODELS) {
        return pe_fail(p, "too many models");
    }

    /* taken now, so that what is parsed below is freed with the rest */
    m = &c->models[c->nmodels++];
    m->name = pe_conf_strdup(argv[1]);
    m->legacy = 1;
    provider = NULL;

    for (a = 2; a < argc; a++) {
        if (strncmp(argv[a], "provider=", 9) == 0 && provider == NULL) {
            provider = argv[a] + 9;

        } else if (strncmp(argv[a], "inputs=", 7) == 0 && m->legacy) {
            if (pe_conf_model_inputs(p, m, argv[a] + 7) != 0) {
                return -1;
            }

        } else if (strncmp(argv[a], "fields=", 7) == 0) {
            if (pe_conf_model_fields(p, m, argv[a] + 7) != 0) {
                return -1;
            }

        } else if (strcmp(argv[a], "strip=off") == 0) {
            m->strip_off = 1;

        } else if (strcmp(argv[a], "strip=on") == 0) {
            m->strip_off = 0;

        } else {
            return pe_fail(p, "invalid parameter \"%s\" in \"model\" "
                           "directive, expected provider=NAME, inputs=, "
                           "fields= or strip=", argv[a]);
        }
    }

    if (provider == NULL) {
        return pe_fail(p, "model \"%s\" has no provider=NAME", argv[1]);
    }

    /* providers are declared before the models that use them */
    for (k = 0; k < c->nproviders; k++) {
        if (strcmp(c->providers[k].name, provider) == 0) {
            m->provider = &c->providers[k];
            return pe_conf_model_roles(p, m);
        }
    }

    return pe_fail(p, "model \"%s\" names provider \"%s\", which is not "
                   "declared above", argv[1], provider);
}


/* strip_metadata on|off: off only where every model needs the originals */
static int
pe_conf_strip_metadata(pe_parse_t *p, int argc, char **argv)
{
    (void) argc;

    if (strcmp(argv[1], "on") == 0) {
        p->conf->strip_metadata = 1;

    } else if (strcmp(argv[1], "off") == 0) {
        p->conf->strip_metadata = 0;

    } else {
        return pe_fail(p, "invalid value \"%s\" in \"strip_metadata\" "
                       "directive, it must be \"on\" or \"off\"", argv[1]);
    }

    return 0;
}


static int
pe_conf_residency_rule(pe_parse_t *p, int argc, char **argv)
{
    size_t                k;
    const char           *r, *comma;
    pe_conf_t            *c = p->conf;
    pe_conf_residency_t  *rule;

    (void) argc;

    if (!pe_conf_token(argv[1], strlen(argv[1]))) {
        return pe_fail(p, "invalid group \"%s\" in \"residency\" directive",
                       argv[1]);
    }

    if (pe_conf_residency(c, argv[1]) != NULL) {
        return pe_fail(p, "duplicate residency for group \"%s\"", argv[1]);
    }

    if (strncmp(argv[2], "region=", 7) != 0) {
        return pe_fail(p, "invalid parameter \"%s\" in \"residency\" "
                       "directive, expected region=R[,R...]", argv[2]);
    }

    for (r = argv[2] + 7; ; r = comma + 1) {
        comma = strchr(r, ',');
        k = comma ? (size_t) (comma - r) : strlen(r);

        if (!pe_conf_token(r, k)) {
            return pe_fail(p, "invalid region list \"%s\" in \"residency\" "
                           "directive", argv[2] + 7);
        }

        if (comma == NULL) {
            break;
        }
    }

    if (c->nresidency == PE_CONF_MAX_RESIDENCY) {
        return pe_fail(p, "too many residency rules");
    }

    rule = &c->residency[c->nresidency++];
    rule->group = pe_conf_strdup(argv[1]);
    rule->regions = pe_conf_strdup(argv[2] + 7);

    return 0;
}


const pe_conf_residency_t *
pe_conf_residency(const pe_conf_t *conf, const char *group)
{
    size_t  i;

    for (i = 0; i < conf->nresidency; i++) {
        if (group && strcmp(conf->residency[i].group, group) == 0) {
            return &conf->residency[i];
        }
    }

    return NULL;
}


int
pe_conf_residency_allows(const pe_conf_t *conf, const char *group,
    const pe_conf_provider_t *provider)
{
    size_t                      n;
    const char                 *r, *comma;
    const pe_conf_residency_t  *rule;

    rule = pe_conf_residency(conf, group);

    if (rule == NULL) {
        return 1;
    }

    if (provider->region == NULL) {
        return 0;                   /* where it is, nobody said */
    }

    n = strlen(provider->region);

    for (r = rule->regions; r; r = comma ? comma + 1 : NULL) {
        comma = strchr(r, ',');

        if ((size_t) (comma ? comma - r : (long) strlen(r)) == n
            && strncmp(r, provider->region, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The edge's zone names, as in privacy_limit_zone's zone=NAME: its Redis
 * keys are "privacy:{NAME:HMAC}", so no blank, brace or colon.
 */
static int
pe_conf_subject_zones(pe_parse_t *p, int argc, char **argv)
{
    int          i;
    size_t       k, n;
    pe_conf_t   *c = p->conf;
    const char  *z;

    for (i = 1; i < argc; i++) {
        z = argv[i];
        n = strlen(z);

        if (n == 0 || n > 64 || strpbrk(z, "{}:\"'") != NULL) {
            goto invalid;
        }

        for (k = 0; k < n; k++) {
            if (z[k] <= ' ' || z[k] > '~') {
                goto invalid;
            }
        }

        for (k = 0; k < c->nsubject_zones; k++) {
            if (strcmp(c->subject_zones[k], z) == 0) {
                return pe_fail(p, "duplicate zone \"%s\" in "
                               "\"subject_limit_zones\" directive", z);
            }
        }

        if (c->nsubject_zones == PE_CONF_MAX_LIMIT_ZONES) {
            return pe_fail(p, "too many zones in \"subject_limit_zones\"");
        }

        c->subject_zones[c->nsubject_zones++] = pe_conf_strdup(z);
    }

    return 0;

invalid:

    return pe_fail(p, "invalid zone name in \"subject_limit_zones\" "
                   "directive");
}


static void
pe_conf_defaults(pe_conf_t *c)
{
    memset(c, 0, sizeof(pe_conf_t));

    c->listen_host = pe_conf_strdup("127.0.0.1");
    c->listen_port = 9000;
    c->listen_per_ip = PE_CONF_PER_IP;
    c->listen_timeout = PE_CONF_HTTP_TIMEOUT;
    c->redis_host = pe_conf_strdup("127.0.0.1");
    c->redis_port = 6379;

    /* the strictest reading of the policies unless configured */
    c->retain_upload = 0;
    c->retain_output = 24 * 3600;
    c->retain_record = 30 * 86400;
    c->retain_prompt = 0;

    c->strip_metadata = 1;

    /* roomier than the shipped edge's caps, which come first */
    c->max_image = 20 * 1024 * 1024;
    c->max_video = 500 * 1024 * 1024;
    c->max_audio = 50 * 1024 * 1024;
}


/* a directive as the syntax read it: checked, then its handler's */
static int
pe_conf_directive(void *data, int argc, char **argv, char *err,
    size_t errlen)
{
    pe_parse_t            *p = data;
    const pe_directive_t  *d;

    p->err = err;
    p->errlen = errlen;

    for (d = pe_directives; d->name; d++) {
        if (strcmp(d->name, argv[0]) != 0) {
            continue;
        }

        if (argc - 1 < d->min_args || argc - 1 > d->max_args) {
            return pe_fail(p, "invalid number of arguments in \"%s\" "
                           "directive", argv[0]);
        }

        return d->handler(p, argc, argv);
    }

    return pe_fail(p, "unknown directive \"%s\"", argv[0]);
}


int
pe_conf_parse(pe_conf_t *conf, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
    pe_parse_t   p;

    pe_conf_defaults(conf);
    conf->file = pe_conf_strdup(name);

    memset(&p, 0, sizeof(p));
    p.err = err;
    p.errlen = errlen;
    p.conf = conf;

    if (pe_conf_text(name, text, len, pe_conf_directive, &p, err, errlen)
        != 0)
    {
        return -1;
    }

    if (conf->spool == NULL) {
        return pe_fail(&p, "no \"spool\" directive in %s", name);
    }

    if (conf->context_key_file == NULL) {
        return pe_fail(&p, "no \"context_key\" directive in %s", name);
    }

    if (conf->data_key_file == NULL) {
        return pe_fail(&p, "no \"data_key\" directive in %s", name);
    }

    return 0;
}


int
pe_conf_load(pe_conf_t *conf, const char *file, char *err, size_t errlen)
{
    int          rc;
    char        *text;
    size_t       n;

    text = pe_conf_file(file, &n, err, errlen);

    if (text == NULL) {
        pe_conf_defaults(conf);
        return -1;
    }

    rc = pe_conf_parse(conf, file, text, n, err, errlen);
    free(text);

    return rc;
}


const pe_conf_model_t *
pe_conf_find_model(const pe_conf_t *conf, const char *name)
{
    size_t  i;

    for (i = 0; i < conf->nmodels; i++) {
        if (strcmp(conf->models[i].name, name) == 0) {
            return &conf->models[i];
        }
    }

    return NULL;
}


int
pe_conf_provider_index(const pe_conf_t *conf, const char *name)
{
    size_t  i;

    for (i = 0; i < conf->nproviders; i++) {
        if (name && strcmp(conf->providers[i].name, name) == 0) {
            return (int) i;
        }
    }

    return -1;
}


void
pe_conf_free(pe_conf_t *c)
{
    size_t  i, k;

    for (i = 0; i < c->nresidency; i++) {
        free(c->residency[i].group);
        free(c->residency[i].regions);
    }

    for (i = 0; i < c->nproviders; i++) {
        free(c->providers[i].name);
        free(c->providers[i].base);
        free(c->providers[i].key_env);
        free(c->providers[i].webhook_secret_env);
        free(c->providers[i].access_key_env);
        free(c->providers[i].secret_key_env);
        free(c->providers[i].webhook_jwks);
        free(c->providers[i].region);
    }

    for (i = 0; i < c->nmodels; i++) {
        free(c->models[i].name);

        for (k = 0; k < PE_ROLES; k++) {
            free(c->models[i].fields[k]);
        }
    }

    for (i = 0; i < c->nsubject_zones; i++) {
        free(c->subject_zones[i]);
    }

    free(c->file);
    free(c->listen_host);
    free(c->redis_host);
    free(c->redis_password_env);
    free(c->redis_password_file);
    free(c->spool);
    free(c->context_key_file);
    free(c->data_key_file);
    free(c->public_url);

    /* the keys do not outlive the configuration */
    memset(c->context_key, 0, sizeof(c->context_key));
    memset(c->data_key, 0, sizeof(c->data_key));
    memset(c, 0, sizeof(pe_conf_t));
}
