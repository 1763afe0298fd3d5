/*
 * Unit tests for search: what is indexed and found (words, numbers as written, parts of
 * addresses, beginnings of words), queries that hold FTS5's syntax, newest first and merged
 * conversations, sent replies, an index that lags, is damaged or is another store's, and the
 * index's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <unistd.h>

#include "t.h"
#include "tend/config.h"
#include "tend/ingest.h"
#include "tend/search.h"
#include "tend/store.h"

struct fx {
	char dir[PATH_MAX];
	char *store_dir;
	struct config *config;
	struct store *store;
	struct ingest *in;
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	t_mkdtemp(f->dir, sizeof(f->dir), "test_search");
	f->store_dir = xasprintf("%s/store", f->dir);
	f->config = config_defaults();
	char *err = NULL;
	if (store_open(f->store_dir, NULL, &f->store, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err ? err : "?");
		exit(99);
	}
	f->in = ingest_new(f->store, f->config, NULL, "test");
}

static void fx_close(struct fx *f)
{
	ingest_free(f->in);
	store_close(f->store);
	config_free(f->config);
	t_rmtree(f->dir);
	free(f->store_dir);
}

/* Stores a message that arrived at when; returns its thread. */
static uint64_t add(struct fx *f, const char *raw, int64_t when)
{
	struct ingest_source src = {.label = "test", .received = when};
	enum ingest_outcome o = INGEST_STORED;
	uint64_t id = 0, thread = 0;
	struct store_txn *t = NULL;
	struct store_message *m = NULL;
	T_EQ_INT(ingest_begin(f->in), 0);
	T_EQ_INT(ingest_add(f->in, raw, strlen(raw), &src, &o, &id), 0);
	T_EQ_INT(ingest_commit(f->in), 0);
	if (store_begin(f->store, false, &t) == 0 && store_get_message(t, id, &m) == 0)
		thread = m->thread;
	store_message_free(m);
	store_abort(t);
	return thread;
}

static char *msg(const char *from, const char *id, const char *subject, const char *body)
{
	return xasprintf("From: %s\nTo: support@shop.example\nMessage-ID: <%s>\nSubject: %s\n"
	                 "Date: Mon, 23 Nov 2026 10:00:00 +0000\n\n%s\n",
	                 from, id, subject, body);
}

static uint64_t add_msg(struct fx *f, const char *from, const char *id, const char *subject,
                        const char *body, int64_t when)
{
	char *raw = msg(from, id, subject, body);
	uint64_t th = add(f, raw, when);
	free(raw);
	return th;
}

static int catch_up(struct fx *f)
{
	char *err = NULL;
	int rc = search_catch_up(f->store, NULL, &err);
	if (rc < 0)
		T_FAIL("search_catch_up: %s", err ? err : "?");
	free(err);
	return rc;
}

/* Runs a query on the index as it is (no catch-up); returns what it printed, or NULL. */
static char *query_as(struct fx *f, const char *q, size_t limit, bool json, int *rc_out)
{
	struct search *x = NULL;
	struct view_options o = {.json = json, .width = 0, .now = 1795000000};
	char *err = NULL, *out = NULL;
	size_t len = 0;
	int rc = search_open(f->store, true, &x, &err);
	if (rc == 0) {
		FILE *mem = open_memstream(&out, &len);
		rc = search_query(x, q, limit, &o, mem, &err);
		fclose(mem);
	}
	search_close(x);
	if (rc_out)
		*rc_out = rc;
	else if (rc < 0)
		T_FAIL("query \"%s\": %d %s", q, rc, err ? err : "");
	free(err);
	if (rc < 0) {
		free(out);
		return NULL;
	}
	return out;
}

static char *query(struct fx *f, const char *q)
{
	return query_as(f, q, 0, true, NULL);
}

/* The thread ids of a JSON result, in order, as "1,2," */
static char *threads_of(const char *json)
{
	struct buf b = BUF_INIT;
	for (const char *p = json; p && (p = strstr(p, "\"thread\":")) != NULL;) {
		p += strlen("\"thread\":");
		buf_printf(&b, "%lld,", strtoll(p, NULL, 10));
	}
	return buf_steal(&b);
}

