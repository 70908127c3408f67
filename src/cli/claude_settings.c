/* cairn's hooks in Claude Code's project settings: the JSON edits and the
 * file handling of `cairn hooks install|uninstall --agent claude`. The
 * rules (what is cairn's, what is kept beside the file, how it is written)
 * are in claude_settings.h. */
#include "cli/claude_settings.h"
#include "cli/cli.h"

#include "common/io.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const EVENTS[] = {"SessionStart", "SessionEnd"};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

/* What the .cairn-none record says when install made the directory too. */
#define NONE_MADE_DIR "made-directory: yes"

/* ---- layout ---------------------------------------------------------- */

static bool is_blank(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r')
			return false;
	return true;
}

void claude_settings_style_of(const char *t, size_t n, struct claude_settings_style *st)
{
	memset(st, 0, sizeof *st);
	if (is_blank(t, n)) {
		st->indent = 2;
		st->newline = true;
		return;
	}
	size_t a = 0, b = n;
	while (a < b && strchr(" \t\r\n", t[a]))
		a++;
	while (b > a && strchr(" \t\r\n", t[b - 1]))
		b--;
	st->newline = t[n - 1] == '\n';
	st->crlf = memmem(t, n, "\r\n", 2) != NULL;
	bool multiline = memchr(t + a, '\n', b - a) != NULL;
	bool in_str = false, esc = false, spaced = false;
	/* A raw line break cannot be inside a JSON string, so any '\n' of the
	 * document starts a line whose leading blanks are indentation. */
	for (size_t i = a; i < b; i++) {
		char c = t[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == ':' && i + 1 < b && t[i + 1] == ' ') {
			spaced = true;
		} else if (c == '\n' && multiline && st->indent == 0) {
			size_t j = i + 1, k = 0;
			while (j + k < b && (t[j + k] == ' ' || t[j + k] == '\t'))
				k++;
			if (k > 0 && j + k < b && t[j + k] != '\r' && t[j + k] != '\n') {
				st->tabs = t[j] == '\t';
				st->indent = st->tabs ? 1 : (int)(k > 31 ? 31 : k);
			}
		}
	}
	if (multiline && st->indent == 0)
		st->indent = 2; /* lines without indentation: jansson cannot */
	st->compact = !multiline && !spaced;
}

/* The fewest significant digits (at most 17) with which every real in v
 * reads back as the same double. */
static int real_digits(const json_t *v, int have)
{
	size_t i;
	const char *k;
	json_t *x;

	if (json_is_real(v)) {
		double d = json_real_value(v);
		for (int p = have; p < 17; p++) {
			char s[64];
			snprintf(s, sizeof s, "%.*g", p, d);
			if (strtod(s, NULL) == d)
				return p;
		}
		return 17;
	}
	if (json_is_array(v))
		json_array_foreach((json_t *)v, i, x)
			have = real_digits(x, have);
	else if (json_is_object(v))
		json_object_foreach((json_t *)v, k, x)
			have = real_digits(x, have);
	return have;
}

char *claude_settings_dump(const json_t *root, const struct claude_settings_style *st, size_t *len)
{
	size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(real_digits(root, 1));
	if (st->indent > 0)
		flags |= JSON_INDENT(st->tabs ? 1 : st->indent);
	else if (st->compact)
		flags |= JSON_COMPACT;
	char *s = json_dumps(root, flags);
	if (!s)
		abort(); /* only on allocation failure: root is a valid object */
	size_t n = strlen(s), o = 0;
	/* Each byte at most doubles ('\n' -> "\r\n"), plus the final line end. */
	char *out = xmalloc(2 * n + 3);
	bool bol = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\n') {
			if (st->crlf)
				out[o++] = '\r';
			out[o++] = '\n';
			bol = true;
			continue;
		}
		/* jansson indents one space per level here: one tab each. */
		if (bol && st->tabs && c == ' ') {
			out[o++] = '\t';
			continue;
		}
		bol = false;
		out[o++] = c;
	}
	if (st->newline) {
		if (st->crlf)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	free(s);
	*len = o;
	return out;
}

