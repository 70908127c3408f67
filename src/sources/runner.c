/* Command runner: pty or pipes, byte-exact pass-through, capped capture,
 * signal forwarding, exit status as the command had it. */
#include "sources/runner.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/io.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define RELAY_BUF (1024 * 1024)
/* A roomy pipe lets the command run ahead of us, so we wake up less often
 * and copy in large chunks (the default 64 KiB pipe costs a wake-up per
 * few KiB from a command that writes in small pieces). */
#define PIPE_BYTES (1024 * 1024)
/* A command that floods its output (a log, a generated file) writes in
 * pieces of a few KiB, and we would wake up and copy once per piece: most
 * of what the relay cost, in context switches. While a pipe keeps coming
 * back with data (the last read less than FLOW_NS ago) and holds less than
 * BATCH_BYTES, we let it fill for BATCH_NS first. Output that comes a line
 * at a time is relayed at once; a flood is late by BATCH_NS at most. Only
 * for a pipe that holds at least BATCH_PIPE_MIN bytes, so that the command
 * does not stall on a full pipe while we wait (a pty holds too little). */
#define FLOW_NS (2 * 1000 * 1000)
#define BATCH_NS (1000 * 1000)
#define BATCH_BYTES (256 * 1024)
#define BATCH_PIPE_MIN (512 * 1024)

void capture_init(struct capture *c, size_t cap)
{
	if (cap < 2)
		cap = 2;
	headtail_init(&c->ht, cap / 2, cap - cap / 2);
	c->on_head = NULL;
	c->on_head_arg = NULL;
	c->head_told = false;
	c->ahead = NULL;
}

void capture_on_head(struct capture *c, void (*fn)(void *arg, const char *head, size_t len),
		     void *arg)
{
	c->on_head = fn;
	c->on_head_arg = arg;
}

void capture_add(struct capture *c, const char *p, size_t n)
{
	headtail_add(&c->ht, p, n);
	/* Once full, the head takes no more bytes: its buffer no longer moves. */
	if (c->on_head && !c->head_told && c->ht.head.len == c->ht.head_max) {
		c->head_told = true;
		c->on_head(c->on_head_arg, c->ht.head.data, c->ht.head.len);
	}
}

bool capture_truncated(const struct capture *c)
{
	return headtail_truncated(&c->ht);
}

uint64_t capture_total(const struct capture *c)
{
	return headtail_total(&c->ht);
}

char *capture_join(const struct capture *c, size_t *len)
{
	return headtail_join(&c->ht, HEADTAIL_MARK, len);
}

void capture_release(struct capture *c)
{
	headtail_release(&c->ht);
	free(c->ahead);
	c->ahead = NULL;
}

static volatile sig_atomic_t got_winch;
static volatile sig_atomic_t fwd_signal;

static void on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
}

static void on_forward(int sig)
{
	fwd_signal = sig;
}

static void exec_child(char *const argv[], int errpipe)
{
	execvp(argv[0], argv);
	int e = errno;
	ssize_t w = write(errpipe, &e, sizeof e);
	(void)w;
	_exit(127);
}

/* Reports exec failures through a close-on-exec pipe: EOF means exec worked. */
static int read_exec_error(int fd)
{
	int e = 0;
	ssize_t r;
	do
		r = read(fd, &e, sizeof e);
	while (r < 0 && errno == EINTR);
	close(fd);
	return r == sizeof e ? e : 0;
}

/* Whether descriptors a and b are the same terminal (`cairn run CMD` at a
 * prompt), as opposed to one of them redirected (`2>/dev/null`, `2>log`,
 * `2>&1 | less`) or on another terminal. */
static bool same_tty(int a, int b)
{
	struct stat sa, sb;
	return isatty(a) && isatty(b) && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_rdev == sb.st_rdev;
}

/* How often the runner looks whether a command writing to a regular file
 * has written a head's worth yet (see read_ahead()): first after 20 ms
 * (a flood has written megabytes by then), then half as often each time,
 * down to every 640 ms, so that a long quiet build costs few wake-ups. */
#define AHEAD_POLL_MS 20
#define AHEAD_POLL_MAX_MS 640

/* Stdout is a regular file the command writes from offset start: once it
 * has written the capture's head's worth, and nothing else was captured
 * (stderr comes first in the capture), reads those bytes and hands them to
 * the capture's on_head, so that they can be worked on (redacted) while
 * the command runs. Returns whether it is done (told, or never will be). */
