/*
 * privacy-backend: retention, the sweeper (see retention.h).
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

#include "job.h"
#include "log.h"
#include "store.h"


/* "media" is every input's file, "prompt" the prompt's */
static void
pe_retention_file(pe_backend_t *be, const char *id, const char *what)
{
    char      path[PATH_MAX];
    unsigned  k;

    if (strcmp(what, "media") == 0) {
        for (k = 0; k < PE_JOB_FILES; k++) {
            pe_job_media_path(path, sizeof(path), be->conf.spool, id, k);
            unlink(path);
        }

        return;
    }

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


/*
 * What the provider keeps of an ended task, asked to be deleted: a cancel
 * entry from the record (the provider and its cancel URL, nothing of the
 * subject), which the worker turns into the call.
 */
static const char  pe_remote_script[] =
    "local h = redis.call('HMGET', KEYS[1], 'provider', 'cancel_url') "
    "if h[1] and h[2] and h[2] ~= '' then "
    "  redis.call('XADD', KEYS[2], '*', 'cancel', ARGV[1], "
    "             'provider', h[1], 'url', h[2]) "
    "end "
    "return 1";


static void
pe_retention_remote_now(pe_backend_t *be, const char *id)
{
    redisReply  *r;

    r = pe_store_command(be->store, "EVAL %s 2 pe:job:%s %s %s",
                         pe_remote_script, id, PE_JOBS_STREAM, id);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        pe_log(PE_LOG_ERR, "retention: the provider's copy of job %s not "
               "asked to be deleted", id);
    }

    freeReplyObject(r);
}


void
pe_retention_remote(pe_backend_t *be, const char *id, int output)
{
    long  keep;

    keep = be->conf.retain_output >= 0 ? be->conf.retain_output
                                       : be->conf.retain_record;

    /* an output is the provider's URL: its copy goes with our link */
    if (output && keep > 0) {
        pe_retention_schedule(be, time(NULL) + keep, "remote", id, NULL);
        return;
    }

    if (!output || keep == 0) {
        pe_retention_remote_now(be, id);
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

    } else if (strncmp(member, "remote:", 7) == 0) {
        pe_retention_remote_now(be, id);

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
                             "output:%s remote:%s", PE_RETENTION_KEY, id, id,
                             id, id);
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
