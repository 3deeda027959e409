
/*
 * Unit tests of the HS256 signer against RFC 7515, appendix A.1, and of
 * base64url against RFC 4648's test vectors.
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
    char  sig[PE_JWS_SIG_LEN + 1];

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
    }

    return done_testing();
}
