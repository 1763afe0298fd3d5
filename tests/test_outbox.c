/*
 * test_outbox: the outbox's records against a temporary store, without a network: doubling
 * waits, giving up, the agents' decisions, and a pass with no way to send. Sending itself is
 * proven against real servers in daemon_send.py.
 */
#include "tend/outbox.h"

#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/outbox_int.h"
#include "t.h"

struct fx {
	char dir[PATH_MAX];
	struct store *s;
	struct config *c;
};

static struct fx fx_open(void)
{
	struct fx f = {{0}, NULL, NULL};
	char *err = NULL;
	char *store_dir = xasprintf("%s/store", t_mkdtemp(f.dir, sizeof(f.dir), "test_outbox"));
	if (store_open(store_dir, NULL, &f.s, &err) < 0) {
		fprintf(stderr, "cannot make a store: %s\n", err ? err : "?");
		exit(99);
	}
	free(store_dir);
	f.c = config_defaults();
	return f;
}

static void fx_close(struct fx *f)
{
	store_close(f->s);
	config_free(f->c);
	t_rmtree(f->dir);
}

/* Thread 1 with draft 1, approved, in the outbox at when; its first attempt at first. */
static void add_approved(struct fx *f, int64_t when, int64_t first, int phase)
{
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(f->s, true, &t), 0);
	struct message_addr to = {"Anna", "anna@example.com"};
	struct store_thread th = {.id = 1,
	                          .state = STORE_THREAD_OPEN,
	                          .draft = 1,
	                          .subject = "Refund",
	                          .deadline = when + 3600};
	th.customer = to;
	struct store_draft d = {.id = 1,
	                        .thread = 1,
	                        .state = STORE_DRAFT_APPROVED,
	                        .body = "Hello",
	                        .subject = "Re: Refund [#1]",
	                        .message_id = "tend.1.1.x@shop.example",
	                        .approved = when,
	                        .next_attempt = when,
	                        .first_attempt = first,
	                        .attempts = first ? 3 : 0,
	                        .send_phase = phase};
	d.to = (struct message_addrs){&to, 1};
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_put_draft(t, &d), 0);
	T_EQ_INT(store_index_put(t, STORE_INDEX_OUTBOX, when, 1), 0);
	T_EQ_INT(store_commit(t), 0);
}

static struct store_draft *draft(struct fx *f)
{
	struct store_txn *t = NULL;
	struct store_draft *d = NULL;
	T_EQ_INT(store_begin(f->s, false, &t), 0);
	T_EQ_INT(store_get_draft(t, 1, &d), 0);
	store_abort(t);
	return d;
}

static int count(int64_t when, uint64_t id, void *arg)
{
	(void)when, (void)id;
	++*(int *)arg;
	return 0;
}

static int entries(struct fx *f, enum store_index ix)
{
	struct store_txn *t = NULL;
	int n = 0;
	T_EQ_INT(store_begin(f->s, false, &t), 0);
	store_foreach_index(t, ix, count, &n);
	store_abort(t);
	return n;
}

static void test_backoff_doubles(void)
{
	struct config_smtp smtp = {.retry_interval = 30};
	for (int a = 1; a <= 12; a++) {
		int64_t base = a >= 8 ? 3600 : 30LL << (a - 1);
		int64_t w = outbox_backoff(&smtp, a);
		T_OK(w >= base && w <= base + base / 10);
	}
}

