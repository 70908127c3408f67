/* The knowledge base at 100,000 entries: generates realistic entries as JSON
 * Lines, imports them with kb_import() (entries/s), then measures kb_search()
 * and kb_fixes_for() latency (p50/p95/p99, warm) over a fixed set of
 * queries. Each figure is printed next to a peer measured in the same run:
 * for import, the sqlite3 shell loading the same file with json_extract()
 * into a plain table in one transaction, and the sqlite3 shell copying the
 * rows cairn imported into an empty database with cairn's own schema (its
 * indexes, full-text index and triggers) in one INSERT ... SELECT: what
 * SQLite alone takes to store them, the floor of any import into this
 * schema; for search and fixes, `grep -i -F`
 * (resp. `grep -F`) over the same file. Timings are reported, never
 * asserted.
 *
 * usage: bench_kb DIR [ENTRIES [RESULTS]]
 *   DIR: a scratch directory; RESULTS: a file for the raw "R key value"
 *   lines (default: standard error). Run it through bench/kb/run.sh. */
#include "common/clock.h"
#include "common/err.h"
#include "common/ulid.h"
#include "kb/kb.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a deterministic generator of realistic entries ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_u64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform(void)
{
	return (double)(next_u64() >> 11) / 9007199254740992.0;
}
static size_t pick(size_t n)
{
	return (size_t)(next_u64() % n);
}

/* Words in rough order of frequency in developer notes: function words
 * first, then the vocabulary of builds, tests, tools and systems. */
static const char *const words[] = {
    "the",        "to",        "a",          "of",          "and",        "in",
    "is",         "it",        "for",        "that",        "on",         "with",
    "we",         "this",      "not",        "when",        "be",         "if",
    "as",         "are",       "was",        "by",          "from",       "so",
    "but",        "after",     "use",        "should",      "can",        "only",
    "build",      "test",      "error",      "fix",         "file",       "run",
    "make",       "new",       "need",       "because",     "before",     "then",
    "all",        "no",        "now",        "one",         "two",        "fails",
    "failed",     "works",     "again",      "instead",     "always",     "never",
    "still",      "also",      "first",      "last",        "same",       "other",
    "cache",      "config",    "version",    "release",     "branch",     "commit",
    "merge",      "rebase",    "conflict",   "linker",      "compiler",   "warning",
    "flag",       "header",    "include",    "library",     "symbol",     "undefined",
    "reference",  "missing",   "path",       "directory",   "module",     "package",
    "dependency", "install",   "upgrade",    "downgrade",   "pin",        "lock",
    "timeout",    "retry",     "backoff",    "network",     "socket",     "connection",
    "pool",       "thread",    "mutex",      "deadlock",    "race",       "condition",
    "memory",     "leak",      "allocation", "buffer",      "overflow",   "segfault",
    "crash",      "core",      "dump",       "stack",       "trace",      "debug",
    "log",        "logging",   "metrics",    "latency",     "throughput", "benchmark",
    "profile",    "cpu",       "disk",       "fsync",       "wal",        "checkpoint",
    "vacuum",     "index",     "query",      "slow",        "fast",       "schema",
    "migration",  "table",     "column",     "database",    "sqlite",     "postgres",
    "redis",      "queue",     "worker",     "job",         "cron",       "schedule",
    "docker",     "image",     "container",  "layer",       "registry",   "kubernetes",
    "pod",        "deploy",    "rollback",   "canary",      "staging",    "production",
    "ci",         "pipeline",  "runner",     "artifact",    "flaky",      "parallel",
    "shard",      "fixture",   "mock",       "assert",      "coverage",   "lint",
    "format",     "clippy",    "eslint",     "prettier",    "typescript", "javascript",
    "python",     "rust",      "golang",     "java",        "kotlin",     "gcc",
    "clang",      "cmake",     "ninja",      "makefile",    "bazel",      "gradle",
    "maven",      "npm",       "yarn",       "pip",         "venv",       "cargo",
    "borrow",     "lifetime",  "trait",      "generic",     "macro",      "template",
    "parser",     "lexer",     "token",      "grammar",     "json",       "yaml",
    "toml",       "utf8",      "encoding",   "unicode",     "locale",     "timezone",
    "clock",      "monotonic", "signal",     "child",       "process",    "pipe",
    "terminal",   "pty",       "shell",      "bash",        "zsh",        "environment",
    "variable",   "secret",    "password",   "certificate", "tls",        "handshake",
    "proxy",      "dns",       "http",       "request",     "response",   "header",
    "cookie",     "session",   "auth",       "oauth",       "jwt",        "api",
    "endpoint",   "webhook",   "react",      "component",   "render",     "state",
    "props",      "hook",      "effect",     "css",         "layout",     "webpack",
    "vite",       "bundle",    "sourcemap",  "minify",      "hot",        "reload",
    "watch",      "inotify",   "permission", "owner",       "umask",      "symlink",
    "mount",      "volume",    "tmpfs",      "ssd",         "backup",     "restore",
    "snapshot",   "replica",   "leader",     "election",    "consensus",  "raft",
    "partition",  "offset",    "consumer",   "producer",    "kafka",      "nats",
    "stream",     "batch",     "ordering",   "idempotent",  "dedup",      "uuid",
    "ulid",       "hash",      "checksum",   "compression", "zstd",       "gzip",
    "tarball",    "archive",   "checkout",   "submodule",   "gitignore",  "hooks",
    "precommit",  "bisect",    "blame",      "stash",       "cherry",     "pick",
    "squash",     "tag",       "semver",     "changelog",   "deprecated", "removed",
    "renamed",    "refactor",  "cleanup",    "dead",        "code",       "unused",
    "import",     "export",    "circular",   "recursion",   "iterator",   "closure",
    "callback",   "promise",   "async",      "await",       "future",     "executor",
    "runtime",    "gc",        "heap",       "arena",       "pointer",    "null",
    "dangling",   "double",    "free",       "sanitizer",   "asan",       "ubsan",
    "valgrind",   "fuzz",      "corpus",     "crashers",    "regression", "bug",
    "issue",      "ticket",    "review",     "approve",
};
#define N_WORDS (sizeof words / sizeof words[0])

