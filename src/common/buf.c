/* The growable byte buffer with a hard maximum (see buf.h for its rules). */
#include "common/buf.h"

#include "common/err.h"
#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first allocation's size, unless max is smaller. */
#define BUF_FIRST_CAP 64
/* The most read() asks for at once when a buffer is full. */
#define BUF_READ_CHUNK (64 * 1024)

char buf__empty[1];

void buf_init(struct buf *b, size_t max)
{
	assert(max < SIZE_MAX);
	b->data = buf__empty;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->data);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

int buf_grow(struct buf *b, size_t n)
{
	if (n > b->max - b->len)
		return CAIRN_E_TOOBIG;
	size_t want = b->len + n + 1, top = b->max + 1;
	if (n == 0 || want <= b->cap)
		return 0; /* an empty buffer's "" needs no allocation */
	/* Doubling, but never past max + 1 (nor overflowing on the way). */
	size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
	while (cap < want)
		cap = cap > top / 2 ? top : cap * 2;
	if (cap > top)
		cap = top;
	if (b->cap) {
		b->data = xreallocarray(b->data, cap, 1);
	} else {
		b->data = xmalloc(cap);
		b->data[0] = '\0';
	}
	b->cap = cap;
	return 0;
}

size_t buf_avail(const struct buf *b)
{
	return b->cap ? b->cap - 1 - b->len : 0;
}

void buf_setlen(struct buf *b, size_t len)
{
	assert(len <= b->len + buf_avail(b));
	b->len = len;
	if (b->cap)
		b->data[len] = '\0';
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	int r = buf_grow(b, n);
	if (r < 0)
		return r;
	if (n) {
		memcpy(b->data + b->len, p, n);
		buf_setlen(b, b->len + n);
	}
	return 0;
}

int buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	/* First into the room there is; if it does not fit, grow once to the
	 * size vsnprintf() reported and format again. */
	size_t room = b->cap ? b->cap - b->len : 0;
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, cp);
	va_end(cp);
	if (n < 0 || (size_t)n >= room) {
		/* vsnprintf() may have written a part over the NUL. */
		if (b->cap)
			b->data[b->len] = '\0';
		if (n < 0)
			return errno ? -errno : -EINVAL;
		if (n == 0)
			return 0; /* "" into an unallocated buffer */
		int r = buf_grow(b, (size_t)n);
		if (r < 0)
			return r;
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	}
	buf_setlen(b, b->len + (size_t)n);
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

int buf_read_fd(struct buf *b, int fd)
{
	for (;;) {
		if (buf_avail(b) == 0) {
			size_t left = b->max - b->len;
			if (left == 0)
				return CAIRN_E_TOOBIG;
			/* Ask for at least as much as the buffer holds, so it
			 * doubles, but within the cap. */
			size_t want = b->cap > BUF_READ_CHUNK ? b->cap : BUF_READ_CHUNK;
			if (buf_grow(b, want < left ? want : left) < 0)
				return CAIRN_E_TOOBIG; /* cannot happen: want <= left */
		}
		ssize_t r = read(fd, b->data + b->len, buf_avail(b));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		buf_setlen(b, b->len + (size_t)r);
	}
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->cap ? b->data : xstrdup("");
	if (len)
		*len = b->len;
	buf_init(b, b->max);
	return p;
}
