
/*
 * privacy-edge: media signatures.
 *
 * Each family is recognised by its container's own header: the JPEG SOI
 * marker, the PNG and GIF signatures, a RIFF/WEBP header, an ISO BMFF
 * "ftyp" box whose brands tell HEIF, AVIF, QuickTime, MP4 and M4A apart,
 * an EBML header whose DocType tells WebM from Matroska, and for audio an
 * ID3v2 tag or an MPEG audio frame header, RIFF/WAVE, an Ogg page and the
 * FLAC stream marker.
 *
 * Every signature is read at offset 0 and within the first PE_SNIFF_BYTES,
 * so the families cannot overlap: detection has one answer per file.
 */

#include "pe_sniff.h"

#include <string.h>


typedef enum {
    PE_FAM_NONE = 0,
    PE_FAM_JPEG,
    PE_FAM_PNG,
    PE_FAM_GIF,
    PE_FAM_WEBP,
    PE_FAM_HEIF,
    PE_FAM_AVIF,
    PE_FAM_MP4,
    PE_FAM_MOV,
    PE_FAM_WEBM,
    PE_FAM_MKV,
    PE_FAM_EBML,        /* Matroska or WebM: the DocType was not seen */
    PE_FAM_M4A,         /* ISO BMFF whose major brand says audio only */
    PE_FAM_MPEG_AUDIO,
    PE_FAM_WAV,
    PE_FAM_OGG,
    PE_FAM_FLAC
} pe_family_e;


typedef struct {
    const char   *type;
    pe_family_e   family;
} pe_type_family_t;


/* declared types, aliases included, and the family each must show */
static const pe_type_family_t  pe_types[] = {
    { "image/jpeg", PE_FAM_JPEG },
    { "image/jpg", PE_FAM_JPEG },
    { "image/pjpeg", PE_FAM_JPEG },
    { "image/png", PE_FAM_PNG },
    { "image/apng", PE_FAM_PNG },
    { "image/gif", PE_FAM_GIF },
    { "image/webp", PE_FAM_WEBP },
    { "image/heic", PE_FAM_HEIF },
    { "image/heif", PE_FAM_HEIF },
    { "image/heic-sequence", PE_FAM_HEIF },
    { "image/heif-sequence", PE_FAM_HEIF },
    { "image/avif", PE_FAM_AVIF },
    { "video/mp4", PE_FAM_MP4 },
    { "video/x-m4v", PE_FAM_MP4 },
    { "video/3gpp", PE_FAM_MP4 },
    { "video/quicktime", PE_FAM_MOV },
    { "video/webm", PE_FAM_WEBM },
    { "video/x-matroska", PE_FAM_MKV },
    { "audio/mpeg", PE_FAM_MPEG_AUDIO },
    { "audio/mp3", PE_FAM_MPEG_AUDIO },
    { "audio/wav", PE_FAM_WAV },
    { "audio/x-wav", PE_FAM_WAV },
    { "audio/wave", PE_FAM_WAV },
    /* an M4A, or any MP4 file: see pe_sniff_check() */
    { "audio/mp4", PE_FAM_M4A },
    { "audio/x-m4a", PE_FAM_M4A },
    { "audio/ogg", PE_FAM_OGG },
    /* the WebM container holds audio-only files too: one family */
    { "audio/webm", PE_FAM_WEBM },
    { "audio/flac", PE_FAM_FLAC },
    { "audio/x-flac", PE_FAM_FLAC },
    { NULL, PE_FAM_NONE }
};


static const char  *pe_family_type[] = {
    NULL, "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "image/avif", "video/mp4", "video/quicktime", "video/webm",
    "video/x-matroska", "video/x-matroska", "audio/mp4", "audio/mpeg",
    "audio/wav", "audio/ogg", "audio/flac"
};


static int
pe_has(const unsigned char *p, size_t n, size_t off, const char *s,
    size_t len)
{
    return n >= off + len && memcmp(p + off, s, len) == 0;
}


static int
pe_brand_in(const unsigned char *b, const char *const *list)
{
    for ( /* void */ ; *list; list++) {
        if (memcmp(b, *list, 4) == 0) {
            return 1;
        }
    }

    return 0;
}


