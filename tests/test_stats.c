/*
 * test_stats: `tend stats` figures from a store whose response times are known: ten answered
 * conversations taking 10, 20, ... 100 minutes against a one-hour target, one unanswered past
 * its deadline, one unanswered still in time, one automatic message that needs no answer.
 */
#include "tend/stats.h"

#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

#define T0 1796000000 /* 2026-11-29 */

static char dir[PATH_MAX];
static struct store *s;

static void put_thread(uint64_t id, int64_t clock, int64_t frt, const char *tag, const char *agent,
                       int priority)
{
	struct store_txn *t = NULL;
	struct store_thread th = {.id = id,
	                          .state = STORE_THREAD_OPEN,
	                          .subject = "x",
	                          .created = clock,
	                          .priority = priority};
	th.customer = (struct message_addr){NULL, "c@example.com"};
	if (clock && frt >= 0) {
		th.first_clock = clock;
		th.first_response = clock + frt;
		th.first_deadline = clock + 3600;
		th.first_agent = (char *)agent;
		th.state = STORE_THREAD_ANSWERED;
	} else if (clock) {
		th.first_clock = th.clock_start = clock;
		th.deadline = clock + 3600;
	}
	if (tag)
		strvec_push(&th.tags, tag);
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);
	strvec_free(&th.tags);
}

static void setup(void)
{
	char *err = NULL, *sd = xasprintf("%s/store", t_mkdtemp(dir, sizeof(dir), "test_stats"));
	if (store_open(sd, NULL, &s, &err)) {
		fprintf(stderr, "cannot make a store: %s\n", err ? err : "?");
		exit(99);
	}
	free(sd);
	for (int i = 1; i <= 10; i++)
		put_thread((uint64_t)i, T0 + i, i * 600, i <= 6 ? "refund" : "voucher",
		           i % 2 ? "alice" : "bob", 1);
	put_thread(11, T0 + 11, -1, "refund", NULL, 2);     /* overdue, unanswered */
	put_thread(12, T0 + 86400 * 30, -1, NULL, NULL, 1); /* a month later, not yet due */
	put_thread(13, 0, -1, NULL, NULL, 0);               /* automatic: not counted */
}

static char *report(const struct stats_options *so)
{
	struct view_options o = {.json = true, .now = T0 + 86400 * 30 + 60};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	T_EQ_INT(stats_report(s, so, &o, f), 0);
	fclose(f);
	return text;
}

static void test_totals(void)
{
	struct stats_options so = {0};
	char *r = report(&so);
	T_CONTAINS(r, "\"total\": {\n    \"received\": 12,\n    \"answered\": 10,\n"
	              "    \"within_target\": 6,\n    \"within_target_share\": 0.500,\n"
	              "    \"breached\": 5,\n    \"first_response_p50\": 3000,\n"
	              "    \"first_response_p90\": 5400,\n    \"first_response_p99\": 6000\n");
	free(r);
}

static void test_by_tag_and_agent(void)
{
	struct stats_options so = {.by = STATS_BY_TAG};
	char *r = report(&so);
	/* refund: six answered in 10..60 minutes, all in time, and the overdue one */
	T_CONTAINS(r, "\"key\": \"refund\",\n      \"received\": 7,\n      \"answered\": 6,\n"
	              "      \"within_target\": 6,");
	T_CONTAINS(r, "\"key\": \"voucher\",\n      \"received\": 4,\n      \"answered\": 4,\n"
	              "      \"within_target\": 0,");
	T_CONTAINS(r, "\"key\": \"(no tag)\",\n      \"received\": 1,");
	free(r);
	so.by = STATS_BY_AGENT;
	r = report(&so);
	T_CONTAINS(r, "\"key\": \"alice\",\n      \"received\": 5,\n      \"answered\": 5,\n"
	              "      \"within_target\": 3,");
	T_CONTAINS(r, "\"key\": \"(not answered)\",\n      \"received\": 2,");
	free(r);
}

static void test_since_until(void)
{
	struct stats_options so = {.since = T0 + 5, .until = T0 + 11};
	char *r = report(&so);
	/* threads 5..10: 50..100 minutes */
	T_CONTAINS(r, "\"received\": 6,\n    \"answered\": 6,\n    \"within_target\": 2,");
	T_CONTAINS(r, "\"first_response_p50\": 4200,");
	free(r);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {T_CASE(test_totals), T_CASE(test_by_tag_and_agent),
	                                      T_CASE(test_since_until)};
	setup();
	int rc = t_run(cases, NELEM(cases), argc, argv);
	store_close(s);
	t_rmtree(dir);
	return rc;
}
