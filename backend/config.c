/*
 * privacy-backend: configuration.
 */

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#define PE_CONF_MAX_ARGS   16
#define PE_CONF_MAX_TOKEN  4096


typedef struct {
    const char   *name;
    int           line;
    char         *err;
    size_t        errlen;
    pe_conf_t    *conf;
    unsigned      seen_listen:1;
    unsigned      seen_redis:1;
    unsigned      seen_retention:1;
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
static int pe_conf_provider(pe_parse_t *p, int argc, char **argv);
static int pe_conf_model(pe_parse_t *p, int argc, char **argv);
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
    { "provider", 2, 8, pe_conf_provider },
    { "model", 2, 2, pe_conf_model },
    { "residency", 2, 2, pe_conf_residency_rule },
    { "subject_limit_zones", 1, PE_CONF_MAX_ARGS - 2, pe_conf_subject_zones },
    { NULL, 0, 0, NULL }
};


static int
pe_fail(pe_parse_t *p, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);

    if (n >= 0 && (size_t) n < p->errlen && p->line > 0) {
        snprintf(p->err + n, p->errlen - n, " in %s:%d", p->name, p->line);
    }

    return -1;
}


static char *
pe_strdup(const char *s)
{
    char  *d = strdup(s);

    if (d == NULL) {
        abort();            /* a config that cannot be held is fatal */
    }

    return d;
}


