/* outbox: what outbox.c, outbox_record.c and outbox_list.c share. Not for other modules. */
#ifndef TEND_OUTBOX_INT_H
#define TEND_OUTBOX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/store.h"

/* A recording step found the draft no longer in the state it expects: nothing was written. */
#define OUTBOX_SKIP 1

/*
 * The recording steps. Each opens its own write transaction, reads the draft afresh, checks
 * that it is still where the step expects it (else OUTBOX_SKIP), writes, audits as "tendd"
 * and commits. Returns 0, OUTBOX_SKIP or a negative store code.
 */
int outbox_mark_started(struct store *s, uint64_t draft, int64_t now);
int outbox_mark_handed(struct store *s, uint64_t draft);
/* Accepted by the server at when (copied: the copy is in the Sent folder already). */
int outbox_record_sent(struct store *s, uint64_t draft, int64_t when, const char *reply,
                       bool copied, bool copy_wanted, int64_t now);
/* Refused for good: back to the review queue with why. */
int outbox_record_failed(struct store *s, uint64_t draft, const char *why, int64_t now);
/* Not sent this time: another attempt after a doubling wait, or failed when it is too late. */
int outbox_record_deferred(struct store *s, const struct config_smtp *smtp, uint64_t draft,
                           const char *why, int64_t now);
/* The outcome is lost and the Sent folder does not have it: an agent must decide. */
int outbox_record_uncertain(struct store *s, uint64_t draft, const char *why, int64_t now);
/* The Sent copy of a sent draft: made (ok), or to be tried again later. */
int outbox_record_copy(struct store *s, uint64_t draft, bool ok, const char *why, int64_t now);
/* Drops an outbox entry whose draft no longer belongs there. */
int outbox_unlist(struct store *s, int64_t when, uint64_t draft);

/* Seconds before attempt number attempts+1: retry_interval doubling, at most an hour. */
int64_t outbox_backoff(const struct config_smtp *smtp, int attempts);

/* A reply ready to go: its account, recipients and bytes. */
struct outgoing {
	const struct config_account *acct;
	struct message_addrs to, cc; /* the draft's, less our own addresses; shallow */
	const char **rcpts;
	size_t nrcpts;
	char *data;
	size_t len;
};
void outbox_outgoing_free(struct outgoing *o);

enum { PREPARE_OK = 0, PREPARE_REFUSED = -1, PREPARE_ACCOUNT = -2 };

/* The account a draft goes out through: its own, else the first that can send; or NULL. */
const struct config_account *outbox_sending_account(const struct config *c,
                                                    const struct store_draft *d);
/*
 * Builds the reply for d, dated date, into o (free it with outbox_outgoing_free whatever the
 * result): PREPARE_OK, PREPARE_ACCOUNT (no account can send it) or PREPARE_REFUSED, with *err.
 * The attachments are read from the store in a transaction of their own.
 */
int outbox_prepare(struct store *s, const struct config *c, const struct store_draft *d,
                   int64_t date, struct outgoing *o, char **err);

/* The login of the real uid, for the audit trail; caller frees. */
char *outbox_os_user(void);

#endif
