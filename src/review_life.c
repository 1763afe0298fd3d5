/*
 * review_life: a conversation's life cycle as agents steer it: `tend resolve`, `tend reopen`,
 * and what `tend reject` leaves behind (an empty draft, or with --resolve nothing).
 *
 * Resolving stops the clock and withdraws the draft; the customer messages it settles
 * (store_thread.settled) are not drafted for again, but any later message opens the
 * conversation as before. Reopening restarts the clock from now and drafts anew (classify).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "review_int.h"
#include "tend/classify.h"
#include "tend/draft.h"

/* The reason as given, trimmed; NULL when there is none or it is blank. */
static char *reason_dup(const char *reason)
{
	char *r = reason ? str_trim_dup(reason, strlen(reason)) : NULL;
	if (r && *r == '\0') {
		free(r);
		r = NULL;
	}
	return r;
}

/* The newest message's id: message ids grow as mail is stored. */
static uint64_t last_message(const struct store_thread *th)
{
	uint64_t last = 0;
	for (size_t i = 0; i < th->messages.n; i++)
		if (th->messages.v[i] > last)
			last = th->messages.v[i];
	return last;
}

/* Refuses a thread that is resolved or ignored already, or whose reply is being sent. */
static int check_resolvable(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	if (tg->th->state == STORE_THREAD_CLOSED)
		return review_refuse(err, "thread %llu is resolved already", id);
	if (tg->th->state == STORE_THREAD_IGNORED)
		return review_refuse(err,
		                     "thread %llu is ignored (automatic mail, or a rule said so): "
		                     "it needs no answer",
		                     id);
	const struct store_draft *d = tg->d;
	if (d && d->state != STORE_DRAFT_PROPOSED && d->state != STORE_DRAFT_FAILED)
		return review_refuse(err,
		                     "thread %llu: its reply is %s (see `tend outbox`); it cannot "
		                     "be resolved until that is settled",
		                     id, view_draft_state_name(d->state));
	return 0;
}

/* Takes the open draft out of review: it is kept, rejected, with why. */
static int withdraw(struct review_target *tg, const char *why, int64_t now)
{
	struct store_draft *d = tg->d;
	if (d == NULL || (d->state != STORE_DRAFT_PROPOSED && d->state != STORE_DRAFT_FAILED))
		return 0;
	int rc = review_queue_remove(tg->t, d->id, d->queued);
	d->queued = 0;
	d->state = STORE_DRAFT_REJECTED;
	free(d->reject_reason);
	d->reject_reason = xstrdup(why);
	d->updated = now;
	return rc == 0 ? store_put_draft(tg->t, d) : rc;
}

int review_resolve_in(struct review_target *tg, const struct review_agent *a, const char *reason,
                      int64_t now)
{
	char *why = reason_dup(reason);
	int rc = withdraw(tg, "the conversation was resolved", now);
	struct store_thread *th = tg->th;
	th->state = STORE_THREAD_CLOSED;
	th->draft = 0;
	th->clock_start = 0;
	th->deadline = th->risk_at = 0;
	th->settled = last_message(th);
	th->resolved = now;
	free(th->resolved_by);
	th->resolved_by = xstrdup(a->login);
	free(th->resolve_reason);
	th->resolve_reason = why;
	review_claim_drop(th, NULL);
	if (rc == 0)
		rc = store_put_thread(tg->t, th);
	if (rc == 0)
		rc = review_audit(tg, a, "resolve", why ? why : "(no reason given)", now);
	return rc;
}

int review_resolve(struct store *s, uint64_t thread, const struct review_agent *a,
                   const char *reason, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = check_resolvable(&tg, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	rc = review_resolve_in(&tg, a, reason, (int64_t)time(NULL));
	return review_finish(&tg, rc, "resolve", err);
}

int review_blank_draft(struct review_target *tg, int64_t now)
{
	struct store_draft *nd = xcalloc(1, sizeof(*nd));
	int rc = store_next_id(tg->t, STORE_COUNTER_DRAFT, &nd->id);
	if (rc == 0) {
		draft_copy_reply(nd, tg->d, true);
		nd->body = xstrdup("");
		nd->resend_of = tg->d->resend_of;
		nd->bounce = tg->d->bounce ? xstrdup(tg->d->bounce) : NULL;
		nd->created = nd->updated = now;
		nd->queued = tg->th->deadline ? tg->th->deadline : now;
		tg->th->draft = nd->id;
		rc = store_index_put(tg->t, STORE_INDEX_QUEUE, nd->queued, nd->id);
	}
	if (rc == 0)
		rc = store_put_draft(tg->t, nd);
	if (rc == 0)
		rc = store_put_thread(tg->t, tg->th);
	store_draft_free(nd);
	return rc;
}

int review_reopen(struct store *s, struct classify *cl, uint64_t thread,
                  const struct review_agent *a, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	unsigned long long id = (unsigned long long)tg.id;
	int state = tg.th->state;
	if (state == STORE_THREAD_OPEN)
		rc = review_refuse(err, "thread %llu is open already: it is waiting for an answer",
		                   id);
	else if (state == STORE_THREAD_IGNORED)
		rc = review_refuse(
		    err,
		    "thread %llu is ignored (automatic mail, or a rule said so); only "
		    "a resolved or answered conversation can be reopened",
		    id);
	if (rc < 0) {
		review_target_close(&tg);
		return rc;
	}
	int64_t now = (int64_t)time(NULL);
	rc =
	    review_audit(&tg, a, "reopen",
	                 state == STORE_THREAD_CLOSED ? "it was resolved" : "it was answered", now);
	if (rc == 0)
		rc = classify_reopen(cl, tg.t, tg.id, now);
	return review_finish(&tg, rc, "reopen", err);
}
