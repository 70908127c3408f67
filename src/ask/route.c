/* The deterministic router; route.h is the manual. */
#include "ask/route.h"

#include "ask/route_model.h"
#include "common/utf8.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *name, *tool;
} families[ASK_N_FAMILIES] = {
	[ASK_WHY_FAILED] = {"why_failed", "last_failure"},
	[ASK_HOW_FIXED] = {"how_fixed", "search_knowledge"},
	[ASK_WHAT_DOING] = {"what_doing", "session_state"},
	[ASK_DECIDED] = {"decided", "search_knowledge"},
	[ASK_MISTAKES] = {"mistakes", "search_knowledge"},
	[ASK_NEXT] = {"next", "predict_next"},
	[ASK_CHANGED] = {"changed", "recent_activity"},
	[ASK_HEALTH] = {"health", "project_state"},
	[ASK_SEARCH] = {"search", "search_knowledge"},
	[ASK_RECORD] = {"record", "record_knowledge"},
	[ASK_EXPLAIN] = {"explain", "explain_event"},
	[ASK_BRIEF] = {"brief", "get_brief"},
};

/* Ties go to the family listed first. */
static const enum ask_family tie_order[ASK_N_FAMILIES] = {
	ASK_EXPLAIN,    ASK_RECORD, ASK_WHY_FAILED, ASK_HOW_FIXED, ASK_MISTAKES, ASK_DECIDED,
	ASK_WHAT_DOING, ASK_NEXT,   ASK_CHANGED,    ASK_HEALTH,    ASK_BRIEF,    ASK_SEARCH,
};

const char *ask_family_name(enum ask_family f)
{
	return f < ASK_N_FAMILIES ? families[f].name : "?";
}

/* The cues: a phrase (words, each compared by its stem) and its weight
 * for a family. Weights: 4 says the family by itself ("pitfall"), 2-3
 * leans to it ("since"), 1 is a hint ("why"). */
