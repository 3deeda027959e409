
/*
 * Unit tests of the GPP parser: the IAB's example strings, the test
 * vectors of its reference library, a string per US section and opt-out
 * field written by that library, section filtering, the __gpp_sid syntax,
 * and truncated, corrupted, oversized and hostile input.
 *
 * Every expected value is what the IAB's reference library, @iabgpp/cmpapi
 * 3.2.0, decodes from the string, mapped onto categories as docs/directives.md
 * says (section 2 as a TC string; a US opt-out or GPC refuses marketing).
 * Where pe_gpp.c refuses what the library reads, the comment names the
 * rule, one of those listed at the top of pe_gpp.c.  The truncation and
 * corruption tables were computed the same way, string by string:
 * /tmp/gpp-helper/oracle.mjs, the library's decoding plus those rules.
 */

#include "tap.h"

#include <stdlib.h>

#include "pe_gpp.h"


#define N      PE_CAT_NECESSARY
#define P      PE_CAT_PREFERENCES
#define A      PE_CAT_ANALYTICS
#define M      PE_CAT_MARKETING
#define ALL    PE_GPP_ALL
#define SID    PE_GPP_SID

/* what a string that does not parse gives: never a custom category */
#define FAIL_G  N
#define FAIL_R  (P | A | M)

#define ALPHABET                                                            \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~."


typedef struct {
    const char  *s;
    int          rc;
    unsigned     granted;
    unsigned     refused;
} vec_t;


static int
consent(const char *s, uint64_t app, pe_consent_t *c)
{
    return pe_gpp_consent((const unsigned char *) s, strlen(s), app, c);
}


static void
check(const char *s, uint64_t app, int rc, unsigned granted,
    unsigned refused, const char *what)
{
    int           got;
    pe_consent_t  c;

    c.granted = 0xdead;
    c.refused = 0xbeef;
    got = consent(s, app, &c);

    if (!ok(got == rc && c.granted == granted && c.refused == refused,
            "%s: %.60s", what, s))
    {
        printf("#   got %d %u %u, expected %d %u %u\n", got, c.granted,
               c.refused, rc, granted, refused);
    }
}


static void
check_all(const vec_t *v, size_t n, const char *what)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        check(v[i].s, ALL, v[i].rc, v[i].granted, v[i].refused, what);
    }
}


/* ---------------------------------------------------------------------- */
/* the IAB's examples and the library's own test vectors                  */

static const vec_t  examples[] = {
    /* GPP spec example: tcfeuv2 only; the library decodes Version 2,
     * PolicyVersion 2, IsServiceSpecific true: the TCF reader refuses a
     * policy below 4, so all but necessary are refused */
    { "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
      0, N, P | A | M },
    /* the same, with the header padded to a character only (5, not 6) */
    { "DBABM~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
      0, N, P | A | M },
    /* GPP spec example: tcfeuv2 as above, uspv1 OptOutSale N */
    { "DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN",
      0, N, P | A | M },
    { "DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN",
      0, N, P | A | M },
    /* GPP spec example: ids 5 (tcfcav1, unknown here) and 6; the
     * library cannot read the TC EU string as a tcfcav1 section, but
     * section 5 expresses nothing here, and uspv1 says N */
    { "DBABjw~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN",
      0, N, 0 },
    /* library tests: uspv1 OptOutSale Y / N / - */
    { "DBABTA~1YYN", 0, N, M },
    { "DBABTA~1YNN", 0, N, 0 },
    { "DBABTA~1---", 0, N, 0 },
    { "DBABTA~1Y--", 0, N, 0 },
    /* library test: usnat v1, SaleOptOut SharingOptOut TargetedAd... 2,
     * GPC subsection Gpc false */
    { "DBABLA~BVQqAAAAAgA.QA", 0, N, 0 },
    /* ids 6 and 7: uspv1 N, usnat as above */
    { "DBABzw~1YNN~BVQqAAAAAgA.QA", 0, N, 0 },
    /* library tests: usnat v1, opt-outs 0; the 12-character ones are
     * version 1 in the 70-bit layout, which the library reads by length */
    { "DBABLA~BAAAAAAAAQA.QA", 0, N, 0 },
    { "DBABLA~BAAAAAAAAABA.QA", 0, N, 0 },
    { "DBABLA~BAAAAAABEQA.QA", 0, N, 0 },
    { "DBABLA~BAAAAAAAAQRA.QA", 0, N, 0 },
    /* library tests: tcfeuv2 VendorConsents [28], [29], [1, 173, 722],
     * PolicyVersion 2, IsServiceSpecific false: refused */
    { "DBABMA~CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAOAAAABAAAAA.QAAA.IAAA",
      0, N, P | A | M },
    { "DBABMA~CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAOwAQAOgAAAA.QAAA.IAAA",
      0, N, P | A | M },
    { "DBABMA~CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAFpQAwAAgCtAWkAAAAAAA"
      ".QAAA.IAAA", 0, N, P | A | M },
    /* the library's empty model: no section at all */
    { "DBAA", 0, N, 0 },
    /* library tests: "does not match the number of sections" */
    { "DBACOeA~~1YNN", -1, FAIL_G, FAIL_R },
    { "DBACOeA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~BPSG"
      "_8APSG_8AAyACAENGdCgf_gfgAfgfgBgABABAAABAB4AACACAAA.fHHHA4444ao",
      -1, FAIL_G, FAIL_R },
};


