/* A stalled subscriber. Publishers send 200-byte events at a fixed total
 * rate (ack "accepted", so each publish has a reply to time) while an
 * observer subscriber reads everything. Three phases on the same daemon:
 *
 *   warm-up:  publishers + observer, not measured, so that the baseline
 *             does not pay for a cold daemon (empty database, cold caches);
 *   baseline: publishers + observer only;
 *   stall:    the same, plus a subscriber that subscribes and then reads
 *             nothing until the phase is over; as long as the baseline.
 *
 * Each phase measures the publishers' ack latency and the observer's
 * delivery latency, and the daemon's memory (VmRSS sampled every 100 ms,
 * VmHWM). Afterwards the stalled subscriber reads again and, on each gap
 * notice, resubscribes from gap.from as `cairn tail` does; it must end up
 * with every event published after it subscribed, each once and in order.
 *
 *   bench_stall --sock PATH --pid DAEMON_PID [--rate 20000] [--publishers 2]
 *               [--seconds 60] [--warmup 5] [--catchup-timeout 180]
 *
 * Results: stall.{base,stall}.ack.*, stall.{base,stall}.deliver.*,
 * stall.{base,stall}.behind (publishes sent late by more than 1 ms),
 * stall.{base,stall}.rate (the publish rate achieved),
 * stall.{base,stall}.cpu_us_per_event (the daemon's CPU time per event),
 * stall.{base,stall}.events, stall.rss_before_kb (as the stall begins),
 * stall.rss_max_{base,stall}_kb (sampled), stall.hwm_{base,stall,end}_kb
 * (VmHWM after each phase and after the catch-up), stall.expected,
 * stall.received, stall.missing, stall.duplicates, stall.gaps,
 * stall.catchup_s.
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

enum { WARM, BASE, STALL, NPH };
static const char *const phase_names[NPH] = {"warm", "base", "stall"};

static atomic_int phase;
static atomic_bool stopping;

struct publisher {
	pthread_t tx, rx;
	int fd;
	long rate;           /* events/s of this publisher */
	long n[NPH];         /* events per phase */
	long first_rid[NPH]; /* rids are numbered across the phases */
	long total;
	uint64_t start[NPH];       /* phase start deadlines, set by main */
	atomic_bool go[NPH];       /* start[ph] is set */
	_Atomic uint64_t *sent_at; /* by rid */
	atomic_long acked;
	long behind[NPH];
	uint64_t tx_end[NPH]; /* when the phase's last publish was sent */
	long long max_seq;
	struct samples ack[NPH];
};

struct observer {
	pthread_t th;
	int fd;
	struct reader r;
	atomic_long received;
	struct samples deliver[NPH];
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
	while (i < p->n[ph]) {
		uint64_t due = p->start[ph] + (uint64_t)i * interval;
		sleep_until_ns(due);
		uint64_t t = now_ns();
		size_t off = 0;
		do {
			long rid = p->first_rid[ph] + i;
			if (t > due + 1000000)
				p->behind[ph]++;
			int k = snprintf(buf + off, LINE_MAX_BYTES,
			                 "{\"op\":\"pub\",\"rid\":%ld,\"event\":", rid);
			event_format(buf + off + k, TYPE, t);
			k += BENCH_EVENT_BYTES;
			buf[off + (size_t)k++] = '}';
			buf[off + (size_t)k++] = '\n';
			off += (size_t)k;
			atomic_store(&p->sent_at[rid], t);
			i++;
			due += interval;
		} while (i < p->n[ph] && due <= t && off + LINE_MAX_BYTES <= sizeof buf);
		write_all(p->fd, buf, off);
	}
	p->tx_end[ph] = now_ns();
}

static void *pub_tx(void *arg)
{
	struct publisher *p = arg;
	for (int ph = 0; ph < NPH; ph++) {
		while (!atomic_load(&p->go[ph]))
			usleep(1000);
		publish_phase(p, ph);
	}
	return NULL;
}

static int phase_of_rid(const struct publisher *p, long rid)
{
	int ph = 0;
	while (ph + 1 < NPH && rid >= p->first_rid[ph + 1])
		ph++;
	return ph;
}

