/* The file handling shared by cairn's edits of Claude Code's JSON files
 * (claude_json.h): layout, parsing, the records kept beside each file, and
 * install and uninstall across several files with nothing half done. */
#include "cli/claude_json.h"
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

void claude_json_style_of(const char *t, size_t n, struct claude_json_style *st)
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

char *claude_json_dump(const json_t *root, const struct claude_json_style *st, size_t *len)
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

/* ---- reading ------------------------------------------------------------ */

int claude_json_parse(const struct claude_json_kind *k, const char *text, size_t len, json_t **root,
		      struct cairn_err *err)
{
	json_error_t je;
	json_t *j;
	int r;

	*root = NULL;
	if (len > CLAUDE_JSON_MAX)
		return cairn_err_set(err, CAIRN_E_TOOBIG, "", "it is larger than %u bytes",
				     CLAUDE_JSON_MAX);
	/* An empty file is an empty object to Claude Code's users, if not to JSON. */
	if (is_blank(text, len)) {
		*root = json_object();
		return 0;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		return cairn_err_set(err, CAIRN_E_PARSE, "",
				     "it is not valid JSON: %s (line %d, column %d)", je.text,
				     je.line, je.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return cairn_err_set(err, CAIRN_E_INVALID, "",
				     "it is not a JSON object ({...}), which Claude Code expects");
	}
	if (k->check && (r = k->check(j, err)) < 0) {
		json_decref(j);
		return r;
	}
	*root = j;
	return 0;
}

/* A pruned copy of v as compact text with keys in order. Caller frees. */
static char *normalized(const struct claude_json_kind *k, const json_t *v)
{
	json_t *c = json_deep_copy(v);
	if (k->prune && json_is_object(c))
		k->prune(c);
	char *s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(c);
	if (!s)
		abort(); /* only on allocation failure */
	return s;
}

bool claude_json_same(const struct claude_json_kind *k, const json_t *a, const json_t *b)
{
	char *x = normalized(k, a), *y = normalized(k, b);
	bool same = strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* Reads the regular file path (not through a symlink: rewriting would
 * replace the link by a file) of at most max bytes. Sets *exists; a missing
 * file is not an error (then *text is NULL). Fills *st. part names what
 * cairn would add, for the message about a symlink. */
static int read_file(const char *path, size_t max, const char *part, bool *exists, char **text,
		     size_t *len, struct stat *st, struct cairn_err *err)
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
			"replace it by the file it points to, or add cairn's %s by hand "
			"(docs/cli.md shows how)",
			path, part);
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
					     "'%s' is larger than %zu bytes, which no file of "
					     "Claude Code's needs to be; fix it (or move it away) "
					     "and try again",
					     path, max);
		}
	}
	close(fd);
	b[n] = '\0';
	*text = b;
	*len = n;
	return 0;
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

/* ---- writing ------------------------------------------------------------ */

#ifdef CAIRN_TEST_BUILD
/* Tests make one step fail for one file, as if with EIO:
 * CAIRN_TEST_CLAUDE_FAIL=STEP:NAME, STEP "stage" (writing the new text
 * beside the file) or "commit" (renaming it into place), NAME the file's
 * name ("settings.json", ".mcp.json"). */
static bool test_fail(const char *step, const char *name)
{
	const char *v = getenv("CAIRN_TEST_CLAUDE_FAIL");
	size_t n = strlen(step);
	if (!v || strncmp(v, step, n) != 0 || v[n] != ':' || strcmp(v + n + 1, name) != 0)
		return false;
	errno = EIO;
	return true;
}
#else
static bool test_fail(const char *step, const char *name)
{
	(void)step;
	(void)name;
	return false;
}
#endif

static mode_t default_mode(void)
{
	mode_t m = umask(022);
	umask(m);
	return 0666 & ~m;
}

/* Writes data to a new file in dir (mode, and times when times is not
 * NULL), named after name, and returns its malloc'd path in *tmp. path is
 * the file it is meant to become, for the message. Nothing is left on
 * failure. */
static int write_temp(const char *dir, const char *name, const char *path, const char *data,
		      size_t len, mode_t mode, const struct timespec *times, char **tmp,
		      struct cairn_err *err)
{
	char *t = xasprintf("%s/.%s.cairn-XXXXXX", dir, name[0] == '.' ? name + 1 : name);
	int fd = mkostemp(t, O_CLOEXEC), r;

