/*
 * rulestool: rules check, rules test, rules replay.
 */
#include "tend/rulestool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/classify.h"
#include "tend/draft.h"
#include "tend/json.h"
#include "tend/message.h"

int rulestool_check(const char *path, FILE *out)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	int rc = rules_load(path, &r, &d);
	if (rc < 0) {
		diags_print(&d);
		fprintf(stderr, "%s: %zu error%s\n", path, d.n, d.n == 1 ? "" : "s");
	} else {
		fprintf(out, "%s: OK (%zu rule%s)\n", path, rules_count(r),
		        rules_count(r) == 1 ? "" : "s");
	}
	diags_free(&d);
	rules_free(r);
	return rc < 0 ? 1 : 0;
}

/* A stand-in for the conversation the message would start, so the draft can be shown. */
static void test_thread(const struct message *m, struct store_thread *th)
{
	memset(th, 0, sizeof(*th));
	th->id = 0;
	th->subject = m->subject;
	th->customer = m->from;
}

static void draft_for(const struct rules *r, const struct config *c, const struct message *m,
                      const struct rules_result *res, struct store_draft *d)
{
	struct store_thread th;
	struct strvec own = STRVEC_INIT;
	for (size_t i = 0; i < c->naccounts; i++)
		strvec_push(&own, c->accounts[i].address);
	test_thread(m, &th);
	const struct rules_sla *sla = rules_sla(r);
	const struct rules_business_hours *bh = rules_business_hours(r);
	struct draft_message dm = {.message = m, .result = res, .flags = 0};
	struct draft_input in = {
	    .rules = r,
	    .thread = &th,
	    .messages = &dm,
	    .nmessages = 1,
	    .own = &own,
	    .token = c->threading.token,
	    .deadline = (m->date ? m->date : (int64_t)time(NULL)) + sla->target[res->priority],
	    .timezone = bh->set ? bh->timezone : NULL,
	};
	draft_compose(&in, d);
	strvec_free(&own);
}

static void print_addrs(struct buf *b, const char *label, const struct message_addrs *as)
{
	if (as->n == 0)
		return;
	buf_printf(b, "%s:", label);
	for (size_t i = 0; i < as->n; i++)
		buf_printf(b, "%s %s%s%s%s", i ? "," : "", as->v[i].name ? as->v[i].name : "",
		           as->v[i].name ? " <" : "", as->v[i].addr, as->v[i].name ? ">" : "");
	buf_putc(b, '\n');
}

/* Written with the controls in it escaped: it quotes the message and the draft made of it. */
static void test_human(FILE *out, const struct buf *explain, const struct rules_result *res,
                       const struct store_draft *d)
{
	struct buf b = BUF_INIT;
	buf_append(&b, explain->data ? explain->data : "", explain->len);
	if (res->lang[0])
		buf_printf(&b, "language: %s%s%s%s\n", res->lang,
		           res->lang_note[0] ? " (the default: " : "", res->lang_note,
		           res->lang_note[0] ? ")" : "");
	if (res->ignore) {
		buf_printf(&b, "\nNo draft: %s.\n",
		           res->ignore_reason ? res->ignore_reason : "ignored");
	} else {
		buf_puts(&b, "\nThe draft it would get (thread id 0 stands for the new "
		             "conversation's):\n");
		print_addrs(&b, "To", &d->to);
		print_addrs(&b, "Cc", &d->cc);
		buf_printf(&b, "Subject: %s\n\n%s", d->subject, d->body);
	}
	char *safe = term_dup(b.data, TEXT_LINES);
	fputs(safe, out);
	free(safe);
	buf_free(&b);
}

/* What the lookups found: "facts" (name to value) and "lookup_failures". */
static void json_facts(struct json *j, const struct rules_facts *f)
{
	json_key(j, "facts");
	json_object_begin(j);
	for (size_t i = 0; i < f->names.n; i++) {
		json_key(j, f->names.v[i]);
		json_string(j, f->values.v[i]);
	}
	json_object_end(j);
	json_key(j, "lookup_failures");
	json_array_begin(j);
	for (size_t i = 0; i < f->failures.n; i++)
		json_string(j, f->failures.v[i]);
	json_array_end(j);
}

