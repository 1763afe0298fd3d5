/*
 * secret: passwords and tokens from files and commands. See include/tend/secret.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tend/secret.h"

#define SECRET_MAX 65536

void secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Keeps the first line of buf (len bytes), without its line end, as a new string. */
static int first_line(const char *buf, size_t len, const char *from, char **out, char **err)
{
	size_t n = 0;
	while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
		n++;
	if (n == 0) {
		*err = xasprintf("%s: empty", from);
		return -1;
	}
	*out = xstrndup(buf, n);
	return 0;
}

static int from_file(const char *file, char **out, char **err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = xasprintf("password file %s: %s", file, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0)
		log_warnx("password file %s can be read by others than its owner (mode %03o)", file,
		          (unsigned)(st.st_mode & 0777));
	char buf[SECRET_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (n < 0) {
		*err = xasprintf("password file %s: %s", file, strerror(e));
		return -1;
	}
	char *from = xasprintf("password file %s", file);
	int rc = first_line(buf, (size_t)n, from, out, err);
	explicit_bzero(buf, sizeof(buf));
	free(from);
	return rc;
}

/* Reads what the child prints, up to SECRET_MAX bytes. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			char sink[512];
			while (read(fd, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	return len;
}

/* In the child of a threaded program: async-signal-safe calls only. */
static void run_child(int out, char **argv)
{
	static const char msg[] = "password_command: cannot run the program\n";
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* tendd blocks signals in its threads */
	if (dup2(out, STDOUT_FILENO) < 0)
		_exit(127);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		(void)dup2(devnull, STDIN_FILENO);
	execvp(argv[0], argv);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

static int from_command(const struct strvec *command, char **out, char **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		*err = xasprintf("password_command: pipe: %s", strerror(errno));
		return -1;
	}
	char **argv = xcalloc(command->n + 1, sizeof(*argv));
	memcpy(argv, command->v, command->n * sizeof(*argv));
	pid_t pid = fork();
	if (pid == 0)
		run_child(p[1], argv);
	free(argv);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		*err = xasprintf("password_command: fork: %s", strerror(errno));
		return -1;
	}
	char buf[SECRET_MAX];
	size_t len = read_all(p[0], buf, sizeof(buf));
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char *from = xasprintf("the output of password_command %s", command->v[0]);
	int rc = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = first_line(buf, len, from, out, err);
	else if (WIFEXITED(status))
		*err = xasprintf("password_command %s exited with status %d", command->v[0],
		                 WEXITSTATUS(status));
	else
		*err = xasprintf("password_command %s was killed by signal %d", command->v[0],
		                 WTERMSIG(status));
	explicit_bzero(buf, sizeof(buf));
	free(from);
	return rc;
}

int secret_get(const char *file, const struct strvec *command, char **out, char **err)
{
	*out = NULL;
	if (file != NULL)
		return from_file(file, out, err);
	if (command != NULL && command->n > 0)
		return from_command(command, out, err);
	*err = xstrdup("no password_file or password_command is configured");
	return -1;
}
