
/*
 * Unit tests of the HS256 signer against RFC 7515, appendix A.1, of the
 * precomputed-key HMAC against RFC 4231's vectors, and of base64url
 * against RFC 4648's test vectors.
 */

#include "tap.h"

#include "pe_jws.h"


static const char *
b64u(const char *s)
{
    static char  out[64];
    size_t       n = pe_base64url((const unsigned char *) s, strlen(s), out);

    out[n] = '\0';

    return out;
}


int
main(void)
{
    int             i;
    char            sig[PE_JWS_SIG_LEN + 1];
    unsigned char   long_key[131];
    pe_hmac_t      *h;

    /* RFC 4648, section 10, without padding */
    is_str(b64u(""), "", "base64url of \"\"");
    is_str(b64u("f"), "Zg", "of f");
    is_str(b64u("fo"), "Zm8", "of fo");
    is_str(b64u("foo"), "Zm9v", "of foo");
    is_str(b64u("foob"), "Zm9vYg", "of foob");
    is_str(b64u("fooba"), "Zm9vYmE", "of fooba");
    is_str(b64u("foobar"), "Zm9vYmFy", "of foobar");
    is_str(b64u("\xfb\xff"), "-_8", "the URL-safe alphabet");

    /*
     * RFC 7515, A.1: the JWK "k" below, decoded, is the key; the signing
     * input is the example's header and payload, with their CRLFs.
     */
    {
        static const unsigned char  key[] = {
            3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123,
            166, 143, 90, 179, 40, 230, 240, 84, 201, 40, 169, 15, 132, 178,
            210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150, 138,
            180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192,
            205, 154, 245, 103, 208, 128, 163
        };
        const char  *input =
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
            "."
            "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
            "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

        is_str(b64u("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"),
               "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",
               "RFC 7515 A.1: the protected header");

        ok(pe_hs256(key, sizeof(key), (const unsigned char *) input,
                    strlen(input), sig) == 0, "signs");
        sig[PE_JWS_SIG_LEN] = '\0';
        is_str(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
               "RFC 7515 A.1: the HS256 signature");

        h = pe_hmac_new(key, sizeof(key));
        ok(h != NULL, "a precomputed key of exactly one block");

        /* twice: a signature must not disturb the next */
        for (i = 0; i < 2; i++) {
            memset(sig, 0, sizeof(sig));
            ok(pe_hmac_hs256(h, (const unsigned char *) input,
                             strlen(input), sig) == 0, "signs");
            is_str(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                   "RFC 7515 A.1 with the precomputed key");
        }

        pe_hmac_free(h);
    }

    /* RFC 4231, test case 1: a 20-byte key */
    memset(long_key, 0x0b, 20);
    h = pe_hmac_new(long_key, 20);
    memset(sig, 0, sizeof(sig));
    ok(h && pe_hmac_hs256(h, (const unsigned char *) "Hi There", 8, sig) == 0,
       "RFC 4231 case 1 signs");
    is_str(sig, "sDRMYdjbOFNcqK_OrwvxK4gdwgDJgz2nJuk3bC4yz_c",
           "RFC 4231 case 1");
    pe_hmac_free(h);

    /* RFC 4231, test case 6: a 131-byte key, hashed first */
    memset(long_key, 0xaa, 131);
    h = pe_hmac_new(long_key, 131);
    memset(sig, 0, sizeof(sig));
    ok(h && pe_hmac_hs256(h, (const unsigned char *)
                          "Test Using Larger Than Block-Size Key - Hash Key "
                          "First", 54, sig) == 0,
       "RFC 4231 case 6 signs");
    is_str(sig, "YOQxWR7gtn8Niiaqy_W3f44LxiE3KMUUBUYEDw7jf1Q",
           "RFC 4231 case 6: a key longer than a block");
    pe_hmac_free(h);

    /* no key (a limit without privacy_key): the empty key, as HMAC has it */
    h = pe_hmac_new(NULL, 0);
    memset(sig, 0, sizeof(sig));
    ok(h && pe_hmac_hs256(h, (const unsigned char *) "abc", 3, sig) == 0,
       "an empty key signs");
    is_str(sig, "_XrbFSwF74Dcz1Ch-kwF1aPsbalVdfwxKufF0JGDY1E",
           "... as HMAC-SHA256 with an empty key");
    pe_hmac_free(h);

    {
        long           n;
        unsigned char  out[64];

        /* base64url, strictly */
        n = pe_base64url_decode("Zm9vYmFy", 8, out, sizeof(out));
        ok(n == 6 && memcmp(out, "foobar", 6) == 0, "base64url: foobar");
        n = pe_base64url_decode("Zm9vYg", 6, out, sizeof(out));
        ok(n == 4 && memcmp(out, "foob", 4) == 0, "base64url: foob, unpadded");
        is_int(pe_base64url_decode("Zm9vYg==", 8, out, sizeof(out)), -1,
               "padding is refused");
        is_int(pe_base64url_decode("Zh", 2, out, sizeof(out)), -1,
               "non-zero spare bits are refused (one encoding per value)");
        is_int(pe_base64url_decode("Zm9v+g", 6, out, sizeof(out)), -1,
               "the standard alphabet's + is refused");
        is_int(pe_base64url_decode("Zm9vY", 5, out, sizeof(out)), -1,
               "a length of 1 mod 4 is refused");
        is_int(pe_base64url_decode("Zm9vYmFy", 8, out, 5), -1,
               "output that would not fit is refused");
    }

    return done_testing();
}