/* The threads a query finds, as threads_of says them. */
static char *found(struct fx *f, const char *q)
{
	char *out = query(f, q);
	char *got = threads_of(out);
	free(out);
	return got;
}

static void expect(struct fx *f, const char *q, const char *threads)
{
	char *got = found(f, q);
	if (strcmp(got, threads) != 0)
		T_FAIL("query \"%s\": threads %s, expected %s", q, got, threads);
	free(got);
}

static void test_words_numbers_addresses(void)
{
	struct fx f;
	fx_open(&f);
	uint64_t a = add_msg(&f, "Martin Kowalski <m.kowalski@example.net>", "a@x", "Return",
	                     "The table from order #48213 arrived broken.", 1795000000);
	uint64_t b = add_msg(&f, "Priya Shah <priya@example.org>", "b@x", "Change to OT-20417",
	                     "Please change my order.\nI was refunded twice.", 1795000100);
	uint64_t c =
	    add_msg(&f, "=?iso-8859-1?q?J=FCrgen_Wei=DF?= <juergen@example.org>", "c@x",
	            "=?iso-8859-1?q?R=FCckerstattung?=", "Bitte um Erstattung.", 1795000200);
	catch_up(&f);
	char *want = xasprintf("%llu,", (unsigned long long)a);
	expect(&f, "48213", want);
	expect(&f, "#48213", want);
	expect(&f, "kowalski@", want);
	expect(&f, "m.kowalski@example.net", want);
	expect(&f, "KOWALSKI", want);
	free(want);
	want = xasprintf("%llu,", (unsigned long long)b);
	expect(&f, "OT-20417", want);
	expect(&f, "ot 20417", want);
	expect(&f, "refund*", want);          /* the beginning of "refunded" */
	expect(&f, "\"was refund\"*", want);  /* of a phrase's last word */
	expect(&f, "refund", "");             /* else words whole */
	expect(&f, "re*", "");                /* too short a beginning: the word "re" */
	expect(&f, "\"was refunded\"", want); /* a phrase */
	expect(&f, "20417 change", want);     /* every term, in one message */
	expect(&f, "20417 broken", "");
	/* Beginnings of the lengths the index files as words (3 and 4), and longer ones. */
	expect(&f, "ref*", want);
	expect(&f, "REFU*", want);
	expect(&f, "refunde*", want);
	expect(&f, "refunds*", "");
	free(want);
	want = xasprintf("%llu,", (unsigned long long)c);
	expect(&f, "ruckerstattung", want); /* diacritics folded */
	expect(&f, "Rückerstattung", want);
	expect(&f, "Rück*", want); /* a beginning, folded */
	expect(&f, "juergen", want);
	expect(&f, "weiß", want);
	free(want);
	fx_close(&f);
}

/* Whatever an agent types is words: FTS5's operators and syntax are never obeyed. */
static void test_hostile_queries(void)
{
	static const char *const nothing[] = {"\"",   "*", ")", ":", "\"\"", "( ) * : ^ - +",
	                                      "\"*\""};
	/* Their words are all in the message. */
	static const char *const present[] = {
	    "table*",         "*table",         "-table",  "^table",     "\"order",
	    "order\"",        "ord\"\"er",      "table +", "{order}",    "(order)",
	    "order OF table", "\"the\" \"of\"", "tab*",    "\"of the\"*"};
	/* Each holds a word the message lacks: as operators they would have matched. */
	static const char *const absent[] = {
	    "NEAR(order table)", "order OR nothing",  "subject:table", "body:order", "NOT order",
	    "order AND table",   "order NOT nothing", "words:order",   "ta*ble",     "tab"};
	struct fx f;
	fx_open(&f);
	add_msg(&f, "Anna <anna@example.com>", "a@x", "Table", "The order of the table.",
	        1795000000);
	catch_up(&f);
	for (size_t i = 0; i < NELEM(nothing); i++) {
		int rc = 0;
		char *out = query_as(&f, nothing[i], 0, true, &rc);
		if (rc != SEARCH_EQUERY)
			T_FAIL("query \"%s\": %d, expected SEARCH_EQUERY", nothing[i], rc);
		free(out);
	}
	for (size_t i = 0; i < NELEM(present); i++)
		expect(&f, present[i], "1,");
	for (size_t i = 0; i < NELEM(absent); i++)
		expect(&f, absent[i], "");
	fx_close(&f);
}

