/*
 * libFuzzer target for the media signatures: any bytes, every declared
 * type.  Oracle: a full window is always judged (never "need more"), a
 * match agrees with what detection says, and a short complete file is
 * judged too.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pe_sniff.h"


static const char  *types[] = {
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "image/avif", "video/mp4", "video/quicktime", "video/webm",
    "video/x-matroska", "audio/mpeg", "audio/wav", "audio/mp4",
    "audio/x-m4a", "audio/ogg", "audio/webm", "audio/flac", "text/plain",
    NULL
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char    **t;
    const char     *detected;
    pe_sniff_rc_e   rc;

    detected = pe_sniff_detect(data, size);

    for (t = types; *t; t++) {
        rc = pe_sniff_check(*t, strlen(*t), data, size, 1);

        if (rc == PE_SNIFF_NEED_MORE) {
            abort();
        }

        if (rc == PE_SNIFF_MATCH && detected == NULL) {
            abort();
        }

        rc = pe_sniff_check(*t, strlen(*t), data, size, 0);

        if (rc == PE_SNIFF_NEED_MORE && size >= PE_SNIFF_BYTES) {
            abort();
        }
    }

    return 0;
}
