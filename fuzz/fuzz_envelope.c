/* libFuzzer target for the envelope parser: every input is parsed in both
 * modes, and whatever parses must encode to text that parses again to the
 * same encoding, and event_encode()'s hand-written encoding must be byte
 * for byte what jansson makes of event_to_json(). */
#include "event/envelope.h"

#include "common/jfast.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses what event_encode() made and checks that it encodes the same way;
 * anything else is a bug in the encoder or the validator. */
static void check_round_trip(const struct event *ev, enum event_parse_mode mode)
{
	struct event *back;
	struct cairn_err err;
	char *enc, *enc2;
	size_t len, len2;

	enc = event_encode(ev, &len);
	json_t *obj = event_to_json(ev);
	char *ref = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (!ref || strlen(ref) != len || memcmp(ref, enc, len) != 0) {
		fprintf(stderr, "event_encode() differs from jansson:\n%s\n%s\n", enc,
			ref ? ref : "(null)");
		abort();
	}
	free(ref);
	if (event_parse(enc, len, SIZE_MAX, mode, &back, &err) != 0) {
		fprintf(stderr, "encoded event does not parse: %s\n%s\n", err.msg, enc);
		abort();
	}
	enc2 = event_encode(back, &len2);
	if (len != len2 || memcmp(enc, enc2, len) != 0) {
		fprintf(stderr, "encoding changed on round trip:\n%s\n%s\n", enc, enc2);
		abort();
	}
	free(enc2);
	free(enc);
	event_free(back);
}

/* event_from_parsed() skips data checks the parser makes itself: on
 * anything the parser takes it must agree with event_from_json(). */
static void check_parsed_agrees(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *obj = jfast_or_jansson((const char *)data, size, &je);
	if (!obj)
		return;
	for (int m = EVENT_PUBLISH; m <= EVENT_STORED; m++) {
		struct event *a = NULL, *b = NULL;
		struct cairn_err ea, eb;
		int ra = event_from_json(obj, (enum event_parse_mode)m, &a, &ea);
		int rb = event_from_parsed(obj, (enum event_parse_mode)m, &b, &eb);
		if (ra != rb || (ra && strcmp(ea.msg, eb.msg) != 0)) {
			fprintf(stderr,
				"event_from_parsed() and event_from_json() disagree: %d %d\n", ra,
				rb);
			abort();
		}
		event_free(a);
		event_free(b);
	}
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum event_parse_mode modes[] = {EVENT_PUBLISH, EVENT_STORED};

	check_parsed_agrees(data, size);

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		struct event *ev = NULL;
		struct cairn_err err;

		if (event_parse((const char *)data, size, EVENT_DEFAULT_MAX_BYTES, modes[i], &ev,
				&err) != 0) {
			/* A failure must leave nothing behind and a message. */
			if (ev != NULL || err.msg[0] == '\0' || err.code == 0)
				abort();
			continue;
		}
		check_round_trip(ev, modes[i]);
		if (modes[i] == EVENT_PUBLISH) {
			/* What the daemon does next: fill defaults, assign a seq,
			 * and store; the stored form must be a valid stored event. */
			event_fill_defaults(ev, 1795727323123);
			ev->seq = 1;
			check_round_trip(ev, EVENT_STORED);
		}
		event_free(ev);
	}
	return 0;
}
