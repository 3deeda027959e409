/*
 * privacy-backend: POST /v1/jobs, an accepted upload becomes a job (see
 * upload.h).  The multipart body is parsed as it streams in, by the same
 * strict parser the edge uses, and the file goes straight into the
 * encrypted spool: memory stays at one chunk whatever the file's size.
 * Bad input is a 400 with a JSON reason and leaves nothing behind.
 */

#include "upload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "job.h"
#include "log.h"
#include "pe_media_type.h"
#include "pe_multipart.h"
#include "pe_sniff.h"
#include "reply.h"
#include "spool.h"
#include "store.h"
#include "worker.h"


enum {
    PE_FIELD_NONE = 0,
    PE_FIELD_FILE,
    PE_FIELD_PROMPT,
    PE_FIELD_MODEL,
    PE_FIELD_PARAMS,
    PE_FIELD_PRIVATE,
    PE_FIELDS
};

static const char  *pe_field_names[PE_FIELDS] = {
    NULL, "file", "prompt", "model", "params", "private"
};


static void pe_upload_free_files(pe_upload_t *u);


struct pe_upload_s {
    pe_backend_t         *be;
    pe_context_t          ctx;
    pe_multipart_t        mp;
    pe_spool_writer_t    *spool;

    char                  id[PE_JOB_ID_LEN + 1];
    char                  media_path[PATH_MAX];
    char                  prompt_path[PATH_MAX];

    int                   field;
    int                   seen[PE_FIELDS];
    char                  media_type[PE_MEDIA_TYPE_MAX + 1];
    unsigned char         head[PE_SNIFF_BYTES];
    size_t                head_len;
    int                   sniffed;
    uint64_t              size;

    char                  prompt[PE_PROMPT_MAX + 1];
    size_t                prompt_len;
    char                  model[256];
    size_t                model_len;
    char                  params[PE_PARAMS_MAX + 1];
    size_t                params_len;
    char                  private_flag[8];
    size_t                private_len;

    unsigned              status;      /* of a refusal; 0: none yet */
    char                  error[64];
    char                  detail[256];
};


/* the first refusal stands; the parser stops, the rest is drained */
static int
pe_upload_refuse(pe_upload_t *u, unsigned status, const char *error,
    const char *detail)
{
    if (u->status == 0) {
        u->status = status;
        snprintf(u->error, sizeof(u->error), "%s", error);
        snprintf(u->detail, sizeof(u->detail), "%s", detail ? detail : "");
    }

    return -1;
}


static int
pe_upload_part_begin(void *data, const pe_mp_part_t *part)
{
    int           f;
    char          err[256];
    pe_upload_t  *u = data;

    for (f = 1; f < PE_FIELDS; f++) {
        if (part->name_len == strlen(pe_field_names[f])
            && memcmp(part->name, pe_field_names[f], part->name_len) == 0)
        {
            break;
        }
    }

    if (f == PE_FIELDS) {
        return pe_upload_refuse(u, 400, "unknown_field",
                                "fields are file, prompt, model, params, "
                                "private");
    }

    if (u->seen[f]++) {
        return pe_upload_refuse(u, 400, "duplicate_field",
                                pe_field_names[f]);
    }

    u->field = f;

    if (f != PE_FIELD_FILE) {
        if (part->is_file) {
            return pe_upload_refuse(u, 400, "unexpected_file",
                                    pe_field_names[f]);
        }

        return 0;
    }

    if (!part->has_type
        || !(pe_media_type_match("image/*", 7, part->type, part->type_len)
             || pe_media_type_match("video/*", 7, part->type,
                                    part->type_len))
        || !pe_sniff_known(part->type, part->type_len))
    {
        return pe_upload_refuse(u, 415, "upload_type",
                                "an image or a video of a known type");
    }

    memcpy(u->media_type, part->type, part->type_len);
    u->media_type[part->type_len] = '\0';

    u->spool = pe_spool_create(u->media_path, u->be->conf.data_key, 0, err,
                               sizeof(err));
    if (u->spool == NULL) {
        pe_log(PE_LOG_ERR, "spool: %s", err);
        return pe_upload_refuse(u, 503, "spool_unavailable", NULL);
    }

    return 0;
}


