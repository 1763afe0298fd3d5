/*
 * thread: which conversation a message belongs to.
 *
 * The store keeps, per Message-ID, either the stored message or a placeholder left by a reply
 * that named it; both point at a thread. A message collects every thread its own Message-ID
 * and its References / In-Reply-To point at, joins the oldest and merges the others into it.
 * Unknown references become placeholders of that thread. This is union-find over the
 * reference graph, so the grouping is the graph's connected components, as notmuch computes.
 */
#include "tend/thread.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tend/person.h"

static const char *const reason_names[] = {
    [THREAD_REASON_NEW] = "new",
    [THREAD_REASON_REFERENCE] = "references",
    [THREAD_REASON_REPLIED] = "replied-to",
    [THREAD_REASON_TOKEN] = "token",
    [THREAD_REASON_SUBJECT] = "subject",
};

const char *thread_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= NELEM(reason_names) || !reason_names[reason])
		return "unknown";
	return reason_names[reason];
}

void thread_result_finish(struct thread_result *res)
{
	free(res->detail);
	idvec_free(&res->merged);
	memset(res, 0, sizeof(*res));
}

/* Threads the message links, the first with the reason it was found. */
struct links {
	struct idvec threads;
	int reason;
	char *detail;
	struct strvec unknown; /* referenced Message-IDs the store has never seen */
};

/* Does the next link need a detail? Only the first one found explains the join. */
static bool links_want_detail(const struct links *l)
{
	return l->threads.n == 0;
}

/* Takes detail (NULL unless links_want_detail said so). */
static void links_add(struct links *l, uint64_t thread, int reason, char *detail)
{
	if (l->threads.n == 0) {
		l->reason = reason;
		l->detail = detail;
	} else {
		free(detail);
	}
	if (!idvec_contains(&l->threads, thread))
		idvec_push(&l->threads, thread);
}

static void links_finish(struct links *l)
{
	idvec_free(&l->threads);
	free(l->detail);
	strvec_free(&l->unknown);
}

/* Looks up one referenced Message-ID; records its thread or remembers it as unknown. */
static int link_reference(struct store_txn *t, struct links *l, const char *id, const char *header)
{
	struct store_msgid e;
	int rc = store_get_msgid(t, id, &e);
	if (rc == STORE_NOTFOUND) {
		if (!strvec_contains(&l->unknown, id))
			strvec_push(&l->unknown, id);
		return 0;
	}
	if (rc < 0)
		return rc;
	uint64_t live;
	if ((rc = store_resolve_thread(t, e.thread, &live)) < 0)
		return rc;
	links_add(l, live, THREAD_REASON_REFERENCE,
	          links_want_detail(l) ? xasprintf("%s <%s>", header, id) : NULL);
	return 0;
}

/* Step 1: the message's own Message-ID (a placeholder) and every Message-ID it references. */
static int link_by_references(struct store_txn *t, const struct message *m, struct links *l)
{
	struct store_msgid e;
	int rc = store_get_msgid(t, m->message_id, &e);
	if (rc == 0) {
		uint64_t live;
		if ((rc = store_resolve_thread(t, e.thread, &live)) < 0)
			return rc;
		links_add(l, live, THREAD_REASON_REPLIED,
		          xasprintf("a reply stored earlier named <%s>", m->message_id));
	} else if (rc != STORE_NOTFOUND) {
		return rc;
	}
	for (size_t i = 0; i < m->in_reply_to.n; i++)
		if ((rc = link_reference(t, l, m->in_reply_to.v[i], "In-Reply-To")) < 0)
			return rc;
	/* The nearest ancestor (the last References entry) explains the join best. */
	for (size_t i = m->references.n; i-- > 0;)
		if ((rc = link_reference(t, l, m->references.v[i], "References")) < 0)
			return rc;
	return 0;
}

static char *lower_dup(const char *s)
{
	return str_lower(xstrdup(s ? s : ""));
}

static bool is_own(const struct thread_options *opt, const char *addr)
{
	if (!opt->own || !addr)
		return false;
	for (size_t i = 0; i < opt->own->n; i++)
		if (str_ieq(opt->own->v[i], addr))
			return true;
	return false;
}

