/*
 * privacy-backend: POST /v1/jobs, an accepted upload becomes a job (see
 * upload.h).  The multipart body is parsed as it streams in, by the same
 * strict parser the edge uses, and the file goes straight into the
 * encrypted spool: memory stays at one chunk whatever the file's size.
 * A job carries the media its model takes, each a file part named by
 * its role (image, last_frame, video, audio; "file" is the model's first
 * input), each in a spool file of its own.  Which parts a model takes is
 * known only once its name has come, in any order: they are checked at
 * the end, before anything is kept.  Bad input is a 400 with a JSON
 * reason and leaves nothing behind.
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
#include "pe_strip.h"
#include "providers.h"
#include "reply.h"
#include "spool.h"
#include "store.h"
#include "worker.h"


/* the parts: the media's by role (as pe_role_e), "file", then the rest */
enum {
    PE_FIELD_FILE = PE_ROLES,
    PE_FIELD_PROMPT,
    PE_FIELD_MODEL,
    PE_FIELD_PARAMS,
    PE_FIELD_PRIVATE,
    PE_FIELDS,
    PE_FIELD_NONE = PE_FIELDS
};

static const char  *pe_field_names[PE_FIELDS] = {
    "image", "last_frame", "video", "audio",
    "file", "prompt", "model", "params", "private"
};


/* the types an audio input may have (the sniffer must know them too) */
static const char  *pe_audio_types[] = {
    "audio/mpeg", "audio/wav", "audio/mp4", "audio/x-m4a", "audio/ogg",
    "audio/webm", "audio/flac", NULL
};


/* one media part, as it streams into a spool file of its own */
typedef struct {
    int                   field;       /* a role, or PE_FIELD_FILE */
    int                   role;        /* what it is: decided at the end */
    pe_spool_writer_t    *spool;
    char                  path[PATH_MAX];
    char                  media_type[PE_MEDIA_TYPE_MAX + 1];
    unsigned char         head[PE_SNIFF_BYTES];
    size_t                head_len;
    int                   sniffed;
    uint64_t              size;
    uint64_t              max_size;    /* its kind's upload_max_size */
    pe_strip_t           *strip;       /* its metadata going, or NULL */
    uint64_t              stored;      /* bytes in the spool */
    char                  stripped[16];  /* the record's: items removed,
                                            "off" or "unsupported" */
} pe_upload_media_t;


static void pe_upload_free_files(pe_upload_t *u);
static char *pe_upload_refusal(pe_upload_t *u);


struct pe_upload_s {
    pe_backend_t         *be;
    pe_context_t          ctx;
    pe_multipart_t        mp;

    char                  id[PE_JOB_ID_LEN + 1];
    char                  prompt_path[PATH_MAX];

