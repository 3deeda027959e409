/*
 * privacy-backend: retention and erasure (see retention.h).
 */

#include "retention.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "jobs.h"
#include "log.h"
#include "pe_jws.h"
#include "spool.h"
#include "store.h"
#include "worker.h"


static void
pe_retention_file(pe_backend_t *be, const char *id, const char *what)
{
    char  path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s.%s", be->conf.spool, id, what);
    unlink(path);
}


void
pe_retention_unlink(pe_backend_t *be, const char *id)
{
    pe_retention_file(be, id, "media");
    pe_retention_file(be, id, "prompt");
}


static void
pe_retention_schedule(pe_backend_t *be, time_t at, const char *what,
    const char *id, const char *sub)
{
    redisReply  *r;

    r = pe_store_command(be->store, "ZADD %s %lld %s:%s%s%s",
                         PE_RETENTION_KEY, (long long) at, what, id,
                         sub ? ":" : "", sub ? sub : "");

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        pe_log(PE_LOG_ERR, "retention: %s of job %s not scheduled", what, id);
    }

    freeReplyObject(r);
}


void
pe_retention_job_submitted(pe_backend_t *be, const char *id,
    int media_inline)
{
    /*
     * A linked upload goes once fetched whole and the provider runs the
     * job (media.c), or when the job ends: a fetch may be retried.
     */
    if (media_inline && be->conf.retain_upload == 0) {
        pe_retention_file(be, id, "media");
    }

    if (be->conf.retain_prompt == 0) {
        pe_retention_file(be, id, "prompt");
    }
}


void
pe_retention_job_ended(pe_backend_t *be, const char *id, const char *sub,
    pe_job_state_e state)
{
    time_t       now;
    redisReply  *r;
    pe_conf_t   *c = &be->conf;

    now = time(NULL);

    if (c->retain_upload == 0) {
        pe_retention_file(be, id, "media");

    } else if (c->retain_upload > 0) {
        pe_retention_schedule(be, now + c->retain_upload, "upload", id, NULL);
    }

    if (c->retain_prompt == 0) {
        pe_retention_file(be, id, "prompt");

    } else if (c->retain_prompt > 0) {
        pe_retention_schedule(be, now + c->retain_prompt, "prompt", id, NULL);
    }

    if (state == PE_JOB_SUCCEEDED && c->retain_output >= 0) {
        pe_retention_schedule(be, now + c->retain_output, "output", id, NULL);
    }

    if (c->retain_record >= 0) {
        pe_retention_schedule(be, now + c->retain_record, "record", id, sub);

        /* and Redis's own clock, a minute later, should the sweeper not */
        r = pe_store_command(be->store, "EXPIRE pe:job:%s %ld", id,
                             c->retain_record + 60);
        freeReplyObject(r);
    }
}


/* an output past its time: the URL goes, the job says expired */
static const char  pe_output_script[] =
    "if redis.call('HGET', KEYS[1], 'status') == 'succeeded' then "
    "  redis.call('HDEL', KEYS[1], 'output') "
    "  redis.call('HSET', KEYS[1], 'status', 'expired', "
    "             'reason', 'output_retention') "
    "end "
    "return 1";


static void
pe_retention_do(pe_backend_t *be, const char *member)
{
    char         id[PE_JOB_ID_LEN + 1];
    const char  *colon, *sub;
    redisReply  *r;

    colon = strchr(member, ':');

    if (colon == NULL || strlen(colon + 1) < PE_JOB_ID_LEN) {
        return;
    }

    memcpy(id, colon + 1, PE_JOB_ID_LEN);
    id[PE_JOB_ID_LEN] = '\0';

    if (!pe_job_id_valid(id)) {
        return;
    }

    if (strncmp(member, "upload:", 7) == 0) {
        pe_retention_file(be, id, "media");

    } else if (strncmp(member, "prompt:", 7) == 0) {
        pe_retention_file(be, id, "prompt");

    } else if (strncmp(member, "output:", 7) == 0) {
        r = pe_store_command(be->store, "EVAL %s 1 pe:job:%s",
                             pe_output_script, id);
        freeReplyObject(r);

    } else if (strncmp(member, "record:", 7) == 0
               && colon[1 + PE_JOB_ID_LEN] == ':')
    {
        sub = colon + 2 + PE_JOB_ID_LEN;
        pe_retention_unlink(be, id);
        r = pe_store_command(be->store, "DEL pe:job:%s pe:media:%s", id, id);
        freeReplyObject(r);
        r = pe_store_command(be->store, "SREM pe:sub:%s:jobs %s", sub, id);
        freeReplyObject(r);

        /* the record outlives nothing: what was still owed goes with it */
        r = pe_store_command(be->store, "ZREM %s upload:%s prompt:%s "
                             "output:%s", PE_RETENTION_KEY, id, id, id);
        freeReplyObject(r);
    }
}