/* "host:port", "[v6]:port" or ":port"/"port" (loopback) */
static int
pe_parse_hostport(const char *s, char **host, int *portp)
{
    char        *end;
    const char  *colon, *port;
    long         n;

    if (s[0] == '[') {
        colon = strstr(s, "]:");
        if (colon == NULL || colon == s + 1) {
            return -1;
        }
        *host = strndup(s + 1, colon - s - 1);
        colon++;

    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s) {
            *host = pe_strdup("127.0.0.1");
        } else {
            *host = strndup(s, colon - s);
        }
    }

    port = colon ? colon + 1 : s;
    errno = 0;
    n = strtol(port, &end, 10);

    if (errno || *end != '\0' || end == port || n < 1 || n > 65535) {
        free(*host);
        *host = NULL;
        return -1;
    }

    *portp = (int) n;

    return 0;
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

    if (pe_parse_hostport(argv[1], &c->listen_host, &c->listen_port) != 0) {
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

    if (pe_parse_hostport(argv[1], &c->redis_host, &c->redis_port) != 0) {
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
            c->redis_password_env = pe_strdup(argv[i] + 13);

        } else if (strncmp(argv[i], "password_file=", 14) == 0
                   && argv[i][14])
        {
            c->redis_password_file = pe_strdup(argv[i] + 14);

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

    *slot = pe_strdup(argv[1]);

    return 0;
}


static int
pe_is_url(const char *s)
{
    const char  *host;

    if (strncmp(s, "https://", 8) == 0) {
        host = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        host = s + 7;
    } else {
        return 0;
    }

    if (*host == '\0' || *host == '/' || strpbrk(s, " \t\"'<>\\") != NULL) {
        return 0;
    }

    return 1;
}


static char *
pe_strip_slash(const char *s)
{
    char    *d = pe_strdup(s);
    size_t   n = strlen(d);

    while (n > 0 && d[n - 1] == '/') {
        d[--n] = '\0';
    }

    return d;
}


static int
pe_conf_public_url(pe_parse_t *p, int argc, char **argv)
{
    (void) argc;

    if (p->conf->public_url) {
        return pe_fail(p, "\"public_url\" directive is duplicate");
    }

    if (!pe_is_url(argv[1])) {
        return pe_fail(p, "invalid URL \"%s\" in \"public_url\" directive",
                       argv[1]);
    }

    p->conf->public_url = pe_strip_slash(argv[1]);

    return 0;
}


long
pe_conf_parse_duration(const char *s)
{
    long         total, n, unit;
    const char  *q;

    if (*s == '\0') {
        return -1;
    }

    total = 0;
    q = s;

    while (*q) {
        if (!isdigit((unsigned char) *q)) {
            return -1;
        }

        n = 0;

        while (isdigit((unsigned char) *q)) {
            if (n > 100000000) {
                return -1;
            }
            n = n * 10 + (*q++ - '0');
        }

        switch (*q) {
        case 's': unit = 1; q++; break;
        case 'm': unit = 60; q++; break;
        case 'h': unit = 3600; q++; break;
        case 'd': unit = 86400; q++; break;
        case '\0':
            if (q == s + strspn(s, "0123456789")) {
                unit = 1;           /* a bare number: seconds */
                break;
            }
            return -1;
        default:
            return -1;
        }

        if (n > (100L * 365 * 86400) / unit) {
            return -1;
        }

        total += n * unit;
    }

    return total;
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


static int
pe_conf_provider(pe_parse_t *p, int argc, char **argv)
{
    int                  i;
    size_t               k;
    char                *eq, **slot;
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

    pr = &c->providers[c->nproviders];

    if (strcmp(argv[1], "fal") == 0) {
        pr->kind = PE_PROVIDER_FAL;
    } else if (strcmp(argv[1], "replicate") == 0) {
        pr->kind = PE_PROVIDER_REPLICATE;
    } else if (strcmp(argv[1], "kling") == 0) {
        pr->kind = PE_PROVIDER_KLING;
    } else {
        return pe_fail(p, "unknown provider \"%s\", expected fal, replicate "
                       "or kling", argv[1]);
    }

    pr->name = pe_strdup(argv[1]);
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

        if (PE_KEY("base")) {
            if (!pe_is_url(eq + 1)) {
                return pe_fail(p, "invalid URL \"%s\" in \"provider\" "
                               "directive", eq + 1);
            }
            free(pr->base);
            pr->base = pe_strip_slash(eq + 1);
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
        *slot = pe_strdup(eq + 1);
    }

    if (pr->base == NULL) {
        return pe_fail(p, "provider \"%s\" has no base=URL", pr->name);
    }

    /* an attribute another provider's callbacks would need is a mistake */
    if ((pr->webhook_secret_env && pr->kind != PE_PROVIDER_REPLICATE)
        || (pr->webhook_jwks && pr->kind != PE_PROVIDER_FAL)
        || (pr->callbacks && pr->kind != PE_PROVIDER_KLING))
    {
        return pe_fail(p, "provider \"%s\" takes no %s=", pr->name,
                       pr->webhook_secret_env ? "webhook_secret_env"
                       : pr->webhook_jwks ? "webhook_jwks" : "callbacks");
    }

    if (pr->kind == PE_PROVIDER_KLING) {
        if (pr->access_key_env == NULL || pr->secret_key_env == NULL) {
            return pe_fail(p, "provider \"kling\" needs access_key_env= and "
                           "secret_key_env=");
        }

    } else if (pr->key_env == NULL) {
        return pe_fail(p, "provider \"%s\" needs key_env=", pr->name);
    }

    return 0;
}


static int
pe_conf_model(pe_parse_t *p, int argc, char **argv)
{
    size_t      k;
    pe_conf_t  *c = p->conf;

    (void) argc;

    if (strncmp(argv[2], "provider=", 9) != 0) {
        return pe_fail(p, "invalid parameter \"%s\" in \"model\" directive, "
                       "expected provider=NAME", argv[2]);
    }

    for (k = 0; k < c->nmodels; k++) {
        if (strcmp(c->models[k].name, argv[1]) == 0) {
            return pe_fail(p, "duplicate model \"%s\"", argv[1]);
        }
    }

    if (c->nmodels == PE_CONF_MAX_MODELS) {
        return pe_fail(p, "too many models");
    }

    /* providers are declared before the models that use them */
    for (k = 0; k < c->nproviders; k++) {
        if (strcmp(c->providers[k].name, argv[2] + 9) == 0) {
            c->models[c->nmodels].name = pe_strdup(argv[1]);
            c->models[c->nmodels].provider = &c->providers[k];
            c->nmodels++;
            return 0;
        }
    }

    return pe_fail(p, "model \"%s\" names provider \"%s\", which is not "
                   "declared above", argv[1], argv[2] + 9);
}


/* a group or a region: lowercase letters, digits, "-" and "_" */
static int
pe_conf_token(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-' || s[i] == '_'))
        {
            return 0;
        }
    }

    return n > 0 && n <= 32;
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
    rule->group = pe_strdup(argv[1]);
    rule->regions = pe_strdup(argv[2] + 7);

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

        c->subject_zones[c->nsubject_zones++] = pe_strdup(z);
    }

    return 0;

invalid:

    return pe_fail(p, "invalid zone name in \"subject_limit_zones\" "
                   "directive");
}


