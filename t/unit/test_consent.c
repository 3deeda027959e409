
/*
 * Unit tests of the CMP consent parsers: the IAB's published TC string,
 * TCF 2.2 strings built here by an independent bit writer, real-shaped
 * OneTrust, Cookiebot and CookieYes values, the kv format, and malformed,
 * truncated, oversized and binary input.
 */

#include "tap.h"

#include <stdlib.h>

#include "pe_consent.h"


#define ALL  (PE_CAT_NECESSARY | PE_CAT_PREFERENCES | PE_CAT_ANALYTICS     \
              | PE_CAT_MARKETING)


/* ---------------------------------------------------------------------- */
/* a TC string writer, after the IAB TCF v2 "core string" table           */

typedef struct {
    unsigned char  bits[8192];
    size_t         n;
} writer_t;


static void
put(writer_t *w, unsigned long long v, unsigned k)
{
    while (k--) {
        w->bits[w->n++] = (v >> k) & 1;
    }
}


typedef struct {
    unsigned  version, cmp, policy, ss;
    unsigned  purposes[24];         /* 1 = consent, index purpose - 1 */
    unsigned  max_vendor;
    int       range;                /* vendor consents as one range */
    unsigned  restrictions;
} tc_t;


/* the bits the last tc_string() wrote, before its padding */
static size_t  tc_bits;


static char *
tc_string(const tc_t *tc)
{
    size_t           i, j;
    writer_t         w;
    static char      out[4096];
    static const char  *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789-_";

    memset(&w, 0, sizeof(w));
    put(&w, tc->version, 6);
    put(&w, 16500000000ULL, 36);        /* Created, deciseconds */
    put(&w, 16500000000ULL, 36);        /* LastUpdated */
    put(&w, tc->cmp, 12);
    put(&w, 3, 12);                     /* CmpVersion */
    put(&w, 1, 6);                      /* ConsentScreen */
    put(&w, (('E' - 'A') << 6) | ('N' - 'A'), 12);
    put(&w, 200, 12);                   /* VendorListVersion */
    put(&w, tc->policy, 6);
    put(&w, tc->ss, 1);
    put(&w, 0, 1);                      /* UseNonStandardTexts */
    put(&w, 0, 12);                     /* SpecialFeatureOptIns */
    for (i = 0; i < 24; i++) {
        put(&w, tc->purposes[i], 1);
    }
    put(&w, 0, 24);                     /* PurposesLITransparency */
    put(&w, 0, 1);                      /* PurposeOneTreatment */
    put(&w, (('D' - 'A') << 6) | ('E' - 'A'), 12);

    /* vendor consents */
    put(&w, tc->max_vendor, 16);
    put(&w, tc->range, 1);
    if (tc->range) {
        put(&w, 1, 12);                 /* one entry: a range */
        put(&w, 1, 1);
        put(&w, 1, 16);
        put(&w, tc->max_vendor, 16);
    } else {
        for (i = 0; i < tc->max_vendor; i++) {
            put(&w, i % 3 == 0, 1);
        }
    }

    /* vendor legitimate interests: none */
    put(&w, 0, 16);
    put(&w, 0, 1);

    put(&w, tc->restrictions, 12);
    for (i = 0; i < tc->restrictions; i++) {
        put(&w, 2, 6);                  /* purpose 2 */
        put(&w, 1, 2);                  /* require consent */
        put(&w, 1, 12);
        put(&w, 0, 1);
        put(&w, 7, 16);
    }

    tc_bits = w.n;

    while (w.n % 6) {
        put(&w, 0, 1);
    }

    for (i = 0, j = 0; i < w.n; i += 6) {
        unsigned  c = 0, k;

        for (k = 0; k < 6; k++) {
            c = (c << 1) | w.bits[i + k];
        }
        out[j++] = b64[c];
    }
    out[j] = '\0';

    return out;
}


static tc_t
tc_base(void)
{
    tc_t  tc;

    memset(&tc, 0, sizeof(tc));
    tc.version = 2;
    tc.cmp = 300;
    tc.policy = 4;
    tc.ss = 1;
    tc.max_vendor = 40;

    return tc;
}


static pe_consent_t
parse(pe_cmp_e fmt, const char *v, int *rc)
{
    pe_consent_t  c;

    *rc = pe_consent_parse(fmt, (const unsigned char *) v, strlen(v), NULL,
                           &c);
    return c;
}


