/* RFC 3339 and duration parsing/formatting with strict syntax checks. */
#include "common/timefmt.h"

#include "common/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Two digits of v (0..99) at o. */
static void two(char *o, int v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
}

void timefmt_rfc3339(char out[TIMEFMT_RFC3339_LEN + 1], int64_t ms)
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int msec = (int)(ms - (int64_t)secs * 1000);
	/* Each event gets a time: the second's part is made once per second
	 * and thread (gmtime_r() and a formatted print cost more than the
	 * rest of the event's envelope). */
	static __thread time_t last_secs = -1;
	static __thread char last[TIMEFMT_RFC3339_LEN + 1];
	if (secs != last_secs) {
		struct tm tm;
		gmtime_r(&secs, &tm);
		int year = (tm.tm_year + 1900) % 10000;
		two(last, year / 100);
		two(last + 2, year % 100);
		last[4] = '-';
		two(last + 5, tm.tm_mon + 1);
		last[7] = '-';
		two(last + 8, tm.tm_mday);
		last[10] = 'T';
		two(last + 11, tm.tm_hour);
		last[13] = ':';
		two(last + 14, tm.tm_min);
		last[16] = ':';
		two(last + 17, tm.tm_sec);
		last[19] = '.';
		last[23] = 'Z';
		last[24] = '\0';
		last_secs = secs;
	}
	memcpy(out, last, TIMEFMT_RFC3339_LEN + 1);
	out[20] = (char)('0' + msec / 100);
	two(out + 21, msec % 100);
}

void timefmt_local_short(char out[16], int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ms % 1000));
	memcpy(out, tmp, 12);
	out[12] = '\0';
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int timefmt_parse_rfc3339(const char *s, int64_t *ms)
{
	const char *p = s;
	int Y, M, D, h, m, sec, frac = 0;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return CAIRN_E_PARSE;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return CAIRN_E_PARSE;
	if (*p == '.') {
		p++;
		int n = 0;
		while (isdigit((unsigned char)*p)) {
			if (n < 3)
				frac = frac * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0 || n > 9)
			return CAIRN_E_PARSE;
		for (; n < 3; n++)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return CAIRN_E_PARSE;
		off = sign * (oh * 60 + om);
	} else {
		return CAIRN_E_PARSE;
	}
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return CAIRN_E_PARSE;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (D > mdays[M - 1])
		return CAIRN_E_PARSE;
	struct tm tm = {.tm_year = Y - 1900,
			.tm_mon = M - 1,
			.tm_mday = D,
			.tm_hour = h,
			.tm_min = m,
			.tm_sec = sec};
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

int timefmt_parse_duration(const char *s, int64_t *ms)
{
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return CAIRN_E_PARSE;
	int64_t v = 0;
	while (isdigit((unsigned char)*p)) {
		if (v > 1000000000)
			return CAIRN_E_PARSE;
		v = v * 10 + (*p++ - '0');
	}
	int64_t unit;
	if (strcmp(p, "ms") == 0)
		unit = 1;
	else if (strcmp(p, "s") == 0)
		unit = 1000;
	else if (strcmp(p, "m") == 0)
		unit = 60000;
	else if (strcmp(p, "h") == 0)
		unit = 3600000;
	else if (strcmp(p, "d") == 0)
		unit = 86400000;
	else if (strcmp(p, "w") == 0)
		unit = 7 * 86400000LL;
	else
		return CAIRN_E_PARSE;
	*ms = v * unit;
	return 0;
}

int timefmt_parse_when(const char *s, int64_t now_ms, int64_t *ms)
{
	int64_t d;
	if (timefmt_parse_rfc3339(s, ms) == 0)
		return 0;
	if (timefmt_parse_duration(s, &d) == 0) {
		*ms = now_ms - d;
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		*ms = now_ms;
		return 0;
	}
	int back = strcmp(s, "today") == 0 ? 0 : strcmp(s, "yesterday") == 0 ? 1 : -1;
	if (back < 0)
		return CAIRN_E_PARSE;
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday -= back;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}
