/*
 * classify: rules verdict -> message record and conversation; unanswered messages -> draft.
 */
#include "tend/classify.h"
#include "classify_int.h"
#include "tend/bounce.h"
#include "tend/sla.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tend/attach.h"
#include "tend/draft.h"

/*
 * A customer message stored in the transaction in hand, as parsed and judged when it arrived:
 * the draft written before the commit reads it from here instead of parsing the stored copy
 * and running the rules on it a second time.
 */
struct fresh {
	uint64_t id;
	struct message *m; /* NULL until ingest hands it over */
	struct rules_result res;
	int64_t asked; /* what fact_age measured against (asked_at) */
};

/* Messages that are no customer's: ours, and those claiming to be ours unverified. */
#define NOT_CUSTOMERS (STORE_MSG_OURS | STORE_MSG_UNVERIFIED)

/* What a transaction remembers at most; past it, drafts read the store as before. */
#define FRESH_MAX   4096
#define FRESH_BYTES (32u << 20) /* of raw message: parsed texts are of the same order */

struct classify {
	const struct config *config;
	const struct rules *rules;
	struct strvec own;
	char *actor;
	char *os_user;
	struct fresh *fresh;
	size_t nfresh;
	size_t fresh_bytes; /* raw size of the messages handed over */
};

static char *os_user_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw ? xstrdup(pw->pw_name) : xasprintf("uid %u", (unsigned)getuid());
}

struct classify *classify_new(const struct config *c, const struct rules *rules, const char *actor)
{
	struct classify *cl = xcalloc(1, sizeof(*cl));
	cl->config = c;
	cl->rules = rules;
	cl->actor = xstrdup(actor);
	cl->os_user = os_user_name();
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].address)
			strvec_push(&cl->own, c->accounts[i].address);
	return cl;
}

void classify_forget(struct classify *cl)
{
	for (size_t i = 0; i < cl->nfresh; i++) {
		message_free(cl->fresh[i].m);
		rules_result_finish(&cl->fresh[i].res);
	}
	cl->nfresh = 0;
	cl->fresh_bytes = 0;
}

/* Keeps a customer message's verdict (moved from res) until ingest hands over the message. */
static void remember(struct classify *cl, uint64_t id, int64_t asked, struct rules_result *res)
{
	if (cl->nfresh == FRESH_MAX) {
		rules_result_finish(res);
		return;
	}
	if (cl->fresh == NULL)
		cl->fresh = xcalloc(FRESH_MAX, sizeof(*cl->fresh));
	cl->fresh[cl->nfresh++] = (struct fresh){.id = id, .res = *res, .asked = asked};
	memset(res, 0, sizeof(*res));
}

static struct fresh *fresh_find(struct classify *cl, uint64_t id)
{
	for (size_t i = cl->nfresh; i-- > 0;)
		if (cl->fresh[i].id == id)
			return &cl->fresh[i];
	return NULL;
}

bool classify_adopt(struct classify *cl, uint64_t id, struct message *m, size_t raw_len)
{
	struct fresh *f = fresh_find(cl, id);
	/* One message is always kept, however big: parsing 50 MB twice costs more than holding it */
	if (f == NULL || f->m != NULL ||
	    (cl->fresh_bytes && cl->fresh_bytes + raw_len > FRESH_BYTES))
		return false;
	f->m = m;
	cl->fresh_bytes += raw_len;
	return true;
}

void classify_set_rules(struct classify *cl, const struct rules *rules)
{
	classify_forget(cl); /* verdicts of the old rules */
	cl->rules = rules;
}

const struct rules *classify_rules(const struct classify *cl)
{
	return cl->rules;
}

void classify_free(struct classify *cl)
{
	if (!cl)
		return;
	classify_forget(cl);
	free(cl->fresh);
	strvec_free(&cl->own);
	free(cl->actor);
	free(cl->os_user);
	free(cl);
}

static int audit(struct classify *cl, struct store_txn *t, const char *action, uint64_t thread,
                 uint64_t draft, char *detail)
{
	struct store_audit a = {
	    .time = (int64_t)time(NULL),
	    .agent = cl->actor,
	    .os_user = cl->os_user,
	    .action = (char *)action,
	    .thread = thread,
	    .draft = draft,
	    .detail = detail,
	};
	int rc = store_audit_append(t, &a);
	free(detail);
	return rc;
}

/* Records the rules' tags, matches and priority on the message record. */
static void record_tags(struct store_message *rec, const struct rules_result *res)
{
	for (size_t i = 0; i < res->tags.n; i++)
		strvec_push(&rec->tags, res->tags.v[i]);
	for (size_t i = 0; i < res->nmatches; i++)
		strvec_push(&rec->rules, res->matches[i].rule);
	rec->priority = res->priority;
}