static const struct cue {
	enum ask_family f;
	const char *phrase;
	double w;
} cues[] = {
	/* why did it fail */
	{ASK_WHY_FAILED, "fail", 2},
	{ASK_WHY_FAILED, "failure", 2},
	{ASK_WHY_FAILED, "broke", 2.5},
	{ASK_WHY_FAILED, "broken", 2},
	{ASK_WHY_FAILED, "error", 2},
	{ASK_WHY_FAILED, "errors", 2},
	{ASK_WHY_FAILED, "died", 2},
	{ASK_WHY_FAILED, "crash", 2},
	{ASK_WHY_FAILED, "crashed", 2},
	{ASK_WHY_FAILED, "non-zero", 2},
	{ASK_WHY_FAILED, "nonzero", 2},
	{ASK_WHY_FAILED, "exited", 2},
	{ASK_WHY_FAILED, "went red", 3},
	{ASK_WHY_FAILED, "red", 1.5},
	{ASK_WHY_FAILED, "exit code", 2},
	{ASK_WHY_FAILED, "turned red", 3},
	{ASK_WHY_FAILED, "why", 1},
	{ASK_WHY_FAILED, "happened with", 1.5},
	{ASK_WHY_FAILED, "diagnose", 2},
	{ASK_WHY_FAILED, "failure output", 2},
	/* how did we fix it before */
	{ASK_HOW_FIXED, "fix", 3},
	{ASK_HOW_FIXED, "fixed", 3},
	{ASK_HOW_FIXED, "solve", 3},
	{ASK_HOW_FIXED, "solved", 3},
	{ASK_HOW_FIXED, "resolved", 2.5},
	{ASK_HOW_FIXED, "workaround", 3},
	{ASK_HOW_FIXED, "got past", 3},
	{ASK_HOW_FIXED, "get past", 3},
	{ASK_HOW_FIXED, "seen this before", 3},
	{ASK_HOW_FIXED, "seen it before", 3},
	{ASK_HOW_FIXED, "seen this error before", 3},
	{ASK_HOW_FIXED, "before", 1},
	{ASK_HOW_FIXED, "seen", 2},
	{ASK_HOW_FIXED, "last time", 1},
	{ASK_HOW_FIXED, "how did we", 1.5},
	{ASK_HOW_FIXED, "how'd we", 1.5},
	{ASK_HOW_FIXED, "how do we usually", 1.5},
	{ASK_HOW_FIXED, "get it passing", 2},
	/* what was I doing */
	{ASK_WHAT_DOING, "was i", 3},
	{ASK_WHAT_DOING, "am i currently", 3},
	{ASK_WHAT_DOING, "left off", 4},
	{ASK_WHAT_DOING, "leave off", 4},
	{ASK_WHAT_DOING, "working on", 3},
	{ASK_WHAT_DOING, "hacking on", 3},
	{ASK_WHAT_DOING, "in the middle of", 3},
	{ASK_WHAT_DOING, "current task", 3},
	{ASK_WHAT_DOING, "in progress", 2.5},
	{ASK_WHAT_DOING, "last session", 3},
	{ASK_WHAT_DOING, "my session", 3},
	{ASK_WHAT_DOING, "where did i", 2},
	{ASK_WHAT_DOING, "i stopped", 3},
	{ASK_WHAT_DOING, "they stopped", 3},
	{ASK_WHAT_DOING, "when i stopped", 1},
	{ASK_WHAT_DOING, "pick up", 1.5},
	{ASK_WHAT_DOING, "picking up", 1.5},
	{ASK_WHAT_DOING, "resume", 2},
	{ASK_WHAT_DOING, "logged off", 2},
	/* what did we decide */
	{ASK_DECIDED, "decide", 4},
	{ASK_DECIDED, "decided", 4},
	{ASK_DECIDED, "decision", 4},
	{ASK_DECIDED, "decisions", 4},
	{ASK_DECIDED, "agree", 3},
	{ASK_DECIDED, "agreed", 3},
	{ASK_DECIDED, "settle", 3},
	{ASK_DECIDED, "chose", 3},
	{ASK_DECIDED, "choose", 3},
	{ASK_DECIDED, "picked", 3},
	{ASK_DECIDED, "pick", 2},
	{ASK_DECIDED, "went with", 3},
	{ASK_DECIDED, "go with", 2},
	{ASK_DECIDED, "rationale", 4},
	{ASK_DECIDED, "reasoning behind", 4},
	{ASK_DECIDED, "instead of", 2},
	{ASK_DECIDED, "and not", 1.5},
	{ASK_DECIDED, "vs", 1.5},
	{ASK_DECIDED, "over", 0.5},
	{ASK_DECIDED, "approach", 2},
	{ASK_DECIDED, "design", 1},
	/* what went wrong before */
	{ASK_MISTAKES, "mistake", 4},
	{ASK_MISTAKES, "mistakes", 4},
	{ASK_MISTAKES, "pitfall", 4},
	{ASK_MISTAKES, "pitfalls", 4},
	{ASK_MISTAKES, "gotcha", 4},
	{ASK_MISTAKES, "gotchas", 4},
	{ASK_MISTAKES, "trap", 3},
	{ASK_MISTAKES, "traps", 3},
	{ASK_MISTAKES, "blunder", 4},
	{ASK_MISTAKES, "blunders", 4},
	{ASK_MISTAKES, "went wrong", 4},
	{ASK_MISTAKES, "gone wrong", 4},
	{ASK_MISTAKES, "screwed up", 4},
	{ASK_MISTAKES, "screw up", 4},
	{ASK_MISTAKES, "messed up", 4},
	{ASK_MISTAKES, "avoid", 3},
	{ASK_MISTAKES, "not to do", 3},
	{ASK_MISTAKES, "lesson", 3},
	{ASK_MISTAKES, "lessons", 3},
	{ASK_MISTAKES, "burned", 2},
	/* what is next */
	{ASK_NEXT, "next", 3},
	{ASK_NEXT, "now", 1},
	{ASK_NEXT, "usually", 1.5},
	{ASK_NEXT, "normally", 1.5},
	{ASK_NEXT, "typically", 1.5},
	{ASK_NEXT, "after that", 1.5},
	{ASK_NEXT, "after", 1},
	{ASK_NEXT, "alongside", 3},
	{ASK_NEXT, "together with", 2},
	{ASK_NEXT, "predict", 3},
	{ASK_NEXT, "likely", 2},
	{ASK_NEXT, "should i run", 2},
	{ASK_NEXT, "should i", 1},
	{ASK_NEXT, "should i do", 2},
	{ASK_NEXT, "will i need", 3},
	{ASK_NEXT, "need to touch", 2},
	/* what changed */
	{ASK_CHANGED, "changed", 2},
	{ASK_CHANGED, "changes", 1.5},
	{ASK_CHANGED, "since", 2},
	{ASK_CHANGED, "happened", 2},
	{ASK_CHANGED, "land", 3},
	{ASK_CHANGED, "landed", 3},
	{ASK_CHANGED, "yet", 1.5},
	{ASK_CHANGED, "push", 2},
	{ASK_CHANGED, "pushed", 2},
	{ASK_CHANGED, "merged", 2},
	{ASK_CHANGED, "recent", 2},
	{ASK_CHANGED, "recently", 2},
	{ASK_CHANGED, "today", 1.5},
	{ASK_CHANGED, "yesterday", 2},
	{ASK_CHANGED, "overnight", 2},
	{ASK_CHANGED, "this morning", 2},
	{ASK_CHANGED, "last hour", 2},
	{ASK_CHANGED, "past", 1},
	{ASK_CHANGED, "away", 2},
	{ASK_CHANGED, "commits", 2},
	{ASK_CHANGED, "touched", 2},
	{ASK_CHANGED, "anyone", 1},
	{ASK_CHANGED, "activity", 2},
	{ASK_CHANGED, "runs", 1.5},
	{ASK_CHANGED, "modifications", 2},
	{ASK_CHANGED, "new", 1},
	{ASK_CHANGED, "last 10", 1},
	{ASK_CHANGED, "show me the last", 1.5},
	{ASK_CHANGED, "list the", 1},
	{ASK_CHANGED, "i ran", 2},
	/* is everything healthy */
	{ASK_HEALTH, "healthy", 4},
	{ASK_HEALTH, "health", 4},
	{ASK_HEALTH, "status", 3},
	{ASK_HEALTH, "green", 3},
	{ASK_HEALTH, "anything red", 3},
	{ASK_HEALTH, "what branch", 4},
	{ASK_HEALTH, "which branch", 4},
	{ASK_HEALTH, "dirty", 4},
	{ASK_HEALTH, "uncommitted", 4},
	{ASK_HEALTH, "clean", 3},
	{ASK_HEALTH, "running", 1.5},
	{ASK_HEALTH, "up", 1},
	{ASK_HEALTH, "down", 1},
	{ASK_HEALTH, "ahead", 2},
	{ASK_HEALTH, "behind", 2},
	{ASK_HEALTH, "passing", 2},
	{ASK_HEALTH, "ok", 1.5},
	{ASK_HEALTH, "okay", 1.5},
	{ASK_HEALTH, "fine", 1.5},
	{ASK_HEALTH, "preflight", 3},
	{ASK_HEALTH, "right now", 1},
	/* the brief */
	{ASK_BRIEF, "brief", 4},
	{ASK_BRIEF, "briefing", 4},
	{ASK_BRIEF, "summary", 4},
	{ASK_BRIEF, "summarize", 4},
	{ASK_BRIEF, "summarise", 4},
	{ASK_BRIEF, "overview", 4},
	{ASK_BRIEF, "tl dr", 4},
	{ASK_BRIEF, "tldr", 4},
	{ASK_BRIEF, "rundown", 4},
	{ASK_BRIEF, "digest", 4},
	{ASK_BRIEF, "big picture", 4},
	{ASK_BRIEF, "catch me up", 3},
	{ASK_BRIEF, "where things stand", 3},
	{ASK_BRIEF, "should know", 1.5},
	{ASK_BRIEF, "start the day", 2},
	{ASK_BRIEF, "bootstrap", 2},
	/* search the knowledge base */
	{ASK_SEARCH, "search", 3},
	{ASK_SEARCH, "find", 2},
	{ASK_SEARCH, "look up", 3},
	{ASK_SEARCH, "lookup", 3},
	{ASK_SEARCH, "know about", 3},
	{ASK_SEARCH, "we know", 2},
	{ASK_SEARCH, "we have on", 2},
	{ASK_SEARCH, "knowledge", 3},
	{ASK_SEARCH, "kb", 3},
	{ASK_SEARCH, "notes", 2},
	{ASK_SEARCH, "written down", 2},
	{ASK_SEARCH, "recorded about", 2},
	{ASK_SEARCH, "anything about", 2},
	{ASK_SEARCH, "anything on", 2},
	{ASK_SEARCH, "entries", 2},
	{ASK_SEARCH, "mentioning", 2},
	/* record */
	{ASK_RECORD, "remember that", 4},
	{ASK_RECORD, "note to self", 5},
	{ASK_RECORD, "write that down", 5},
	{ASK_RECORD, "write down", 3},
	{ASK_RECORD, "jot", 4},
	/* explain an event */
	{ASK_EXPLAIN, "event", 2},
	{ASK_EXPLAIN, "explain", 3},
	{ASK_EXPLAIN, "describe", 2},
	{ASK_EXPLAIN, "details on", 2},
	{ASK_EXPLAIN, "payload", 2},
	{ASK_EXPLAIN, "triggered", 1},
	{ASK_WHY_FAILED, "bombed", 2.5},
	{ASK_WHY_FAILED, "blew up", 2.5},
	{ASK_WHY_FAILED, "what's wrong", 2},
	{ASK_WHY_FAILED, "whats wrong", 2},
	{ASK_WHY_FAILED, "wrong with", 2},
	{ASK_WHY_FAILED, "stack trace", 2},
	{ASK_WHY_FAILED, "traceback", 2},
	{ASK_WHY_FAILED, "compile error", 2},
	{ASK_WHY_FAILED, "link error", 2},
	{ASK_WHY_FAILED, "linker", 1.5},
	{ASK_WHY_FAILED, "build error", 2},
	{ASK_WHY_FAILED, "test failure", 2},
	{ASK_WHY_FAILED, "failed test", 2},
	{ASK_WHY_FAILED, "regression", 1.5},
	{ASK_WHY_FAILED, "assertion", 1.5},
	{ASK_WHY_FAILED, "panic", 1.5},
	{ASK_WHY_FAILED, "exception", 1.5},
	{ASK_WHY_FAILED, "error message", 2},
	{ASK_WHY_FAILED, "not compiling", 3},
	{ASK_WHY_FAILED, "doesn't compile", 3},
	{ASK_WHY_FAILED, "won't build", 3},
	{ASK_WHY_FAILED, "won't compile", 3},
	{ASK_WHY_FAILED, "can't build", 3},
	{ASK_WHY_FAILED, "does not build", 3},
	{ASK_WHY_FAILED, "does not compile", 3},
	{ASK_HOW_FIXED, "how to fix", 2},
	{ASK_HOW_FIXED, "how can i fix", 2},
	{ASK_HOW_FIXED, "remedy", 3},
	{ASK_HOW_FIXED, "repair", 2},
	{ASK_HOW_FIXED, "patch", 1.5},
	{ASK_HOW_FIXED, "sorted out", 3},
	{ASK_HOW_FIXED, "sort out", 2.5},
	{ASK_HOW_FIXED, "dealt with", 3},
	{ASK_HOW_FIXED, "deal with", 2},
	{ASK_HOW_FIXED, "handled", 2},
	{ASK_HOW_FIXED, "resolution", 2.5},
	{ASK_HOW_FIXED, "solution", 3},
	{ASK_HOW_FIXED, "known issue", 2.5},
	{ASK_HOW_FIXED, "ran into", 2},
	{ASK_HOW_FIXED, "run into", 2},
	{ASK_HOW_FIXED, "encountered", 2},
	{ASK_HOW_FIXED, "happened before", 2.5},
	{ASK_HOW_FIXED, "again", 1},
	{ASK_WHAT_DOING, "where were we", 3},
	{ASK_WHAT_DOING, "what were we", 2.5},
	{ASK_WHAT_DOING, "pick back up", 3},
	{ASK_WHAT_DOING, "continue", 1.5},
	{ASK_WHAT_DOING, "unfinished", 2.5},
	{ASK_WHAT_DOING, "half-done", 2.5},
	{ASK_WHAT_DOING, "was working", 3},
	{ASK_WHAT_DOING, "been doing", 3},
	{ASK_WHAT_DOING, "last thing i", 3},
	{ASK_WHAT_DOING, "before the break", 3},
	{ASK_WHAT_DOING, "before i left", 3},
	{ASK_WHAT_DOING, "when i left", 2.5},
	{ASK_WHAT_DOING, "doing before", 3},
	{ASK_WHAT_DOING, "my work", 1.5},
	{ASK_DECIDED, "why did we", 1.5},
	{ASK_DECIDED, "why do we", 1.5},
	{ASK_DECIDED, "why are we", 1.5},
	{ASK_DECIDED, "reason we", 2.5},
	{ASK_DECIDED, "reasons for", 2.5},
	{ASK_DECIDED, "the reason", 2},
	{ASK_DECIDED, "trade-off", 3},
	{ASK_DECIDED, "tradeoff", 3},
	{ASK_DECIDED, "alternatives", 2},
	{ASK_DECIDED, "considered", 2},
	{ASK_DECIDED, "opted", 3},
	{ASK_DECIDED, "prefer", 2},
	{ASK_DECIDED, "preferred", 2},
	{ASK_DECIDED, "adr", 3},
	{ASK_DECIDED, "architecture", 1.5},
	{ASK_DECIDED, "policy", 2},
	{ASK_DECIDED, "the call on", 2},
	{ASK_MISTAKES, "pain points", 3},
	{ASK_MISTAKES, "regret", 3},
	{ASK_MISTAKES, "don't do", 3},
	{ASK_MISTAKES, "shouldn't", 2},
	{ASK_MISTAKES, "watch out", 3},
	{ASK_MISTAKES, "careful", 2.5},
	{ASK_MISTAKES, "caveat", 3},
	{ASK_MISTAKES, "caveats", 3},
	{ASK_MISTAKES, "anti-pattern", 3},
	{ASK_MISTAKES, "footgun", 4},
	{ASK_MISTAKES, "footguns", 4},
	{ASK_MISTAKES, "bitten", 3},
	{ASK_MISTAKES, "bit us", 3},
	{ASK_MISTAKES, "went badly", 3},
	{ASK_MISTAKES, "postmortem", 3},
	{ASK_MISTAKES, "post-mortem", 3},
	{ASK_MISTAKES, "incident", 2},
	{ASK_MISTAKES, "warnings about", 2},
	{ASK_NEXT, "upcoming", 2},
	{ASK_NEXT, "then what", 2.5},
	{ASK_NEXT, "what now", 2.5},
	{ASK_NEXT, "what else", 1.5},
	{ASK_NEXT, "todo", 2},
	{ASK_NEXT, "to-do", 2},
	{ASK_NEXT, "remaining", 1.5},
	{ASK_NEXT, "suggest", 2},
	{ASK_NEXT, "recommend", 2},
	{ASK_NEXT, "should i work on", 3},
	{ASK_NEXT, "should i look at", 2},
	{ASK_NEXT, "related files", 2.5},
	{ASK_NEXT, "goes with", 2},
	{ASK_NEXT, "edited with", 2.5},
	{ASK_NEXT, "changed with", 2.5},
	{ASK_NEXT, "change with", 2.5},
	{ASK_NEXT, "followed by", 2},
	{ASK_NEXT, "comes after", 2.5},
	{ASK_NEXT, "what do i do", 1.5},
	{ASK_CHANGED, "latest", 1.5},
	{ASK_CHANGED, "lately", 2},
	{ASK_CHANGED, "last night", 2},
	{ASK_CHANGED, "this week", 2},
	{ASK_CHANGED, "last week", 2},
	{ASK_CHANGED, "ago", 1.5},
	{ASK_CHANGED, "updates", 2},
	{ASK_CHANGED, "what's new", 3},
	{ASK_CHANGED, "whats new", 3},
	{ASK_CHANGED, "history", 1.5},
	{ASK_CHANGED, "who changed", 3},
	{ASK_CHANGED, "who touched", 3},
	{ASK_CHANGED, "modified", 1.5},
	{ASK_CHANGED, "pulled", 2},
	{ASK_CHANGED, "timeline", 2.5},
	{ASK_CHANGED, "since i left", 3},
	{ASK_CHANGED, "in the meantime", 3},
	{ASK_CHANGED, "meanwhile", 2.5},
	{ASK_HEALTH, "state of", 1.5},
	{ASK_HEALTH, "how's the", 1.5},
	{ASK_HEALTH, "hows the", 1.5},
	{ASK_HEALTH, "how is the", 1.5},
	{ASK_HEALTH, "everything ok", 3},
	{ASK_HEALTH, "all good", 3},
	{ASK_HEALTH, "any problems", 2},
	{ASK_HEALTH, "working", 0.5},
	{ASK_HEALTH, "alive", 2.5},
	{ASK_HEALTH, "reachable", 2.5},
	{ASK_HEALTH, "breaker", 3},
	{ASK_HEALTH, "breakers", 3},
	{ASK_HEALTH, "daemon", 1.5},
	{ASK_HEALTH, "sanity", 2},
	{ASK_HEALTH, "staged", 2},
	{ASK_HEALTH, "pending changes", 2.5},
	{ASK_HEALTH, "local changes", 2.5},
	{ASK_HEALTH, "which commit", 2},
	{ASK_HEALTH, "upstream", 1.5},
	{ASK_HEALTH, "origin", 1.5},
	{ASK_BRIEF, "recap", 4},
	{ASK_BRIEF, "sum up", 4},
	{ASK_BRIEF, "highlights", 3},
	{ASK_BRIEF, "in a nutshell", 4},
	{ASK_BRIEF, "sitrep", 4},
	{ASK_BRIEF, "situation", 2},
	{ASK_BRIEF, "state of play", 4},
	{ASK_BRIEF, "orient", 2.5},
	{ASK_BRIEF, "standup", 3},
	{ASK_BRIEF, "stand-up", 3},
	{ASK_BRIEF, "status report", 4},
	{ASK_BRIEF, "update me", 3},
	{ASK_BRIEF, "fill me in", 3},
	{ASK_BRIEF, "get me up to speed", 4},
	{ASK_BRIEF, "up to speed", 3},
	{ASK_SEARCH, "info on", 2.5},
	{ASK_SEARCH, "information about", 2.5},
	{ASK_SEARCH, "information on", 2.5},
	{ASK_SEARCH, "documentation", 2},
	{ASK_SEARCH, "docs", 1.5},
	{ASK_SEARCH, "wiki", 2},
	{ASK_SEARCH, "related to", 1.5},
	{ASK_SEARCH, "references", 1.5},
	{ASK_SEARCH, "look for", 2.5},
	{ASK_SEARCH, "is there anything", 2},
	{ASK_SEARCH, "do we have", 2},
	{ASK_SEARCH, "we have anything", 2},
	{ASK_RECORD, "make a note", 5},
	{ASK_RECORD, "take note", 4},
	{ASK_RECORD, "add to the kb", 5},
	{ASK_RECORD, "add to the knowledge", 5},
	{ASK_RECORD, "for the record", 4},
	{ASK_RECORD, "don't forget", 3},
	{ASK_RECORD, "for future reference", 3},
	{ASK_EXPLAIN, "inspect", 2},
	{ASK_EXPLAIN, "show event", 3},
	{ASK_EXPLAIN, "envelope", 2.5},
	{ASK_EXPLAIN, "raw event", 3},
	{ASK_EXPLAIN, "correlation", 1.5},
	{ASK_WHY_FAILED, "complaining", 2.5},
	{ASK_WHY_FAILED, "complaint", 2.5},
	{ASK_WHY_FAILED, "choked", 2.5},
	{ASK_WHY_FAILED, "choke", 2},
	{ASK_WHY_FAILED, "borked", 2.5},
	{ASK_WHY_FAILED, "unhappy", 2},
	{ASK_WHY_FAILED, "exploded", 2.5},
	{ASK_WHY_FAILED, "made the most recent build fail", 2},
	{ASK_HOW_FIXED, "go away", 3},
	{ASK_HOW_FIXED, "cure", 3},
	{ASK_HOW_FIXED, "get it working", 2.5},
	{ASK_HOW_FIXED, "passing again", 3},
	{ASK_HOW_FIXED, "working again", 3},
	{ASK_HOW_FIXED, "looks familiar", 3},
	{ASK_HOW_FIXED, "what did we do", 2.5},
	{ASK_HOW_FIXED, "how did we get", 2},
	{ASK_HOW_FIXED, "sorted", 2.5},
	{ASK_MISTAKES, "screwups", 4},
	{ASK_MISTAKES, "screwup", 4},
	{ASK_MISTAKES, "screw", 3},
	{ASK_MISTAKES, "tripped", 3},
	{ASK_MISTAKES, "went sideways", 4},
	{ASK_MISTAKES, "hard way", 4},
	{ASK_MISTAKES, "get wrong", 3},
	{ASK_MISTAKES, "got wrong", 3},
	{ASK_MISTAKES, "don't repeat", 2},
	{ASK_DECIDED, "thinking behind", 4},
	{ASK_DECIDED, "justification", 4},
	{ASK_DECIDED, "conclusion", 3},
	{ASK_DECIDED, "choice", 3},
	{ASK_DECIDED, "whose idea", 3},
	{ASK_DECIDED, "argument for", 3},
	{ASK_DECIDED, "dropped", 2},
	{ASK_DECIDED, "remind me why we", 2},
	{ASK_WHAT_DOING, "train of thought", 4},
	{ASK_WHAT_DOING, "focused on", 3},
	{ASK_WHAT_DOING, "my focus", 3},
	{ASK_WHAT_DOING, "had going on", 3},
	{ASK_WHAT_DOING, "in flight", 3},
	{ASK_WHAT_DOING, "half-finished", 3},
	{ASK_WHAT_DOING, "was debugging", 3},
	{ASK_WHAT_DOING, "i was", 2},
	{ASK_NEXT, "co-edited", 3},
	{ASK_NEXT, "co-change", 3},
	{ASK_NEXT, "now what", 3},
	{ASK_NEXT, "tends to follow", 3},
	{ASK_NEXT, "usual step", 3},
	{ASK_NEXT, "step after", 2.5},
	{ASK_CHANGED, "committed", 2},
	{ASK_CHANGED, "on leave", 2},
	{ASK_CHANGED, "weekend", 2.5},
	{ASK_CHANGED, "go in", 2},
	{ASK_CHANGED, "ran", 1.5},
	{ASK_HEALTH, "unpushed", 4},
	{ASK_HEALTH, "currently", 2},
	{ASK_HEALTH, "at the moment", 1.5},
	{ASK_HEALTH, "in progress", 1},
	{ASK_HEALTH, "is everything", 2},
	{ASK_SEARCH, "dig up", 3},
	{ASK_SEARCH, "any info", 3},
	{ASK_SEARCH, "anything stored", 3},
	{ASK_SEARCH, "stored about", 3},
	{ASK_SEARCH, "we've got on", 3},
	{ASK_SEARCH, "whatever we've got", 3},
	{ASK_BRIEF, "synopsis", 4},
	{ASK_BRIEF, "gist", 3},
	{ASK_BRIEF, "lay of the land", 4},
	{ASK_BRIEF, "onboarding", 3},
	{ASK_BRIEF, "current standing", 3},
	{ASK_BRIEF, "where we stand", 3},
	{ASK_HEALTH, "merge in progress", 3},
	{ASK_CHANGED, "=events", 1.5},
	{ASK_HEALTH, "rebase in progress", 3},
};

