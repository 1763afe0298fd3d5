/*
 * review_int.h: what review.c, review_edit.c and review_list.c share. Not installed.
 */
#ifndef TEND_REVIEW_INT_H
#define TEND_REVIEW_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/review.h"
#include "tend/util.h"

/* What an action works on, inside one transaction. */
struct review_target {
	struct store_txn *t;
	uint64_t id;             /* the live thread (after merges) */
	struct store_thread *th; /* owned */
	struct store_draft *d;   /* the open draft, owned; NULL when there is none */
};

/*
 * Begins a transaction and loads the live thread and its draft. Returns 0; STORE_NOTFOUND with
 * *err "no thread N"; or another store code with *err set. On failure nothing is left open.
 */
int review_target_open(struct store *s, uint64_t thread, bool write, struct review_target *tg,
                       char **err);
/* Commits (write) and releases everything; returns the commit's code. */
int review_target_commit(struct review_target *tg, char **err);
/* Aborts what is still open and releases everything. */
void review_target_close(struct review_target *tg);

/* Refuses with a formatted reason: sets *err and returns REVIEW_REFUSED. */
int review_refuse(char **err, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Refuses unless the target has a proposed draft; verb says what was asked ("approve"). */
int review_need_proposed(const struct review_target *tg, const char *verb, char **err);

/* Appends an audit entry for the target (its draft, when it has one). */
int review_audit(struct review_target *tg, const struct review_agent *a, const char *action,
                 const char *detail, int64_t now);

/* Ends an action whose change is in tg: commits, or with rc < 0 aborts and sets *err to
 * "cannot VERB thread N: ...". Returns rc or the commit's code. */
int review_finish(struct review_target *tg, int rc, const char *verb, char **err);

/* Resolves the target's thread in its transaction (see review_resolve): withdraws the open
 * draft, stops the clock, records who, when and why (reason may be NULL), audits. */
int review_resolve_in(struct review_target *tg, const struct review_agent *a, const char *reason,
                      int64_t now);

/* A new empty draft in place of tg->d (just rejected), with its recipients and threading,
 * in the queue at the thread's deadline; the thread names it. */
int review_blank_draft(struct review_target *tg, int64_t now);

/*
 * Writes head (when not NULL) and a blank line, text and, below the scissors line, reference
 * (lines commented with "# ") into a new private file (mode 0600, in $TMPDIR, else /tmp) named
 * after name ("draft", "note") and thread, and runs $VISUAL, else $EDITOR, else vi on it. On
 * 0, *path is the file (the caller removes it when done with it) and *out what the agent left
 * above the scissors line, without trailing white space ("" when nothing). When the editor
 * fails, or what it left cannot be read as text, the file is kept and named in *err. *path and
 * *out, when set, are the caller's to free.
 */
int review_editor(const char *name, uint64_t thread, const char *head, const char *text,
                  const char *reference, char **path, char **out, char **err);

/* Adds " (your text is in PATH)" to *err: the file is kept after a failure. */
void review_kept(char **err, const char *path);

/* Removes draft's queue entry, filed under when (its store_draft.queued); when 0, every
 * entry of the draft, whatever time it was filed under. */
int review_queue_remove(struct store_txn *t, uint64_t draft, int64_t when);

/* How long a claim holds when no config says (review.claim_for): 15 minutes. */
#define REVIEW_CLAIM_FOR (15 * 60)

/* Refuses (unless a->force, then audited "force") while another agent's claim on tg's thread
 * holds; verb names the action. Returns 0 or REVIEW_REFUSED / a store code, *err set. */
int review_claim_check(struct review_target *tg, const struct review_agent *a, const char *verb,
                       int64_t now, char **err);
/* Claims th for a until now + claim_for (0: the default), keeping the start of a's own claim.
 * The caller stores th. */
void review_claim_set(struct store_thread *th, const struct review_agent *a, int64_t claim_for,
                      int64_t now);
/* Clears th's claim (only when only is NULL or its agent); true when th changed. */
bool review_claim_drop(struct store_thread *th, const char *only);
/* Refuses acting on a thread assigned to another agent unless a->force or a->over_assignee;
 * either is audited. */
int review_assignee_check(struct review_target *tg, const struct review_agent *a, const char *verb,
                          int64_t now, char **err);
/*
 * Refuses (REVIEW_REFUSED, *err) a draft body that still holds a template marker ("{{...}}",
 * but {{agent.name}}, which approval fills in) or matches one of c's review.placeholders, naming
 * the line and quoting the text. Lines quoted with '>' are not checked. c may be NULL.
 */
int review_check_text(const struct config *c, uint64_t thread, const char *body, char **err);
/* Refuses a draft with a To or Cc address in th's bounced list, saying what bounced. */
int review_check_bounced(const struct store_thread *th, const struct store_draft *d, char **err);

/* The preview of tg's draft (see review_preview): as approval would make it (signed, with a
 * Message-ID), composed and read back. REVIEW_REFUSED with *err when it cannot be composed. */
int review_preview_text(const struct config *c, const struct review_target *tg,
                        const struct review_agent *a, char **out, char **err);

#endif