static bool local_is(const char *local, size_t n, const char *word)
{
	size_t k = strlen(word);
	return n >= k && str_ieqn(local, word, k) && (n == k || strchr("+-._", local[k]));
}

static bool configured_form(const char *addr, const char *at, const struct strvec *configured)
{
	for (size_t i = 0; configured && i < configured->n; i++) {
		const char *e = configured->v[i];
		size_t n = strlen(e);
		if (str_ieq(e, addr) || (e[0] == '@' && str_ieq(e, at)) ||
		    (n > 1 && e[n - 1] == '@' && str_ieqn(e, addr, n)))
			return true;
	}
	return false;
}

bool thread_form_sender(const char *addr, const struct strvec *configured)
{
	static const char *const usual[] = {
	    "noreply",   "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
	    "wordpress", "forms",    "form",     "webform",    "web-form",
	};
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!at || at == addr)
		return false;
	for (size_t i = 0; i < NELEM(usual); i++)
		if (local_is(addr, (size_t)(at - addr), usual[i]))
			return true;
	return configured_form(addr, at, configured);
}

/* Our own addresses never count, also where an older store listed them. */
static bool is_participant(const struct store_thread *th, const struct thread_options *opt,
                           const char *addr)
{
	if (is_own(opt, addr))
		return false;
	char *a = lower_dup(addr);
	bool yes = a[0] != '\0' && strvec_contains(&th->participants, a);
	free(a);
	return yes;
}

/* The one address a form's Reply-To names besides the form itself and us; NULL: none or more. */
static const struct message_addr *form_reply_to(const struct message *m,
                                                const struct thread_options *opt)
{
	const struct message_addr *one = NULL;
	for (size_t i = 0; i < m->reply_to.n; i++) {
		const struct message_addr *a = &m->reply_to.v[i];
		if (!*a->addr || is_own(opt, a->addr) || str_ieq(a->addr, m->from.addr) ||
		    (one && str_ieq(one->addr, a->addr)))
			continue;
		if (one)
			return NULL;
		one = a;
	}
	return one;
}

const struct message_addr *thread_customer_of(const struct message *m,
                                              const struct thread_options *opt, bool *form)
{
	*form = false;
	if (is_own(opt, m->from.addr))
		return m->to.n > 0 ? &m->to.v[0] : &m->from;
	const struct message_addr *rt = NULL;
	if (thread_form_sender(m->from.addr, opt->form_senders) && (rt = form_reply_to(m, opt))) {
		*form = true;
		return rt;
	}
	return &m->from;
}

/* The address a message stands for in the conversation: see thread_customer_of. */
static const char *customer_addr(const struct message *m, const struct thread_options *opt)
{
	bool form;
	return thread_customer_of(m, opt, &form)->addr;
}

