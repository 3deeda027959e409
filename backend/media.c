/*
 * privacy-backend: inline media and signed media links (see media.h).
 */

#include "media.h"

#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "job.h"
#include "log.h"
#include "pe_jws.h"
#include "reply.h"
#include "spool.h"
#include "store.h"


int
pe_media_init(pe_backend_t *be)
{
    unsigned int          len;
    static const char     label[] = "privacy-edge media links v1";

    len = sizeof(be->media_key);

    return HMAC(EVP_sha256(), be->conf.data_key, sizeof(be->conf.data_key),
                (const unsigned char *) label, sizeof(label) - 1,
                be->media_key, &len) ? 0 : -1;
}


int
pe_media_token(const pe_backend_t *be, const char *id, unsigned k,
    time_t exp, char *out, size_t size)
{
    int   n;
    char  sig[PE_JWS_SIG_LEN];

    /* the input's index is signed with the id: a link is for one file */
    n = snprintf(out, size, "%s%s.%lld", id, pe_job_input_suffix(k),
                 (long long) exp);

    if (n < 0 || (size_t) n + 1 + PE_JWS_SIG_LEN >= size
        || pe_hs256(be->media_key, sizeof(be->media_key),
                    (const unsigned char *) out, (size_t) n, sig) != 0)
    {
        return -1;
    }

    out[n] = '.';
    memcpy(out + n + 1, sig, PE_JWS_SIG_LEN);
    out[n + 1 + PE_JWS_SIG_LEN] = '\0';

    return 0;
}


int
pe_media_token_check(const pe_backend_t *be, const char *token, time_t now,
    char id[33], unsigned *k)
{
    char         sig[PE_JWS_SIG_LEN], *end;
    size_t       len, signed_len, at;
    long long    exp;
    const char  *dot;

    len = strnlen(token, PE_MEDIA_TOKEN_MAX + 1);

    if (len > PE_MEDIA_TOKEN_MAX || len < PE_JOB_ID_LEN + 4) {
        return -1;
    }

    /* ID.EXP.SIG for the first input, IDk.EXP.SIG for input k */
    at = PE_JOB_ID_LEN;
    *k = 0;

    if (token[at] >= '1' && token[at] < '0' + PE_JOB_FILES) {
        *k = (unsigned) (token[at++] - '0');
    }

    if (token[at] != '.') {
        return -1;
    }

    dot = strchr(token + at + 1, '.');
    if (dot == NULL || (size_t) (token + len - dot - 1) != PE_JWS_SIG_LEN) {
        return -1;
    }

    signed_len = (size_t) (dot - token);

    if (pe_hs256(be->media_key, sizeof(be->media_key),
                 (const unsigned char *) token, signed_len, sig) != 0
        || CRYPTO_memcmp(sig, dot + 1, PE_JWS_SIG_LEN) != 0)
    {
        return -1;
    }

    /* signed by us: the rest is well formed, but check anyway */
    exp = strtoll(token + at + 1, &end, 10);

    if (end != dot || exp < now) {
        return -1;
    }

    memcpy(id, token, PE_JOB_ID_LEN);
    id[PE_JOB_ID_LEN] = '\0';

    return pe_job_id_valid(id) ? 0 : -1;
}


