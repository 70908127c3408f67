/* Time text: RFC 3339 timestamps, and the "since" forms the CLI and protocol
 * accept (a seq, a timestamp, or a duration such as 10m ago). */
#ifndef CAIRN_TIMEFMT_H
#define CAIRN_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_RFC3339_LEN 24 /* "2026-11-27T21:08:43.123Z" */

/* Formats ms since the epoch as UTC RFC 3339 with milliseconds. */
void timefmt_rfc3339(char out[TIMEFMT_RFC3339_LEN + 1], int64_t ms);
/* Formats ms as local "HH:MM:SS.mmm" for human output. */
void timefmt_local_short(char out[16], int64_t ms);
/* Parses an RFC 3339 timestamp ("2026-11-27T21:08:43Z", fractional seconds
 * and numeric offsets allowed) into ms since the epoch. Returns 0 or
 * CAIRN_E_PARSE. */
int timefmt_parse_rfc3339(const char *s, int64_t *ms);
/* Parses a duration like "90s", "10m", "2h", "3d", "1w" (or "500ms") into ms.
 * Returns 0 or CAIRN_E_PARSE. */
int timefmt_parse_duration(const char *s, int64_t *ms);
/* Parses a moment as people give one on the command line, relative to
 * now_ms: an RFC 3339 timestamp, a duration ago ("2h", "1d"), "now",
 * "today" or "yesterday" (the start of that day in local time). Returns 0
 * or CAIRN_E_PARSE. */
int timefmt_parse_when(const char *s, int64_t now_ms, int64_t *ms);

#endif