/* ---- words ---- */

#define WORDS_MAX 200
#define WORD_LEN 48

struct words {
	char w[WORDS_MAX][WORD_LEN]; /* stems */
	char raw[WORDS_MAX][WORD_LEN];
	size_t n;
};

/* A light stem: lower case, then -ing, -ed, -es, -s and a final -e
 * dropped from longer words, so that "fails", "failed", "failing" meet. */
static void stem(char *w)
{
	size_t l = strlen(w);
	if (l > 5 && strcmp(w + l - 3, "ing") == 0)
		w[l -= 3] = '\0';
	else if (l > 4 && strcmp(w + l - 2, "ed") == 0)
		w[l -= 2] = '\0';
	else if (l > 4 && strcmp(w + l - 2, "es") == 0 &&
		 (strchr("sxz", w[l - 3]) || (l > 5 && w[l - 3] == 'h' && strchr("cs", w[l - 4]))))
		w[l -= 2] = '\0';
	else if (l > 3 && w[l - 1] == 's' && w[l - 2] != 's')
		w[--l] = '\0';
	if (l > 4 && w[l - 1] == 'e')
		w[--l] = '\0';
}

static bool word_char(unsigned char c)
{
	return isalnum(c) || c == '\'' || c == '-' || c == '_' || c >= 0x80;
}

