/*
 * privacy-backend: what a subject may do with its own jobs (see
 * subject.h): see them, delete one, erase them all, export them.
 */

#include "subject.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "job.h"
#include "log.h"
#include "pe_jws.h"
#include "reply.h"
#include "retention.h"
#include "spool.h"
#include "store.h"
#include "worker.h"


/* a job's record as the API shows it: never sub, params or paths */
/* "image,last_frame" as ["image","last_frame"]; "" is a text-only job */
static json_t *
pe_subject_inputs(const char *v)
{
    json_t      *a;
    const char  *end;

    a = json_array();

    while (a && *v) {
        end = strchr(v, ',');
        json_array_append_new(a, json_stringn(v, end ? (size_t) (end - v)
                                                     : strlen(v)));
        v = end ? end + 1 : "";
    }

    return a;
}


static json_t *
pe_subject_view(const char *id, redisReply *r)
{
    size_t       i;
    json_t      *j;
    const char  *f, *v;

    j = json_pack("{s:s}", "id", id);

    for (i = 0; i + 1 < r->elements; i += 2) {
        f = r->element[i]->str;
        v = r->element[i + 1]->str;

        if (strcmp(f, "created") == 0 || strcmp(f, "updated") == 0
            || strcmp(f, "size") == 0)
        {
            json_object_set_new(j, f, json_integer(strtoll(v, NULL, 10)));

        } else if (strcmp(f, "private") == 0) {
            json_object_set_new(j, f, json_boolean(strcmp(v, "1") == 0));

        } else if (strcmp(f, "inputs") == 0) {
            json_object_set_new(j, f, pe_subject_inputs(v));

        } else if (strcmp(f, "status") == 0 || strcmp(f, "model") == 0
                   || strcmp(f, "media_type") == 0
                   || strcmp(f, "stripped") == 0
                   || strcmp(f, "grp") == 0
                   || strcmp(f, "output") == 0 || strcmp(f, "reason") == 0)
        {
            json_object_set_new(j, f, json_string(v));
        }
    }

    return j;
}


/* the record of id if it is the subject's; another's is as good as none */
static redisReply *
pe_subject_fetch(redisContext *c, const char *id, const char *sub)
{
    size_t       i;
    redisReply  *r;

    r = redisCommand(c, "HGETALL pe:job:%s", id);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return NULL;
    }

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "sub") == 0) {
            if (strcmp(r->element[i + 1]->str, sub) == 0) {
                return r;
            }

            break;
        }
    }

    freeReplyObject(r);

    return NULL;
}


