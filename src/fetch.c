/*
 * fetch: one IMAP folder into the store, by UID. See include/tend/fetch.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/fetch.h"
#include "tend/util.h"

/* A batch is one write transaction: bounded in messages and in bytes held in memory. */
#define BATCH_MESSAGES 250
#define BATCH_BYTES    (32u << 20)

struct body {
	uint32_t uid;
	char *data;
	size_t len;
	bool header_only;
};

struct batch {
	const struct imap_entry *entries; /* of this batch, ascending UIDs */
	size_t n;
	struct body *bodies; /* what the server returned, sorted by UID before ingesting */
	size_t nbodies;
};

static int keep_body(uint32_t uid, const char *data, size_t len, void *arg)
{
	struct batch *b = arg;
	if (b->nbodies == b->n)
		return 0; /* more answers than questions: ignore the extra ones */
	struct body *body = &b->bodies[b->nbodies++];
	body->uid = uid;
	body->data = xmalloc(len + 1);
	memcpy(body->data, data, len);
	body->data[len] = '\0';
	body->len = len;
	return 0;
}

static int cmp_body(const void *a, const void *b)
{
	const struct body *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->nbodies; i++)
		free(b->bodies[i].data);
	free(b->bodies);
	b->bodies = NULL;
	b->nbodies = 0;
}

/* Fetches the batch: whole messages, and only the header of those over the size limit. */
static int fetch_batch(const struct fetch_job *job, struct batch *b, char **err)
{
	uint32_t *small = xcalloc(b->n, sizeof(*small)), *big = xcalloc(b->n, sizeof(*big));
	size_t nsmall = 0, nbig = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->entries[i].size > (uint64_t)job->cfg->max_message_size)
			big[nbig++] = b->entries[i].uid;
		else
			small[nsmall++] = b->entries[i].uid;
	}
	b->bodies = xcalloc(b->n, sizeof(*b->bodies));
	int rc = imap_fetch(job->imap, small, nsmall, false, keep_body, b, err);
	size_t first_big = b->nbodies;
	if (rc == IMAP_OK)
		rc = imap_fetch(job->imap, big, nbig, true, keep_body, b, err);
	for (size_t i = first_big; i < b->nbodies; i++)
		b->bodies[i].header_only = true;
	free(small);
	free(big);
	qsort(b->bodies, b->nbodies, sizeof(*b->bodies), cmp_body);
	return rc;
}

static const struct imap_entry *entry_of(const struct batch *b, uint32_t uid)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->entries[i].uid == uid)
			return &b->entries[i];
	return NULL;
}

static void count(struct fetch_result *res, enum ingest_outcome o)
{
	if (o == INGEST_STORED)
		res->stored++;
	else if (o == INGEST_DUPLICATE)
		res->duplicates++;
	else
		res->quarantined++;
}

/* p: the body parsed and judged ahead (taken), or NULL: parsed and judged in the transaction. */
static int ingest_body(const struct fetch_job *job, const struct batch *b, const struct body *body,
                       struct ingest_parsed *p, struct fetch_result *res)
{
	const struct imap_entry *e = entry_of(b, body->uid);
	char *label = xasprintf("imap://%s/%s;UIDVALIDITY=%u/;UID=%u", job->account, job->folder,
	                        res->uidvalidity, body->uid);
	struct ingest_source src = {
	    .label = label,
	    .received = e ? e->internaldate : 0,
	    .ours = job->cfg->sent_folder && strcmp(job->folder, job->cfg->sent_folder) == 0
	                ? "it was fetched from the Sent folder"
	                : NULL,
	};
	enum ingest_outcome o = INGEST_STORED;
	int rc;
	if (body->header_only) {
		char *reason = xasprintf("message of %llu bytes is larger than max_message_size "
		                         "(%lld bytes): only its header was stored",
		                         (unsigned long long)(e ? e->size : 0),
		                         (long long)job->cfg->max_message_size);
		rc = ingest_add_quarantined(job->ingest, body->data, body->len, &src, reason, &o,
		                            NULL);
		free(reason);
	} else {
		rc = p ? ingest_add_parsed(job->ingest, p, body->data, body->len, &src, &o, NULL)
		       : ingest_add(job->ingest, body->data, body->len, &src, &o, NULL);
	}
	free(label);
	if (rc == 0)
		count(res, o);
	return rc;
}

/* ingest_body, telling job->ingested how long it took. */
static int ingest_timed(const struct fetch_job *job, const struct batch *b, const struct body *body,
                        struct ingest_parsed *p, struct fetch_result *res)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = ingest_body(job, b, body, p, res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0 && job->ingested)
		job->ingested((double)(t1.tv_sec - t0.tv_sec) +
		                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		              job->arg);
	return rc;
}

