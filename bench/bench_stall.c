/* A stalled subscriber. Publishers send 200-byte events at a fixed total
 * rate (ack "accepted", so each publish has a reply to time) while an
 * observer subscriber reads everything. Two phases on the same daemon, each
 * the same length:
 *
 *   baseline: publishers + observer only;
 *   stall:    the same, plus a subscriber that subscribes and then reads
 *             nothing until the phase is over.
 *
 * Each phase measures the publishers' ack latency and the observer's
 * delivery latency, and the daemon's memory (VmRSS sampled every 100 ms,
 * VmHWM). Afterwards the stalled subscriber reads again and, on each gap
 * notice, resubscribes from gap.from as `cairn tail` does; it must end up
 * with every event published after it subscribed, each once and in order.
 *
 *   bench_stall --sock PATH --pid DAEMON_PID [--rate 20000] [--publishers 2]
 *               [--seconds 60] [--catchup-timeout 180]
 *
 * Results: stall.{base,stall}.ack.*, stall.{base,stall}.deliver.*,
 * stall.{base,stall}.behind (publishes sent late by more than 1 ms),
 * stall.{base,stall}.rate (the publish rate achieved),
 * stall.{base,stall}.cpu_us_per_event (the daemon's CPU time per event),
 * stall.rss_before_kb, stall.rss_max_kb, stall.hwm_base_kb,
 * stall.hwm_stall_kb, stall.hwm_end_kb, stall.expected, stall.received,
 * stall.missing, stall.duplicates, stall.gaps, stall.catchup_s.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TYPE "stall.x"
#define PATTERN "stall.>"

static atomic_int phase;
static atomic_bool stopping;

struct publisher {
	pthread_t tx, rx;
	int fd;
	long rate;         /* events/s of this publisher */
	long per_phase;    /* events per phase */
	uint64_t start[2]; /* phase start deadlines */
	_Atomic uint64_t *sent_at; /* by rid */
	atomic_long acked;
	long behind[2];
	uint64_t tx_end[2]; /* when the phase's last publish was sent */
	long long max_seq[2], min_seq[2];
	struct samples ack[2];
};

struct observer {
	pthread_t th;
	int fd;
	struct reader r;
	atomic_long received;
	struct samples deliver[2];
};