/* Records what the rules said on the message record. */
static void record_verdict(struct classify *cl, struct store_message *rec,
                           const struct rules_result *res)
{
	record_tags(rec, res);
	if (res->ignore)
		rec->ignore_reason = xstrdup(res->ignore_reason ? res->ignore_reason : "ignored");
	if (res->automated)
		rec->flags |= STORE_MSG_AUTOMATED;
	if (res->lang[0])
		rec->lang = xstrdup(res->lang);
	if (res->lang_note[0])
		rec->lang_note = xstrdup(res->lang_note);
	for (size_t i = 0; i < res->facts.names.n; i++) {
		strvec_push(&rec->fact_names, res->facts.names.v[i]);
		strvec_push(&rec->fact_values, res->facts.values.v[i]);
	}
	for (size_t i = 0; i < res->facts.failures.n; i++)
		strvec_push(&rec->fact_failures, res->facts.failures.v[i]);
}

/* The facts recorded on a message when it arrived, lent (not copied) for evaluating it again. */
static struct rules_facts recorded_facts(const struct store_message *rec)
{
	return (struct rules_facts){rec->fact_names, rec->fact_values, rec->fact_failures};
}

static int64_t target(const struct classify *cl, int priority)
{
	const struct rules_sla *sla = rules_sla(cl->rules);
	if (priority < 0 || priority >= RULES_NPRIORITIES)
		priority = RULES_PRIORITY_NORMAL;
	return sla->target[priority];
}

/* The share of the target after which a conversation is at risk, when tend.yaml says none. */
#define DEFAULT_RISK_SHARE 75

/* The deadline, and the moment the conversation counts as at risk, in working time. */
static void set_deadline(const struct classify *cl, struct store_thread *th)
{
	const struct rules_business_hours *bh = rules_business_hours(cl->rules);
	int64_t t = target(cl, th->priority);
	int share = cl->config->escalation_at ? cl->config->escalation_at : DEFAULT_RISK_SHARE;
	th->deadline = sla_deadline(bh, th->clock_start, t);
	th->risk_at = sla_share(bh, th->clock_start, t, share);
}

/* A customer message nobody has answered yet: the clock runs from the first of them. */
static void customer_wrote(struct classify *cl, struct store_thread *th,
                           const struct store_message *rec)
{
	th->state = STORE_THREAD_OPEN;
	if (th->first_response == 0 && (th->first_clock == 0 || rec->received < th->first_clock))
		th->first_clock = rec->received;
	if (th->clock_start == 0 || rec->received < th->clock_start) {
		if (th->clock_start == 0)
			th->priority = rec->priority;
		th->clock_start = rec->received;
	}
	if (rec->priority > th->priority)
		th->priority = rec->priority;
	for (size_t i = 0; i < rec->tags.n; i++)
		if (!strvec_contains(&th->tags, rec->tags.v[i]))
			strvec_push(&th->tags, rec->tags.v[i]);
}

/* One of our own messages (a reply sent outside tend, or imported): the customer is answered. */
static void we_wrote(struct store_thread *th, const struct store_message *rec)
{
	if (rec->received < th->answered)
		return;
	th->answered = rec->received;
	if (th->first_response == 0 && th->clock_start) {
		th->first_response = rec->received;
		if (!th->first_bounced) /* after a bounce, the target of the first message holds */
			th->first_deadline = th->deadline;
	}
	th->clock_start = 0;
	th->deadline = th->risk_at = 0;
	th->state = STORE_THREAD_ANSWERED;
}

void classify_judge(const struct classify *cl, const struct message *m, bool first_message,
                    int64_t received, struct classify_verdict *v)
{
	struct rules_input input = {
	    .message = m, .first_message = first_message, .received = received};
	struct rules_facts facts = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	/* Ahead of the write transaction; our own mail (copies of replies) is answered by nobody. */
	if (!config_is_own_address(cl->config, m->from.addr))
		rules_lookup(cl->rules, &input, &facts, NULL);
	input.facts = &facts;
	rules_eval(cl->rules, &input, &v->res);
	rules_facts_finish(&facts);
	v->rules = cl->rules;
	v->first_message = first_message;
	v->received = received;
}

void classify_verdict_finish(struct classify_verdict *v)
{
	if (v->rules)
		rules_result_finish(&v->res);
	v->rules = NULL;
}

