/*
 * classify: what happens to a conversation when a message has been threaded and stored. The
 * rules are evaluated and their verdict recorded on the message; the conversation's tags,
 * priority, state and response clock follow; and its draft is brought up to date with every
 * unanswered customer message (a new draft, or the open one marked stale and rewritten).
 *
 * Drafting is separate from classifying so that a batch of imported messages drafts each
 * conversation once, when the batch is committed, not once per message.
 */
#ifndef TEND_CLASSIFY_H
#define TEND_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/message.h"
#include "tend/rules.h"
#include "tend/store.h"

struct classify;

/*
 * rules may be replaced later with classify_set_rules; c and rules outlive the object. actor
 * names who acts in the audit trail ("tendd", "import").
 */
struct classify *classify_new(const struct config *c, const struct rules *rules, const char *actor);
void classify_set_rules(struct classify *cl, const struct rules *rules);
const struct rules *classify_rules(const struct classify *cl);
void classify_free(struct classify *cl);

/*
 * Hands over the parsed message stored as id, whose verdict classify_message kept: drafts made
 * before the commit use both instead of reading the message again. False when it is not wanted
 * (ours, ignored, or too many messages or bytes in the transaction); the caller keeps m then.
 */
bool classify_adopt(struct classify *cl, uint64_t id, struct message *m, size_t raw_len);
/* Drops what classify_adopt kept: at every commit and abort. */
void classify_forget(struct classify *cl);

/*
 * The rules' verdict on a message taken before it is stored (while another message is being
 * stored, on another thread), with the guess it was taken under: whether the message starts
 * a conversation, which only threading will tell.
 */
struct classify_verdict {
	const struct rules *rules; /* the rules it was taken with; NULL: none taken */
	bool first_message;
	int64_t received; /* what fact_age measured against */
	struct rules_result res;
};

/* Takes v on m, which came at received (fact_age's reference; 0: now), with cl's rules,
 * running the rules' fact lookups (outside any transaction: they may take seconds). Reads cl
 * only: safe beside another thread's classify calls, though not beside classify_set_rules. */
void classify_judge(const struct classify *cl, const struct message *m, bool first_message,
                    int64_t received, struct classify_verdict *v);
void classify_verdict_finish(struct classify_verdict *v);

/*
 * When the customer asked what rec (a message of th) is about, which fact_age measures
 * against: when th's clock started, when it has waited for an answer since before rec came (a
 * follow-up such as "did you get my mail?" asks the same question again), else when rec came.
 */
int64_t classify_asked_at(const struct store_thread *th, const struct store_message *rec);

/*
 * Evaluates the rules on the parsed message m whose record rec (not yet written) joined thread
 * rec->thread, and fills rec's tags, rules, priority, ignore_reason and flags. Updates the
 * thread record. *redraft says whether the thread's draft must be brought up to date. v, when
 * not NULL, is a verdict taken ahead: used (and emptied) when it still holds, that is with the
 * same rules and either the right guess or rules that do not ask.
 */
int classify_message(struct classify *cl, struct store_txn *t, struct store_message *rec,
                     const struct message *m, bool first_message, struct classify_verdict *v,
                     bool *redraft);

/* Threads merged away by a message: their open drafts give way to the surviving thread's. */
int classify_merged(struct classify *cl, struct store_txn *t, uint64_t merged_thread);

/*
 * A delivery failure report (rec is automatic mail): the addresses it names as failed are
 * flagged on the conversations they took part in, found through the Message-IDs it quotes
 * (our replies are filed under their threads) and the thread the report itself joined.
 * A reply of ours that went to a failed address comes back: its conversation is open again
 * from the report's arrival, with a draft holding the reply's text as sent, marked with what
 * the report said (store_draft.bounce) and addressed to another address the customer gave in
 * the conversation (the latest Reply-To followed, or From), or to nobody when there is none.
 * When the bounced reply was the conversation's first response, that response is cleared
 * (store_thread.first_bounced). A conversation with an open draft already keeps it, marked.
 * Holding replies and escalation notices that bounce only flag the address.
 */
int classify_bounce(struct classify *cl, struct store_txn *t, const struct store_message *rec,
                    const char *raw, size_t len);

/* Brings the draft of thread (resolved through merges) up to date; now is the time of action. */
int classify_draft(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now);

/*
 * An agent reopened thread (resolved or answered): it needs an answer again, its clock runs
 * from now, what resolving settled is unsettled, and a new draft answers the unanswered
 * messages, or with none the customer's latest message. The caller checks and audits.
 */
int classify_reopen(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now);

/*
 * A conversation's customer messages (not ours, not ignored, not quarantined), parsed: where a
 * capture that a message lacks is looked for (see struct rules_input).
 */
struct classify_history {
	struct rules_earlier *v; /* newest first; the messages are owned */
	size_t n;
};

/* The latest max customer messages of th. Returns 0 or a store code; free h either way. */
int classify_history_load(struct store_txn *t, const struct store_thread *th, size_t max,
                          struct classify_history *h);
/*
 * The messages of h before the stored message id, newest first (*n of them); id 0 stands for
 * a message not stored yet, which comes after all of them.
 */
const struct rules_earlier *classify_history_before(const struct classify_history *h, uint64_t id,
                                                    size_t *n);
void classify_history_free(struct classify_history *h);
/*
 * Writes d's text, subject, recipients and composed hash as the rules would now, for the
 * unanswered customer messages of th (with none, its latest customer message), with the parts
 * an agent added or removed (store_draft.parts_added, parts_removed) and the recipients an
 * agent set (store_draft.recipients_by). Returns 0; 1 when th has no customer message to
 * answer (d untouched); or a store code.
 */
int classify_compose(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                     struct store_draft *d);

/* What classify_redraft changed in one conversation (or, dry, would change). */
struct classify_redraft {
	bool text;  /* the draft's text */
	bool aside; /* an agent's edit (or a bounced reply's text) was set aside */
	struct strvec added, removed; /* the conversation's tags */
	int priority_was, priority;
	int64_t deadline_was, deadline;
};

/* classify_redraft: the thread has no proposed draft waiting for an answer. */
#define CLASSIFY_NOT_OPEN 1

/*
 * Brings an open conversation's proposed draft in line with cl's rules and templates as
 * ingest would write it now: its customer messages judged again (tags, matched rules,
 * priority; whether each needs an answer stays), the conversation's tags, priority and
 * deadline, the draft's text and recipients. An agent's edit the new text replaces is kept
 * aside (store_draft.previous_body) and the draft marked stale (STORE_STALE_RULES), so it is
 * shown before it can be approved; an edit the rules' new text would not change stays. With
 * dry nothing is written (t may be read-only). Fills *out (free with classify_redraft_finish).
 * Returns 0; CLASSIFY_NOT_OPEN; or a store code. Not audited: the caller does that.
 */
int classify_redraft(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now,
                     bool dry, struct classify_redraft *out);
void classify_redraft_finish(struct classify_redraft *r);
/* True when r changed anything. */
bool classify_redraft_changed(const struct classify_redraft *r);
/* "tags: +invoice, -shipping; priority: normal -> high", or "" when neither changed. Caller
 * frees. */
char *classify_redraft_summary(const struct classify_redraft *r);
/* True when th waits for an answer and d, its open draft (may be NULL), is proposed. */
bool classify_redraftable(const struct store_thread *th, const struct store_draft *d);

#endif
