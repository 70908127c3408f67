/* The capped head-and-tail reader: a buffer for the head, a ring for the
 * tail, both grown only as far as the stream needs. */
#include "common/headtail.h"

#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "\n[cairn: 18446744073709551615 bytes omitted]\n" fits with room. */
#define MARK_MAX 64
/* Bytes read per pread by headtail_add_range(). */
#define RANGE_CHUNK ((size_t)1 << 20)

void headtail_init(struct headtail *h, size_t head_max, size_t tail_max)
{
	/* headtail_detach() appends the marker and the tail to the head in
	 * place: check once that the sum cannot overflow. */
	if (head_max > SIZE_MAX - 2 - MARK_MAX || tail_max > SIZE_MAX - 2 - MARK_MAX - head_max) {
		fprintf(stderr, "cairn: headtail of %zu + %zu bytes is too large\n", head_max,
			tail_max);
		abort();
	}
	buf_init(&h->head, head_max);
	h->head_max = head_max;
	buf_init(&h->tail, tail_max);
	h->tail_pos = 0;
	h->tail_max = tail_max;
	h->total = 0;
}

void headtail_release(struct headtail *h)
{
	buf_release(&h->head);
	buf_release(&h->tail);
	h->tail_pos = 0;
	h->total = 0;
}

static void add_tail(struct headtail *h, const char *p, size_t n)
{
	size_t tmax = h->tail_max;
	struct buf *t = &h->tail;
	if (n >= tmax) {
		/* Only the last tmax bytes of this chunk can survive. */
		buf_reset(t);
		(void)buf_add(t, p + n - tmax, tmax);
		h->tail_pos = 0;
		return;
	}
	if (t->len < tmax) {
		/* Not full yet, so the ring starts at 0: append what fits. */
		size_t k = n < tmax - t->len ? n : tmax - t->len;
		(void)buf_add(t, p, k);
		p += k;
		n -= k;
	}
	if (n == 0)
		return;
	/* Full: the n newest bytes overwrite the n oldest, at tail_pos. */
	size_t k = n < tmax - h->tail_pos ? n : tmax - h->tail_pos;
	memcpy(t->data + h->tail_pos, p, k);
	memcpy(t->data, p + k, n - k);
	h->tail_pos = (h->tail_pos + n) % tmax;
}

void headtail_add(struct headtail *h, const void *p, size_t n)
{
	const char *s = p;
	h->total += n;
	if (h->head.len < h->head_max) {
		size_t k = n < h->head_max - h->head.len ? n : h->head_max - h->head.len;
		(void)buf_add(&h->head, s, k);
		s += k;
		n -= k;
	}
	if (n > 0)
		add_tail(h, s, n);
}

/* preads [off, off + n) of fd into h in chunks; see headtail_add_range(). */
static int add_pread(struct headtail *h, int fd, uint64_t off, uint64_t n, char *chunk)
{
	while (n > 0) {
		size_t want = n < RANGE_CHUNK ? (size_t)n : RANGE_CHUNK;
		ssize_t r = pread(fd, chunk, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		headtail_add(h, chunk, (size_t)r);
		off += (uint64_t)r;
		n -= (uint64_t)r;
	}
	return 0;
}

int headtail_add_range(struct headtail *h, int fd, uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	uint64_t n = to - from;
	uint64_t head_room = h->head_max - h->head.len;
	uint64_t head_part = n < head_room ? n : head_room;
	uint64_t tail_part = n - head_part < h->tail_max ? n - head_part : h->tail_max;
	uint64_t middle = n - head_part - tail_part;
	uint64_t biggest = head_part > tail_part ? head_part : tail_part;
	char *chunk = xmalloc(biggest < RANGE_CHUNK ? (size_t)biggest + 1 : RANGE_CHUNK);
	/* A failed head does not stop the tail (the end of a log matters
	 * most); the first error is the one returned. */
	int r = add_pread(h, fd, from, head_part, chunk);
	/* The middle would be dropped whatever it holds: count it unread. */
	h->total += middle;
	int rt = add_pread(h, fd, to - tail_part, tail_part, chunk);
	free(chunk);
	return r < 0 ? r : rt;
}

uint64_t headtail_total(const struct headtail *h)
{
	return h->total;
}

bool headtail_truncated(const struct headtail *h)
{
	return h->total > h->head.len + h->tail.len;
}

/* The marker for h into mark (empty when none is due); returns its length. */
static size_t make_mark(const struct headtail *h, unsigned flags, char mark[MARK_MAX])
{
	mark[0] = '\0';
	if ((flags & HEADTAIL_MARK) && headtail_truncated(h))
		snprintf(mark, MARK_MAX, "\n[cairn: %llu bytes omitted]\n",
			 (unsigned long long)(h->total - h->head.len - h->tail.len));
	return strlen(mark);
}

char *headtail_join(const struct headtail *h, unsigned flags, size_t *len)
{
	char mark[MARK_MAX];
	size_t m = make_mark(h, flags, mark);
	const struct buf *t = &h->tail;
	size_t n = h->head.len + m + t->len;
	char *out = xmalloc(n + 1);
	char *w = out;
	memcpy(w, h->head.data, h->head.len);
	w += h->head.len;
	memcpy(w, mark, m);
	w += m;
	memcpy(w, t->data + h->tail_pos, t->len - h->tail_pos);
	w += t->len - h->tail_pos;
	memcpy(w, t->data, h->tail_pos);
	out[n] = '\0';
	if (len)
		*len = n;
	return out;
}

char *headtail_detach(struct headtail *h, unsigned flags, size_t *len)
{
	char mark[MARK_MAX];
	size_t m = make_mark(h, flags, mark);
	const struct buf *t = &h->tail;
	/* The head's cap was head_max while bytes came in, so that it never
	 * allocated past it; raise it now by exactly what is appended (cannot
	 * overflow: checked in headtail_init()). */
	h->head.max = h->head.len + m + t->len;
	int r = buf_grow(&h->head, m + t->len);
	assert(r == 0);
	(void)r;
	(void)buf_add(&h->head, mark, m);
	(void)buf_add(&h->head, t->data + h->tail_pos, t->len - h->tail_pos);
	(void)buf_add(&h->head, t->data, h->tail_pos);
	char *out = buf_detach(&h->head, len);
	h->head.max = h->head_max;
	headtail_release(h);
	return out;
}
