/* ULIDs: 26-character, lexicographically time-ordered unique identifiers
 * (48-bit millisecond timestamp + 80 random bits, Crockford base32). */
#ifndef CAIRN_ULID_H
#define CAIRN_ULID_H

#include <stdbool.h>
#include <stdint.h>

#define ULID_LEN 26

/* Writes a new ULID for wall time ms (NUL-terminated) into out. Within one
 * process, ULIDs made in the same millisecond are strictly increasing.
 * Thread-safe. */
void ulid_make(char out[ULID_LEN + 1], int64_t ms);
/* ulid_make() at the current wall time. */
void ulid_new(char out[ULID_LEN + 1]);
/* Writes the 16 bytes b (big-endian: 48 bits of time, then 80 random)
 * as a ULID's 26 characters, NUL-terminated. */
void ulid_encode(const uint8_t b[16], char out[ULID_LEN + 1]);
/* True if s is a syntactically valid ULID. */
bool ulid_valid(const char *s);

#endif
