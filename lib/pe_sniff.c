
/*
 * privacy-edge: media signatures.
 *
 * Each family is recognised by its container's own header: the JPEG SOI
 * marker, the PNG and GIF signatures, a RIFF/WEBP header, an ISO BMFF
 * "ftyp" box whose brands tell HEIF, AVIF, QuickTime and MP4 apart, and
 * an EBML header whose DocType tells WebM from Matroska.
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
    PE_FAM_EBML         /* Matroska or WebM: the DocType was not seen */
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
    { NULL, PE_FAM_NONE }
};


static const char  *pe_family_type[] = {
    NULL, "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "image/avif", "video/mp4", "video/quicktime", "video/webm",
    "video/x-matroska", "video/x-matroska"
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

    return PE_FAM_MP4;
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

    return got == want ? PE_SNIFF_MATCH : PE_SNIFF_MISMATCH;
}
