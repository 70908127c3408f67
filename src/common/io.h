/* Small I/O helpers shared by the daemon and the CLI. */
#ifndef CAIRN_IO_H
#define CAIRN_IO_H

#include <stddef.h>

/* Writes all n bytes of p to fd, retrying on EINTR and waiting (poll) on
 * EAGAIN. Returns 0 or -errno (-EPIPE when the reader has gone). Blocks;
 * any thread. */
int io_write_all(int fd, const void *p, size_t n);

/* Writes all n bytes of p to fd at offset off (pwrite: the file offset is
 * left alone), retrying on EINTR. Returns 0 or -errno (-EIO when the file
 * takes nothing). Any thread. */
int io_pwrite_all(int fd, const void *p, size_t n, long long off);

/* Makes directory dir and its missing parents, each with mode (like
 * mkdir -p). Returns 0 (also when it exists) or -errno of the first
 * mkdir that failed for another reason than EEXIST. */
int io_mkdirs(const char *dir, unsigned mode);

#endif