static void
test_tcf(void)
{
    int            rc, all_safe;
    size_t         i, n;
    tc_t           tc;
    char          *s, copy[4096];
    pe_tcf_t       d;
    pe_consent_t   c;
    const char    *iab = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA";

    /* the IAB decoders' published example: CMP 675, purposes 2 and 10 */
    is_int(pe_tcf_decode((const unsigned char *) iab, strlen(iab), &d), 0,
           "the IAB example string decodes");
    is_int(d.cmp_id, 675, "its CMP is 675");
    is_int(d.purposes, (1u << 1) | (1u << 9), "its purposes are {2, 10}");
    is_int(d.policy_version, 2, "it is a TCF 2.0 string (policy 2)");
    c = parse(PE_CMP_TCF, iab, &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
       "a TCF 2.0 string is no consent under 2.2: necessary only");

    /* accept all, policy 4 and 5 */
    tc = tc_base();
    for (i = 0; i < 10; i++) {
        tc.purposes[i] = 1;
    }
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == 0 && c.granted == ALL && c.refused == 0,
       "2.2 accept-all grants every category");
    tc.policy = 5;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == 0 && c.granted == ALL, "policy version 5 too");

    /* round trip through the decoder */
    s = tc_string(&tc);
    ok(pe_tcf_decode((unsigned char *) s, strlen(s), &d) == 0
       && d.cmp_id == 300 && d.vendor_list_version == 200
       && d.max_vendor_id == 40 && d.purposes == 0x3ff,
       "decoder reads back what the writer wrote");

    /* reject all */
    tc = tc_base();
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == 0 && c.granted == PE_CAT_NECESSARY
       && c.refused == (ALL & ~PE_CAT_NECESSARY),
       "2.2 reject-all: necessary only, the rest refused");

    /* one category at a time: all of its purposes are needed */
    tc = tc_base();
    tc.purposes[0] = tc.purposes[7] = tc.purposes[8] = 1;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    is_int(c.granted, PE_CAT_NECESSARY | PE_CAT_ANALYTICS,
           "purposes 1, 8, 9: analytics");
    tc.purposes[8] = 0;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    is_int(c.granted, PE_CAT_NECESSARY, "purposes 1, 8 only: no analytics");

    tc = tc_base();
    tc.purposes[0] = tc.purposes[1] = tc.purposes[2] = tc.purposes[3] = 1;
    tc.purposes[6] = 1;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    is_int(c.granted, PE_CAT_NECESSARY | PE_CAT_MARKETING,
           "purposes 1, 2, 3, 4, 7: marketing");

    tc = tc_base();
    tc.purposes[0] = tc.purposes[4] = tc.purposes[5] = 1;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    is_int(c.granted, PE_CAT_NECESSARY | PE_CAT_PREFERENCES,
           "purposes 1, 5, 6: preferences");

    tc = tc_base();
    for (i = 1; i < 10; i++) {
        tc.purposes[i] = 1;
    }
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    is_int(c.granted, PE_CAT_NECESSARY,
           "everything but purpose 1 (storage): nothing");

    /* validity under TCF 2.2 */
    tc = tc_base();
    for (i = 0; i < 10; i++) {
        tc.purposes[i] = 1;
    }
    tc.policy = 3;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY, "policy version 3: none");
    tc.policy = 4;
    tc.ss = 0;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
       "not service specific: none");
    tc.ss = 1;
    tc.version = 1;
    c = parse(PE_CMP_TCF, tc_string(&tc), &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY, "version 1: none");

    /* encodings: ranges, restrictions, more segments */
    tc.version = 2;
    tc.range = 1;
    tc.max_vendor = 1200;
    tc.restrictions = 2;
    s = tc_string(&tc);
    c = parse(PE_CMP_TCF, s, &rc);
    ok(rc == 0 && c.granted == ALL,
       "range-encoded vendors and publisher restrictions decode");
    snprintf(copy, sizeof(copy), "%s.YAAAAAAAAAAA.QA", s);
    c = parse(PE_CMP_TCF, copy, &rc);
    ok(rc == 0 && c.granted == ALL, "segments after the core are passed over");

    /* every truncation of a valid string is refused, none crashes */
    tc = tc_base();
    for (i = 0; i < 10; i++) {
        tc.purposes[i] = 1;
    }
    s = tc_string(&tc);
    all_safe = 1;
    for (i = 0; i < strlen(s); i++) {
        memcpy(copy, s, i);
        copy[i] = '\0';
        c = parse(PE_CMP_TCF, copy, &rc);
        if (rc != -1 || c.granted != PE_CAT_NECESSARY) {
            all_safe = 0;
            printf("# cut at %zu was accepted\n", i);
        }
    }
    ok(all_safe, "each of the %zu cuts of a valid string grants nothing",
       strlen(s));

    /* a string from the wild labelled reject-all: it is an accept-all
     * TCF 2.0 string, cut short in its vendor section */
    c = parse(PE_CMP_TCF, "CPv4IAAPV4IAAPoABAENBkCsAP_AAH_AAAAAJqNd_X__bX9j-_5"
              "_f_t0eY1P9_r_v-Qzjhfdt-8N2f_X_L8X42M7vF36pq4KuR4Eu3LBIQNlHMHU"
              "TUmwaokVrzHsak2MpyNKJ7LkmnsZe2dYGH9Pn9lDuYKY7_5___bz3z-v_t_-3"
              "9T378X_3_d5_2---vCfV599jbv9f3__39nP___9v-_8_______gAAAAA.YAAAA"
              "AAAAAAA", &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
       "a mislabelled, truncated string from the wild grants nothing");

    c = parse(PE_CMP_TCF, "CO+ybn4PA/zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", &rc);
    ok(rc == -1, "standard base64 characters are not base64url");
    c = parse(PE_CMP_TCF, "", &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY, "empty: none");

    /*
     * Padding as the IAB's encoder (@iabtcf/core 1.5.6) writes it: zero
     * bits to a whole 24-bit group.  Both strings are its output, purposes
     * 1 to 10 granted; the first ends 23 bits short of its last group.
     */
    c = parse(PE_CMP_TCF, "CQujIwAQujIwAEsABAENAyEgAP_AAAAAAAAAADAQAAAAAAAA",
              &rc);
    ok(rc == 0 && c.granted == PE_CAT_BUILTIN,
       "the reference encoder's 24-bit padding: all four granted");
    c = parse(PE_CMP_TCF, "CQujIwAQujIwAAKABAENBkEgAP_AAAAAAAYgF5wAoAAgAEAvMA"
              "AAAAAA", &rc);
    ok(rc == 0 && c.granted == PE_CAT_BUILTIN,
       "the reference encoder, vendors as ranges: all four granted");

    /* every padding from none to the next 24-bit boundary is taken */
    tc = tc_base();
    tc.purposes[0] = tc.purposes[7] = tc.purposes[8] = 1;
    n = strlen(tc_string(&tc));
    for (i = 0, all_safe = 1; i < 8; i++) {
        snprintf(copy, sizeof(copy), "%s%.*s", tc_string(&tc), (int) i,
                 "AAAAAAAA");
        c = parse(PE_CMP_TCF, copy, &rc);
        if ((n + i) * 6 <= (tc_bits + 23) / 24 * 24) {
            all_safe &= rc == 0
                        && c.granted == (PE_CAT_NECESSARY | PE_CAT_ANALYTICS);
        } else {
            all_safe &= rc == -1 && c.granted == PE_CAT_NECESSARY;
        }
    }
    ok(all_safe, "zero padding up to the next 24-bit group taken, past it "
       "refused");

    /* a tail longer than padding, or a bit set in the padding */
    snprintf(copy, sizeof(copy), "%sAAAAAAAA", tc_string(&tc));
    c = parse(PE_CMP_TCF, copy, &rc);
    ok(rc == -1, "32 bits past the end of the core segment are refused");
    snprintf(copy, sizeof(copy), "%sAAAB", tc_string(&tc));
    c = parse(PE_CMP_TCF, copy, &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
       "a bit set in the padding is refused");
    c = parse(PE_CMP_TCF, "CQujIwAQujIwAEsABAENAyEgAP_AAAAAAAAAADAQAAAAAAAB",
              &rc);
    ok(rc == -1, "the reference string with its last padding bit set");
}