/* ---- what is cairn's ---------------------------------------------------- */

int claude_settings_parse(const char *text, size_t len, json_t **root, struct cairn_err *err)
{
	json_error_t je;
	json_t *j;

	*root = NULL;
	if (len > CLAUDE_SETTINGS_MAX)
		return cairn_err_set(err, CAIRN_E_TOOBIG, "", "it is larger than %u bytes",
				     CLAUDE_SETTINGS_MAX);
	/* An empty file is an empty object to Claude Code's users, if not to JSON. */
	if (is_blank(text, len)) {
		*root = json_object();
		return 0;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return cairn_err_set(err, CAIRN_E_PARSE, "",
				     "it is not valid JSON: %s (line %d, column %d)", je.text,
				     je.line, je.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return cairn_err_set(err, CAIRN_E_INVALID, "", "it is not a JSON object");
	}
	const json_t *hooks = json_object_get(j, "hooks");
	if (hooks && !json_is_object(hooks)) {
		json_decref(j);
		return cairn_err_set(err, CAIRN_E_INVALID, "hooks",
				     "its \"hooks\" is not an object");
	}
	for (size_t i = 0; i < N_EVENTS; i++) {
		const json_t *a = json_object_get(hooks, EVENTS[i]);
		if (a && !json_is_array(a)) {
			json_decref(j);
			return cairn_err_set(err, CAIRN_E_INVALID, EVENTS[i],
					     "its \"hooks\".\"%s\" is not an array", EVENTS[i]);
		}
	}
	*root = j;
	return 0;
}

char *claude_settings_command(const char *cairn_path, const char *event)
{
	char *q = cli_sh_quote(cairn_path);
	/* "|| true": even a missing binary or a configuration cairn cannot load
	 * (which exits 2 before the hook runs) must not fail the agent's hook. */
	char *s = xasprintf("%s hook claude %s || true", q, event);
	free(q);
	return s;
}

bool claude_settings_is_ours(const json_t *hook)
{
	static const char *const tails[] = {" hook claude session-start",
					    " hook claude session-end"};
	const char *cmd = json_string_value(json_object_get(hook, "command"));
	if (!cmd)
		return false;
	size_t n = strlen(cmd);
	if (n >= 8 && strcmp(cmd + n - 8, " || true") == 0)
		n -= 8;
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		size_t k = strlen(tails[i]);
		if (n > k && memcmp(cmd + n - k, tails[i], k) == 0)
			return true;
	}
	return false;
}

/* The group cairn adds for EVENTS[ev], or NULL when cairn_path is not
 * UTF-8 (a JSON string cannot hold it). New reference. */
static json_t *our_group(size_t ev, const char *cairn_path)
{
	char *cmd = claude_settings_command(cairn_path, ev == 0 ? "session-start" : "session-end");
	json_t *c = json_string(cmd);
	free(cmd);
	if (!c)
		return NULL;
	json_t *hook = json_pack("{s:s,s:o,s:i}", "type", "command", "command", c, "timeout",
				 ev == 0 ? CLAUDE_START_TIMEOUT_S : CLAUDE_END_TIMEOUT_S);
	if (ev == 0)
		return json_pack("{s:s,s:[o]}", "matcher", CLAUDE_START_MATCHER, "hooks", hook);
	return json_pack("{s:[o]}", "hooks", hook);
}

size_t claude_settings_count(const json_t *root)
{
	const json_t *hooks = json_object_get(root, "hooks");
	size_t n = 0, i, k;
	json_t *g, *h;

	for (size_t e = 0; e < N_EVENTS; e++) {
		const json_t *arr = json_object_get(hooks, EVENTS[e]);
		if (!json_is_array(arr))
			continue;
		json_array_foreach((json_t *)arr, i, g) {
			json_t *hs = json_object_get(g, "hooks");
			if (json_is_array(hs))
				json_array_foreach(hs, k, h)
					n += claude_settings_is_ours(h);
		}
	}
	return n;
}