/* ---------------------------------------------------------------------- */
/* each US section, each opt-out field, each subsection                   */

/*
 * Written by the library's encoder (GppModel.setFieldValue, encode): the
 * opt-out fields 2 ("did not opt out") but the one set to 1, notices 1,
 * MspaCoveredTransaction 1; the comment is what the library decodes.
 */
static const vec_t  us[] = {
    /* usnat v1 sale 2 sharing 2 ta 2 */
    { "DBABLA~BVVqAAAAAQA", 0, 1, 0 },
    /* usnat v1 sale 1 sharing 2 ta 2 */
    { "DBABLA~BVVaAAAAAQA", 0, 1, 8 },
    /* usnat v1 sale 2 sharing 1 ta 2 */
    { "DBABLA~BVVmAAAAAQA", 0, 1, 8 },
    /* usnat v1 sale 2 sharing 2 ta 1 */
    { "DBABLA~BVVpAAAAAQA", 0, 1, 8 },
    /* usnat v1 sale 2 sharing 2 ta 2 gpc 0 */
    { "DBABLA~BVVqAAAAAQA.QA", 0, 1, 0 },
    /* usnat v1 sale 2 sharing 2 ta 2 gpc 1 */
    { "DBABLA~BVVqAAAAAQA.YA", 0, 1, 8 },
    /* usnat v2 sale 2 sharing 2 ta 2 */
    { "DBABLA~CVVqAAAAAABA", 0, 1, 0 },
    /* usnat v2 sale 1 sharing 2 ta 2 */
    { "DBABLA~CVVaAAAAAABA", 0, 1, 8 },
    /* usnat v2 sale 2 sharing 1 ta 2 */
    { "DBABLA~CVVmAAAAAABA", 0, 1, 8 },
    /* usnat v2 sale 2 sharing 2 ta 1 */
    { "DBABLA~CVVpAAAAAABA", 0, 1, 8 },
    /* usnat v2 sale 2 sharing 2 ta 2 gpc 0 */
    { "DBABLA~CVVqAAAAAABA.QA", 0, 1, 0 },
    /* usnat v2 sale 2 sharing 2 ta 2 gpc 1 */
    { "DBABLA~CVVqAAAAAABA.YA", 0, 1, 8 },
    /* usca v1 sale 2 sharing 2 */
    { "DBABBg~BVoAAABA", 0, 1, 0 },
    /* usca v1 sale 1 sharing 2 */
    { "DBABBg~BVYAAABA", 0, 1, 8 },
    /* usca v1 sale 2 sharing 1 */
    { "DBABBg~BVkAAABA", 0, 1, 8 },
    /* usca v1 sale 2 sharing 2 gpc 0 */
    { "DBABBg~BVoAAABA.QA", 0, 1, 0 },
    /* usca v1 sale 2 sharing 2 gpc 1 */
    { "DBABBg~BVoAAABA.YA", 0, 1, 8 },
    /* usva v1 sale 2 ta 2 */
    { "DBABRg~BVoAABA", 0, 1, 0 },
    /* usva v1 sale 1 ta 2 */
    { "DBABRg~BVYAABA", 0, 1, 8 },
    /* usva v1 sale 2 ta 1 */
    { "DBABRg~BVkAABA", 0, 1, 8 },
    /* usco v1 sale 2 ta 2 */
    { "DBABJg~BVoAAEA", 0, 1, 0 },
    /* usco v1 sale 1 ta 2 */
    { "DBABJg~BVYAAEA", 0, 1, 8 },
    /* usco v1 sale 2 ta 1 */
    { "DBABJg~BVkAAEA", 0, 1, 8 },
    /* usco v1 sale 2 ta 2 gpc 0 */
    { "DBABJg~BVoAAEA.QA", 0, 1, 0 },
    /* usco v1 sale 2 ta 2 gpc 1 */
    { "DBABJg~BVoAAEA.YA", 0, 1, 8 },
    /* usut v1 sale 2 ta 2 */
    { "DBABFg~BVaAAAQA", 0, 1, 0 },
    /* usut v1 sale 1 ta 2 */
    { "DBABFg~BVWAAAQA", 0, 1, 8 },
    /* usut v1 sale 2 ta 1 */
    { "DBABFg~BVZAAAQA", 0, 1, 8 },
    /* usct v1 sale 2 ta 2 */
    { "DBABVg~BVoAAAEA", 0, 1, 0 },
    /* usct v1 sale 1 ta 2 */
    { "DBABVg~BVYAAAEA", 0, 1, 8 },
    /* usct v1 sale 2 ta 1 */
    { "DBABVg~BVkAAAEA", 0, 1, 8 },
    /* usct v1 sale 2 ta 2 gpc 0 */
    { "DBABVg~BVoAAAEA.QA", 0, 1, 0 },
    /* usct v1 sale 2 ta 2 gpc 1 */
    { "DBABVg~BVoAAAEA.YA", 0, 1, 8 },
    /* usfl v1 sale 2 ta 2 */
    { "DBABAw~BVoAAABA", 0, 1, 0 },
    /* usfl v1 sale 1 ta 2 */
    { "DBABAw~BVYAAABA", 0, 1, 8 },
    /* usfl v1 sale 2 ta 1 */
    { "DBABAw~BVkAAABA", 0, 1, 8 },
    /* usmt v1 sale 2 ta 2 */
    { "DBABQw~BVoAAABA", 0, 1, 0 },
    /* usmt v1 sale 1 ta 2 */
    { "DBABQw~BVYAAABA", 0, 1, 8 },
    /* usmt v1 sale 2 ta 1 */
    { "DBABQw~BVkAAABA", 0, 1, 8 },
    /* usmt v1 sale 2 ta 2 gpc 0 */
    { "DBABQw~BVoAAABA.QA", 0, 1, 0 },
    /* usmt v1 sale 2 ta 2 gpc 1 */
    { "DBABQw~BVoAAABA.YA", 0, 1, 8 },
    /* usor v1 sale 2 ta 2 */
    { "DBABIw~BVoAAAABAA", 0, 1, 0 },
    /* usor v1 sale 1 ta 2 */
    { "DBABIw~BVYAAAABAA", 0, 1, 8 },
    /* usor v1 sale 2 ta 1 */
    { "DBABIw~BVkAAAABAA", 0, 1, 8 },
    /* usor v1 sale 2 ta 2 gpc 0 */
    { "DBABIw~BVoAAAABAA.QA", 0, 1, 0 },
    /* usor v1 sale 2 ta 2 gpc 1 */
    { "DBABIw~BVoAAAABAA.YA", 0, 1, 8 },
    /* ustx v1 sale 2 ta 2 */
    { "DBABEw~BVoAAAQA", 0, 1, 0 },
    /* ustx v1 sale 1 ta 2 */
    { "DBABEw~BVYAAAQA", 0, 1, 8 },
    /* ustx v1 sale 2 ta 1 */
    { "DBABEw~BVkAAAQA", 0, 1, 8 },
    /* ustx v1 sale 2 ta 2 gpc 0 */
    { "DBABEw~BVoAAAQA.QA", 0, 1, 0 },
    /* ustx v1 sale 2 ta 2 gpc 1 */
    { "DBABEw~BVoAAAQA.YA", 0, 1, 8 },
    /* usde v1 sale 2 ta 2 */
    { "DBABUw~BVoAAAABAA", 0, 1, 0 },
    /* usde v1 sale 1 ta 2 */
    { "DBABUw~BVYAAAABAA", 0, 1, 8 },
    /* usde v1 sale 2 ta 1 */
    { "DBABUw~BVkAAAABAA", 0, 1, 8 },
    /* usde v1 sale 2 ta 2 gpc 0 */
    { "DBABUw~BVoAAAABAA.QA", 0, 1, 0 },
    /* usde v1 sale 2 ta 2 gpc 1 */
    { "DBABUw~BVoAAAABAA.YA", 0, 1, 8 },
    /* usia v1 sale 2 ta 2 */
    { "DBABCw~BVaAAAQA", 0, 1, 0 },
    /* usia v1 sale 1 ta 2 */
    { "DBABCw~BVWAAAQA", 0, 1, 8 },
    /* usia v1 sale 2 ta 1 */
    { "DBABCw~BVZAAAQA", 0, 1, 8 },
    /* usia v1 sale 2 ta 2 gpc 0 */
    { "DBABCw~BVaAAAQA.QA", 0, 1, 0 },
    /* usia v1 sale 2 ta 2 gpc 1 */
    { "DBABCw~BVaAAAQA.YA", 0, 1, 8 },
    /* usne v1 sale 2 ta 2 */
    { "DBABSw~BVoAAAQA", 0, 1, 0 },
    /* usne v1 sale 1 ta 2 */
    { "DBABSw~BVYAAAQA", 0, 1, 8 },
    /* usne v1 sale 2 ta 1 */
    { "DBABSw~BVkAAAQA", 0, 1, 8 },
    /* usne v1 sale 2 ta 2 gpc 0 */
    { "DBABSw~BVoAAAQA.QA", 0, 1, 0 },
    /* usne v1 sale 2 ta 2 gpc 1 */
    { "DBABSw~BVoAAAQA.YA", 0, 1, 8 },
    /* usnh v1 sale 2 ta 2 */
    { "DBABKw~BVoAAABA", 0, 1, 0 },
    /* usnh v1 sale 1 ta 2 */
    { "DBABKw~BVYAAABA", 0, 1, 8 },
    /* usnh v1 sale 2 ta 1 */
    { "DBABKw~BVkAAABA", 0, 1, 8 },
    /* usnh v1 sale 2 ta 2 gpc 0 */
    { "DBABKw~BVoAAABA.QA", 0, 1, 0 },
    /* usnh v1 sale 2 ta 2 gpc 1 */
    { "DBABKw~BVoAAABA.YA", 0, 1, 8 },
    /* usnj v1 sale 2 ta 2 */
    { "DBABAYA~BVoAAAAAQA", 0, 1, 0 },
    /* usnj v1 sale 1 ta 2 */
    { "DBABAYA~BVYAAAAAQA", 0, 1, 8 },
    /* usnj v1 sale 2 ta 1 */
    { "DBABAYA~BVkAAAAAQA", 0, 1, 8 },
    /* usnj v1 sale 2 ta 2 gpc 0 */
    { "DBABAYA~BVoAAAAAQA.QA", 0, 1, 0 },
    /* usnj v1 sale 2 ta 2 gpc 1 */
    { "DBABAYA~BVoAAAAAQA.YA", 0, 1, 8 },
    /* ustn v1 sale 2 ta 2 */
    { "DBABQYA~BVoAAAQA", 0, 1, 0 },
    /* ustn v1 sale 1 ta 2 */
    { "DBABQYA~BVYAAAQA", 0, 1, 8 },
    /* ustn v1 sale 2 ta 1 */
    { "DBABQYA~BVkAAAQA", 0, 1, 8 },
    /* ustn v1 sale 2 ta 2 gpc 0 */
    { "DBABQYA~BVoAAAQA.QA", 0, 1, 0 },
    /* ustn v1 sale 2 ta 2 gpc 1 */
    { "DBABQYA~BVoAAAQA.YA", 0, 1, 8 },
    /* usmn v1 sale 2 ta 2 */
    { "DBABIYA~BVoAAAQA", 0, 1, 0 },
    /* usmn v1 sale 1 ta 2 */
    { "DBABIYA~BVYAAAQA", 0, 1, 8 },
    /* usmn v1 sale 2 ta 1 */
    { "DBABIYA~BVkAAAQA", 0, 1, 8 },
    /* usmn v1 sale 2 ta 2 gpc 0 */
    { "DBABIYA~BVoAAAQA.QA", 0, 1, 0 },
    /* usmn v1 sale 2 ta 2 gpc 1 */
    { "DBABIYA~BVoAAAQA.YA", 0, 1, 8 },
    /* usmd v1 sale 2 ta 2 */
    { "DBABEYA~BRWg", 0, 1, 0 },
    /* usmd v1 sale 1 ta 2 */
    { "DBABEYA~BRVg", 0, 1, 8 },
    /* usmd v1 sale 2 ta 1 */
    { "DBABEYA~BRWQ", 0, 1, 8 },
    /* usmd v1 sale 2 ta 2 gpc 0 */
    { "DBABEYA~BRWg.QA", 0, 1, 0 },
    /* usmd v1 sale 2 ta 2 gpc 1 */
    { "DBABEYA~BRWg.YA", 0, 1, 8 },
    /* usin v1 sale 2 ta 2 */
    { "DBABUYA~BRWg", 0, 1, 0 },
    /* usin v1 sale 1 ta 2 */
    { "DBABUYA~BRVg", 0, 1, 8 },
    /* usin v1 sale 2 ta 1 */
    { "DBABUYA~BRWQ", 0, 1, 8 },
    /* usin v1 sale 2 ta 2 + sensitive data */
    { "DBABUYA~BRWg.AAA", 0, 1, 0 },
    /* usky v1 sale 2 ta 2 */
    { "DBABCYA~BRWg", 0, 1, 0 },
    /* usky v1 sale 1 ta 2 */
    { "DBABCYA~BRVg", 0, 1, 8 },
    /* usky v1 sale 2 ta 1 */
    { "DBABCYA~BRWQ", 0, 1, 8 },
    /* usky v1 sale 2 ta 2 + sensitive data */
    { "DBABCYA~BRWg.AAA", 0, 1, 0 },
    /* usri v1 sale 2 ta 2 */
    { "DBABSYA~BRWg", 0, 1, 0 },
    /* usri v1 sale 1 ta 2 */
    { "DBABSYA~BRVg", 0, 1, 8 },
    /* usri v1 sale 2 ta 1 */
    { "DBABSYA~BRWQ", 0, 1, 8 },
    /* usri v1 sale 2 ta 2 + sensitive data */
    { "DBABSYA~BRWg.AAA", 0, 1, 0 },
};


