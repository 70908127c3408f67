/* Fix shapes: a token-level summary of an edit that does not depend on
 * identifiers or layout, so that the same fix made in different code gets the
 * same key. When a failing build passes again, cairn records what changed;
 * two changes with the same shape are taken to be the same kind of fix:
 *
 *   if (i = 1)          ->  if (i == 1)            key "- = + =="
 *   scanf("%d", &n)     ->  scanf("%d", &n);       key "+ ;"
 *   int a, b, int c;    ->  int a, b, c;           key "- int"
 *   prinyf("YES");      ->  printf("YES");         key "- ID + printf"
 *   for (long i=1,i<5;  ->  for (int i=1;i<5;      key "- long - , + int + ;"
 *
 * How the key is made:
 *  1. Both sides are split into tokens by one tokenizer for C-family languages,
 *     Python and shell: identifiers, numbers, string literals ("...", """...""",
 *     `...`, with prefixes such as r"" or L""), single-quoted literals,
 *     operators (the longest of ... <<= >>= **= === !== <=> == != <= >= && ||
 *     ++ -- -> << >> += -= *= /= %= &= |= ^= :: => ** := .. ##) and single
 *     punctuation characters. Blanks and comments are dropped: // to the end
 *     of the line and slash-star to star-slash anywhere; '#' followed by a
 *     blank or the end of the line (a Python or shell comment); "#!" at the
 *     start of a line. A '#' at the start of a line (after blanks) followed
 *     by a letter is a preprocessor directive and one token ("#include");
 *     any other '#' is punctuation ("x = 1 #note" is code, not a comment).
 *  2. The two token sequences are compared with a longest common subsequence
 *     (exact token text); tokens only in `before` are removed, tokens only in
 *     `after` inserted.
 *  3. The key lists the removed tokens, each as "- T", then the inserted
 *     ones, each as "+ T", each group in order of appearance, joined by
 *     single spaces. T is the token with its spelling abstracted:
 *       ID   an identifier that is not in the keyword list below
 *       NUM  a number
 *       STR  a string literal, or a single-quoted literal of more than one
 *            character (Python and shell strings)
 *       CHR  a single-quoted literal of one character or one escape ('a',
 *            '\n', '\x41')
 *     Keywords, operators, punctuation and directives are kept as written.
 *     (TRACER's repair classes list insertions first; cairn lists removals
 *     first, so a replacement reads as "- old + new".)
 *
 * Keywords kept as written: the words common to C, C++, Java, JavaScript,
 * Go, Rust, Python and shell that change what a fix means, plus a few C
 * library calls that are often misspelt:
 *
 *   if else elif for while do return break continue switch case default goto
 *   int char float double long short unsigned signed void bool auto struct
 *   union enum const static extern typedef sizeof include define
 *   class def import from fn let var func package public private
 *   true false True False null NULL nullptr None nil self this new delete
 *   in not and or is try catch except finally throw raise pass lambda
 *   then fi done esac
 *   printf scanf malloc calloc realloc free strlen
 *
 * A change of blanks or comments only gives "" (as do equal texts). */
#ifndef CAIRN_FIXSHAPE_H
#define CAIRN_FIXSHAPE_H

#include <stdbool.h>
#include <stddef.h>

/* A reasonable size for the key buffer: large enough for any real fix. */
#define FIXSHAPE_MAX 256

/* The most tokens each side may have; a larger change is not a "fix" whose
 * shape means anything, and the comparison takes time and memory in
 * proportion to the tokens (O(n*m) time, O(n+m) memory). */
#define FIXSHAPE_MAX_TOKENS 4096

/* Computes the key of the edit that turns before[0..blen) into
 * after[0..alen): the old and new text of the changed region of one file
 * (the removed and the added lines of a diff hunk). The texts need not be
 * NUL-terminated and may hold any bytes; either may be NULL when its length
 * is 0.
 *
 * Writes the key to out, NUL-terminated and cut to at most outlen - 1 bytes
 * at a token boundary (so a cut key ends with a whole "- T" or "+ T"); an
 * outlen of 0 writes nothing. Returns 0, or CAIRN_E_TOOBIG (common/err.h)
 * when either side has more than FIXSHAPE_MAX_TOKENS tokens, in which case
 * out is "".
 *
 * Allocates scratch memory (aborting if there is none, see common/xalloc.h)
 * and frees it before returning; keeps no state: any thread may call it. */
int fixshape_compute(const char *before, size_t blen, const char *after, size_t alen, char *out,
		     size_t outlen);

/* ---- Types: which fix of several for one message fits this code ----
 *
 * Many fixes for one message differ only by what kind of value they bring
 * in: "use of undeclared identifier" is fixed by renaming to a declared
 * array in one program and to a declared float in another. A typed key
 * tells them apart, and a failing file that declares no array cannot take
 * the array fix (src/services/triage.c, applicability()).
 *
 * fixshape_decls_scan() reads the declarations of a C-family file with the
 * tokenizer above: a run of base type words (signed unsigned int long short
 * bool char float double, struct/union/enum NAME), with const static extern
 * auto around them, then declarators separated by commas up to ';' (or, in
 * a parameter list, up to the next base type). Each declared name gets the
 * kind of value it holds:
 *   "[]"  an array                  int a[20], b[][3]; f(int v[])
 *   "*"   a pointer                 char *s; int (*fp)(int)
 *   "()"  a function                int max(int a, int b)
 *   else the base word: int char short long float double bool struct
 *         ("long double" is double, "unsigned char" char, "unsigned" int).
 * A name declared with two kinds (an int i here, a float i there) has none.
 * Typedef'd names as types are not recognised. At most 8,192 names of at
 * most 127 bytes, from the first 262,144 tokens; any bytes are accepted.
 *
 * fixshape_compute_typed() is fixshape_compute() with each inserted
 * identifier that decls knows written "ID:KIND" ("+ ID:[]", "+ ID:float");
 * removed identifiers stay "ID" (a fix mostly removes an undeclared one).
 * decls may be NULL (then the key is fixshape_compute()'s). The learner
 * (src/services/learn.c) passes the declarations of the file after the fix.
 *
 * The scan is allocated (abort on no memory), keeps copies of the names in
 * a hash map (src/common/strmap.h) and none of the text; free it with
 * fixshape_decls_free() (NULL is a no-op). Lookups never allocate; a decls
 * is read-only after the scan, so threads may share it. */
struct fixshape_decls;

struct fixshape_decls *fixshape_decls_scan(const char *file, size_t flen);

/* The kind of value name[0..len) was declared with, or NULL. */
const char *fixshape_decls_type(const struct fixshape_decls *d, const char *name, size_t len);

/* Whether some name was declared with kind type[0..len). */
bool fixshape_decls_has_type(const struct fixshape_decls *d, const char *type, size_t len);

/* How many names were read. */
size_t fixshape_decls_count(const struct fixshape_decls *d);

void fixshape_decls_free(struct fixshape_decls *d);

int fixshape_compute_typed(const char *before, size_t blen, const char *after, size_t alen,
			   const struct fixshape_decls *decls, char *out, size_t outlen);

#endif