static void
test_onetrust(void)
{
    int           rc;
    pe_consent_t  c;

    c = parse(PE_CMP_ONETRUST,
              "isGpcEnabled=0&datestamp=Mon+Nov+20+2023+10%3A00%3A00+GMT%2B01"
              "00&version=202310.1.0&browserGpcFlag=0&isIABGlobal=false&hosts="
              "&consentId=4b0c1a&interactionCount=1&landingPath=NotLandingPage"
              "&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0%2CC0005"
              "%3A1&geolocation=DE%3BBE&AwaitingReconsent=false", &rc);
    ok(rc == 0, "a real-shaped OptanonConsent parses");
    is_int(c.granted, PE_CAT_NECESSARY | PE_CAT_PREFERENCES,
           "C0003 granted: preferences");
    is_int(c.refused, PE_CAT_ANALYTICS | PE_CAT_MARKETING,
           "C0002 refused; C0004 refused beats C0005 granted: marketing");

    c = parse(PE_CMP_ONETRUST, "groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2C"
              "C0004%3A1%2CC0005%3A1%2CSTACK42%3A1", &rc);
    ok(rc == 0 && c.granted == ALL, "all groups: all, unknown groups ignored");

    c = parse(PE_CMP_ONETRUST, "groups=C0002%3A1", &rc);
    ok(rc == 0 && c.granted == (PE_CAT_NECESSARY | PE_CAT_ANALYTICS)
       && c.refused == 0, "only what was asked about is granted");

    c = parse(PE_CMP_ONETRUST, "groups=C0002%3A1%2CC0002%3A0", &rc);
    ok(!(c.granted & PE_CAT_ANALYTICS), "a group said twice, two answers: no");

    c = parse(PE_CMP_ONETRUST, "isGpcEnabled=0&version=1", &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY, "no groups: none");
    c = parse(PE_CMP_ONETRUST, "groups=C0002%3A1&groups=C0004%3A1", &rc);
    ok(rc == -1, "two groups fields: refused as ambiguous");
    c = parse(PE_CMP_ONETRUST, "groups=C0002%3A2", &rc);
    ok(rc == -1, "a group answer other than 0/1");
    c = parse(PE_CMP_ONETRUST, "groups=C0002%3", &rc);
    ok(rc == -1, "a cut percent escape");
    c = parse(PE_CMP_ONETRUST, "groups=C0002%ZZ1", &rc);
    ok(rc == -1, "a bad percent escape");
    c = parse(PE_CMP_ONETRUST, "groups=C0002", &rc);
    ok(rc == -1, "a group without an answer");
}


