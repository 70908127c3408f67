/* Blocking socket client with a bounded line reader. */
#include "cli/client.h"

#include "cli/cli.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* What to do about a socket that is not the user's, after what failed. */
#define NOT_YOURS_HINT                                                                             \
	"cairn: another user may be impersonating the daemon; remove it, or point "                \
	"XDG_RUNTIME_DIR or [daemon] runtime_dir at a private directory of yours\n"

/* Refuses a socket whose directory another user owns or may write: that
 * user could have put their own socket there (the fallback directory
 * /tmp/cairn-UID can be made by anyone first). A directory that does not
 * exist is left to connect() to report. */
static int check_socket_dir(const char *socket_path, bool quiet)
{
	const char *slash = strrchr(socket_path, '/');
	char *dir;
	if (!slash)
		dir = xstrdup(".");
	else if (slash == socket_path)
		dir = xstrdup("/");
	else
		dir = xstrndup(socket_path, (size_t)(slash - socket_path));
	int r = 0;
	struct stat sb;
	if (stat(dir, &sb) < 0)
		goto out_free;
	if (sb.st_uid != getuid()) {
		if (!quiet)
			fprintf(stderr,
				"cairn: refusing to connect through %s: the directory is owned by "
				"uid %u, not by you (uid %u)\n" NOT_YOURS_HINT,
				dir, (unsigned)sb.st_uid, (unsigned)getuid());
		r = CAIRN_E_PEER;
	} else if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		if (!quiet)
			fprintf(stderr,
				"cairn: refusing to connect through %s: the directory is writable "
				"by others (mode %04o); make it private with 'chmod 700 %s'\n",
				dir, (unsigned)(sb.st_mode & 07777), dir);
		r = CAIRN_E_PEER;
	}
out_free:
	free(dir);
	return r;
}

/* Refuses a peer that does not run as the user: whoever listens on the
 * socket would otherwise read our requests and forge the answers. */
static int check_peer(int fd, const char *socket_path, bool quiet)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		int e = errno;
		if (!quiet)
			fprintf(stderr, "cairn: cannot tell who listens on %s: %s\n", socket_path,
				strerror(e));
		return -e;
	}
	if (cred.uid != getuid()) {
		if (!quiet)
			fprintf(stderr,
				"cairn: refusing to talk to the process on %s: it runs as uid %u "
				"(pid %d), not as you (uid %u)\n" NOT_YOURS_HINT,
				socket_path, (unsigned)cred.uid, (int)cred.pid, (unsigned)getuid());
		return CAIRN_E_PEER;
	}
	return 0;
}

