/* Blocking socket client with a bounded line reader. */
#include "cli/client.h"

#include "common/err.h"
#include "common/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void client_print_down(const char *socket_path)
{
	fprintf(stderr,
		"cairn: no daemon is running (nothing listens on %s)\n"
		"cairn: start one with 'cairn daemon' (foreground), 'make run' in a checkout,\n"
		"       or 'systemctl --user start cairn' if you installed contrib/cairn.service\n",
		socket_path);
}

static int client_open(struct client *cl, const struct config *cfg, bool quiet)
{
	memset(cl, 0, sizeof *cl);
	cl->socket_path = cfg->socket_path;
	cl->watch_fd = -1;
	cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl->fd < 0) {
		int e = errno;
		if (!quiet)
			fprintf(stderr, "cairn: cannot create a socket: %s\n", strerror(e));
		return -e;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg->socket_path);
	if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(cl->fd);
		cl->fd = -1;
		if (e == ENOENT || e == ECONNREFUSED) {
			if (!quiet)
				client_print_down(cfg->socket_path);
			return CAIRN_E_DOWN;
		}
		if (!quiet)
			fprintf(stderr, "cairn: cannot connect to %s: %s\n", cfg->socket_path,
				strerror(e));
		return -e;
	}
	return 0;
}

int client_connect(struct client *cl, const struct config *cfg)
{
	return client_open(cl, cfg, false);
}

int client_connect_quiet(struct client *cl, const struct config *cfg)
{
	return client_open(cl, cfg, true);
}

void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl->buf);
	memset(cl, 0, sizeof *cl);
	cl->fd = -1;
}

int client_send(struct client *cl, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!s)
		return CAIRN_E_INVALID;
	size_t n = strlen(s);
	s[n] = '\n'; /* overwrite the NUL; we write by length */
	size_t off = 0;
	int r = 0;
	while (off < n + 1) {
		ssize_t w = send(cl->fd, s + off, n + 1 - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	free(s);
	return r;
}

int client_read(struct client *cl, json_t **msg, int timeout_ms)
{
	*msg = NULL;
	for (;;) {
		char *nl = cl->len > cl->off ? memchr(cl->buf + cl->off, '\n', cl->len - cl->off)
					     : NULL;
		if (nl) {
			size_t n = (size_t)(nl - (cl->buf + cl->off));
			json_error_t je;
			json_t *o = json_loadb(cl->buf + cl->off, n, 0, &je);
			cl->off += n + 1;
			if (!o || !json_is_object(o)) {
				json_decref(o);
				return CAIRN_E_PROTO;
			}
			*msg = o;
			return 0;
		}
		if (cl->off > 0) {
			memmove(cl->buf, cl->buf + cl->off, cl->len - cl->off);
			cl->len -= cl->off;
			cl->off = 0;
		}
		if (cl->len + 65536 > cl->cap) {
			if (cl->cap >= CLIENT_LINE_MAX)
				return CAIRN_E_TOOBIG;
			cl->cap = cl->cap ? cl->cap * 2 : 131072;
			cl->buf = xreallocarray(cl->buf, cl->cap, 1);
		}
		if (timeout_ms >= 0 || cl->watch_fd >= 0) {
			/* events = 0 on the watched fd: only POLLERR/POLLHUP wake us. */
			struct pollfd p[2] = {{.fd = cl->fd, .events = POLLIN},
					      {.fd = cl->watch_fd, .events = 0}};
			int pr = poll(p, cl->watch_fd >= 0 ? 2 : 1, timeout_ms);
			if (pr == 0)
				return -ETIMEDOUT;
			if (pr < 0) {
				if (errno == EINTR)
					return -EINTR;
				return -errno;
			}
			if (cl->watch_fd >= 0 && (p[1].revents & (POLLERR | POLLHUP)) &&
			    !(p[0].revents & POLLIN))
				return -EPIPE;
		}
		ssize_t r = recv(cl->fd, cl->buf + cl->len, cl->cap - cl->len, 0);
		if (r == 0)
			return CAIRN_E_CLOSED;
		if (r < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		cl->len += (size_t)r;
	}
}

int client_request(struct client *cl, json_t *req, json_t **reply)
{
	long long rid = ++cl->next_rid;
	json_object_set_new(req, "rid", json_integer(rid));
	int r = client_send(cl, req);
	if (r) {
		fprintf(stderr, "cairn: cannot send to the daemon: %s\n", err_str(r));
		return r;
	}
	for (;;) {
		json_t *m;
		r = client_read(cl, &m, -1);
		if (r == -EINTR)
			continue;
		if (r) {
			fprintf(stderr, "cairn: lost the connection to the daemon: %s\n", err_str(r));
			return r;
		}
		json_t *v = json_object_get(m, "rid");
		if (json_is_integer(v) && json_integer_value(v) == rid) {
			*reply = m;
			return 0;
		}
		json_decref(m);
	}
}

void client_print_error(const json_t *reply)
{
	const json_t *e = json_object_get(reply, "error");
	fprintf(stderr, "cairn: %s: %s\n", json_string_value(json_object_get(e, "code")),
		json_string_value(json_object_get(e, "message")));
}
