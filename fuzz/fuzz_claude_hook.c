/* libFuzzer target for the input of the Claude Code hooks
 * (hook_claude_parse(), src/cli/hook_claude.h): every input is parsed as
 * both hooks' input; a failure leaves nothing behind and says why, and
 * whatever is accepted follows the rules the header states, so that it can
 * go into an event unchecked. */
#include "cli/hook_claude.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "broken rule: %s\n", what);
		abort();
	}
}

static int no_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum hook_claude_event events[] = {HOOK_CLAUDE_SESSION_START,
							HOOK_CLAUDE_SESSION_END};

	for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
		struct hook_claude_input in;
		struct cairn_err err;

		if (hook_claude_parse((const char *)data, size, events[i], &in, &err) != 0) {
			must(err.code < 0 && err.msg[0], "a failure has a code and a message");
			must(!in.session_id && !in.cwd && !in.how && !in.transcript_path,
			     "a failure leaves nothing behind");
			continue;
		}
		size_t n = strlen(in.session_id);
		must(n >= 1 && n <= HOOK_CLAUDE_ID_MAX, "session_id length");
		for (size_t k = 0; k < n; k++)
			must(in.session_id[k] >= 0x20 && in.session_id[k] <= 0x7e,
			     "session_id is printable ASCII");
		must(in.cwd[0] == '/' && strlen(in.cwd) <= HOOK_CLAUDE_PATH_MAX && no_ctl(in.cwd),
		     "cwd is an absolute path without control characters");
		if (in.how)
			must(strlen(in.how) >= 1 && strlen(in.how) <= HOOK_CLAUDE_TOKEN_MAX &&
				     strspn(in.how, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
					     strlen(in.how),
			     "source/reason is a token");
		if (in.transcript_path)
			must(in.transcript_path[0] == '/' && no_ctl(in.transcript_path),
			     "transcript_path is an absolute path");
		hook_claude_input_release(&in);
		must(!in.session_id && !in.cwd, "release zeroes");
	}
	return 0;
}
