/*
 * view: listings for people and for scripts.
 */
#include "tend/view.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "tend/conversation.h"
#include "tend/draft.h"
#include "tend/json.h"
#include "tend/lang.h"
#include "tend/rules.h"
#include "tend/thread.h"

#define CUSTOMER_COLS 34

static const char *const state_names[] = {
    [STORE_THREAD_OPEN] = "open",
    [STORE_THREAD_ANSWERED] = "answered",
    [STORE_THREAD_CLOSED] = "resolved",
    [STORE_THREAD_IGNORED] = "ignored",
};

const char *view_thread_state_name(int s)
{
	if (s < 0 || (size_t)s >= NELEM(state_names))
		return "unknown";
	return state_names[s];
}

int view_thread_state_parse(const char *name)
{
	for (size_t i = 0; i < NELEM(state_names); i++)
		if (strcmp(state_names[i], name) == 0)
			return (int)i;
	return -1;
}

static const char *const draft_state_names[] = {
    [STORE_DRAFT_PROPOSED] = "proposed",   [STORE_DRAFT_APPROVED] = "approved",
    [STORE_DRAFT_SENT] = "sent",           [STORE_DRAFT_REJECTED] = "rejected",
    [STORE_DRAFT_FAILED] = "failed",       [STORE_DRAFT_SUPERSEDED] = "superseded",
    [STORE_DRAFT_UNCERTAIN] = "uncertain",
};

const char *view_draft_state_name(int state)
{
	if (state < 0 || (size_t)state >= NELEM(draft_state_names))
		return "unknown";
	return draft_state_names[state];
}

/* $COLUMNS when it is a width (set on purpose: shells keep it unexported), else 0. */
static int env_columns(void)
{
	const char *s = getenv("COLUMNS");
	char *end;
	if (s == NULL || *s < '1' || *s > '9')
		return 0;
	long v = strtol(s, &end, 10);
	return *end == '\0' && v <= 10000 ? (int)v : 0;
}

/*
 * Width: $COLUMNS, else the terminal's, else (a terminal that cannot say) 80. Written to a
 * pipe or a file nothing is cut, unless $COLUMNS asks: lines there are for grep and scripts.
 */
