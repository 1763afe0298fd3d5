/*
 * sla: escalation. A conversation still waiting for review when it passes the escalation
 * share of its target (tend.yaml `escalation: {to, at}`) gets one notice to the escalation
 * address, once per conversation and clock: the notice is an approved draft of its own
 * (kind notice), created in the same transaction that marks the conversation escalated, so
 * the outbox sends it exactly as it sends replies, and a crash can neither lose nor double it.
 * The conversations that fall due together (at a first start on a backlog, after downtime)
 * get one notice, a digest listing them most overdue first: it belongs to the most overdue
 * one and names the others (store_draft.digest), and each shows it once it is sent.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/review.h"
#include "tend/rules.h"
#include "tend/sla.h"
#include "tend/util.h"

#include "sla_int.h"

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

/* The drafts in the review queue that pick chooses, with their live threads. */
static int sla_collect(struct store *s, sla_pick_fn pick, void *arg, struct idvec *drafts)
{
	struct waiting w = {.pick = pick, .arg = arg};
	int rc = store_begin(s, false, &w.t);
	if (rc < 0)
		return rc;
	rc = store_foreach_index(w.t, STORE_INDEX_QUEUE, look, &w);
	store_abort(w.t);
	*drafts = w.drafts;
	return rc < 0 ? rc : 0;
}

int sla_each_waiting(struct store *s, sla_pick_fn pick, sla_act_fn act, void *arg)
{
	struct waiting w = {.pick = pick, .arg = arg};
	int rc = sla_collect(s, pick, arg, &w.drafts);
	int done = 0;
	for (size_t i = 0; rc >= 0 && i < w.drafts.n; i++)
		if ((rc = act_one(s, w.drafts.v[i], &w, act)) > 0)
			done++;
	idvec_free(&w.drafts);
	return rc < 0 ? rc : done;
}

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

/* One conversation's lines in a notice: who, what, when due, where its draft stands. */
static void put_conversation(struct buf *b, const struct store_thread *th,
                             const struct store_draft *reply, const char *zone, int64_t now)
{
	char due[64];
	struct tm tm;
	local_time_in(zone, th->deadline, &tm);
	strftime(due, sizeof(due), "%a %e %b %H:%M", &tm);
	buf_printf(b, "  Customer:  %s%s<%s>\n", th->customer.name ? th->customer.name : "",
	           th->customer.name ? " " : "", th->customer.addr);
	buf_printf(b, "  Subject:   %s\n", th->subject ? th->subject : "");
	buf_printf(b, "  Priority:  %s\n", rules_priority_name(th->priority));
	buf_printf(b, "  Due:       %s (", due);
	time_left(b, th->deadline, now);
	buf_puts(b, ")\n");
	buf_printf(b, "  Draft:     %s%s%s\n", reply->stale ? "stale, " : "",
	           reply->state == STORE_DRAFT_FAILED ? "could not be sent" : "waiting for review",
	           th->assignee ? "" : ", not assigned");
	if (th->assignee)
		buf_printf(b, "  Assigned:  %s\n", th->assignee);
}

/* A conversation due for a notice, with its waiting draft; both owned. */
struct due_one {
	struct store_thread *th;
	struct store_draft *d;
};

struct due_list {
	struct due_one *v;
	size_t n;
};

static char *notice_body(const struct due_list *l, const char *zone, int64_t now)
{
	struct buf b = BUF_INIT;
	if (l->n == 1)
		buf_printf(&b,
		           "Conversation %llu has waited past its escalation point and has no "
		           "approved reply yet.\n\n",
		           (unsigned long long)l->v[0].th->id);
	else
		buf_printf(&b,
		           "%zu conversations have waited past their escalation point and have no "
		           "approved reply yet, most overdue first.\n",
		           l->n);
	for (size_t i = 0; i < l->n; i++) {
		unsigned long long id = (unsigned long long)l->v[i].th->id;
		if (l->n > 1)
			buf_printf(&b, "\nConversation %llu\n", id);
		put_conversation(&b, l->v[i].th, l->v[i].d, zone, now);
		if (l->n > 1)
			buf_printf(&b, "  Review it: tend show %llu\n", id);
	}
	if (l->n == 1)
		buf_printf(&b, "\nReview it with: tend show %llu\n",
		           (unsigned long long)l->v[0].th->id);
	buf_puts(&b, "\n-- \ntendd\n");
	return buf_steal(&b);
}

