/*
 * test_status: `tend status` against a temporary store holding the records tendd writes
 * (cursors, status records), threads, messages and an outbox, with a "tendd" played by this
 * program holding the lock on tendd.pid.
 */
#include "tend/status.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

/* The time the tests run at: 2023-11-14T23:13:20Z. Relative times stay under six hours, where
 * they do not depend on the time zone. */
#define NOW ((int64_t)1700003600)

struct fx {
	char dir[PATH_MAX];
	char *store_dir;
	struct store *s;
	struct config *c;
};

static struct fx fx_open(void)
{
	struct fx f = {{0}, NULL, NULL, NULL};
	f.store_dir = xasprintf("%s/store", t_mkdtemp(f.dir, sizeof(f.dir), "test_status"));
	char *err = NULL;
	if (store_open(f.store_dir, NULL, &f.s, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err ? err : "?");
		exit(99);
	}
	f.c = config_defaults();
	return f;
}

static void fx_close(struct fx *f)
{
	store_close(f->s);
	config_free(f->c);
	free(f->store_dir);
	t_rmtree(f->dir);
}

/* An account; with folders (a NULL-terminated list) it has IMAP, without it has not. */
static void add_account(struct config *c, const char *name, const char *const *folders)
{
	c->accounts = xreallocarray(c->accounts, c->naccounts + 1, sizeof(*c->accounts));
	struct config_account *a = &c->accounts[c->naccounts++];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	a->has_imap = folders != NULL;
	for (; folders && *folders; folders++)
		strvec_push(&a->imap.folders, *folders);
}

static struct store_txn *begin(struct store *s)
{
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(s, true, &t), 0);
	return t;
}

static void put_status(struct store_txn *t, const char *account, const char *folder,
                       struct store_status st)
{
	T_EQ_INT(store_put_status(t, account, folder, &st), 0);
}

static void put_cursor(struct store_txn *t, const char *account, const char *folder,
                       uint32_t uidvalidity, uint32_t last_uid)
{
	struct store_cursor c = {uidvalidity, last_uid};
	T_EQ_INT(store_put_cursor(t, account, folder, &c), 0);
}

static void put_thread(struct store_txn *t, uint64_t id, int state, int64_t clock_start,
                       const char *subject)
{
	struct store_thread th = {.id = id, .state = state, .clock_start = clock_start};
	th.subject = (char *)subject;
	T_EQ_INT(store_put_thread(t, &th), 0);
}

/* A draft listed in the outbox index under when (next_attempt may say otherwise: a stray). */
static void put_outbox(struct store_txn *t, uint64_t id, int state, int64_t when,
                       int64_t next_attempt, bool copy_pending)
{
	struct store_draft d = {.id = id,
	                        .thread = 1,
	                        .state = state,
	                        .next_attempt = next_attempt,
	                        .copy_pending = copy_pending};
	T_EQ_INT(store_put_draft(t, &d), 0);
	T_EQ_INT(store_index_put(t, STORE_INDEX_OUTBOX, when, id), 0);
}

/* The report, human or JSON, as a string the caller frees. */
static char *report(struct fx *f, bool json)
{
	struct view_options o = {.json = json, .now = NOW};
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	T_EQ_INT(status_report(f->s, f->c, &o, mf), 0);
	fclose(mf);
	return text;
}

/* Accounts with and without records, threads in every state, messages and an outbox. */
static void fill(struct fx *f)
{
	add_account(f->c, "support", (const char *const[]){"INBOX", NULL});
	add_account(f->c, "billing", NULL); /* SMTP only: not listed */
	add_account(f->c, "sales", (const char *const[]){"INBOX", "Sent", NULL});
	struct store_txn *t = begin(f->s);
	put_status(t, "support", "",
	           (struct store_status){.updated = NOW - 60,
	                                 .last_login = NOW - 120,
	                                 .error_since = NOW - 300,
	                                 .last_error = "certificate not trusted"});
	put_status(t, "support", "INBOX",
	           (struct store_status){.last_fetch = NOW - 30,
	                                 .uidvalidity = 1700000000,
	                                 .exists = 12,
	                                 .waiting = 0,
	                                 .fetched = 3});
	put_cursor(t, "support", "INBOX", 1700000000, 12);
	put_cursor(t, "support", "Archive", 5, 40); /* no longer configured */
	put_status(t, "support", "Old",
	           (struct store_status){.error_since = NOW - 7200,
	                                 .last_error = "NO [NONEXISTENT] Unknown folder",
	                                 .waiting = 4});
	put_cursor(t, "billing", "INBOX", 1, 1);
	put_status(t, "gone", "", (struct store_status){.last_login = NOW});
	put_thread(t, 1, STORE_THREAD_OPEN, NOW - 3 * 3600, "Where is my order?");
	put_thread(t, 2, STORE_THREAD_IGNORED, NOW - 5 * 3600, "Out of office");
	put_thread(t, 3, STORE_THREAD_ANSWERED, 0, "Thanks");
	put_thread(t, 4, STORE_THREAD_OPEN, NOW - 3 * 3600, "Same time, later thread");
	put_thread(t, 5, STORE_THREAD_OPEN, 0, "Open without a clock");
	put_thread(t, 6, STORE_THREAD_CLOSED, NOW - 5 * 3600, "Closed");
	struct store_thread merged = {.id = 7, .merged_into = 1, .clock_start = NOW - 5 * 3600};
	T_EQ_INT(store_put_thread(t, &merged), 0);
	for (uint64_t id = 1; id <= 3; id++)
		T_EQ_INT(store_put_message(t, &(struct store_message){.id = id}), 0);
	T_EQ_INT(store_put_quarantine(t, 3), 0);
	/* waiting to be sent: 8 and 9; sent, its copy still to make: 11; the rest are strays */
	put_outbox(t, 8, STORE_DRAFT_APPROVED, NOW - 10, NOW - 10, false);
	put_outbox(t, 9, STORE_DRAFT_APPROVED, NOW + 600, NOW + 600, false);
	put_outbox(t, 11, STORE_DRAFT_SENT, NOW - 5, NOW - 5, true);
	put_outbox(t, 12, STORE_DRAFT_SENT, NOW - 4, 0, false);
	put_outbox(t, 13, STORE_DRAFT_APPROVED, NOW - 3, NOW + 60, false);
	T_EQ_INT(store_index_put(t, STORE_INDEX_OUTBOX, NOW - 2, 14), 0); /* no such draft */
	T_EQ_INT(store_index_put(t, STORE_INDEX_QUEUE, NOW, 10), 0);
	T_EQ_INT(store_commit(t), 0);
}

