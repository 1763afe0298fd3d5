/* secret: passwords from files and commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "tend/secret.h"

static char *write_temp(const char *content, mode_t mode)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/tend-secret-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	T_OK(fd >= 0);
	T_OK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
	return path;
}

static void test_file_first_line(void)
{
	char *path = write_temp("s3cret pass\r\nsecond line\n", 0600);
	char *pw = NULL, *err = NULL;
	T_EQ_INT(secret_get(path, NULL, &pw, &err), 0);
	T_EQ_STR(pw, "s3cret pass");
	secret_free(pw);
	unlink(path);
	free(path);
}

static void test_file_missing_or_empty(void)
{
	char *pw = NULL, *err = NULL;
	T_EQ_INT(secret_get("/nonexistent/tend.pass", NULL, &pw, &err), -1);
	T_EQ_STR(err, "password file /nonexistent/tend.pass: No such file or directory");
	free(err);
	char *path = write_temp("\n", 0600);
	T_EQ_INT(secret_get(path, NULL, &pw, &err), -1);
	T_CONTAINS(err, ": empty");
	T_OK(pw == NULL);
	free(err);
	unlink(path);
	free(path);
}

static void test_command(void)
{
	struct strvec cmd = STRVEC_INIT;
	strvec_push(&cmd, "printf");
	strvec_push(&cmd, "tok-en\\nrest\\n");
	char *pw = NULL, *err = NULL;
	T_EQ_INT(secret_get(NULL, &cmd, &pw, &err), 0);
	T_EQ_STR(pw, "tok-en");
	secret_free(pw);
	strvec_free(&cmd);
}

static void test_command_fails(void)
{
	struct strvec cmd = STRVEC_INIT;
	strvec_push(&cmd, "sh");
	strvec_push(&cmd, "-c");
	strvec_push(&cmd, "echo hunter2; exit 3");
	char *pw = NULL, *err = NULL;
	T_EQ_INT(secret_get(NULL, &cmd, &pw, &err), -1);
	T_EQ_STR(err, "password_command sh exited with status 3");
	T_OK(strstr(err, "hunter2") == NULL); /* never the secret in a message */
	free(err);
	strvec_free(&cmd);
	strvec_push(&cmd, "/nonexistent/program");
	T_EQ_INT(secret_get(NULL, &cmd, &pw, &err), -1);
	T_EQ_STR(err, "password_command /nonexistent/program exited with status 127");
	free(err);
	strvec_free(&cmd);
}

static void test_nothing_configured(void)
{
	char *pw = NULL, *err = NULL;
	struct strvec none = STRVEC_INIT;
	T_EQ_INT(secret_get(NULL, &none, &pw, &err), -1);
	T_EQ_STR(err, "no password_file or password_command is configured");
	free(err);
}

T_MAIN(T_CASE(test_file_first_line), T_CASE(test_file_missing_or_empty), T_CASE(test_command),
       T_CASE(test_command_fails), T_CASE(test_nothing_configured))
