/* cairn hooks install|uninstall: puts cairn's git hooks into a repository
 * and takes them out again (with --agent claude, cairn's hooks in Claude
 * Code's project settings and its MCP server in the project's .mcp.json
 * instead: src/cli/claude_json.h). A hook the
 * user already has is never overwritten: it is kept under another name,
 * cairn's hook runs it first and returns its status, and uninstall puts it
 * back exactly as it was.
 *
 * In the hooks directory (core.hooksPath when set, else <commondir>/hooks,
 * shared by every worktree), for each NAME of HOOK_NAMES:
 *
 *   NAME                 cairn's /bin/sh script, marked by HOOK_MARKER
 *   NAME.cairn-chained   the hook that was there before (the same inode:
 *                        content, mode and times untouched), run first with
 *                        the same arguments and input
 */
#include "cli/claude_mcp.h"
#include "cli/claude_settings.h"
#include "cli/cli.h"
#include "cli/client.h"

#include "common/gitdl.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const HOOK_NAMES[] = {"post-commit", "post-checkout", "post-merge",
					 "post-rewrite"};
#define N_HOOKS (sizeof HOOK_NAMES / sizeof HOOK_NAMES[0])

/* The line that marks a hook as cairn's; never change it, or uninstall
 * stops recognising hooks installed by older versions. */
#define HOOK_MARKER "# cairn-git-hook:"
#define CHAINED_SUFFIX ".cairn-chained"
/* No hook of ours is this large; a larger file is the user's. */
#define HOOK_READ_MAX (64u * 1024)

/* The first executable "cairn" in the directories of PATH, as a path
 * (absolute; not resolved through symlinks), or NULL. */
