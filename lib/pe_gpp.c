
/*
 * privacy-edge: IAB Global Privacy Platform strings.
 *
 * "header~section~section...": the header lists the section ids, one per
 * '~'-separated section, in order.  A section is base64url, its segments
 * separated by '.'.  Layouts and padding follow the IAB's reference
 * library, @iabgpp/cmpapi 3.2 (lib/mjs/encoder): that is what CMPs run.
 *
 * Decisions beyond the library, which reads leniently:
 *
 *   - a segment's bits may be followed by zero bits, up to as many as the
 *     library's encoder pads with (to a whole byte, then to a whole
 *     character; TC string segments: to 24 bits), and by nothing else; a
 *     truncated one is malformed;
 *   - a known section in a version we do not know expresses nothing, as
 *     an unknown section does (section 2 excepted: it is a TC string, and
 *     the TCF reader refuses what is not TCF v2.2);
 *   - a section is only read when its id is applicable; the others just
 *     have to be there, non-empty, in the string's alphabet;
 *   - a US section may have the one subsection the library knows for it,
 *     no more; a GPC subsection must say it is one (type 1);
 *   - an opt-out field read for the verdict must hold 0, 1 or 2, and a
 *     uspv1 "1" must be followed by three of 'Y', 'N' and '-';
 *   - section ids above 2^32 - 1, and empty segments, are malformed.
 */

#include "pe_gpp.h"
#include "pe_tcf.h"
#include "pe_jws.h"

#include <string.h>


#define PE_GPP_REFUSABLE  (PE_CAT_BUILTIN & ~PE_CAT_NECESSARY)

/* the US sections: uspv1, usnat and the states */
#define PE_GPP_US         (((uint64_t) 1 << (PE_GPP_USRI + 1))              \
                           - PE_GPP_SID(PE_GPP_USPV1))

/* section ids above this are refused: they keep the arithmetic in 64 bits,
 * and no registry comes near */
#define PE_GPP_ID_MAX     0xffffffffu

/* Fibonacci codes of more data bits than this exceed PE_GPP_ID_MAX */
#define PE_GPP_FIB_BITS   46


/* ---------------------------------------------------------------------- */
/* bits of a run of base64url characters, checked before                  */

static unsigned
pe_gpp_bit(const unsigned char *s, size_t i)
{
    return ((unsigned) pe_base64url_value(s[i / 6]) >> (5 - i % 6)) & 1;
}


/* k <= 32 bits from pos on; the caller knows they are there */
static uint32_t
pe_gpp_uint(const unsigned char *s, size_t pos, unsigned k)
{
    uint32_t  v;

    for (v = 0; k; k--) {
        v = (v << 1) | pe_gpp_bit(s, pos++);
    }

    return v;
}


/*
 * A segment of len characters holding a bit string of "bits" bits: the
 * library pads with zero bits to a whole byte, then to a whole character;
 * accept that, or less, in zero bits.
 */
static int
pe_gpp_padded(const unsigned char *s, size_t len, size_t bits)
{
    size_t  i, max;

    max = ((bits + 7) / 8 * 8 + 5) / 6 * 6;

    if (len * 6 < bits || len * 6 > max) {
        return -1;
    }

    for (i = bits; i < len * 6; i++) {
        if (pe_gpp_bit(s, i)) {
            return -1;
        }
    }

    return 0;
}


/* ---------------------------------------------------------------------- */
/* the header: Type 6, Version 6, SectionIds as a Fibonacci integer range */

typedef struct {
    const unsigned char  *s;
    size_t                bits;
    size_t                pos;
    unsigned              entries;      /* range entries not read yet */
    uint64_t              next;         /* ids next..last handed out next */
    uint64_t              last;
    uint64_t              offset;       /* each value is a delta from it */
} pe_gpp_ids_t;


/*
 * A Fibonacci code: bit i (first bit first) adds the i-th of 1, 2, 3, 5,
 * 8..., and "11" ends it.  Every code is at least 1, so the ids the
 * deltas make are strictly increasing by construction.
 */
