/*
 * outbox: recording what became of each send attempt, one committed write transaction per
 * step, so that a crash at any point leaves a state the next pass can act on correctly.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "outbox_int.h"
#include "tend/outbox.h"
#include "tend/util.h"
#include "tend/view.h"

#define MAX_BACKOFF 3600

typedef int (*change_fn)(struct store_txn *t, struct store_draft *d, void *arg);

/* Reads draft afresh in a write transaction, lets fn change it, and commits. */
static int change_draft(struct store *s, uint64_t draft, change_fn fn, void *arg)
{
	struct store_txn *t = NULL;
	struct store_draft *d = NULL;
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	if ((rc = store_get_draft(t, draft, &d)) == STORE_NOTFOUND)
		rc = OUTBOX_SKIP;
	if (rc == 0)
		rc = fn(t, d, arg);
	if (rc == 0)
		rc = store_put_draft(t, d);
	if (rc == 0)
		rc = store_commit(t);
	else
		store_abort(t);
	store_draft_free(d);
	return rc;
}

char *outbox_os_user(void)
{
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name)
		return xstrdup(pw->pw_name);
	return xasprintf("uid %lu", (unsigned long)getuid());
}

static int audit(struct store_txn *t, const struct store_draft *d, const char *action,
                 const char *detail, int64_t now)
{
	char *os = outbox_os_user();
	struct store_audit a = {
	    .time = now,
	    .agent = "tendd",
	    .os_user = os,
	    .action = (char *)action,
	    .thread = d->thread,
	    .draft = d->id,
	    .detail = (char *)detail,
	};
	int rc = store_audit_append(t, &a);
	free(os);
	return rc;
}

/* Files the draft in the outbox under when (0: takes it out). */
static int reindex(struct store_txn *t, struct store_draft *d, int64_t when)
{
	int rc = 0;
	if (d->next_attempt)
		rc = store_index_del(t, STORE_INDEX_OUTBOX, d->next_attempt, d->id);
	if (rc == 0 && when)
		rc = store_index_put(t, STORE_INDEX_OUTBOX, when, d->id);
	d->next_attempt = when;
	return rc;
}

/* Files the draft in the review queue at its thread's deadline (now when there is none). */
static int requeue(struct store_txn *t, struct store_draft *d, int64_t now)
{
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_resolve_thread(t, d->thread, &live);
	if (rc == 0)
		rc = store_get_thread(t, live, &th);
	if (rc < 0)
		return rc;
	int64_t when = th->deadline ? th->deadline : now;
	store_thread_free(th);
	if (d->queued && (rc = store_index_del(t, STORE_INDEX_QUEUE, d->queued, d->id)) < 0)
		return rc;
	d->queued = when;
	return store_index_put(t, STORE_INDEX_QUEUE, when, d->id);
}

int64_t outbox_backoff(const struct config_smtp *smtp, int attempts)
{
	int64_t wait = smtp && smtp->retry_interval > 0 ? smtp->retry_interval : 30;
	for (int i = 1; i < attempts && wait < MAX_BACKOFF; i++)
		wait *= 2;
	if (wait > MAX_BACKOFF)
		wait = MAX_BACKOFF;
	return wait + (int64_t)(arc4random_uniform((uint32_t)(wait / 10 + 1)));
}

/* Started */

static int started(struct store_txn *t, struct store_draft *d, void *arg)
{
	(void)t;
	int64_t now = *(int64_t *)arg;
	if (d->state != STORE_DRAFT_APPROVED || d->send_phase == STORE_SEND_HANDED)
		return OUTBOX_SKIP;
	d->attempts++;
	if (d->first_attempt == 0)
		d->first_attempt = now;
	d->last_attempt = now;
	d->send_phase = STORE_SEND_STARTED;
	return 0;
}

int outbox_mark_started(struct store *s, uint64_t draft, int64_t now)
{
	return change_draft(s, draft, started, &now);
}

static int handed(struct store_txn *t, struct store_draft *d, void *arg)
{
	(void)t;
	(void)arg;
	if (d->send_phase != STORE_SEND_STARTED)
		return OUTBOX_SKIP;
	d->send_phase = STORE_SEND_HANDED;
	return 0;
}

int outbox_mark_handed(struct store *s, uint64_t draft)
{
	return change_draft(s, draft, handed, NULL);
}

/* Sent */

struct sent_args {
	int64_t when, now;
	const char *reply;
	bool copied, copy_wanted;
};