/* Conversations newest first by their latest match; a merged one is shown as the live one. */
static void test_newest_first_and_merged(void)
{
	struct fx f;
	fx_open(&f);
	uint64_t a =
	    add_msg(&f, "Anna <anna@example.com>", "a@x", "Voucher", "voucher one", 1795000000);
	uint64_t b =
	    add_msg(&f, "Ben <ben@example.com>", "b@x", "Voucher too", "voucher two", 1795100000);
	uint64_t c = add_msg(&f, "Cleo <cleo@example.com>", "c@x", "Voucher three", "voucher three",
	                     1794000000);
	catch_up(&f);
	char *want = xasprintf("%llu,%llu,%llu,", (unsigned long long)b, (unsigned long long)a,
	                       (unsigned long long)c);
	expect(&f, "voucher", want);
	free(want);
	/* Anna writes again, latest of all: her conversation comes first. */
	add(&f,
	    "From: Anna <anna@example.com>\nTo: support@shop.example\nMessage-ID: <a2@x>\n"
	    "In-Reply-To: <a@x>\nSubject: Re: Voucher\n\nthe voucher again\n",
	    1795200000);
	/* A message that answers both Ben's and Cleo's merges their conversations. */
	add(&f,
	    "From: Ben <ben@example.com>\nTo: support@shop.example\nMessage-ID: <m@x>\n"
	    "References: <b@x> <c@x>\nSubject: Re: Voucher too\n\nabout both\n",
	    1790000000);
	catch_up(&f);
	/* Anna's first; then Ben's and Cleo's, one conversation now, the live one's id. */
	char *got = found(&f, "voucher");
	char *merged = found(&f, "about");
	char *three = found(&f, "\"voucher three\"");
	want = xasprintf("%llu,%s", (unsigned long long)a, merged);
	T_EQ_STR(got, want);
	T_EQ_STR(three, merged);
	T_OK(strcmp(merged, "2,") == 0 || strcmp(merged, "3,") == 0);
	free(want);
	free(three);
	free(merged);
	free(got);
	fx_close(&f);
}

static void test_limit(void)
{
	struct fx f;
	fx_open(&f);
	for (int i = 0; i < 5; i++) {
		char *id = xasprintf("m%d@x", i);
		char *from = xasprintf("P%d <p%d@example.com>", i, i);
		add_msg(&f, from, id, "Delivery", "where is my parcel", 1795000000 + i);
		free(id);
		free(from);
	}
	catch_up(&f);
	char *out = query_as(&f, "parcel", 2, true, NULL);
	char *got = threads_of(out);
	T_EQ_STR(got, "5,4,");
	free(got);
	free(out);
	out = query_as(&f, "parcel", 2, false, NULL);
	T_CONTAINS(out, "Only the 2 most recent are shown");
	free(out);
	out = query_as(&f, "parcel", 0, false, NULL);
	T_OK(out && strstr(out, "Only the") == NULL);
	free(out);
	fx_close(&f);
}

/* The line shown is the one that holds the terms; a line from a record is never a terminal's
 * command: control characters are shown escaped, in the table and in JSON. */
