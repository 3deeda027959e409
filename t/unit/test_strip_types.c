/*
 * Unit tests of which types the metadata stripper takes: every name the
 * sniffer accepts for a format it strips, aliases included (a JPEG sent
 * as image/jpg must not pass unstripped), and none it cannot strip.
 */

#include "tap.h"

#include <string.h>

#include "pe_sniff.h"
#include "pe_strip.h"


static int
known(const char *type)
{
    return pe_strip_known(type, strlen(type));
}


/* the sniffer accepts it, as the format of the bytes given */
static int
sniffed(const char *type, const char *bytes, size_t n)
{
    return pe_sniff_check(type, strlen(type), (const unsigned char *) bytes,
                          n, 1) == PE_SNIFF_MATCH;
}


int
main(void)
{
    size_t              i;
    static const char   jpeg[] = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01"
                                 "\x00\x00\x01\x00\x01\x00\x00\xff\xd9";
    static const char   png[] = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"
                                "\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
                                "\x00\x1f\x15\xc4\x89";
    static const char   mp4[] = "\x00\x00\x00\x20" "ftypisom\x00\x00\x02\x00"
                                "isomiso2avc1mp41";
    static const char   heif[] = "\x00\x00\x00\x18" "ftypheic\x00\x00\x00\x00"
                                 "mif1heic";
    static const struct {
        const char  *type;
        const char  *bytes;
        size_t       len;
    } stripped[] = {
        { "image/jpeg", jpeg, sizeof(jpeg) - 1 },
        { "image/jpg", jpeg, sizeof(jpeg) - 1 },
        { "image/pjpeg", jpeg, sizeof(jpeg) - 1 },
        { "image/png", png, sizeof(png) - 1 },
        { "image/apng", png, sizeof(png) - 1 },
        { "image/heic", heif, sizeof(heif) - 1 },
        { "image/heif", heif, sizeof(heif) - 1 },
        { "image/heic-sequence", heif, sizeof(heif) - 1 },
        { "image/heif-sequence", heif, sizeof(heif) - 1 },
        { "video/mp4", mp4, sizeof(mp4) - 1 },
        { "video/x-m4v", mp4, sizeof(mp4) - 1 },
        { "video/3gpp", mp4, sizeof(mp4) - 1 },
        { "audio/mp4", mp4, sizeof(mp4) - 1 },
        { "audio/x-m4a", mp4, sizeof(mp4) - 1 },
    };

    for (i = 0; i < sizeof(stripped) / sizeof(stripped[0]); i++) {
        ok(sniffed(stripped[i].type, stripped[i].bytes, stripped[i].len),
           "%s: the sniffer takes it", stripped[i].type);
        ok(known(stripped[i].type), "%s: stripped", stripped[i].type);
    }

    ok(known("image/webp") && known("image/avif")
       && known("video/quicktime"), "WebP, AVIF and MOV: stripped");
    ok(!known("image/gif") && !known("video/webm") && !known("audio/mpeg")
       && !known("audio/wav"), "GIF, WebM, MP3, WAV: no stripper");
    ok(!known("image/jpe") && !known("image/jpegx") && !known(""),
       "a name near one, or none: not taken");

    return done_testing();
}
