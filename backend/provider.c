/*
 * privacy-backend: what the provider adapters share (see provider.h).
 */

#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char  *pe_role_names[PE_ROLES] = {
    "image", "last_frame", "video", "audio"
};


const char *
pe_role_name(pe_role_e role)
{
    return (unsigned) role < PE_ROLES ? pe_role_names[role] : "?";
}


int
pe_role_parse(const char *name, size_t len)
{
    int  r;

    for (r = 0; r < PE_ROLES; r++) {
        if (len == strlen(pe_role_names[r])
            && memcmp(name, pe_role_names[r], len) == 0)
        {
            return r;
        }
    }

    return -1;
}


const pe_input_t *
pe_task_input(const pe_task_t *t, pe_role_e role)
{
    size_t  k;

    for (k = 0; k < t->ninputs; k++) {
        if (t->inputs[k].role == role) {
            return &t->inputs[k];
        }
    }

    return NULL;
}


const char *
pe_input_field(const pe_input_t *in, const char *dflt)
{
    return in->field ? in->field : dflt;
}


int
pe_provider_env(const char *provider, const char *name, char *buf,
    size_t size, char *err, size_t errlen)
{
    const char  *v;

    v = name ? getenv(name) : NULL;

    if (v == NULL || *v == '\0') {
        snprintf(err, errlen, "provider \"%s\": the environment variable "
                 "%s is not set", provider, name ? name : "(none)");
        return -1;
    }

    if (strlen(v) >= size || strpbrk(v, "\r\n") != NULL) {
        snprintf(err, errlen, "provider \"%s\": the value of %s is not a "
                 "usable key", provider, name);
        return -1;
    }

    snprintf(buf, size, "%s", v);

    return 0;
}


struct curl_slist *
pe_provider_header(struct curl_slist *list, const char *name,
    const char *value)
{
    char                line[1200];
    struct curl_slist  *l;

    snprintf(line, sizeof(line), "%s: %s", name, value);
    l = curl_slist_append(list, line);
    memset(line, 0, sizeof(line));

    if (l == NULL) {
        curl_slist_free_all(list);
    }

    return l;
}


int
pe_provider_url(pe_provider_t *p, json_t *j, const char *name, char *out,
    size_t size)
{
    size_t       n;
    const char  *s;

    s = json_string_value(json_object_get(j, name));
    n = strlen(p->conf->base);

    if (s == NULL || strncmp(s, p->conf->base, n) != 0 || s[n] != '/'
        || strlen(s) >= size || strpbrk(s, " \r\n\t") != NULL)
    {
        return -1;
    }

    snprintf(out, size, "%s", s);

    return 0;
}


int
pe_provider_headers(pe_preq_t *req, const char *scheme,
    const char *credential)
{
    char  auth[1100];

    snprintf(auth, sizeof(auth), "%s %s", scheme, credential);
    req->headers = pe_provider_header(req->headers, "Authorization", auth);
    memset(auth, 0, sizeof(auth));

    if (req->headers) {
        req->headers = curl_slist_append(req->headers,
                                         "Accept: application/json");
    }

    if (req->headers && req->body) {
        req->headers = curl_slist_append(req->headers,
                                         "Content-Type: application/json");
    }

    return req->headers ? 0 : -1;
}


int
pe_provider_takes_only(const pe_conf_provider_t *conf, unsigned takes,
    char *err, size_t errlen)
{
    const char  *attr;

    if (conf->webhook_secret_env && !(takes & PE_HOOK_SECRET)) {
        attr = "webhook_secret_env";

    } else if (conf->webhook_jwks && !(takes & PE_HOOK_JWKS)) {
        attr = "webhook_jwks";

    } else if (conf->callbacks && !(takes & PE_HOOK_CALLBACKS)) {
        attr = "callbacks";

    } else {
        return 0;
    }

    /* an attribute another kind's callbacks would need is a mistake */
    snprintf(err, errlen, "provider \"%s\" takes no %s=", conf->name, attr);

    return -1;
}


int
pe_provider_needs_key(const pe_conf_provider_t *conf, char *err,
    size_t errlen)
{
    if (conf->key_env == NULL) {
        snprintf(err, errlen, "provider \"%s\" needs key_env=", conf->name);
        return -1;
    }

    if (conf->access_key_env || conf->secret_key_env) {
        snprintf(err, errlen, "provider \"%s\" takes no access_key_env= or "
                 "secret_key_env=", conf->name);
        return -1;
    }

    return 0;
}


int
pe_provider_init_key(pe_provider_t *p, char *err, size_t errlen)
{
    return pe_provider_env(p->conf->name, p->conf->key_env, p->secret,
                           sizeof(p->secret), err, errlen);
}


int
pe_provider_hooks_on(const pe_conf_provider_t *conf)
{
    return conf->callbacks;
}


int
pe_provider_hook_unsigned(pe_provider_t *p, pe_header_get_pt header,
    void *data, const char *body, size_t len, char *key, size_t keylen,
    char *err, size_t errlen)
{
    (void) p;
    (void) header;
    (void) data;
    (void) body;
    (void) len;
    (void) err;
    (void) errlen;

    if (keylen) {
        key[0] = '\0';
    }

    return 0;
}


int
pe_provider_output_url(const char *s)
{
    return s != NULL
           && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0)
           && strpbrk(s, " \r\n\t") == NULL;
}


static int
pe_provider_has_nul(json_t *v)
{
    return json_is_string(v)
           && memchr(json_string_value(v), '\0', json_string_length(v))
              != NULL;
}


/* every string holding a NUL, at any depth, becomes null */
static void
pe_provider_scrub(json_t *j)
{
    size_t   i;
    void    *it;
    json_t  *v;

    json_array_foreach(j, i, v) {
        if (pe_provider_has_nul(v)) {
            json_array_set_new(j, i, json_null());
        } else {
            pe_provider_scrub(v);
        }
    }

    for (it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
        v = json_object_iter_value(it);

        if (pe_provider_has_nul(v)) {
            json_object_iter_set_new(j, it, json_null());
        } else {
            pe_provider_scrub(v);
        }
    }
}


json_t *
pe_provider_json(const char *body, size_t len)
{
    json_t  *j;

    j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    pe_provider_scrub(j);

    return j;
}


/* a provider's words, kept short and printable */
static void
pe_provider_copy_reason(pe_task_t *t, long code, const char *s)
{
    size_t  i;

    snprintf(t->reason, sizeof(t->reason), "provider %ld: %s", code, s);

    for (i = 0; t->reason[i]; i++) {
        if ((unsigned char) t->reason[i] < 0x20) {
            t->reason[i] = ' ';
        }
    }
}


void
pe_provider_reason(pe_task_t *t, long code, const char *body, size_t len,
    const char *const *fields)
{
    json_t       *j, *v, *m;
    const char   *s;

    s = NULL;
    j = pe_provider_json(body, len);

    for (; j && *fields && s == NULL; fields++) {
        v = json_object_get(j, *fields);

        if (json_is_string(v)) {
            s = json_string_value(v);

        } else if (json_is_array(v) && json_array_size(v) > 0) {
            /* a validation error: [{"msg": ...}, ...] */
            m = json_object_get(json_array_get(v, 0), "msg");
            s = json_is_string(m) ? json_string_value(m) : NULL;
        }
    }

    pe_provider_copy_reason(t, code, s ? s : "refused");
    json_decref(j);
}
