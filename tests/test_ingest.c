/*
 * Unit tests for ingest: outcomes, quarantine, duplicates, and that statistics count only
 * committed work.
 */
#include <ftw.h>

#include "t.h"
#include "tend/config.h"
#include "tend/ingest.h"
#include "tend/rules.h"
#include "tend/store.h"

static char tmp_root[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

struct fixture {
	struct config *config;
	struct store *store;
	struct ingest *in;
};

static bool setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/tend-ingest-XXXXXX");
	if (!mkdtemp(tmp_root))
		return false;
	f->config = config_defaults();
	char *dir = xasprintf("%s/store", tmp_root);
	char *err = NULL;
	struct store_options o = {0};
	int rc = store_open(dir, &o, &f->store, &err);
	if (rc < 0)
		T_FAIL("store_open: %s", err);
	free(err);
	free(dir);
	if (rc < 0)
		return false;
	f->in = ingest_new(f->store, f->config, NULL, "test");
	return true;
}

static void teardown(struct fixture *f)
{
	ingest_free(f->in);
	store_close(f->store);
	config_free(f->config);
	nftw(tmp_root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static enum ingest_outcome add(struct fixture *f, const char *raw, uint64_t *id)
{
	struct ingest_source src = {.label = "test", .received = 1795000000};
	enum ingest_outcome o = INGEST_STORED;
	T_EQ_INT(ingest_begin(f->in), 0);
	T_EQ_INT(ingest_add(f->in, raw, strlen(raw), &src, &o, id), 0);
	return o;
}

static const char *hello = "From: Anna <anna@example.com>\nTo: support@shop.example\n"
                           "Message-ID: <hello@example.com>\nSubject: Hello\n\nHi there\n";

static void test_outcomes(void)
{
	struct fixture f;
	if (!setup(&f))
		return;
	uint64_t a = 0, b = 0, q = 0;
	T_EQ_INT(add(&f, hello, &a), INGEST_STORED);
	T_EQ_INT(add(&f, hello, &b), INGEST_DUPLICATE);
	T_EQ_INT(b, a);
	T_EQ_INT(add(&f, "\x01\x02 binary junk, no header\n", &q), INGEST_QUARANTINED);
	/* Nothing counts before the commit. */
	T_EQ_INT(ingest_stats(f.in)->stored, 0);
	T_EQ_INT(ingest_commit(f.in), 0);
	const struct ingest_stats *s = ingest_stats(f.in);
	T_EQ_INT(s->stored, 1);
	T_EQ_INT(s->duplicates, 1);
	T_EQ_INT(s->quarantined, 1);
	T_EQ_INT(s->threads_touched, 1);
	T_EQ_INT(s->threads_created, 1);

	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(f.store, false, &t), 0);
	struct store_message *m = NULL;
	T_EQ_INT(store_get_message(t, q, &m), 0);
	if (m) {
		T_OK(m->flags & STORE_MSG_QUARANTINED);
		T_CONTAINS(m->quarantine_reason, "header");
		T_EQ_INT(m->thread, 0);
		T_EQ_INT(m->received, 1795000000);
	}
	store_message_free(m);
	const char *raw;
	size_t len;
	T_EQ_INT(store_get_raw(t, q, &raw, &len), 0);
	T_EQ_INT(len, strlen("\x01\x02 binary junk, no header\n"));
	store_abort(t);
	teardown(&f);
}

static void test_abort_keeps_nothing(void)
{
	struct fixture f;
	if (!setup(&f))
		return;
	uint64_t id;
	T_EQ_INT(add(&f, hello, &id), INGEST_STORED);
	ingest_abort(f.in);
	T_EQ_INT(ingest_stats(f.in)->stored, 0);
	/* The message was never kept, so it is new again. */
	T_EQ_INT(add(&f, hello, &id), INGEST_STORED);
	T_EQ_INT(ingest_commit(f.in), 0);
	T_EQ_INT(ingest_stats(f.in)->stored, 1);
	teardown(&f);
}

static void test_arrival_from_date(void)
{
	struct fixture f;
	if (!setup(&f))
		return;
	struct ingest_source src = {.label = "x", .file_time = 1000};
	enum ingest_outcome o;
	uint64_t with_date, without;
	const char *dated = "From: a@example.com\nDate: Wed, 18 Nov 2026 11:06:40 +0000\n"
	                    "Message-ID: <d@x>\n\nhi\n";
	const char *undated = "From: a@example.com\nMessage-ID: <u@x>\n\nhi\n";
	T_EQ_INT(ingest_begin(f.in), 0);
	T_EQ_INT(ingest_add(f.in, dated, strlen(dated), &src, &o, &with_date), 0);
	T_EQ_INT(ingest_add(f.in, undated, strlen(undated), &src, &o, &without), 0);
	T_EQ_INT(ingest_commit(f.in), 0);
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(f.store, false, &t), 0);
	struct store_message *m = NULL;
	T_EQ_INT(store_get_message(t, with_date, &m), 0);
	if (m)
		T_EQ_INT(m->received, 1795000000);
	store_message_free(m);
	m = NULL;
	T_EQ_INT(store_get_message(t, without, &m), 0);
	if (m)
		T_EQ_INT(m->received, 1000);
	store_message_free(m);
	store_abort(t);
	teardown(&f);
}

