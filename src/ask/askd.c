/* The daemon's model asker; askd.h is the manual. */
#include "ask/askd.h"

#include "ask/ask.h"
#include "breaker/breaker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/config.h"
#include "model/model.h"
#include "tools/tools.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS_MAX 16
#define PROBE_TIMEOUT_MS 2000

enum job_kind { JOB_ASK, JOB_PROBE };

struct job {
	struct job *next;
	enum job_kind kind;
	char *question, *project;
	void (*done)(void *token, json_t *reply, const struct cairn_err *e);
	void *token;
	json_t *reply; /* the result, for the loop */
	struct cairn_err err;
	bool failed; /* err holds the result */
};

/* A transition, to be published by the loop. */
struct trans {
	struct trans *next;
	json_t *event;
};

struct askd {
	uv_loop_t *loop;
	const struct config *cfg;
	void (*publish)(void *ctx, json_t *event);
	void *pctx;
	struct model_config mc;
	struct breaker *breaker;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *queue, *queue_tail;   /* guarded by mu */
	size_t queued;                    /* asks in queue; guarded by mu */
	struct job *done, *done_tail;     /* guarded by mu */
	struct trans *trans, *trans_tail; /* guarded by mu */
	bool probe_in_flight;             /* guarded by mu */
	bool stopping;                    /* guarded by mu */
	atomic_int cancel;                /* read by the model client */

	pthread_t workers[WORKERS_MAX];
	size_t n_workers;
	uv_async_t async;
	uv_timer_t probe_timer;
	bool handles_open;
};

/* ---- the queue ---- */

static void push_locked(struct askd *a, struct job *j)
{
	j->next = NULL;
	if (a->queue_tail)
		a->queue_tail->next = j;
	else
		a->queue = j;
	a->queue_tail = j;
	pthread_cond_signal(&a->cv);
}

static void finish(struct askd *a, struct job *j)
{
	pthread_mutex_lock(&a->mu);
	j->next = NULL;
	if (a->done_tail)
		a->done_tail->next = j;
	else
		a->done = j;
	a->done_tail = j;
	if (j->kind == JOB_PROBE)
		a->probe_in_flight = false;
	pthread_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

/* Queues a probe unless one is under way. */
static void want_probe(struct askd *a)
{
	pthread_mutex_lock(&a->mu);
	if (!a->probe_in_flight && !a->stopping) {
		a->probe_in_flight = true;
		struct job *j = xcalloc(1, sizeof *j);
		j->kind = JOB_PROBE;
		push_locked(a, j);
	}
	pthread_mutex_unlock(&a->mu);
}

/* ---- the workers ---- */

static void run_probe(struct askd *a)
{
	struct breaker_permit p;
	struct cairn_err e;
	if (breaker_acquire_probe(a->breaker, &p, &e))
		return; /* not due (another caller's trial is under way) */
	uint64_t t0 = clock_mono_ns();
	int r = model_probe(&a->mc, PROBE_TIMEOUT_MS, &e);
	breaker_record(a->breaker, &p, r ? BREAKER_FAIL : BREAKER_OK, clock_mono_ns() - t0,
		       r ? e.msg : NULL);
	if (r)
		log_debug("model server probe failed: %s", e.msg);
}

static void run_ask(struct askd *a, struct job *j)
{
	struct tool_ctx ctx = {
		.cfg = a->cfg,
		.project = j->project,
		.now_ms = clock_wall_ms(),
	};
	uint64_t deadline = clock_mono_ns() + (uint64_t)a->cfg->model_deadline_ms * 1000000;
	struct ask_answer ans;
	struct cairn_err e;
	int r = ask_model(&ctx, &a->mc, a->breaker, j->question, deadline, &ans, &e);
	if (r == 0) {
		j->reply = json_pack("{s:o}", "answer", ask_answer_json(&ans));
	} else {
		j->reply = json_pack("{s:s,s:O}", "fallback", e.msg, "tool_calls", ans.tool_calls);
		/* A failure of the server: confirm it now, so that a dead server
		 * opens the breaker at once instead of after three questions. */
		if (breaker_get_state(a->breaker) == BREAKER_CLOSED)
			want_probe(a);
	}
	ask_answer_release(&ans);
	tool_ctx_release(&ctx);
}

static void *worker_main(void *arg)
{
	struct askd *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!a->queue && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stopping && !a->queue) {
			pthread_mutex_unlock(&a->mu);
			return NULL;
		}
		struct job *j = a->queue;
		a->queue = j->next;
		if (!a->queue)
			a->queue_tail = NULL;
		if (j->kind == JOB_ASK)
			a->queued--;
		bool stopping = a->stopping;
		pthread_mutex_unlock(&a->mu);
		if (j->kind == JOB_PROBE) {
			if (!stopping)
				run_probe(a);
		} else if (stopping) {
			j->reply = json_pack("{s:s,s:[]}", "fallback", "the daemon is stopping",
					     "tool_calls");
		} else {
			run_ask(a, j);
		}
		finish(a, j);
	}
}

