/*
 * sla: escalation. A conversation still waiting for review when it passes the escalation
 * share of its target (tend.yaml `escalation: {to, at}`) gets one notice to the escalation
 * address, once per conversation and clock: the notice is an approved draft of its own
 * (kind notice), created in the same transaction that marks the conversation escalated, so
 * the outbox sends it exactly as it sends replies, and a crash can neither lose nor double it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/review.h"
#include "tend/rules.h"
#include "tend/sla.h"
#include "tend/util.h"

#include "sla_int.h"

/* "in 58 min", "overdue by 2 h 5 min" */
static void time_left(struct buf *b, int64_t deadline, int64_t now)
{
	int64_t d = deadline - now, a = d < 0 ? -d : d;
	const char *pre = d < 0 ? "overdue by " : "in ";
	if (a >= 86400)
		buf_printf(b, "%s%lld d %lld h", pre, (long long)(a / 86400),
		           (long long)(a % 86400 / 3600));
	else if (a >= 3600)
		buf_printf(b, "%s%lld h %lld min", pre, (long long)(a / 3600),
		           (long long)(a % 3600 / 60));
	else
		buf_printf(b, "%s%lld min", pre, (long long)((a + 59) / 60));
}

static char *notice_body(const struct store_thread *th, const struct store_draft *reply,
                         const char *zone, int64_t now)
{
	struct buf b = BUF_INIT;
	char due[64];
	struct tm tm;
	local_time_in(zone, th->deadline, &tm);
	strftime(due, sizeof(due), "%a %e %b %H:%M", &tm);
	buf_printf(&b,
	           "Conversation %llu has waited past its escalation point and has no approved "
	           "reply yet.\n\n",
	           (unsigned long long)th->id);
	buf_printf(&b, "  Customer:  %s%s<%s>\n", th->customer.name ? th->customer.name : "",
	           th->customer.name ? " " : "", th->customer.addr);
	buf_printf(&b, "  Subject:   %s\n", th->subject ? th->subject : "");
	buf_printf(&b, "  Priority:  %s\n", rules_priority_name(th->priority));
	buf_printf(&b, "  Due:       %s (", due);
	time_left(&b, th->deadline, now);
	buf_puts(&b, ")\n");
	buf_printf(&b, "  Draft:     %s%s%s\n", reply->stale ? "stale, " : "",
	           reply->state == STORE_DRAFT_FAILED ? "could not be sent" : "waiting for review",
	           th->assignee ? "" : ", not assigned");
	if (th->assignee)
		buf_printf(&b, "  Assigned:  %s\n", th->assignee);
	buf_printf(&b, "\nReview it with: tend show %llu\n\n-- \ntendd\n",
	           (unsigned long long)th->id);
	return buf_steal(&b);
}

/* The notice: an approved draft of its own, in the outbox now. */
static int queue_notice(struct store_txn *t, const struct config *c, struct store_thread *th,
                        const struct store_draft *reply, const char *zone, int64_t now)
{
	struct message_addr to = {NULL, c->escalation_to};
	struct store_draft n = {
	    .thread = th->id,
	    .state = STORE_DRAFT_APPROVED,
	    .kind = STORE_KIND_NOTICE,
	    .approved_by = "tendd",
	    .approved = now,
	    .created = now,
	    .updated = now,
	    .next_attempt = now,
	    .account = th->account,
	};
	n.to = (struct message_addrs){&to, 1};
	int rc = store_next_id(t, STORE_COUNTER_DRAFT, &n.id);
	if (rc < 0)
		return rc;
	n.subject = xasprintf("[tend] At risk: thread %llu: %s", (unsigned long long)th->id,
	                      th->subject ? th->subject : "");
	n.body = notice_body(th, reply, zone, now);
	n.message_id = review_message_id(c, th, &n);
	if ((rc = store_put_draft(t, &n)) == 0)
		rc = store_index_put(t, STORE_INDEX_OUTBOX, now, n.id);
	free(n.subject);
	free(n.body);
	free(n.message_id);
	return rc;
}

/* Due for a notice: open, past its escalation point, not yet escalated for this clock. */
static bool due(const struct store_thread *th, const struct store_draft *d, int64_t now)
{
	bool waiting = d->state == STORE_DRAFT_PROPOSED || d->state == STORE_DRAFT_FAILED;
	return waiting && th->draft == d->id && th->state == STORE_THREAD_OPEN && th->clock_start &&
	       th->risk_at && now >= th->risk_at && th->escalated != th->clock_start;
}

