/* Secret redaction: one table of rules (POSIX extended regular expressions)
 * applied to a text, each secret replaced by "[REDACTED:kind]". */
#include "kb/redact.h"

#include "common/xalloc.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* How a rule finds its secret: the first group of groups[] that took part in
 * the match is the secret (a group of 0 stands for the whole match). Several
 * groups are listed when the value may be written in several ways (quoted,
 * single-quoted, bare), one group per way. */
#define RULE_GROUPS 3
/* Capture groups reported per match; a rule's secret group must be below. */
#define MAX_GROUPS 16

struct rule {
	const char *kind; /* the marker says [REDACTED:kind] */
	bool icase;       /* match letters in either case (the pattern is lower case) */
	unsigned char groups[RULE_GROUPS];
	const char *re; /* POSIX ERE; see the notes above the table */
	/* NULL, or words (separated by blanks) one of which must name the
	 * command the secret is given to: it must come earlier in the same
	 * command (after the last '|', ';', '&' or newline), at most
	 * CONTEXT_MAX bytes before. For options that mean a password to one
	 * program only, such as mysql's -pSECRET. */
	const char *context;
	/* The prefilter: NULL, or words (separated by blanks, each of two
	 * bytes or more) one of which every match holds: where none occurs in
	 * a text, the rule is not run on it, which is most of the time for
	 * most rules. In lower case for a case-insensitive rule, as it is
	 * looked for in the lower-cased text. A rule's context words, if any,
	 * are required the same way (in the text as it is). */
	const char *anchors;
	/* NULL, or bytes one of which every match holds as well (the ':' of
	 * "user:password@", the '=' of an assignment): a second necessary
	 * condition, checked once the anchors are found. */
	const char *also;
};

#define CONTEXT_MAX 512

/* Building blocks of the table.
 *
 * ERE has no look-behind, so a rule that needs a boundary before its secret
 * (so that "xghp_..." is not taken for a GitHub token) consumes the boundary
 * character in a group of its own and names the secret's group. Each boundary
 * class is disjoint from the characters of the secret that follows it: then
 * a search that fails stops at the end of one run of secret-like characters
 * instead of rescanning it from every byte, which keeps the time linear.
 *
 * VAL is the value of an assignment or an option, as a shell user writes it:
 * double-quoted (escapes allowed), single-quoted, or bare up to the next
 * blank or shell operator. A value that starts with '$' or '`' is a
 * reference to a variable or a command, not a secret, and is left alone.
 * VAL adds 6 groups; if k groups open before it, group k+2 is the
 * double-quoted content, k+5 the single-quoted content, k+6 the bare value. */
#define VAL                                                                                        \
	"(\"((\\\\.|[^\"\\$`])(\\\\.|[^\"\\])*)\"|'([^']+)'|"                                      \
	"([^-$`[:space:]'\"&;|<>()][^[:space:]'\"&;|<>()`]*))"

/* Key names that hold a secret in key=value, --key value and JSON. */
#define PASSWORD_WORDS "password|passwd|passphrase"
#define SECRET_WORDS                                                                               \
	"token|secret|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret"

/* PEM armour line of a private key: "-----BEGIN RSA PRIVATE KEY-----",
 * "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN PGP PRIVATE KEY BLOCK-----". */
#define PEM_BEGIN "-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
#define PEM_END "-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
/* A PEM body: anything without "--", so that it cannot run past its END line
 * into the next block. */
#define PEM_BODY "([^-]|-[^-])*"

/* The rules below that read a command's arguments separate them by blanks,
 * not newlines: a value on the next line of a log is another line's text.
 *
 * htpasswd's arguments: an option word whose letters are in the bracket
 * set L (-C and -r, which may end it, take a number); one that holds a b
 * (batch: the password is an argument); one that holds an n (no file:
 * "-nb"); a file or user name. None adds a group of its own. */
#define HT_OPT(L) "-[" L "]*[Cr][[:blank:]]+[0-9]+|-[" L "]+"
#define HT_OPT_B(L) "-[" L "]*b[" L "]*[Cr][[:blank:]]+[0-9]+|-[" L "]*b[" L "]*"
#define HT_OPT_N "-[A-Za-z]*n[A-Za-z]*[Cr][[:blank:]]+[0-9]+|-[A-Za-z]*n[A-Za-z]*"
#define HT_ARG "[^-[:space:]'\"&;|<>()][^[:space:]'\"&;|<>()]*"

/* The rules, most specific first: when the secrets of several rules overlap
 * they are merged into one marker that takes the kind of the first rule. */
