/* cairn kb: add, show, edit, search, list, supersede, forget, confirm, reject,
 * stale, export and import knowledge entries. Works on the database directly
 * (no daemon needed) and publishes a kb.* event after each change. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/io.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "sources/gitinfo.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS (24LL * 3600 * 1000)
#define PUBLISH_TIMEOUT_MS 1000
#define BODY_FILE_MAX (KB_BODY_MAX + 1)

/* Options, as bits, so each verb can say which it takes. */
enum {
	O_JSON = 1u << 0,
	O_BODY = 1u << 1,
	O_TAG = 1u << 2,
	O_FILE = 1u << 3,
	O_SCOPE = 1u << 4, /* --project, --global */
	O_ALL = 1u << 5,
	O_TITLE = 1u << 6,
	O_KIND = 1u << 7,
	O_TIME = 1u << 8, /* --since, --until */
	O_LIMIT = 1u << 9,
	O_SHOWN = 1u << 10, /* --forgotten, --rejected */
	O_UNDO = 1u << 11,
	O_CLEAR = 1u << 12, /* --no-tags, --no-files */
	O_DAYS = 1u << 13,
};

/* One verb: its options and arguments, and what `cairn kb VERB --help` prints. The
 * overview of every verb, `cairn kb --help`, is cli_kb below the verbs. */
struct verb {
	const char *name, *usage;
	const char *help; /* the rest of `cairn kb VERB --help` */
	unsigned opts;
	int min_args, max_args; /* positional arguments; -1: any number */
};

#define SCOPE_HELP                                                                                 \
	"  --project DIR   that project's entries and global ones\n"                               \
	"  --global        only global entries\n"                                                  \
	"  --all           the entries of every project and global ones\n"
#define FILTER_HELP                                                                                \
	"  --kind K        only entries of kind K (repeatable)\n"                                  \
	"  --tag T         only entries tagged T\n"                                                \
	"  --since T       updated at or after T\n"                                                \
	"  --until T       updated before T\n"
#define SEARCH_HELP                                                                                \
	"  --limit N       at most N results (default 20); -n N is the same\n"                     \
	"  --forgotten     include forgotten entries\n"                                            \
	"  --rejected      include rejected entries\n"                                             \
	"  --json          print JSON, one object per line\n"
#define TIME_HELP "T is an RFC 3339 time, a duration ago (2h, 7d), today or yesterday.\n"
#define ID_HELP "ID is the number shown (12 or #12) or the entry's uid.\n"
#define EXIT_HELP                                                                                  \
	"Exit status: 0 ok, 1 refused or failed (the message says why), 2 usage, 4 a file\n"       \
	"could not be read or written.\n"

static const struct verb verbs[] = {
	{"add",
	 "KIND TITLE [--body TEXT | --body-file FILE|-] [--tag T]... [--file PATH]... "
	 "[--project DIR | --global] [--json]",
	 "Adds an entry; prints 'added 12', or 'exists 12 (identical entry)'. KIND: decision,\n"
	 "mistake, pattern, fix or note. Secrets are replaced before saving (and it says so).\n"
	 "  --body TEXT       the body\n"
	 "  --body-file F|-   read the body from file F, - for standard input\n"
	 "  --tag T           a tag (repeatable)\n"
	 "  --file PATH       a file the entry is about (repeatable)\n"
	 "  --project DIR     the entry belongs to project DIR. Default scope: the git top\n"
	 "                    level of the current directory, else global\n"
	 "  --global          the entry is global\n"
	 "  --json            print JSON\n",
	 O_JSON | O_BODY | O_TAG | O_FILE | O_SCOPE, 2, 2},
	{"show", "ID [--json]",
	 "Prints the whole entry: every field and the body. Opening an entry counts as a use\n"
	 "of it (docs/kb.md).\n" ID_HELP "  --json   print JSON\n",
	 O_JSON, 1, 1},
	{"edit",
	 "ID [--title T] [--body T | --body-file F|-] [--kind K] [--tag T]... [--no-tags] "
	 "[--file P]... [--no-files] [--project DIR | --global] [--json]",
	 "Changes an entry. Without field options it opens $VISUAL or $EDITOR on the entry\n"
	 "as a form (key: value lines, a blank line, the body); an emptied title cancels.\n" ID_HELP
	 "  --title T         the new title\n"
	 "  --body T          the new body\n"
	 "  --body-file F|-   read the new body from file F, - for standard input\n"
	 "  --kind K          the new kind\n"
	 "  --tag T           the tags (repeatable; replaces the whole set)\n"
	 "  --no-tags         remove every tag\n"
	 "  --file P          the files (repeatable; replaces the whole set)\n"
	 "  --no-files        remove every file\n"
	 "  --project DIR     move the entry to project DIR\n"
	 "  --global          make the entry global\n"
	 "  --json            print JSON\n",
	 O_JSON | O_BODY | O_TAG | O_FILE | O_SCOPE | O_TITLE | O_KIND | O_CLEAR, 1, 1},
	{"search",
	 "QUERY... [--kind K] [--tag T] [--project DIR | --global | --all] [--since T] "
	 "[--until T] [--limit N] [--forgotten] [--rejected] [--json]",
	 "Full-text search of the knowledge base (docs/kb.md); every word is a prefix. Prints\n"
	 "one block per result: id, kind, title, scope and a snippet with the hits marked.\n"
	 "Default scope: this project's entries and global ones.\n" FILTER_HELP SCOPE_HELP
		 SEARCH_HELP TIME_HELP,
	 O_JSON | O_TAG | O_SCOPE | O_ALL | O_KIND | O_TIME | O_LIMIT | O_SHOWN, 1, -1},
	{"list",
	 "[--kind K] [--tag T] [--project DIR | --global | --all] [--since T] [--until T] "
	 "[--limit N] [--forgotten] [--rejected] [--json]",
	 "Lists entries, newest first.\n"
	 "Default scope: this project's entries and global ones.\n" FILTER_HELP SCOPE_HELP
		 SEARCH_HELP TIME_HELP,
	 O_JSON | O_TAG | O_SCOPE | O_ALL | O_KIND | O_TIME | O_LIMIT | O_SHOWN, 0, 0},
	{"supersede", "OLD NEW | --undo OLD [--json]",
	 "NEW replaces OLD: OLD never ranks above it. OLD and NEW are entry ids: the number\n"
	 "shown (12 or #12) or the entry's uid.\n"
	 "  --undo   OLD is no longer superseded\n"
	 "  --json   print JSON\n",
	 O_JSON | O_UNDO, 1, 2},
	{"forget", "ID | --undo ID [--json]",
	 "Hides an entry from search; says until when the undo works ([kb] forget_days).\n" ID_HELP
	 "  --undo   bring a forgotten entry back\n"
	 "  --json   print JSON\n",
	 O_JSON | O_UNDO, 1, 1},
	{"confirm", "ID [--json]",
	 "Vouches for an entry: confidence up, state active.\n" ID_HELP "  --json   print JSON\n",
	 O_JSON, 1, 1},
	{"reject", "ID [--json]",
	 "Never suggests the entry as a fix again (confirming it undoes that).\n" ID_HELP
	 "  --json   print JSON\n",
	 O_JSON, 1, 1},
	{"stale", "[--days N] [--project DIR | --global | --all] [--limit N] [--json]",
	 "Lists the entries that look stale, most idle first, each with every reason:\n"
	 "never used, or not used, for more than N days; superseded but not forgotten; a\n"
	 "candidate fix never confirmed in N days; naming a file no longer in its project.\n"
	 "Forgotten and rejected entries are left out.\n"
	 "Default scope: this project's entries and global ones.\n"
	 "  --days N        idle for more than N days is stale (default 90)\n" SCOPE_HELP
	 "  --limit N       at most N entries (default 20); -n N is the same\n"
	 "  --json          print one JSON object: {\"stale\": [...], \"total\": N}\n",
	 O_JSON | O_SCOPE | O_ALL | O_LIMIT | O_DAYS, 0, 0},
	{"export",
	 "[FILE|-] [--kind K] [--tag T] [--project DIR | --global | --all] [--since T] "
	 "[--until T] [--json]",
	 "Writes entries as JSON Lines to FILE (default -, standard output): every entry,\n"
	 "forgotten and rejected ones too, unless filtered.\n" FILTER_HELP SCOPE_HELP
	 "  --json          with a FILE: print the count written as JSON\n" TIME_HELP,
	 O_JSON | O_TAG | O_SCOPE | O_ALL | O_KIND | O_TIME, 0, 1},
	{"import", "FILE|- [--json]",
	 "Reads entries from JSON Lines (FILE, or - for standard input); idempotent. Bad lines\n"
	 "are reported as FILE:LINE: message and skipped.\n"
	 "  --json   print the counts as JSON\n",
	 O_JSON, 1, 1},
};
#define N_VERBS (sizeof verbs / sizeof verbs[0])

