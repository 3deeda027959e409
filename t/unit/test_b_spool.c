
/*
 * Unit tests of the spool's encryption (backend/spool.c): round trips of
 * every size around a chunk boundary, no plaintext on disk, and hostile
 * files: every truncation, every single-byte change, chunks swapped or
 * repeated, bytes appended, another key.  None may verify.
 */

#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"


static char  dir[] = "/tmp/pe-spool-test-XXXXXX";

static const unsigned char  key[32] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
};


static unsigned char *
pattern(size_t n)
{
    size_t          i;
    unsigned char  *p = malloc(n ? n : 1);

    for (i = 0; i < n; i++) {
        p[i] = (unsigned char) ("SECRET-MEDIA"[i % 12] ^ (i / 12 % 7));
    }

    return p;
}


static unsigned char *
slurp(const char *path, size_t *n)
{
    int             fd;
    struct stat     st;
    unsigned char  *p;

    fd = open(path, O_RDONLY);
    if (fd == -1 || fstat(fd, &st) != 0) {
        return NULL;
    }

    p = malloc(st.st_size ? st.st_size : 1);
    *n = (size_t) read(fd, p, st.st_size);
    close(fd);

    return p;
}


static void
spit(const char *path, const unsigned char *p, size_t n)
{
    int  fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (write(fd, p, n) != (ssize_t) n) {
        printf("# short write\n");
    }
    close(fd);
}


/* writes n bytes in pieces of varying size; 0 on success */
static int
make(const char *path, const unsigned char *data, size_t n, size_t chunk)
{
    char                err[256];
    size_t              off, piece;
    pe_spool_writer_t  *w;

    unlink(path);

    w = pe_spool_create(path, key, chunk, err, sizeof(err));
    if (w == NULL) {
        printf("# %s\n", err);
        return -1;
    }

    for (off = 0, piece = 1; off < n; off += piece, piece = piece * 3 + 1) {
        if (piece > n - off) {
            piece = n - off;
        }

        if (pe_spool_write(w, data + off, piece) != 0) {
            return -1;
        }
    }

    return pe_spool_finish(w, err, sizeof(err));
}


/* reads all of path back; 1 if it verified and equals data */
static int
same(const char *path, const unsigned char *data, size_t n)
{
    char                err[256];
    size_t              got;
    ssize_t             r;
    unsigned char       buf[777];
    pe_spool_reader_t  *rd;

    rd = pe_spool_open(path, key, err, sizeof(err));
    if (rd == NULL) {
        return 0;
    }

    got = 0;

    while ((r = pe_spool_read(rd, buf, sizeof(buf), err, sizeof(err))) > 0) {
        if (got + (size_t) r > n || memcmp(buf, data + got, r) != 0) {
            pe_spool_close(rd);
            return 0;
        }

        got += (size_t) r;
    }

    pe_spool_close(rd);

    return r == 0 && got == n;
}


static int
verifies(const char *path, const unsigned char *k)
{
    char      err[256];
    uint64_t  size;

    return pe_spool_verify(path, k, &size, err, sizeof(err)) == 0;
}


static int
contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t  i, m = strlen(needle);

    for (i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return 1;
        }
    }

    return 0;
}


