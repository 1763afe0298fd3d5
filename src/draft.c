/*
 * draft: greeting + one part per concern + closing + quote, and the reply's headers.
 */
#include "tend/draft.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/lang.h"
#include "tend/person.h"
#include "tend/thread.h"

/* How many References a reply carries at most: the first (the root) and the latest ones. */
#define MAX_REFERENCES 12

/* A concern to answer: one matching rule, with the captures of its latest match. */
struct concern {
	const struct rules_match *match;
	const struct rules_match *first; /* where the customer first raised it */
	size_t message;                  /* in which message */
	size_t last;                     /* the latest message that raised it */
	size_t seq;                      /* the order it was met in: qsort is not stable */
};

struct concerns {
	struct concern *v;
	size_t n;
};

/* Pinned parts by their place; the others by the message, then where in it, they were raised. */
static int concern_cmp(const void *a, const void *b)
{
	const struct concern *x = a, *y = b;
	int d = rules_match_cmp(x->first, y->first);
	if (x->first->place == y->first->place && x->message != y->message)
		d = x->message < y->message ? -1 : 1;
	return d ? d : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Counts m in, for message i: the latest match of a rule gives the captures. */
static void add_concern(struct concerns *c, const struct rules_match *m, size_t i)
{
	size_t k = 0;
	while (k < c->n && strcmp(c->v[k].match->rule, m->rule) != 0)
		k++;
	c->v[k].match = m;
	c->v[k].last = i;
	if (k == c->n) {
		c->v[k].first = m;
		c->v[k].message = i;
		c->v[k].seq = k;
		c->n++;
	}
}

/* Is concern x moot: raised last before a message whose concern settles it? */
static bool settled(const struct concerns *c, const struct concern *x)
{
	for (size_t j = 0; j < c->n; j++) {
		const struct rules_match *m = c->v[j].match;
		if (c->v[j].last > x->last && m->settles &&
		    strvec_contains(m->settles, x->match->rule))
			return true;
	}
	return false;
}

/* Leaves out what a later message settled: "here is the photo" after "send us a photo". */
static void drop_settled(struct concerns *c)
{
	bool *gone = xcalloc(c->n + 1, sizeof(*gone));
	for (size_t i = 0; i < c->n; i++)
		gone[i] = settled(c, &c->v[i]);
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!gone[i])
			c->v[k++] = c->v[i];
	c->n = k;
	free(gone);
}

/* Each rule once, in the order the customer raised them; captures from the latest message.
 * The parts an agent added come after the customer's (unless the rules found them too). */
static void gather_concerns(const struct draft_input *in, struct concerns *c)
{
	size_t cap = in->nadded;
	for (size_t i = 0; i < in->nmessages; i++)
		cap += in->messages[i].result->nmatches;
	c->v = xcalloc(cap + 1, sizeof(*c->v));
	c->n = 0;
	for (size_t i = 0; i < in->nmessages; i++) {
		const struct rules_result *r = in->messages[i].result;
		for (size_t j = 0; j < r->nmatches; j++)
			if (!in->removed || !strvec_contains(in->removed, r->matches[j].rule))
				add_concern(c, &r->matches[j], i);
	}
	for (size_t i = 0; i < in->nadded; i++) {
		size_t k = 0;
		while (k < c->n && strcmp(c->v[k].match->rule, in->added[i].rule) != 0)
			k++;
		if (k == c->n)
			add_concern(c, &in->added[i], in->nmessages);
	}
	drop_settled(c);
	qsort(c->v, c->n, sizeof(*c->v), concern_cmp);
}

/* A fact the lookups found for the messages answered, the latest message's first. */
static const char *fact(const struct draft_input *in, const char *name)
{
	for (size_t i = in->nmessages; i-- > 0;) {
		const char *s = rules_fact_value(&in->messages[i].result->facts, name);
		if (s != NULL)
			return s;
	}
	return NULL;
}

/* What failed while looking facts up: for the agent, never in the text. */
static void note_lookup_failures(const struct draft_input *in, struct store_draft *d)
{
	strvec_free(&d->lookup_failures);
	for (size_t i = 0; i < in->nmessages; i++) {
		const struct strvec *f = &in->messages[i].result->facts.failures;
		for (size_t j = 0; j < f->n; j++)
			if (!strvec_contains(&d->lookup_failures, f->v[j]))
				strvec_push(&d->lookup_failures, f->v[j]);
	}
}