int64_t classify_asked_at(const struct store_thread *th, const struct store_message *rec)
{
	if (th->state == STORE_THREAD_OPEN && th->clock_start && th->clock_start < rec->received &&
	    !(rec->flags & NOT_CUSTOMERS))
		return th->clock_start;
	return rec->received;
}

/* The verdict on m: the one taken ahead when it still holds, else taken now. */
static void judge(struct classify *cl, const struct message *m, bool first_message,
                  int64_t received, int64_t arrived, struct classify_verdict *v,
                  struct rules_result *res)
{
	if (v && v->rules == cl->rules && v->received == received &&
	    (v->first_message == first_message || !rules_ask_first_message(cl->rules))) {
		*res = v->res;
		v->rules = NULL;
		return;
	}
	/* Lookups never run here, in the write transaction: a verdict taken ahead lends its. */
	struct rules_input input = {
	    .message = m, .first_message = first_message, .received = received, .arrived = arrived};
	if (v && v->rules == cl->rules)
		input.facts = &v->res.facts;
	rules_eval(cl->rules, &input, res);
}

int classify_message(struct classify *cl, struct store_txn *t, struct store_message *rec,
                     const struct message *m, bool first_message, struct classify_verdict *v,
                     bool *redraft)
{
	struct rules_result res;
	struct store_thread *th = NULL;
	bool reopened = false;
	*redraft = false;
	int rc = store_get_thread(t, rec->thread, &th);
	if (rc < 0)
		return rc;
	int64_t asked = classify_asked_at(th, rec);
	judge(cl, m, first_message, asked, rec->received, v, &res);
	record_verdict(cl, rec, &res);
	if (!(rec->flags & NOT_CUSTOMERS) && !rec->ignore_reason)
		remember(cl, rec->id, asked, &res);
	else
		rules_result_finish(&res);
	if (rec->flags & STORE_MSG_UNVERIFIED) {
		th->unverified = rec->id; /* shown; it answers, closes and supersedes nothing */
	} else if (rec->flags & STORE_MSG_COPY) {
		/* the reply was counted when the server accepted it */
	} else if (rec->flags & STORE_MSG_OURS) {
		we_wrote(th, rec);
		*redraft = true; /* an open draft answering older messages gives way */
	} else if (rec->ignore_reason) {
		if (first_message)
			th->state = STORE_THREAD_IGNORED;
	} else if (rec->received >= th->answered) { /* the same second: let a person look */
		reopened = th->state == STORE_THREAD_CLOSED;
		customer_wrote(cl, th, rec);
		*redraft = true;
	}
	/* Merges may have moved the clock or the priority too, whoever wrote this message. */
	if (th->state == STORE_THREAD_OPEN && th->clock_start)
		set_deadline(cl, th);
	rc = store_put_thread(t, th);
	if (rc == 0 && reopened)
		rc = audit(cl, t, "reopen", th->id, 0,
		           xasprintf("the customer wrote again (message %llu)",
		                     (unsigned long long)rec->id));
	store_thread_free(th);
	return rc;
}

/*
 * A draft that a new customer message sends back to review: proposed, failed, or approved but
 * not yet being sent. One that is being sent, or whose sending is in doubt, is left to the
 * sender: the new message gets a new draft.
 */
static bool reopenable(const struct store_draft *d)
{
	if (d->state == STORE_DRAFT_APPROVED)
		return d->send_phase == STORE_SEND_IDLE;
	return d->state == STORE_DRAFT_PROPOSED || d->state == STORE_DRAFT_FAILED;
}

/* Takes a proposed or approved draft out of the queue and the outbox. */
static int unlist(struct store_txn *t, struct store_draft *d)
{
	int rc = 0;
	if (d->queued && (rc = store_index_del(t, STORE_INDEX_QUEUE, d->queued, d->id)) < 0)
		return rc;
	d->queued = 0;
	if (d->state == STORE_DRAFT_APPROVED && d->next_attempt)
		rc = store_index_del(t, STORE_INDEX_OUTBOX, d->next_attempt, d->id);
	d->next_attempt = 0;
	return rc;
}

