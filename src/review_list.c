/*
 * review_list: the two review listings, `tend queue` and `tend log`, for people (aligned
 * columns cut to the terminal, colour only on a terminal) and for scripts (--json).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "review_int.h"
#include "tend/json.h"
#include "tend/rules.h"

#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define BOLD   "\033[1m"
#define RESET  "\033[0m"

static const char *paint(const struct view_options *o, const char *code)
{
	return o->color ? code : "";
}

static int write_out(struct buf *b, FILE *out)
{
	return b->len && fwrite(b->data, 1, b->len, out) != b->len ? STORE_ERROR : 0;
}

static void trim_line_end(struct buf *b)
{
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

/* The queue */

struct queue_item {
	int64_t due;
	struct store_draft *d;
	struct store_thread *th;
};

struct queue {
	struct store_txn *t;
	bool all;
	int64_t now;
	size_t limit;              /* 0: no limit */
	uint64_t entries, visited; /* in the index; looked at */
	struct queue_item *v;
	size_t n, cap;
	size_t hidden; /* snoozed, left out */
	struct idvec seen;
	const struct review_filter *f; /* NULL: none */
	size_t more;                   /* kept by f past the limit */
};

static void queue_free(struct queue *q)
{
	for (size_t i = 0; i < q->n; i++) {
		store_draft_free(q->v[i].d);
		store_thread_free(q->v[i].th);
	}
	free(q->v);
	idvec_free(&q->seen);
}

/* Waiting for an agent: proposed, refused by the server, or sent with the outcome lost. */
static bool in_review(const struct store_draft *d)
{
	return d->state == STORE_DRAFT_PROPOSED || d->state == STORE_DRAFT_FAILED ||
	       d->state == STORE_DRAFT_UNCERTAIN;
}

static bool filter_keeps(const struct review_filter *f, const struct store_thread *th)
{
	if (f == NULL)
		return true;
	if (f->assignee && strcmp(f->assignee, "-") == 0 && th->assignee && *th->assignee)
		return false;
	if (f->assignee && strcmp(f->assignee, "-") != 0 &&
	    (th->assignee == NULL || strcmp(th->assignee, f->assignee) != 0))
		return false;
	if (f->priority >= 0 && th->priority != f->priority)
		return false;
	bool tagged = f->tag == NULL;
	for (size_t i = 0; !tagged && i < th->tags.n; i++)
		tagged = strcasecmp(th->tags.v[i], f->tag) == 0;
	return tagged;
}

/* Keeps drafts in review whose thread is there, once each (a stray entry is skipped). */
static int visit_queue(int64_t when, uint64_t draft, void *arg)
{
	struct queue *q = arg;
	struct store_draft *d = NULL;
	struct store_thread *th = NULL;
	uint64_t live;
	if (q->limit && q->n == q->limit && q->f == NULL)
		return 1; /* enough: the walk stops here */
	q->visited++;
	if (idvec_contains(&q->seen, draft))
		return 0;
	idvec_push(&q->seen, draft);
	int rc = store_get_draft(q->t, draft, &d);
	if (rc < 0 || !in_review(d))
		goto skip;
	if ((rc = store_resolve_thread(q->t, d->thread, &live)) < 0 ||
	    (rc = store_get_thread(q->t, live, &th)) < 0)
		goto skip;
	/* an older draft of the thread, or one the filters leave out, is not counted */
	bool out = th->draft != d->id || !filter_keeps(q->f, th);
	if (!out && !q->all && d->snoozed_until > q->now) {
		q->hidden++;
		out = true;
	} else if (!out && q->limit && q->n == q->limit) { /* filtered: only counted */
		q->more++;
		out = true;
	}
	if (out) {
		store_thread_free(th);
		goto skip;
	}
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 32;
		q->v = xreallocarray(q->v, q->cap, sizeof(*q->v));
	}
	q->v[q->n++] = (struct queue_item){when, d, th};
	return 0;
skip:
	store_draft_free(d);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

/* Past the escalation share of its target and not yet overdue (overdue says it already). */
static bool at_risk(const struct queue_item *it, int64_t now)
{
	return it->th->risk_at && now >= it->th->risk_at && now < it->th->deadline;
}

