/*
 * privacy-backend: the worker's intake (see worker_intake.h).
 */

#include "worker_intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "job.h"
#include "log.h"
#include "media.h"
#include "store.h"


#define PE_WORKER_BATCH        32


/* a cancel entry: the provider and the URL, nothing of the subject */
static void
pe_intake_cancel(pe_worker_t *w, const char *entry, redisReply *f)
{
    double       at;
    pe_wjob_t   *j;
    const char  *id, *url;

    id = pe_job_field(f, "cancel");
    url = pe_job_field(f, "url");

    j = id ? pe_wjob_find_cancel(w, id, NULL) : NULL;

    if (j) {
        /* held already, or the job's own, erased in flight: one cancel */
        pe_wjob_copy(j->entry, sizeof(j->entry), entry);
        return;
    }

    j = pe_wjob_new(w, id, entry, pe_job_field(f, "provider"));

    if (j == NULL || url == NULL) {
        if (j) {
            pe_wjob_free(j);
        }

        pe_wjob_ack(w, entry);
        return;
    }

    j->step = PE_W_CANCEL;
    pe_wjob_copy(j->task.cancel_url, sizeof(j->task.cancel_url), url);

    /* from the erasure, the entry's time, whatever restarts came since */
    at = strtod(entry, NULL) / 1000;
    j->created = at > 0 && at < j->created ? at : j->created;
}


/*
 * The job's inputs from its record: each role, type and size, and the
 * provider's field for the role if the model renames it.  A record
 * without "inputs" is one image or video, as before.
 */
static void
pe_intake_inputs(pe_wjob_t *j, const redisReply *r)
{
    int                     role;
    char                    f[32];
    size_t                  k, len, inline_max;
    const char             *roles, *end, *v;
    pe_wmedia_t            *m;
    const pe_conf_model_t  *model;

    inline_max = j->provider->ops->inline_max ? j->provider->ops->inline_max
                                              : PE_MEDIA_INLINE_MAX;
    roles = pe_job_field(r, "inputs");
    model = pe_conf_find_model(&j->worker->be->conf, j->model);
    j->media_inline = 1;

    for (k = 0; k < PE_ROLES; k++) {
        m = &j->media[k];
        snprintf(f, sizeof(f), "media_type%s", pe_job_input_suffix(k));
        pe_wjob_copy(m->media_type, sizeof(m->media_type),
                     pe_job_field(r, f));
        snprintf(f, sizeof(f), "size%s", pe_job_input_suffix(k));
        v = pe_job_field(r, f);
        m->size = v ? strtoull(v, NULL, 10) : 0;

        if (roles == NULL) {
            if (k > 0 || m->size == 0) {
                break;
            }

            role = strncmp(m->media_type, "video/", 6) == 0
                   ? PE_ROLE_VIDEO : PE_ROLE_IMAGE;

        } else {
            if (*roles == '\0') {
                break;
            }

            end = strchr(roles, ',');
            len = end ? (size_t) (end - roles) : strlen(roles);
            role = pe_role_parse(roles, len);
            roles = end ? end + 1 : "";

            if (role < 0) {
                break;
            }
        }

        /* only a small image goes inline; a video or audio by its link */
        m->inline_ = strncmp(m->media_type, "image/", 6) == 0
                     && m->size <= inline_max;
        j->media_inline = j->media_inline && m->inline_;
        j->task.inputs[k].role = (pe_role_e) role;
        j->task.inputs[k].field = model ? model->fields[role] : NULL;
        j->task.ninputs = k + 1;
    }
}