/* `cairn kb --help`: every verb in short (each one's own help is above). */
const struct cli_cmd cli_kb = {
	"kb", "add|show|edit|search|list|supersede|forget|confirm|reject|stale|export|import ...",
	"The knowledge base: decisions, mistakes, patterns, fixes and notes, found again by\n"
	"full-text search (docs/kb.md). Works without a daemon; each change is published as a\n"
	"kb.* event. ID is the number shown (12 or #12) or the entry's uid.\n"
	"  add KIND TITLE [--body TEXT | --body-file FILE|-] [--tag T]... [--file PATH]...\n"
	"        [--project DIR | --global]   KIND: decision, mistake, pattern, fix or note.\n"
	"        Default scope: the git top level of the current directory, else global\n"
	"  show ID                           the whole entry\n"
	"  edit ID [--title T] [--body T | --body-file F|-] [--kind K] [--tag T]...\n"
	"        [--no-tags] [--file P]... [--no-files] [--project DIR | --global]\n"
	"        Without field options it opens $VISUAL or $EDITOR on the entry\n"
	"  search QUERY... [--kind K] [--tag T] [--project DIR | --global | --all]\n"
	"        [--since T] [--until T] [--limit N] [--forgotten] [--rejected]\n"
	"        Every word is a prefix. Default scope: this project's entries and global ones\n"
	"  list [the options of search]     newest first\n"
	"  supersede OLD NEW | --undo OLD    NEW replaces OLD: OLD never ranks above it\n"
	"  forget ID | --undo ID             hide an entry; undo within [kb] forget_days\n"
	"  confirm ID                        vouch for an entry: confidence up, state active\n"
	"  reject ID                         never suggest it as a fix again\n"
	"  stale [--days N] [--project DIR | --global | --all] [--limit N]\n"
	"        entries unused for N days (90), superseded, unconfirmed or naming\n"
	"        a missing file, each with why\n"
	"  export [FILE|-] [--kind K] [--tag T] [--project DIR | --global | --all]\n"
	"        [--since T] [--until T]     JSON Lines; every entry unless filtered\n"
	"  import FILE|-                     idempotent; bad lines are reported and skipped\n"
	"  --json                            print JSON, one object per line\n"
	"T is an RFC 3339 time or a duration ago (2h, 7d). Exit status: 0 ok, 1 refused or\n"
	"failed (the message says why), 2 usage, 4 a file could not be read or written.\n"
	"'cairn kb VERB --help' tells more about VERB.\n",
	cmd_kb, true};

/* What the command line said. */
struct args {
	const struct verb *verb;
	char **pos;
	int npos;
	bool json, undo, global, all, forgotten, rejected, no_tags, no_files;
	const char *body, *body_file, *project, *title, *since, *until;
	char *kinds; /* comma-separated, from every --kind */
	char *tags;  /* space-separated, from every --tag */
	char *files; /* newline-separated, from every --file */
	int ntags, nfiles;
	long limit, days;
	unsigned used;
};

static void args_release(struct args *a)
{
	free(a->pos);
	free(a->kinds);
	free(a->tags);
	free(a->files);
}

static void append(char **list, const char *sep, const char *item)
{
	char *s = *list ? xasprintf("%s%s%s", *list, sep, item) : xstrdup(item);
	free(*list);
	*list = s;
}