static void json_queue_item(struct json *j, const struct queue_item *it, int64_t now)
{
	json_object_begin(j);
	json_key(j, "thread");
	json_int(j, (int64_t)it->th->id);
	json_key(j, "due");
	json_time(j, it->due);
	json_key(j, "priority");
	json_string(j, rules_priority_name(it->th->priority));
	json_key(j, "tags");
	view_json_strvec(j, &it->th->tags);
	json_key(j, "customer");
	view_json_addr(j, &it->th->customer);
	json_key(j, "subject");
	json_string(j, it->th->subject);
	json_key(j, "stale");
	json_bool(j, it->d->stale);
	json_key(j, "draft");
	json_int(j, (int64_t)it->d->id);
	json_key(j, "assignee");
	json_string(j, it->th->assignee);
	json_key(j, "snoozed_until");
	json_time(j, it->d->snoozed_until > 0 ? it->d->snoozed_until : 0);
	json_key(j, "edited");
	json_bool(j, it->d->edited);
	json_key(j, "at_risk");
	json_bool(j, at_risk(it, now));
	json_key(j, "state");
	json_string(j, view_draft_state_name(it->d->state));
	json_key(j, "error");
	json_string(j, it->d->state == STORE_DRAFT_PROPOSED ? NULL : it->d->error);
	json_key(j, "recipients");
	json_int(j, (int64_t)view_recipients(it->d));
	json_key(j, "reply_to_held");
	json_bool(j, it->d->reply_to_held.n > 0);
	json_key(j, "unverified");
	json_bool(j, it->th->unverified != 0);
	json_key(j, "bounce");
	json_string(j, it->d->bounce);
	json_key(j, "claim");
	view_claim_json(j, it->th, now);
	json_object_end(j);
}

/* "new message, @bob, snoozed until Tue 14:02"; what came from mail or servers escaped */
static char *queue_marks(const struct queue_item *it, int64_t now)
{
	struct buf b = BUF_INIT;
	char *claim = view_claim_text(it->th, now); /* first: it says who not to disturb */
	if (claim)
		buf_puts(&b, claim);
	free(claim);
	if (it->d->state == STORE_DRAFT_FAILED) {
		buf_printf(&b, "%snot sent: ", b.len ? ", " : "");
		term_put(&b, it->d->error ? it->d->error : "refused", TEXT_LINE);
	} else if (it->d->state == STORE_DRAFT_UNCERTAIN)
		buf_printf(&b, "%smay have been sent: see tend outbox", b.len ? ", " : "");
	if (it->d->bounce) {
		buf_printf(&b, "%s", b.len ? ", " : "");
		term_put(&b, it->d->bounce, TEXT_LINE);
	}
	if (view_draft_empty(it->d))
		buf_printf(&b, "%sempty: write it with tend edit", b.len ? ", " : "");
	if (it->d->stale)
		buf_printf(&b, "%s%s", b.len ? ", " : "",
		           it->d->stale_why == STORE_STALE_RULES ? "redrafted" : "new message");
	if (it->th->unverified)
		buf_printf(&b, "%sunverified mail from us", b.len ? ", " : "");
	if (it->d->reply_to_held.n)
		buf_printf(&b, "%sReply-To not followed", b.len ? ", " : "");
	if (it->d->cc_withheld)
		buf_printf(&b, "%s%llu Cc left out", b.len ? ", " : "",
		           (unsigned long long)it->d->cc_withheld);
	if (at_risk(it, now))
		buf_printf(&b, "%sat risk", b.len ? ", " : "");
	for (size_t i = 0; !it->d->bounce && i < it->th->bounced.n; i++) {
		buf_printf(&b, "%sbounced: ", b.len ? ", " : "");
		term_put(&b, it->th->bounced.v[i], TEXT_LINE);
	}
	if (it->th->assignee && *it->th->assignee) {
		buf_printf(&b, "%s@", b.len ? ", " : "");
		term_put(&b, it->th->assignee, TEXT_LINE);
	}
	if (it->d->snoozed_until > now) {
		char when[32];
		time_t tt = (time_t)it->d->snoozed_until;
		struct tm tm;
		localtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%a %H:%M", &tm);
		buf_printf(&b, "%ssnoozed until %s", b.len ? ", " : "", when);
	}
	if (view_recipients(it->d) != 1) /* last: the plain case of a reply-all */
		buf_printf(&b, "%s%zu recipients", b.len ? ", " : "", view_recipients(it->d));
	return buf_steal(&b);
}