/* Step 2: the tracking token, from someone who already takes part in that thread. */
static int link_by_token(struct store_txn *t, const struct message *m,
                         const struct thread_options *opt, struct links *l)
{
	uint64_t id, live;
	if (opt->sender == THREAD_SENDER_UNVERIFIED || !opt->token ||
	    !thread_token_find(opt->token, m->subject, &id))
		return 0;
	int rc = store_resolve_thread(t, id, &live);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	struct store_thread *th = NULL;
	if ((rc = store_get_thread(t, live, &th)) < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	bool ours = opt->sender == THREAD_SENDER_OURS;
	const char *who = customer_addr(m, opt);
	if (ours || is_participant(th, opt, who)) {
		char *tok = thread_token_format(opt->token, id);
		links_add(l, live, THREAD_REASON_TOKEN,
		          xasprintf("token %s from %s %s", tok, ours ? "our" : "participant", who));
		free(tok);
	}
	store_thread_free(th);
	return 0;
}

/* Step 3: the same normalised subject from the same sender within the window. */
static int link_by_subject(struct store_txn *t, const struct message *m, int64_t arrival,
                           const struct thread_options *opt, struct links *l)
{
	const char *who = customer_addr(m, opt);
	if (!opt->subject_fallback || who[0] == '\0' || opt->sender != THREAD_SENDER_CUSTOMER ||
	    is_own(opt, who))
		return 0;
	char *subj = message_normalize_subject(m->subject);
	char *addr = lower_dup(who);
	uint64_t thread, live;
	int64_t when;
	int rc = 0;
	if (subj[0] == '\0')
		goto out;
	rc = store_get_subject(t, addr, subj, &thread, &when);
	if (rc == STORE_NOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || arrival - when > opt->subject_window || when - arrival > opt->subject_window)
		goto out;
	if ((rc = store_resolve_thread(t, thread, &live)) < 0)
		goto out;
	links_add(l, live, THREAD_REASON_SUBJECT,
	          xasprintf("subject \"%s\" from %s", m->subject, who));
out:
	free(subj);
	free(addr);
	return rc;
}

/*
 * The customer of a conversation a message starts. A form's Reply-To often has no name; the
 * form's "Name: Anna Berg" line then gives it, for the greeting and the queue.
 */
static void pick_customer(const struct message *m, const struct thread_options *opt,
                          struct message_addr *out)
{
	bool form;
	const struct message_addr *a = thread_customer_of(m, opt, &form);
	out->name = a->name ? xstrdup(a->name) : NULL;
	char *given =
	    form && (a->name == NULL || *a->name == '\0') ? person_form_name(m->text) : NULL;
	if (given != NULL) {
		free(out->name);
		out->name = given;
	}
	out->addr = xstrdup(a->addr ? a->addr : "");
}

/* Step 4: a new conversation. */
static int create_thread(struct store_txn *t, const struct message *m, int64_t arrival,
                         const struct thread_options *opt, uint64_t *id)
{
	int rc = store_next_id(t, STORE_COUNTER_THREAD, id);
	if (rc < 0)
		return rc;
	struct store_thread th = {0};
	th.id = *id;
	th.state = STORE_THREAD_OPEN;
	th.subject = m->subject;
	pick_customer(m, opt, &th.customer);
	th.created = th.updated = arrival;
	rc = store_put_thread(t, &th);
	if (rc == 0)
		rc = store_put_customer(t, th.customer.addr, th.id);
	free(th.customer.name);
	free(th.customer.addr);
	return rc;
}

/* A thread's participants while they are added to: a hostile message names 40,000. */
struct people {
	struct store_thread *th;
	const struct thread_options *opt;
	struct strindex ix;
};

static void people_open(struct people *p, struct store_thread *th, const struct thread_options *opt)
{
	p->th = th;
	p->opt = opt;
	memset(&p->ix, 0, sizeof(p->ix));
	strindex_build(&p->ix, &th->participants);
}

static bool people_has(const struct people *p, const char *addr)
{
	char *a = lower_dup(addr);
	bool yes = strindex_contains(&p->ix, &p->th->participants, a);
	free(a);
	return yes;
}

/*
 * Participants a conversation keeps at most. The record is rewritten with every message, so a
 * list that grew without end (a Cc of thousands, again and again) would make each message in
 * the thread cost more; past it, new addresses can still write, but not by token or subject.
 */
#define MAX_PARTICIPANTS 1000

static void add_participant(struct people *p, const char *addr)
{
	if (!addr || !*addr || is_own(p->opt, addr) || p->th->participants.n >= MAX_PARTICIPANTS)
		return;
	char *a = lower_dup(addr);
	strindex_push(&p->ix, &p->th->participants, a);
	free(a);
}

static void add_participants(struct people *p, const struct message_addrs *as)
{
	for (size_t i = 0; i < as->n; i++)
		add_participant(p, as->v[i].addr);
}

/* The earlier clock, the higher priority, the later answer and mark of unverified mail carry
 * over; so does an assignee. */
static void merge_review_state(struct store_thread *into, struct store_thread *from)
{
	if (from->clock_start && (!into->clock_start || from->clock_start < into->clock_start))
		into->clock_start = from->clock_start;
	if (from->priority > into->priority)
		into->priority = from->priority;
	if (from->answered > into->answered)
		into->answered = from->answered;
	if (from->unverified > into->unverified)
		into->unverified = from->unverified;
	if (!into->first_response ||
	    (from->first_response && from->first_response < into->first_response))
		into->first_response = from->first_response;
	if (!into->assignee && from->assignee) {
		into->assignee = from->assignee;
		from->assignee = NULL;
	}
	if (!into->account && from->account) {
		into->account = from->account;
		from->account = NULL;
	}
}

/* Appends the ids of from that into lacks, and empties from. */
static void move_ids(struct idvec *into, struct idvec *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (!idvec_contains(into, from->v[i]))
			idvec_push(into, from->v[i]);
	idvec_free(from);
}

/* Moves every message of thread `from` into `into` and leaves a forwarding record behind. */
static int merge_thread(struct store_txn *t, struct people *p, uint64_t from_id)
{
	struct store_thread *into = p->th;
	struct store_thread *from = NULL;
	int rc = store_get_thread(t, from_id, &from);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < from->messages.n && rc == 0; i++) {
		struct store_message *msg = NULL;
		if ((rc = store_get_message(t, from->messages.v[i], &msg)) < 0)
			break;
		msg->thread = into->id;
		rc = store_put_message(t, msg);
		store_message_free(msg);
		idvec_push(&into->messages, from->messages.v[i]);
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < from->participants.n; i++)
		add_participant(p, from->participants.v[i]);
	for (size_t i = 0; i < from->tags.n; i++)
		if (!strvec_contains(&into->tags, from->tags.v[i]))
			strvec_push(&into->tags, from->tags.v[i]);
	if (from->created < into->created) {
		/* The conversation began with the other thread's first message. */
		into->created = from->created;
		free(into->subject);
		into->subject = from->subject;
		from->subject = NULL;
		free(into->customer.name);
		free(into->customer.addr);
		into->customer = from->customer;
		from->customer.name = from->customer.addr = NULL;
		if ((rc = store_put_customer(t, into->customer.addr, into->id)) < 0)
			goto out;
	}
	if (from->updated > into->updated)
		into->updated = from->updated;
	merge_review_state(into, from);
	/* What we said and noted in the other thread is part of this conversation now. */
	move_ids(&into->sent, &from->sent);
	move_ids(&into->notes, &from->notes);
	idvec_free(&from->messages);
	from->merged_into = into->id;
	rc = store_put_thread(t, from);
out:
	store_thread_free(from);
	return rc;
}