void
pe_retention_sweep(pe_backend_t *be, time_t now)
{
    size_t       i;
    redisReply  *due, *r;

    due = pe_store_command(be->store,
                           "ZRANGEBYSCORE %s -inf %lld LIMIT 0 128",
                           PE_RETENTION_KEY, (long long) now);

    for (i = 0; due && due->type == REDIS_REPLY_ARRAY && i < due->elements;
         i++)
    {
        pe_retention_do(be, due->element[i]->str);

        r = pe_store_command(be->store, "ZREM %s %s", PE_RETENTION_KEY,
                             due->element[i]->str);
        freeReplyObject(r);
    }

    freeReplyObject(due);
}


void
pe_retention_sweep_spool(pe_backend_t *be)
{
    int             keep;
    DIR            *d;
    char            path[PATH_MAX], id[PE_JOB_ID_LEN + 1];
    time_t          now;
    struct stat     st;
    redisReply     *r;
    struct dirent  *e;

    d = opendir(be->conf.spool);
    if (d == NULL) {
        return;
    }

    now = time(NULL);

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) <= PE_JOB_ID_LEN) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", be->conf.spool, e->d_name);

        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)
            || now - st.st_mtime < PE_SPOOL_ORPHAN)
        {
            continue;
        }

        memcpy(id, e->d_name, PE_JOB_ID_LEN);
        id[PE_JOB_ID_LEN] = '\0';

        keep = 0;

        if (pe_job_id_valid(id) && e->d_name[PE_JOB_ID_LEN] == '.'
            && strstr(e->d_name, ".part") == NULL)
        {
            r = pe_store_command(be->store, "EXISTS pe:job:%s", id);

            /* not sure: kept */
            keep = r == NULL || r->type != REDIS_REPLY_INTEGER
                   || r->integer != 0;
            freeReplyObject(r);
        }

        if (!keep) {
            pe_log(PE_LOG_NOTICE, "retention: stray spool file %s removed",
                   e->d_name);
            unlink(path);
        }
    }

    closedir(d);
}


/*
 * One job (ARGV[3]) or all of a subject's: the record, the link's key, the
 * stream entry, the schedule and the subject's set, at once; with all of
 * them, the edge's limit keys of the subject (KEYS[4...]).  A job still
 * at the provider leaves a cancel entry (its id, provider and cancel URL,
 * nothing of the subject) for the worker.  Returns the ids erased.
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
    "    if (h[2] == 'submitting' or h[2] == 'submitted' "
    "        or h[2] == 'running') and h[4] and h[4] ~= '' then "
    "      redis.call('XADD', KEYS[2], '*', 'cancel', id, "
    "                 'provider', h[3], 'url', h[4]) "
    "    end "
    "    gone[#gone + 1] = id "
    "  end "
    "  if mine or ARGV[3] == '' then "
    "    redis.call('SREM', KEYS[1], id) "
    "    redis.call('ZREM', KEYS[3], 'upload:' .. id, 'prompt:' .. id, "
    "               'output:' .. id, 'record:' .. id .. ':' .. ARGV[1]) "
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
pe_retention_limit_key(pe_backend_t *be, const char *zone, const char *sub,
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


static redisReply *
pe_retention_erase_ids(pe_backend_t *be, const char *sub, const char *id)
{
    int          argc;
    char         subkey[128], nkeys[16];
    char         zkeys[PE_CONF_MAX_LIMIT_ZONES][128];
    size_t       i, nz;
    redisReply  *r;
    const char  *argv[9 + PE_CONF_MAX_LIMIT_ZONES];

    snprintf(subkey, sizeof(subkey), "pe:sub:%s:jobs", sub);

    /* an empty subject was never limited at the edge */
    nz = 0;

    for (i = 0; id == NULL && *sub && i < be->conf.nsubject_zones; i++) {
        if (pe_retention_limit_key(be, be->conf.subject_zones[i], sub,
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
pe_retention_delete_job(pe_backend_t *be, const pe_context_t *ctx,
    const char *id, unsigned *status, char **body)
{
    redisReply  *r;

    if (!pe_job_id_valid(id)) {
        *status = 404;
        *body = pe_error_body("not_found", NULL);
        return;
    }

    r = pe_retention_erase_ids(be, ctx->sub, id);

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
pe_retention_erase(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body)
{
    size_t       i;
    redisReply  *r;

    r = pe_retention_erase_ids(be, ctx->sub, NULL);

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
pe_retention_prompt(pe_backend_t *be, const char *id)
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
pe_retention_export(pe_backend_t *be, const pe_context_t *ctx,
    unsigned *status, char **body)
{
    size_t         i, k;
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

            json_object_set_new(job, f, json_string(r->element[k + 1]->str));
        }

        freeReplyObject(r);

        v = pe_retention_prompt(be, id);
        if (v) {
            json_object_set_new(job, "prompt", v);
        }

        snprintf(path, sizeof(path), "%s/%s.media", be->conf.spool, id);
        json_object_set_new(job, "upload_held",
                            json_boolean(access(path, F_OK) == 0));

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
