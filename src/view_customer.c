/*
 * view_customer: a customer's conversations, for `tend customer` and the history in `tend show`.
 * Threads are found through the store's customers index (address -> thread ids, newest first),
 * so neither reads more than the customer's own conversations.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/json.h"
#include "tend/view.h"

/* Latest answered conversations in `tend show`'s history. */
#define HISTORY_LATEST 10
/* Conversations read at most for that history: a sender with thousands stays fast. */
#define HISTORY_SCAN 1000

struct collect {
	struct store_txn *t;
	uint64_t exclude;
	size_t max; /* 0: all */
	struct idvec seen;
	struct store_thread **v;
	size_t n, cap;
	size_t skipped;
};

static int collect_one(uint64_t thread, void *arg)
{
	struct collect *c = arg;
	uint64_t live;
	struct store_thread *th = NULL;
	if (c->max && c->n + c->skipped >= c->max) {
		c->skipped++;
		return 0;
	}
	int rc = store_resolve_thread(c->t, thread, &live);
	if (rc == STORE_NOTFOUND ||
	    (rc == 0 && (live == c->exclude || idvec_contains(&c->seen, live))))
		return 0;
	if (rc < 0 || (rc = store_get_thread(c->t, live, &th)) < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	idvec_push(&c->seen, live);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	c->v[c->n++] = th;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		store_thread_free(c->v[i]);
	free(c->v);
	idvec_free(&c->seen);
}

/* Open first, then by last activity, newest first. */
static int by_open_then_activity(const void *a, const void *b)
{
	const struct store_thread *x = *(struct store_thread *const *)a;
	const struct store_thread *y = *(struct store_thread *const *)b;
	bool ox = x->state == STORE_THREAD_OPEN, oy = y->state == STORE_THREAD_OPEN;
	if (ox != oy)
		return ox ? -1 : 1;
	if (x->updated != y->updated)
		return x->updated > y->updated ? -1 : 1;
	return x->id > y->id ? -1 : (x->id < y->id);
}

static int gather(struct store_txn *t, const char *addr, uint64_t exclude, size_t max,
                  struct collect *c)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->exclude = exclude;
	c->max = max;
	int rc = store_foreach_customer_thread(t, addr, collect_one, c);
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), by_open_then_activity);
	return rc < 0 ? rc : 0;
}

int view_history_load(struct store_txn *t, const struct store_thread *th, struct view_history *h)
{
	struct collect c;
	memset(h, 0, sizeof(*h));
	int rc = gather(t, th->customer.addr, th->id, HISTORY_SCAN, &c);
	size_t others = 0;
	h->v = xcalloc(c.n + 1, sizeof(*h->v));
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		const struct store_thread *x = c.v[i];
		if (x->state != STORE_THREAD_OPEN && others++ >= HISTORY_LATEST) {
			h->more++;
			continue;
		}
		h->v[h->n++] = (struct view_history_item){
		    x->id, x->state, xstrdup(x->subject ? x->subject : ""), x->updated};
	}
	h->more += c.skipped;
	collect_free(&c);
	return rc;
}

void view_history_free(struct view_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].subject);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static void put_history_item(struct buf *b, const struct view_history_item *it,
                             const struct view_options *o)
{
	char when[32];
	view_relative_time(it->updated, o->now, when, sizeof(when));
	buf_printf(b, "  %6llu  %-9s  ", (unsigned long long)it->id,
	           view_thread_state_name(it->state));
	view_put_cell(b, when, 16);
	buf_puts(b, "  ");
	term_put(b, *it->subject ? it->subject : "(no subject)", TEXT_LINE);
	buf_putc(b, '\n');
}

void view_history_human(struct buf *b, const struct view_history *h, const struct view_options *o)
{
	if (h->n == 0 && h->more == 0)
		return;
	buf_puts(b, "Other conversations of this customer:\n");
	for (size_t i = 0; i < h->n; i++)
		put_history_item(b, &h->v[i], o);
	if (h->more)
		buf_printf(b, "  (%zu more: tend customer lists them all)\n", h->more);
}

