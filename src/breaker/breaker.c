/* The circuit breaker of breaker.h: a state machine under one mutex, a ring
 * of time buckets for the failure rate, a seeded generator for the jitter,
 * and a queue that hands transitions to the owner's callback in order with
 * the mutex released. */
#include "breaker/breaker.h"

#include "common/utf8.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* Transitions waiting for the callback. One state change per call at most
 * (two when a timed-out trial is found on the way), and the state machine
 * itself only moves at the pace of backoffs and results, so this is only
 * reached by a callback that blocks while operators flip overrides. */
#define QUEUE_LEN 16

struct bucket {
	uint64_t epoch; /* now / bucket_ns when it was last started */
	uint32_t calls;
	uint32_t failures;
};

struct pending {
	enum breaker_state from, to;
	uint64_t generation;
	uint64_t at_ns;
	uint64_t next_try_in_ns;
	uint64_t dropped_before;
	char reason[BREAKER_REASON_MAX];
};

struct breaker {
	/* Set at creation, read-only afterwards: no lock needed. */
	char name[BREAKER_NAME_MAX];
	char label[BREAKER_NAME_MAX];
	struct breaker_config cfg; /* cfg.label points at label above */
	uint64_t bucket_ns;
	breaker_transition_fn on_transition;
	void *ctx;

	/* Everything below is guarded by mu. */
	pthread_mutex_t mu;
	enum breaker_state state;
	uint64_t generation;
	uint64_t changed_ns;
	unsigned consecutive;
	struct bucket buckets[BREAKER_BUCKETS];
	char last_error[BREAKER_ERROR_MAX];
	char reason[BREAKER_REASON_MAX];
	char open_reason[BREAKER_REASON_MAX]; /* the last opening's reason */
	/* Closed: the last acquisition or change of state, for idle probes. */
	uint64_t last_call_ns;
	/* Open: openings since the breaker last closed (1 for the first), the
	 * backoff drawn and when a trial is admitted. */
	unsigned opens;
	uint64_t backoff_ns;
	uint64_t next_try_ns;
	/* Half-open: whether the trial is out, and since when. */
	bool trial_out;
	uint64_t trial_ns;
	uint64_t rng;
	unsigned in_flight;
	uint64_t calls, failures, slow, rejected, stale, released, probes;
	/* The delivery queue: q_len entries from q_head; delivering is true
	 * while some thread runs the callback. */
	struct pending queue[QUEUE_LEN];
	unsigned q_head, q_len;
	bool delivering;
	uint64_t dropped, dropped_pending;
};

/* ---- small helpers ---- */

static uint64_t ms_to_ns(uint64_t ms)
{
	return ms * NS_PER_MS;
}

