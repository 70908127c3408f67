/* The spool: events written by short-lived CLI processes (the runner, git
 * and shell hooks) while no daemon is running, delivered when one starts.
 *
 * One file per event in <data_dir>/spool/, named <ULID>.json, written to a
 * temporary name and renamed into place, so a reader only ever sees whole
 * files and needs no locks. The event carries its id, so delivering a file
 * twice (a crash between commit and unlink) stores it once. The spool is
 * capped (SPOOL_MAX_FILES files, SPOOL_MAX_BYTES bytes): past the cap new
 * events are dropped with a message rather than filling the disk. */
#ifndef CAIRN_SPOOL_H
#define CAIRN_SPOOL_H

#include <stddef.h>

#define SPOOL_MAX_FILES 10000
#define SPOOL_MAX_BYTES (64u * 1024 * 1024)

/* Writes one encoded event (len bytes of JSON) into dir (created 0700 if
 * missing). Returns 0, CAIRN_E_TOOBIG when the spool is full, or -errno.
 * Any process; no locks. */
int spool_write(const char *dir, const char *json, size_t len);

/* Lists the spooled files in dir, oldest first (by name). On success returns
 * 0 and a NULL-terminated malloc'd array of malloc'd full paths in *out
 * (free with spool_list_free()); a missing dir gives an empty list. Symlinks
 * and directories are never listed; other files that are not regular (a FIFO,
 * a socket, a device) are, so that the caller's spool_read() refuses them
 * with CAIRN_E_NOTREG and the caller can set them aside. */
int spool_list(const char *dir, char ***out);
void spool_list_free(char **list);

/* Reads one spooled file (at most max bytes) into a malloc'd NUL-terminated
 * buffer (*buf is NULL on failure). Never blocks and never follows a
 * symlink: anything but a regular file (a FIFO, a symlink, a directory) gives
 * CAIRN_E_NOTREG. Returns 0, CAIRN_E_NOTREG, CAIRN_E_TOOBIG, or -errno
 * (-ENOENT: the file went away). */
int spool_read(const char *path, size_t max, char **buf, size_t *len);

#endif
