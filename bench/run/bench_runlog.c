/* Micro-benchmark of what `cairn run` does with a large output after the
 * command (issue 13 item 6): redacting the 8 MiB capture (head and tail of
 * the output) into the saved log, with redact_text() on one thread (the
 * peer: what cairn run did before) and with runlog_redact() (src/cli/runlog.h:
 * parts on several threads, and with the head handed over early, as the
 * runner does once the head is full); and the relay's capture_add() of
 * 100 MB in 256 KiB reads. Two texts: the benchmark command's lines of 99
 * 'x', and build-log lines (compiler commands, warnings, a token now and
 * then). Medians of --rounds runs; printed, never asserted.
 *
 * Build and run: bench/run/runlog.sh [--rounds N] */
#include "cli/runlog.h"
#include "common/clock.h"
#include "kb/redact.h"
#include "sources/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAP ((size_t)8 << 20)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_u64);
	return (double)v[n / 2] / 1e6;
}

static char *text_x(size_t n)
{
	char *s = malloc(n);
	for (size_t i = 0; i < n; i++)
		s[i] = i % 100 == 99 ? '\n' : 'x';
	return s;
}

static char *text_build(size_t n)
{
	char *s = malloc(n + 256);
	size_t o = 0;
	for (unsigned i = 0; o < n; i++) {
		if (i % 5000 == 0)
			o += (size_t)sprintf(s + o,
					     "export GITHUB_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd"
					     "0Kh8oOOL8d\n");
		else if (i % 7 == 0)
			o += (size_t)sprintf(s + o,
					     "src/mod%u.c:%u:5: warning: unused variable 'tmp%u' "
					     "[-Wunused-variable]\n",
					     i, i % 900, i);
		else
			o += (size_t)sprintf(s + o,
					     "cc -std=gnu11 -O2 -g -Wall -Isrc -c src/mod%u.c -o "
					     "build/mod%u.o\n",
					     i, i);
	}
	return s;
}

static void bench_text(const char *name, const char *t, int rounds)
{
	uint64_t one[64], par[64], rest[64];
	for (int r = 0; r < rounds; r++) {
		size_t len;
		uint64_t t0 = clock_mono_ns();
		free(redact_text(t, CAP, &len, NULL));
		one[r] = clock_mono_ns() - t0;

		struct runlog rl;
		runlog_init(&rl);
		t0 = clock_mono_ns();
		free(runlog_redact(&rl, t, CAP, &len));
		par[r] = clock_mono_ns() - t0;
		runlog_release(&rl);

		/* The head handed over early and given time to finish: what
		 * is left after the command is the tail. */
		runlog_init(&rl);
		runlog_start(&rl, t, CAP / 2);
		usleep((useconds_t)(one[r] / 1000));
		t0 = clock_mono_ns();
		free(runlog_redact(&rl, t, CAP, &len));
		rest[r] = clock_mono_ns() - t0;
		runlog_release(&rl);
	}
	printf("  %-22s redact_text %7.1f ms   runlog_redact %7.1f ms   after an early head "
	       "%7.1f ms\n",
	       name, median_ms(one, rounds), median_ms(par, rounds), median_ms(rest, rounds));
}

int main(int argc, char **argv)
{
	int rounds = 5;
	if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
		rounds = atoi(argv[2]);
	if (rounds < 1 || rounds > 64)
		rounds = 5;
	printf("saving an 8 MiB capture (median of %d; %ld CPUs)\n", rounds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	char *x = text_x(CAP), *b = text_build(CAP);
	bench_text("lines of 99 'x'", x, rounds);
	bench_text("build-log lines", b, rounds);

	uint64_t add[64];
	const size_t chunk = 256 * 1024;
	char *big = text_x(chunk);
	for (int r = 0; r < rounds; r++) {
		struct capture c;
		capture_init(&c, CAP);
		uint64_t t0 = clock_mono_ns();
		for (size_t done = 0; done < 100000000; done += chunk)
			capture_add(&c, big, chunk);
		add[r] = clock_mono_ns() - t0;
		capture_release(&c);
	}
	printf("  capture_add() of 100 MB in 256 KiB pieces: %.1f ms\n", median_ms(add, rounds));
	free(big);
	free(x);
	free(b);
	return 0;
}