/* a - b, or 0 when b is later (threads read the clock in any order). */
static uint64_t since(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Whole seconds, rounded up: "next try in 1 s" until it is due. */
static uint64_t ceil_s(uint64_t ns)
{
	return (ns + NS_PER_S - 1) / NS_PER_S;
}

/* Copies a text from outside (a server's error) for display and JSON: cut
 * to fit at a character boundary, control characters (a newline, an escape
 * sequence) made spaces, bytes that are not UTF-8 made '?'. */
static void copy_text(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t n = strlen((const char *)s), i = 0, o = 0;
	while (i < n) {
		size_t k = utf8_seq(s + i, n - i);
		if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			if (o + 1 >= size)
				break;
			dst[o++] = k == 0 ? '?' : ' ';
			i++;
			continue;
		}
		if (o + k >= size)
			break;
		memcpy(dst + o, s + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
}

/* splitmix64: small, seedable, good enough for jitter. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The backoff before the n-th opening's trial (n >= 1), jittered. */
static uint64_t draw_backoff(struct breaker *b, unsigned n)
{
	uint64_t base = ms_to_ns(b->cfg.backoff_base_ms);
	uint64_t max = ms_to_ns(b->cfg.backoff_max_ms);
	uint64_t d = base;
	for (unsigned i = 1; i < n && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (b->cfg.jitter_pct > 0) {
		/* u in [-1, 1): 53 random bits scaled. */
		double u = (double)(rng_next(&b->rng) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
		double f = 1.0 + u * (double)b->cfg.jitter_pct / 100.0;
		double j = (double)d * f;
		d = j >= (double)max ? max : (uint64_t)j;
	}
	return d > 0 ? d : 1;
}

/* ---- the window ---- */

static void window_clear(struct breaker *b)
{
	memset(b->buckets, 0, sizeof b->buckets);
}

static void window_add(struct breaker *b, uint64_t now, bool failed)
{
	uint64_t e = now / b->bucket_ns;
	struct bucket *k = &b->buckets[e % BREAKER_BUCKETS];
	if (k->epoch != e || k->calls == 0) {
		k->epoch = e;
		k->calls = 0;
		k->failures = 0;
	}
	if (k->calls < UINT32_MAX) {
		k->calls++;
		k->failures += failed;
	}
}

/* Sums the buckets of the current epoch and the BREAKER_BUCKETS - 1 before:
 * older buckets are stale whatever they hold. */
static void window_sum(const struct breaker *b, uint64_t now, unsigned *calls, unsigned *failures)
{
	uint64_t e = now / b->bucket_ns;
	uint64_t c = 0, f = 0;
	for (unsigned i = 0; i < BREAKER_BUCKETS; i++) {
		const struct bucket *k = &b->buckets[i];
		if (k->calls && k->epoch <= e && e - k->epoch < BREAKER_BUCKETS) {
			c += k->calls;
			f += k->failures;
		}
	}
	*calls = c > UINT32_MAX ? UINT32_MAX : (unsigned)c;
	*failures = f > UINT32_MAX ? UINT32_MAX : (unsigned)f;
}

/* ---- transitions (all with mu held) ---- */

static void enqueue(struct breaker *b, enum breaker_state from, uint64_t now)
{
	if (!b->on_transition)
		return;
	if (b->q_len == QUEUE_LEN) {
		b->dropped++;
		b->dropped_pending++;
		return;
	}
	struct pending *p = &b->queue[(b->q_head + b->q_len) % QUEUE_LEN];
	b->q_len++;
	p->from = from;
	p->to = b->state;
	p->generation = b->generation;
	p->at_ns = now;
	p->next_try_in_ns = b->state == BREAKER_OPEN          ? b->backoff_ns
			    : b->state == BREAKER_FORCED_OPEN ? BREAKER_NEVER
							      : 0;
	p->dropped_before = b->dropped_pending;
	b->dropped_pending = 0;
	memcpy(p->reason, b->reason, sizeof p->reason);
}

/* Moves to state to for the reason given (printf-style), starting a new
 * generation, and queues the transition for the callback. */
static void set_state(struct breaker *b, enum breaker_state to, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_state(struct breaker *b, enum breaker_state to, uint64_t now, const char *fmt, ...)
{
	enum breaker_state from = b->state;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->reason, sizeof b->reason, fmt, ap);
	va_end(ap);
	b->state = to;
	b->generation++;
	b->changed_ns = now;
	b->trial_out = false;
	b->backoff_ns = 0;
	b->next_try_ns = BREAKER_NEVER;
	switch (to) {
	case BREAKER_OPEN:
		b->opens++;
		b->backoff_ns = draw_backoff(b, b->opens);
		b->next_try_ns = now + b->backoff_ns;
		memcpy(b->open_reason, b->reason, sizeof b->open_reason);
		break;
	case BREAKER_CLOSED:
	case BREAKER_DISABLED:
	case BREAKER_FORCED_OPEN:
		/* A fresh start: what happened before the override or the
		 * trial says nothing about the dependency now. */
		b->opens = 0;
		b->consecutive = 0;
		window_clear(b);
		b->last_call_ns = now;
		break;
	case BREAKER_HALF_OPEN: break;
	}
	enqueue(b, from, now);
}

/* Applies what time alone changes: a half-open trial that has not answered
 * within half_open_timeout_ms reopens the breaker. */
static void advance(struct breaker *b, uint64_t now)
{
	if (b->state == BREAKER_HALF_OPEN && b->trial_out && b->cfg.half_open_timeout_ms > 0 &&
	    since(now, b->trial_ns) >= ms_to_ns(b->cfg.half_open_timeout_ms))
		set_state(b, BREAKER_OPEN, now, "trial call unanswered for %llu s",
			  (unsigned long long)ceil_s(ms_to_ns(b->cfg.half_open_timeout_ms)));
}

/* Releases mu, then hands the queued transitions to the callback, in
 * order, without mu held. Every public function ends with it. Only one
 * thread delivers at a time: a thread that finds another delivering leaves
 * its transitions to it, and the deliverer looks at the queue under mu
 * before it stops, so nothing queued is left behind. */
static void unlock_and_deliver(struct breaker *b)
{
	if (b->delivering || b->q_len == 0) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	b->delivering = true;
	while (b->q_len > 0) {
		struct pending p = b->queue[b->q_head];
		b->q_head = (b->q_head + 1) % QUEUE_LEN;
		b->q_len--;
		pthread_mutex_unlock(&b->mu);
		struct breaker_transition t = {
			.name = b->name,
			.label = b->label,
			.from = p.from,
			.to = p.to,
			.reason = p.reason,
			.generation = p.generation,
			.at_ns = p.at_ns,
			.next_try_in_ns = p.next_try_in_ns,
			.dropped_before = p.dropped_before,
		};
		b->on_transition(b->ctx, &t);
		pthread_mutex_lock(&b->mu);
	}
	b->delivering = false;
	pthread_mutex_unlock(&b->mu);
}

/* ---- config ---- */

struct breaker_config breaker_config_default(void)
{
	return (struct breaker_config){
		.label = NULL,
		.consecutive_failures = 3,
		.window_min_calls = 5,
		.window_failure_pct = 50,
		.window_ms = 60000,
		.slow_ms = 0,
		.backoff_base_ms = 5000,
		.backoff_max_ms = 60000,
		.jitter_pct = 20,
		.probe_interval_ms = 30000,
		.half_open_timeout_ms = 30000,
		.seed = 0,
	};
}

/* A label goes into messages and JSON as it is: printable UTF-8 only. */
static bool label_valid(const char *label)
{
	const unsigned char *s = (const unsigned char *)label;
	size_t n = strlen(label);
	if (n == 0 || n >= BREAKER_NAME_MAX)
		return false;
	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_seq(s + i, n - i);
		if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f)))
			return false;
	}
	return true;
}