/* ---------------------------------------------------------------------- */
/* section 2 and the US sections together, and section filtering          */

/* library-written: tcfeuv2 PolicyVersion 5, IsServiceSpecific true,
 * PurposeConsents 1..11, VendorConsents [5, 755..758]; usnat v2
 * SaleOptOut 1 */
#define COMBO                                                               \
    "DBACMMA~CP_h-0AP_h-0AEsACAENCWFgAP_gAAAAAAAAF7QAgACwLzAvYAAAAAAA"      \
    ".IAAA.YAAAAAAAAAAA~CAAQAAAAAABA"

/* the same with PolicyVersion 3 */
#define COMBO_OLD                                                           \
    "DBACMMA~CP_h-0AP_h-0AEsACAENCWDgAP_gAAAAAAAAF7QAgACwLzAvYAAAAAAA"      \
    ".IAAA.YAAAAAAAAAAA~CAAQAAAAAABA"


static void
test_combo(void)
{
    check(COMBO, ALL, 0, N | P | A, M, "tcf grants, usnat opts out");
    check(COMBO, SID(2), 0, N | P | A | M, 0, "only section 2 applies");
    check(COMBO, SID(7), 0, N, M, "only section 7 applies");
    check(COMBO, SID(2) | SID(6), 0, N | P | A | M, 0, "2 and 6 apply");
    check(COMBO, 0, 0, N, 0, "no section applies");
    check(COMBO, SID(8), 0, N, 0, "a section not in the string");

    check(COMBO_OLD, ALL, 0, N, P | A | M, "tcf policy 3 refuses");
    check(COMBO_OLD, SID(7), 0, N, M, "tcf policy 3 not applicable");

    /* a section that is not applicable is only split off: a usnat with a
     * bit set in its padding counts only where it applies */
    check("DBACTY~1YYN~BVQqAAAAAgB.QA", SID(6), 0, N, M,
          "broken section 7, not applicable");
    check("DBACTY~1YYN~BVQqAAAAAgB.QA", ALL, -1, FAIL_G, FAIL_R,
          "broken section 7, applicable");
}


