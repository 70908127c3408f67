/* Small helpers for run.sh: find a free TCP port on loopback, and wait until
 * a peer accepts connections.
 *
 *   bench_port free                 prints a port nobody listens on
 *   bench_port wait PORT [MS]       waits until 127.0.0.1:PORT accepts (5 s)
 *   bench_port wait-unix PATH [MS]  waits until the Unix socket accepts
 *
 * Exits 0 on success, 1 on timeout, 2 on misuse.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("cannot find a free port: %s", strerror(errno));
	/* The kernel hands out ephemeral ports in turn, so this one is not
	 * given to anyone else before the peer binds it a moment later. */
	close(fd);
	return ntohs(sa.sin_port);
}

static bool try_connect(const char *unix_path, int port)
{
	int fd;
	int r;
	if (unix_path) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(unix_path) >= sizeof sa.sun_path)
			die("socket path '%s' is too long", unix_path);
		strcpy(sa.sun_path, unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM, 0);
		r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	}
	close(fd);
	return r == 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "free") == 0) {
		printf("%d\n", free_port());
		return 0;
	}
	if (argc >= 3 && (strcmp(argv[1], "wait") == 0 || strcmp(argv[1], "wait-unix") == 0)) {
		bool is_unix = strcmp(argv[1], "wait-unix") == 0;
		long ms = argc > 3 ? atol(argv[3]) : 5000;
		uint64_t until = now_ns() + (uint64_t)ms * 1000000u;
		do {
			if (try_connect(is_unix ? argv[2] : NULL, is_unix ? 0 : atoi(argv[2])))
				return 0;
			usleep(20000);
		} while (now_ns() < until);
		fprintf(stderr, "bench: nothing accepts connections on %s after %ld ms\n", argv[2],
		        ms);
		return 1;
	}
	fprintf(stderr, "usage: bench_port free | wait PORT [MS] | wait-unix PATH [MS]\n");
	return 2;
}
