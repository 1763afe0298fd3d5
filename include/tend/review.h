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
	/* --force: edit or approve a conversation another agent is on, approve one assigned to
	 * someone else; each such action is audited as "force". */
	bool force;
	/* The agent said yes, on a terminal, to approving a conversation assigned to someone
	 * else (audited as "confirm"). */
	bool over_assignee;
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
	REVIEW_EXISTS = -101,  /* review_file_save: the file is there already; *err names it */
};

/* The review queue: open proposed drafts, most urgent deadline first (snoozed ones hidden
 * unless all); at most limit of them (0: all), and then how many more wait. */
int review_queue(struct store *s, const struct view_options *o, bool all, size_t limit, FILE *out);

/* Which drafts a listing of the queue keeps: every filter given must hold. */
struct review_filter {
	const char *assignee; /* assigned to this agent; "-": to nobody; NULL: anyone or nobody */
	const char *tag;      /* carries this tag (case does not matter); NULL: any */
	int priority;         /* enum rules_priority; -1: any */
};

/* review_queue with only the drafts f keeps (f may be NULL: all); limit counts those kept,
 * and the note below the listing counts the others f keeps. */
int review_queue_filter(struct store *s, const struct view_options *o, bool all, size_t limit,
                        const struct review_filter *f, FILE *out);
/* Appends to out the threads of the queue that f keeps (NULL: all), most urgent first, as
 * `tend queue` lists them at now: what an interactive review walks through. */
int review_queue_threads(struct store *s, int64_t now, bool all, const struct review_filter *f,
                         struct idvec *out);

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
 * The file is written mode 0600 in $TMPDIR (else /tmp): the recipients (review_recipients_block)
 * and a blank line, the body, then a scissors line and,
 * commented out below it, the customer's latest message, our latest reply (sent by tend or
 * written outside it) and the agent's earlier edit; from
 * the scissors line down nothing is kept. Changed recipients are read with review_header_read
 * (c gives review.max_recipients and our addresses) and replace the draft's. When the draft
 * changed while the editor was open, the editor failed or the recipients are refused, nothing
 * is saved and the file is left in place, named in *err.
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
 * The recipients above the text in the file review_edit opens: "To: ..." and "Cc: ..." lines
 * (a name and <address>, or the address alone; a comma between addresses), then a blank line.
 * Returns the two lines, each ending in a newline; caller frees.
 */
char *review_recipients_block(const struct store_draft *d);

/* What came back above the scissors line, split. */
struct review_header {
	char *block;             /* the header lines, each without trailing blanks, "\n"-ended */
	char *to_text, *cc_text; /* the values of the To: and Cc: lines (NULL: none) */
	const char *body;        /* where the text starts, inside what was split */
	struct message_addrs to; /* filled by review_header_read */
	struct message_addrs cc;
};

/*
 * Splits text at its first blank line into the header block and the text. Refused
 * (REVIEW_REFUSED, *err says which line and why) when the block is missing or holds a line
 * that is not To: or Cc: (or the indented continuation of one), or a control character.
 * Several To: (or Cc:) lines add up. Free h with review_header_finish.
 */
int review_header_split(const char *text, struct review_header *h, char **err);

/*
 * Reads the addresses of h's To: and Cc: lines into h->to and h->cc as the sender will use
 * them: each must be one plain local@domain (a display name allowed), not our own address;
 * at least one in all, at most review.max_recipients (c may be NULL: no limit, no own
 * address). Returns 0 or REVIEW_REFUSED with *err naming the field and the address.
 */
int review_header_read(struct review_header *h, const struct config *c, char **err);
void review_header_finish(struct review_header *h);

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
/*
 * Adds to thread's proposed draft the part the rule naming template (the first such rule)
 * would add: the draft is written again by cl's rules (classify_compose), the part placed as a
 * rule's part would be (after the concerns the customer raised, unless its rule is pinned
 * with `place`), with the rule's captures from the messages it answers and the facts found
 * for them. Recorded on the draft, so that the rules keep it when they write it again.
 * Refused for an unknown template, a part the draft has, a draft not proposed, and one an
 * agent edited (its text is theirs). Audited as "part". On 0, *line says what was done
 * ("added part 2 of 3, refund (template refund)"; caller frees).
 */
int review_part_add(struct store *s, struct classify *cl, uint64_t thread,
                    const struct review_agent *a, const char *template, char **line, char **err);