/*
 * Our Message-ID leads to the thread, so that an answer to it joins the conversation, and to
 * the draft, so that a copy of the reply (from the Sent folder, or a customer sending it back)
 * is known for what it is.
 */
static int file_message_id(struct store_txn *t, const struct store_draft *d)
{
	struct store_msgid e;
	uint64_t live;
	int rc = store_resolve_thread(t, d->thread, &live);
	if (rc < 0 || !d->message_id)
		return rc;
	rc = store_get_msgid(t, d->message_id, &e);
	if (rc == STORE_NOTFOUND)
		e = (struct store_msgid){.message = 0, .thread = live, .draft = 0};
	else if (rc < 0)
		return rc;
	e.draft = d->id;
	return store_put_msgid(t, d->message_id, &e);
}

/*
 * The customer is answered: the clock stops at when. Only the thread's current draft closes
 * the conversation; a reply that went out while the customer wrote again leaves the newer
 * draft waiting.
 */
static void answered(struct store_thread *th, const struct store_draft *d, int64_t when)
{
	if (when > th->answered)
		th->answered = when;
	if (th->first_response == 0) {
		th->first_response = when;
		if (!th->first_bounced) /* after a bounce, the target of the first message holds */
			th->first_deadline = th->deadline;
		free(th->first_agent);
		th->first_agent = d->approved_by ? xstrdup(d->approved_by) : NULL;
	}
	if (th->draft == d->id) {
		th->draft = 0;
		th->state = STORE_THREAD_ANSWERED;
		th->clock_start = 0;
		th->deadline = th->risk_at = 0;
	}
}

/* A digest notice is part of every conversation it names, as it is of its own. */
static int digest_sent(struct store_txn *t, const struct store_draft *d)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < d->digest.n; i++) {
		struct store_thread *th = NULL;
		uint64_t live;
		rc = store_resolve_thread(t, d->digest.v[i], &live);
		if (rc == 0 && (rc = store_get_thread(t, live, &th)) == 0 &&
		    !idvec_contains(&th->sent, d->id)) {
			idvec_push(&th->sent, d->id);
			rc = store_put_thread(t, th);
		}
		store_thread_free(th);
		if (rc == STORE_NOTFOUND) /* a conversation deleted since: nothing to show it in */
			rc = 0;
	}
	return rc;
}

/*
 * The server has the draft: it joins what the conversation shows we said (a reply also
 * answers the customer), and the Message-ID of a message to the customer is filed under the
 * thread, so that an answer to it joins.
 */
static int thread_sent(struct store_txn *t, const struct store_draft *d, int64_t when)
{
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_resolve_thread(t, d->thread, &live);
	if (rc == 0)
		rc = store_get_thread(t, live, &th);
	if (rc < 0)
		return rc;
	if (!idvec_contains(&th->sent, d->id))
		idvec_push(&th->sent, d->id);
	if (d->kind == STORE_KIND_REPLY)
		answered(th, d, when);
	rc = store_put_thread(t, th);
	store_thread_free(th);
	if (rc == 0 && d->kind != STORE_KIND_NOTICE)
		rc = file_message_id(t, d);
	if (rc == 0)
		rc = digest_sent(t, d);
	return rc;
}

static int sent(struct store_txn *t, struct store_draft *d, void *arg)
{
	struct sent_args *a = arg;
	if (d->state == STORE_DRAFT_SENT)
		return OUTBOX_SKIP;
	d->state = STORE_DRAFT_SENT;
	d->sent = a->when;
	d->send_phase = STORE_SEND_IDLE;
	free(d->smtp_reply);
	d->smtp_reply = xstrdup(a->reply);
	free(d->error);
	d->error = NULL;
	d->copy_pending = a->copy_wanted && !a->copied;
	d->copied = a->copied ? a->now : 0;
	int rc = reindex(t, d, d->copy_pending ? a->now : 0); /* the copy is the next step */
	if (rc == 0 && d->queued &&
	    (rc = store_index_del(t, STORE_INDEX_QUEUE, d->queued, d->id)) == 0)
		d->queued = 0;
	if (rc == 0)
		rc = thread_sent(t, d, a->when);
	if (rc == 0) {
		char *detail =
		    xasprintf("Message-ID <%s>: %s", d->message_id ? d->message_id : "", a->reply);
		rc = audit(t, d, "sent", detail, a->now);
		free(detail);
	}
	return rc;
}

