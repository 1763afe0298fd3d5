/*
 * lookup: fork, execve without a shell, read stdout and stderr under a deadline, kill the group.
 */
#include "tend/lookup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tend/util.h"

#define STDERR_KEEP 200 /* bytes of stderr kept for the failure message */

static char *const clean_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};

/* What the parent gathers while the program runs. */
struct run {
	pid_t pid;
	int fds[2]; /* stdout, stderr; -1 once at end of file */
	struct buf out, errtext;
	size_t max_output;
	bool too_big, timed_out, exited;
	int64_t deadline; /* monotonic milliseconds */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child of a possibly threaded program: async-signal-safe calls only. */
static void child(int in, int out, int errfd, int report, char *const argv[])
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* tendd blocks signals in its threads */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGPIPE, &dfl, NULL);
	setpgid(0, 0);
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(errfd, STDERR_FILENO) < 0)
		_exit(127);
	/* Nothing of the caller's (the store, sockets) goes to the program; report closes on exec. */
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(argv[0], argv, clean_env);
	int e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

static void drain(struct run *r, int i)
{
	char chunk[4096];
	ssize_t n = read(r->fds[i], chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(r->fds[i]);
		r->fds[i] = -1;
		return;
	}
	if (i == 1) {
		if (r->errtext.len < STDERR_KEEP)
			buf_append(&r->errtext, chunk, (size_t)n);
		return;
	}
	buf_append(&r->out, chunk, (size_t)n);
	r->too_big = r->out.len > r->max_output;
}

/* True once the program has exited; it stays a zombie, so its group id cannot be reused. */
static bool has_exited(pid_t pid)
{
	siginfo_t si = {0};
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/*
 * Reads until both pipes end, or the program exits (what it printed is in the pipe then; a
 * child it left holding stdout open must not keep tend waiting), the output is too big, or
 * time runs out.
 */
static void gather(struct run *r)
{
	while (!r->too_big && (r->fds[0] >= 0 || r->fds[1] >= 0)) {
		int64_t left = r->deadline - now_ms();
		if (left <= 0) {
			r->timed_out = true;
			return;
		}
		struct pollfd p[2] = {{r->fds[0], POLLIN, 0}, {r->fds[1], POLLIN, 0}};
		int n = poll(p, 2, r->exited ? 0 : (int)(left < 50 ? left : 50));
		if (n < 0 && errno != EINTR)
			return;
		for (int i = 0; i < 2 && n > 0; i++)
			if (r->fds[i] >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				drain(r, i);
		if (n == 0 && r->exited)
			return;
		if (!r->exited)
			r->exited = has_exited(r->pid);
	}
	while (!r->exited && !r->too_big) {
		if (now_ms() >= r->deadline) {
			r->timed_out = true;
			return;
		}
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
		r->exited = has_exited(r->pid);
	}
}

/* The first line of stderr, printable, after ": "; empty when there is none. */
static char *stderr_line(const struct buf *b)
{
	struct buf s = BUF_INIT;
	for (size_t i = 0; i < b->len && b->data[i] != '\n' && s.len < STDERR_KEEP; i++) {
		unsigned char c = (unsigned char)b->data[i];
		buf_putc(&s, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	char *line = NULL;
	if (s.len > 0 && utf8_valid(s.data, s.len))
		line = xasprintf(": %s", s.data);
	buf_free(&s);
	return line ? line : xstrdup("");
}

static char *failure(const struct run *r, int status, int64_t timeout)
{
	if (r->timed_out)
		return xasprintf("timed out after %lld s", (long long)timeout);
	if (r->too_big)
		return xasprintf("printed more than %zu KiB", r->max_output / 1024);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	char *line = stderr_line(&r->errtext), *e;
	if (WIFEXITED(status))
		e = xasprintf("exited with status %d%s", WEXITSTATUS(status), line);
	else
		e = xasprintf("was killed by signal %d%s", WTERMSIG(status), line);
	free(line);
	return e;
}

/* The pipes (stdout, stderr, exec report) and /dev/null; all close on exec. */
static int open_pipes(int p[3][2], int *devnull)
{
	for (int i = 0; i < 3; i++)
		p[i][0] = p[i][1] = -1;
	*devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return -1;
	return *devnull < 0 ? -1 : 0;
}

static void close_all(int p[3][2], int devnull)
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0)
				close(p[i][j]);
	if (devnull >= 0)
		close(devnull);
}

/* Whether execve failed in the child, and why (read once the child is gone). */
static int exec_error(int fd)
{
	int e = 0;
	return read(fd, &e, sizeof(e)) == (ssize_t)sizeof(e) ? e : 0;
}

static int finish(struct run *r, int report, int64_t timeout, char **out, size_t *len, char **err)
{
	int status = 0;
	kill(-r->pid, SIGKILL); /* whatever it left running, or itself when it took too long */
	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
		;
	int e = exec_error(report);
	*err = e ? xasprintf("cannot run: %s", strerror(e)) : failure(r, status, timeout);
	if (*err != NULL) {
		buf_free(&r->out);
		return -1;
	}
	*len = r->out.len;
	*out = buf_steal(&r->out);
	return 0;
}

int lookup_run(char *const argv[], int64_t timeout, size_t max_output, char **out, size_t *len,
               char **err)
{
	int p[3][2], devnull = -1, rc = -1;
	struct run r = {.max_output = max_output, .fds = {-1, -1}};
	*out = *err = NULL;
	*len = 0;
	if (open_pipes(p, &devnull) < 0) {
		*err = xasprintf("cannot run: %s", strerror(errno));
		goto out;
	}
	r.pid = fork();
	if (r.pid == 0)
		child(devnull, p[0][1], p[1][1], p[2][1], argv);
	if (r.pid < 0) {
		*err = xasprintf("cannot run: fork: %s", strerror(errno));
		goto out;
	}
	setpgid(r.pid, r.pid); /* as the child does: kill(-pid) must find the group at once */
	for (int i = 0; i < 3; i++) {
		close(p[i][1]);
		p[i][1] = -1;
	}
	r.fds[0] = p[0][0];
	r.fds[1] = p[1][0];
	p[0][0] = p[1][0] = -1;
	r.deadline = now_ms() + timeout * 1000;
	gather(&r);
	rc = finish(&r, p[2][0], timeout, out, len, err);
out:
	for (int i = 0; i < 2; i++)
		if (r.fds[i] >= 0)
			close(r.fds[i]);
	buf_free(&r.errtext);
	close_all(p, devnull);
	return rc;
}
