/*
 * sla: the holding reply. Off unless rules.yaml has `holding_reply: {template, at}`. A
 * conversation still waiting for review when it reaches that share of its target gets one
 * message, written by the operators' template, telling the customer honestly when a person
 * will answer. It is sent at most once per conversation, never to an address that got one in
 * the last day, never to an address that bounced or to our own, and never for automatic mail
 * or mailing lists (those never wait for review), and never once it would be late: when the
 * deadline it names has passed or the message is older than its target. It carries Auto-Submitted: auto-replied and
 * does not stop the clock. Like escalation notices, it is an approved draft of its own (kind
 * holding), created in the transaction that marks the conversation, and sent by the outbox.
 */
#include <stdlib.h>
#include <string.h>

#include "tend/draft.h"
#include "tend/review.h"
#include "tend/rules.h"
#include "tend/sla.h"
#include "tend/util.h"

#include "sla_int.h"

#define DAY 86400

struct holding {
	const struct config *c;
	const struct rules *r;
	const struct template *t;
	int at;
	int64_t now;
};

static bool ours(const struct config *c, const char *addr)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].address && str_ieq(c->accounts[i].address, addr))
			return true;
	return false;
}

/* Waiting for review, past the holding share of its target, and never given one. */
static bool due(const struct holding *h, const struct store_thread *th, const struct store_draft *d)
{
	if (d->state != STORE_DRAFT_PROPOSED || th->draft != d->id ||
	    th->state != STORE_THREAD_OPEN || !th->clock_start || th->holding_sent ||
	    !th->customer.addr || !*th->customer.addr)
		return false;
	char *addr = str_lower(xstrdup(th->customer.addr));
	bool bounced = strvec_contains(&th->bounced, addr);
	free(addr);
	if (bounced || ours(h->c, th->customer.addr))
		return false;
	int p = th->priority >= 0 && th->priority < RULES_NPRIORITIES ? th->priority : 1;
	int64_t target = rules_sla(h->r)->target[p];
	const struct rules_business_hours *bh = rules_business_hours(h->r);
	/* Too late to be honest: the deadline it would name has passed, or the message is older
	 * than its target (a backlog after downtime or at the first start). */
	if (h->now >= th->deadline || h->now >= sla_deadline(bh, th->clock_start, target))
		return false;
	return h->now >= sla_share(bh, th->clock_start, target, h->at);
}

/* The holding reply: to the customer, in the conversation, approved by tendd. */
static int queue_reply(struct store_txn *t, const struct holding *h, const struct store_thread *th,
                       const struct store_draft *reply)
{
	const struct rules_business_hours *bh = rules_business_hours(h->r);
	struct store_draft n = {
	    .thread = th->id,
	    .state = STORE_DRAFT_APPROVED,
	    .kind = STORE_KIND_HOLDING,
	    .subject = reply->subject,
	    .in_reply_to = reply->in_reply_to,
	    .references = reply->references,
	    .approved_by = "tendd",
	    .approved = h->now,
	    .created = h->now,
	    .updated = h->now,
	    .next_attempt = h->now,
	    .account = th->account,
	};
	struct message_addr to = th->customer;
	n.to = (struct message_addrs){&to, 1};
	int rc = store_next_id(t, STORE_COUNTER_DRAFT, &n.id);
	if (rc < 0)
		return rc;
	n.body = draft_render(h->t, th, th->deadline, bh && bh->set ? bh->timezone : NULL);
	n.message_id = review_message_id(h->c, th, &n);
	if ((rc = store_put_draft(t, &n)) == 0)
		rc = store_index_put(t, STORE_INDEX_OUTBOX, h->now, n.id);
	free(n.body);
	free(n.message_id);
	return rc;
}

static int audit_reply(struct store_txn *t, const struct store_thread *th, const char *detail,
                       int64_t now)
{
	struct store_audit a = {.time = now,
	                        .agent = "tendd",
	                        .os_user = "tendd",
	                        .action = "holding-reply",
	                        .thread = th->id,
	                        .draft = th->draft,
	                        .detail = (char *)detail};
	return store_audit_append(t, &a);
}

/* Marks the thread and queues its holding reply, unless the address had one today. */
static int hold(struct store_txn *t, const struct holding *h, struct store_thread *th,
                const struct store_draft *d)
{
	char *addr = str_lower(xstrdup(th->customer.addr));
	int64_t last = 0;
	int rc = store_get_autoreply(t, addr, &last);
	if (rc == 0 && last && h->now - last < DAY) {
		free(addr);
		return 0;
	}
	th->holding_sent = h->now;
	char *detail = xasprintf("to %s", addr);
	if (rc == 0 && (rc = queue_reply(t, h, th, d)) == 0 &&
	    (rc = store_put_autoreply(t, addr, th->id, h->now)) == 0 &&
	    (rc = store_put_thread(t, th)) == 0 && (rc = audit_reply(t, th, detail, h->now)) == 0)
		rc = 1;
	free(detail);
	free(addr);
	return rc;
}

static bool holding_pick(const struct store_thread *th, const struct store_draft *d, void *arg)
{
	return due(arg, th, d);
}

static int holding_act(struct store_txn *t, struct store_thread *th, const struct store_draft *d,
                       void *arg)
{
	int rc = hold(t, arg, th, d);
	if (rc == 1)
		log_info("thread %llu: holding reply to %s queued", (unsigned long long)th->id,
		         th->customer.addr);
	return rc;
}

int sla_holding(struct store *s, const struct config *c, const struct rules *r, int64_t now,
                unsigned *queued)
{
	struct holding h = {.c = c, .r = r, .now = now};
	*queued = 0;
	if (r == NULL || (h.t = rules_holding(r, &h.at)) == NULL)
		return 0;
	int rc = sla_each_waiting(s, holding_pick, holding_act, &h);
	if (rc > 0)
		*queued = (unsigned)rc;
	return rc < 0 ? rc : 0;
}