int outbox_record_sent(struct store *s, uint64_t draft, int64_t when, const char *reply,
                       bool copied, bool copy_wanted, int64_t now)
{
	struct sent_args a = {when, now, reply, copied, copy_wanted};
	return change_draft(s, draft, sent, &a);
}

/* Failed, deferred, uncertain */

struct why_args {
	const char *why;
	int64_t now;
	const struct config_smtp *smtp;
	int state; /* enum store_draft_state */
	const char *action;
};

/* Out of the outbox and back to the review queue, as failed or uncertain. */
static int to_review(struct store_txn *t, struct store_draft *d, void *arg)
{
	struct why_args *a = arg;
	if (d->state != STORE_DRAFT_APPROVED)
		return OUTBOX_SKIP;
	d->state = a->state;
	d->send_phase = STORE_SEND_IDLE;
	d->updated = a->now;
	free(d->error);
	d->error = xstrdup(a->why);
	int rc = reindex(t, d, 0);
	if (rc == 0 && d->kind == STORE_KIND_REPLY) /* tendd's own messages are not reviewed */
		rc = requeue(t, d, a->now);
	if (rc == 0)
		rc = audit(t, d, a->action, a->why, a->now);
	return rc;
}

int outbox_record_failed(struct store *s, uint64_t draft, const char *why, int64_t now)
{
	struct why_args a = {why, now, NULL, STORE_DRAFT_FAILED, "send-failed"};
	return change_draft(s, draft, to_review, &a);
}

int outbox_record_uncertain(struct store *s, uint64_t draft, const char *why, int64_t now)
{
	struct why_args a = {why, now, NULL, STORE_DRAFT_UNCERTAIN, "send-uncertain"};
	return change_draft(s, draft, to_review, &a);
}

static int deferred(struct store_txn *t, struct store_draft *d, void *arg)
{
	struct why_args *a = arg;
	if (d->state != STORE_DRAFT_APPROVED)
		return OUTBOX_SKIP;
	int64_t give_up = a->smtp && a->smtp->give_up_after ? a->smtp->give_up_after : 2 * 86400;
	if (d->first_attempt && a->now - d->first_attempt >= give_up) {
		/* a reply that may have gone out is never called failed: that would invite a resend */
		bool handed = d->send_phase == STORE_SEND_HANDED;
		char *why = xasprintf("gave up after %d attempts: %s", d->attempts, a->why);
		struct why_args f = {why, a->now, NULL,
		                     handed ? STORE_DRAFT_UNCERTAIN : STORE_DRAFT_FAILED,
		                     handed ? "send-uncertain" : "send-failed"};
		int rc = to_review(t, d, &f);
		free(why);
		return rc;
	}
	/* "handed" stays: the Sent folder must still be searched before another attempt */
	if (d->send_phase == STORE_SEND_STARTED)
		d->send_phase = STORE_SEND_IDLE;
	free(d->error);
	d->error = xstrdup(a->why);
	int64_t next = a->now + outbox_backoff(a->smtp, d->attempts);
	int rc = reindex(t, d, next);
	if (rc == 0) {
		char *detail =
		    xasprintf("%s; next attempt in %llds", a->why, (long long)(next - a->now));
		rc = audit(t, d, "send-deferred", detail, a->now);
		free(detail);
	}
	return rc;
}

int outbox_record_deferred(struct store *s, const struct config_smtp *smtp, uint64_t draft,
                           const char *why, int64_t now)
{
	struct why_args a = {why, now, smtp, 0, NULL};
	return change_draft(s, draft, deferred, &a);
}

/* The Sent copy */

static int copy_done(struct store_txn *t, struct store_draft *d, void *arg)
{
	struct why_args *a = arg;
	if (d->state != STORE_DRAFT_SENT || !d->copy_pending)
		return OUTBOX_SKIP;
	if (a->why == NULL) {
		d->copy_pending = false;
		d->copied = a->now;
		free(d->error);
		d->error = NULL;
		return reindex(t, d, 0);
	}
	free(d->error);
	d->error = xasprintf("the copy for the Sent folder: %s", a->why);
	return reindex(t, d, a->now + outbox_backoff(NULL, 4));
}

int outbox_record_copy(struct store *s, uint64_t draft, bool ok, const char *why, int64_t now)
{
	struct why_args a = {ok ? NULL : (why ? why : "failed"), now, NULL, 0, NULL};
	return change_draft(s, draft, copy_done, &a);
}

