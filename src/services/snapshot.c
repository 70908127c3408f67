/* Snapshot files: the content of the files a failed run's errors name,
 * saved by `cairn run` the moment the command ends, so that the learner's
 * "before" side is what failed even if the file is fixed before the daemon
 * gets to the failure.
 *
 * Format (all lengths decimal, no padding):
 *
 *   "cairn-snapshot 1\n"
 *   then per file: "F " PATHLEN " " CONTENTLEN "\n" PATH CONTENT "\n"
 *   (CONTENTLEN -1: the file did not exist; then no CONTENT)
 *
 * At most TRIAGE_SNAPSHOT_FILES * 2 files, paths of at most 4096 bytes,
 * contents of at most TRIAGE_SNAPSHOT_MAX bytes. */
#include "services/triage.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/io.h"
#include "common/xalloc.h"
#include "services/triage_int.h"
#include "sources/diag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "cairn-snapshot 1\n"
#define PATH_MAX_LEN 4096
/* The longest "F ..." line. */
#define HEAD_MAX 64
/* The most a snapshot file can hold, from the limits above. */
#define SNAPSHOT_BYTES_MAX                                                                         \
	(sizeof MAGIC - 1 +                                                                        \
	 TRIAGE_SNAPSHOT_FILES * 2 * (HEAD_MAX + PATH_MAX_LEN + TRIAGE_SNAPSHOT_MAX + 1))

static bool seen_path(char **v, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], p) == 0)
			return true;
	return false;
}

int triage_snapshot_write(const char *out_path, const char *root, const char *cwd,
			  const struct diag_list *dl, char *const *dirty, size_t n_dirty)
{
	if (!root)
		return 0;
	struct buf b;
	buf_init(&b, SNAPSHOT_BYTES_MAX);
	buf_addstr(&b, MAGIC);
	char *taken[TRIAGE_SNAPSHOT_FILES * 2];
	size_t nt = 0;
	size_t nd = dl ? dl->n : 0;
	for (size_t i = 0; i < nd + n_dirty && nt < TRIAGE_SNAPSHOT_FILES * 2; i++) {
		char *rel;
		if (i < nd) {
			if (!dl->v[i].file || nt >= TRIAGE_SNAPSHOT_FILES)
				continue;
			rel = triage__rel_path(root, cwd, dl->v[i].file);
		} else {
			rel = xstrdup(dirty[i - nd]);
		}
		if (!rel || rel[0] == '/' || strncmp(rel, "../", 3) == 0 ||
		    strlen(rel) > PATH_MAX_LEN || seen_path(taken, nt, rel)) {
			free(rel);
			continue;
		}
		char *abs = xasprintf("%s/%s", root, rel);
		size_t clen = 0;
		bool trunc = false;
		char *content = triage__read_file(abs, TRIAGE_SNAPSHOT_MAX + 1, &clen, &trunc);
		int missing = !content && errno == ENOENT;
		free(abs);
		if ((!content && !missing) ||
		    (content && (clen > TRIAGE_SNAPSHOT_MAX || memchr(content, '\0', clen)))) {
			free(content);
			free(rel);
			continue;
		}
		char head[HEAD_MAX];
		size_t pl = strlen(rel);
		int hl = snprintf(head, sizeof head, "F %zu %lld\n", pl,
				  content ? (long long)clen : -1LL);
		/* The limits make room for every entry; the check keeps a
		 * file whole or out, never cut. */
		if (buf_grow(&b, (size_t)hl + pl + clen + 1) < 0) {
			free(content);
			free(rel);
			continue;
		}
		buf_add(&b, head, (size_t)hl);
		buf_add(&b, rel, pl);
		if (content)
			buf_add(&b, content, clen);
		buf_addch(&b, '\n');
		free(content);
		taken[nt++] = rel;
	}
	for (size_t i = 0; i < nt; i++)
		free(taken[i]);
	int r = 0;
	int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || io_write_all(fd, b.data, b.len) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	buf_release(&b);
	return r;
}

/* Parses a decimal number ending at a given delimiter; advances *p. */
static bool parse_num(const char **p, const char *end, char delim, long long *v)
{
	const char *s = *p;
	bool neg = false;
	if (s < end && *s == '-') {
		neg = true;
		s++;
	}
	long long n = 0;
	const char *start = s;
	while (s < end && *s >= '0' && *s <= '9' && s - start < 10)
		n = n * 10 + (*s++ - '0');
	if (s == start || s >= end || *s != delim)
		return false;
	*v = neg ? -n : n;
	*p = s + 1;
	return true;
}

int triage_snapshot_parse(const char *data, size_t len, triage_snapshot_fn fn, void *ctx)
{
	const char *p = data, *end = data + len;
	if (len < sizeof MAGIC - 1 || memcmp(p, MAGIC, sizeof MAGIC - 1) != 0)
		return CAIRN_E_PARSE;
	p += sizeof MAGIC - 1;
	size_t n = 0;
	while (p < end) {
		long long pl, cl;
		if (end - p < 2 || p[0] != 'F' || p[1] != ' ')
			return CAIRN_E_PARSE;
		p += 2;
		if (!parse_num(&p, end, ' ', &pl) || !parse_num(&p, end, '\n', &cl))
			return CAIRN_E_PARSE;
		if (pl <= 0 || pl > PATH_MAX_LEN || cl < -1 || cl > TRIAGE_SNAPSHOT_MAX ||
		    (size_t)(end - p) < (size_t)pl + (cl > 0 ? (size_t)cl : 0) + 1)
			return CAIRN_E_PARSE;
		const char *path = p;
		p += pl;
		const char *content = cl >= 0 ? p : NULL;
		p += cl > 0 ? cl : 0;
		if (*p != '\n' || memchr(path, '\0', (size_t)pl) || memchr(path, '\n', (size_t)pl))
			return CAIRN_E_PARSE;
		p++;
		if (++n > TRIAGE_SNAPSHOT_FILES * 2)
			return CAIRN_E_TOOBIG;
		char *pz = xstrndup(path, (size_t)pl);
		int r = fn(ctx, pz, content, cl > 0 ? (size_t)cl : 0);
		free(pz);
		if (r)
			return r;
	}
	return 0;
}
