
/*
 * Unit tests of the media signatures: each family recognised from the
 * leading bytes real files have, told apart from its neighbours, and
 * short, truncated or hostile input judged safely.
 */

#include "tap.h"

#include "pe_sniff.h"


typedef struct {
    const char    *name;
    const char    *bytes;
    size_t         len;
    const char    *detected;
} sample_t;


#define S(name, lit, det)  { name, lit, sizeof(lit) - 1, det }

static const sample_t  samples[] = {
    S("JPEG/JFIF", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01",
      "image/jpeg"),
    S("JPEG/Exif", "\xff\xd8\xff\xe1\x1c\x45" "Exif\x00\x00MM\x00*",
      "image/jpeg"),
    S("PNG", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",
      "image/png"),
    S("GIF89a", "GIF89a\x01\x00\x01\x00\x80\x00\x00", "image/gif"),
    S("GIF87a", "GIF87a\x01\x00\x01\x00\x80\x00\x00", "image/gif"),
    S("WebP", "RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00", "image/webp"),
    S("HEIC", "\x00\x00\x00\x18" "ftypheic\x00\x00\x00\x00mif1heic",
      "image/heic"),
    S("HEIF mif1", "\x00\x00\x00\x1c" "ftypmif1\x00\x00\x00\x00mif1miafheic",
      "image/heic"),
    S("AVIF", "\x00\x00\x00\x20" "ftypavif\x00\x00\x00\x00avifmif1miafMA1B",
      "image/avif"),
    S("AVIF with mif1 major brand",
      "\x00\x00\x00\x1c" "ftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
    S("MP4 isom", "\x00\x00\x00\x20" "ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
      "video/mp4"),
    S("MP4 mp42", "\x00\x00\x00\x18" "ftypmp42\x00\x00\x00\x00mp42isom",
      "video/mp4"),
    S("MOV ftyp qt", "\x00\x00\x00\x14" "ftypqt  \x20\x05\x03\x00qt  ",
      "video/quicktime"),
    S("MOV old moov", "\x00\x00\x01\x00moov\x00\x00\x00\x6cmvhd",
      "video/quicktime"),
    S("WebM", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2"
      "\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04",
      "video/webm"),
    S("Matroska", "\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\xf7\x81\x01\x42"
      "\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x88matroska\x42\x87\x81\x04",
      "video/x-matroska"),
};


static void
test_detect(void)
{
    size_t  i;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        is_str(pe_sniff_detect((const unsigned char *) samples[i].bytes,
                               samples[i].len),
               samples[i].detected, "%s is detected", samples[i].name);
    }

    ok(pe_sniff_detect((const unsigned char *) "<svg xmlns=", 11) == NULL,
       "SVG is nothing we know");
    ok(pe_sniff_detect((const unsigned char *) "", 0) == NULL,
       "empty is nothing");
    ok(pe_sniff_detect((const unsigned char *) "\xff\xd8", 2) == NULL,
       "two bytes of a JPEG marker are not a JPEG");
    ok(pe_sniff_detect((const unsigned char *) "RIFF\0\0\0\0WAVE", 12)
       == NULL, "RIFF/WAVE is not WebP");
    ok(pe_sniff_detect((const unsigned char *) "\x00\x00\x00\x04" "ftyp", 8)
       == NULL, "an ftyp box too short for a brand");
    ok(pe_sniff_detect((const unsigned char *) "\xff\xff\xff\xff" "ftypis",
                       10) == NULL, "a truncated ftyp box");
}


static int
check(const char *type, const char *bytes, size_t n, int complete)
{
    return pe_sniff_check(type, strlen(type), (const unsigned char *) bytes,
                          n, complete);
}


