/* A capped head-and-tail reader: keeps the first head_max bytes and the
 * last tail_max bytes of a stream of any length, and counts all of it. The
 * one copy of what the runner's capture, `cairn triage -`'s stdin and
 * triage's log read used to do each on its own.
 *
 * Invariants, true after headtail_init() and after every call below:
 *   - the kept bytes are the first min(total, head_max) bytes of the stream
 *     followed by its last min(total - head kept, tail_max) bytes, in order;
 *   - memory grows with what is kept, never past head_max + tail_max
 *     bytes (and a NUL byte each): nothing is allocated up front.
 *
 * Ownership: the struct owns what it keeps until headtail_detach() hands it
 * over; headtail_release() frees it. Not locked: one thread at a time.
 * Allocation failure aborts (common/xalloc.h). */
#ifndef CAIRN_HEADTAIL_H
#define CAIRN_HEADTAIL_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct headtail {
	struct buf head; /* the first bytes; at most head_max of them */
	size_t head_max;
	struct buf tail; /* ring of the last bytes; at most tail_max */
	size_t tail_pos; /* oldest byte of the ring; non-zero only when full */
	size_t tail_max;
	uint64_t total; /* bytes seen, kept or not */
};

/* How headtail_join() and headtail_detach() put head and tail together. */
enum headtail_flags {
	/* When bytes were dropped, put the line "[cairn: N bytes omitted]"
	 * (with a newline before and after it) between head and tail. Without
	 * it the tail follows the head directly. */
	HEADTAIL_MARK = 1u << 0,
};

/* Makes h empty, to keep head_max first and tail_max last bytes (either
 * may be 0). Allocates nothing. */
void headtail_init(struct headtail *h, size_t head_max, size_t tail_max);

/* Frees what h keeps and leaves it empty, as after headtail_init() with
 * the same sizes. */
void headtail_release(struct headtail *h);

/* Adds n bytes from p (n may be 0; p may then be NULL). Cannot fail. */
void headtail_add(struct headtail *h, const void *p, size_t n);

/* Adds the bytes of fd from offset from up to offset to, exactly as
 * headtail_add() of those bytes would, but reads (with pread, blocking)
 * only the ones that would be kept: the middle is counted, never read.
 * Adds nothing when to <= from. A read that fails or ends early (the file
 * is shorter than to) stops the part being read; the bytes not read are
 * then neither kept nor counted, except for the middle, which is always
 * counted. Returns 0, or -errno of a failed read (what was read before it
 * is kept). */
int headtail_add_range(struct headtail *h, int fd, uint64_t from, uint64_t to);

/* Bytes added so far, kept or not. */
uint64_t headtail_total(const struct headtail *h);

/* Whether bytes were dropped between the head and the tail. */
bool headtail_truncated(const struct headtail *h);

/* The kept bytes, head then tail (with the marker when flags ask for it
 * and bytes were dropped), as one malloc'd NUL-terminated buffer that the
 * caller frees; its length goes to *len when len is not NULL. h is left
 * as it was. */
char *headtail_join(const struct headtail *h, unsigned flags, size_t *len);

/* As headtail_join(), but hands over h's own memory instead of copying
 * (peak memory stays near what is kept) and leaves h empty, as after
 * headtail_init() with the same sizes. */
char *headtail_detach(struct headtail *h, unsigned flags, size_t *len);

#endif
