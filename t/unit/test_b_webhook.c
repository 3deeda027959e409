/*
 * Unit tests of webhook verification (backend/webhook.c): the Standard
 * Webhooks specification's published vector accepted; and stale, future,
 * altered, truncated, replayed-under-another-id, wrong-version, wrong-key
 * and malformed requests refused.  Ed25519 against RFC 8032's vectors;
 * fal's signatures against vectors made here with a fresh key; JWKS
 * documents, good and hostile.
 */

#include "tap.h"

#include <stdlib.h>

#include <openssl/evp.h>

#include "webhook.h"


/* the specification's vector */
#define SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define ID      "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS      "1614265330"
#define BODY    "{\"test\": 2432232314}"
#define SIG     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define NOW     1614265330


static char  err[128];


static int
verify(const char *secret, const char *id, const char *ts, const char *sig,
    const char *body, time_t now)
{
    return pe_webhook_verify_standard(secret, id, ts, sig,
                                      (const unsigned char *) body,
                                      strlen(body), now, err, sizeof(err));
}


static void
unhex(const char *h, unsigned char *out)
{
    size_t  i;

    for (i = 0; h[2 * i]; i++) {
        sscanf(h + 2 * i, "%2hhx", &out[i]);
    }
}


/* RFC 8032, section 7.1: tests 1 to 3 */
static void
rfc8032(void)
{
    size_t          i;
    unsigned char   key[32], sig[64], msg[2];
    static const struct { const char *key, *msg, *sig; }  v[] = {
        { "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
          "",
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
          "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
        { "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
          "72",
          "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
          "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
        { "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
          "af82",
          "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
          "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unhex(v[i].key, key);
        unhex(v[i].sig, sig);
        unhex(v[i].msg, msg);

        is_int(pe_ed25519_verify(key, sig, msg, strlen(v[i].msg) / 2), 0,
               "RFC 8032 test %zu: verified", i + 1);

        sig[i * 7] ^= 0x01;
        is_int(pe_ed25519_verify(key, sig, msg, strlen(v[i].msg) / 2), -1,
               "RFC 8032 test %zu, a bit of the signature flipped: refused",
               i + 1);
        sig[i * 7] ^= 0x01;

        key[31 - i] ^= 0x80;
        is_int(pe_ed25519_verify(key, sig, msg, strlen(v[i].msg) / 2), -1,
               "RFC 8032 test %zu, another key: refused", i + 1);
    }
}


/* a fal callback signed with pk: the signature's hex into out */
static void
fal_sign(EVP_PKEY *pk, const char *rid, const char *uid, const char *ts,
    const char *body, char *out)
{
    char            msg[1024];
    size_t          n, i, slen;
    unsigned int    dlen;
    EVP_MD_CTX     *md;
    unsigned char   digest[32], sig[64];

    EVP_Digest(body, strlen(body), digest, &dlen, EVP_sha256(), NULL);
    n = (size_t) snprintf(msg, sizeof(msg), "%s\n%s\n%s\n", rid, uid, ts);

    for (i = 0; i < 32; i++) {
        n += (size_t) sprintf(msg + n, "%02x", digest[i]);
    }

    md = EVP_MD_CTX_new();
    slen = sizeof(sig);
    EVP_DigestSignInit(md, NULL, NULL, NULL, pk);
    EVP_DigestSign(md, sig, &slen, (unsigned char *) msg, n);
    EVP_MD_CTX_free(md);

    for (i = 0; i < 64; i++) {
        sprintf(out + 2 * i, "%02x", sig[i]);
    }
}


static int
fal_verify(unsigned char (*keys)[32], size_t nkeys, const char *rid,
    const char *uid, const char *ts, const char *sig, const char *body,
    time_t now)
{
    return pe_webhook_verify_fal((const unsigned char (*)[32]) keys, nkeys,
                                 rid, uid, ts, sig,
                                 (const unsigned char *) body, strlen(body),
                                 now, err, sizeof(err));
}


static void
fal(void)
{
    char            sig[129], bad[129], ts[32];
    size_t          klen;
    time_t          now = 1763800000;
    EVP_PKEY       *pk, *other;
    EVP_PKEY_CTX   *kc;
    unsigned char   keys[2][32];
    const char     *rid = "8e3f1a52-4c1b-4f0e-9d7a-2b6c0e9f1a33";
    const char     *uid = "user-standin";
    const char     *body = "{\"request_id\":\"8e3f\",\"status\":\"OK\"}";

    kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    pk = other = NULL;
    EVP_PKEY_keygen_init(kc);
    EVP_PKEY_keygen(kc, &pk);
    EVP_PKEY_keygen(kc, &other);
    EVP_PKEY_CTX_free(kc);

    klen = 32;
    EVP_PKEY_get_raw_public_key(other, keys[0], &klen);
    klen = 32;
    EVP_PKEY_get_raw_public_key(pk, keys[1], &klen);

    snprintf(ts, sizeof(ts), "%lld", (long long) now);
    fal_sign(pk, rid, uid, ts, body, sig);

    is_int(fal_verify(keys, 2, rid, uid, ts, sig, body, now), 0,
           "fal: a callback signed by the second key of the JWKS: accepted");
    is_int(fal_verify(keys, 1, rid, uid, ts, sig, body, now), -1,
           "fal: without that key: refused");
    is_str(err, "no webhook key verifies the signature", "... said so");
    is_int(fal_verify(keys, 2, rid, uid, ts, sig, body, now + 300), 0,
           "fal: 300 s later: accepted");
    is_int(fal_verify(keys, 2, rid, uid, ts, sig, body, now + 301), -1,
           "fal: 301 s later: stale");
    is_int(fal_verify(keys, 2, rid, uid, ts, sig, body, now - 301), -1,
           "fal: 301 s early: refused");
    is_int(fal_verify(keys, 2, rid, uid, ts, sig,
                      "{\"request_id\":\"8e3f\",\"status\":\"ERROR\"}", now),
           -1, "fal: another body: refused");
    is_int(fal_verify(keys, 2, "8e3f1a52-4c1b-4f0e-9d7a-2b6c0e9f1a34", uid,
                      ts, sig, body, now),
           -1, "fal: another request id: refused");
    is_int(fal_verify(keys, 2, rid, "user-other", ts, sig, body, now), -1,
           "fal: another user id: refused");

    memcpy(bad, sig, sizeof(bad));
    bad[10] = bad[10] == '0' ? '1' : '0';
    is_int(fal_verify(keys, 2, rid, uid, ts, bad, body, now), -1,
           "fal: a digit of the signature changed: refused");
    bad[127] = '\0';
    is_int(fal_verify(keys, 2, rid, uid, ts, bad, body, now), -1,
           "fal: a truncated signature: refused");
    is_str(err, "bad webhook signature", "... as malformed");
    memcpy(bad, sig, sizeof(bad));
    bad[0] = 'g';
    is_int(fal_verify(keys, 2, rid, uid, ts, bad, body, now), -1,
           "fal: a signature not hex: refused");
    is_int(fal_verify(keys, 2, rid, uid, "17638e5", sig, body, now), -1,
           "fal: a timestamp not decimal: refused");
    is_int(fal_verify(keys, 2, NULL, uid, ts, sig, body, now), -1,
           "fal: a header missing: refused");
    is_str(err, "webhook headers missing", "... said so");
    is_int(fal_verify(keys, 2, "a\nb", uid, ts, sig, body, now), -1,
           "fal: a request id with a newline: refused");
    is_int(fal_verify(keys, 0, rid, uid, ts, sig, body, now), -1,
           "fal: no keys at all: refused");

    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
}


static long
jwks(const char *text, unsigned char (*keys)[32], size_t max)
{
    return pe_webhook_jwks(text, strlen(text), keys, max, err, sizeof(err));
}


static void
jwks_documents(void)
{
    unsigned char  keys[3][32], want[32];

    /* RFC 8037's example public key (section A.2) */
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
          want);

    is_int(jwks("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
                keys, 3),
           1, "a JWKS: its one Ed25519 key, an RSA key passed over");
    ok(memcmp(keys[0], want, 32) == 0, "... decoded right");
    is_int(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
                keys, 3),
           -1, "only an X25519 key: refused");
    is_str(err, "no Ed25519 key in the JWKS", "... said so");
    is_int(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHU\"}]}",
                keys, 3),
           -1, "a short x: refused");
    is_int(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}]}",
                keys, 3),
           -1, "a padded x: refused");
    is_int(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}]}", keys,
                3),
           -1, "no x: refused");
    is_int(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},"
                "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
                keys, 1),
           -1, "more keys than room: refused, not cut short");
    is_int(jwks("{\"keys\":{}}", keys, 3), -1, "keys not a list: refused");
    is_int(jwks("[]", keys, 3), -1, "not an object: refused");
    is_int(jwks("{\"keys\":[", keys, 3), -1, "truncated: refused");
    is_int(jwks("", keys, 3), -1, "empty: refused");
    is_int(jwks("{\"keys\":[1,\"x\",null,{\"kty\":7}]}", keys, 3), -1,
           "junk entries: refused, nothing read");
}