static void test_matching_line(void)
{
	struct fx f;
	fx_open(&f);
	add_msg(&f, "Anna Meier <anna.meier@example.com>", "a@x", "Delivery",
	        "Hello,\n\nmy order 48213 has not arrived.\n> quoted order 48213 line\nThanks",
	        1795000000);
	catch_up(&f);
	char *out = query_as(&f, "48213 arrived", 0, false, NULL);
	T_CONTAINS(out, "message: my order 48213 has not arrived.");
	T_CONTAINS(out, "Anna Meier <anna.meier@exampl…");
	T_CONTAINS(out, "Delivery");
	T_CONTAINS(out, "open");
	free(out);
	out = query_as(&f, "quoted", 0, true, NULL);
	T_EQ_STR(out, "[]\n"); /* quoted lines are the quoted message's, not this one's */
	free(out);
	out = query_as(&f, "anna.meier@", 0, true, NULL);
	T_CONTAINS(out, "\"line\":\"Anna Meier <anna.meier@example.com>\"");
	T_CONTAINS(out, "\"kind\":\"message\"");
	T_CONTAINS(out, "\"subject\":\"Delivery\"");
	T_CONTAINS(out,
	           "\"customer\":{\"name\":\"Anna Meier\",\"email\":\"anna.meier@example.com\"}");
	T_CONTAINS(out, "\"state\":\"open\"");
	T_CONTAINS(out, "\"date\":\"2026-11-18T");
	free(out);
	/* A record stored before escapes were removed at parsing. */
	struct store_txn *t = NULL;
	struct store_message *m = NULL;
	T_EQ_INT(store_begin(f.store, true, &t), 0);
	T_EQ_INT(store_get_message(t, 1, &m), 0);
	free(m->text);
	m->text = xstrdup("order 48213 \x1b]52;c;ZXZpbA==\x07 \xc2\x9b"
	                  "31m red");
	T_EQ_INT(store_put_message(t, m), 0);
	T_EQ_INT(store_commit(t), 0);
	store_message_free(m);
	out = query_as(&f, "48213", 0, false, NULL);
	T_OK(out && strchr(out, 0x1b) == NULL && strstr(out, "\xc2\x9b") == NULL &&
	     strchr(out, 0x07) == NULL);
	T_CONTAINS(out, "\\x1b");
	free(out);
	out = query_as(&f, "48213", 0, true, NULL);
	T_CONTAINS(out, "\\u001b");
	free(out);
	fx_close(&f);
}

/* A reply tend sent (found through its "sent" audit entry) is searchable with its words. */
static void test_sent_reply(void)
{
	struct fx f;
	fx_open(&f);
	uint64_t th =
	    add_msg(&f, "Anna <anna@example.com>", "a@x", "Refund", "Where is it?", 1795000000);
	catch_up(&f);
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(f.store, true, &t), 0);
	struct store_draft d = {.thread = th,
	                        .state = STORE_DRAFT_SENT,
	                        .kind = STORE_KIND_REPLY,
	                        .subject = "Re: Refund",
	                        .body = "We refunded 45 GBP today.\n\n> Where is it?\n",
	                        .sent = 1795003600};
	T_EQ_INT(store_next_id(t, STORE_COUNTER_DRAFT, &d.id), 0);
	T_EQ_INT(store_put_draft(t, &d), 0);
	struct store_audit a = {
	    .time = 1795003600, .agent = "tendd", .action = "sent", .thread = th, .draft = d.id};
	T_EQ_INT(store_audit_append(t, &a), 0);
	T_EQ_INT(store_commit(t), 0);
	expect(&f, "GBP", ""); /* the index lags until it is caught up */
	catch_up(&f);
	char *out = query(&f, "45 GBP");
	T_CONTAINS(out, "\"kind\":\"reply\"");
	T_CONTAINS(out, "\"line\":\"We refunded 45 GBP today.\"");
	free(out);
	out = query(&f, "where");
	T_CONTAINS(out, "\"kind\":\"message\""); /* the reply's quote is the customer's words */
	free(out);
	fx_close(&f);
}

/* Behind, damaged, another store's, deleted: each is caught up or built again. */
static void test_lag_damage_and_another_store(void)
{
	struct fx f;
	fx_open(&f);
	add_msg(&f, "Anna <anna@example.com>", "a@x", "First", "apples", 1795000000);
	catch_up(&f);
	add_msg(&f, "Ben <ben@example.com>", "b@x", "Second", "bananas", 1795000100);
	expect(&f, "bananas", "");
	uint64_t added = 0;
	char *err = NULL;
	T_EQ_INT(search_catch_up(f.store, &added, &err), 0);
	T_EQ_INT(added, 1);
	T_EQ_INT(search_catch_up(f.store, &added, &err), 0);
	T_EQ_INT(added, 0);
	expect(&f, "bananas", "2,");
	/* Garbage in the file: emptied and built again. */
	char *path = xasprintf("%s/search.sqlite", f.store_dir);
	FILE *fp = fopen(path, "r+");
	T_OK(fp != NULL);
	for (int i = 0; fp && i < 8192; i++)
		fputc(i * 7, fp);
	if (fp)
		fclose(fp);
	T_EQ_INT(search_catch_up(f.store, &added, &err), 0);
	T_EQ_INT(added, 2);
	expect(&f, "apples", "1,");
	/* Deleted: made again. */
	unlink(path);
	catch_up(&f);
	expect(&f, "bananas", "2,");
	/* Another store's index, copied in: not taken for this store's. */
	struct fx g;
	fx_open(&g);
	add_msg(&g, "Cleo <cleo@example.com>", "c@x", "Other", "cherries", 1795000000);
	add_msg(&g, "Dan <dan@example.com>", "d@x", "Other", "dates", 1795000000);
	add_msg(&g, "Eve <eve@example.com>", "e@x", "Other", "elderberries", 1795000000);
	catch_up(&g);
	char *cmd = xasprintf("cp %s/search.sqlite %s", g.store_dir, f.store_dir);
	T_EQ_INT(system(cmd), 0);
	free(cmd);
	catch_up(&f);
	expect(&f, "cherries", "");
	expect(&f, "apples", "1,");
	free(path);
	fx_close(&g);
	fx_close(&f);
}