/* Column widths; columns are two spaces apart. Tags and customer are as wide as their
 * widest cell, until the terminal is too narrow: then they give way, down to their least
 * widths, and the subject takes what is left, at least SUBJECT_MIN. */
#define DUE_COLS     13
#define PRI_COLS     6
#define TAGS_MIN     4 /* "TAGS" */
#define CUSTOMER_MIN 8 /* "CUSTOMER" */
#define SUBJECT_MIN  20
#define TAIL_SHARE   (SUBJECT_MIN + 12) /* kept for subject and marks */

struct queue_cols {
	int id, tags, customer;
};

/* The customer as the queue shows them: the name, the address when there is no name. */
static const char *queue_customer(const struct store_thread *th)
{
	const struct message_addr *a = &th->customer;
	if (a->name && *a->name)
		return a->name;
	return a->addr && *a->addr ? a->addr : "(unknown)";
}

static char *queue_tags(const struct store_thread *th)
{
	struct buf tags = BUF_INIT;
	for (size_t i = 0; i < th->tags.n; i++)
		buf_printf(&tags, "%s%s", i ? "," : "", th->tags.v[i]);
	return tags.data ? buf_steal(&tags) : xstrdup("");
}

/*
 * When the widest line does not fit, tags and customer give way: room is what they may take
 * together once the subject and the marks have a share. Tags, the least read, keep at most a
 * third of it; the customer's name what is left.
 */
static void share_cols(struct queue_cols *w, int room)
{
	if (w->tags + w->customer <= room)
		return;
	int tags_max = room / 3 > TAGS_MIN ? room / 3 : TAGS_MIN;
	w->tags = w->tags < tags_max ? w->tags : tags_max;
	int cust_max = room - w->tags > CUSTOMER_MIN ? room - w->tags : CUSTOMER_MIN;
	w->customer = w->customer < cust_max ? w->customer : cust_max;
}

/* Subject and marks of a row, with the gap before the marks: the tail of the line. */
static int tail_width(const struct queue_item *it, int64_t now)
{
	char *marks = queue_marks(it, now);
	const char *subject =
	    it->th->subject && *it->th->subject ? it->th->subject : "(no subject)";
	int w = view_str_width(subject) + (*marks ? view_str_width(marks) + 4 : 0);
	free(marks);
	return w;
}

static struct queue_cols queue_layout(const struct queue *q, const struct view_options *o)
{
	struct queue_cols w = {2, TAGS_MIN, CUSTOMER_MIN};
	int tail = 0, fixed;
	for (size_t i = 0; i < q->n; i++) {
		int idw = snprintf(NULL, 0, "%llu", (unsigned long long)q->v[i].th->id);
		char *tags = queue_tags(q->v[i].th);
		int tw = view_str_width(tags), cw = view_str_width(queue_customer(q->v[i].th));
		int lw = o->width > 0 ? tail_width(&q->v[i], o->now) : 0;
		w.id = idw > w.id ? idw : w.id;
		w.tags = tw > w.tags ? tw : w.tags;
		w.customer = cw > w.customer ? cw : w.customer;
		tail = lw > tail ? lw : tail;
		free(tags);
	}
	fixed = w.id + 2 + DUE_COLS + 2 + PRI_COLS + 2 + 2 + 2;
	if (o->width > 0 && fixed + w.tags + w.customer + tail > o->width)
		share_cols(&w, o->width - fixed - (tail < TAIL_SHARE ? tail : TAIL_SHARE));
	return w;
}

static void put_due(struct buf *b, const struct queue_item *it, const struct view_options *o)
{
	char due[32];
	view_due(it->due, o->now, due, sizeof(due));
	const char *colour = "";
	if (it->due && it->due < o->now)
		colour = RED;
	else if (it->due && it->due - o->now < 3600)
		colour = YELLOW;
	buf_puts(b, paint(o, colour));
	view_put_cell(b, due, DUE_COLS);
	buf_puts(b, *colour ? paint(o, RESET) : "");
}

