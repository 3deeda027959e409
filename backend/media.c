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

#include "http.h"
#include "jobs.h"
#include "log.h"
#include "pe_jws.h"
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
pe_media_token(const pe_backend_t *be, const char *id, time_t exp,
    char *out, size_t size)
{
    int   n;
    char  sig[PE_JWS_SIG_LEN];

    n = snprintf(out, size, "%s.%lld", id, (long long) exp);

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
    char id[33])
{
    char         sig[PE_JWS_SIG_LEN], *end;
    size_t       len, signed_len;
    long long    exp;
    const char  *dot;

    len = strnlen(token, PE_MEDIA_TOKEN_MAX + 1);

    if (len > PE_MEDIA_TOKEN_MAX || len < PE_JOB_ID_LEN + 3
        || token[PE_JOB_ID_LEN] != '.')
    {
        return -1;
    }

    dot = strchr(token + PE_JOB_ID_LEN + 1, '.');
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
    exp = strtoll(token + PE_JOB_ID_LEN + 1, &end, 10);

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

    if (size > PE_MEDIA_INLINE_MAX) {
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
    char                path[PATH_MAX];
    int                 complete;
} pe_media_stream_t;


static ssize_t
pe_media_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    char                err[128];
    ssize_t             n;
    pe_media_stream_t  *s = cls;

    (void) pos;

    n = pe_spool_read(s->reader, buf, max, err, sizeof(err));

    if (n < 0) {
        /* verified a moment ago: changed under us since */
        pe_log(PE_LOG_ERR, "media: %s", err);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }

    if (n == 0) {
        s->complete = 1;
        return MHD_CONTENT_READER_END_OF_STREAM;
    }

    return n;
}


static void
pe_media_done(void *cls)
{
    pe_media_stream_t  *s = cls;

    pe_spool_close(s->reader);

    /* upload=0: the provider has it, it goes now */
    if (s->complete && s->be->conf.retain_upload == 0) {
        unlink(s->path);
    }

    free(s);
}


static int
pe_media_refuse(struct MHD_Connection *conn, unsigned status,
    const char *body)
{
    return pe_http_reply(conn, status, "application/json", body);
}


int
pe_media_serve(pe_backend_t *be, struct MHD_Connection *conn,
    const char *token)
{
    int                   rc, state;
    char                  id[PE_JOB_ID_LEN + 1], err[128], type[128];
    uint64_t              size;
    redisReply           *r;
    pe_media_stream_t    *s;
    struct MHD_Response  *res;

    if (pe_media_token_check(be, token, time(NULL), id) != 0) {
        return pe_media_refuse(conn, MHD_HTTP_NOT_FOUND,
                               "{\"error\":\"not_found\"}\n");
    }

    r = pe_store_command(be->store, "HMGET pe:job:%s status media_type", id);

    state = -1;
    type[0] = '\0';

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[1]->type == REDIS_REPLY_STRING)
    {
        state = pe_job_state_parse(r->element[0]->str);
        snprintf(type, sizeof(type), "%s", r->element[1]->str);
    }

    freeReplyObject(r);

    /* only while the provider may need it */
    if (state != PE_JOB_SUBMITTING && state != PE_JOB_SUBMITTED
        && state != PE_JOB_RUNNING)
    {
        return pe_media_refuse(conn, MHD_HTTP_GONE, "{\"error\":\"gone\"}\n");
    }

    /* once: the first fetch takes it */
    r = pe_store_command(be->store, "SET pe:media:%s 1 NX EX %d", id,
                         PE_MEDIA_URL_TTL);
    rc = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);

    if (!rc) {
        return pe_media_refuse(conn, MHD_HTTP_GONE, "{\"error\":\"gone\"}\n");
    }

    s = calloc(1, sizeof(pe_media_stream_t));
    if (s == NULL) {
        return MHD_NO;
    }

    s->be = be;
    snprintf(s->path, sizeof(s->path), "%s/%s.media", be->conf.spool, id);

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

    res = MHD_create_response_from_callback(size, PE_SPOOL_CHUNK,
                                            pe_media_read, s, pe_media_done);
    if (res == NULL) {
        pe_media_done(s);
        return MHD_NO;
    }

    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, res);
    MHD_destroy_response(res);

    atomic_fetch_add(&be->media_served, 1);

    return rc;
}