/* clang-format off */
static const struct rule rules[] = {
	/* Private keys: the whole block from BEGIN to END; a block cut short
	 * (no END line) from BEGIN to the end of its base64 body. */
	{"private-key", false, {0}, PEM_BEGIN PEM_BODY PEM_END, NULL, "-----BEGIN", NULL},
	{"private-key", false, {0},
	 PEM_BEGIN "[[:space:]]+([A-Za-z-]+:[^\n]*\n[[:space:]]*)*[A-Za-z0-9+/=]{16}" PEM_BODY,
	 NULL, "-----BEGIN", NULL},

	/* Cloud and service tokens recognisable by their prefix. */
	{"aws-key-id", false, {2},
	 "([^A-Za-z0-9])((AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16})"
	 "([^A-Za-z0-9])", NULL, "AKIA ASIA ABIA ACCA AGPA AIDA AIPA ANPA ANVA APKA AROA", NULL},
	/* An AWS secret key is 40 characters of base64 with nothing to tell it
	 * from other text (a commit hash also has 40), so only in context. */
	{"aws-secret", true, {3},
	 "(aws[_-]?secret[_-]?(access[_-]?)?key|secret[_-]?access[_-]?key)[\"']?[[:space:]]*[:=]?"
	 "[[:space:]]*[\"']?([A-Za-z0-9/+]{40})([^A-Za-z0-9/+])", NULL, "secret", NULL},
	{"github-token", false, {2},
	 "([^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36}[A-Za-z0-9]*|github_pat_[A-Za-z0-9_]{22}"
	 "[A-Za-z0-9_]*)", NULL, "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_", NULL},
	{"gitlab-token", false, {2},
	 "([^A-Za-z0-9_])((glpat|gldt|glrt|glptt|glft|glsoat|glcbt|glimt|gloas|glagent)-"
	 "[A-Za-z0-9_-]{20}[A-Za-z0-9_.-]*)",
	 NULL, "glpat- gldt- glrt- glptt- glft- glsoat- glcbt- glimt- gloas- glagent-", NULL},
	{"slack-token", false, {2},
	 "([^A-Za-z0-9_])(xox[abeoprs]-[A-Za-z0-9-]{10}[A-Za-z0-9-]*|xapp-[0-9]+-[A-Za-z0-9-]{10}"
	 "[A-Za-z0-9-]*)", NULL, "xox xapp-", NULL},
	{"slack-webhook", false, {2},
	 "hooks\\.slack\\.com/(services|workflows|triggers)/([A-Za-z0-9_/-]+)",
	 NULL, "hooks.slack.com/", NULL},
	{"google-api-key", false, {2}, "([^A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35}[0-9A-Za-z_-]*)",
	 NULL, "AIza", NULL},
	{"google-oauth-token", false, {2},
	 "([^A-Za-z0-9_-])(ya29\\.[0-9A-Za-z_-]{20}[0-9A-Za-z_-]*)", NULL, "ya29.", NULL},
	/* OpenAI and Anthropic keys. The bare "sk-" form allows no dashes, so
	 * that a long branch name such as "sk-fix-..." is not taken for one. */
	{"api-key", false, {2},
	 "([^A-Za-z0-9_-])(sk-[A-Za-z0-9]{32}[A-Za-z0-9]*|sk-(proj|svcacct|admin|ant)-"
	 "[A-Za-z0-9_-]{32}[A-Za-z0-9_-]*)", NULL, "sk-", NULL},
	{"stripe-key", false, {2},
	 "([^A-Za-z0-9_])((sk|rk)_(live|test)_[0-9A-Za-z]{16}[0-9A-Za-z]*)",
	 NULL, "k_live_ k_test_", NULL},
	{"npm-token", false, {2}, "([^A-Za-z0-9_])(npm_[A-Za-z0-9]{36}[A-Za-z0-9]*)", NULL, "npm_", NULL},
	{"pypi-token", false, {2}, "([^A-Za-z0-9_-])(pypi-AgE[A-Za-z0-9_-]{50}[A-Za-z0-9_-]*)",
	 NULL, "pypi-AgE", NULL},
	{"huggingface-token", false, {2}, "([^A-Za-z0-9_])(hf_[A-Za-z0-9]{30}[A-Za-z0-9]*)",
	 NULL, "hf_", NULL},
	{"jwt", false, {2},
	 "([^A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*\\.eyJ[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*"
	 "\\.[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*)", NULL, "eyJ", NULL},
	{"azure-key", true, {2}, "([^A-Za-z0-9])accountkey=([A-Za-z0-9+/=]{20}[A-Za-z0-9+/=]*)",
	 NULL, "accountkey=", NULL},
	/* Signatures and session tokens in pre-signed URLs grant access alone. */
	{"url-signature", true, {2},
	 "[?&](sig|signature|x-amz-signature|x-amz-security-token|x-goog-signature)="
	 "([^&#[:space:]'\"]+)", NULL, "sig= signature= security-token=", NULL},

	/* Credentials in a URL: scheme://user:password@host. */
	{"url-password", false, {2},
	 "([^A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:[:space:]'\"]*:"
	 "([^$/?#[:space:]'\"][^/?#[:space:]'\"]*)@", NULL, "://", "@"},

	/* HTTP headers. */
	{"bearer", true, {1},
	 "authorization[[:space:]]*:[[:space:]]*bearer[[:space:]]+([A-Za-z0-9._~+/=-]+)",
	 NULL, "authorization", NULL},
	{"auth-header", true, {2},
	 "authorization[[:space:]]*:[[:space:]]*(basic|token|bot|apikey|sso-key)[[:space:]]+"
	 "([A-Za-z0-9._~+/=:,-]+)", NULL, "authorization", NULL},
	/* "Bearer" outside a header: only a long token, not "bearer tokens". */
	{"bearer", true, {2},
	 "([^A-Za-z0-9_])bearer[[:space:]]+([A-Za-z0-9._~+/=-]{20}[A-Za-z0-9._~+/=-]*)",
	 NULL, "bearer", NULL},
	{"auth-header", true, {3},
	 "([^A-Za-z0-9_/-])(x-api-key|x-auth-token|x-access-token|private-token|x-gitlab-token|"
	 "x-vault-token|x-goog-api-key|api-key|apikey)[[:space:]]*:[[:space:]]*"
	 "([^$[:space:]'\"][^[:space:]'\"]*)", NULL, "api-key apikey -token", ":"},

	/* Passwords given to well-known commands. */
	{"password-flag", false, {3},
	 "([[:space:]])-(passin|passout|pass|password|passphrase)[[:space:]]+pass:"
	 "([^[:space:]'\"]+)", NULL, "pass:", NULL},
	{"password-flag", false, {3, 6, 7}, "([^A-Za-z0-9_-])sshpass[[:space:]]+-p[[:space:]]*" VAL,
	 NULL, "sshpass", NULL},
	/* mysql -pSECRET: the password glued to -p ("-p" alone prompts). */
	{"password-flag", false, {3, 6, 7}, "([[:space:]])-p" VAL,
	 "mysql mysqldump mysqladmin mariadb mariadb-dump", "-p", NULL},
	{"basic-auth", false, {4},
	 "([[:space:]])(-u|--user)(=|[[:space:]]*)[\"']?[^:[:space:]'\"]*:"
	 "([^$[:space:]'\"][^[:space:]'\"]*)",
	 "curl", "-u", ":"},
	/* docker/podman/oc/az login -p SECRET: -p is a published port to
	 * docker run, so only after a "login". */
	{"password-flag", false, {4, 7, 8}, "([[:space:]])-p(=|[[:blank:]]+)" VAL, "login", "-p", NULL},
	/* redis-cli -a SECRET, --pass SECRET. */
	{"password-flag", false, {4, 7, 8}, "([[:space:]])(-a|--pass)[[:blank:]]+" VAL,
	 "redis-cli valkey-cli keydb-cli", "-a --pass", NULL},
	/* openssl enc -k SECRET (-kfile names a file). */
	{"password-flag", false, {3, 6, 7}, "([[:space:]])-k[[:blank:]]+" VAL, "openssl", "-k", NULL},
	/* aws configure set [profile.NAME.]aws_secret_access_key SECRET, of any
	 * length (the aws-secret rule above wants exactly 40 characters). */
	{"aws-secret", false, {5, 8, 9},
	 "([[:space:]])([A-Za-z0-9_-]+\\.)*(aws_secret_access_key|aws_session_token)[[:blank:]]+" VAL,
	 "aws", "aws_secret_access_key aws_session_token", NULL},
	/* htpasswd -b[cmBdps...] FILE USER SECRET and htpasswd -nb USER SECRET:
	 * the password is the last argument (HT_* above). The two forms are
	 * told apart by -n, which drops the FILE. */
	{"password-arg", false, {8, 11, 12},
	 "([^A-Za-z0-9_-])htpasswd([[:blank:]]+(" HT_OPT("A-Za-mo-z") "))*[[:blank:]]+(" HT_OPT_B(
	     "A-Za-mo-z") ")([[:blank:]]+(" HT_OPT("A-Za-mo-z") "))*[[:blank:]]+" HT_ARG
	 "[[:blank:]]+" HT_ARG "[[:blank:]]+" VAL,
	 NULL, "htpasswd", NULL},
	{"password-arg", false, {8, 11, 12},
	 "([^A-Za-z0-9_-])htpasswd([[:blank:]]+(" HT_OPT("A-Za-z") "))*[[:blank:]]+(" HT_OPT_N
	 ")([[:blank:]]+(" HT_OPT("A-Za-z") "))*[[:blank:]]+" HT_ARG "[[:blank:]]+" VAL,
	 NULL, "htpasswd", NULL},

	/* Options: --password VALUE, --db-password=VALUE, --token VALUE. The
	 * keyword must end the option name: "--password-file PATH" and
	 * "--password-stdin" are not secrets. */
	{"password-flag", true, {6, 9, 10},
	 "([[:space:]])--?([A-Za-z0-9]+[-_])*(" PASSWORD_WORDS ")(=|[[:space:]]+)" VAL,
	 NULL, "-passw _passw -passp _passp", NULL},
	{"secret-flag", true, {6, 9, 10},
	 "([[:space:]])--?([A-Za-z0-9]+[-_])*(" SECRET_WORDS "|bearer)(=|[[:space:]]+)" VAL,
	 NULL, "-token _token -secret _secret -api _api -access _access -private _private "
	 "-client _client -bearer _bearer", NULL},

	/* JSON members, plain and inside a double-quoted shell string. */
	{"json-secret", true, {2},
	 "\"[A-Za-z0-9_-]*(" PASSWORD_WORDS "|" SECRET_WORDS ")\"[[:space:]]*:[[:space:]]*"
	 "\"(([^\"\\$]|\\\\.)([^\"\\]|\\\\.)*)\"", NULL,
	 "password\" passwd\" passphrase\" token\" secret\" key\"", ":"},
	{"json-secret", true, {2},
	 "\\\\\"[A-Za-z0-9_-]*(" PASSWORD_WORDS "|" SECRET_WORDS ")\\\\\"[[:space:]]*:[[:space:]]*"
	 "\\\\\"(([^\"\\$]|\\\\[^\"])([^\"\\]|\\\\[^\"])*)\\\\\"",
	 NULL,
	 "password\\\" passwd\\\" passphrase\\\" token\\\" secret\\\" key\\\"", ":"},

	/* Environment assignments (export X=..., X=... cmd, docker -e X=...)
	 * whose upper-case name contains a keyword that ends the name or one of
	 * its _-separated parts: PGPASSWORD, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY,
	 * but not TOKENIZERS_PARALLELISM or SECRETARY. */
	{"env-secret", false, {5, 8, 9},
	 "([^A-Za-z0-9_])[A-Za-z0-9_]*(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_KEY|APIKEY|"
	 "PRIVATE|ACCESS_KEY|MYSQL_PWD)S?(_[A-Za-z0-9_]*)?=" VAL,
	 NULL, "TOKEN SECRET PASSW PASSP API_KEY APIKEY PRIVATE ACCESS_KEY MYSQL_PWD", "="},

	/* key=value: password=..., db.password=..., -Dpassword=...,
	 * access_token=... (also in URL queries). The key must end with the
	 * keyword: "password_reset.py" and "tokenizer=..." are not secrets. */
	{"password", true, {6, 9, 10},
	 "([^A-Za-z0-9._-])(-d)?([A-Za-z0-9]+[._-])*(" PASSWORD_WORDS ")=" VAL,
	 NULL, "password= passwd= passphrase=", NULL},
	{"secret", true, {6, 9, 10},
	 "([^A-Za-z0-9._-])(-d)?([A-Za-z0-9]+[._-])*(" SECRET_WORDS ")=" VAL,
	 NULL, "token= secret= key=", NULL},
};
/* clang-format on */

