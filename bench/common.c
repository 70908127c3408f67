/* Shared helpers for the benchmarks; see bench.h. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
	                      .tv_nsec = (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* ---- samples ---- */

void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = ns;
}

void samples_release(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

void samples_merge(struct samples *dst, const struct samples *src)
{
	for (size_t i = 0; i < src->n; i++)
		samples_add(dst, src->v[i]);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t samples_quantile(struct samples *s, double q)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, cmp_u64);
	size_t rank = (size_t)(q * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

/* ---- results ---- */

void result(const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("R %s ", key);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	va_end(ap);
}

void result_latency(const char *prefix, struct samples *s)
{
	char k[128];
	snprintf(k, sizeof k, "%s.n", prefix);
	result(k, "%zu", s->n);
	snprintf(k, sizeof k, "%s.p50_us", prefix);
	result(k, "%.1f", samples_quantile(s, 0.50) / 1e3);
	snprintf(k, sizeof k, "%s.p99_us", prefix);
	result(k, "%.1f", samples_quantile(s, 0.99) / 1e3);
	snprintf(k, sizeof k, "%s.p999_us", prefix);
	result(k, "%.1f", samples_quantile(s, 0.999) / 1e3);
	snprintf(k, sizeof k, "%s.max_us", prefix);
	result(k, "%.1f", s->n ? s->v[s->n - 1] / 1e3 : 0.0);
}

/* ---- the event ---- */

size_t event_format(char *buf, const char *type, uint64_t t_ns)
{
	static const char pad[BENCH_EVENT_BYTES + 1] =
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xx"
	    "xxxxxxxxxxxxxxxxxxxxxxxx";
	int fixed = snprintf(NULL, 0,
	                     "{\"source\":\"bench\",\"type\":\"%s\",\"data\":{\"t\":\"%019llu\","
	                     "\"p\":\"\"}}",
	                     type, 0ULL);
	if (fixed < 0 || fixed > BENCH_EVENT_BYTES)
		die("event type '%s' is too long for a %d-byte event", type, BENCH_EVENT_BYTES);
	int n = snprintf(buf, BENCH_EVENT_BYTES + 1,
	                 "{\"source\":\"bench\",\"type\":\"%s\",\"data\":{\"t\":\"%019llu\","
	                 "\"p\":\"%.*s\"}}",
	                 type, (unsigned long long)t_ns, BENCH_EVENT_BYTES - fixed, pad);
	if (n != BENCH_EVENT_BYTES)
		die("internal: event is %d bytes, not %d", n, BENCH_EVENT_BYTES);
	return BENCH_EVENT_BYTES;
}

uint64_t event_find_time(const char *buf, size_t len)
{
	static const char key[] = "\"t\":\"";
	const char *p = memmem(buf, len, key, sizeof key - 1);
	if (!p || (size_t)(buf + len - p) < sizeof key - 1 + 19)
		return 0;
	p += sizeof key - 1;
	uint64_t t = 0;
	for (int i = 0; i < 19; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		t = t * 10 + (uint64_t)(p[i] - '0');
	}
	return t;
}

/* ---- reader ---- */

void reader_init(struct reader *r, int fd)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->cap = 256 * 1024;
	r->buf = xrealloc(NULL, r->cap);
}

void reader_release(struct reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

bool reader_buffered(const struct reader *r)
{
	return r->end > r->start;
}

/* Makes room to read more: moves the unread bytes to the front, grows. */
static int reader_fill(struct reader *r)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		r->cap *= 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
	ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n == 0)
		errno = 0;
	if (n <= 0)
		return -1;
	r->end += (size_t)n;
	return 0;
}

char *reader_line(struct reader *r, size_t *len)
{
	size_t scanned = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
		if (nl) {
			char *line = r->buf + r->start;
			size_t n = (size_t)(nl - line);
			r->start += n + 1;
			if (n && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			*len = n;
			return line;
		}
		scanned = r->end - r->start;
		if (reader_fill(r))
			return NULL;
	}
}

char *reader_bytes(struct reader *r, size_t n, bool crlf)
{
	size_t need = n + (crlf ? 2 : 0);
	while (r->end - r->start < need)
		if (reader_fill(r))
			return NULL;
	char *p = r->buf + r->start;
	r->start += need;
	return p;
}

void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write to a peer failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* ---- cairn ---- */

int cairn_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		die("socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("cannot connect to cairn at '%s': %s; is the daemon running?", path,
		    strerror(errno));
	return fd;
}

bool json_find_int(const char *line, const char *key, long long *out)
{
	char pat[80];
	int n = snprintf(pat, sizeof pat, "\"%s\":", key);
	if (n < 0 || (size_t)n >= sizeof pat)
		return false;
	const char *p = strstr(line, pat);
	if (!p)
		return false;
	p += n;
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (end == p || errno)
		return false;
	*out = v;
	return true;
}

