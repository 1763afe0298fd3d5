/*
 * review_parts: `tend draft ID --add TEMPLATE` and `--remove N`, a part by hand for the concern
 * the rules missed, or out for the one they saw wrongly.
 *
 * The draft is written again by the rules (classify_compose) with the part added or left out,
 * and the choice is recorded on the draft (store_draft.parts_added, parts_removed), so that
 * the rules keep to it when they write the draft again (the customer writes again, `tend
 * redraft`). A draft an agent edited by hand is refused: its text is the agent's, not the
 * rules', and writing it again would set the edit aside.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "review_int.h"
#include "tend/classify.h"

static void strvec_remove(struct strvec *sv, const char *s)
{
	size_t k = 0;
	for (size_t i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s) == 0)
			free(sv->v[i]);
		else
			sv->v[k++] = sv->v[i];
	}
	sv->n = k;
}

/* The part number of rule in d (1 for the first), or 0. */
static size_t part_of(const struct store_draft *d, const char *rule)
{
	for (size_t i = 0; i < d->parts.n; i++)
		if (strcmp(d->parts.v[i], rule) == 0)
			return i + 1;
	return 0;
}

/* A proposed draft of an open conversation, written by the rules and not by hand. */
static int check_changeable(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	int rc = review_need_proposed(tg, "change", err);
	if (rc < 0)
		return rc;
	if (!classify_redraftable(tg->th, tg->d))
		return review_refuse(
		    err,
		    "thread %llu: the draft is not open to the rules (its reply could "
		    "not be sent, or the conversation is not open)",
		    id);
	if (tg->d->edited || tg->d->resend_of)
		return review_refuse(
		    err,
		    "thread %llu: the draft was edited by hand; adding or removing a "
		    "part would write it again from the templates over your text: "
		    "change it with `tend edit %llu`",
		    id, id);
	return 0;
}

/* Writes the draft again with its recorded parts. */
static int recompose(struct review_target *tg, struct classify *cl, char **err)
{
	int rc = classify_compose(cl, tg->t, tg->th, tg->d);
	if (rc == 1)
		return review_refuse(err, "thread %llu: no customer message waits for an answer",
		                     (unsigned long long)tg->id);
	return rc;
}

/* Saves and audits the draft recomposed (rc 0), and ends the transaction either way. */
static int finish(struct review_target *tg, int rc, const struct review_agent *a,
                  const char *detail, const char *verb, char **err)
{
	int64_t now = (int64_t)time(NULL);
	if (rc == REVIEW_REFUSED) {
		review_target_close(tg);
		return rc;
	}
	tg->d->updated = now;
	if (rc == 0)
		rc = store_put_draft(tg->t, tg->d);
	if (rc == 0)
		rc = review_audit(tg, a, "part", detail, now);
	return review_finish(tg, rc, verb, err);
}

/* Finds the rule that names template and checks the draft lacks its part. */
static int rule_to_add(const struct review_target *tg, struct classify *cl, const char *template,
                       const char **rule, char **err)
{
	const struct rules *r = classify_rules(cl);
	char *safe = term_dup(template, TEXT_LINE);
	int rc = 0;
	*rule = rules_template_rule(r, template);
	if (*rule == NULL)
		rc = review_refuse(err, "no rule in %s has the template \"%s\"", rules_path(r),
		                   safe);
	else if (part_of(tg->d, *rule))
		rc = review_refuse(err,
		                   "thread %llu: the draft has that part already (part %zu, %s)",
		                   (unsigned long long)tg->id, part_of(tg->d, *rule), *rule);
	free(safe);
	return rc;
}

int review_part_add(struct store *s, struct classify *cl, uint64_t thread,
                    const struct review_agent *a, const char *template, char **line, char **err)
{
	struct review_target tg;
	const char *rule = NULL;
	*line = NULL;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = check_changeable(&tg, err)) < 0 ||
	    (rc = rule_to_add(&tg, cl, template, &rule, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	strvec_remove(&tg.d->parts_removed, rule);
	if (!strvec_contains(&tg.d->parts_added, rule))
		strvec_push(&tg.d->parts_added, rule);
	char *detail = NULL;
	if ((rc = recompose(&tg, cl, err)) == 0)
		detail = xasprintf("added part %zu of %zu, %s (template %s)", part_of(tg.d, rule),
		                   tg.d->parts.n, rule, template);
	if ((rc = finish(&tg, rc, a, detail, "add a part to", err)) == 0)
		*line = detail;
	else
		free(detail);
	return rc;
}

int review_part_remove(struct store *s, struct classify *cl, uint64_t thread,
                       const struct review_agent *a, size_t n, char **line, char **err)
{
	struct review_target tg;
	*line = NULL;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = check_changeable(&tg, err)) == 0 && (n == 0 || n > tg.d->parts.n))
		rc =
		    review_refuse(err,
		                  "thread %llu: the draft has %zu part%s (`tend show %llu` numbers "
		                  "them); there is no part %zu",
		                  (unsigned long long)tg.id, tg.d->parts.n,
		                  tg.d->parts.n == 1 ? "" : "s", (unsigned long long)tg.id, n);
	if (rc < 0) {
		review_target_close(&tg);
		return rc;
	}
	char *rule = xstrdup(tg.d->parts.v[n - 1]);
	strvec_remove(&tg.d->parts_added, rule);
	if (!strvec_contains(&tg.d->parts_removed, rule))
		strvec_push(&tg.d->parts_removed, rule);
	char *detail = xasprintf("removed part %zu, %s", n, rule);
	free(rule);
	rc = recompose(&tg, cl, err);
	if ((rc = finish(&tg, rc, a, detail, "remove a part from", err)) == 0)
		*line = detail;
	else
		free(detail);
	return rc;
}
