/*
 * classify_bounce: a reply of ours that bounced comes back to review.
 *
 * The report quotes our reply's Message-ID; the msgids database names the draft that sent it,
 * whose body is the text as sent. When one of the addresses the report names as failed is a
 * recipient of that reply, the conversation is open again: a new draft carries the bounced
 * text, marked with what the bounce said, addressed to another address the customer gave in
 * this conversation, or to nobody (approval is refused until it has a recipient). Holding
 * replies and escalation notices that bounce only flag the address: no customer waits on them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "classify_int.h"
#include "tend/draft.h"

/* The failed address that the reply went to (To or Cc), or NULL. */
static const char *failed_recipient(const struct store_draft *d, const struct bounce_info *b)
{
	for (size_t i = 0; i < d->to.n + d->cc.n; i++) {
		const struct message_addr *a = i < d->to.n ? &d->to.v[i] : &d->cc.v[i - d->to.n];
		for (size_t j = 0; a->addr && j < b->recipients.n; j++)
			if (strcasecmp(a->addr, b->recipients.v[j]) == 0)
				return b->recipients.v[j];
	}
	return NULL;
}

static bool in_list(const struct message_addrs *as, const char *addr)
{
	for (size_t i = 0; i < as->n; i++)
		if (as->v[i].addr && strcasecmp(as->v[i].addr, addr) == 0)
			return true;
	return false;
}

/* An address to send the bounced reply to instead: not bounced, not ours, not one that the
 * reply already went to (those that did not fail have it). */
static bool usable(struct classify *cl, const struct store_thread *th, const struct store_draft *d,
                   const char *addr)
{
	if (addr == NULL || strchr(addr, '@') == NULL)
		return false;
	const struct strvec *own = classify_own(cl);
	for (size_t i = 0; i < own->n; i++)
		if (strcasecmp(own->v[i], addr) == 0)
			return false;
	char *low = str_lower(xstrdup(addr));
	bool ok =
	    !strvec_contains(&th->bounced, low) && !in_list(&d->to, addr) && !in_list(&d->cc, addr);
	free(low);
	return ok;
}

/*
 * Where a customer message asked to be answered: its Reply-To, unless that was not followed
 * (STORE_MSG_REPLY_TO_HELD: a stranger's address), else its sender. A From beside a Reply-To
 * is left out: a form or shop platform writes from an address nobody reads.
 */
static bool pick(struct classify *cl, const struct store_thread *th, const struct store_draft *d,
                 const struct store_message *m, struct message_addr *out)
{
	if (m->flags & (STORE_MSG_OURS | STORE_MSG_UNVERIFIED | STORE_MSG_AUTOMATED))
		return false;
	bool reply_to = m->reply_to.n && !(m->flags & STORE_MSG_REPLY_TO_HELD);
	const struct message_addr *v = reply_to ? m->reply_to.v : &m->from;
	size_t n = reply_to ? m->reply_to.n : 1;
	for (size_t i = 0; i < n; i++) {
		if (!usable(cl, th, d, v[i].addr))
			continue;
		out->name = v[i].name ? xstrdup(v[i].name) : NULL;
		out->addr = xstrdup(v[i].addr);
		return true;
	}
	return false;
}

/* Another address of the customer in this conversation, the latest first: 1 with *out set
 * (caller frees its strings), 0 when there is none, or a store code. */
static int other_address(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                         const struct store_draft *d, struct message_addr *out)
{
	for (size_t i = th->messages.n; i-- > 0;) {
		struct store_message *m = NULL;
		int rc = store_get_message(t, th->messages.v[i], &m);
		if (rc == STORE_NOTFOUND) /* the report itself, stored after this */
			continue;
		if (rc < 0)
			return rc;
		bool found = pick(cl, th, d, m, out);
		store_message_free(m);
		if (found)
			return 1;
	}
	return 0;
}

/* The new draft: the bounced reply's text and threading, to the other address if any. */
static int new_draft(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                     const struct store_draft *d, struct store_draft **out)
{
	struct store_draft *nd = xcalloc(1, sizeof(*nd));
	struct message_addr to = {NULL, NULL};
	int rc = store_next_id(t, STORE_COUNTER_DRAFT, &nd->id);
	if (rc == 0)
		rc = other_address(cl, t, th, d, &to);
	if (rc < 0) {
		store_draft_free(nd);
		return rc;
	}
	if (rc == 1)
		message_addrs_add(&nd->to, &to);
	free(to.name);
	free(to.addr);
	draft_copy_reply(nd, d, false);
	nd->thread = th->id;
	nd->body = xstrdup(d->body ? d->body : "");
	nd->resend_of = d->id;
	nd->created = nd->updated = (int64_t)time(NULL);
	*out = nd;
	return 0;
}

