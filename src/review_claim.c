/*
 * review_claim: who is on a conversation. Editing, taking (`tend show --take`) and reviewing
 * a conversation claim it for the agent for review.claim_for; approving, rejecting or
 * resolving it, snoozing it as the claimant, and `tend release` end the claim. While another
 * agent's claim holds, editing and approving are refused unless the agent forces it, and a
 * forced action is audited as such.
 *
 * The claim lives in the thread record (store_thread.claim_*): it is written in the same
 * transaction as the action that takes it, and a claim that has lapsed is simply ignored, so
 * nothing has to clear it, and neither tendd nor statistics ever look at it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "review_int.h"

/* True when someone other than a holds a claim on th that has not lapsed. */
static bool held_by_other(const struct store_thread *th, const struct review_agent *a, int64_t now)
{
	return view_claim_held(th, now) && strcmp(th->claim_agent, a->login) != 0;
}

/* "alice (on it since 05:31, 4 min)": for refusals and the audit trail. */
static char *claim_who(const struct store_thread *th, int64_t now)
{
	char since[16];
	time_t tt = (time_t)th->claim_since;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(since, sizeof(since), "%H:%M", &tm);
	char *text = view_claim_text(th, now);
	char *who = xasprintf("%s, since %s", text, since);
	free(text);
	return who;
}

int review_claim_check(struct review_target *tg, const struct review_agent *a, const char *verb,
                       int64_t now, char **err)
{
	if (!held_by_other(tg->th, a, now))
		return 0;
	char *who = claim_who(tg->th, now);
	int rc = 0;
	if (!a->force) {
		rc = review_refuse(err,
		                   "thread %llu: %s; to %s it all the same, add --force "
		                   "(or wait until the claim lapses)",
		                   (unsigned long long)tg->id, who, verb);
	} else {
		char *detail = xasprintf("%s with --force, over this claim: %s", verb, who);
		rc = review_audit(tg, a, "force", detail, now);
		free(detail);
		if (rc < 0)
			*err = xasprintf("cannot record the forced %s of thread %llu: %s", verb,
			                 (unsigned long long)tg->id, store_strerror(rc));
	}
	free(who);
	return rc;
}

void review_claim_set(struct store_thread *th, const struct review_agent *a, int64_t claim_for,
                      int64_t now)
{
	bool mine = view_claim_held(th, now) && strcmp(th->claim_agent, a->login) == 0;
	if (!mine) {
		free(th->claim_agent);
		th->claim_agent = xstrdup(a->login);
		th->claim_since = now;
	}
	th->claim_until = now + (claim_for > 0 ? claim_for : REVIEW_CLAIM_FOR);
}

bool review_claim_drop(struct store_thread *th, const char *only)
{
	if (th->claim_agent == NULL)
		return false;
	if (only && strcmp(th->claim_agent, only) != 0)
		return false;
	free(th->claim_agent);
	th->claim_agent = NULL;
	th->claim_since = th->claim_until = 0;
	return true;
}

int review_claim(struct store *s, const struct config *c, uint64_t thread,
                 const struct review_agent *a, const char *verb, char **err)
{
	struct review_target tg;
	int64_t now = (int64_t)time(NULL);
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_claim_check(&tg, a, verb, now, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	bool fresh = !view_claim_held(tg.th, now) || strcmp(tg.th->claim_agent, a->login) != 0;
	review_claim_set(tg.th, a, c ? c->review.claim_for : 0, now);
	rc = store_put_thread(tg.t, tg.th);
	/* taking is worth a line in the trail; an edit's claim is told by the edit itself */
	if (rc == 0 && fresh && strcmp(verb, "take") == 0)
		rc = review_audit(&tg, a, "take", NULL, now);
	return review_finish(&tg, rc, "claim", err);
}

int review_release(struct store *s, uint64_t thread, const struct review_agent *a, char **err)
{
	struct review_target tg;
	int64_t now = (int64_t)time(NULL);
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if (!view_claim_held(tg.th, now)) {
		review_target_close(&tg);
		return review_refuse(err, "thread %llu: nobody is on it",
		                     (unsigned long long)thread);
	}
	if ((rc = review_claim_check(&tg, a, "release", now, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	char *detail = xasprintf("%s's claim released", tg.th->claim_agent);
	review_claim_drop(tg.th, NULL);
	rc = store_put_thread(tg.t, tg.th);
	if (rc == 0)
		rc = review_audit(&tg, a, "release", detail, now);
	free(detail);
	return review_finish(&tg, rc, "release", err);
}

int review_unclaim(struct store *s, uint64_t thread, const struct review_agent *a, char **err)
{
	struct review_target tg;
	int64_t now = (int64_t)time(NULL);
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if (!view_claim_held(tg.th, now) || strcmp(tg.th->claim_agent, a->login) != 0) {
		review_target_close(&tg);
		return 0;
	}
	review_claim_drop(tg.th, NULL);
	rc = store_put_thread(tg.t, tg.th);
	return review_finish(&tg, rc, "unclaim", err);
}

int review_assigned_elsewhere(struct store *s, uint64_t thread, const struct review_agent *a,
                              char **assignee, char **err)
{
	struct review_target tg;
	*assignee = NULL;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	if (tg.th->assignee && *tg.th->assignee && strcmp(tg.th->assignee, a->login) != 0)
		*assignee = xstrdup(tg.th->assignee);
	review_target_close(&tg);
	return 0;
}

int review_assignee_check(struct review_target *tg, const struct review_agent *a, const char *verb,
                          int64_t now, char **err)
{
	const char *to = tg->th->assignee;
	if (to == NULL || *to == '\0' || strcmp(to, a->login) == 0)
		return 0;
	if (!a->force && !a->over_assignee)
		return review_refuse(err,
		                     "thread %llu is assigned to %s; to %s it all the same, add "
		                     "--force",
		                     (unsigned long long)tg->id, to, verb);
	char *detail = xasprintf("%s of a conversation assigned to %s, %s", verb, to,
	                         a->force ? "with --force" : "confirmed on the terminal");
	int rc = review_audit(tg, a, a->force ? "force" : "confirm", detail, now);
	free(detail);
	if (rc < 0)
		*err = xasprintf("cannot record the %s of thread %llu: %s", verb,
		                 (unsigned long long)tg->id, store_strerror(rc));
	return rc;
}