/* What {{variables}} stand for while one template is rendered. */
struct vars {
	const struct draft_input *in;
	const struct rules_match *match; /* NULL for greeting, closing and fallback */
	struct person person;            /* the customer's title, first and last name */
	char thread_id[24];
	char deadline[64];
	const char *lang;   /* the draft's language (see draft_lang) */
	bool deadline_used; /* a template wrote the deadline out */
};

static const char *lookup(const char *name, void *arg)
{
	struct vars *v = arg;
	const struct store_thread *th = v->in->thread;
	if (strcmp(name, "customer.name") == 0)
		return th->customer.name;
	if (strcmp(name, "customer.first_name") == 0)
		return v->person.first;
	if (strcmp(name, "customer.last_name") == 0)
		return v->person.last;
	if (strcmp(name, "customer.title") == 0)
		return v->person.title;
	if (strcmp(name, "customer.email") == 0)
		return th->customer.addr;
	if (strcmp(name, "thread.id") == 0)
		return v->thread_id;
	if (strcmp(name, "thread.subject") == 0)
		return th->subject;
	if (strcmp(name, "deadline") == 0) {
		v->deadline_used |= v->deadline[0] != 0;
		return v->deadline[0] ? v->deadline : NULL;
	}
	if (strcmp(name, "agent.name") == 0)
		return "{{agent.name}}"; /* filled in by draft_sign when someone approves */
	for (size_t i = 0; v->match && i < v->match->capture_names.n; i++)
		if (strcmp(v->match->capture_names.v[i], name) == 0)
			return v->match->capture_values.v[i];
	return fact(v->in, name);
}

/*
 * The language of the customer's latest message that told one; when none did (all too short,
 * "Danke!"), the latest one's, which is the default. NULL for a draft that answers no message.
 */
static const char *draft_lang(const struct draft_input *in)
{
	for (size_t i = in->nmessages; i-- > 0;)
		if (in->messages[i].result->lang[0] && !in->messages[i].result->lang_note[0])
			return in->messages[i].result->lang;
	return in->nmessages && in->messages[in->nmessages - 1].result->lang[0]
	           ? in->messages[in->nmessages - 1].result->lang
	           : NULL;
}

static void vars_init(struct vars *v, const struct draft_input *in)
{
	memset(v, 0, sizeof(*v));
	v->in = in;
	v->lang = draft_lang(in);
	person_parse(in->thread->customer.name, &v->person);
	snprintf(v->thread_id, sizeof(v->thread_id), "%llu", (unsigned long long)in->thread->id);
	/* A time already gone is promised to no one: {{deadline}} is then empty. */
	int64_t now = in->now ? in->now : (int64_t)time(NULL);
	if (in->deadline > now) {
		lang_format_deadline(v->deadline, sizeof(v->deadline), v->lang, in->deadline,
		                     in->timezone);
	}
}

/* Appends a rendered template as one paragraph block, without trailing blank lines. */
static void put_block(struct buf *b, const struct template *t, struct vars *v)
{
	if (!t)
		return;
	if (v->in->rules)
		t = rules_localize(v->in->rules, t, v->lang);
	char *s = template_render(t, lookup, v);
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	if (n > 0) {
		if (b->len > 0)
			buf_puts(b, "\n\n");
		buf_append(b, s, n);
	}
	free(s);
}

char *draft_render(const struct template *t, const struct store_thread *th, int64_t deadline,
                   const char *zone)
{
	struct draft_input in = {.thread = th, .deadline = deadline, .timezone = zone};
	struct vars v;
	struct buf b = BUF_INIT;
	vars_init(&v, &in);
	put_block(&b, t, &v);
	buf_putc(&b, '\n');
	person_free(&v.person);
	return buf_steal(&b);
}

/* The message quoted under a line in the draft's language, dated in the shop's zone. */
static void put_quote(struct buf *b, const struct message *m, const struct vars *v)
{
	char *who = m->from.name && *m->from.name ? xasprintf("%s <%s>", m->from.name, m->from.addr)
	                                          : xstrdup(m->from.addr);
	char *line = lang_quote_line(v->lang, m->date, v->in->timezone, who);
	buf_printf(b, "\n\n%s\n", line);
	free(line);
	free(who);
	const char *p = m->text;
	while (*p) {
		size_t n = strcspn(p, "\n");
		buf_puts(b, n ? "> " : ">");
		buf_append(b, p, n);
		buf_putc(b, '\n');
		p += n + (p[n] == '\n');
	}
}