static int audit_notice(struct store_txn *t, const struct config *c, const struct store_thread *th,
                        int64_t now)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "notice to %s: ", c->escalation_to);
	time_left(&b, th->deadline, now);
	struct store_audit a = {.time = now,
	                        .agent = "tendd",
	                        .os_user = "tendd",
	                        .action = "escalate",
	                        .thread = th->id,
	                        .draft = th->draft,
	                        .detail = b.data};
	int rc = store_audit_append(t, &a);
	buf_free(&b);
	return rc;
}

struct escalation {
	const struct config *c;
	const char *zone;
	int64_t now;
};

static bool escalate_pick(const struct store_thread *th, const struct store_draft *d, void *arg)
{
	return due(th, d, ((struct escalation *)arg)->now);
}

static int escalate_act(struct store_txn *t, struct store_thread *th, const struct store_draft *d,
                        void *arg)
{
	struct escalation *e = arg;
	th->escalated = th->clock_start;
	int rc = queue_notice(t, e->c, th, d, e->zone, e->now);
	if (rc == 0 && (rc = store_put_thread(t, th)) == 0 &&
	    (rc = audit_notice(t, e->c, th, e->now)) == 0) {
		log_info("thread %llu is at risk: notice to %s queued", (unsigned long long)th->id,
		         e->c->escalation_to);
		rc = 1;
	}
	return rc;
}

int sla_escalate(struct store *s, const struct config *c, const struct rules *r, int64_t now,
                 unsigned *queued)
{
	*queued = 0;
	if (c->escalation_to == NULL)
		return 0;
	const struct rules_business_hours *bh = r ? rules_business_hours(r) : NULL;
	struct escalation e = {c, bh && bh->set ? bh->timezone : NULL, now};
	int rc = sla_each_waiting(s, escalate_pick, escalate_act, &e);
	if (rc > 0)
		*queued = (unsigned)rc;
	return rc < 0 ? rc : 0;
}

/* Shared with sla_holding.c */

struct waiting {
	struct store_txn *t;
	sla_pick_fn pick;
	void *arg;
	struct idvec drafts;
};

/* The draft and its live thread; both NULL (and 0 returned) when either is gone. */
static int load(struct store_txn *t, uint64_t draft, struct store_draft **d,
                struct store_thread **th)
{
	uint64_t live;
	*d = NULL;
	*th = NULL;
	int rc = store_get_draft(t, draft, d);
	if (rc == 0 && (rc = store_resolve_thread(t, (*d)->thread, &live)) == 0)
		rc = store_get_thread(t, live, th);
	if (rc < 0) {
		store_draft_free(*d);
		*d = NULL;
	}
	return rc == STORE_NOTFOUND ? 0 : rc;
}

static int look(int64_t when, uint64_t draft, void *arg)
{
	(void)when;
	struct waiting *w = arg;
	struct store_draft *d;
	struct store_thread *th;
	int rc = load(w->t, draft, &d, &th);
	if (rc == 0 && d && w->pick(th, d, w->arg) && !idvec_contains(&w->drafts, draft))
		idvec_push(&w->drafts, draft);
	store_draft_free(d);
	store_thread_free(th);
	return rc;
}

static int act_one(struct store *s, uint64_t draft, const struct waiting *w, sla_act_fn act)
{
	struct store_txn *t = NULL;
	struct store_draft *d;
	struct store_thread *th;
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	if ((rc = load(t, draft, &d, &th)) == 0 && d && w->pick(th, d, w->arg))
		rc = act(t, th, d, w->arg);
	if (rc == 1 && (rc = store_commit(t)) == 0)
		rc = 1;
	else if (rc != 1)
		store_abort(t);
	store_draft_free(d);
	store_thread_free(th);
	return rc;
}

int sla_each_waiting(struct store *s, sla_pick_fn pick, sla_act_fn act, void *arg)
{
	struct waiting w = {.pick = pick, .arg = arg};
	int rc = store_begin(s, false, &w.t);
	if (rc < 0)
		return rc;
	rc = store_foreach_index(w.t, STORE_INDEX_QUEUE, look, &w);
	store_abort(w.t);
	int done = 0;
	for (size_t i = 0; rc >= 0 && i < w.drafts.n; i++)
		if ((rc = act_one(s, w.drafts.v[i], &w, act)) > 0)
			done++;
	idvec_free(&w.drafts);
	return rc < 0 ? rc : done;
}
