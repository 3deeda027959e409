/*
 * privacy-backend: the spool's encryption (see spool.h for the format).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "spool.h"


static const unsigned char  pe_spool_magic[8] = {
    'P', 'E', 'S', 'P', 'O', 'O', 'L', 0x01
};

#define PE_SPOOL_INFO  "privacy-edge spool v1"


struct pe_spool_writer_s {
    int              fd;
    char            *path;
    char            *tmp;
    EVP_CIPHER_CTX  *cipher;
    unsigned char    key[32];
    unsigned char    header[PE_SPOOL_HEADER];
    uint64_t         index;
    uint64_t         written;
    size_t           chunk;
    size_t           fill;
    unsigned char   *plain;          /* chunk bytes */
    unsigned char   *sealed;         /* chunk + tag */
};


struct pe_spool_reader_s {
    int              fd;
    EVP_CIPHER_CTX  *cipher;
    unsigned char    key[32];
    unsigned char    header[PE_SPOOL_HEADER];
    uint64_t         index;
    size_t           chunk;
    unsigned char   *sealed;         /* what was read: chunk + tag + 1 */
    size_t           have;           /* bytes in sealed */
    unsigned char   *plain;
    size_t           plain_len;
    size_t           plain_pos;
    int              eof;            /* the file has no more bytes */
    int              done;           /* the last chunk verified */
    int              failed;
};


static void
pe_spool_error(char *err, size_t errlen, const char *fmt, const char *what)
{
    if (err && errlen) {
        snprintf(err, errlen, fmt, what);
    }
}


static uint32_t
pe_get32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static void
pe_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


/* the file's own key: HKDF-SHA256 over the data key, salted per file */
static int
pe_spool_file_key(const unsigned char data_key[32],
    const unsigned char *salt, unsigned char out[32])
{
    int            rc;
    EVP_KDF       *kdf;
    EVP_KDF_CTX   *kctx;
    OSSL_PARAM     params[5], *p;

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        return -1;
    }

    kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);

    if (kctx == NULL) {
        return -1;
    }

    p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *) "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *) data_key, 32);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                             (void *) salt, 16);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *) PE_SPOOL_INFO,
                                             sizeof(PE_SPOOL_INFO) - 1);
    *p = OSSL_PARAM_construct_end();

    rc = EVP_KDF_derive(kctx, out, 32, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(kctx);

    return rc;
}


/* nonce: the chunk index; additional data: header, index, last flag */
static void
pe_spool_chunk_params(const unsigned char *header, uint64_t index, int last,
    unsigned char nonce[12], unsigned char aad[PE_SPOOL_HEADER + 9])
{
    int  i;

    memset(nonce, 0, 12);

    for (i = 0; i < 8; i++) {
        nonce[11 - i] = (unsigned char) (index >> (8 * i));
    }

    memcpy(aad, header, PE_SPOOL_HEADER);
    memcpy(aad + PE_SPOOL_HEADER, nonce + 4, 8);
    aad[PE_SPOOL_HEADER + 8] = (unsigned char) (last ? 1 : 0);
}


static int
pe_full_write(int fd, const unsigned char *p, size_t n)
{
    ssize_t  w;

    while (n) {
        w = write(fd, p, n);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += w;
        n -= (size_t) w;
    }

    return 0;
}


static void
pe_spool_writer_free(pe_spool_writer_t *w)
{
    OPENSSL_cleanse(w->key, sizeof(w->key));

    if (w->plain) {
        OPENSSL_cleanse(w->plain, w->chunk);
    }

    EVP_CIPHER_CTX_free(w->cipher);
    free(w->sealed);
    free(w->plain);
    free(w->tmp);
    free(w->path);
    free(w);
}


pe_spool_writer_t *
pe_spool_create(const char *path, const unsigned char key[32], size_t chunk,
    char *err, size_t errlen)
{
    size_t              n;
    pe_spool_writer_t  *w;

    if (chunk == 0) {
        chunk = PE_SPOOL_CHUNK;
    }

    if (chunk > PE_SPOOL_CHUNK_MAX) {
        pe_spool_error(err, errlen, "spool chunk too large%s", "");
        return NULL;
    }

    w = calloc(1, sizeof(pe_spool_writer_t));
    if (w == NULL) {
        pe_spool_error(err, errlen, "out of memory%s", "");
        return NULL;
    }

    w->fd = -1;
    w->chunk = chunk;
    n = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(n + sizeof(".part"));
    w->plain = malloc(chunk);
    w->sealed = malloc(chunk + PE_SPOOL_TAG);
    w->cipher = EVP_CIPHER_CTX_new();

    if (w->path == NULL || w->tmp == NULL || w->plain == NULL
        || w->sealed == NULL || w->cipher == NULL)
    {
        pe_spool_error(err, errlen, "out of memory%s", "");
        goto failed;
    }

    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".part", sizeof(".part"));

    memcpy(w->header, pe_spool_magic, 8);
    pe_put32(w->header + 8, (uint32_t) chunk);

    if (RAND_bytes(w->header + 16, 16) != 1
        || pe_spool_file_key(key, w->header + 16, w->key) != 0)
    {
        pe_spool_error(err, errlen, "no key for \"%s\"", path);
        goto failed;
    }

    /* the final name must not exist: a file is never written twice */
    if (access(path, F_OK) == 0) {
        pe_spool_error(err, errlen, "\"%s\" exists", path);
        goto failed;
    }

    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd == -1) {
        pe_spool_error(err, errlen, "cannot create \"%s\"", w->tmp);
        goto failed;
    }

    if (pe_full_write(w->fd, w->header, PE_SPOOL_HEADER) != 0) {
        pe_spool_error(err, errlen, "cannot write \"%s\"", w->tmp);
        pe_spool_abort(w);
        return NULL;
    }

    return w;

