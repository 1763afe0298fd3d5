/*
 * conversation: a thread as agents read it, both sides in time order. The customer's messages
 * (by arrival), the replies, holding replies and escalation notices tend sent (by when the
 * server accepted them), our replies written in another mail program and ingested from the
 * Sent folder (by arrival), and agents' internal notes (by when they were written).
 *
 * Everything is read through the thread record: its messages, its list of sent drafts and its
 * list of notes, so that the cost is that of the thread, not of the store. A copy of a reply
 * tend sent (STORE_MSG_COPY) is the same reply: it is not a second entry. A thread written
 * before the record kept its sent drafts still shows a reply of tend's whose copy came back
 * from the Sent folder, as that reply.
 */
#ifndef TEND_CONVERSATION_H
#define TEND_CONVERSATION_H

#include <stddef.h>
#include <stdint.h>

#include "tend/store.h"

/* What an entry is. */
enum conversation_kind {
	CONVERSATION_CUSTOMER, /* a message that came in: the customer's, or anyone's but ours */
	CONVERSATION_OURS,     /* our reply written in another mail program (STORE_MSG_OURS) */
	CONVERSATION_REPLY,    /* a reply tend sent, as sent */
	CONVERSATION_HOLDING,  /* a holding reply tendd sent on its own */
	CONVERSATION_NOTICE,   /* an escalation notice: internal, it went to the team */
	CONVERSATION_NOTE,     /* an agent's internal note: never sent */
};

struct conversation_entry {
	int kind;                            /* enum conversation_kind */
	int64_t when;                        /* what the order goes by */
	const struct store_message *message; /* CUSTOMER and OURS */
	const struct store_draft *draft;     /* REPLY, HOLDING and NOTICE */
	const struct store_note *note;       /* NOTE */
};

/* A loaded conversation; the entries point into the records it owns. */
struct conversation {
	struct store_message **messages; /* every message of the thread, by arrival */
	size_t nmessages;
	struct store_draft **drafts;
	size_t ndrafts;
	struct store_note **notes;
	size_t nnotes;
	struct conversation_entry *entries; /* in time order */
	size_t n;
};

/*
 * Loads thread th's conversation in transaction t into c (zeroed by this call). A sent draft
 * or note the thread lists but the store lacks is logged and left out. Returns 0 or a store
 * code; on failure c holds nothing. Free with conversation_finish.
 */
int conversation_load(struct store_txn *t, const struct store_thread *th, struct conversation *c);
/* Frees what c holds; conversation_finish on a zeroed c does nothing. */
void conversation_finish(struct conversation *c);

/* "customer", "ours", "reply", "holding", "notice", "note". */
const char *conversation_kind_name(int kind);

/* The latest entry in which we answered the customer (a reply, by tend or not), or NULL. */
const struct conversation_entry *conversation_latest_reply(const struct conversation *c);

#endif