static int
pe_conf_directive(pe_parse_t *p, int argc, char **argv)
{
    const pe_directive_t  *d;

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


static void
pe_conf_defaults(pe_conf_t *c)
{
    memset(c, 0, sizeof(pe_conf_t));

    c->listen_host = pe_strdup("127.0.0.1");
    c->listen_port = 9000;
    c->listen_per_ip = PE_CONF_PER_IP;
    c->listen_timeout = PE_CONF_HTTP_TIMEOUT;
    c->redis_host = pe_strdup("127.0.0.1");
    c->redis_port = 6379;

    /* the strictest reading of the policies unless configured */
    c->retain_upload = 0;
    c->retain_output = 24 * 3600;
    c->retain_record = 30 * 86400;
    c->retain_prompt = 0;
}


int
pe_conf_parse(pe_conf_t *conf, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
    int          argc, start_line, line;
    char        *argv[PE_CONF_MAX_ARGS], tok[PE_CONF_MAX_TOKEN], quote;
    size_t       i, tlen;
    pe_parse_t   p;

    pe_conf_defaults(conf);
    conf->file = pe_strdup(name);

    memset(&p, 0, sizeof(p));
    p.name = name;
    p.line = 1;
    p.err = err;
    p.errlen = errlen;
    p.conf = conf;

    argc = 0;
    start_line = 1;
    i = 0;

    for ( ;; ) {
        /* blanks and comments */
        while (i < len && (text[i] == ' ' || text[i] == '\t'
                           || text[i] == '\r' || text[i] == '\n'
                           || text[i] == '#'))
        {
            if (text[i] == '#') {
                while (i < len && text[i] != '\n') {
                    i++;
                }
                continue;
            }

            if (text[i] == '\n') {
                p.line++;
            }

            i++;
        }

        if (i == len) {
            break;
        }

        if (text[i] == '\0') {
            pe_fail(&p, "NUL byte");
            goto failed;
        }

        if (text[i] == '{' || text[i] == '}') {
            pe_fail(&p, "unexpected \"%c\": blocks are not used here",
                    text[i]);
            goto failed;
        }

        if (text[i] == ';') {
            i++;

            if (argc == 0) {
                pe_fail(&p, "unexpected \";\"");
                goto failed;
            }

            argv[argc] = NULL;

            /* errors name the line the directive starts on */
            line = p.line;
            p.line = start_line;

            if (pe_conf_directive(&p, argc, argv) != 0) {
                goto failed;
            }

            p.line = line;

            while (argc) {
                free(argv[--argc]);
            }

            continue;
        }

        /* a token */
        if (argc == 0) {
            start_line = p.line;
        }

        if (argc == PE_CONF_MAX_ARGS - 1) {
            pe_fail(&p, "too many arguments in \"%s\" directive", argv[0]);
            goto failed;
        }

        tlen = 0;
        quote = 0;

        if (text[i] == '"' || text[i] == '\'') {
            quote = text[i++];
        }

        for ( ;; ) {
            if (i == len) {
                if (quote) {
                    pe_fail(&p, "unterminated quoted string");
                    goto failed;
                }
                break;
            }

            if (quote) {
                if (text[i] == quote) {
                    i++;
                    break;
                }

                if (text[i] == '\\' && i + 1 < len) {
                    i++;
                }

            } else if (strchr(" \t\r\n;#{}\"'", text[i]) != NULL) {
                break;
            }

            if (text[i] == '\n') {
                p.line++;
            }

            if (tlen == sizeof(tok) - 1) {
                pe_fail(&p, "too long parameter");
                goto failed;
            }

            tok[tlen++] = text[i++];
        }

        tok[tlen] = '\0';
        argv[argc++] = pe_strdup(tok);
    }

    if (argc) {
        pe_fail(&p, "unexpected end of file, expecting \";\"");
        goto failed;
    }

    p.line = 0;

    if (conf->spool == NULL) {
        pe_fail(&p, "no \"spool\" directive in %s", name);
        goto failed;
    }

    if (conf->context_key_file == NULL) {
        pe_fail(&p, "no \"context_key\" directive in %s", name);
        goto failed;
    }

    if (conf->data_key_file == NULL) {
        pe_fail(&p, "no \"data_key\" directive in %s", name);
        goto failed;
    }

    return 0;

failed:

    while (argc) {
        free(argv[--argc]);
    }

    return -1;
}


int
pe_conf_load(pe_conf_t *conf, const char *file, char *err, size_t errlen)
{
    int          rc;
    FILE        *f;
    char        *text;
    size_t       n, cap;

    f = fopen(file, "r");
    if (f == NULL) {
        pe_conf_defaults(conf);
        snprintf(err, errlen, "open() \"%s\" failed (%s)", file,
                 strerror(errno));
        return -1;
    }

    cap = 1 << 16;
    text = malloc(cap);
    n = 0;

    while (text && !feof(f) && !ferror(f)) {
        if (n == cap) {
            if (cap >= (1 << 24)) {
                fclose(f);
                free(text);
                pe_conf_defaults(conf);
                snprintf(err, errlen, "\"%s\" is too large", file);
                return -1;
            }
            cap *= 2;
            text = realloc(text, cap);
            if (text == NULL) {
                break;
            }
        }
        n += fread(text + n, 1, cap - n, f);
    }

    fclose(f);

    if (text == NULL) {
        abort();
    }

    rc = pe_conf_parse(conf, file, text, n, err, errlen);
    free(text);

    return rc;
}


static int
pe_read_key(const char *file, unsigned char *buf, size_t cap, size_t *len,
    char *err, size_t errlen)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(file, O_RDONLY);
    if (fd == -1) {
        snprintf(err, errlen, "open() \"%s\" failed (%s)", file,
                 strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "\"%s\" is not a regular file", file);
        return -1;
    }

    n = read(fd, buf, cap);
    close(fd);

    if (n < 0) {
        snprintf(err, errlen, "read() \"%s\" failed (%s)", file,
                 strerror(errno));
        return -1;
    }

    if ((size_t) n == cap && st.st_size > (off_t) cap) {
        snprintf(err, errlen, "\"%s\" is larger than %zu bytes", file, cap);
        return -1;
    }

    *len = (size_t) n;

    return 0;
}