static const char *const syllables[] = {"par", "se",   "con", "fig",  "load", "er",   "ha",
                                        "ndl", "init", "buf", "read", "wri",  "te",   "get",
                                        "set", "str",  "map", "node", "tree", "list", "item",
                                        "key", "val",  "opt", "ctx",  "req",  "res",  "db"};
#define N_SYL (sizeof syllables / sizeof syllables[0])

static double zipf_cdf[N_WORDS];

static void zipf_init(double s)
{
	double sum = 0;
	for (size_t i = 0; i < N_WORDS; i++)
		sum += 1.0 / pow((double)(i + 1), s);
	double acc = 0;
	for (size_t i = 0; i < N_WORDS; i++) {
		acc += 1.0 / pow((double)(i + 1), s) / sum;
		zipf_cdf[i] = acc;
	}
}

static const char *zipf_word(void)
{
	double u = uniform();
	size_t lo = 0, hi = N_WORDS - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return words[lo];
}

/* An identifier from a long tail: parse_config2, readBufNode... */
static void ident(char *out, size_t len)
{
	size_t k = 2 + pick(2), n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		n += (size_t)snprintf(out + n, len - n, "%s%s", i && pick(2) ? "_" : "",
		                      syllables[pick(N_SYL)]);
	}
	if (pick(3) == 0)
		snprintf(out + n, len - n, "%zu", pick(100));
}

static void add_words(char *buf, size_t len, size_t n)
{
	size_t off = strlen(buf);
	for (size_t i = 0; i < n && off + 48 < len; i++) {
		char id[48];
		const char *w = zipf_word();
		if (pick(12) == 0) {
			ident(id, sizeof id);
			w = id;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? " " : "", w);
	}
}

static const char *const kinds[] = {"note",     "note",    "note",    "fix",     "fix",
                                    "decision", "mistake", "mistake", "pattern", "note"};

