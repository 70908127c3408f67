/* Micro-benchmark of redact() (src/kb/redact.c), the redaction of every
 * imported knowledge entry: ns per call and MB/s over the entries of a
 * JSON Lines file (bench_kb's), each redacted as kb_prep.c does it (the
 * text fields joined into one call) and field by field, and over a
 * synthetic build log through redact_text(). Each figure is printed next to
 * the peer measured in the same run: the same redact.c built with
 * -DREDACT_NO_PREFILTER, which runs every rule's regular expression on
 * every text. Both must give the same output; the benchmark checks that
 * and exits 1 if not. Timings are reported, never asserted.
 *
 * usage: bench_redact FILE.jsonl [RESULTS]
 *   RESULTS: a file for the raw "R key value" lines (default: standard
 *   error). Run it through bench/kb/run.sh, which builds both copies. */
#include "common/clock.h"
#include "kb/redact.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same redact.c without its prefilter (bench/kb/run.sh renames it). */
char *redact_noprefilter(const char *text, size_t len, size_t *out_len, unsigned *n_redactions);
char *redact_text_noprefilter(const char *text, size_t len, size_t *out_len,
			      unsigned *n_redactions);

typedef char *(*redact_fn)(const char *, size_t, size_t *, unsigned *);

/* Texts to redact, in one array. */
struct texts {
	char **s;
	size_t *len, n, cap, bytes;
};

static void texts_add(struct texts *t, const char *s, size_t len)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->s = realloc(t->s, t->cap * sizeof *t->s);
		t->len = realloc(t->len, t->cap * sizeof *t->len);
		if (!t->s || !t->len) {
			perror("bench_redact");
			exit(1);
		}
	}
	t->s[t->n] = malloc(len + 1);
	if (!t->s[t->n]) {
		perror("bench_redact");
		exit(1);
	}
	memcpy(t->s[t->n], s, len);
	t->s[t->n][len] = '\0';
	t->len[t->n++] = len;
	t->bytes += len;
}

/* The separator kb_prep.c puts between the fields of one redact() call. */
#define FIELD_SEP "\n\x1f\n"

/* Reads up to max entries: each one's text fields joined as kb_prep.c joins
 * them into *entries, and each field alone into *fields. */
static size_t read_entries(const char *path, size_t max, struct texts *entries,
			   struct texts *fields)
{
	static const char *const names[] = {"title",       "body",    "files", "signature",
					    "sig_general", "fix_key", "tags"};
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(1);
	}
	char *line = NULL, *joined = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;
	while (n < max && (got = getline(&line, &cap, f)) > 0) {
		json_t *o = json_loadb(line, (size_t)got, 0, NULL);
		if (!o)
			continue;
		size_t jl = 0;
		joined = realloc(joined, (size_t)got * 2 + 64);
		if (!joined) {
			perror("bench_redact");
			exit(1);
		}
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			json_t *v = json_object_get(o, names[i]);
			if (json_is_array(v)) {
				/* files: one per line; tags: each its own field. */
				size_t k;
				json_t *x;
				json_array_foreach(v, k, x) {
					const char *s = json_string_value(x);
					if (!s)
						continue;
					if (jl) {
						memcpy(joined + jl, FIELD_SEP, 3);
						jl += 3;
					}
					memcpy(joined + jl, s, strlen(s));
					jl += strlen(s);
					texts_add(fields, s, strlen(s));
				}
			} else if (json_is_string(v) && json_string_length(v)) {
				if (jl) {
					memcpy(joined + jl, FIELD_SEP, 3);
					jl += 3;
				}
				memcpy(joined + jl, json_string_value(v), json_string_length(v));
				jl += json_string_length(v);
				texts_add(fields, json_string_value(v), json_string_length(v));
			}
		}
		texts_add(entries, joined, jl);
		json_decref(o);
		n++;
	}
	free(line);
	free(joined);
	fclose(f);
	return n;
}

/* A build log of about size bytes: compiler lines, test names that hold
 * the words rules look for (test_token_refresh, test_password_reset), and
 * now and then a secret. */