static void test_json(FILE *out, const struct rules_result *res, const struct store_draft *d)
{
	struct json j;
	json_init(&j, true);
	json_object_begin(&j);
	json_key(&j, "rules");
	json_array_begin(&j);
	for (size_t i = 0; i < res->nmatches; i++) {
		const struct rules_match *m = &res->matches[i];
		json_object_begin(&j);
		json_key(&j, "name");
		json_string(&j, m->rule);
		json_key(&j, "captures");
		json_object_begin(&j);
		for (size_t k = 0; k < m->capture_names.n; k++) {
			json_key(&j, m->capture_names.v[k]);
			json_string(&j, m->capture_values.v[k]);
		}
		json_object_end(&j);
		json_key(&j, "captured_from");
		json_object_begin(&j);
		for (size_t k = 0; k < m->capture_names.n && k < m->capture_sources.n; k++) {
			json_key(&j, m->capture_names.v[k]);
			json_string(&j, m->capture_sources.v[k]);
		}
		json_object_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "tags");
	json_array_begin(&j);
	for (size_t i = 0; i < res->tags.n; i++)
		json_string(&j, res->tags.v[i]);
	json_array_end(&j);
	json_key(&j, "priority");
	json_string(&j, rules_priority_name(res->priority));
	json_key(&j, "automated");
	json_bool(&j, res->automated);
	json_key(&j, "ignored");
	json_string(&j, res->ignore ? res->ignore_reason : NULL);
	json_key(&j, "lang");
	json_string(&j, res->lang[0] ? res->lang : NULL);
	json_key(&j, "lang_note");
	json_string(&j, res->lang_note[0] ? res->lang_note : NULL);
	json_facts(&j, &res->facts);
	json_key(&j, "draft");
	if (res->ignore) {
		json_null(&j);
	} else {
		json_object_begin(&j);
		json_key(&j, "subject");
		json_string(&j, d->subject);
		json_key(&j, "body");
		json_string(&j, d->body);
		json_object_end(&j);
	}
	json_object_end(&j);
	fwrite(j.out.data, 1, j.out.len, out);
	fputc('\n', out);
	json_finish(&j);
}

/* How many of the conversation's earlier messages a capture looks through, as tendd does. */
#define TEST_EARLIER 20

/* The stored conversation m follows up, by the Message-IDs it answers; 0 when none. */
static uint64_t followed_thread(struct store_txn *t, const struct message *m)
{
	const struct strvec *ids[] = {&m->in_reply_to, &m->references};
	for (size_t k = 0; k < NELEM(ids); k++) {
		for (size_t i = ids[k]->n; i-- > 0;) {
			struct store_msgid e;
			uint64_t live;
			if (store_get_msgid(t, ids[k]->v[i], &e) == 0 && e.thread &&
			    store_resolve_thread(t, e.thread, &live) == 0)
				return live;
		}
	}
	return 0;
}

/* The customer's earlier messages in the conversation m follows up, when s has it. */
static void earlier_messages(struct store *s, const struct message *m, struct classify_history *h,
                             struct rules_input *in)
{
	struct store_txn *t = NULL;
	struct store_thread *th = NULL;
	memset(h, 0, sizeof(*h));
	if (s == NULL || store_begin(s, false, &t) < 0)
		return;
	uint64_t id = followed_thread(t, m), self = 0;
	struct store_msgid e;
	if (m->message_id && store_get_msgid(t, m->message_id, &e) == 0)
		self = e.message; /* a message stored already: only those before it */
	if (id && store_get_thread(t, id, &th) == 0 &&
	    classify_history_load(t, th, TEST_EARLIER + 1, h) == 0) {
		in->earlier = classify_history_before(h, self, &in->nearlier);
		in->nearlier = in->nearlier > TEST_EARLIER ? TEST_EARLIER : in->nearlier;
	}
	store_thread_free(th);
	store_abort(t);
}

int rulestool_test(const struct rules *r, const struct config *c, struct store *s,
                   const char *eml_path, bool json, FILE *out)
{
	char *raw = NULL, *reason = NULL;
	size_t len;
	struct message *m = NULL;
	if (read_file(eml_path, &raw, &len) < 0) {
		log_warnx("cannot read %s: %s", eml_path, strerror(errno));
		return 1;
	}
	if (message_parse(raw, len, NULL, &m, &reason) < 0) {
		log_warnx("%s: %s (tend would quarantine it)", eml_path, reason);
		free(reason);
		free(raw);
		return 1;
	}
	const struct rules_business_hours *bh = rules_business_hours(r);
	struct rules_input in = {.message = m,
	                         .first_message = m->references.n == 0 && m->in_reply_to.n == 0,
	                         .timezone = bh->set ? bh->timezone : NULL,
	                         /* as `tend import` of the file would have it arrive */
	                         .received = m->date,
	                         .received_is_date = m->date != 0};
	struct classify_history h;
	earlier_messages(s, m, &h, &in);
	struct rules_result res;
	struct rules_facts facts;
	struct buf explain = BUF_INIT;
	struct store_draft *d = xcalloc(1, sizeof(*d));
	rules_lookup(r, &in, &facts, &explain);
	if (rules_has_lookups(r))
		in.facts = &facts;
	rules_explain(r, &in, &res, &explain);
	rules_facts_finish(&facts);
	if (!res.ignore) {
		rules_result_lang(r, m, &res);
		draft_for(r, c, m, &res, d);
	}
	if (json)
		test_json(out, &res, d);
	else
		test_human(out, &explain, &res, d);
	store_draft_free(d);
	buf_free(&explain);
	rules_result_finish(&res);
	classify_history_free(&h);
	message_free(m);
	free(raw);
	return 0;
}