    int                   field;
    int                   seen[PE_FIELDS];
    pe_upload_media_t     media[PE_JOB_FILES];  /* in the order they came */
    size_t                nmedia;

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
    const char           *role;        /* the input a refusal is about */
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


/* a refusal about one input, named in the answer's "role" */
static int
pe_upload_refuse_input(pe_upload_t *u, unsigned status, const char *error,
    const char *role, const char *detail)
{
    if (u->status == 0) {
        u->role = role;
    }

    return pe_upload_refuse(u, status, error, detail);
}


/* may a part named field (a role, or "file") have this type? */
static int
pe_upload_type_fits(int field, const char *type, size_t len)
{
    size_t  i;

    switch (field) {

    case PE_ROLE_IMAGE:
    case PE_ROLE_LAST_FRAME:
        return pe_media_type_match("image/*", 7, type, len);

    case PE_ROLE_VIDEO:
        return pe_media_type_match("video/*", 7, type, len);

    case PE_ROLE_AUDIO:
        for (i = 0; pe_audio_types[i]; i++) {
            if (pe_media_type_match(pe_audio_types[i],
                                    strlen(pe_audio_types[i]), type, len))
            {
                return 1;
            }
        }

        return 0;

    default:                        /* "file": its role comes later */
        return pe_upload_type_fits(PE_ROLE_IMAGE, type, len)
               || pe_upload_type_fits(PE_ROLE_VIDEO, type, len)
               || pe_upload_type_fits(PE_ROLE_AUDIO, type, len);
    }
}


/* what the stripper leaves of a file, into its spool file */
static int
pe_upload_spool_out(void *data, const unsigned char *p, size_t n)
{
    pe_upload_media_t  *m = data;

    if (pe_spool_write(m->spool, p, n) != 0) {
        return -1;
    }

    m->stored += n;

    return 0;
}


/*
 * Metadata goes before a byte is stored: unless strip_metadata is off, or
 * the model, if its part came first, says strip=off (one that comes after
 * the file is too late: the file is stripped, as the record says).
 */
static int
pe_upload_strip_begin(pe_upload_t *u, pe_upload_media_t *m)
{
    int                     nomem;
    const pe_conf_model_t  *model;

    model = u->seen[PE_FIELD_MODEL]
            ? pe_conf_find_model(&u->be->conf, u->model) : NULL;

    if (!u->be->conf.strip_metadata || (model && model->strip_off)) {
        snprintf(m->stripped, sizeof(m->stripped), "off");
        return 0;
    }

    m->strip = pe_strip_new(m->media_type, strlen(m->media_type),
                            pe_upload_spool_out, m, &nomem);

    if (m->strip == NULL) {
        if (nomem) {
            return pe_upload_refuse(u, 503, "out_of_memory", NULL);
        }

        snprintf(m->stripped, sizeof(m->stripped), "unsupported");
    }

    return 0;
}


/* a stripper's answer: the file refused if it cannot be read as its type */
static int
pe_upload_strip_rc(pe_upload_t *u, pe_upload_media_t *m, int rc)
{
    if (rc == PE_STRIP_ERROR) {
        return pe_upload_refuse_input(u, 415, "upload_malformed",
                                      pe_field_names[m->field],
                                      pe_strip_error(m->strip));
    }

    if (rc != PE_STRIP_OK) {
        return pe_upload_refuse(u, 503, "spool_unavailable", NULL);
    }

    return 0;
}


static int
pe_upload_part_begin(void *data, const pe_mp_part_t *part)
{
    int                 f;
    char                err[256];
    pe_upload_t        *u = data;
    pe_upload_media_t  *m;

    for (f = 0; f < PE_FIELDS; f++) {
        if (part->name_len == strlen(pe_field_names[f])
            && memcmp(part->name, pe_field_names[f], part->name_len) == 0)
        {
            break;
        }
    }

    if (f == PE_FIELDS) {
        return pe_upload_refuse(u, 400, "unknown_field",
                                "fields are image, last_frame, video, "
                                "audio, file, prompt, model, params, "
                                "private");
    }

    if (u->seen[f]++) {
        if (f <= PE_FIELD_FILE) {
            return pe_upload_refuse_input(u, 400, "duplicate_input",
                                          pe_field_names[f], NULL);
        }

        return pe_upload_refuse(u, 400, "duplicate_field",
                                pe_field_names[f]);
    }

    u->field = f;

    if (f > PE_FIELD_FILE) {
        if (part->is_file) {
            return pe_upload_refuse(u, 400, "unexpected_file",
                                    pe_field_names[f]);
        }

        return 0;
    }

    /* one part per name, and there are PE_JOB_FILES names of media */
    m = &u->media[u->nmedia];
    m->field = f;
    pe_job_media_path(m->path, sizeof(m->path), u->be->conf.spool, u->id,
                      (unsigned) u->nmedia);
    u->nmedia++;

    if (!part->has_type
        || !pe_upload_type_fits(f, part->type, part->type_len)
        || !pe_sniff_known(part->type, part->type_len))
    {
        return pe_upload_refuse_input(u, 415, "upload_type",
                                      pe_field_names[f],
                                      "an image, a video or a sound of a "
                                      "known type, as its role takes");
    }

    memcpy(m->media_type, part->type, part->type_len);
    m->media_type[part->type_len] = '\0';

    m->max_size = pe_upload_type_fits(PE_ROLE_IMAGE, part->type,
                                      part->type_len)
                  ? u->be->conf.max_image
                  : pe_upload_type_fits(PE_ROLE_VIDEO, part->type,
                                        part->type_len)
                  ? u->be->conf.max_video : u->be->conf.max_audio;

    m->spool = pe_spool_create(m->path, u->be->conf.data_key, 0, err,
                               sizeof(err));
    if (m->spool == NULL) {
        pe_log(PE_LOG_ERR, "spool: %s", err);
        return pe_upload_refuse(u, 503, "spool_unavailable", NULL);
    }

    return pe_upload_strip_begin(u, m);
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
pe_upload_sniff(pe_upload_t *u, pe_upload_media_t *m, int complete)
{
    pe_sniff_rc_e  rc;

    rc = pe_sniff_check(m->media_type, strlen(m->media_type), m->head,
                        m->head_len, complete);

    if (rc == PE_SNIFF_NEED_MORE && !complete) {
        return 0;
    }

    m->sniffed = 1;

    if (rc != PE_SNIFF_MATCH) {
        return pe_upload_refuse_input(u, 415, "upload_mismatch",
                                      pe_field_names[m->field],
                                      "the file is not what its type says");
    }

    return 0;
}


static int
pe_upload_part_data(void *data, const unsigned char *p, size_t n)
{
    size_t              take;
    pe_upload_t        *u = data;
    pe_upload_media_t  *m;

    switch (u->field) {

    case PE_ROLE_IMAGE:
    case PE_ROLE_LAST_FRAME:
    case PE_ROLE_VIDEO:
    case PE_ROLE_AUDIO:
    case PE_FIELD_FILE:
        m = &u->media[u->nmedia - 1];

        if (!m->sniffed) {
            take = sizeof(m->head) - m->head_len;
            take = take < n ? take : n;
            memcpy(m->head + m->head_len, p, take);
            m->head_len += take;

            if (m->head_len == sizeof(m->head) && pe_upload_sniff(u, m, 0)) {
                return -1;
            }
        }

        /* the edge caps it too; here, whoever reaches the backend */
        if (n > m->max_size - m->size) {
            return pe_upload_refuse_input(u, 413, "upload_too_large",
                                          pe_field_names[m->field],
                                          "larger than its type may be");
        }

        m->size += n;

        if (m->strip) {
            return pe_upload_strip_rc(u, m, pe_strip_feed(m->strip, p, n));
        }

        if (pe_upload_spool_out(m, p, n) != 0) {
            return pe_upload_refuse(u, 503, "spool_unavailable", NULL);
        }

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
    int                 rc;
    pe_upload_t        *u = data;
    pe_upload_media_t  *m;

    if (u->field <= PE_FIELD_FILE) {
        m = &u->media[u->nmedia - 1];
        u->field = PE_FIELD_NONE;

        if (!m->sniffed && pe_upload_sniff(u, m, 1) != 0) {
            return -1;
        }

        if (m->strip) {
            rc = pe_upload_strip_rc(u, m, pe_strip_finish(m->strip));

            if (rc == 0) {
                snprintf(m->stripped, sizeof(m->stripped), "%u",
                         pe_strip_removed(m->strip));
            }

            pe_strip_free(m->strip);
            m->strip = NULL;

            return rc;
        }
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
    u->field = PE_FIELD_NONE;

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
 * What each media part is, against what the model takes: a duplicate
 * role, an input it does not take, one of the wrong type, then one it
 * needs and did not get, the first of these refused naming the role.
 * A model without inputs= takes one image or video, as before, of those
 * its adapter can send ("file" when it has none).
 */
static void
pe_upload_inputs(pe_upload_t *u, const pe_conf_model_t *model)
{
    int                 r, seen[PE_ROLES];
    size_t              k;
    unsigned            roles;
    const char         *type;
    pe_upload_media_t  *m;

    memset(seen, 0, sizeof(seen));

    /* what a model without inputs= may take: what its adapter can send */
    roles = pe_provider_ops(model->provider->kind)->roles;

    for (k = 0; k < u->nmedia && u->status == 0; k++) {
        m = &u->media[k];
        type = m->media_type;
        r = m->field;

        if (r == PE_FIELD_FILE) {
            if (model->legacy || model->ninputs == 0) {
                r = pe_upload_type_fits(PE_ROLE_VIDEO, type, strlen(type))
                    ? PE_ROLE_VIDEO
                    : pe_upload_type_fits(PE_ROLE_AUDIO, type, strlen(type))
                    ? PE_ROLE_AUDIO : PE_ROLE_IMAGE;

            } else {
                r = model->inputs[0];
            }
        }

        m->role = r;

        if (seen[r]++) {
            pe_upload_refuse_input(u, 400, "duplicate_input",
                                   pe_role_name(r), NULL);

        } else if (model->legacy
                   ? k > 0 || (r != PE_ROLE_IMAGE && r != PE_ROLE_VIDEO)
                     || !(roles & 1u << r)
                   : pe_conf_model_takes(model, r) < 0)
        {
            pe_upload_refuse_input(u, 400, "unexpected_input",
                                   pe_role_name(r),
                                   "the model does not take it");

        } else if (!pe_upload_type_fits(r, type, strlen(type))) {
            pe_upload_refuse_input(u, 415, "upload_type", pe_role_name(r),
                                   "not a type this role takes");
        }
    }

    for (k = 0; k < model->ninputs && u->status == 0; k++) {
        r = model->inputs[k];

        if (!seen[r] && !model->optional[r]) {
            pe_upload_refuse_input(u, 400, "missing_input", pe_role_name(r),
                                   "the model needs it");
        }
    }

    if (u->status == 0 && model->legacy && u->nmedia == 0) {
        pe_upload_refuse_input(u, 400, "missing_input", "file",
                               "the model needs an image or a video");
    }

    /* no provider makes a video that ends at a frame but starts nowhere */
    if (u->status == 0 && seen[PE_ROLE_LAST_FRAME] && !seen[PE_ROLE_IMAGE]) {
        pe_upload_refuse_input(u, 400, "missing_input",
                               pe_role_name(PE_ROLE_IMAGE),
                               "a last frame needs its first");
    }
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
    char          key[64], subkey[128], created[32];
    char          roles[64], names[PE_JOB_FILES][3][32];
    char          sizes[PE_JOB_FILES][32];
    size_t        argc, k;
    redisReply   *r;
    const char   *argv[64];

    snprintf(key, sizeof(key), "pe:job:%s", u->id);
    snprintf(subkey, sizeof(subkey), "pe:sub:%s:jobs", u->ctx.sub);
    snprintf(created, sizeof(created), "%lld", (long long) time(NULL));
    roles[0] = '\0';

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

    /* each input's type and size; the first's as the fields always were */
    for (k = 0; k < u->nmedia; k++) {
        snprintf(roles + strlen(roles), sizeof(roles) - strlen(roles),
                 "%s%s", k ? "," : "", pe_role_name(u->media[k].role));
        snprintf(names[k][0], sizeof(names[k][0]), "media_type%s",
                 pe_job_input_suffix((unsigned) k));
        snprintf(names[k][1], sizeof(names[k][1]), "size%s",
                 pe_job_input_suffix((unsigned) k));
        snprintf(names[k][2], sizeof(names[k][2]), "stripped%s",
                 pe_job_input_suffix((unsigned) k));
        /* what the spool holds: after stripping, as the worker checks */
        snprintf(sizes[k], sizeof(sizes[k]), "%llu",
                 (unsigned long long) u->media[k].stored);
        argv[argc++] = names[k][0];   argv[argc++] = u->media[k].media_type;
        argv[argc++] = names[k][1];   argv[argc++] = sizes[k];
        argv[argc++] = names[k][2];   argv[argc++] = u->media[k].stripped;
    }

    argv[argc++] = "inputs";      argv[argc++] = roles;
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
    int                     priv, i, rc;
    size_t                  k;
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

    if (u->status == 0) {
        model = u->seen[PE_FIELD_MODEL]
                ? pe_conf_find_model(&u->be->conf, u->model) : NULL;

        if (model == NULL) {
            pe_upload_refuse(u, 400, "unknown_model",
                             "the model is not one this service offers");

        } else {
            pe_upload_inputs(u, model);
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
        *body = pe_upload_refusal(u);
        return;
    }

    /* all is well: the files into place, then the record */

    for (k = 0; k < u->nmedia; k++) {
        rc = pe_spool_finish(u->media[k].spool, err, sizeof(err));
        u->media[k].spool = NULL;

        if (rc != 0) {
            pe_log(PE_LOG_ERR, "spool: %s", err);
            pe_upload_free_files(u);
            *status = 503;
            *body = pe_error_body("spool_unavailable", NULL);
            return;
        }
    }

    if (pe_upload_write_prompt(u) != 0
        || pe_upload_store(u, model, priv) != 0)
    {
        pe_upload_free_files(u);
        *status = 503;
        *body = pe_error_body("store_unavailable", NULL);
        return;
    }

    pe_log(PE_LOG_INFO, "job %s queued: %s, %zu inputs, first %s, %llu "
           "bytes", u->id, model->name, u->nmedia,
           u->nmedia ? u->media[0].media_type : "none",
           (unsigned long long) (u->nmedia ? u->media[0].size : 0));

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
    size_t  k;

    for (k = 0; k < u->nmedia; k++) {
        pe_strip_free(u->media[k].strip);
        u->media[k].strip = NULL;

        if (u->media[k].spool) {
            pe_spool_abort(u->media[k].spool);
            u->media[k].spool = NULL;
        }

        unlink(u->media[k].path);
    }

    unlink(u->prompt_path);
}


/* {"error", "role" when it is about an input, "reason"} */
static char *
pe_upload_refusal(pe_upload_t *u)
{
    json_t  *j;

    j = json_pack("{s:s}", "error", u->error);

    if (j && u->role) {
        json_object_set_new(j, "role", json_string(u->role));
    }

    if (j && u->detail[0]) {
        json_object_set_new(j, "reason", json_string(u->detail));
    }

    return pe_json_body(j);
}


void
pe_upload_free(pe_upload_t *u)
{
    size_t  k;

    if (u == NULL) {
        return;
    }

    /* the client went before the end: a part still being written */
    for (k = 0; k < u->nmedia; k++) {
        if (u->media[k].spool) {
            pe_upload_free_files(u);
            break;
        }
    }

    memset(u->prompt, 0, sizeof(u->prompt));
    free(u);
}

