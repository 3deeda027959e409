/*
 * privacy-backend: the job (see job.h).
 */

#include "job.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>


static const char  *pe_job_states[PE_JOB_STATES] = {
    "queued", "submitting", "submitted", "running", "succeeded", "failed",
    "canceled", "expired"
};


int
pe_job_new_id(char id[PE_JOB_ID_LEN + 1])
{
    size_t               i;
    unsigned char        raw[PE_JOB_ID_LEN / 2];
    static const char    hex[] = "0123456789abcdef";

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }

    for (i = 0; i < sizeof(raw); i++) {
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 15];
    }

    id[PE_JOB_ID_LEN] = '\0';

    return 0;
}


int
pe_job_id_valid(const char *id)
{
    size_t  i;

    for (i = 0; i < PE_JOB_ID_LEN; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a'
                                                 && id[i] <= 'f')))
        {
            return 0;
        }
    }

    return id[PE_JOB_ID_LEN] == '\0';
}


const char *
pe_job_state_name(pe_job_state_e state)
{
    return state < PE_JOB_STATES ? pe_job_states[state] : "unknown";
}


int
pe_job_state_parse(const char *name)
{
    int  i;

    for (i = 0; i < PE_JOB_STATES; i++) {
        if (name && strcmp(name, pe_job_states[i]) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
pe_job_field(const redisReply *r, const char *field)
{
    size_t  i;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, field) == 0) {
            return r->element[i + 1]->str;
        }
    }

    return NULL;
}


void
pe_job_media_path(char *buf, size_t size, const char *spool, const char *id,
    unsigned k)
{
    snprintf(buf, size, "%s/%s.media%s", spool, id, pe_job_input_suffix(k));
}


const char *
pe_job_input_suffix(unsigned k)
{
    static const char  *suffix[PE_JOB_FILES] = { "", "1", "2", "3", "4" };

    return k < PE_JOB_FILES ? suffix[k] : "";
}
