/* Write-all loop with EINTR and EAGAIN handling. */
#include "common/io.h"
#include "common/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int io_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, -1);
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *buf, size_t n, long long off)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int io_mkdirs(const char *dir, unsigned mode)
{
	char *d = xstrdup(dir);
	int r = 0;
	for (char *p = d + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(d, (mode_t)mode) < 0 && errno != EEXIST && !r)
				r = -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	free(d);
	return r;
}