/* One rule per field: the range it must be in, and whether 0 is allowed
 * besides (meaning off). */
struct range {
	const char *field;
	uint64_t value;
	uint64_t min, max;
	bool zero_ok;
	const char *zero_means;
};

int breaker_config_validate(const struct breaker_config *c, const char *name, struct cairn_err *err)
{
	const char *who = name ? name : "breaker";
	const struct range ranges[] = {
		{"consecutive_failures", c->consecutive_failures, 1, 1000, true, "never"},
		{"window_min_calls", c->window_min_calls, 1, 1000000, false, NULL},
		{"window_failure_pct", c->window_failure_pct, 1, 100, true, "never"},
		{"window_ms", c->window_ms, 1200, 3600000, false, NULL},
		{"slow_ms", c->slow_ms, 1, 3600000, true, "off"},
		{"backoff_base_ms", c->backoff_base_ms, 1, 3600000, false, NULL},
		{"backoff_max_ms", c->backoff_max_ms, c->backoff_base_ms, 86400000, false, NULL},
		{"jitter_pct", c->jitter_pct, 0, 90, false, NULL},
		{"probe_interval_ms", c->probe_interval_ms, 100, 86400000, true, "off"},
		{"half_open_timeout_ms", c->half_open_timeout_ms, 1, 3600000, true,
		 "wait for ever"},
	};
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		const struct range *r = &ranges[i];
		if (r->value == 0 && r->zero_ok)
			continue;
		if (r->value >= r->min && r->value <= r->max)
			continue;
		if (r->zero_ok)
			return cairn_err_set(
				err, CAIRN_E_INVALID, r->field,
				"breaker '%s': %s must be 0 (%s) or %llu .. %llu, not %llu", who,
				r->field, r->zero_means, (unsigned long long)r->min,
				(unsigned long long)r->max, (unsigned long long)r->value);
		return cairn_err_set(err, CAIRN_E_INVALID, r->field,
				     "breaker '%s': %s must be %llu .. %llu, not %llu", who,
				     r->field, (unsigned long long)r->min,
				     (unsigned long long)r->max, (unsigned long long)r->value);
	}
	if (c->consecutive_failures == 0 && c->window_failure_pct == 0)
		return cairn_err_set(
			err, CAIRN_E_INVALID, "consecutive_failures",
			"breaker '%s': consecutive_failures and window_failure_pct are "
			"both 0, so it could never trip; disable it instead",
			who);
	if (c->label && !label_valid(c->label))
		return cairn_err_set(
			err, CAIRN_E_INVALID, "label",
			"breaker '%s': label must be 1 .. %d bytes of UTF-8 text without "
			"control characters",
			who, BREAKER_NAME_MAX - 1);
	return 0;
}

