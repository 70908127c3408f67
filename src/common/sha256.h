/* SHA-256 (FIPS 180-4): incremental (sha256_init(), sha256_update(),
 * sha256_final()) or in one call (sha256_digest()). Portable C, no
 * dependencies; not constant-time, and not meant for secrets (the knowledge
 * base hashes entry text with it to find exact duplicates).
 *
 * A struct sha256 is plain state on the caller's side: no allocation, no
 * release; one thread at a time per struct, any number of structs at once. */
#ifndef CAIRN_SHA256_H
#define CAIRN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32 /* bytes of a digest */

struct sha256 {
	uint32_t h[8];         /* the chaining value */
	uint64_t len;          /* bytes hashed so far */
	unsigned char buf[64]; /* the partial block */
	size_t n;              /* bytes in buf */
};

/* Starts a new hash in s (any previous state is dropped). */
void sha256_init(struct sha256 *s);

/* Hashes len more bytes of data (len 0 is fine; data may then be NULL). */
void sha256_update(struct sha256 *s, const void *data, size_t len);

/* Finishes the hash and writes its digest to out. s must be started again
 * with sha256_init() before it is used for another hash. */
void sha256_final(struct sha256 *s, unsigned char out[SHA256_LEN]);

/* The digest of data[0..len) in one call. */
void sha256_digest(const void *data, size_t len, unsigned char out[SHA256_LEN]);

#endif