failed:

    /* nothing was created on disk before here */
    pe_spool_writer_free(w);

    return NULL;
}


static int
pe_spool_seal(pe_spool_writer_t *w, int last)
{
    int            len, fin;
    unsigned char  nonce[12], aad[PE_SPOOL_HEADER + 9];

    pe_spool_chunk_params(w->header, w->index, last, nonce, aad);

    if (EVP_EncryptInit_ex(w->cipher, EVP_aes_256_gcm(), NULL, w->key, nonce)
            != 1
        || EVP_EncryptUpdate(w->cipher, NULL, &len, aad, sizeof(aad)) != 1
        || EVP_EncryptUpdate(w->cipher, w->sealed, &len, w->plain,
                             (int) w->fill) != 1
        || EVP_EncryptFinal_ex(w->cipher, w->sealed + len, &fin) != 1
        || EVP_CIPHER_CTX_ctrl(w->cipher, EVP_CTRL_GCM_GET_TAG, PE_SPOOL_TAG,
                               w->sealed + w->fill) != 1)
    {
        return -1;
    }

    if (pe_full_write(w->fd, w->sealed, w->fill + PE_SPOOL_TAG) != 0) {
        return -1;
    }

    w->index++;
    w->fill = 0;

    return 0;
}


int
pe_spool_write(pe_spool_writer_t *w, const void *data, size_t n)
{
    size_t                room;
    const unsigned char  *p = data;

    while (n) {
        /* a full chunk is sealed only when more follows: the last one
         * is sealed by pe_spool_finish() with its flag */
        if (w->fill == w->chunk && pe_spool_seal(w, 0) != 0) {
            return -1;
        }

        room = w->chunk - w->fill;
        if (room > n) {
            room = n;
        }

        memcpy(w->plain + w->fill, p, room);
        w->fill += room;
        w->written += room;
        p += room;
        n -= room;
    }

    return 0;
}


uint64_t
pe_spool_written(const pe_spool_writer_t *w)
{
    return w->written;
}


int
pe_spool_finish(pe_spool_writer_t *w, char *err, size_t errlen)
{
    if (pe_spool_seal(w, 1) != 0 || fsync(w->fd) != 0) {
        pe_spool_error(err, errlen, "cannot write \"%s\"", w->tmp);
        pe_spool_abort(w);
        return -1;
    }

    if (close(w->fd) != 0) {
        w->fd = -1;
        pe_spool_error(err, errlen, "cannot write \"%s\"", w->tmp);
        pe_spool_abort(w);
        return -1;
    }

    w->fd = -1;

    if (rename(w->tmp, w->path) != 0) {
        pe_spool_error(err, errlen, "cannot rename \"%s\"", w->tmp);
        pe_spool_abort(w);
        return -1;
    }

    pe_spool_writer_free(w);

    return 0;
}


void
pe_spool_abort(pe_spool_writer_t *w)
{
    if (w->fd != -1) {
        close(w->fd);
    }

    unlink(w->tmp);
    pe_spool_writer_free(w);
}


pe_spool_reader_t *
pe_spool_open(const char *path, const unsigned char key[32], char *err,
    size_t errlen)
{
    ssize_t             n;
    uint32_t            chunk;
    pe_spool_reader_t  *r;

    r = calloc(1, sizeof(pe_spool_reader_t));
    if (r == NULL) {
        pe_spool_error(err, errlen, "out of memory%s", "");
        return NULL;
    }

    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd == -1) {
        pe_spool_error(err, errlen, "cannot open \"%s\"", path);
        free(r);
        return NULL;
    }

    do {
        n = read(r->fd, r->header, PE_SPOOL_HEADER);
    } while (n == -1 && errno == EINTR);

    chunk = (n == PE_SPOOL_HEADER) ? pe_get32(r->header + 8) : 0;

    /* the header is checked here for size; for the rest, by every tag */
    if (n != PE_SPOOL_HEADER || memcmp(r->header, pe_spool_magic, 8) != 0
        || pe_get32(r->header + 12) != 0 || chunk == 0
        || chunk > PE_SPOOL_CHUNK_MAX)
    {
        pe_spool_error(err, errlen, "\"%s\" is not a spool file", path);
        close(r->fd);
        free(r);
        return NULL;
    }

    r->chunk = chunk;
    r->sealed = malloc(chunk + PE_SPOOL_TAG + 1);
    r->plain = malloc(chunk);
    r->cipher = EVP_CIPHER_CTX_new();

    if (r->sealed == NULL || r->plain == NULL || r->cipher == NULL
        || pe_spool_file_key(key, r->header + 16, r->key) != 0)
    {
        pe_spool_error(err, errlen, "out of memory%s", "");
        pe_spool_close(r);
        return NULL;
    }

    return r;
}