static bool name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= BREAKER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* ---- lifecycle ---- */

int breaker_new(const char *name, const struct breaker_config *cfg,
		breaker_transition_fn on_transition, void *ctx, struct breaker **out,
		struct cairn_err *err)
{
	struct breaker_config def = breaker_config_default();
	int r;

	*out = NULL;
	if (!cfg)
		cfg = &def;
	if (!name_valid(name))
		return cairn_err_set(
			err, CAIRN_E_INVALID, "name",
			"breaker name '%s' must be 1 .. %d bytes of a-z, 0-9, '_', '-' "
			"or '.'",
			name ? name : "", BREAKER_NAME_MAX - 1);
	if ((r = breaker_config_validate(cfg, name, err)) < 0)
		return r;

	struct breaker *b = xcalloc(1, sizeof *b);
	snprintf(b->name, sizeof b->name, "%s", name);
	snprintf(b->label, sizeof b->label, "%s", cfg->label ? cfg->label : name);
	b->cfg = *cfg;
	b->cfg.label = b->label;
	b->bucket_ns = ms_to_ns(cfg->window_ms) / BREAKER_BUCKETS;
	b->on_transition = on_transition;
	b->ctx = ctx;
	pthread_mutex_init(&b->mu, NULL);
	uint64_t now = clock_mono_ns();
	b->state = BREAKER_CLOSED;
	b->changed_ns = now;
	b->last_call_ns = now;
	b->next_try_ns = BREAKER_NEVER;
	b->rng = cfg->seed ? cfg->seed : now ^ (uint64_t)(uintptr_t)b;
	*out = b;
	return 0;
}