static int
pe_upload_append(pe_upload_t *u, char *buf, size_t *len, size_t max,
    const unsigned char *p, size_t n, const char *too_long)
{
    if (n > max - *len) {
        return pe_upload_refuse(u, 400, too_long, NULL);
    }

    memcpy(buf + *len, p, n);
    *len += n;
    buf[*len] = '\0';

    return 0;
}


static int
pe_upload_sniff(pe_upload_t *u, int complete)
{
    pe_sniff_rc_e  rc;

    rc = pe_sniff_check(u->media_type, strlen(u->media_type), u->head,
                        u->head_len, complete);

    if (rc == PE_SNIFF_NEED_MORE && !complete) {
        return 0;
    }

    u->sniffed = 1;

    if (rc != PE_SNIFF_MATCH) {
        return pe_upload_refuse(u, 415, "upload_mismatch",
                                "the file is not what its type says");
    }

    return 0;
}


static int
pe_upload_part_data(void *data, const unsigned char *p, size_t n)
{
    size_t        take;
    pe_upload_t  *u = data;

    switch (u->field) {

    case PE_FIELD_FILE:
        if (!u->sniffed) {
            take = sizeof(u->head) - u->head_len;
            take = take < n ? take : n;
            memcpy(u->head + u->head_len, p, take);
            u->head_len += take;

            if (u->head_len == sizeof(u->head) && pe_upload_sniff(u, 0)) {
                return -1;
            }
        }

        if (pe_spool_write(u->spool, p, n) != 0) {
            return pe_upload_refuse(u, 503, "spool_unavailable", NULL);
        }

        u->size += n;
        return 0;

    case PE_FIELD_PROMPT:
        return pe_upload_append(u, u->prompt, &u->prompt_len, PE_PROMPT_MAX,
                                p, n, "prompt_too_long");

    case PE_FIELD_MODEL:
        return pe_upload_append(u, u->model, &u->model_len,
                                sizeof(u->model) - 1, p, n, "unknown_model");

    case PE_FIELD_PARAMS:
        return pe_upload_append(u, u->params, &u->params_len, PE_PARAMS_MAX,
                                p, n, "params_too_large");

    case PE_FIELD_PRIVATE:
        return pe_upload_append(u, u->private_flag, &u->private_len,
                                sizeof(u->private_flag) - 1, p, n,
                                "invalid_private");
    }

    return 0;
}


static int
pe_upload_part_end(void *data)
{
    pe_upload_t  *u = data;

    if (u->field == PE_FIELD_FILE && !u->sniffed) {
        return pe_upload_sniff(u, 1);
    }

    u->field = PE_FIELD_NONE;

    return 0;
}


static const pe_mp_callbacks_t  pe_upload_callbacks = {
    pe_upload_part_begin,
    pe_upload_part_data,
    pe_upload_part_end
};


pe_upload_t *
pe_upload_begin(pe_backend_t *be, const pe_context_t *ctx,
    const char *content_type, unsigned *status, char **body)
{
    pe_upload_t      *u;
    pe_media_type_t   mt;

    if (!pe_context_granted(ctx, "ai_processing")) {
        *status = 403;
        *body = pe_json_body(json_pack("{s:s,s:s}", "error",
                                       "consent_required", "category",
                                       "ai_processing"));
        return NULL;
    }

    if (content_type == NULL
        || pe_media_type_parse((const unsigned char *) content_type,
                               strlen(content_type), &mt) != 0
        || strcmp(mt.type, "multipart/form-data") != 0
        || mt.boundary_len == 0)
    {
        *status = 415;
        *body = pe_error_body("multipart_required",
                              "multipart/form-data with a boundary");
        return NULL;
    }

    u = calloc(1, sizeof(pe_upload_t));
    if (u == NULL || pe_job_new_id(u->id) != 0) {
        free(u);
        *status = 503;
        *body = pe_error_body("out_of_memory", NULL);
        return NULL;
    }

    u->be = be;
    u->ctx = *ctx;

    snprintf(u->media_path, sizeof(u->media_path), "%s/%s.media",
             be->conf.spool, u->id);
    snprintf(u->prompt_path, sizeof(u->prompt_path), "%s/%s.prompt",
             be->conf.spool, u->id);

    if (pe_multipart_init(&u->mp, (const unsigned char *) mt.boundary,
                          mt.boundary_len, 16, &pe_upload_callbacks, u)
        != 0)
    {
        free(u);
        *status = 400;
        *body = pe_error_body("malformed_multipart", "bad boundary");
        return NULL;
    }

    return u;
}


