/* cairn shell-init: prints the bash or zsh hook that logs every command line
 * as a shell.command event, for the user's rc file to eval. The hook calls
 * this very binary (its absolute path is written into the script) as
 * 'cairn hook shell' in the background after each command, with the command
 * line on its standard input; see src/cli/hook_shell.c for the other half. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/xalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The scripts. The line "__cairn_bin=@CAIRN_BIN@" gets the binary's path.
 * What they must do, and why they are written this way:
 *  - never delay the prompt: the event is built and sent by a background
 *    process the shell never waits for or hears of again (bash: disowned at
 *    once; zsh: started by a subshell that exits at once), so there are no
 *    job messages, no "Done" lines and no zombies;
 *  - leave the user's shell as it was: $? and $_ (bash), PROMPT_COMMAND, PS0,
 *    precmd_functions and traps; work under set -e and set -u;
 *  - log only commands the user ran: not the hook's own work, not the first
 *    prompt, not an empty line. */
static const char bash_hook[] =
	"# cairn's shell hook for bash: logs each command line you run as a\n"
	"# shell.command event (command line, exit status, duration, directory).\n"
	"# Load it from ~/.bashrc, after anything else that sets PROMPT_COMMAND or PS0:\n"
	"#   eval \"$(cairn shell-init bash)\"\n"
	"# It adds to PS0 (to note when a command starts) and to the front of\n"
	"# PROMPT_COMMAND (to log it when it ends, in the background); $?, $_, your\n"
	"# PROMPT_COMMAND, PS0 and traps are left as they were. The command line is\n"
	"# taken from bash's history, so a command that history leaves out (a leading\n"
	"# space with HISTCONTROL=ignorespace, HISTIGNORE) is not logged either.\n"
	"# cairn redacts secrets in the command line before it is stored anywhere.\n"
	"if [ -z \"${BASH_VERSION-}\" ] || [ \"${BASH_VERSINFO[0]}\" -lt 5 ]; then\n"
	"\tprintf '%s\\n' \"cairn: this hook needs bash 5 or later; for zsh use 'cairn shell-init "
	"zsh'\" >&2\n"
	"elif [[ $- == *i* ]] && ! shopt -q promptvars; then\n"
	"\tprintf '%s\\n' \"cairn: the shell hook needs 'shopt -s promptvars'; commands are not "
	"logged\" >&2\n"
	"elif [[ $- == *i* ]]; then\n"
	"__cairn_bin=@CAIRN_BIN@\n"
	"__cairn_t= __cairn_c= __cairn_h=${HISTCMD-}\n"
	"declare -gA __cairn_nil=()\n"
	"\n"
	"# Called first in PROMPT_COMMAND with the status and the last argument ($_)\n"
	"# of the command that just ended; returns that status again for the rest of\n"
	"# PROMPT_COMMAND. PS0 set __cairn_t when the command started: if it is\n"
	"# empty, no command ran (the first prompt, an empty line, Ctrl-C).\n"
	"__cairn_precmd() {\n"
	"\t{ local -; set +eux; } 2>/dev/null\n"
	"\tlocal st=$1 t=$__cairn_t c=${__cairn_c:-$PWD} hp=$__cairn_h hn=${HISTCMD-}\n"
	"\tlocal now=${EPOCHREALTIME//[!0-9]/}\n"
	"\t__cairn_t= __cairn_c= __cairn_h=$hn\n"
	"\tif [[ -n $t && -n $now ]]; then\n"
	"\t\t__cairn_send \"$st\" \"$(( (10#$now - 10#${t//[!0-9]/}) / 1000 ))\" \"$c\" \"$2\" \\\n"
	"\t\t\t\"$hp\" \"$hn\" \"$(( 10#$now / 1000 ))\" </dev/null >/dev/null 2>&1 &\n"
	"\t\tdisown \"$!\" 2>/dev/null\n"
	"\tfi\n"
	"\treturn \"$st\"\n"
	"}\n"
	"\n"
	"# Runs in the background: takes the command line from history and pipes it\n"
	"# to 'cairn hook shell' (printf is a builtin: the line never appears in any\n"
	"# process's argv, which other users can read).\n"
	"__cairn_send() {\n"
	"\tlocal line re='^ *[0-9]+[* ] (.*)$' text tail\n"
	"\t[[ -o history ]] || return 0\n"
	"\tline=$(HISTTIMEFORMAT= builtin history 1) || return 0\n"
	"\t[[ $line =~ $re ]] || return 0\n"
	"\ttext=${BASH_REMATCH[1]}\n"
	"\t# No new history entry: either the command repeats the last one\n"
	"\t# (ignoredups), and history 1 is right, or history left it out. When\n"
	"\t# it could have, log it only if its last argument ($_) matches; a\n"
	"\t# DEBUG trap clears $_, so then a repeated command is not logged.\n"
	"\tif [[ -n $5 && $5 == \"$6\" ]] &&\n"
	"\t\t[[ ${HISTCONTROL-} == *ignorespace* || ${HISTCONTROL-} == *ignoreboth* ||\n"
	"\t\t\t-n ${HISTIGNORE-} ]]; then\n"
	"\t\ttail=${text%\"${text##*[![:space:]]}\"}\n"
	"\t\t[[ ${tail##*[[:space:]]} == \"$4\" ]] || return 0\n"
	"\tfi\n"
	"\tbuiltin printf '%s' \"$text\" |\n"
	"\t\t\"$__cairn_bin\" hook shell --shell bash --status \"$1\" --duration-ms \"$2\" \\\n"
	"\t\t--ended-ms \"$7\" --cwd \"$3\" --cmd-from stdin\n"
	"}\n"
	"\n"
	"if [[ ${PS0-} != *__cairn_nil* ]]; then\n"
	"\tPS0='${__cairn_nil[c${__cairn_c:=$PWD}]-}${__cairn_nil[t${__cairn_t:=$EPOCHREALTIME}]-}'"
	"\"${"
	"PS0-}\"\n"
	"fi\n"
	"__cairn_pc='__cairn_precmd \"$?\" \"$_\" && : \"$_\"'\n"
	"if [[ -n ${PROMPT_COMMAND+set} && ${PROMPT_COMMAND@a} == *a* ]]; then\n"
	"\tif [[ \" ${PROMPT_COMMAND[*]} \" != *__cairn_precmd* ]]; then\n"
	"\t\tPROMPT_COMMAND=(\"$__cairn_pc\" \"${PROMPT_COMMAND[@]}\")\n"
	"\tfi\n"
	"elif [[ ${PROMPT_COMMAND-} != *__cairn_precmd* ]]; then\n"
	"\tPROMPT_COMMAND=$__cairn_pc${PROMPT_COMMAND:+$'\\n'$PROMPT_COMMAND}\n"
	"fi\n"
	"unset __cairn_pc\n"
	"fi\n";