void breaker_free(struct breaker *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* ---- calls ---- */

static void issue(struct breaker *b, struct breaker_permit *p, uint64_t now, bool probe)
{
	*p = (struct breaker_permit){
		.owner = b,
		.generation = b->generation,
		.acquired_ns = now,
		.probe = probe,
		.trial = b->state == BREAKER_HALF_OPEN,
	};
	if (p->trial) {
		b->trial_out = true;
		b->trial_ns = now;
	}
	if (probe)
		b->probes++;
	b->in_flight++;
	b->last_call_ns = now;
}

static int refuse(struct breaker *b, uint64_t now, bool probe, struct cairn_err *err)
{
	if (!probe)
		b->rejected++;
	switch (b->state) {
	case BREAKER_OPEN:
		return cairn_err_set(err, CAIRN_E_UNAVAIL, "breaker",
				     "%s breaker is open: %s; next try in %llu s", b->label,
				     b->reason,
				     (unsigned long long)ceil_s(since(b->next_try_ns, now)));
	case BREAKER_HALF_OPEN:
		return cairn_err_set(err, CAIRN_E_UNAVAIL, "breaker",
				     "%s breaker is half-open: one trial call is testing whether "
				     "it recovered from %s; try again in a few seconds",
				     b->label, b->open_reason);
	case BREAKER_FORCED_OPEN:
		return cairn_err_set(err, CAIRN_E_UNAVAIL, "breaker",
				     "%s breaker is %s; it stays open until it is reset", b->label,
				     b->reason);
	default:
		/* A probe refused in closed or disabled does not happen. */
		return cairn_err_set(err, CAIRN_E_UNAVAIL, "breaker", "%s breaker refused",
				     b->label);
	}
}

static int acquire(struct breaker *b, struct breaker_permit *p, bool probe, struct cairn_err *err)
{
	int r = 0;
	*p = (struct breaker_permit){0};
	pthread_mutex_lock(&b->mu);
	uint64_t now = clock_mono_ns();
	advance(b, now);
	switch (b->state) {
	case BREAKER_CLOSED:
	case BREAKER_DISABLED: issue(b, p, now, probe); break;
	case BREAKER_OPEN:
		if (now < b->next_try_ns) {
			r = refuse(b, now, probe, err);
			break;
		}
		set_state(b, BREAKER_HALF_OPEN, now, "backoff of %llu s elapsed",
			  (unsigned long long)ceil_s(b->backoff_ns));
		issue(b, p, now, probe);
		break;
	case BREAKER_HALF_OPEN:
		if (b->trial_out)
			r = refuse(b, now, probe, err);
		else
			issue(b, p, now, probe);
		break;
	case BREAKER_FORCED_OPEN: r = refuse(b, now, probe, err); break;
	}
	unlock_and_deliver(b);
	return r;
}

int breaker_acquire(struct breaker *b, struct breaker_permit *p, struct cairn_err *err)
{
	return acquire(b, p, false, err);
}

int breaker_acquire_probe(struct breaker *b, struct breaker_permit *p, struct cairn_err *err)
{
	return acquire(b, p, true, err);
}

/* Ends p's life under mu: false when it was not a live permit of b. */
static bool retire(struct breaker *b, struct breaker_permit *p)
{
	if (p->owner != b)
		return false;
	p->owner = NULL;
	assert(b->in_flight > 0);
	b->in_flight--;
	return true;
}

/* A current result in closed: the window, the count in a row, and the
 * trip rules (the count in a row first: it names the cause better). */
static void closed_result(struct breaker *b, uint64_t now, bool failed)
{
	window_add(b, now, failed);
	if (!failed) {
		b->consecutive = 0;
		return;
	}
	b->consecutive++;
	if (b->state != BREAKER_CLOSED)
		return; /* disabled: counted, never tripped */
	if (b->cfg.consecutive_failures && b->consecutive >= b->cfg.consecutive_failures) {
		set_state(b, BREAKER_OPEN, now, "%u consecutive failures (%s)", b->consecutive,
			  b->last_error);
		return;
	}
	unsigned calls, fails;
	window_sum(b, now, &calls, &fails);
	if (b->cfg.window_failure_pct && calls >= b->cfg.window_min_calls &&
	    (uint64_t)fails * 100 >= (uint64_t)b->cfg.window_failure_pct * calls)
		set_state(b, BREAKER_OPEN, now, "%u of %u calls failed in %llu s (%s)", fails,
			  calls, (unsigned long long)ceil_s(ms_to_ns(b->cfg.window_ms)),
			  b->last_error);
}

int breaker_record(struct breaker *b, struct breaker_permit *p, enum breaker_outcome outcome,
		   uint64_t duration_ns, const char *error)
{
	pthread_mutex_lock(&b->mu);
	if (!retire(b, p)) {
		pthread_mutex_unlock(&b->mu);
		return CAIRN_E_INVALID;
	}
	uint64_t now = clock_mono_ns();
	advance(b, now);
	if (p->generation != b->generation) {
		b->stale++;
		goto out_unlock;
	}
	if (duration_ns == BREAKER_DURATION_AUTO)
		duration_ns = since(now, p->acquired_ns);
	bool failed = outcome != BREAKER_OK;
	b->calls++;
	if (failed) {
		copy_text(b->last_error, sizeof b->last_error, error && *error ? error : "failed");
	} else if (b->cfg.slow_ms && duration_ns > ms_to_ns(b->cfg.slow_ms)) {
		failed = true;
		b->slow++;
		snprintf(b->last_error, sizeof b->last_error, "slow: %llu ms, over %u ms",
			 (unsigned long long)(duration_ns / NS_PER_MS), b->cfg.slow_ms);
	}
	b->failures += failed;
	switch (b->state) {
	case BREAKER_CLOSED:
	case BREAKER_DISABLED: closed_result(b, now, failed); break;
	case BREAKER_HALF_OPEN:
		/* Only the trial is issued in this generation. */
		if (failed)
			set_state(b, BREAKER_OPEN, now, "trial call failed (%s)", b->last_error);
		else
			set_state(b, BREAKER_CLOSED, now, "trial call succeeded");
		break;
	case BREAKER_OPEN:
	case BREAKER_FORCED_OPEN:
		/* No permit is issued in these states, so none is current. */
		break;
	}
out_unlock:
	unlock_and_deliver(b);
	return 0;
}

int breaker_release(struct breaker *b, struct breaker_permit *p)
{
	pthread_mutex_lock(&b->mu);
	if (!retire(b, p)) {
		pthread_mutex_unlock(&b->mu);
		return CAIRN_E_INVALID;
	}
	uint64_t now = clock_mono_ns();
	advance(b, now);
	if (p->generation != b->generation) {
		b->stale++;
	} else {
		b->released++;
		if (p->trial)
			b->trial_out = false;
	}
	unlock_and_deliver(b);
	return 0;
}

/* ---- probes ---- */

static uint64_t next_probe(const struct breaker *b)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (!b->cfg.probe_interval_ms)
			return BREAKER_NEVER;
		return b->last_call_ns + ms_to_ns(b->cfg.probe_interval_ms);
	case BREAKER_OPEN: return b->next_try_ns;
	case BREAKER_HALF_OPEN:
		if (!b->trial_out)
			return b->changed_ns;
		if (!b->cfg.half_open_timeout_ms)
			return BREAKER_NEVER;
		return b->trial_ns + ms_to_ns(b->cfg.half_open_timeout_ms);
	case BREAKER_FORCED_OPEN:
	case BREAKER_DISABLED: return BREAKER_NEVER;
	}
	return BREAKER_NEVER;
}