static bool read_ahead(struct capture *c, off_t start)
{
	if (headtail_total(&c->ht) > 0)
		return true; /* the capture starts with stderr: not the file's head */
	size_t n = c->ht.head_max;
	off_t cur = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	if (cur < 0)
		return true;
	if ((uint64_t)(cur - start) < n)
		return false;
	int rfd = open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return true;
	char *buf = xmalloc(n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(rfd, buf + got, n - got, start + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(rfd);
	if (got < n) {
		free(buf);
		return true;
	}
	c->ahead = buf;
	c->head_told = true;
	c->on_head(c->on_head_arg, buf, n);
	return true;
}

static void install(int sig, void (*fn)(int), struct sigaction *old)
{
	struct sigaction sa = {.sa_handler = fn};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, old);
}

int runner_run(char *const argv[], struct capture *out, struct runner_result *res)
{
	memset(res, 0, sizeof *res);
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	bool tty_out = isatty(STDOUT_FILENO);
	bool tty_in = isatty(STDIN_FILENO);
	struct termios saved_tio;
	bool restore_tio = false;
	int master = -1, po[2] = {-1, -1}, pe[2] = {-1, -1};
	off_t out_start = -1;
	uint64_t t0 = clock_mono_ns();
	pid_t pid;
	struct sigaction old_int, old_quit, old_term, old_hup, old_winch, old_pipe;
	install(SIGPIPE, SIG_IGN, &old_pipe);

	if (tty_out) {
		struct winsize ws;
		struct termios tio;
		bool have_ws = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0;
		bool have_tio = tcgetattr(tty_in ? STDIN_FILENO : STDOUT_FILENO, &tio) == 0;
		/* The command's stderr shares the terminal only when ours is that
		 * same terminal. Otherwise the user sent our stderr elsewhere
		 * (`2>/dev/null`, a file, a pipe): the command's stderr goes there
		 * too, through a pipe we read, so it is still captured. */
		if (!same_tty(STDOUT_FILENO, STDERR_FILENO)) {
			if (pipe2(pe, O_CLOEXEC) < 0) {
				int e = -errno;
				close(ep[0]);
				close(ep[1]);
				sigaction(SIGPIPE, &old_pipe, NULL);
				return e;
			}
			fcntl(pe[0], F_SETPIPE_SZ, PIPE_BYTES);
		}
		pid = forkpty(&master, NULL, have_tio ? &tio : NULL, have_ws ? &ws : NULL);
		if (pid == 0) {
			close(ep[0]);
			if (pe[1] >= 0)
				dup2(pe[1], STDERR_FILENO);
			exec_child(argv, ep[1]);
		}
		if (pe[1] >= 0)
			close(pe[1]);
		res->used_pty = true;
		if (pid > 0 && tty_in && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
			/* Raw: every key goes to the command's terminal, which applies
			 * its own line discipline (so ^C reaches the command). */
			struct termios raw = saved_tio;
			cfmakeraw(&raw);
			tcsetattr(STDIN_FILENO, TCSANOW, &raw);
			restore_tio = true;
		}
	} else {
		/* stdout is a regular file: the command writes to it directly (no
		 * copy through us), and the capture reads it back afterwards. */
		struct stat sb;
		if (fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode))
			out_start = lseek(STDOUT_FILENO, 0, SEEK_CUR);
		if ((out_start < 0 && pipe2(po, O_CLOEXEC) < 0) || pipe2(pe, O_CLOEXEC) < 0) {
			int e = -errno;
			close(ep[0]);
			close(ep[1]);
			if (po[0] >= 0) {
				close(po[0]);
				close(po[1]);
			}
			sigaction(SIGPIPE, &old_pipe, NULL);
			return e;
		}
		/* Best effort: the size may be capped by /proc/sys/fs/pipe-max-size. */
		if (po[0] >= 0)
			fcntl(po[0], F_SETPIPE_SZ, PIPE_BYTES);
		fcntl(pe[0], F_SETPIPE_SZ, PIPE_BYTES);
		pid = fork();
		if (pid == 0) {
			close(ep[0]);
			if (po[1] >= 0)
				dup2(po[1], STDOUT_FILENO);
			dup2(pe[1], STDERR_FILENO);
			exec_child(argv, ep[1]);
		}
		if (po[1] >= 0)
			close(po[1]);
		close(pe[1]);
	}
	close(ep[1]);
	if (pid < 0) {
		int e = -errno;
		close(ep[0]);
		if (master >= 0)
			close(master);
		if (po[0] >= 0)
			close(po[0]);
		if (pe[0] >= 0)
			close(pe[0]);
		sigaction(SIGPIPE, &old_pipe, NULL);
		return e;
	}
	/* The terminal's own ^C goes to the command's process group; we only
	 * forward signals sent to us directly, then report what the command did. */
	fwd_signal = 0;
	got_winch = 0;
	install(SIGINT, res->used_pty ? on_forward : SIG_IGN, &old_int);
	install(SIGQUIT, res->used_pty ? on_forward : SIG_IGN, &old_quit);
	install(SIGTERM, on_forward, &old_term);
	install(SIGHUP, on_forward, &old_hup);
	install(SIGWINCH, on_winch, &old_winch);

	res->spawn_errno = read_exec_error(ep[0]);

	char *buf = xmalloc(RELAY_BUF);
	/* Whether each source may batch (see BATCH_NS), and when it last had
	 * data. */
	bool batch[2] = {po[0] >= 0 && fcntl(po[0], F_GETPIPE_SZ) >= BATCH_PIPE_MIN,
			 pe[0] >= 0 && fcntl(pe[0], F_GETPIPE_SZ) >= BATCH_PIPE_MIN};
	uint64_t last_data[2] = {0, 0};
	/* Whether to look for the file's head while the command runs. */
	bool ahead = out_start >= 0 && out->on_head && !out->head_told;
	int ahead_ms = AHEAD_POLL_MS;
	struct pollfd pf[3];
	int in_fd = res->used_pty ? STDIN_FILENO : -1;
	int src_out = res->used_pty ? master : po[0];
	int src_err = pe[0];                     /* -1 when stderr shares the pty */
	bool out_dead = false, err_dead = false; /* our stdout/stderr reader left */
	while (src_out >= 0 || src_err >= 0) {
		if (fwd_signal) {
			kill(pid, fwd_signal);
			fwd_signal = 0;
		}
		if (got_winch && master >= 0) {
			struct winsize ws;
			if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
				ioctl(master, TIOCSWINSZ, &ws);
			got_winch = 0;
		}
		int n = 0, i_out = -1, i_err = -1, i_in = -1;
		if (src_out >= 0) {
			pf[n] = (struct pollfd){.fd = src_out, .events = POLLIN};
			i_out = n++;
		}
		if (src_err >= 0) {
			pf[n] = (struct pollfd){.fd = src_err, .events = POLLIN};
			i_err = n++;
		}
		if (in_fd >= 0) {
			pf[n] = (struct pollfd){.fd = in_fd, .events = POLLIN};
			i_in = n++;
		}
		int pr = poll(pf, (nfds_t)n, ahead ? ahead_ms : -1);
		if (ahead && pr == 0 && ahead_ms < AHEAD_POLL_MAX_MS)
			ahead_ms *= 2;
		if (ahead)
			ahead = !read_ahead(out, out_start);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (i_in >= 0 && pf[i_in].revents) {
			ssize_t r = read(in_fd, buf, RELAY_BUF);
			if (r > 0) {
				io_write_all(master, buf, (size_t)r);
			} else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
				/* Our input ended: tell the command's terminal (^D). */
				if (!tty_in) {
					char eof = 4;
					io_write_all(master, &eof, 1);
				}
				in_fd = -1;
			}
		}
		int *srcs[2] = {&src_out, &src_err};
		int idx[2] = {i_out, i_err};
		for (int k = 0; k < 2; k++) {
			if (idx[k] < 0 || !pf[idx[k]].revents)
				continue;
			if (batch[k] && pf[idx[k]].revents == POLLIN) {
				uint64_t now = clock_mono_ns();
				int avail = 0;
				if (now - last_data[k] < FLOW_NS &&
				    ioctl(*srcs[k], FIONREAD, &avail) == 0 && avail < BATCH_BYTES) {
					struct timespec ts = {0, BATCH_NS};
					nanosleep(&ts, NULL); /* a signal cuts it short */
					now = clock_mono_ns();
				}
				last_data[k] = now;
			}
			ssize_t r = read(*srcs[k], buf, RELAY_BUF);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) { /* EOF, or EIO from a pty whose command has gone */
				close(*srcs[k]);
				*srcs[k] = -1;
				continue;
			}
			capture_add(out, buf, (size_t)r);
			bool *dead = k == 0 ? &out_dead : &err_dead;
			if (*dead)
				continue;
			if (io_write_all(k == 0 ? STDOUT_FILENO : STDERR_FILENO, buf, (size_t)r) ==
			    -EPIPE) {
				/* Our reader left: let the command see a closed pipe too, as
				 * it would have without us (a pty cannot say so: its output
				 * is read and dropped). */
				*dead = true;
				if (*srcs[k] != master) {
					close(*srcs[k]);
					*srcs[k] = -1;
				}
			}
		}
	}
	free(buf);
	if (master >= 0)
		close(master);

	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		if (fwd_signal) {
			kill(pid, fwd_signal);
			fwd_signal = 0;
		}
	}
	res->duration_ms = (int64_t)((clock_mono_ns() - t0) / 1000000);
	if (out_start >= 0) {
		/* Our stdout is usually write-only (a shell's `>`): read the
		 * same file through a read-only descriptor of its own. */
		off_t out_end = lseek(STDOUT_FILENO, 0, SEEK_CUR);
		int rfd = open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			/* Only the kept parts are read back; a failed read
			 * leaves the capture short, as a lost pipe would. */
			if (out_end > out_start)
				(void)headtail_add_range(&out->ht, rfd, (uint64_t)out_start,
							 (uint64_t)out_end);
			close(rfd);
		}
	}
	if (restore_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGWINCH, &old_winch, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->core_dumped = WCOREDUMP(status);
		res->exit_code = 128 + res->signal;
	} else {
		res->exit_code = WEXITSTATUS(status);
	}
	return 0;
}
