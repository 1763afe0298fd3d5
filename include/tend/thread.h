/*
 * thread: deciding which conversation a message belongs to, in the order of DESIGN.md:
 * (1) a Message-ID in References or In-Reply-To that the store knows (a stored message, one of
 * our replies, or a placeholder left by an earlier reply); (2) the tracking token in the
 * subject, honoured only when the sender already takes part in that thread; (3) optionally the
 * same normalised subject from the same customer within a window; (4) a new thread.
 *
 * Our own addresses never take part: a token or a subject from "us" is only believed when the
 * caller has verified the sender. A token or a subject is something anyone can type, so a
 * message that joins by one adds no new participants, and a Reply-To it names outside the
 * conversation is reported (reply_to_held) instead of believed.
 *
 * A message that links two threads merges them (the younger into the older). References to
 * messages not seen yet leave placeholders, so a parent that arrives later joins its replies.
 * With the subject fallback off the grouping equals notmuch's: the connected components of the
 * References / In-Reply-To graph.
 */
#ifndef TEND_THREAD_H
#define TEND_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/message.h"
#include "tend/store.h"

/* Why a message joined its thread; stored with the message. */
enum thread_reason {
	THREAD_REASON_NEW,       /* nothing linked it: a new conversation */
	THREAD_REASON_REFERENCE, /* References/In-Reply-To named a message of the thread */
	THREAD_REASON_REPLIED,   /* a reply stored earlier had named this message */
	THREAD_REASON_TOKEN,     /* the tracking token, from a participant */
	THREAD_REASON_SUBJECT,   /* same subject, same customer, within the window */
};

/* A short name for a reason ("new", "references", ...). */
const char *thread_reason_name(int reason);

/* Who the message in hand comes from, as far as anything vouches for it. */
enum thread_sender {
	THREAD_SENDER_CUSTOMER,   /* anyone but us (From is not authenticated) */
	THREAD_SENDER_OURS,       /* one of our addresses, and something vouches for it */
	THREAD_SENDER_UNVERIFIED, /* claims one of our addresses; nothing vouches for it */
};

struct thread_options {
	bool subject_fallback;
	int64_t subject_window;   /* seconds */
	const char *token;        /* e.g. "[#{id}]" */
	const struct strvec *own; /* our own addresses: never a participant nor a customer; may be
	                             NULL */
	/* Senders that write for someone else (a shop's web form: noreply@...), besides the usual
	 * local parts: "addr@domain", "@domain" or "local@"; may be NULL. */
	const struct strvec *form_senders;
	/*
	 * Of the message in hand (enum thread_sender). An unverified sender is threaded by its
	 * references only and makes nobody a participant; our own verified mail may use the
	 * token, whoever it names.
	 */
	int sender;
};

struct thread_result {
	uint64_t thread;     /* the live thread the message joined */
	int reason;          /* enum thread_reason */
	char *detail;        /* human explanation, e.g. "In-Reply-To <x@y>"; caller frees */
	struct idvec merged; /* threads merged into this one by the message */
	bool created;        /* the thread is new */
	/*
	 * The message joined by token or subject (which anyone can type) and its Reply-To names an
	 * address that takes no part in the conversation: the reply must not follow it.
	 */
	bool reply_to_held;
	/* The message came from a form sender on someone's behalf: the customer is its Reply-To. */
	bool form;
};

/*
 * Whether addr sends for someone else: a no-reply or form address (no-reply, noreply,
 * do-not-reply, wordpress, forms, webform... as a local part, alone or followed by "+-._"), or
 * one of configured ("addr@domain", "@domain", "local@"; may be NULL).
 */
bool thread_form_sender(const char *addr, const struct strvec *configured);

/*
 * Who a message is from, as far as the conversation goes: its sender; the one address its
 * Reply-To names when the sender is a form sender (*form is then set); the first To of our own
 * mail. The result points into m.
 */
const struct message_addr *thread_customer_of(const struct message *m,
                                              const struct thread_options *opt, bool *form);

/*
 * Threads the parsed message m, already given store id msg and arrival time, inside the write
 * transaction t: picks or creates the thread, merges threads the message links, writes the
 * placeholders and the Message-ID entry, and updates the thread record (message list,
 * participants, times). The caller stores the message record with res->thread afterwards.
 * Returns 0 or a store error code. Free res with thread_result_finish.
 */
int thread_assign(struct store_txn *t, const struct message *m, uint64_t msg, int64_t arrival,
                  const struct thread_options *opt, struct thread_result *res);

void thread_result_finish(struct thread_result *res);

/* Formats the tracking token for thread id with fmt ("[#{id}]" -> "[#12]"); caller frees. */
char *thread_token_format(const char *fmt, uint64_t id);

/* Finds a tracking token of format fmt in subject; returns true and the id when there is one. */
bool thread_token_find(const char *fmt, const char *subject, uint64_t *id);

#endif