void view_options_detect(struct view_options *o, bool json)
{
	memset(o, 0, sizeof(*o));
	o->json = json;
	o->now = (int64_t)time(NULL);
	if (json)
		return;
	o->width = env_columns();
	if (!isatty(STDOUT_FILENO))
		return;
	const char *nc = getenv("NO_COLOR");
	o->color = !(nc && *nc) && !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	struct winsize ws;
	if (o->width == 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		o->width = ws.ws_col;
	if (o->width == 0)
		o->width = 80;
}

void view_relative_time(int64_t t, int64_t now, char *buf, size_t size)
{
	if (t == 0) {
		snprintf(buf, size, "-");
		return;
	}
	int64_t d = now - t;
	time_t tt = (time_t)t, tn = (time_t)now;
	struct tm tm, tmn;
	localtime_r(&tt, &tm);
	localtime_r(&tn, &tmn);
	if (d >= 0 && d < 60)
		snprintf(buf, size, "just now");
	else if (d >= 0 && d < 3600)
		snprintf(buf, size, "%d min ago", (int)(d / 60));
	else if (d >= 0 && d < 6 * 3600)
		snprintf(buf, size, "%d h ago", (int)(d / 3600));
	else if (d > -6 * 86400 && d < 6 * 86400)
		strftime(buf, size, tm.tm_yday == tmn.tm_yday ? "today %H:%M" : "%a %H:%M", &tm);
	else if (tm.tm_year == tmn.tm_year && d >= 0)
		strftime(buf, size, "%e %b", &tm);
	else
		strftime(buf, size, "%Y-%m-%d", &tm);
}

/* "in 25 min", "overdue 3 h": minutes under an hour, hours under two days, then days. */
static void put_span(char *buf, size_t size, const char *before, int64_t d)
{
	if (d < 3600)
		snprintf(buf, size, "%s%d min", before, (int)(d < 60 ? 1 : d / 60));
	else if (d < 48 * 3600)
		snprintf(buf, size, "%s%d h", before, (int)(d / 3600));
	else
		snprintf(buf, size, "%s%lld d", before, (long long)(d / 86400));
}

void view_due(int64_t deadline, int64_t now, char *buf, size_t size)
{
	if (deadline == 0)
		snprintf(buf, size, "-");
	else if (deadline >= now)
		put_span(buf, size, "in ", deadline - now);
	else
		put_span(buf, size, "overdue ", now - deadline);
}

/* The C library's UTF-8 character tables, whatever the user's locale; 0 when it has none. */
static locale_t utf8_locale(void)
{
	static locale_t loc;
	static bool tried;
	if (!tried) {
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

/* Columns a code point takes in a terminal: wcwidth in a UTF-8 locale (wide East Asian
 * characters two, combining marks none); the table below where there is none. */
static int cp_width(uint32_t cp)
{
	locale_t loc = utf8_locale();
	if (loc != (locale_t)0) {
		locale_t old = uselocale(loc);
		int w = wcwidth((wchar_t)cp);
		uselocale(old);
		if (w >= 0)
			return w;
		return 1; /* unassigned: as most terminals show it */
	}
	if (cp >= 0x300 && cp <= 0x36f)
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Decodes one code point of valid UTF-8 at s; returns its length. */
static size_t utf8_next(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	uint32_t v = p[0] & (0x3f >> (n - 1));
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return i;
		}
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return n;
}

static int str_width(const char *s)
{
	int w = 0;
	for (const char *p = s; *p;) {
		uint32_t cp;
		p += utf8_next(p, &cp);
		w += cp_width(cp);
	}
	return w;
}

size_t view_char_cols(const char *s, int *cols)
{
	uint32_t cp;
	size_t n = utf8_next(s, &cp);
	*cols = cp_width(cp);
	return n;
}

/*
 * Appends s to b padded or cut (with an ellipsis) to exactly cols columns; cols < 0: as is.
 * Control characters are shown escaped (term_put) so a subject cannot move the cursor.
 */
static void put_cell(struct buf *b, const char *text, int cols)
{
	char *s = term_dup(text, TEXT_LINE);
	bool cut = cols >= 0 && str_width(s) > cols;
	int limit = cut ? cols - 1 : cols, used = 0;
	for (const char *p = s; *p;) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);
		int w = cp_width(cp);
		if (limit >= 0 && used + w > limit)
			break;
		buf_append(b, p, n);
		used += w;
		p += n;
	}
	if (cut) {
		buf_puts(b, "\u2026");
		used++;
	}
	while (cols >= 0 && used < cols) {
		buf_putc(b, ' ');
		used++;
	}
	free(s);
}

/* Text from mail on one line, its control characters escaped. */
static void put_safe(struct buf *b, const char *s)
{
	term_put(b, s, TEXT_LINE);
}

/* "Label: value\n", the value from mail. */
static void put_field(struct buf *b, const char *label, const char *value)
{
	buf_printf(b, "%s: ", label);
	put_safe(b, value);
	buf_putc(b, '\n');
}

static char *addr_display(const struct message_addr *a)
{
	if (a->name && *a->name && a->addr && *a->addr)
		return xasprintf("%s <%s>", a->name, a->addr);
	if (a->addr && *a->addr)
		return xstrdup(a->addr);
	return xstrdup(a->name ? a->name : "(unknown)");
}

void view_put_cell(struct buf *b, const char *s, int cols)
{
	put_cell(b, s, cols);
}

int view_str_width(const char *s)
{
	char *safe = term_dup(s, TEXT_LINE); /* as view_put_cell shows it */
	int w = str_width(safe);
	free(safe);
	return w;
}

char *view_addr_display(const struct message_addr *a)
{
	return addr_display(a);
}

static void json_addr(struct json *j, const struct message_addr *a)
{
	json_object_begin(j);
	json_key(j, "name");
	json_string(j, a->name);
	json_key(j, "email");
	json_string(j, a->addr);
	json_object_end(j);
}

static void json_strvec(struct json *j, const struct strvec *sv)
{
	json_array_begin(j);
	for (size_t i = 0; i < sv->n; i++)
		json_string(j, sv->v[i]);
	json_array_end(j);
}

static void json_addrs(struct json *j, const struct message_addrs *as)
{
	json_array_begin(j);
	for (size_t i = 0; i < as->n; i++)
		json_addr(j, &as->v[i]);
	json_array_end(j);
}

void view_json_addr(struct json *j, const struct message_addr *a)
{
	json_addr(j, a);
}

void view_json_addrs(struct json *j, const struct message_addrs *as)
{
	json_addrs(j, as);
}

void view_json_strvec(struct json *j, const struct strvec *sv)
{
	json_strvec(j, sv);
}

/* Collected live threads, to be sorted by last activity. */
struct thread_list {
	struct store_thread **v;
	size_t n, cap;
	int state; /* only threads in this state; -1: all */
};

static struct store_thread *thread_copy(const struct store_thread *th);

static int collect(const struct store_thread *th, void *arg)
{
	struct thread_list *l = arg;
	if (l->state >= 0 && th->state != l->state)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = thread_copy(th);
	return 0;
}

static int by_activity(const void *a, const void *b)
{
	const struct store_thread *x = *(struct store_thread *const *)a;
	const struct store_thread *y = *(struct store_thread *const *)b;
	if (x->updated != y->updated)
		return x->updated < y->updated ? 1 : -1;
	return x->id < y->id ? 1 : -1;
}

static void thread_list_free(struct thread_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		store_thread_free(l->v[i]);
	free(l->v);
}

static struct store_thread *thread_copy(const struct store_thread *th)
{
	struct store_thread *c = xcalloc(1, sizeof(*c));
	c->id = th->id;
	c->state = th->state;
	c->subject = xstrdup(th->subject ? th->subject : "");
	c->customer.name = th->customer.name ? xstrdup(th->customer.name) : NULL;
	c->customer.addr = xstrdup(th->customer.addr ? th->customer.addr : "");
	c->created = th->created;
	c->updated = th->updated;
	for (size_t i = 0; i < th->messages.n; i++)
		idvec_push(&c->messages, th->messages.v[i]);
	for (size_t i = 0; i < th->tags.n; i++)
		strvec_push(&c->tags, th->tags.v[i]);
	for (size_t i = 0; i < th->bounced.n; i++)
		strvec_push(&c->bounced, th->bounced.v[i]);
	c->priority = th->priority;
	c->deadline = th->deadline;
	c->first_response = th->first_response;
	return c;
}

/* The fields a thread has in both `threads --json` and `show --json`. */
static void json_thread_fields(struct json *j, const struct store_thread *th)
{
	json_key(j, "id");
	json_int(j, (int64_t)th->id);
	json_key(j, "subject");
	json_string(j, th->subject);
	json_key(j, "customer");
	json_addr(j, &th->customer);
	json_key(j, "state");
	json_string(j, view_thread_state_name(th->state));
	json_key(j, "tags");
	json_strvec(j, &th->tags);
	json_key(j, "bounced");
	json_strvec(j, &th->bounced);
}

static int json_thread(struct store_txn *t, struct json *j, const struct store_thread *th)
{
	json_object_begin(j);
	json_thread_fields(j, th);
	json_key(j, "created");
	json_time(j, th->created);
	json_key(j, "updated");
	json_time(j, th->updated);
	json_key(j, "message_ids");
	json_array_begin(j);
	for (size_t i = 0; i < th->messages.n; i++) {
		struct store_message *m = NULL;
		int rc = store_get_message(t, th->messages.v[i], &m);
		if (rc < 0)
			return rc;
		json_string(j, m->message_id);
		store_message_free(m);
	}
	json_array_end(j);
	json_object_end(j);
	return 0;
}

static void human_thread(struct buf *b, const struct store_thread *th, const struct view_options *o,
                         int idw)
{
	char when[32];
	view_relative_time(th->updated, o->now, when, sizeof(when));
	char *cust = addr_display(&th->customer);
	buf_printf(b, "%s%*llu%s  ", o->color ? "\033[1m" : "", idw, (unsigned long long)th->id,
	           o->color ? "\033[0m" : "");
	put_cell(b, when, 14);
	buf_printf(b, " %4zu  ", th->messages.n);
	put_cell(b, view_thread_state_name(th->state), 9);
	put_cell(b, cust, CUSTOMER_COLS);
	buf_puts(b, "  ");
	int rest = o->width > 0 ? o->width - (idw + 2 + 14 + 7 + 9 + CUSTOMER_COLS + 2) : -1;
	put_cell(b, th->subject && *th->subject ? th->subject : "(no subject)",
	         rest > 8 ? rest : (o->width > 0 ? 8 : -1));
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
	buf_putc(b, '\n');
	free(cust);
}

static int print_threads(struct store_txn *t, const struct thread_list *l,
                         const struct view_options *o, FILE *out)
{
	struct buf b = BUF_INIT;
	int rc = 0;
	if (o->json) {
		struct json j;
		json_init(&j, false);
		json_array_begin(&j);
		for (size_t i = 0; i < l->n && rc == 0; i++)
			rc = json_thread(t, &j, l->v[i]);
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
		json_finish(&j);
	} else {
		int idw = 2;
		for (size_t i = 0; i < l->n; i++) {
			int w = snprintf(NULL, 0, "%llu", (unsigned long long)l->v[i]->id);
			idw = w > idw ? w : idw;
		}
		buf_printf(&b, "%*s  %-14s %4s  %-9s%-*s  %s\n", idw, "ID", "LAST", "MSGS", "STATE",
		           CUSTOMER_COLS, "CUSTOMER", "SUBJECT");
		for (size_t i = 0; i < l->n; i++)
			human_thread(&b, l->v[i], o, idw);
		if (l->n == 0 && l->state >= 0)
			buf_printf(&b, "No %s conversations.\n", view_thread_state_name(l->state));
		else if (l->n == 0)
			buf_puts(&b,
			         "No conversations yet: import mail with `tend import PATH`.\n");
	}
	if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
	buf_free(&b);
	return rc;
}

int view_threads(struct store_txn *t, const struct view_options *o, FILE *out)
{
	return view_threads_in(t, o, -1, out);
}

int view_threads_in(struct store_txn *t, const struct view_options *o, int state, FILE *out)
{
	struct thread_list l = {.state = state};
	int rc = store_foreach_thread(t, collect, &l);
	if (rc >= 0) {
		if (l.n)
			qsort(l.v, l.n, sizeof(*l.v), by_activity);
		rc = print_threads(t, &l, o, out);
	}
	thread_list_free(&l);
	return rc;
}

struct qlist {
	struct idvec ids;
};

static int collect_q(uint64_t id, void *arg)
{
	idvec_push(&((struct qlist *)arg)->ids, id);
	return 0;
}

static void quarantined_one(struct buf *b, struct json *j, const struct store_message *m,
                            const struct view_options *o)
{
	if (o->json) {
		json_object_begin(j);
		json_key(j, "id");
		json_int(j, (int64_t)m->id);
		json_key(j, "message_id");
		json_string(j, m->message_id);
		json_key(j, "source");
		json_string(j, m->source);
		json_key(j, "received");
		json_time(j, m->received);
		json_key(j, "size");
		json_int(j, (int64_t)m->raw_size);
		json_key(j, "reason");
		json_string(j, m->quarantine_reason);
		json_object_end(j);
		return;
	}
	char when[32];
	view_relative_time(m->received, o->now, when, sizeof(when));
	buf_printf(b, "%6llu  ", (unsigned long long)m->id);
	put_cell(b, when, 14);
	buf_printf(b, " %9llu  ", (unsigned long long)m->raw_size);
	put_safe(b, m->source && *m->source ? m->source : "-");
	buf_puts(b, "\n        ");
	put_safe(b, m->quarantine_reason);
	buf_putc(b, '\n');
}

int view_quarantined(struct store_txn *t, const struct view_options *o, FILE *out)
{
	struct qlist q = {0};
	struct buf b = BUF_INIT;
	struct json j;
	json_init(&j, false);
	int rc = store_foreach_quarantined(t, collect_q, &q);
	if (o->json)
		json_array_begin(&j);
	else if (q.ids.n)
		buf_printf(&b, "%6s  %-14s %9s  %s\n", "MSG", "RECEIVED", "BYTES",
		           "SOURCE / REASON");
	else
		buf_puts(&b, "No quarantined messages.\n");
	for (size_t i = 0; rc >= 0 && i < q.ids.n; i++) {
		struct store_message *m = NULL;
		if ((rc = store_get_message(t, q.ids.v[i], &m)) < 0)
			break;
		quarantined_one(&b, &j, m, o);
		store_message_free(m);
	}
	if (o->json) {
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
	}
	if (rc >= 0 && fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
	json_finish(&j);
	buf_free(&b);
	idvec_free(&q.ids);
	return rc < 0 ? rc : 0;
}

static void json_message(struct json *j, const struct store_message *m)
{
	json_object_begin(j);
	json_key(j, "id");
	json_int(j, (int64_t)m->id);
	json_key(j, "message_id");
	json_string(j, m->message_id);
	json_key(j, "from");
	json_addr(j, &m->from);
	json_key(j, "to");
	json_addrs(j, &m->to);
	json_key(j, "cc");
	json_addrs(j, &m->cc);
	json_key(j, "date");
	json_time(j, m->date ? m->date : m->received);
	json_key(j, "received");
	json_time(j, m->received);
	json_key(j, "subject");
	json_string(j, m->subject);
	json_key(j, "text");
	json_string(j, m->text);
	json_key(j, "new_text");
	json_string(j, m->new_text);
	json_key(j, "source");
	json_string(j, m->source);
	json_key(j, "attachments");
	json_array_begin(j);
	for (size_t i = 0; i < m->nattachments; i++) {
		json_object_begin(j);
		json_key(j, "filename");
		json_string(j, m->attachments[i].filename);
		json_key(j, "content_type");
		json_string(j, m->attachments[i].content_type);
		json_key(j, "size");
		json_int(j, (int64_t)m->attachments[i].size);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "joined");
	json_object_begin(j);
	json_key(j, "reason");
	json_string(j, thread_reason_name(m->join_reason));
	json_key(j, "detail");
	json_string(j, m->join_detail);
	json_object_end(j);
	json_key(j, "warnings");
	json_strvec(j, &m->warnings);
	json_key(j, "reply_to");
	json_addrs(j, &m->reply_to);
	json_key(j, "reply_to_held");
	json_bool(j, (m->flags & STORE_MSG_REPLY_TO_HELD) != 0);
	json_key(j, "ours");
	json_bool(j, (m->flags & STORE_MSG_OURS) != 0);
	json_key(j, "unverified");
	json_bool(j, (m->flags & STORE_MSG_UNVERIFIED) != 0);
	json_key(j, "sender_note");
	json_string(j, m->sender_note);
	json_key(j, "lang");
	json_string(j, m->lang);
	json_key(j, "lang_note");
	json_string(j, m->lang_note);
	json_object_end(j);
}

static void json_draft_times(struct json *j, const struct store_draft *d)
{
	json_key(j, "created");
	json_time(j, d->created);
	json_key(j, "updated");
	json_time(j, d->updated);
	json_key(j, "snoozed_until");
	json_time(j, d->snoozed_until);
	json_key(j, "approved");
	json_time(j, d->approved);
	json_key(j, "sent");
	json_time(j, d->sent);
}

static void json_draft(struct json *j, const struct store_draft *d)
{
	json_object_begin(j);
	json_key(j, "id");
	json_int(j, (int64_t)d->id);
	json_key(j, "state");
	json_string(j, view_draft_state_name(d->state));
	json_key(j, "stale");
	json_bool(j, d->stale);
	json_key(j, "edited");
	json_bool(j, d->edited);
	json_key(j, "to");
	json_addrs(j, &d->to);
	json_key(j, "cc");
	json_addrs(j, &d->cc);
	json_key(j, "recipients");
	json_int(j, (int64_t)view_recipients(d));
	json_key(j, "cc_withheld");
	json_int(j, (int64_t)d->cc_withheld);
	json_key(j, "reply_to_held");
	json_addrs(j, &d->reply_to_held);
	json_key(j, "subject");
	json_string(j, d->subject);
	json_key(j, "in_reply_to");
	json_string(j, d->in_reply_to);
	json_key(j, "parts");
	json_strvec(j, &d->parts);
	json_key(j, "parts_added"); /* by hand: tend draft --add, --remove */
	json_strvec(j, &d->parts_added);
	json_key(j, "parts_removed");
	json_strvec(j, &d->parts_removed);
	json_key(j, "recipients_by"); /* who set To and Cc in tend edit; null: the rules */
	json_string(j, d->recipients_by);
	json_key(j, "captures");
	json_strvec(j, &d->captures);
	json_key(j, "body");
	json_string(j, d->body);
	json_key(j, "previous_body");
	json_string(j, d->previous_body);
	json_key(j, "message_id");
	json_string(j, d->message_id);
	json_key(j, "last_editor");
	json_string(j, d->last_editor);
	json_key(j, "approved_by");
	json_string(j, d->approved_by);
	json_key(j, "reject_reason");
	json_string(j, d->reject_reason);
	json_key(j, "error");
	json_string(j, d->error);
	json_key(j, "bounce");
	json_string(j, d->bounce);
	json_key(j, "lookup_failures");
	json_strvec(j, &d->lookup_failures);
	json_key(j, "resend_of");
	json_int(j, (int64_t)d->resend_of);
	json_key(j, "attachments");
	json_array_begin(j);
	for (size_t i = 0; i < d->nfiles; i++) {
		json_object_begin(j);
		json_key(j, "filename");
		json_string(j, d->files[i].name);
		json_key(j, "content_type");
		json_string(j, d->files[i].content_type);
		json_key(j, "size");
		json_int(j, (int64_t)d->files[i].size);
		json_key(j, "rule");
		json_string(j, d->files[i].rule);
		json_object_end(j);
	}
	json_array_end(j);
	json_draft_times(j, d);
	json_object_end(j);
}

/* One entry of the conversation: the same keys for every kind, null where they do not apply. */
static void json_entry(struct json *j, const struct conversation_entry *e)
{
	const struct store_message *m = e->message;
	const struct store_draft *d = e->draft;
	const struct store_note *n = e->note;
	static const struct message_addrs none = {NULL, 0};
	json_object_begin(j);
	json_key(j, "kind");
	json_string(j, conversation_kind_name(e->kind));
	json_key(j, "time");
	json_time(j, e->when);
	json_key(j, "agent");
	json_string(j, d ? d->approved_by : n ? n->agent : NULL);
	json_key(j, "os_user");
	json_string(j, n ? n->os_user : NULL);
	json_key(j, "body");
	json_string(j, m ? m->text : d ? d->body : n->text);
	json_key(j, "message");
	m ? json_int(j, (int64_t)m->id) : json_null(j);
	json_key(j, "draft");
	d ? json_int(j, (int64_t)d->id) : json_null(j);
	json_key(j, "note");
	n ? json_int(j, (int64_t)n->id) : json_null(j);
	json_key(j, "message_id");
	json_string(j, m ? m->message_id : d ? d->message_id : NULL);
	json_key(j, "from");
	m ? json_addr(j, &m->from) : json_null(j);
	json_key(j, "to");
	json_addrs(j, m ? &m->to : d ? &d->to : &none);
	json_key(j, "cc");
	json_addrs(j, m ? &m->cc : d ? &d->cc : &none);
	json_key(j, "subject");
	json_string(j, m ? m->subject : d ? d->subject : NULL);
	json_key(j, "sent");
	json_time(j, d ? d->sent : 0);
	json_key(j, "server_reply");
	json_string(j, d ? d->smtp_reply : NULL);
	json_object_end(j);
}

/* The escalation stages sent for the running clock (a store from before stages: none). */
static const struct strvec *escalated_now(const struct store_thread *th)
{
	static const struct strvec none = STRVEC_INIT;
	bool now = th->escalated && th->escalated == th->clock_start;
	return now ? &th->escalated_stages : &none;
}

static void show_json(struct buf *b, const struct store_thread *th, const struct conversation *c,
                      const struct store_draft *d, const struct view_history *hist, int64_t now)
{
	struct json j;
	json_init(&j, true);
	json_object_begin(&j);
	json_thread_fields(&j, th);
	json_key(&j, "customer_history");
	view_history_json(&j, hist);
	json_key(&j, "priority");
	json_string(&j, rules_priority_name(th->priority));
	json_key(&j, "deadline");
	json_time(&j, th->deadline);
	json_key(&j, "escalated");
	json_array_begin(&j);
	for (size_t i = 0; i < escalated_now(th)->n; i++)
		json_string(&j, escalated_now(th)->v[i]);
	json_array_end(&j);
	json_key(&j, "assignee");
	json_string(&j, th->assignee);
	json_key(&j, "claim");
	view_claim_json(&j, th, now);
	bool resolved = th->state == STORE_THREAD_CLOSED;
	json_key(&j, "resolved");
	json_time(&j, resolved ? th->resolved : 0);
	json_key(&j, "resolved_by");
	json_string(&j, resolved ? th->resolved_by : NULL);
	json_key(&j, "resolve_reason");
	json_string(&j, resolved ? th->resolve_reason : NULL);
	json_key(&j, "messages");
	json_array_begin(&j);
	for (size_t i = 0; i < c->nmessages; i++)
		json_message(&j, c->messages[i]);
	json_array_end(&j);
	json_key(&j, "conversation");
	json_array_begin(&j);
	for (size_t i = 0; i < c->n; i++)
		json_entry(&j, &c->entries[i]);
	json_array_end(&j);
	json_key(&j, "draft");
	if (d)
		json_draft(&j, d);
	else
		json_null(&j);
	json_object_end(&j);
	buf_append(b, j.out.data, j.out.len);
	buf_putc(b, '\n');
	json_finish(&j);
}

static const char *paint(const struct view_options *o, const char *code)
{
	return o->color ? code : "";
}

static void show_addrs(struct buf *b, const char *label, const struct message_addrs *as);

/* Whether mail from our address is believed, and a Reply-To that is not followed. */
static void show_sender(struct buf *b, const struct store_message *m, const struct view_options *o)
{
	if (m->flags & STORE_MSG_UNVERIFIED) {
		buf_printf(b, "%sUnverified sender: ", paint(o, "\033[31m"));
		put_safe(b, m->sender_note);
		buf_printf(b, "; it answers nothing and closes nothing.%s\n", paint(o, "\033[0m"));
	} else if ((m->flags & STORE_MSG_OURS) && m->sender_note) {
		put_field(b, "From us", m->sender_note);
	}
	if ((m->flags & STORE_MSG_FORM) && m->reply_to.n) {
		buf_puts(b, "Through a form: ");
		put_safe(b, m->from.addr);
		buf_puts(b, " sent it for ");
		put_safe(b, m->reply_to.v[0].addr);
		buf_puts(b, " (its Reply-To), the customer\n");
	}
	if (m->flags & STORE_MSG_REPLY_TO_HELD) {
		buf_printf(b, "%s", paint(o, "\033[33m"));
		show_addrs(b, "Reply-To (not followed)", &m->reply_to);
		buf_printf(
		    b,
		    "  It asks for replies to go to an address outside this conversation, and "
		    "it joined by its subject, which anyone can write.%s\n",
		    paint(o, "\033[0m"));
	}
}

/* The language the message is in, and when it is the default language, why. */
static void show_lang(struct buf *b, const struct store_message *m)
{
	if (m->lang == NULL)
		return;
	const char *name = lang_name(m->lang);
	buf_puts(b, "Language: ");
	put_safe(b, m->lang);
	if (name && !m->lang_note)
		buf_printf(b, " (%s)", name);
	if (m->lang_note) {
		buf_puts(b, " (the default: ");
		put_safe(b, m->lang_note);
		buf_putc(b, ')');
	}
	buf_putc(b, '\n');
}

/* A message that came in; label ("Our reply, written outside tend: ") marks one of ours. */
static void show_message(struct buf *b, size_t n, const struct store_message *m, const char *label,
                         const struct view_options *o)
{
	char when[64];
	time_t tt = (time_t)(m->date ? m->date : m->received);
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%a %e %b %Y %H:%M", &tm);
	char *from = addr_display(&m->from);
	buf_printf(b, "\n%s── %zu ── %s", paint(o, "\033[1m"), n, label ? label : "");
	put_safe(b, from);
	buf_printf(b, " · %s%s\n%sMessage-ID: <", when, paint(o, "\033[0m"), paint(o, "\033[2m"));
	put_safe(b, m->message_id);
	buf_printf(b, ">%s\nJoined: %s: ",
	           m->message_id_synthetic ? " (none in the message; made from its content)" : "",
	           thread_reason_name(m->join_reason));
	put_safe(b, m->join_detail);
	buf_printf(b, "%s\n", paint(o, "\033[0m"));
	show_sender(b, m, o);
	show_lang(b, m);
	if (m->subject && *m->subject)
		put_field(b, "Subject", m->subject);
	for (size_t i = 0; i < m->nattachments; i++) {
		const struct message_attachment *a = &m->attachments[i];
		view_attachment_line(b, i + 1, a->filename, a->content_type, a->size);
		buf_printf(b, ": tend attachment %llu %zu\n", (unsigned long long)m->id, i + 1);
	}
	buf_putc(b, '\n');
	term_put(b, m->text && *m->text ? m->text : "(no text)", TEXT_LINES);
	buf_putc(b, '\n');
	free(from);
}

/* An absolute local time for things ahead of now or exact: "Tue 24 Nov 2026 14:02". */
static void local_stamp(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, size, "%a %e %b %Y %H:%M", &tm);
}

/* "Escalated: 50% team@shop.example, 90% lead@shop.example" */
static void show_escalated(struct buf *b, const struct store_thread *th)
{
	const struct strvec *sv = escalated_now(th);
	for (size_t i = 0; i < sv->n; i++) {
		buf_puts(b, i ? ", " : "Escalated: ");
		put_safe(b, sv->v[i]);
	}
	if (sv->n > 0)
		buf_putc(b, '\n');
}

static void show_due(struct buf *b, const struct store_thread *th, const struct view_options *o)
{
	if (th->deadline == 0 || th->state != STORE_THREAD_OPEN)
		return;
	char due[32], when[64];
	view_due(th->deadline, o->now, due, sizeof(due));
	local_stamp(th->deadline, when, sizeof(when));
	buf_printf(b, "Due: %s%s%s (%s) · priority %s\n",
	           paint(o, th->deadline < o->now ? "\033[31m" : ""), due, paint(o, "\033[0m"),
	           when, rules_priority_name(th->priority));
	show_escalated(b, th);
}

static void show_addrs(struct buf *b, const char *label, const struct message_addrs *as)
{
	if (as->n == 0)
		return;
	buf_printf(b, "%s: ", label);
	for (size_t i = 0; i < as->n; i++) {
		char *a = addr_display(&as->v[i]);
		buf_puts(b, i ? ", " : "");
		put_safe(b, a);
		free(a);
	}
	buf_putc(b, '\n');
}

/* "proposed, edited by alice", "approved by bob 5 min ago", "sent 2 h ago", ... */
static void draft_status(struct buf *b, const struct store_draft *d, const struct view_options *o)
{
	char when[32];
	buf_puts(b, view_draft_state_name(d->state));
	if (d->state == STORE_DRAFT_APPROVED || d->state == STORE_DRAFT_SENT) {
		view_relative_time(d->state == STORE_DRAFT_SENT ? d->sent : d->approved, o->now,
		                   when, sizeof(when));
		if (d->approved_by) {
			buf_puts(b, " by ");
			put_safe(b, d->approved_by);
		}
		buf_printf(b, " %s", when);
		return;
	}
	if (d->edited && d->last_editor) {
		buf_puts(b, ", edited by ");
		put_safe(b, d->last_editor);
	}
	view_relative_time(d->updated, o->now, when, sizeof(when));
	buf_printf(b, ", updated %s", when);
}

/* Each line of text indented, for text shown beside the draft rather than as part of it. */
static void put_indented(struct buf *b, const char *text, const char *indent)
{
	char *safe = term_dup(text, TEXT_LINES);
	for (const char *p = safe; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > 0)
			buf_puts(b, indent);
		buf_append(b, p, n);
		buf_putc(b, '\n');
		p += n + (nl != NULL);
	}
	free(safe);
}

