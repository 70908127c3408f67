/* libFuzzer target for the fast JSON path (common/jfast.h), against jansson
 * itself: whatever jfast_loadb() takes, json_loadb() with the daemon's flags
 * must take too, with equal values of the same types and keys in the same
 * order (their compact encodings are byte for byte the same). Text jansson
 * takes and jfast leaves to it is allowed; the reverse is a bug. */
#include "common/jfast.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	json_t *fast = jfast_loadb(text, size);
	json_error_t je;
	json_t *ref = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (fast) {
		if (!ref) {
			fprintf(stderr, "jfast took text jansson refuses (%s): %.*s\n", je.text,
				(int)size, text);
			abort();
		}
		char *a = json_dumps(fast, JSON_ENCODE_ANY | JSON_COMPACT);
		char *b = json_dumps(ref, JSON_ENCODE_ANY | JSON_COMPACT);
		if (!json_equal(fast, ref) || !a || !b || strcmp(a, b) != 0) {
			fprintf(stderr, "jfast and jansson differ:\n%s\n%s\n", a ? a : "(null)",
				b ? b : "(null)");
			abort();
		}
		free(a);
		free(b);
	}
	/* The drop-in gives one or the other, and an error only with NULL. */
	json_t *either = jfast_or_jansson(text, size, &je);
	if (!either != !ref || (either && !json_equal(either, ref)))
		abort();
	json_decref(either);
	json_decref(fast);
	json_decref(ref);
	return 0;
}