static int supersede(struct classify *cl, struct store_txn *t, struct store_thread *th,
                     const char *why)
{
	struct store_draft *d = NULL;
	int rc = store_get_draft(t, th->draft, &d);
	if (rc == STORE_NOTFOUND) {
		th->draft = 0;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (reopenable(d)) {
		if ((rc = unlist(t, d)) == 0) {
			d->state = STORE_DRAFT_SUPERSEDED;
			d->updated = (int64_t)time(NULL);
			rc = store_put_draft(t, d);
		}
		if (rc == 0)
			rc = audit(cl, t, "supersede", th->id, d->id, xstrdup(why));
	}
	th->draft = 0;
	store_draft_free(d);
	return rc;
}

int classify_merged(struct classify *cl, struct store_txn *t, uint64_t merged_thread)
{
	struct store_thread *th = NULL;
	int rc = store_get_thread(t, merged_thread, &th);
	if (rc < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (th->draft) {
		char *why =
		    xasprintf("thread %llu was merged into thread %llu", (unsigned long long)th->id,
		              (unsigned long long)th->merged_into);
		rc = supersede(cl, t, th, why);
		free(why);
		if (rc == 0)
			rc = store_put_thread(t, th);
	}
	store_thread_free(th);
	return rc;
}

/* The unanswered customer messages of a thread, oldest first, parsed and judged again. */
struct pending {
	uint64_t *ids;
	struct message **msgs;
	struct rules_result *results;
	struct draft_message *dm;
	bool *borrowed; /* msgs[i] and results[i] belong to the classify's fresh messages */
	size_t n;
};

static bool unanswered(const struct store_thread *th, const struct store_message *rec)
{
	return !(rec->flags & (NOT_CUSTOMERS | STORE_MSG_QUARANTINED)) && !rec->ignore_reason &&
	       rec->received >= th->answered && rec->id > th->settled;
}

bool classify_unanswered(const struct store_thread *th, const struct store_message *rec)
{
	return unanswered(th, rec);
}

int classify_rejudge(struct classify *cl, struct store_txn *t, struct store_message *rec)
{
	const char *raw;
	size_t len;
	struct message *m = NULL;
	char *reason = NULL;
	struct rules_result res;
	if (store_get_raw(t, rec->id, &raw, &len) < 0 ||
	    message_parse(raw, len, NULL, &m, &reason) < 0) {
		free(reason);
		return 1;
	}
	struct rules_input input = {
	    .message = m, .first_message = rec->join_reason == 0, .received = rec->received};
	rules_eval(cl->rules, &input, &res);
	strvec_free(&rec->tags);
	strvec_free(&rec->rules);
	record_tags(rec, &res);
	rules_result_finish(&res);
	message_free(m);
	return 0;
}

/* Re-reads one message: the draft needs its captures, which are not stored. */
static void add_pending(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                        const struct store_message *rec, struct pending *p)
{
	const char *raw;
	size_t len;
	struct message *m = NULL;
	char *reason = NULL;
	struct fresh *f = fresh_find(cl, rec->id);
	if (f != NULL && f->m != NULL && f->asked == classify_asked_at(th, rec)) {
		size_t i = p->n++;
		p->ids[i] = rec->id;
		p->msgs[i] = f->m;
		p->results[i] = f->res;
		p->borrowed[i] = true;
		p->dm[i] = (struct draft_message){
		    .message = f->m, .result = &p->results[i], .flags = rec->flags};
		return;
	}
	if (store_get_raw(t, rec->id, &raw, &len) < 0 ||
	    message_parse(raw, len, NULL, &m, &reason)) {
		free(reason);
		return;
	}
	size_t i = p->n++;
	p->ids[i] = rec->id;
	p->msgs[i] = m;
	struct rules_facts facts = recorded_facts(rec);
	struct rules_input input = {.message = m,
	                            .first_message = rec->join_reason == 0,
	                            .received = classify_asked_at(th, rec),
	                            .arrived = rec->received,
	                            .facts =
	                                rec->fact_names.n || rec->fact_failures.n ? &facts : NULL};
	rules_eval(cl->rules, &input, &p->results[i]);
	/* the language told when it arrived, unless it was stored before tend told languages */
	if (rec->lang && !p->results[i].lang[0]) {
		snprintf(p->results[i].lang, sizeof(p->results[i].lang), "%s", rec->lang);
		snprintf(p->results[i].lang_note, sizeof(p->results[i].lang_note), "%s",
		         rec->lang_note ? rec->lang_note : "");
	}
	p->dm[i].message = m;
	p->dm[i].result = &p->results[i];
	p->dm[i].flags = rec->flags;
}

/* The customer's latest message, whatever answered or settled it: what a reopened
 * conversation with nothing unanswered is drafted for. NULL when there is none. */
static struct store_message *latest_customer(struct store_txn *t, const struct store_thread *th)
{
	struct store_message *best = NULL;
	for (size_t i = 0; i < th->messages.n; i++) {
		struct store_message *rec = NULL;
		if (store_get_message_head(t, th->messages.v[i], &rec) < 0)
			continue;
		if (!(rec->flags & (NOT_CUSTOMERS | STORE_MSG_QUARANTINED)) &&
		    (best == NULL || store_message_by_arrival(&rec, &best) > 0)) {
			store_message_free(best);
			best = rec;
		} else {
			store_message_free(rec);
		}
	}
	return best;
}

/*
 * The most unanswered messages a draft answers. Each redraft parses them and runs the rules on
 * them again (captures are not stored), so a conversation with hundreds of unanswered messages
 * (a loop, a flood) would cost more with every message; twenty concerns are more than a reply
 * answers anyway.
 */
#define MAX_PENDING 20

/* reopened: with nothing unanswered, the customer's latest message is drafted for. */
static int load_pending(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                        bool reopened, struct pending *p)
{
	size_t n = th->messages.n;
	struct store_message **recs = xcalloc(n + 1, sizeof(*recs));
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct store_message *rec = NULL;
		if ((rc = store_get_message_head(t, th->messages.v[i], &rec)) == 0 &&
		    unanswered(th, rec))
			recs[k++] = rec;
		else
			store_message_free(rec);
	}
	if (k == 0 && rc == 0 && reopened && (recs[0] = latest_customer(t, th)) != NULL)
		k = 1;
	if (k)
		qsort(recs, k, sizeof(*recs), store_message_by_arrival);
	memset(p, 0, sizeof(*p));
	p->ids = xcalloc(k + 1, sizeof(*p->ids));
	p->msgs = xcalloc(k + 1, sizeof(*p->msgs));
	p->results = xcalloc(k + 1, sizeof(*p->results));
	p->dm = xcalloc(k + 1, sizeof(*p->dm));
	p->borrowed = xcalloc(k + 1, sizeof(*p->borrowed));
	/* only the latest are read again: a draft is for what the customer asks now */
	size_t first = k > MAX_PENDING ? k - MAX_PENDING : 0;
	for (size_t i = 0; i < k; i++) {
		if (rc == 0 && i >= first)
			add_pending(cl, t, th, recs[i], p);
		store_message_free(recs[i]);
	}
	free(recs);
	return rc;
}

/* How many earlier customer messages a capture that a message lacks looks through. */
#define MAX_EARLIER 20

/* What the unanswered messages lack, from the conversation's earlier customer messages. */
static int capture_earlier(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                           struct pending *p)
{
	bool lacking = false;
	for (size_t i = 0; i < p->n && !lacking && th->messages.n > 1; i++)
		lacking = rules_capture_lacking(cl->rules, &p->results[i]);
	if (!lacking)
		return 0;
	struct classify_history h;
	int rc = classify_history_load(t, th, MAX_EARLIER + MAX_PENDING, &h);
	const struct rules_business_hours *bh = rules_business_hours(cl->rules);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		struct rules_input in = {.message = p->msgs[i],
		                         .timezone = bh && bh->set ? bh->timezone : NULL};
		in.earlier = classify_history_before(&h, p->ids[i], &in.nearlier);
		in.nearlier = in.nearlier > MAX_EARLIER ? MAX_EARLIER : in.nearlier;
		rules_capture_earlier(cl->rules, &in, &p->results[i]);
		struct fresh *f = p->borrowed[i] ? fresh_find(cl, p->ids[i]) : NULL;
		if (f != NULL)
			f->res = p->results[i]; /* the copy lent to p, grown */
	}
	classify_history_free(&h);
	return rc;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->borrowed[i])
			continue;
		message_free(p->msgs[i]);
		rules_result_finish(&p->results[i]);
	}
	free(p->borrowed);
	free(p->ids);
	free(p->msgs);
	free(p->results);
	free(p->dm);
}