/* ---- the loop's side ---- */

static void arm_probe(struct askd *a);

static void free_job(struct job *j)
{
	free(j->question);
	free(j->project);
	json_decref(j->reply);
	free(j);
}

static void on_async(uv_async_t *h)
{
	struct askd *a = h->data;
	pthread_mutex_lock(&a->mu);
	struct job *done = a->done;
	a->done = a->done_tail = NULL;
	struct trans *tr = a->trans;
	a->trans = a->trans_tail = NULL;
	pthread_mutex_unlock(&a->mu);
	while (tr) {
		struct trans *n = tr->next;
		if (a->publish)
			a->publish(a->pctx, tr->event);
		else
			json_decref(tr->event);
		free(tr);
		tr = n;
	}
	bool probed = false;
	while (done) {
		struct job *n = done->next;
		probed |= done->kind == JOB_PROBE;
		if (done->kind == JOB_ASK) {
			json_t *reply = done->reply;
			done->reply = NULL;
			done->done(done->token, reply, NULL);
		}
		free_job(done);
		done = n;
	}
	/* A closed breaker whose last call failed is probed again at once
	 * until it trips or a call succeeds: a dead server opens it within
	 * milliseconds (a refused connection) or a few probe timeouts (a
	 * silent one), not after the next questions. */
	if (probed) {
		struct breaker_status st;
		breaker_status(a->breaker, &st);
		if (st.state == BREAKER_CLOSED && st.consecutive_failures > 0) {
			want_probe(a);
			return;
		}
	}
	arm_probe(a);
}

static void on_probe_timer(uv_timer_t *t)
{
	struct askd *a = t->data;
	if (breaker_probe_due(a->breaker))
		want_probe(a);
	else
		arm_probe(a);
}

/* The timer at the breaker's next probe time (when no probe is under
 * way: its result re-arms it). */
static void arm_probe(struct askd *a)
{
	pthread_mutex_lock(&a->mu);
	bool busy = a->probe_in_flight || a->stopping;
	pthread_mutex_unlock(&a->mu);
	if (busy || !a->handles_open)
		return;
	uint64_t next = breaker_next_probe_ns(a->breaker);
	if (next == BREAKER_NEVER) {
		uv_timer_stop(&a->probe_timer);
		return;
	}
	uint64_t now = clock_mono_ns();
	uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
	uv_timer_start(&a->probe_timer, on_probe_timer, ms, 0);
}

/* Called by the breaker on any thread, without its lock. */
static void on_transition(void *ctx, const struct breaker_transition *t)
{
	struct askd *a = ctx;
	const char *subject = breaker_event_subject(t->to);
	log_info("breaker %s: %s -> %s (%s)", t->name, breaker_state_name(t->from),
		 breaker_state_name(t->to), t->reason);
	if (!subject)
		return;
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:I}", "breaker", t->name, "from",
				 breaker_state_name(t->from), "to", breaker_state_name(t->to),
				 "reason", t->reason, "generation", (json_int_t)t->generation);
	if (t->next_try_in_ns != BREAKER_NEVER && t->next_try_in_ns)
		json_object_set_new(data, "retry_in_ms",
				    json_integer((json_int_t)(t->next_try_in_ns / 1000000)));
	struct trans *tr = xcalloc(1, sizeof *tr);
	tr->event = json_pack("{s:s,s:s,s:s,s:o}", "type", subject, "source", "cairn/breaker",
			      "subject", t->name, "data", data);
	pthread_mutex_lock(&a->mu);
	if (a->trans_tail)
		a->trans_tail->next = tr;
	else
		a->trans = tr;
	a->trans_tail = tr;
	pthread_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