/* The index's files are the store's: never a link, never a stranger's, the store's mode. */
static void test_index_files(void)
{
	struct fx f;
	fx_open(&f);
	add_msg(&f, "Anna <anna@example.com>", "a@x", "First", "apples", 1795000000);
	catch_up(&f);
	static const char *const names[] = {"search.sqlite", "search.sqlite-wal",
	                                    "search.sqlite-shm"};
	for (size_t i = 0; i < NELEM(names); i++) {
		char *p = xasprintf("%s/%s", f.store_dir, names[i]);
		struct stat st;
		T_EQ_INT(lstat(p, &st), 0);
		T_OK(S_ISREG(st.st_mode));
		T_EQ_INT(st.st_mode & 07777, 0600);
		free(p);
	}
	char *target = xasprintf("%s/elsewhere", f.dir);
	char *journal = xasprintf("%s/search.sqlite-journal", f.store_dir);
	for (size_t i = 0; i < NELEM(names) + 1; i++) {
		char *p =
		    i < NELEM(names) ? xasprintf("%s/%s", f.store_dir, names[i]) : xstrdup(journal);
		char *keep = xasprintf("%s.keep", p);
		if (i < NELEM(names))
			T_EQ_INT(rename(p, keep), 0);
		T_EQ_INT(symlink(target, p), 0);
		char *err = NULL;
		struct search *x = NULL;
		T_OK(search_open(f.store, true, &x, &err) < 0);
		T_CONTAINS(err, "is a symbolic link; refusing to open it");
		T_OK(access(target, F_OK) < 0 && errno == ENOENT); /* nothing made through it */
		search_close(x);
		free(err);
		unlink(p);
		if (i < NELEM(names))
			T_EQ_INT(rename(keep, p), 0);
		free(keep);
		free(p);
	}
	expect(&f, "apples", "1,");
	free(journal);
	free(target);
	fx_close(&f);
}

/* More entries in one minute than keys near it (a migration whose mail has no dates, all
 * stamped with the minute it was copied): every one is indexed all the same. */
static void test_crowded_minute(void)
{
	struct fx f;
	fx_open(&f);
	add_msg(&f, "Anna <anna@example.com>", "a@x", "First", "apples", 1795000000);
	catch_up(&f);
	struct search *x = NULL;
	char *err = NULL;
	T_EQ_INT(search_open(f.store, true, &x, &err), 0);
	int failed = 0;
	for (uint64_t id = 2; x && id < 2 + 4096 + 200; id++) {
		struct search_entry e = {.thread = 1,
		                         .kind = SEARCH_MESSAGE,
		                         .id = id,
		                         .time = 1795000000,
		                         .body = "pears"};
		failed += search_add(x, &e) != 0;
	}
	T_EQ_INT(failed, 0);
	search_close(x);
	free(err);
	expect(&f, "pears", "1,");
	fx_close(&f);
}

T_MAIN(T_CASE(test_words_numbers_addresses), T_CASE(test_hostile_queries),
       T_CASE(test_newest_first_and_merged), T_CASE(test_limit), T_CASE(test_matching_line),
       T_CASE(test_sent_reply), T_CASE(test_lag_damage_and_another_store), T_CASE(test_index_files),
       T_CASE(test_crowded_minute))