static int usage_error(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "cairn kb%s%s: ", verb ? " " : "", verb ? verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (size_t i = 0; verb && i < N_VERBS; i++)
		if (strcmp(verbs[i].name, verb) == 0)
			fprintf(stderr, "usage: cairn kb %s %s\n", verbs[i].name, verbs[i].usage);
	if (!verb)
		fprintf(stderr, "'cairn kb --help' lists the verbs\n");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"body", required_argument, NULL, 'b'},
		{"body-file", required_argument, NULL, 'B'},
		{"tag", required_argument, NULL, 't'},
		{"file", required_argument, NULL, 'f'},
		{"project", required_argument, NULL, 'p'},
		{"global", no_argument, NULL, 'g'},
		{"all", no_argument, NULL, 'a'},
		{"title", required_argument, NULL, 'T'},
		{"kind", required_argument, NULL, 'k'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'u'},
		{"limit", required_argument, NULL, 'n'},
		{"forgotten", no_argument, NULL, 'F'},
		{"rejected", no_argument, NULL, 'R'},
		{"undo", no_argument, NULL, 'U'},
		{"no-tags", no_argument, NULL, '1'},
		{"no-files", no_argument, NULL, '2'},
		{"days", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	const char *verb = a->verb->name;
	int c;
	char *end;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		unsigned bit = 0;
		switch (c) {
		case 'j': bit = O_JSON, a->json = true; break;
		case 'b': bit = O_BODY, a->body = optarg; break;
		case 'B': bit = O_BODY, a->body_file = optarg; break;
		case 't':
			bit = O_TAG;
			append(&a->tags, " ", optarg);
			a->ntags++;
			break;
		case 'f':
			bit = O_FILE;
			append(&a->files, "\n", optarg);
			a->nfiles++;
			break;
		case 'p': bit = O_SCOPE, a->project = optarg; break;
		case 'g': bit = O_SCOPE, a->global = true; break;
		case 'a': bit = O_ALL, a->all = true; break;
		case 'T': bit = O_TITLE, a->title = optarg; break;
		case 'k':
			bit = O_KIND;
			append(&a->kinds, ",", optarg);
			break;
		case 's': bit = O_TIME, a->since = optarg; break;
		case 'u': bit = O_TIME, a->until = optarg; break;
		case 'n':
			bit = O_LIMIT;
			errno = 0;
			a->limit = strtol(optarg, &end, 10);
			if (*end || errno || a->limit < 1 || a->limit > KB_LIMIT_MAX)
				return usage_error(verb, "--limit must be a number from 1 to %d",
						   KB_LIMIT_MAX);
			break;
		case 'D':
			bit = O_DAYS;
			errno = 0;
			a->days = strtol(optarg, &end, 10);
			if (*end || errno || a->days < 1 || a->days > 36500)
				return usage_error(verb, "--days must be a number from 1 to 36500");
			break;
		case 'F': bit = O_SHOWN, a->forgotten = true; break;
		case 'R': bit = O_SHOWN, a->rejected = true; break;
		case 'U': bit = O_UNDO, a->undo = true; break;
		case '1': bit = O_CLEAR, a->no_tags = true; break;
		case '2': bit = O_CLEAR, a->no_files = true; break;
		default:
			return usage_error(verb, "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
		if (!(a->verb->opts & bit)) {
			/* The option as typed: with its value in the next word,
			 * argv[optind - 1] is the value ("--kind decision"). */
			const char *opt = optarg && optind >= 2 && optarg == argv[optind - 1]
						  ? argv[optind - 2]
						  : argv[optind - 1];
			if (c == 'k' && strcmp(verb, "add") == 0)
				return usage_error(verb,
						   "the kind is add's first word, not an option: "
						   "cairn kb add %s TITLE",
						   optarg);
			return usage_error(verb, "option '%s' does not apply to '%s'", opt, verb);
		}
		a->used |= bit;
	}
	a->npos = argc - optind;
	a->pos = xcalloc((size_t)a->npos + 1, sizeof *a->pos);
	for (int i = 0; i < a->npos; i++)
		a->pos[i] = argv[optind + i];
	int want_min = a->verb->min_args, want_max = a->verb->max_args;
	if (strcmp(verb, "supersede") == 0 && !a->undo)
		want_min = 2;
	if (strcmp(verb, "supersede") == 0 && a->undo)
		want_max = 1;
	if (a->npos < want_min)
		return usage_error(verb, "missing %s", a->npos ? "an argument" : "arguments");
	if (want_max >= 0 && a->npos > want_max)
		return usage_error(verb, "too many arguments (from '%s' on)", a->pos[want_max]);
	if (a->body && a->body_file)
		return usage_error(verb, "give --body or --body-file, not both");
	if ((a->project ? 1 : 0) + a->global + a->all > 1)
		return usage_error(verb, "give one of --project, --global and --all");
	if (a->ntags > 1 && !(a->verb->opts & O_FILE))
		return usage_error(verb, "--tag filters by one tag");
	if ((a->no_tags && a->ntags) || (a->no_files && a->nfiles))
		return usage_error(verb,
				   "--no-tags/--no-files and --tag/--file contradict each other");
	if (a->kinds) {
		char *copy = xstrdup(a->kinds);
		int n = 0;
		for (char *k = strtok(copy, ","); k; k = strtok(NULL, ","), n++)
			if (!kb_kind_parse(k)) {
				usage_error(
					verb,
					"unknown kind '%s'; kinds are decision, mistake, pattern, "
					"fix and note",
					k);
				free(copy);
				return EXIT_USAGE;
			}
		free(copy);
		if (strcmp(verb, "edit") == 0 && n != 1)
			return usage_error(verb, "--kind takes one kind");
	}
	return 0;
}

/* ---- helpers ---- */

static char *git_toplevel(void)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	struct gitinfo gi;
	char *out = NULL;
	if (gitinfo_read(cwd, 0, &gi) == 0)
		out = realpath(gi.workdir, NULL);
	gitinfo_release(&gi);
	return out;
}

/* The project a command means: --project DIR (resolved), --global (NULL),
 * or the git top level of the current directory (NULL outside one). Sets
 * *err on a bad --project. */
static char *scope_project(const struct args *a, bool *err)
{
	*err = false;
	if (a->global || a->all)
		return NULL;
	if (a->project) {
		char *p = realpath(a->project, NULL);
		if (p)
			return p;
		if (a->project[0] == '/')
			return xstrdup(a->project);
		fprintf(stderr, "cairn kb %s: cannot resolve --project '%s': %s\n", a->verb->name,
			a->project, strerror(errno));
		*err = true;
		return NULL;
	}
	return git_toplevel();
}

/* Paths given with --file, made relative to the project root when they are
 * inside it (relative ones are taken from the current directory). */
static char *project_files(const char *files, const char *project)
{
	if (!files)
		return NULL;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		cwd[0] = '\0';
	char *out = NULL, *copy = xstrdup(files);
	for (char *f = strtok(copy, "\n"); f; f = strtok(NULL, "\n")) {
		char *abs = f[0] == '/' ? xstrdup(f) : xasprintf("%s/%s", cwd, f);
		const char *rel = f;
		size_t pl = project ? strlen(project) : 0;
		if (project && strncmp(abs, project, pl) == 0 && abs[pl] == '/')
			rel = abs + pl + 1;
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		append(&out, "\n", rel);
		free(abs);
	}
	free(copy);
	return out;
}

/* Reads --body-file (or - for standard input), at most KB_BODY_MAX + 1 bytes
 * so that the knowledge base can say it is too long. */
static char *read_body(const char *path, int *rc)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cairn kb: cannot read '%s': %s\n", path, strerror(errno));
		*rc = EXIT_IO;
		return NULL;
	}
	char *buf = xmalloc(BODY_FILE_MAX + 1);
	size_t n = fread(buf, 1, BODY_FILE_MAX, f);
	bool failed = ferror(f);
	if (f != stdin)
		fclose(f);
	if (failed) {
		fprintf(stderr, "cairn kb: cannot read '%s'\n", path);
		free(buf);
		*rc = EXIT_IO;
		return NULL;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		fprintf(stderr, "cairn kb: '%s' holds NUL bytes; the body must be text\n", path);
		free(buf);
		*rc = EXIT_REFUSED;
		return NULL;
	}
	return buf;
}

