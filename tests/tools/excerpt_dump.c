/* Prints the excerpt cairn would show for a log, as the JSON object that
 * `cairn triage --json` prints ({"excerpt": {"method", "lines": [{line,
 * text}]}}), for bench/triage/logchunks.py and for looking at one log by
 * hand. With --lines it prints instead what the excerpt's pass over the log
 * makes of each line, one line each, tab-separated: the line number, the
 * score, the flags in hex and the text as read (cleaned, CI markers left
 * out), for the model's trainer (bench/triage/train_excerpt.py); with
 * --scores, the line number and the line model's score of each line.
 * Usage: excerpt_dump [-n LINES | --lines | --scores] FILE|- */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "services/excerpt.h"
#include "services/excerpt_int.h"
#include "sources/diag.h"

/* Reads all of f, up to DIAG_MAX_LOG + 1 bytes (one more than is accepted,
 * so that an oversized log is refused rather than cut). */
static int read_all(FILE *f, char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		size_t got;
		if (n == cap) {
			if (cap > DIAG_MAX_LOG)
				break;
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void print_line(void *ctx, const struct cur *c, const struct info *in)
{
	char text[EXCERPT_MAX_TEXT + 1];
	unsigned ci = 0;
	const char *log = ctx;

	excerpt__clean(log, c, text, NULL, &ci);
	printf("%zu\t%d\t%x\t%s\n", c->line, in->score, in->flags, text);
}

static void print_scores(const char *log, size_t len, const struct diag_list *diags)
{
	size_t n = 0;
	int32_t *z;

	for (size_t k = 0; k < len; k++)
		n += log[k] == '\n';
	n += len > 0 && log[len - 1] != '\n';
	z = xreallocarray(NULL, n ? n : 1, sizeof *z);
	excerpt__model_scores(log, len, diags, z, n);
	for (size_t k = 0; k < n; k++)
		printf("%zu\t%d\n", k, (int)z[k]);
	free(z);
}

int main(int argc, char **argv)
{
	const char *path;
	size_t max = EXCERPT_DEFAULT_LINES, len = 0;
	FILE *f;
	char *log = NULL;
	struct diag_list diags = {0};
	struct excerpt ex = {0};
	json_t *lines, *root;
	int r, argi = 1;
	bool each = false, scores = false;

	if (argc == 4 && !strcmp(argv[1], "-n")) {
		max = strtoul(argv[2], NULL, 10);
		argi = 3;
	} else if (argc == 3 && !strcmp(argv[1], "--lines")) {
		each = true;
		argi = 2;
	} else if (argc == 3 && !strcmp(argv[1], "--scores")) {
		scores = true;
		argi = 2;
	}
	if (argc != argi + 1) {
		fprintf(stderr, "usage: excerpt_dump [-n LINES | --lines | --scores] FILE|-\n");
		return 2;
	}
	path = argv[argi];
	f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		fprintf(stderr, "excerpt_dump: cannot open '%s': %s\n", path, strerror(errno));
		return 1;
	}
	r = read_all(f, &log, &len);
	if (f != stdin)
		fclose(f);
	if (r < 0) {
		fprintf(stderr, "excerpt_dump: cannot read '%s': %s\n", path, strerror(-r));
		return 1;
	}
	if (each || scores) {
		if ((r = diag_extract(log, len, NULL, &diags)) == 0 && each)
			excerpt__each_line(log, len, &diags, print_line, log);
		if (r == 0 && scores)
			print_scores(log, len, &diags);
		diag_list_release(&diags);
		free(log);
		if (r < 0 || fflush(stdout) == EOF) {
			fprintf(stderr, "excerpt_dump: '%s': cannot read the lines\n", path);
			return 1;
		}
		return 0;
	}
	if ((r = diag_extract(log, len, NULL, &diags)) < 0 ||
	    (r = excerpt_select(log, len, &diags, max, &ex)) < 0) {
		fprintf(stderr, "excerpt_dump: '%s': %s\n", path, err_str(r));
		diag_list_release(&diags);
		free(log);
		return 1;
	}
	lines = json_array();
	for (size_t k = 0; k < ex.n; k++)
		json_array_append_new(lines,
				      json_pack("{s:I, s:s}", "line", (json_int_t)ex.v[k].line,
						"text", ex.v[k].text));
	root = json_pack("{s:{s:s, s:o}}", "excerpt", "method", ex.method, "lines", lines);
	if (!root || json_dumpf(root, stdout, JSON_COMPACT) < 0 || putchar('\n') == EOF) {
		fprintf(stderr, "excerpt_dump: cannot write the result\n");
		r = 1;
	}
	json_decref(root);
	excerpt_release(&ex);
	diag_list_release(&diags);
	free(log);
	return r < 0 ? 1 : r;
}
