/* Settings: embedded defaults, then the INI file at
 * $XDG_CONFIG_HOME/cairn/config (or $CAIRN_CONFIG), then environment
 * overrides CAIRN_<SECTION>_<KEY> (e.g. CAIRN_LIMITS_EVENT_BYTES=65536).
 * No setting is needed for the defaults to work. Every key is documented in
 * docs/config.md; config_describe() prints them. */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include "common/err.h"
#include "common/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	char *config_path;         /* the file read (may not exist) */
	char *runtime_dir;         /* [daemon] runtime_dir: socket and lock live here */
	char *data_dir;            /* [daemon] data_dir: the database lives here */
	char *socket_path;         /* derived: runtime_dir/cairn.sock */
	char *lock_path;           /* derived: runtime_dir/cairn.lock */
	char *db_path;             /* derived: data_dir/cairn.db */
	enum log_level log_level;  /* [daemon] log_level */
	size_t event_bytes;        /* [limits] event_bytes */
	size_t line_bytes;         /* [limits] line_bytes */
	size_t conn_output_bytes;  /* [limits] conn_output_bytes: stop reading past this */
	size_t conn_output_max;    /* [limits] conn_output_max: close past this */
	size_t flood_rate;         /* [limits] flood_rate: events/s; 0 = never */
	size_t flood_delay_ms;     /* [limits] flood_delay_ms: 0 = never */
	size_t queue_events;       /* [subscriber] queue_events */
	size_t queue_bytes;        /* [subscriber] queue_bytes */
	size_t ring_events;        /* [subscriber] ring_events */
	size_t ring_bytes;         /* [subscriber] ring_bytes */
	size_t replays;            /* [subscriber] replays: log reads at once */
	size_t batch_max;          /* [store] batch_max */
	size_t commit_delay_ms;    /* [store] commit_delay_ms */
	size_t writer_queue_max;   /* [store] writer_queue_max */
	size_t writer_queue_bytes; /* [store] writer_queue_bytes */
	int64_t reserve_bytes;     /* [store] reserve_bytes */
	bool check_at_start;       /* [store] check_at_start */
	int64_t retention_age_ms;  /* [store] retention_age */
	int64_t retention_bytes;   /* [store] retention_bytes */
	size_t capture_bytes;      /* [runner] capture_bytes */
	size_t runs_keep;          /* [runner] runs_keep */
	size_t settle_ms;          /* [watch] settle_ms */
	size_t max_delay_ms;       /* [watch] max_delay_ms */
	size_t retry_ms;           /* [watch] retry_ms */
	size_t max_dirs;           /* [watch] max_dirs */
	size_t excerpt_lines;      /* [triage] excerpt_lines */
	size_t show_triage;        /* [runner] show_triage: 0 or 1 */
	size_t kb_forget_days;     /* [kb] forget_days */
	size_t service_queue;      /* [services] queue_events */
	int64_t session_gap_ms;    /* [session] gap */
	char *services_off;        /* [services] off: names, comma-separated */
	char *model_url;           /* [model] url: "" = no model server */
	char *model_name;          /* [model] name */
	int64_t model_deadline_ms; /* [model] deadline: per question */
	int64_t model_connect_ms;  /* [model] connect_timeout */
	size_t model_workers;      /* [model] workers: questions asked at once */
	char *model_breaker;       /* [model] breaker: auto, open or off */
};

/* Fills cfg from defaults, file and environment. On failure (an unreadable
 * file, an unknown key, a bad value) returns CAIRN_E_INVALID and fills err
 * (may be NULL): a message naming the file, line or variable, and as field
 * the setting ("limits.event_bytes") or the environment variable. cfg must
 * be released with config_release() in every case. */
int config_load(struct config *cfg, struct cairn_err *err);
void config_release(struct config *cfg);

/* What of the config file's location is cairn's own, for the file watcher to
 * leave alone: the file's directory when that is named "cairn" (the default
 * $XDG_CONFIG_HOME/cairn, /etc/cairn), else the file itself (CAIRN_CONFIG
 * may name a file in a directory shared with other things). Returns a new
 * string; the caller frees it. */
char *config_own_path(const struct config *cfg);

/* Prints every setting with its current value, for `cairn status --config`. */
void config_print(const struct config *cfg, FILE *out);

#endif