static int open_kb(const struct config *cfg, struct kb **kb)
{
	struct cairn_err err;
	/* "applied migration" notes are for the daemon's log, not the terminal. */
	log_set_level(LOG_WARN);
	/* The data directory may not exist yet when no daemon ever ran. */
	io_mkdirs(cfg->data_dir, 0700);
	int r = kb_open(cfg->db_path, false, (int64_t)cfg->kb_forget_days * DAY_MS, kb, &err);
	if (r) {
		cli_print_err("cairn kb: cannot open the knowledge base", &err);
		return EXIT_REFUSED;
	}
	return 0;
}

/* Resolves an ID argument; prints why not. */
static int resolve(struct kb *kb, const char *verb, const char *ref, int64_t *id)
{
	int r = kb_resolve(kb, ref, id);
	if (r == 0)
		return 0;
	if (r == CAIRN_E_INVALID)
		return usage_error(verb, "%s", kb_errmsg(kb));
	char prog[64];
	snprintf(prog, sizeof prog, "cairn kb %s", verb);
	cli_print_err(prog, kb_error(kb));
	if (r == CAIRN_E_NOTFOUND)
		fprintf(stderr, "%s: 'cairn kb list' shows the entries\n", prog);
	return EXIT_REFUSED;
}

static int kb_failed(struct kb *kb, const char *verb, int r)
{
	char prog[64];
	snprintf(prog, sizeof prog, "cairn kb %s", verb);
	cli_print_err(prog, kb_error(kb));
	(void)r;
	return EXIT_REFUSED;
}

/* Publishes kb.TYPE about entry e (extra, if any, is merged into data). */
static void publish(const struct config *cfg, const char *type, const struct kb_entry *e,
		    json_t *extra)
{
	json_t *ev = kb_change_event(type, e);
	if (extra) {
		json_object_update(json_object_get(ev, "data"), extra);
		json_decref(extra);
	}
	int r = cli_publish(cfg, ev, PUBLISH_ACCEPTED, false, PUBLISH_TIMEOUT_MS, NULL, NULL);
	if (r < 0)
		fprintf(stderr,
			"cairn kb: the change is saved, but the kb.%s event was not "
			"published\n",
			type);
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	puts(s);
	free(s);
	json_decref(o);
}

static void local_time(char *buf, size_t len, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* The project as shown: "global", or the path with $HOME as ~. */
static void scope_name(char *buf, size_t len, const char *project)
{
	const char *home = getenv("HOME");
	size_t hl = home ? strlen(home) : 0;
	if (!project)
		snprintf(buf, len, "global");
	else if (hl > 1 && strncmp(project, home, hl) == 0 && project[hl] == '/')
		snprintf(buf, len, "~%s", project + hl);
	else
		snprintf(buf, len, "%s", project);
}

struct style {
	const char *bold, *plain, *hl_open, *hl_close;
};

static struct style out_style(void)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
	if (isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0))
		return (struct style){"\033[1m", "\033[0m", "\033[1m", "\033[0m"};
	return (struct style){"", "", "[", "]"};
}

/* A snippet with the \x02 \x03 markers rendered in the given style. */
static void print_snippet(const char *s, const struct style *st)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\x02')
			fputs(st->hl_open, stdout);
		else if (*p == '\x03')
			fputs(st->hl_close, stdout);
		else if (*p == '\n' || *p == '\t' || *p == '\r')
			fputc(' ', stdout);
		else
			fputc(*p, stdout);
	}
}

static void print_block(const struct kb_result *r, const struct style *st)
{
	const struct kb_entry *e = &r->e;
	char scope[PATH_MAX];
	scope_name(scope, sizeof scope, e->project);
	printf("#%-5lld %-8s %s%s%s  (%s", (long long)e->id, e->kind, st->bold, e->title, st->plain,
	       scope);
	if (e->superseded_by)
		printf("; superseded by #%lld", (long long)e->superseded_by);
	if (e->forgotten_ms)
		printf("; forgotten");
	if (strcmp(e->state, "active") != 0)
		printf("; %s", e->state);
	printf(")\n");
	if (r->snippet[0]) {
		printf("       ");
		print_snippet(r->snippet, st);
		putchar('\n');
	}
	putchar('\n');
}

static void print_full(struct kb *kb, const struct kb_entry *e)
{
	struct style st = out_style();
	char scope[PATH_MAX], t1[32], t2[32];
	scope_name(scope, sizeof scope, e->project);
	printf("#%lld %s  %s%s%s\n", (long long)e->id, e->kind, st.bold, e->title, st.plain);
	printf("uid        %s\n", e->uid);
	printf("scope      %s\n", scope);
	printf("state      %s, confidence %.2f, used %lld time%s", e->state, e->confidence,
	       (long long)e->uses, e->uses == 1 ? "" : "s");
	if (e->last_used_ms) {
		local_time(t1, sizeof t1, e->last_used_ms);
		printf(", last %s", t1);
	}
	putchar('\n');
	if (e->tags[0])
		printf("tags       %s\n", e->tags);
	for (const char *p = e->files, *q; *p; p = q + (*q ? 1 : 0)) {
		q = strchr(p, '\n');
		if (!q)
			q = p + strlen(p);
		printf("%s %.*s\n", p == e->files ? "files     " : "          ", (int)(q - p), p);
	}
	local_time(t1, sizeof t1, e->created_ms);
	local_time(t2, sizeof t2, e->updated_ms);
	printf("created    %s, updated %s\n", t1, t2);
	if (e->superseded_by)
		printf("superseded by #%lld (%s)\n", (long long)e->superseded_by,
		       e->superseded_by_uid);
	if (e->forgotten_ms) {
		local_time(t1, sizeof t1, e->forgotten_ms + kb_forget_window_ms(kb));
		printf("forgotten  undo with 'cairn kb forget --undo %lld' until %s\n",
		       (long long)e->id, t1);
	}
	if (e->signature)
		printf("signature  %s\n", e->signature);
	if (e->fix_key)
		printf("fix key    %s\n", e->fix_key);
	if (strcmp(e->sources, "[]") != 0)
		printf("sources    %s\n", e->sources);
	if (e->body[0])
		printf("\n%s\n", e->body);
}

/* ---- verbs ---- */

