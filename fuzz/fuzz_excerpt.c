/* libFuzzer target for the failure excerpt on its own, CI logs first: the
 * markers of Travis CI, GitHub Actions and GitLab CI (fuzz_excerpt.dict),
 * the rules and the line model. The first byte sets the budget (1 to 80
 * lines, so that most inputs have more lines than that and the model
 * chooses). Checks: the excerpt holds min(budget, lines) lines (fewer only
 * when diagnostics say it all, never none), in log order, no line twice, each text valid UTF-8 of
 * at most EXCERPT_MAX_TEXT bytes without control bytes; the model scores every line and the pass
 * reports every line, once, in order. */
#include "services/excerpt.h"
#include "services/excerpt_int.h"
#include "sources/diag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c < 0x80         ? 1
			   : (c >> 5) == 6  ? 2
			   : (c >> 4) == 14 ? 3
			   : (c >> 3) == 30 ? 4
					    : 0;
		if (!k || i + k > n)
			return 0;
		if (c < 0x20 && c != '\t')
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static void check(const struct excerpt *ex, size_t budget)
{
	size_t want = ex->total_lines < budget ? ex->total_lines : budget;
	/* Only the regions of diagnostics may leave the budget unspent. */
	if (ex->n > want || (ex->n < want && strcmp(ex->method, "diagnostics")) ||
	    (ex->n == 0 && ex->total_lines > 0))
		abort();
	for (size_t i = 0; i < ex->n; i++) {
		size_t tl = strlen(ex->v[i].text);
		if (tl > EXCERPT_MAX_TEXT || !utf8_ok((const unsigned char *)ex->v[i].text, tl))
			abort();
		if (i > 0 && ex->v[i].line <= ex->v[i - 1].line)
			abort();
		if (ex->v[i].line >= ex->total_lines)
			abort();
	}
}

static void count_line(void *ctx, const struct cur *c, const struct info *in)
{
	size_t *next = ctx;
	(void)in;
	if (c->line != *next || c->b < c->a)
		abort();
	(*next)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t budget = 1 + data[0] % 80, seen = 0, lines;
	const char *log = (const char *)data + 1;
	size_t len = size - 1;
	struct diag_list dl = {0};
	struct excerpt ex = {0};
	int32_t *z;

	diag_extract(log, len, NULL, &dl);
	for (int with = 0; with < 2; with++) {
		if (excerpt_select(log, len, with ? &dl : NULL, budget, &ex) != 0)
			abort();
		check(&ex, budget);
		lines = ex.total_lines;
		excerpt_release(&ex);
	}
	excerpt__each_line(log, len, &dl, count_line, &seen);
	if (seen != lines)
		abort();
	z = malloc((lines ? lines : 1) * sizeof *z);
	if (!z)
		abort();
	for (size_t i = 0; i < lines; i++)
		z[i] = INT32_MIN;
	excerpt__model_scores(log, len, &dl, z, lines);
	for (size_t i = 0; i < lines; i++)
		if (z[i] == INT32_MIN)
			abort();
	free(z);
	diag_list_release(&dl);
	return 0;
}