#define N_RULES (sizeof rules / sizeof rules[0])

/* Passes stop at a fixed point. A pass can find more on the output of the
 * one before when a secret it replaced held the character that ended
 * another rule's match (a quote, a '|', a blank): with the marker in its
 * place, the other rule reads on. Each pass replaces at least one byte that
 * is not part of a marker and never splits a marker, so passes always end.
 * Real text needs one pass (and one more that finds nothing); in 20 minutes
 * of fuzzing, random bytes needed at most three. The cap bounds the time on
 * input built to chain further; what such input keeps is text that no rule
 * matched in the original, only next to a marker. */
#define MAX_PASSES 16

static regex_t compiled[N_RULES];
static locale_t c_locale;
static pthread_once_t compile_once = PTHREAD_ONCE_INIT;

/* The prefilter, built from the table by compile_rules(). Every anchor and
 * context word of every rule is a needle (the same word for two rules is
 * one needle); one pass over a text (find_needles()) tells which needles
 * occur in it, and a rule runs only if one of its anchors, one of its
 * context words and one of its "also" bytes did (rule_may_match()). Each
 * of these is a necessary condition of a match (see the table), so a rule
 * skipped could not have matched, and the output is what running every
 * rule would give. The pass replaces one memmem() per word (about 90)
 * over the whole text. */
