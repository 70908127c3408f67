/* Live delivery latency: one publisher sends 200-byte events at a fixed rate
 * (absolute deadlines) to one wildcard subscriber on another connection; the
 * subscriber takes the send time embedded in each event from its arrival
 * time. Targets: cairn (pub with ack "none", sub "bench.>"), nats (core
 * pub/sub with the libnats C client, sub "bench.>") and redis (PUBLISH,
 * PSUBSCRIBE "bench.*").
 *
 * With --extra-subs N (cairn only) the run has two phases on the same
 * daemon and the same subscriber: first with the one subscription, then with
 * N more subscriptions of distinct patterns that match nothing, spread over
 * a few connections.
 *
 *   bench_latency --target cairn --sock PATH [--extra-subs N]
 *   bench_latency --target nats --port P | --target redis --port P
 *   common: [--rate 2000] [--seconds 10] [--warmup 500] [--key NAME]
 *           [--dump FILE]  (every sample: phase, send time and latency in ns)
 *
 * Results: <key>.p50_us, .p99_us, .p999_us, .n, .lost (and <key>.fanout.*
 * for the second phase).
 */
#include "bench.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TYPE "bench.lat"
#define SUBJECT "bench.lat"

struct ctx {
	const char *target;
	int warmup;
	atomic_int phase;     /* which samples[] the subscriber fills */
	atomic_long received; /* events that arrived, every phase */
	atomic_bool stop;
	long skipped;
	struct samples samples[2];
	struct samples sent[2]; /* send times, for --dump */
	/* cairn/redis subscriber socket */
	int sub_fd;
	struct reader sub_r;
	/* nats */
	natsConnection *nc_pub, *nc_sub;
	natsSubscription *nsub;
	/* redis publisher (replies drained by a thread) */
	int pub_fd;
	struct reader pub_r;
};

static void record(struct ctx *c, uint64_t t_sent, uint64_t t_now)
{
	if (!t_sent)
		return;
	atomic_fetch_add(&c->received, 1);
	if (c->skipped < c->warmup) {
		c->skipped++;
		return;
	}
	int ph = atomic_load(&c->phase);
	samples_add(&c->samples[ph], t_now - t_sent);
	samples_add(&c->sent[ph], t_sent);
}

/* The subscriber of cairn or redis: a thread reading its socket. The socket
 * has a receive timeout so that the thread notices stop. */
static void *sub_thread(void *arg)
{
	struct ctx *c = arg;
	bool redis = strcmp(c->target, "redis") == 0;
	struct resp rr = {0};
	for (;;) {
		if (redis) {
			if (resp_read(&c->sub_r, &rr)) {
				if (errno == EAGAIN || errno == EINTR) {
					if (atomic_load(&c->stop))
						break;
					continue; /* a timeout mid-reply cannot happen at our rates
					           */
				}
				break;
			}
			uint64_t t = now_ns();
			if (rr.nstr == 4 && strcmp(rr.str[0], "pmessage") == 0)
				record(c, event_find_time(rr.str[3], rr.len[3]), t);
		} else {
			size_t len;
			char *line = reader_line(&c->sub_r, &len);
			if (!line) {
				if ((errno == EAGAIN || errno == EINTR) && !atomic_load(&c->stop))
					continue;
				break;
			}
			uint64_t t = now_ns();
			record(c, event_find_time(line, len), t);
		}
		if (atomic_load(&c->stop) && !reader_buffered(&c->sub_r))
			break;
	}
	resp_release(&rr);
	return NULL;
}

static void *redis_drain_thread(void *arg)
{
	struct ctx *c = arg;
	struct resp rr = {0};
	while (resp_read(&c->pub_r, &rr) == 0)
		if (rr.type == '-')
			die("redis refused PUBLISH: %s", rr.nstr ? rr.str[0] : "?");
	resp_release(&rr);
	return NULL;
}

static void on_nats_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	uint64_t t = now_ns();
	struct ctx *c = closure;
	record(c, event_find_time(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg)), t);
	natsMsg_Destroy(msg);
}

static void set_rcvtimeo(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static natsConnection *nats_connect(int port, bool send_asap)
{
	natsOptions *o;
	natsConnection *nc;
	char url[64];
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
	if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetSendAsap(o, send_asap) != NATS_OK)
		die("nats options: %s", nats_GetLastError(NULL));
	natsStatus s = natsConnection_Connect(&nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK)
		die("cannot connect to nats at %s: %s", url, natsStatus_GetText(s));
	return nc;
}