static int do_add(const struct config *cfg, struct args *a)
{
	int rc = EXIT_OK;
	bool bad = false;
	struct kb *kb = NULL;
	char *body = NULL, *files = NULL, *project = NULL;
	if (!kb_kind_parse(a->pos[0]))
		return usage_error("add",
				   "unknown kind '%s'; kinds are decision, mistake, pattern, "
				   "fix and note",
				   a->pos[0]);
	project = scope_project(a, &bad);
	if (bad)
		return EXIT_USAGE;
	if (a->body_file && !(body = read_body(a->body_file, &rc)))
		goto out;
	files = project_files(a->files, project);
	if ((rc = open_kb(cfg, &kb)))
		goto out;
	struct kb_entry in = {.kind = a->pos[0],
			      .title = a->pos[1],
			      .body = body ? body : (char *)a->body,
			      .tags = a->tags,
			      .files = files,
			      .project = project};
	int64_t id;
	bool dup;
	int r = kb_add(kb, &in, clock_wall_ms(), &id, &dup);
	if (r) {
		rc = kb_failed(kb, "add", r);
		goto out;
	}
	unsigned red = kb_redactions(kb);
	struct kb_entry e;
	if ((r = kb_get(kb, id, &e))) {
		rc = kb_failed(kb, "add", r);
		goto out;
	}
	if (a->json) {
		json_t *o = json_pack("{s:I,s:s,s:b,s:i}", "id", (json_int_t)id, "uid", e.uid,
				      "duplicate", dup, "redactions", (int)red);
		print_json(o);
	} else if (dup) {
		printf("exists %lld (identical entry)\n", (long long)id);
	} else {
		printf("added %lld\n", (long long)id);
	}
	if (red && !dup && !a->json)
		fprintf(stderr, "cairn kb: %u secret%s replaced by [REDACTED:...] before saving\n",
			red, red == 1 ? " was" : "s were");
	if (!dup)
		publish(cfg, "added", &e, NULL);
	kb_entry_release(&e);
out:
	kb_close(kb);
	free(body);
	free(files);
	free(project);
	return rc;
}

static int do_show(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	int64_t id;
	int rc;
	if ((rc = open_kb(cfg, &kb)))
		return rc;
	struct kb_entry e;
	if ((rc = resolve(kb, "show", a->pos[0], &id)))
		goto out;
	int r = kb_get(kb, id, &e);
	if (r) {
		rc = kb_failed(kb, "show", r);
		goto out;
	}
	if (a->json)
		print_json(kb_entry_to_json(&e, KB_JSON_LOCAL));
	else
		print_full(kb, &e);
	kb_entry_release(&e);
	/* Opening an entry is a use of it (docs/kb.md). The entry is printed
	 * first, as it was; a use that cannot be counted (a busy or read-only
	 * database) does not fail the show. */
	fflush(stdout);
	if ((r = kb_mark_used(kb, id, clock_wall_ms())) < 0)
		log_debug("cairn kb show: the use of %lld was not counted: %s", (long long)id,
			  kb_errmsg(kb));
out:
	kb_close(kb);
	return rc;
}

/* ---- edit in $EDITOR ---- */

static char *edit_form(const struct kb_entry *e)
{
	struct {
		char *p;
		size_t n;
	} b = {0};
	FILE *m = open_memstream(&b.p, &b.n);
	fprintf(m,
		"# Editing knowledge entry #%lld. Change the fields and the body below the\n"
		"# blank line, save and quit. Lines starting with '#' above the body are\n"
		"# ignored. kind: decision, mistake, pattern, fix or note; project: a path\n"
		"# or 'global'; one 'file:' line per path. Empty the title to cancel.\n",
		(long long)e->id);
	fprintf(m, "kind: %s\ntitle: %s\ntags: %s\nproject: %s\n", e->kind, e->title, e->tags,
		e->project ? e->project : "global");
	for (const char *p = e->files, *q; *p; p = q + (*q ? 1 : 0)) {
		q = strchr(p, '\n');
		if (!q)
			q = p + strlen(p);
		fprintf(m, "file: %.*s\n", (int)(q - p), p);
	}
	fprintf(m, "\n%s\n", e->body);
	fclose(m);
	return b.p;
}

/* Parses the form back into an edit. Strings point into text (modified). */
static int parse_form(char *text, struct kb_edit *ed, char **files, char *why, size_t whylen)
{
	char *p = text;
	memset(ed, 0, sizeof *ed);
	*files = xstrdup("");
	bool have_title = false;
	while (*p) {
		char *nl = strchr(p, '\n');
		char *next = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		if (p[0] == '#') {
			p = next;
			continue;
		}
		if (p[strspn(p, " \t\r")] == '\0') {
			p = next;
			break;
		}
		char *colon = strchr(p, ':');
		if (!colon) {
			snprintf(why, whylen, "expected 'key: value' above the body, got '%.60s'",
				 p);
			return -1;
		}
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
			v[--vl] = '\0';
		if (strcmp(p, "kind") == 0)
			ed->kind = v;
		else if (strcmp(p, "title") == 0)
			ed->title = v, have_title = true;
		else if (strcmp(p, "tags") == 0)
			ed->tags = v;
		else if (strcmp(p, "project") == 0) {
			ed->set_project = true;
			ed->project = strcmp(v, "global") == 0 || !*v ? NULL : v;
		} else if (strcmp(p, "file") == 0) {
			if (*v)
				append(files, **files ? "\n" : "", v);
		} else {
			snprintf(why, whylen,
				 "unknown field '%.40s' (kind, title, tags, project, file)", p);
			return -1;
		}
		p = next;
	}
	if (!have_title || !ed->title[0]) {
		snprintf(why, whylen, "the title is empty: edit cancelled");
		return 1;
	}
	ed->files = *files;
	ed->body = p;
	return 0;
}

