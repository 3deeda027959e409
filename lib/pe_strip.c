
/*
 * privacy-edge: metadata out of media files as they stream (pe_strip.h):
 * the types each format strips, and what every format shares.
 */

#include "pe_strip.h"

#include <stdlib.h>
#include <string.h>


/* every name the sniffer (pe_sniff.c) takes for these formats, aliases
   too: a file must not pass unstripped for being called image/jpg */
static const struct {
    const char               *type;
    const pe_strip_format_t  *format;
} pe_strip_types[] = {
    { "image/jpeg", &pe_strip_jpeg },
    { "image/jpg", &pe_strip_jpeg },
    { "image/pjpeg", &pe_strip_jpeg },
    { "image/png", &pe_strip_png },
    { "image/apng", &pe_strip_png },
    { "image/webp", &pe_strip_webp },
    { "image/heic", &pe_strip_isobmff },
    { "image/heif", &pe_strip_isobmff },
    { "image/heic-sequence", &pe_strip_isobmff },
    { "image/heif-sequence", &pe_strip_isobmff },
    { "image/avif", &pe_strip_isobmff },
    { "video/mp4", &pe_strip_isobmff },
    { "video/x-m4v", &pe_strip_isobmff },
    { "video/3gpp", &pe_strip_isobmff },
    { "video/quicktime", &pe_strip_isobmff },
    { "audio/mp4", &pe_strip_isobmff },
    { "audio/x-m4a", &pe_strip_isobmff },
    { NULL, NULL }
};


static const pe_strip_format_t *
pe_strip_format(const char *type, size_t len)
{
    size_t  i;

    for (i = 0; pe_strip_types[i].type; i++) {
        if (strlen(pe_strip_types[i].type) == len
            && memcmp(pe_strip_types[i].type, type, len) == 0)
        {
            return pe_strip_types[i].format;
        }
    }

    return NULL;
}


int
pe_strip_known(const char *type, size_t len)
{
    return pe_strip_format(type, len) != NULL;
}


pe_strip_t *
pe_strip_new(const char *type, size_t len, pe_strip_out_pt out, void *data,
    int *nomem)
{
    pe_strip_t               *s;
    const pe_strip_format_t  *f;

    *nomem = 0;

    f = pe_strip_format(type, len);
    if (f == NULL) {
        return NULL;
    }

    s = calloc(1, sizeof(pe_strip_t));
    if (s == NULL) {
        *nomem = 1;
        return NULL;
    }

    s->format = f;
    s->out = out;
    s->data = data;

    if (f->init(s) != 0) {
        free(s);
        *nomem = 1;
        return NULL;
    }

    return s;
}


int
pe_strip_feed(pe_strip_t *s, const unsigned char *p, size_t n)
{
    if (s->rc != PE_STRIP_OK) {
        return s->rc;
    }

    s->in += n;

    if (n == 0) {
        return PE_STRIP_OK;
    }

    s->rc = s->format->feed(s, p, n);

    return s->rc;
}


int
pe_strip_finish(pe_strip_t *s)
{
    if (s->rc != PE_STRIP_OK) {
        return s->rc;
    }

    s->rc = s->format->finish(s);

    return s->rc;
}


const char *
pe_strip_error(const pe_strip_t *s)
{
    return s->error ? s->error : "";
}


unsigned
pe_strip_removed(const pe_strip_t *s)
{
    return s->removed;
}


void
pe_strip_free(pe_strip_t *s)
{
    if (s == NULL) {
        return;
    }

    if (s->format->free) {
        s->format->free(s);
    }

    free(s);
}


int
pe_strip_emit(pe_strip_t *s, const unsigned char *p, size_t n)
{
    if (n == 0) {
        return PE_STRIP_OK;
    }

    if (s->out(s->data, p, n) != 0) {
        return PE_STRIP_STOPPED;
    }

    s->written += n;

    return PE_STRIP_OK;
}


int
pe_strip_emit_zeros(pe_strip_t *s, uint64_t n)
{
    size_t                      k;
    static const unsigned char  zeros[4096];

    while (n) {
        k = n < sizeof(zeros) ? (size_t) n : sizeof(zeros);

        if (pe_strip_emit(s, zeros, k) != PE_STRIP_OK) {
            return PE_STRIP_STOPPED;
        }

        n -= k;
    }

    return PE_STRIP_OK;
}


int
pe_strip_fail(pe_strip_t *s, const char *why)
{
    s->error = why;

    return PE_STRIP_ERROR;
}
