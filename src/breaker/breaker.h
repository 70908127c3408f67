/* A circuit breaker: one per external dependency (the model server, speech,
 * outgoing webhooks, a team bridge), so that a dead or slow dependency costs
 * one refused call instead of a timeout on every call, and is tried again
 * at a measured pace. The breaker does no I/O itself: its owner asks for a
 * permit before each call, reports how the call went, and runs the health
 * probes the breaker asks for. docs/breaker.md is the longer tour.
 *
 * The model
 *
 *                 trip: N failures in a row, or a failure
 *                 rate over the window (enough calls)
 *     +--------+ ------------------------------------> +------+
 *     | closed |                                       | open |<--+
 *     +--------+ <---------+                           +------+   |
 *                          | the trial succeeded          |       | the trial failed,
 *                          |                              |       | or was unanswered
 *                     +-----------+   backoff elapsed,    |       | past the
 *                     | half_open | <---------------------+       | timeout
 *                     +-----------+   a permit asked for          |
 *                          +--------------------------------------+
 *
 *   forced_open and disabled are operator overrides, entered from any state
 *   by breaker_force_open() / breaker_disable() and left only by
 *   breaker_reset() (to closed) or another override. forced_open refuses
 *   every call and probe; disabled admits every call and never trips.
 *
 *   - closed: every call is admitted. Each result goes into a window of
 *     BREAKER_BUCKETS time buckets (window_ms / BREAKER_BUCKETS wide, so
 *     the window covers between window_ms - one bucket and window_ms), and a
 *     failure also counts towards consecutive_failures (a success zeroes
 *     it). The breaker trips (to open) when consecutive_failures failures
 *     come in a row, or when the window holds at least window_min_calls
 *     calls of which at least window_failure_pct percent failed.
 *   - open: every call is refused with CAIRN_E_UNAVAIL until the backoff
 *     elapses. The first permit asked for after that (a user's call or the
 *     owner's probe) moves the breaker to half_open and is its one trial.
 *   - half_open: exactly one permit, the trial, is out; every other call is
 *     refused as if open. The trial's success closes the breaker; its
 *     failure (or no answer within half_open_timeout_ms) reopens it with the
 *     next, longer backoff. A trial given back with breaker_release() frees
 *     the slot for the next caller.
 *
 * Slow calls: with slow_ms set, a call reported as a success that took
 * longer than slow_ms counts as a failure ("slow: 2300 ms, over 2000 ms").
 * The caller measures (or lets the breaker measure) the duration; the
 * breaker decides.
 *
 * Backoff: the n-th opening since the breaker last closed waits
 * min(backoff_base_ms * 2^(n-1), backoff_max_ms) (5, 10, 20, 40, 60, 60 s
 * with the defaults), each scaled by a uniform random factor in
 * [1 - jitter_pct/100, 1 + jitter_pct/100] and then cut to backoff_max_ms
 * ("proportional" jitter: never near zero, as full jitter can be, and each
 * delay drawn independently, unlike decorrelated jitter, so the bounds are
 * simple to state and to test). Closing resets the sequence. The random
 * numbers come from a per-breaker generator seeded with config.seed, so a
 * test with a fixed seed sees the same delays every run.
 *
 * Generations: every change of state adds one to the generation, and a
 * permit carries the generation it was issued in. A result recorded for a
 * permit of an older generation (a call that started before the breaker
 * opened, answering after) changes nothing but the "stale" total.
 *
 * Probes: the breaker tells its owner when to run an active health probe,
 * even when no user call comes: in closed, after probe_interval_ms without
 * any call (so a dependency that died while idle is noticed before a user
 * needs it); in open, when the backoff has elapsed (so the breaker can close
 * again without waiting for a user to try). The owner (a libuv timer)
 * sleeps until breaker_next_probe_ns(), asks breaker_acquire_probe() for a
 * permit, runs its probe, and records the result like any call.
 *
 * Transitions: each change of state is passed to the on_transition callback
 * given to breaker_new(), in the order the changes happened, never with the
 * breaker's lock held, and never twice at once: a thread that changes the
 * state while another thread is delivering leaves its transition to that
 * thread, so the callback may run on a thread other than the one whose call
 * caused it, after that call has returned. The callback may call any
 * function here except breaker_free(). The owner turns transitions into
 * events: breaker_event_subject() names them.
 *
 * Threads and ownership: every function may be called from any thread,
 * except that breaker_free() must be the last call, made when no other
 * thread uses the breaker and no callback is running. The breaker copies
 * every string it is given; the strings it hands out (in a transition, a
 * status) live in the struct that holds them. Nothing here blocks except on
 * the breaker's own mutex, which is held only for bookkeeping. Time is
 * clock_mono_ns() (src/common/clock.h), which tests replace. */