static uint64_t lowest(const struct idvec *iv)
{
	uint64_t min = iv->v[0];
	for (size_t i = 1; i < iv->n; i++)
		if (iv->v[i] < min)
			min = iv->v[i];
	return min;
}

/* Did the message join by something anyone can type (the token, the subject)? */
static bool weak_join(int reason)
{
	return reason == THREAD_REASON_TOKEN || reason == THREAD_REASON_SUBJECT;
}

/* A Reply-To outside the conversation, on a message that joined by token or subject. */
static bool reply_to_outside(const struct people *p, const struct message *m)
{
	for (size_t i = 0; i < m->reply_to.n; i++) {
		const char *a = m->reply_to.v[i].addr;
		if (*a && !is_own(p->opt, a) && !people_has(p, a))
			return true;
	}
	return false;
}

/*
 * Who the message makes a participant (and so able to use the token and the subject later):
 * everyone it names when it proved to know the conversation (references, a new thread); only
 * its sender when it joined by token or subject; nobody when it claims to be us unverified.
 */
static void add_message_people(struct people *p, const struct message *m, struct thread_result *res)
{
	bool form;
	const struct message_addr *who = thread_customer_of(m, p->opt, &form);
	res->form = form;
	if (p->opt->sender == THREAD_SENDER_UNVERIFIED)
		return;
	if (weak_join(res->reason)) {
		res->reply_to_held = reply_to_outside(p, m);
		add_participant(p, who->addr);
		return;
	}
	add_participant(p, who->addr); /* not a form's own address: it writes for everyone */
	add_participants(p, &m->to);
	add_participants(p, &m->cc);
	add_participants(p, &m->reply_to);
}

/* Adds the message to the thread record, merging the other linked threads into it. */
static int update_thread(struct store_txn *t, const struct message *m, uint64_t msg,
                         int64_t arrival, const struct links *l, const struct thread_options *opt,
                         struct thread_result *res)
{
	struct store_thread *th = NULL;
	struct people p;
	int rc = store_get_thread(t, res->thread, &th);
	if (rc < 0)
		return rc;
	people_open(&p, th, opt);
	for (size_t i = 0; i < l->threads.n && rc == 0; i++) {
		if (l->threads.v[i] == res->thread)
			continue;
		rc = merge_thread(t, &p, l->threads.v[i]);
		idvec_push(&res->merged, l->threads.v[i]);
	}
	if (rc < 0)
		goto out;
	idvec_push(&th->messages, msg);
	add_message_people(&p, m, res);
	if (arrival > th->updated)
		th->updated = arrival;
	if (arrival < th->created)
		th->created = arrival;
	rc = store_put_thread(t, th);
out:
	strindex_free(&p.ix);
	store_thread_free(th);
	return rc;
}

