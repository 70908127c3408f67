/* Durable throughput. Two shapes, each for cairn (pub with ack "durable")
 * and for redis-server with appendonly yes / appendfsync always (RPUSH of
 * the same 200-byte event onto one list):
 *
 *   pipe:   P publishers, each on its own connection, each keeping up to W
 *           publishes in flight and reading acks as they come; events/s over
 *           the total count.
 *   serial: one publisher that waits for each ack before sending the next;
 *           events/s over a fixed time.
 *
 *   bench_durable --target cairn --sock PATH | --target redis --port P
 *                 --mode pipe [--publishers 8] [--window 256] [--events 200000]
 *                 --mode serial [--seconds 5]
 *                 [--key NAME]
 *
 * Results: <key>.eps (events/s), <key>.events, <key>.seconds, and the ack
 * latency <key>.ack.p50_us, .p99_us, .p999_us.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pub {
	pthread_t th;
	int id;
	bool redis;
	int fd;
	long quota, window;
	pthread_barrier_t *go;
	uint64_t done_ns;
	struct samples lat;
	uint64_t *sent_at; /* by sequence number on this connection */
};

/* Formats publish number i of this connection into buf; returns its size. */
static size_t format_pub(bool redis, long i, char *buf, size_t cap)
{
	char ev[BENCH_EVENT_BYTES + 1];
	event_format(ev, "bench.dur", now_ns());
	if (redis) {
		const char *argv[] = {"RPUSH", "bench:log", ev};
		size_t lens[] = {5, 9, BENCH_EVENT_BYTES};
		return resp_format(buf, cap, 3, argv, lens);
	}
	int n = snprintf(buf, cap,
	                 "{\"op\":\"pub\",\"rid\":%ld,\"ack\":\"durable\",\"event\":%s}\n", i, ev);
	if (n < 0 || (size_t)n >= cap)
		die("internal: publish line too long");
	return (size_t)n;
}

/* Checks one reply line; replies come back in the order sent on one
 * connection (cairn acks durable publishes in seq order; redis in order). */
static void check_reply(struct pub *p, const char *line)
{
	if (p->redis) {
		if (line[0] == '-')
			die("redis refused RPUSH: %s", line);
		if (line[0] != ':')
			die("unexpected reply from redis: %s", line);
	} else if (!strstr(line, "\"ok\":true")) {
		die("cairn refused a durable publish: %s", line);
	}
}

static void *pipe_main(void *arg)
{
	struct pub *p = arg;
	size_t cap = (size_t)p->window * 512;
	char *out = malloc(cap);
	if (!out)
		die("out of memory");
	size_t out_len = 0, out_off = 0;
	long sent = 0, acked = 0;
	struct reader r;
	reader_init(&r, p->fd);
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	pthread_barrier_wait(p->go);
	while (acked < p->quota) {
		/* Refill the window once the previous burst is on its way. */
		if (out_off == out_len) {
			out_len = out_off = 0;
			while (sent < p->quota && sent - acked < p->window) {
				out_len += format_pub(p->redis, sent, out + out_len, cap - out_len);
				p->sent_at[sent] = now_ns();
				sent++;
			}
		}
		struct pollfd pfd = {.fd = p->fd,
		                     .events = POLLIN | (out_off < out_len ? POLLOUT : 0)};
		if (poll(&pfd, 1, 10000) <= 0)
			die("publisher %d: no reply for 10 s (%ld of %ld acked)", p->id, acked,
			    p->quota);
		if (pfd.revents & POLLOUT) {
			ssize_t n = write(p->fd, out + out_off, out_len - out_off);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				die("publisher %d: write: %s", p->id, strerror(errno));
			if (n > 0)
				out_off += (size_t)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t len;
			char *line;
			while ((line = reader_line(&r, &len))) {
				check_reply(p, line);
				samples_add(&p->lat, now_ns() - p->sent_at[acked]);
				acked++;
			}
			if (errno != EAGAIN && errno != EINTR)
				die("publisher %d: the peer closed the connection", p->id);
		}
	}
	p->done_ns = now_ns();
	reader_release(&r);
	free(out);
	return NULL;
}

static int connect_target(bool redis, const char *sock, int port)
{
	return redis ? tcp_connect(port) : cairn_connect(sock);
}

int main(int argc, char **argv)
{
	const char *target = opt_str(argc, argv, "--target", "cairn");
	const char *mode = opt_str(argc, argv, "--mode", "pipe");
	const char *key = opt_str(argc, argv, "--key", target);
	const char *sock = opt_str(argc, argv, "--sock", NULL);
	int port = (int)opt_int(argc, argv, "--port", 0);
	bool redis = strcmp(target, "redis") == 0;
	if (!redis && strcmp(target, "cairn"))
		die("unknown --target '%s' (cairn or redis)", target);
	if (!redis && !sock)
		die("--target cairn needs --sock PATH");
	char k[128];
	struct samples lat = {0};
	long events;
	double secs;

	if (strcmp(mode, "pipe") == 0) {
		int np = (int)opt_int(argc, argv, "--publishers", 8);
		long window = opt_int(argc, argv, "--window", 256);
		events = opt_int(argc, argv, "--events", 200000);
		if (np < 1 || window < 1 || events < np)
			die("bad --publishers, --window or --events");
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, (unsigned)np + 1);
		struct pub *pubs = calloc((size_t)np, sizeof *pubs);
		for (int i = 0; i < np; i++) {
			struct pub *p = &pubs[i];
			p->id = i;
			p->redis = redis;
			p->fd = connect_target(redis, sock, port);
			p->quota = events / np + (i < events % np);
			p->window = window;
			p->go = &go;
			p->sent_at = calloc((size_t)p->quota, sizeof *p->sent_at);
			pthread_create(&p->th, NULL, pipe_main, p);
		}
		pthread_barrier_wait(&go);
		uint64_t t0 = now_ns(), t1 = t0;
		for (int i = 0; i < np; i++) {
			pthread_join(pubs[i].th, NULL);
			if (pubs[i].done_ns > t1)
				t1 = pubs[i].done_ns;
			samples_merge(&lat, &pubs[i].lat);
			samples_release(&pubs[i].lat);
			free(pubs[i].sent_at);
			close(pubs[i].fd);
		}
		free(pubs);
		secs = (t1 - t0) / 1e9;
	} else if (strcmp(mode, "serial") == 0) {
		long seconds = opt_int(argc, argv, "--seconds", 5);
		int fd = connect_target(redis, sock, port);
		struct pub p = {.redis = redis, .fd = fd};
		struct reader r;
		reader_init(&r, fd);
		char buf[1024];
		uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, t1;
		events = 0;
		do {
			size_t n = format_pub(redis, events, buf, sizeof buf);
			uint64_t ts = now_ns();
			write_all(fd, buf, n);
			size_t len;
			char *line = reader_line(&r, &len);
			if (!line)
				die("the peer closed the connection");
			t1 = now_ns();
			check_reply(&p, line);
			samples_add(&lat, t1 - ts);
			events++;
		} while (t1 < end);
		reader_release(&r);
		close(fd);
		secs = (t1 - t0) / 1e9;
	} else {
		die("unknown --mode '%s' (pipe or serial)", mode);
	}

	snprintf(k, sizeof k, "%s.eps", key);
	result(k, "%.0f", events / secs);
	snprintf(k, sizeof k, "%s.events", key);
	result(k, "%ld", events);
	snprintf(k, sizeof k, "%s.seconds", key);
	result(k, "%.2f", secs);
	snprintf(k, sizeof k, "%s.ack", key);
	result_latency(k, &lat);
	samples_release(&lat);
	return 0;
}