/* Sends one event stamped with the current time. */
static void publish(struct ctx *c, char *line, size_t prefix_len)
{
	uint64_t t = now_ns();
	if (strcmp(c->target, "cairn") == 0) {
		event_format(line + prefix_len, TYPE, t);
		size_t n = prefix_len + BENCH_EVENT_BYTES;
		line[n++] = '}';
		line[n++] = '\n';
		write_all(c->pub_fd, line, n);
	} else if (strcmp(c->target, "nats") == 0) {
		char ev[BENCH_EVENT_BYTES + 1];
		event_format(ev, TYPE, t);
		natsStatus s = natsConnection_Publish(c->nc_pub, SUBJECT, ev, BENCH_EVENT_BYTES);
		if (s != NATS_OK)
			die("nats publish: %s", natsStatus_GetText(s));
	} else {
		char ev[BENCH_EVENT_BYTES + 1], cmd[512];
		event_format(ev, TYPE, t);
		const char *argv[] = {"PUBLISH", SUBJECT, ev};
		size_t lens[] = {7, strlen(SUBJECT), BENCH_EVENT_BYTES};
		size_t n = resp_format(cmd, sizeof cmd, 3, argv, lens);
		write_all(c->pub_fd, cmd, n);
	}
}

/* Publishes for the given time at the given rate; returns the count sent. */
static long run_phase(struct ctx *c, long rate, long seconds)
{
	static const char prefix[] = "{\"op\":\"pub\",\"ack\":\"none\",\"event\":";
	char line[512];
	memcpy(line, prefix, sizeof prefix - 1);
	long total = rate * seconds;
	uint64_t interval = 1000000000u / (uint64_t)rate;
	uint64_t start = now_ns() + 1000000;
	long before = atomic_load(&c->received);
	for (long i = 0; i < total; i++) {
		sleep_until_ns(start + (uint64_t)i * interval);
		publish(c, line, sizeof prefix - 1);
	}
	/* Let the last events arrive (at most 3 s). */
	uint64_t until = now_ns() + 3000000000u;
	while (atomic_load(&c->received) - before < total && now_ns() < until)
		usleep(1000);
	return total - (atomic_load(&c->received) - before);
}

/* Adds n subscriptions with distinct patterns that the traffic (bench.lat)
 * never matches, over 4 connections; returns the connections' fds in fds. */
static void add_extra_subs(const char *sock, long n, int fds[4])
{
	for (int k = 0; k < 4; k++) {
		fds[k] = cairn_connect(sock);
		long mine = n / 4 + (k < n % 4);
		char *buf = malloc((size_t)mine * 128 + 1);
		if (!buf)
			die("out of memory");
		size_t off = 0;
		for (long j = 0; j < mine; j++) {
			long i = j * 4 + k;
			const char *fmt;
			switch (i % 4) {
			case 0: fmt = "nm%ld.>"; break;
			case 1: fmt = "bench.nm%ld"; break;
			case 2: fmt = "*.nm%ld"; break;
			default: fmt = "bench.lat.nm%ld"; break;
			}
			char pat[64];
			snprintf(pat, sizeof pat, fmt, i);
			off += (size_t)sprintf(
			    buf + off, "{\"op\":\"sub\",\"rid\":%ld,\"pattern\":\"%s\"}\n", i, pat);
		}
		write_all(fds[k], buf, off);
		free(buf);
		struct reader r;
		reader_init(&r, fds[k]);
		for (long j = 0; j < mine; j++) {
			size_t len;
			char *line = reader_line(&r, &len);
			if (!line)
				die("cairn closed a connection while subscribing");
			if (!strstr(line, "\"ok\":true"))
				die("cairn refused a subscription: %s", line);
		}
		reader_release(&r);
	}
}

