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
	              "    \"resolved\": 0,\n    \"not_delivered\": 0,\n");
	free(r);
}

static void test_by_tag_and_agent(void)
{
	struct stats_options so = {.by = {STATS_BY_TAG}, .nby = 1};
	char *r = report(&so);
	/* refund: six answered in 10..60 minutes, all in time, and the overdue one */
	T_CONTAINS(r, "\"key\": \"refund\",\n      \"received\": 7,\n      \"answered\": 6,\n"
	              "      \"within_target\": 6,");
	T_CONTAINS(r, "\"key\": \"voucher\",\n      \"received\": 4,\n      \"answered\": 4,\n"
	              "      \"within_target\": 0,");
	T_CONTAINS(r, "\"key\": \"(no tag)\",\n      \"received\": 1,");
	free(r);
	so.by[0] = STATS_BY_AGENT;
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
	              "    \"not_delivered\": 3,\n");
	free(r);
	r = report_at(&so, false, T1 + 86400 * 2);
	T_CONTAINS(r, "received answered resolved  in time breached  bounced");
	T_CONTAINS(r,
	           "\nall                         5        3        1      50%        2        3");
	free(r);
}

#define T2 1801240200 /* Friday 2027-01-29 16:30 UTC, after the cases above */

static void put_draft(uint64_t id, uint64_t thread, int kind, const char *body, const char *editor,
                      const char *approver, int64_t sent)
{
	struct store_txn *t = NULL;
	struct store_draft d = {.id = id,
	                        .thread = thread,
	                        .state = STORE_DRAFT_SENT,
	                        .kind = kind,
	                        .body = (char *)body,
	                        .edited = editor != NULL,
	                        .last_editor = (char *)editor,
	                        .approved_by = (char *)approver,
	                        .sent = sent};
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_put_draft(t, &d), 0);
	T_EQ_INT(store_commit(t), 0);
}

static void put_audit(const char *agent, const char *action, uint64_t thread, uint64_t draft,
                      const char *detail)
{
	struct store_txn *t = NULL;
	struct store_audit a = {.time = T2,
	                        .agent = (char *)agent,
	                        .action = (char *)action,
	                        .thread = thread,
	                        .draft = draft,
	                        .detail = (char *)detail};
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_audit_append(t, &a), 0);
	T_EQ_INT(store_commit(t), 0);
}

/* A thread answered at answered by the drafts sent (in that order), tagged tag. */
static void put_answered(uint64_t id, int64_t clock, int64_t answered, const char *tag,
                         const uint64_t *sent, size_t nsent)
{
	struct store_txn *t = NULL;
	struct store_thread th = {.id = id,
	                          .state = STORE_THREAD_ANSWERED,
	                          .subject = "x",
	                          .created = clock,
	                          .first_clock = clock,
	                          .first_response = answered,
	                          .first_deadline = clock + 86400 * 7,
	                          .first_agent = "approver-only",
	                          .priority = 1};
	th.customer = (struct message_addr){NULL, "c@example.com"};
	strvec_push(&th.tags, tag);
	for (size_t i = 0; i < nsent; i++)
		idvec_push(&th.sent, sent[i]);
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);
	strvec_free(&th.tags);
	idvec_free(&th.sent);
}

/*
 * --by agent credits who wrote the first reply (its last editor), and the approver under
 * approvals; edits, rejections, holding replies and bounced replies are counted per group.
 * carol edits two of four lines and dave approves; erin writes and approves one alone.
 */
static void test_writer_and_work(void)
{
	static const uint64_t sent30[] = {300, 301}, sent31[] = {310};
	put_draft(300, 30, STORE_KIND_HOLDING, "We are on it.\n", NULL, NULL, T2 + 60);
	put_draft(301, 30, STORE_KIND_REPLY, "Hello,\nrefund sent.\nIt takes 3 days.\nBye\n",
	          "carol", "dave", T2 + 600);
	put_draft(310, 31, STORE_KIND_REPLY, "Hi\n", NULL, "erin", T2 + 1200);
	put_answered(30, T2, T2 + 600, "work", sent30, NELEM(sent30));
	put_answered(31, T2 + 1, T2 + 1200, "work", sent31, NELEM(sent31));
	put_audit("carol", "edit", 30, 301,
	          "--- before\n+++ after\n@@ -1,4 +1,4 @@\n Hello,\n-refund soon.\n-Bye\n"
	          "+refund sent.\n+It takes 3 days.\n Bye\n");
	put_audit("dave", "reject", 31, 309, "too short");
	put_audit("tendd", "bounced", 31, 311, "our reply bounced");
	struct stats_options so = {.since = T2, .until = T2 + 2, .by = {STATS_BY_AGENT}, .nby = 1};
	char *r = report_at(&so, true, T2 + 86400);
	T_CONTAINS(r, "\"key\": \"carol\",\n      \"received\": 1,\n      \"answered\": 1,");
	T_CONTAINS(r, "\"not_delivered\": 0,\n      \"approved\": 0,\n      \"replies\": 1,\n"
	              "      \"edited\": 1,\n      \"edited_share\": 1.000,\n"
	              "      \"edited_lines_share\": 0.500,\n      \"rejected\": 0,\n"
	              "      \"holding_replies\": 1,\n      \"bounced_replies\": 0,");
	T_CONTAINS(r, "\"key\": \"dave\",\n      \"received\": 0,\n      \"answered\": 0,");
	T_CONTAINS(r, "\"not_delivered\": 0,\n      \"approved\": 1,\n      \"replies\": 0,");
	T_CONTAINS(r, "\"key\": \"erin\",\n      \"received\": 1,");
	T_CONTAINS(r, "\"approved\": 1,\n      \"replies\": 1,\n      \"edited\": 0,\n"
	              "      \"edited_share\": 0.000,\n      \"edited_lines_share\": null,\n"
	              "      \"rejected\": 1,\n      \"holding_replies\": 0,\n"
	              "      \"bounced_replies\": 1,");
	T_OK(strstr(r, "approver-only") == NULL);
	free(r);
	r = report_at(&so, false, T2 + 86400);
	T_CONTAINS(r, "approved  replies   edited  changed rejected  holding  bounces  backlog\n");
	T_CONTAINS(r,
	           "\ncarol                       0        1     100%      50%        0        1");
	T_CONTAINS(r,
	           "\ndave                        1        0        -        -        0        0");
	free(r);
}

