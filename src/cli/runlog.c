/* The run's saved log, redacted in parts on several threads: see
 * cli/runlog.h. */
#include "cli/runlog.h"

#include "common/io.h"
#include "common/xalloc.h"
#include "kb/redact.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char PEM_BEGIN_LIT[] = "-----BEGIN", PEM_END_LIT[] = "-----END";
/* How many key blocks one cut may step back over before giving up (a text
 * of nothing but BEGIN lines would otherwise cost a scan per line). */
#define MAX_STEPS 16

/* The last "-----BEGIN" in p[0..n), or NULL. */
static const char *last_begin(const char *p, size_t n)
{
	const char *last = NULL, *q = p, *end = p + n;
	while ((q = memmem(q, (size_t)(end - q), PEM_BEGIN_LIT, sizeof PEM_BEGIN_LIT - 1))) {
		last = q;
		q += sizeof PEM_BEGIN_LIT - 1;
	}
	return last;
}

size_t runlog_cut(const char *text, size_t len)
{
	const char *nl = len ? memrchr(text, '\n', len) : NULL;
	if (!nl)
		return 0;
	size_t c = (size_t)(nl - text) + 1;
	for (int step = 0; step < MAX_STEPS; step++) {
		/* A block further back than redact() ever looks has been cut by
		 * redact_text() itself; only the window matters. */
		size_t from = c > REDACT_MAX_INPUT ? c - REDACT_MAX_INPUT : 0;
		const char *b = last_begin(text + from, c - from);
		if (!b || memmem(b, (size_t)(text + c - b), PEM_END_LIT, sizeof PEM_END_LIT - 1))
			return c;
		/* Open at c: cut before the line the block starts on. */
		const char *ls = b > text ? memrchr(text, '\n', (size_t)(b - text)) : NULL;
		if (!ls)
			return 0;
		c = (size_t)(ls - text) + 1;
	}
	return 0;
}

static void *part_run(void *arg)
{
	struct runlog_part *p = arg;
	p->out = redact_text(p->text, p->len, &p->out_len, NULL);
	if (p->fd >= 0) {
		p->write_err = io_pwrite_all(p->fd, p->out, p->out_len, 0);
		p->written = p->write_err == 0;
	}
	return NULL;
}

/* Starts part_run(p) on a thread that takes no signals; if it cannot
 * start, p is left for the caller to run. */
static void part_start(struct runlog_part *p)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->threaded = pthread_create(&p->th, NULL, part_run, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Waits for p's thread, or runs it here if it had none. */
static void part_finish(struct runlog_part *p)
{
	if (p->threaded) {
		pthread_join(p->th, NULL);
		p->threaded = false;
	} else if (!p->out) {
		part_run(p);
	}
}

void runlog_init(struct runlog *rl)
{
	memset(rl, 0, sizeof *rl);
	rl->early.fd = -1;
}

void runlog_write_to(struct runlog *rl, int fd)
{
	rl->early.fd = fd;
}

void runlog_start(struct runlog *rl, const char *text, size_t len)
{
	if (rl->early.len || rl->early.out)
		return;
	size_t c = runlog_cut(text, len);
	if (c == 0)
		return;
	rl->early.text = text;
	rl->early.len = c;
	part_start(&rl->early);
	if (!rl->early.threaded)
		rl->early.len = 0; /* no thread: all of it after the command */
}

static size_t n_parts(size_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t k = cpus > 0 ? (size_t)cpus : 1;
	if (k > RUNLOG_MAX_THREADS)
		k = RUNLOG_MAX_THREADS;
	if (k > n / RUNLOG_MIN_PART)
		k = n / RUNLOG_MIN_PART;
	return k ? k : 1;
}

/* Finishes the early part and tells how much of log it covers: its
 * length if log starts with its bytes, else 0 (it is thrown away). */
static size_t early_done(struct runlog *rl, const char *log, size_t len)
{
	if (!rl->early.len)
		return 0;
	part_finish(&rl->early);
	if (rl->early.len <= len && memcmp(log, rl->early.text, rl->early.len) == 0)
		return rl->early.len;
	return 0;
}

/* Cuts log[at, len) into parts (see the top of runlog.h) and starts all
 * but the first on threads. Returns how many parts there are. */
static size_t parts_start(const char *log, size_t len, size_t at,
			  struct runlog_part parts[RUNLOG_MAX_THREADS])
{
	size_t k = n_parts(len - at), np = 0, prev = at;
	for (size_t i = 1; i <= k; i++) {
		size_t end = len;
		if (i < k) {
			size_t target = at + (len - at) / k * i;
			end = prev + runlog_cut(log + prev, target - prev);
		}
		if (end == prev)
			continue; /* no cut here: the next part takes it */
		parts[np].text = log + prev;
		parts[np].len = end - prev;
		parts[np].fd = -1;
		np++;
		prev = end;
	}
	/* The caller's thread takes the first part, the others one each. */
	for (size_t i = 1; i < np; i++)
		part_start(&parts[i]);
	return np;
}

char *runlog_redact(struct runlog *rl, const char *log, size_t len, size_t *out_len)
{
	size_t at = early_done(rl, log, len);
	struct runlog_part parts[RUNLOG_MAX_THREADS] = {{0}};
	size_t np = parts_start(log, len, at, parts);
	for (size_t i = 0; i < np; i++)
		part_finish(&parts[i]);

	size_t total = at ? rl->early.out_len : 0;
	for (size_t i = 0; i < np; i++)
		total += parts[i].out_len;
	char *out = xmalloc(total + 1);
	size_t o = 0;
	if (at) {
		memcpy(out, rl->early.out, rl->early.out_len);
		o = rl->early.out_len;
	}
	for (size_t i = 0; i < np; i++) {
		memcpy(out + o, parts[i].out, parts[i].out_len);
		o += parts[i].out_len;
		free(parts[i].out);
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

int runlog_save(struct runlog *rl, const char *log, size_t len, int fd, size_t *out_len)
{
	size_t at = early_done(rl, log, len);
	struct runlog_part parts[RUNLOG_MAX_THREADS] = {{0}};
	size_t np = parts_start(log, len, at, parts);
	int r = 0;
	off_t o = 0;
	if (at) {
		/* Written already unless it went elsewhere or failed. */
		if (!(rl->early.written && rl->early.fd == fd))
			r = io_pwrite_all(fd, rl->early.out, rl->early.out_len, 0);
		o = (off_t)rl->early.out_len;
	}
	/* Each part is written as soon as it and those before it are done. */
	for (size_t i = 0; i < np; i++) {
		part_finish(&parts[i]);
		if (!r)
			r = io_pwrite_all(fd, parts[i].out, parts[i].out_len, o);
		o += (off_t)parts[i].out_len;
		free(parts[i].out);
	}
	/* The early part may have been written and then thrown away. */
	if (!r && ftruncate(fd, o) < 0)
		r = -errno;
	*out_len = (size_t)o;
	return r;
}

void runlog_release(struct runlog *rl)
{
	if (rl->early.threaded)
		pthread_join(rl->early.th, NULL);
	free(rl->early.out);
	runlog_init(rl);
}