	*tmp = NULL;
	if (fd < 0) {
		r = cairn_err_set(err, -errno, "", "cannot create a file in '%s': %s", dir,
				  strerror(errno));
		free(t);
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
	*tmp = t;
	return 0;
out_fail:
	r = cairn_err_set(err, -errno, "", "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(t);
	free(t);
	return r;
}

/* write_temp(), then renames it to path. Nothing changes at path on failure. */
static int write_replace(const char *dir, const char *name, const char *path, const char *data,
			 size_t len, mode_t mode, const struct timespec *times,
			 struct cairn_err *err)
{
	char *tmp;
	int r = write_temp(dir, name, path, data, len, mode, times, &tmp, err);
	if (r < 0)
		return r;
	if (rename(tmp, path) < 0) {
		r = cairn_err_set(err, -errno, "", "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return r;
}

/* ---- one file --------------------------------------------------------- */

enum act {
	ACT_NONE,    /* nothing to change in the file */
	ACT_SKIP,    /* install: something not cairn's is in the way (why) */
	ACT_WRITE,   /* write out: install, or uninstall after the file changed */
	ACT_RESTORE, /* uninstall: rename the .cairn-orig back */
	ACT_REMOVE,  /* uninstall: remove the file install made */
};

struct claude_json_edit {
	const struct claude_json_kind *kind;
	const void *ctx;
	char *dir;  /* the directory of the file */
	char *name; /* the file's name in dir */
	char *file; /* dir/name */
	char *orig; /* <file>.cairn-orig */
	char *none; /* <file>.cairn-none */

	/* What was read. */
	bool exists;    /* the file exists */
	struct stat st; /* its lstat, when it does */
	char *text;     /* its content, NUL-terminated; NULL when none */
	size_t len;
	json_t *was; /* text parsed ({} when none) */

	/* What to do. */
	enum act act;
	bool need_dir;  /* install: dir is missing */
	bool had_ours;  /* install: the file held cairn's part (an update) */
	bool have_orig; /* uninstall: the records found beside the file */
	bool have_none;
	bool foreign;         /* uninstall: something not cairn's is where it goes */
	struct cairn_err why; /* ACT_SKIP: what is in the way */
	char *out;            /* ACT_WRITE: the new text */
	size_t out_len;

	/* What was done, to undo it. */
	bool made_dir;  /* install made dir */
	bool recorded;  /* install wrote orig (exists) or none (!exists) */
	char *tmp;      /* the new text beside the file, not renamed yet */
	bool committed; /* tmp was renamed to file */
};

struct claude_json_edit *claude_json_edit_new(const struct claude_json_kind *k, const void *ctx,
					      const char *dir, const char *name)
{
	struct claude_json_edit *e = xmalloc(sizeof *e);
	memset(e, 0, sizeof *e);
	e->kind = k;
	e->ctx = ctx;
	e->dir = xstrdup(dir);
	e->name = xstrdup(name);
	e->file = xasprintf("%s/%s", dir, name);
	e->orig = xasprintf("%s" CLAUDE_ORIG_SUFFIX, e->file);
	e->none = xasprintf("%s" CLAUDE_NONE_SUFFIX, e->file);
	return e;
}

void claude_json_edit_free(struct claude_json_edit *e)
{
	if (!e)
		return;
	free(e->dir);
	free(e->name);
	free(e->file);
	free(e->orig);
	free(e->none);
	free(e->text);
	json_decref(e->was);
	free(e->out);
	free(e->tmp);
	free(e);
}

const json_t *claude_json_edit_was(const struct claude_json_edit *e)
{
	return e->was;
}

bool claude_json_edit_installed(const struct claude_json_edit *e)
{
	return e->was && (e->act == ACT_NONE || e->act == ACT_WRITE);
}

/* Reads and parses the file into e->exists, st, text, len and was. */
static int read_in(struct claude_json_edit *e, struct cairn_err *err)
{
	int r = read_file(e->file, CLAUDE_JSON_MAX, e->kind->part, &e->exists, &e->text, &e->len,
			  &e->st, err);
	if (r < 0)
		return r;
	if (!e->exists) {
		e->was = json_object();
		return 0;
	}
	if ((r = claude_json_parse(e->kind, e->text, e->len, &e->was, err)) < 0)
		return about(err, r, e->file);
	return 0;
}

/* The new text of root, laid out as the file was (or as a new file). */
static void set_out(struct claude_json_edit *e, const json_t *root)
{
	struct claude_json_style style;
	claude_json_style_of(e->text ? e->text : "", e->len, &style);
	e->out = claude_json_dump(root, &style, &e->out_len);
}

/* ---- install ----------------------------------------------------------- */

/* Reads e's file and decides what install does to it; changes nothing. */
static int plan_install(struct claude_json_edit *e, struct cairn_err *err)
{
	const struct claude_json_kind *k = e->kind;
	struct stat dst;
	json_t *root;
	int r;

	/* (A directory reached through a symlink is used as that directory.) */
	if (stat(e->dir, &dst) == 0) {
		if (!S_ISDIR(dst.st_mode))
			return cairn_err_set(err, CAIRN_E_NOTREG, "",
					     "'%s' is not a directory; move it away and try again",
					     e->dir);
	} else if (errno != ENOENT) {
		return cairn_err_set(err, -errno, "", "cannot inspect '%s': %s", e->dir,
				     strerror(errno));
	} else {
		e->need_dir = true;
	}
	if ((r = read_in(e, err)) < 0)
		return r;
	if (k->current(e->was, e->ctx)) {
		e->act = ACT_NONE;
		return 0;
	}
	if (k->blocked && k->blocked(e->was, e->ctx, &e->why) < 0) {
		e->act = ACT_SKIP;
		return 0;
	}
	root = json_deep_copy(e->was);
	if ((r = k->put(root, e->ctx, &e->had_ours, err)) == 0) {
		set_out(e, root);
		e->act = ACT_WRITE;
	}
	json_decref(root);
	return r;
}

/* Keeps the file as it is now under orig: a second name for its inode, or
 * where the file system cannot link, a copy of its text with its mode and
 * times. */
static int keep_original(const struct claude_json_edit *e, struct cairn_err *err)
{
	if (link(e->file, e->orig) == 0)
		return 0;
	struct timespec times[2] = {e->st.st_atim, e->st.st_mtim};
	return write_replace(e->dir, e->name, e->orig, e->text, e->len, e->st.st_mode & 07777,
			     times, err);
}

static int write_none(const struct claude_json_edit *e, struct cairn_err *err)
{
	char *s = xasprintf("# Kept by 'cairn hooks install --agent claude': there was no "
			    "%s here\n# before it, so 'cairn hooks uninstall --agent "
			    "claude' removes it again.\nmade-directory: %s\n",
			    e->name, e->made_dir ? "yes" : "no");
	int r = write_replace(e->dir, e->name, e->none, s, strlen(s), default_mode(), NULL, err);
	free(s);
	return r;
}

/* Undoes what stage() did and commit() did not take over: the new text,
 * the record, the directory. */
static void unstage(struct claude_json_edit *e)
{
	if (e->tmp) {
		unlink(e->tmp);
		free(e->tmp);
		e->tmp = NULL;
	}
	if (e->recorded)
		unlink(e->exists ? e->orig : e->none);
	e->recorded = false;
	if (e->made_dir)
		rmdir(e->dir); /* fails, as it should, when not empty */
	e->made_dir = false;
}

/* Makes the directory, keeps what uninstall needs, and writes the new text
 * beside the file; the file itself does not change yet. */
static int stage(struct claude_json_edit *e, struct cairn_err *err)
{
	int r;

	if (e->need_dir) {
		if (mkdir(e->dir, 0777) < 0)
			return cairn_err_set(err, -errno, "", "cannot create '%s': %s", e->dir,
					     strerror(errno));
		e->made_dir = true;
	}
	/* What uninstall puts back: recorded at the first install only (while
	 * the file holds none of cairn's part); a record left from an earlier
	 * install whose part is gone no longer says how the file was. */
	if (!e->had_ours) {
		unlink(e->orig);
		unlink(e->none);
		r = e->exists ? keep_original(e, err) : write_none(e, err);
		if (r < 0)
			goto out_undo;
		e->recorded = true;
	}
	if (test_fail("stage", e->name)) {
		r = cairn_err_set(err, -errno, "", "cannot write '%s': %s", e->file,
				  strerror(errno));
		goto out_undo;
	}
	r = write_temp(e->dir, e->name, e->file, e->out, e->out_len,
		       e->exists ? e->st.st_mode & 07777 : default_mode(), NULL, &e->tmp, err);
	if (r < 0)
		goto out_undo;
	return 0;
out_undo:
	unstage(e);
	return r;
}

static int commit(struct claude_json_edit *e, struct cairn_err *err)
{
	if (test_fail("commit", e->name) || rename(e->tmp, e->file) < 0) {
		int en = errno;
		return cairn_err_set(err, -en, "", "cannot write '%s': %s", e->file, strerror(en));
	}
	free(e->tmp);
	e->tmp = NULL;
	e->committed = true;
	return 0;
}

/* Puts a committed file back as it was: the kept original (the same inode),
 * no file, or the text it had with its mode and times. Says so on stderr
 * when that fails too. */
static void uncommit(struct claude_json_edit *e, const char *prog)
{
	struct cairn_err err;
	int r = 0;

	if (e->recorded && e->exists) {
		if (rename(e->orig, e->file) < 0)
			r = cairn_err_set(&err, -errno, "", "cannot put '%s' back as '%s': %s",
					  e->orig, e->file, strerror(errno));
	} else if (e->recorded) {
		if (unlink(e->file) < 0)
			r = cairn_err_set(&err, -errno, "", "cannot remove '%s': %s", e->file,
					  strerror(errno));
		else
			unlink(e->none);
	} else {
		struct timespec times[2] = {e->st.st_atim, e->st.st_mtim};
		r = write_replace(e->dir, e->name, e->file, e->text, e->len, e->st.st_mode & 07777,
				  times, &err);
	}
	if (r < 0) {
		fprintf(stderr,
			"%s: %s; cairn's %s may still be in it: 'cairn hooks uninstall --agent "
			"claude' takes them out\n",
			prog, err.msg, e->kind->part);
		/* Keep what is left as it is: the record (uninstall needs it). */
		e->recorded = e->made_dir = false;
		return;
	}
	e->recorded = false; /* consumed, or never made */
	e->committed = false;
	if (e->made_dir)
		rmdir(e->dir);
	e->made_dir = false;
}

static void report_install(const struct claude_json_edit *e, const char *cairn_path,
			   const char *prog)
{
	const char *l = e->kind->label;

	switch (e->act) {
	case ACT_NONE: printf("  %-14s already installed in %s\n", l, e->file); break;
	case ACT_SKIP: fprintf(stderr, "%s: %s: %s\n", prog, e->file, e->why.msg); break;
	case ACT_WRITE:
		if (e->had_ours)
			printf("  %-14s updated in %s (now calls %s)\n", l, e->file, cairn_path);
		else if (e->exists)
			printf("  %-14s installed in %s, beside %s; the file as it was is kept "
			       "as %s" CLAUDE_ORIG_SUFFIX "\n",
			       l, e->file, e->kind->beside, e->name);
		else
			printf("  %-14s installed in %s (a new file)\n", l, e->file);
		break;
	default: break;
	}
}

int claude_json_install(struct claude_json_edit *const *edits, size_t n, const char *cairn_path,
			const char *prog, struct cairn_err *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++)
		if ((r = plan_install(edits[i], err)) < 0)
			return r;
	for (i = 0; i < n; i++)
		if (edits[i]->act == ACT_WRITE && (r = stage(edits[i], err)) < 0)
			goto out_undo;
	for (i = 0; i < n; i++)
		if (edits[i]->act == ACT_WRITE && (r = commit(edits[i], err)) < 0)
			goto out_undo;
	for (i = 0; i < n; i++)
		report_install(edits[i], cairn_path, prog);
	return 0;
out_undo:
	for (i = n; i-- > 0;) {
		if (edits[i]->committed)
			uncommit(edits[i], prog);
		unstage(edits[i]);
	}
	return r;
}

/* ---- uninstall --------------------------------------------------------- */

/* The parsed .cairn-orig, or NULL when it cannot be read or parsed. */
static json_t *load_orig(const struct claude_json_edit *e)
{
	bool exists;
	char *text;
	size_t len;
	struct stat st;
	json_t *root = NULL;
	if (read_file(e->orig, CLAUDE_JSON_MAX, e->kind->part, &exists, &text, &len, &st, NULL) ==
		    0 &&
	    exists)
		claude_json_parse(e->kind, text, len, &root, NULL);
	free(text);
	return root;
}

/* Reads e's file and decides what uninstall does to it; changes nothing. */
static int plan_uninstall(struct claude_json_edit *e, struct cairn_err *err)
{
	const struct claude_json_kind *k = e->kind;
	json_t *root, *orig = NULL, *empty = NULL;
	int r;

	e->have_orig = exists_regular(e->orig);
	e->have_none = exists_regular(e->none);
	if ((r = read_in(e, err)) < 0)
		return r;
	root = json_deep_copy(e->was);
	if (!e->exists || k->strip(root, e->ctx) == 0) {
		e->act = ACT_NONE;
		e->foreign = e->exists && k->blocked && k->blocked(root, e->ctx, NULL) < 0;
	} else if (e->have_orig && (orig = load_orig(e)) && claude_json_same(k, root, orig)) {
		e->act = ACT_RESTORE;
	} else if (!e->have_orig && e->have_none &&
		   claude_json_same(k, root, empty = json_object())) {
		e->act = ACT_REMOVE;
	} else {
		set_out(e, root);
		e->act = ACT_WRITE;
	}
	json_decref(empty);
	json_decref(orig);
	json_decref(root);
	return 0;
}

/* True if the .cairn-none record says install made the directory. */
static bool none_made_dir(const struct claude_json_edit *e)
{
	bool exists;
	char *text;
	size_t len;
	struct stat st;
	if (read_file(e->none, 4096, e->kind->part, &exists, &text, &len, &st, NULL) < 0 || !exists)
		return false;
	bool made = strstr(text, NONE_MADE_DIR) != NULL;
	free(text);
	return made;
}

/* Removes the .cairn-none record, and the directory if install made it and
 * nothing else is in it now. */
static void drop_none(const struct claude_json_edit *e)
{
	bool made = none_made_dir(e);
	unlink(e->none);
	if (made)
		rmdir(e->dir); /* fails, as it should, when not empty */
}

/* Does what plan_uninstall() decided (the new text, if any, staged), and
 * prints one line. */
static int apply_uninstall(struct claude_json_edit *e, struct cairn_err *err)
{
	const char *l = e->kind->label;

	switch (e->act) {
	case ACT_NONE:
		if (e->have_none)
			drop_none(e);
		printf("  %-14s not installed in %s%s%s%s%s%s%s\n", l, e->file,
		       e->exists ? "" : " (no such file)", e->foreign ? " (the " : "",
		       e->foreign ? e->kind->part : "",
		       e->foreign ? " named \"cairn\" there is not cairn's; left alone)" : "",
		       e->have_orig ? "; a copy of it from before an install is in " : "",
		       e->have_orig ? e->orig : "");
		return 0;
	case ACT_RESTORE:
		/* Nothing but cairn's part changed: the original goes back, byte
		 * for byte, with its mode and times. */
		if (rename(e->orig, e->file) < 0)
			return cairn_err_set(err, -errno, "", "cannot put '%s' back as '%s': %s",
					     e->orig, e->file, strerror(errno));
		printf("  %-14s removed; %s is back exactly as it was before install\n", l,
		       e->file);
		return 0;
	case ACT_REMOVE:
		if (unlink(e->file) < 0)
			return cairn_err_set(err, -errno, "", "cannot remove '%s': %s", e->file,
					     strerror(errno));
		drop_none(e);
		printf("  %-14s removed %s (install had created it)\n", l, e->file);
		return 0;
	case ACT_WRITE:
		/* The file changed since install (or its record is gone): cairn's
		 * part goes, everything else stays as it is now. */
		if (rename(e->tmp, e->file) < 0)
			return cairn_err_set(err, -errno, "", "cannot write '%s': %s", e->file,
					     strerror(errno));
		free(e->tmp);
		e->tmp = NULL;
		if (e->have_orig)
			unlink(e->orig);
		if (e->have_none)
			unlink(e->none);
		printf("  %-14s removed cairn's %s from %s; the file changed since install, so "
		       "the rest is kept as it is now (rewritten: see docs/cli.md)\n",
		       l, e->kind->part, e->file);
		return 0;
	default: return 0;
	}
}

int claude_json_uninstall(struct claude_json_edit *const *edits, size_t n, struct cairn_err *err)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++)
		if ((r = plan_uninstall(edits[i], err)) < 0)
			return r;
	/* The new texts first: a file that cannot be written then changes none. */
	for (i = 0; i < n; i++) {
		struct claude_json_edit *e = edits[i];
		if (e->act == ACT_WRITE &&
		    (r = write_temp(e->dir, e->name, e->file, e->out, e->out_len,
				    e->st.st_mode & 07777, NULL, &e->tmp, err)) < 0)
			goto out_unstage;
	}
	for (i = 0; i < n; i++)
		if ((r = apply_uninstall(edits[i], err)) < 0)
			goto out_unstage;
	return 0;
out_unstage:
	for (i = 0; i < n; i++)
		unstage(edits[i]);
	return r;
}
