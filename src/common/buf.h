/* A growable byte buffer with a hard maximum: the one buffer type cairn
 * grows by hand nowhere else (git's strbuf, with curl's dynbuf cap).
 *
 * Invariants, true after buf_init() and after every call below:
 *   - data is never NULL and data[len] == '\0', so data is always a C
 *     string (it may also hold NUL bytes of its own before len);
 *   - len <= max, and cap <= max + 1: the buffer never holds more than max
 *     bytes of content nor allocates more than max + 1 bytes;
 *   - cap == 0 means nothing is allocated and data points at a shared,
 *     empty string that must not be written to.
 *
 * Ownership: the buffer owns data until buf_detach() hands it to the
 * caller; buf_release() frees it. A struct buf is not locked: one thread
 * at a time. Every call may allocate; allocation failure aborts
 * (common/xalloc.h), so the only failure of an add is the cap.
 *
 * An add that would take len past max returns CAIRN_E_TOOBIG and leaves the
 * content exactly as it was: nothing is appended, not even a part. */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* never NULL; NUL-terminated at data[len] */
	size_t len; /* bytes of content, the terminating NUL not counted */
	size_t cap; /* bytes allocated at data; 0 while nothing is */
	size_t max; /* the hard maximum of len */
};

/* The shared empty string of an unallocated buffer. Do not write to it. */
extern char buf__empty[1];

/* A static initializer equivalent to buf_init(b, max). */
#define BUF_INIT(max_)                                                                             \
	{                                                                                          \
		buf__empty, 0, 0, (max_)                                                           \
	}

/* Makes b an empty buffer holding at most max bytes. Allocates nothing.
 * max must be below SIZE_MAX. */
void buf_init(struct buf *b, size_t max);

/* Frees the bytes and leaves b empty, as after buf_init() with the same
 * max, so it may be used again. */
void buf_release(struct buf *b);

/* Empties b (len = 0) but keeps its allocation for reuse. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes of content, so that at least n bytes can
 * then be written at data + len (see buf_avail()). Returns 0, or
 * CAIRN_E_TOOBIG if len + n would pass max (b is then unchanged). */
int buf_grow(struct buf *b, size_t n);

/* Bytes that can be written at data + len without growing (the NUL's
 * byte excluded). */
size_t buf_avail(const struct buf *b);

/* Sets len after bytes were written at data + len directly, or cuts the
 * content short, and writes the NUL. len must be at most len + buf_avail(b)
 * (asserted). */
void buf_setlen(struct buf *b, size_t len);

/* Appends n bytes from p (n may be 0; p may then be NULL). Returns 0 or
 * CAIRN_E_TOOBIG. */
int buf_add(struct buf *b, const void *p, size_t n);

/* Appends a C string. Returns 0 or CAIRN_E_TOOBIG. */
int buf_addstr(struct buf *b, const char *s);

/* Appends one byte. Returns 0 or CAIRN_E_TOOBIG. */
int buf_addch(struct buf *b, char c);

/* Appends printf-style output. Returns 0, CAIRN_E_TOOBIG, or a negative
 * errno if the format fails (EOVERFLOW: more than INT_MAX bytes); on any
 * error the content is unchanged. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Reads fd to its end into b, retrying on EINTR. Returns 0 at end of file;
 * CAIRN_E_TOOBIG when len reached max before the end was seen (the rest is
 * left unread: to tell "more than n bytes" apart, give b a max of n + 1);
 * or -errno if a read fails (what was read so far stays in b). Blocks. */
int buf_read_fd(struct buf *b, int fd);

/* Hands the content to the caller: returns a malloc'd, NUL-terminated
 * string (never NULL, even when empty) that the caller frees, stores its
 * length in *len if len is not NULL, and leaves b empty as after
 * buf_init() with the same max. */
char *buf_detach(struct buf *b, size_t *len);

#endif
