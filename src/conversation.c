/*
 * conversation: the thread's messages, what we sent and what we noted, in one time order.
 */
#include "tend/conversation.h"

#include <stdlib.h>
#include <string.h>

#include "tend/util.h"

static const char *const kind_names[] = {
    [CONVERSATION_CUSTOMER] = "customer", [CONVERSATION_OURS] = "ours",
    [CONVERSATION_REPLY] = "reply",       [CONVERSATION_HOLDING] = "holding",
    [CONVERSATION_NOTICE] = "notice",     [CONVERSATION_NOTE] = "note",
};

const char *conversation_kind_name(int kind)
{
	if (kind < 0 || (size_t)kind >= NELEM(kind_names))
		return "unknown";
	return kind_names[kind];
}

static int load_messages(struct store_txn *t, const struct store_thread *th, struct conversation *c)
{
	c->messages = xcalloc(th->messages.n + 1, sizeof(*c->messages));
	for (size_t i = 0; i < th->messages.n; i++) {
		int rc = store_get_message(t, th->messages.v[i], &c->messages[i]);
		if (rc < 0)
			return rc;
		c->nmessages++;
	}
	if (c->nmessages)
		qsort(c->messages, c->nmessages, sizeof(*c->messages), store_message_by_arrival);
	return 0;
}

/* Adds draft id (sent from the thread) unless it is there already; a missing one is logged. */
static int add_draft(struct store_txn *t, const struct store_thread *th, uint64_t id,
                     struct conversation *c)
{
	for (size_t i = 0; i < c->ndrafts; i++)
		if (c->drafts[i]->id == id)
			return 0;
	struct store_draft *d = NULL;
	int rc = store_get_draft(t, id, &d);
	if (rc == STORE_NOTFOUND) {
		log_warnx("thread %llu lists sent draft %llu, which is not in the store",
		          (unsigned long long)th->id, (unsigned long long)id);
		return 0;
	}
	if (rc < 0)
		return rc;
	c->drafts = xreallocarray(c->drafts, c->ndrafts + 1, sizeof(*c->drafts));
	c->drafts[c->ndrafts++] = d;
	return 0;
}

static int load_notes(struct store_txn *t, const struct store_thread *th, struct conversation *c)
{
	c->notes = xcalloc(th->notes.n + 1, sizeof(*c->notes));
	for (size_t i = 0; i < th->notes.n; i++) {
		int rc = store_get_note(t, th->notes.v[i], &c->notes[c->nnotes]);
		if (rc == STORE_NOTFOUND) {
			log_warnx("thread %llu lists note %llu, which is not in the store",
			          (unsigned long long)th->id, (unsigned long long)th->notes.v[i]);
			continue;
		}
		if (rc < 0)
			return rc;
		c->nnotes++;
	}
	return 0;
}

/*
 * The draft a copy of one of tend's replies is a copy of, when that draft is a sent one: 0
 * when there is none (then the copy is shown as the message it is).
 */