/* The subject and the marks in what is left of the line (rest < 0: all of it). The subject
 * gives way first, down to SUBJECT_MIN, then the marks, down to 12 columns (the claimant and
 * the first words); on a very narrow terminal both share what there is. */
static void put_subject_marks(struct buf *b, const char *subject, const char *marks, int rest,
                              const struct view_options *o)
{
	int mw = view_str_width(marks), gap = *marks ? 4 : 0; /* "  [" "]" */
	int sw = view_str_width(subject);
	if (rest >= 0 && sw + gap + mw > rest) {
		int want = rest - gap - mw > SUBJECT_MIN ? rest - gap - mw : SUBJECT_MIN;
		sw = sw < want ? sw : want;
		int mroom = rest - gap - sw, least = mw < 12 ? mw : 12;
		if (mroom <
		    least) { /* narrow: the subject keeps a few columns, the marks the rest */
			int few = sw < 6 ? sw : 6;
			sw = rest - gap - least > few ? rest - gap - least : few;
			mroom = rest - gap - sw > 1 ? rest - gap - sw : 1;
		}
		mw = mroom < mw ? mroom : mw;
	}
	view_put_cell(b, subject, rest >= 0 ? sw : -1);
	trim_line_end(b);
	if (*marks) {
		buf_printf(b, "  %s[", paint(o, YELLOW));
		view_put_cell(b, marks, rest >= 0 ? mw : -1);
		trim_line_end(b);
		buf_printf(b, "]%s", paint(o, RESET));
	}
}

static void human_queue_item(struct buf *b, const struct queue_item *it,
                             const struct view_options *o, const struct queue_cols *w)
{
	char *tags = queue_tags(it->th), *marks = queue_marks(it, o->now);
	buf_printf(b, "%*llu  ", w->id, (unsigned long long)it->th->id);
	put_due(b, it, o);
	buf_puts(b, "  ");
	view_put_cell(b, rules_priority_name(it->th->priority), PRI_COLS);
	buf_puts(b, "  ");
	view_put_cell(b, tags, w->tags);
	buf_puts(b, "  ");
	view_put_cell(b, queue_customer(it->th), w->customer);
	buf_puts(b, "  ");
	int rest = o->width > 0 ? o->width - (w->id + 2 + DUE_COLS + 2 + PRI_COLS + 2 + w->tags +
	                                      2 + w->customer + 2)
	                        : -1;
	const char *subject =
	    it->th->subject && *it->th->subject ? it->th->subject : "(no subject)";
	put_subject_marks(b, subject, marks, rest, o);
	trim_line_end(b);
	buf_putc(b, '\n');
	free(tags);
	free(marks);
}

static void print_queue_human(struct buf *b, const struct queue *q, const struct view_options *o)
{
	if (q->n == 0) {
		buf_puts(b, "Nothing to review.\n");
	} else {
		struct queue_cols w = queue_layout(q, o);
		buf_printf(b, "%*s  %-*s  %-*s  %-*s  %-*s  %s\n", w.id, "ID", DUE_COLS, "DUE",
		           PRI_COLS, "PRI", w.tags, "TAGS", w.customer, "CUSTOMER", "SUBJECT");
		for (size_t i = 0; i < q->n; i++)
			human_queue_item(b, &q->v[i], o, &w);
	}
	if (q->hidden)
		buf_printf(b, "(%zu snoozed draft%s not shown: `tend queue --all` lists %s.)\n",
		           q->hidden, q->hidden == 1 ? "" : "s", q->hidden == 1 ? "it" : "them");
	if (q->f && q->more)
		buf_printf(b,
		           "(%zu more after these %zu: `tend queue --limit 0` lists them all.)\n",
		           q->more, q->n);
	else if (q->f == NULL && q->entries > q->visited)
		buf_printf(b,
		           "(%llu more after these %zu: `tend queue --limit 0` lists them all.)\n",
		           (unsigned long long)(q->entries - q->visited), q->n);
}

int review_queue(struct store *s, const struct view_options *o, bool all, size_t limit, FILE *out)
{
	return review_queue_filter(s, o, all, limit, NULL, out);
}