#define MAX_NEEDLES 192
#define NEEDLE_WORDS ((MAX_NEEDLES + 63) / 64)

struct needle {
	const char *s; /* into the table's strings; not NUL-terminated here */
	size_t len;    /* >= 2 */
	bool icase;    /* looked for in the lower-cased text */
};

/* The needles whose first byte, lower-cased, is b: an index of first[b]
 * into by_first[], n_first[b] of them. pairs has bit (b0 << 8 | b1) set
 * when some needle starts with the bytes b0 b1 (lower-cased): most text
 * positions are ruled out by that one test. */
static struct needle needles[MAX_NEEDLES];
static size_t n_needles;
static unsigned char by_first[MAX_NEEDLES];
static unsigned short first[256], n_first[256];
static uint64_t pairs[65536 / 64];

/* A rule's needles: anchors (any one), context words (any one). */
#define RULE_WORDS_MAX 16
struct rule_needles {
	unsigned char anchor[RULE_WORDS_MAX], context[RULE_WORDS_MAX];
	unsigned char n_anchor, n_context;
};
static struct rule_needles rule_needles[N_RULES];

struct found {
	uint64_t bits[NEEDLE_WORDS];
};

static inline unsigned char lower_byte(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The id of needle w[0..len) (added if new). The table is part of the
 * program: a word too short or too many words is a bug, so abort. */
static unsigned char needle_id(size_t rule, const char *w, size_t len, bool icase)
{
	for (size_t i = 0; i < n_needles; i++)
		if (needles[i].len == len && needles[i].icase == icase &&
		    memcmp(needles[i].s, w, len) == 0)
			return (unsigned char)i;
	if (len < 2 || n_needles == MAX_NEEDLES) {
		fprintf(stderr, "cairn: redaction rule %zu (%s): anchor '%.*s' is %s\n", rule,
			rules[rule].kind, (int)len, w,
			len < 2 ? "shorter than 2 bytes" : "one too many");
		abort();
	}
	needles[n_needles] = (struct needle){w, len, icase};
	return (unsigned char)n_needles++;
}

/* Adds the blank-separated words of words to ids[] (*n of them). */
static void add_needles(size_t rule, const char *words, bool icase, unsigned char *ids,
			unsigned char *n)
{
	for (const char *w = words; w && *w;) {
		size_t wl = strcspn(w, " ");
		if (*n == RULE_WORDS_MAX) {
			fprintf(stderr, "cairn: redaction rule %zu (%s) has too many anchors\n",
				rule, rules[rule].kind);
			abort();
		}
		ids[(*n)++] = needle_id(rule, w, wl, icase);
		w += wl;
		w += strspn(w, " ");
	}
}

/* Builds needles[], the index by first byte and pairs[] from the table. */
static void build_prefilter(void)
{
	for (size_t i = 0; i < N_RULES; i++) {
		struct rule_needles *rn = &rule_needles[i];
		add_needles(i, rules[i].anchors, rules[i].icase, rn->anchor, &rn->n_anchor);
		add_needles(i, rules[i].context, false, rn->context, &rn->n_context);
	}
	/* Counting sort of the needles by lower-cased first byte. */
	for (size_t i = 0; i < n_needles; i++)
		n_first[lower_byte((unsigned char)needles[i].s[0])]++;
	unsigned short at = 0;
	for (int b = 0; b < 256; b++) {
		first[b] = at;
		at = (unsigned short)(at + n_first[b]);
	}
	unsigned short fill[256];
	memcpy(fill, first, sizeof fill);
	for (size_t i = 0; i < n_needles; i++) {
		unsigned char b0 = lower_byte((unsigned char)needles[i].s[0]);
		unsigned char b1 = lower_byte((unsigned char)needles[i].s[1]);
		by_first[fill[b0]++] = (unsigned char)i;
		unsigned key = (unsigned)b0 << 8 | b1;
		pairs[key / 64] |= 1ull << (key % 64);
	}
}

/* Which needles occur in text (len bytes): an icase needle anywhere in the
 * lower-cased text, any other in the text as it is. One pass: each position
 * is tested against pairs[], and the few that pass against the needles
 * starting with that byte. */
static void find_needles(const char *text, size_t len, struct found *f)
{
	memset(f, 0, sizeof *f);
	if (len < 2)
		return;
	const unsigned char *t = (const unsigned char *)text;
	unsigned char c0 = lower_byte(t[0]);
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char c1 = lower_byte(t[i + 1]);
		unsigned key = (unsigned)c0 << 8 | c1;
		if (pairs[key / 64] & (1ull << (key % 64))) {
			for (unsigned k = first[c0], e = first[c0] + n_first[c0]; k < e; k++) {
				const struct needle *nd = &needles[by_first[k]];
				if (nd->len > len - i ||
				    (f->bits[by_first[k] / 64] >> (by_first[k] % 64)) & 1)
					continue;
				bool eq = true;
				if (nd->icase) {
					for (size_t j = 0; j < nd->len && eq; j++)
						eq = lower_byte(t[i + j]) ==
						     (unsigned char)nd->s[j];
				} else {
					eq = memcmp(t + i, nd->s, nd->len) == 0;
				}
				if (eq)
					f->bits[by_first[k] / 64] |= 1ull << (by_first[k] % 64);
			}
		}
		c0 = c1;
	}
}