bool view_draft_empty(const struct store_draft *d)
{
	return d->body == NULL || d->body[strspn(d->body, " \t\r\n")] == '\0';
}

const char *view_aside_why(const struct store_draft *d)
{
	if (d->stale_why == STORE_STALE_RULES)
		return "set aside when `tend redraft` wrote the draft again from the rules";
	return "from before the customer wrote again";
}

size_t view_recipients(const struct store_draft *d)
{
	return d->to.n + d->cc.n;
}

void view_recipient_notes(struct buf *b, const struct store_draft *d)
{
	if (d->reply_to_held.n) {
		buf_puts(b, "The customer's message asked for replies to go to ");
		for (size_t i = 0; i < d->reply_to_held.n; i++) {
			char *a = addr_display(&d->reply_to_held.v[i]);
			buf_puts(b, i ? ", " : "");
			put_safe(b, a);
			free(a);
		}
		buf_puts(
		    b, ", outside this conversation; the reply goes to the participant instead.\n");
	}
	if (d->cc_withheld)
		buf_printf(
		    b,
		    "The customer's message named %llu more address%s in To and Cc; the reply "
		    "goes to the customer alone, as more would exceed review.max_recipients.\n",
		    (unsigned long long)d->cc_withheld, d->cc_withheld == 1 ? "" : "es");
}