static const char zsh_hook[] =
	"# cairn's shell hook for zsh: logs each command line you run as a\n"
	"# shell.command event (command line, exit status, duration, directory).\n"
	"# Load it from ~/.zshrc:\n"
	"#   eval \"$(cairn shell-init zsh)\"\n"
	"# It adds a preexec and a precmd hook (add-zsh-hook); the event is sent in\n"
	"# the background. A command that zsh keeps out of history because of a\n"
	"# leading space (setopt histignorespace) is not logged either. cairn redacts\n"
	"# secrets in the command line before it is stored anywhere.\n"
	"if [[ -z ${ZSH_VERSION-} ]]; then\n"
	"\tprintf '%s\\n' \"cairn: this hook is for zsh; for bash use 'cairn shell-init bash'\" "
	">&2\n"
	"elif [[ -o interactive ]]; then\n"
	"typeset -g __cairn_bin=@CAIRN_BIN@\n"
	"typeset -g __cairn_cmd= __cairn_t= __cairn_c=\n"
	"zmodload zsh/datetime\n"
	"autoload -Uz add-zsh-hook\n"
	"\n"
	"__cairn_preexec() {\n"
	"\temulate -L zsh\n"
	"\tif [[ -o histignorespace && $1 == [[:space:]]* ]]; then\n"
	"\t\t__cairn_t=\n"
	"\t\treturn 0\n"
	"\tfi\n"
	"\t__cairn_cmd=${1:-$3} __cairn_t=$EPOCHREALTIME __cairn_c=$PWD\n"
	"}\n"
	"\n"
	"# __cairn_t is empty when no command ran since the last prompt (the first\n"
	"# prompt, an empty line, Ctrl-C).\n"
	"__cairn_precmd() {\n"
	"\tlocal st=$?\n"
	"\temulate -L zsh\n"
	"\tlocal t=$__cairn_t\n"
	"\t__cairn_t=\n"
	"\t[[ -n $t ]] || return 0\n"
	"\tlocal now=$EPOCHREALTIME\n"
	"\tlocal -i ms=$(( (now - t) * 1000 )) end=$(( now * 1000 ))\n"
	"\t# A subshell starts the hook and exits at once, so the hook is not\n"
	"\t# zsh's child: zsh is not signalled when it ends, which, if it came\n"
	"\t# while zsh draws the prompt, could leave the prompt undrawn. The\n"
	"\t# command line goes through a pipe from the builtin print, never in\n"
	"\t# argv, which other users can read.\n"
	"\t( builtin print -rn -- \"$__cairn_cmd\" 2>/dev/null |\n"
	"\t\t\"$__cairn_bin\" hook shell --shell zsh --status $st --duration-ms $ms \\\n"
	"\t\t--ended-ms $end --cwd \"$__cairn_c\" --cmd-from stdin >/dev/null 2>&1 & )\n"
	"\treturn 0\n"
	"}\n"
	"\n"
	"add-zsh-hook preexec __cairn_preexec\n"
	"add-zsh-hook precmd __cairn_precmd\n"
	"fi\n";

