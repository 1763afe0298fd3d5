/*
 * review_redraft: `tend redraft`, open drafts written again from the rules and templates in
 * force, one conversation per write transaction so that tendd, which writes the same store,
 * waits at most for one conversation at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "review_int.h"
#include "tend/classify.h"

/* Refuses a thread that does not wait for an answer with a proposed draft. */
static int check_redraftable(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	int state = tg->th->state;
	if (state == STORE_THREAD_CLOSED)
		return review_refuse(
		    err,
		    "thread %llu is resolved: only an open conversation's draft is "
		    "redrafted (`tend reopen %llu` drafts it anew)",
		    id, id);
	if (state == STORE_THREAD_ANSWERED)
		return review_refuse(
		    err,
		    "thread %llu is answered: only an open conversation's draft is "
		    "redrafted (`tend reopen %llu` drafts it anew)",
		    id, id);
	if (state == STORE_THREAD_IGNORED)
		return review_refuse(
		    err,
		    "thread %llu is ignored (automatic mail, or a rule said so): it "
		    "has no draft to redraft",
		    id);
	int rc = review_need_proposed(tg, "redraft", err);
	if (rc == 0 && !classify_redraftable(tg->th, tg->d))
		rc = review_refuse(err,
		                   "thread %llu: its reply could not be sent (see `tend outbox`); "
		                   "it is not redrafted",
		                   id);
	return rc;
}

/*
 * "12: redrafted (tags: +invoice)", "13: unchanged", "14: redrafted; your edit is kept aside,
 * see `tend show 14`"; for the audit trail (audit), without the id and the advice.
 */
static char *outcome(uint64_t id, const struct classify_redraft *r, bool audit)
{
	unsigned long long n = (unsigned long long)id;
	struct buf b = BUF_INIT;
	if (!audit)
		buf_printf(&b, "%llu: ", n);
	if (!classify_redraft_changed(r)) {
		buf_puts(&b, "unchanged");
		return buf_steal(&b);
	}
	char *what = classify_redraft_summary(r);
	buf_puts(&b, r->text ? "redrafted" : "text unchanged");
	if (*what)
		buf_printf(&b, " (%s)", what);
	if (r->aside && audit)
		buf_puts(&b, "; the agent's edit is kept aside");
	else if (r->aside)
		buf_printf(&b, "; your edit is kept aside, see `tend show %llu`", n);
	free(what);
	return buf_steal(&b);
}

int review_redraft(struct store *s, struct classify *cl, uint64_t thread,
                   const struct review_agent *a, char **line, char **err)
{
	struct review_target tg;
	struct classify_redraft r;
	*line = NULL;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = check_redraftable(&tg, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	int64_t now = (int64_t)time(NULL);
	rc = classify_redraft(cl, tg.t, tg.id, now, false, &r);
	if (rc == 0 && classify_redraft_changed(&r)) {
		char *detail = outcome(tg.id, &r, true);
		rc = review_audit(&tg, a, "redraft", detail, now);
		free(detail);
	}
	if (rc == 0)
		*line = outcome(tg.id, &r, false);
	classify_redraft_finish(&r);
	if (rc == CLASSIFY_NOT_OPEN)
		rc = review_refuse(err, "thread %llu has no draft to redraft",
		                   (unsigned long long)tg.id);
	rc = review_finish(&tg, rc, "redraft", err);
	if (rc < 0) {
		free(*line);
		*line = NULL;
	}
	return rc;
}

struct open_drafts {
	struct store_txn *t;
	struct idvec *ids;
};

static int collect_open(const struct store_thread *th, void *arg)
{
	struct open_drafts *o = arg;
	struct store_draft *d = NULL;
	if (th->state != STORE_THREAD_OPEN || th->draft == 0)
		return 0;
	int rc = store_get_draft(o->t, th->draft, &d);
	if (rc == 0 && classify_redraftable(th, d))
		idvec_push(o->ids, th->id);
	store_draft_free(d);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

int review_redraft_list(struct store *s, struct idvec *out)
{
	struct open_drafts o = {NULL, out};
	int rc = store_begin(s, false, &o.t);
	if (rc < 0)
		return rc;
	rc = store_foreach_thread(o.t, collect_open, &o);
	store_abort(o.t);
	return rc < 0 ? rc : 0;
}