static void test_deferred_then_gives_up(void)
{
	struct fx f = fx_open();
	int64_t now = (int64_t)time(NULL);
	struct config_smtp smtp = {.retry_interval = 30, .give_up_after = 86400};
	add_approved(&f, now, now - 60, STORE_SEND_STARTED);
	T_EQ_INT(outbox_record_deferred(f.s, &smtp, 1, "451 try later", now), 0);
	struct store_draft *d = draft(&f);
	T_EQ_INT(d->state, STORE_DRAFT_APPROVED);
	T_EQ_INT(d->send_phase, STORE_SEND_IDLE);
	T_OK(d->next_attempt >= now + 30 * 4 && d->next_attempt <= now + 30 * 4 + 13);
	T_EQ_STR(d->error, "451 try later");
	T_EQ_INT(entries(&f, STORE_INDEX_OUTBOX), 1);
	store_draft_free(d);
	/* a day after the first attempt the reply fails and goes back to review */
	T_EQ_INT(outbox_record_deferred(f.s, &smtp, 1, "451 still", now + 86400), 0);
	d = draft(&f);
	T_EQ_INT(d->state, STORE_DRAFT_FAILED);
	T_EQ_STR(d->error, "gave up after 3 attempts: 451 still");
	T_EQ_INT(entries(&f, STORE_INDEX_OUTBOX), 0);
	T_EQ_INT(entries(&f, STORE_INDEX_QUEUE), 1);
	store_draft_free(d);
	fx_close(&f);
}

/* A reply that may have gone out is never called failed, even when giving up. */
static void test_handed_gives_up_uncertain(void)
{
	struct fx f = fx_open();
	int64_t now = (int64_t)time(NULL);
	struct config_smtp smtp = {.retry_interval = 30, .give_up_after = 60};
	add_approved(&f, now, now - 120, STORE_SEND_HANDED);
	T_EQ_INT(outbox_record_deferred(f.s, &smtp, 1, "cannot look in Sent", now), 0);
	struct store_draft *d = draft(&f);
	T_EQ_INT(d->state, STORE_DRAFT_UNCERTAIN);
	store_draft_free(d);
	fx_close(&f);
}

static void test_decisions(void)
{
	struct fx f = fx_open();
	int64_t now = (int64_t)time(NULL);
	char *err = NULL;
	add_approved(&f, now, now, STORE_SEND_IDLE);
	T_EQ_INT(outbox_retry(f.s, 1, "alice", "alice", &err), -1);
	T_EQ_STR(err, "thread 1: its reply is approved, not failed or uncertain");
	free(err);
	err = NULL;
	T_EQ_INT(outbox_record_uncertain(f.s, 1, "lost", now), 0);
	T_EQ_INT(outbox_retry(f.s, 1, "alice", "root", &err), 0);
	struct store_draft *d = draft(&f);
	T_EQ_INT(d->state, STORE_DRAFT_APPROVED);
	T_EQ_STR(d->message_id, "tend.1.1.x@shop.example");
	T_EQ_INT(entries(&f, STORE_INDEX_OUTBOX), 1);
	T_EQ_INT(entries(&f, STORE_INDEX_QUEUE), 0);
	store_draft_free(d);
	T_EQ_INT(outbox_mark_sent(f.s, 1, "alice", "root", &err), -1);
	T_EQ_STR(err, "thread 1: its reply is approved, not uncertain");
	free(err);
	T_EQ_INT(outbox_mark_sent(f.s, 7, "alice", "root", &err), STORE_NOTFOUND);
	T_EQ_STR(err, "there is no thread 7");
	free(err);
	fx_close(&f);
}

/* With no account that can send, the reply waits, and the pass says why. */
static void test_pass_without_smtp(void)
{
	struct fx f = fx_open();
	int64_t now = (int64_t)time(NULL);
	add_approved(&f, now - 5, 0, STORE_SEND_IDLE);
	struct outbox_pass p;
	T_EQ_INT(outbox_run(f.s, f.c, now, NULL, &p), 0);
	T_EQ_INT(p.deferred, 1);
	T_EQ_STR(p.account_error, "no account in tend.yaml has an smtp block to send it with");
	T_OK(p.next_due > now);
	outbox_pass_finish(&p);
	struct store_draft *d = draft(&f);
	T_EQ_INT(d->state, STORE_DRAFT_APPROVED);
	store_draft_free(d);
	fx_close(&f);
}

T_MAIN(T_CASE(test_backoff_doubles), T_CASE(test_deferred_then_gives_up),
       T_CASE(test_handed_gives_up_uncertain), T_CASE(test_decisions),
       T_CASE(test_pass_without_smtp))