void
pe_upload_feed(pe_upload_t *u, const char *data, size_t n)
{
    pe_mp_rc_e  rc;

    if (u->status) {
        return;                     /* refused: the rest is drained */
    }

    rc = pe_multipart_feed(&u->mp, (const unsigned char *) data, n);

    if (rc == PE_MP_ERROR) {
        pe_upload_refuse(u, 400, "malformed_multipart",
                         pe_multipart_error(&u->mp));
    }
}


static int
pe_upload_write_prompt(pe_upload_t *u)
{
    char                err[256];
    pe_spool_writer_t  *w;

    w = pe_spool_create(u->prompt_path, u->be->conf.data_key, 0, err,
                        sizeof(err));
    if (w == NULL) {
        pe_log(PE_LOG_ERR, "spool: %s", err);
        return -1;
    }

    if (pe_spool_write(w, u->prompt, u->prompt_len) != 0) {
        pe_spool_abort(w);
        return -1;
    }

    if (pe_spool_finish(w, err, sizeof(err)) != 0) {
        pe_log(PE_LOG_ERR, "spool: %s", err);
        return -1;
    }

    return 0;
}


/*
 * The record, the subject's set and the stream entry, at once; the
 * record knows its entry, so a deletion can take the entry too.
 */
static const char  pe_store_script[] =
    "local e = redis.call('XADD', KEYS[3], '*', 'job', ARGV[1]) "
    "redis.call('HSET', KEYS[1], 'entry', e, unpack(ARGV, 2)) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return e";


static int
pe_upload_store(pe_upload_t *u, const pe_conf_model_t *model, int priv)
{
    char          key[64], subkey[128], created[32], size[32];
    size_t        argc;
    redisReply   *r;
    const char   *argv[32];

    snprintf(key, sizeof(key), "pe:job:%s", u->id);
    snprintf(subkey, sizeof(subkey), "pe:sub:%s:jobs", u->ctx.sub);
    snprintf(created, sizeof(created), "%lld", (long long) time(NULL));
    snprintf(size, sizeof(size), "%llu", (unsigned long long) u->size);

    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = pe_store_script;
    argv[argc++] = "3";
    argv[argc++] = key;
    argv[argc++] = subkey;
    argv[argc++] = PE_JOBS_STREAM;
    argv[argc++] = u->id;
    argv[argc++] = "sub";         argv[argc++] = u->ctx.sub;
    argv[argc++] = "model";       argv[argc++] = model->name;
    argv[argc++] = "provider";    argv[argc++] = model->provider->name;
    argv[argc++] = "status";      argv[argc++] = "queued";
    argv[argc++] = "created";     argv[argc++] = created;
    argv[argc++] = "updated";     argv[argc++] = created;
    argv[argc++] = "media_type";  argv[argc++] = u->media_type;
    argv[argc++] = "size";        argv[argc++] = size;
    argv[argc++] = "private";     argv[argc++] = priv ? "1" : "0";
    argv[argc++] = "grp";         argv[argc++] = u->ctx.grp;
    argv[argc++] = "params";
    argv[argc++] = u->params_len ? u->params : "{}";

    r = pe_store_argv(u->be->store, (int) argc, argv, NULL);

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        pe_log(PE_LOG_ERR, "redis: job not stored: %s",
               r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        freeReplyObject(r);
        return -1;
    }

    freeReplyObject(r);

    return 0;
}