#ifndef CAIRN_BREAKER_H
#define CAIRN_BREAKER_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	BREAKER_BUCKETS = 12,     /* time buckets in the failure-rate window */
	BREAKER_NAME_MAX = 64,    /* bytes of a name or label, NUL included */
	BREAKER_ERROR_MAX = 200,  /* bytes of an error text kept, NUL included */
	BREAKER_REASON_MAX = 320, /* bytes of a transition's reason, NUL included */
	BREAKER_TEXT_MAX = 512,   /* enough for breaker_status_text() */
};

/* "Never" and "not applicable" for absolute times and durations. */
#define BREAKER_NEVER UINT64_MAX

/* Passed as a duration to breaker_record(): measure from the permit's
 * acquisition to now. */
#define BREAKER_DURATION_AUTO UINT64_MAX

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN,
	BREAKER_FORCED_OPEN, /* operator: refuse everything until reset */
	BREAKER_DISABLED,    /* operator: admit everything, never trip */
};

/* How a call went, for breaker_record(). */
enum breaker_outcome {
	BREAKER_OK,
	BREAKER_FAIL,
};

/* Tuning. Start from breaker_config_default() and change fields; every
 * field is checked by breaker_config_validate(). Times are milliseconds. */
struct breaker_config {
	/* Human name in messages ("model server"); NULL: the breaker's name.
	 * Copied by breaker_new(); 1 .. BREAKER_NAME_MAX - 1 bytes of UTF-8
	 * without control characters. */
	const char *label;
	/* Trip after this many failures in a row; 0: never on this rule.
	 * Default 3. At most 1000. */
	unsigned consecutive_failures;
	/* Trip when the window holds at least window_min_calls calls (1 ..
	 * 1000000; default 5) of which at least window_failure_pct percent
	 * (1 .. 100; 0: never on this rule; default 50) failed. */
	unsigned window_min_calls;
	unsigned window_failure_pct;
	/* The window's span (BREAKER_BUCKETS buckets). 1200 .. 3600000;
	 * default 60000 (12 buckets of 5 s). */
	uint32_t window_ms;
	/* A success slower than this counts as a failure; 0: off (default). */
	uint32_t slow_ms;
	/* The first backoff (1 .. 3600000; default 5000) and the longest
	 * (backoff_base_ms .. 86400000; default 60000). */
	uint32_t backoff_base_ms;
	uint32_t backoff_max_ms;
	/* Each backoff is scaled by a random factor within +-jitter_pct percent
	 * (0 .. 90; default 20). */
	unsigned jitter_pct;
	/* In closed, a probe is due after this long without a call; 0: no
	 * probes while closed. 0 or 100 .. 86400000; default 30000. */
	uint32_t probe_interval_ms;
	/* A half-open trial not recorded within this long counts as failed
	 * (its late result is then stale); 0: wait for ever. 0 or 1 ..
	 * 3600000; default 30000. */
	uint32_t half_open_timeout_ms;
	/* Seeds the jitter's generator; 0 (default): seeded from the clock
	 * and the breaker's address. Tests set it. */
	uint64_t seed;
};

/* One change of state, as passed to on_transition. The strings live as
 * long as the callback runs; copy what you keep. */
struct breaker_transition {
	const char *name;        /* the breaker's name */
	const char *label;       /* its label (the name if none was given) */
	enum breaker_state from; /* the state before */
	enum breaker_state to;   /* the state after */
	/* Why, for a human: "3 consecutive failures (connection refused)",
	 * "backoff of 5 s elapsed", "trial call succeeded", "forced open by
	 * the operator (maintenance)". Never NULL. */
	const char *reason;
	uint64_t generation; /* the generation the new state starts */
	uint64_t at_ns;      /* when, in clock_mono_ns() time */
	/* Time from at_ns until the breaker admits a trial: the backoff when
	 * to is open, BREAKER_NEVER when forced_open, 0 otherwise. */
	uint64_t next_try_in_ns;
	/* Transitions lost before this one because the delivery queue was
	 * full (a callback slower than the state changes); normally 0. */
	uint64_t dropped_before;
};

