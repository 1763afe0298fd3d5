/*
 * classify_redraft: an open conversation judged again by the rules in force and its proposed
 * draft written anew from them (`tend redraft`), or only compared with what they would write
 * (`tend rules replay`). The same judging and composing as ingest's, so that a redrafted
 * conversation looks as if its mail had arrived under the new rules.
 */
#include <stdlib.h>
#include <string.h>

#include "classify_int.h"

/* Messages the rules do not speak for the customer on. */
#define NOT_JUDGED (STORE_MSG_OURS | STORE_MSG_UNVERIFIED | STORE_MSG_QUARANTINED)

void classify_redraft_finish(struct classify_redraft *r)
{
	strvec_free(&r->added);
	strvec_free(&r->removed);
}

bool classify_redraft_changed(const struct classify_redraft *r)
{
	return r->text || r->added.n || r->removed.n || r->priority != r->priority_was ||
	       r->deadline != r->deadline_was;
}

bool classify_redraftable(const struct store_thread *th, const struct store_draft *d)
{
	return th->state == STORE_THREAD_OPEN && d != NULL && d->id == th->draft &&
	       d->state == STORE_DRAFT_PROPOSED;
}

char *classify_redraft_summary(const struct classify_redraft *r)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "");
	for (size_t i = 0; i < r->added.n; i++)
		buf_printf(&b, "%s+%s", i ? ", " : "tags: ", r->added.v[i]);
	for (size_t i = 0; i < r->removed.n; i++)
		buf_printf(&b, "%s-%s", i || r->added.n ? ", " : "tags: ", r->removed.v[i]);
	if (r->priority != r->priority_was)
		buf_printf(&b, "%spriority: %s -> %s", b.len ? "; " : "",
		           rules_priority_name(r->priority_was), rules_priority_name(r->priority));
	else if (r->deadline != r->deadline_was)
		buf_printf(&b, "%sthe deadline moved", b.len ? "; " : "");
	return buf_steal(&b);
}

/* The tags of was that now lacks go to removed, those of now that was lacks to added. */
static void tag_changes(const struct strvec *was, const struct strvec *now,
                        struct classify_redraft *out)
{
	for (size_t i = 0; i < now->n; i++)
		if (!strvec_contains(was, now->v[i]))
			strvec_push(&out->added, now->v[i]);
	for (size_t i = 0; i < was->n; i++)
		if (!strvec_contains(now, was->v[i]))
			strvec_push(&out->removed, was->v[i]);
}

/* Adds one message's verdict to the conversation's tags and priority (-1: none yet). */
static void add_verdict(const struct store_thread *th, const struct store_message *rec,
                        struct strvec *tags, int *priority)
{
	if ((rec->flags & NOT_JUDGED) || rec->ignore_reason)
		return;
	for (size_t i = 0; i < rec->tags.n; i++)
		if (!strvec_contains(tags, rec->tags.v[i]))
			strvec_push(tags, rec->tags.v[i]);
	if (classify_unanswered(th, rec) && rec->priority > *priority)
		*priority = rec->priority;
}

/*
 * Judges each customer message of th again and sets th's tags (of every message that needs
 * no ignoring), priority (the highest of the messages waiting) and deadline from the verdicts.
 */
static int rejudge_thread(struct classify *cl, struct store_txn *t, struct store_thread *th,
                          bool dry, struct classify_redraft *out)
{
	struct strvec tags = STRVEC_INIT;
	int priority = -1, rc = 0;
	for (size_t i = 0; i < th->messages.n && rc == 0; i++) {
		struct store_message *rec = NULL;
		if ((rc = store_get_message(t, th->messages.v[i], &rec)) < 0)
			break;
		if (!(rec->flags & NOT_JUDGED) && classify_rejudge(cl, t, rec) == 0 && !dry)
			rc = store_put_message(t, rec);
		add_verdict(th, rec, &tags, &priority);
		store_message_free(rec);
	}
	tag_changes(&th->tags, &tags, out);
	strvec_free(&th->tags);
	th->tags = tags;
	if (priority >= 0)
		th->priority = priority;
	if (th->clock_start)
		classify_set_deadline(cl, th);
	return rc;
}

/*
 * Writes d's text from the rules. An agent's text stays when the rules would write what they
 * wrote before (store_draft.composed); otherwise it is kept aside and the draft made stale.
 */
static int redraft_text(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                        struct store_draft *d, struct classify_redraft *out)
{
	char *was = d->body;
	uint64_t composed = d->composed;
	bool own = d->edited || d->resend_of;
	d->body = NULL;
	int rc = classify_compose(cl, t, th, d);
	if (rc != 0) { /* nothing to answer (or a store error): the draft stays as it was */
		free(d->body);
		d->body = was;
		return rc < 0 ? rc : 0;
	}
	out->text = own ? d->composed != composed : strcmp(was ? was : "", d->body) != 0;
	if (own && !out->text) {
		free(d->body);
		d->body = was;
		return 0;
	}
	if (!own) {
		free(was);
		return 0;
	}
	char *now = d->body;
	d->body = was;
	out->aside = classify_keep_aside(d, STORE_STALE_RULES);
	free(d->body);
	d->body = now;
	d->stale = true;
	return 0;
}

/* Writes the changed conversation and draft; the draft moves in the queue with the deadline. */
static int save(struct store_txn *t, struct store_thread *th, struct store_draft *d, int64_t now)
{
	int rc = 0;
	if (d->queued && d->queued != th->deadline && th->deadline) {
		if ((rc = store_index_del(t, STORE_INDEX_QUEUE, d->queued, d->id)) == 0)
			rc = store_index_put(t, STORE_INDEX_QUEUE, th->deadline, d->id);
		d->queued = th->deadline;
	}
	d->updated = now;
	if (rc == 0)
		rc = store_put_draft(t, d);
	if (rc == 0)
		rc = store_put_thread(t, th);
	return rc;
}

int classify_redraft(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now,
                     bool dry, struct classify_redraft *out)
{
	struct store_thread *th = NULL;
	struct store_draft *d = NULL;
	uint64_t live;
	memset(out, 0, sizeof(*out));
	int rc = store_resolve_thread(t, thread, &live);
	if (rc < 0 || (rc = store_get_thread(t, live, &th)) < 0)
		return rc;
	if (th->draft && (rc = store_get_draft(t, th->draft, &d)) < 0 && rc != STORE_NOTFOUND)
		goto out;
	rc = 0;
	if (!classify_redraftable(th, d)) {
		rc = CLASSIFY_NOT_OPEN;
		goto out;
	}
	out->priority_was = th->priority;
	out->deadline_was = th->deadline;
	if ((rc = rejudge_thread(cl, t, th, dry, out)) < 0 ||
	    (rc = redraft_text(cl, t, th, d, out)) < 0)
		goto out;
	out->priority = th->priority;
	out->deadline = th->deadline;
	if (!dry && classify_redraft_changed(out))
		rc = save(t, th, d, now);
out:
	store_draft_free(d);
	store_thread_free(th);
	return rc;
}