int main(int argc, char **argv)
{
	struct ctx c = {0};
	c.target = opt_str(argc, argv, "--target", "cairn");
	long rate = opt_int(argc, argv, "--rate", 2000);
	long seconds = opt_int(argc, argv, "--seconds", 10);
	long extra = opt_int(argc, argv, "--extra-subs", 0);
	c.warmup = (int)opt_int(argc, argv, "--warmup", 500);
	const char *key = opt_str(argc, argv, "--key", c.target);
	const char *sock = opt_str(argc, argv, "--sock", NULL);
	int port = (int)opt_int(argc, argv, "--port", 0);
	if (rate <= 0 || seconds <= 0)
		die("--rate and --seconds must be positive");

	pthread_t th = 0;
	if (strcmp(c.target, "cairn") == 0) {
		if (!sock)
			die("--target cairn needs --sock PATH");
		c.sub_fd = cairn_connect(sock);
		reader_init(&c.sub_r, c.sub_fd);
		cairn_sub(c.sub_fd, &c.sub_r, "lat", "bench.>", 0);
		set_rcvtimeo(c.sub_fd, 200);
		c.pub_fd = cairn_connect(sock);
		pthread_create(&th, NULL, sub_thread, &c);
	} else if (strcmp(c.target, "nats") == 0) {
		c.nc_sub = nats_connect(port, false);
		c.nc_pub = nats_connect(port, true);
		natsStatus s =
		    natsConnection_Subscribe(&c.nsub, c.nc_sub, "bench.>", on_nats_msg, &c);
		if (s == NATS_OK)
			s = natsConnection_Flush(c.nc_sub);
		if (s != NATS_OK)
			die("nats subscribe: %s", natsStatus_GetText(s));
	} else if (strcmp(c.target, "redis") == 0) {
		c.sub_fd = tcp_connect(port);
		reader_init(&c.sub_r, c.sub_fd);
		char cmd[128];
		const char *av[] = {"PSUBSCRIBE", "bench.*"};
		write_all(c.sub_fd, cmd, resp_format(cmd, sizeof cmd, 2, av, NULL));
		struct resp rr = {0};
		if (resp_read(&c.sub_r, &rr) || rr.nstr < 1 || strcmp(rr.str[0], "psubscribe"))
			die("redis PSUBSCRIBE failed");
		resp_release(&rr);
		set_rcvtimeo(c.sub_fd, 200);
		c.pub_fd = tcp_connect(port);
		reader_init(&c.pub_r, c.pub_fd);
		pthread_t dt;
		pthread_create(&dt, NULL, redis_drain_thread, &c);
		pthread_detach(dt);
		pthread_create(&th, NULL, sub_thread, &c);
	} else {
		die("unknown --target '%s' (cairn, nats or redis)", c.target);
	}

	long lost = run_phase(&c, rate, seconds);
	long lost2 = 0;
	if (extra > 0) {
		if (strcmp(c.target, "cairn"))
			die("--extra-subs works with --target cairn only");
		int fds[4];
		uint64_t t0 = now_ns();
		add_extra_subs(sock, extra, fds);
		char sk[128];
		snprintf(sk, sizeof sk, "%s.fanout.setup_ms", key);
		result(sk, "%.0f", (now_ns() - t0) / 1e6);
		atomic_store(&c.phase, 1);
		lost2 = run_phase(&c, rate, seconds);
		/* The extra connections stay open until the phase is measured. */
		for (int k = 0; k < 4; k++)
			close(fds[k]);
	}
	if (strcmp(c.target, "cairn") == 0) {
		/* With ack "none" only a refused publish is answered. */
		char b[512];
		ssize_t n = recv(c.pub_fd, b, sizeof b - 1, MSG_DONTWAIT);
		if (n > 0) {
			b[n] = '\0';
			die("cairn refused a publish: %s", b);
		}
	}
	atomic_store(&c.stop, true);
	if (th)
		pthread_join(th, NULL);
	if (c.nc_sub) {
		natsSubscription_Unsubscribe(c.nsub);
		natsSubscription_Destroy(c.nsub);
		natsConnection_Destroy(c.nc_sub);
		natsConnection_Destroy(c.nc_pub);
		nats_Close();
	}

	const char *dump = opt_str(argc, argv, "--dump", NULL);
	if (dump) {
		FILE *f = fopen(dump, "w");
		if (!f)
			die("cannot write '%s'", dump);
		for (int ph = 0; ph < 2; ph++)
			for (size_t i = 0; i < c.samples[ph].n; i++)
				fprintf(f, "%d %llu %llu\n", ph,
				        (unsigned long long)c.sent[ph].v[i],
				        (unsigned long long)c.samples[ph].v[i]);
		fclose(f);
	}
	char k[128];
	result_latency(key, &c.samples[0]);
	snprintf(k, sizeof k, "%s.lost", key);
	result(k, "%ld", lost);
	if (extra > 0) {
		snprintf(k, sizeof k, "%s.fanout", key);
		result_latency(k, &c.samples[1]);
		snprintf(k, sizeof k, "%s.fanout.lost", key);
		result(k, "%ld", lost2);
	}
	return 0;
}
