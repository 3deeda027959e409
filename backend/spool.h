/*
 * privacy-backend: the spool, uploads encrypted at rest.
 *
 * A spool file is a 32-byte header and then chunks of AES-256-GCM:
 *
 *   header   "PESPOOL" 0x01 | chunk size (u32, big-endian) | 4 zero bytes
 *            | salt (16 random bytes)
 *   chunk i  ciphertext (chunk size bytes; the last one shorter, possibly
 *            empty) | tag (16 bytes)
 *
 * Each file has its own key, HKDF-SHA256(data_key, salt, "privacy-edge
 * spool v1"), so nonces never repeat across files under the long-lived
 * data key; the nonce of chunk i is i (96 bits, big-endian).  Every chunk
 * authenticates the header, its index and whether it is the last one
 * (additional data), so a file that was altered, truncated (even at a
 * chunk boundary), extended, or had chunks swapped fails to verify.  Even
 * an empty upload has one (empty) last chunk.
 *
 * Memory stays at one chunk whatever the file's size.  Nothing here
 * touches the network; the caller decides what a failure means.
 */

#ifndef PE_BACKEND_SPOOL_H
#define PE_BACKEND_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define PE_SPOOL_HEADER      32
#define PE_SPOOL_TAG         16
#define PE_SPOOL_CHUNK       (64 * 1024)
#define PE_SPOOL_CHUNK_MAX   (16 * 1024 * 1024)


typedef struct pe_spool_writer_s  pe_spool_writer_t;
typedef struct pe_spool_reader_s  pe_spool_reader_t;


/*
 * Creates path (which must not exist), mode 0600, written under a
 * temporary name and renamed into place by pe_spool_finish(): a crash
 * leaves no half file under the final name.  chunk: 0 for the default.
 */
pe_spool_writer_t *pe_spool_create(const char *path,
    const unsigned char key[32], size_t chunk, char *err, size_t errlen);

int pe_spool_write(pe_spool_writer_t *w, const void *data, size_t n);

/* the last chunk, fsync, rename; frees w whatever the outcome */
int pe_spool_finish(pe_spool_writer_t *w, char *err, size_t errlen);

/* removes what was written; frees w */
void pe_spool_abort(pe_spool_writer_t *w);

/* plaintext bytes written so far */
uint64_t pe_spool_written(const pe_spool_writer_t *w);


/* NULL with a reason when the file cannot be opened or its header is bad */
pe_spool_reader_t *pe_spool_open(const char *path,
    const unsigned char key[32], char *err, size_t errlen);

/*
 * The next plaintext, verified: > 0 bytes, 0 at the verified end, -1 when
 * the file fails to verify or cannot be read (with the reason in err).
 * Bytes of a chunk are only returned once its tag checked out.
 */
ssize_t pe_spool_read(pe_spool_reader_t *r, void *buf, size_t n,
    char *err, size_t errlen);

void pe_spool_close(pe_spool_reader_t *r);

/*
 * Reads the whole file and checks every chunk: 0 and the plaintext size,
 * or -1.  For what must never leave the backend unless whole and
 * unaltered, before the first byte is sent.
 */
int pe_spool_verify(const char *path, const unsigned char key[32],
    uint64_t *size, char *err, size_t errlen);

#endif /* PE_BACKEND_SPOOL_H */
