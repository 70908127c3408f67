/* Table-driven settings: defaults, INI file (libinih), environment overrides. */
#include "daemon/config.h"
#include "services/service.h"

#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { K_PATH, K_SIZE, K_COUNT, K_AGE, K_LEVEL, K_BOOL, K_NAMES, K_URL, K_TEXT };

/* min: the smallest value that still lets the daemon work (0: no floor).
 * A limit set below it is refused at start instead of making every request
 * fail later (a 10-byte line limit would refuse every request). */
struct setting {
	const char *section, *key;
	enum kind kind;
	size_t off;
	const char *dflt;
	int64_t min;
};

#define OFF(f) offsetof(struct config, f)
static const struct setting settings[] = {
	{"daemon", "runtime_dir", K_PATH, OFF(runtime_dir), "", 0},
	{"daemon", "data_dir", K_PATH, OFF(data_dir), "", 0},
	{"daemon", "log_level", K_LEVEL, OFF(log_level), "info", 0},
	{"limits", "event_bytes", K_SIZE, OFF(event_bytes), "1M", 1024},
	{"limits", "line_bytes", K_SIZE, OFF(line_bytes), "", 4096},
	{"limits", "conn_output_bytes", K_SIZE, OFF(conn_output_bytes), "4M", 64 * 1024},
	{"limits", "conn_output_max", K_SIZE, OFF(conn_output_max), "64M", 1024 * 1024},
	{"limits", "flood_rate", K_COUNT, OFF(flood_rate), "5000", 0},
	{"limits", "flood_delay_ms", K_COUNT, OFF(flood_delay_ms), "1", 0},
	{"subscriber", "queue_events", K_COUNT, OFF(queue_events), "4096", 16},
	{"subscriber", "queue_bytes", K_SIZE, OFF(queue_bytes), "8M", 64 * 1024},
	{"subscriber", "ring_events", K_COUNT, OFF(ring_events), "8192", 16},
	{"subscriber", "ring_bytes", K_SIZE, OFF(ring_bytes), "64M", 1024 * 1024},
	{"subscriber", "replays", K_COUNT, OFF(replays), "2", 1},
	{"store", "batch_max", K_COUNT, OFF(batch_max), "2048", 0},
	{"store", "commit_delay_ms", K_COUNT, OFF(commit_delay_ms), "5", 0},
	{"store", "writer_queue_max", K_COUNT, OFF(writer_queue_max), "65536", 64},
	{"store", "writer_queue_bytes", K_SIZE, OFF(writer_queue_bytes), "32M", 1024 * 1024},
	{"store", "reserve_bytes", K_SIZE, OFF(reserve_bytes), "64M", 0},
	{"store", "check_at_start", K_BOOL, OFF(check_at_start), "yes", 0},
	{"store", "retention_age", K_AGE, OFF(retention_age_ms), "0", 0},
	{"store", "retention_bytes", K_SIZE, OFF(retention_bytes), "0", 0},
	{"runner", "capture_bytes", K_SIZE, OFF(capture_bytes), "8M", 4096},
	{"runner", "runs_keep", K_COUNT, OFF(runs_keep), "200", 0},
	{"watch", "settle_ms", K_COUNT, OFF(settle_ms), "50", 0},
	{"watch", "max_delay_ms", K_COUNT, OFF(max_delay_ms), "1000", 0},
	{"watch", "retry_ms", K_COUNT, OFF(retry_ms), "2000", 0},
	{"watch", "max_dirs", K_SIZE, OFF(max_dirs), "0", 0},
	{"triage", "excerpt_lines", K_COUNT, OFF(excerpt_lines), "50", 0},
	{"runner", "show_triage", K_COUNT, OFF(show_triage), "1", 0},
	{"kb", "forget_days", K_COUNT, OFF(kb_forget_days), "30", 0},
	{"services", "queue_events", K_COUNT, OFF(service_queue), "256", 1},
	{"services", "off", K_NAMES, OFF(services_off), "", 0},
	{"session", "gap", K_AGE, OFF(session_gap_ms), "30m", 1000},
	{"model", "url", K_URL, OFF(model_url), "", 0},
	{"model", "name", K_TEXT, OFF(model_name), "default", 0},
	{"model", "deadline", K_AGE, OFF(model_deadline_ms), "30s", 1000},
	{"model", "connect_timeout", K_AGE, OFF(model_connect_ms), "2s", 100},
	{"model", "workers", K_COUNT, OFF(model_workers), "2", 1},
	{"model", "breaker", K_TEXT, OFF(model_breaker), "auto", 0},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static int parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return CAIRN_E_PARSE;
	int64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1024LL * 1024 * 1024, end++;
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v > INT64_MAX / mul)
		return CAIRN_E_PARSE;
	*out = v * mul;
	return 0;
}