static int
pe_gpp_fib(pe_gpp_ids_t *it, uint64_t *value)
{
    unsigned  i, bit, prev;
    uint64_t  f0, f1, f, v;

    f0 = 1;
    f1 = 2;
    v = 0;
    prev = 0;

    for (i = 0; it->pos < it->bits; i++) {
        bit = pe_gpp_bit(it->s, it->pos++);

        if (bit && prev) {
            *value = v;
            return 0;
        }

        if (i == PE_GPP_FIB_BITS) {
            return -1;
        }

        if (bit) {
            v += f0;
        }

        prev = bit;
        f = f0 + f1;
        f0 = f1;
        f1 = f;
    }

    return -1;
}


static int
pe_gpp_header(const unsigned char *s, size_t len, pe_gpp_ids_t *it)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            return -1;
        }
    }

    if (len * 6 < 24
        || pe_gpp_uint(s, 0, 6) != 3           /* Type: the header */
        || pe_gpp_uint(s, 6, 6) != 1)          /* Version */
    {
        return -1;
    }

    it->s = s;
    it->bits = len * 6;
    it->pos = 24;
    it->entries = pe_gpp_uint(s, 12, 12);
    it->next = 1;
    it->last = 0;
    it->offset = 0;

    return 0;
}


/* the header's next section id: 1, 0 when there is none, -1 if broken */
static int
pe_gpp_next_id(pe_gpp_ids_t *it, uint64_t *id)
{
    unsigned  range;
    uint64_t  start, end, v;

    if (it->next <= it->last) {
        *id = it->next++;
        return 1;
    }

    if (it->entries == 0) {
        return 0;
    }

    it->entries--;

    if (it->pos == it->bits) {
        return -1;
    }

    range = pe_gpp_bit(it->s, it->pos++);

    if (pe_gpp_fib(it, &v) != 0) {
        return -1;
    }

    start = it->offset + v;
    end = start;

    if (range) {
        if (pe_gpp_fib(it, &v) != 0) {
            return -1;
        }

        end = start + v;
    }

    if (end > PE_GPP_ID_MAX) {
        return -1;
    }

    it->offset = end;
    it->next = start + 1;
    it->last = end;
    *id = start;

    return 1;
}


/* ---------------------------------------------------------------------- */
/* sections                                                               */

typedef enum {
    PE_GPP_SUB_NONE = 0,
    PE_GPP_SUB_GPC,             /* SubsectionType 2 (= 1), Gpc 1 */
    PE_GPP_SUB_SDC              /* SensitiveDataProcessing 16, no type */
} pe_gpp_sub_e;


/*
 * The core segments of the US sections, from the library's field lists
 * (field/Us*Field.js, segment/Us*CoreSegment.js): the length, and the
 * offsets of the 2-bit SaleOptOut, SharingOptOut and
 * TargetedAdvertisingOptOut fields (0: the state has none).  The first 6
 * bits are the version ("MspaVersion" in md, in, ky and ri).
 *
 * usnat v1 is v2 without the last 4 SensitiveDataProcessing entries and
 * the last KnownChildSensitiveDataConsents entry.  The library picks the
 * layout by length, not by version (UsNatCoreSegment.decodeSegment), as
 * CMPs wrote version 1 in the longer one: so a version 1 may have either
 * (the opt-out fields sit at the same offsets), a version 2 only its own,
 * or a cut version 2 would pass for a version 1.
 */
