/*
 * sla: escalation. A conversation still waiting for review when it passes a stage of
 * tend.yaml `escalation:` (a share of its target or a working time since the clock started,
 * for its priority and tags) gets that stage's notice, once per conversation, stage and clock:
 * the notice is an approved draft of its own (kind notice), created in the same transaction
 * that records the stage in the conversation (escalated_stages), so the outbox sends it
 * exactly as it sends replies, and a crash can neither lose nor double it. What falls due
 * together for one address (conversations at a first start on a backlog or after downtime,
 * stages passed together) is one notice, a digest listing the conversations most overdue
 * first: it belongs to the most overdue one and names the others (store_draft.digest), and
 * each shows it once it is sent.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* A conversation due for notices, with its waiting draft (both owned) and its stages due. */
struct due_one {
	struct store_thread *th;
	struct store_draft *d;
	uint64_t stages; /* bit i: config stage i is due */
};

struct due_list {
	struct due_one *v;
	size_t n;
};

struct escalation {
	const struct config *c;
	const struct rules *r;
	const struct rules_business_hours *bh;
	const char *zone;
	int64_t now;
};

/* "50%, 90%": the stages of mask, as tend.yaml writes them. */
static void put_stages(struct buf *b, const struct config *c, uint64_t mask)
{
	const char *sep = "";
	for (size_t i = 0; i < c->nstages; i++)
		if (mask & (UINT64_C(1) << i)) {
			buf_printf(b, "%s%s", sep, c->stages[i].at);
			sep = ", ";
		}
}

/* One conversation's lines in a notice: who, what, when due, where its draft stands. */
static void put_conversation(struct buf *b, const struct escalation *e, const struct due_one *o,
                             uint64_t mask)
{
	const struct store_thread *th = o->th;
	char due[64];
	struct tm tm;
	local_time_in(e->zone, th->deadline, &tm);
	strftime(due, sizeof(due), "%a %e %b %H:%M", &tm);
	buf_printf(b, "  Customer:  %s%s<%s>\n", th->customer.name ? th->customer.name : "",
	           th->customer.name ? " " : "", th->customer.addr);
	buf_printf(b, "  Subject:   %s\n", th->subject ? th->subject : "");
	buf_printf(b, "  Priority:  %s\n", rules_priority_name(th->priority));
	buf_printf(b, "  Due:       %s (", due);
	time_left(b, th->deadline, e->now);
	buf_puts(b, ")\n  Stage:     ");
	put_stages(b, e->c, mask);
	buf_printf(b, "\n  Draft:     %s%s%s\n", o->d->stale ? "stale, " : "",
	           o->d->state == STORE_DRAFT_FAILED ? "could not be sent" : "waiting for review",
	           th->assignee ? "" : ", not assigned");
	if (th->assignee)
		buf_printf(b, "  Assigned:  %s\n", th->assignee);
}

/* The stages of c that go to the address of stage i (the same address, in any case). */
static uint64_t address_mask(const struct config *c, size_t i)
{
	uint64_t m = 0;
	for (size_t j = 0; j < c->nstages; j++)
		if (strcasecmp(c->stages[j].to, c->stages[i].to) == 0)
			m |= UINT64_C(1) << j;
	return m;
}

static char *notice_body(const struct escalation *e, const struct due_list *l, uint64_t mask)
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
		put_conversation(&b, e, &l->v[i], l->v[i].stages & mask);
		if (l->n > 1)
			buf_printf(&b, "  Review it: tend show %llu\n", id);
	}
	if (l->n == 1)
		buf_printf(&b, "\nReview it with: tend show %llu\n",
		           (unsigned long long)l->v[0].th->id);
	buf_puts(&b, "\n-- \ntendd\n");
	return buf_steal(&b);
}