static int client_open(struct client *cl, const struct config *cfg, bool quiet)
{
	memset(cl, 0, sizeof *cl);
	buf_init(&cl->in, CLIENT_LINE_MAX);
	cl->socket_path = cfg->socket_path;
	cl->watch_fd = -1;
	cl->fd = -1;
	int r = check_socket_dir(cfg->socket_path, quiet);
	if (r)
		return r;
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
	if ((r = check_peer(cl->fd, cfg->socket_path, quiet))) {
		close(cl->fd);
		cl->fd = -1;
		return r;
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
	buf_release(&cl->in);
	memset(cl, 0, sizeof *cl);
	cl->fd = -1;
}

int client_send(struct client *cl, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(req);
	if (!s)
		return CAIRN_E_INVALID;
	size_t n = strlen(s);
	if (cl->line_bytes && n > cl->line_bytes) {
		free(s);
		return CAIRN_E_TOOBIG;
	}
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
	/* A client zeroed and given an fd by hand (not client_connect()ed,
	 * as the unit tests do) gets its buffer here. */
	if (!cl->in.data)
		buf_init(&cl->in, CLIENT_LINE_MAX);
	for (;;) {
		struct buf *in = &cl->in;
		char *nl = in->len > cl->off ? memchr(in->data + cl->off, '\n', in->len - cl->off)
					     : NULL;
		if (nl) {
			size_t n = (size_t)(nl - (in->data + cl->off));
			json_error_t je;
			json_t *o = json_loadb(in->data + cl->off, n, 0, &je);
			cl->off += n + 1;
			if (!o || !json_is_object(o)) {
				json_decref(o);
				return CAIRN_E_PROTO;
			}
			*msg = o;
			return 0;
		}
		if (cl->off > 0) {
			memmove(in->data, in->data + cl->off, in->len - cl->off);
			buf_setlen(in, in->len - cl->off);
			cl->off = 0;
		}
		/* Read 64 KiB at a time at least; a line that leaves less
		 * than that under the cap is too long. */
		if (buf_grow(in, 65536) < 0)
			return CAIRN_E_TOOBIG;
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
		ssize_t r = recv(cl->fd, in->data + in->len, buf_avail(in), 0);
		if (r == 0)
			return CAIRN_E_CLOSED;
		if (r < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		buf_setlen(in, in->len + (size_t)r);
	}
}

int client_timeout_ms(void)
{
	static bool warned;
	const char *v = getenv("CAIRN_TIMEOUT_MS");
	if (!v || !*v)
		return CLIENT_TIMEOUT_MS_DEFAULT;
	char *end;
	errno = 0;
	long ms = strtol(v, &end, 10);
	if (errno || *end || ms < 0 || ms > INT_MAX) {
		if (!warned)
			fprintf(stderr,
				"cairn: ignoring CAIRN_TIMEOUT_MS='%s': expected milliseconds, "
				"such "
				"as 30000 (0: wait forever); waiting %d ms\n",
				v, CLIENT_TIMEOUT_MS_DEFAULT);
		warned = true;
		return CLIENT_TIMEOUT_MS_DEFAULT;
	}
	return (int)ms;
}

int client_request(struct client *cl, json_t *req, json_t **reply)
{
	*reply = NULL;
	long long rid = ++cl->next_rid;
	/* The rid first: built anew, since jansson keeps insertion order. */
	json_t *line = json_object();
	json_object_set_new(line, "rid", json_integer(rid));
	json_object_del(req, "rid");
	json_object_update(line, req);
	json_decref(req);
	int r = client_send(cl, line);
	if (r == CAIRN_E_TOOBIG) {
		fprintf(stderr,
			"cairn: the request is over the daemon's line limit of %zu bytes ([limits] "
			"line_bytes); nothing was sent\n",
			cl->line_bytes);
		return r;
	}
	if (r) {
		fprintf(stderr, "cairn: cannot send to the daemon: %s\n", err_str(r));
		return r;
	}
	int timeout_ms = client_timeout_ms();
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		int wait_ms = -1;
		if (timeout_ms > 0) {
			uint64_t now = clock_mono_ns();
			/* Rounded up: a zero timeout only at the deadline. */
			wait_ms = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
		}
		json_t *m;
		r = client_read(cl, &m, wait_ms);
		if (r == -EINTR)
			continue;
		if (r == -ETIMEDOUT) {
			fprintf(stderr,
				"cairn: no answer from the daemon in %g s; it may be stuck or "
				"overloaded: see its log, or set CAIRN_TIMEOUT_MS to wait longer "
				"(0: no limit)\n",
				timeout_ms / 1000.0);
			return r;
		}
		if (r) {
			fprintf(stderr, "cairn: lost the connection to the daemon: %s\n",
				err_str(r));
			return r;
		}
		json_t *v = json_object_get(m, "rid");
		if ((json_is_integer(v) && json_integer_value(v) == rid) ||
		    (!v && json_is_false(json_object_get(m, "ok")))) {
			*reply = m;
			return 0;
		}
		json_decref(m);
	}
}

int client_hello(struct client *cl)
{
	json_t *reply;
	int r = client_request(cl,
			       json_pack("{s:s,s:[i],s:s}", "op", "hello", "versions", 1, "client",
					 "cairn-cli/" CAIRN_VERSION),
			       &reply);
	if (r)
		return r;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		client_print_error(reply);
		json_decref(reply);
		return CAIRN_E_VERSION;
	}
	const json_t *lim = json_object_get(reply, "limits");
	json_int_t line = json_integer_value(json_object_get(lim, "line_bytes"));
	json_int_t event = json_integer_value(json_object_get(lim, "event_bytes"));
	cl->line_bytes = line > 0 ? (size_t)line : 0;
	cl->event_bytes = event > 0 ? (size_t)event : 0;
	json_decref(reply);
	return 0;
}

int client_reply_err(const json_t *reply, struct cairn_err *e)
{
	const json_t *err = json_object_get(reply, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *field = json_string_value(json_object_get(err, "field"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	int c = err_from_wire(code);
	/* A code this cairn does not know (a newer daemon's) is still an
	 * error; its name stays in the message. */
	if (!c)
		return cairn_err_set(e, CAIRN_E_PROTO, field, "%s: %s", code ? code : "?",
				     msg ? msg : "");
	return cairn_err_set(e, c, field, "%s", msg ? msg : err_str(c));
}

void client_print_error(const json_t *reply)
{
	struct cairn_err e;
	client_reply_err(reply, &e);
	/* "cairn: CODE: MESSAGE": the wire name, the daemon's own words. */
	char prog[80];
	snprintf(prog, sizeof prog, "cairn: %s", err_wire(e.code));
	cli_print_err(prog, &e);
}