static pe_family_e
pe_sniff_ftyp(const unsigned char *p, size_t n)
{
    size_t                    box, off, end;
    int                       heif;
    static const char *const  heif_brands[] = {
        "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs",
        "mif1", "msf1", NULL
    };
    static const char *const  avif_brands[] = { "avif", "avis", NULL };
    static const char *const  qt_brands[] = { "qt  ", NULL };
    static const char *const  m4a_brands[] = {
        "M4A ", "M4B ", "M4P ", NULL
    };

    box = ((size_t) p[0] << 24) | ((size_t) p[1] << 16)
          | ((size_t) p[2] << 8) | p[3];

    if (box < 16 || n < 12) {
        return PE_FAM_NONE;
    }

    /* major brand at 8, minor version at 12, compatible brands from 16 */

    end = box < n ? box : n;
    heif = 0;

    for (off = 8; off + 4 <= end; off += 4) {
        if (off == 12) {
            continue;
        }

        if (pe_brand_in(p + off, avif_brands)) {
            return PE_FAM_AVIF;
        }

        if (pe_brand_in(p + off, heif_brands)) {
            heif = 1;
        }
    }

    if (heif) {
        return PE_FAM_HEIF;
    }

    if (pe_brand_in(p + 8, qt_brands)) {
        return PE_FAM_MOV;
    }

    /*
     * Apple's audio brands, as the major brand only: it is what the file
     * says it is first.  An "M4A " among the compatible brands of an
     * "isom" or "mp42" file stays an MP4, as detection always said, and
     * the tracks that would tell audio from video lie beyond any window.
     */
    if (pe_brand_in(p + 8, m4a_brands)) {
        return PE_FAM_M4A;
    }

    return PE_FAM_MP4;
}


/*
 * An ID3v2 tag header: "ID3", version 2.2 to 2.4, a revision that is not
 * 0xff, no undefined flag bits, a size of four 7-bit ("syncsafe") bytes.
 * The MP3 frames follow the tag, beyond the window; a tag is taken for
 * MPEG audio, as every sniffer does.
 */

static int
pe_sniff_id3(const unsigned char *p, size_t n)
{
    return pe_has(p, n, 0, "ID3", 3) && n >= 10
           && p[3] >= 2 && p[3] <= 4 && p[4] != 0xff && (p[5] & 0x0f) == 0
           && ((p[6] | p[7] | p[8] | p[9]) & 0x80) == 0;
}


/*
 * An MPEG audio frame header (MPEG-1, 2 and 2.5, layers I to III): an
 * 11-bit sync and no reserved value among version, layer, bitrate,
 * sample rate and emphasis.  The layer check also keeps out ADTS AAC,
 * whose sync looks the same but whose layer bits are always 00.  Free
 * format (bitrate index 0) is refused: no common encoder writes it, and
 * it would let more random bytes through.  0xff 0xfe is a UTF-16 byte
 * order mark far more often than MPEG-1 layer I with a CRC.
 */

static int
pe_sniff_mpeg_frame(const unsigned char *p, size_t n)
{
    if (n < 4 || p[0] != 0xff || (p[1] & 0xe0) != 0xe0) {
        return 0;
    }

    if (((p[1] >> 3) & 0x03) == 0x01      /* version: reserved */
        || ((p[1] >> 1) & 0x03) == 0x00   /* layer: reserved */
        || (p[2] >> 4) == 0x0f            /* bitrate: bad */
        || (p[2] >> 4) == 0x00            /* bitrate: free format */
        || ((p[2] >> 2) & 0x03) == 0x03   /* sample rate: reserved */
        || (p[3] & 0x03) == 0x02)         /* emphasis: reserved */
    {
        return 0;
    }

    return p[1] != 0xfe;
}


