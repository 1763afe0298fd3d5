/*
 * review: what agents do with drafts. `tend queue`, `show`, `edit`, `approve`, `reject`,
 * `snooze`, `assign`, `note` and `log` are thin wrappers around these functions.
 *
 * IDs agents type are thread ids: a thread has at most one open draft (store_thread.draft).
 * Every action is written to the audit trail with the agent, the operating-system user who ran
 * the command (so --as cannot hide who acted) and, for edits, the diff, in the same write
 * transaction as the change itself.
 *
 * Each function opens and ends its own transactions on s. Returns 0 on success; a negative
 * store code (STORE_NOTFOUND for an unknown thread, with *err saying so); or REVIEW_REFUSED
 * with *err set to a one-line reason for the agent. *err, when set, is the caller's to free.
 */
#ifndef TEND_REVIEW_H
#define TEND_REVIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/config.h"
#include "tend/store.h"
#include "tend/view.h"

/* Who is acting. */
struct review_agent {
	char *login;   /* --as, else $TEND_AGENT, else $USER (else the login of the uid) */
	char *name;    /* from tend.yaml's agents, else the login */
	char *os_user; /* the login of the real uid */
};

/*
 * Works out the agent from as (may be NULL) and the environment. When tend.yaml lists agents,
 * the login must be one of them. Returns 0, or -1 with *err set (caller frees). c may be NULL
 * (no agents list). Free the result with review_agent_finish.
 */
int review_agent_resolve(const struct config *c, const char *as, struct review_agent *out,
                         char **err);
void review_agent_finish(struct review_agent *a);

/* Result codes beyond the store's: the action was refused, with a reason for the agent. */
enum {
	REVIEW_REFUSED = -100, /* *err says why (stale draft, no draft, wrong state, ...) */
	REVIEW_UNCHANGED = 1,  /* edit: the file was saved unchanged; nothing was recorded */
};

/* The review queue: open proposed drafts, most urgent deadline first (snoozed ones hidden
 * unless all); at most limit of them (0: all), and then how many more wait. */
int review_queue(struct store *s, const struct view_options *o, bool all, size_t limit, FILE *out);

/*
 * Shows a thread with its draft. When the draft is stale, showing it to an agent is what makes
 * it approvable again: the stale mark is cleared and "show" is audited. a may be NULL (no
 * agent could be worked out): then nothing is written and the store may be read-only.
 */
int review_show(struct store *s, uint64_t thread, const struct review_agent *a,
                const struct view_options *o, FILE *out, char **err);

/*
 * Opens the draft in $VISUAL, else $EDITOR, else vi, and saves what the agent wrote. An
 * unchanged file changes nothing (REVIEW_UNCHANGED); an empty one aborts (REVIEW_REFUSED).
 * The file is written mode 0600 in $TMPDIR (else /tmp): the body, then a scissors line and,
 * commented out below it, the customer's latest message, our latest reply (sent by tend or
 * written outside it) and the agent's earlier edit; from
 * the scissors line down nothing is kept. When the draft changed while the editor was open the
 * edit is refused and the file is left in place, named in *err.
 */
int review_edit(struct store *s, const struct config *c, uint64_t thread,
                const struct review_agent *a, char **err);

/* The line that ends the editable part of the file review_edit opens. */
#define REVIEW_SCISSORS "# ------------------------ >8 ------------------------"

/* How an approval goes. */
struct review_approve_opts {
	bool bounced_ok; /* a recipient bounced before, and the agent knows it works again */
	/* str_hash of the review_preview text the agent said yes to; 0: none shown. When the
	 * reply would differ now (edited meanwhile), the approval is refused. */
	uint64_t previewed;
};

/*
 * Approves the thread's draft: refused when stale or not proposed, empty, without recipient or
 * with more than review.max_recipients, with a template marker or placeholder left in its text
 * (review_check_text), with a recipient that bounced (unless opt->bounced_ok), or when tend.yaml
 * requires a second person and the agent is the draft's last editor. Fixes the reply's
 * Message-ID and files it in the outbox, due review.undo seconds from now, in one transaction.
 * review_approve_with takes opt (NULL: the defaults).
 */
int review_approve(struct store *s, const struct config *c, uint64_t thread,
                   const struct review_agent *a, char **err);
int review_approve_with(struct store *s, const struct config *c, uint64_t thread,
                        const struct review_agent *a, const struct review_approve_opts *opt,
                        char **err);

/* The checks of review_approve alone, changing nothing: 0, or REVIEW_REFUSED with *err. */
int review_approvable(struct store *s, const struct config *c, uint64_t thread,
                      const struct review_agent *a, const struct review_approve_opts *opt,
                      char **err);