static void
test_decode(void)
{
    pe_gpp_t  g;

    /* ids 6 and 7, written as two single entries rather than a range:
     * uspv1 OptOutSale Y, usnat v1 GPC subsection with Gpc false */
    is_int(pe_gpp_decode((const unsigned char *) "DBACTY~1YYN~BVQqAAAAAgA.QA",
                         26, ALL, &g), 0, "decode 6, 7");
    is_int(g.count, 2, "two sections");
    ok(g.sections == (SID(6) | SID(7)), "sections 6 and 7");
    ok(g.read == (SID(6) | SID(7)), "both read");
    ok(g.opt_out == SID(6), "uspv1 opts out");
    ok(g.gpc == 0, "no gpc");

    is_int(pe_gpp_decode((const unsigned char *) COMBO, strlen(COMBO), ALL,
                         &g), 0, "decode combo");
    ok(g.read == (SID(2) | SID(7)), "combo: both read");
    ok(g.tcf.granted == (N | P | A | M) && g.tcf.refused == 0,
       "combo: tcf verdict");
    ok(g.opt_out == SID(7), "combo: usnat opts out");

    /* only applicable sections are read */
    is_int(pe_gpp_decode((const unsigned char *) COMBO, strlen(COMBO),
                         SID(7), &g), 0, "decode combo, 7 only");
    ok(g.sections == (SID(2) | SID(7)) && g.read == SID(7),
       "combo, 7 only: 2 listed, not read");

    /* usnat v2 with a GPC subsection, Gpc true (library-written) */
    is_int(pe_gpp_decode((const unsigned char *) "DBABLA~CVVqAAAAAABA.YA",
                         22, ALL, &g), 0, "decode usnat gpc");
    ok(g.gpc == SID(7) && g.opt_out == 0, "gpc, no opt-out field");

    /* usnat version 3: the library decodes it (in the v2 layout); we do
     * not know the version, so it expresses nothing */
    is_int(pe_gpp_decode((const unsigned char *) "DBABLA~DVVqAAAAAQA", 18,
                         ALL, &g), 0, "decode usnat v3");
    ok(g.sections == SID(7) && g.read == 0, "usnat v3 not read");

    /* ids 28..2027 in one range */
    is_int(pe_gpp_decode((const unsigned char *) "DBABqdEEw~A", 11, ALL, &g),
           -1, "2000 ids, 1 section");
}


