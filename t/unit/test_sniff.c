
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

    /* audio, from 16 */
    S("MP3 ID3v2.4", "ID3\x04\x00\x00\x00\x00\x00\x23TSSE\x00\x00\x00\x0f",
      "audio/mpeg"),
    S("MP3 ID3v2.3", "ID3\x03\x00\x40\x00\x00\x02\x7fTIT2", "audio/mpeg"),
    S("MP3 frame, MPEG-1 layer III 128k 44.1k", "\xff\xfb\x90\x64\x00\x00",
      "audio/mpeg"),
    S("MP3 frame with CRC", "\xff\xfa\x40\xc0\x00\x00", "audio/mpeg"),
    S("MP2 frame, MPEG-1 layer II", "\xff\xfd\xe0\xc4\xec\xcc",
      "audio/mpeg"),
    S("MP3 frame, MPEG-2 layer III 22.05k", "\xff\xf3\x50\xc4\x00\x00",
      "audio/mpeg"),
    S("MP3 frame, MPEG-2.5 layer III 8k", "\xff\xe3\x18\xc4\x00\x00",
      "audio/mpeg"),
    S("WAV", "RIFF\xce\x58\x01\x00WAVEfmt \x10\x00\x00\x00\x01\x00",
      "audio/wav"),
    S("WAV RF64", "RF64\xff\xff\xff\xffWAVEds64\x1c\x00\x00\x00",
      "audio/wav"),
    S("M4A", "\x00\x00\x00\x1c" "ftypM4A \x00\x00\x02\x00M4A isomiso2",
      "audio/mp4"),
    S("M4B", "\x00\x00\x00\x1c" "ftypM4B \x00\x00\x02\x00M4B isomiso2",
      "audio/mp4"),
    S("Ogg Vorbis", "OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x90\xc0"
      "Kl\x00\x00\x00\x00\x40\x85\x41\x7f\x01\x1e\x01vorbis", "audio/ogg"),
    S("Ogg Opus", "OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\xd0\x3b"
      "u\x0b\x00\x00\x00\x00nOv\xd5\x01\x13OpusHead", "audio/ogg"),
    S("FLAC", "fLaC\x00\x00\x00\x22\x12\x00\x12\x00\x00\x02\xf1\x00",
      "audio/flac"),
    S("FLAC, STREAMINFO the last block", "fLaC\x80\x00\x00\x22\x10\x00",
      "audio/flac"),
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
    is_str(pe_sniff_detect((const unsigned char *) "RIFF\0\0\0\0WAVE", 12),
           "audio/wav", "RIFF/WAVE is a WAV, not a WebP");
    ok(pe_sniff_detect((const unsigned char *) "\x00\x00\x00\x04" "ftyp", 8)
       == NULL, "an ftyp box too short for a brand");
    ok(pe_sniff_detect((const unsigned char *) "\xff\xff\xff\xff" "ftypis",
                       10) == NULL, "a truncated ftyp box");
}