static int set_value(struct config *cfg, const struct setting *s, const char *v, char *why,
		     size_t whylen)
{
	char *base = (char *)cfg;
	int64_t n;
	switch (s->kind) {
	case K_PATH: {
		char **slot = (char **)(base + s->off);
		if (*v && *v != '/') {
			snprintf(why, whylen, "must be an absolute path");
			return CAIRN_E_INVALID;
		}
		free(*slot);
		*slot = xstrdup(v);
		return 0;
	}
	case K_URL:
	case K_TEXT: {
		/* A model server's base URL: http or https, no spaces; or a name
		 * of printable ASCII. */
		size_t l = strlen(v);
		bool ok = l < 512;
		for (size_t i = 0; ok && i < l; i++)
			ok = v[i] > ' ' && v[i] < 0x7f;
		if (ok && s->kind == K_URL && *v)
			ok = strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0;
		if (s->off == OFF(model_breaker) && strcmp(v, "auto") && strcmp(v, "open") &&
		    strcmp(v, "off")) {
			snprintf(why, whylen,
				 "must be auto (the breaker trips and recovers by itself), open "
				 "(never call the model server) or off (always call it)");
			return CAIRN_E_INVALID;
		}
		if (!ok) {
			snprintf(why, whylen, "%s",
				 s->kind == K_URL
					 ? "must be an http:// or https:// URL such as "
					   "http://127.0.0.1:11434/v1, or empty"
					 : "must be a name of printable characters without "
					   "spaces, under 512 bytes");
			return CAIRN_E_INVALID;
		}
		char **slot = (char **)(base + s->off);
		free(*slot);
		*slot = xstrdup(v);
		/* The base URL without a trailing '/'. */
		size_t sl = strlen(*slot);
		while (s->kind == K_URL && sl && (*slot)[sl - 1] == '/')
			(*slot)[--sl] = '\0';
		return 0;
	}
	case K_NAMES: {
		/* Names of services, comma-separated: each must be one of
		 * services[] (src/services/registry.c). */
		char *copy = xstrdup(v);
		char *save = NULL;
		for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
			bool known = false;
			for (size_t i = 0; services[i] && !known; i++)
				known = strcmp(services[i]->name, w) == 0;
			if (!known) {
				size_t l = (size_t)snprintf(
					why, whylen, "names no service '%s'; the services are", w);
				for (size_t i = 0; services[i] && l < whylen; i++)
					l += (size_t)snprintf(why + l, whylen - l, "%s %s",
							      i ? "," : "", services[i]->name);
				free(copy);
				return CAIRN_E_INVALID;
			}
		}
		free(copy);
		char **slot = (char **)(base + s->off);
		free(*slot);
		*slot = xstrdup(v);
		return 0;
	}
	case K_SIZE:
	case K_COUNT:
		if (*v == '\0' && s->off == OFF(line_bytes)) {
			*(size_t *)(base + s->off) = 0; /* derived later */
			return 0;
		}
		if (parse_size(v, &n) ||
		    (s->kind == K_COUNT && n == 0 && s->off != OFF(batch_max) &&
		     s->off != OFF(commit_delay_ms) && s->off != OFF(flood_rate) &&
		     s->off != OFF(flood_delay_ms))) {
			snprintf(why, whylen, "must be a %s such as %s",
				 s->kind == K_SIZE ? "size" : "positive number",
				 s->kind == K_SIZE ? "64K, 8M or 1G" : "4096");
			return CAIRN_E_INVALID;
		}
		if (s->min && n < s->min) {
			char m[32];
			if (s->kind == K_SIZE && s->min % 1024 == 0)
				snprintf(m, sizeof m, "%lldK", (long long)(s->min / 1024));
			else
				snprintf(m, sizeof m, "%lld", (long long)s->min);
			snprintf(why, whylen, "must be at least %s", m);
			return CAIRN_E_INVALID;
		}
		if (s->off == OFF(retention_bytes) || s->off == OFF(reserve_bytes))
			*(int64_t *)(base + s->off) = n;
		else
			*(size_t *)(base + s->off) = (size_t)n;
		return 0;
	case K_AGE:
		if (strcmp(v, "0") == 0) {
			n = 0;
		} else if (timefmt_parse_duration(v, &n)) {
			snprintf(why, whylen,
				 "must be a duration such as 30d, 12h or 0 (keep forever)");
			return CAIRN_E_INVALID;
		}
		if (s->min && n < s->min) {
			snprintf(why, whylen, "must be at least %llds", (long long)(s->min / 1000));
			return CAIRN_E_INVALID;
		}
		*(int64_t *)(base + s->off) = n;
		return 0;
	case K_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") ||
		    !strcmp(v, "on")) {
			*(bool *)(base + s->off) = true;
		} else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") ||
			   !strcmp(v, "off")) {
			*(bool *)(base + s->off) = false;
		} else {
			snprintf(why, whylen, "must be yes or no");
			return CAIRN_E_INVALID;
		}
		return 0;
	case K_LEVEL:
		if (log_parse_level(v, (enum log_level *)(base + s->off))) {
			snprintf(why, whylen, "must be debug, info, warn or error");
			return CAIRN_E_INVALID;
		}
		return 0;
	}
	return CAIRN_E_INVALID;
}