static const char *const error_shapes[] = {
    "undefined reference to `%s'",
    "implicit declaration of function '%s'",
    "'%s' undeclared (first use in this function)",
    "cannot find module '%s'",
    "TypeError: %s is not a function",
    "no matching function for call to '%s'",
    "ModuleNotFoundError: No module named '%s'",
    "error[E0382]: borrow of moved value: `%s`",
    "test %s timed out after 30s",
    "segmentation fault in %s",
};
#define N_SHAPES (sizeof error_shapes / sizeof error_shapes[0])

struct gen_out {
	char **sigs;  /* signatures of generated fixes, for kb_fixes_for */
	char **texts; /* the error text around them */
	size_t n_sigs;
};

static int64_t write_entries(const char *path, size_t n, struct gen_out *g)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	int64_t t0 = 1735689600000LL; /* 2025-01-01 */
	g->sigs = calloc(n, sizeof *g->sigs);
	g->texts = calloc(n, sizeof *g->texts);
	char *uids = calloc(n, ULID_LEN + 1);
	for (size_t i = 0; i < n; i++) {
		int64_t created = t0 + (int64_t)i * 300000 + (int64_t)pick(300000);
		ulid_make(uids + i * (ULID_LEN + 1), created);
	}
	for (size_t i = 0; i < n; i++) {
		char title[512] = "", body[8192] = "", id[48];
		const char *kind = kinds[pick(sizeof kinds / sizeof kinds[0])];
		add_words(title, sizeof title, 4 + pick(7));
		/* A knowledge entry is a few sentences: about 300 bytes of body. */
		size_t sentences = 1 + pick(6);
		for (size_t s = 0; s < sentences; s++) {
			add_words(body, sizeof body - 200, 5 + pick(12));
			strcat(body, ".");
			if (pick(6) == 0) {
				size_t l = strlen(body);
				ident(id, sizeof id);
				snprintf(body + l, sizeof body - l, "\n  src/%s/%s.c:%zu: %s",
				         words[40 + pick(N_WORDS - 40)], id, 1 + pick(900),
				         words[pick(N_WORDS)]);
			}
		}
		json_t *o = json_object();
		json_object_set_new(o, "uid", json_string(uids + i * (ULID_LEN + 1)));
		json_object_set_new(o, "kind", json_string(kind));
		json_object_set_new(o, "title", json_string(title));
		json_object_set_new(o, "body", json_string(body));
		json_t *tags = json_array(), *files = json_array();
		size_t nt = pick(4);
		for (size_t t = 0; t < nt; t++) {
			const char *w = words[60 + pick(N_WORDS - 60)];
			bool dup = false;
			for (size_t k = 0; k < json_array_size(tags) && !dup; k++)
				dup = strcmp(json_string_value(json_array_get(tags, k)), w) == 0;
			if (!dup)
				json_array_append_new(tags, json_string(w));
		}
		size_t nf = pick(4);
		for (size_t k = 0; k < nf; k++) {
			char p[128];
			ident(id, sizeof id);
			snprintf(p, sizeof p, "src/%s/%s.%s", words[60 + pick(N_WORDS - 60)], id,
			         pick(2) ? "c" : "py");
			json_array_append_new(files, json_string(p));
		}
		json_object_set_new(o, "tags", tags);
		json_object_set_new(o, "files", files);
		if (pick(10) < 7) {
			char p[64];
			snprintf(p, sizeof p, "/home/dev/src/project%zu", pick(40));
			json_object_set_new(o, "project", json_string(p));
		}
		if (strcmp(kind, "fix") == 0 && pick(10) < 6) {
			char sym[48], sig[256], gen[256], text[512];
			ident(sym, sizeof sym);
			size_t shape = pick(N_SHAPES);
			snprintf(sig, sizeof sig, error_shapes[shape], sym);
			snprintf(gen, sizeof gen, error_shapes[shape], "<name>");
			snprintf(text, sizeof text, "src/main.c:%zu:%zu: error: %s\n%s",
			         1 + pick(500), 1 + pick(80), sig, title);
			json_object_set_new(o, "signature", json_string(sig));
			json_object_set_new(o, "sig_general", json_string(gen));
			json_object_set_new(o, "fix_key", json_string(words[pick(N_WORDS)]));
			g->sigs[g->n_sigs] = strdup(sig);
			g->texts[g->n_sigs++] = strdup(text);
		}
		json_object_set_new(o, "confidence", json_real(0.3 + 0.7 * uniform()));
		json_object_set_new(o, "uses", json_integer((json_int_t)pick(8)));
		json_object_set_new(o, "state", json_string(pick(20) ? "active" : "candidate"));
		if (i + 50 < n && pick(40) == 0)
			json_object_set_new(
			    o, "superseded_by",
			    json_string(uids + (i + 1 + pick(50)) * (ULID_LEN + 1)));
		char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputs(line, f);
		fputc('\n', f);
		free(line);
		json_decref(o);
	}
	free(uids);
	long size = ftell(f);
	fclose(f);
	return size;
}

