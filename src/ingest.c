/*
 * ingest: parse -> thread -> store, shared by tendd and `tend import`.
 *
 * The caller owns the transaction boundaries (ingest_begin / ingest_commit) so that an IMAP
 * batch and its folder cursor, or a thousand imported messages, commit together. Statistics
 * count only committed work: a crash or an abort never reports mail that was not kept.
 */
#include "tend/ingest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/authres.h"
#include "tend/classify.h"
#include "tend/message.h"
#include "tend/thread.h"

struct ingest {
	struct store *store;
	const struct config *config;
	struct store_txn *txn;
	struct message_limits limits;
	struct thread_options topt;
	struct strvec own;
	struct ingest_stats stats;   /* committed */
	struct ingest_stats pending; /* in the open transaction */
	struct idvec touched;        /* live threads touched by committed work */
	struct idvec touched_pending;
	struct idvec redraft;    /* threads whose draft is brought up to date at commit */
	struct rules *own_rules; /* the built-in rules, when the caller gave none */
	struct classify *classify;
};

struct ingest *ingest_new(struct store *s, const struct config *c, const struct rules *rules,
                          const char *actor)
{
	struct ingest *in = xcalloc(1, sizeof(*in));
	in->store = s;
	in->config = c;
	in->limits.max_size = (size_t)c->limits.message_size;
	in->limits.max_headers = (size_t)c->limits.header_count;
	in->limits.max_depth = (size_t)c->limits.mime_depth;
	in->limits.max_parts = (size_t)c->limits.mime_parts;
	in->limits.max_addresses = (size_t)c->limits.addresses;
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].address)
			strvec_push(&in->own, c->accounts[i].address);
	in->topt.subject_fallback = c->threading.subject_fallback;
	in->topt.subject_window = c->threading.subject_window;
	in->topt.token = c->threading.token;
	in->topt.own = &in->own;
	in->topt.form_senders = &c->form_senders;
	in->own_rules = rules_builtin();
	in->classify = classify_new(c, rules ? rules : in->own_rules, actor);
	return in;
}

void ingest_set_rules(struct ingest *in, const struct rules *rules)
{
	classify_set_rules(in->classify, rules ? rules : in->own_rules);
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	ingest_abort(in);
	strvec_free(&in->own);
	idvec_free(&in->touched);
	idvec_free(&in->touched_pending);
	idvec_free(&in->redraft);
	classify_free(in->classify);
	rules_free(in->own_rules);
	free(in);
}

int ingest_begin(struct ingest *in)
{
	if (in->txn)
		return 0;
	memset(&in->pending, 0, sizeof(in->pending));
	idvec_clear(&in->touched_pending);
	idvec_clear(&in->redraft);
	return store_begin(in->store, true, &in->txn);
}

struct store_txn *ingest_txn(struct ingest *in)
{
	return in->txn;
}

/* Folds the transaction's work into the totals, counting threads that survived merges. */
static int fold_pending(struct ingest *in)
{
	for (size_t i = 0; i < in->touched_pending.n; i++) {
		uint64_t live;
		int rc = store_resolve_thread(in->txn, in->touched_pending.v[i], &live);
		if (rc < 0)
			return rc;
		if (!idvec_contains(&in->touched, live))
			idvec_push(&in->touched, live);
	}
	return 0;
}

/* Each conversation that got customer mail in this transaction is drafted once. */
static int draft_touched(struct ingest *in)
{
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < in->redraft.n; i++) {
		int rc = classify_draft(in->classify, in->txn, in->redraft.v[i], now);
		if (rc < 0)
			return rc;
	}
	idvec_clear(&in->redraft);
	return 0;
}

int ingest_commit(struct ingest *in)
{
	if (!in->txn)
		return 0;
	int rc = draft_touched(in);
	classify_forget(in->classify);
	if (rc == 0)
		rc = fold_pending(in);
	if (rc < 0) {
		ingest_abort(in);
		return rc;
	}
	rc = store_commit(in->txn);
	in->txn = NULL;
	if (rc < 0)
		return rc;
	in->stats.stored += in->pending.stored;
	in->stats.duplicates += in->pending.duplicates;
	in->stats.quarantined += in->pending.quarantined;
	in->stats.threads_created += in->pending.threads_created;
	in->stats.bytes += in->pending.bytes;
	in->stats.threads_touched = in->touched.n;
	memset(&in->pending, 0, sizeof(in->pending));
	return 0;
}

void ingest_abort(struct ingest *in)
{
	classify_forget(in->classify);
	store_abort(in->txn);
	in->txn = NULL;
	memset(&in->pending, 0, sizeof(in->pending));
	idvec_clear(&in->touched_pending);
	idvec_clear(&in->redraft);
}