bool classify_keep_aside(struct store_draft *d, int why)
{
	/* an agent's text, or the text of a reply that bounced, is kept beside the new one */
	if (!d->edited && !d->resend_of)
		return false;
	free(d->previous_body);
	d->previous_body = d->body;
	d->body = NULL;
	d->edited = false;
	d->stale_why = why;
	return true;
}

/* The thread's open draft, reopened for rewriting; or a new one. *action says which. */
static int open_draft(struct store_txn *t, const struct store_thread *th, uint64_t latest,
                      int64_t now, struct store_draft **out, const char **action)
{
	struct store_draft *d = NULL;
	int rc = th->draft ? store_get_draft(t, th->draft, &d) : STORE_NOTFOUND;
	if (rc == 0 && reopenable(d)) {
		bool newer = d->answers != latest;
		if ((rc = unlist(t, d)) < 0)
			goto fail;
		if (newer)
			classify_keep_aside(d, STORE_STALE_CUSTOMER);
		if (d->state != STORE_DRAFT_PROPOSED) {
			/* Nobody answers an old question after a new one arrived. */
			d->state = STORE_DRAFT_PROPOSED;
			free(d->approved_by);
			free(d->message_id);
			free(d->error);
			d->approved_by = d->message_id = d->error = NULL;
			d->approved = 0;
		}
		if (newer)
			d->stale_why = STORE_STALE_CUSTOMER;
		d->stale = d->stale || newer;
		*action = newer ? "redraft" : "requeue";
		*out = d;
		return 0;
	}
	if (rc < 0 && rc != STORE_NOTFOUND)
		goto fail;
	store_draft_free(d);
	d = xcalloc(1, sizeof(*d));
	if ((rc = store_next_id(t, STORE_COUNTER_DRAFT, &d->id)) < 0)
		goto fail;
	d->state = STORE_DRAFT_PROPOSED;
	d->created = now;
	*action = "draft";
	*out = d;
	return 0;
fail:
	store_draft_free(d);
	return rc;
}

