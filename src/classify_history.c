/*
 * classify_history: a conversation's customer messages, parsed, for the captures a new message
 * lacks ("the invoice for my order" after an order number given in the first message).
 */
#include "tend/classify.h"

#include <stdlib.h>
#include <string.h>

/* Which stored messages are the customer's own words. */
static bool customers(const struct store_message *rec)
{
	return !(rec->flags & (STORE_MSG_OURS | STORE_MSG_UNVERIFIED | STORE_MSG_QUARANTINED)) &&
	       !rec->ignore_reason;
}

/* The heads of th's customer messages, oldest first; *n how many. */
static int customer_heads(struct store_txn *t, const struct store_thread *th,
                          struct store_message ***out, size_t *n)
{
	struct store_message **recs = xcalloc(th->messages.n + 1, sizeof(*recs));
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < th->messages.n && rc == 0; i++) {
		struct store_message *rec = NULL;
		if ((rc = store_get_message_head(t, th->messages.v[i], &rec)) == 0 &&
		    customers(rec))
			recs[k++] = rec;
		else
			store_message_free(rec);
	}
	if (k)
		qsort(recs, k, sizeof(*recs), store_message_by_arrival);
	*out = recs;
	*n = k;
	return rc;
}

/* Parses rec and adds it in front: the list ends up newest first. */
static void add_parsed(struct store_txn *t, const struct store_message *rec,
                       struct classify_history *h)
{
	const char *raw;
	size_t len;
	struct message *m = NULL;
	char *reason = NULL;
	if (store_get_raw(t, rec->id, &raw, &len) < 0 ||
	    message_parse(raw, len, NULL, &m, &reason) < 0) {
		free(reason);
		return;
	}
	memmove(h->v + 1, h->v, h->n * sizeof(*h->v));
	h->v[0] = (struct rules_earlier){
	    .message = m, .id = rec->id, .when = rec->date ? rec->date : rec->received};
	h->n++;
}

int classify_history_load(struct store_txn *t, const struct store_thread *th, size_t max,
                          struct classify_history *h)
{
	struct store_message **recs = NULL;
	size_t n = 0;
	memset(h, 0, sizeof(*h));
	int rc = customer_heads(t, th, &recs, &n);
	h->v = xcalloc(n + 1, sizeof(*h->v));
	size_t from = n > max ? n - max : 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && i >= from)
			add_parsed(t, recs[i], h);
		store_message_free(recs[i]);
	}
	free(recs);
	return rc;
}

const struct rules_earlier *classify_history_before(const struct classify_history *h, uint64_t id,
                                                    size_t *n)
{
	*n = 0;
	if (id == 0) {
		*n = h->n;
		return h->v;
	}
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i].id == id) {
			*n = h->n - i - 1;
			return h->v + i + 1;
		}
	}
	return NULL;
}

void classify_history_free(struct classify_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		message_free((struct message *)h->v[i].message);
	free(h->v);
	memset(h, 0, sizeof(*h));
}