bool ingest_has_lookups(const struct ingest *in)
{
	return rules_has_lookups(classify_rules(in->classify));
}

const struct ingest_stats *ingest_stats(const struct ingest *in)
{
	return &in->stats;
}

static int64_t arrival_time(const struct ingest_source *src, int64_t date)
{
	if (src->received)
		return src->received;
	if (date)
		return date;
	if (src->file_time)
		return src->file_time;
	return (int64_t)time(NULL);
}

/* Is there already a stored message with this Message-ID? */
static int find_duplicate(struct store_txn *t, const char *msgid, uint64_t *existing)
{
	struct store_msgid e;
	int rc = store_get_msgid(t, msgid, &e);
	if (rc == STORE_NOTFOUND || (rc == 0 && e.message == 0))
		return 0;
	if (rc < 0)
		return rc;
	*existing = e.message;
	return 1;
}

/* Stores the raw bytes (staged in blob, or NULL) and a record holding the reason, outside any
 * thread. */
static int quarantine(struct ingest *in, const char *raw, size_t len, const struct store_blob *blob,
                      const struct ingest_source *src, char *reason, enum ingest_outcome *outcome,
                      uint64_t *id)
{
	struct store_txn *t = in->txn;
	char *synthetic = message_synthetic_id(raw, len);
	struct store_message rec = {0};
	int rc = find_duplicate(t, synthetic, id);
	if (rc != 0) {
		*outcome = INGEST_DUPLICATE;
		in->pending.duplicates += rc > 0;
		goto out;
	}
	if ((rc = store_next_id(t, STORE_COUNTER_MESSAGE, id)) < 0)
		goto out;
	rec.id = *id;
	rec.flags = STORE_MSG_QUARANTINED;
	rec.message_id = synthetic;
	rec.message_id_synthetic = true;
	rec.subject = "";
	rec.from.addr = "";
	rec.text = rec.new_text = "";
	rec.received = arrival_time(src, 0);
	rec.source = (char *)(src->label ? src->label : "");
	rec.quarantine_reason = reason;
	rec.raw_size = len;
	struct store_msgid e = {.message = *id, .thread = 0};
	if ((rc = store_put_raw_staged(t, *id, raw, len, blob)) < 0 ||
	    (rc = store_put_message(t, &rec)) < 0 || (rc = store_put_quarantine(t, *id)) < 0 ||
	    (rc = store_put_msgid(t, synthetic, &e)) < 0)
		goto out;
	*outcome = INGEST_QUARANTINED;
	in->pending.quarantined++;
	in->pending.bytes += len;
out:
	free(synthetic);
	free(reason);
	return rc < 0 ? rc : 0;
}

/* The stored record of a parsed message: borrows m's strings, owns nothing. */
static void record_from_message(struct store_message *rec, const struct message *m, uint64_t id,
                                const struct ingest_source *src, int64_t arrival, size_t len)
{
	memset(rec, 0, sizeof(*rec));
	rec->id = id;
	rec->message_id = m->message_id;
	rec->message_id_synthetic = m->message_id_synthetic;
	rec->references = m->references;
	rec->in_reply_to = m->in_reply_to;
	rec->subject = m->subject;
	rec->from = m->from;
	rec->to = m->to;
	rec->cc = m->cc;
	rec->reply_to = m->reply_to;
	rec->date = m->date;
	rec->date_offset = m->date_offset;
	rec->received = arrival;
	rec->text = m->text;
	rec->new_text = m->new_text;
	rec->text_from_html = m->text_from_html;
	rec->attachments = m->attachments;
	rec->nattachments = m->nattachments;
	rec->source = (char *)(src->label ? src->label : "");
	rec->warnings = m->warnings;
	rec->raw_size = len;
}

/* The next line of s without its end-of-line white space; false at the end. */
static bool next_line(const char **s, const char **line, size_t *n)
{
	if (**s == '\0')
		return false;
	const char *p = *s, *e = p + strcspn(p, "\n");
	*line = p;
	*s = *e ? e + 1 : e;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*n = (size_t)(e - p);
	return true;
}

/* The same text, but for line endings and trailing white space. */
static bool same_text(const char *a, const char *b)
{
	const char *la, *lb;
	size_t na, nb;
	for (;;) {
		bool ha = next_line(&a, &la, &na), hb = next_line(&b, &lb, &nb);
		while (ha && na == 0 && *a == '\0') /* trailing blank lines */
			ha = false;
		while (hb && nb == 0 && *b == '\0')
			hb = false;
		if (!ha || !hb)
			return ha == hb;
		if (na != nb || memcmp(la, lb, na) != 0)
			return false;
	}
}

/* How far mail from one of our addresses is believed. */
struct sender {
	int kind;       /* enum thread_sender */
	uint32_t flags; /* STORE_MSG_OURS, _COPY, _UNVERIFIED */
	char *note;     /* what vouches, or why nothing does */
};

