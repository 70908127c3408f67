/* libFuzzer target for diagnostics extraction: any bytes, with a command
 * hint picked by the first byte, must extract without crashing, keep every
 * documented bound, and encode as JSON. */
#include "sources/diag.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const commands[] = {
	NULL,
	"make -j8",
	"ninja",
	"cmake --build build",
	"gcc -c a.c",
	"clang -c a.c",
	"cargo test",
	"cargo build",
	"go test ./...",
	"pytest -q",
	"node --test",
	"npx jest",
	"mvn test",
	"javac A.java",
	"ctest",
	"python3 x.py",
	"./runtest",
	"make test",
	"ctest -V",
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "diag invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *log = (const char *)data;
	const char *cmd = size ? commands[data[0] % (sizeof commands / sizeof commands[0])] : NULL;
	struct diag_list l;
	size_t lines = 1;

	for (size_t k = 0; k < size; k++)
		lines += data[k] == '\n';
	check(diag_extract(log, size, cmd, &l) == 0, "extract failed");
	check(l.n <= DIAG_MAX, "too many diagnostics");
	for (size_t k = 0; k < l.n; k++) {
		const struct diag *d = &l.v[k];
		check(d->tool && d->message, "missing tool or message");
		check(strlen(d->message) <= DIAG_MAX_TEXT, "message too long");
		check(!d->file || strlen(d->file) <= DIAG_MAX_TEXT, "file too long");
		check(d->line >= 0 && d->col >= 0 && (d->col == 0 || d->line > 0), "bad place");
		check(d->n_notes <= DIAG_MAX_NOTES, "too many notes");
		for (size_t j = 0; j < d->n_notes; j++)
			check(strlen(d->notes[j]) <= DIAG_MAX_TEXT, "note too long");
		check(d->log_lines >= 1 && d->log_line + d->log_lines <= lines, "span outside log");
		check(k == 0 || l.v[k - 1].log_line <= d->log_line, "not in log order");
	}
	json_t *j = diag_list_to_json(&l, SIZE_MAX);
	char *enc = json_dumps(j, JSON_COMPACT);
	check(enc != NULL, "JSON does not encode (invalid UTF-8?)");
	free(enc);
	json_decref(j);
	diag_list_release(&l);
	(void)diag_detect_runner(cmd, log, size);
	(void)diag_is_test_wrapper(cmd);
	return 0;
}