static char *draft_detail(const struct store_draft *d, const struct pending *p)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "answers <%s>", p->msgs[p->n - 1]->message_id);
	for (size_t i = 0; i < d->parts.n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "; rules: ", d->parts.v[i]);
	return buf_steal(&b);
}

/* One file a rule attaches, read now; a file that cannot be read is left out and logged
 * (`tend rules check` names it). */
static int rule_file(struct classify *cl, struct store_txn *t, struct store_draft *d,
                     const char *rule, const char *path, uint64_t *total)
{
	char *data = NULL, *err = NULL;
	size_t len = 0;
	uint64_t max = (uint64_t)cl->config->limits.attachments;
	int rc =
	    attach_read(path, true, (int64_t)(*total < max ? max - *total : 0), &data, &len, &err);
	if (rc != 0) {
		log_warnx("thread %llu: rule \"%s\": %s: the draft goes without it",
		          (unsigned long long)d->thread, rule,
		          err ? err : "the draft's attachments would exceed limits.attachments");
		free(err);
		return 0;
	}
	uint32_t seq = d->file_seq++;
	char *name = attach_name(path);
	rc = store_put_file(t, d->id, seq, data, len);
	d->files = xreallocarray(d->files, d->nfiles + 1, sizeof(*d->files));
	d->files[d->nfiles++] = (struct store_file){
	    name, xstrdup(attach_content_type(name, data, len)), len, seq, xstrdup(rule)};
	*total += len;
	free(data);
	return rc;
}

/* The files the draft's rules attach, in place of those they attached before; the files an
 * agent attached stay, first. */
static int rule_files(struct classify *cl, struct store_txn *t, struct store_draft *d)
{
	size_t k = 0;
	uint64_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < d->nfiles; i++) {
		struct store_file *f = &d->files[i];
		if (f->rule == NULL) {
			total += f->size;
			d->files[k++] = *f;
			continue;
		}
		if (rc == 0)
			rc = store_del_file(t, d->id, f->seq);
		free(f->name);
		free(f->content_type);
		free(f->rule);
	}
	d->nfiles = k;
	for (size_t i = 0; rc == 0 && i < d->parts.n; i++) {
		const struct strvec *files = rules_attachments(cl->rules, d->parts.v[i]);
		for (size_t j = 0; files && rc == 0 && j < files->n; j++)
			rc = rule_file(cl, t, d, d->parts.v[i], files->v[j], &total);
	}
	return rc;
}

/* The matches of the parts an agent added to d, taken on the latest message p answers (and
 * the messages before it); how many there are in *out (caller frees each, and *out). */
static size_t by_hand(const struct classify *cl, const struct pending *p,
                      const struct store_draft *d, const char *zone, struct rules_match **out)
{
	*out = xcalloc(d->parts_added.n + 1, sizeof(**out));
	struct rules_earlier *e = xcalloc(p->n, sizeof(*e));
	for (size_t i = 0; i + 1 < p->n; i++) { /* newest first */
		size_t k = p->n - 2 - i;
		e[i] = (struct rules_earlier){p->msgs[k], p->ids[k], p->msgs[k]->date};
	}
	struct rules_input in = {
	    .message = p->msgs[p->n - 1], .earlier = e, .nearlier = p->n - 1, .timezone = zone};
	size_t n = 0;
	for (size_t i = 0; i < d->parts_added.n; i++)
		n += rules_match_by_hand(cl->rules, d->parts_added.v[i], &in, &(*out)[n]) == 0;
	free(e);
	return n;
}