/* ---- measuring ---- */

static double now_ms(void)
{
	return (double)clock_mono_ns() / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_double);
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	return v[i ? i - 1 : 0];
}

/* Runs argv with stdout to /dev/null; returns wall ms, or -1. */
static double run_timed(char *const argv[], const char *stdin_path)
{
	double t = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		if (stdin_path) {
			int in = open(stdin_path, O_RDONLY);
			dup2(in, 0);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) > 1)
		return -1;
	return now_ms() - t;
}

static const char *const queries[] = {
    "linker",
    "undefined reference",
    "flaky test",
    "timeout retry",
    "docker cache",
    "migration schema",
    "segfault parser",
    "utf8 encoding",
    "deadlock mutex",
    "memory leak",
    "rebase conflict",
    "npm install",
    "cmake",
    "fixture mock",
    "race condition",
    "tls certificate",
    "json schema",
    "cache invalidation",
    "ci pipeline runner",
    "release tag",
    "lint",
    "deploy rollback",
    "oauth token",
    "index query slow",
    "wal checkpoint",
    "kubernetes pod",
    "python venv",
    "rust borrow",
    "react render",
    "webpack",
    "makefile",
    "build",
    "error",
    "test",
    "fix build",
    "conf",
    "sani",
    "parse_config",
    "sqlite vacuum",
    "the cache",
};
#define N_QUERIES (sizeof queries / sizeof queries[0])

static FILE *results;