/*
 * The reply as approving it now would send it, for the agent to read first: From, To, Cc,
 * Subject, attachments and the body, read back from the very bytes the sender would hand to
 * the SMTP server (the agent's name signed in, as approval does), safe for a terminal. On 0,
 * *out is the text (caller frees); else a negative code with *err.
 */
int review_preview(struct store *s, const struct config *c, uint64_t thread,
                   const struct review_agent *a, char **out, char **err);

/*
 * Takes an approved reply back within its undo window (review.undo): the draft is proposed
 * again, as it was before approval (its text without the signature, its place in the queue),
 * and "undo" is audited. Refused once the window has closed or the sender has begun, saying
 * whether the reply is sent or being sent.
 */
int review_undo(struct store *s, uint64_t thread, const struct review_agent *a, char **err);

/*
 * A new Message-ID for draft d of thread th, under the domain of the account that sends it:
 * tend.<thread>.<draft>.<random>@<domain>. Caller frees.
 */
char *review_message_id(const struct config *c, const struct store_thread *th,
                        const struct store_draft *d);

/*
 * Rejects the proposed draft (reason must not be blank): it is kept, rejected, and the thread
 * gets an empty draft in its place, for the agent to write with `tend edit` (approval refuses
 * it while it is empty); the deadline stays. With resolve, the conversation is resolved
 * instead (review_resolve, with the same reason) and has no draft.
 */
int review_reject(struct store *s, uint64_t thread, const struct review_agent *a,
                  const char *reason, bool resolve, char **err);

/*
 * Resolves the thread: it needs nothing more from us (answered by phone, solved elsewhere, not
 * a real request). Its state becomes resolved, the clock stops (no deadline, never breached),
 * the open draft is withdrawn (kept as rejected), and the agent, the time and reason (may be
 * NULL) are recorded and audited. Refused for a thread resolved or ignored already, or whose
 * reply is approved or in doubt. A later customer message opens it again.
 */
int review_resolve(struct store *s, uint64_t thread, const struct review_agent *a,
                   const char *reason, char **err);

struct classify;
/*
 * Reopens a resolved or answered thread: it needs an answer again, the clock runs from now,
 * and cl (made with the operators' rules) drafts a new reply. Refused for an open or ignored
 * thread. Audited as "reopen".
 */
int review_reopen(struct store *s, struct classify *cl, uint64_t thread,
                  const struct review_agent *a, char **err);
/*
 * Writes thread's proposed draft again from cl's rules and templates, as ingest would now
 * (classify_redraft): tags, priority, deadline, text. An agent's edit the new text replaces is
 * kept aside and shown by `tend show`. Refused for a conversation that does not wait for an
 * answer with a proposed draft. On 0, *line tells the agent what happened ("12: redrafted
 * (tags: +invoice)", "13: unchanged"; caller frees). Audited as "redraft" when anything
 * changed.
 */
int review_redraft(struct store *s, struct classify *cl, uint64_t thread,
                   const struct review_agent *a, char **line, char **err);
/* Appends to out the open conversations with a proposed draft, in id order: what
 * `tend redraft --all` goes through. */
int review_redraft_list(struct store *s, struct idvec *out);
/* Hides the proposed draft from the queue for seconds (0: shows it again); the deadline stays. */
int review_snooze(struct store *s, uint64_t thread, const struct review_agent *a, int64_t seconds,
                  char **err);
/* Assigns the thread to an agent (listed in tend.yaml when it lists agents); NULL or "-" clears. */
int review_assign(struct store *s, const struct config *c, uint64_t thread,
                  const struct review_agent *a, const char *assignee, char **err);

/* The longest note, in bytes. */
#define REVIEW_NOTE_MAX 100000

/*
 * Adds an internal note to the thread: text (UTF-8, not blank, at most REVIEW_NOTE_MAX bytes;
 * trailing white space is dropped), with the agent and the time. `tend show` shows it in the
 * conversation and the audit trail holds it ("note"); nothing sends it or quotes it.
 */
int review_note(struct store *s, uint64_t thread, const struct review_agent *a, const char *text,
                char **err);
/*
 * The same with the text from $VISUAL, else $EDITOR, else vi, in a private file as for
 * review_edit (nothing above the scissors line: REVIEW_REFUSED, nothing saved). When the note
 * cannot be saved, the file is kept and named in *err.
 */
int review_note_edit(struct store *s, uint64_t thread, const struct review_agent *a, char **err);

/*
 * The audit trail, oldest first; thread 0 for all of it. Returns STORE_NOTFOUND when there is
 * no such thread.
 */
int review_log(struct store *s, uint64_t thread, const struct view_options *o, FILE *out);

/*
 * The thread's open draft, to report what an action did: *out is a copy the caller frees with
 * store_draft_free. STORE_NOTFOUND with *err set when there is no such thread or no draft.
 */
int review_current_draft(struct store *s, uint64_t thread, struct store_draft **out, char **err);

#endif