void
pe_upload_end(pe_upload_t *u, unsigned *status, char **body)
{
    int                     priv, i;
    char                    err[256];
    json_t                 *params;
    json_error_t            jerr;
    const pe_conf_model_t  *model;

    model = NULL;
    priv = 0;

    if (u->status == 0 && pe_multipart_finish(&u->mp) != PE_MP_OK) {
        pe_upload_refuse(u, 400, "malformed_multipart",
                         pe_multipart_error(&u->mp));
    }

    if (u->status == 0 && !u->seen[PE_FIELD_FILE]) {
        pe_upload_refuse(u, 400, "no_file", "a \"file\" field is needed");
    }

    if (u->status == 0) {
        model = u->seen[PE_FIELD_MODEL]
                ? pe_conf_find_model(&u->be->conf, u->model) : NULL;

        if (model == NULL) {
            pe_upload_refuse(u, 400, "unknown_model",
                             "the model is not one this service offers");
        }
    }

    /* where the subject's data may go: refused before anything is sent */
    if (u->status == 0
        && !pe_conf_residency_allows(&u->be->conf, u->ctx.grp,
                                     model->provider))
    {
        snprintf(err, sizeof(err), "data from the %s group may go only to "
                 "providers in %s; this model's provider is in %s",
                 u->ctx.grp,
                 pe_conf_residency(&u->be->conf, u->ctx.grp)->regions,
                 model->provider->region ? model->provider->region
                                         : "an undeclared region");
        pe_upload_refuse(u, 451, "residency", err);
    }

    if (u->status == 0 && u->prompt_len) {
        params = json_stringn(u->prompt, u->prompt_len);

        if (params == NULL) {
            pe_upload_refuse(u, 400, "invalid_prompt", "not UTF-8");

        } else if (memchr(u->prompt, '\0', u->prompt_len)) {
            /* it would reach the provider cut short at the NUL */
            pe_upload_refuse(u, 400, "invalid_prompt", "a NUL character");
        }

        json_decref(params);
    }

    if (u->status == 0 && u->params_len) {
        params = json_loadb(u->params, u->params_len, JSON_REJECT_DUPLICATES,
                            &jerr);

        if (params == NULL || !json_is_object(params)) {
            pe_upload_refuse(u, 400, "invalid_params",
                             "params must be a JSON object");
        }

        json_decref(params);
    }

    if (u->status == 0 && u->seen[PE_FIELD_PRIVATE]) {
        if (strcmp(u->private_flag, "true") == 0
            || strcmp(u->private_flag, "1") == 0)
        {
            priv = 1;

        } else if (strcmp(u->private_flag, "false") != 0
                   && strcmp(u->private_flag, "0") != 0)
        {
            pe_upload_refuse(u, 400, "invalid_private",
                             "true, false, 1 or 0");
        }
    }

    if (u->status) {
        pe_upload_free_files(u);
        *status = u->status;
        *body = pe_error_body(u->error, u->detail);
        return;
    }

    /* all is well: the files into place, then the record */

    if (pe_spool_finish(u->spool, err, sizeof(err)) != 0) {
        u->spool = NULL;
        pe_log(PE_LOG_ERR, "spool: %s", err);
        pe_upload_free_files(u);
        *status = 503;
        *body = pe_error_body("spool_unavailable", NULL);
        return;
    }

    u->spool = NULL;

    if (pe_upload_write_prompt(u) != 0
        || pe_upload_store(u, model, priv) != 0)
    {
        pe_upload_free_files(u);
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    pe_log(PE_LOG_INFO, "job %s queued: %s, %s, %llu bytes", u->id,
           model->name, u->media_type, (unsigned long long) u->size);

    i = pe_conf_provider_index(&u->be->conf, model->provider->name);
    atomic_fetch_add(&u->be->metrics[i].jobs[PE_JOB_QUEUED], 1);
    pe_worker_wake(u->be);

    *status = 202;
    *body = pe_json_body(json_pack("{s:s,s:s}", "id", u->id, "status",
                                   "queued"));
}


/* nothing of a refused or unfinished upload stays on disk */
static void
pe_upload_free_files(pe_upload_t *u)
{
    if (u->spool) {
        pe_spool_abort(u->spool);
        u->spool = NULL;
    }

    unlink(u->media_path);
    unlink(u->prompt_path);
}


void
pe_upload_free(pe_upload_t *u)
{
    if (u == NULL) {
        return;
    }

    if (u->spool) {
        pe_upload_free_files(u);    /* the client went before the end */
    }

    memset(u->prompt, 0, sizeof(u->prompt));
    free(u);
}

