/*
 * libFuzzer target for the Content-Type parser.  Oracle: what it accepts
 * is well formed: a lowercase type with one slash, and a boundary of
 * 1..70 bytes without CR, LF or quote.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_media_type.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           i, slashes;
    pe_media_type_t  mt;

    if (pe_media_type_parse(data, size, &mt) != 0) {
        return 0;
    }

    slashes = 0;

    for (i = 0; i < mt.type_len; i++) {
        if (mt.type[i] == '/') {
            slashes++;
        }

        if (mt.type[i] >= 'A' && mt.type[i] <= 'Z') {
            abort();
        }
    }

    if (slashes != 1 || mt.type_len == 0 || mt.type[mt.type_len] != '\0') {
        abort();
    }

    if (mt.boundary_len > PE_BOUNDARY_MAX
        || memchr(mt.boundary, '\r', mt.boundary_len)
        || memchr(mt.boundary, '\n', mt.boundary_len)
        || memchr(mt.boundary, '"', mt.boundary_len))
    {
        abort();
    }

    return 0;
}