void view_history_json(struct json *j, const struct view_history *h)
{
	json_array_begin(j);
	for (size_t i = 0; i < h->n; i++) {
		json_object_begin(j);
		json_key(j, "id");
		json_int(j, (int64_t)h->v[i].id);
		json_key(j, "state");
		json_string(j, view_thread_state_name(h->v[i].state));
		json_key(j, "subject");
		json_string(j, h->v[i].subject);
		json_key(j, "date");
		json_time(j, h->v[i].updated);
		json_object_end(j);
	}
	json_array_end(j);
}

/* tend customer */

static bool ours(const struct store_message *m)
{
	return (m->flags & STORE_MSG_OURS) != 0;
}

static void json_exchange(struct json *j, const struct store_message *m)
{
	json_object_begin(j);
	json_key(j, "message_id");
	json_string(j, m->message_id);
	json_key(j, "date");
	json_time(j, m->date ? m->date : m->received);
	json_key(j, "from");
	view_json_addr(j, &m->from);
	json_key(j, "subject");
	json_string(j, m->subject);
	json_key(j, "ours");
	json_bool(j, ours(m));
	json_object_end(j);
}

static void human_exchange(struct buf *b, const struct store_message *m,
                           const struct view_options *o)
{
	char when[32];
	view_relative_time(m->date ? m->date : m->received, o->now, when, sizeof(when));
	buf_puts(b, "    ");
	view_put_cell(b, when, 16);
	buf_puts(b, ours(m) ? "  us        " : "  customer  ");
	term_put(b, *m->subject ? m->subject : "(no subject)", TEXT_LINE);
	buf_putc(b, '\n');
}

/* One conversation and the messages it holds, oldest first (the thread's order). */
static int customer_thread(struct store_txn *t, const struct store_thread *th, struct buf *b,
                           struct json *j, const struct view_options *o)
{
	if (j) {
		json_object_begin(j);
		json_key(j, "id");
		json_int(j, (int64_t)th->id);
		json_key(j, "state");
		json_string(j, view_thread_state_name(th->state));
		json_key(j, "subject");
		json_string(j, th->subject);
		json_key(j, "created");
		json_time(j, th->created);
		json_key(j, "updated");
		json_time(j, th->updated);
		json_key(j, "messages");
		json_array_begin(j);
	} else {
		struct view_history_item it = {th->id, th->state, th->subject ? th->subject : "",
		                               th->updated};
		put_history_item(b, &it, o);
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < th->messages.n; i++) {
		struct store_message *m = NULL;
		if ((rc = store_get_message(t, th->messages.v[i], &m)) == 0 &&
		    !(m->flags & STORE_MSG_UNVERIFIED)) {
			if (j)
				json_exchange(j, m);
			else
				human_exchange(b, m, o);
		}
		store_message_free(m);
		if (rc == STORE_NOTFOUND)
			rc = 0;
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
	return rc;
}

int view_customer(struct store_txn *t, const char *addr, const struct view_options *o, FILE *out)
{
	struct collect c;
	struct buf b = BUF_INIT;
	struct json j;
	int rc = gather(t, addr, 0, 0, &c);
	if (o->json) {
		json_init(&j, true);
		json_object_begin(&j);
		json_key(&j, "customer");
		json_string(&j, addr);
		json_key(&j, "conversations");
		json_array_begin(&j);
	} else if (c.n == 0) {
		buf_puts(&b, "No conversations with ");
		term_put(&b, addr, TEXT_LINE);
		buf_puts(&b, ".\n");
	} else {
		buf_printf(&b, "%zu conversation%s with ", c.n, c.n == 1 ? "" : "s");
		term_put(&b, addr, TEXT_LINE);
		buf_puts(&b, ", open ones first:\n");
	}
	for (size_t i = 0; rc == 0 && i < c.n; i++)
		rc = customer_thread(t, c.v[i], &b, o->json ? &j : NULL, o);
	if (o->json) {
		json_array_end(&j);
		json_object_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
		json_finish(&j);
	}
	if (rc == 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
	buf_free(&b);
	collect_free(&c);
	return rc;
}
