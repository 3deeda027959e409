/*
 * Unit tests of webhook verification (backend/webhook.c): the Standard
 * Webhooks specification's published vector accepted; and stale, future,
 * altered, truncated, replayed-under-another-id, wrong-version, wrong-key
 * and malformed requests refused.
 */

#include "tap.h"

#include <stdlib.h>

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

    return done_testing();
}
