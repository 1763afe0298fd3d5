/*
 * test_metrics: the Prometheus text format tendd writes (metrics_file): HELP and TYPE lines,
 * label values escaped, histograms cumulative, and the file replaced atomically, readable to
 * node_exporter and never written through a link.
 */
#include "tend/metrics.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

static char *render(struct metrics *m)
{
	struct buf b = BUF_INIT;
	metrics_render(m, &b);
	buf_putc(&b, '\0');
	return buf_steal(&b);
}

static void test_escaping(void)
{
	struct metrics *m = metrics_new();
	metrics_add(m, METRICS_STORED, (const char *const[]){"shop", "a\"b\\c"}, 3);
	metrics_add(m, METRICS_STORED, (const char *const[]){"shop", "two\nlines"}, 1);
	metrics_add(m, METRICS_STORED, (const char *const[]){"shop", "a\"b\\c"}, 2);
	char *out = render(m);
	T_CONTAINS(out, "tend_messages_stored_total{account=\"shop\",folder=\"a\\\"b\\\\c\"} 5\n");
	T_CONTAINS(out, "tend_messages_stored_total{account=\"shop\",folder=\"two\\nlines\"} 1\n");
	T_OK(strstr(out, "two\nlines") == NULL);
	free(out);
	metrics_free(m);
}

static void test_help_and_type(void)
{
	struct metrics *m = metrics_new();
	metrics_set(m, METRICS_LAST_LOGIN, (const char *const[]){"shop"}, 1700000000);
	metrics_set(m, METRICS_CONVERSATIONS, (const char *const[]){"overdue"}, 2);
	metrics_add(m, METRICS_SEND_UNCERTAIN, NULL, 1);
	char *out = render(m);
	T_CONTAINS(out, "# HELP tend_last_login_timestamp_seconds When tendd last logged in to the "
	                "account (Unix time).\n# TYPE tend_last_login_timestamp_seconds gauge\n"
	                "tend_last_login_timestamp_seconds{account=\"shop\"} 1700000000\n");
	T_CONTAINS(out,
	           "# TYPE tend_conversations gauge\ntend_conversations{state=\"overdue\"} 2\n");
	T_CONTAINS(out, "# TYPE tend_replies_uncertain_total counter\n"
	                "tend_replies_uncertain_total 1\n");
	/* a family with no sample yet still says what it is */
	T_CONTAINS(out, "# TYPE tend_send_duration_seconds histogram\n");
	free(out);
	metrics_free(m);
}

static void test_histogram(void)
{
	struct metrics *m = metrics_new();
	metrics_observe(m, METRICS_SEND_SECONDS, NULL, 0.3);
	metrics_observe(m, METRICS_SEND_SECONDS, NULL, 0.3);
	metrics_observe(m, METRICS_SEND_SECONDS, NULL, 7);
	metrics_observe(m, METRICS_SEND_SECONDS, NULL, 1000);
	char *out = render(m);
	T_CONTAINS(out, "tend_send_duration_seconds_bucket{le=\"0.25\"} 0\n"
	                "tend_send_duration_seconds_bucket{le=\"0.5\"} 2\n"
	                "tend_send_duration_seconds_bucket{le=\"1\"} 2\n");
	T_CONTAINS(out, "tend_send_duration_seconds_bucket{le=\"10\"} 3\n");
	T_CONTAINS(out, "tend_send_duration_seconds_bucket{le=\"120\"} 3\n"
	                "tend_send_duration_seconds_bucket{le=\"+Inf\"} 4\n"
	                "tend_send_duration_seconds_sum 1007.6\n"
	                "tend_send_duration_seconds_count 4\n");
	metrics_observe(m, METRICS_FETCH_SECONDS, (const char *const[]){"shop", "INBOX"}, 0.01);
	free(out);
	out = render(m);
	T_CONTAINS(out, "tend_fetch_duration_seconds_bucket{account=\"shop\",folder=\"INBOX\","
	                "le=\"0.05\"} 1\n");
	free(out);
	metrics_free(m);
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, &data, &len) < 0)
		return xstrdup("");
	return data;
}

