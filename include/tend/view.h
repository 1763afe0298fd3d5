/*
 * view: what `tend threads` and `tend show` print, for people (aligned columns, relative
 * dates, colour only on a terminal) and for scripts (--json, the contract of DESIGN.md).
 * The cell and address helpers at the end are shared with the review listings (queue, log),
 * so every table tend prints is cut and aligned the same way.
 */
#ifndef TEND_VIEW_H
#define TEND_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/store.h"
#include "tend/util.h"

struct json;
struct rules;

struct view_options {
	bool json;
	bool color;  /* ANSI colour: only when stdout is a terminal and NO_COLOR is unset */
	int width;   /* terminal columns; 0: do not truncate */
	int64_t now; /* the time relative dates are computed from */
	/* view_show tells the language of a customer message that has none stored (only the
	 * messages drafts are written for have one) among these rules' languages; NULL: the
	 * common ones, English the default. */
	const struct rules *rules;
	bool tell_lang; /* false: only stored languages are shown (the rules could not be read) */
	/* The agent looking (their login), when one is: their own claim reads "you are on it";
	 * NULL: every claim names its agent. */
	const char *viewer;
};

/* Fills colour, width and now from the environment and stdout. */
void view_options_detect(struct view_options *o, bool json);

/* Lists live conversations, most recently active first. Returns 0 or a store code. */
int view_threads(struct store_txn *t, const struct view_options *o, FILE *out);

/* The same, only those in state (enum store_thread_state; -1: all of them). */
int view_threads_in(struct store_txn *t, const struct view_options *o, int state, FILE *out);

/* The state named "open", "answered", "resolved" or "ignored" (as listings show them), or -1. */
int view_thread_state_parse(const char *name);

/* Lists quarantined messages with their reasons. */
int view_quarantined(struct store_txn *t, const struct view_options *o, FILE *out);

/*
 * Shows one thread: its messages (oldest first) with why each joined, and its open draft
 * (store_thread.draft): state, recipients, subject, the rules it answers, a warning when the
 * customer wrote after it was made, an agent's earlier edit, and the body. Returns 0,
 * STORE_NOTFOUND when there is no such thread, or another store code.
 */
int view_show(struct store_txn *t, uint64_t id, const struct view_options *o, FILE *out);

/*
 * The conversations of a customer (the address a thread's customer has, without case), as
 * `tend customer ADDRESS` lists them: every one, newest first, each with the messages exchanged.
 * Returns 0 or a store code; an address with none is not an error (it says so).
 */
int view_customer(struct store_txn *t, const char *addr, const struct view_options *o, FILE *out);

/* One of a customer's other conversations, for `tend show`. */
struct view_history_item {
	uint64_t id;
	int state;
	char *subject;
	int64_t updated;
};

struct view_history {
	struct view_history_item *v;
	size_t n;
	size_t more; /* conversations left out (answered ones past the latest ten) */
};

/*
 * The other conversations of th's customer: the open ones first, then the latest ten others,
 * each group newest first. Free with view_history_free.
 */
int view_history_load(struct store_txn *t, const struct store_thread *th, struct view_history *h);
void view_history_free(struct view_history *h);
void view_history_human(struct buf *b, const struct view_history *h, const struct view_options *o);
void view_history_json(struct json *j, const struct view_history *h);

/* "just now", "5 min ago", "3 h ago", "yesterday 14:02", "Mon 14:02", "12 Nov", "2024-03-01". */
void view_relative_time(int64_t t, int64_t now, char *buf, size_t size);

/* Due in or overdue by: "in 25 min", "in 3 h", "in 2 d", "overdue 2 h"; "-" for no deadline. */
void view_due(int64_t deadline, int64_t now, char *buf, size_t size);

/* "open", "answered", "closed", "ignored". */
const char *view_thread_state_name(int state);

/* "proposed", "approved", "sent", "rejected", "failed", "superseded". */
const char *view_draft_state_name(int state);

/*
 * Appends s to b padded or cut (with an ellipsis) to exactly cols terminal columns; cols < 0:
 * as is. Control characters are shown escaped (term_put, TEXT_LINE) so that text from mail
 * cannot move the cursor or talk to the terminal.
 */
void view_put_cell(struct buf *b, const char *s, int cols);

/* Columns s takes in a terminal, as view_put_cell shows it. */
int view_str_width(const char *s);
/* The character at s (UTF-8; a broken sequence counts as one U+FFFD): its length in bytes, and
 * in *cols the columns a terminal gives it (a wide one two, a combining mark none). */
size_t view_char_cols(const char *s, int *cols);

/* "Name <addr>", or the address alone; the caller frees. */
char *view_addr_display(const struct message_addr *a);

/* True when the draft's body is empty or only white space (a rejected draft, to be written). */
bool view_draft_empty(const struct store_draft *d);
/* What set the agent's earlier edit aside (store_draft.stale_why): "from before the customer
 * wrote again". Static text. */
const char *view_aside_why(const struct store_draft *d);

/* How many addresses a draft goes to: To and Cc. */
size_t view_recipients(const struct store_draft *d);
/*
 * Appends what an agent must know about a draft's recipients before approving it, a line
 * each: a Reply-To the reply does not follow, Cc addresses left out. Nothing when all is
 * plain.
 */
void view_recipient_notes(struct buf *b, const struct store_draft *d);
/*
 * Appends "Attachment N: NAME (TYPE, SIZE bytes)", without a line end, the name and type with
 * control characters escaped for a terminal; a NULL name shows as "(unnamed)".
 */
void view_attachment_line(struct buf *b, size_t n, const char *name, const char *type,
                          uint64_t size);

/* Who is on a conversation (store_thread.claim_agent), in view_claim.c. */
/* True when th's claim holds at now (it has not lapsed). */
bool view_claim_held(const struct store_thread *th, int64_t now);
/* "alice is on it (4 min)", escaped for a terminal; NULL when nobody is. Caller frees. */
char *view_claim_text(const struct store_thread *th, int64_t now);
/* The same, but "you are on it (4 min)" when viewer (a login; NULL: nobody) holds the claim. */
char *view_claim_text_for(const struct store_thread *th, int64_t now, const char *viewer);
/* The claim as {"agent": ..., "since": ..., "until": ...}, or null when nobody is on it. */
void view_claim_json(struct json *j, const struct store_thread *th, int64_t now);

/* An address as {"name": ..., "email": ...}; a list of them; a list of strings. */
void view_json_addr(struct json *j, const struct message_addr *a);
void view_json_addrs(struct json *j, const struct message_addrs *as);
void view_json_strvec(struct json *j, const struct strvec *sv);

#endif