uint64_t breaker_next_probe_ns(struct breaker *b)
{
	pthread_mutex_lock(&b->mu);
	advance(b, clock_mono_ns());
	uint64_t t = next_probe(b);
	unlock_and_deliver(b);
	return t;
}

bool breaker_probe_due(struct breaker *b)
{
	pthread_mutex_lock(&b->mu);
	uint64_t now = clock_mono_ns();
	advance(b, now);
	bool due = next_probe(b) <= now;
	unlock_and_deliver(b);
	return due;
}

/* ---- overrides ---- */

static void override(struct breaker *b, enum breaker_state to, const char *what, const char *why)
{
	char text[BREAKER_ERROR_MAX];
	copy_text(text, sizeof text, why);
	pthread_mutex_lock(&b->mu);
	uint64_t now = clock_mono_ns();
	if (b->state == to) {
		if (to == BREAKER_CLOSED) {
			b->consecutive = 0;
			b->opens = 0;
			window_clear(b);
		}
	} else if (text[0]) {
		set_state(b, to, now, "%s by the operator (%s)", what, text);
	} else {
		set_state(b, to, now, "%s by the operator", what);
	}
	unlock_and_deliver(b);
}

void breaker_force_open(struct breaker *b, const char *why)
{
	override(b, BREAKER_FORCED_OPEN, "forced open", why);
}

void breaker_disable(struct breaker *b, const char *why)
{
	override(b, BREAKER_DISABLED, "disabled", why);
}

void breaker_reset(struct breaker *b, const char *why)
{
	override(b, BREAKER_CLOSED, "reset", why);
}

/* ---- status ---- */

enum breaker_state breaker_get_state(struct breaker *b)
{
	pthread_mutex_lock(&b->mu);
	advance(b, clock_mono_ns());
	enum breaker_state s = b->state;
	unlock_and_deliver(b);
	return s;
}

void breaker_status(struct breaker *b, struct breaker_status *st)
{
	memset(st, 0, sizeof *st);
	memcpy(st->name, b->name, sizeof st->name);
	memcpy(st->label, b->label, sizeof st->label);
	st->window_ms = b->cfg.window_ms;
	pthread_mutex_lock(&b->mu);
	uint64_t now = clock_mono_ns();
	advance(b, now);
	st->state = b->state;
	st->generation = b->generation;
	st->consecutive_failures = b->consecutive;
	window_sum(b, now, &st->window_calls, &st->window_failures);
	memcpy(st->last_error, b->last_error, sizeof st->last_error);
	memcpy(st->reason, b->reason, sizeof st->reason);
	st->now_ns = now;
	st->changed_ns = b->changed_ns;
	st->next_try_ns = b->state == BREAKER_OPEN ? b->next_try_ns : BREAKER_NEVER;
	st->next_probe_ns = next_probe(b);
	st->backoff_ns = b->backoff_ns;
	st->in_flight = b->in_flight;
	st->trial_out = b->trial_out;
	st->totals.calls = b->calls;
	st->totals.failures = b->failures;
	st->totals.slow = b->slow;
	st->totals.rejected = b->rejected;
	st->totals.stale = b->stale;
	st->totals.released = b->released;
	st->totals.probes = b->probes;
	st->totals.transitions = b->generation;
	st->totals.dropped = b->dropped;
	unlock_and_deliver(b);
}