/* "order = OT-20417 (from message 3, 2 Dec)": what the agent checks before sending. */
static void note_captures(const struct rules_match *m, struct strvec *out)
{
	for (size_t i = 0; i < m->capture_names.n; i++) {
		const char *from = i < m->capture_sources.n ? m->capture_sources.v[i] : NULL;
		char *s = xasprintf("%s = %s%s%s%s", m->capture_names.v[i], m->capture_values.v[i],
		                    from ? " (from " : "", from ? from : "", from ? ")" : "");
		if (!strvec_contains(out, s))
			strvec_push(out, s);
		free(s);
	}
}

/* What the body promises, so that approval can refuse it once the time has passed. */
static void note_promise(const struct vars *v, struct store_draft *d)
{
	free(d->promise);
	d->promise = v->deadline_used ? xstrdup(v->deadline) : NULL;
	d->promised = v->deadline_used ? v->in->deadline : 0;
}

static void compose_body(const struct draft_input *in, const struct concerns *c,
                         struct store_draft *d)
{
	struct buf b = BUF_INIT;
	struct vars v;
	vars_init(&v, in);
	put_block(&b, rules_greeting(in->rules), &v);
	size_t parts = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->v[i].match->template)
			continue;
		v.match = c->v[i].match;
		put_block(&b, v.match->template, &v);
		strvec_push(&d->parts, v.match->rule);
		note_captures(v.match, &d->captures);
		parts++;
	}
	v.match = NULL;
	if (parts == 0)
		put_block(&b, rules_fallback(in->rules), &v);
	put_block(&b, rules_closing(in->rules), &v);
	put_quote(&b, in->messages[in->nmessages - 1].message, &v);
	free(d->body);
	d->body = buf_steal(&b);
	note_promise(&v, d);
	person_free(&v.person);
}

static bool is_own(const struct draft_input *in, const char *addr)
{
	for (size_t i = 0; in->own && i < in->own->n; i++)
		if (str_ieq(in->own->v[i], addr))
			return true;
	return false;
}

static void clear_addrs(struct message_addrs *as)
{
	for (size_t i = 0; i < as->n; i++) {
		free(as->v[i].name);
		free(as->v[i].addr);
	}
	free(as->v);
	as->v = NULL;
	as->n = 0;
}

/* The addresses a reply already has, lowercase: a customer can name 40,000 in Cc. */
struct seen {
	struct strvec addrs;
	struct strindex ix;
};

/* Adds a to list unless it is empty, ours or there already. */
static void add_new(const struct draft_input *in, struct seen *seen, struct message_addrs *list,
                    const struct message_addr *a)
{
	if (!a->addr[0] || is_own(in, a->addr))
		return;
	char *low = str_lower(xstrdup(a->addr));
	if (strindex_push(&seen->ix, &seen->addrs, low))
		message_addrs_add(list, a);
	free(low);
}

/* Everyone the customer wrote to besides us stays in Cc, as "reply all" would. */
static void add_cc(const struct draft_input *in, struct seen *seen, const struct message_addrs *as,
                   struct store_draft *d)
{
	for (size_t i = 0; i < as->n; i++)
		add_new(in, seen, &d->cc, &as->v[i]);
}

/* The Reply-To, unless threading found it was not to be followed; else the sender. */
static void compose_to(const struct draft_input *in, struct seen *seen, struct store_draft *d)
{
	const struct draft_message *last = &in->messages[in->nmessages - 1];
	const struct message *m = last->message;
	const struct message_addrs *rt = &m->reply_to;
	for (size_t i = 0; i < rt->n; i++) {
		if (last->flags & STORE_MSG_REPLY_TO_HELD)
			message_addrs_add(&d->reply_to_held, &rt->v[i]);
		else
			add_new(in, seen, &d->to, &rt->v[i]);
	}
	if (d->to.n == 0)
		add_new(in, seen, &d->to, &m->from);
	if (d->to.n == 0 && in->thread->customer.addr && in->thread->customer.addr[0])
		add_new(in, seen, &d->to, &in->thread->customer);
}