static pe_family_e
pe_sniff_family(const unsigned char *p, size_t n)
{
    size_t  i;

    if (pe_has(p, n, 0, "\xff\xd8\xff", 3)) {
        return PE_FAM_JPEG;
    }

    if (pe_has(p, n, 0, "\x89PNG\r\n\x1a\n", 8)) {
        return PE_FAM_PNG;
    }

    if (pe_has(p, n, 0, "GIF87a", 6) || pe_has(p, n, 0, "GIF89a", 6)) {
        return PE_FAM_GIF;
    }

    if (pe_has(p, n, 0, "RIFF", 4) && pe_has(p, n, 8, "WEBP", 4)) {
        return PE_FAM_WEBP;
    }

    if (pe_has(p, n, 4, "ftyp", 4)) {
        return pe_sniff_ftyp(p, n);
    }

    /* QuickTime files older than ftyp start with one of these atoms */
    if (pe_has(p, n, 4, "moov", 4) || pe_has(p, n, 4, "mdat", 4)
        || pe_has(p, n, 4, "wide", 4) || pe_has(p, n, 4, "pnot", 4))
    {
        return PE_FAM_MOV;
    }

    if (pe_has(p, n, 0, "\x1a\x45\xdf\xa3", 4)) {
        /* EBML: the DocType element (0x4282) names the flavour */
        for (i = 4; i + 3 < n; i++) {
            if (p[i] == 0x42 && p[i + 1] == 0x82) {
                if (pe_has(p, n, i + 3, "webm", 4)) {
                    return PE_FAM_WEBM;
                }

                if (pe_has(p, n, i + 3, "matroska", 8)) {
                    return PE_FAM_MKV;
                }
            }
        }

        return PE_FAM_EBML;
    }

    if (pe_sniff_id3(p, n) || pe_sniff_mpeg_frame(p, n)) {
        return PE_FAM_MPEG_AUDIO;
    }

    /* RF64 is the same WAVE for files over 4 GB */
    if ((pe_has(p, n, 0, "RIFF", 4) || pe_has(p, n, 0, "RF64", 4))
        && pe_has(p, n, 8, "WAVE", 4))
    {
        return PE_FAM_WAV;
    }

    /*
     * An Ogg page of stream structure version 0 that begins a logical
     * stream: a file starts with one, so the flags are "first page",
     * perhaps "last page" too, never "continued" or undefined bits.  The
     * codec (Vorbis, Opus, FLAC) is not judged.
     */
    if (pe_has(p, n, 0, "OggS\0", 5) && n >= 6 && (p[5] & 0xfb) == 0x02) {
        return PE_FAM_OGG;
    }

    /* the marker, then STREAMINFO: the first block, type 0, 34 bytes */
    if (pe_has(p, n, 0, "fLaC", 4) && pe_has(p, n, 5, "\0\0\x22", 3)
        && (p[4] & 0x7f) == 0)
    {
        return PE_FAM_FLAC;
    }

    return PE_FAM_NONE;
}


static pe_family_e
pe_type_family(const char *type, size_t len)
{
    const pe_type_family_t  *t;

    for (t = pe_types; t->type; t++) {
        if (strlen(t->type) == len && memcmp(t->type, type, len) == 0) {
            return t->family;
        }
    }

    return PE_FAM_NONE;
}


const char *
pe_sniff_detect(const unsigned char *p, size_t n)
{
    return pe_family_type[pe_sniff_family(p, n)];
}


int
pe_sniff_known(const char *type, size_t type_len)
{
    return pe_type_family(type, type_len) != PE_FAM_NONE;
}


pe_sniff_rc_e
pe_sniff_check(const char *type, size_t type_len, const unsigned char *p,
    size_t n, int complete)
{
    pe_family_e  want, got;

    want = pe_type_family(type, type_len);

    if (want == PE_FAM_NONE) {
        return PE_SNIFF_UNKNOWN_TYPE;
    }

    if (n < PE_SNIFF_BYTES && !complete) {
        return PE_SNIFF_NEED_MORE;
    }

    got = pe_sniff_family(p, n);

    if (got == PE_FAM_EBML && (want == PE_FAM_WEBM || want == PE_FAM_MKV)) {
        return PE_SNIFF_MATCH;
    }

    /*
     * audio/mp4 is any MP4 file: audio-only files are as often "isom" or
     * "mp42" as "M4A ", and what tracks it holds is past the window.  The
     * other way round, an "M4A " file says it holds no video: it is no
     * video/mp4.
     */
    if (want == PE_FAM_M4A && got == PE_FAM_MP4) {
        return PE_SNIFF_MATCH;
    }

    return got == want ? PE_SNIFF_MATCH : PE_SNIFF_MISMATCH;
}