void view_attachment_line(struct buf *b, size_t n, const char *name, const char *type,
                          uint64_t size)
{
	buf_printf(b, "Attachment %zu: ", n);
	put_safe(b, name ? name : "(unnamed)");
	buf_puts(b, " (");
	put_safe(b, type);
	buf_printf(b, ", %llu bytes)", (unsigned long long)size);
}

static void draft_files(struct buf *b, const struct store_draft *d)
{
	for (size_t i = 0; i < d->nfiles; i++) {
		const struct store_file *f = &d->files[i];
		view_attachment_line(b, i + 1, f->name, f->content_type, f->size);
		if (f->rule) {
			buf_puts(b, " from rule ");
			put_safe(b, f->rule);
		}
		buf_putc(b, '\n');
	}
}

static void draft_headers(struct buf *b, const struct store_draft *d)
{
	show_addrs(b, "To", &d->to);
	show_addrs(b, "Cc", &d->cc);
	buf_printf(b, "Recipients: %zu\n", view_recipients(d));
	view_recipient_notes(b, d);
	put_field(b, "Subject", d->subject);
	draft_files(b, d);
	if (d->parts.n) { /* numbered for `tend draft ID --remove N` */
		buf_puts(b, "Answers:");
		for (size_t i = 0; i < d->parts.n; i++) {
			buf_printf(b, "%s%zu. ", i ? ", " : " ", i + 1);
			put_safe(b, d->parts.v[i]);
			if (strvec_contains(&d->parts_added, d->parts.v[i]))
				buf_puts(b, " (added by hand)");
		}
		buf_putc(b, '\n');
	}
	for (size_t i = 0; i < d->parts_removed.n; i++) {
		buf_puts(b, "Removed by hand: ");
		put_safe(b, d->parts_removed.v[i]);
		buf_putc(b, '\n');
	}
	for (size_t i = 0; i < d->captures.n; i++) {
		buf_puts(b, "Captured: ");
		put_safe(b, d->captures.v[i]);
		buf_putc(b, '\n');
	}
	if (d->message_id) {
		buf_puts(b, "Message-ID: <");
		put_safe(b, d->message_id);
		buf_puts(b, ">\n");
	}
	if (d->error)
		put_field(b, "Sending failed", d->error);
	if (d->reject_reason)
		put_field(b, "Rejected", d->reject_reason);
}

