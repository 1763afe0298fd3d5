/*
 * outbox: approved drafts -> send attempts with backoff -> sent, failed or uncertain; each
 * draft sent at most once.
 *
 * The outbox index holds every approved draft under the time of its next attempt, and every
 * sent draft whose copy is not yet in the Sent folder. One attempt, in order, each step
 * committed before the next begins:
 *
 *   1. the draft is marked "started" (attempts, times);
 *   2. the message is built and handed to the SMTP server; the moment its last byte is handed
 *      over, the draft is marked "handed" (from then on the server may accept it);
 *   3. on acceptance the draft is recorded as sent at once, the thread as answered, with the
 *      time the server accepted it; the copy for the Sent folder is still to make;
 *   4. the copy goes to the Sent folder (IMAP APPEND, \Seen), and is recorded.
 *
 * After a crash, a draft still "started" is simply tried again: the server never had the whole
 * message. A draft "handed" may have gone out, in the short time between the last byte and the
 * record of step 3: the sender looks for its Message-ID in the Sent folder (where servers that
 * file sent mail themselves put it) and records it as sent when found; otherwise it marks the
 * draft uncertain and says so, and an agent decides (`tend outbox retry` sends it
 * again under the same Message-ID, `tend outbox mark-sent` records it as sent). A sent draft
 * whose copy is not made yet stays in the outbox until it is. A 4xx, a
 * timeout or a lost connection before the end of the data is retried with doubling waits; a
 * 5xx, or temporary failures for longer than give_up_after, fails the draft, which goes back to
 * the review queue with the server's words.
 */
#ifndef TEND_OUTBOX_H
#define TEND_OUTBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/config.h"
#include "tend/store.h"
#include "tend/view.h"

/* What one pass did. */
struct outbox_pass {
	unsigned sent;
	unsigned failed;      /* refused for good */
	unsigned deferred;    /* will be tried again */
	unsigned uncertain;   /* outcome lost: an agent must decide */
	int64_t next_due;     /* the earliest next attempt left in the outbox; 0: none */
	char *account_error;  /* the last account-level problem (connection, TLS, login), or NULL */
	double *send_seconds; /* how long each SMTP transaction of the pass took */
	size_t nsend;
};

/*
 * Sends every draft due at or before now (and finishes every pending Sent copy). stop, when
 * not NULL, is checked between drafts. Returns 0, or a negative store code when the store
 * failed (the pass stops there). Free pass->account_error with outbox_pass_finish.
 */
int outbox_run(struct store *s, const struct config *c, int64_t now, const atomic_bool *stop,
               struct outbox_pass *pass);
void outbox_pass_finish(struct outbox_pass *pass);

/*
 * The sender's wake-up call: a datagram socket, STORE/tendd.sock, that `tend approve` writes
 * to. outbox_listen binds it (replacing a stale one; the caller holds the daemon lock) and
 * returns the descriptor, or -1 with *err. outbox_drain empties it. outbox_poke sends one
 * datagram and ignores every failure: no daemon running is not an error.
 */
int outbox_listen(const char *store_dir, bool group, char **err);
void outbox_drain(int fd);
void outbox_poke(const char *store_dir);

/* `tend outbox`: what is being sent, sent, failed or uncertain, most recent first. */
int outbox_list(struct store *s, const struct view_options *o, bool all, FILE *out);

/*
 * An agent's decisions on a failed or uncertain draft: retry sends it again (the same
 * Message-ID, so that the customer's mail program can tell a repeat), mark_sent records that
 * it reached the customer. Audited with the agent and the operating-system user. Returns 0, or
 * a negative code with *err (caller frees).
 */
int outbox_retry(struct store *s, uint64_t thread, const char *agent, const char *os_user,
                 char **err);
int outbox_mark_sent(struct store *s, uint64_t thread, const char *agent, const char *os_user,
                     char **err);

/*
 * The bytes the sender would hand to the SMTP server for d, dated date: the same account,
 * recipients (our own addresses left out), headers and attachments (read in t). Returns 0 with *data (caller frees) and
 * *len, or -1 with *err (caller frees): no account can send it, no recipient, or a value
 * compose refuses.
 */
int outbox_compose(struct store_txn *t, const struct config *c, const struct store_draft *d,
                   int64_t date, char **data, size_t *len, char **err);

/* Test hook: with TEND_FAULT=name in the environment, the process kills itself at point name. */
void outbox_fault(const char *name);

#endif