static void split(const char *s, struct words *out)
{
	out->n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p && out->n < WORDS_MAX) {
		while (*p && !word_char(*p))
			p++;
		size_t l = 0;
		char buf[WORD_LEN];
		while (*p && word_char(*p)) {
			if (l < WORD_LEN - 1)
				buf[l++] = (char)tolower(*p);
			p++;
		}
		/* Quotes around a word are not part of it. */
		while (l && (buf[l - 1] == '\'' || buf[l - 1] == '-'))
			l--;
		size_t start = 0;
		while (start < l && buf[start] == '\'')
			start++;
		if (l <= start)
			continue;
		buf[l] = '\0';
		snprintf(out->raw[out->n], WORD_LEN, "%s", buf + start);
		snprintf(out->w[out->n], WORD_LEN, "%s", buf + start);
		stem(out->w[out->n]);
		out->n++;
	}
}

static bool is_ulid(const char *s, size_t n)
{
	if (n != 26)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) || strchr("ILOUilou", s[i]))
			return false;
	return isdigit((unsigned char)s[0]);
}

/* ---- the question's parts ---- */

/* The first ULID in q, into buf. */
static bool find_ulid(const char *q, char *buf)
{
	for (const char *p = q; *p; p++) {
		if (p > q && isalnum((unsigned char)p[-1]))
			continue;
		size_t n = 0;
		while (isalnum((unsigned char)p[n]))
			n++;
		if (is_ulid(p, n)) {
			memcpy(buf, p, 26);
			buf[26] = '\0';
			for (int i = 0; i < 26; i++)
				buf[i] = (char)toupper((unsigned char)buf[i]);
			return true;
		}
	}
	return false;
}

/* An event type named in q (build.failed, git.commit...), into buf. */
static bool find_type(const char *q, char *buf, size_t len)
{
	static const char *const kinds[] = {"build.", "test.", "git.",   "file.",    "shell.",
					    "ci.",    "kb.",   "agent.", "session.", "triage."};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		const char *p = strstr(q, kinds[k]);
		if (!p || (p > q && (isalnum((unsigned char)p[-1]) || p[-1] == '/')))
			continue;
		size_t n = strlen(kinds[k]);
		while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.')
			n++;
		while (n && p[n - 1] == '.')
			n--;
		if (n > strlen(kinds[k]) && n < len) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
	}
	return false;
}

