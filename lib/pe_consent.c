
/*
 * privacy-edge: consent values of the common CMPs.
 *
 * Every format comes down to "category: yes / no" pairs.  A category is
 * granted when everything said about it is yes, refused when anything
 * said about it is no: several keys for one category (OneTrust's C0004
 * and C0005, CookieYes' analytics and performance) must all agree, and a
 * key said twice with two answers is a refusal, never the kinder reading.
 */

#include "pe_consent.h"
#include "pe_gpp.h"
#include "pe_jws.h"

#include <string.h>
#include <strings.h>


typedef struct {
    uint32_t  yes;
    uint32_t  no;
} pe_votes_t;


static void
pe_vote(pe_votes_t *v, uint32_t cats, int yes)
{
    if (yes) {
        v->yes |= cats;
    } else {
        v->no |= cats;
    }
}


static void
pe_votes_result(const pe_votes_t *v, pe_consent_t *out)
{
    out->refused = v->no & ~PE_CAT_NECESSARY;
    out->granted = ((v->yes & ~v->no) | PE_CAT_NECESSARY);
}


static int pe_consent_value(pe_cmp_e fmt, const unsigned char *v, size_t n,
    const pe_categories_t *cats, pe_consent_t *out);


static int
pe_fail(pe_consent_t *out)
{
    out->granted = PE_CAT_NECESSARY;
    out->refused = ~PE_CAT_NECESSARY;
    return -1;
}


static int
pe_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


