
/*
 * privacy-edge: IAB TCF v2.2 TC strings.
 */

#include "pe_tcf.h"
#include "pe_jws.h"

#include <string.h>


static int
pe_tcf_fail(pe_consent_t *out)
{
    out->granted = PE_CAT_NECESSARY;
    out->refused = PE_CAT_BUILTIN & ~PE_CAT_NECESSARY;
    return -1;
}


/* ---------------------------------------------------------------------- */
/* IAB TCF v2: the core segment                                           */

typedef struct {
    unsigned char   bytes[PE_CONSENT_MAX * 3 / 4 + 3 + 9];
    size_t          bits;
    size_t          pos;
} pe_bits_t;


/* reads k bits (k <= 36) through one 64-bit window; -1 past the end */
static int64_t
pe_take(pe_bits_t *b, unsigned k)
{
    size_t    i, byte;
    uint64_t  w;

    if (b->pos + k > b->bits) {
        return -1;
    }

    /* bytes[] has 8 zero bytes of slack past the decoded ones */
    byte = b->pos >> 3;
    w = 0;

    for (i = 0; i < 8; i++) {
        w = (w << 8) | b->bytes[byte + i];
    }

    w <<= b->pos & 7;
    b->pos += k;

    return (int64_t) (w >> (64 - k));
}


/* a vendor section: a bit field or a list of ranges; -1 if cut short */
static int
pe_tcf_vendors(pe_bits_t *b, unsigned *max_out)
{
    int64_t  max, range, entries, is_range, start, end;

    max = pe_take(b, 16);
    range = pe_take(b, 1);

    if (max < 0 || range < 0) {
        return -1;
    }

    if (max_out) {
        *max_out = (unsigned) max;
    }

    if (range == 0) {
        if (b->pos + (size_t) max > b->bits) {
            return -1;
        }

        b->pos += (size_t) max;
        return 0;
    }

    entries = pe_take(b, 12);
    if (entries < 0) {
        return -1;
    }

    while (entries--) {
        is_range = pe_take(b, 1);
        start = pe_take(b, 16);

        if (is_range < 0 || start < 0) {
            return -1;
        }

        if (is_range) {
            end = pe_take(b, 16);
            if (end < 0 || end < start) {
                return -1;
            }
        }
    }

    return 0;
}