static void
test_cookiebot(void)
{
    int           rc;
    pe_consent_t  c;

    c = parse(PE_CMP_COOKIEBOT,
              "{stamp:%27-5Jl1dT9jWm0mWnXZk2f0F8Gh0Rm1ZcW2ChQyVdbkU5p1x1pbHm4"
              "3xg==%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:false"
              "%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:17000"
              "00000000%2Cregion:%27de%27}", &rc);
    ok(rc == 0 && c.granted == (PE_CAT_NECESSARY | PE_CAT_PREFERENCES)
       && c.refused == (PE_CAT_ANALYTICS | PE_CAT_MARKETING),
       "a real-shaped CookieConsent: preferences only");

    c = parse(PE_CMP_COOKIEBOT, "{stamp:'a,b',necessary:true,preferences:true,"
              "statistics:true,marketing:true}", &rc);
    ok(rc == 0 && c.granted == ALL,
       "a comma inside a quoted stamp is not a separator");

    c = parse(PE_CMP_COOKIEBOT, "-1", &rc);
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
       "-1 (no consent needed where the CMP stood) is no consent here");
    c = parse(PE_CMP_COOKIEBOT, "{stamp:'abc}", &rc);
    ok(rc == -1, "an unterminated quote");
    c = parse(PE_CMP_COOKIEBOT, "necessary:true,marketing:true", &rc);
    ok(rc == -1, "no braces");
    c = parse(PE_CMP_COOKIEBOT, "{stamp:'x',ver:1}", &rc);
    ok(rc == -1, "no category at all");
    c = parse(PE_CMP_COOKIEBOT, "{marketing:yes}", &rc);
    ok(rc == -1, "a value other than true/false");
}


