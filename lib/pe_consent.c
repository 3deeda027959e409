
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
        return pe_tcf_consent(v, n, out);

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