static char *notice_subject(const struct due_list *l)
{
	const struct store_thread *th = l->v[0].th;
	if (l->n > 1)
		return xasprintf("[tend] At risk: %zu conversations, most overdue first", l->n);
	return xasprintf("[tend] At risk: thread %llu: %s", (unsigned long long)th->id,
	                 th->subject ? th->subject : "");
}

/*
 * The notice: an approved draft of its own, in the outbox now, in the most overdue
 * conversation; the others it names are listed in it, so each shows it once it is sent.
 */
static int queue_notice(struct store_txn *t, const struct config *c, const struct due_list *l,
                        const char *zone, int64_t now)
{
	const struct store_thread *th = l->v[0].th;
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
	for (size_t i = 1; i < l->n; i++)
		idvec_push(&n.digest, l->v[i].th->id);
	n.subject = notice_subject(l);
	n.body = notice_body(l, zone, now);
	n.message_id = review_message_id(c, th, &n);
	if ((rc = store_put_draft(t, &n)) == 0)
		rc = store_index_put(t, STORE_INDEX_OUTBOX, now, n.id);
	idvec_free(&n.digest);
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

static int by_deadline(const void *a, const void *b)
{
	int64_t x = ((const struct due_one *)a)->th->deadline;
	int64_t y = ((const struct due_one *)b)->th->deadline;
	return x < y ? -1 : x > y;
}

static void due_list_free(struct due_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		store_thread_free(l->v[i].th);
		store_draft_free(l->v[i].d);
	}
	free(l->v);
}

/* The drafts picked, read afresh in t, those still due, most overdue first. */
static int still_due(struct store_txn *t, const struct idvec *drafts, const struct escalation *e,
                     struct due_list *l)
{
	l->v = xcalloc(drafts->n + 1, sizeof(*l->v));
	l->n = 0;
	for (size_t i = 0; i < drafts->n; i++) {
		struct due_one one;
		int rc = load(t, drafts->v[i], &one.d, &one.th);
		if (rc < 0)
			return rc;
		if (one.d && due(one.th, one.d, e->now)) {
			l->v[l->n++] = one;
			continue;
		}
		store_draft_free(one.d);
		store_thread_free(one.th);
	}
	qsort(l->v, l->n, sizeof(*l->v), by_deadline);
	return 0;
}

/* Marks every conversation escalated and queues the one notice naming them all. */
static int escalate_in(struct store_txn *t, const struct escalation *e, const struct due_list *l)
{
	int rc = queue_notice(t, e->c, l, e->zone, e->now);
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct store_thread *th = l->v[i].th;
		th->escalated = th->clock_start;
		if ((rc = store_put_thread(t, th)) == 0)
			rc = audit_notice(t, e->c, th, e->now);
		if (rc == 0)
			log_info("thread %llu is at risk: notice to %s queued",
			         (unsigned long long)th->id, e->c->escalation_to);
	}
	return rc;
}

/* The conversations due together get one notice, in one transaction: all or none. */
static int escalate_all(struct store *s, const struct escalation *e, const struct idvec *drafts)
{
	struct store_txn *t = NULL;
	struct due_list l = {0};
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	if ((rc = still_due(t, drafts, e, &l)) == 0 && l.n > 0 && (rc = escalate_in(t, e, &l)) == 0)
		rc = store_commit(t);
	else
		store_abort(t);
	size_t n = l.n;
	due_list_free(&l);
	return rc < 0 ? rc : (int)n;
}

int sla_escalate(struct store *s, const struct config *c, const struct rules *r, int64_t now,
                 unsigned *queued)
{
	*queued = 0;
	if (c->escalation_to == NULL)
		return 0;
	const struct rules_business_hours *bh = r ? rules_business_hours(r) : NULL;
	struct escalation e = {c, bh && bh->set ? bh->timezone : NULL, now};
	struct idvec drafts = {0};
	int rc = sla_collect(s, escalate_pick, &e, &drafts);
	if (rc == 0 && drafts.n > 0 && (rc = escalate_all(s, &e, &drafts)) > 0)
		*queued = (unsigned)rc;
	idvec_free(&drafts);
	return rc < 0 ? rc : 0;
}