/* A seq: a number after "seq", "event", "#" or "seq=". */
static bool find_seq(const struct words *ws, const char *q, long long *seq)
{
	for (size_t i = 0; i + 1 < ws->n; i++) {
		if ((strcmp(ws->raw[i], "seq") == 0 || strcmp(ws->raw[i], "event") == 0 ||
		     strcmp(ws->raw[i], "sequence") == 0) &&
		    strspn(ws->raw[i + 1], "0123456789") == strlen(ws->raw[i + 1]) &&
		    strlen(ws->raw[i + 1]) < 16 && atoll(ws->raw[i + 1]) > 0) {
			*seq = atoll(ws->raw[i + 1]);
			return true;
		}
	}
	/* "#882": a seq of at most 15 digits, not 0. */
	const char *h = strchr(q, '#');
	bool about_events = strcasestr(q, "event") || strcasestr(q, "seq");
	if (h && about_events && isdigit((unsigned char)h[1]) && strspn(h + 1, "0123456789") < 16 &&
	    atoll(h + 1) > 0) {
		*seq = atoll(h + 1);
		return true;
	}
	return false;
}

/* Text between the first pair of quotes (' " `), into buf. */
static bool find_quoted(const char *q, char *buf, size_t len)
{
	for (const char *p = q; *p; p++) {
		if (*p != '\'' && *p != '"' && *p != '`')
			continue;
		/* An apostrophe inside a word ("how'd", "what's") is not a quote. */
		if (*p == '\'' && p > q && isalpha((unsigned char)p[-1]))
			continue;
		const char *e = strchr(p + 1, *p == '`' ? '\'' : *p);
		const char *e2 = *p == '`' ? strchr(p + 1, '`') : NULL;
		if (e2 && (!e || e2 < e))
			e = e2;
		if (!e || e == p + 1)
			continue;
		size_t n = (size_t)(e - p - 1);
		if (n >= len)
			n = len - 1;
		memcpy(buf, p + 1, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

/* Words that carry no topic: cue words, question words, fillers. */
static bool stopword(const char *w)
{
	static const char *const stop[] = {
		"a",          "an",        "the",      "and",       "or",        "of",
		"to",         "in",        "on",       "for",       "with",      "about",
		"at",         "by",        "from",     "into",      "is",        "are",
		"was",        "were",      "be",       "been",      "do",        "does",
		"did",        "done",      "have",     "has",       "had",       "i",
		"me",         "my",        "we",       "our",       "us",        "you",
		"it",         "its",       "this",     "that",      "these",     "those",
		"there",      "what",      "what's",   "whats",     "which",     "who",
		"why",        "how",       "how'd",    "when",      "where",     "any",
		"anything",   "some",      "all",      "ever",      "again",     "last",
		"time",       "before",    "after",    "usually",   "normally",  "typically",
		"know",       "should",    "would",    "could",     "can",       "get",
		"got",        "make",      "made",     "fix",       "fixed",     "fixes",
		"solve",      "solved",    "resolve",  "resolved",  "decide",    "decided",
		"decision",   "decisions", "mistake",  "mistakes",  "search",    "find",
		"look",       "up",        "lookup",   "kb",        "knowledge", "base",
		"notes",      "note",      "recorded", "record",    "written",   "down",
		"entries",    "regarding", "re",       "there",     "seen",      "known",
		"learned",    "agent",     "here",     "please",    "pls",       "so",
		"if",         "then",      "when",     "around",    "exist",     "exists",
		"editing",    "edit",      "refactor", "touching",  "touched",   "touch",
		"approach",   "choose",    "chose",    "pick",      "picked",    "went",
		"wrong",      "pitfalls",  "pitfall",  "gotchas",   "gotcha",    "traps",
		"trap",       "avoid",     "blunders", "common",    "things",    "not",
		"based",      "past",      "fall",     "fell",      "into",      "screwed",
		"agree",      "agreed",    "settle",   "rationale", "using",     "use",
		"remind",     "why",       "instead",  "vs",        "over",      "mentioning",
		"query",      "knowledge", "patterns", "pattern",   "design",    "were",
		"workaround", "way",       "keep",     "getting",   "hit",       "right",
		"usually",    "same",      "error",    "errors",    "issue",     "problem",
		"bug",        "for",       "tell",     "show",      "give",      "list",
		"let",        "lets",      "let's",    "like",      "just",      "also",
	};
	for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
		if (strcmp(w, stop[i]) == 0)
			return true;
	return false;
}

/* The topic of a knowledge question: quoted text, else a path or a
 * signature-like token, else the text after a colon, else the words that
 * are neither stop words nor cues of the family asked. Into buf; false when nothing is left. */
static bool find_topic(const char *q, const struct words *ws, enum ask_family fam, char *buf,
		       size_t len)
{
	if (find_quoted(q, buf, len))
		return true;
	/* After a colon: "have we seen this error before: SQLITE_BUSY". */
	const char *colon = strrchr(q, ':');
	if (colon && colon[1] == ' ' && strlen(colon + 2) > 2 && strlen(colon + 2) < len) {
		snprintf(buf, len, "%s", colon + 2);
		size_t l = strlen(buf);
		while (l && strchr("?.! ", buf[l - 1]))
			buf[--l] = '\0';
		if (l)
			return true;
	}
	size_t l = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ws->n; i++) {
		if (stopword(ws->raw[i]))
			continue;
		bool cue = false;
		for (size_t c = 0; c < sizeof cues / sizeof cues[0] && !cue; c++)
			cue = strchr(cues[c].phrase, ' ') == NULL && cues[c].w >= 1.5 &&
			      cues[c].f == fam && fam != ASK_SEARCH &&
			      strcmp(cues[c].phrase, ws->raw[i]) == 0;
		if (cue)
			continue;
		/* A plural as its singular: the search matches words of 4 bytes
		 * or more as prefixes, so "warning" finds "warnings" too, while
		 * "warnings" would miss "warning". */
		char w[WORD_LEN];
		snprintf(w, sizeof w, "%s", ws->raw[i]);
		size_t wl = strlen(w);
		if (wl > 4 && w[wl - 1] == 's' && w[wl - 2] != 's' && w[wl - 2] != 'u' &&
		    isalpha((unsigned char)w[wl - 2]))
			w[wl - 1] = '\0';
		l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? " " : "", w);
		if (l >= len - 1)
			break;
	}
	return l > 0;
}

/* Local midnight of the day of ms, minus days. */
static int64_t local_midnight(int64_t now_ms, int days_back)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday -= days_back;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

/* "since" from the words: yesterday, today, this morning, last hour, past
 * N minutes/hours/days, overnight, since monday..., since lunch. 0 when
 * nothing is said. */
static int64_t find_since(const struct words *ws, int64_t now_ms)
{
	static const char *const days[] = {"sunday",   "monday", "tuesday", "wednesday",
					   "thursday", "friday", "saturday"};
	for (size_t i = 0; i < ws->n; i++) {
		const char *w = ws->raw[i];
		const char *next = i + 1 < ws->n ? ws->raw[i + 1] : "";
		if (strcmp(w, "yesterday") == 0)
			return local_midnight(now_ms, 1);
		if (strcmp(w, "today") == 0 || (strcmp(w, "this") == 0 && !strcmp(next, "morning")))
			return local_midnight(now_ms, 0);
		if (strcmp(w, "lunch") == 0)
			return local_midnight(now_ms, 0) + 12 * 3600000LL;
		if (strcmp(w, "overnight") == 0 || strcmp(w, "night") == 0)
			return now_ms - 16 * 3600000LL;
		if ((strcmp(w, "last") == 0 || strcmp(w, "past") == 0) && *next) {
			int n = 1;
			const char *unit = next;
			if (isdigit((unsigned char)next[0]) && i + 2 < ws->n) {
				n = atoi(next);
				unit = ws->raw[i + 2];
			}
			int64_t u = 0;
			if (strncmp(unit, "min", 3) == 0)
				u = 60000;
			else if (strncmp(unit, "hour", 4) == 0)
				u = 3600000;
			else if (strncmp(unit, "day", 3) == 0)
				u = 86400000;
			else if (strncmp(unit, "week", 4) == 0)
				u = 7 * 86400000LL;
			if (u && n > 0 && n < 10000)
				return now_ms - n * u;
		}
		for (int d = 0; d < 7; d++)
			if (strcmp(w, days[d]) == 0) {
				time_t t = (time_t)(now_ms / 1000);
				struct tm tm;
				localtime_r(&t, &tm);
				int back = (tm.tm_wday - d + 7) % 7;
				return local_midnight(now_ms, back ? back : 7);
			}
	}
	return 0;
}

/* Which events a "changed" question means, as a pattern. */
static const char *find_what(const struct words *ws)
{
	static const struct {
		const char *stem, *pattern;
	} kinds[] = {
		{"commit", "git.commit"}, {"command", "shell.command"}, {"shell", "shell.command"},
		{"file", "file.>"},       {"test", "test.>"},           {"build", "build.>"},
		{"ci", "ci.>"},           {"pipeline", "ci.>"},         {"merge", "git.>"},
		{"pull", "git.>"},        {"pushed", "git.>"},          {"push", "git.>"},
	};
	for (size_t i = 0; i < ws->n; i++)
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (strcmp(ws->w[i], kinds[k].stem) == 0)
				return kinds[k].pattern;
	return NULL;
}

/* A target named in the question: `make check`, "make test"... */
static bool find_target(const char *q, char *buf, size_t len)
{
	char quoted[256];
	if (find_quoted(q, quoted, sizeof quoted) && strlen(quoted) < len) {
		memcpy(buf, quoted, strlen(quoted) + 1);
		return true;
	}
	static const char *const tools[] = {"make ",  "ninja ", "cargo ", "npm ",
					    "pytest", "ctest",  "go test"};
	for (size_t k = 0; k < sizeof tools / sizeof tools[0]; k++) {
		const char *p = strstr(q, tools[k]);
		if (!p)
			continue;
		size_t n = strlen(tools[k]);
		while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_')
			n++;
		while (n && p[n - 1] == ' ')
			n--;
		if (n < len) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
	}
	return false;
}

/* ---- record: "remember that X", "note: X", "log a mistake: X" ---- */

/* Where the question starts once a leading "Agent:" (or "Agent here:")
 * is skipped. */
static const char *skip_agent(const char *q)
{
	const char *colon = strchr(q, ':');
	if (colon && colon - q < 20 && strncasecmp(q, "agent", 5) == 0) {
		q = colon + 1;
		while (*q == ' ')
			q++;
	}
	return q;
}

static const char *const record_verbs[] = {
	"remember", "remeber", "note", "jot",      "record",   "log",     "save",     "store",
	"add",      "write",   "keep", "memorize", "memorise", "capture", "document", "noting"};

static bool is_record_verb(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof record_verbs / sizeof record_verbs[0]; i++)
		if (strlen(record_verbs[i]) == n && strncasecmp(w, record_verbs[i], n) == 0)
			return true;
	return false;
}

