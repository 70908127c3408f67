/* The daemon: start-up, shutdown and wiring. One libuv loop owns the bus
 * (src/bus/), the socket server (server.c), the service host
 * (src/services/host.c), the file watcher and the spool importer; the
 * store's writer thread sits beside it. This file names no service: they
 * are rows of services[] (src/services/registry.c).
 */
#include "daemon/daemon.h"

#include "ask/askd.h"
#include "kb/kb.h"
#include "bus/bus.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/spool.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "daemon/proto.h"
#include "daemon/sdnotify.h"
#include "daemon/server.h"
#include "services/host.h"
#include "sources/fswatch.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* A spooled file being imported: unlinked once its event is durable. */
struct spool_file {
	struct bus_pub bp;
	struct spool_file *next; /* in daemon->spool_active */
	struct daemon *d;
	char *path;
};

struct daemon {
	const struct config *cfg;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_timer_t watchdog, retention;
	bool watchdog_on, retention_on;
	int lock_fd;
	struct store *st;
	struct bus *bus;
	struct server *srv;
	struct host *host;
	struct askd *askd; /* NULL: no model server configured */
	/* The knowledge base of `record` requests: one connection, opened at
	 * the first, used by one pool job at a time. */
	pthread_mutex_t kb_mu;
	struct kb *kb;
	uint64_t n_recorded; /* record requests answered with an entry (loop) */
	uv_fs_event_t spool_watch;
	bool spool_watch_on;
	char *spool_dir;
	struct spool_file *spool_active;
	uint64_t n_spooled;
	struct fswatch *fw;
	char *watches_path;
	bool stopping, stopped;
};

/* ---- the spool: events written while no daemon ran ---- */

static void spool_done(struct bus_pub *bp, int err)
{
	struct spool_file *sf = (struct spool_file *)bp;
	struct daemon *d = sf->d;
	if (err == CAIRN_E_TOOBIG) {
		char *bad = xasprintf("%s.bad", sf->path);
		log_warn("spool: %s is over the event size limit; kept as %s", sf->path, bad);
		rename(sf->path, bad);
		free(bad);
	} else if (err) {
		log_warn("spool: %s was not stored (%s); it stays for the next start", sf->path,
			 err_str(err));
	} else if (unlink(sf->path) < 0 && errno != ENOENT) {
		log_warn("spool: cannot remove %s: %s", sf->path, strerror(errno));
	}
	for (struct spool_file **pp = &d->spool_active; *pp; pp = &(*pp)->next)
		if (*pp == sf) {
			*pp = sf->next;
			break;
		}
	free(sf->path);
	free(sf);
}

/* Publishes one spooled file durably; it is removed once committed. A file
 * that is not a valid event is renamed to *.bad and kept for inspection. */
static void spool_import(struct daemon *d, const char *path)
{
	for (struct spool_file *sf = d->spool_active; sf; sf = sf->next)
		if (strcmp(sf->path, path) == 0)
			return; /* already on its way */
	char *buf;
	size_t len;
	int r = spool_read(path, d->cfg->line_bytes, &buf, &len);
	if (r == -ENOENT)
		return;
	struct event *ev = NULL;
	struct cairn_err ve;
	if (r == 0 && event_parse(buf, len, d->cfg->event_bytes, EVENT_PUBLISH, &ev, &ve) == 0) {
		event_fill_defaults(ev, clock_wall_ms());
		struct spool_file *sf = xcalloc(1, sizeof *sf);
		sf->d = d;
		sf->path = xstrdup(path);
		sf->next = d->spool_active;
		d->spool_active = sf;
		sf->bp.durable = true; /* the file goes once the event is on disk */
		sf->bp.done = spool_done;
		d->n_spooled++;
		bus_publish(d->bus, ev, false, &sf->bp);
	} else {
		const char *why = r ? err_str(r) : ve.msg;
		char *bad = xasprintf("%s.bad", path);
		log_warn("spool: %s is not a valid event (%s); kept as %s", path, why, bad);
		rename(path, bad);
		free(bad);
	}
	free(buf);
}