/* What the rules make of a conversation: computed the same way from recorded verdicts and from
 * a fresh evaluation, so the two can be compared. */
struct verdict {
	struct strvec tags;
	int priority;
	bool needs_answer;
};

static void verdict_add(struct verdict *v, const struct strvec *tags, int priority, bool ignored,
                        bool unanswered)
{
	if (ignored)
		return;
	for (size_t i = 0; i < tags->n; i++)
		if (!strvec_contains(&v->tags, tags->v[i]))
			strvec_push(&v->tags, tags->v[i]);
	if (unanswered) {
		v->needs_answer = true;
		if (priority > v->priority)
			v->priority = priority;
	}
}

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *tags_text(struct strvec *tags)
{
	if (tags->n == 0)
		return xstrdup("(none)");
	qsort(tags->v, tags->n, sizeof(*tags->v), tag_cmp);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < tags->n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", tags->v[i]);
	return buf_steal(&b);
}

struct replay {
	const struct rules *rules;
	struct classify *cl; /* with the same rules: the drafts they would write */
	struct store_txn *t;
	bool json;
	struct json j;
	struct buf out;
	size_t threads, changed;
	struct idvec drafts; /* conversations whose open draft would read differently */
};

/* Adds one stored message to both verdicts: as recorded, and as the rules say now. */
static void replay_message(struct replay *rp, const struct store_thread *th,
                           const struct store_message *rec, struct verdict *was,
                           struct verdict *now)
{
	if (rec->flags & (STORE_MSG_OURS | STORE_MSG_UNVERIFIED | STORE_MSG_QUARANTINED))
		return;
	bool unanswered = rec->received >= th->answered && rec->id > th->settled;
	verdict_add(was, &rec->tags, rec->priority, rec->ignore_reason != NULL, unanswered);
	const char *raw;
	size_t len;
	struct message *m = NULL;
	char *reason = NULL;
	if (store_get_raw(rp->t, rec->id, &raw, &len) < 0 ||
	    message_parse(raw, len, NULL, &m, &reason) < 0) {
		free(reason);
		return;
	}
	/* the facts its lookups found when it arrived: a replay runs no programs */
	struct rules_facts facts = {rec->fact_names, rec->fact_values, rec->fact_failures};
	struct rules_input in = {.message = m,
	                         .first_message = rec->join_reason == 0,
	                         .received = classify_asked_at(th, rec),
	                         .arrived = rec->received};
	if (rec->fact_names.n || rec->fact_failures.n)
		in.facts = &facts;
	struct rules_result res;
	rules_eval(rp->rules, &in, &res);
	verdict_add(now, &res.tags, res.priority, res.ignore, unanswered);
	rules_result_finish(&res);
	message_free(m);
}

static void report_json(struct replay *rp, const char *key, struct verdict *v)
{
	json_key(&rp->j, key);
	json_object_begin(&rp->j);
	json_key(&rp->j, "tags");
	json_array_begin(&rp->j);
	qsort(v->tags.v, v->tags.n, sizeof(*v->tags.v), tag_cmp);
	for (size_t i = 0; i < v->tags.n; i++)
		json_string(&rp->j, v->tags.v[i]);
	json_array_end(&rp->j);
	json_key(&rp->j, "priority");
	json_string(&rp->j, v->needs_answer ? rules_priority_name(v->priority) : NULL);
	json_key(&rp->j, "needs_answer");
	json_bool(&rp->j, v->needs_answer);
	json_object_end(&rp->j);
}