static void report3(const char *key, double *v, size_t n, double out[3])
{
	out[0] = pct(v, n, 50);
	out[1] = pct(v, n, 95);
	out[2] = pct(v, n, 99);
	fprintf(results, "R %s.p50_ms %.3f\nR %s.p95_ms %.3f\nR %s.p99_ms %.3f\n", key, out[0], key,
	        out[1], key, out[2]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_kb DIR [ENTRIES]\n");
		return 2;
	}
	const char *dir = argv[1];
	size_t n = argc > 2 ? (size_t)atol(argv[2]) : 100000;
	results = argc > 3 ? fopen(argv[3], "w") : stderr;
	if (!results) {
		perror(argv[3]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rounds = getenv("BENCH_KB_ROUNDS") ? atoi(getenv("BENCH_KB_ROUNDS")) : 25;
	char jsonl[1024], dbpath[1024], peerdb[1024], sql[1024];
	snprintf(jsonl, sizeof jsonl, "%s/kb.jsonl", dir);
	snprintf(dbpath, sizeof dbpath, "%s/kb.db", dir);
	snprintf(peerdb, sizeof peerdb, "%s/peer.db", dir);
	snprintf(sql, sizeof sql, "%s/peer.sql", dir);
	zipf_init(1.05);

	/* 1. The data. */
	struct gen_out g = {0};
	double t = now_ms();
	int64_t bytes = write_entries(jsonl, n, &g);
	printf("== generated %zu entries (%.1f MB of JSON Lines) in %.1f s\n", n,
	       (double)bytes / 1e6, (now_ms() - t) / 1000);

	/* 2. Import. */
	struct kb *kb;
	struct cairn_err err;
	if (kb_open(dbpath, false, 0, &kb, &err)) {
		fprintf(stderr, "bench_kb: %s\n", err.msg);
		return 1;
	}
	FILE *in = fopen(jsonl, "r");
	struct kb_import_stats st;
	t = now_ms();
	int r = kb_import(kb, in, &st, NULL, NULL);
	double import_ms = now_ms() - t;
	fclose(in);
	if (r || st.imported != n) {
		fprintf(stderr, "bench_kb: import: r=%d imported=%zu bad=%zu dup=%zu: %s\n", r,
		        st.imported, st.bad, st.duplicates, kb_errmsg(kb));
		return 1;
	}
	double eps = (double)n / (import_ms / 1000);
	fprintf(results, "R import.cairn.eps %.0f\n", eps);
	/* Again: nothing changes (and how long checking that takes). */
	in = fopen(jsonl, "r");
	t = now_ms();
	kb_import(kb, in, &st, NULL, NULL);
	double reimport_ms = now_ms() - t;
	fclose(in);
	fprintf(results, "R reimport.cairn.eps %.0f\nR reimport.unchanged %zu\n",
	        (double)n / (reimport_ms / 1000), st.unchanged);

	/* The peer: the sqlite3 shell, json_extract into a plain table. */
	FILE *f = fopen(sql, "w");
	fprintf(f,
	        "CREATE TABLE plain(uid TEXT, kind TEXT, title TEXT, body TEXT, tags TEXT, files "
	        "TEXT, project TEXT, created TEXT, updated TEXT, superseded_by TEXT, uses INT, "
	        "confidence REAL, state TEXT, signature TEXT, sig_general TEXT, fix_key TEXT);\n"
	        "BEGIN;\nINSERT INTO plain SELECT json_extract(value,'$.uid'), "
	        "json_extract(value,'$.kind'), json_extract(value,'$.title'), "
	        "json_extract(value,'$.body'), json_extract(value,'$.tags'), "
	        "json_extract(value,'$.files'), json_extract(value,'$.project'), "
	        "json_extract(value,'$.created'), json_extract(value,'$.updated'), "
	        "json_extract(value,'$.superseded_by'), json_extract(value,'$.uses'), "
	        "json_extract(value,'$.confidence'), json_extract(value,'$.state'), "
	        "json_extract(value,'$.signature'), json_extract(value,'$.sig_general'), "
	        "json_extract(value,'$.fix_key') FROM json_each('[' || "
	        "replace(rtrim(CAST(readfile('%s') AS TEXT), char(10)), char(10), ',') || ']');\n"
	        "COMMIT;\n",
	        jsonl);
	fclose(f);
	unlink(peerdb);
	char *sq[] = {"sqlite3", peerdb, NULL};
	double peer_ms = run_timed(sq, sql);
	double peer_eps = peer_ms > 0 ? (double)n / (peer_ms / 1000) : 0;
	fprintf(results, "R import.sqlite3.eps %.0f\n", peer_eps);

	/* The floor: the sqlite3 shell storing the rows cairn imported (parsed,
	 * checked and redacted already) into cairn's own schema, copied from
	 * the database just made, as cairn's connections set it (WAL,
	 * synchronous=NORMAL, statement journals in memory). */
	double floor_eps = 0;
	sqlite3 *sdb;
	if (sqlite3_open_v2(dbpath, &sdb, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		char floordb[1100];
		snprintf(floordb, sizeof floordb, "%s/floor.db", dir);
		unlink(floordb);
		f = fopen(sql, "w");
		fprintf(f, "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=NORMAL;\n"
		           "PRAGMA temp_store=MEMORY;\n");
		sqlite3_stmt *q;
		/* Tables, then indexes and the full-text table, then triggers;
		 * the full-text table's own tables are made by it. */
		sqlite3_prepare_v2(sdb,
		                   "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name "
		                   "NOT LIKE 'sqlite_%' AND name NOT LIKE 'knowledge_fts_%' ORDER BY "
		                   "type = 'trigger', rowid",
		                   -1, &q, NULL);
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(f, "%s;\n", (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		sqlite3_close(sdb);
		fprintf(f, "ATTACH '%s' AS src;\nBEGIN;\nINSERT INTO knowledge SELECT * FROM "
		           "src.knowledge;\nCOMMIT;\n",
		        dbpath);
		fclose(f);
		char *fq[] = {"sqlite3", floordb, NULL};
		double floor_ms = run_timed(fq, sql);
		/* Only a copy that holds every row counts. */
		sqlite3_int64 rows = -1;
		if (floor_ms > 0 &&
		    sqlite3_open_v2(floordb, &sdb, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
			if (sqlite3_prepare_v2(sdb, "SELECT count(*) FROM knowledge_fts", -1, &q,
			                       NULL) == SQLITE_OK &&
			    sqlite3_step(q) == SQLITE_ROW)
				rows = sqlite3_column_int64(q, 0);
			sqlite3_finalize(q);
		}
		sqlite3_close(sdb);
		if (rows == (sqlite3_int64)n)
			floor_eps = (double)n / (floor_ms / 1000);
		else
			fprintf(stderr, "bench_kb: the sqlite3 shell's copy into cairn's schema "
			                "holds %lld rows, not %zu\n", (long long)rows, n);
	}
	fprintf(results, "R import.sqlite3_schema.eps %.0f\n", floor_eps);

	/* 3. Search, warm. */
	struct kb_query q;
	kb_query_init(&q);
	q.limit = 20;
	q.mark_open = "\x02";
	q.mark_close = "\x03";
	size_t total = (size_t)rounds * N_QUERIES;
	double *lat = calloc(total, sizeof *lat), *worst = calloc(N_QUERIES, sizeof *worst);
	size_t k = 0, hits = 0;
	for (int round = -1; round < rounds; round++) {
		for (size_t i = 0; i < N_QUERIES; i++) {
			struct kb_results res;
			q.text = queries[i];
			t = now_ms();
			if (kb_search(kb, &q, &res)) {
				fprintf(stderr, "bench_kb: search: %s\n", kb_errmsg(kb));
				return 1;
			}
			double d = now_ms() - t;
			if (round >= 0) {
				lat[k++] = d;
				if (d > worst[i])
					worst[i] = d;
				hits += res.n;
			}
			kb_results_release(&res);
		}
	}
	double s_all[3];
	report3("search.cairn", lat, k, s_all);
	/* The same queries in one project's scope (its entries and global ones). */
	q.scope = KB_SCOPE_PROJECT;
	q.project = "/home/dev/src/project7";
	k = 0;
	for (int round = -1; round < rounds; round++)
		for (size_t i = 0; i < N_QUERIES; i++) {
			struct kb_results res;
			q.text = queries[i];
			t = now_ms();
			kb_search(kb, &q, &res);
			if (round >= 0)
				lat[k++] = now_ms() - t;
			kb_results_release(&res);
		}
	double s_proj[3];
	report3("search.cairn.project", lat, k, s_proj);
	size_t slowest = 0;
	for (size_t i = 1; i < N_QUERIES; i++)
		if (worst[i] > worst[slowest])
			slowest = i;

	/* The peer: grep -i -F QUERY over the JSON Lines, a few rounds. */
	int grep_rounds = rounds < 3 ? rounds : 3;
	double *glat = calloc((size_t)grep_rounds * N_QUERIES + 1, sizeof *glat);
	size_t gk = 0;
	for (int round = -1; round < grep_rounds; round++)
		for (size_t i = 0; i < N_QUERIES; i++) {
			char *gv[] = {"grep", "-i", "-F", "--", (char *)queries[i], jsonl, NULL};
			double d = run_timed(gv, NULL);
			if (round >= 0 && d >= 0)
				glat[gk++] = d;
		}
	double s_grep[3] = {0, 0, 0};
	if (gk)
		report3("search.grep", glat, gk, s_grep);

	/* 4. Fixes for failures: exact signatures, their error text. */
	size_t nfix = g.n_sigs < 200 ? g.n_sigs : 200;
	double *flat = calloc((size_t)rounds * nfix + 1, sizeof *flat);
	size_t fk = 0;
	for (int round = -1; round < rounds; round++)
		for (size_t i = 0; i < nfix; i++) {
			struct kb_fix_hit *h;
			size_t nh;
			size_t j = i * (g.n_sigs / nfix);
			t = now_ms();
			if (kb_fixes_for(kb, g.sigs[j], NULL, g.texts[j], "/home/dev/src/project7",
			                 10, 0, &h, &nh)) {
				fprintf(stderr, "bench_kb: fixes_for: %s\n", kb_errmsg(kb));
				return 1;
			}
			if (round >= 0)
				flat[fk++] = now_ms() - t;
			kb_fix_hits_free(h, nh);
		}
	double f_all[3] = {0, 0, 0};
	if (fk)
		report3("fixes.cairn", flat, fk, f_all);
	double *gf = calloc(3 * nfix + 1, sizeof *gf);
	size_t gfk = 0;
	for (size_t i = 0; i < nfix && i < 60; i++) {
		size_t j = i * (g.n_sigs / nfix);
		char *gv[] = {"grep", "-F", "--", g.sigs[j], jsonl, NULL};
		double d = run_timed(gv, NULL);
		if (d >= 0)
			gf[gfk++] = d;
	}
	double f_grep[3] = {0, 0, 0};
	if (gfk)
		report3("fixes.grep", gf, gfk, f_grep);

	struct stat sb;
	stat(dbpath, &sb);
	printf("\ncairn knowledge base: %zu entries, %.1f MB of JSON Lines, database %.1f MB\n", n,
	       (double)bytes / 1e6, (double)sb.st_size / 1e6);
	printf("%-44s %-22s %-44s %s\n", "metric", "cairn", "peer (same run)", "peer");
	printf("%-44s %-22.0f %-44s %.0f\n", "import, entries/s (goal >= 50,000)", eps,
	       "sqlite3 shell, json_extract, 1 transaction", peer_eps);
	printf("%-44s %-22s %-44s %.0f\n", "", "", "sqlite3 shell, the same rows, cairn's schema",
	       floor_eps);
	printf("%-44s %-22.0f %-44s %s\n", "re-import of the same file, entries/s",
	       (double)n / (reimport_ms / 1000), "(nothing changes)", "");
	char a[64], b[64];
	snprintf(a, sizeof a, "%.2f / %.2f / %.2f", s_all[0], s_all[1], s_all[2]);
	snprintf(b, sizeof b, "%.1f / %.1f / %.1f", s_grep[0], s_grep[1], s_grep[2]);
	printf("%-44s %-22s %-44s %s\n", "search p50/p95/p99 ms, all (goal p95 <= 5)", a,
	       "grep -i -F QUERY over the JSON Lines", b);
	snprintf(a, sizeof a, "%.2f / %.2f / %.2f", s_proj[0], s_proj[1], s_proj[2]);
	printf("%-44s %-22s %-44s %s\n", "search p50/p95/p99 ms, one project", a, "", "");
	snprintf(a, sizeof a, "%.2f / %.2f / %.2f", f_all[0], f_all[1], f_all[2]);
	snprintf(b, sizeof b, "%.1f / %.1f / %.1f", f_grep[0], f_grep[1], f_grep[2]);
	printf("%-44s %-22s %-44s %s\n", "kb_fixes_for p50/p95/p99 ms (goal << 5)", a,
	       "grep -F SIGNATURE over the JSON Lines", b);
	printf("(%d rounds of %zu queries, limit 20, %zu results in all; slowest query: '%s', "
	       "%.2f ms)\n",
	       rounds, N_QUERIES, hits, queries[slowest], worst[slowest]);
	kb_close(kb);
	for (size_t i = 0; i < g.n_sigs; i++) {
		free(g.sigs[i]);
		free(g.texts[i]);
	}
	free(g.sigs);
	free(g.texts);
	free(lat);
	free(worst);
	free(glat);
	free(flat);
	free(gf);
	return 0;
}