static const struct {
    unsigned char  id;
    unsigned char  version;
    unsigned char  bits;
    unsigned char  opt_out[3];
    unsigned char  sub;
} pe_gpp_us[] = {
    {  7, 1, 60, { 18, 20, 22 }, PE_GPP_SUB_GPC },    /* usnat */
    {  7, 2, 70, { 18, 20, 22 }, PE_GPP_SUB_GPC },
    {  8, 1, 46, { 12, 14,  0 }, PE_GPP_SUB_GPC },    /* usca */
    {  9, 1, 40, { 12,  0, 14 }, PE_GPP_SUB_NONE },   /* usva */
    { 10, 1, 38, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usco */
    { 11, 1, 42, { 14,  0, 16 }, PE_GPP_SUB_NONE },   /* usut */
    { 12, 1, 44, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usct */
    { 13, 1, 46, { 12,  0, 14 }, PE_GPP_SUB_NONE },   /* usfl */
    { 14, 1, 46, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usmt */
    { 15, 1, 52, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usor */
    { 16, 1, 42, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* ustx */
    { 17, 1, 52, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usde */
    { 18, 1, 42, { 14,  0, 16 }, PE_GPP_SUB_GPC },    /* usia */
    { 19, 1, 42, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usne */
    { 20, 1, 46, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usnh */
    { 21, 1, 54, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usnj */
    { 22, 1, 42, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* ustn */
    { 23, 1, 42, { 12,  0, 14 }, PE_GPP_SUB_GPC },    /* usmn */
    { 24, 1, 22, { 16,  0, 18 }, PE_GPP_SUB_GPC },    /* usmd */
    { 25, 1, 24, { 16,  0, 18 }, PE_GPP_SUB_SDC },    /* usin */
    { 26, 1, 24, { 16,  0, 18 }, PE_GPP_SUB_SDC },    /* usky */
    { 27, 1, 24, { 16,  0, 18 }, PE_GPP_SUB_SDC },    /* usri */
};


static int
pe_gpp_state(const unsigned char *s, size_t len, size_t core, unsigned id,
    pe_gpp_t *g)
{
    size_t                i, bits, sublen;
    unsigned              version, v, opted, gpc;
    const unsigned char  *sub;

    version = pe_gpp_uint(s, 0, 6);

    for (i = 0; i < sizeof(pe_gpp_us) / sizeof(pe_gpp_us[0]); i++) {
        if (pe_gpp_us[i].id == id && pe_gpp_us[i].version == version) {
            break;
        }
    }

    if (i == sizeof(pe_gpp_us) / sizeof(pe_gpp_us[0])) {
        return 0;                   /* a version we cannot read */
    }

    bits = pe_gpp_us[i].bits;

    if (id == PE_GPP_USNAT && version == 1 && core * 6 > 66) {
        bits = 70;
    }

    if (pe_gpp_padded(s, core, bits) != 0) {
        return -1;
    }

    opted = 0;

    for (v = 0; v < 3; v++) {
        if (pe_gpp_us[i].opt_out[v] == 0) {
            continue;
        }

        /* 0 not applicable, 1 opted out, 2 did not opt out */
        switch (pe_gpp_uint(s, pe_gpp_us[i].opt_out[v], 2)) {
        case 1:
            opted = 1;
            break;
        case 3:
            return -1;
        }
    }

    gpc = 0;

    if (core < len) {
        sub = s + core + 1;
        sublen = len - core - 1;

        if (memchr(sub, '.', sublen) != NULL) {
            return -1;              /* a second subsection */
        }

        switch (pe_gpp_us[i].sub) {

        case PE_GPP_SUB_GPC:
            if (pe_gpp_padded(sub, sublen, 3) != 0
                || pe_gpp_uint(sub, 0, 2) != 1)
            {
                return -1;
            }

            gpc = pe_gpp_bit(sub, 2);
            break;

        case PE_GPP_SUB_SDC:
            /* sensitive data consents: nothing about marketing */
            if (pe_gpp_padded(sub, sublen, 16) != 0) {
                return -1;
            }
            break;

        default:
            return -1;
        }
    }

    g->read |= PE_GPP_SID(id);

    if (opted) {
        g->opt_out |= PE_GPP_SID(id);
    }

    if (gpc) {
        g->gpc |= PE_GPP_SID(id);
    }

    return 0;
}


/* US Privacy "1YNN": Version, Notice, OptOutSale, LspaCovered */
static int
pe_gpp_uspv1(const unsigned char *s, size_t len, pe_gpp_t *g)
{
    size_t  i;

    if (s[0] != '1') {
        return 0;                   /* a version we cannot read */
    }

    if (len != 4) {
        return -1;
    }

    for (i = 1; i < 4; i++) {
        if (s[i] != 'Y' && s[i] != 'N' && s[i] != '-') {
            return -1;
        }
    }

    g->read |= PE_GPP_SID(PE_GPP_USPV1);

    if (s[2] == 'Y') {
        g->opt_out |= PE_GPP_SID(PE_GPP_USPV1);
    }

    return 0;
}


/*
 * A TC string segment after the core: disclosed vendors (1), allowed
 * vendors (2) or publisher TC (3), each opening with its type in 3 bits.
 * The TCF reader does not look at them; here they must be whole, with
 * the core's padding rule (pe_tcf_decode()): zero bits up to the next
 * 24-bit boundary at most, as both IAB encoders pad to.
 */
static int
pe_gpp_tcf_segment(const unsigned char *s, size_t len)
{
    size_t    i, bits, pos;
    uint32_t  type, entries, range, start;

    bits = len * 6;

    if (bits < 3) {
        return -1;
    }

    type = pe_gpp_uint(s, 0, 3);
    pos = 3;

#define PE_GPP_NEED(k)                                                       \
    if (pos + (k) > bits) {                                                  \
        return -1;                                                           \
    }

    if (type == 1 || type == 2) {
        /* MaxVendorId 16, IsRangeEncoding 1, then bits or ranges */
        PE_GPP_NEED(17);
        range = pe_gpp_bit(s, pos + 16);
        entries = pe_gpp_uint(s, pos, 16);
        pos += 17;

        if (range == 0) {
            PE_GPP_NEED(entries);
            pos += entries;

        } else {
            PE_GPP_NEED(12);
            entries = pe_gpp_uint(s, pos, 12);
            pos += 12;

            while (entries--) {
                PE_GPP_NEED(17);
                range = pe_gpp_bit(s, pos);
                start = pe_gpp_uint(s, pos + 1, 16);
                pos += 17;

                if (range) {
                    PE_GPP_NEED(16);
                    if (pe_gpp_uint(s, pos, 16) < start) {
                        return -1;
                    }
                    pos += 16;
                }
            }
        }

    } else if (type == 3) {
        /* 24 + 24 purpose bits, NumCustomPurposes 6, 2 bits a custom */
        PE_GPP_NEED(54);
        entries = pe_gpp_uint(s, pos + 48, 6);
        pos += 54;
        PE_GPP_NEED(2 * entries);
        pos += 2 * entries;

    } else {
        return -1;
    }

#undef PE_GPP_NEED

    if (bits > (pos + 23) / 24 * 24) {
        return -1;
    }

    for (i = pos; i < bits; i++) {
        if (pe_gpp_bit(s, i)) {
            return -1;
        }
    }

    return 0;
}


/* TCF EU v2: a TC string, "core.disclosedvendors.publishertc" */
static int
pe_gpp_tcf(const unsigned char *s, size_t len, pe_gpp_t *g)
{
    size_t        i, start;
    pe_tcf_t      tc;
    pe_consent_t  c;

    /* whole, or malformed; policy is pe_tcf_consent()'s to judge */
    if (pe_tcf_decode(s, len, &tc) != 0) {
        return -1;
    }

    for (i = 0; i < len && s[i] != '.'; i++) {
        /* void */
    }

    /* the other segments; none is empty (pe_gpp_section() checked) */
    while (i < len) {
        start = ++i;

        while (i < len && s[i] != '.') {
            i++;
        }

        if (pe_gpp_tcf_segment(s + start, i - start) != 0) {
            return -1;
        }
    }

    (void) pe_tcf_consent(s, len, &c);

    g->read |= PE_GPP_SID(PE_GPP_TCFEUV2);
    g->tcf.granted = (c.granted & PE_CAT_BUILTIN) | PE_CAT_NECESSARY;
    g->tcf.refused = c.refused & PE_GPP_REFUSABLE;

    return 0;
}


static int
pe_gpp_section(const unsigned char *s, size_t len, uint64_t id,
    pe_gpp_t *g)
{
    size_t  i, core;

    /* no empty segment: not first, not last, not between two dots */
    if (s[0] == '.' || s[len - 1] == '.') {
        return -1;
    }

    core = len;

    for (i = 1; i < len; i++) {
        if (s[i] == '.') {
            if (s[i - 1] == '.') {
                return -1;
            }

            if (core == len) {
                core = i;
            }
        }
    }

    if (id == PE_GPP_TCFEUV2) {
        return pe_gpp_tcf(s, len, g);
    }

    if (id == PE_GPP_USPV1) {
        return pe_gpp_uspv1(s, len, g);
    }

    if (id >= PE_GPP_USNAT && id <= PE_GPP_USRI) {
        return pe_gpp_state(s, len, core, (unsigned) id, g);
    }

    return 0;                       /* a section we do not know */
}


int
pe_gpp_decode(const unsigned char *s, size_t n, uint64_t applicable,
    pe_gpp_t *g)
{
    size_t        i, start, hlen;
    uint64_t      id;
    pe_gpp_ids_t  it;

    memset(g, 0, sizeof(pe_gpp_t));

    if (n == 0 || n > PE_CONSENT_MAX) {
        return -1;
    }

    /* the alphabet: base64url, '~' between sections, '.' in them */
    for (i = 0; i < n; i++) {
        if (s[i] != '~' && s[i] != '.' && pe_base64url_value(s[i]) < 0) {
            return -1;
        }
    }

    for (hlen = 0; hlen < n && s[hlen] != '~'; hlen++) {
        /* void */
    }

    if (pe_gpp_header(s, hlen, &it) != 0) {
        return -1;
    }

    /* one id from the header per section: at most n / 2 of them */
    for (start = hlen; start < n; start = i) {
        start++;                    /* the '~' */

        for (i = start; i < n && s[i] != '~'; i++) {
            /* void */
        }

        if (i == start || pe_gpp_next_id(&it, &id) != 1) {
            return -1;
        }

        g->count++;

        if (id < 64) {
            g->sections |= PE_GPP_SID(id);

            if ((applicable & PE_GPP_SID(id))
                && pe_gpp_section(s + start, i - start, id, g) != 0)
            {
                return -1;
            }
        }
    }

    /* as many ids as sections, and after them only padding */
    if (pe_gpp_next_id(&it, &id) != 0
        || pe_gpp_padded(s, hlen, it.pos) != 0)
    {
        return -1;
    }

    return 0;
}


int
pe_gpp_consent(const unsigned char *s, size_t n, uint64_t applicable,
    pe_consent_t *out)
{
    uint32_t  granted, refused;
    pe_gpp_t  g;

    if (pe_gpp_decode(s, n, applicable, &g) != 0) {
        out->granted = PE_CAT_NECESSARY;
        out->refused = PE_GPP_REFUSABLE;
        return -1;
    }

    granted = 0;
    refused = 0;

    if (g.read & PE_GPP_SID(PE_GPP_TCFEUV2)) {
        granted = g.tcf.granted;
        refused = g.tcf.refused;
    }

    /* a US section only ever says no, and only to marketing */
    if ((g.opt_out | g.gpc) & g.read & PE_GPP_US) {
        refused |= PE_CAT_MARKETING;
    }

    out->refused = refused & PE_GPP_REFUSABLE;
    out->granted = ((granted & ~refused) & PE_CAT_BUILTIN) | PE_CAT_NECESSARY;

    return 0;
}


int
pe_gpp_sid(const unsigned char *s, size_t n, uint64_t *mask)
{
    size_t    i, digits;
    unsigned  v;
    uint64_t  m;

    *mask = 0;

    if (n == 0 || n > PE_CONSENT_MAX) {
        return -1;
    }

    /* the CMP API's applicableSections [-1]: no section applies */
    if (n == 2 && s[0] == '-' && s[1] == '1') {
        return 0;
    }

    m = 0;
    i = 0;

    for ( ;; ) {
        v = 0;

        for (digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; digits++) {
            v = v * 10 + (s[i++] - '0');

            if (v > 63) {
                return -1;
            }
        }

        if (digits == 0 || v == 0) {
            return -1;
        }

        m |= PE_GPP_SID(v);

        if (i == n) {
            break;
        }

        /* a separator, and then another id */
        if (s[i] == ',' || s[i] == '_') {
            i++;

        } else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2'
                   && (s[i + 2] | 0x20) == 'c')
        {
            i += 3;

        } else {
            return -1;
        }
    }

    *mask = m;

    return 0;
}
