/* The input of Claude Code's SessionStart and SessionEnd hooks, as `cairn
 * hook claude session-start|session-end` reads it from standard input: one
 * JSON object, parsed strictly and within bounds (fuzz/fuzz_claude_hook.c).
 *
 *   { "session_id": "3f0c...",            required, 1..128 printable ASCII
 *     "cwd": "/home/ada/src/app",        required, absolute, <= 4096 bytes,
 *                                        no control characters
 *     "hook_event_name": "SessionStart", optional; if there, the hook's own
 *     "source": "startup",               SessionStart, optional token
 *     "reason": "prompt_input_exit",     SessionEnd, optional token
 *     "transcript_path": "/.../x.jsonl", optional, as cwd
 *     ... }                              anything else is ignored (Claude Code
 *                                        adds fields over time)
 *
 * A token is 1..64 bytes of [a-z0-9_-]: Claude Code's values today are
 * startup|resume|clear|compact and clear|logout|prompt_input_exit|other|...,
 * and a new one is kept as it comes. Duplicate keys, NUL bytes, invalid
 * UTF-8 and more than HOOK_CLAUDE_INPUT_MAX bytes are refused. Pure; any
 * thread. */
#ifndef CAIRN_HOOK_CLAUDE_H
#define CAIRN_HOOK_CLAUDE_H

#include "common/err.h"

#include <stddef.h>

#define HOOK_CLAUDE_INPUT_MAX (64u * 1024)
#define HOOK_CLAUDE_ID_MAX 128
#define HOOK_CLAUDE_PATH_MAX 4096
#define HOOK_CLAUDE_TOKEN_MAX 64

enum hook_claude_event {
	HOOK_CLAUDE_SESSION_START, /* SessionStart: has source */
	HOOK_CLAUDE_SESSION_END,   /* SessionEnd: has reason */
};

/* The fields cairn uses; each a malloc'd string, NULL when absent. */
struct hook_claude_input {
	char *session_id;
	char *cwd;
	char *how; /* source (SessionStart) or reason (SessionEnd) */
	char *transcript_path;
};

/* Parses buf[0..len) as the input of event's hook. Returns 0 with in
 * filled (release it with hook_claude_input_release()), or CAIRN_E_TOOBIG,
 * CAIRN_E_PARSE or CAIRN_E_INVALID with err saying what is wrong in one
 * line (field: the JSON key at fault) and in all zeroed. */
int hook_claude_parse(const char *buf, size_t len, enum hook_claude_event event,
		      struct hook_claude_input *in, struct cairn_err *err);

/* Frees in's strings and zeroes it. */
void hook_claude_input_release(struct hook_claude_input *in);

#endif