/* fills sealed up to want bytes; sets eof when the file has no more */
static int
pe_spool_fill(pe_spool_reader_t *r, size_t want)
{
    ssize_t  n;

    while (r->have < want && !r->eof) {
        n = read(r->fd, r->sealed + r->have, want - r->have);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        if (n == 0) {
            r->eof = 1;
            break;
        }

        r->have += (size_t) n;
    }

    return 0;
}


/*
 * The next chunk into plain.  A chunk is the last one when fewer than a
 * full chunk and its tag, plus one byte, could be read: the one byte more
 * tells a full last chunk from one that has followers.
 */
static int
pe_spool_next_chunk(pe_spool_reader_t *r, char *err, size_t errlen)
{
    int            len, last;
    size_t         sealed, keep;
    unsigned char  nonce[12], aad[PE_SPOOL_HEADER + 9];

    if (pe_spool_fill(r, r->chunk + PE_SPOOL_TAG + 1) != 0) {
        pe_spool_error(err, errlen, "spool read failed%s", "");
        return -1;
    }

    if (r->have < PE_SPOOL_TAG) {
        pe_spool_error(err, errlen, "spool file truncated%s", "");
        return -1;
    }

    last = (r->have <= r->chunk + PE_SPOOL_TAG);
    sealed = last ? r->have : r->chunk + PE_SPOOL_TAG;

    pe_spool_chunk_params(r->header, r->index, last, nonce, aad);

    if (EVP_DecryptInit_ex(r->cipher, EVP_aes_256_gcm(), NULL, r->key, nonce)
            != 1
        || EVP_DecryptUpdate(r->cipher, NULL, &len, aad, sizeof(aad)) != 1
        || EVP_DecryptUpdate(r->cipher, r->plain, &len, r->sealed,
                             (int) (sealed - PE_SPOOL_TAG)) != 1
        || EVP_CIPHER_CTX_ctrl(r->cipher, EVP_CTRL_GCM_SET_TAG, PE_SPOOL_TAG,
                               r->sealed + sealed - PE_SPOOL_TAG) != 1
        || EVP_DecryptFinal_ex(r->cipher, r->plain + len, &len) != 1)
    {
        /* not a byte of a chunk that fails is returned */
        OPENSSL_cleanse(r->plain, r->chunk);
        pe_spool_error(err, errlen,
                       "spool file altered, truncated or not ours%s", "");
        return -1;
    }

    r->plain_len = sealed - PE_SPOOL_TAG;
    r->plain_pos = 0;
    r->index++;

    keep = r->have - sealed;
    memmove(r->sealed, r->sealed + sealed, keep);
    r->have = keep;

    if (last) {
        r->done = 1;
    }

    return 0;
}


ssize_t
pe_spool_read(pe_spool_reader_t *r, void *buf, size_t n, char *err,
    size_t errlen)
{
    size_t  take;

    if (r->failed) {
        pe_spool_error(err, errlen, "spool file failed to verify%s", "");
        return -1;
    }

    while (r->plain_pos == r->plain_len) {
        if (r->done) {
            return 0;
        }

        if (pe_spool_next_chunk(r, err, errlen) != 0) {
            r->failed = 1;
            return -1;
        }
    }

    take = r->plain_len - r->plain_pos;
    if (take > n) {
        take = n;
    }

    memcpy(buf, r->plain + r->plain_pos, take);
    r->plain_pos += take;

    return (ssize_t) take;
}


void
pe_spool_close(pe_spool_reader_t *r)
{
    if (r == NULL) {
        return;
    }

    if (r->fd != -1) {
        close(r->fd);
    }

    OPENSSL_cleanse(r->key, sizeof(r->key));

    if (r->plain) {
        OPENSSL_cleanse(r->plain, r->chunk);
    }

    EVP_CIPHER_CTX_free(r->cipher);
    free(r->plain);
    free(r->sealed);
    free(r);
}


int
pe_spool_verify(const char *path, const unsigned char key[32],
    uint64_t *size, char *err, size_t errlen)
{
    ssize_t             n;
    uint64_t            total;
    pe_spool_reader_t  *r;
    unsigned char       buf[16384];

    r = pe_spool_open(path, key, err, errlen);
    if (r == NULL) {
        return -1;
    }

    total = 0;

    while ((n = pe_spool_read(r, buf, sizeof(buf), err, errlen)) > 0) {
        total += (uint64_t) n;
    }

    OPENSSL_cleanse(buf, sizeof(buf));
    pe_spool_close(r);

    if (n < 0) {
        return -1;
    }

    if (size) {
        *size = total;
    }

    return 0;
}