/* A bounced reply back in review, a draft with no text or nobody to send it to: what to do. */
static void draft_warnings(struct buf *b, const struct store_draft *d, const struct view_options *o)
{
	unsigned long long id = (unsigned long long)d->thread;
	if (d->bounce) {
		buf_printf(b, "%sReturned: ", paint(o, "\033[31m"));
		put_safe(b, d->bounce);
		buf_printf(b, "; its text is below, to send again.%s\n", paint(o, "\033[0m"));
	}
	for (size_t i = 0; i < d->lookup_failures.n; i++) {
		buf_puts(b, paint(o, "\033[33m"));
		put_safe(b, d->lookup_failures.v[i]);
		buf_printf(b, ": the draft follows the rules without its facts.%s\n",
		           paint(o, "\033[0m"));
	}
	if (view_recipients(d) == 0)
		buf_printf(b,
		           "%sNo recipient: the customer gave no other address in this "
		           "conversation, and tend cannot set one yet: reach the customer another "
		           "way, then `tend resolve %llu`.%s\n",
		           paint(o, "\033[33m"), id, paint(o, "\033[0m"));
	if (view_draft_empty(d))
		buf_printf(b, "%sThe draft is empty: write the reply with `tend edit %llu`.%s\n",
		           paint(o, "\033[33m"), id, paint(o, "\033[0m"));
	if (d->state == STORE_DRAFT_PROPOSED && draft_promise_passed(d, o->now)) {
		buf_printf(b, "%sThe draft promises \"", paint(o, "\033[33m"));
		put_safe(b, d->promise);
		buf_printf(b, "\", a time that has passed: change it with `tend edit %llu`.%s\n",
		           id, paint(o, "\033[0m"));
	}
}