/* Walks the queue into q (set up by the caller) in one read transaction. */
static int queue_load(struct store *s, struct queue *q)
{
	int rc = store_begin(s, false, &q->t);
	if (rc < 0)
		return rc;
	rc = store_foreach_index(q->t, STORE_INDEX_QUEUE, visit_queue, q);
	if (rc >= 0)
		rc = store_index_count(q->t, STORE_INDEX_QUEUE, &q->entries);
	store_abort(q->t);
	q->t = NULL;
	return rc;
}

int review_queue_threads(struct store *s, int64_t now, bool all, const struct review_filter *f,
                         struct idvec *out)
{
	struct queue q = {.all = all, .now = now, .f = f};
	int rc = queue_load(s, &q);
	for (size_t i = 0; rc >= 0 && i < q.n; i++)
		idvec_push(out, q.v[i].th->id);
	queue_free(&q);
	return rc < 0 ? rc : 0;
}

int review_queue_filter(struct store *s, const struct view_options *o, bool all, size_t limit,
                        const struct review_filter *f, FILE *out)
{
	struct queue q = {.all = all, .now = o->now, .limit = limit, .f = f};
	int rc = queue_load(s, &q);
	struct buf b = BUF_INIT;
	if (rc >= 0 && o->json) {
		struct json j;
		json_init(&j, false);
		json_array_begin(&j);
		for (size_t i = 0; i < q.n; i++)
			json_queue_item(&j, &q.v[i], o->now);
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
		json_finish(&j);
	} else if (rc >= 0) {
		print_queue_human(&b, &q, o);
	}
	if (rc >= 0)
		rc = write_out(&b, out);
	buf_free(&b);
	queue_free(&q);
	return rc < 0 ? rc : 0;
}

/* The log */

struct log_list {
	struct store_txn *t;
	uint64_t live; /* 0: every entry */
	const struct review_log_filter *f;
	struct store_audit *v;
	size_t n, cap;
};

static bool log_wanted(struct log_list *l, const struct store_audit *a)
{
	const struct review_log_filter *f = l->f;
	if ((f->agent && (!a->agent || strcmp(a->agent, f->agent) != 0)) ||
	    (f->action && (!a->action || strcmp(a->action, f->action) != 0)) ||
	    (f->until && a->time >= f->until))
		return false;
	if (l->live == 0 || a->thread == l->live)
		return true;
	uint64_t live;
	return a->thread && store_resolve_thread(l->t, a->thread, &live) == 0 && live == l->live;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int visit_audit(const struct store_audit *a, void *arg)
{
	struct log_list *l = arg;
	if (!log_wanted(l, a))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = (struct store_audit){
	    .seq = a->seq,
	    .time = a->time,
	    .agent = dup_or_null(a->agent),
	    .os_user = dup_or_null(a->os_user),
	    .action = dup_or_null(a->action),
	    .thread = a->thread,
	    .draft = a->draft,
	    .detail = dup_or_null(a->detail),
	};
	return 0;
}

static void log_free(struct log_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].agent);
		free(l->v[i].os_user);
		free(l->v[i].action);
		free(l->v[i].detail);
	}
	free(l->v);
}

static void json_log_entry(struct json *j, const struct store_audit *a)
{
	json_object_begin(j);
	json_key(j, "time");
	json_time(j, a->time);
	json_key(j, "agent");
	json_string(j, a->agent);
	json_key(j, "os_user");
	json_string(j, a->os_user);
	json_key(j, "action");
	json_string(j, a->action);
	json_key(j, "thread");
	json_int(j, (int64_t)a->thread);
	json_key(j, "draft");
	json_int(j, (int64_t)a->draft);
	json_key(j, "detail");
	json_string(j, a->detail);
	json_object_end(j);
}

/* "alice", or "alice (as root)" when the OS user who ran the command differs. */
static char *log_who(const struct store_audit *a)
{
	const char *agent = a->agent ? a->agent : "?";
	if (a->os_user && strcmp(a->os_user, agent) != 0)
		return xasprintf("%s (as %s)", agent, a->os_user);
	return xstrdup(agent);
}

