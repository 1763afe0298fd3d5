/*
 * search: catching the index up with the store. The index keeps, in its meta table and in the
 * same transactions as the entries, how far it got:
 *   message     the last message id looked at (ids grow in commit order: LMDB has one writer)
 *   origin      a digest of message 1, so that an index of another store is not taken for this
 *   audit       the last audit sequence looked at, and
 *   audit_time  the time of the newest such entry (the trail is keyed by time, then sequence)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search_int.h"

/* Messages per catch-up transaction, and text bytes: each batch is one LMDB read txn. */
#define BATCH_ENTRIES 20000
#define BATCH_BYTES   (64u << 20)
/* Audit entries are found by time; a clock set back by up to this much is still covered. */
#define AUDIT_SLACK 3600
/*
 * Entry keys: the minute in the high bits, then this many bits of the id. Small steps from one
 * key to the next keep the index small (FTS5 stores the difference of consecutive keys in
 * every list of a word's places: seconds and 20 bits of id made it twice the size).
 */
#define KEY_ID_BITS  12
#define KEY_TIME_MAX ((1ll << (62 - KEY_ID_BITS)) - 1)
#define KEY_PROBES   64
/* Behind by more than this many messages: say that the catch-up takes a while. */
#define SAY_BEHIND 20000

/* meta */

static int meta_get(struct search *x, const char *name, int64_t *v, char **text)
{
	sqlite3_stmt *st = search_stmt(x, ST_META_GET);
	*v = 0;
	if (text)
		*text = NULL;
	if (st == NULL)
		return SEARCH_EINDEX;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		if (text && sqlite3_column_text(st, 0))
			*text = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : SEARCH_EINDEX;
}

static int meta_put(struct search *x, const char *name, int64_t v, const char *text)
{
	sqlite3_stmt *st = search_stmt(x, ST_META_PUT);
	if (st == NULL)
		return SEARCH_EINDEX;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, v);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : SEARCH_EINDEX;
}

/* Adding entries */

/* The first key tried for an entry: newer entries get larger keys. */
static int64_t entry_key(int64_t time, uint64_t id)
{
	int64_t t = time < 0 ? 0 : time / 60 > KEY_TIME_MAX ? KEY_TIME_MAX : time / 60;
	return (t << KEY_ID_BITS) | (int64_t)(id & ((1u << KEY_ID_BITS) - 1));
}