/* Records the message's own Message-ID, the placeholders and the subject index entry. */
static int record_ids(struct store_txn *t, const struct message *m, uint64_t msg, int64_t arrival,
                      const struct links *l, const struct thread_options *opt, uint64_t thread)
{
	struct store_msgid e = {.message = 0, .thread = thread};
	int rc = 0;
	for (size_t i = 0; i < l->unknown.n && rc == 0; i++)
		rc = store_put_msgid(t, l->unknown.v[i], &e);
	if (rc < 0)
		return rc;
	struct store_msgid was;
	e.message = msg;
	/* A copy of a reply tend sent keeps the draft it is a copy of. */
	if ((rc = store_get_msgid(t, m->message_id, &was)) == 0)
		e.draft = was.draft;
	else if (rc != STORE_NOTFOUND)
		return rc;
	if ((rc = store_put_msgid(t, m->message_id, &e)) < 0)
		return rc;
	const char *who = customer_addr(m, opt);
	if (!opt->subject_fallback || who[0] == '\0' || is_own(opt, who) ||
	    opt->sender != THREAD_SENDER_CUSTOMER)
		return 0;
	char *subj = message_normalize_subject(m->subject);
	char *addr = lower_dup(who);
	if (subj[0] != '\0')
		rc = store_put_subject(t, addr, subj, thread, arrival);
	free(subj);
	free(addr);
	return rc;
}

int thread_assign(struct store_txn *t, const struct message *m, uint64_t msg, int64_t arrival,
                  const struct thread_options *opt, struct thread_result *res)
{
	struct links l = {0};
	int rc;
	memset(res, 0, sizeof(*res));
	if ((rc = link_by_references(t, m, &l)) < 0)
		goto out;
	if (l.threads.n == 0 && (rc = link_by_token(t, m, opt, &l)) < 0)
		goto out;
	if (l.threads.n == 0 && (rc = link_by_subject(t, m, arrival, opt, &l)) < 0)
		goto out;
	if (l.threads.n == 0) {
		if ((rc = create_thread(t, m, arrival, opt, &res->thread)) < 0)
			goto out;
		res->created = true;
		res->reason = THREAD_REASON_NEW;
		res->detail = xstrdup("the first message of a new conversation");
		idvec_push(&l.threads, res->thread);
	} else {
		res->thread = lowest(&l.threads);
		res->reason = l.reason;
		res->detail = l.detail;
		l.detail = NULL;
		if (opt->sender == THREAD_SENDER_UNVERIFIED) { /* it merges nothing */
			idvec_clear(&l.threads);
			idvec_push(&l.threads, res->thread);
		}
	}
	if ((rc = update_thread(t, m, msg, arrival, &l, opt, res)) < 0)
		goto out;
	rc = record_ids(t, m, msg, arrival, &l, opt, res->thread);
out:
	links_finish(&l);
	return rc;
}

char *thread_token_format(const char *fmt, uint64_t id)
{
	const char *p = strstr(fmt, "{id}");
	if (!p)
		return xstrdup(fmt);
	return xasprintf("%.*s%llu%s", (int)(p - fmt), fmt, (unsigned long long)id, p + 4);
}

bool thread_token_find(const char *fmt, const char *subject, uint64_t *id)
{
	const char *hole = strstr(fmt, "{id}");
	if (!hole || !subject)
		return false;
	size_t pre = (size_t)(hole - fmt);
	const char *post = hole + 4;
	size_t postlen = strlen(post);
	for (const char *s = subject; *s; s++) {
		if (pre > 0 && strncmp(s, fmt, pre) != 0)
			continue;
		const char *d = s + pre;
		if (!isdigit((unsigned char)*d))
			continue;
		char *end;
		unsigned long long v = strtoull(d, &end, 10);
		if (end - d > 18 || strncmp(end, post, postlen) != 0 || v == 0)
			continue;
		*id = v;
		return true;
	}
	return false;
}