/* ---------------------------------------------------------------------- */
/* __gpp_sid                                                              */

static void
test_sid(void)
{
    size_t       i;
    uint64_t     m;
    const char  *bad[] = {
        "", "0", "64", "99", "7,", ",7", "7,,8", "7__8", "a", "7 ", " 7",
        "7;8", "%2C", "7%2C", "2%2", "2%3B7", "2%2D7", "-2", "+7", "7.0",
        "[7]", "1000000000000000000000000000000", "2,0", "2,64"
    };

#define SID_OK(str, want)                                                   \
    m = 1;                                                                  \
    is_int(pe_gpp_sid((const unsigned char *) str, strlen(str), &m), 0,    \
           "sid %s", str);                                                  \
    ok(m == (want), "sid %s: mask", str)

    SID_OK("7", SID(7));
    SID_OK("2,7", SID(2) | SID(7));
    SID_OK("2_7", SID(2) | SID(7));
    SID_OK("2%2C7", SID(2) | SID(7));
    SID_OK("2%2c7_8,9", SID(2) | SID(7) | SID(8) | SID(9));
    SID_OK("1,63", SID(1) | SID(63));
    SID_OK("007", SID(7));
    SID_OK("7,7", SID(7));
    SID_OK("-1", 0);                    /* none applies, as the CMP API */

#undef SID_OK

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = 1;
        is_int(pe_gpp_sid((const unsigned char *) bad[i], strlen(bad[i]),
                          &m), -1, "sid '%s' refused", bad[i]);
        ok(m == 0, "sid '%s': no mask", bad[i]);
    }
}