/* A multi-line detail (an edit's diff) goes below the entry, indented; diff lines coloured. */
static void put_detail_block(struct buf *b, const char *detail, const struct view_options *o)
{
	for (const char *p = detail; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *colour = "";
		if (n && *p == '+' && strncmp(p, "+++ ", 4) != 0)
			colour = GREEN;
		else if (n && *p == '-' && strncmp(p, "--- ", 4) != 0)
			colour = RED;
		buf_printf(b, "    %s", paint(o, colour));
		struct buf line = BUF_INIT;
		buf_append(&line, p, n);
		view_put_cell(b, line.data ? line.data : "", -1);
		buf_free(&line);
		buf_printf(b, "%s\n", *colour ? paint(o, RESET) : "");
		p += n + (nl != NULL);
	}
}

/* Column widths of the human log. */
struct log_cols {
	int who, action, thread;
};

static void human_log_entry(struct buf *b, const struct store_audit *a,
                            const struct view_options *o, const struct log_cols *w)
{
	char when[32];
	time_t tt = (time_t)a->time;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	char *who = log_who(a);
	buf_printf(b, "%s  ", when);
	view_put_cell(b, who, w->who);
	buf_puts(b, "  ");
	view_put_cell(b, a->action, w->action);
	char id[24];
	snprintf(id, sizeof(id), "#%llu", (unsigned long long)a->thread);
	buf_printf(b, "  %s", paint(o, BOLD));
	view_put_cell(b, id, w->thread);
	buf_puts(b, paint(o, RESET));
	const char *detail = a->detail ? a->detail : "";
	bool block = strchr(detail, '\n') != NULL;
	if (*detail && !block) {
		buf_puts(b, "  ");
		view_put_cell(b, detail, -1);
	}
	trim_line_end(b);
	buf_putc(b, '\n');
	if (block)
		put_detail_block(b, detail, o);
	free(who);
}

static void print_log_human(struct buf *b, const struct log_list *l, const struct view_options *o)
{
	struct log_cols w = {5, 6, 2};
	for (size_t i = 0; i < l->n; i++) {
		char *who = log_who(&l->v[i]);
		int ww = view_str_width(who), aw = view_str_width(l->v[i].action);
		int tw = snprintf(NULL, 0, "#%llu", (unsigned long long)l->v[i].thread);
		w.who = ww > w.who ? (ww < 32 ? ww : 32) : w.who;
		w.action = aw > w.action ? (aw < 12 ? aw : 12) : w.action;
		w.thread = tw > w.thread ? tw : w.thread;
		free(who);
	}
	for (size_t i = 0; i < l->n; i++)
		human_log_entry(b, &l->v[i], o, &w);
	if (l->n == 0 && (l->f->agent || l->f->action || l->f->since || l->f->until))
		buf_puts(b, "No entry matches.\n");
	else if (l->n == 0 && l->live)
		buf_printf(b, "Nothing recorded for thread %llu yet.\n",
		           (unsigned long long)l->live);
	else if (l->n == 0)
		buf_puts(b, "Nothing recorded yet.\n");
}

int review_log(struct store *s, uint64_t thread, const struct view_options *o, FILE *out)
{
	struct review_log_filter f = {.thread = thread};
	return review_log_filtered(s, &f, o, out);
}

int review_log_filtered(struct store *s, const struct review_log_filter *f,
                        const struct view_options *o, FILE *out)
{
	struct log_list l = {.f = f};
	int rc = store_begin(s, false, &l.t);
	if (rc < 0)
		return rc;
	if (f->thread)
		rc = store_resolve_thread(l.t, f->thread, &l.live);
	if (rc == 0)
		rc = store_foreach_audit_since(l.t, f->since, visit_audit, &l);
	store_abort(l.t);
	struct buf b = BUF_INIT;
	if (rc >= 0 && o->json) {
		struct json j;
		json_init(&j, false);
		json_array_begin(&j);
		for (size_t i = 0; i < l.n; i++)
			json_log_entry(&j, &l.v[i]);
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
		json_finish(&j);
	} else if (rc >= 0) {
		print_log_human(&b, &l, o);
	}
	if (rc >= 0)
		rc = write_out(&b, out);
	buf_free(&b);
	log_free(&l);
	return rc < 0 ? rc : 0;
}