static void *pub_rx(void *arg)
{
	struct publisher *p = arg;
	struct reader r;
	reader_init(&r, p->fd);
	while (atomic_load(&p->acked) < p->total) {
		size_t len;
		char *line = reader_line(&r, &len);
		if (!line)
			die("publisher: cairn closed the connection");
		uint64_t t = now_ns();
		long long rid, seq;
		if (!strstr(line, "\"ok\":true") || !json_find_int(line, "rid", &rid) ||
		    !json_find_int(line, "seq", &seq) || rid < 0 || rid >= p->total)
			die("publisher: unexpected reply: %s", line);
		samples_add(&p->ack[phase_of_rid(p, (long)rid)], t - atomic_load(&p->sent_at[rid]));
		if (seq > p->max_seq)
			p->max_seq = seq;
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

/* Waits until every publish up to the end of phase ph is acked (at most
 * 60 s), then until the observer has every event or has received nothing
 * for 1 s (it ignores gap notices, so what it missed never comes). */
static void drain(struct publisher *pubs, int np, struct observer *o, int ph)
{
	uint64_t until = now_ns() + 60000000000u;
	long want_events = 0;
	for (int i = 0; i < np; i++)
		for (int q = 0; q <= ph; q++)
			want_events += pubs[i].n[q];
	for (;;) {
		bool done = true;
		for (int i = 0; i < np; i++)
			done &=
			    atomic_load(&pubs[i].acked) >= pubs[i].first_rid[ph] + pubs[i].n[ph];
		if (done)
			break;
		if (now_ns() > until)
			die("publishers: acks missing 60 s after the %s phase", phase_names[ph]);
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

/* Runs phase ph: lets the publishers go, samples the daemon's RSS every
 * 100 ms until the phase is over, then drains. Returns the largest RSS. */
static long long run_phase(struct publisher *pubs, int np, struct observer *o, int ph, long seconds,
                           pid_t pid)
{
	uint64_t start = now_ns() + 10000000;
	long rate = 0;
	for (int i = 0; i < np; i++)
		rate += pubs[i].rate;
	fprintf(stderr, "stall: %s phase, %ld events/s for %ld s\n", phase_names[ph], rate,
	        seconds);
	atomic_store(&phase, ph);
	for (int i = 0; i < np; i++) {
		/* Stagger the publishers within one interval. */
		pubs[i].start[ph] = start + (uint64_t)i * (1000000000u / (uint64_t)rate);
		atomic_store(&pubs[i].go[ph], true);
	}
	uint64_t end = start + (uint64_t)seconds * 1000000000u;
	long long rss_max = proc_status_kb(pid, "VmRSS");
	while (now_ns() < end) {
		usleep(100000);
		long long rss = proc_status_kb(pid, "VmRSS");
		if (rss > rss_max)
			rss_max = rss;
	}
	drain(pubs, np, o, ph);
	long long rss = proc_status_kb(pid, "VmRSS");
	return rss > rss_max ? rss : rss_max;
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
			int n =
			    snprintf(req, sizeof req, "{\"op\":\"unsub\",\"sub\":\"%s\"}\n", cur);
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
	long warmup = opt_int(argc, argv, "--warmup", 5);
	long catchup_timeout = opt_int(argc, argv, "--catchup-timeout", 180);
	if (!sock || pid <= 0)
		die("usage: bench_stall --sock PATH --pid DAEMON_PID [--rate N] [--seconds S]");
	if (np < 1 || rate < np || seconds < 1 || warmup < 0)
		die("bad --rate, --publishers, --seconds or --warmup");
	long secs[NPH] = {warmup, seconds, seconds};

	struct observer obs = {0};
	obs.fd = cairn_connect(sock);
	reader_init(&obs.r, obs.fd);
	cairn_sub(obs.fd, &obs.r, "observer", PATTERN, 0);
	set_rcvtimeo(obs.fd, 200);
	pthread_create(&obs.th, NULL, observer_main, &obs);

	struct publisher *pubs = calloc((size_t)np, sizeof *pubs);
	long per_pub = rate / np;
	for (int i = 0; i < np; i++) {
		struct publisher *p = &pubs[i];
		p->fd = cairn_connect(sock);
		p->rate = per_pub;
		for (int ph = 0; ph < NPH; ph++) {
			p->n[ph] = per_pub * secs[ph];
			p->first_rid[ph] = p->total;
			p->total += p->n[ph];
		}
		p->sent_at = calloc((size_t)p->total, sizeof *p->sent_at);
		pthread_create(&p->rx, NULL, pub_rx, p);
		pthread_create(&p->tx, NULL, pub_tx, p);
	}

	long long cpu[NPH][2], rss_max[NPH] = {0}, hwm[NPH];
	long long after = 0; /* the last seq before the stalled subscriber */
	int sfd = -1;
	struct reader sr;
	for (int ph = 0; ph < NPH; ph++) {
		if (ph == STALL) {
			/* The stalled subscriber: subscribes, then reads nothing. */
			sfd = cairn_connect(sock);
			reader_init(&sr, sfd);
			after = cairn_sub(sfd, &sr, "stalled1", PATTERN, 0);
			result("stall.rss_before_kb", "%lld", proc_status_kb(pid, "VmRSS"));
		}
		if (secs[ph] == 0) {
			for (int i = 0; i < np; i++)
				atomic_store(&pubs[i].go[ph], true);
			continue;
		}
		cpu[ph][0] = proc_cpu_ms(pid);
		rss_max[ph] = run_phase(pubs, np, &obs, ph, secs[ph], pid);
		cpu[ph][1] = proc_cpu_ms(pid);
		hwm[ph] = proc_status_kb(pid, "VmHWM");
	}
	result("stall.hwm_base_kb", "%lld", hwm[BASE]);
	result("stall.hwm_stall_kb", "%lld", hwm[STALL]);
	result("stall.rss_max_base_kb", "%lld", rss_max[BASE]);
	result("stall.rss_max_stall_kb", "%lld", rss_max[STALL]);

	long long last = 0;
	for (int i = 0; i < np; i++) {
		pthread_join(pubs[i].tx, NULL);
		pthread_join(pubs[i].rx, NULL);
		if (pubs[i].max_seq > last)
			last = pubs[i].max_seq;
	}
	atomic_store(&stopping, true);
	pthread_join(obs.th, NULL);

	for (int ph = BASE; ph < NPH; ph++) {
		struct samples ack = {0};
		long behind = 0, events = 0;
		uint64_t tx_end = pubs[0].start[ph];
		for (int i = 0; i < np; i++) {
			samples_merge(&ack, &pubs[i].ack[ph]);
			behind += pubs[i].behind[ph];
			events += pubs[i].n[ph];
			if (pubs[i].tx_end[ph] > tx_end)
				tx_end = pubs[i].tx_end[ph];
		}
		char k[64];
		const char *nm = phase_names[ph];
		snprintf(k, sizeof k, "stall.%s.events", nm);
		result(k, "%ld", events);
		snprintf(k, sizeof k, "stall.%s.rate", nm);
		result(k, "%.0f", events / ((tx_end - pubs[0].start[ph]) / 1e9));
		snprintf(k, sizeof k, "stall.%s.cpu_us_per_event", nm);
		result(k, "%.1f", (cpu[ph][1] - cpu[ph][0]) * 1000.0 / (double)events);
		snprintf(k, sizeof k, "stall.%s.ack", nm);
		result_latency(k, &ack);
		snprintf(k, sizeof k, "stall.%s.deliver", nm);
		result_latency(k, &obs.deliver[ph]);
		snprintf(k, sizeof k, "stall.%s.behind", nm);
		result(k, "%ld", behind);
		samples_release(&ack);
	}

	fprintf(stderr, "stall: the stalled subscriber reads again (seq %lld..%lld)\n", after + 1,
	        last);
	catch_up(sfd, &sr, after, last, catchup_timeout);
	result("stall.hwm_end_kb", "%lld", proc_status_kb(pid, "VmHWM"));
	return 0;
}