/* ---------------------------------------------------------------------- */
/* every truncation, every one-character corruption                       */

/*
 * '-' malformed, '.' parsed and expressing nothing, 'm' parsed and
 * refusing marketing (necessary granted, nothing else said).
 */
typedef struct {
    const char  *s;
    const char  *prefixes;
    const char  *replaced[32];
} table_t;


/* uspv1 1YNN, usnat v1 with opt-outs 2 and Gpc false (ids 6 and 7).
 * Replacing uspv1's '1' or usnat's 'B' (the version) makes a version we
 * do not know, which expresses nothing; usnat 'C' (version 2) in 11
 * characters is a cut version 2 */
static const table_t  t_usp_usnat = {
    "DBABzw~1YNN~BVQqAAAAAgA.QA",
    /* every prefix, 1 to 25 characters long */
    "---------------------..-.",
    {   /* character i replaced by each of ALPHABET */
        "---.--------------------------------------------------------------",
        "-.----------------------------------------------------------------",
        ".-----------------------------------------------------------------",
        "-.----------------------------------------------------------------",
        "-----------------------------------.---------------.--------------",
        "------------------------------------------------.-----------------",
        "----------------------------------------------------------------.-",
        "................................................................--",
        "-------------.----------.-------------------------------------.---",
        "-------------.----------m-------------------------------------.---",
        "-------------.----------.-------------------------------------.---",
        "----------------------------------------------------------------.-",
        "..-.............................................................--",
        "................................................................--",
        "................................................................--",
        ".m.-mmm-.m.-----mmm-mmm-mmm-----.m.-mmm-.m.-----------------------",
        "................................................................--",
        "................................................................--",
        "................................................................--",
        "................................................................--",
        "................................................................--",
        "................................................................--",
        ".-----------------------------------------------------------------",
        "-----------------------------------------------------------------.",
        "----------------.-------m-----------------------------------------",
        ".-----------------------------------------------------------------",
    }
};

/* usri v1, TargetedAdvertisingOptOut 2, with its sensitive data consent
 * subsection (no subsection type: 16 bits of 2-bit consents) */
static const table_t  t_usri = {
    "DBABSYA~BRWg.AAA",
    /* every prefix, 1 to 15 characters long */
    "-----------.---",
    {   /* character i replaced by each of ALPHABET */
        "---.--------------------------------------------------------------",
        "-.----------------------------------------------------------------",
        ".-----------------------------------------------------------------",
        "-.----------------------------------------------------------------",
        "-..--.---..------..-..--------------------------------------------",
        "---.--.----..------.--.-.----------.--.----..---------------------",
        ".-----------------------------------------------------------------",
        "----------------------------------------------------------------.-",
        "................................................................--",
        "................................................................--",
        ".m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.-.m.---",
        "................mmmmmmmmmmmmmmmm................------------------",
        "-----------------------------------------------------------------.",
        "................................................................--",
        "................................................................--",
        ".---.---.---.---.---.---.---.---.---.---.---.---.---.---.---.-----",
    }
};

/* usca v1 opt-outs 2, GPC subsection with Gpc true */
static const table_t  t_usca = {
    "DBABBg~BVoAAABA.YA",
    /* every prefix, 1 to 17 characters long */
    "--------------.-m",
    {   /* character i replaced by each of ALPHABET */
        "---m--------------------------------------------------------------",
        "-m----------------------------------------------------------------",
        "m-----------------------------------------------------------------",
        "-m----------------------------------------------------------------",
        "-m-------------------m--------------------------------------------",
        "---.--.----..------.--.-.-------m---------------------------------",
        "----------------------------------------------------------------m-",
        ".m..............................................................--",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm--",
        "mmmmmmmmmmmm----mmmmmmmmmmmm----mmmmmmmmmmmm----------------------",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm--",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm--",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm--",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm--",
        "m---m---m---m---m---m---m---m---m---m---m---m---m---m---m---m-----",
        "-----------------------------------------------------------------m",
        "----------------.-------m-----------------------------------------",
        "m-----------------------------------------------------------------",
    }
};


static char
code(int rc, const pe_consent_t *c)
{
    if (rc != 0) {
        return (c->granted == FAIL_G && c->refused == FAIL_R) ? '-' : '?';
    }

    if (c->granted == N && c->refused == 0) {
        return '.';
    }

    return (c->granted == N && c->refused == M) ? 'm' : '?';
}