/* The group of arr that holds cairn's hook entry, or NULL. */
static const json_t *group_of_ours(const json_t *arr)
{
	size_t i, k;
	json_t *g, *h;

	json_array_foreach((json_t *)arr, i, g) {
		json_t *hs = json_object_get(g, "hooks");
		if (!json_is_array(hs))
			continue;
		json_array_foreach(hs, k, h) {
			if (claude_settings_is_ours(h))
				return g;
		}
	}
	return NULL;
}

bool claude_settings_current(const json_t *root, const char *cairn_path)
{
	const json_t *hooks = json_object_get(root, "hooks");

	if (claude_settings_count(root) != N_EVENTS)
		return false;
	for (size_t e = 0; e < N_EVENTS; e++) {
		const json_t *g = group_of_ours(json_object_get(hooks, EVENTS[e]));
		json_t *want = our_group(e, cairn_path);
		bool same = g && want && json_equal(g, want);
		json_decref(want);
		if (!same)
			return false;
	}
	return true;
}

size_t claude_settings_strip(json_t *root)
{
	json_t *hooks = json_object_get(root, "hooks");
	size_t removed = 0;

	if (!json_is_object(hooks))
		return 0;
	for (size_t e = 0; e < N_EVENTS; e++) {
		json_t *arr = json_object_get(hooks, EVENTS[e]);
		size_t before = removed;
		if (!json_is_array(arr))
			continue;
		for (size_t i = json_array_size(arr); i-- > 0;) {
			json_t *hs = json_object_get(json_array_get(arr, i), "hooks");
			size_t r = 0;
			if (!json_is_array(hs))
				continue;
			for (size_t k = json_array_size(hs); k-- > 0;)
				if (claude_settings_is_ours(json_array_get(hs, k))) {
					json_array_remove(hs, k);
					r++;
				}
			if (r && json_array_size(hs) == 0)
				json_array_remove(arr, i);
			removed += r;
		}
		if (removed > before && json_array_size(arr) == 0)
			json_object_del(hooks, EVENTS[e]);
	}
	if (removed && json_object_size(hooks) == 0)
		json_object_del(root, "hooks");
	return removed;
}

int claude_settings_add(json_t *root, const char *cairn_path, struct cairn_err *err)
{
	json_t *groups[N_EVENTS];

	for (size_t e = 0; e < N_EVENTS; e++) {
		if (!(groups[e] = our_group(e, cairn_path))) {
			while (e-- > 0)
				json_decref(groups[e]);
			return cairn_err_set(err, CAIRN_E_INVALID, "",
					     "the path of the cairn binary, '%s', is not UTF-8, "
					     "which a JSON file cannot hold; install cairn under a "
					     "UTF-8 path",
					     cairn_path);
		}
	}
	json_t *hooks = json_object_get(root, "hooks");
	if (!hooks) {
		hooks = json_object();
		json_object_set_new(root, "hooks", hooks);
	}
	for (size_t e = 0; e < N_EVENTS; e++) {
		json_t *arr = json_object_get(hooks, EVENTS[e]);
		if (!arr) {
			arr = json_array();
			json_object_set_new(hooks, EVENTS[e], arr);
		}
		json_array_append_new(arr, groups[e]);
	}
	return 0;
}

/* A copy of v without empty event arrays and an empty "hooks", as compact
 * text with keys in order. Caller frees. */
static char *normalized(const json_t *v)
{
	json_t *c = json_deep_copy(v);
	json_t *hooks = json_object_get(c, "hooks");
	if (json_is_object(hooks)) {
		for (size_t e = 0; e < N_EVENTS; e++) {
			json_t *a = json_object_get(hooks, EVENTS[e]);
			if (json_is_array(a) && json_array_size(a) == 0)
				json_object_del(hooks, EVENTS[e]);
		}
		if (json_object_size(hooks) == 0)
			json_object_del(c, "hooks");
	}
	char *s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(c);
	if (!s)
		abort(); /* only on allocation failure */
	return s;
}

