/* Idle cost of a daemon: CPU time (utime + stime of every thread), wake-ups
 * (voluntary + nonvoluntary context switches summed over every thread) and
 * resident memory, over a number of idle seconds. Each daemon measured has
 * one idle subscriber connected, as a `cairn tail` or a monitoring client
 * would be; every daemon is measured over the same window.
 *
 *   bench_idle --seconds 60 [--cairn-sock PATH --cairn-pid PID]
 *              [--nats-port P --nats-pid PID] [--redis-port P --redis-pid PID]
 *
 * Results: idle.<name>.cpu_ms, .wakeups, .wakeups_per_s, .rss_kb, .seconds.
 */
#include "bench.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct target {
	const char *name;
	pid_t pid;
	long long cpu0, wake0;
};

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	natsMsg_Destroy(msg);
}

int main(int argc, char **argv)
{
	long seconds = opt_int(argc, argv, "--seconds", 60);
	const char *csock = opt_str(argc, argv, "--cairn-sock", NULL);
	struct target t[3];
	int n = 0;
	natsConnection *nc = NULL;
	natsSubscription *ns = NULL;
	int cfd = -1, rfd = -1;

	if (csock) {
		cfd = cairn_connect(csock);
		struct reader r;
		reader_init(&r, cfd);
		cairn_sub(cfd, &r, "idle", ">", 0);
		reader_release(&r);
		t[n++] = (struct target){.name = "cairn",
		                         .pid = (pid_t)opt_int(argc, argv, "--cairn-pid", 0)};
	}
	int nport = (int)opt_int(argc, argv, "--nats-port", 0);
	if (nport) {
		char url[64];
		snprintf(url, sizeof url, "nats://127.0.0.1:%d", nport);
		natsStatus s = natsConnection_ConnectTo(&nc, url);
		if (s == NATS_OK)
			s = natsConnection_Subscribe(&ns, nc, ">", on_msg, NULL);
		if (s == NATS_OK)
			s = natsConnection_Flush(nc);
		if (s != NATS_OK)
			die("nats: %s", natsStatus_GetText(s));
		t[n++] = (struct target){.name = "nats",
		                         .pid = (pid_t)opt_int(argc, argv, "--nats-pid", 0)};
	}
	int rport = (int)opt_int(argc, argv, "--redis-port", 0);
	if (rport) {
		rfd = tcp_connect(rport);
		char cmd[64];
		const char *av[] = {"PSUBSCRIBE", "*"};
		write_all(rfd, cmd, resp_format(cmd, sizeof cmd, 2, av, NULL));
		struct reader r;
		reader_init(&r, rfd);
		struct resp rr = {0};
		if (resp_read(&r, &rr))
			die("redis PSUBSCRIBE failed");
		resp_release(&rr);
		reader_release(&r);
		t[n++] = (struct target){.name = "redis",
		                         .pid = (pid_t)opt_int(argc, argv, "--redis-pid", 0)};
	}
	for (int i = 0; i < n; i++)
		if (t[i].pid <= 0)
			die("--%s-pid is needed", t[i].name);

	/* Let the connections settle before the window starts. */
	sleep(1);
	for (int i = 0; i < n; i++) {
		t[i].cpu0 = proc_cpu_ms(t[i].pid);
		t[i].wake0 = proc_wakeups(t[i].pid);
		if (t[i].cpu0 < 0 || t[i].wake0 < 0)
			die("cannot read /proc/%d for %s", (int)t[i].pid, t[i].name);
	}
	uint64_t t0 = now_ns();
	sleep_until_ns(t0 + (uint64_t)seconds * 1000000000u);
	double secs = (now_ns() - t0) / 1e9;
	for (int i = 0; i < n; i++) {
		char k[64];
		long long cpu = proc_cpu_ms(t[i].pid) - t[i].cpu0;
		long long wake = proc_wakeups(t[i].pid) - t[i].wake0;
		snprintf(k, sizeof k, "idle.%s.cpu_ms", t[i].name);
		result(k, "%lld", cpu);
		snprintf(k, sizeof k, "idle.%s.wakeups", t[i].name);
		result(k, "%lld", wake);
		snprintf(k, sizeof k, "idle.%s.wakeups_per_s", t[i].name);
		result(k, "%.2f", wake / secs);
		snprintf(k, sizeof k, "idle.%s.rss_kb", t[i].name);
		result(k, "%lld", proc_status_kb(t[i].pid, "VmRSS"));
		snprintf(k, sizeof k, "idle.%s.seconds", t[i].name);
		result(k, "%.1f", secs);
	}
	if (nc) {
		natsSubscription_Destroy(ns);
		natsConnection_Destroy(nc);
		nats_Close();
	}
	if (cfd >= 0)
		close(cfd);
	if (rfd >= 0)
		close(rfd);
	return 0;
}