static void make_log(struct texts *t, size_t size)
{
	static const char *const lines[] = {
		"cc -O2 -g -Wall -Isrc -c src/kb/kb_search.c -o build/rel/src/kb/kb_search.o\n",
		"src/store/store.c:514:9: warning: unused variable 'chance' [-Wunused-variable]\n",
		"[ RUN      ] test_token_refresh_after_expiry\n",
		"[       OK ] test_password_reset_sends_mail (12 ms)\n",
		"PASS: tests/unit/test_secret_store_roundtrip\n",
		"    at com.example.auth.KeyManager.load(KeyManager.java:88)\n",
		"Downloading https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\n",
		"curl -sSf -H 'Accept: application/json' https://api.example.com/v1/status\n",
		"export GITHUB_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d\n",
		"mysql -u root -phunter2 -h db.internal app < schema.sql\n",
		"ok 17 - parses key=value pairs with an empty value\n",
		"FAILED tests/test_api.py::test_api_key_rotation - AssertionError: 401 != 200\n",
	};
	static const unsigned weight[] = {30, 20, 10, 10, 8, 8, 5, 4, 1, 1, 2, 1};
	unsigned total = 0;
	for (size_t i = 0; i < sizeof weight / sizeof weight[0]; i++)
		total += weight[i];
	char *buf = malloc(size + 256);
	if (!buf) {
		perror("bench_redact");
		exit(1);
	}
	size_t n = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	while (n < size) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned r = (unsigned)(x % total), i = 0;
		while (r >= weight[i])
			r -= weight[i++];
		size_t l = strlen(lines[i]);
		memcpy(buf + n, lines[i], l);
		n += l;
	}
	texts_add(t, buf, n);
	free(buf);
}

/* Redacts every text with fn, rounds times over; returns ns per text and
 * stores the outputs' total length and redactions for the comparison. */
static double run(redact_fn fn, const struct texts *t, int rounds, size_t *out_bytes,
		  unsigned *redactions)
{
	uint64_t t0 = clock_mono_ns();
	*out_bytes = 0;
	*redactions = 0;
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < t->n; i++) {
			size_t ol;
			unsigned k;
			char *o = fn(t->s[i], t->len[i], &ol, &k);
			*out_bytes += ol;
			*redactions += k;
			free(o);
		}
	return (double)(clock_mono_ns() - t0) / ((double)t->n * rounds);
}

/* True if both give the same output for every text. */
static bool same_output(redact_fn a, redact_fn b, const struct texts *t)
{
	for (size_t i = 0; i < t->n; i++) {
		size_t la, lb;
		unsigned ka, kb;
		char *oa = a(t->s[i], t->len[i], &la, &ka);
		char *ob = b(t->s[i], t->len[i], &lb, &kb);
		bool same = la == lb && ka == kb && memcmp(oa, ob, la) == 0;
		free(oa);
		free(ob);
		if (!same) {
			fprintf(stderr, "bench_redact: outputs differ on: %.200s\n", t->s[i]);
			return false;
		}
	}
	return true;
}

static void row(FILE *results, const char *key, const char *label, const struct texts *t,
		redact_fn fast, redact_fn peer, int rounds, int peer_rounds)
{
	size_t ob;
	unsigned k;
	double ns = run(fast, t, rounds, &ob, &k);
	double ns_peer = run(peer, t, peer_rounds, &ob, &k);
	double mb = (double)t->bytes / t->n; /* bytes per text */
	printf("%-40s %10.0f ns %8.1f MB/s %12.0f ns %8.1f MB/s\n", label, ns, mb / ns * 1e3,
	       ns_peer, mb / ns_peer * 1e3);
	fprintf(results, "R redact.%s.ns %.0f\nR redact.%s.noprefilter.ns %.0f\n", key, ns, key,
		ns_peer);
	fprintf(results, "R redact.%s.mbs %.1f\nR redact.%s.noprefilter.mbs %.1f\n", key,
		mb / ns * 1e3, key, mb / ns_peer * 1e3);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_redact FILE.jsonl [RESULTS]\n");
		return 2;
	}
	FILE *results = argc > 2 ? fopen(argv[2], "a") : stderr;
	if (!results) {
		perror(argv[2]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The peer runs about 40 regular expressions on each text: a sample
	 * of entries keeps it to seconds. */
	enum { SAMPLE = 5000 };
	struct texts entries = {0}, fields = {0}, log = {0};
	size_t n = read_entries(argv[1], SAMPLE, &entries, &fields);
	make_log(&log, 1u << 20);
	if (!same_output(redact, redact_noprefilter, &entries) ||
	    !same_output(redact, redact_noprefilter, &fields) ||
	    !same_output(redact_text, redact_text_noprefilter, &log))
		return 1;
	printf("\nredact() on the first %zu entries (%zu fields, %.1f MB; both give the same "
	       "output)\n",
	       n, fields.n, (double)entries.bytes / 1e6);
	printf("%-40s %-25s %s\n", "", "cairn (prefilter)",
	       "peer: every rule's regex (-DREDACT_NO_PREFILTER)");
	row(results, "entry", "per entry (its fields in one call)", &entries, redact,
	    redact_noprefilter, 5, 1);
	row(results, "field", "per field (one call each)", &fields, redact, redact_noprefilter, 5,
	    1);
	row(results, "log", "redact_text() of a 1 MiB build log", &log, redact_text,
	    redact_text_noprefilter, 3, 1);
	return 0;
}