/* A copy of a reply tend sent: its Message-ID and its text. 1: yes; 0: no; <0: store error. */
static int sent_copy(struct store_txn *t, const struct message *m, char **note)
{
	struct store_msgid e;
	struct store_draft *d = NULL;
	int rc = store_get_msgid(t, m->message_id, &e);
	if (rc == STORE_NOTFOUND || (rc == 0 && e.draft == 0))
		return 0;
	if (rc < 0 || (rc = store_get_draft(t, e.draft, &d)) < 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	unsigned long long id = (unsigned long long)d->id;
	if (d->state == STORE_DRAFT_SENT && same_text(m->text, d->body ? d->body : "")) {
		*note = xasprintf("a copy of the reply tend sent (draft %llu)", id);
		rc = 1;
	} else {
		*note =
		    xasprintf("it carries the Message-ID of the reply tend sent in draft %llu, but "
		              "not its text",
		              id);
	}
	store_draft_free(d);
	return rc;
}

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

/*
 * Mail from one of our addresses counts as ours only when tend sent it, when its source says
 * so (the Sent folder), or when a trusted server's Authentication-Results vouch for it: From
 * is not authenticated, and anyone can write our address there.
 */
static int judge_sender(struct ingest *in, const struct message *m, const struct ingest_source *src,
                        struct sender *s)
{
	memset(s, 0, sizeof(*s));
	if (!config_is_own_address(in->config, m->from.addr))
		return 0;
	char *copy = NULL, *why = NULL;
	int rc = sent_copy(in->txn, m, &copy);
	if (rc < 0)
		return rc;
	s->kind = THREAD_SENDER_OURS;
	s->flags = STORE_MSG_OURS;
	if (rc > 0) {
		s->flags |= STORE_MSG_COPY;
		s->note = copy;
		return 0;
	}
	if (src->ours) {
		s->note = xstrdup(src->ours);
	} else if (authres_vouches(m, &in->config->authserv_ids, domain_of(m->from.addr), &why)) {
		s->note = why;
	} else {
		s->kind = THREAD_SENDER_UNVERIFIED;
		s->flags = STORE_MSG_UNVERIFIED;
		s->note = xasprintf("claims to come from %s, but nothing vouches for it: %s",
		                    m->from.addr,
		                    copy  ? copy
		                    : why ? why
		                          : "tend did not send it, it did not come from the Sent "
		                            "folder, and tend.yaml trusts no server's "
		                            "Authentication-Results (authserv_id)");
		free(why);
	}
	free(copy);
	return 0;
}

/* Classifies the new message and notes the conversations whose drafts must follow. */
static int classify_stored(struct ingest *in, struct store_message *rec, const struct message *m,
                           struct classify_verdict *v, const struct thread_result *res)
{
	bool redraft = false;
	int rc = 0;
	for (size_t i = 0; i < res->merged.n && rc == 0; i++)
		rc = classify_merged(in->classify, in->txn, res->merged.v[i]);
	if (rc == 0)
		rc = classify_message(in->classify, in->txn, rec, m, res->created, v, &redraft);
	if (rc == 0 && redraft && !idvec_contains(&in->redraft, res->thread))
		idvec_push(&in->redraft, res->thread);
	return rc;
}

struct ingest_parsed {
	struct message *m; /* NULL: it did not parse, for reason */
	char *reason;
	struct classify_verdict verdict;
	struct store_blob blob; /* raw, written to blobs/ before the write transaction */
};

static int store_parsed(struct ingest *in, const char *raw, size_t len, struct ingest_parsed *p,
                        const struct ingest_source *src, uint64_t *id)
{
	const struct message *m = p->m;
	struct store_txn *t = in->txn;
	struct thread_result res = {0};
	struct store_message rec;
	struct sender who;
	struct thread_options topt = in->topt;
	int64_t arrival = arrival_time(src, m->date);
	int rc = store_next_id(t, STORE_COUNTER_MESSAGE, id);
	if (rc < 0 || (rc = judge_sender(in, m, src, &who)) < 0)
		return rc;
	topt.sender = who.kind;
	if ((rc = thread_assign(t, m, *id, arrival, &topt, &res)) < 0)
		goto out;
	record_from_message(&rec, m, *id, src, arrival, len);
	rec.thread = res.thread;
	rec.join_reason = res.reason;
	rec.join_detail = res.detail;
	rec.flags = who.flags | (res.reply_to_held ? STORE_MSG_REPLY_TO_HELD : 0) |
	            (res.form ? STORE_MSG_FORM : 0);
	rec.sender_note = who.note;
	rc = classify_stored(in, &rec, m, &p->verdict, &res);
	if (rc == 0)
		rc = classify_bounce(in->classify, t, &rec, raw, len);
	if (rc == 0)
		rc = store_put_message(t, &rec);
	strvec_free(&rec.tags);
	strvec_free(&rec.rules);
	strvec_free(&rec.fact_names);
	strvec_free(&rec.fact_values);
	strvec_free(&rec.fact_failures);
	free(rec.ignore_reason);
	free(rec.lang);
	free(rec.lang_note);
	if (rc < 0 || (rc = store_put_raw_staged(t, *id, raw, len, &p->blob)) < 0)
		goto out;
	idvec_push(&in->touched_pending, res.thread);
	in->pending.stored++;
	in->pending.threads_created += res.created;
	in->pending.bytes += len;
out:
	free(who.note);
	thread_result_finish(&res);
	return rc;
}

/*
 * Whether the message is stored already, seen by a read transaction of its own: a duplicate
 * needs no verdict, and with lookups in the rules a verdict starts programs (a folder scanned
 * again after a UIDVALIDITY change would run them for every message).
 */
static bool stored_already(const struct ingest *in, const struct message *m)
{
	struct store_txn *t = NULL;
	uint64_t id;
	if (!rules_has_lookups(classify_rules(in->classify)) || m->message_id == NULL ||
	    store_begin(in->store, false, &t) < 0)
		return false;
	bool yes = find_duplicate(t, m->message_id, &id) > 0;
	store_abort(t);
	return yes;
}

/* judge: take the verdict now (worth it when another thread stores meanwhile, and the only
 * time fact lookups run; else it waits until the message is known not to be a duplicate). */
static struct ingest_parsed *parse(const struct ingest *in, const char *raw, size_t len,
                                   const struct ingest_source *src, bool judge)
{
	struct ingest_parsed *p = xcalloc(1, sizeof(*p));
	bool parsed = message_parse(raw, len, &in->limits, &p->m, &p->reason) == 0;
	if (!judge || (parsed && stored_already(in, p->m)))
		return p;
	/* Written and synced now, not in the write transaction every account waits for; a
	 * failure is logged, and the transaction tries again. */
	store_blob_stage(in->store, raw, len, &p->blob);
	if (!parsed)
		return p;
	/* The guess `tend rules test` makes too: a message that refers to none starts one. */
	bool first = p->m->references.n == 0 && p->m->in_reply_to.n == 0;
	classify_judge(in->classify, p->m, first, arrival_time(src, p->m->date), &p->verdict);
	return p;
}

struct ingest_parsed *ingest_parse(const struct ingest *in, const char *raw, size_t len,
                                   const struct ingest_source *src)
{
	return parse(in, raw, len, src, true);
}

void ingest_parsed_free(struct ingest_parsed *p)
{
	if (!p)
		return;
	message_free(p->m);
	free(p->reason);
	classify_verdict_finish(&p->verdict);
	free(p);
}

int ingest_add_parsed(struct ingest *in, struct ingest_parsed *p, const char *raw, size_t len,
                      const struct ingest_source *src, enum ingest_outcome *outcome,
                      uint64_t *msg_id)
{
	uint64_t id = 0;
	int rc;
	if (!in->txn) {
		ingest_parsed_free(p);
		return STORE_ERROR;
	}
	if (p->m == NULL) {
		rc = quarantine(in, raw, len, &p->blob, src, p->reason, outcome, &id);
		p->reason = NULL;
		goto out;
	}
	rc = find_duplicate(in->txn, p->m->message_id, &id);
	if (rc > 0) {
		*outcome = INGEST_DUPLICATE;
		in->pending.duplicates++;
		rc = 0;
		goto out;
	}
	if (rc == 0 && (rc = store_parsed(in, raw, len, p, src, &id)) == 0) {
		*outcome = INGEST_STORED;
		if (classify_adopt(in->classify, id, p->m, len))
			p->m = NULL;
	}
out:
	ingest_parsed_free(p);
	if (msg_id)
		*msg_id = id;
	return rc;
}

int ingest_add(struct ingest *in, const char *raw, size_t len, const struct ingest_source *src,
               enum ingest_outcome *outcome, uint64_t *msg_id)
{
	if (!in->txn)
		return STORE_ERROR;
	return ingest_add_parsed(in, parse(in, raw, len, src, false), raw, len, src, outcome,
	                         msg_id);
}

int ingest_add_quarantined(struct ingest *in, const char *raw, size_t len,
                           const struct ingest_source *src, const char *reason,
                           enum ingest_outcome *outcome, uint64_t *msg_id)
{
	uint64_t id = 0;
	if (!in->txn)
		return STORE_ERROR;
	int rc = quarantine(in, raw, len, NULL, src, xstrdup(reason), outcome, &id);
	if (msg_id)
		*msg_id = id;
	return rc;
}