/* The entry's kind named in s[0..n): decision, mistake, pattern or note. */
static const char *kind_in(const char *s, size_t n)
{
	static const char *const kinds[] = {"decision", "mistake", "pattern", "note"};
	char buf[256];
	snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf - 1 ? n : sizeof buf - 1), s);
	for (size_t k = 0; k < 4; k++)
		if (strcasestr(buf, kinds[k]))
			return kinds[k];
	return NULL;
}

/* A JSON string of text read from the question, cut before a sequence
 * that a length limit split (the question itself is cleaned; a buffer cut
 * at a byte count can still end inside a sequence, and json_string()
 * refuses that). */
static json_t *arg_text(const char *s)
{
	size_t n = 0, len = strlen(s);
	while (n < len) {
		size_t k = utf8_seq((const unsigned char *)s + n, len - n);
		if (!k)
			break;
		n += k;
	}
	return json_stringn(s, n);
}

/* Sets the arguments of a record: kind and title (one line, at most 200
 * bytes; a longer text is kept whole in the body). False when the text is
 * empty. */
static bool record_args(json_t *args, const char *kind, const char *text, size_t len)
{
	while (len && strchr(" \t", *text))
		text++, len--;
	while (len && strchr(" .!,;-", text[len - 1]))
		len--;
	if (!len)
		return false;
	char title[201];
	snprintf(title, sizeof title, "%.*s", (int)utf8_cut(text, len, 200), text);
	json_object_set_new(args, "kind", json_string(kind ? kind : "note"));
	json_object_set_new(args, "title", arg_text(title));
	if (len > 200) {
		char *body = xasprintf("%.*s", (int)len, text);
		json_object_set_new(args, "body", arg_text(body));
		free(body);
	}
	return true;
}

/* Whether the question is an instruction to record, in one of the ways
 * people give one; the entry's kind and title into the arguments:
 *
 *   VERB ...: TEXT, VERB that TEXT     remember that X; note: X; log a mistake: X
 *   LEAD: TEXT (the lead names a verb) mistake to record: X; I want to save a note: X
 *   TEXT, INSTRUCTION                  X, write that down; X - save that; X. log it
 *   don't let me forget (that) TEXT; keep a record that TEXT; for the record, TEXT */