static void show_draft(struct buf *b, const struct store_draft *d, const struct view_options *o)
{
	if (d == NULL) {
		buf_puts(b, "\nNo draft.\n");
		return;
	}
	buf_printf(b, "\n%s══ Draft: ", paint(o, "\033[1m"));
	draft_status(b, d, o);
	buf_printf(b, "%s\n", paint(o, "\033[0m"));
	draft_headers(b, d);
	draft_warnings(b, d, o);
	if (d->snoozed_until > o->now) {
		char when[64];
		local_stamp(d->snoozed_until, when, sizeof(when));
		buf_printf(b, "Snoozed until: %s\n", when);
	}
	if (d->stale && d->stale_why == STORE_STALE_RULES)
		buf_printf(b,
		           "\n%sThe rules or templates changed after your edit: `tend redraft` "
		           "wrote the draft again from them.%s\n",
		           paint(o, "\033[33m"), paint(o, "\033[0m"));
	else if (d->stale)
		buf_printf(b,
		           "\n%sThe customer wrote again after this draft was made: read the new "
		           "message above; the draft was rewritten.%s\n",
		           paint(o, "\033[33m"), paint(o, "\033[0m"));
	if (d->previous_body && *d->previous_body) {
		buf_printf(b, "\nYour earlier edit, %s:\n", view_aside_why(d));
		put_indented(b, d->previous_body, "    ");
		buf_puts(b, "\nThe draft now:\n");
	}
	buf_putc(b, '\n');
	term_put(b, d->body, TEXT_LINES); /* template output: it quotes the customer */
	if (b->len && b->data[b->len - 1] != '\n')
		buf_putc(b, '\n');
}