int
main(void)
{
    char            path[256], other[256], part[300], err[256];
    size_t          sizes[] = { 0, 1, 63, 64, 65, 128, 200, 1000 };
    size_t          i, j, n, m, bad;
    struct stat     st;
    unsigned char  *data, *file, *copy;
    unsigned char   wrong[32];
    uint64_t        size;
    pe_spool_writer_t  *w;

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }

    snprintf(path, sizeof(path), "%s/upload", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    snprintf(part, sizeof(part), "%s/upload.part", dir);

    /* round trips around the 64-byte chunk boundary */
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        data = pattern(sizes[i]);
        ok(make(path, data, sizes[i], 64) == 0, "writes %zu bytes", sizes[i]);
        ok(same(path, data, sizes[i]), "reads the %zu bytes back", sizes[i]);
        ok(pe_spool_verify(path, key, &size, err, sizeof(err)) == 0
           && size == sizes[i], "verifies: %zu bytes", sizes[i]);
        free(data);
    }

    /* a megabyte in default chunks; nothing of it in the clear on disk */
    n = 1024 * 1024 + 17;
    data = pattern(n);
    ok(make(path, data, n, 0) == 0 && same(path, data, n),
       "a megabyte in 64 KiB chunks");
    file = slurp(path, &m);
    ok(m == PE_SPOOL_HEADER + n + 17 * PE_SPOOL_TAG,
       "header, ciphertext and one tag per chunk: %zu bytes", m);
    ok(!contains(file, m, "SECRET-MEDIA"), "no plaintext in the file");
    free(file);

    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
       "the file is 0600");
    ok(access(part, F_OK) != 0, "no .part left behind");

    /* the same bytes twice give two different files (salt, file key) */
    ok(make(other, data, 4096, 0) == 0, "a second file");
    ok(make(path, data, 4096, 0) == 0, "... and the same bytes again");
    file = slurp(path, &m);
    copy = slurp(other, &n);
    ok(m == n && memcmp(file + 16, copy + 16, m - 16) != 0,
       "... differ: each file has its own key");
    free(file);
    free(copy);

    /* a file is never written over */
    ok(pe_spool_create(path, key, 0, err, sizeof(err)) == NULL,
       "an existing name is refused");

    /* abort leaves nothing */
    unlink(other);
    w = pe_spool_create(other, key, 0, err, sizeof(err));
    pe_spool_write(w, data, 100);
    pe_spool_abort(w);
    snprintf(part, sizeof(part), "%s/other.part", dir);
    ok(access(other, F_OK) != 0 && access(part, F_OK) != 0,
       "an aborted file leaves nothing");

    /* another key */
    memcpy(wrong, key, 32);
    wrong[31] ^= 1;
    ok(!verifies(path, wrong), "another data key does not verify");

    free(data);

    /* hostile files: three chunks and a bit, 64-byte chunks */
    n = 200;
    data = pattern(n);
    ok(make(path, data, n, 64) == 0, "a file of four chunks");
    file = slurp(path, &m);

    /* every truncation, down to nothing */
    for (j = 0, bad = 0; j < m; j++) {
        spit(other, file, j);
        bad += verifies(other, key);
    }

    ok(bad == 0, "no truncation of %zu verifies (%zu did)", m, bad);

    /* every byte changed, one at a time */
    copy = malloc(m);

    for (j = 0, bad = 0; j < m; j++) {
        memcpy(copy, file, m);
        copy[j] ^= 0x40;
        spit(other, copy, m);
        bad += verifies(other, key);
    }

    ok(bad == 0, "no single changed byte of %zu verifies (%zu did)", m, bad);

    /* chunks 0 and 1 swapped */
    memcpy(copy, file, m);
    memcpy(copy + PE_SPOOL_HEADER, file + PE_SPOOL_HEADER + 80, 80);
    memcpy(copy + PE_SPOOL_HEADER + 80, file + PE_SPOOL_HEADER, 80);
    spit(other, copy, m);
    ok(!verifies(other, key), "two chunks swapped do not verify");

    /* a chunk removed whole, at a boundary */
    memcpy(copy, file, PE_SPOOL_HEADER + 80);
    memcpy(copy + PE_SPOOL_HEADER + 80, file + PE_SPOOL_HEADER + 160,
           m - PE_SPOOL_HEADER - 160);
    spit(other, copy, m - 80);
    ok(!verifies(other, key), "a chunk taken out does not verify");

    /* the last chunk dropped: the one before is not marked last */
    spit(other, file, m - (200 - 192) - PE_SPOOL_TAG);
    ok(!verifies(other, key), "a file cut at a chunk boundary does not "
                              "verify");

    /* bytes appended, or a chunk repeated */
    free(copy);
    copy = malloc(m + 80);
    memcpy(copy, file, m);
    copy[m] = 0;
    spit(other, copy, m + 1);
    ok(!verifies(other, key), "one byte appended does not verify");

    memcpy(copy + m, file + PE_SPOOL_HEADER, 80);
    spit(other, copy, m + 80);
    ok(!verifies(other, key), "a chunk repeated at the end does not verify");

    /* a header of another chunk size: refused, or fails to verify */
    memcpy(copy, file, m);
    copy[10] = 0x10;
    spit(other, copy, m);
    ok(!verifies(other, key), "a changed chunk size does not verify");

    memcpy(copy, file, m);
    copy[8] = 0xff;
    spit(other, copy, m);
    ok(pe_spool_open(other, key, err, sizeof(err)) == NULL,
       "a chunk size over the maximum is refused at open");
    is_str(strstr(err, "is not a spool file") ? "yes" : err, "yes",
           "... as not a spool file");

    /* streamed reading: the chunks before a bad one, then an error, and
     * not one byte of the bad chunk */
    memcpy(copy, file, m);
    copy[PE_SPOOL_HEADER + 2 * 80 + 5] ^= 1;
    spit(other, copy, m);
    {
        unsigned char       buf[1024];
        ssize_t             r;
        size_t              got = 0;
        pe_spool_reader_t  *rd = pe_spool_open(other, key, err, sizeof(err));

        while (rd && (r = pe_spool_read(rd, buf, sizeof(buf), err,
                                        sizeof(err))) > 0)
        {
            got += (size_t) r;
        }

        ok(rd && got == 128, "reading stops before the altered chunk "
                             "(%zu of 200 bytes)", got);
        ok(strstr(err, "altered") != NULL, "... with a reason: %s", err);
        pe_spool_close(rd);
    }

    ok(!verifies(other, key), "pe_spool_verify() refuses it before a byte "
                              "is sent");

    free(copy);
    free(file);
    free(data);

    unlink(path);
    unlink(other);
    rmdir(dir);

    return done_testing();
}