/* "At risk" while the deadline is ahead, "Overdue" once it has passed (a 100% stage). */
static char *notice_subject(const struct escalation *e, const struct due_list *l)
{
	const struct store_thread *th = l->v[0].th;
	size_t late = 0;
	for (size_t i = 0; i < l->n; i++)
		late += l->v[i].th->deadline <= e->now;
	if (l->n == 1)
		return xasprintf("[tend] %s: thread %llu: %s", late ? "Overdue" : "At risk",
		                 (unsigned long long)th->id, th->subject ? th->subject : "");
	if (late == 0 || late == l->n)
		return xasprintf("[tend] %s: %zu conversations, most overdue first",
		                 late ? "Overdue" : "At risk", l->n);
	return xasprintf("[tend] At risk: %zu conversations (%zu overdue), most overdue first",
	                 l->n, late);
}

/*
 * The notice to to about the conversations in l (their stages in mask): an approved draft of
 * its own, in the outbox now, in the most overdue conversation; the others it names are
 * listed in it, so each shows it once it is sent.
 */
static int queue_notice(struct store_txn *t, const struct escalation *e, const struct due_list *l,
                        const char *to, uint64_t mask)
{
	const struct store_thread *th = l->v[0].th;
	struct message_addr rcpt = {NULL, (char *)to};
	struct store_draft n = {
	    .thread = th->id,
	    .state = STORE_DRAFT_APPROVED,
	    .kind = STORE_KIND_NOTICE,
	    .approved_by = "tendd",
	    .approved = e->now,
	    .created = e->now,
	    .updated = e->now,
	    .next_attempt = e->now,
	    .account = th->account,
	};
	n.to = (struct message_addrs){&rcpt, 1};
	int rc = store_next_id(t, STORE_COUNTER_DRAFT, &n.id);
	if (rc < 0)
		return rc;
	for (size_t i = 1; i < l->n; i++)
		idvec_push(&n.digest, l->v[i].th->id);
	n.subject = notice_subject(e, l);
	n.body = notice_body(e, l, mask);
	n.message_id = review_message_id(e->c, th, &n);
	if ((rc = store_put_draft(t, &n)) == 0)
		rc = store_index_put(t, STORE_INDEX_OUTBOX, e->now, n.id);
	idvec_free(&n.digest);
	free(n.subject);
	free(n.body);
	free(n.message_id);
	return rc;
}

static bool any_tag(const struct strvec *want, const struct strvec *have)
{
	for (size_t i = 0; i < want->n; i++)
		if (strvec_contains(have, want->v[i]))
			return true;
	return false;
}

/* When stage st falls due for th's clock; 0: never (not for its priority or tags). */
static int64_t stage_time(const struct escalation *e, const struct config_stage *st,
                          const struct store_thread *th)
{
	if (st->priorities && !(th->priority >= 0 && th->priority < RULES_NPRIORITIES &&
	                        st->priorities & (1u << th->priority)))
		return 0;
	if (st->tags.n > 0 && !any_tag(&st->tags, &th->tags))
		return 0;
	if (st->after)
		return sla_deadline(e->bh, th->clock_start, st->after);
	if (e->r == NULL) /* no rules at hand: the target the deadline was set with, wall-clock */
		return th->clock_start + (th->deadline - th->clock_start) * st->share / 100;
	const struct rules_sla *sla = rules_sla(e->r);
	int p = th->priority >= 0 && th->priority < RULES_NPRIORITIES ? th->priority
	                                                              : RULES_PRIORITY_NORMAL;
	return sla_share(e->bh, th->clock_start, sla->target[p], st->share);
}

/* Stage i already sent for th's clock. A store from before stages recorded one notice: the
 * first stage's. */
static bool fired(const struct config *c, const struct store_thread *th, size_t i)
{
	if (th->escalated == 0 || th->escalated != th->clock_start)
		return false;
	if (th->escalated_stages.n == 0)
		return i == 0;
	return strvec_contains(&th->escalated_stages, c->stages[i].key);
}

/* The stages due for a conversation: open, waiting for review, past them, not yet sent. */
static uint64_t due(const struct escalation *e, const struct store_thread *th,
                    const struct store_draft *d)
{
	bool waiting = d->state == STORE_DRAFT_PROPOSED || d->state == STORE_DRAFT_FAILED;
	if (!waiting || th->draft != d->id || th->state != STORE_THREAD_OPEN || !th->clock_start)
		return 0;
	uint64_t m = 0;
	for (size_t i = 0; i < e->c->nstages; i++) {
		int64_t at = stage_time(e, &e->c->stages[i], th);
		if (at && e->now >= at && !fired(e->c, th, i))
			m |= UINT64_C(1) << i;
	}
	return m;
}