/* Recipients an agent set stay whatever the rules would choose now. */
static void keep_recipients(struct store_draft *d, struct message_addrs *to,
                            struct message_addrs *cc)
{
	message_addrs_free(&d->to);
	message_addrs_free(&d->cc);
	d->to = *to;
	d->cc = *cc;
	message_addrs_free(&d->reply_to_held);
	d->cc_withheld = 0;
}

/*
 * The languages the draft is written in (see draft_lang): the latest message's, and only when
 * that one is too short to tell, the ones before it. Told here and not when mail is stored,
 * because telling a language costs as much as running the rules: an archive of thousands of
 * messages gets a draft for each conversation, not one for each message.
 */
static void tell_languages(struct classify *cl, const struct pending *p)
{
	for (size_t i = p->n; i-- > 0;) {
		rules_result_lang(cl->rules, p->msgs[i], &p->results[i]);
		if (!p->results[i].lang_note[0])
			break;
	}
}

/* Writes d's text and recipients from the rules, for the messages p and thread th, as of now
 * (0: the clock), with the parts an agent added or removed. */
static void compose(struct classify *cl, const struct store_thread *th, const struct pending *p,
                    struct store_draft *d, int64_t now)
{
	tell_languages(cl, p);
	const struct rules_business_hours *bh = rules_business_hours(cl->rules);
	const char *zone = bh && bh->set ? bh->timezone : NULL;
	struct rules_match *added = NULL;
	size_t nadded = by_hand(cl, p, d, zone, &added);
	struct message_addrs to = d->to, cc = d->cc;
	if (d->recipients_by) { /* draft_compose would free them */
		memset(&d->to, 0, sizeof(d->to));
		memset(&d->cc, 0, sizeof(d->cc));
	}
	struct draft_input in = {
	    .rules = cl->rules,
	    .thread = th,
	    .messages = p->dm,
	    .nmessages = p->n,
	    .own = &cl->own,
	    .token = cl->config->threading.token,
	    .deadline = th->deadline,
	    .now = now,
	    .timezone = zone,
	    .max_recipients = cl->config->review.max_recipients,
	    .removed = &d->parts_removed,
	    .added = added,
	    .nadded = nadded,
	};
	draft_compose(&in, d);
	d->composed = str_hash(d->body) | 1; /* never 0, which says "not known" */
	if (d->recipients_by)
		keep_recipients(d, &to, &cc);
	for (size_t i = 0; i < nadded; i++)
		rules_match_finish(&added[i]);
	free(added);
}

int classify_compose(struct classify *cl, struct store_txn *t, const struct store_thread *th,
                     struct store_draft *d)
{
	struct pending p = {0};
	/* an open conversation with nothing unanswered was reopened: its latest message */
	int rc = load_pending(cl, t, th, true, &p);
	size_t n = rc == 0 ? p.n : 0;
	if (n)
		compose(cl, th, &p, d, 0);
	if (n && rc == 0 && d->id)
		rc = rule_files(cl, t, d);
	pending_free(&p);
	return rc < 0 ? rc : n ? 0 : 1;
}

static int write_draft(struct classify *cl, struct store_txn *t, struct store_thread *th,
                       const struct pending *p, int64_t now)
{
	const char *action = NULL;
	struct store_draft *d = NULL;
	uint64_t latest = p->ids[p->n - 1];
	int rc = open_draft(t, th, latest, now, &d, &action);
	if (rc < 0)
		return rc;
	compose(cl, th, p, d, now);
	d->thread = th->id;
	if ((rc = rule_files(cl, t, d)) < 0) {
		store_draft_free(d);
		return rc;
	}
	d->answers = latest;
	d->updated = now;
	free(d->account);
	d->account = th->account ? xstrdup(th->account) : NULL;
	d->queued = th->deadline;
	th->draft = d->id;
	if ((rc = store_index_put(t, STORE_INDEX_QUEUE, d->queued, d->id)) == 0 &&
	    (rc = store_put_draft(t, d)) == 0 && (rc = store_put_thread(t, th)) == 0 &&
	    strcmp(action, "requeue") != 0)
		rc = audit(cl, t, action, th->id, d->id, draft_detail(d, p));
	store_draft_free(d);
	return rc;
}

/* True when the open draft already answers the latest message at the current deadline. */
static bool up_to_date(struct store_txn *t, const struct store_thread *th, uint64_t latest)
{
	struct store_draft *d = NULL;
	bool yes = th->draft && store_get_draft(t, th->draft, &d) == 0 &&
	           d->state == STORE_DRAFT_PROPOSED && d->answers == latest &&
	           d->queued == th->deadline;
	store_draft_free(d);
	return yes;
}