static void
test_check(void)
{
    char         pad[PE_SNIFF_BYTES + 16];
    const char  *png = samples[2].bytes;
    const char  *jpeg = samples[0].bytes;

    /* a full window: pad the samples with zero bytes */
    memset(pad, 0, sizeof(pad));
    memcpy(pad, png, samples[2].len);

    is_int(check("image/png", pad, sizeof(pad), 0), PE_SNIFF_MATCH,
           "a PNG declared image/png");
    is_int(check("image/jpeg", pad, sizeof(pad), 0), PE_SNIFF_MISMATCH,
           "a PNG declared image/jpeg");
    is_int(check("image/png", png, 8, 0), PE_SNIFF_NEED_MORE,
           "8 bytes of a longer upload: wait for more");
    is_int(check("image/png", png, 8, 1), PE_SNIFF_MATCH,
           "an 8-byte complete file is judged at once");
    is_int(check("image/png", "", 0, 1), PE_SNIFF_MISMATCH,
           "an empty file is no PNG");
    is_int(check("image/svg+xml", "<svg", 4, 1), PE_SNIFF_UNKNOWN_TYPE,
           "no signature is known for SVG");
    ok(!pe_sniff_known("text/plain", 10), "text/plain is not sniffable");
    ok(pe_sniff_known("video/quicktime", 15), "video/quicktime is");

    memset(pad, 0, sizeof(pad));
    memcpy(pad, jpeg, samples[0].len);
    is_int(check("image/jpg", pad, sizeof(pad), 0), PE_SNIFF_MATCH,
           "the image/jpg alias");
    is_int(check("image/pjpeg", pad, sizeof(pad), 0), PE_SNIFF_MATCH,
           "the image/pjpeg alias");

    /* the ISO BMFF family members are told apart */
    is_int(check("image/heic", samples[6].bytes, samples[6].len, 1),
           PE_SNIFF_MATCH, "HEIC as image/heic");
    is_int(check("image/heif", samples[7].bytes, samples[7].len, 1),
           PE_SNIFF_MATCH, "mif1 HEIF as image/heif");
    is_int(check("video/mp4", samples[6].bytes, samples[6].len, 1),
           PE_SNIFF_MISMATCH, "HEIC declared video/mp4");
    is_int(check("image/avif", samples[8].bytes, samples[8].len, 1),
           PE_SNIFF_MATCH, "AVIF as image/avif");
    is_int(check("image/heic", samples[8].bytes, samples[8].len, 1),
           PE_SNIFF_MISMATCH, "AVIF declared image/heic");
    is_int(check("video/mp4", samples[10].bytes, samples[10].len, 1),
           PE_SNIFF_MATCH, "MP4 as video/mp4");
    is_int(check("video/quicktime", samples[10].bytes, samples[10].len, 1),
           PE_SNIFF_MISMATCH, "MP4 declared video/quicktime");
    is_int(check("video/quicktime", samples[12].bytes, samples[12].len, 1),
           PE_SNIFF_MATCH, "MOV as video/quicktime");
    is_int(check("image/png", samples[10].bytes, samples[10].len, 1),
           PE_SNIFF_MISMATCH, "MP4 declared image/png");

    /* WebM and Matroska share EBML: the DocType decides when present */
    is_int(check("video/webm", samples[14].bytes, samples[14].len, 1),
           PE_SNIFF_MATCH, "WebM as video/webm");
    is_int(check("video/x-matroska", samples[14].bytes, samples[14].len, 1),
           PE_SNIFF_MISMATCH, "WebM declared video/x-matroska");
    is_int(check("video/webm", samples[15].bytes, samples[15].len, 1),
           PE_SNIFF_MISMATCH, "Matroska declared video/webm");
    is_int(check("video/webm", "\x1a\x45\xdf\xa3\x9f\x42\x86", 7, 1),
           PE_SNIFF_MATCH, "EBML without a DocType passes as WebM");

    /* a polyglot: GIF header but declared PNG */
    is_int(check("image/png", "GIF89a\x89PNG\r\n\x1a\n", 14, 1),
           PE_SNIFF_MISMATCH, "a GIF with PNG bytes later is no PNG");
    /* an HTML page declared as an image */
    is_int(check("image/jpeg", "<html><script>alert(1)</script>", 31, 1),
           PE_SNIFF_MISMATCH, "HTML declared image/jpeg");
}


static void
test_hostile(void)
{
    size_t         i, n;
    unsigned char  buf[PE_SNIFF_BYTES];
    unsigned int   seed = 12345;
    int            sane = 1;

    /* random bytes, with and without a planted ftyp or EBML header */
    for (i = 0; i < 20000; i++) {
        for (n = 0; n < sizeof(buf); n++) {
            seed = seed * 1103515245 + 12345;
            buf[n] = (unsigned char) (seed >> 16);
        }

        if (i % 3 == 1) {
            memcpy(buf + 4, "ftyp", 4);
        } else if (i % 3 == 2) {
            memcpy(buf, "\x1a\x45\xdf\xa3", 4);
        }

        n = i % (sizeof(buf) + 1);

        if (pe_sniff_check("video/mp4", 9, buf, n, 1) == PE_SNIFF_NEED_MORE
            || pe_sniff_check("video/webm", 10, buf, n, 1)
               == PE_SNIFF_NEED_MORE)
        {
            sane = 0;
        }
    }

    ok(sane, "20000 random prefixes are judged, never left waiting");
}


int
main(void)
{
    test_detect();
    test_check();
    test_hostile();

    return done_testing();
}