/* Stores the batch and the advanced cursor in one transaction. */
static int store_batch(const struct fetch_job *job, const struct batch *b, struct fetch_result *res,
                       char **err)
{
	struct fetch_result before = *res;
	/*
	 * Parsed and judged before the write transaction, which every account of the daemon
	 * waits for: a 50 MB message takes a second or more to parse, fact lookups may take
	 * seconds too.
	 */
	struct ingest_parsed **parsed = xcalloc(b->nbodies + 1, sizeof(*parsed));
	for (size_t i = 0; i < b->nbodies; i++) {
		const struct imap_entry *e = entry_of(b, b->bodies[i].uid);
		struct ingest_source src = {.received = e ? e->internaldate : 0};
		if (!b->bodies[i].header_only)
			parsed[i] =
			    ingest_parse(job->ingest, b->bodies[i].data, b->bodies[i].len, &src);
	}
	int rc = ingest_begin(job->ingest);
	for (size_t i = 0; i < b->nbodies && rc == 0; i++) {
		rc = ingest_timed(job, b, &b->bodies[i], parsed[i], res);
		parsed[i] = NULL;
	}
	for (size_t i = 0; i < b->nbodies; i++)
		ingest_parsed_free(parsed[i]);
	free(parsed);
	struct store_cursor cur = {res->uidvalidity, b->entries[b->n - 1].uid};
	if (rc == 0)
		rc = store_put_cursor(ingest_txn(job->ingest), job->account, job->folder, &cur);
	if (rc == 0)
		rc = ingest_commit(job->ingest);
	else
		ingest_abort(job->ingest);
	if (rc < 0) {
		*res = before;
		*err =
		    xasprintf("%s: storing messages failed: %s", job->folder, store_strerror(rc));
		return FETCH_ESTORE + rc;
	}
	res->last_uid = cur.last_uid;
	res->waiting -= b->n;
	return 0;
}

/* How many of the entries from i on go into one batch. */
static size_t batch_len(const struct imap_entry *v, size_t n, size_t i, int64_t max_size)
{
	uint64_t bytes = 0;
	size_t j = i;
	while (j < n && j - i < BATCH_MESSAGES) {
		uint64_t sz = v[j].size > (uint64_t)max_size ? 0 : v[j].size;
		if (j > i && bytes + sz > BATCH_BYTES)
			break;
		bytes += sz;
		j++;
	}
	return j - i;
}

static int run_batches(const struct fetch_job *job, const struct imap_entry *v, size_t n,
                       struct fetch_result *res, char **err)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (job->stopping && job->stopping(job->arg))
			break;
		struct batch b = {.entries = v + i,
		                  .n = batch_len(v, n, i, job->cfg->max_message_size)};
		rc = fetch_batch(job, &b, err);
		if (rc == IMAP_OK)
			rc = store_batch(job, &b, res, err);
		batch_free(&b);
		i += b.n;
		if (rc == 0 && job->progress)
			job->progress(res, job->arg);
	}
	return rc;
}

/* The stored cursor, or zeros. */
static int read_cursor(const struct fetch_job *job, struct store_cursor *cur, char **err)
{
	struct store_txn *t;
	memset(cur, 0, sizeof(*cur));
	int rc = store_begin(job->store, false, &t);
	if (rc == 0) {
		rc = store_get_cursor(t, job->account, job->folder, cur);
		store_abort(t);
	}
	if (rc < 0 && rc != STORE_NOTFOUND) {
		*err =
		    xasprintf("%s: reading the cursor failed: %s", job->folder, store_strerror(rc));
		return FETCH_ESTORE + rc;
	}
	return 0;
}

/* Remembers a new UIDVALIDITY even when the folder has nothing to fetch. */
static int reset_cursor(const struct fetch_job *job, uint32_t uidvalidity, char **err)
{
	struct store_txn *t;
	struct store_cursor cur = {uidvalidity, 0};
	int rc = store_begin(job->store, true, &t);
	if (rc == 0 && (rc = store_put_cursor(t, job->account, job->folder, &cur)) == 0)
		rc = store_commit(t);
	else if (rc == 0)
		store_abort(t);
	if (rc < 0) {
		*err =
		    xasprintf("%s: writing the cursor failed: %s", job->folder, store_strerror(rc));
		return FETCH_ESTORE + rc;
	}
	return 0;
}

int fetch_folder(const struct fetch_job *job, struct fetch_result *res, char **err)
{
	struct imap_folder f;
	struct store_cursor cur;
	memset(res, 0, sizeof(*res));
	int rc = imap_examine(job->imap, job->folder, &f, err);
	if (rc == IMAP_EFOLDER && job->cfg->sent_folder &&
	    strcmp(job->folder, job->cfg->sent_folder) == 0 &&
	    imap_folder_missing(job->imap, job->folder)) {
		free(*err); /* the first copy of a reply creates it: until then it is empty */
		*err = NULL;
		return 0;
	}
	if (rc == IMAP_OK)
		rc = read_cursor(job, &cur, err);
	if (rc != 0)
		return rc;
	res->uidvalidity = f.uidvalidity;
	res->uidnext = f.uidnext;
	res->exists = f.exists;
	res->last_uid = cur.last_uid;
	if (cur.uidvalidity != f.uidvalidity) {
		res->rescanned = cur.uidvalidity != 0;
		res->last_uid = 0;
		if ((rc = reset_cursor(job, f.uidvalidity, err)) != 0)
			return rc;
	}
	/* nothing beyond the cursor: skip the listing */
	if (f.exists != 0 && (f.uidnext == 0 || f.uidnext > res->last_uid + 1)) {
		struct imap_entry *v = NULL;
		size_t n = 0;
		rc = imap_list(job->imap, res->last_uid, &v, &n, err);
		res->waiting = n;
		if (rc == IMAP_OK)
			rc = run_batches(job, v, n, res, err);
		free(v);
	}
	res->exists_after = imap_exists(job->imap);
	res->changed = res->exists_after != f.exists;
	return rc;
}