/* Removes the draft's n-th part (1 is the first, as `tend show` numbers them), likewise. */
int review_part_remove(struct store *s, struct classify *cl, uint64_t thread,
                       const struct review_agent *a, size_t n, char **line, char **err);

/* Hides the proposed draft from the queue for seconds (0: shows it again); the deadline stays. */
int review_snooze(struct store *s, uint64_t thread, const struct review_agent *a, int64_t seconds,
                  char **err);
/* Assigns the thread to an agent (listed in tend.yaml when it lists agents); NULL or "-" clears. */
int review_assign(struct store *s, const struct config *c, uint64_t thread,
                  const struct review_agent *a, const char *assignee, char **err);

/*
 * Who is on it. review_claim claims the thread for a for review.claim_for (c may be NULL: the
 * default), or renews a's own claim; verb ("edit", "take") names the action in a refusal.
 * Refused (REVIEW_REFUSED, *err naming who and since when) while another agent's claim holds,
 * unless a->force: then the claim passes to a and the trail records "force". "take" is
 * audited. Approving, rejecting and resolving end a claim, and so does a snooze by its agent.
 */
int review_claim(struct store *s, const struct config *c, uint64_t thread,
                 const struct review_agent *a, const char *verb, char **err);
/* Ends the claim on the thread (another agent's only with a->force); audited "release".
 * Refused when nobody is on it. */
int review_release(struct store *s, uint64_t thread, const struct review_agent *a, char **err);
/* Ends a's own claim on the thread, without a line in the trail (a claim made by looking at it
 * in `tend review`, which the trail does not record either); nothing when a is not on it. */
int review_unclaim(struct store *s, uint64_t thread, const struct review_agent *a, char **err);
/* *assignee: the agent the thread is assigned to when that is not a, else NULL (caller
 * frees): approving such a conversation asks first. */
int review_assigned_elsewhere(struct store *s, uint64_t thread, const struct review_agent *a,
                              char **assignee, char **err);

/*
 * Attaches the files at paths[0..n) to the thread's proposed draft, in that order: each is
 * read now and kept in the store, sent under its base name (attach_name) and a content type
 * from its extension. Refused, with nothing attached, when a file cannot be read, is not a
 * regular file, or the draft's attachments would exceed limits.attachments.
 */
int review_attach(struct store *s, const struct config *c, uint64_t thread,
                  const struct review_agent *a, char *const *paths, size_t n, char **err);
/* Removes the index-th (from 1, as `tend show` numbers them) attachment of the draft. */
int review_detach(struct store *s, uint64_t thread, const struct review_agent *a, size_t index,
                  char **err);
/* The bytes of the draft's attachments, in all. */
uint64_t review_files_size(const struct store_draft *d);

/* An attachment taken out of a message. */
struct review_file {
	char *name;         /* its file name made safe (attach_name): no directory, no controls */
	char *content_type; /* as the message labelled it */
	struct buf data;    /* the bytes */
};
/*
 * The n-th (from 1, as `tend show` numbers them) attachment of message msg, decoded from the
 * raw message in the store. Free *out with review_file_finish.
 */
int review_attachment(struct store *s, const struct config *c, uint64_t msg, size_t n,
                      struct review_file *out, char **err);
void review_file_finish(struct review_file *f);
/*
 * Writes f to path, or when path is a directory to the file f->name inside it. Never through a
 * symbolic link, and never over an existing file unless force (REVIEW_EXISTS, with *err
 * saying so and nothing more: what the user may do instead is the caller's to say). On 0,
 * *written is the path written (caller frees).
 */
int review_file_save(const struct review_file *f, const char *path, bool force, char **written,
                     char **err);

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

/* Which entries of the audit trail `tend log` shows; zero fields do not filter. */
struct review_log_filter {
	uint64_t thread;    /* of this conversation (and those merged into it) */
	const char *agent;  /* by this agent, exactly */
	const char *action; /* this action, exactly ("edit", "approve", ...) */
	int64_t since;      /* at or after */
	int64_t until;      /* before */
};

/* review_log of the entries f lets through. */
int review_log_filtered(struct store *s, const struct review_log_filter *f,
                        const struct view_options *o, FILE *out);

/*
 * The thread's open draft, to report what an action did: *out is a copy the caller frees with
 * store_draft_free. STORE_NOTFOUND with *err set when there is no such thread or no draft.
 */
int review_current_draft(struct store *s, uint64_t thread, struct store_draft **out, char **err);

#endif
