/* The daemon's side of `cairn ask` with a model: the model reasoner
 * (ask_model() in src/ask/ask_model.c) run on worker threads of its own,
 * behind the model server's circuit breaker (src/breaker/breaker.h), so
 * that every `cairn ask` process shares one breaker and a hung server
 * never holds the loop or the libuv thread pool (the services' and the
 * queries' threads).
 *
 *   askd_ask()     queues a question; a worker answers it with the model
 *                  within [model] deadline, or says why not (the breaker
 *                  is open, the server failed, the model looped); the
 *                  reply reaches done() on the loop thread. The CLI then
 *                  answers with the deterministic reasoner and shows why
 *                  (fallback_reason).
 *   probes         the server is probed (GET {url}/models) when the
 *                  breaker says one is due, so a dead server is noticed
 *                  with no question asked, and an open breaker learns the
 *                  server is back; a failed call also starts a probe at
 *                  once, so a dead server opens the breaker within
 *                  milliseconds rather than after three questions.
 *   events         each transition of the breaker is published as
 *                  breaker.opened, breaker.half_open, breaker.closed...
 *   status         askd_status() adds "breakers" to a status reply.
 *
 * Threads: askd_new(), askd_ask(), askd_status(), askd_stop() and
 * askd_free() on the loop thread; the workers block on the network. */
#ifndef CAIRN_ASKD_H
#define CAIRN_ASKD_H

#include <jansson.h>
#include <uv.h>

struct askd;
struct config;
struct cairn_err;

/* Questions waiting for a worker past this are refused (busy). */
#define ASKD_QUEUE_MAX 64

/* Starts the workers and the probe timer for cfg's [model]. publish (on
 * the loop thread) takes an event object (breaker.*). Returns 0, or a
 * negative code after logging why. */
int askd_new(uv_loop_t *loop, const struct config *cfg, void (*publish)(void *ctx, json_t *event),
	     void *pctx, struct askd **out);

/* Asks question about project (may be NULL). done is called once, on the
 * loop thread, with reply (the "ok" object's members, stolen: {"answer":
 * {...}} or {"fallback": "why", "tool_calls": [...]}) or e (busy, or
 * stopping). */
void askd_ask(struct askd *a, const char *question, const char *project,
	      void (*done)(void *token, json_t *reply, const struct cairn_err *e), void *token);

/* Adds "breakers": [status objects] to reply. */
void askd_status(struct askd *a, json_t *reply);

/* The breakers' status objects (a new array), for tools (project_state). */
json_t *askd_breakers(struct askd *a);

/* Stops taking questions, cancels the calls under way (each ends within a
 * fraction of a second), answers what is queued with a fallback, and
 * closes the handles. */
void askd_stop(struct askd *a);

/* Joins the workers and frees; after the loop ran to completion. NULL is
 * a no-op. */
void askd_free(struct askd *a);

#endif
