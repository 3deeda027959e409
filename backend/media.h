/*
 * privacy-backend: media on its way to a provider.
 *
 * A small image goes inline, as a data: URI.  Anything larger goes by a
 * link the provider fetches from us: {public_url}/v1/media/ID.EXP.SIG
 * (IDk.EXP.SIG for a job's input k > 0), signed with a key derived from
 * data_key, bound to one input of one job, valid until EXP and only while
 * the job is being submitted or runs.  Within that, at most PE_MEDIA_GETS
 * GETs per input (counted in pe:media:ID as they start), so that
 * a provider's retry after a broken download still works; a HEAD is
 * answered from the record and counts for nothing.  With upload=0 the
 * file goes once it was served whole and the provider runs the job, or
 * when the job ends.  What is sent is decrypted from the spool and
 * verified whole first: a file altered or truncated on disk is never
 * sent.
 */

#ifndef PE_BACKEND_MEDIA_H
#define PE_BACKEND_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"


#define PE_MEDIA_INLINE_MAX   (1024 * 1024)    /* bytes of an inline image,
                                                  unless its provider says */
#define PE_MEDIA_INLINE_LIMIT (16 * 1024 * 1024)  /* whatever it says */
#define PE_MEDIA_URL_TTL      3600             /* seconds a link is valid */
#define PE_MEDIA_GETS         5                /* GETs of one input's link */
#define PE_MEDIA_TOKEN_MAX    128


struct MHD_Connection;

/* derives the link signing key from data_key */
int pe_media_init(pe_backend_t *be);

/* "ID.EXP.SIG" (input 0) or "IDk.EXP.SIG" into out; 0 or -1 */
int pe_media_token(const pe_backend_t *be, const char *id, unsigned k,
    time_t exp, char *out, size_t size);

/* 0, the job id and the input when the token is well signed, unexpired */
int pe_media_token_check(const pe_backend_t *be, const char *token,
    time_t now, char id[33], unsigned *k);

/*
 * The verified plaintext of a spool file as a data: URI (malloc'd); the
 * file must hold exactly size bytes (its record's), at most
 * PE_MEDIA_INLINE_LIMIT.
 */
char *pe_media_data_uri(const pe_backend_t *be, const char *path,
    const char *type, uint64_t size, char *err, size_t errlen);

/* GET (head 0) or HEAD (head 1) /v1/media/TOKEN */
int pe_media_serve(pe_backend_t *be, struct MHD_Connection *conn, int head,
    const char *token);

/*
 * The provider runs a job whose media went by link: with upload=0, a
 * file it fetched whole goes now (the worker calls it).
 */
void pe_media_job_running(pe_backend_t *be, const char *id);

#endif /* PE_BACKEND_MEDIA_H */
