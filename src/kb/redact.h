/* Secret redaction: finds credentials in free text (a shell command line, a
 * build log, a knowledge entry) and replaces each with a marker that names
 * its kind, keeping the text around it:
 *
 *   export GITHUB_TOKEN=ghp_...              ->  export GITHUB_TOKEN=[REDACTED:github-token]
 *   curl -H 'Authorization: Bearer eyJ...'   ->  curl -H 'Authorization: Bearer [REDACTED:bearer]'
 *   git clone https://me:hunter2@host/r.git  ->  git clone
 * https://me:[REDACTED:url-password]@host/r.git
 *
 * What counts as a secret is data: one table of rules in redact.c (kind,
 * POSIX extended regular expression, which capture group is the secret). The
 * cases that pin the rules down, positive and negative, are in
 * tests/data/redact/cases.txt.
 *
 * Guarantees:
 *  - The output is a fixed point: redact() of an output finds nothing more
 *    (fuzz/fuzz_redact.c checks this).
 *  - Text that is not a secret is kept byte for byte: git commit hashes,
 *    UUIDs, ULIDs, words such as "tokenizer", "password_reset.py",
 *    "--password-file PATH" and "$VARIABLE" references are left alone.
 *  - Bounded: input is capped at REDACT_MAX_INPUT bytes; time grows about
 *    linearly with the input (every rule is anchored on a literal or a
 *    delimiter, so no rule rescans a long run of text from each byte).
 *    A rule runs only on text that holds what every match of it holds
 *    (its prefilter, in the table of redact.c): one of its anchor words
 *    (a token's prefix such as "ghp_" or "AKIA", "password=" or "token="
 *    for key=value, "-password" or "_token" for an option, 'secret"' for a
 *    JSON member, "://" for a URL's password), the command it belongs to
 *    ("curl", "mysql") and, for some, a byte such as the '@' of
 *    "user:password@host". One pass over the text finds all of them, so
 *    text in which no rule can match, the common case, costs that pass
 *    and a copy, and a rule's regular expression runs only where a match
 *    is possible. Figures: bench/kb/bench_redact.c (docs/benchmarks.md);
 *    the worst shapes tried cost at most about 1.5 s per MiB (a MiB of
 *    "export TOKEN=x ").
 *
 * Markers look like "[REDACTED:kind]" with kind in [a-z0-9-]; redact_kind()
 * lists the kinds. A marker already present in the input is never redacted
 * again, so text can be passed through redact() any number of times.
 *
 * Thread safety: any thread may call these functions; the rules are compiled
 * once, on first use, under pthread_once. */
#ifndef CAIRN_REDACT_H
#define CAIRN_REDACT_H

#include <jansson.h>
#include <stddef.h>

/* The largest input redact() accepts: 1 MiB, the size of the largest event.
 * Callers with more text redact it in pieces cut at line boundaries or keep a
 * head and a tail; a secret is never passed through unredacted because it was
 * too long to look at. */
#define REDACT_MAX_INPUT (1024u * 1024)

/* The marker that replaces a secret is REDACT_MARKER_PREFIX kind "]". */
#define REDACT_MARKER_PREFIX "[REDACTED:"

/* Returns a malloc'd copy of text (len bytes; need not be NUL-terminated and
 * may contain NUL bytes) in which every secret is replaced by a marker. The
 * copy is NUL-terminated; its length is stored in *out_len and the number of
 * markers inserted in *n_redactions (either pointer may be NULL). The caller
 * frees the copy.
 *
 * Returns NULL, with errno set to E2BIG and *out_len and *n_redactions set to
 * 0, when len is over REDACT_MAX_INPUT; it never fails otherwise (allocation
 * failure aborts, see common/xalloc.h). text may be NULL when len is 0. */
char *redact(const char *text, size_t len, size_t *out_len, unsigned *n_redactions);

/* Redacts a text of any length (a build log, a captured output) the way
 * redact() does, in pieces cut at line ends, and returns the result as
 * redact() does (malloc'd, NUL-terminated, length in *out_len, markers in
 * *n_redactions; either pointer may be NULL). Never fails (allocation
 * failure aborts). text may be NULL when len is 0.
 *
 * Each piece is at most REDACT_PIECE bytes and ends after a newline, so a
 * secret on one line is always seen whole, and the time is linear in len
 * (each byte is in one piece). Two exceptions bound what a piece can be:
 *  - A piece does not end inside a private key block: when its last
 *    "-----BEGIN" has no "-----END" after it, the piece ends before that
 *    line, and the block (up to REDACT_MAX_INPUT bytes) starts the next.
 *  - A single line longer than REDACT_MAX_INPUT is cut at its last blank
 *    before that size (or, with no blank at all, at that size): a secret
 *    that straddles such a cut may be missed. No command output that a
 *    person reads has such lines; redact() itself refuses them outright.
 * Blocking; any thread may call it. Time: as redact(), about 0.1 s per MiB
 * of build or test output. */
char *redact_text(const char *text, size_t len, size_t *out_len, unsigned *n_redactions);

/* The size of the pieces redact_text() redacts at once: large enough that
 * the cost per call is negligible, small enough to keep memory low. */
#define REDACT_PIECE (64u * 1024)

/* The kind of rule i (0, 1, ...), as it appears in markers, or NULL past the
 * last rule. Several rules may share a kind. For tests and documentation. */
const char *redact_kind(size_t i);

/* Redacts, in place, every string value inside v (objects and arrays are
 * walked; keys are left alone). A string over REDACT_MAX_INPUT is cut to
 * that size first (a value that large is itself out of place in an event).
 * Returns the number of markers inserted. */
unsigned redact_json(json_t *v);

#endif