static void
test_table(const table_t *t)
{
    int           rc;
    char          buf[64], got[sizeof(ALPHABET)];
    size_t        i, j, n;
    pe_consent_t  c;

    n = strlen(t->s);

    for (i = 1; i < n; i++) {
        rc = pe_gpp_consent((const unsigned char *) t->s, i, ALL, &c);
        got[0] = code(rc, &c);

        if (!ok(got[0] == t->prefixes[i - 1], "%s: prefix %zu", t->s, i)) {
            printf("#   got '%c', expected '%c'\n", got[0],
                   t->prefixes[i - 1]);
        }
    }

    for (i = 0; i < n; i++) {
        memcpy(buf, t->s, n);

        for (j = 0; j < sizeof(ALPHABET) - 1; j++) {
            buf[i] = ALPHABET[j];
            rc = pe_gpp_consent((const unsigned char *) buf, n, ALL, &c);
            got[j] = code(rc, &c);
        }

        got[j] = '\0';

        if (!ok(strcmp(got, t->replaced[i]) == 0, "%s: character %zu", t->s,
                i))
        {
            printf("#   got      %s\n#   expected %s\n", got,
                   t->replaced[i]);
        }
    }
}


/* strings with a TC string: every prefix is malformed (and section 2's
 * own corruptions are pe_consent.c's, tested in test_consent.c) */
static void
test_prefixes(const char *s)
{
    int           rc, bad;
    size_t        i, n;
    pe_consent_t  c;

    n = strlen(s);
    bad = 0;

    for (i = 0; i < n; i++) {
        rc = pe_gpp_consent((const unsigned char *) s, i, ALL, &c);

        if (rc != -1 || c.granted != FAIL_G || c.refused != FAIL_R) {
            printf("#   prefix %zu parsed\n", i);
            bad++;
        }
    }

    ok(bad == 0, "every prefix of %.40s... is malformed", s);
}


/* ---------------------------------------------------------------------- */
/* malformed and hostile                                                  */