static int run_editor(const char *path)
{
	const char *ed = getenv("VISUAL");
	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	char *cmd = xasprintf("%s \"$@\"", ed);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, ed, path, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int do_edit(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	int64_t id;
	int rc, r;
	bool bad = false;
	char *body = NULL, *files = NULL, *project = NULL, *form = NULL, *formfiles = NULL;
	char tmp[] = "/tmp/cairn-kb-edit-XXXXXX";
	int fd = -1;
	if ((rc = open_kb(cfg, &kb)))
		return rc;
	if ((rc = resolve(kb, "edit", a->pos[0], &id)))
		goto out;
	struct kb_entry cur;
	if ((r = kb_get(kb, id, &cur))) {
		rc = kb_failed(kb, "edit", r);
		goto out;
	}
	struct kb_edit ed = {0};
	bool fields = a->used & (O_BODY | O_TAG | O_FILE | O_SCOPE | O_TITLE | O_KIND | O_CLEAR);
	if (fields) {
		if (a->body_file && !(body = read_body(a->body_file, &rc)))
			goto out_entry;
		ed.title = a->title;
		ed.body = body ? body : a->body;
		ed.kind = a->kinds;
		ed.tags = a->no_tags ? "" : a->tags;
		if (a->used & O_SCOPE) {
			project = scope_project(a, &bad);
			if (bad) {
				rc = EXIT_USAGE;
				goto out_entry;
			}
			ed.set_project = true;
			ed.project = project;
		}
		files = project_files(a->files, ed.set_project ? project : cur.project);
		ed.files = a->no_files ? "" : files;
	} else {
		form = edit_form(&cur);
		fd = mkstemp(tmp);
		if (fd < 0 || write(fd, form, strlen(form)) != (ssize_t)strlen(form)) {
			fprintf(stderr, "cairn kb edit: cannot write %s: %s\n", tmp,
				strerror(errno));
			rc = EXIT_IO;
			goto out_entry;
		}
		close(fd);
		fd = -1;
		int st = run_editor(tmp);
		if (st != 0) {
			fprintf(stderr,
				"cairn kb edit: the editor exited with status %d; nothing "
				"changed\n",
				st);
			rc = EXIT_REFUSED;
			goto out_entry;
		}
		free(body);
		int rr = 0;
		body = NULL;
		{
			FILE *f = fopen(tmp, "r");
			if (f) {
				body = xmalloc(4 * BODY_FILE_MAX + 1);
				size_t n = fread(body, 1, 4 * BODY_FILE_MAX, f);
				body[n] = '\0';
				fclose(f);
			}
		}
		if (!body) {
			fprintf(stderr, "cairn kb edit: cannot read back %s\n", tmp);
			rc = EXIT_IO;
			goto out_entry;
		}
		char why[160];
		rr = parse_form(body, &ed, &formfiles, why, sizeof why);
		if (rr) {
			fprintf(stderr, "cairn kb edit: %s\n", why);
			rc = rr < 0 ? EXIT_REFUSED : EXIT_OK;
			goto out_entry;
		}
	}
	bool changed = false;
	if ((r = kb_update(kb, id, &ed, clock_wall_ms(), &changed))) {
		rc = kb_failed(kb, "edit", r);
		goto out_entry;
	}
	struct kb_entry e;
	if ((r = kb_get(kb, id, &e))) {
		rc = kb_failed(kb, "edit", r);
		goto out_entry;
	}
	if (a->json)
		print_json(json_pack("{s:I,s:s,s:b,s:i}", "id", (json_int_t)id, "uid", e.uid,
				     "changed", changed, "redactions", (int)kb_redactions(kb)));
	else
		printf(changed ? "updated %lld\n" : "no changes to %lld\n", (long long)id);
	if (changed)
		publish(cfg, "updated", &e, NULL);
	kb_entry_release(&e);
out_entry:
	kb_entry_release(&cur);
out:
	if (fd >= 0)
		close(fd);
	if (form)
		unlink(tmp);
	free(form);
	free(formfiles);
	free(body);
	free(files);
	free(project);
	kb_close(kb);
	return rc;
}

/* ---- search, list, export: the filters ---- */

static int parse_when(const char *verb, const char *opt, const char *s, int64_t *ms)
{
	if (timefmt_parse_when(s, clock_wall_ms(), ms) == 0)
		return 0;
	return usage_error(verb,
			   "%s takes an RFC 3339 time, a duration ago (30m, 2d), today or "
			   "yesterday, not '%s'",
			   opt, s);
}

/* Fills q from the options; *project is owned by the caller. */
static int build_query(struct args *a, struct kb_query *q, char **project, bool everything)
{
	bool bad = false;
	kb_query_init(q);
	*project = NULL;
	if (a->kinds) {
		char *copy = xstrdup(a->kinds);
		for (char *k = strtok(copy, ","); k; k = strtok(NULL, ","))
			q->kinds |= kb_kind_bit(k);
		free(copy);
	}
	q->tag = a->tags;
	if (a->since && parse_when(a->verb->name, "--since", a->since, &q->since_ms))
		return EXIT_USAGE;
	if (a->until && parse_when(a->verb->name, "--until", a->until, &q->until_ms))
		return EXIT_USAGE;
	q->limit = a->limit ? (size_t)a->limit : 20;
	q->include_forgotten = everything || a->forgotten;
	q->include_rejected = everything || a->rejected;
	if (a->all || (everything && !a->project && !a->global)) {
		q->scope = KB_SCOPE_ALL;
	} else if (a->global) {
		q->scope = KB_SCOPE_GLOBAL;
	} else {
		*project = scope_project(a, &bad);
		if (bad)
			return EXIT_USAGE;
		q->scope = *project ? KB_SCOPE_PROJECT : KB_SCOPE_ALL;
		q->project = *project;
	}
	return 0;
}

static int do_search(const struct config *cfg, struct args *a, bool list)
{
	struct kb *kb;
	struct kb_query q;
	char *project = NULL, *text = NULL;
	int rc = build_query(a, &q, &project, false);
	if (rc)
		return rc;
	for (int i = 0; i < a->npos; i++)
		append(&text, " ", a->pos[i]);
	q.text = list ? NULL : text;
	q.mark_open = "\x02";
	q.mark_close = "\x03";
	if ((rc = open_kb(cfg, &kb)))
		goto out;
	struct kb_results res;
	int r = kb_search(kb, &q, &res);
	if (r) {
		rc = kb_failed(kb, a->verb->name, r);
		goto out_kb;
	}
	struct style st = out_style();
	for (size_t i = 0; i < res.n; i++) {
		if (a->json) {
			json_t *o = kb_entry_to_json(&res.v[i].e, KB_JSON_LOCAL);
			json_object_set_new(o, "score", json_real(res.v[i].score));
			char *s = xstrdup(res.v[i].snippet);
			for (char *p = s; *p; p++)
				*p = *p == '\x02' ? '[' : *p == '\x03' ? ']' : *p;
			json_object_set_new(o, "snippet", json_string(s));
			free(s);
			print_json(o);
		} else {
			print_block(&res.v[i], &st);
		}
	}
	if (!res.n && !a->json) {
		if (list)
			printf("no entries%s; add one with 'cairn kb add KIND TITLE'\n",
			       q.kinds || q.tag || q.since_ms || q.until_ms ? " match" : " yet");
		else
			printf("no entries match '%s'\n", text);
	}
	kb_results_release(&res);
out_kb:
	kb_close(kb);
out:
	free(project);
	free(text);
	return rc;
}

/* ---- supersede, forget, confirm, reject ---- */

static int do_state(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	int64_t id, other = 0;
	int rc, r;
	const char *verb = a->verb->name;
	int64_t now = clock_wall_ms();
	if ((rc = open_kb(cfg, &kb)))
		return rc;
	if ((rc = resolve(kb, verb, a->pos[0], &id)))
		goto out;
	if (a->npos > 1 && (rc = resolve(kb, verb, a->pos[1], &other)))
		goto out;
	const char *type;
	json_t *extra = NULL;
	if (strcmp(verb, "supersede") == 0) {
		r = kb_supersede(kb, id, a->undo ? 0 : other, now);
		type = "superseded";
	} else if (strcmp(verb, "forget") == 0) {
		r = a->undo ? kb_unforget(kb, id, now) : kb_forget(kb, id, now);
		type = a->undo ? "updated" : "forgotten";
	} else if (strcmp(verb, "confirm") == 0) {
		r = kb_confirm(kb, id, now);
		type = "confirmed";
	} else {
		r = kb_reject(kb, id, now);
		type = "rejected";
	}
	if (r) {
		rc = kb_failed(kb, verb, r);
		goto out;
	}
	struct kb_entry e;
	if ((r = kb_get(kb, id, &e))) {
		rc = kb_failed(kb, verb, r);
		goto out;
	}
	char when[32];
	int64_t purge_at = e.forgotten_ms ? e.forgotten_ms + kb_forget_window_ms(kb) : 0;
	local_time(when, sizeof when, purge_at);
	if (strcmp(verb, "supersede") == 0) {
		extra = json_pack("{s:o,s:o}", "superseded_by",
				  e.superseded_by ? json_integer(e.superseded_by) : json_null(),
				  "superseded_by_uid",
				  e.superseded_by ? json_string(e.superseded_by_uid) : json_null());
		if (!a->json && e.superseded_by)
			printf("%lld is superseded by %lld\n", (long long)id, (long long)other);
		else if (!a->json)
			printf("%lld is no longer superseded\n", (long long)id);
	} else if (strcmp(verb, "forget") == 0) {
		char t[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(t, purge_at);
		extra = json_pack("{s:b}", "forgotten", e.forgotten_ms != 0);
		if (a->undo)
			json_object_set_new(extra, "restored", json_true());
		else
			json_object_set_new(extra, "purge_after", json_string(t));
		if (!a->json && a->undo)
			printf("restored %lld\n", (long long)id);
		else if (!a->json)
			printf("forgot %lld; undo with 'cairn kb forget --undo %lld' until %s "
			       "(then it is "
			       "purged)\n",
			       (long long)id, (long long)id, when);
	} else if (strcmp(verb, "confirm") == 0) {
		extra = json_pack("{s:f,s:I}", "confidence", e.confidence, "uses",
				  (json_int_t)e.uses);
		if (!a->json)
			printf("confirmed %lld (confidence %.2f, used %lld time%s)\n",
			       (long long)id, e.confidence, (long long)e.uses,
			       e.uses == 1 ? "" : "s");
	} else {
		if (!a->json)
			printf("rejected %lld; it will not be suggested as a fix again ('cairn kb "
			       "confirm %lld' undoes this)\n",
			       (long long)id, (long long)id);
	}
	if (a->json) {
		json_t *o = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "uid", e.uid, "state",
				      e.state);
		if (extra)
			json_object_update(o, extra);
		print_json(o);
	}
	publish(cfg, type, &e, extra);
	kb_entry_release(&e);
out:
	kb_close(kb);
	return rc;
}

/* ---- stale ---- */

static json_t *json_text_or(const char *s)
{
	json_t *v = s ? json_string(s) : json_null();
	return v ? v : json_string("?");
}

static json_t *json_time_or_null(int64_t ms)
{
	char t[TIMEFMT_RFC3339_LEN + 1];
	if (!ms)
		return json_null();
	timefmt_rfc3339(t, ms);
	return json_string(t);
}

static json_t *stale_json(const struct kb_stale_entry *s)
{
	json_t *reasons = json_array();
	for (size_t i = 0; i < s->n_reasons; i++) {
		const struct kb_stale_reason *r = &s->reasons[i];
		json_t *o = json_object();
		json_object_set_new(o, "code", json_string(r->code));
		json_object_set_new(o, "text", json_text_or(r->text));
		if (r->ref)
			json_object_set_new(o, "superseded_by", json_integer(r->ref));
		if (r->file)
			json_object_set_new(o, "file", json_text_or(r->file));
		json_array_append_new(reasons, o);
	}
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(s->id));
	json_object_set_new(o, "uid", json_string(s->uid));
	json_object_set_new(o, "kind", json_string(s->kind));
	json_object_set_new(o, "title", json_text_or(s->title));
	json_object_set_new(o, "project", json_text_or(s->project));
	json_object_set_new(o, "uses", json_integer(s->uses));
	json_object_set_new(o, "last_used", json_time_or_null(s->last_used_ms));
	json_object_set_new(o, "created", json_time_or_null(s->created_ms));
	json_object_set_new(o, "idle_days", json_integer(s->idle_days));
	json_object_set_new(o, "reasons", reasons);
	return o;
}