/*
 * The conversation needs an answer again, from the bounce's arrival: until then the team
 * believed the customer answered. When the reply was the first response, that response did
 * not happen: the next reply accepted is the first (first_clock and first_deadline stay, so
 * the statistics measure it against the customer's first message and target).
 */
static void reopen_for(struct classify *cl, struct store_thread *th, const struct store_draft *d,
                       const struct store_message *rec)
{
	th->state = STORE_THREAD_OPEN;
	th->settled = 0;
	th->resolved = 0;
	th->clock_start = rec->received;
	classify_set_deadline(cl, th);
	if (th->first_response && th->first_response == d->sent && !th->first_bounced) {
		th->first_bounced = rec->received;
		th->first_response = 0;
		free(th->first_agent);
		th->first_agent = NULL;
	}
}

static char *back_detail(const struct store_draft *d, const char *note,
                         const struct store_draft *nd)
{
	char *to = nd->to.n ? xasprintf("to %s", nd->to.v[0].addr)
	                    : xstrdup("with no recipient: the customer gave no other address");
	char *s = xasprintf("%s: reply %llu is back in review as draft %llu, %s", note,
	                    (unsigned long long)d->id, (unsigned long long)nd->id, to);
	free(to);
	return s;
}

/* Brings the bounced reply d back as the thread's draft. */
static int bring_back(struct classify *cl, struct store_txn *t, struct store_thread *th,
                      const struct store_draft *d, const struct store_message *rec,
                      const char *note)
{
	struct store_draft *nd = NULL;
	int rc = new_draft(cl, t, th, d, &nd);
	if (rc < 0)
		return rc;
	nd->bounce = xstrdup(note);
	reopen_for(cl, th, d, rec);
	th->draft = nd->id;
	nd->queued = th->deadline;
	if ((rc = store_index_put(t, STORE_INDEX_QUEUE, nd->queued, nd->id)) == 0 &&
	    (rc = store_put_draft(t, nd)) == 0 && (rc = store_put_thread(t, th)) == 0)
		rc = classify_audit(cl, t, "bounced", th->id, nd->id, back_detail(d, note, nd));
	store_draft_free(nd);
	return rc;
}

/* The thread has an open draft already (the customer wrote again): it is marked, not
 * replaced; a second report of the same reply changes nothing. */
static int mark_open(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                     const struct store_draft *d, const char *note)
{
	struct store_draft *cur = NULL;
	int rc = store_get_draft(t, th->draft, &cur);
	if (rc < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	bool waiting = cur->state == STORE_DRAFT_PROPOSED || cur->state == STORE_DRAFT_FAILED;
	if (cur->resend_of != d->id && waiting) {
		free(cur->bounce);
		cur->bounce = xstrdup(note);
		if ((rc = store_put_draft(t, cur)) == 0)
			rc = classify_audit(
			    cl, t, "bounced", th->id, cur->id,
			    xasprintf("%s: reply %llu came back; the open draft stays as it is",
			              note, (unsigned long long)d->id));
	}
	store_draft_free(cur);
	return rc;
}

/* One quoted Message-ID that tend sent: its reply comes back if it went to a failed address. */
static int back_one(struct classify *cl, struct store_txn *t, uint64_t draft,
                    const struct store_message *rec, const struct bounce_info *b)
{
	struct store_draft *d = NULL;
	struct store_thread *th = NULL;
	const char *failed;
	char *note = NULL;
	uint64_t live;
	int rc = store_get_draft(t, draft, &d);
	if (rc < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (d->kind != STORE_KIND_REPLY || d->state != STORE_DRAFT_SENT ||
	    (failed = failed_recipient(d, b)) == NULL)
		goto out;
	if ((rc = store_resolve_thread(t, d->thread, &live)) < 0 ||
	    (rc = store_get_thread(t, live, &th)) < 0)
		goto out;
	note = xasprintf("our reply to %s bounced (%s)", failed,
	                 b->diagnostic ? b->diagnostic : "no reason given");
	if (th->draft)
		rc = mark_open(cl, t, th, d, note);
	else
		rc = bring_back(cl, t, th, d, rec, note);
out:
	free(note);
	store_thread_free(th);
	store_draft_free(d);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

int classify_bounce_back(struct classify *cl, struct store_txn *t, const struct store_message *rec,
                         const struct bounce_info *b)
{
	struct idvec done = {0};
	int rc = 0;
	for (size_t i = 0; i < b->message_ids.n && rc == 0; i++) {
		struct store_msgid e;
		if (store_get_msgid(t, b->message_ids.v[i], &e) < 0 || e.draft == 0 ||
		    idvec_contains(&done, e.draft))
			continue;
		idvec_push(&done, e.draft);
		rc = back_one(cl, t, e.draft, rec, b);
	}
	idvec_free(&done);
	return rc;
}