static void compose_recipients(const struct draft_input *in, struct store_draft *d)
{
	const struct message *m = in->messages[in->nmessages - 1].message;
	struct seen seen = {STRVEC_INIT, {0}};
	clear_addrs(&d->to);
	clear_addrs(&d->cc);
	clear_addrs(&d->reply_to_held);
	d->cc_withheld = 0;
	compose_to(in, &seen, d);
	add_cc(in, &seen, &m->to, d);
	add_cc(in, &seen, &m->cc, d);
	if (in->max_recipients > 0 && d->to.n + d->cc.n > (size_t)in->max_recipients) {
		d->cc_withheld = d->cc.n; /* a reply to the customer alone; show says why */
		clear_addrs(&d->cc);
	}
	strindex_free(&seen.ix);
	strvec_free(&seen.addrs);
}

static void compose_threading(const struct draft_input *in, struct store_draft *d)
{
	const struct message *m = in->messages[in->nmessages - 1].message;
	free(d->in_reply_to);
	d->in_reply_to = xstrdup(m->message_id);
	strvec_free(&d->references);
	const struct strvec *r = &m->references;
	/* Keep the root and the nearest ancestors, as RFC 5322 3.6.4 suggests for long chains. */
	size_t skip_to = r->n + 1 > MAX_REFERENCES ? r->n + 1 - (MAX_REFERENCES - 1) : 1;
	for (size_t i = 0; i < r->n; i++)
		if (i == 0 || i >= skip_to)
			strvec_push(&d->references, r->v[i]);
	if (!strvec_contains(&d->references, m->message_id))
		strvec_push(&d->references, m->message_id);
}

static bool has_reply_prefix(const char *s)
{
	static const char *const prefixes[] = {"re:", "aw:", "sv:", "antw:", "vs:", "r:", "rif:"};
	while (*s == ' ')
		s++;
	for (size_t i = 0; i < NELEM(prefixes); i++)
		if (str_istarts(s, prefixes[i]))
			return true;
	return false;
}

char *draft_reply_subject(const char *subject, const char *token, uint64_t thread)
{
	const char *s = subject && *subject ? subject : "Your message";
	struct buf b = BUF_INIT;
	if (!has_reply_prefix(s))
		buf_puts(&b, "Re: ");
	buf_puts(&b, s);
	uint64_t id;
	if (token && !(thread_token_find(token, s, &id) && id == thread)) {
		char *t = thread_token_format(token, thread);
		buf_printf(&b, " %s", t);
		free(t);
	}
	return buf_steal(&b);
}

void draft_compose(const struct draft_input *in, struct store_draft *d)
{
	struct concerns c;
	gather_concerns(in, &c);
	strvec_free(&d->parts);
	strvec_free(&d->captures);
	compose_body(in, &c, d);
	note_lookup_failures(in, d);
	compose_recipients(in, d);
	compose_threading(in, d);
	free(d->subject);
	d->subject = draft_reply_subject(in->messages[in->nmessages - 1].message->subject,
	                                 in->token, in->thread->id);
	free(c.v);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void draft_copy_reply(struct store_draft *d, const struct store_draft *src, bool recipients)
{
	d->thread = src->thread;
	d->state = STORE_DRAFT_PROPOSED;
	d->kind = STORE_KIND_REPLY;
	d->subject = dup_or_null(src->subject);
	d->in_reply_to = dup_or_null(src->in_reply_to);
	for (size_t i = 0; i < src->references.n; i++)
		strvec_push(&d->references, src->references.v[i]);
	d->answers = src->answers;
	d->account = dup_or_null(src->account);
	if (!recipients)
		return;
	for (size_t i = 0; i < src->to.n; i++)
		message_addrs_add(&d->to, &src->to.v[i]);
	for (size_t i = 0; i < src->cc.n; i++)
		message_addrs_add(&d->cc, &src->cc.v[i]);
	for (size_t i = 0; i < src->reply_to_held.n; i++)
		message_addrs_add(&d->reply_to_held, &src->reply_to_held.v[i]);
	d->cc_withheld = src->cc_withheld;
	d->recipients_by = dup_or_null(src->recipients_by);
}

char *draft_sign(const char *body, const char *name)
{
	static const char tag[] = "{{agent.name}}";
	struct buf b = BUF_INIT;
	const char *p = body, *q;
	while ((q = strstr(p, tag)) != NULL) {
		buf_append(&b, p, (size_t)(q - p));
		buf_puts(&b, name);
		p = q + sizeof(tag) - 1;
	}
	buf_puts(&b, p);
	return buf_steal(&b);
}

bool draft_promise_passed(const struct store_draft *d, int64_t now)
{
	return d->promised && now >= d->promised && d->promise && *d->promise && d->body &&
	       strstr(d->body, d->promise) != NULL;
}