static char *path_cairn(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *copy = xstrdup(path), *save = NULL;
	char *found = NULL;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue; /* a relative PATH entry means nothing to git's hooks */
		char *p = xasprintf("%s/cairn", d);
		struct stat sb;
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

/* The script installed as hook name, calling the cairn binary at
 * cairn_path. Only post-rewrite has input (one line per rewritten commit),
 * which both the chained hook and cairn need: the script keeps it in a
 * variable (exactly, trailing newlines included) and gives each a copy.
 * Whatever cairn does, the script's status is the chained hook's. */
static char *hook_script(const char *name, const char *cairn_path)
{
	char *q = cli_sh_quote(cairn_path);
	bool input = strcmp(name, "post-rewrite") == 0;
	char *s = xasprintf(
		"#!/bin/sh\n" HOOK_MARKER " installed by 'cairn hooks install'; 'cairn hooks "
		"uninstall'\n"
		"# removes it and puts back the hook that was here before. That hook, if any, is\n"
		"# %s" CHAINED_SUFFIX
		": it runs first, with the same arguments and input, and this\n"
		"# script exits with its status. Then cairn logs a git event; nothing it does\n"
		"# (even a missing binary) changes what git sees.\n"
		"case $0 in */*) dir=${0%%/*} ;; *) dir=. ;; esac\n"
		"chained=\"$dir/%s" CHAINED_SUFFIX "\"\n"
		"status=0\n"
		"%s"
		"if [ -x \"$chained\" ]; then\n"
		"\t%s\"$chained\" \"$@\"\n"
		"\tstatus=$?\n"
		"fi\n"
		"%s%s hook git %s \"$@\" %s>/dev/null 2>&1 || true\n"
		"exit $status\n",
		name, name, input ? "input=$(cat; echo .)\ninput=${input%.}\n" : "",
		input ? "printf '%s' \"$input\" | " : "", input ? "printf '%s' \"$input\" | " : "",
		q, name, input ? "" : "</dev/null ");
	free(q);
	return s;
}

/* Reads at most max bytes of path (following symlinks) into a malloc'd
 * NUL-terminated buffer. Returns 0 or -errno; a file over max is -EFBIG.
 * (O_NONBLOCK: a FIFO where a hook should be must not hang us.) */
static int read_small(const char *path, size_t max, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	size_t n = 0;
	char *b;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	b = xmalloc(max + 2);
	for (;;) {
		ssize_t r = read(fd, b + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			close(fd);
			free(b);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			close(fd);
			free(b);
			return -EFBIG;
		}
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* What is at a hook's path. */
struct hook_file {
	bool exists;  /* something is there (even a dangling symlink) */
	bool marked;  /* its content (through symlinks) has HOOK_MARKER */
	bool ours;    /* a regular file with HOOK_MARKER */
	bool current; /* ours, executable, and exactly the script we would write */
};

static int hook_file_inspect(struct hook_file *hf, const char *path, const char *script)
{
	struct stat st;
	char *buf = NULL;
	size_t len;

	memset(hf, 0, sizeof *hf);
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	hf->exists = true;
	if (read_small(path, HOOK_READ_MAX, &buf, &len) < 0)
		return 0;
	hf->marked = strstr(buf, HOOK_MARKER) != NULL;
	hf->ours = hf->marked && S_ISREG(st.st_mode);
	hf->current = hf->ours && (st.st_mode & 0111) == 0111 && len == strlen(script) &&
		      memcmp(buf, script, len) == 0;
	free(buf);
	return 0;
}

static bool path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Writes script to a new temporary file in dir, mode 0755. Returns its
 * malloc'd path, or NULL after printing why. */
static char *write_temp(const char *dir, const char *name, const char *script)
{
	char *tmp = xasprintf("%s/.%s.cairn-XXXXXX", dir, name);
	int fd = mkostemp(tmp, O_CLOEXEC);
	size_t len = strlen(script), off = 0;

	if (fd < 0) {
		fprintf(stderr, "cairn hooks: cannot create a file in '%s': %s\n", dir,
			strerror(errno));
		free(tmp);
		return NULL;
	}
	while (off < len) {
		ssize_t r = write(fd, script + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out_fail;
		off += (size_t)r;
	}
	if (fchmod(fd, 0755) < 0)
		goto out_fail;
	if (close(fd) < 0) {
		fd = -1;
		goto out_fail;
	}
	return tmp;
out_fail:
	fprintf(stderr, "cairn hooks: cannot write '%s': %s\n", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return NULL;
}

/* Installs hook name in dir. Prints one line saying what it did. Returns 0
 * or an exit code. */
static int install_one(const char *dir, const char *name, const char *cairn_path)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *chained = xasprintf("%s/%s" CHAINED_SUFFIX, dir, name);
	char *script = hook_script(name, cairn_path);
	char *tmp = NULL;
	struct hook_file hf;
	bool linked = false, renamed = false;
	int r, rc = EXIT_IO;

	if ((r = hook_file_inspect(&hf, path, script)) < 0) {
		fprintf(stderr, "cairn hooks: cannot inspect '%s': %s\n", path, strerror(-r));
		goto out_free;
	}
	if (hf.current) {
		printf("  %-14s already installed\n", name);
		rc = EXIT_OK;
		goto out_free;
	}
	if (hf.marked && !hf.ours) {
		/* Chained, it would run itself as its own chained hook, forever. */
		fprintf(stderr,
			"cairn hooks: %s: '%s' is a symbolic link to a cairn hook; remove it and "
			"run 'cairn hooks install' again\n",
			name, path);
		goto out_free;
	}
	bool had_chained = path_exists(chained);
	if (hf.exists && !hf.ours && had_chained) {
		fprintf(stderr,
			"cairn hooks: %s: both '%s' (not cairn's) and '%s' (a hook cairn kept "
			"earlier) exist; move one of them away and run 'cairn hooks install' "
			"again\n",
			name, path, chained);
		goto out_free;
	}
	if (!(tmp = write_temp(dir, name, script)))
		goto out_free;
	if (hf.exists && !hf.ours) {
		/* A second name for the user's hook keeps its inode (content, mode,
		 * times) and leaves no moment without a hook; rename if the file
		 * system cannot link. */
		if (linkat(AT_FDCWD, path, AT_FDCWD, chained, 0) == 0) {
			linked = true;
		} else if (errno != EEXIST && rename(path, chained) == 0) {
			renamed = true;
		} else {
			fprintf(stderr, "cairn hooks: cannot keep your hook '%s' as '%s': %s\n",
				path, chained, strerror(errno));
			goto out_unlink;
		}
	}
	if (rename(tmp, path) < 0) {
		fprintf(stderr, "cairn hooks: cannot install '%s': %s\n", path, strerror(errno));
		if (linked)
			unlink(chained);
		else if (renamed && rename(chained, path) < 0)
			fprintf(stderr,
				"cairn hooks: your hook is now '%s'; move it back to '%s'\n",
				chained, path);
		goto out_unlink;
	}
	if (hf.ours)
		printf("  %-14s updated (now calls %s)\n", name, cairn_path);
	else if (hf.exists)
		printf("  %-14s installed; your hook runs first (kept as %s" CHAINED_SUFFIX ")\n",
		       name, name);
	else if (had_chained)
		printf("  %-14s installed; the hook kept earlier (%s" CHAINED_SUFFIX
		       ") runs first\n",
		       name, name);
	else
		printf("  %-14s installed\n", name);
	rc = EXIT_OK;
	goto out_free;
out_unlink:
	unlink(tmp);
out_free:
	free(tmp);
	free(script);
	free(chained);
	free(path);
	return rc;
}

/* Removes hook name from dir if it is cairn's, putting back the hook it
 * chained to. Prints one line. Returns 0 or an exit code. */
static int uninstall_one(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *chained = xasprintf("%s/%s" CHAINED_SUFFIX, dir, name);
	struct hook_file hf;
	int r, rc = EXIT_IO;

	if ((r = hook_file_inspect(&hf, path, "")) < 0) {
		fprintf(stderr, "cairn hooks: cannot inspect '%s': %s\n", path, strerror(-r));
		goto out_free;
	}
	bool have_chained = path_exists(chained);
	if (hf.ours || (!hf.exists && have_chained)) {
		/* rename() over ours: there is never a moment without a hook. */
		if (have_chained && rename(chained, path) < 0) {
			fprintf(stderr, "cairn hooks: cannot put '%s' back as '%s': %s\n", chained,
				path, strerror(errno));
			goto out_free;
		}
		if (!have_chained && unlink(path) < 0) {
			fprintf(stderr, "cairn hooks: cannot remove '%s': %s\n", path,
				strerror(errno));
			goto out_free;
		}
		printf("  %-14s %s\n", name,
		       !have_chained ? "removed"
		       : hf.ours     ? "removed; your earlier hook is back in its place"
				     : "cairn's hook was already gone; your earlier hook is back");
	} else if (hf.exists && have_chained) {
		printf("  %-14s not cairn's, left alone; '%s' is a hook cairn kept earlier: "
		       "restore it by hand if you still want it\n",
		       name, chained);
	} else {
		printf("  %-14s not installed%s\n", name,
		       hf.exists ? " (the hook there is not cairn's; left alone)" : "");
	}
	rc = EXIT_OK;
out_free:
	free(chained);
	free(path);
	return rc;
}

/* Creates dir and its missing parents (mode 0755, as git does). */
static int mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	int r = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return r;
}

static const char *config_level_name(git_config_level_t level)
{
	switch (level) {
	case GIT_CONFIG_LEVEL_PROGRAMDATA:
	case GIT_CONFIG_LEVEL_SYSTEM: return "the system";
	case GIT_CONFIG_LEVEL_XDG:
	case GIT_CONFIG_LEVEL_GLOBAL: return "your global";
	default: return NULL;
	}
}

/* The hooks directory git uses for repo: core.hooksPath (relative to the
 * top of the work tree, where git runs hooks) or <commondir>/hooks. Sets
 * *shared to the config level's name when core.hooksPath comes from outside
 * the repository. Returns a malloc'd path or NULL after printing why. */
static char *hooks_dir(git_repository *repo, const char **shared)
{
	git_config *cfg = NULL;
	git_config_entry *e = NULL;
	git_buf b = {0};
	char *dir = NULL;

	*shared = NULL;
	if (git_repository_config_snapshot(&cfg, repo) == 0 &&
	    git_config_get_entry(&e, cfg, "core.hooksPath") == 0 && e->value[0]) {
		if (git_config_get_path(&b, cfg, "core.hooksPath") < 0) {
			fprintf(stderr, "cairn hooks: cannot read core.hooksPath '%s': %s\n",
				e->value, git_error_last() ? git_error_last()->message : "?");
			goto out;
		}
		const char *base = git_repository_workdir(repo);
		if (b.ptr[0] == '/' || !base)
			dir = xstrdup(b.ptr);
		else
			dir = xasprintf("%s%s", base, b.ptr);
		*shared = config_level_name(e->level);
	} else if (git_repository_item_path(&b, repo, GIT_REPOSITORY_ITEM_HOOKS) == 0) {
		dir = xstrdup(b.ptr);
	} else {
		fprintf(stderr, "cairn hooks: cannot find the hooks directory of '%s': %s\n",
			git_repository_path(repo),
			git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
out:
	git_buf_dispose(&b);
	git_config_entry_free(e);
	git_config_free(cfg);
	return dir;
}

const struct cli_cmd cli_hooks = {
	"hooks", "install|uninstall [--repo DIR] [--agent claude [--project DIR]]",
	"Installs (or removes) git hooks that log git.commit, git.checkout, git.merge and\n"
	"git.rewrite events. A hook you already have is kept as NAME.cairn-chained and runs\n"
	"first, with the same arguments and input; uninstall puts it back exactly.\n"
	"With --agent claude, it installs (or removes) Claude Code hooks instead, in the\n"
	"project's .claude/settings.json: at session start the agent gets cairn's brief, and\n"
	"agent.started and agent.ended events are logged. It also registers 'cairn mcp' as\n"
	"the MCP server \"cairn\" in the project's .mcp.json (a server of that name that is\n"
	"not cairn's is left alone). Other settings, hooks and servers are kept; uninstall\n"
	"puts each file back exactly as it was when nothing else changed in it.\n"
	"  --repo DIR       the repository (default: the one around the current directory)\n"
	"  --agent claude   the agent whose hooks to install; 'claude' (Claude Code) is the\n"
	"                   one known\n"
	"  --project DIR    the same as --repo: the project is the top of its work tree\n",
	cmd_hooks, false};

static const struct option hooks_opts[] = {
	{"repo", required_argument, NULL, 'r'},
	{"project", required_argument, NULL, 'p'},
	{"agent", required_argument, NULL, 'a'},
	{NULL, 0, NULL, 0},
};

/* --agent claude: the Claude Code settings and the MCP configuration of
 * repo's work tree, settings first (the MCP edit asks which binary the
 * hooks call). */
static int agent_claude(git_repository *repo, bool install, const char *exe)
{
	struct cairn_err err;
	char *top = xstrdup(git_repository_workdir(repo));
	size_t n = strlen(top);
	int r;

	while (n > 1 && top[n - 1] == '/')
		top[--n] = '\0';
	char *dir = xasprintf("%s/.claude", top);
	struct claude_json_edit *edits[2];
	edits[0] = claude_json_edit_new(&claude_settings_kind, exe, dir, "settings.json");
	struct claude_mcp_ctx mcp = {exe, edits[0]};
	edits[1] = claude_json_edit_new(&claude_mcp_kind, &mcp, top, ".mcp.json");
	printf("%s cairn's Claude Code hooks and MCP server %s %s (.claude/settings.json, "
	       ".mcp.json)\n",
	       install ? "installing" : "removing", install ? "in" : "from", top);
	r = install ? claude_json_install(edits, 2, exe, "cairn hooks", &err)
		    : claude_json_uninstall(edits, 2, &err);
	if (r < 0)
		cli_print_err("cairn hooks", &err);
	else if (install && claude_json_edit_installed(edits[1]))
		printf("Claude Code sessions started in %s now get cairn's brief and its MCP "
		       "tools, and log agent.started and agent.ended (Claude Code asks once "
		       "before it starts a server of .mcp.json: approve \"cairn\")\n",
		       top);
	else if (install)
		printf("Claude Code sessions started in %s now get cairn's brief, and log "
		       "agent.started and agent.ended\n",
		       top);
	claude_json_edit_free(edits[1]);
	claude_json_edit_free(edits[0]);
	free(dir);
	free(top);
	return r < 0 ? EXIT_IO : EXIT_OK;
}

int cmd_hooks(int argc, char **argv, const struct config *cfg)
{
	const char *repo_arg = NULL, *agent = NULL, *shared;
	git_repository *repo = NULL;
	char *dir = NULL, exe[PATH_MAX];
	int c, r, rc = EXIT_USAGE;

	(void)cfg;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", hooks_opts, NULL)) != -1) {
		if (c == 'r' || c == 'p') {
			repo_arg = optarg;
			continue;
		}
		if (c == 'a') {
			agent = optarg;
			continue;
		}
		fprintf(stderr, "cairn hooks: unknown or incomplete option '%s'\n",
			argv[optind - 1]);
		cli_usage(stderr, "hooks");
		return EXIT_USAGE;
	}
	bool install;
	if (optind == argc - 1 && strcmp(argv[optind], "install") == 0) {
		install = true;
	} else if (optind == argc - 1 && strcmp(argv[optind], "uninstall") == 0) {
		install = false;
	} else {
		fprintf(stderr, "cairn hooks: expected 'install' or 'uninstall' (and optionally "
				"--repo DIR)\n");
		cli_usage(stderr, "hooks");
		return EXIT_USAGE;
	}
	if (agent && strcmp(agent, "claude") != 0) {
		fprintf(stderr,
			"cairn hooks: unknown agent '%s'; the one cairn knows is 'claude'\n",
			agent);
		return EXIT_USAGE;
	}

	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0) {
		fprintf(stderr, "cairn hooks: cannot find the cairn binary (/proc/self/exe): %s\n",
			strerror(errno));
		return EXIT_IO;
	}
	exe[n] = '\0';

	struct cairn_err e;
	if (gitdl_load(&e) < 0) {
		fprintf(stderr, "cairn hooks: %s\n", e.msg);
		return EXIT_IO;
	}
	git_libgit2_init();
	if ((r = git_repository_open_ext(&repo, repo_arg ? repo_arg : ".", 0, NULL)) < 0) {
		const git_error *ge = git_error_last();
		if (r == GIT_ENOTFOUND)
			fprintf(stderr,
				"cairn hooks: '%s' is not in a git repository; run this inside one "
				"or pass %s DIR\n",
				repo_arg ? repo_arg : ".", agent ? "--project" : "--repo");
		else
			fprintf(stderr, "cairn hooks: cannot open the git repository at '%s': %s\n",
				repo_arg ? repo_arg : ".", ge ? ge->message : "unknown error");
		goto out;
	}
	if (git_repository_is_bare(repo)) {
		fprintf(stderr,
			"cairn hooks: '%s' is a bare repository: with no work tree there are no "
			"commits or checkouts to log\n",
			git_repository_path(repo));
		goto out;
	}
	if (agent) {
		rc = agent_claude(repo, install, exe);
		goto out;
	}
	rc = EXIT_IO;
	if (!(dir = hooks_dir(repo, &shared)))
		goto out;
	if (install && (r = mkdir_p(dir)) < 0) {
		fprintf(stderr, "cairn hooks: cannot create the hooks directory '%s': %s\n", dir,
			strerror(-r));
		goto out;
	}
	printf("%s cairn's git hooks %s %s\n", install ? "installing" : "removing",
	       install ? "in" : "from", dir);
	rc = EXIT_OK;
	/* The hooks call the cairn on PATH when there is one (its path as
	 * found, so a symlink such as /usr/local/bin/cairn survives rebuilding
	 * or moving the binary behind it), else this binary. */
	char *on_path = install ? path_cairn() : NULL;
	const char *call = on_path ? on_path : exe;
	if (install)
		printf("the hooks call %s (%s)\n", call,
		       on_path ? "the cairn on PATH"
			       : "no cairn on PATH: install it there, or run 'cairn hooks install' "
				 "again after moving this binary");
	for (size_t i = 0; i < N_HOOKS; i++) {
		r = install ? install_one(dir, HOOK_NAMES[i], call)
			    : uninstall_one(dir, HOOK_NAMES[i]);
		if (r != EXIT_OK)
			rc = r;
	}
	free(on_path);
	if (install && shared)
		printf("note: core.hooksPath comes from %s git config, so every repository "
		       "that uses it gets these hooks\n",
		       shared);
	if (install && rc == EXIT_OK)
		printf("git.commit, git.checkout, git.merge and git.rewrite events will be logged "
		       "for %.*s\n",
		       (int)(strlen(git_repository_workdir(repo)) - 1),
		       git_repository_workdir(repo));
out:
	free(dir);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}