static bool any_found(const struct found *f, const unsigned char *ids, unsigned char n)
{
	for (unsigned char i = 0; i < n; i++)
		if ((f->bits[ids[i] / 64] >> (ids[i] % 64)) & 1)
			return true;
	return false;
}

/* The prefilter of rule i on text (len bytes), whose needles are f: false
 * when no match of the rule can be in the text. */
static bool rule_may_match(size_t i, const char *text, size_t len, const struct found *f)
{
#ifdef REDACT_NO_PREFILTER
	/* bench/kb/bench_redact.c's peer: every rule on every text. */
	return true;
#endif
	const struct rule_needles *rn = &rule_needles[i];
	if (rn->n_anchor && !any_found(f, rn->anchor, rn->n_anchor))
		return false;
	if (rn->n_context && !any_found(f, rn->context, rn->n_context))
		return false;
	if (rules[i].also) {
		for (const char *b = rules[i].also; *b; b++)
			if (memchr(text, *b, len))
				return true;
		return false;
	}
	return true;
}

/* True if the ERE re has an upper-case letter outside a bracket expression:
 * a case-insensitive rule, which searches lower-cased text, could never
 * match it. */
static bool upper_outside_brackets(const char *re)
{
	for (const char *p = re; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[') {
			/* Skip to the closing ']': one right after '[' or '[^' is a
			 * member, and so is a class such as [:space:]. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (p[0] == '[' && p[1] == ':') {
					const char *e = strstr(p + 2, ":]");
					p = e ? e + 1 : p + 1;
				}
				p++;
			}
			if (!*p)
				return false;
		} else if (*p >= 'A' && *p <= 'Z') {
			return true;
		}
	}
	return false;
}

/* Compiles the table once. The rules are part of the program, so one that
 * does not compile is a bug: abort with the rule and the reason. The C locale
 * makes the regular expressions work on bytes whatever the process's locale,
 * so invalid UTF-8 is just bytes. */
static void compile_rules(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (c_locale == (locale_t)0) {
		fprintf(stderr, "cairn: cannot create the C locale for redaction\n");
		abort();
	}
	locale_t old = uselocale(c_locale);
	build_prefilter();
	for (size_t i = 0; i < N_RULES; i++) {
		if (rules[i].icase && upper_outside_brackets(rules[i].re)) {
			fprintf(stderr,
				"cairn: redaction rule %zu (%s) is case-insensitive but "
				"has an upper-case letter outside [...]\n",
				i, rules[i].kind);
			abort();
		}
		for (const char *a = rules[i].anchors; rules[i].icase && a && *a; a++)
			if (*a >= 'A' && *a <= 'Z') {
				fprintf(stderr,
					"cairn: redaction rule %zu (%s) is case-insensitive but "
					"has an upper-case anchor\n",
					i, rules[i].kind);
				abort();
			}
		int r = regcomp(&compiled[i], rules[i].re, REG_EXTENDED);
		if (r != 0) {
			char msg[256];
			regerror(r, &compiled[i], msg, sizeof msg);
			fprintf(stderr, "cairn: redaction rule %zu (%s) is broken: %s\n", i,
				rules[i].kind, msg);
			abort();
		}
		for (int g = 0; g < RULE_GROUPS; g++)
			if (rules[i].groups[g] > compiled[i].re_nsub ||
			    rules[i].groups[g] >= MAX_GROUPS) {
				fprintf(stderr,
					"cairn: redaction rule %zu (%s) names group %d of %zu\n", i,
					rules[i].kind, rules[i].groups[g], compiled[i].re_nsub);
				abort();
			}
	}
	uselocale(old);
}

const char *redact_kind(size_t i)
{
	return i < N_RULES ? rules[i].kind : NULL;
}

/* One secret found in the text: bytes [start, end) and the rule. */
struct span {
	size_t start, end;
	size_t rule;
	size_t context_at; /* for a rule with a context: where its match starts */
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void spans_add(struct spans *s, size_t start, size_t end, size_t rule, size_t context_at)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	s->v[s->n++] = (struct span){start, end, rule, context_at};
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* The length of the marker at p (at most n bytes), or 0 if none starts there. */
static size_t marker_len(const char *p, size_t n)
{
	static const size_t plen = sizeof REDACT_MARKER_PREFIX - 1;
	if (n < plen + 2 || memcmp(p, REDACT_MARKER_PREFIX, plen) != 0)
		return 0;
	size_t i = plen;
	while (i < n &&
	       ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
		i++;
	return i > plen && i < n && p[i] == ']' ? i + 1 : 0;
}

/* True if p[0..n) is nothing but markers: a secret already redacted. */
static bool only_markers(const char *p, size_t n)
{
	while (n > 0) {
		size_t m = marker_len(p, n);
		if (m == 0)
			return false;
		p += m;
		n -= m;
	}
	return true;
}

/* The markers already in a text, in order: [start[i], end[i]). */
struct markers {
	size_t *start, *end;
	size_t n;
};

static void markers_find(struct markers *ms, const char *text, size_t len)
{
	static const size_t plen = sizeof REDACT_MARKER_PREFIX - 1;
	size_t cap = 0;
	memset(ms, 0, sizeof *ms);
	const char *p = text, *end = text + len;
	while ((p = memmem(p, (size_t)(end - p), REDACT_MARKER_PREFIX, plen)) != NULL) {
		size_t m = marker_len(p, (size_t)(end - p));
		if (m == 0) {
			p++;
			continue;
		}
		if (ms->n == cap) {
			cap = cap ? 2 * cap : 8;
			ms->start = xreallocarray(ms->start, cap, sizeof *ms->start);
			ms->end = xreallocarray(ms->end, cap, sizeof *ms->end);
		}
		ms->start[ms->n] = (size_t)(p - text);
		ms->end[ms->n] = (size_t)(p - text) + m;
		ms->n++;
		p += m;
	}
}

static void markers_release(struct markers *ms)
{
	free(ms->start);
	free(ms->end);
}

/* The marker strictly around pos (start < pos < end), or -1. */
static ssize_t marker_around(const struct markers *ms, size_t pos)
{
	size_t lo = 0, hi = ms->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ms->end[mid] <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ms->n && ms->start[lo] < pos ? (ssize_t)lo : -1;
}

/* Secrets already kept in a pass, sorted by start: maxend[j] is the largest
 * end among v[0..j], so whether any of them covers a byte is one lookup. */
struct kept {
	const struct span *v;
	const size_t *maxend;
	size_t n;
};

/* True if a kept secret covers byte pos - 1. *j is a cursor that callers
 * move from high positions to low ones: start it at n - 1. */
static bool covered(const struct kept *kp, ssize_t *j, size_t pos)
{
	while (*j >= 0 && kp->v[*j].start >= pos)
		(*j)--;
	return *j >= 0 && kp->maxend[*j] >= pos;
}

/* True if one of the blank-separated words in words is a command word
 * before pos in text, within the same command and CONTEXT_MAX bytes. A word
 * counts after a blank, a quote, '(' or '/' (as in /usr/bin/curl) and before
 * a blank. The kept secrets will be replaced: a '|' or ';' inside one does
 * not end a command and a word inside one does not count, so that the answer
 * is the same on the redacted text and a second pass finds nothing new. */
static bool context_before(const char *text, size_t pos, const char *words, const struct kept *kp)
{
	size_t from = pos > CONTEXT_MAX ? pos - CONTEXT_MAX : 0;
	size_t start = pos;
	ssize_t j = (ssize_t)kp->n - 1;
	while (start > from && (covered(kp, &j, start) || !strchr("|;&\n", text[start - 1])))
		start--;
	for (const char *w = words; *w;) {
		size_t wl = strcspn(w, " ");
		const char *p = text + start, *end = text + pos;
		while ((p = memmem(p, (size_t)(end - p), w, wl)) != NULL) {
			size_t at = (size_t)(p - text);
			ssize_t j1 = (ssize_t)kp->n - 1, j2 = j1;
			if (p + wl <= end && (p[wl] == ' ' || p[wl] == '\t') &&
			    (p == text || strchr(" \t\n\"'(/", p[-1])) &&
			    !covered(kp, &j1, at + wl) && !covered(kp, &j2, at + 1))
				return true;
			p++;
		}
		w += wl;
		w += strspn(w, " ");
	}
	return false;
}

/* One search of rule i in in[from, len). On a match, adds its secret to s
 * (unless it is no secret, see below) and returns true with the match's
 * start in *match_start and the secret's end in *secret_end. */
static bool search_rule(size_t i, const char *text, const char *in, size_t len, size_t from,
			const struct markers *ms, struct spans *s, size_t *match_start,
			size_t *secret_end)
{
	const struct rule *r = &rules[i];
	regmatch_t m[MAX_GROUPS];
	size_t nm = compiled[i].re_nsub + 1 < MAX_GROUPS ? compiled[i].re_nsub + 1 : MAX_GROUPS;

	/* REG_STARTEND searches [from, len) but sees the bytes before from as
	 * context. */
	m[0].rm_so = (regoff_t)from;
	m[0].rm_eo = (regoff_t)len;
	if (regexec(&compiled[i], in, nm, m, REG_STARTEND) != 0)
		return false;
	*match_start = (size_t)m[0].rm_so;
	int g = -1;
	for (int k = 0; k < RULE_GROUPS; k++) {
		int grp = r->groups[k];
		if (m[grp].rm_so >= 0) {
			g = grp;
			break;
		}
		if (grp == 0)
			break;
	}
	if (g < 0) {
		*secret_end = *match_start;
		return true;
	}
	size_t a = (size_t)m[g].rm_so, b = (size_t)m[g].rm_eo;
	*secret_end = b;

	/* A secret never includes the padding, and never splits a marker. One
	 * that starts inside a marker is no secret: the rule read the marker's
	 * ':' as a separator, as in "user:password". One that ends inside a
	 * marker takes all of it. */
	size_t sa = a < 1 ? 1 : a, sb = b > len - 1 ? len - 1 : b;
	ssize_t k = marker_around(ms, sb);
	if (k >= 0)
		sb = ms->end[k];
	/* The context, if any, is checked once all secrets are known. */
	if (sb > sa && marker_around(ms, sa) < 0 && !only_markers(text + sa, sb - sa))
		spans_add(s, sa, sb, i, *match_start);
	return true;
}

/* Finds every secret of rule i in text (len bytes, padded: see redact())
 * and adds it to s. The rule searches in, which is text or its lower-cased
 * copy; ms lists the markers already in text. */
static void find_rule(size_t i, const char *text, const char *in, size_t len,
		      const struct markers *ms, struct spans *s)
{
	size_t pos = 0, start, b;
	while (pos < len && search_rule(i, text, in, len, pos, ms, s, &start, &b)) {
		/* Go on from the end of the secret, not of the match: the match
		 * may have consumed the boundary before the next one. */
		pos = b > start + 1 ? b : start + 1;
	}
}

/* One pass of every rule over text (len bytes, padded). Returns a new padded
 * text (or NULL if nothing was found) and adds the number of markers
 * inserted to *count. */
static char *redact_pass(const char *text, size_t len, size_t *out_len, unsigned *count)
{
	/* Case-insensitive rules search a lower-cased copy rather than use
	 * REG_ICASE: glibc's REG_ICASE matcher copies the rest of its case-folded
	 * buffer each time it moves the start of a search, which makes a search
	 * over a long run of letters quadratic. Lower-casing keeps every offset,
	 * so a secret found in the copy is at the same place in the text. */
	char *lower = NULL;
	struct markers ms = {0};
	bool have_markers = false;
	struct found f;
	find_needles(text, len, &f);
	struct spans s = {0};
	for (size_t i = 0; i < N_RULES; i++) {
		if (!rule_may_match(i, text, len, &f))
			continue;
		/* Made for the first rule that runs: most texts need neither. */
		if (rules[i].icase && !lower) {
			lower = xmalloc(len + 1);
			for (size_t j = 0; j < len; j++)
				lower[j] = (char)lower_byte((unsigned char)text[j]);
			lower[len] = '\0';
		}
		if (!have_markers) {
			markers_find(&ms, text, len);
			have_markers = true;
		}
		find_rule(i, text, rules[i].icase ? lower : text, len, &ms, &s);
	}
	markers_release(&ms);
	free(lower);
	if (s.n == 0)
		return NULL;

	/* Secrets of rules with a context stay only in their context, judged
	 * in order so that the secrets before one count as replaced. */
	qsort(s.v, s.n, sizeof *s.v, span_cmp);
	size_t *maxend = xmalloc(s.n * sizeof *maxend);
	struct kept kp = {s.v, maxend, 0};
	for (size_t j = 0; j < s.n; j++) {
		const char *ctx = rules[s.v[j].rule].context;
		if (ctx && !context_before(text, s.v[j].context_at, ctx, &kp))
			continue;
		s.v[kp.n] = s.v[j];
		maxend[kp.n] =
			kp.n > 0 && maxend[kp.n - 1] > s.v[j].end ? maxend[kp.n - 1] : s.v[j].end;
		kp.n++;
	}
	free(maxend);
	s.n = kp.n;
	if (s.n == 0) {
		free(s.v);
		return NULL;
	}

	/* Overlapping secrets become one; it takes the kind of the first rule. */
	size_t k = 0;
	for (size_t j = 1; j < s.n; j++) {
		struct span *cur = &s.v[k];
		if (s.v[j].start < cur->end) {
			if (s.v[j].end > cur->end)
				cur->end = s.v[j].end;
			if (s.v[j].rule < cur->rule)
				cur->rule = s.v[j].rule;
		} else {
			s.v[++k] = s.v[j];
		}
	}
	size_t n = k + 1;

	size_t size = len;
	for (size_t j = 0; j < n; j++)
		size = size - (s.v[j].end - s.v[j].start) + sizeof REDACT_MARKER_PREFIX - 1 +
		       strlen(rules[s.v[j].rule].kind) + 1;
	char *out = xmalloc(size + 1);
	size_t o = 0, at = 0;
	for (size_t j = 0; j < n; j++) {
		memcpy(out + o, text + at, s.v[j].start - at);
		o += s.v[j].start - at;
		o += (size_t)sprintf(out + o, REDACT_MARKER_PREFIX "%s]", rules[s.v[j].rule].kind);
		at = s.v[j].end;
	}
	memcpy(out + o, text + at, len - at);
	o += len - at;
	out[o] = '\0';
	free(s.v);
	*out_len = o;
	*count += (unsigned)n;
	return out;
}

char *redact(const char *text, size_t len, size_t *out_len, unsigned *n_redactions)
{
	size_t dummy_len;
	unsigned dummy_n;
	if (!out_len)
		out_len = &dummy_len;
	if (!n_redactions)
		n_redactions = &dummy_n;
	*out_len = 0;
	*n_redactions = 0;
	if (len > REDACT_MAX_INPUT) {
		errno = E2BIG;
		return NULL;
	}
	pthread_once(&compile_once, compile_rules);
	locale_t old = uselocale(c_locale);

	/* The text is searched with a newline added at each end, so that the
	 * start and the end of the text are boundaries like any blank. The
	 * rules then need no '^' or '$', which would make glibc try a
	 * case-insensitive rule at every byte (50 times slower on long runs of
	 * letters). */
	size_t cur_len = len + 2;
	char *cur = xmalloc(cur_len + 1);
	cur[0] = '\n';
	if (len)
		memcpy(cur + 1, text, len);
	cur[len + 1] = '\n';
	cur[len + 2] = '\0';
	for (int pass = 0; pass < MAX_PASSES; pass++) {
		size_t next_len;
		char *next = redact_pass(cur, cur_len, &next_len, n_redactions);
		if (!next)
			break;
		free(cur);
		cur = next;
		cur_len = next_len;
	}
	uselocale(old);
	cur_len -= 2;
	memmove(cur, cur + 1, cur_len);
	cur[cur_len] = '\0';
	*out_len = cur_len;
	return cur;
}

static const char PEM_BEGIN_LIT[] = "-----BEGIN", PEM_END_LIT[] = "-----END";

/* The last "-----BEGIN" in p[0..n), or NULL. */
static const char *last_pem_begin(const char *p, size_t n)
{
	const char *last = NULL, *q = p, *end = p + n;
	while ((q = memmem(q, (size_t)(end - q), PEM_BEGIN_LIT, sizeof PEM_BEGIN_LIT - 1))) {
		last = q;
		q += sizeof PEM_BEGIN_LIT - 1;
	}
	return last;
}

/* How many bytes of p (n left) the next piece of redact_text() takes; see
 * redact.h for the rules. Always at least 1 when n > 0. */
static size_t piece_len(const char *p, size_t n)
{
	if (n <= REDACT_PIECE)
		return n;
	size_t max = n < REDACT_MAX_INPUT ? n : REDACT_MAX_INPUT;
	const char *nl = memrchr(p, '\n', REDACT_PIECE);
	if (!nl) {
		/* One line longer than a piece: all of it, if it fits in one
		 * redact(); else up to its last blank that does. */
		const char *e = memchr(p + REDACT_PIECE, '\n', max - REDACT_PIECE);
		if (e)
			return (size_t)(e - p) + 1;
		if (max == n)
			return n;
		for (size_t i = max; i > REDACT_PIECE; i--)
			if (p[i - 1] == ' ' || p[i - 1] == '\t' || p[i - 1] == '\r')
				return i;
		return max;
	}
	size_t len = (size_t)(nl - p) + 1;
	/* A private key block that the cut would split: end before its line,
	 * or, when it starts the piece, take it whole up to its END line. */
	const char *b = last_pem_begin(p, len);
	if (!b || memmem(b, len - (size_t)(b - p), PEM_END_LIT, sizeof PEM_END_LIT - 1))
		return len;
	const char *ls = memrchr(p, '\n', (size_t)(b - p));
	if (ls)
		return (size_t)(ls - p) + 1;
	const char *e = memmem(b, max - (size_t)(b - p), PEM_END_LIT, sizeof PEM_END_LIT - 1);
	if (!e)
		return len;
	const char *eol = memchr(e, '\n', max - (size_t)(e - p));
	return eol ? (size_t)(eol - p) + 1 : max;
}

char *redact_text(const char *text, size_t len, size_t *out_len, unsigned *n_redactions)
{
	size_t dummy_len;
	unsigned dummy_n;
	if (!out_len)
		out_len = &dummy_len;
	if (!n_redactions)
		n_redactions = &dummy_n;
	*n_redactions = 0;
	/* Markers are seldom longer than what they replace by much; the
	 * buffer doubles when they are. */
	size_t cap = len + len / 16 + 64, o = 0, at = 0;
	char *out = xmalloc(cap);
	while (at < len) {
		size_t n = piece_len(text + at, len - at), rl;
		unsigned k;
		char *r = redact(text + at, n, &rl, &k);
		if (!r) /* cannot happen: a piece is at most REDACT_MAX_INPUT */
			abort();
		if (o + rl + 1 > cap) {
			cap = 2 * cap > o + rl + 1 ? 2 * cap : o + rl + 1;
			out = xreallocarray(out, cap, 1);
		}
		memcpy(out + o, r, rl);
		o += rl;
		*n_redactions += k;
		free(r);
		at += n;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

unsigned redact_json(json_t *v)
{
	unsigned n = 0;
	if (json_is_string(v)) {
		size_t len = json_string_length(v);
		if (len > REDACT_MAX_INPUT)
			len = REDACT_MAX_INPUT;
		/* Cheap check first: most strings hold nothing that a rule could
		 * match, and redact() copies. */
		size_t out_len;
		unsigned k = 0;
		char *r = redact(json_string_value(v), len, &out_len, &k);
		if (r && (k > 0 || len != json_string_length(v)))
			json_string_setn(v, r, out_len);
		free(r);
		return k;
	}
	if (json_is_object(v)) {
		const char *key;
		json_t *x;
		json_object_foreach(v, key, x)
			n += redact_json(x);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			n += redact_json(x);
	}
	return n;
}