static int draft_thread(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now,
                        bool reopened)
{
	struct store_thread *th = NULL;
	struct pending p = {0};
	uint64_t live;
	int rc = store_resolve_thread(t, thread, &live);
	if (rc < 0 || (rc = store_get_thread(t, live, &th)) < 0)
		return rc;
	if (th->state != STORE_THREAD_OPEN) {
		if (th->draft && (rc = supersede(cl, t, th, "the conversation was answered")) == 0)
			rc = store_put_thread(t, th);
		goto out;
	}
	if ((rc = load_pending(cl, t, th, reopened, &p)) < 0 || p.n == 0 ||
	    (rc = capture_earlier(cl, t, th, &p)) < 0)
		goto out;
	if (!up_to_date(t, th, p.ids[p.n - 1]))
		rc = write_draft(cl, t, th, &p, now);
out:
	pending_free(&p);
	store_thread_free(th);
	return rc;
}

int classify_draft(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now)
{
	return draft_thread(cl, t, thread, now, false);
}

int classify_reopen(struct classify *cl, struct store_txn *t, uint64_t thread, int64_t now)
{
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_resolve_thread(t, thread, &live);
	if (rc < 0 || (rc = store_get_thread(t, live, &th)) < 0)
		return rc;
	th->state = STORE_THREAD_OPEN;
	th->settled = 0; /* what resolving settled needs an answer again */
	th->resolved = 0;
	th->clock_start = now;
	set_deadline(cl, th);
	rc = store_put_thread(t, th);
	store_thread_free(th);
	return rc == 0 ? draft_thread(cl, t, live, now, true) : rc;
}

/* Flags on one conversation the failed addresses that took part in it; 1 when it changed. */
static int flag_bounced(struct classify *cl, struct store_txn *t, uint64_t thread,
                        const struct bounce_info *b, uint64_t msg)
{
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_resolve_thread(t, thread, &live);
	if (rc == 0)
		rc = store_get_thread(t, live, &th);
	if (rc < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	struct buf who = BUF_INIT;
	for (size_t i = 0; i < b->recipients.n; i++) {
		const char *r = b->recipients.v[i];
		if (!strvec_contains(&th->participants, r) || strvec_contains(&th->bounced, r))
			continue;
		strvec_push(&th->bounced, r);
		buf_printf(&who, "%s%s", who.len ? ", " : "", r);
	}
	if (who.len) {
		free(th->bounce_detail);
		th->bounce_detail = b->diagnostic
		                        ? xstrdup(b->diagnostic)
		                        : xasprintf("see message %llu", (unsigned long long)msg);
		if ((rc = store_put_thread(t, th)) == 0)
			rc =
			    audit(cl, t, "bounce", th->id, 0,
			          xasprintf("mail to %s bounced: %s", who.data, th->bounce_detail));
	}
	buf_free(&who);
	store_thread_free(th);
	return rc;
}

int classify_bounce(struct classify *cl, struct store_txn *t, const struct store_message *rec,
                    const char *raw, size_t len)
{
	struct bounce_info b;
	if (!(rec->flags & STORE_MSG_AUTOMATED) || !bounce_parse(raw, len, &b))
		return 0;
	struct idvec threads = {0};
	idvec_push(&threads, rec->thread);
	for (size_t i = 0; i < b.message_ids.n; i++) {
		struct store_msgid e;
		if (store_get_msgid(t, b.message_ids.v[i], &e) == 0 &&
		    !idvec_contains(&threads, e.thread))
			idvec_push(&threads, e.thread);
	}
	int rc = 0;
	for (size_t i = 0; i < threads.n && rc >= 0; i++)
		rc = flag_bounced(cl, t, threads.v[i], &b, rec->id);
	if (rc >= 0) /* after the flags: the address that failed is no other address */
		rc = classify_bounce_back(cl, t, rec, &b);
	idvec_free(&threads);
	bounce_info_finish(&b);
	return rc < 0 ? rc : 0;
}

int classify_audit(struct classify *cl, struct store_txn *t, const char *action, uint64_t thread,
                   uint64_t draft, char *detail)
{
	return audit(cl, t, action, thread, draft, detail);
}

void classify_set_deadline(const struct classify *cl, struct store_thread *th)
{
	set_deadline(cl, th);
}

const struct strvec *classify_own(const struct classify *cl)
{
	return &cl->own;
}