static void
test_cookieyes(void)
{
    int           rc;
    pe_consent_t  c;

    c = parse(PE_CMP_COOKIEYES,
              "consentid:ZXhhbXBsZQ,consent:yes,action:yes,necessary:yes,"
              "functional:yes,analytics:no,performance:yes,advertisement:yes,"
              "other:no", &rc);
    ok(rc == 0, "a real-shaped cookieyes-consent parses");
    is_int(c.granted,
           PE_CAT_NECESSARY | PE_CAT_PREFERENCES | PE_CAT_MARKETING,
           "functional -> preferences, advertisement -> marketing");
    is_int(c.refused, PE_CAT_ANALYTICS,
           "analytics:no refuses analytics though performance said yes");

    c = parse(PE_CMP_COOKIEYES, "consentid:x%2Cnecessary:yes%2Canalytics:yes",
              &rc);
    ok(rc == 0 && c.granted == (PE_CAT_NECESSARY | PE_CAT_ANALYTICS),
       "a URL-encoded value");
    c = parse(PE_CMP_COOKIEYES, "analytics:perhaps", &rc);
    ok(rc == -1, "an answer other than yes/no");
}


static void
test_kv(void)
{
    int              rc;
    pe_consent_t     c;
    pe_categories_t  cats;
    const char      *names[] = { "necessary", "preferences", "analytics",
                                 "marketing", "ai_processing" };
    size_t           i;

    memset(&cats, 0, sizeof(cats));
    for (i = 0; i < 5; i++) {
        cats.name[i] = names[i];
        cats.len[i] = strlen(names[i]);
    }
    cats.n = 5;

#define KV(s) (rc = pe_consent_parse(PE_CMP_KV, (const unsigned char *) s,   \
                                     strlen(s), &cats, &c))

    KV("ai_processing:1,analytics:0");
    ok(rc == 0 && c.granted == (PE_CAT_NECESSARY | 0x10)
       && c.refused == PE_CAT_ANALYTICS,
       "a custom category (ai_processing) granted, analytics refused");
    KV("marketing:yes,preferences:true,analytics:1");
    ok(c.granted == ALL, "1, yes and true all grant");
    KV("ai_processing:maybe");
    ok(rc == -1 && c.granted == PE_CAT_NECESSARY, "an unknown answer fails");
    KV("unknown:1");
    ok(rc == -1, "no known category at all fails");
    KV("ai_processing");
    ok(rc == -1, "a name without an answer fails");
    KV("AI_PROCESSING:1");
    ok(rc == -1, "category names are exact");

    {
        /* a thousand pairs fit, bounded; past the cap it is refused */
        char   *big = malloc(PE_CONSENT_MAX * 4);
        size_t  n = 0;

        while (n + 16 < PE_CONSENT_MAX) {
            n += sprintf(big + n, "x%zu:1,", n);
        }
        n += sprintf(big + n, "analytics:1");
        KV(big);
        ok(rc == 0 && c.granted == (PE_CAT_NECESSARY | PE_CAT_ANALYTICS),
           "%zu bytes of pairs parse", n);

        memset(big, 'a', PE_CONSENT_MAX * 4 - 1);
        big[PE_CONSENT_MAX * 4 - 1] = '\0';
        KV(big);
        ok(rc == -1 && c.granted == PE_CAT_NECESSARY,
           "16 KiB of value: refused unread");
        free(big);
    }
#undef KV
}


static void
test_binary(void)
{
    int            i, fmt, sane;
    unsigned int   seed = 99;
    unsigned char  buf[512];
    pe_consent_t   c;

    sane = 1;

    for (i = 0; i < 20000; i++) {
        size_t  n = i % sizeof(buf), k;

        for (k = 0; k < n; k++) {
            seed = seed * 1103515245 + 12345;
            buf[k] = (unsigned char) (seed >> 16);
        }

        for (fmt = PE_CMP_TCF; fmt <= PE_CMP_KV; fmt++) {
            int  rc = pe_consent_parse((pe_cmp_e) fmt, buf, n, NULL, &c);

            if (!(c.granted & PE_CAT_NECESSARY) || (c.granted & c.refused)
                || (rc == -1 && c.granted != PE_CAT_NECESSARY))
            {
                sane = 0;
            }
        }
    }

    ok(sane, "random bytes in every format: necessary always, no "
       "category both granted and refused");
}


int
main(void)
{
    test_tcf();
    test_onetrust();
    test_cookiebot();
    test_cookieyes();
    test_kv();
    test_binary();

    return done_testing();
}