static void print_stale(const struct kb_stale_entry *s, const struct style *st)
{
	char scope[PATH_MAX];
	scope_name(scope, sizeof scope, s->project);
	printf("#%-5lld %-8s %s%s%s  (%s; used %lld time%s)\n", (long long)s->id, s->kind, st->bold,
	       s->title, st->plain, scope, (long long)s->uses, s->uses == 1 ? "" : "s");
	for (size_t i = 0; i < s->n_reasons; i++)
		printf("       - %s\n", s->reasons[i].text);
	putchar('\n');
}

static int do_stale(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	bool bad = false;
	struct kb_stale_query q = {.days = a->days ? a->days : KB_IDLE_DAYS,
				   .limit = a->limit ? (size_t)a->limit : 20,
				   .now_ms = clock_wall_ms()};
	char *project = NULL;
	int rc;
	if (a->all) {
		q.scope = KB_SCOPE_ALL;
	} else if (a->global) {
		q.scope = KB_SCOPE_GLOBAL;
	} else {
		project = scope_project(a, &bad);
		if (bad)
			return EXIT_USAGE;
		q.scope = project ? KB_SCOPE_PROJECT : KB_SCOPE_ALL;
		q.project = project;
	}
	if ((rc = open_kb(cfg, &kb)))
		goto out;
	struct kb_stale_list l;
	int r = kb_stale(kb, &q, &l);
	if (r) {
		rc = kb_failed(kb, "stale", r);
		goto out_kb;
	}
	if (a->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(arr, stale_json(&l.v[i]));
		print_json(json_pack("{s:o,s:I,s:I}", "stale", arr, "total", (json_int_t)l.total,
				     "days", (json_int_t)q.days));
	} else if (!l.n) {
		printf("no stale entries: none unused for more than %lld day%s, superseded, "
		       "unconfirmed\nor naming a file that is gone\n",
		       (long long)q.days, q.days == 1 ? "" : "s");
	} else {
		struct style st = out_style();
		for (size_t i = 0; i < l.n; i++)
			print_stale(&l.v[i], &st);
		if (l.total > l.n)
			printf("%zu of %zu stale entries shown ('--limit N' shows more).\n", l.n,
			       l.total);
		else
			printf("%zu stale entr%s.\n", l.total, l.total == 1 ? "y" : "ies");
		bool files = false;
		for (size_t i = 0; i < l.n; i++)
			for (size_t j = 0; j < l.v[i].n_reasons; j++)
				files |= l.v[i].reasons[j].file != NULL;
		printf("Forget an entry with 'cairn kb forget ID'; if it still holds, confirm it "
		       "with\n'cairn kb confirm ID'%s\n",
		       files ? ", and point it at the files of now with\n'cairn kb edit ID --file "
			       "PATH...'."
			     : ".");
	}
	kb_stale_list_release(&l);
out_kb:
	kb_close(kb);
out:
	free(project);
	return rc;
}