static int copied_draft(struct store_txn *t, const struct store_message *m, uint64_t *draft)
{
	struct store_msgid e;
	struct store_draft *d = NULL;
	*draft = 0;
	int rc = store_get_msgid(t, m->message_id, &e);
	if (rc == STORE_NOTFOUND || (rc == 0 && e.draft == 0))
		return 0;
	if (rc < 0 || (rc = store_get_draft(t, e.draft, &d)) < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (d->state == STORE_DRAFT_SENT)
		*draft = d->id;
	store_draft_free(d);
	return 0;
}

/*
 * Copies of tend's replies stand for the reply they copy. A thread written before the record
 * listed its sent drafts gets them from there: so the reply shows as sent, once.
 */
static int add_copied(struct store_txn *t, const struct store_thread *th, struct conversation *c,
                      bool *is_copy)
{
	int rc = 0;
	for (size_t i = 0; i < c->nmessages && rc == 0; i++) {
		uint64_t draft = 0;
		is_copy[i] = false;
		if (!(c->messages[i]->flags & STORE_MSG_COPY))
			continue;
		if ((rc = copied_draft(t, c->messages[i], &draft)) < 0 || draft == 0)
			continue;
		is_copy[i] = true;
		if (!idvec_contains(&th->sent, draft))
			rc = add_draft(t, th, draft, c);
	}
	return rc;
}

static void push(struct conversation *c, struct conversation_entry e)
{
	c->entries = xreallocarray(c->entries, c->n + 1, sizeof(*c->entries));
	c->entries[c->n++] = e;
}

static int draft_kind(const struct store_draft *d)
{
	switch (d->kind) {
	case STORE_KIND_HOLDING:
		return CONVERSATION_HOLDING;
	case STORE_KIND_NOTICE:
		return CONVERSATION_NOTICE;
	default:
		return CONVERSATION_REPLY;
	}
}

static void make_entries(struct conversation *c, const bool *is_copy)
{
	for (size_t i = 0; i < c->nmessages; i++) {
		const struct store_message *m = c->messages[i];
		bool ours = (m->flags & STORE_MSG_OURS) && !(m->flags & STORE_MSG_UNVERIFIED);
		if (!is_copy[i])
			push(c, (struct conversation_entry){.kind = ours ? CONVERSATION_OURS
			                                                 : CONVERSATION_CUSTOMER,
			                                    .when = m->received,
			                                    .message = m});
	}
	for (size_t i = 0; i < c->ndrafts; i++) {
		const struct store_draft *d = c->drafts[i];
		push(c, (struct conversation_entry){.kind = draft_kind(d),
		                                    .when = d->sent ? d->sent : d->approved,
		                                    .draft = d});
	}
	for (size_t i = 0; i < c->nnotes; i++)
		push(c, (struct conversation_entry){.kind = CONVERSATION_NOTE,
		                                    .when = c->notes[i]->created,
		                                    .note = c->notes[i]});
}

/* At the same second: what came in, then what we sent, then notes about it. */
static int rank(const struct conversation_entry *e)
{
	return e->kind == CONVERSATION_CUSTOMER ? 0 : e->kind == CONVERSATION_NOTE ? 2 : 1;
}

static uint64_t entry_id(const struct conversation_entry *e)
{
	return e->message ? e->message->id : e->draft ? e->draft->id : e->note->id;
}

static int by_time(const void *a, const void *b)
{
	const struct conversation_entry *x = a, *y = b;
	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	if (rank(x) != rank(y))
		return rank(x) - rank(y);
	return entry_id(x) < entry_id(y) ? -1 : (entry_id(x) > entry_id(y));
}

int conversation_load(struct store_txn *t, const struct store_thread *th, struct conversation *c)
{
	memset(c, 0, sizeof(*c));
	int rc = load_messages(t, th, c);
	for (size_t i = 0; rc == 0 && i < th->sent.n; i++)
		rc = add_draft(t, th, th->sent.v[i], c);
	if (rc == 0)
		rc = load_notes(t, th, c);
	bool *is_copy = xcalloc(c->nmessages + 1, sizeof(*is_copy));
	if (rc == 0)
		rc = add_copied(t, th, c, is_copy);
	if (rc == 0) {
		make_entries(c, is_copy);
		if (c->n)
			qsort(c->entries, c->n, sizeof(*c->entries), by_time);
	}
	free(is_copy);
	if (rc < 0)
		conversation_finish(c);
	return rc;
}

void conversation_finish(struct conversation *c)
{
	for (size_t i = 0; i < c->nmessages; i++)
		store_message_free(c->messages[i]);
	for (size_t i = 0; i < c->ndrafts; i++)
		store_draft_free(c->drafts[i]);
	for (size_t i = 0; i < c->nnotes; i++)
		store_note_free(c->notes[i]);
	free(c->messages);
	free(c->drafts);
	free(c->notes);
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

const struct conversation_entry *conversation_latest_reply(const struct conversation *c)
{
	for (size_t i = c->n; i-- > 0;)
		if (c->entries[i].kind == CONVERSATION_REPLY ||
		    c->entries[i].kind == CONVERSATION_OURS)
			return &c->entries[i];
	return NULL;
}