int outbox_unlist(struct store *s, int64_t when, uint64_t draft)
{
	struct store_txn *t = NULL;
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	if ((rc = store_index_del(t, STORE_INDEX_OUTBOX, when, draft)) == 0)
		return store_commit(t);
	store_abort(t);
	return rc;
}

/* Agents' decisions */

struct decision {
	const char *agent, *os_user;
	int64_t now;
	bool mark_sent;
	char *refusal; /* why the decision does not apply */
};

static int decision_audit(struct store_txn *t, const struct store_draft *d, struct decision *dc,
                          const char *action, const char *detail)
{
	struct store_audit a = {
	    .time = dc->now,
	    .agent = (char *)dc->agent,
	    .os_user = (char *)dc->os_user,
	    .action = (char *)action,
	    .thread = d->thread,
	    .draft = d->id,
	    .detail = (char *)detail,
	};
	return store_audit_append(t, &a);
}

static int decide(struct store_txn *t, struct store_draft *d, void *arg)
{
	struct decision *dc = arg;
	bool uncertain = d->state == STORE_DRAFT_UNCERTAIN;
	if (!uncertain && (dc->mark_sent || d->state != STORE_DRAFT_FAILED)) {
		dc->refusal = xasprintf("its reply is %s, not %s", view_draft_state_name(d->state),
		                        dc->mark_sent ? "uncertain" : "failed or uncertain");
		return OUTBOX_SKIP;
	}
	int rc = 0;
	if (d->queued && (rc = store_index_del(t, STORE_INDEX_QUEUE, d->queued, d->id)) < 0)
		return rc;
	d->queued = 0;
	if (dc->mark_sent) {
		d->state = STORE_DRAFT_SENT;
		d->sent = d->last_attempt ? d->last_attempt : dc->now;
		free(d->smtp_reply);
		d->smtp_reply = xasprintf("marked as sent by %s", dc->agent);
		rc = thread_sent(t, d, d->sent);
		if (rc == 0)
			rc = decision_audit(t, d, dc, "mark-sent", d->error);
		free(d->error);
		d->error = NULL;
		return rc;
	}
	d->state = STORE_DRAFT_APPROVED;
	d->attempts = 0;
	d->first_attempt = 0;
	d->send_phase = STORE_SEND_IDLE;
	char *detail = xasprintf("sending <%s> again after: %s", d->message_id, d->error);
	free(d->error);
	d->error = NULL;
	if ((rc = reindex(t, d, dc->now)) == 0)
		rc = decision_audit(t, d, dc, "retry", detail);
	free(detail);
	return rc;
}

static int thread_draft(struct store *s, uint64_t thread, uint64_t *draft, char **err)
{
	struct store_txn *t = NULL;
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_begin(s, false, &t);
	if (rc < 0)
		return rc;
	if ((rc = store_resolve_thread(t, thread, &live)) == 0)
		rc = store_get_thread(t, live, &th);
	store_abort(t);
	if (rc == STORE_NOTFOUND)
		*err = xasprintf("there is no thread %llu", (unsigned long long)thread);
	else if (rc == 0 && th->draft == 0)
		*err = xasprintf("thread %llu has no reply waiting for a decision",
		                 (unsigned long long)thread);
	*draft = th ? th->draft : 0;
	store_thread_free(th);
	return rc < 0 ? rc : (*draft ? 0 : OUTBOX_SKIP);
}

static int decision(struct store *s, uint64_t thread, struct decision *dc, char **err)
{
	uint64_t draft;
	int rc = thread_draft(s, thread, &draft, err);
	if (rc == 0)
		rc = change_draft(s, draft, decide, dc);
	if (rc == OUTBOX_SKIP && dc->refusal)
		*err = xasprintf("thread %llu: %s", (unsigned long long)thread, dc->refusal);
	else if (rc < 0 && *err == NULL)
		*err = xasprintf("thread %llu: %s", (unsigned long long)thread, store_strerror(rc));
	free(dc->refusal);
	return rc == OUTBOX_SKIP ? -1 : rc;
}

int outbox_retry(struct store *s, uint64_t thread, const char *agent, const char *os_user,
                 char **err)
{
	struct decision dc = {agent, os_user, (int64_t)time(NULL), false, NULL};
	return decision(s, thread, &dc, err);
}

int outbox_mark_sent(struct store *s, uint64_t thread, const char *agent, const char *os_user,
                     char **err)
{
	struct decision dc = {agent, os_user, (int64_t)time(NULL), true, NULL};
	return decision(s, thread, &dc, err);
}