int
pe_tcf_decode(const unsigned char *s, size_t n, pe_tcf_t *tc)
{
    int         c;
    size_t      i, seg;
    unsigned    k;
    int64_t     v, restrictions, entries, is_range, start, end;
    pe_bits_t   b;

    memset(tc, 0, sizeof(pe_tcf_t));

    if (n > PE_CONSENT_MAX) {
        return -1;
    }

    for (seg = 0; seg < n && s[seg] != '.'; seg++) {
        /* void */
    }

    /* no memset of all 3 KiB: the bytes written, then 8 of zero slack */
    b.pos = 0;

    {
        unsigned  acc = 0, nacc = 0;
        size_t    o = 0;

        /* six bits a character, most significant first */
        for (i = 0; i < seg; i++) {
            c = pe_base64url_value(s[i]);
            if (c < 0) {
                return -1;
            }

            acc = (acc << 6) | (unsigned) c;
            nacc += 6;

            if (nacc >= 8) {
                nacc -= 8;
                b.bytes[o++] = (unsigned char) (acc >> nacc);
            }
        }

        memset(b.bytes + o, 0, 9);

        if (nacc) {
            b.bytes[o] = (unsigned char) (acc << (8 - nacc));
        }

        b.bits = seg * 6;
    }

#define PE_TAKE(field, k)                                                    \
    if ((v = pe_take(&b, k)) < 0) {                                          \
        return -1;                                                           \
    }                                                                        \
    field = (unsigned) v

    {
        unsigned  skip;

        PE_TAKE(tc->version, 6);
        PE_TAKE(skip, 36);                  /* Created */
        PE_TAKE(skip, 36);                  /* LastUpdated */
        PE_TAKE(tc->cmp_id, 12);
        PE_TAKE(tc->cmp_version, 12);
        PE_TAKE(tc->consent_screen, 6);
        PE_TAKE(skip, 12);                  /* ConsentLanguage */
        PE_TAKE(tc->vendor_list_version, 12);
        PE_TAKE(tc->policy_version, 6);
        PE_TAKE(tc->is_service_specific, 1);
        PE_TAKE(skip, 1);                   /* UseNonStandardTexts */
        PE_TAKE(skip, 12);                  /* SpecialFeatureOptIns */
        tc->special_features = skip;

        /* 24 purpose bits, purpose 1 first: to bit n-1 for purpose n */
        PE_TAKE(skip, 24);
        tc->purposes = 0;
        for (i = 0; i < 24; i++) {
            tc->purposes |= ((uint32_t) (skip >> (23 - i)) & 1) << i;
        }

        PE_TAKE(skip, 24);
        tc->purposes_li = 0;
        for (i = 0; i < 24; i++) {
            tc->purposes_li |= ((uint32_t) (skip >> (23 - i)) & 1) << i;
        }

        PE_TAKE(skip, 1);                   /* PurposeOneTreatment */
        PE_TAKE(skip, 12);                  /* PublisherCC */
        (void) skip;
    }

    if (tc->version != 2) {
        /* v1 strings have another layout; nothing after this is read */
        return 0;
    }

    if (pe_tcf_vendors(&b, &tc->max_vendor_id) != 0      /* consents */
        || pe_tcf_vendors(&b, NULL) != 0)                /* legit. int. */
    {
        return -1;
    }

    restrictions = pe_take(&b, 12);
    if (restrictions < 0) {
        return -1;
    }

    while (restrictions--) {
        if (pe_take(&b, 6) < 0 || pe_take(&b, 2) < 0) {
            return -1;
        }

        entries = pe_take(&b, 12);
        if (entries < 0) {
            return -1;
        }

        while (entries--) {
            is_range = pe_take(&b, 1);
            start = pe_take(&b, 16);

            if (is_range < 0 || start < 0) {
                return -1;
            }

            if (is_range && ((end = pe_take(&b, 16)) < 0 || end < start)) {
                return -1;
            }
        }
    }

#undef PE_TAKE

    /*
     * What is left is padding.  The IAB's encoder pads each segment with
     * zero bits to a whole number of 24-bit groups (four characters),
     * others to a whole character; either ends at or before the next
     * 24-bit boundary.  A longer tail, or a bit set in it, is something
     * else than padding.
     */
    if (b.bits > (b.pos + 23) / 24 * 24) {
        return -1;
    }

    while (b.pos < b.bits) {
        k = b.bits - b.pos < 32 ? (unsigned) (b.bits - b.pos) : 32;

        if (pe_take(&b, k) != 0) {
            return -1;
        }
    }

    return 0;
}


/* purposes a category needs, all of them: bit n-1 for purpose n */
#define PE_P(n)  (1u << ((n) - 1))

static const struct {
    uint32_t  category;
    uint32_t  purposes;
} pe_tcf_map[] = {
    { PE_CAT_PREFERENCES, PE_P(1) | PE_P(5) | PE_P(6) },
    { PE_CAT_ANALYTICS, PE_P(1) | PE_P(8) | PE_P(9) },
    { PE_CAT_MARKETING, PE_P(1) | PE_P(2) | PE_P(3) | PE_P(4) | PE_P(7) },
};


int
pe_tcf_consent(const unsigned char *v, size_t n, pe_consent_t *out)
{
    size_t    i;
    pe_tcf_t  tc;

    if (pe_tcf_decode(v, n, &tc) != 0) {
        return pe_tcf_fail(out);
    }

    /* TCF v2.2: anything else is no consent (IAB policy) */
    if (tc.version != 2 || !tc.is_service_specific
        || tc.policy_version < 4)
    {
        return pe_tcf_fail(out);
    }

    out->granted = PE_CAT_NECESSARY;

    for (i = 0; i < sizeof(pe_tcf_map) / sizeof(pe_tcf_map[0]); i++) {
        if ((tc.purposes & pe_tcf_map[i].purposes)
            == pe_tcf_map[i].purposes)
        {
            out->granted |= pe_tcf_map[i].category;
        }
    }

    /* a TC string answers for every purpose: what it does not grant, it
     * refuses */
    out->refused = PE_CAT_BUILTIN & ~out->granted;

    return 0;
}