static void test_json(void)
{
	struct fx f = fx_open();
	fill(&f);
	char *out = report(&f, true);
	T_EQ_STR(out, "{\"daemon\":{\"running\":false,\"pid\":null},\"accounts\":["
	              "{\"name\":\"support\",\"last_login\":\"2023-11-14T23:11:20Z\","
	              "\"error\":\"certificate not trusted\","
	              "\"error_since\":\"2023-11-14T23:08:20Z\",\"folders\":["
	              "{\"name\":\"INBOX\",\"uidvalidity\":1700000000,\"last_uid\":12,"
	              "\"last_fetch\":\"2023-11-14T23:12:50Z\",\"waiting\":0,\"exists\":12,"
	              "\"fetched\":3,\"error\":null,\"error_since\":null},"
	              "{\"name\":\"Archive\",\"uidvalidity\":5,\"last_uid\":40,"
	              "\"last_fetch\":null,\"waiting\":0,\"exists\":0,\"fetched\":0,"
	              "\"error\":null,\"error_since\":null},"
	              "{\"name\":\"Old\",\"uidvalidity\":0,\"last_uid\":0,\"last_fetch\":null,"
	              "\"waiting\":4,\"exists\":0,\"fetched\":0,"
	              "\"error\":\"NO [NONEXISTENT] Unknown folder\","
	              "\"error_since\":\"2023-11-14T21:13:20Z\"}]},"
	              "{\"name\":\"sales\",\"last_login\":null,\"error\":null,\"error_since\":null,"
	              "\"folders\":["
	              "{\"name\":\"INBOX\",\"uidvalidity\":0,\"last_uid\":0,\"last_fetch\":null,"
	              "\"waiting\":0,\"exists\":0,\"fetched\":0,\"error\":null,"
	              "\"error_since\":null},"
	              "{\"name\":\"Sent\",\"uidvalidity\":0,\"last_uid\":0,\"last_fetch\":null,"
	              "\"waiting\":0,\"exists\":0,\"fetched\":0,\"error\":null,"
	              "\"error_since\":null}]}],"
	              "\"messages\":3,\"threads\":7,\"quarantined\":1,\"outbox\":2,"
	              "\"copies_pending\":1,\"oldest_unanswered\":{\"thread\":1,\"since\":\"2023-"
	              "11-14T20:13:20Z\","
	              "\"subject\":\"Where is my order?\"}}\n");
	free(out);
	fx_close(&f);
}

static void test_json_empty_store(void)
{
	struct fx f = fx_open();
	char *out = report(&f, true);
	T_EQ_STR(out, "{\"daemon\":{\"running\":false,\"pid\":null},\"accounts\":[],"
	              "\"messages\":0,\"threads\":0,\"quarantined\":0,\"outbox\":0,"
	              "\"copies_pending\":0,\"oldest_unanswered\":null}\n");
	free(out);
	fx_close(&f);
}

