/*
 * privacy-backend: the key files of a configuration, read and checked
 * (see config.h, pe_conf_load_keys).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int
pe_read_key(const char *file, unsigned char *buf, size_t cap, size_t *len,
    char *err, size_t errlen)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(file, O_RDONLY);
    if (fd == -1) {
        snprintf(err, errlen, "open() \"%s\" failed (%s)", file,
                 strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "\"%s\" is not a regular file", file);
        return -1;
    }

    n = read(fd, buf, cap);
    close(fd);

    if (n < 0) {
        snprintf(err, errlen, "read() \"%s\" failed (%s)", file,
                 strerror(errno));
        return -1;
    }

    if ((size_t) n == cap && st.st_size > (off_t) cap) {
        snprintf(err, errlen, "\"%s\" is larger than %zu bytes", file, cap);
        return -1;
    }

    *len = (size_t) n;

    return 0;
}


static int
pe_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


int
pe_conf_load_keys(pe_conf_t *conf, char *err, size_t errlen)
{
    size_t         len, i;
    unsigned char  raw[130];

    /* the context key is the file's bytes as they are, as the edge reads it */
    if (pe_read_key(conf->context_key_file, conf->context_key,
                    sizeof(conf->context_key), &conf->context_key_len,
                    err, errlen) != 0)
    {
        return -1;
    }

    if (conf->context_key_len < 32) {
        snprintf(err, errlen, "context_key \"%s\" holds %zu bytes, at least "
                 "32 are needed", conf->context_key_file,
                 conf->context_key_len);
        return -1;
    }

    /* the data key: 32 raw bytes, or 64 hex digits (openssl rand -hex 32) */
    if (pe_read_key(conf->data_key_file, raw, sizeof(raw), &len, err, errlen)
        != 0)
    {
        return -1;
    }

    if (len == 32) {
        memcpy(conf->data_key, raw, 32);
        memset(raw, 0, sizeof(raw));
        return 0;
    }

    while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r')) {
        len--;
    }

    if (len == 64) {
        for (i = 0; i < 32; i++) {
            int  hi = pe_hexval(raw[2 * i]), lo = pe_hexval(raw[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                break;
            }

            conf->data_key[i] = (unsigned char) (hi << 4 | lo);
        }

        if (i == 32) {
            memset(raw, 0, sizeof(raw));
            return 0;
        }
    }

    memset(raw, 0, sizeof(raw));
    snprintf(err, errlen, "data_key \"%s\" must hold 32 bytes or 64 hex "
             "digits", conf->data_key_file);

    return -1;
}