bool claude_settings_same(const json_t *a, const json_t *b)
{
	char *x = normalized(a), *y = normalized(b);
	bool same = strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* ---- files ------------------------------------------------------------- */

struct paths {
	char *dir;  /* <project>/.claude */
	char *file; /* <dir>/settings.json */
	char *orig; /* <file>.cairn-orig */
	char *none; /* <file>.cairn-none */
};

static void paths_init(struct paths *p, const char *project)
{
	p->dir = xasprintf("%s/.claude", project);
	p->file = xasprintf("%s/settings.json", p->dir);
	p->orig = xasprintf("%s" CLAUDE_ORIG_SUFFIX, p->file);
	p->none = xasprintf("%s" CLAUDE_NONE_SUFFIX, p->file);
}

static void paths_release(struct paths *p)
{
	free(p->dir);
	free(p->file);
	free(p->orig);
	free(p->none);
}

/* Reads the regular file path (not through a symlink: rewriting would
 * replace the link by a file) of at most max bytes. Sets *exists; a missing
 * file is not an error (then *text is NULL). Fills *st. */
static int read_file(const char *path, size_t max, bool *exists, char **text, size_t *len,
		     struct stat *st, struct cairn_err *err)
{
	*exists = false;
	*text = NULL;
	*len = 0;
	if (lstat(path, st) < 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_err_set(err, -errno, "", "cannot inspect '%s': %s", path,
				     strerror(errno));
	}
	*exists = true;
	if (S_ISLNK(st->st_mode))
		return cairn_err_set(
			err, CAIRN_E_NOTREG, "",
			"'%s' is a symbolic link, which cairn does not edit through; "
			"replace it by the file it points to, or add the hooks by hand "
			"(docs/cli.md shows them)",
			path);
	if (!S_ISREG(st->st_mode))
		return cairn_err_set(err, CAIRN_E_NOTREG, "",
				     "'%s' is not a regular file; move it away and try again",
				     path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return cairn_err_set(err, -errno, "", "cannot open '%s': %s", path,
				     strerror(errno));
	char *b = xmalloc(max + 2);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(b);
			return cairn_err_set(err, -e, "", "cannot read '%s': %s", path,
					     strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			close(fd);
			free(b);
			return cairn_err_set(err, CAIRN_E_TOOBIG, "",
					     "'%s' is larger than %zu bytes; is it really Claude "
					     "Code's settings?",
					     path, max);
		}
	}
	close(fd);
	b[n] = '\0';
	*text = b;
	*len = n;
	return 0;
}

static mode_t default_mode(void)
{
	mode_t m = umask(022);
	umask(m);
	return 0666 & ~m;
}

/* Writes data to a new file in dir (mode, and times when times is not
 * NULL), then renames it to path. Nothing changes at path on failure. */
static int write_replace(const char *dir, const char *path, const char *data, size_t len,
			 mode_t mode, const struct timespec *times, struct cairn_err *err)
{
	char *tmp = xasprintf("%s/.settings.json.cairn-XXXXXX", dir);
	int fd = mkostemp(tmp, O_CLOEXEC), r = 0;

	if (fd < 0) {
		r = cairn_err_set(err, -errno, "", "cannot create a file in '%s': %s", dir,
				  strerror(errno));
		free(tmp);
		return r;
	}
	if (io_write_all(fd, data, len) < 0) /* errno says why */
		goto out_fail;
	if (fchmod(fd, mode) < 0 || (times && futimens(fd, times) < 0) || fsync(fd) < 0)
		goto out_fail;
	if (close(fd) < 0) {
		fd = -1;
		goto out_fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out_fail;
	free(tmp);
	return 0;
out_fail:
	r = cairn_err_set(err, -errno, "", "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return r;
}

/* Keeps the file as it is now under orig: a second name for its inode, or
 * where the file system cannot link, a copy of text with its mode and times. */
static int keep_original(const struct paths *p, const char *text, size_t len, const struct stat *st,
			 struct cairn_err *err)
{
	if (link(p->file, p->orig) == 0)
		return 0;
	struct timespec times[2] = {st->st_atim, st->st_mtim};
	return write_replace(p->dir, p->orig, text, len, st->st_mode & 07777, times, err);
}

static int write_none(const struct paths *p, bool made_dir, struct cairn_err *err)
{
	char *s = xasprintf("# Kept by 'cairn hooks install --agent claude': there was no "
			    "settings.json here\n# before it, so 'cairn hooks uninstall --agent "
			    "claude' removes it again.\nmade-directory: %s\n",
			    made_dir ? "yes" : "no");
	int r = write_replace(p->dir, p->none, s, strlen(s), default_mode(), NULL, err);
	free(s);
	return r;
}

static bool exists_regular(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Prefixes err's message with the file it is about. */
static int about(struct cairn_err *err, int r, const char *path)
{
	if (err) {
		char msg[sizeof err->msg], field[sizeof err->field];
		memcpy(msg, err->msg, sizeof msg);
		memcpy(field, err->field, sizeof field);
		cairn_err_set(err, r, field, "cannot use '%s': %.*s; fix it and try again", path,
			      (int)(sizeof msg / 2), msg);
	}
	return r;
}

int claude_settings_install(const char *project, const char *cairn_path, struct cairn_err *err)
{
	struct paths p;
	struct stat dst, fst;
	bool had_file, made_dir = false, recorded = false;
	char *text = NULL, *out = NULL;
	size_t len, out_len;
	json_t *root = NULL;
	struct claude_settings_style style;
	int r;

	paths_init(&p, project);
	/* (A .claude that is a link to a directory is used as that directory.) */
	if (stat(p.dir, &dst) == 0) {
		if (!S_ISDIR(dst.st_mode)) {
			r = cairn_err_set(err, CAIRN_E_NOTREG, "",
					  "'%s' is not a directory; move it away and try again",
					  p.dir);
			goto out;
		}
	} else if (errno != ENOENT) {
		r = cairn_err_set(err, -errno, "", "cannot inspect '%s': %s", p.dir,
				  strerror(errno));
		goto out;
	} else {
		made_dir = true; /* below, once all else is known to work */
	}
	if ((r = read_file(p.file, CLAUDE_SETTINGS_MAX, &had_file, &text, &len, &fst, err)) < 0)
		goto out;
	if (had_file && (r = claude_settings_parse(text, len, &root, err)) < 0) {
		about(err, r, p.file);
		goto out;
	}
	if (!had_file)
		root = json_object();
	claude_settings_style_of(text ? text : "", len, &style);
	if (claude_settings_current(root, cairn_path)) {
		printf("  claude         already installed in %s\n", p.file);
		r = 0;
		goto out;
	}
	size_t had_ours = claude_settings_strip(root);
	if ((r = claude_settings_add(root, cairn_path, err)) < 0)
		goto out;
	out = claude_settings_dump(root, &style, &out_len);

	if (made_dir && mkdir(p.dir, 0777) < 0) {
		made_dir = false;
		r = cairn_err_set(err, -errno, "", "cannot create '%s': %s", p.dir,
				  strerror(errno));
		goto out;
	}
	/* What uninstall puts back: recorded at the first install only (while
	 * the file holds none of cairn's hooks); a record left from an earlier
	 * install whose hooks are gone no longer says how the file was. */
	if (!had_ours) {
		unlink(p.orig);
		unlink(p.none);
		r = had_file ? keep_original(&p, text, len, &fst, err)
			     : write_none(&p, made_dir, err);
		if (r < 0)
			goto out_undo_dir;
		recorded = true;
	}
	if ((r = write_replace(p.dir, p.file, out, out_len,
			       had_file ? fst.st_mode & 07777 : default_mode(), NULL, err)) < 0)
		goto out_undo_record;
	if (had_ours)
		printf("  claude         updated in %s (now calls %s)\n", p.file, cairn_path);
	else if (had_file)
		printf("  claude         installed in %s, beside your settings and hooks; the "
		       "file as it was is kept as settings.json" CLAUDE_ORIG_SUFFIX "\n",
		       p.file);
	else
		printf("  claude         installed in %s (a new file)\n", p.file);
	r = 0;
	goto out;
out_undo_record:
	if (recorded)
		unlink(had_file ? p.orig : p.none);
out_undo_dir:
	if (made_dir)
		rmdir(p.dir);
out:
	json_decref(root);
	free(out);
	free(text);
	paths_release(&p);
	return r;
}

/* True if the .cairn-none record says install made the directory. */
static bool none_made_dir(const char *none)
{
	bool exists;
	char *text;
	size_t len;
	struct stat st;
	if (read_file(none, 4096, &exists, &text, &len, &st, NULL) < 0 || !exists)
		return false;
	bool made = strstr(text, NONE_MADE_DIR) != NULL;
	free(text);
	return made;
}

/* Removes the .cairn-none record, and the directory if install made it and
 * nothing else is in it now. */
static void drop_none(const struct paths *p)
{
	bool made = none_made_dir(p->none);
	unlink(p->none);
	if (made)
		rmdir(p->dir); /* fails, as it should, when not empty */
}

/* The parsed .cairn-orig, or NULL when it cannot be read or parsed. */
static json_t *load_orig(const char *path)
{
	bool exists;
	char *text;
	size_t len;
	struct stat st;
	json_t *root = NULL;
	if (read_file(path, CLAUDE_SETTINGS_MAX, &exists, &text, &len, &st, NULL) == 0 && exists)
		claude_settings_parse(text, len, &root, NULL);
	free(text);
	return root;
}

int claude_settings_uninstall(const char *project, struct cairn_err *err)
{
	struct paths p;
	struct stat fst;
	bool had_file;
	char *text = NULL, *out = NULL;
	size_t len, out_len;
	json_t *root = NULL, *orig = NULL, *empty = NULL;
	struct claude_settings_style style;
	int r;

	paths_init(&p, project);
	bool have_orig = exists_regular(p.orig), have_none = exists_regular(p.none);
	if ((r = read_file(p.file, CLAUDE_SETTINGS_MAX, &had_file, &text, &len, &fst, err)) < 0)
		goto out;
	if (had_file && (r = claude_settings_parse(text, len, &root, err)) < 0) {
		about(err, r, p.file);
		goto out;
	}
	if (!had_file || claude_settings_strip(root) == 0) {
		if (have_none)
			drop_none(&p);
		printf("  claude         not installed in %s%s%s%s\n", p.file,
		       had_file ? "" : " (no such file)",
		       have_orig ? "; a copy of it from before an install is in " : "",
		       have_orig ? p.orig : "");
		r = 0;
		goto out;
	}
	if (have_orig && (orig = load_orig(p.orig)) && claude_settings_same(root, orig)) {
		/* Nothing but cairn's hooks changed: the original goes back,
		 * byte for byte, with its mode and times. */
		if (rename(p.orig, p.file) < 0) {
			r = cairn_err_set(err, -errno, "", "cannot put '%s' back as '%s': %s",
					  p.orig, p.file, strerror(errno));
			goto out;
		}
		printf("  claude         removed; %s is back exactly as it was before install\n",
		       p.file);
		r = 0;
		goto out;
	}
	empty = json_object();
	if (!have_orig && have_none && claude_settings_same(root, empty)) {
		if (unlink(p.file) < 0) {
			r = cairn_err_set(err, -errno, "", "cannot remove '%s': %s", p.file,
					  strerror(errno));
			goto out;
		}
		drop_none(&p);
		printf("  claude         removed %s (install had created it)\n", p.file);
		r = 0;
		goto out;
	}
	/* The file changed since install (or its record is gone): cairn's
	 * hooks go, everything else stays as it is now. */
	claude_settings_style_of(text, len, &style);
	out = claude_settings_dump(root, &style, &out_len);
	if ((r = write_replace(p.dir, p.file, out, out_len, fst.st_mode & 07777, NULL, err)) < 0)
		goto out;
	if (have_orig)
		unlink(p.orig);
	if (have_none)
		unlink(p.none);
	printf("  claude         removed cairn's hooks from %s; the file changed since install, "
	       "so the rest is kept as it is now (rewritten: see docs/cli.md)\n",
	       p.file);
	r = 0;
out:
	json_decref(empty);
	json_decref(orig);
	json_decref(root);
	free(out);
	free(text);
	paths_release(&p);
	return r;
}
