/* stderr logger with level filter; one write per message so lines never mix. */
#include "common/log.h"

#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return CAIRN_E_PARSE;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *tags[] = {"debug", "info", "warning", "error"};
	if (lvl < min_level)
		return;
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "cairn: %s: ", tags[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof buf - 2)
		len = sizeof buf - 2;
	buf[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}