static void spool_scan(struct daemon *d)
{
	char **list;
	if (spool_list(d->spool_dir, &list)) {
		log_warn("spool: cannot read %s: %s", d->spool_dir, strerror(errno));
		return;
	}
	size_t n = 0;
	for (char **p = list; *p; p++, n++)
		spool_import(d, *p);
	if (n)
		log_info("spool: importing %zu events written while no daemon ran", n);
	spool_list_free(list);
}

static void on_spool_change(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct daemon *d = h->data;
	if (status < 0 || d->stopping)
		return;
	/* A writer renames a whole file into place: import just that one. */
	if (name && strlen(name) == ULID_LEN + 5 && strcmp(name + ULID_LEN, ".json") == 0) {
		char *path = xasprintf("%s/%s", d->spool_dir, name);
		spool_import(d, path);
		free(path);
	}
}

/* ---- events of the daemon's own sources ---- */

static void local_done(struct bus_pub *p, int err)
{
	if (err)
		log_warn("an event of the daemon's own was not stored: %s", err_str(err));
	free(p);
}

/* Publishes an event built inside the daemon (the file watcher's); takes
 * ownership of obj. Invalid ones are a bug: logged and dropped. */
static void publish_local(void *ctx, json_t *obj)
{
	struct daemon *d = ctx;
	struct event *ev = NULL;
	struct cairn_err ve;
	if (event_from_json(obj, EVENT_PUBLISH, &ev, &ve)) {
		log_error("dropped an internal event: %s", ve.msg);
		json_decref(obj);
		return;
	}
	json_decref(obj);
	bool fresh_id = ev->id == NULL;
	event_fill_defaults(ev, clock_wall_ms());
	struct bus_pub *p = xcalloc(1, sizeof *p);
	p->done = local_done;
	bus_publish(d->bus, ev, fresh_id, p);
}