/* "Bounced: mail to anna@example.com came back (550 5.1.1 User unknown)", in red. */
static void show_bounced(struct buf *b, const struct store_thread *th, const struct view_options *o)
{
	for (size_t i = 0; i < th->bounced.n; i++) {
		buf_printf(b, "%sBounced: mail to ", paint(o, "\033[31m"));
		put_safe(b, th->bounced.v[i]);
		buf_puts(b, " came back");
		if (th->bounce_detail) {
			buf_puts(b, " (");
			put_safe(b, th->bounce_detail);
			buf_putc(b, ')');
		}
		buf_printf(b, "%s\n", paint(o, "\033[0m"));
	}
}

/* "Resolved by alice 2 h ago: answered by phone" */
static void show_resolved(struct buf *b, const struct store_thread *th,
                          const struct view_options *o)
{
	if (th->state != STORE_THREAD_CLOSED || th->resolved == 0)
		return;
	char when[32];
	view_relative_time(th->resolved, o->now, when, sizeof(when));
	buf_puts(b, "Resolved by ");
	put_safe(b, th->resolved_by ? th->resolved_by : "?");
	buf_printf(b, " %s", when);
	if (th->resolve_reason) {
		buf_puts(b, ": ");
		put_safe(b, th->resolve_reason);
	}
	buf_putc(b, '\n');
}

/* " Mon 30 Nov 2026 10:02 (250 2.0.0 Ok: queued)": when the server accepted it, in its words. */
static void accepted(struct buf *b, const struct store_draft *d)
{
	char when[64];
	local_stamp(d->sent, when, sizeof(when));
	buf_printf(b, "accepted by the server %s", when);
	if (d->smtp_reply && *d->smtp_reply) {
		buf_puts(b, " (");
		put_safe(b, d->smtp_reply);
		buf_putc(b, ')');
	}
}