static void report(struct replay *rp, const struct store_thread *th, struct verdict *was,
                   struct verdict *now, bool draft)
{
	if (rp->json) {
		json_object_begin(&rp->j);
		json_key(&rp->j, "thread");
		json_int(&rp->j, (int64_t)th->id);
		json_key(&rp->j, "subject");
		json_string(&rp->j, th->subject);
		report_json(rp, "before", was);
		report_json(rp, "after", now);
		json_key(&rp->j, "draft_would_change");
		json_bool(&rp->j, draft);
		json_object_end(&rp->j);
		return;
	}
	char *a = tags_text(&was->tags), *b = tags_text(&now->tags);
	buf_printf(&rp->out, "thread %llu  %s\n", (unsigned long long)th->id, th->subject);
	if (strcmp(a, b) != 0)
		buf_printf(&rp->out, "  tags      %s  ->  %s\n", a, b);
	if (was->needs_answer != now->needs_answer)
		buf_printf(&rp->out, "  draft     %s  ->  %s\n",
		           was->needs_answer ? "needed" : "not needed",
		           now->needs_answer ? "needed" : "not needed");
	else if (was->needs_answer && was->priority != now->priority)
		buf_printf(&rp->out, "  priority  %s  ->  %s\n", rules_priority_name(was->priority),
		           rules_priority_name(now->priority));
	if (draft)
		buf_printf(&rp->out, "  draft     its text would change\n");
	free(a);
	free(b);
}

static bool differs(struct verdict *was, struct verdict *now)
{
	char *a = tags_text(&was->tags), *b = tags_text(&now->tags);
	bool d = strcmp(a, b) != 0 || was->needs_answer != now->needs_answer ||
	         (was->needs_answer && was->priority != now->priority);
	free(a);
	free(b);
	return d;
}

/* True when the open draft of th would read differently if written with the rules now. */
static bool draft_changes(struct replay *rp, const struct store_thread *th)
{
	struct classify_redraft r;
	if (th->state != STORE_THREAD_OPEN || th->draft == 0)
		return false;
	bool yes =
	    classify_redraft(rp->cl, rp->t, th->id, (int64_t)time(NULL), true, &r) == 0 && r.text;
	classify_redraft_finish(&r);
	return yes;
}

/* "2 open drafts would read differently: 12, 14." and what to do about it. */
static void report_drafts(struct replay *rp)
{
	size_t n = rp->drafts.n;
	if (n == 0)
		return;
	buf_printf(&rp->out, "%zu open draft%s would read differently: ", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		buf_printf(&rp->out, "%s%llu", i ? ", " : "", (unsigned long long)rp->drafts.v[i]);
	buf_printf(&rp->out,
	           ".\nWith these rules in force, `tend redraft --all` (or `tend redraft ID`)"
	           "\nwrites them again; an agent's edit is kept aside.\n");
}

static int replay_thread(const struct store_thread *th, void *arg)
{
	struct replay *rp = arg;
	struct verdict was = {STRVEC_INIT, RULES_PRIORITY_LOW, false};
	struct verdict now = {STRVEC_INIT, RULES_PRIORITY_LOW, false};
	int rc = 0;
	for (size_t i = 0; i < th->messages.n && rc == 0; i++) {
		struct store_message *rec = NULL;
		if ((rc = store_get_message(rp->t, th->messages.v[i], &rec)) == 0)
			replay_message(rp, th, rec, &was, &now);
		store_message_free(rec);
	}
	rp->threads++;
	bool tags = rc == 0 && differs(&was, &now), draft = rc == 0 && draft_changes(rp, th);
	rp->changed += tags;
	if (draft)
		idvec_push(&rp->drafts, th->id);
	if (tags || draft)
		report(rp, th, &was, &now, draft);
	strvec_free(&was.tags);
	strvec_free(&now.tags);
	return rc;
}

int rulestool_replay(struct store *s, const struct config *c, const struct rules *r, bool json,
                     FILE *out)
{
	struct replay rp = {.rules = r, .json = json};
	int rc = store_begin(s, false, &rp.t);
	if (rc < 0)
		return rc;
	rp.cl = classify_new(c, r, "replay");
	json_init(&rp.j, false);
	if (json)
		json_array_begin(&rp.j);
	rc = store_foreach_thread(rp.t, replay_thread, &rp);
	store_abort(rp.t);
	if (json) {
		json_array_end(&rp.j);
		buf_append(&rp.out, rp.j.out.data, rp.j.out.len);
		buf_putc(&rp.out, '\n');
	} else {
		buf_printf(&rp.out,
		           "%zu of %zu conversation%s would be tagged differently by %s.\n",
		           rp.changed, rp.threads, rp.threads == 1 ? "" : "s", rules_path(r));
		report_drafts(&rp);
		char *safe = term_dup(rp.out.data, TEXT_LINES); /* subjects from the store */
		buf_reset(&rp.out);
		buf_puts(&rp.out, safe);
		free(safe);
	}
	if (rc >= 0)
		fwrite(rp.out.data, 1, rp.out.len, out);
	json_finish(&rp.j);
	buf_free(&rp.out);
	idvec_free(&rp.drafts);
	classify_free(rp.cl);
	return rc < 0 ? rc : 0;
}