static int put_words(struct search *x, int64_t key, const struct search_entry *e)
{
	sqlite3_stmt *st = search_stmt(x, ST_WORDS_PUT);
	if (st == NULL)
		return SEARCH_EINDEX;
	sqlite3_bind_int64(st, 1, key);
	sqlite3_bind_text(st, 2, e->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->people, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->body, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : SEARCH_EINDEX;
}

/* Files the entry under key: 0, 1 when it is indexed already, 2 when the key is taken. */
static int try_entry(sqlite3_stmt *st, const struct search_entry *e, int64_t key)
{
	sqlite3_bind_int64(st, 1, key);
	sqlite3_bind_int64(st, 2, (int64_t)e->thread);
	sqlite3_bind_int(st, 3, (int)e->kind);
	sqlite3_bind_int64(st, 4, search_ref(e->kind, e->id));
	sqlite3_bind_int64(st, 5, e->time);
	sqlite3_step(st);
	int rc = sqlite3_reset(st);
	if (rc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return 1;
	return rc == SQLITE_CONSTRAINT_PRIMARYKEY ? 2 : SEARCH_EINDEX;
}

/* The key after the largest: for an entry whose minute is crowded beyond KEY_PROBES. */
static int64_t key_after_all(struct search *x)
{
	sqlite3_stmt *st = NULL;
	int64_t key = 0;
	if (sqlite3_prepare_v2(x->db, "SELECT max(id) FROM entry", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		key = sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return key;
}

/* Files the entry under a free key, near its time; 1 when it is indexed already. */
static int put_entry(struct search *x, const struct search_entry *e, int64_t *key)
{
	sqlite3_stmt *st = search_stmt(x, ST_ENTRY_PUT);
	int rc = 2;
	if (st == NULL)
		return SEARCH_EINDEX;
	*key = entry_key(e->time, e->id);
	for (int i = 0; i < KEY_PROBES && rc == 2; i++)
		if ((rc = try_entry(st, e, *key)) == 2)
			(*key)++;
	/* Thousands in one minute (a migration whose mail has no dates): out of time order. */
	if (rc == 2 && (*key = key_after_all(x)) > 0)
		rc = try_entry(st, e, *key);
	return rc == 2 ? SEARCH_EINDEX : rc;
}

int search_add(struct search *x, const struct search_entry *e)
{
	int64_t key;
	int rc = put_entry(x, e, &key);
	if (rc == 1)
		return 0;
	if (rc == 0 && (rc = put_words(x, key, e)) == 0)
		x->added++;
	return rc;
}

/* Transactions: one SQLite write transaction beside one LMDB read transaction */

struct batch {
	struct search *x;
	struct store_txn *t;
	char **err;
};

static int batch_begin(struct batch *b, const char *what)
{
	int rc = search_exec(b->x, "BEGIN IMMEDIATE", what, b->err);
	if (rc == 0 && (rc = store_begin(b->x->store, false, &b->t)) < 0) {
		sqlite3_exec(b->x->db, "ROLLBACK", NULL, NULL, NULL);
		*b->err = xasprintf("search index: reading the store: %s", store_strerror(rc));
	}
	return rc;
}

static int batch_end(struct batch *b, int rc, const char *what)
{
	store_abort(b->t);
	b->t = NULL;
	if (rc == 0)
		return search_exec(b->x, "COMMIT", what, b->err);
	if (rc == SEARCH_EINDEX && *b->err == NULL)
		search_fail(b->x, what, b->err);
	else if (rc < 0 && *b->err == NULL)
		*b->err = xasprintf("search index: reading the store: %s", store_strerror(rc));
	sqlite3_exec(b->x->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Messages */

/* Which store message 1 is: an index that began with another message is another store's. */
static int store_origin(struct store_txn *t, char out[65])
{
	const char *raw;
	size_t len;
	out[0] = '\0';
	int rc = store_get_raw(t, 1, &raw, &len);
	if (rc == 0) {
		char *head = xasprintf("%zu:%.*s", len, (int)(len < 4096 ? len : 4096), raw);
		sha256_hex(head, strlen(head), out);
		free(head);
	}
	return rc == STORE_NOTFOUND ? 0 : rc;
}

/*
 * Entries of one batch, added in key order: FTS5 writes its in-memory index out whenever a
 * key is lower than the one before, so an archive imported out of date order would otherwise
 * make a segment of nearly every message (twice the size, and slower to write and to read).
 */
struct pending {
	struct search_entry *v;
	size_t n;
	uint64_t bytes; /* of text */
};

static void pending_push(struct pending *p, struct search_entry *e)
{
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = *e;
	p->bytes += (e->body ? strlen(e->body) : 0) + (e->people ? strlen(e->people) : 0);
}

static int by_key(const void *a, const void *b)
{
	const struct search_entry *x = a, *y = b;
	int64_t kx = entry_key(x->time, x->id), ky = entry_key(y->time, y->id);
	return kx < ky ? -1 : kx > ky;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		search_entry_clear(&p->v[i]);
	free(p->v);
	*p = (struct pending){NULL, 0, 0};
}

/* Adds the entries in key order, and empties p. */
static int pending_add(struct search *x, struct pending *p)
{
	int rc = 0;
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), by_key);
	for (size_t i = 0; i < p->n && rc == 0; i++)
		rc = search_add(x, &p->v[i]);
	pending_free(p);
	return rc;
}

struct msg_walk {
	struct pending p;
	uint64_t last; /* the last message looked at */
	uint64_t seen; /* messages looked at */
};

static int visit_message(const struct store_message *m, void *arg)
{
	struct msg_walk *w = arg;
	if (w->seen >= BATCH_ENTRIES || w->p.bytes >= BATCH_BYTES)
		return 1;
	w->last = m->id;
	w->seen++;
	/* A copy of a reply tend sent is indexed as that reply; quarantined mail has no thread. */
	if ((m->flags & (STORE_MSG_QUARANTINED | STORE_MSG_COPY)) || m->thread == 0)
		return 0;
	struct search_entry e;
	search_message_entry(m, &e);
	pending_push(&w->p, &e);
	return 0;
}

/* Is the index of this store, and not ahead of it? When not, it must be emptied. */
static int check_origin(struct batch *b, uint64_t mark, uint64_t last, bool *other)
{
	char want[65], *have = NULL;
	int64_t v;
	*other = mark > last;
	int rc = store_origin(b->t, want);
	if (rc == 0)
		rc = meta_get(b->x, "origin", &v, &have);
	if (rc == 0 && mark > 0 && have && strcmp(have, want) != 0)
		*other = true;
	if (rc == 0 && !*other && (have == NULL || strcmp(have, want) != 0))
		rc = meta_put(b->x, "origin", 0, want);
	free(have);
	return rc;
}

/* One batch of messages after the mark; *more: the store holds more; *other: see above. */
static int messages_batch(struct batch *b, bool *more, bool *other)
{
	struct msg_walk w = {.last = 0};
	int64_t mark = 0;
	uint64_t last = 0;
	*more = *other = false;
	int rc = batch_begin(b, "adding messages");
	if (rc < 0)
		return rc;
	if ((rc = meta_get(b->x, "message", &mark, NULL)) == 0)
		rc = store_get_counter(b->t, STORE_COUNTER_MESSAGE, &last);
	if (rc == 0)
		rc = check_origin(b, (uint64_t)mark, last, other);
	if (rc == 0 && !*other && last > (uint64_t)mark) {
		w.last = (uint64_t)mark;
		rc = store_foreach_message_from(b->t, (uint64_t)mark + 1, visit_message, &w);
		store_abort(b->t); /* the entries are copies: LMDB need not keep its pages */
		b->t = NULL;
		rc = rc < 0 ? rc : pending_add(b->x, &w.p);
		if (rc == 0)
			rc = meta_put(b->x, "message", (int64_t)w.last, NULL);
		*more = w.last < last;
	}
	pending_free(&w.p); /* what a failure left */
	return batch_end(b, rc, "adding messages");
}

/* Sent replies and notes, through the audit trail */

struct audit_walk {
	struct pending p;
	struct store_txn *t;
	uint64_t after, upto; /* the sequence numbers wanted: (after, upto] */
	uint64_t found;
	int64_t newest;
	int rc;
};

static int add_sent(struct audit_walk *w, uint64_t draft)
{
	struct store_draft *d = NULL;
	int rc = store_get_draft(w->t, draft, &d);
	if (rc == 0 && d->state == STORE_DRAFT_SENT && d->kind != STORE_KIND_NOTICE) {
		struct search_entry e;
		search_draft_entry(d, &e);
		pending_push(&w->p, &e);
	}
	store_draft_free(d);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

/*
 * A note's audit entry names its thread, not the note: every note the thread lists is added
 * (those indexed already are skipped). The thread may have been merged since.
 */
static int add_notes(struct audit_walk *w, uint64_t thread)
{
	struct store_thread *th = NULL;
	uint64_t live;
	int rc = store_resolve_thread(w->t, thread, &live);
	if (rc == 0)
		rc = store_get_thread(w->t, live, &th);
	for (size_t i = 0; rc == 0 && th && i < th->notes.n; i++) {
		struct store_note *n = NULL;
		if ((rc = store_get_note(w->t, th->notes.v[i], &n)) == 0) {
			struct search_entry e;
			search_note_entry(n, &e);
			pending_push(&w->p, &e);
		}
		store_note_free(n);
		rc = rc == STORE_NOTFOUND ? 0 : rc;
	}
	store_thread_free(th);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

static int visit_audit(const struct store_audit *a, void *arg)
{
	struct audit_walk *w = arg;
	if (a->seq <= w->after || a->seq > w->upto)
		return 0;
	w->found++;
	if (a->time > w->newest)
		w->newest = a->time;
	if (a->action && (strcmp(a->action, "sent") == 0 || strcmp(a->action, "mark-sent") == 0))
		w->rc = add_sent(w, a->draft);
	else if (a->action && strcmp(a->action, "note") == 0)
		w->rc = add_notes(w, a->thread);
	return w->rc < 0 ? 1 : 0;
}

/* Walks the trail from since on; from the start when that misses some of what is wanted. */
static int walk_audit(struct audit_walk *w, int64_t since)
{
	int rc = store_foreach_audit_since(w->t, since, visit_audit, w);
	if (rc >= 0 && w->rc == 0 && w->found < w->upto - w->after && since != INT64_MIN) {
		w->found = 0; /* a clock set back further than AUDIT_SLACK */
		rc = store_foreach_audit_since(w->t, INT64_MIN, visit_audit, w);
	}
	return w->rc < 0 ? w->rc : rc < 0 ? rc : 0;
}

static int audit_pass(struct batch *b)
{
	int64_t seq = 0, when = 0;
	uint64_t last = 0;
	int rc = batch_begin(b, "adding replies");
	if (rc < 0)
		return rc;
	if ((rc = meta_get(b->x, "audit", &seq, NULL)) == 0 &&
	    (rc = meta_get(b->x, "audit_time", &when, NULL)) == 0)
		rc = store_get_counter(b->t, STORE_COUNTER_AUDIT, &last);
	if (rc == 0 && last != (uint64_t)seq) {
		struct audit_walk w = {.t = b->t, .upto = last, .newest = when};
		if (last > (uint64_t)seq) /* else: the trail was reset; look at all of it */
			w.after = (uint64_t)seq;
		rc = walk_audit(&w, w.after ? when - AUDIT_SLACK : INT64_MIN);
		rc = rc < 0 ? rc : pending_add(b->x, &w.p);
		if (rc == 0 && (rc = meta_put(b->x, "audit", (int64_t)last, NULL)) == 0)
			rc = meta_put(b->x, "audit_time", w.newest, NULL);
		pending_free(&w.p);
	}
	return batch_end(b, rc, "adding replies");
}

/* Catching up */

/* How far behind the index is: cheap, without a write transaction. */
static int behind(struct search *x, uint64_t *messages, uint64_t *audit, char **err)
{
	int64_t mark = 0, seq = 0;
	uint64_t last_msg = 0, last_audit = 0;
	struct store_txn *t = NULL;
	int rc = meta_get(x, "message", &mark, NULL);
	if (rc == 0)
		rc = meta_get(x, "audit", &seq, NULL);
	if (rc < 0)
		return search_fail(x, "reading how far it got", err);
	if ((rc = store_begin(x->store, false, &t)) == 0 &&
	    (rc = store_get_counter(t, STORE_COUNTER_MESSAGE, &last_msg)) == 0)
		rc = store_get_counter(t, STORE_COUNTER_AUDIT, &last_audit);
	store_abort(t);
	if (rc < 0) {
		*err = xasprintf("search index: reading the store: %s", store_strerror(rc));
		return rc;
	}
	*messages = last_msg == (uint64_t)mark  ? 0
	            : last_msg > (uint64_t)mark ? last_msg - mark
	                                        : 1;
	*audit = last_audit != (uint64_t)seq;
	return 0;
}

static int catch_up(struct search *x, char **err)
{
	struct batch b = {.x = x, .err = err};
	uint64_t messages = 0, audit = 0;
	bool more = true, other = false;
	int rc = behind(x, &messages, &audit, err);
	if (rc == 0 && messages > SAY_BEHIND)
		log_info("search index: adding %llu messages", (unsigned long long)messages);
	while (rc == 0 && messages && more && !other)
		rc = messages_batch(&b, &more, &other);
	if (rc == 0 && other) {
		log_info("search index %s: made for another store; building it again", x->path);
		if ((rc = search_reset(x, err)) == 0)
			return catch_up(x, err);
	}
	if (rc == 0 && (audit || messages))
		rc = audit_pass(&b);
	return rc;
}

int search_update(struct search *x, uint64_t *added, char **err)
{
	*err = NULL;
	x->added = 0;
	int rc = catch_up(x, err);
	if (rc == SEARCH_EINDEX && search_damaged(x)) {
		log_warnx("%s; building it again", *err);
		free(*err);
		*err = NULL;
		if ((rc = search_reset(x, err)) == 0)
			rc = catch_up(x, err);
	}
	if (added)
		*added = x->added;
	return rc;
}

int search_reindex(struct search *x, uint64_t *added, char **err)
{
	*err = NULL;
	int rc = search_reset(x, err);
	return rc < 0 ? rc : search_update(x, added, err);
}

int search_catch_up(struct store *s, uint64_t *added, char **err)
{
	struct search *x = NULL;
	int rc = search_open(s, true, &x, err);
	if (rc == 0)
		rc = search_update(x, added, err);
	search_close(x);
	return rc;
}

/* `tend search` */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Builds the index again; says what it did on out (stdout alone, else stderr). */
static int reindex_told(struct search *x, bool alone, FILE *out, char **err)
{
	struct timespec t0;
	uint64_t added = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = search_reindex(x, &added, err);
	if (rc == 0) /* the size as it stays, the write-ahead log emptied into the file */
		rc = search_exec(x, "PRAGMA wal_checkpoint(TRUNCATE)", "writing it out", err);
	if (rc == 0)
		fprintf(alone ? out : stderr,
		        "Indexed %llu entries from the store in %.2f s; the index takes %.1f MB.\n",
		        (unsigned long long)added, seconds_since(&t0),
		        (double)search_size(x) / 1e6);
	return rc;
}

int search_command(struct store *s, const struct search_request *r, const struct view_options *o,
                   FILE *out, char **err)
{
	struct search *x = NULL;
	int rc = search_open(s, true, &x, err);
	if (rc == 0 && r->reindex)
		rc = reindex_told(x, r->query == NULL, out, err);
	else if (rc == 0 && search_update(x, NULL, err) < 0) {
		/* The index holds what it held: search that, and say it may lag. */
		log_warnx("%s; searching what the index holds, which may miss the newest mail",
		          *err);
		free(*err);
		*err = NULL;
	}
	if (rc == 0 && r->query)
		rc = search_query(x, r->query, r->limit, o, out, err);
	if (rc == SEARCH_EINDEX && x && search_damaged(x)) {
		log_warnx("%s; building it again", *err);
		free(*err);
		*err = NULL;
		if ((rc = search_reindex(x, NULL, err)) == 0 && r->query)
			rc = search_query(x, r->query, r->limit, o, out, err);
	}
	search_close(x);
	return rc;
}
