
/*
 * privacy-edge: SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash
 * of short inputs.  Names a rate limit's key where it must be found
 * again but not read back: the key of a global limit's shared-memory
 * node, and that key in Redis's list of keys used over a node's share.
 * Pure C, no nginx types.
 */

#ifndef PE_SIPHASH_H
#define PE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>


#define PE_SIPHASH_KEY_LEN  16


/* key: 16 bytes, read as two little-endian 64-bit words, as the paper's */
uint64_t pe_siphash24(const unsigned char *key, const unsigned char *data,
    size_t len);


#endif /* PE_SIPHASH_H */
