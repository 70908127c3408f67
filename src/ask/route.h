/* The deterministic reasoner's router: which family a question belongs to,
 * which tool answers it, and the tool's arguments read from the question.
 * No model: words and phrases are cues with weights (route.c's table),
 * each family's cues are summed, and the family with the highest sum wins
 * (ties: the table's family order). Cues are word stems and short phrases
 * chosen for how people ask, not copied from any test question; the
 * questions of tests/data/ask/questions.jsonl measure it (docs/ask.md).
 *
 * Families and their tools:
 *
 *   why_failed  last_failure        why did it fail, what broke
 *   how_fixed   search_knowledge    how did we fix X before (kind fix)
 *   what_doing  session_state       what was I doing, where did I stop
 *   decided     search_knowledge    what did we decide about X (decision)
 *   mistakes    search_knowledge    what went wrong with X (mistake)
 *   next        predict_next        what is next
 *   changed     recent_activity     what changed since, what happened
 *   health      project_state       is everything healthy, branch, dirty
 *   search      search_knowledge    what do we know about X
 *   record      record_knowledge    remember that ..., note: ...
 *   explain     explain_event       what is event X
 *   brief       get_brief           summary, catch me up */
#ifndef CAIRN_ASK_ROUTE_H
#define CAIRN_ASK_ROUTE_H

#include <jansson.h>
#include <stdint.h>

enum ask_family {
	ASK_WHY_FAILED,
	ASK_HOW_FIXED,
	ASK_WHAT_DOING,
	ASK_DECIDED,
	ASK_MISTAKES,
	ASK_NEXT,
	ASK_CHANGED,
	ASK_HEALTH,
	ASK_SEARCH,
	ASK_RECORD,
	ASK_EXPLAIN,
	ASK_BRIEF,
	ASK_N_FAMILIES
};

/* The question's longest accepted length, in bytes. */
#define ASK_QUESTION_MAX 4000

struct ask_route {
	enum ask_family family;
	const char *tool; /* static: the tool's name */
	json_t *args;     /* the tool's arguments (a new object) */
	double score;     /* the winning family's cue sum (0: nothing matched) */
	double runner_up; /* the second family's sum */
};

/* The family's name ("why_failed"...), static. */
const char *ask_family_name(enum ask_family f);

/* Routes question (NUL-terminated, at most ASK_QUESTION_MAX bytes; longer
 * is routed on its first ASK_QUESTION_MAX bytes). now_ms is the time "since
 * yesterday" and the like are measured from, in local time. Fills *out;
 * release with ask_route_release(). A question that matches no cue goes
 * to search (its words searched in the knowledge base). Never fails. */
void ask_route(const char *question, int64_t now_ms, struct ask_route *out);
void ask_route_release(struct ask_route *r);

/* ---- the learned part (src/ask/route_model.h, docs/ask.md) ----
 *
 * Besides the cue table, a linear model over the question's words scores
 * each family: stems, pairs of adjacent stems and the first word, each
 * hashed (FNV-1a, 32 bits) into ASK_MODEL_BUCKETS buckets, with weights
 * trained offline (tests/tools/train_route.py) on the development question
 * sets and shipped as a generated table. Its softmax probability of each
 * family, times the model weight, is added to the family's cue sum. */
#define ASK_MODEL_BUCKETS 4096
#define ASK_FEATURE_LEN 100

/* The question's features as the model sees them, at most max, into
 * feats; returns how many. What the trainer is given (through
 * tests/tools/ask_route --features), so both sides agree. */
size_t ask_route_features(const char *question, char (*feats)[ASK_FEATURE_LEN], size_t max);

/* The bucket of a feature: FNV-1a 32 of its bytes, mod ASK_MODEL_BUCKETS. */
unsigned ask_route_bucket(const char *feature);

/* The weight of the model's probabilities against the cue sums (default
 * ASK_MODEL_WEIGHT in route_model.h); for tuning tools. Not thread-safe:
 * set it before routing. */
void ask_route_set_model_weight(double w);

#endif