static void test_write(void)
{
	char dir[PATH_MAX], *err = NULL;
	t_mkdtemp(dir, sizeof(dir), "test_metrics");
	char *path = xasprintf("%s/tend.prom", dir), *tmp = xasprintf("%s.tmp", path);
	struct metrics *m = metrics_new();
	metrics_add(m, METRICS_SENT, NULL, 4);
	mode_t old = umask(077);
	T_EQ_INT(metrics_write(m, path, &err), 0);
	umask(old);
	struct stat st;
	T_EQ_INT(stat(path, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0644);
	char *out = slurp(path);
	T_CONTAINS(out, "tend_replies_sent_total 4\n");
	free(out);
	T_OK(access(tmp, F_OK) != 0);
	metrics_free(m);
	free(path);
	free(tmp);
	t_rmtree(dir);
}

/* A link planted at the temporary name is removed, not followed: its target stays as it was. */
static void test_write_link(void)
{
	char dir[PATH_MAX], *err = NULL;
	t_mkdtemp(dir, sizeof(dir), "test_metrics");
	char *path = xasprintf("%s/tend.prom", dir), *tmp = xasprintf("%s.tmp", path);
	char *victim = xasprintf("%s/victim", dir);
	FILE *f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	T_EQ_INT(symlink(victim, tmp), 0);
	struct metrics *m = metrics_new();
	metrics_add(m, METRICS_SENT, NULL, 1);
	T_EQ_INT(metrics_write(m, path, &err), 0);
	char *out = slurp(victim);
	T_EQ_STR(out, "precious\n");
	free(out);
	out = slurp(path);
	T_CONTAINS(out, "tend_replies_sent_total 1\n");
	free(out);
	struct stat st;
	T_EQ_INT(lstat(path, &st), 0);
	T_OK(S_ISREG(st.st_mode));
	metrics_free(m);
	free(path);
	free(tmp);
	free(victim);
	t_rmtree(dir);
}

static void test_write_error(void)
{
	char *err = NULL;
	struct metrics *m = metrics_new();
	T_EQ_INT(metrics_write(m, "/nonexistent-dir/tend.prom", &err), -1);
	T_CONTAINS(err,
	           "cannot create the metrics file /nonexistent-dir/tend.prom.tmp: No such file");
	free(err);
	metrics_free(m);
}

/* Two shops' tendds on one host feed one textfile collector, which refuses a series two files
 * hold alike: metrics_shop makes every series (histogram lines too) the shop's own. */
static void test_shop(void)
{
	struct metrics *m = metrics_new();
	metrics_add(m, METRICS_SENT, NULL, 1);
	metrics_set(m, METRICS_CONVERSATIONS, (const char *const[]){"waiting"}, 4);
	metrics_observe(m, METRICS_SEND_SECONDS, NULL, 0.3);
	metrics_set_shop(m, "ac\"me");
	char *out = render(m);
	T_CONTAINS(out, "\ntend_replies_sent_total{shop=\"ac\\\"me\"} 1\n");
	T_CONTAINS(out, "\ntend_conversations{shop=\"ac\\\"me\",state=\"waiting\"} 4\n");
	T_CONTAINS(out, "\ntend_send_duration_seconds_bucket{shop=\"ac\\\"me\",le=\"+Inf\"} 1\n");
	T_CONTAINS(out, "\ntend_send_duration_seconds_count{shop=\"ac\\\"me\"} 1\n");
	free(out);
	metrics_set_shop(m, NULL);
	out = render(m);
	T_CONTAINS(out, "\ntend_replies_sent_total 1\n");
	T_OK(strstr(out, "shop=") == NULL);
	free(out);
	metrics_free(m);
}

T_MAIN(T_CASE(test_escaping), T_CASE(test_shop), T_CASE(test_help_and_type), T_CASE(test_histogram),
       T_CASE(test_write), T_CASE(test_write_link), T_CASE(test_write_error))