static bool record_intent(const char *q, json_t *args)
{
	const char *s = skip_agent(q);
	/* Politeness before the verb. */
	static const char *const polite[] = {"please ", "pls ", "can you ", "could you ",
					     "kindly "};
	for (size_t i = 0; i < sizeof polite / sizeof polite[0]; i++)
		if (strncasecmp(s, polite[i], strlen(polite[i])) == 0)
			s += strlen(polite[i]);
	size_t n = 0;
	while (isalpha((unsigned char)s[n]))
		n++;
	const char *colon = strchr(s, ':');
	/* "don't let me forget", "keep a record that", "for the record". */
	static const char *const leads[] = {
		"make a note that ",    "make a note: ",       "don't let me forget that ",
		"don't let me forget ", "keep a record that ", "keep in mind that ",
		"for the record, ",     "for the record "};
	for (size_t i = 0; i < sizeof leads / sizeof leads[0]; i++)
		if (strncasecmp(s, leads[i], strlen(leads[i])) == 0) {
			const char *t = s + strlen(leads[i]);
			const char *cut = strcasestr(t, ", put it in");
			return record_args(args, NULL, t, cut ? (size_t)(cut - t) : strlen(t));
		}
	/* A leading verb. "remember me" and "log of ..." are not records. */
	if (n && is_record_verb(s, n)) {
		const char *after = s + n;
		while (*after == ' ')
			after++;
		bool noun = (n == 3 && strncasecmp(s, "log", 3) == 0 &&
			     (strncasecmp(after, "of ", 3) == 0 ||
			      strncasecmp(after, "for ", 4) == 0 || *after == '\0')) ||
			    strncasecmp(after, "me ", 3) == 0 || strncasecmp(after, "me?", 3) == 0;
		if (!noun) {
			const char *lead_end = colon ? colon : s + strlen(s);
			const char *kind = kind_in(s, (size_t)(lead_end - s));
			if (!kind && n == 4 && strncasecmp(s, "note", 4) == 0)
				kind = "note";
			const char *text;
			if (colon)
				text = colon + 1;
			else if ((text = strcasestr(s, " that ")))
				text += 6;
			else if ((text = strcasestr(s, " - ")))
				text += 3;
			else
				text = after;
			if (colon && kind && strlen(colon + 1) == 0)
				return false;
			/* A kind word right after the verb ("log a mistake X")
			 * is not part of the text. */
			const char *t = text;
			static const char *const skip[] = {"a ", "an ", "this ", "the ", "it: "};
			if (t == after)
				for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
					if (strncasecmp(t, skip[i], strlen(skip[i])) == 0)
						t += strlen(skip[i]);
			size_t len = strlen(t);
			const char *tail = strcasestr(t, ", write that down");
			if (tail)
				len = (size_t)(tail - t);
			return record_args(args, kind, t, len);
		}
	}
	/* "LEAD: TEXT" where the lead (a few words) asks to record. */
	if (colon && colon - s < 60) {
		bool verb = false;
		for (const char *w = s; w < colon && !verb;) {
			while (w < colon && !isalpha((unsigned char)*w))
				w++;
			size_t wl = 0;
			while (w + wl < colon && isalpha((unsigned char)w[wl]))
				wl++;
			verb = wl && is_record_verb(w, wl);
			w += wl;
		}
		if (verb || strncasecmp(s, "fyi", 3) == 0)
			return record_args(args, kind_in(s, (size_t)(colon - s)), colon + 1,
					   strlen(colon + 1));
	}
	/* "TEXT, INSTRUCTION" at the end. */
	static const char *const tails[] = {"write that down",  "write this down",
					    "write it down",    "log it",
					    "log that",         "log this",
					    "save that",        "save this",
					    "save it",          "note that",
					    "note it",          "remember that",
					    "remember this",    "remember it",
					    "keep that",        "jot that down",
					    "jot it down",      "record that",
					    "record it",        "put it in the knowledge base",
					    "put it in the kb", "add it to the knowledge base",
					    "add it to the kb"};
	size_t ql = strlen(s);
	size_t end = ql;
	while (end && strchr(" .!", s[end - 1]))
		end--;
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		size_t tl = strlen(tails[i]);
		if (end < tl + 2 || strncasecmp(s + end - tl, tails[i], tl) != 0)
			continue;
		const char *before = s + end - tl;
		/* What precedes the instruction: a separator, then the text. */
		size_t len = (size_t)(before - s);
		while (len && strchr(" ,.;-", s[len - 1]))
			len--;
		if (len == (size_t)(before - s))
			continue; /* no separator: "what did I note that ..." */
		const char *lead_colon = memchr(s, ':', len);
		const char *kind = lead_colon ? kind_in(s, (size_t)(lead_colon - s)) : NULL;
		const char *text = lead_colon && kind ? lead_colon + 1 : s;
		return record_args(args, kind, text, (size_t)(s + len - text));
	}
	return false;
}

/* ---- routing ---- */

/* A cue as words: stems, or the words as written for a phrase that starts
 * with '=' ("=events": the plural only). */
struct cue_stem {
	char w[6][WORD_LEN];
	size_t n;
	bool exact;
};

static bool phrase_at(const struct words *ws, size_t i, const struct cue_stem *c)
{
	if (i + c->n > ws->n)
		return false;
	for (size_t k = 0; k < c->n; k++)
		if (strcmp(c->exact ? ws->raw[i + k] : ws->w[i + k], c->w[k]) != 0)
			return false;
	return true;
}

static bool same_phrase(const struct cue_stem *a, const struct cue_stem *b)
{
	if (a->n != b->n || a->exact != b->exact)
		return false;
	for (size_t k = 0; k < a->n; k++)
		if (strcmp(a->w[k], b->w[k]) != 0)
			return false;
	return true;
}

static void cue_split(const char *phrase, struct cue_stem *out)
{
	struct words ws;
	out->exact = phrase[0] == '=';
	split(phrase + out->exact, &ws);
	out->n = ws.n < 6 ? ws.n : 6;
	for (size_t i = 0; i < out->n; i++)
		memcpy(out->w[i], out->exact ? ws.raw[i] : ws.w[i], WORD_LEN);
}

/* ---- the learned part ---- */

static void clean_text(char *s);

unsigned ask_route_bucket(const char *feature)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)feature; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % ASK_MODEL_BUCKETS;
}

static size_t features_of(const struct words *ws, char (*feats)[ASK_FEATURE_LEN], size_t max)
{
	size_t n = 0;
	if (ws->n && n < max)
		snprintf(feats[n++], ASK_FEATURE_LEN, "f:%s", ws->raw[0]);
	for (size_t i = 0; i < ws->n && n < max; i++) {
		snprintf(feats[n++], ASK_FEATURE_LEN, "w:%s", ws->w[i]);
		if (i + 1 < ws->n && n < max)
			snprintf(feats[n++], ASK_FEATURE_LEN, "b:%s_%s", ws->w[i], ws->w[i + 1]);
	}
	return n;
}

size_t ask_route_features(const char *question, char (*feats)[ASK_FEATURE_LEN], size_t max)
{
	char q[ASK_QUESTION_MAX + 1];
	snprintf(q, sizeof q, "%s", question ? question : "");
	clean_text(q);
	struct words *ws = xmalloc(sizeof *ws);
	split(q, ws);
	size_t n = features_of(ws, feats, max);
	free(ws);
	return n;
}

static double model_weight = ASK_MODEL_WEIGHT;

void ask_route_set_model_weight(double w)
{
	model_weight = w;
}

/* The weights by bucket, expanded from the generated sparse table once. */
static float (*model_w)[ASK_N_FAMILIES];
static pthread_once_t model_once = PTHREAD_ONCE_INIT;

static void model_load(void)
{
	model_w = xcalloc(ASK_MODEL_BUCKETS, sizeof *model_w);
	for (size_t i = 0; i < sizeof route_model_w / sizeof route_model_w[0]; i++)
		for (size_t f = 0; f < ASK_N_FAMILIES; f++)
			model_w[route_model_w[i].bucket % ASK_MODEL_BUCKETS][f] +=
				route_model_w[i].w[f];
}

/* Adds model_weight x the model's probability of each family to score. */
static void model_score(const struct words *ws, double *score)
{
	/* No words, nothing to learn from: the model's priors alone must not
	 * pull an empty question away from search. */
	if (model_weight == 0 || !ROUTE_MODEL_TRAINED || ws->n == 0)
		return;
	pthread_once(&model_once, model_load);
	char(*fs)[ASK_FEATURE_LEN] = xmalloc((WORDS_MAX * 2 + 1) * sizeof *fs);
	size_t n = features_of(ws, fs, WORDS_MAX * 2 + 1);
	double z[ASK_N_FAMILIES], mx = -1e300;
	for (size_t f = 0; f < ASK_N_FAMILIES; f++)
		z[f] = route_model_bias[f];
	for (size_t i = 0; i < n; i++) {
		const float *w = model_w[ask_route_bucket(fs[i])];
		for (size_t f = 0; f < ASK_N_FAMILIES; f++)
			z[f] += w[f];
	}
	free(fs);
	for (size_t f = 0; f < ASK_N_FAMILIES; f++)
		if (z[f] > mx)
			mx = z[f];
	double sum = 0;
	for (size_t f = 0; f < ASK_N_FAMILIES; f++)
		sum += (z[f] = exp(z[f] - mx));
	for (size_t f = 0; f < ASK_N_FAMILIES; f++)
		score[f] += model_weight * z[f] / sum;
}

/* The cues as words, split once; cue_same[c] is the first cue of the same
 * family with the same words (c itself when none). */
#define N_CUES (sizeof cues / sizeof cues[0])
static struct cue_stem cue_stems[N_CUES];
static size_t cue_same[N_CUES];
static pthread_once_t cues_once = PTHREAD_ONCE_INIT;

static void split_cues(void)
{
	for (size_t c = 0; c < N_CUES; c++) {
		cue_split(cues[c].phrase, &cue_stems[c]);
		cue_same[c] = c;
		for (size_t d = 0; d < c; d++)
			if (cues[d].f == cues[c].f && same_phrase(&cue_stems[d], &cue_stems[c])) {
				cue_same[c] = d;
				break;
			}
	}
}