static void test_human(void)
{
	struct fx f = fx_open();
	fill(&f);
	char *out = report(&f, false);
	T_EQ_STR(out,
	         "tendd       not running\n"
	         "support     logged in 2 min ago\n"
	         "  error     certificate not trusted (since 5 min ago)\n"
	         "  INBOX     fetched just now, UID 12 of UIDVALIDITY 1700000000, 0 waiting, "
	         "12 on the server, 3 stored this run\n"
	         "  Archive   never fetched, UID 40 of UIDVALIDITY 5\n"
	         "  Old       never fetched, 4 waiting, 0 on the server, 0 stored this run\n"
	         "    error   NO [NONEXISTENT] Unknown folder (since 2 h ago)\n"
	         "sales       never logged in\n"
	         "  INBOX     never fetched\n"
	         "  Sent      never fetched\n"
	         "store       3 messages, 7 threads, 1 quarantined (tend threads --quarantined)\n"
	         "outbox      2 waiting, 1 sent reply still to be copied to the Sent folder\n"
	         "oldest      thread 1, unanswered since 3 h ago: \"Where is my order?\"\n");
	free(out);
	fx_close(&f);
}

/* Long names widen the label column; text from the server cannot move the cursor. */
static void test_human_wide_and_hostile(void)
{
	struct fx f = fx_open();
	add_account(f.c, "customer-service", (const char *const[]){"INBOX", NULL});
	struct store_txn *t = begin(f.s);
	put_status(t, "customer-service", "INBOX",
	           (struct store_status){.last_error = "bad\033[2Jthing\r\nhere"});
	put_thread(t, 1, STORE_THREAD_OPEN, NOW - 600, "");
	T_EQ_INT(store_commit(t), 0);
	char *out = report(&f, false);
	T_EQ_STR(out,
	         "tendd             not running\n"
	         "customer-service  never logged in\n"
	         "  INBOX           never fetched, 0 waiting, 0 on the server, 0 stored "
	         "this run\n"
	         "    error         bad\\x1b[2Jthing  here\n"
	         "store             0 messages, 1 thread, 0 quarantined\n"
	         "outbox            0 waiting\n"
	         "oldest            thread 1, unanswered since 10 min ago: \"(no subject)\"\n");
	free(out);
	fx_close(&f);
}

/* A tendd: the pid file with its content, locked exclusively (the caller closes the fd). */
static int hold_lock(const struct fx *f, const char *content)
{
	char *path = xasprintf("%s/tendd.pid", f->store_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(path);
	T_OK(fd >= 0);
	T_EQ_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
	T_EQ_INT(write(fd, content, strlen(content)), (long long)strlen(content));
	return fd;
}

static void test_daemon(void)
{
	struct fx f = fx_open();
	struct status_daemon d = {true, 1};
	char *pidfile = xasprintf("%s/tendd.pid", f.store_dir);
	status_daemon_probe(f.store_dir, &d);
	T_OK(!d.running && d.pid == 0);
	T_OK(access(pidfile, F_OK) != 0); /* not created */

	int fd = hold_lock(&f, "4242\n");
	status_daemon_probe(f.store_dir, &d);
	T_OK(d.running);
	T_EQ_INT(d.pid, 4242);
	char *out = report(&f, true);
	T_CONTAINS(out, "{\"daemon\":{\"running\":true,\"pid\":4242},");
	free(out);
	out = report(&f, false);
	T_CONTAINS(out, "tendd       running (pid 4242)\n");
	free(out);
	close(fd);

	/* tendd exited and left the file behind: its lock went with it. */
	out = report(&f, true);
	T_CONTAINS(out, "{\"daemon\":{\"running\":false,\"pid\":null},");
	free(out);

	/* Locked, but the pid is not written yet. */
	fd = hold_lock(&f, "");
	status_daemon_probe(f.store_dir, &d);
	T_OK(d.running && d.pid == 0);
	out = report(&f, false);
	T_CONTAINS(out, "tendd       running\n");
	free(out);
	close(fd);
	fd = hold_lock(&f, "42x\n");
	out = report(&f, true);
	T_CONTAINS(out, "{\"daemon\":{\"running\":true,\"pid\":null},");
	free(out);
	close(fd);
	free(pidfile);
	fx_close(&f);
}

/* A store opened read-only, with accounts configured but no IMAP records yet. */
static void test_readonly_store(void)
{
	struct fx f = fx_open();
	add_account(f.c, "support", (const char *const[]){"INBOX", NULL});
	store_close(f.s);
	char *err = NULL;
	T_EQ_INT(store_open(f.store_dir, &(struct store_options){.readonly = true}, &f.s, &err), 0);
	free(err);
	char *out = report(&f, false);
	T_CONTAINS(out, "support     never logged in\n  INBOX     never fetched\n");
	T_CONTAINS(out, "oldest      no conversation is waiting for an answer\n");
	free(out);
	fx_close(&f);
}

static void test_write_error(void)
{
	struct fx f = fx_open();
	FILE *full = fopen("/dev/full", "w");
	struct view_options o = {.now = NOW};
	if (full == NULL) {
		fx_close(&f);
		return;
	}
	T_EQ_INT(status_report(f.s, f.c, &o, full), STORE_ERROR);
	fclose(full);
	fx_close(&f);
}

T_MAIN(T_CASE(test_json), T_CASE(test_json_empty_store), T_CASE(test_human),
       T_CASE(test_human_wide_and_hostile), T_CASE(test_daemon), T_CASE(test_readonly_store),
       T_CASE(test_write_error))