void
pe_subject_job(pe_backend_t *be, const pe_context_t *ctx, const char *id,
    unsigned *status, char **body)
{
    redisReply    *r;
    redisContext  *c;

    if (!pe_job_id_valid(id)) {
        *status = 404;
        *body = pe_error_body("not_found", NULL);
        return;
    }

    c = pe_store_get(be->store);
    if (c == NULL) {
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    r = pe_subject_fetch(c, id, ctx->sub);
    pe_store_put(be->store, c);

    if (r == NULL) {
        *status = 404;
        *body = pe_error_body("not_found", NULL);
        return;
    }

    *status = 200;
    *body = pe_json_body(pe_subject_view(id, r));
    freeReplyObject(r);
}


void
pe_subject_jobs(pe_backend_t *be, const pe_context_t *ctx, unsigned *status,
    char **body)
{
    size_t         i;
    json_t        *jobs;
    redisReply    *ids, *r;
    redisContext  *c;

    c = pe_store_get(be->store);
    if (c == NULL) {
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    ids = redisCommand(c, "SMEMBERS pe:sub:%s:jobs", ctx->sub);
    jobs = json_array();

    for (i = 0; ids && ids->type == REDIS_REPLY_ARRAY && i < ids->elements;
         i++)
    {
        if (!pe_job_id_valid(ids->element[i]->str)) {
            continue;
        }

        r = pe_subject_fetch(c, ids->element[i]->str, ctx->sub);

        if (r) {
            json_array_append_new(jobs,
                                  pe_subject_view(ids->element[i]->str, r));
            freeReplyObject(r);
        }
    }

    freeReplyObject(ids);
    pe_store_put(be->store, c);

    *status = 200;
    *body = pe_json_body(json_pack("{s:o}", "jobs", jobs));
}


/*
 * One job (ARGV[3]) or all of a subject's: the record, the link's key, the
 * stream entry, the schedule and the subject's set, at once; with all of
 * them, the edge's limit keys of the subject (KEYS[4...]).  A job still
 * at the provider leaves a cancel entry (its id, provider and cancel URL,
 * nothing of the subject) for the worker; so does an ended one whose
 * provider deletes ended tasks by it (ARGV[4]).  Returns the ids erased.
 */
static const char  pe_erase_script[] =
    "local ids "
    "if ARGV[3] ~= '' then ids = {ARGV[3]} "
    "else ids = redis.call('SMEMBERS', KEYS[1]) end "
    "local gone = {} "
    "for _, id in ipairs(ids) do "
    "  local k = 'pe:job:' .. id "
    "  local h = redis.call('HMGET', k, 'sub', 'status', 'provider', "
    "                       'cancel_url', 'entry') "
    "  local mine = h[1] == ARGV[1] "
    "  if mine then "
    "    redis.call('DEL', k, 'pe:media:' .. id) "
    "    if h[5] then "
    "      redis.pcall('XACK', KEYS[2], ARGV[2], h[5]) "
    "      redis.call('XDEL', KEYS[2], h[5]) "
    "    end "
    "    local ended = h[2] == 'succeeded' or h[2] == 'failed' "
    "                  or h[2] == 'expired' "
    "    if (h[2] == 'submitting' or h[2] == 'submitted' "
    "        or h[2] == 'running' "
    "        or (ended and h[3] and string.find(ARGV[4], ' ' .. h[3] .. ' ', "
    "                                           1, true))) "
    "       and h[4] and h[4] ~= '' then "
    "      redis.call('XADD', KEYS[2], '*', 'cancel', id, "
    "                 'provider', h[3], 'url', h[4]) "
    "    end "
    "    gone[#gone + 1] = id "
    "  end "
    "  if mine or ARGV[3] == '' then "
    "    redis.call('SREM', KEYS[1], id) "
    "    redis.call('ZREM', KEYS[3], 'upload:' .. id, 'prompt:' .. id, "
    "               'output:' .. id, 'remote:' .. id, "
    "               'record:' .. id .. ':' .. ARGV[1]) "
    "  end "
    "end "
    "if ARGV[3] == '' then "
    "  for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end "
    "  redis.call('DEL', KEYS[1]) "
    "end "
    "return gone";


/*
 * The edge's key of the subject in a sync=redis zone keyed by
 * $privacy_subject: "privacy:{ZONE:HMAC}", the HMAC-SHA256 (base64url) of
 * the pseudonym with privacy_key, the file context_key also is.
 */
static int
pe_subject_limit_key(pe_backend_t *be, const char *zone, const char *sub,
    char *out, size_t size)
{
    int   n;
    char  mac[PE_JWS_SIG_LEN + 1];

    if (pe_hs256(be->conf.context_key, be->conf.context_key_len,
                 (const unsigned char *) sub, strlen(sub), mac)
        != 0)
    {
        return -1;
    }

    mac[PE_JWS_SIG_LEN] = '\0';
    n = snprintf(out, size, "privacy:{%s:%s}", zone, mac);

    return n > 0 && (size_t) n < size ? 0 : -1;
}


/*
 * " NAME NAME ": the providers whose cancel of an ended task deletes what
 * they keep of it (ARGV[4] of the script)
 */
static const char *
pe_subject_deleters(pe_backend_t *be, char *buf, size_t size)
{
    size_t  i, len;

    len = 0;
    buf[len++] = ' ';
    buf[len] = '\0';

    for (i = 0; i < be->conf.nproviders; i++) {
        if (be->providers[i].ops && be->providers[i].ops->deletes_ended
            && len + strlen(be->conf.providers[i].name) + 2 <= size)
        {
            len += snprintf(buf + len, size - len, "%s ",
                            be->conf.providers[i].name);
        }
    }

    return buf;
}


static redisReply *
pe_subject_erase_ids(pe_backend_t *be, const char *sub, const char *id)
{
    int          argc;
    char         subkey[128], nkeys[16];
    char         deleters[PE_CONF_MAX_PROVIDERS * PE_CONF_PROVIDER_NAME + 2];
    char         zkeys[PE_CONF_MAX_LIMIT_ZONES][128];
    size_t       i, nz;
    redisReply  *r;
    const char  *argv[10 + PE_CONF_MAX_LIMIT_ZONES];

    snprintf(subkey, sizeof(subkey), "pe:sub:%s:jobs", sub);

    /* an empty subject was never limited at the edge */
    nz = 0;

    for (i = 0; id == NULL && *sub && i < be->conf.nsubject_zones; i++) {
        if (pe_subject_limit_key(be, be->conf.subject_zones[i], sub,
                                   zkeys[nz], sizeof(zkeys[nz]))
            == 0)
        {
            nz++;
        }
    }

    snprintf(nkeys, sizeof(nkeys), "%zu", 3 + nz);

    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pe_erase_script;
    argv[argc++] = nkeys;
    argv[argc++] = subkey;
    argv[argc++] = PE_JOBS_STREAM;
    argv[argc++] = PE_RETENTION_KEY;

    for (i = 0; i < nz; i++) {
        argv[argc++] = zkeys[i];
    }

    argv[argc++] = sub;
    argv[argc++] = PE_GROUP;
    argv[argc++] = id ? id : "";
    argv[argc++] = pe_subject_deleters(be, deleters, sizeof(deleters));

    r = pe_store_argv(be->store, argc, argv, NULL);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        pe_log(PE_LOG_ERR, "erasure failed: %s",
               r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


void
pe_subject_delete_job(pe_backend_t *be, const pe_context_t *ctx,
    const char *id, unsigned *status, char **body)
{
    redisReply  *r;

    if (!pe_job_id_valid(id)) {
        *status = 404;
        *body = pe_error_body("not_found", NULL);
        return;
    }

    r = pe_subject_erase_ids(be, ctx->sub, id);

    if (r == NULL) {
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    if (r->elements == 0) {
        freeReplyObject(r);
        *status = 404;
        *body = pe_error_body("not_found", NULL);
        return;
    }

    freeReplyObject(r);
    pe_retention_unlink(be, id);
    pe_worker_wake(be);

    pe_log(PE_LOG_INFO, "job %s deleted", id);

    *status = 200;
    *body = pe_json_body(json_pack("{s:s,s:s}", "id", id, "status",
                                        "deleted"));
}


void
pe_subject_erase(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body)
{
    size_t       i;
    redisReply  *r;

    r = pe_subject_erase_ids(be, ctx->sub, NULL);

    if (r == NULL) {
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && pe_job_id_valid(r->element[i]->str))
        {
            pe_retention_unlink(be, r->element[i]->str);
        }
    }

    pe_worker_wake(be);

    /* the count, never the subject */
    pe_log(PE_LOG_INFO, "erasure: %zu jobs", r->elements);

    *status = 200;
    *body = pe_json_body(json_pack("{s:s,s:I}", "status", "erased",
                                        "jobs", (json_int_t) r->elements));
    freeReplyObject(r);
}


/* the prompt, if still held: decrypted for its owner only */
static json_t *
pe_subject_prompt(pe_backend_t *be, const char *id)
{
    char                path[PATH_MAX], buf[PE_PROMPT_MAX + 1], err[128];
    size_t              len;
    ssize_t             n;
    json_t             *s;
    pe_spool_reader_t  *r;

    snprintf(path, sizeof(path), "%s/%s.prompt", be->conf.spool, id);

    r = pe_spool_open(path, be->conf.data_key, err, sizeof(err));
    if (r == NULL) {
        return NULL;
    }

    len = 0;

    while (len < PE_PROMPT_MAX
           && (n = pe_spool_read(r, buf + len, PE_PROMPT_MAX - len, err,
                                 sizeof(err)))
              > 0)
    {
        len += (size_t) n;
    }

    pe_spool_close(r);

    s = json_stringn(buf, len);
    OPENSSL_cleanse(buf, sizeof(buf));

    return s;
}


void
pe_subject_export(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body)
{
    int            held;
    size_t         i, k;
    unsigned       m;
    char           path[PATH_MAX];
    json_t        *jobs, *job, *v, *consent;
    redisReply    *ids, *r;
    const char    *id, *f;

    ids = pe_store_command(be->store, "SMEMBERS pe:sub:%s:jobs", ctx->sub);

    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(ids);
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    jobs = json_array();

    for (i = 0; i < ids->elements; i++) {
        id = ids->element[i]->str;

        if (!pe_job_id_valid(id)) {
            continue;
        }

        r = pe_store_command(be->store, "HGETALL pe:job:%s", id);

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            continue;
        }

        job = json_pack("{s:s}", "id", id);

        for (k = 0; k + 1 < r->elements; k += 2) {
            f = r->element[k]->str;

            if (strcmp(f, "sub") == 0 || strcmp(f, "entry") == 0) {
                continue;
            }

            if (strcmp(f, "params") == 0) {
                v = json_loads(r->element[k + 1]->str, 0, NULL);
                json_object_set_new(job, f, v ? v : json_null());
                continue;
            }

            if (strcmp(f, "inputs") == 0) {
                json_object_set_new(job, f,
                                    pe_subject_inputs(r->element[k + 1]->str));
                continue;
            }

            json_object_set_new(job, f, json_string(r->element[k + 1]->str));
        }

        freeReplyObject(r);

        v = pe_subject_prompt(be, id);
        if (v) {
            json_object_set_new(job, "prompt", v);
        }

        /* held while any input's file is */
        held = 0;

        for (m = 0; m < PE_JOB_FILES; m++) {
            pe_job_media_path(path, sizeof(path), be->conf.spool, id, m);
            held = held || access(path, F_OK) == 0;
        }

        json_object_set_new(job, "upload_held", json_boolean(held));

        json_array_append_new(jobs, job);
    }

    freeReplyObject(ids);

    consent = json_array();

    for (i = 0; i < ctx->ncon; i++) {
        json_array_append_new(consent, json_string(ctx->con[i]));
    }

    *status = 200;
    *body = pe_json_body(json_pack("{s:s,s:I,s:{s:s,s:o,s:b},s:o}",
        "subject", ctx->sub,
        "generated", (json_int_t) time(NULL),
        "context", "region", ctx->reg, "consent", consent, "gpc", ctx->gpc,
        "jobs", jobs));
}