static int audit_notice(struct store_txn *t, const struct escalation *e,
                        const struct store_thread *th, const struct config_stage *st)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "notice to %s (%s): ", st->to, st->at);
	time_left(&b, th->deadline, e->now);
	struct store_audit a = {.time = e->now,
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

static bool escalate_pick(const struct store_thread *th, const struct store_draft *d, void *arg)
{
	return due(arg, th, d) != 0;
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
		struct due_one one = {0};
		int rc = load(t, drafts->v[i], &one.d, &one.th);
		if (rc < 0)
			return rc;
		if (one.d && (one.stages = due(e, one.th, one.d)) != 0) {
			l->v[l->n++] = one;
			continue;
		}
		store_draft_free(one.d);
		store_thread_free(one.th);
	}
	qsort(l->v, l->n, sizeof(*l->v), by_deadline);
	return 0;
}

/* One notice per address: the conversations with a stage due for it, most overdue first. */
static int queue_notices(struct store_txn *t, const struct escalation *e, const struct due_list *l)
{
	struct due_list to = {xcalloc(l->n + 1, sizeof(*to.v)), 0}; /* lent from l */
	uint64_t done = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < e->c->nstages; i++) {
		uint64_t mask = address_mask(e->c, i);
		if (done & mask)
			continue;
		done |= mask;
		to.n = 0;
		for (size_t j = 0; j < l->n; j++)
			if (l->v[j].stages & mask)
				to.v[to.n++] = l->v[j];
		if (to.n > 0)
			rc = queue_notice(t, e, &to, e->c->stages[i].to, mask);
	}
	free(to.v);
	return rc;
}

/* Records the stages sent in the conversation, for its clock, and audits each. */
static int mark_sent(struct store_txn *t, const struct escalation *e, struct due_one *o)
{
	struct store_thread *th = o->th;
	if (th->escalated != th->clock_start || th->escalated_stages.n == 0) {
		bool legacy = th->escalated && th->escalated == th->clock_start;
		strvec_free(&th->escalated_stages);
		if (legacy) /* the one notice an older tendd sent: the first stage's */
			strvec_push(&th->escalated_stages, e->c->stages[0].key);
	}
	th->escalated = th->clock_start;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < e->c->nstages; i++) {
		const struct config_stage *st = &e->c->stages[i];
		if (!(o->stages & (UINT64_C(1) << i)))
			continue;
		strvec_push(&th->escalated_stages, st->key);
		rc = audit_notice(t, e, th, st);
		log_info("thread %llu is at risk: notice to %s (%s) queued",
		         (unsigned long long)th->id, st->to, st->at);
	}
	return rc == 0 ? store_put_thread(t, th) : rc;
}

/* What falls due together is queued in one transaction: all or none. */
static int escalate_all(struct store *s, const struct escalation *e, const struct idvec *drafts)
{
	struct store_txn *t = NULL;
	struct due_list l = {0};
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	if ((rc = still_due(t, drafts, e, &l)) == 0 && l.n > 0)
		rc = queue_notices(t, e, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = mark_sent(t, e, &l.v[i]);
	if (rc == 0 && l.n > 0)
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
	if (c->nstages == 0)
		return 0;
	const struct rules_business_hours *bh = r ? rules_business_hours(r) : NULL;
	struct escalation e = {c, r, bh, bh && bh->set ? bh->timezone : NULL, now};
	struct idvec drafts = {0};
	int rc = sla_collect(s, escalate_pick, &e, &drafts);
	if (rc == 0 && drafts.n > 0 && (rc = escalate_all(s, &e, &drafts)) > 0)
		*queued = (unsigned)rc;
	idvec_free(&drafts);
	return rc < 0 ? rc : 0;
}