/* Replaces each byte of s that is not part of a valid UTF-8 sequence with
 * '?', and each control character with a space: what the question gives
 * the tools' arguments must be text. */
static void clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t left = strlen(s);
	while (left) {
		size_t n = utf8_seq(p, left);
		if (!n) {
			*p++ = '?';
			left--;
			continue;
		}
		if (n == 1 && (*p < 0x20 || *p == 0x7f))
			*p = ' ';
		p += n;
		left -= n;
	}
}

void ask_route(const char *question, int64_t now_ms, struct ask_route *out)
{
	memset(out, 0, sizeof *out);
	char q[ASK_QUESTION_MAX + 1];
	snprintf(q, sizeof q, "%s", question ? question : "");
	/* Cut at ASK_QUESTION_MAX, a sequence may be split: cleaned too. */
	clean_text(q);
	struct words *ws = xmalloc(sizeof *ws);
	split(q, ws);
	double score[ASK_N_FAMILIES] = {0};
	/* Each stemmed phrase counts once per family ("changed" and "changes"
	 * are one cue), at the weight of its strongest spelling. */
	pthread_once(&cues_once, split_cues);
	double got[N_CUES] = {0};
	for (size_t c = 0; c < N_CUES; c++) {
		bool hit = false;
		for (size_t i = 0; cue_stems[c].n && i < ws->n && !hit; i++)
			hit = phrase_at(ws, i, &cue_stems[c]);
		if (!hit)
			continue;
		size_t same = cue_same[c];
		if (cues[c].w > got[same]) {
			score[cues[c].f] += cues[c].w - got[same];
			got[same] = cues[c].w;
		}
		if (getenv("CAIRN_ASK_DEBUG"))
			fprintf(stderr, "  cue %s '%s' %.1f\n", families[cues[c].f].name,
				cues[c].phrase, cues[c].w);
	}
	/* What the question's shape says. */
	char ulid[27], type[64];
	long long seq = 0;
	bool has_ulid = find_ulid(q, ulid);
	bool has_type = find_type(q, type, sizeof type);
	bool has_seq = find_seq(ws, q, &seq);
	if (has_ulid)
		score[ASK_EXPLAIN] += 6;
	if (has_seq)
		score[ASK_EXPLAIN] += 4;
	if (has_type)
		score[ASK_EXPLAIN] += 2;
	const char *s = skip_agent(q);
	/* "did X land / get merged / go in": about what happened. */
	if (!strncasecmp(s, "did ", 4) || !strncasecmp(s, "has ", 4) || !strncasecmp(s, "was ", 4))
		for (size_t i = 0; i < ws->n; i++)
			if (!strcmp(ws->w[i], "land") || !strcmp(ws->w[i], "merg") ||
			    !strcmp(ws->raw[i], "merged") || !strcmp(ws->raw[i], "pushed") ||
			    (!strcmp(ws->raw[i], "go") && i + 1 < ws->n &&
			     !strcmp(ws->raw[i + 1], "in"))) {
				score[ASK_CHANGED] += 2;
				break;
			}
	/* A window of time ("since monday", "the last 15 min", "past 2
	 * hours") asks what happened in it. */
	for (size_t i = 0; i + 1 < ws->n; i++)
		if (!strcmp(ws->raw[i], "since") ||
		    ((!strcmp(ws->raw[i], "last") || !strcmp(ws->raw[i], "past")) &&
		     isdigit((unsigned char)ws->raw[i + 1][0]))) {
			score[ASK_CHANGED] += 1.5;
			break;
		}
	/* A yes/no question about a state ("is the build green", "are there
	 * uncommitted changes") asks for the state. */
	if (!strncasecmp(s, "is ", 3) || !strncasecmp(s, "are ", 4) || !strncasecmp(s, "am ", 3))
		score[ASK_HEALTH] += 1.5;
	model_score(ws, score);
	json_t *rec = json_object();
	/* An instruction to record says what to do, whatever it is about. */
	if (record_intent(q, rec))
		score[ASK_RECORD] += 10;
	/* Pick. */
	enum ask_family best = ASK_SEARCH;
	double bs = 0, second = 0;
	for (size_t k = 0; k < ASK_N_FAMILIES; k++) {
		enum ask_family f = tie_order[k];
		if (score[f] > bs) {
			second = bs;
			bs = score[f];
			best = f;
		} else if (score[f] > second) {
			second = score[f];
		}
	}
	out->family = best;
	out->tool = families[best].tool;
	out->score = bs;
	out->runner_up = second;
	json_t *args = json_object();
	char topic[256], target[128];
	switch (best) {
	case ASK_WHY_FAILED:
		if (find_target(q, target, sizeof target))
			json_object_set_new(args, "target", arg_text(target));
		break;
	case ASK_HOW_FIXED:
	case ASK_DECIDED:
	case ASK_MISTAKES:
	case ASK_SEARCH:
		if (find_topic(q, ws, best, topic, sizeof topic))
			json_object_set_new(args, "query", arg_text(topic));
		if (best != ASK_SEARCH)
			json_object_set_new(args, "kind",
					    json_string(best == ASK_HOW_FIXED ? "fix"
							: best == ASK_DECIDED ? "decision"
									      : "mistake"));
		break;
	case ASK_CHANGED: {
		int64_t since = find_since(ws, now_ms);
		if (since)
			json_object_set_new(args, "since", json_integer(since));
		const char *what = find_what(ws);
		if (what)
			json_object_set_new(args, "pattern", arg_text(what));
		break;
	}
	case ASK_NEXT: {
		/* Files or commands: "which file(s)", "alongside" ask for files;
		 * "command", "run" for commands. */
		bool files = false, commands = false;
		for (size_t i = 0; i < ws->n; i++) {
			files |= !strcmp(ws->w[i], "file") || !strcmp(ws->w[i], "alongsid");
			commands |= !strcmp(ws->w[i], "command") || !strcmp(ws->w[i], "run");
		}
		if (files != commands)
			json_object_set_new(args, "what",
					    json_string(files ? "files" : "commands"));
		break;
	}
	case ASK_RECORD:
		if (json_object_get(rec, "title")) {
			json_object_update(args, rec);
		} else {
			/* "we capped payloads at 1MB, write that down": the text
			 * without the instruction is the note. */
			char title[201];
			const char *from = skip_agent(q);
			snprintf(title, sizeof title, "%.*s",
				 (int)utf8_cut(from, strlen(from), 200), from);
			static const char *const tails[] = {"write that down", "write this down",
							    "jot that down",   "jot this down",
							    "note to self",    "for the record"};
			for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
				char *t = strcasestr(title, tails[k]);
				if (t)
					memmove(t, t + strlen(tails[k]),
						strlen(t + strlen(tails[k])) + 1);
			}
			size_t tl = strlen(title);
			while (tl && strchr(" ,.;:-!", title[tl - 1]))
				title[--tl] = '\0';
			char *start = title;
			while (*start && strchr(" ,.;:-", *start))
				start++;
			bool printable = false;
			for (char *c = start; *c && !printable; c++)
				printable = (unsigned char)*c > ' ';
			if (printable) {
				json_object_set_new(args, "kind", json_string("note"));
				json_object_set_new(args, "title", arg_text(start));
			} else {
				best = ASK_SEARCH;
				out->family = best;
				out->tool = families[best].tool;
			}
		}
		break;
	case ASK_EXPLAIN:
		if (has_ulid)
			json_object_set_new(args, "id", json_string(ulid));
		else if (has_seq)
			json_object_set_new(args, "seq", json_integer(seq));
		else if (has_type)
			json_object_set_new(args, "type", arg_text(type));
		else
			json_object_set_new(args, "type", json_string(">"));
		break;
	default: break;
	}
	json_decref(rec);
	free(ws);
	out->args = args;
}

void ask_route_release(struct ask_route *r)
{
	json_decref(r->args);
	r->args = NULL;
}