char *
pe_media_data_uri(const pe_backend_t *be, const char *path,
    const char *type, uint64_t size, char *err, size_t errlen)
{
    char               *uri, *p;
    size_t              len, cap;
    ssize_t             n;
    unsigned char      *plain;
    pe_spool_reader_t  *r;

    if (size > PE_MEDIA_INLINE_LIMIT) {
        snprintf(err, errlen, "too large to inline");
        return NULL;
    }

    r = pe_spool_open(path, be->conf.data_key, err, errlen);
    if (r == NULL) {
        return NULL;
    }

    /* a byte more than recorded, to tell a longer file */
    cap = (size_t) size + 1;
    plain = malloc(cap);
    len = 0;
    uri = NULL;

    if (plain == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    /* bytes come out only once their chunk verified; 0 at a verified end */
    for ( ;; ) {
        n = pe_spool_read(r, plain + len, cap - len, err, errlen);

        if (n < 0) {
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;

        if (len == cap) {
            break;
        }
    }

    if (len != size) {
        snprintf(err, errlen, "size differs from the record");
        goto done;
    }

    uri = malloc(strlen(type) + 14 + 4 * ((len + 2) / 3) + 1);
    if (uri == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    p = uri + sprintf(uri, "data:%s;base64,", type);
    EVP_EncodeBlock((unsigned char *) p, plain, (int) len);

done:

    if (plain) {
        OPENSSL_cleanse(plain, cap);
        free(plain);
    }

    pe_spool_close(r);

    return uri;
}


/* a link being served: the verified file, decrypted as MHD asks */
typedef struct {
    pe_backend_t       *be;
    pe_spool_reader_t  *reader;
    char                id[PE_JOB_ID_LEN + 1];
    unsigned            k;              /* which input */
    char                path[PATH_MAX];
    uint64_t            size;
    int                 complete;
} pe_media_stream_t;


/*
 * May the link of input ARGV[4] (its fields' suffix) of job KEYS[1] be
 * served?  Only while the job is being submitted or runs, and for at
 * most ARGV[1] GETs of that input (ARGV[3] "1": this is one, counted in
 * KEYS[2], kept ARGV[2] seconds).  {1, type, size} or {0}.  One script,
 * so that an erasure cannot come between the look and the count and
 * leave a count behind.
 */
static const char  pe_media_admit_script[] =
    "local h = redis.call('HMGET', KEYS[1], 'status', "
    "                     'media_type' .. ARGV[4], 'size' .. ARGV[4]) "
    "if h[1] ~= 'submitting' and h[1] ~= 'submitted' "
    "   and h[1] ~= 'running' then return {0} end "
    "if not h[2] then return {0} end "
    "local n = tonumber(redis.call('HGET', KEYS[2], 'gets' .. ARGV[4]) "
    "                   or '0') "
    "if n >= tonumber(ARGV[1]) then return {0} end "
    "if ARGV[3] == '1' then "
    "  redis.call('HINCRBY', KEYS[2], 'gets' .. ARGV[4], 1) "
    "  redis.call('EXPIRE', KEYS[2], ARGV[2]) "
    "end "
    "return {1, h[2] or '', h[3] or '0'}";

/*
 * A link of input ARGV[1] (its suffix) served whole: said so in KEYS[2]
 * if the job is still there, and its state returned (see
 * pe_media_job_running()).
 */
static const char  pe_media_served_script[] =
    "if redis.call('EXISTS', KEYS[2]) == 0 then return '' end "
    "redis.call('HSET', KEYS[2], 'served' .. ARGV[1], '1') "
    "return redis.call('HGET', KEYS[1], 'status') or ''";


static ssize_t
pe_media_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    char                err[128];
    ssize_t             n;
    pe_media_stream_t  *s = cls;

    n = pe_spool_read(s->reader, buf, max, err, sizeof(err));

    if (n < 0) {
        /* verified a moment ago: changed under us since */
        pe_log(PE_LOG_ERR, "media: %s", err);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }

    /* the last byte handed over: MHD asks no further than the length */
    if (pos + (uint64_t) n == s->size) {
        s->complete = 1;
    }

    return n ? n : MHD_CONTENT_READER_END_OF_STREAM;
}


static void
pe_media_done(void *cls)
{
    pe_media_stream_t  *s = cls;
    redisReply         *r;

    pe_spool_close(s->reader);

    if (s->complete) {
        r = pe_store_command(s->be->store,
                             "EVAL %s 2 pe:job:%s pe:media:%s %s",
                             pe_media_served_script, s->id, s->id,
                             pe_job_input_suffix(s->k));

        /* upload=0: fetched whole while the provider runs the job, it goes */
        if (r && r->type == REDIS_REPLY_STRING
            && strcmp(r->str, "running") == 0
            && s->be->conf.retain_upload == 0)
        {
            unlink(s->path);
        }

        freeReplyObject(r);
    }

    free(s);
}


void
pe_media_job_running(pe_backend_t *be, const char *id)
{
    char         path[PATH_MAX];
    unsigned     k;
    redisReply  *r;

    if (be->conf.retain_upload != 0) {
        return;
    }

    /* each input fetched whole goes; the others wait for the job's end */
    for (k = 0; k < PE_JOB_FILES; k++) {
        r = pe_store_command(be->store, "HGET pe:media:%s served%s", id,
                             pe_job_input_suffix(k));

        if (r && r->type == REDIS_REPLY_STRING) {
            pe_job_media_path(path, sizeof(path), be->conf.spool, id, k);
            unlink(path);
        }

        freeReplyObject(r);
    }
}


/* HEAD: what a GET would be, without a byte of the body */
static ssize_t
pe_media_no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) cls;
    (void) pos;
    (void) buf;
    (void) max;

    return MHD_CONTENT_READER_END_WITH_ERROR;
}


