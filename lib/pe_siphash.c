
/*
 * privacy-edge: SipHash-2-4, as specified in "SipHash: a fast short-input
 * PRF" (Aumasson, Bernstein, 2012): two compression rounds a word, four
 * finalization rounds.  Little-endian words whatever the host.
 */

#include "pe_siphash.h"


#define PE_ROTL(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define PE_SIPROUND(v0, v1, v2, v3)                                          \
    do {                                                                     \
        v0 += v1; v1 = PE_ROTL(v1, 13); v1 ^= v0; v0 = PE_ROTL(v0, 32);      \
        v2 += v3; v3 = PE_ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = PE_ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = PE_ROTL(v1, 17); v1 ^= v2; v2 = PE_ROTL(v2, 32);      \
    } while (0)


static uint64_t
pe_siphash_le64(const unsigned char *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


uint64_t
pe_siphash24(const unsigned char *key, const unsigned char *data, size_t len)
{
    size_t    i, left;
    uint64_t  k0, k1, v0, v1, v2, v3, m, b;

    k0 = pe_siphash_le64(key);
    k1 = pe_siphash_le64(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    for (i = 0; i + 8 <= len; i += 8) {
        m = pe_siphash_le64(data + i);
        v3 ^= m;
        PE_SIPROUND(v0, v1, v2, v3);
        PE_SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }

    /* the last 0 to 7 bytes, and the length's low byte on top */
    b = (uint64_t) len << 56;
    left = len - i;

    while (left--) {
        b |= (uint64_t) data[i + left] << (8 * left);
    }

    v3 ^= b;
    PE_SIPROUND(v0, v1, v2, v3);
    PE_SIPROUND(v0, v1, v2, v3);
    v0 ^= b;

    v2 ^= 0xff;
    PE_SIPROUND(v0, v1, v2, v3);
    PE_SIPROUND(v0, v1, v2, v3);
    PE_SIPROUND(v0, v1, v2, v3);
    PE_SIPROUND(v0, v1, v2, v3);

    return v0 ^ v1 ^ v2 ^ v3;
}