/* Several --by group by all of them: a conversation is in one group per combination. */
static void test_several_by(void)
{
	struct stats_options so = {.until = T0 + 11};
	T_EQ_INT(stats_add_by(&so, STATS_BY_TAG), 0);
	T_EQ_INT(stats_add_by(&so, STATS_BY_AGENT), 0);
	T_EQ_INT(stats_add_by(&so, STATS_BY_TAG), -1);
	char *r = report(&so);
	/* threads 1..6 refund, 7..10 voucher; odd ones alice */
	T_CONTAINS(r, "\"key\": \"refund / alice\",\n      \"received\": 3,");
	T_CONTAINS(r, "\"key\": \"refund / bob\",\n      \"received\": 3,");
	T_CONTAINS(r, "\"key\": \"voucher / alice\",\n      \"received\": 2,");
	T_CONTAINS(r, "\"key\": \"voucher / bob\",\n      \"received\": 2,");
	T_OK(strstr(r, "\"key\": \"alice\"") == NULL);
	free(r);
}

/* With business_hours the working time comes first: Friday 16:30 to Monday 09:30 is an hour
 * of 09:00-17:00 Monday to Friday, and 2d16h59m on the wall clock. */
static void test_business_time(void)
{
	put_answered(40, T2 + 40, 1801474200, "hours", NULL, 0);
	struct rules_business_hours bh = {
	    .set = true, .timezone = "UTC", .days = 0x1f, .open_minute = 540, .close_minute = 1020};
	struct stats_options so = {.since = T2 + 40, .until = T2 + 41, .bh = &bh};
	char *r = report_at(&so, true, T2 + 86400 * 5);
	T_CONTAINS(r, "\"business_hours\": true,");
	T_CONTAINS(r, "\"first_response_business_p50\": 3560,");
	T_CONTAINS(r, "\"first_response_business_p99\": 3560,\n"
	              "    \"first_response_p50\": 233960,");
	free(r);
	r = report_at(&so, false, T2 + 86400 * 5);
	T_CONTAINS(r, "first response in business hours");
	T_CONTAINS(r, "\nall                         1        1        0     100%        0        0"
	              "      60m      60m      60m\n");
	T_CONTAINS(r, "wall p50 wall p90 wall p99\n");
	T_CONTAINS(r, "   2d16h    2d16h    2d16h\n");
	free(r);
}

/*
 * --daily: the backlog at the end of each day. Monday 1 February a message arrives that is
 * answered on Wednesday; on Tuesday one arrives that waits still. Three conversations of the
 * cases above wait all along (11, 12 and 22).
 */
static void test_daily_backlog(void)
{
	put_answered(50, 1801440000 + 36000, 1801648800, "daily", NULL, 0);
	struct store_txn *t = NULL;
	struct store_thread th = {.id = 51,
	                          .state = STORE_THREAD_OPEN,
	                          .subject = "x",
	                          .created = 1801440000 + 86400 + 3600,
	                          .first_clock = 1801440000 + 86400 + 3600,
	                          .clock_start = 1801440000 + 86400 + 3600,
	                          .deadline = 1801440000 + 86400 * 9,
	                          .priority = 1};
	th.customer = (struct message_addr){NULL, "c@example.com"};
	strvec_push(&th.tags, "daily");
	T_EQ_INT(store_begin(s, true, &t), 0);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);
	strvec_free(&th.tags);
	struct stats_options so = {.since = 1801440000,
	                           .until = 1801440000 + 86400 * 4,
	                           .daily = true,
	                           .by = {STATS_BY_TAG},
	                           .nby = 1};
	char *r = report_at(&so, true, 1801821600);
	T_CONTAINS(r, "\"daily\": [\n    {\n      \"day\": \"2027-02-01\",\n      \"backlog\": 4\n"
	              "    },\n    {\n      \"day\": \"2027-02-02\",\n      \"backlog\": 5\n"
	              "    },\n    {\n      \"day\": \"2027-02-03\",\n      \"backlog\": 4\n"
	              "    },\n    {\n      \"day\": \"2027-02-04\",\n      \"backlog\": 4\n");
	T_CONTAINS(r, "\"key\": \"daily\",\n      \"received\": 2,");
	T_CONTAINS(r, "\"bounced_replies\": 0,\n      \"backlog\": 1\n");
	free(r);
	r = report_at(&so, false, 1801821600);
	T_CONTAINS(r, "\nbacklog at the end of each day\n2027-02-01");
	free(r);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
	    T_CASE(test_totals),          T_CASE(test_by_tag_and_agent),
	    T_CASE(test_since_until),     T_CASE(test_resolved_and_bounced),
	    T_CASE(test_writer_and_work), T_CASE(test_several_by),
	    T_CASE(test_business_time),   T_CASE(test_daily_backlog)};
	setenv("TZ", "UTC", 1); /* the days of --daily are local days */
	tzset();
	setup();
	int rc = t_run(cases, NELEM(cases), argc, argv);
	store_close(s);
	t_rmtree(dir);
	return rc;
}