struct ini_ctx {
	struct config *cfg;
	struct cairn_err *err;
	int failed;
};

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (strcmp(settings[i].section, section) || strcmp(settings[i].key, name))
			continue;
		char why[128], field[96];
		if (set_value(c->cfg, &settings[i], value, why, sizeof why)) {
			snprintf(field, sizeof field, "%s.%s", section, name);
			if (!c->failed)
				cairn_err_set(c->err, CAIRN_E_INVALID, field,
					      "%s: [%s] %s = '%s': %s", c->cfg->config_path,
					      section, name, value, why);
			c->failed = 1;
			return 0;
		}
		return 1;
	}
	char field[96];
	snprintf(field, sizeof field, "%s.%s", section, name);
	if (!c->failed)
		cairn_err_set(c->err, CAIRN_E_INVALID, field,
			      "%s: unknown setting [%s] %s; see docs/config.md for the settings",
			      c->cfg->config_path, section, name);
	c->failed = 1;
	return 0;
}

static char *xdg_dir(const char *var, const char *fallback_rel)
{
	const char *v = getenv(var);
	if (v && *v == '/')
		return xstrdup(v);
	const char *home = getenv("HOME");
	if (fallback_rel && home && *home == '/')
		return xasprintf("%s/%s", home, fallback_rel);
	return NULL;
}

