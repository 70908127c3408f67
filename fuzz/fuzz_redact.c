/* libFuzzer target for secret redaction: any input is redacted without a
 * crash, the result is a fixed point (a second pass finds nothing, so no
 * text a rule would take for a secret survives the first), text with
 * nothing redacted comes back unchanged, and input over the cap is refused.
 * The seed corpus (fuzz/corpus/fuzz_redact/) holds the inputs of
 * tests/data/redact/cases.txt. */
#include "kb/redact.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dump(const char *what, const char *s, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): ", what, n);
	fwrite(s, 1, n, stderr);
	fputc('\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t len, len2;
	unsigned k, k2;

	char *out = redact(in, size, &len, &k);
	if (size > REDACT_MAX_INPUT) {
		if (out || errno != E2BIG || len != 0 || k != 0)
			abort();
		return 0;
	}
	if (!out || out[len] != '\0')
		abort();
	if (k == 0 && (len != size || memcmp(out, in, size) != 0)) {
		dump("input", in, size);
		dump("changed without a redaction", out, len);
		abort();
	}
	if (k > 0 && !memmem(out, len, REDACT_MARKER_PREFIX, strlen(REDACT_MARKER_PREFIX))) {
		dump("input", in, size);
		fprintf(stderr, "%u redactions but no marker\n", k);
		abort();
	}

	char *again = redact(out, len, &len2, &k2);
	if (!again || k2 != 0 || len2 != len || memcmp(again, out, len) != 0) {
		dump("input", in, size);
		dump("once", out, len);
		if (again)
			dump("twice", again, len2);
		fprintf(stderr, "redact() is not a fixed point: %u more redactions\n", k2);
		abort();
	}
	free(again);
	free(out);
	return 0;
}