/* near misses and truncations of the audio signatures: none is detected */
static const sample_t  audio_misses[] = {
    S("ID3 alone", "ID3", NULL),
    S("ID3 header cut short", "ID3\x04\x00\x00\x00\x00\x00", NULL),
    S("ID3v2.5", "ID3\x05\x00\x00\x00\x00\x00\x23", NULL),
    S("ID3v2.1", "ID3\x01\x00\x00\x00\x00\x00\x23", NULL),
    S("ID3 revision 0xff", "ID3\x04\xff\x00\x00\x00\x00\x23", NULL),
    S("ID3 undefined flag", "ID3\x04\x00\x01\x00\x00\x00\x23", NULL),
    S("ID3 size not syncsafe", "ID3\x04\x00\x00\x00\x00\x80\x23", NULL),
    S("MPEG frame cut to 3 bytes", "\xff\xfb\x90", NULL),
    S("ADTS AAC (layer 00)", "\xff\xf1\x50\x40\x21\x3f", NULL),
    S("ADTS AAC, MPEG-2", "\xff\xf9\x50\x40\x21\x3f", NULL),
    S("MPEG reserved version", "\xff\xeb\x90\x64", NULL),
    S("MPEG bad bitrate", "\xff\xfb\xf0\x64", NULL),
    S("MPEG free format", "\xff\xfb\x00\x64", NULL),
    S("MPEG reserved sample rate", "\xff\xfb\x9c\x64", NULL),
    S("MPEG reserved emphasis", "\xff\xfb\x90\x66", NULL),
    S("a 10-bit sync", "\xff\xdb\x90\x64", NULL),
    S("UTF-16LE text", "\xff\xfeh\x00i\x00", NULL),
    S("all 0xff", "\xff\xff\xff\xff\xff\xff", NULL),
    S("RIFF cut before the form type", "RIFF\xce\x58\x01\x00WAV", NULL),
    S("RIFF/AVI", "RIFF\x00\x00\x00\x00" "AVI LIST", NULL),
    S("RIFX", "RIFX\x00\x00\x00\x00WAVE", NULL),
    S("Ogg version 1", "OggS\x01\x02\x00\x00\x00\x00\x00\x00", NULL),
    S("Ogg continued page", "OggS\x00\x01\x00\x00\x00\x00\x00\x00", NULL),
    S("Ogg not a first page", "OggS\x00\x00\x00\x00\x00\x00\x00\x00", NULL),
    S("Ogg undefined flag", "OggS\x00\x0a\x00\x00\x00\x00\x00\x00", NULL),
    S("Ogg cut after the version", "OggS\x00", NULL),
    S("fLaC alone", "fLaC", NULL),
    S("FLAC without STREAMINFO first", "fLaC\x04\x00\x00\x22\x00\x00", NULL),
    S("FLAC STREAMINFO of a wrong length", "fLaC\x00\x00\x00\x20\x00\x00",
      NULL),
    S("flac in lower case", "flac\x00\x00\x00\x22\x00\x00", NULL),
};


