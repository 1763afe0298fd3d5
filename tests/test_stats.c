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

#define T0 1796000000        /* 2026-11-29 */
#define T1 (T0 + 86400 * 40) /* after everything else, for the life-cycle cases */

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

static char *report_at(const struct stats_options *so, bool json, int64_t now)
{
	struct view_options o = {.json = json, .now = now};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	T_EQ_INT(stats_report(s, so, &o, f), 0);
	fclose(f);
	return text;
}

static char *report(const struct stats_options *so)
{
	return report_at(so, true, T0 + 86400 * 30 + 60);
}

static void test_totals(void)
{
	struct stats_options so = {0};
	char *r = report(&so);
	T_CONTAINS(r, "\"total\": {\n    \"received\": 12,\n    \"answered\": 10,\n"
	              "    \"within_target\": 6,\n    \"within_target_share\": 0.500,\n"
	              "    \"breached\": 5,\n    \"first_response_p50\": 3000,\n"
	              "    \"first_response_p90\": 5400,\n    \"first_response_p99\": 6000,\n"
	              "    \"resolved\": 0,\n    \"not_delivered\": 0\n");
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

/* A thread of the life cycle in a window of its own (T1 on), with a one-hour target. */
static void put_life(uint64_t id, int state, int64_t first_response, int64_t first_bounced,
                     int64_t deadline)
{
	struct store_txn *t = NULL;
	int64_t clock = T1 + (int64_t)id;
	struct store_thread th = {.id = id,
	                          .state = state,
	                          .subject = "x",
	                          .created = clock,
	                          .first_clock = clock,
	                          .first_response = first_response,
	                          .first_bounced = first_bounced,
	                          .deadline = deadline,
	                          .priority = 1};
	th.customer = (struct message_addr){NULL, "c@example.com"};
	if (first_response || first_bounced)
		th.first_deadline = clock + 3600;
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);
}

/*
 * Resolved without a reply: neither answered nor breached, out of the share in time. Resolved
 * after a reply: answered. A first reply that bounced: not delivered, and late against the
 * first target until a reply gets through; then answered, from the first message.
 */
static void test_resolved_and_bounced(void)
{
	put_life(20, STORE_THREAD_CLOSED, 0, 0, 0);                    /* overdue once, resolved */
	put_life(21, STORE_THREAD_CLOSED, T1 + 21 + 600, 0, 0);        /* answered, then resolved */
	put_life(22, STORE_THREAD_OPEN, 0, T1 + 22 + 900, T1 + 86400); /* bounced, not resent */
	put_life(23, STORE_THREAD_ANSWERED, T1 + 23 + 1800, T1 + 23 + 900, 0); /* resent in time */
	put_life(24, STORE_THREAD_ANSWERED, T1 + 24 + 7200, T1 + 24 + 900, 0); /* resent late */
	struct stats_options so = {.since = T1, .until = T1 + 100};
	char *r = report_at(&so, true, T1 + 86400 * 2);
	T_CONTAINS(r, "\"received\": 5,\n    \"answered\": 3,\n    \"within_target\": 2,\n"
	              "    \"within_target_share\": 0.500,\n    \"breached\": 2,\n"
	              "    \"first_response_p50\": 1800,\n    \"first_response_p90\": 7200,\n"
	              "    \"first_response_p99\": 7200,\n    \"resolved\": 1,\n"
	              "    \"not_delivered\": 3\n");
	free(r);
	r = report_at(&so, false, T1 + 86400 * 2);
	T_CONTAINS(r, "received answered resolved  in time breached  bounced");
	T_CONTAINS(r,
	           "\nall                         5        3        1      50%        2        3");
	free(r);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {T_CASE(test_totals), T_CASE(test_by_tag_and_agent),
	                                      T_CASE(test_since_until),
	                                      T_CASE(test_resolved_and_bounced)};
	setup();
	int rc = t_run(cases, NELEM(cases), argc, argv);
	store_close(s);
	t_rmtree(dir);
	return rc;
}