int
pe_url_decode(const unsigned char *s, size_t n, unsigned char *out,
    size_t cap, size_t *outlen)
{
    int     hi, lo;
    size_t  i, o;

    o = 0;

    for (i = 0; i < n; i++) {
        if (o == cap) {
            return -1;
        }

        if (s[i] == '%') {
            if (i + 2 >= n) {
                return -1;          /* "%" needs two hex digits after it */
            }

            hi = pe_hex(s[i + 1]);
            lo = pe_hex(s[i + 2]);

            if (hi < 0 || lo < 0) {
                return -1;
            }

            out[o++] = (unsigned char) (hi << 4 | lo);
            i += 2;

        } else if (s[i] == '+') {
            out[o++] = ' ';

        } else {
            out[o++] = s[i];
        }
    }

    *outlen = o;

    return 0;
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


static int
pe_consent_tcf(const unsigned char *v, size_t n, pe_consent_t *out)
{
    size_t    i;
    pe_tcf_t  tc;

    if (pe_tcf_decode(v, n, &tc) != 0) {
        return pe_fail(out);
    }

    /* TCF v2.2: anything else is no consent (IAB policy) */
    if (tc.version != 2 || !tc.is_service_specific
        || tc.policy_version < 4)
    {
        return pe_fail(out);
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


/* ---------------------------------------------------------------------- */
/* name:value lists: OneTrust groups, Cookiebot, CookieYes, kv            */

typedef uint32_t (*pe_key_map_pt)(const unsigned char *k, size_t n,
    const pe_categories_t *cats);

/* -1: not a yes/no word */
typedef int (*pe_value_pt)(const unsigned char *v, size_t n);


static int
pe_word(const unsigned char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp((const char *) s, w, n) == 0;
}


/*
 * Splits s on sep into key:value pairs (quoted values may hold sep) and
 * votes.  Pairs whose key maps to no category are passed over; a pair
 * without a colon, or a known key with an unknown answer, fails the lot.
 */
static int
pe_pairs(const unsigned char *s, size_t n, unsigned char sep,
    pe_key_map_pt map, pe_value_pt value, const pe_categories_t *cats,
    pe_votes_t *votes)
{
    int             yes;
    size_t          i, start, colon;
    uint32_t        c;
    unsigned char   quote;

    i = 0;

    while (i < n) {
        start = i;
        colon = 0;
        quote = 0;

        for ( /* void */ ; i < n; i++) {
            if (quote) {
                if (s[i] == quote) {
                    quote = 0;
                }
                continue;
            }

            if (s[i] == '\'' || s[i] == '"') {
                quote = s[i];
            } else if (s[i] == sep) {
                break;
            } else if (s[i] == ':' && colon == 0) {
                colon = i;
            }
        }

        if (quote) {
            return -1;
        }

        if (i > start) {
            if (colon == 0 || colon == start) {
                return -1;
            }

            c = map(s + start, colon - start, cats);

            if (c) {
                yes = value(s + colon + 1, i - colon - 1);
                if (yes < 0) {
                    return -1;
                }

                pe_vote(votes, c, yes);
            }
        }

        i++;                    /* the separator */
    }

    return 0;
}


static int
pe_value_01(const unsigned char *v, size_t n)
{
    if (n == 1 && (v[0] == '0' || v[0] == '1')) {
        return v[0] == '1';
    }

    return -1;
}


static int
pe_value_bool(const unsigned char *v, size_t n)
{
    if (pe_word(v, n, "true")) {
        return 1;
    }

    return pe_word(v, n, "false") ? 0 : -1;
}


static int
pe_value_yesno(const unsigned char *v, size_t n)
{
    if (pe_word(v, n, "yes")) {
        return 1;
    }

    return pe_word(v, n, "no") ? 0 : -1;
}


static int
pe_value_any(const unsigned char *v, size_t n)
{
    if (pe_word(v, n, "1") || pe_word(v, n, "yes") || pe_word(v, n, "true")) {
        return 1;
    }

    if (pe_word(v, n, "0") || pe_word(v, n, "no") || pe_word(v, n, "false")) {
        return 0;
    }

    return -1;
}


static uint32_t
pe_map_onetrust(const unsigned char *k, size_t n, const pe_categories_t *cats)
{
    (void) cats;

    if (pe_word(k, n, "C0001")) {
        return PE_CAT_NECESSARY;
    }

    if (pe_word(k, n, "C0002")) {
        return PE_CAT_ANALYTICS;
    }

    if (pe_word(k, n, "C0003")) {
        return PE_CAT_PREFERENCES;
    }

    if (pe_word(k, n, "C0004") || pe_word(k, n, "C0005")) {
        return PE_CAT_MARKETING;
    }

    return 0;
}


static uint32_t
pe_map_cookiebot(const unsigned char *k, size_t n, const pe_categories_t *c)
{
    (void) c;

    if (pe_word(k, n, "necessary")) {
        return PE_CAT_NECESSARY;
    }

    if (pe_word(k, n, "preferences")) {
        return PE_CAT_PREFERENCES;
    }

    if (pe_word(k, n, "statistics")) {
        return PE_CAT_ANALYTICS;
    }

    return pe_word(k, n, "marketing") ? PE_CAT_MARKETING : 0;
}


static uint32_t
pe_map_cookieyes(const unsigned char *k, size_t n, const pe_categories_t *c)
{
    (void) c;

    if (pe_word(k, n, "necessary")) {
        return PE_CAT_NECESSARY;
    }

    if (pe_word(k, n, "functional")) {
        return PE_CAT_PREFERENCES;
    }

    if (pe_word(k, n, "analytics") || pe_word(k, n, "performance")) {
        return PE_CAT_ANALYTICS;
    }

    return pe_word(k, n, "advertisement") ? PE_CAT_MARKETING : 0;
}


static uint32_t
pe_map_kv(const unsigned char *k, size_t n, const pe_categories_t *cats)
{
    size_t  i;

    for (i = 0; cats && i < cats->n && i < PE_CAT_MAX; i++) {
        if (cats->len[i] == n && memcmp(cats->name[i], k, n) == 0) {
            return 1u << i;
        }
    }

    return 0;
}


/* OneTrust: a query string whose "groups" holds "C0001:1,C0002:0,..." */
static int
pe_consent_onetrust(const unsigned char *v, size_t n, pe_consent_t *out)
{
    size_t          i, start, eq, glen, seen;
    pe_votes_t      votes;
    unsigned char   groups[PE_CONSENT_MAX];

    seen = 0;
    glen = 0;
    i = 0;

    while (i < n) {
        start = i;

        while (i < n && v[i] != '&') {
            i++;
        }

        for (eq = start; eq < i && v[eq] != '='; eq++) {
            /* void */
        }

        if (eq - start == 6 && memcmp(v + start, "groups", 6) == 0) {
            if (seen++ || eq == i
                || pe_url_decode(v + eq + 1, i - eq - 1, groups,
                                 sizeof(groups), &glen) != 0)
            {
                return pe_fail(out);
            }
        }

        i++;
    }

    if (!seen) {
        return pe_fail(out);
    }

    memset(&votes, 0, sizeof(votes));

    if (pe_pairs(groups, glen, ',', pe_map_onetrust, pe_value_01, NULL,
                 &votes) != 0)
    {
        return pe_fail(out);
    }

    pe_votes_result(&votes, out);

    return 0;
}


/* Cookiebot: a URL-encoded object "{stamp:'..',necessary:true,...}" */
static int
pe_consent_cookiebot(const unsigned char *v, size_t n, pe_consent_t *out)
{
    size_t          len;
    pe_votes_t      votes;
    unsigned char   buf[PE_CONSENT_MAX];

    if (pe_url_decode(v, n, buf, sizeof(buf), &len) != 0
        || len < 2 || buf[0] != '{' || buf[len - 1] != '}')
    {
        return pe_fail(out);
    }

    memset(&votes, 0, sizeof(votes));

    if (pe_pairs(buf + 1, len - 2, ',', pe_map_cookiebot, pe_value_bool,
                 NULL, &votes) != 0)
    {
        return pe_fail(out);
    }

    /* a value that names no category at all is not a consent record */
    if ((votes.yes | votes.no) == 0) {
        return pe_fail(out);
    }

    pe_votes_result(&votes, out);

    return 0;
}


static int
pe_consent_list(const unsigned char *v, size_t n, pe_key_map_pt map,
    pe_value_pt value, const pe_categories_t *cats, pe_consent_t *out)
{
    size_t          len;
    pe_votes_t      votes;
    unsigned char   buf[PE_CONSENT_MAX];

    if (pe_url_decode(v, n, buf, sizeof(buf), &len) != 0) {
        return pe_fail(out);
    }

    memset(&votes, 0, sizeof(votes));

    if (pe_pairs(buf, len, ',', map, value, cats, &votes) != 0
        || (votes.yes | votes.no) == 0)
    {
        return pe_fail(out);
    }

    pe_votes_result(&votes, out);

    return 0;
}


uint32_t
pe_consent_expressible(pe_cmp_e fmt)
{
    /* a CMP speaks of the four built-in categories; kv of any declared */
    return fmt == PE_CMP_KV ? ~PE_CAT_NECESSARY
                            : PE_CAT_BUILTIN & ~PE_CAT_NECESSARY;
}


int
pe_consent_parse(pe_cmp_e fmt, const unsigned char *v, size_t n,
    const pe_categories_t *cats, pe_consent_t *out)
{
    int  rc;

    rc = pe_consent_value(fmt, v, n, cats, out);

    if (rc != 0) {
        /* refused what it could have spoken of, and nothing it could not */
        out->granted = PE_CAT_NECESSARY;
        out->refused = pe_consent_expressible(fmt);
    }

    return rc;
}


static int
pe_consent_value(pe_cmp_e fmt, const unsigned char *v, size_t n,
    const pe_categories_t *cats, pe_consent_t *out)
{
    if (n == 0 || n > PE_CONSENT_MAX) {
        return pe_fail(out);
    }

    switch (fmt) {

    case PE_CMP_GPP:
        return pe_gpp_consent(v, n, ~(uint64_t) 0, out);

    case PE_CMP_TCF:
        return pe_consent_tcf(v, n, out);

    case PE_CMP_ONETRUST:
        return pe_consent_onetrust(v, n, out);

    case PE_CMP_COOKIEBOT:
        return pe_consent_cookiebot(v, n, out);

    case PE_CMP_COOKIEYES:
        return pe_consent_list(v, n, pe_map_cookieyes, pe_value_yesno, NULL,
                               out);

    case PE_CMP_KV:
        return pe_consent_list(v, n, pe_map_kv, pe_value_any, cats, out);
    }

    return pe_fail(out);
}
