/*
 * classify_int.h: what classify.c and classify_bounce.c share. Not installed.
 */
#ifndef TEND_CLASSIFY_INT_H
#define TEND_CLASSIFY_INT_H

#include "tend/bounce.h"
#include "tend/classify.h"

/* Appends an audit entry by the classify's actor; takes detail (may be NULL) and frees it. */
int classify_audit(struct classify *cl, struct store_txn *t, const char *action, uint64_t thread,
                   uint64_t draft, char *detail);
/* Sets th's deadline and risk time from its clock_start and priority, by the rules' targets. */
void classify_set_deadline(const struct classify *cl, struct store_thread *th);
/* Our addresses (the accounts'), as tend.yaml writes them; owned by cl. */
const struct strvec *classify_own(const struct classify *cl);

/*
 * Sets d's text aside when it is an agent's edit or a bounced reply's text, before the rules
 * write the draft anew: it moves to previous_body (shown beside the new text), d->body is
 * NULL, and why (enum store_stale_why) is recorded. False when there is nothing to keep.
 */
bool classify_keep_aside(struct store_draft *d, int why);

/* True when rec is a customer message of th still waiting for an answer. */
bool classify_unanswered(const struct store_thread *th, const struct store_message *rec);

/*
 * Judges the stored message rec again with cl's rules and replaces its tags, matched rules
 * and priority (whether it needs an answer stays as decided when it arrived). Returns 0; or 1
 * when the stored copy cannot be read or parsed (rec left as it was).
 */
int classify_rejudge(struct classify *cl, struct store_txn *t, struct store_message *rec);

/*
 * The replies of ours that the report b (stored as rec) returns, found through the Message-IDs
 * it quotes: each conversation goes back to review with the bounced text as its draft (see
 * classify_bounce in classify.h). Returns 0 or a store code.
 */
int classify_bounce_back(struct classify *cl, struct store_txn *t, const struct store_message *rec,
                         const struct bounce_info *b);

#endif