/* A reply, holding reply or notice as it was sent: who approved it, when the server took it. */
static void show_sent(struct buf *b, size_t n, const struct store_draft *d,
                      const struct view_options *o)
{
	buf_printf(b, "\n%s── %zu ── ", paint(o, "\033[1m"), n);
	if (d->kind == STORE_KIND_NOTICE) {
		buf_puts(b, "Escalation notice to ");
		for (size_t i = 0; i < d->to.n; i++) {
			buf_puts(b, i ? ", " : "");
			put_safe(b, d->to.v[i].addr);
		}
		buf_puts(b, " (internal), ");
	} else if (d->kind == STORE_KIND_HOLDING) {
		buf_puts(b, "Holding reply (automatic), ");
	} else {
		buf_puts(b, "Our reply, approved by ");
		put_safe(b, d->approved_by ? d->approved_by : "someone");
		buf_puts(b, ", ");
	}
	accepted(b, d);
	buf_printf(b, "%s\n", paint(o, "\033[0m"));
	if (d->message_id) {
		buf_printf(b, "%sMessage-ID: <", paint(o, "\033[2m"));
		put_safe(b, d->message_id);
		buf_printf(b, ">%s\n", paint(o, "\033[0m"));
	}
	if (d->kind != STORE_KIND_NOTICE) {
		show_addrs(b, "To", &d->to);
		show_addrs(b, "Cc", &d->cc);
	}
	put_field(b, "Subject", d->subject ? d->subject : "");
	draft_files(b, d);
	buf_putc(b, '\n');
	term_put(b, d->body && *d->body ? d->body : "(no text)", TEXT_LINES);
	if (b->len && b->data[b->len - 1] != '\n')
		buf_putc(b, '\n');
}

static void show_note(struct buf *b, size_t n, const struct store_note *note,
                      const struct view_options *o)
{
	char when[64];
	local_stamp(note->created, when, sizeof(when));
	buf_printf(b, "\n%s── %zu ── Internal note by ", paint(o, "\033[1;33m"), n);
	put_safe(b, note->agent ? note->agent : "?");
	buf_printf(b, " · %s (never sent)%s\n\n", when, paint(o, "\033[0m"));
	term_put(b, note->text ? note->text : "", TEXT_LINES);
	if (b->len && b->data[b->len - 1] != '\n')
		buf_putc(b, '\n');
}

static void show_entry(struct buf *b, size_t n, const struct conversation_entry *e,
                       const struct view_options *o)
{
	if (e->kind == CONVERSATION_NOTE)
		show_note(b, n, e->note, o);
	else if (e->draft)
		show_sent(b, n, e->draft, o);
	else
		show_message(
		    b, n, e->message,
		    e->kind == CONVERSATION_OURS ? "Our reply, written outside tend: " : NULL, o);
}

static void show_human(struct buf *b, const struct store_thread *th, const struct conversation *c,
                       const struct view_history *hist, const struct view_options *o)
{
	char *cust = addr_display(&th->customer);
	char first[32], last[32];
	view_relative_time(th->created, o->now, first, sizeof(first));
	view_relative_time(th->updated, o->now, last, sizeof(last));
	buf_printf(b, "%sThread %llu: ", paint(o, "\033[1m"), (unsigned long long)th->id);
	put_safe(b, th->subject && *th->subject ? th->subject : "(no subject)");
	buf_printf(b, "%s\n", paint(o, "\033[0m"));
	put_field(b, "Customer", cust);
	buf_printf(b, "State: %s · %zu message%s · started %s · last %s\n",
	           view_thread_state_name(th->state), th->messages.n,
	           th->messages.n == 1 ? "" : "s", first, last);
	if (th->tags.n) {
		buf_puts(b, "Tags:");
		for (size_t i = 0; i < th->tags.n; i++) {
			buf_putc(b, ' ');
			put_safe(b, th->tags.v[i]);
		}
		buf_putc(b, '\n');
	}
	show_due(b, th, o);
	show_resolved(b, th, o);
	if (th->assignee && *th->assignee)
		put_field(b, "Assigned to", th->assignee);
	char *claim = view_claim_text_for(th, o->now, o->viewer);
	if (claim)
		buf_printf(b, "%s\n", claim);
	free(claim);
	show_bounced(b, th, o);
	view_history_human(b, hist, o);
	for (size_t i = 0; i < c->n; i++)
		show_entry(b, i + 1, &c->entries[i], o);
	free(cust);
}

/* The thread's open draft, or NULL when it has none (or the record is missing: logged). */
static int load_draft(struct store_txn *t, const struct store_thread *th, struct store_draft **d)
{
	*d = NULL;
	if (th->draft == 0)
		return 0;
	int rc = store_get_draft(t, th->draft, d);
	if (rc == STORE_NOTFOUND) {
		log_warnx("thread %llu names draft %llu, which is not in the store",
		          (unsigned long long)th->id, (unsigned long long)th->draft);
		return 0;
	}
	return rc;
}

/* A customer message's language, when none was stored: only drafts tell languages as mail
 * comes in (telling costs as much as the rules), and older stores have none. */
static void tell_languages(const struct conversation *c, const struct view_options *o)
{
	for (size_t i = 0; o->tell_lang && i < c->nmessages; i++) {
		struct store_message *m = c->messages[i];
		if (m->lang || m->ignore_reason ||
		    (m->flags & (STORE_MSG_OURS | STORE_MSG_UNVERIFIED | STORE_MSG_QUARANTINED)))
			continue;
		struct lang_guess g;
		rules_text_lang(o->rules, m->new_text, &g);
		m->lang = xstrdup(g.code);
		m->lang_note = g.note[0] ? xstrdup(g.note) : NULL;
	}
}

int view_show(struct store_txn *t, uint64_t id, const struct view_options *o, FILE *out)
{
	struct store_thread *th = NULL;
	struct store_draft *d = NULL;
	struct conversation c = {0};
	struct view_history hist = {0};
	struct buf b = BUF_INIT;
	uint64_t live;
	int rc = store_resolve_thread(t, id, &live);
	if (rc < 0)
		return rc;
	if ((rc = store_get_thread(t, live, &th)) < 0)
		return rc;
	if ((rc = load_draft(t, th, &d)) < 0 || (rc = conversation_load(t, th, &c)) < 0 ||
	    (rc = view_history_load(t, th, &hist)) < 0)
		goto out;
	tell_languages(&c, o);
	if (o->json) {
		show_json(&b, th, &c, d, &hist, o->now);
	} else {
		show_human(&b, th, &c, &hist, o);
		show_draft(&b, d, o);
	}
	if (!o->json && live != id)
		buf_printf(&b, "\n(Thread %llu was merged into thread %llu.)\n",
		           (unsigned long long)id, (unsigned long long)live);
	if (fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
out:
	view_history_free(&hist);
	conversation_finish(&c);
	buf_free(&b);
	store_draft_free(d);
	store_thread_free(th);
	return rc;
}
