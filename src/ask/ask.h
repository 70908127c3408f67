/* `cairn ask`: a question answered through tools (src/tools/tools.h).
 *
 * The deterministic reasoner (no model): the router (route.h) picks the
 * family and the tool and reads the arguments from the question; the tool
 * runs; a family that found nothing may try once more more widely (a fix
 * search with no fix found searches every kind); the answer is composed
 * from the results in plain sentences. Every call is recorded with its
 * arguments and how long it took, and every event and knowledge entry the
 * answer rests on is a source ("event:ID", "seq:N", "kb:ID").
 *
 * A question routed to record_knowledge records: the person typed the
 * instruction. (A model's output never acts without confirmation: the model
 * reasoner, when there is one, gets only the read-only tools.) */
#ifndef CAIRN_ASK_H
#define CAIRN_ASK_H

#include "ask/route.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

struct tool_ctx;

struct ask_answer {
	char *answer;         /* plain text, lines separated by '\n' */
	const char *reasoner; /* "deterministic" or "model" (static) */
	enum ask_family family;
	json_t *tool_calls;    /* [{"tool", "arguments", "ms", "ok"}] */
	json_t *sources;       /* ["kb:12", "event:01J...", ...] */
	char *fallback_reason; /* why the model did not answer; NULL */
};

/* Answers question with the deterministic reasoner. Returns 0 with *out
 * filled (release with ask_answer_release()), or CAIRN_E_INVALID for an
 * empty or oversized question. A tool's failure is said in the answer,
 * not returned. */
int ask_deterministic(struct tool_ctx *c, const char *question, struct ask_answer *out,
		      struct cairn_err *err);

struct model_config;
struct breaker;

/* The longest the model reasoner goes on: model calls per question. */
#define ASK_MODEL_CALLS_MAX 6

/* Answers question with the model reasoner: the model at mc plans calls of
 * the read-only tools (the acting ones are not offered: nothing a model
 * writes acts without the user's confirmation), each validated before it
 * runs (a tool the model invents is answered with the list of tools;
 * arguments that break the schema get one repair round that shows the
 * model the error), at most ASK_MODEL_CALLS_MAX model calls, stopped by a
 * repeated identical call and by deadline_ns (clock_mono_ns() time). Every
 * model call goes through breaker b. Tool results go to the model marked
 * as data. Returns 0 with *out (reasoner "model"), or a negative code with
 * err->msg the reason to fall back (the breaker is open, the server
 * failed, the model looped or gave no answer); out then holds the tool
 * calls made so far. Release out in both cases. */
int ask_model(struct tool_ctx *c, const struct model_config *mc, struct breaker *b,
	      const char *question, uint64_t deadline_ns, struct ask_answer *out,
	      struct cairn_err *err);

/* The answer as the JSON of `cairn ask --json`: {"answer", "reasoner",
 * "family", "tool_calls", "sources", "fallback_reason"?}. A new object. */
json_t *ask_answer_json(const struct ask_answer *a);

void ask_answer_release(struct ask_answer *a);

#endif