int askd_new(uv_loop_t *loop, const struct config *cfg, void (*publish)(void *ctx, json_t *event),
	     void *pctx, struct askd **out)
{
	*out = NULL;
	struct askd *a = xcalloc(1, sizeof *a);
	a->loop = loop;
	a->cfg = cfg;
	a->publish = publish;
	a->pctx = pctx;
	a->mc.url = cfg->model_url;
	a->mc.name = cfg->model_name;
	a->mc.connect_timeout_ms = (long)cfg->model_connect_ms;
	a->mc.cancel = &a->cancel;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	struct breaker_config bc = breaker_config_default();
	bc.label = "model server";
	/* A call that takes three quarters of the deadline counts as a
	 * failure: a server that slow leaves no time for a second call. */
	bc.slow_ms = (uint32_t)(cfg->model_deadline_ms * 3 / 4);
	struct cairn_err e;
	if (breaker_new("model", &bc, on_transition, a, &a->breaker, &e)) {
		log_error("cannot make the model server's breaker: %s", e.msg);
		free(a);
		return e.code;
	}
	uv_async_init(loop, &a->async, on_async);
	a->async.data = a;
	uv_timer_init(loop, &a->probe_timer);
	a->probe_timer.data = a;
	a->handles_open = true;
	/* The operator's override ([model] breaker). */
	if (strcmp(cfg->model_breaker, "open") == 0)
		breaker_force_open(a->breaker, "[model] breaker = open in the config");
	else if (strcmp(cfg->model_breaker, "off") == 0)
		breaker_disable(a->breaker, "[model] breaker = off in the config");

	size_t n = cfg->model_workers < WORKERS_MAX ? cfg->model_workers : WORKERS_MAX;
	for (size_t i = 0; i < n; i++) {
		if (pthread_create(&a->workers[i], NULL, worker_main, a) != 0) {
			log_error("cannot start a model worker thread");
			break;
		}
		a->n_workers++;
	}
	/* Is the server there? Learn it now, not at the first question. */
	want_probe(a);
	log_info("model server %s (model %s): questions go to it, behind its breaker",
		 cfg->model_url, cfg->model_name);
	*out = a;
	return 0;
}

void askd_ask(struct askd *a, const char *question, const char *project,
	      void (*done)(void *token, json_t *reply, const struct cairn_err *e), void *token)
{
	struct cairn_err e;
	pthread_mutex_lock(&a->mu);
	if (a->stopping || a->queued >= ASKD_QUEUE_MAX || !a->n_workers) {
		bool stopping = a->stopping;
		pthread_mutex_unlock(&a->mu);
		if (stopping)
			cairn_err_set(&e, CAIRN_E_UNAVAIL, "", "the daemon is stopping");
		else
			cairn_err_set(&e, CAIRN_E_BUSY, "",
				      "%d questions are already waiting for the model; ask again "
				      "in a moment",
				      ASKD_QUEUE_MAX);
		done(token, NULL, &e);
		return;
	}
	struct job *j = xcalloc(1, sizeof *j);
	j->kind = JOB_ASK;
	j->question = xstrdup(question);
	j->project = project ? xstrdup(project) : NULL;
	j->done = done;
	j->token = token;
	a->queued++;
	push_locked(a, j);
	pthread_mutex_unlock(&a->mu);
}

json_t *askd_breakers(struct askd *a)
{
	struct breaker_status st;
	breaker_status(a->breaker, &st);
	json_t *arr = json_array();
	json_t *o = breaker_status_json(&st);
	if (o) {
		json_object_set_new(o, "url", json_string(a->cfg->model_url));
		json_array_append_new(arr, o);
	}
	return arr;
}

void askd_status(struct askd *a, json_t *reply)
{
	json_object_set_new(reply, "breakers", askd_breakers(a));
}

static void on_closed(uv_handle_t *h)
{
	(void)h;
}

void askd_stop(struct askd *a)
{
	if (!a || !a->handles_open)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	/* The model client polls this: calls under way end within a
	 * fraction of a second, so joining does not hold the loop long. */
	atomic_store(&a->cancel, 1);
	for (size_t i = 0; i < a->n_workers; i++)
		pthread_join(a->workers[i], NULL);
	a->n_workers = 0;
	uv_timer_stop(&a->probe_timer);
	/* What the workers finished (the questions under way, answered with
	 * a fallback) and the last transitions, before the handles go. */
	on_async(&a->async);
	a->handles_open = false;
	uv_close((uv_handle_t *)&a->async, on_closed);
	uv_close((uv_handle_t *)&a->probe_timer, on_closed);
}

void askd_free(struct askd *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_workers; i++)
		pthread_join(a->workers[i], NULL);
	struct job *j = a->queue;
	while (j) {
		struct job *n = j->next;
		free_job(j);
		j = n;
	}
	j = a->done;
	while (j) {
		struct job *n = j->next;
		free_job(j);
		j = n;
	}
	struct trans *tr = a->trans;
	while (tr) {
		struct trans *n = tr->next;
		json_decref(tr->event);
		free(tr);
		tr = n;
	}
	breaker_free(a->breaker);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}