int
main(void)
{
    char    buf[8192], *p;
    size_t  i, n;
    int     bad;

    is_int(verify(SECRET, ID, TS, SIG, BODY, NOW), 0,
           "the published vector: accepted");
    is_int(verify(SECRET + 6, ID, TS, SIG, BODY, NOW), 0,
           "... the secret without whsec_ too");
    is_int(verify(SECRET, ID, TS, SIG, BODY, NOW + 300), 0,
           "... 300 s later");
    is_int(verify(SECRET, ID, TS, "v1,bm9wZQ== " SIG, BODY, NOW), 0,
           "... second of two signatures (a rotated key)");
    is_int(verify(SECRET, ID, TS, "v2,xyz " SIG " v1a,zz", BODY, NOW), 0,
           "... among other versions");

    is_int(verify(SECRET, ID, TS, SIG, BODY, NOW + 301), -1,
           "301 s later: stale");
    is_str(err, "webhook-timestamp outside 300 s", "... said so");
    is_int(verify(SECRET, ID, TS, SIG, BODY, NOW - 301), -1,
           "301 s early: refused");
    is_int(verify(SECRET, ID, TS, SIG, "{\"test\": 2432232315}", NOW), -1,
           "a changed body: refused");
    is_str(err, "no webhook signature matches", "... said so");
    is_int(verify(SECRET, "msg_other", TS, SIG, BODY, NOW), -1,
           "the same signature under another id: refused");
    is_int(verify(SECRET, ID, "1614265331", SIG, BODY, NOW), -1,
           "another timestamp: refused");
    is_int(verify("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=", ID, TS, SIG,
                  BODY, NOW), -1, "another key: refused");
    is_int(verify(SECRET, ID, TS, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIO"
                  "LJ1OE=", BODY, NOW), -1, "the right MAC as v2: refused");
    is_int(verify(SECRET, ID, TS, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ"
                  "1OE=", BODY, NOW), -1, "no version: refused");
    is_int(verify(SECRET, ID, TS, "", BODY, NOW), -1, "no signature: refused");
    is_int(verify(SECRET, ID, TS, SIG "x", BODY, NOW), -1,
           "a signature with a byte more: refused");
    is_int(pe_webhook_verify_standard(SECRET, NULL, TS, SIG,
                                      (const unsigned char *) BODY,
                                      strlen(BODY), NOW, err, sizeof(err)),
           -1, "no webhook-id: refused");
    is_int(verify(SECRET, "", TS, SIG, BODY, NOW), -1, "an empty id: refused");
    is_int(verify(SECRET, "a.b", TS, SIG, BODY, NOW), -1,
           "an id with a dot (which would shift the signed text): refused");
    is_int(verify(SECRET, ID, "+1614265330", SIG, BODY, NOW), -1,
           "a signed timestamp: refused");
    is_int(verify(SECRET, ID, "1614265330 ", SIG, BODY, NOW), -1,
           "a timestamp with a blank: refused");
    is_int(verify(SECRET, ID, "99999999999999999999", SIG, BODY, NOW), -1,
           "a huge timestamp: refused");
    is_int(verify("whsec_", ID, TS, SIG, BODY, NOW), -1,
           "an empty secret: refused");
    is_int(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", ID, TS, SIG, BODY,
                  NOW), -1, "a secret cut short: refused");
    is_str(err, "the webhook secret is not whsec_ base64", "... said so");
    is_int(verify("whsec_MfKQ=r8GKYqrTwjUPD8ILPZIo2LaLaSw", ID, TS, SIG, BODY,
                  NOW), -1, "padding inside the secret: refused");

    /* every truncation of the signature header, and of the body */
    bad = 0;
    for (i = 0; i < strlen(SIG); i++) {
        memcpy(buf, SIG, i);
        buf[i] = '\0';
        bad += verify(SECRET, ID, TS, buf, BODY, NOW) == 0;
    }
    is_int(bad, 0, "every truncation of the signature: refused");

    bad = 0;
    for (i = 0; i < strlen(BODY); i++) {
        bad += pe_webhook_verify_standard(SECRET, ID, TS, SIG,
                                          (const unsigned char *) BODY, i,
                                          NOW, err, sizeof(err)) == 0;
    }
    is_int(bad, 0, "every truncation of the body: refused");

    /* every single changed character of the signature */
    bad = 0;
    for (i = 3; i < strlen(SIG); i++) {
        snprintf(buf, sizeof(buf), "%s", SIG);
        buf[i] = buf[i] == 'A' ? 'B' : 'A';
        bad += verify(SECRET, ID, TS, buf, BODY, NOW) == 0;
    }
    is_int(bad, 0, "every changed character of the signature: refused");

    /* an oversized header, even with the right signature in it */
    n = 0;
    p = buf;
    while (n + 50 < sizeof(buf) - sizeof(SIG)) {
        memcpy(p + n, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ", 48);
        n += 48;
    }
    memcpy(p + n, SIG, sizeof(SIG));
    is_int(verify(SECRET, ID, TS, buf, BODY, NOW), -1,
           "a header of 8 KB: refused");
    is_str(err, "webhook-signature too long", "... as too long");

    rfc8032();
    fal();
    jwks_documents();

    return done_testing();
}