long long cairn_sub(int fd, struct reader *r, const char *name, const char *pattern, long long from)
{
	char req[512];
	int n;
	if (from > 0)
		n = snprintf(
		    req, sizeof req,
		    "{\"op\":\"sub\",\"rid\":0,\"sub\":\"%s\",\"pattern\":\"%s\",\"from\":%lld}\n",
		    name, pattern, from);
	else
		n = snprintf(req, sizeof req,
		             "{\"op\":\"sub\",\"rid\":0,\"sub\":\"%s\",\"pattern\":\"%s\"}\n", name,
		             pattern);
	write_all(fd, req, (size_t)n);
	for (;;) {
		size_t len;
		char *line = reader_line(r, &len);
		if (!line)
			die("cairn closed the connection while subscribing");
		if (strncmp(line, "{\"rid\":0,", 9) != 0)
			continue;
		if (!strstr(line, "\"ok\":true"))
			die("cairn refused the subscription '%s': %s", pattern, line);
		long long seq = 0;
		json_find_int(line, "seq", &seq);
		return seq;
	}
}

/* ---- redis ---- */

int tcp_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void resp_keep(struct resp *out, const char *s, size_t n)
{
	if (out->nstr == sizeof out->str / sizeof out->str[0])
		return; /* more strings than we look at: dropped */
	if (out->store_used + n + 1 > out->store_cap) {
		/* Strings are stored as offsets first, pointers fixed at the end. */
		out->store_cap = (out->store_used + n + 1) * 2;
		out->store = xrealloc(out->store, out->store_cap);
	}
	memcpy(out->store + out->store_used, s, n);
	out->store[out->store_used + n] = '\0';
	out->str[out->nstr] = (char *)(uintptr_t)out->store_used;
	out->len[out->nstr] = n;
	out->nstr++;
	out->store_used += n + 1;
}

static int resp_value(struct reader *r, struct resp *out, int depth)
{
	size_t len;
	char *line = reader_line(r, &len);
	if (!line || len == 0 || depth > 4)
		return -1;
	char t = line[0];
	if (depth == 0)
		out->type = t;
	switch (t) {
	case '+':
	case '-': resp_keep(out, line + 1, len - 1); return 0;
	case ':': out->integer = strtoll(line + 1, NULL, 10); return 0;
	case '$': {
		long long n = strtoll(line + 1, NULL, 10);
		if (n < 0)
			return 0; /* nil */
		char *p = reader_bytes(r, (size_t)n, true);
		if (!p)
			return -1;
		resp_keep(out, p, (size_t)n);
		return 0;
	}
	case '*': {
		long long n = strtoll(line + 1, NULL, 10);
		for (long long i = 0; i < n; i++)
			if (resp_value(r, out, depth + 1))
				return -1;
		return 0;
	}
	default: return -1;
	}
}

int resp_read(struct reader *r, struct resp *out)
{
	out->nstr = 0;
	out->store_used = 0;
	out->integer = 0;
	if (resp_value(r, out, 0))
		return -1;
	for (size_t i = 0; i < out->nstr; i++)
		out->str[i] = out->store + (uintptr_t)out->str[i];
	return 0;
}

void resp_release(struct resp *out)
{
	free(out->store);
	out->store = NULL;
}

size_t resp_format(char *buf, size_t cap, int argc, const char *const *argv, const size_t *lens)
{
	size_t off = 0;
	int n = snprintf(buf, cap, "*%d\r\n", argc);
	if (n < 0 || (size_t)n >= cap)
		die("internal: RESP command too long");
	off = (size_t)n;
	for (int i = 0; i < argc; i++) {
		size_t l = lens ? lens[i] : strlen(argv[i]);
		n = snprintf(buf + off, cap - off, "$%zu\r\n", l);
		if (n < 0 || off + (size_t)n + l + 2 >= cap)
			die("internal: RESP command too long");
		off += (size_t)n;
		memcpy(buf + off, argv[i], l);
		off += l;
		buf[off++] = '\r';
		buf[off++] = '\n';
	}
	return off;
}

/* ---- /proc ---- */

long long proc_cpu_ms(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which is in parentheses and may hold
	 * spaces: state is field 3, utime 14, stime 15. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	return (long long)((ut + st) * 1000 / (unsigned long long)hz);
}

static long long status_field(const char *path, const char *field)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	size_t fl = strlen(field);
	long long v = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtoll(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long long proc_status_kb(pid_t pid, const char *field)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	return status_field(path, field);
}

long long proc_wakeups(pid_t pid)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long long sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/status", (int)pid, de->d_name);
		long long v = status_field(path, "voluntary_ctxt_switches");
		long long nv = status_field(path, "nonvoluntary_ctxt_switches");
		if (v > 0)
			sum += v;
		if (nv > 0)
			sum += nv;
	}
	closedir(d);
	return sum;
}

/* ---- options ---- */

const char *opt_str(int argc, char **argv, const char *name, const char *dflt)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return dflt;
}

long long opt_int(int argc, char **argv, const char *name, long long dflt)
{
	const char *s = opt_str(argc, argv, name, NULL);
	if (!s)
		return dflt;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || end == s)
		die("option %s: '%s' is not an integer", name, s);
	return v;
}
