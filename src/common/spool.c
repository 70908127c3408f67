/* One-file-per-event spool with atomic rename and a hard cap. */
#include "common/spool.h"

#include "common/err.h"
#include "common/io.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_spool_name(const char *name)
{
	size_t n = strlen(name);
	return n == ULID_LEN + 5 && strcmp(name + ULID_LEN, ".json") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int spool_list(const char *dir, char ***out)
{
	*out = NULL;
	DIR *d = opendir(dir);
	size_t n = 0, cap = 16;
	char **v = xcalloc(cap, sizeof *v);
	if (!d) {
		if (errno == ENOENT) {
			*out = v;
			return 0;
		}
		free(v);
		return -errno;
	}
	struct dirent *de;
	struct stat sb;
	while ((de = readdir(d))) {
		if (!is_spool_name(de->d_name))
			continue;
		/* Never a symlink (it may point anywhere) nor a directory: the
		 * writer makes neither. Other odd files are listed, so that the
		 * reader's spool_read() refuses them and they can be set aside. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISLNK(sb.st_mode) || S_ISDIR(sb.st_mode))
			continue;
		if (n + 1 >= cap) {
			cap *= 2;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	v[n] = NULL;
	qsort(v, n, sizeof *v, cmp_str);
	*out = v;
	return 0;
}

void spool_list_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* Files and bytes in the spool now. */
static void spool_usage(const char *dir, size_t *files, size_t *bytes)
{
	*files = *bytes = 0;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	struct stat sb;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode)) {
			(*files)++;
			*bytes += (size_t)sb.st_size;
		}
	}
	closedir(d);
}

int spool_write(const char *dir, const char *json, size_t len)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	size_t files, bytes;
	spool_usage(dir, &files, &bytes);
	if (files >= SPOOL_MAX_FILES || bytes + len > SPOOL_MAX_BYTES)
		return CAIRN_E_TOOBIG;
	char id[ULID_LEN + 1];
	ulid_new(id);
	char *tmp = xasprintf("%s/.tmp-%s-%d", dir, id, (int)getpid());
	char *final = xasprintf("%s/%s.json", dir, id);
	int r = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out_free;
	}
	r = io_write_all(fd, json, len);
	/* The daemon may be down because the machine is going down: make the
	 * file durable before it becomes visible. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, final) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
out_free:
	free(tmp);
	free(final);
	return r;
}

int spool_read(const char *path, size_t max, char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	 * writer, and the daemon's loop with it. O_NOFOLLOW: a symlink fails
	 * with ELOOP instead of reading whatever it points to. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? CAIRN_E_NOTREG : -errno;
	int r = 0;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = CAIRN_E_NOTREG;
		goto out_close;
	}
	if ((size_t)sb.st_size > max) {
		r = CAIRN_E_TOOBIG;
		goto out_close;
	}
	char *b = xmalloc((size_t)sb.st_size + 1);
	size_t n = 0;
	while (n < (size_t)sb.st_size) {
		ssize_t got = read(fd, b + n, (size_t)sb.st_size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			free(b);
			goto out_close;
		}
		if (got == 0)
			break; /* shrank meanwhile: what is there */
		n += (size_t)got;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
out_close:
	close(fd);
	return r;
}
