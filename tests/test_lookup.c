/*
 * Unit tests for running fact lookups: no shell, a clean environment, a timeout, an output
 * limit, and nothing left running.
 */
#include <signal.h>
#include <unistd.h>

#include "t.h"
#include "tend/lookup.h"

static int run(char *const argv[], int64_t timeout, char **out, char **err)
{
	size_t len;
	return lookup_run(argv, timeout, LOOKUP_MAX_OUTPUT, out, &len, err);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_argv_is_literal(void)
{
	char dir[256], flag[300];
	t_mkdtemp(dir, sizeof(dir), "lookup");
	snprintf(flag, sizeof(flag), "%s/x", dir);
	char *arg = NULL;
	T_OK(asprintf(&arg, "$(touch %s); rm -rf %s `touch %s` * ; | & > <", flag, dir, flag) > 0);
	char *argv[] = {"/bin/sh", "-c", "printf '[%s]\\n' \"$@\"", "sh", arg, "two words", NULL};
	char *out = NULL, *err = NULL;
	T_EQ_INT(run(argv, 5, &out, &err), 0);
	char *want = NULL;
	T_OK(asprintf(&want, "[%s]\n[two words]\n", arg) > 0);
	T_EQ_STR(out, want);
	T_OK(access(flag, F_OK) != 0);
	T_OK(access(dir, F_OK) == 0);
	free(want);
	free(out);
	free(arg);
	t_rmtree(dir);
}

static void test_clean_environment(void)
{
	setenv("TEND_PASSWORD", "hunter2", 1);
	char *argv[] = {"/usr/bin/env", NULL};
	char *out = NULL, *err = NULL;
	T_EQ_INT(run(argv, 5, &out, &err), 0);
	T_EQ_STR(out, "PATH=/usr/bin:/bin\nLANG=C.UTF-8\n");
	free(out);
	char *in[] = {"/bin/sh", "-c", "cat; echo done", NULL};
	T_EQ_INT(run(in, 5, &out, &err), 0);
	T_EQ_STR(out, "done\n"); /* stdin is /dev/null */
	free(out);
}

static void test_failures(void)
{
	char *out = NULL, *err = NULL;
	char *status[] = {"/bin/sh", "-c", "echo 'no such order\1' >&2; echo more >&2; exit 3",
	                  NULL};
	T_EQ_INT(run(status, 5, &out, &err), -1);
	T_EQ_STR(err, "exited with status 3: no such order?");
	T_OK(out == NULL);
	free(err);
	char *signal[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
	T_EQ_INT(run(signal, 5, &out, &err), -1);
	T_EQ_STR(err, "was killed by signal 15");
	free(err);
	char *missing[] = {"/nonexistent/lookup", NULL};
	T_EQ_INT(run(missing, 5, &out, &err), -1);
	T_EQ_STR(err, "cannot run: No such file or directory");
	free(err);
}

static void test_timeout_and_size(void)
{
	char *out = NULL, *err = NULL;
	double t0 = now();
	char *sleeper[] = {"/bin/sleep", "30", NULL};
	T_EQ_INT(run(sleeper, 1, &out, &err), -1);
	T_EQ_STR(err, "timed out after 1 s");
	T_OK(now() - t0 < 3);
	free(err);
	t0 = now();
	char *yes[] = {"/usr/bin/yes", NULL};
	T_EQ_INT(run(yes, 5, &out, &err), -1);
	T_EQ_STR(err, "printed more than 64 KiB");
	T_OK(now() - t0 < 3);
	free(err);
}

/* Gone, or a zombie nobody reaped yet: either way it runs no more. */
static bool gone(long pid)
{
	char path[64], state = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return true;
	bool z = fscanf(f, "%*d %*s %c", &state) == 1 && (state == 'Z' || state == 'X');
	fclose(f);
	return z;
}

static void test_child_left_behind(void)
{
	char *out = NULL, *err = NULL;
	double t0 = now();
	char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo \"{\\\"pid\\\": $!}\"", NULL};
	T_EQ_INT(run(argv, 5, &out, &err), 0);
	T_OK(now() - t0 < 2);
	long pid = 0;
	T_OK(out != NULL && sscanf(out, "{\"pid\": %ld}", &pid) == 1);
	for (int i = 0; i < 50 && pid > 0 && !gone(pid); i++)
		usleep(20000);
	T_OK(pid > 0 && gone(pid));
	free(out);
}

T_MAIN(T_CASE(test_argv_is_literal), T_CASE(test_clean_environment), T_CASE(test_failures),
       T_CASE(test_timeout_and_size), T_CASE(test_child_left_behind))