static struct rules *load_rules(const char *text)
{
	char *path = xasprintf("%s/rules.yaml", tmp_root);
	FILE *fp = fopen(path, "w");
	struct rules *r = NULL;
	if (fp) {
		fputs(text, fp);
		fclose(fp);
		if (rules_load(path, &r, NULL) < 0)
			T_FAIL("rules_load %s", path);
	}
	free(path);
	return r;
}

static const struct ingest_source ahead_src = {.label = "test", .received = 1795000000};

/* Stores raw, parsed ahead as p (as `tend import`'s reader does), in the open transaction. */
static uint64_t store_ahead(struct fixture *f, struct ingest_parsed *p, const char *raw)
{
	struct ingest_source src = ahead_src;
	enum ingest_outcome o;
	uint64_t id = 0;
	T_EQ_INT(ingest_begin(f->in), 0);
	T_EQ_INT(ingest_add_parsed(f->in, p, raw, strlen(raw), &src, &o, &id), 0);
	T_EQ_INT(o, INGEST_STORED);
	return id;
}

static uint64_t add_parsed(struct fixture *f, const char *raw)
{
	return store_ahead(f, ingest_parse(f->in, raw, strlen(raw), &ahead_src), raw);
}

/* The tags message id got, space-separated, and how it joined its thread. */
static char *tags_of(struct fixture *f, uint64_t id, int *join_reason)
{
	struct store_txn *t = NULL;
	struct store_message *m = NULL;
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	T_EQ_INT(store_begin(f->store, false, &t), 0);
	if (t && store_get_message(t, id, &m) == 0) {
		for (size_t i = 0; i < m->tags.n; i++)
			buf_printf(&b, "%s%s", i ? " " : "", m->tags.v[i]);
		*join_reason = m->join_reason;
	}
	store_message_free(m);
	store_abort(t);
	return b.data;
}

static void expect_tags(struct fixture *f, uint64_t id, const char *want, bool joined)
{
	int reason = -1;
	char *got = tags_of(f, id, &reason);
	T_EQ_STR(got, want);
	T_EQ_INT(reason != 0, joined);
	free(got);
}

/*
 * A verdict taken ahead guesses whether the message starts a conversation; rules that ask
 * first_message are evaluated again when the guess was wrong: a reply whose parent is not
 * stored starts one, a message naming none can join one by subject.
 */
static void test_verdict_ahead(void)
{
	struct fixture f;
	if (!setup(&f))
		return;
	struct rules *r = load_rules("version: 1\nrules:\n"
	                             "  - name: new\n    match: {first_message: true}\n"
	                             "    tags: [new]\n"
	                             "  - name: followup\n    match: {first_message: false}\n"
	                             "    tags: [followup]\n");
	ingest_set_rules(f.in, r);
	uint64_t a = add_parsed(&f, "From: anna@example.com\nMessage-ID: <a@x>\nSubject: Refund\n\n"
	                            "Where is my refund?\n");
	uint64_t b = add_parsed(&f, "From: bob@example.com\nMessage-ID: <b@x>\nSubject: Re: Old\n"
	                            "In-Reply-To: <never-seen@x>\nReferences: <never-seen@x>\n\n"
	                            "Still waiting.\n");
	uint64_t c =
	    add_parsed(&f, "From: anna@example.com\nMessage-ID: <c@x>\nSubject: Re: Refund\n"
	                   "In-Reply-To: <a@x>\nReferences: <a@x>\n\nAny news?\n");
	uint64_t d =
	    add_parsed(&f, "From: anna@example.com\nMessage-ID: <d@x>\nSubject: Re: Refund\n"
	                   "\nHello again?\n");
	T_EQ_INT(ingest_commit(f.in), 0);
	expect_tags(&f, a, "new", false);
	expect_tags(&f, b, "new", false);
	expect_tags(&f, c, "followup", true);
	expect_tags(&f, d, "followup", true);
	ingest_set_rules(f.in, NULL);
	rules_free(r);
	teardown(&f);
}

/* A verdict taken with rules that were replaced before the message was stored is not used. */
static void test_verdict_of_old_rules(void)
{
	struct fixture f;
	if (!setup(&f))
		return;
	struct rules *old =
	    load_rules("version: 1\nrules:\n  - name: old\n    match: {body: refund}\n"
	               "    tags: [old]\n");
	struct rules *now =
	    load_rules("version: 1\nrules:\n  - name: now\n    match: {body: refund}\n"
	               "    tags: [now]\n");
	const char *raw = "From: anna@example.com\nMessage-ID: <r@x>\n\nMy refund, please.\n";
	ingest_set_rules(f.in, old);
	struct ingest_parsed *p = ingest_parse(f.in, raw, strlen(raw), &ahead_src);
	ingest_set_rules(f.in, now);
	uint64_t id = store_ahead(&f, p, raw);
	T_EQ_INT(ingest_commit(f.in), 0);
	expect_tags(&f, id, "now", false);
	ingest_set_rules(f.in, NULL);
	rules_free(old);
	rules_free(now);
	teardown(&f);
}

T_MAIN(T_CASE(test_outcomes), T_CASE(test_abort_keeps_nothing), T_CASE(test_arrival_from_date),
       T_CASE(test_verdict_ahead), T_CASE(test_verdict_of_old_rules))