/* ---- export, import ---- */

static int do_export(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	struct kb_query q;
	char *project = NULL, *tmp = NULL;
	int rc = build_query(a, &q, &project, true);
	if (rc)
		return rc;
	const char *path = a->npos ? a->pos[0] : "-";
	bool to_stdout = strcmp(path, "-") == 0;
	FILE *out = stdout;
	if ((rc = open_kb(cfg, &kb)))
		goto out;
	if (!to_stdout) {
		/* Write beside the target, then rename: a failed export leaves no
		 * half file. */
		tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
		if (!(out = fopen(tmp, "w"))) {
			fprintf(stderr, "cairn kb export: cannot write '%s': %s\n", tmp,
				strerror(errno));
			rc = EXIT_IO;
			goto out_kb;
		}
	}
	size_t n = 0;
	int r = kb_export(kb, out, &q, &n);
	if (!to_stdout && fclose(out) != 0 && !r)
		r = -errno;
	if (r) {
		if (kb_error(kb)->code)
			cli_print_err("cairn kb export", kb_error(kb));
		else
			fprintf(stderr, "cairn kb export: %s\n", err_str(r));
		rc = r == CAIRN_E_STORE ? EXIT_REFUSED : EXIT_IO;
		if (tmp)
			unlink(tmp);
		goto out_kb;
	}
	if (!to_stdout) {
		if (rename(tmp, path) != 0) {
			fprintf(stderr, "cairn kb export: cannot rename to '%s': %s\n", path,
				strerror(errno));
			unlink(tmp);
			rc = EXIT_IO;
			goto out_kb;
		}
		if (a->json)
			print_json(json_pack("{s:I,s:s}", "exported", (json_int_t)n, "file", path));
		else
			printf("exported %zu entr%s to %s\n", n, n == 1 ? "y" : "ies", path);
	}
out_kb:
	kb_close(kb);
out:
	free(tmp);
	free(project);
	return rc;
}

struct import_ctx {
	const char *name;
	bool json;
};

static void on_import_report(void *ctx, size_t line, bool skipped, const char *msg)
{
	const struct import_ctx *c = ctx;
	fprintf(stderr, "cairn kb import: %s:%zu: %s%s\n", c->name, line, msg,
		skipped ? " (line skipped)" : "");
}

static int do_import(const struct config *cfg, struct args *a)
{
	struct kb *kb;
	const char *path = a->pos[0];
	bool from_stdin = strcmp(path, "-") == 0;
	FILE *in = from_stdin ? stdin : fopen(path, "r");
	int rc;
	if (!in) {
		fprintf(stderr, "cairn kb import: cannot read '%s': %s\n", path, strerror(errno));
		return EXIT_IO;
	}
	if ((rc = open_kb(cfg, &kb))) {
		if (!from_stdin)
			fclose(in);
		return rc;
	}
	struct kb_import_stats st;
	struct import_ctx ctx = {from_stdin ? "<stdin>" : path, a->json};
	int r = kb_import(kb, in, &st, on_import_report, &ctx);
	if (!from_stdin)
		fclose(in);
	if (r && r != CAIRN_E_PARSE) {
		cli_print_err("cairn kb import", kb_error(kb));
		rc = r == CAIRN_E_STORE ? EXIT_REFUSED : EXIT_IO;
	} else {
		rc = r ? EXIT_REFUSED : EXIT_OK;
	}
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "lines", (json_int_t)st.lines,
			      "imported", (json_int_t)st.imported, "updated",
			      (json_int_t)st.updated, "unchanged", (json_int_t)st.unchanged,
			      "duplicates", (json_int_t)st.duplicates, "bad", (json_int_t)st.bad,
			      "unresolved", (json_int_t)st.unresolved);
	if (a->json) {
		print_json(json_incref(o));
	} else {
		printf("imported %zu, updated %zu, unchanged %zu, skipped %zu", st.imported,
		       st.updated, st.unchanged, st.duplicates + st.bad);
		if (st.duplicates + st.bad)
			printf(" (%zu identical to existing entries, %zu bad line%s)",
			       st.duplicates, st.bad, st.bad == 1 ? "" : "s");
		putchar('\n');
		if (kb_redactions(kb))
			fprintf(stderr, "cairn kb import: %u secret%s replaced by [REDACTED:...]\n",
				kb_redactions(kb), kb_redactions(kb) == 1 ? " was" : "s were");
	}
	if (st.imported || st.updated) {
		json_object_set_new(o, "file", json_string(ctx.name));
		publish(cfg, "imported", NULL, json_incref(o));
	}
	json_decref(o);
	kb_close(kb);
	return rc;
}

int cmd_kb(int argc, char **argv, const struct config *cfg)
{
	if (argc < 2) {
		cli_usage(stderr, "kb");
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	struct args a = {0};
	if (strcmp(name, "help") == 0) {
		cli_usage(stdout, "kb");
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_VERBS && !a.verb; i++)
		if (strcmp(verbs[i].name, name) == 0)
			a.verb = &verbs[i];
	if (!a.verb)
		return usage_error(NULL, "unknown verb '%s'", name);
	/* Before anything reads cfg: main passes NULL when only help is asked for. */
	if (cli_wants_help(argc - 1, argv + 1)) {
		printf("usage: cairn kb %s %s\n\n%s" EXIT_HELP, a.verb->name, a.verb->usage,
		       a.verb->help);
		return EXIT_OK;
	}
	int rc = parse_args(argc - 1, argv + 1, &a);
	if (rc)
		goto out;
	if (strcmp(name, "add") == 0)
		rc = do_add(cfg, &a);
	else if (strcmp(name, "show") == 0)
		rc = do_show(cfg, &a);
	else if (strcmp(name, "edit") == 0)
		rc = do_edit(cfg, &a);
	else if (strcmp(name, "search") == 0)
		rc = do_search(cfg, &a, false);
	else if (strcmp(name, "list") == 0)
		rc = do_search(cfg, &a, true);
	else if (strcmp(name, "export") == 0)
		rc = do_export(cfg, &a);
	else if (strcmp(name, "import") == 0)
		rc = do_import(cfg, &a);
	else if (strcmp(name, "stale") == 0)
		rc = do_stale(cfg, &a);
	else
		rc = do_state(cfg, &a);
out:
	args_release(&a);
	return rc;
}