int config_load(struct config *cfg, struct cairn_err *err)
{
	memset(cfg, 0, sizeof *cfg);
	cairn_err_clear(err);
	char why[128];
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (set_value(cfg, &settings[i], settings[i].dflt, why, sizeof why))
			abort(); /* a default that does not parse is a programming error */

	const char *cp = getenv("CAIRN_CONFIG");
	if (cp && *cp) {
		cfg->config_path = xstrdup(cp);
	} else {
		char *d = xdg_dir("XDG_CONFIG_HOME", ".config");
		cfg->config_path =
			d ? xasprintf("%s/cairn/config", d) : xstrdup("/etc/cairn/config");
		free(d);
	}
	FILE *f = fopen(cfg->config_path, "r");
	if (f) {
		struct ini_ctx c = {cfg, err, 0};
		int line = ini_parse_file(f, on_ini_entry, &c);
		fclose(f);
		if (c.failed)
			return CAIRN_E_INVALID;
		if (line != 0)
			return cairn_err_set(err, CAIRN_E_INVALID, "",
					     "%s:%d: cannot parse this line; expected key = value",
					     cfg->config_path, line);
	} else if (errno != ENOENT) {
		return cairn_err_set(err, CAIRN_E_INVALID, "", "cannot read config file '%s': %s",
				     cfg->config_path, strerror(errno));
	}

	for (size_t i = 0; i < N_SETTINGS; i++) {
		char var[96];
		snprintf(var, sizeof var, "CAIRN_%s_%s", settings[i].section, settings[i].key);
		for (char *p = var; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		const char *v = getenv(var);
		if (!v)
			continue;
		if (set_value(cfg, &settings[i], v, why, sizeof why))
			return cairn_err_set(err, CAIRN_E_INVALID, var, "environment %s='%s': %s",
					     var, v, why);
	}

	if (!*cfg->runtime_dir) {
		free(cfg->runtime_dir);
		char *d = xdg_dir("XDG_RUNTIME_DIR", NULL);
		cfg->runtime_dir = d ? xasprintf("%s/cairn", d)
				     : xasprintf("/tmp/cairn-%u", (unsigned)getuid());
		free(d);
	}
	if (!*cfg->data_dir) {
		free(cfg->data_dir);
		char *d = xdg_dir("XDG_DATA_HOME", ".local/share");
		if (!d)
			return cairn_err_set(
				err, CAIRN_E_INVALID, "daemon.data_dir",
				"cannot find a data directory: set XDG_DATA_HOME or HOME");
		cfg->data_dir = xasprintf("%s/cairn", d);
		free(d);
	}
	if (cfg->line_bytes == 0)
		cfg->line_bytes = cfg->event_bytes + 64 * 1024;
	if (cfg->conn_output_max < cfg->conn_output_bytes)
		return cairn_err_set(
			err, CAIRN_E_INVALID, "limits.conn_output_max",
			"[limits] conn_output_max (%zu) is smaller than conn_output_bytes "
			"(%zu); the hard limit must be at least the soft one",
			cfg->conn_output_max, cfg->conn_output_bytes);
	if (cfg->batch_max == 0)
		cfg->batch_max = 2048;
	if (cfg->commit_delay_ms > 1000)
		return cairn_err_set(err, CAIRN_E_INVALID, "store.commit_delay_ms",
				     "[store] commit_delay_ms is %zu; at most 1000 (one second) is "
				     "allowed, since an event waits that long before it is logged",
				     cfg->commit_delay_ms);
	if (cfg->flood_delay_ms > 100)
		return cairn_err_set(
			err, CAIRN_E_INVALID, "limits.flood_delay_ms",
			"[limits] flood_delay_ms is %zu; at most 100 is allowed, since "
			"a publisher's next events wait that long in a flood",
			cfg->flood_delay_ms);
	cfg->socket_path = xasprintf("%s/cairn.sock", cfg->runtime_dir);
	cfg->lock_path = xasprintf("%s/cairn.lock", cfg->runtime_dir);
	cfg->db_path = xasprintf("%s/cairn.db", cfg->data_dir);
	if (strlen(cfg->socket_path) >= 108)
		return cairn_err_set(
			err, CAIRN_E_INVALID, "daemon.runtime_dir",
			"socket path '%s' is longer than a Unix socket allows (107 bytes); "
			"set [daemon] runtime_dir to a shorter directory",
			cfg->socket_path);
	return 0;
}

void config_release(struct config *cfg)
{
	free(cfg->config_path);
	free(cfg->runtime_dir);
	free(cfg->data_dir);
	free(cfg->socket_path);
	free(cfg->lock_path);
	free(cfg->db_path);
	free(cfg->services_off);
	free(cfg->model_url);
	free(cfg->model_name);
	free(cfg->model_breaker);
	memset(cfg, 0, sizeof *cfg);
}

void config_print(const struct config *cfg, FILE *out)
{
	static const char *levels[] = {"debug", "info", "warn", "error"};
	fprintf(out, "# config file: %s\n", cfg->config_path);
	const char *cur = "";
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (strcmp(cur, s->section)) {
			fprintf(out, "[%s]\n", s->section);
			cur = s->section;
		}
		const char *base = (const char *)cfg;
		switch (s->kind) {
		case K_PATH:
		case K_NAMES:
		case K_URL:
		case K_TEXT:
			fprintf(out, "%s = %s\n", s->key, *(char *const *)(base + s->off));
			break;
		case K_BOOL:
			fprintf(out, "%s = %s\n", s->key,
				*(const bool *)(base + s->off) ? "yes" : "no");
			break;
		case K_LEVEL:
			fprintf(out, "%s = %s\n", s->key,
				levels[*(const enum log_level *)(base + s->off)]);
			break;
		case K_AGE:
		case K_SIZE:
		case K_COUNT:
			if (s->kind == K_AGE || s->off == OFF(retention_bytes) ||
			    s->off == OFF(reserve_bytes))
				fprintf(out, "%s = %lld%s\n", s->key,
					(long long)*(const int64_t *)(base + s->off),
					s->kind == K_AGE ? "ms" : "");
			else
				fprintf(out, "%s = %zu\n", s->key,
					*(const size_t *)(base + s->off));
			break;
		}
	}
}

char *config_own_path(const struct config *cfg)
{
	char *dir = xstrdup(cfg->config_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		const char *base = strrchr(dir, '/');
		if (strcmp(base ? base + 1 : dir, "cairn") == 0)
			return dir;
	}
	free(dir);
	return xstrdup(cfg->config_path);
}