static void
test_audio_misses(void)
{
    size_t       i;
    const char  *d;

    for (i = 0; i < sizeof(audio_misses) / sizeof(audio_misses[0]); i++) {
        d = pe_sniff_detect((const unsigned char *) audio_misses[i].bytes,
                            audio_misses[i].len);
        ok(d == NULL, "%s is nothing we know (%s)", audio_misses[i].name,
           d ? d : "none");
    }
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

    /* audio: each declared type and its aliases, and its neighbours */
    is_int(check("audio/mpeg", samples[16].bytes, samples[16].len, 1),
           PE_SNIFF_MATCH, "ID3 MP3 as audio/mpeg");
    is_int(check("audio/mp3", samples[18].bytes, samples[18].len, 1),
           PE_SNIFF_MATCH, "MP3 frame as audio/mp3");
    is_int(check("audio/mpeg", samples[20].bytes, samples[20].len, 1),
           PE_SNIFF_MATCH, "MP2 frame as audio/mpeg");
    is_int(check("audio/wav", samples[16].bytes, samples[16].len, 1),
           PE_SNIFF_MISMATCH, "an MP3 declared audio/wav");
    is_int(check("audio/wav", samples[23].bytes, samples[23].len, 1),
           PE_SNIFF_MATCH, "WAV as audio/wav");
    is_int(check("audio/x-wav", samples[24].bytes, samples[24].len, 1),
           PE_SNIFF_MATCH, "RF64 WAV as audio/x-wav");
    is_int(check("audio/wave", samples[23].bytes, samples[23].len, 1),
           PE_SNIFF_MATCH, "WAV as audio/wave");
    is_int(check("image/webp", samples[23].bytes, samples[23].len, 1),
           PE_SNIFF_MISMATCH, "WAV declared image/webp");
    is_int(check("audio/wav", samples[5].bytes, samples[5].len, 1),
           PE_SNIFF_MISMATCH, "WebP declared audio/wav");
    is_int(check("audio/ogg", samples[27].bytes, samples[27].len, 1),
           PE_SNIFF_MATCH, "Ogg Vorbis as audio/ogg");
    is_int(check("audio/ogg", samples[28].bytes, samples[28].len, 1),
           PE_SNIFF_MATCH, "Ogg Opus as audio/ogg");
    is_int(check("audio/flac", samples[27].bytes, samples[27].len, 1),
           PE_SNIFF_MISMATCH, "Ogg declared audio/flac");
    is_int(check("audio/flac", samples[29].bytes, samples[29].len, 1),
           PE_SNIFF_MATCH, "FLAC as audio/flac");
    is_int(check("audio/x-flac", samples[30].bytes, samples[30].len, 1),
           PE_SNIFF_MATCH, "FLAC as audio/x-flac");
    is_int(check("audio/mpeg", samples[2].bytes, samples[2].len, 1),
           PE_SNIFF_MISMATCH, "a PNG declared audio/mpeg");
    is_int(check("audio/mpeg", samples[0].bytes, samples[0].len, 1),
           PE_SNIFF_MISMATCH, "a JPEG (0xff 0xd8) is no MPEG frame");
    is_int(check("audio/mpeg", "\xff\xf1\x50\x40\x21\x3f", 6, 1),
           PE_SNIFF_MISMATCH, "ADTS AAC declared audio/mpeg");
    is_int(check("audio/mpeg", samples[18].bytes, 3, 0), PE_SNIFF_NEED_MORE,
           "3 bytes of a longer MP3: wait for more");
    is_int(check("audio/mpeg", samples[18].bytes, 3, 1), PE_SNIFF_MISMATCH,
           "a 3-byte complete file is no MP3");

    /* WebM is one container for audio and video */
    is_int(check("audio/webm", samples[14].bytes, samples[14].len, 1),
           PE_SNIFF_MATCH, "WebM as audio/webm");
    is_int(check("audio/webm", samples[15].bytes, samples[15].len, 1),
           PE_SNIFF_MISMATCH, "Matroska declared audio/webm");
    is_int(check("audio/webm", "\x1a\x45\xdf\xa3\x9f\x42\x86", 7, 1),
           PE_SNIFF_MATCH, "EBML without a DocType passes as audio/webm");
    is_int(check("audio/ogg", samples[14].bytes, samples[14].len, 1),
           PE_SNIFF_MISMATCH, "WebM declared audio/ogg");

    /* ISO BMFF: M4A is audio/mp4, and audio/mp4 takes any MP4 */
    is_int(check("audio/mp4", samples[25].bytes, samples[25].len, 1),
           PE_SNIFF_MATCH, "M4A as audio/mp4");
    is_int(check("audio/x-m4a", samples[26].bytes, samples[26].len, 1),
           PE_SNIFF_MATCH, "M4B as audio/x-m4a");
    is_int(check("audio/mp4", samples[10].bytes, samples[10].len, 1),
           PE_SNIFF_MATCH, "an isom MP4 as audio/mp4");
    is_int(check("audio/x-m4a", samples[11].bytes, samples[11].len, 1),
           PE_SNIFF_MATCH, "an mp42 MP4 as audio/x-m4a");
    is_int(check("video/mp4", samples[25].bytes, samples[25].len, 1),
           PE_SNIFF_MISMATCH, "an M4A declared video/mp4");
    is_int(check("audio/mp4", samples[6].bytes, samples[6].len, 1),
           PE_SNIFF_MISMATCH, "HEIC declared audio/mp4");
    is_int(check("audio/mp4", samples[12].bytes, samples[12].len, 1),
           PE_SNIFF_MISMATCH, "MOV declared audio/mp4");
    is_int(check("audio/mp4", samples[8].bytes, samples[8].len, 1),
           PE_SNIFF_MISMATCH, "AVIF declared audio/mp4");
    is_str(pe_sniff_detect((const unsigned char *)
                           "\x00\x00\x00\x1c" "ftypmp42\x00\x00\x00\x00"
                           "mp42isomM4A ", 28),
           "video/mp4", "M4A only among the compatible brands stays an MP4");
    ok(pe_sniff_known("audio/mpeg", 10), "audio/mpeg is sniffable");
    ok(!pe_sniff_known("audio/aac", 9), "audio/aac is not");

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
               == PE_SNIFF_NEED_MORE
            || pe_sniff_check("audio/mpeg", 10, buf, n, 1)
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
    test_audio_misses();
    test_check();
    test_hostile();

    return done_testing();
}