static int
pe_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


int
pe_conf_load_keys(pe_conf_t *conf, char *err, size_t errlen)
{
    size_t         len, i;
    unsigned char  raw[130];

    /* the context key is the file's bytes as they are, as the edge reads it */
    if (pe_read_key(conf->context_key_file, conf->context_key,
                    sizeof(conf->context_key), &conf->context_key_len,
                    err, errlen) != 0)
    {
        return -1;
    }

    if (conf->context_key_len < 32) {
        snprintf(err, errlen, "context_key \"%s\" holds %zu bytes, at least "
                 "32 are needed", conf->context_key_file,
                 conf->context_key_len);
        return -1;
    }

    /* the data key: 32 raw bytes, or 64 hex digits (openssl rand -hex 32) */
    if (pe_read_key(conf->data_key_file, raw, sizeof(raw), &len, err, errlen)
        != 0)
    {
        return -1;
    }

    if (len == 32) {
        memcpy(conf->data_key, raw, 32);
        memset(raw, 0, sizeof(raw));
        return 0;
    }

    while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r')) {
        len--;
    }

    if (len == 64) {
        for (i = 0; i < 32; i++) {
            int  hi = pe_hexval(raw[2 * i]), lo = pe_hexval(raw[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                break;
            }

            conf->data_key[i] = (unsigned char) (hi << 4 | lo);
        }

        if (i == 32) {
            memset(raw, 0, sizeof(raw));
            return 0;
        }
    }

    memset(raw, 0, sizeof(raw));
    snprintf(err, errlen, "data_key \"%s\" must hold 32 bytes or 64 hex "
             "digits", conf->data_key_file);

    return -1;
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


void
pe_conf_free(pe_conf_t *c)
{
    size_t  i;

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


int
pe_conf_webhooks(const pe_conf_t *conf, const pe_conf_provider_t *pr)
{
    if (conf->public_url == NULL) {
        return 0;
    }

    switch (pr->kind) {
    case PE_PROVIDER_REPLICATE:
        return pr->webhook_secret_env != NULL;
    case PE_PROVIDER_FAL:
        return pr->webhook_jwks != NULL;
    case PE_PROVIDER_KLING:
        return pr->callbacks;
    }

    return 0;
}