static void
pe_intake_take(pe_worker_t *w, const char *entry, redisReply *fields)
{
    int          state;
    double       created;
    json_t      *params;
    pe_wjob_t   *j;
    redisReply  *r;
    const char  *id, *v;

    if (pe_job_field(fields, "cancel")) {
        pe_intake_cancel(w, entry, fields);
        return;
    }

    id = pe_job_field(fields, "job");

    if (id == NULL || !pe_job_id_valid(id)) {
        pe_wjob_ack(w, entry);
        return;
    }

    if (pe_wjob_find(w, id)) {
        return;                     /* ours already */
    }

    r = pe_store_command(w->be->store, "HGETALL pe:job:%s", id);

    if (r == NULL) {
        return;                     /* Redis is away: taken again later */
    }

    state = r->type == REDIS_REPLY_ARRAY && r->elements
            ? pe_job_state_parse(pe_job_field(r, "status")) : -1;

    /* erased, or ended before a crash let it be acknowledged */
    if (state < 0 || state >= PE_JOB_SUCCEEDED) {
        freeReplyObject(r);
        pe_wjob_ack(w, entry);
        return;
    }

    j = pe_wjob_new(w, id, entry, pe_job_field(r, "provider"));

    if (j == NULL) {
        freeReplyObject(r);
        pe_log(PE_LOG_ERR, "job %s: provider not configured", id);
        return;
    }

    j->state = (pe_job_state_e) state;
    pe_wjob_copy(j->sub, sizeof(j->sub), pe_job_field(r, "sub"));
    pe_wjob_copy(j->model, sizeof(j->model), pe_job_field(r, "model"));
    pe_wjob_copy(j->grp, sizeof(j->grp), pe_job_field(r, "grp"));
    j->task.model = j->model;
    j->task.keep_output = w->be->conf.retain_output >= 0
                          ? w->be->conf.retain_output
                          : w->be->conf.retain_record;
    pe_intake_inputs(j, r);

    v = pe_job_field(r, "created");
    created = v ? strtod(v, NULL) : 0;
    j->created = created > 0 ? created : pe_wjob_now();

    v = pe_job_field(r, "params");
    params = v ? json_loads(v, 0, NULL) : NULL;

    if (json_is_object(params)) {
        json_decref(j->task.params);
        j->task.params = params;

    } else {
        json_decref(params);
    }

    pe_wjob_copy(j->task.remote_id, sizeof(j->task.remote_id),
            pe_job_field(r, "remote_id"));
    pe_wjob_copy(j->task.status_url, sizeof(j->task.status_url),
            pe_job_field(r, "status_url"));
    pe_wjob_copy(j->task.response_url, sizeof(j->task.response_url),
            pe_job_field(r, "response_url"));
    pe_wjob_copy(j->task.cancel_url, sizeof(j->task.cancel_url),
            pe_job_field(r, "cancel_url"));
    j->resubmitted = pe_job_field(r, "resubmitted") != NULL;

    freeReplyObject(r);

    if (j->task.remote_id[0]) {
        /* the provider has it: poll, never submit again */
        j->step = PE_W_POLL;

    } else if (state == PE_JOB_SUBMITTING && j->provider->ops->finds) {
        /* a crash mid-submission: is it there under our id? */
        j->step = PE_W_FIND;

    } else {
        j->step = PE_W_SUBMIT;

        if (state == PE_JOB_SUBMITTING) {
            /* a crash mid-submission: once more, and said so */
            const char  *fv[2] = { "resubmitted", "1" };

            pe_wjob_update(j, fv, 2);
            pe_log(PE_LOG_WARN, "job %s: submission interrupted, submitted "
                   "again", id);
        }
    }
}


void
pe_intake_group(pe_worker_t *w)
{
    redisReply  *r;

    r = pe_store_command(w->be->store, "XGROUP CREATE %s %s 0 MKSTREAM",
                         PE_JOBS_STREAM, PE_GROUP);
    freeReplyObject(r);
}


/* entries of an XREADGROUP or XAUTOCLAIM answer: [[id, [f, v...]], ...] */
static size_t
pe_intake_entries(pe_worker_t *w, redisReply *list)
{
    size_t       i, n;
    redisReply  *e;

    n = 0;

    for (i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements;
         i++)
    {
        e = list->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;               /* deleted since: nil fields */
        }

        if (e->element[1]->type == REDIS_REPLY_ARRAY) {
            pe_intake_take(w, e->element[0]->str, e->element[1]);

        } else {
            pe_wjob_ack(w, e->element[0]->str);
        }

        n++;
    }

    return n;
}


void
pe_intake_read(pe_worker_t *w)
{
    size_t       room, n;
    redisReply  *r;

    room = PE_WORKER_MAX_JOBS - w->njobs;
    room = room < PE_WORKER_BATCH ? room : PE_WORKER_BATCH;

    if (room == 0) {
        return;
    }

    /* after a start, what this consumer held before it died, first */
    r = pe_store_command(w->be->store,
                         "XREADGROUP GROUP %s %s COUNT %d STREAMS %s %s",
                         PE_GROUP, w->consumer, (int) room, PE_JOBS_STREAM,
                         w->own_pending ? "0" : ">");

    if (r && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOGROUP", 7) == 0)
    {
        pe_intake_group(w);         /* Redis lost it, or a first start */
    }

    n = 0;

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->elements == 2)
    {
        n = pe_intake_entries(w, r->element[0]->element[1]);
    }

    if (r && r->type != REDIS_REPLY_ERROR && w->own_pending && n < room) {
        w->own_pending = 0;
    }

    freeReplyObject(r);
}


/* entries another worker took and left idle: it died */
void
pe_intake_claim(pe_worker_t *w)
{
    redisReply  *r;

    r = pe_store_command(w->be->store,
                         "XAUTOCLAIM %s %s %s %d 0-0 COUNT %d",
                         PE_JOBS_STREAM, PE_GROUP, w->consumer,
                         PE_WORKER_CLAIM_IDLE * 1000, PE_WORKER_BATCH);

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        pe_intake_entries(w, r->element[1]);
    }

    freeReplyObject(r);
}


/* what this worker holds is kept from looking idle to the others */
void
pe_intake_touch(pe_worker_t *w)
{
    size_t       argc;
    pe_wjob_t   *j;
    redisReply  *r;
    const char  *argv[PE_WORKER_MAX_JOBS + 8];

    argc = 0;
    argv[argc++] = "XCLAIM";
    argv[argc++] = PE_JOBS_STREAM;
    argv[argc++] = PE_GROUP;
    argv[argc++] = w->consumer;
    argv[argc++] = "0";

    for (j = w->jobs; j && argc < PE_WORKER_MAX_JOBS + 5; j = j->next) {
        if (j->entry[0]) {
            argv[argc++] = j->entry;
        }
    }

    if (argc == 5) {
        return;
    }

    argv[argc++] = "JUSTID";
    r = pe_store_argv(w->be->store, (int) argc, argv, NULL);
    freeReplyObject(r);
}