typedef void (*breaker_transition_fn)(void *ctx, const struct breaker_transition *t);

/* What breaker_acquire() hands out. The caller keeps it (on the stack, in
 * its request) until it passes it to breaker_record() or breaker_release(),
 * exactly once; it reads the fields but never writes them. */
struct breaker_permit {
	const struct breaker *owner; /* NULL when not live */
	uint64_t generation;         /* the generation it was issued in */
	uint64_t acquired_ns;        /* clock_mono_ns() at acquisition */
	bool probe;                  /* from breaker_acquire_probe() */
	bool trial;                  /* the half-open trial */
};

/* A snapshot for `cairn status`, made by breaker_status(). Self-contained:
 * times are clock_mono_ns() values and now_ns says when it was taken. */
struct breaker_status {
	char name[BREAKER_NAME_MAX];
	char label[BREAKER_NAME_MAX];
	enum breaker_state state;
	uint64_t generation;
	unsigned consecutive_failures;
	unsigned window_calls;              /* calls recorded in the window */
	unsigned window_failures;           /* of which failed (slow ones included) */
	uint32_t window_ms;                 /* the window's span, from the config */
	char last_error[BREAKER_ERROR_MAX]; /* "" when no failure yet */
	char reason[BREAKER_REASON_MAX];    /* of the last transition; "" before any */
	uint64_t now_ns;                    /* when the snapshot was taken */
	uint64_t changed_ns;                /* the last change of state (creation at first) */
	uint64_t next_try_ns;               /* open: when a trial is admitted; else BREAKER_NEVER */
	uint64_t next_probe_ns;             /* breaker_next_probe_ns() at now_ns */
	uint64_t backoff_ns;                /* open: the backoff drawn; else 0 */
	unsigned in_flight;                 /* permits out, not yet recorded or released */
	bool trial_out;                     /* half_open: the trial is out */
	struct {
		uint64_t calls;       /* results recorded (stale ones excluded) */
		uint64_t failures;    /* of which failures, slow ones included */
		uint64_t slow;        /* of which slow successes */
		uint64_t rejected;    /* calls refused (probes refused excluded) */
		uint64_t stale;       /* results and releases of older generations */
		uint64_t released;    /* permits given back by breaker_release() */
		uint64_t probes;      /* permits from breaker_acquire_probe() */
		uint64_t transitions; /* changes of state (== generation) */
		uint64_t dropped;     /* transitions not delivered (queue full) */
	} totals;
};

/* The defaults described in struct breaker_config. */
struct breaker_config breaker_config_default(void);

/* Checks every field. Returns 0, or CAIRN_E_INVALID with err (if not NULL)
 * naming the field and the allowed range. name is used in the message
 * only (may be NULL). */
int breaker_config_validate(const struct breaker_config *cfg, const char *name,
			    struct cairn_err *err);

/* Creates a closed breaker, generation 0. name (1 .. BREAKER_NAME_MAX - 1
 * bytes of [a-z0-9_.-]) identifies it in status and transitions; cfg NULL
 * means the defaults; on_transition (may be NULL) is called with ctx for
 * each change of state, as described above. Returns 0 and the breaker in
 * *out (free it with breaker_free()), or CAIRN_E_INVALID with err filled
 * (the field is "name" or the config field) and *out NULL. The strings are
 * copied. */
int breaker_new(const char *name, const struct breaker_config *cfg,
		breaker_transition_fn on_transition, void *ctx, struct breaker **out,
		struct cairn_err *err);

/* Frees b (NULL is fine). No thread may use b any more; permits still out
 * are forgotten. Undelivered transitions are dropped. */
void breaker_free(struct breaker *b);

/* Asks to make one call. Returns 0 and a live permit in *p, which the
 * caller must later pass to exactly one of breaker_record() or
 * breaker_release(); or CAIRN_E_UNAVAIL (open, forced_open, or half_open
 * with its trial out) with *p not live and err (if not NULL) saying what
 * failed and when it is tried again ("model server breaker is open: 3
 * consecutive failures (connection refused); next try in 7 s"; field
 * "breaker"). A refusal counts in totals.rejected. In open after the
 * backoff, this moves the breaker to half_open and the permit is the trial. */
int breaker_acquire(struct breaker *b, struct breaker_permit *p, struct cairn_err *err);

