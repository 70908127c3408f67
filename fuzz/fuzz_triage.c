/* libFuzzer target for what triage does with a log from outside (a build's
 * output, a CI log): diagnostics, the excerpt and the whole report without
 * a database. Checks: the excerpt keeps to its budget, its lines are in log
 * order with no repeats and each text is valid UTF-8 of at most
 * EXCERPT_MAX_TEXT bytes; the report always has a summary and an excerpt. */
#include "services/excerpt.h"
#include "services/triage.h"
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
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t budget = 1 + data[0] % 60;
	const char *log = (const char *)data + 1;
	size_t len = size - 1;

	struct diag_list dl = {0};
	diag_extract(log, len, NULL, &dl);
	struct excerpt ex = {0};
	if (excerpt_select(log, len, &dl, budget, &ex) == 0) {
		if (ex.n > budget)
			abort();
		for (size_t i = 0; i < ex.n; i++) {
			size_t tl = strlen(ex.v[i].text);
			if (tl > EXCERPT_MAX_TEXT ||
			    !utf8_ok((const unsigned char *)ex.v[i].text, tl))
				abort();
			if (i > 0 && ex.v[i].line <= ex.v[i - 1].line)
				abort();
			if (ex.v[i].line >= ex.total_lines && ex.total_lines > 0)
				abort();
		}
	}
	excerpt_release(&ex);
	diag_list_release(&dl);

	struct triage_ctx cx = {0};
	struct triage_failure f = {
		.cwd = "/nonexistent", .target = "fuzz", .log = log, .log_len = len};
	struct triage_opts o = {.max_lines = budget};
	json_t *rep = NULL;
	triage_analyze(&cx, &f, &o, 0, &rep);
	if (!rep || !json_is_string(json_object_get(rep, "summary")) ||
	    !json_is_object(json_object_get(rep, "excerpt")))
		abort();
	json_decref(rep);
	return 0;
}