/* The watched projects are kept in <data_dir>/watches, one path a line. */
static void watches_save(struct daemon *d)
{
	json_t *list = fswatch_list(d->fw);
	char *tmp = xasprintf("%s.tmp", d->watches_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_error("cannot save the watch list to %s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t i;
	json_t *w;
	json_array_foreach(list, i, w)
		fprintf(f, "%s\n", json_string_value(json_object_get(w, "path")));
	if (fclose(f) != 0 || rename(tmp, d->watches_path) != 0)
		log_error("cannot save the watch list to %s: %s", d->watches_path, strerror(errno));
out:
	free(tmp);
	json_decref(list);
}

static void watches_load(struct daemon *d)
{
	FILE *f = fopen(d->watches_path, "r");
	if (!f)
		return;
	char line[4200];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		char err[300] = "";
		char *root = NULL;
		int r = fswatch_add(d->fw, line, &root, err, sizeof err);
		if (r && r != -EEXIST)
			log_warn("not watching %s: %s", line, *err ? err : err_str(r));
		else if (*err)
			log_info("watching %s: %s", line, err);
		else
			log_info("watching %s", root);
		free(root);
	}
	fclose(f);
}

/* The `watch` request (struct server_hooks.watch). */
static int watch_request(void *ctx, const struct proto_req *req, json_t **reply,
			 struct cairn_err *e)
{
	struct daemon *d = ctx;
	if (!d->fw) {
		cairn_err_set(e, CAIRN_E_UNAVAIL, "",
			      "file watching is not available (inotify failed "
			      "at start; see the daemon's log)");
		return CAIRN_E_NOTFOUND;
	}
	/* The reply: every watch, and for add the one that holds the path
	 * ("state" says whether its tree is still being walked). */
	json_t *out = json_object();
	if (strcmp(req->action, "add") == 0) {
		char err[300] = "";
		char *root = NULL;
		int r = fswatch_add(d->fw, req->path, &root, err, sizeof err);
		if (r && r != -EEXIST) {
			json_decref(out);
			cairn_err_set(e, CAIRN_E_PROTO, "path", "cannot watch: %s",
				      *err ? err : err_str(r));
			return r;
		}
		if (r == 0) {
			watches_save(d);
			log_info("watching %s", root);
		}
		json_object_set_new(out, "watch", fswatch_info(d->fw, root));
		json_object_set_new(out, "already", json_boolean(r == -EEXIST));
		if (*err)
			json_object_set_new(out, "note", json_string(err));
		free(root);
	} else if (strcmp(req->action, "rm") == 0) {
		char *root = NULL;
		if (fswatch_remove(d->fw, req->path, &root)) {
			json_decref(out);
			cairn_err_set(e, CAIRN_E_NOTFOUND, "path",
				      "'%s' is not watched; see 'cairn watch list'", req->path);
			return CAIRN_E_NOTFOUND;
		}
		watches_save(d);
		log_info("no longer watching %s", root);
		free(root);
	}
	json_object_set_new(out, "watches", fswatch_list(d->fw));
	*reply = out;
	return 0;
}

/* The daemon's members of a status reply (struct server_hooks.status). */
static void status_request(void *ctx, json_t *reply)
{
	struct daemon *d = ctx;
	json_object_set_new(reply, "spool",
			    json_pack("{s:I}", "imported", (json_int_t)d->n_spooled));
	json_object_set_new(reply, "recorded", json_integer((json_int_t)d->n_recorded));
	host_status(d->host, reply);
	if (d->askd)
		askd_status(d->askd, reply);
	else
		json_object_set_new(reply, "breakers", json_array());
}

/* A `record` request (struct server_hooks.record): the entry added by the
 * daemon, so that every writer (the MCP servers of several agents, `cairn
 * ask`) goes through one connection, and the kb.added event is the
 * daemon's. */
struct record_job {
	uv_work_t work;
	struct daemon *d;
	json_t *entry;
	void (*done)(void *token, json_t *reply, const struct cairn_err *e);
	void *token;
	json_t *reply; /* {"id", "uid", "kind", "title", "duplicate", "project"?} */
	json_t *event; /* kb.added, unless a duplicate */
	struct cairn_err err;
};

static const char *entry_str(const json_t *e, const char *k)
{
	return json_string_value(json_object_get(e, k));
}

static void record_work(uv_work_t *w)
{
	struct record_job *j = (struct record_job *)w;
	struct daemon *d = j->d;
	pthread_mutex_lock(&d->kb_mu);
	if (!d->kb && kb_open(d->cfg->db_path, false, (int64_t)d->cfg->kb_forget_days * 86400000,
			      &d->kb, &j->err)) {
		pthread_mutex_unlock(&d->kb_mu);
		return;
	}
	struct kb_entry in = {
		.kind = entry_str(j->entry, "kind"),
		.title = (char *)entry_str(j->entry, "title"),
		.body = (char *)entry_str(j->entry, "body"),
		.tags = (char *)entry_str(j->entry, "tags"),
		.files = (char *)entry_str(j->entry, "files"),
		.project = (char *)entry_str(j->entry, "project"),
	};
	int64_t id = 0;
	bool dup = false;
	int r = kb_add(d->kb, &in, clock_wall_ms(), &id, &dup);
	struct kb_entry e;
	if (r == 0)
		r = kb_get(d->kb, id, &e);
	if (r) {
		const struct cairn_err *ke = kb_error(d->kb);
		cairn_err_set(&j->err, r, ke->field, "%s", ke->msg);
		pthread_mutex_unlock(&d->kb_mu);
		return;
	}
	pthread_mutex_unlock(&d->kb_mu);
	j->reply = kb_entry_added_json(&e, dup);
	if (!dup)
		j->event = kb_change_event("added", &e);
	kb_entry_release(&e);
}

static void record_done(uv_work_t *w, int status)
{
	struct record_job *j = (struct record_job *)w;
	if (j->event && !j->d->stopping)
		publish_local(j->d, j->event);
	else
		json_decref(j->event);
	if (j->reply) {
		j->d->n_recorded++;
		j->done(j->token, j->reply, NULL);
	} else {
		if (!j->err.code)
			cairn_err_set(&j->err, CAIRN_E_STORE, "",
				      "the entry could not be recorded (%s)",
				      status ? uv_strerror(status) : "unknown");
		j->done(j->token, NULL, &j->err);
	}
	json_decref(j->entry);
	free(j);
}

static void record_request(void *ctx, const struct proto_req *req,
			   void (*done)(void *token, json_t *reply, const struct cairn_err *e),
			   void *token)
{
	struct daemon *d = ctx;
	struct record_job *j = xcalloc(1, sizeof *j);
	j->d = d;
	j->entry = json_incref(req->entry);
	j->done = done;
	j->token = token;
	int r = uv_queue_work(&d->loop, &j->work, record_work, record_done);
	if (r < 0) {
		cairn_err_set(&j->err, CAIRN_E_UNAVAIL, "", "cannot queue the request: %s",
			      uv_strerror(r));
		record_done(&j->work, r);
	}
}

/* An `ask` request (struct server_hooks.ask): the model, behind its
 * breaker. */
static void ask_request(void *ctx, const struct proto_req *req,
			void (*done)(void *token, json_t *reply, const struct cairn_err *e),
			void *token)
{
	struct daemon *d = ctx;
	if (!d->askd || d->stopping) {
		struct cairn_err e;
		cairn_err_set(&e, CAIRN_E_UNAVAIL, "",
			      d->stopping ? "the daemon is stopping"
					  : "no model server is configured ([model] url)");
		done(token, NULL, &e);
		return;
	}
	askd_ask(d->askd, req->question, req->project, done, token);
}

/* ---- start, signals, shutdown ---- */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void finish_shutdown(struct daemon *d)
{
	if (d->stopped)
		return;
	d->stopped = true;
	askd_stop(d->askd);
	if (d->fw) {
		fswatch_flush(d->fw); /* pending file events go into the last commit */
		fswatch_free(d->fw);
		d->fw = NULL;
	}
	bus_finish(d->bus);
	server_close(d->srv);
	uv_close((uv_handle_t *)&d->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigterm, on_handle_closed);
	if (d->watchdog_on)
		uv_close((uv_handle_t *)&d->watchdog, on_handle_closed);
	if (d->retention_on)
		uv_close((uv_handle_t *)&d->retention, on_handle_closed);
	if (d->spool_watch_on)
		uv_close((uv_handle_t *)&d->spool_watch, on_handle_closed);
}

/* The bus took the writer's results (struct bus_hooks.drained). */
static void on_drained(void *ctx)
{
	struct daemon *d = ctx;
	server_drained(d->srv);
	host_committed(d->host);
	if (d->stopping && bus_idle(d->bus))
		finish_shutdown(d);
}

static void on_health(void *ctx, int err)
{
	struct daemon *d = ctx;
	server_health(d->srv, err);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (d->stopping)
		return;
	log_info("received %s; stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	sdnotify_send("STOPPING=1");
	d->stopping = true;
	host_stop(d->host);
	server_stop(d->srv);
	bus_stop(d->bus);
	if (bus_idle(d->bus))
		finish_shutdown(d);
}

static void on_watchdog(uv_timer_t *t)
{
	sdnotify_send("WATCHDOG=1");
}

static void on_retention(uv_timer_t *t)
{
	struct daemon *d = t->data;
	store_request_retention(d->st);
}

/* Creates dir (mode 0700) if missing and checks that it is ours and
 * private: a real directory (not a symlink), owned by this uid, with no
 * access for group or others. What it finds is never chmod-ed: a directory
 * that someone else could have made or swapped is refused, with the fix. */
static int ensure_private_dir(const char *dir)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			log_error("cannot create directory '%s': %s", tmp, strerror(errno));
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	struct stat sb;
	if (lstat(dir, &sb) < 0) {
		log_error("cannot inspect directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode)) {
		log_error("'%s' is %s, not a directory of your own; refusing it. Remove it or "
			  "set [daemon] runtime_dir or data_dir to a private directory",
			  dir, S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a directory");
		return -EPERM;
	}
	if (sb.st_uid != getuid()) {
		log_error("directory '%s' belongs to uid %u, not to you (uid %u); refusing it. "
			  "Set [daemon] runtime_dir or data_dir to a directory of your own",
			  dir, (unsigned)sb.st_uid, (unsigned)getuid());
		return -EPERM;
	}
	if (sb.st_mode & 077) {
		log_error("directory '%s' is open to group or others (mode %04o); refusing it. "
			  "Make it private with 'chmod 700 %s'",
			  dir, (unsigned)(sb.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

static int take_lock(struct daemon *d)
{
	const char *path = d->cfg->lock_path;
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->lock_fd < 0) {
		log_error("cannot open lock file '%s': %s", path, strerror(errno));
		return -errno;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(d->lock_fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("another cairn daemon is already running for this user (pid %s, lock "
			  "'%s'); stop it first or use 'cairn status' to talk to it",
			  *pid ? pid : "unknown", path);
		close(d->lock_fd);
		d->lock_fd = -1;
		return CAIRN_E_BUSY;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)n, 0) < 0)
		log_warn("cannot write pid to '%s': %s", path, strerror(errno));
	return 0;
}

/* Starts the timers and watchers that are not the bus's or the server's. */
static void start_extras(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	int r;
	uint64_t wd_usec = sdnotify_watchdog_usec();
	if (wd_usec > 0) {
		(void)uv_timer_init(&d->loop, &d->watchdog); /* returns 0 */
		r = uv_timer_start(&d->watchdog, on_watchdog, 0,
				   wd_usec / 2000 ? wd_usec / 2000 : 1);
		if (r < 0)
			log_error(
				"cannot start the systemd watchdog timer: %s; systemd may restart "
				"the daemon",
				uv_strerror(r));
		d->watchdog_on = true;
	}
	if (cfg->retention_age_ms > 0 || cfg->retention_bytes > 0) {
		/* Timers only when something asked for them: an idle daemon sleeps. */
		(void)uv_timer_init(&d->loop, &d->retention); /* returns 0 */
		d->retention.data = d;
		r = uv_timer_start(&d->retention, on_retention, 0, 3600 * 1000);
		if (r < 0)
			log_error(
				"cannot start the retention timer: %s; old events are not removed",
				uv_strerror(r));
		d->retention_on = true;
	}
	d->spool_dir = xasprintf("%s/spool", cfg->data_dir);
	if (mkdir(d->spool_dir, 0700) < 0 && errno != EEXIST)
		log_warn("spool: cannot create %s: %s", d->spool_dir, strerror(errno));
	if ((r = uv_fs_event_init(&d->loop, &d->spool_watch)) == 0) {
		d->spool_watch.data = d;
		if ((r = uv_fs_event_start(&d->spool_watch, on_spool_change, d->spool_dir, 0)) == 0)
			d->spool_watch_on = true;
		else
			uv_close((uv_handle_t *)&d->spool_watch, NULL);
	}
	if (r < 0)
		log_warn("spool: cannot watch %s: %s; spooled events are imported at the next "
			 "start",
			 d->spool_dir, uv_strerror(r));
}

static void start_watcher(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	/* cairn's own directories are never watched: it would report its own
	 * writes (the database's WAL) forever. */
	char *config_own = config_own_path(cfg);
	const char *own_paths[] = {cfg->data_dir, cfg->runtime_dir, config_own, NULL};
	struct fswatch_config fwc = {.settle_ms = cfg->settle_ms,
				     .max_delay_ms = cfg->max_delay_ms,
				     .retry_ms = cfg->retry_ms,
				     .max_dirs = cfg->max_dirs,
				     .own_paths = own_paths};
	int fwerr = 0;
	d->fw = fswatch_new(&d->loop, &fwc, publish_local, d, &fwerr);
	free(config_own);
	if (!d->fw)
		log_warn("file watching is off: inotify: %s", err_str(fwerr));
	d->watches_path = xasprintf("%s/watches", cfg->data_dir);
	if (d->fw)
		watches_load(d);
}

int daemon_run(const struct config *cfg)
{
	struct daemon d;
	memset(&d, 0, sizeof d);
	d.cfg = cfg;
	d.lock_fd = -1;
	pthread_mutex_init(&d.kb_mu, NULL);
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Memory goes back to the system when clients let go of it: large
	 * buffers (replies, replays, big events) are mmap-ed and returned on
	 * free instead of fragmenting the heap (glibc raises its threshold
	 * after the first free otherwise), and the pool threads, which
	 * allocate what the loop frees, share two arenas instead of one each.
	 * The soak (bench/soak) shows the difference in RSS. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
	int r;

	if ((r = ensure_private_dir(cfg->runtime_dir)) || (r = ensure_private_dir(cfg->data_dir)))
		return r;
	if ((r = take_lock(&d)))
		return r;

	struct cairn_err err;
	struct store_config sc = {
		.path = cfg->db_path,
		.batch_max = cfg->batch_max,
		.commit_delay_ms = (int64_t)cfg->commit_delay_ms,
		.event_max_bytes = cfg->event_bytes,
		.retention_age_ms = cfg->retention_age_ms,
		.retention_bytes = cfg->retention_bytes,
		.reserve_bytes = cfg->reserve_bytes,
		.check_at_open = cfg->check_at_start,
	};
	if ((r = store_open(&sc, &d.st, &err))) {
		log_error("cannot open the event log: %s", err.msg);
		goto out_unlock;
	}
	if ((r = uv_loop_init(&d.loop)) < 0) {
		log_error("cannot create the event loop: %s", uv_strerror(r));
		goto out_unlock;
	}
	struct bus_config bc = {
		.ring_events = cfg->ring_events,
		.ring_bytes = cfg->ring_bytes,
		.queue_events = cfg->queue_events,
		.queue_bytes = cfg->queue_bytes,
		.replays = cfg->replays,
		.batch_max = cfg->batch_max,
		.event_bytes = cfg->event_bytes,
		.writer_queue_max = cfg->writer_queue_max,
		.writer_queue_bytes = cfg->writer_queue_bytes,
	};
	struct bus_hooks bh = {.ctx = &d, .drained = on_drained, .health = on_health};
	if ((r = bus_new(&d.loop, d.st, &bc, &bh, &d.bus))) {
		(void)uv_run(&d.loop, UV_RUN_DEFAULT); /* until every handle is closed */
		goto out_loop;
	}
	(void)uv_signal_init(&d.loop, &d.sigint); /* returns 0 */
	(void)uv_signal_init(&d.loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	if ((r = uv_signal_start(&d.sigint, on_signal, SIGINT)) < 0 ||
	    (r = uv_signal_start(&d.sigterm, on_signal, SIGTERM)) < 0)
		log_error("cannot catch SIGINT/SIGTERM: %s; stop the daemon with SIGKILL",
			  uv_strerror(r));
	struct server_hooks sh = {.ctx = &d,
				  .watch = watch_request,
				  .status = status_request,
				  .ask = ask_request,
				  .record = record_request};
	if ((r = server_new(&d.loop, cfg, d.bus, &sh, &d.srv))) {
		d.stopping = true;
		bus_stop(d.bus);
		finish_shutdown(&d);
		(void)uv_run(&d.loop, UV_RUN_DEFAULT); /* until every handle is closed */
		goto out_loop;
	}
	start_extras(&d);
	/* Before the spool: failures spooled while no daemon ran reach the
	 * services like live ones. */
	d.host = host_new(&d.loop, d.bus, cfg, services);
	if (cfg->model_url && *cfg->model_url && askd_new(&d.loop, cfg, publish_local, &d, &d.askd))
		log_warn("cairn ask will answer without the model server");
	spool_scan(&d);
	start_watcher(&d);
	log_info("listening on %s (log %s, last seq %lld)", cfg->socket_path, cfg->db_path,
		 (long long)bus_last_seq(d.bus));
	char *ready = xasprintf("READY=1\nSTATUS=listening on %s", cfg->socket_path);
	sdnotify_send(ready);
	free(ready);

	(void)uv_run(&d.loop, UV_RUN_DEFAULT); /* until every handle is closed */
	r = 0;

out_loop:
	store_close(d.st); /* joins the writer after its last commit */
	d.st = NULL;
	(void)uv_run(&d.loop, UV_RUN_NOWAIT); /* the close callbacks left */
	if (uv_loop_close(&d.loop) != 0)
		log_warn("the event loop closed with handles still open");
	host_free(d.host);
	askd_free(d.askd);
	kb_close(d.kb);
	pthread_mutex_destroy(&d.kb_mu);
	server_free(d.srv);
	int64_t last = d.bus ? bus_last_seq(d.bus) : 0;
	bus_free(d.bus);
	free(d.spool_dir);
	free(d.watches_path);
	while (d.spool_active) {
		struct spool_file *sf = d.spool_active;
		d.spool_active = sf->next;
		free(sf->path);
		free(sf);
	}
	if (r == 0)
		log_info("stopped cleanly at seq %lld", (long long)last);
out_unlock:
	store_close(d.st);
	if (r == 0)
		unlink(cfg->socket_path);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	return r;
}