/* As breaker_acquire(), for the owner's active health probe: the permit is
 * marked as a probe and counted in totals.probes, and a refusal is not
 * counted as rejected. In closed it is always granted (an on-demand probe
 * is fine too); in open it is granted once the backoff has elapsed (the
 * trial); in disabled it is granted; in forced_open, and in half_open with
 * the trial out, it is refused. The result is recorded like any call's. */
int breaker_acquire_probe(struct breaker *b, struct breaker_permit *p, struct cairn_err *err);

/* Records how the call of permit p went and ends p (it is no longer live).
 * outcome BREAKER_FAIL: error (may be NULL) says why, in a few words
 * ("connection refused"); it is cut to BREAKER_ERROR_MAX - 1 bytes and
 * control characters become spaces. outcome BREAKER_OK: a success, unless
 * slow_ms is set and duration_ns is longer (then a failure, "slow: ...").
 * duration_ns is the call's duration, or BREAKER_DURATION_AUTO to take the
 * time since p was acquired. A permit of an older generation changes only
 * totals.stale. May trip, close or reopen the breaker (the callback runs
 * before this returns unless another thread is delivering). Returns 0, or
 * CAIRN_E_INVALID (nothing changed) when p is not a live permit of b: never
 * acquired, already recorded or released. */
int breaker_record(struct breaker *b, struct breaker_permit *p, enum breaker_outcome outcome,
		   uint64_t duration_ns, const char *error);

/* Ends permit p without a result: the call was cancelled (the user gave
 * up) and says nothing about the dependency. A released trial frees the
 * half-open slot for the next caller. Counted in totals.released (or
 * totals.stale for an older generation). Returns 0 or CAIRN_E_INVALID as
 * breaker_record(). */
int breaker_release(struct breaker *b, struct breaker_permit *p);

/* When the owner should next run a probe, as a clock_mono_ns() time (in
 * the past or now when one is due), or BREAKER_NEVER when no probe will be
 * due without some other call first (forced_open, disabled, closed with
 * probe_interval_ms 0). In half_open with the trial out this is when the
 * trial times out; at that time the breaker reopens and the answer moves
 * on, so an owner simply asks again whenever its timer fires. */
uint64_t breaker_next_probe_ns(struct breaker *b);

/* Whether a probe is due now: breaker_next_probe_ns(b) <= now. */
bool breaker_probe_due(struct breaker *b);

/* Operator overrides. breaker_force_open(): refuse every call until reset.
 * breaker_disable(): admit every call and never trip (results are still
 * counted). breaker_reset(): back to closed with the counts, the window and
 * the backoff cleared (in closed it clears them without a transition). why
 * (may be NULL) goes into the transition's reason. A call that would not
 * change the state (forcing open a forced-open breaker) does nothing. */
void breaker_force_open(struct breaker *b, const char *why);
void breaker_disable(struct breaker *b, const char *why);
void breaker_reset(struct breaker *b, const char *why);

/* The current state (it may change as soon as this returns). */
enum breaker_state breaker_get_state(struct breaker *b);

/* Fills *st with a consistent snapshot of b. */
void breaker_status(struct breaker *b, struct breaker_status *st);

/* The snapshot as a new JSON object (the caller owns the reference; NULL
 * only if jansson cannot allocate), with
 * the stable keys listed in docs/breaker.md: name, label, state,
 * generation, consecutive_failures, window {calls, failures, seconds},
 * last_error (null if none), reason (null if none), changed_ago_ms,
 * next_try_in_ms (null unless open), next_probe_in_ms (null if never),
 * in_flight, totals {calls, failures, slow, rejected, stale, released,
 * probes, transitions, dropped}. */
json_t *breaker_status_json(const struct breaker_status *st);

/* One line for a human, written into buf (size bytes; cut to fit, always
 * NUL-terminated when size > 0): "model: open, 3 consecutive failures
 * (connection refused), next try in 8 s". BREAKER_TEXT_MAX bytes always
 * suffice. */
void breaker_status_text(const struct breaker_status *st, char *buf, size_t size);

/* The state's name: "closed", "open", "half_open", "forced_open",
 * "disabled" ("unknown" for anything else). */
const char *breaker_state_name(enum breaker_state s);

/* The event subject for a transition into state to: "breaker.closed",
 * "breaker.opened", "breaker.half_open", "breaker.forced_open",
 * "breaker.disabled"; NULL for a value that is no state. */
const char *breaker_event_subject(enum breaker_state to);

#endif