#define BIN_PLACEHOLDER "@CAIRN_BIN@"

/* The absolute path of the running binary, or NULL. A binary replaced while
 * it runs (a rebuild) reads as "PATH (deleted)"; the new file is at PATH. */
static char *self_path(void)
{
	char buf[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0 || (size_t)n >= sizeof buf - 1)
		return NULL;
	buf[n] = '\0';
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof deleted - 1;
	if ((size_t)n > dl && strcmp(buf + n - dl, deleted) == 0)
		buf[n - dl] = '\0';
	return xstrdup(buf);
}

/* Prints s single-quoted for the shell. */
static void put_quoted(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
	fputc('\'', out);
}

const struct cli_cmd cli_shell_init = {
	"shell-init", "bash|zsh",
	"Prints the shell hook that logs shell.command events; add to your shell's rc file:\n"
	"  eval \"$(cairn shell-init bash)\"\n",
	cmd_shell_init, false};

int cmd_shell_init(int argc, char **argv, const struct config *cfg)
{
	const char *script;
	if (argc == 2 && strcmp(argv[1], "bash") == 0) {
		script = bash_hook;
	} else if (argc == 2 && strcmp(argv[1], "zsh") == 0) {
		script = zsh_hook;
	} else {
		fprintf(stderr, "cairn shell-init: expected 'bash' or 'zsh'%s%s%s\n",
			argc >= 2 ? ", not '" : "", argc >= 2 ? argv[1] : "", argc >= 2 ? "'" : "");
		cli_usage(stderr, "shell-init");
		return EXIT_USAGE;
	}
	/* Without /proc, fall back to finding cairn on PATH. */
	char *bin = self_path();
	const char *at = strstr(script, BIN_PLACEHOLDER);
	fwrite(script, 1, (size_t)(at - script), stdout);
	put_quoted(stdout, bin ? bin : "cairn");
	fputs(at + sizeof BIN_PLACEHOLDER - 1, stdout);
	free(bin);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "cairn shell-init: cannot write the script to standard output\n");
		return EXIT_IO;
	}
	return EXIT_OK;
}