static void set_rcvtimeo(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Sends this publisher's events of phase ph at its rate: each at its
 * deadline, one write per event; when the publisher has fallen behind, the
 * events already due (at most 64) go out in one write, so that the load
 * generator spends as little CPU as it can on catching up. */
static void publish_phase(struct publisher *p, int ph)
{
	enum { MAX_BURST = 64, LINE_MAX_BYTES = 320 };
	static _Thread_local char buf[MAX_BURST * LINE_MAX_BYTES];
	uint64_t interval = 1000000000u / (uint64_t)p->rate;
	long i = 0;
	while (i < p->per_phase) {
		uint64_t due = p->start[ph] + (uint64_t)i * interval;
		sleep_until_ns(due);
		uint64_t t = now_ns();
		size_t off = 0;
		do {
			long rid = ph * p->per_phase + i;
			if (t > due + 1000000)
				p->behind[ph]++;
			int n = snprintf(buf + off, LINE_MAX_BYTES,
					 "{\"op\":\"pub\",\"rid\":%ld,\"event\":", rid);
			event_format(buf + off + n, TYPE, t);
			n += BENCH_EVENT_BYTES;
			buf[off + (size_t)n++] = '}';
			buf[off + (size_t)n++] = '\n';
			off += (size_t)n;
			atomic_store(&p->sent_at[rid], t);
			i++;
			due += interval;
		} while (i < p->per_phase && due <= t && off + LINE_MAX_BYTES <= sizeof buf);
		write_all(p->fd, buf, off);
	}
	p->tx_end[ph] = now_ns();
}

static void *pub_tx(void *arg)
{
	struct publisher *p = arg;
	publish_phase(p, 0);
	/* The main thread sets start[1] before it lets phase 1 begin. */
	while (atomic_load(&phase) < 1)
		usleep(1000);
	publish_phase(p, 1);
	return NULL;
}

static void *pub_rx(void *arg)
{
	struct publisher *p = arg;
	struct reader r;
	reader_init(&r, p->fd);
	long total = 2 * p->per_phase;
	while (atomic_load(&p->acked) < total) {
		size_t len;
		char *line = reader_line(&r, &len);
		if (!line)
			die("publisher: cairn closed the connection");
		uint64_t t = now_ns();
		long long rid, seq;
		if (!strstr(line, "\"ok\":true") || !json_find_int(line, "rid", &rid) ||
		    !json_find_int(line, "seq", &seq) || rid < 0 || rid >= total)
			die("publisher: unexpected reply: %s", line);
		int ph = rid >= p->per_phase;
		samples_add(&p->ack[ph], t - atomic_load(&p->sent_at[rid]));
		if (seq > p->max_seq[ph])
			p->max_seq[ph] = seq;
		if (!p->min_seq[ph] || seq < p->min_seq[ph])
			p->min_seq[ph] = seq;
		atomic_fetch_add(&p->acked, 1);
	}
	reader_release(&r);
	return NULL;
}

static void *observer_main(void *arg)
{
	struct observer *o = arg;
	for (;;) {
		size_t len;
		char *line = reader_line(&o->r, &len);
		if (!line) {
			if ((errno == EAGAIN || errno == EINTR) && !atomic_load(&stopping))
				continue;
			break;
		}
		uint64_t t = now_ns(), ts = event_find_time(line, len);
		if (!ts)
			continue;
		samples_add(&o->deliver[atomic_load(&phase)], t - ts);
		atomic_fetch_add(&o->received, 1);
	}
	return NULL;
}

/* Waits until every publish of the phase is acked (at most 60 s), then
 * until the observer has every event or has received nothing for 1 s (it
 * ignores gap notices, so what it missed never comes). */
static void drain(struct publisher *pubs, int np, struct observer *o, long want_events,
		  long want_acks_each)
{
	uint64_t until = now_ns() + 60000000000u;
	for (;;) {
		bool done = true;
		for (int i = 0; i < np; i++)
			done &= atomic_load(&pubs[i].acked) >= want_acks_each;
		if (done)
			break;
		if (now_ns() > until)
			die("publishers: acks missing after 60 s");
		usleep(2000);
	}
	long seen = atomic_load(&o->received);
	uint64_t quiet_since = now_ns();
	while (seen < want_events && now_ns() - quiet_since < 1000000000u) {
		usleep(2000);
		long n = atomic_load(&o->received);
		if (n != seen) {
			seen = n;
			quiet_since = now_ns();
		}
	}
}

/* The stalled subscriber reads again, follows gap notices by resubscribing
 * from gap.from, and counts what it gets of (first - 1, last]. */
static void catch_up(int fd, struct reader *r, long long after, long long last, long timeout_s)
{
	long long next = after + 1; /* the next seq we want */
	long long received = 0, dups = 0, missing = 0, gaps = 0;
	int gen = 1;
	char cur[32] = "stalled1";
	uint64_t t0 = now_ns(), until = t0 + (uint64_t)timeout_s * 1000000000u;
	set_rcvtimeo(fd, 500);
	while (next <= last && now_ns() < until) {
		size_t len;
		char *line = reader_line(r, &len);
		if (!line) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("stalled subscriber: cairn closed the connection");
		}
		char want[64];
		int wl = snprintf(want, sizeof want, "{\"sub\":\"%s\",", cur);
		if (strncmp(line, want, (size_t)wl) != 0)
			continue; /* a reply, or a message of a superseded subscription */
		if (strncmp(line + wl, "\"event\":", 8) == 0) {
			long long seq;
			if (!json_find_int(line, "seq", &seq))
				die("stalled subscriber: event without seq: %s", line);
			if (seq < next) {
				dups++;
				continue;
			}
			if (seq > next)
				missing += seq - next;
			received++;
			next = seq + 1;
		} else if (strncmp(line + wl, "\"gap\":", 6) == 0) {
			long long from;
			if (!json_find_int(line, "from", &from))
				die("stalled subscriber: bad gap notice: %s", line);
			gaps++;
			char req[256];
			int n = snprintf(req, sizeof req, "{\"op\":\"unsub\",\"sub\":\"%s\"}\n", cur);
			snprintf(cur, sizeof cur, "stalled%d", ++gen);
			n += snprintf(req + n, sizeof req - (size_t)n,
				      "{\"op\":\"sub\",\"sub\":\"%s\",\"pattern\":\"" PATTERN
				      "\",\"from\":%lld}\n",
				      cur, from);
			write_all(fd, req, (size_t)n);
		}
	}
	if (next <= last)
		missing += last - next + 1;
	result("stall.expected", "%lld", last - after);
	result("stall.received", "%lld", received);
	result("stall.missing", "%lld", missing);
	result("stall.duplicates", "%lld", dups);
	result("stall.gaps", "%lld", gaps);
	result("stall.catchup_s", "%.1f", (now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	const char *sock = opt_str(argc, argv, "--sock", NULL);
	pid_t pid = (pid_t)opt_int(argc, argv, "--pid", 0);
	long rate = opt_int(argc, argv, "--rate", 20000);
	int np = (int)opt_int(argc, argv, "--publishers", 2);
	long seconds = opt_int(argc, argv, "--seconds", 60);
	long catchup_timeout = opt_int(argc, argv, "--catchup-timeout", 180);
	if (!sock || pid <= 0)
		die("usage: bench_stall --sock PATH --pid DAEMON_PID [--rate N] [--seconds S]");
	if (np < 1 || rate < np || seconds < 1)
		die("bad --rate, --publishers or --seconds");

	struct observer obs = {0};
	obs.fd = cairn_connect(sock);
	reader_init(&obs.r, obs.fd);
	cairn_sub(obs.fd, &obs.r, "observer", PATTERN, 0);
	set_rcvtimeo(obs.fd, 200);
	pthread_create(&obs.th, NULL, observer_main, &obs);

	struct publisher *pubs = calloc((size_t)np, sizeof *pubs);
	long per_pub = rate / np;
	uint64_t start = now_ns() + 10000000;
	for (int i = 0; i < np; i++) {
		struct publisher *p = &pubs[i];
		p->fd = cairn_connect(sock);
		p->rate = per_pub;
		p->per_phase = per_pub * seconds;
		/* Stagger the publishers within one interval. */
		p->start[0] = start + (uint64_t)i * (1000000000u / (uint64_t)rate);
		p->sent_at = calloc((size_t)(2 * p->per_phase), sizeof *p->sent_at);
		pthread_create(&p->rx, NULL, pub_rx, p);
	}
	long per_phase_all = per_pub * np * seconds;
	fprintf(stderr, "stall: baseline phase, %ld events/s for %ld s\n", per_pub * np, seconds);
	uint64_t starts[2] = {start, 0};
	long long cpu[3];
	cpu[0] = proc_cpu_ms(pid);
	for (int i = 0; i < np; i++)
		pthread_create(&pubs[i].tx, NULL, pub_tx, &pubs[i]);
	sleep_until_ns(start + (uint64_t)seconds * 1000000000u);
	drain(pubs, np, &obs, per_phase_all, pubs[0].per_phase);
	cpu[1] = proc_cpu_ms(pid);
	result("stall.hwm_base_kb", "%lld", proc_status_kb(pid, "VmHWM"));

	/* The stalled subscriber: subscribes, then reads nothing. */
	int sfd = cairn_connect(sock);
	struct reader sr;
	reader_init(&sr, sfd);
	long long after = cairn_sub(sfd, &sr, "stalled1", PATTERN, 0);
	long long rss_before = proc_status_kb(pid, "VmRSS"), rss_max = rss_before;
	result("stall.rss_before_kb", "%lld", rss_before);

	fprintf(stderr, "stall: stall phase, with a subscriber that reads nothing\n");
	start = now_ns() + 10000000;
	starts[1] = start;
	for (int i = 0; i < np; i++)
		pubs[i].start[1] = start + (uint64_t)i * (1000000000u / (uint64_t)rate);
	atomic_store(&phase, 1);
	uint64_t end = start + (uint64_t)seconds * 1000000000u;
	while (now_ns() < end) {
		usleep(100000);
		long long rss = proc_status_kb(pid, "VmRSS");
		if (rss > rss_max)
			rss_max = rss;
	}
	drain(pubs, np, &obs, 2 * per_phase_all, 2 * pubs[0].per_phase);
	cpu[2] = proc_cpu_ms(pid);
	long long rss = proc_status_kb(pid, "VmRSS");
	if (rss > rss_max)
		rss_max = rss;
	result("stall.rss_max_kb", "%lld", rss_max);
	result("stall.hwm_stall_kb", "%lld", proc_status_kb(pid, "VmHWM"));

	long long last = 0;
	for (int i = 0; i < np; i++) {
		pthread_join(pubs[i].tx, NULL);
		pthread_join(pubs[i].rx, NULL);
		if (pubs[i].max_seq[1] > last)
			last = pubs[i].max_seq[1];
	}
	atomic_store(&stopping, true);
	pthread_join(obs.th, NULL);

	const char *names[2] = {"base", "stall"};
	for (int ph = 0; ph < 2; ph++) {
		struct samples ack = {0};
		long behind = 0;
		uint64_t tx_end = starts[ph];
		for (int i = 0; i < np; i++) {
			samples_merge(&ack, &pubs[i].ack[ph]);
			behind += pubs[i].behind[ph];
			if (pubs[i].tx_end[ph] > tx_end)
				tx_end = pubs[i].tx_end[ph];
		}
		char k[64];
		snprintf(k, sizeof k, "stall.%s.rate", names[ph]);
		result(k, "%.0f", per_phase_all / ((tx_end - starts[ph]) / 1e9));
		snprintf(k, sizeof k, "stall.%s.cpu_us_per_event", names[ph]);
		result(k, "%.1f", (cpu[ph + 1] - cpu[ph]) * 1000.0 / (double)per_phase_all);
		snprintf(k, sizeof k, "stall.%s.ack", names[ph]);
		result_latency(k, &ack);
		snprintf(k, sizeof k, "stall.%s.deliver", names[ph]);
		result_latency(k, &obs.deliver[ph]);
		snprintf(k, sizeof k, "stall.%s.behind", names[ph]);
		result(k, "%ld", behind);
		samples_release(&ack);
	}

	fprintf(stderr, "stall: the stalled subscriber reads again (seq %lld..%lld)\n", after + 1,
		last);
	catch_up(sfd, &sr, after, last, catchup_timeout);
	result("stall.hwm_end_kb", "%lld", proc_status_kb(pid, "VmHWM"));
	return 0;
}