static int
pe_media_refuse(struct MHD_Connection *conn, unsigned status,
    const char *body)
{
    return pe_reply(conn, status, "application/json", body);
}


int
pe_media_serve(pe_backend_t *be, struct MHD_Connection *conn, int head,
    const char *token)
{
    int                   rc;
    char                  id[PE_JOB_ID_LEN + 1], err[128], type[128];
    char                  key[64], mkey[64], gets[16], ttl[16];
    char                  path[PATH_MAX];
    unsigned              k;
    uint64_t              size;
    redisReply           *r;
    const char           *argv[9];
    pe_media_stream_t    *s;
    struct MHD_Response  *res;

    if (pe_media_token_check(be, token, time(NULL), id, &k) != 0) {
        return pe_media_refuse(conn, MHD_HTTP_NOT_FOUND,
                               "{\"error\":\"not_found\"}\n");
    }

    snprintf(key, sizeof(key), "pe:job:%s", id);
    snprintf(mkey, sizeof(mkey), "pe:media:%s", id);
    snprintf(gets, sizeof(gets), "%d", PE_MEDIA_GETS);
    snprintf(ttl, sizeof(ttl), "%d", PE_MEDIA_URL_TTL);

    argv[0] = "EVAL";
    argv[1] = pe_media_admit_script;
    argv[2] = "2";
    argv[3] = key;
    argv[4] = mkey;
    argv[5] = gets;
    argv[6] = ttl;
    argv[7] = head ? "0" : "1";
    argv[8] = pe_job_input_suffix(k);

    r = pe_store_argv(be->store, 9, argv, NULL);

    size = 0;
    rc = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3
         && r->element[0]->type == REDIS_REPLY_INTEGER
         && r->element[0]->integer == 1
         && r->element[1]->type == REDIS_REPLY_STRING
         && r->element[2]->type == REDIS_REPLY_STRING;

    if (rc) {
        snprintf(type, sizeof(type), "%s", r->element[1]->str);
        size = strtoull(r->element[2]->str, NULL, 10);
    }

    freeReplyObject(r);

    /* the job ended, or its GETs are spent (see media.h) */
    if (!rc) {
        return pe_media_refuse(conn, MHD_HTTP_GONE, "{\"error\":\"gone\"}\n");
    }

    pe_job_media_path(path, sizeof(path), be->conf.spool, id, k);

    if (access(path, F_OK) != 0) {
        /* upload=0: the provider had it whole and runs the job */
        return pe_media_refuse(conn, MHD_HTTP_GONE, "{\"error\":\"gone\"}\n");
    }

    if (head) {
        /* the recorded size: the file was verified when it was submitted */
        res = MHD_create_response_from_callback(size, PE_SPOOL_CHUNK,
                                                pe_media_no_body, NULL,
                                                NULL);
        if (res == NULL) {
            return MHD_NO;
        }

        goto send;
    }

    s = calloc(1, sizeof(pe_media_stream_t));
    if (s == NULL) {
        return MHD_NO;
    }

    s->be = be;
    s->k = k;
    memcpy(s->id, id, sizeof(s->id));
    memcpy(s->path, path, sizeof(s->path));

    /* whole and unaltered, or not a byte */
    if (pe_spool_verify(s->path, be->conf.data_key, &size, err, sizeof(err))
        != 0
        || (s->reader = pe_spool_open(s->path, be->conf.data_key, err,
                                      sizeof(err))) == NULL)
    {
        pe_log(PE_LOG_ERR, "media of job %s not served: %s", id, err);
        free(s);
        return pe_media_refuse(conn, MHD_HTTP_GONE,
                               "{\"error\":\"gone\"}\n");
    }

    s->size = size;
    res = MHD_create_response_from_callback(size, PE_SPOOL_CHUNK,
                                            pe_media_read, s, pe_media_done);
    if (res == NULL) {
        pe_media_done(s);
        return MHD_NO;
    }

    atomic_fetch_add(&be->media_served, 1);

send:

    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, res);
    MHD_destroy_response(res);

    return rc;
}