/* Milliseconds from now to t as JSON: null for BREAKER_NEVER, 0 if past. */
static json_t *ms_until(uint64_t t, uint64_t now)
{
	if (t == BREAKER_NEVER)
		return json_null();
	return json_integer((json_int_t)(since(t, now) / NS_PER_MS));
}

static json_t *text_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *breaker_status_json(const struct breaker_status *st)
{
	return json_pack(
		"{s:s, s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:o, s:o, s:I, s:o, s:o, s:I, "
		"s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
		"name", st->name, "label", st->label, "state", breaker_state_name(st->state),
		"generation", (json_int_t)st->generation, "consecutive_failures",
		(json_int_t)st->consecutive_failures, "window", "calls",
		(json_int_t)st->window_calls, "failures", (json_int_t)st->window_failures,
		"seconds", (json_int_t)(st->window_ms / 1000), "last_error",
		text_or_null(st->last_error), "reason", text_or_null(st->reason), "changed_ago_ms",
		(json_int_t)(since(st->now_ns, st->changed_ns) / NS_PER_MS), "next_try_in_ms",
		ms_until(st->next_try_ns, st->now_ns), "next_probe_in_ms",
		ms_until(st->next_probe_ns, st->now_ns), "in_flight", (json_int_t)st->in_flight,
		"totals", "calls", (json_int_t)st->totals.calls, "failures",
		(json_int_t)st->totals.failures, "slow", (json_int_t)st->totals.slow, "rejected",
		(json_int_t)st->totals.rejected, "stale", (json_int_t)st->totals.stale, "released",
		(json_int_t)st->totals.released, "probes", (json_int_t)st->totals.probes,
		"transitions", (json_int_t)st->totals.transitions, "dropped",
		(json_int_t)st->totals.dropped);
}

void breaker_status_text(const struct breaker_status *st, char *buf, size_t size)
{
	const char *name = st->name;
	switch (st->state) {
	case BREAKER_CLOSED:
		if (st->consecutive_failures)
			snprintf(buf, size,
				 "%s: closed, %u of %u calls failed in the last %u s, %u in a row "
				 "(%s)",
				 name, st->window_failures, st->window_calls, st->window_ms / 1000,
				 st->consecutive_failures, st->last_error);
		else
			snprintf(buf, size, "%s: closed, %u of %u calls failed in the last %u s",
				 name, st->window_failures, st->window_calls, st->window_ms / 1000);
		break;
	case BREAKER_OPEN:
		if (st->next_try_ns > st->now_ns)
			snprintf(buf, size, "%s: open, %s, next try in %llu s", name, st->reason,
				 (unsigned long long)ceil_s(st->next_try_ns - st->now_ns));
		else
			snprintf(buf, size, "%s: open, %s, next try now", name, st->reason);
		break;
	case BREAKER_HALF_OPEN:
		if (st->trial_out)
			snprintf(buf, size, "%s: half-open, a trial call is testing it", name);
		else
			snprintf(buf, size, "%s: half-open, waiting for a trial call", name);
		break;
	case BREAKER_FORCED_OPEN:
		snprintf(buf, size, "%s: %s, refusing every call until reset", name, st->reason);
		break;
	case BREAKER_DISABLED:
		snprintf(buf, size, "%s: %s, every call passes unchecked", name, st->reason);
		break;
	}
}

/* One row per state: its name and the event subject of entering it. */
static const struct {
	const char *name;
	const char *subject;
} states[] = {
	[BREAKER_CLOSED] = {"closed", "breaker.closed"},
	[BREAKER_OPEN] = {"open", "breaker.opened"},
	[BREAKER_HALF_OPEN] = {"half_open", "breaker.half_open"},
	[BREAKER_FORCED_OPEN] = {"forced_open", "breaker.forced_open"},
	[BREAKER_DISABLED] = {"disabled", "breaker.disabled"},
};

const char *breaker_state_name(enum breaker_state s)
{
	if ((unsigned)s < sizeof states / sizeof states[0])
		return states[s].name;
	return "unknown";
}

const char *breaker_event_subject(enum breaker_state to)
{
	if ((unsigned)to < sizeof states / sizeof states[0])
		return states[to].subject;
	return NULL;
}
