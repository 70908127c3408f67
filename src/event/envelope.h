/* The event envelope: CloudEvents 1.0 in JSON structured mode, plus cairn's
 * extensions seq, project, session, correlationid and severity. Parsing
 * validates strictly; a validation error names the field and the rule broken.
 * All functions are pure (no I/O) and may be called from any thread on
 * distinct events.
 *
 *   { "specversion": "1.0",          required ("1.0"); defaulted on publish
 *     "id": "01JD...",               1..128 printable bytes; a ULID is made if absent on publish
 *     "source": "cairn/fswatch",     required, 1..255 bytes, no spaces or control chars
 *     "type": "build.failed",        required, <= 255 bytes, tokens [a-z0-9_-]+ joined by '.'
 *     "subject": "src/a.c",          optional, <= 4096 bytes, no control chars
 *     "time": "2026-11-27T21:08:43.123Z",  optional RFC 3339; now if absent on publish
 *     "datacontenttype": "application/json", optional string <= 255
 *     "data": <any JSON>,            optional
 *     "seq": 1234,                   assigned by the daemon; rejected on publish
 *     "project": "/abs/path",        optional absolute path <= 4096
 *     "session": "...", "correlationid": "...",  optional, 1..128 printable bytes
 *     "severity": "error",           optional: debug|info|notice|warning|error|critical
 *     "<ext>": "..." }               other extensions: name [a-z0-9]{1,20},
 *                                    value string, number or boolean; kept as given
 */
#ifndef CAIRN_ENVELOPE_H
#define CAIRN_ENVELOPE_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_DEFAULT_MAX_BYTES (1024 * 1024)
#define EVENT_TYPE_MAX 255

enum event_severity {
	SEV_UNSET = 0,
	SEV_DEBUG,
	SEV_INFO,
	SEV_NOTICE,
	SEV_WARNING,
	SEV_ERROR,
	SEV_CRITICAL,
};

/* One event. Strings are owned by the event (NULL when absent); data is a
 * jansson reference owned by the event (NULL when absent). */
struct event {
	char *specversion;
	char *id;
	char *source;
	char *type;
	char *subject;
	char *time;      /* as given, or as made by event_fill_defaults() */
	int64_t time_ms; /* parsed from time; 0 when time is absent */
	char *datacontenttype;
	json_t *data;
	int64_t seq; /* 0 = not yet assigned */
	char *project;
	char *session;
	char *correlationid;
	enum event_severity severity;
	json_t *extensions; /* object of other extension attributes, or NULL */
};

/* Why validation fails is a struct cairn_err (common/err.h): field is the
 * JSON attribute name ("" for the envelope as a whole), msg the rule it
 * broke in words for a human, prefixed "field 'NAME': " when there is a
 * field. code is the function's return value. */

enum event_parse_mode {
	/* From a publisher: id, time and specversion may be absent (they are
	 * filled by event_fill_defaults()); seq must be absent. */
	EVENT_PUBLISH,
	/* From the log: every required attribute present, seq >= 1. */
	EVENT_STORED,
};

/* Builds an event from a parsed JSON object, validating every attribute.
 * On success returns 0 and sets *out (caller frees with event_free()). On
 * failure returns CAIRN_E_INVALID, fills *err and leaves *out NULL. obj is
 * not modified or stolen. */
int event_from_json(const json_t *obj, enum event_parse_mode mode, struct event **out,
		    struct cairn_err *err);

/* event_from_json() of an object straight from the JSON parser
 * (json_loadb() or common/jfast.h), whose data need not be walked again for
 * what the parser refuses anyway (invalid UTF-8, NUL, nesting past
 * JSON_PARSER_MAX_DEPTH). The daemon's per-event path. */
int event_from_parsed(const json_t *obj, enum event_parse_mode mode, struct event **out,
		      struct cairn_err *err);

/* Parses JSON text (len bytes, need not be NUL-terminated) and then behaves
 * like event_from_json(). Text over max_bytes is refused with CAIRN_E_TOOBIG
 * before parsing; malformed JSON returns CAIRN_E_PARSE. err is filled in
 * every failure case. */
int event_parse(const char *buf, size_t len, size_t max_bytes, enum event_parse_mode mode,
		struct event **out, struct cairn_err *err);

/* Fills what a publisher may leave out: specversion "1.0", a new ULID id
 * (made at now_ms), and time = now_ms. */
void event_fill_defaults(struct event *ev, int64_t now_ms);

/* Encodes the event as compact JSON with a fixed attribute order (the order
 * in the table above, extensions last). Returns a malloc'd NUL-terminated
 * string and its length in *len (may be NULL). */
char *event_encode(const struct event *ev, size_t *len);

/* Builds the JSON object form of the event (new reference). */
json_t *event_to_json(const struct event *ev);

/* Severity names: "debug" ... "critical"; "" for SEV_UNSET. */
const char *event_severity_name(enum event_severity s);
/* Parses a severity name; returns 0 or CAIRN_E_PARSE. */
int event_severity_parse(const char *s, enum event_severity *out);

void event_free(struct event *ev);

#endif