static const vec_t  malformed[] = {
    /* header Type 2, Version 2: the library throws */
    { "CBABTA~1YNN", -1, FAIL_G, FAIL_R },
    { "DCABTA~1YNN", -1, FAIL_G, FAIL_R },
    /* a '.' in the header: the library throws */
    { "DBAB.TA~1YYN", -1, FAIL_G, FAIL_R },
    /* header padding: a bit set, a character too many (the library reads
     * both, ignoring the rest); no padding is fine */
    { "DBABTB~1YNN", -1, FAIL_G, FAIL_R },
    { "DBABTAA~1YNN", -1, FAIL_G, FAIL_R },
    { "DBABT~1YNN", 0, N, 0 },
    /* a Fibonacci code with no "11" (the library throws) */
    { "DBABAAAA~1YNN", -1, FAIL_G, FAIL_R },
    /* one id, a Fibonacci code of 46 data bits (2971215073) and of 47
     * (4807526976): the library reads both, as unknown sections; ids
     * above 2^32 - 1 are refused here */
    { "DBABAAAAAAAD~A", 0, N, 0 },
    { "DBABAAAAAAABg~A", -1, FAIL_G, FAIL_R },
    /* 4095 entries announced, one there; ids 1..1000000 for one section;
     * ids 28..2027 for one section (the library throws on all three) */
    { "DB__T~1YNN", -1, FAIL_G, FAIL_R },
    { "DBAB6qQAUY~1YNN", -1, FAIL_G, FAIL_R },
    { "DBABqdEEw~A", -1, FAIL_G, FAIL_R },
    /* ids 3 and 4, 28 and 29: sections nobody defined express nothing */
    { "DBABng~_~-", 0, N, 0 },
    { "DBABqe~A~A", 0, N, 0 },
    /* ids cannot be unsorted (each is a delta of at least 1): sections in
     * the wrong order are what is left, and uspv1 is no TC string (the
     * library throws) */
    { "DBACNYA~1YNN~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
      -1, FAIL_G, FAIL_R },
    /* a section missing, one too many, an empty one last (the library
     * throws) */
    { "DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
      -1, FAIL_G, FAIL_R },
    { "DBABTA~1YNN~1YNN", -1, FAIL_G, FAIL_R },
    { "DBABTA~1YNN~", -1, FAIL_G, FAIL_R },
    { "DBABTA~", -1, FAIL_G, FAIL_R },
    { "DBAB", -1, FAIL_G, FAIL_R },
    /* empty segments (the library throws) */
    { "DBABLA~BVQqAAAAAgA.", -1, FAIL_G, FAIL_R },
    { "DBABLA~.BVQqAAAAAgA", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA..QA", -1, FAIL_G, FAIL_R },
    /* usnat: a bit set in the padding of the core, of the GPC subsection,
     * a GPC subsection a character too long (the library reads all) */
    { "DBABLA~BVQqAAAAAgB.QA", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA.QB", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA.QAA", -1, FAIL_G, FAIL_R },
    /* SubsectionType 0, 2, 3 (the library reads Gpc anyway), two
     * subsections (it ignores the second) */
    { "DBABLA~BVQqAAAAAgA.AA", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA.gA", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA.wA", -1, FAIL_G, FAIL_R },
    { "DBABLA~BVQqAAAAAgA.QA.QA", -1, FAIL_G, FAIL_R },
    /* usva has no subsection (the library ignores one) */
    { "DBABRg~BVoAABA.QA", -1, FAIL_G, FAIL_R },
    /* usnat SaleOptOut 3 (the library reads 3: no opt-out) */
    { "DBABLA~BVV6AAAAAQA", -1, FAIL_G, FAIL_R },
    /* usnat v1 in 10 characters (60 bits, no padding): the library reads
     * it; in 9, it throws; a version 2 cut to 11 the library reads as the
     * v1 layout, we refuse */
    { "DBABLA~BVVqAAAAAQ", 0, N, 0 },
    { "DBABLA~BVVqAAAAA", -1, FAIL_G, FAIL_R },
    { "DBABLA~CVVqAAAAAQA", -1, FAIL_G, FAIL_R },
    /* uspv1: a lower-case y (the library reads it), 3 and 5 characters
     * (it throws); version 2 expresses nothing (it reads Version 2) */
    { "DBABTA~1yNN", -1, FAIL_G, FAIL_R },
    { "DBABTA~1YN", -1, FAIL_G, FAIL_R },
    { "DBABTA~1YYNN", -1, FAIL_G, FAIL_R },
    { "DBABTA~2YYN", 0, N, 0 },
    /* not base64url (the library throws) */
    { "DBABTA~1Y+N", -1, FAIL_G, FAIL_R },
    { "DBABTA~1Y/N", -1, FAIL_G, FAIL_R },
    { "DBABTA~1YN=", -1, FAIL_G, FAIL_R },
    { "DBABTA~1YN N", -1, FAIL_G, FAIL_R },
    { "DBABTA%7E1YNN", -1, FAIL_G, FAIL_R },
    { "", -1, FAIL_G, FAIL_R },
};


static void
test_hostile(void)
{
    int           rc, bad;
    char         *big;
    size_t        i, n, len;
    pe_consent_t  c;
    const char   *valid = "DBABzw~1YNN~BVQqAAAAAgA.QA";
    unsigned char buf[64];
    static const unsigned char  junk[] = { 0, ' ', '+', '/', '=', '%',
                                           ',', ';', 0x80, 0xff };

    /* any byte outside base64url, '~' and '.', anywhere */
    len = strlen(valid);
    bad = 0;

    for (i = 0; i < len; i++) {
        for (n = 0; n < sizeof(junk); n++) {
            memcpy(buf, valid, len);
            buf[i] = junk[n];
            rc = pe_gpp_consent(buf, len, ALL, &c);

            if (rc != -1 || c.granted != FAIL_G || c.refused != FAIL_R) {
                bad++;
            }
        }
    }

    ok(bad == 0, "a junk byte anywhere is malformed");

    /*
     * 4096 bytes: ids 28..2027 in one range (DBABqdEEw, which the
     * library reads as 2000 ids), 2000 sections "A" but the last, which
     * takes the rest; 4097 is too long
     */
    big = malloc(PE_CONSENT_MAX + 2);
    if (big == NULL) {
        abort();
    }

    memcpy(big, "DBABqdEEw", 9);
    for (i = 0; i < 2000; i++) {
        memcpy(big + 9 + 2 * i, "~A", 2);
    }
    memset(big + 4009, 'A', PE_CONSENT_MAX + 2 - 4009);

    rc = pe_gpp_consent((unsigned char *) big, PE_CONSENT_MAX, ALL, &c);
    ok(rc == 0 && c.granted == N && c.refused == 0, "4096 bytes parse");

    rc = pe_gpp_consent((unsigned char *) big, PE_CONSENT_MAX + 1, ALL,
                        &c);
    ok(rc == -1 && c.granted == FAIL_G && c.refused == FAIL_R,
       "4097 bytes refused");

    big[100] = '!';
    rc = pe_gpp_consent((unsigned char *) big, PE_CONSENT_MAX, ALL, &c);
    ok(rc == -1, "4096 bytes with a junk byte refused");

    free(big);

    /* nothing read at all for n == 0 */
    rc = pe_gpp_consent(NULL, 0, ALL, &c);
    ok(rc == -1 && c.granted == FAIL_G && c.refused == FAIL_R, "n == 0");
}


int
main(void)
{
    check_all(examples, sizeof(examples) / sizeof(examples[0]), "example");
    check_all(us, sizeof(us) / sizeof(us[0]), "us");
    test_combo();
    test_decode();
    test_sid();

    test_table(&t_usp_usnat);
    test_table(&t_usri);
    test_table(&t_usca);
    test_prefixes(COMBO);
    test_prefixes("DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
                  "~1YNN");

    check_all(malformed, sizeof(malformed) / sizeof(malformed[0]),
              "malformed");
    test_hostile();

    return done_testing();
}
