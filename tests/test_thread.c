/*
 * Unit tests for thread: tokens, subject normalisation (RFC 5256 base subjects), and
 * thread_assign on a real store in a temporary directory.
 */
#include <errno.h>
#include <ftw.h>
#include <unistd.h>

#include "t.h"
#include "tend/import.h"
#include "tend/message.h"
#include "tend/store.h"
#include "tend/thread.h"

static void test_token_format_and_find(void)
{
	char *t = thread_token_format("[#{id}]", 42);
	T_EQ_STR(t, "[#42]");
	free(t);
	t = thread_token_format("(ticket {id})", 7);
	T_EQ_STR(t, "(ticket 7)");
	free(t);
	uint64_t id = 0;
	T_OK(thread_token_find("[#{id}]", "Re: Your order [#42]", &id));
	T_EQ_INT(id, 42);
	T_OK(thread_token_find("[#{id}]", "[#x] and [#9]", &id));
	T_EQ_INT(id, 9);
	T_OK(!thread_token_find("[#{id}]", "Order #42", &id));
	T_OK(!thread_token_find("[#{id}]", "[#42", &id));
	T_OK(!thread_token_find("[#{id}]", "[#0]", &id));
	T_OK(!thread_token_find("[#{id}]", "[#99999999999999999999999]", &id));
	T_OK(thread_token_find("(ticket {id})", "AW: (ticket 7)", &id));
	T_EQ_INT(id, 7);
}

static void expect_norm(const char *subject, const char *want)
{
	char *n = message_normalize_subject(subject);
	T_EQ_STR(n, want);
	free(n);
}

static void test_normalize_subject(void)
{
	expect_norm("Re: Voucher", "voucher");
	expect_norm("AW: Re: SV: Antw: Fwd: FW: voucher", "voucher");
	expect_norm("  Re:   Voucher \t  code  ", "voucher code");
	expect_norm("[shop] Re: [ticket] Voucher (fwd)", "voucher");
	expect_norm("Re: [FWD: c]", "c");
	expect_norm("[xyz]", "[xyz]");
	expect_norm("", "");
	expect_norm("Re:", "");
}

/* The messages of an mbox in the imaptest corpus, parsed. */
struct parsed {
	struct message *v[64];
	size_t n;
};

/* A message without any header field (imaptest's message 9) is kept as NULL: no subject. */
static int parse_cb(const struct mbox_entry *e, void *arg)
{
	struct parsed *p = arg;
	char *reason = NULL;
	if (p->n < NELEM(p->v)) {
		p->v[p->n] = NULL;
		message_parse(e->data, e->len, NULL, &p->v[p->n], &reason);
		p->n++;
	}
	free(reason);
	return 0;
}

static const char *subject_of(const struct message *m)
{
	return m ? m->subject : "";
}

/*
 * RFC 5256 ORDEREDSUBJECT groups messages by base subject; the expected groups are dovecot
 * imaptest's answers (1-based positions). Subject-fallback threading relies on the same
 * normalisation, so the groups must agree.
 */
static void check_subject_groups(const char *name, const int *groups, size_t ngroups)
{
	char *path = xasprintf("%s/imaptest-thread/%s.mbox", CORPORA, name);
	char *data;
	size_t len;
	struct parsed p = {0};
	if (read_file(path, &data, &len) < 0) {
		T_FAIL("cannot read %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	mbox_split(data, len, parse_cb, &p);
	int group_of[64] = {0};
	int g = 1;
	for (size_t i = 0; i < ngroups; i++) {
		if (groups[i] == 0)
			g++;
		else
			group_of[groups[i] - 1] = g;
	}
	for (size_t a = 0; a < p.n; a++) {
		for (size_t b = a + 1; b < p.n; b++) {
			char *na = message_normalize_subject(subject_of(p.v[a]));
			char *nb = message_normalize_subject(subject_of(p.v[b]));
			bool same = strcmp(na, nb) == 0;
			if (same != (group_of[a] == group_of[b]))
				T_FAIL("%s: messages %zu (\"%s\" -> \"%s\") and %zu (\"%s\" -> "
				       "\"%s\") "
				       "should %sshare a base subject",
				       name, a + 1, subject_of(p.v[a]), na, b + 1,
				       subject_of(p.v[b]), nb, same ? "not " : "");
			free(na);
			free(nb);
		}
	}
	for (size_t i = 0; i < p.n; i++)
		message_free(p.v[i]);
	free(data);
	free(path);
}

static void test_rfc5256_base_subjects(void)
{
	if (!t_corpora())
		return;
	/* * THREAD (1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15); 0 separates groups. */
	static const int os1[] = {1, 0, 2, 7, 12, 13, 0,  3, 5,  11, 0, 4,
	                          0, 6, 0, 8, 0,  9,  10, 0, 14, 0,  15};
	check_subject_groups("thread-orderedsubject", os1, NELEM(os1));
	/* * THREAD (4 (2)(8)(6))(3 (1)(7)(5)) */
	static const int os2[] = {4, 2, 8, 6, 0, 3, 1, 7, 5};
	check_subject_groups("thread-orderedsubject2", os2, NELEM(os2));
}

/* A store in a temporary directory, removed afterwards. */
static char tmp_root[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static struct store *temp_store(void)
{
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/tend-thread-XXXXXX");
	if (!mkdtemp(tmp_root))
		return NULL;
	char *dir = xasprintf("%s/store", tmp_root);
	struct store *s = NULL;
	char *err = NULL;
	struct store_options o = {0};
	if (store_open(dir, &o, &s, &err) < 0)
		T_FAIL("store_open: %s", err);
	free(err);
	free(dir);
	return s;
}

static void temp_store_done(struct store *s)
{
	store_close(s);
	nftw(tmp_root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static uint64_t add_with(struct store_txn *t, const char *raw, const struct thread_options *opt,
                         struct thread_result *res)
{
	struct message *m = NULL;
	char *reason = NULL;
	uint64_t id = 0;
	if (message_parse(raw, strlen(raw), NULL, &m, &reason) < 0) {
		T_FAIL("parse: %s", reason);
		free(reason);
		return 0;
	}
	store_next_id(t, STORE_COUNTER_MESSAGE, &id);
	T_EQ_INT(thread_assign(t, m, id, 1000 + (int64_t)id, opt, res), 0);
	struct store_message rec = {.id = id,
	                            .thread = res->thread,
	                            .message_id = m->message_id,
	                            .subject = m->subject,
	                            .from = m->from,
	                            .text = m->text,
	                            .new_text = m->new_text,
	                            .source = ""};
	T_EQ_INT(store_put_message(t, &rec), 0);
	message_free(m);
	return id;
}

static uint64_t add(struct store_txn *t, const char *raw, struct thread_result *res)
{
	static const struct thread_options opt = {.token = "[#{id}]"};
	return add_with(t, raw, &opt, res);
}

static bool participant(struct store_txn *t, uint64_t thread, const char *addr)
{
	struct store_thread *th = NULL;
	bool yes =
	    store_get_thread(t, thread, &th) == 0 && strvec_contains(&th->participants, addr);
	store_thread_free(th);
	return yes;
}

/*
 * Our own address never takes part; mail claiming it unverified joins by references only and
 * merges nothing; a token join makes nobody new a participant and holds a stranger's Reply-To.
 */
static void test_own_unverified_and_reply_to(void)
{
	struct store *s = temp_store();
	struct store_txn *t = NULL;
	if (!s || store_begin(s, true, &t) < 0)
		return;
	struct strvec own = STRVEC_INIT;
	strvec_push(&own, "support@shop.example");
	struct thread_options opt = {.token = "[#{id}]", .own = &own};
	struct thread_result a, b, f1, f2, m, ours;
	add_with(t, "From: anna@x\nCc: Support@Shop.example\nMessage-ID: <a@x>\n\nhi\n", &opt, &a);
	T_OK(participant(t, a.thread, "anna@x"));
	T_OK(!participant(t, a.thread, "support@shop.example"));
	add_with(t, "From: bob@x\nMessage-ID: <b@x>\n\nhi\n", &opt, &b);
	opt.sender = THREAD_SENDER_UNVERIFIED;
	add_with(t, "From: support@shop.example\nCc: eve@x\nSubject: [#1]\nMessage-ID: <f1@x>\n\n",
	         &opt, &f1);
	T_OK(f1.created); /* the token of a claim nothing vouches for is not believed */
	add_with(t,
	         "From: support@shop.example\nCc: eve@x\nReferences: <a@x> <b@x>\n"
	         "Message-ID: <f2@x>\n\n",
	         &opt, &f2);
	T_EQ_INT(f2.thread, a.thread);
	T_EQ_INT(f2.merged.n, 0);
	T_OK(!participant(t, a.thread, "eve@x"));
	opt.sender = THREAD_SENDER_CUSTOMER;
	add_with(t,
	         "From: anna@x\nReply-To: mallory@y\nCc: carol@x\nSubject: Re: [#1]\n"
	         "Message-ID: <m@x>\n\n",
	         &opt, &m);
	T_EQ_INT(m.thread, a.thread);
	T_EQ_INT(m.reason, THREAD_REASON_TOKEN);
	T_OK(m.reply_to_held);
	T_OK(!participant(t, a.thread, "mallory@y"));
	T_OK(!participant(t, a.thread, "carol@x"));
	opt.sender = THREAD_SENDER_OURS;
	add_with(t, "From: support@shop.example\nSubject: [#2] hello\nMessage-ID: <o@x>\n\n", &opt,
	         &ours);
	T_EQ_INT(ours.thread, b.thread);
	T_EQ_INT(ours.reason, THREAD_REASON_TOKEN);
	struct thread_result *all[] = {&a, &b, &f1, &f2, &m, &ours};
	for (size_t i = 0; i < NELEM(all); i++)
		thread_result_finish(all[i]);
	strvec_free(&own);
	store_abort(t);
	temp_store_done(s);
}

static void test_assign_reasons_and_merge(void)
{
	struct store *s = temp_store();
	struct store_txn *t = NULL;
	if (!s || store_begin(s, true, &t) < 0)
		return;
	struct thread_result r1, r2, r3;
	add(t, "From: a@x\nMessage-ID: <a@x>\nSubject: one\n\nhi\n", &r1);
	T_EQ_INT(r1.reason, THREAD_REASON_NEW);
	T_OK(r1.created);
	add(t, "From: c@x\nMessage-ID: <c@x>\nReferences: <b@x>\n\nhi\n", &r2);
	T_EQ_INT(r2.reason, THREAD_REASON_NEW);
	T_OK(r2.thread != r1.thread);
	add(t, "From: b@x\nMessage-ID: <b@x>\nIn-Reply-To: <a@x>\n\nhi\n", &r3);
	T_EQ_INT(r3.thread, r1.thread);
	T_EQ_INT(r3.merged.n, 1);
	T_EQ_STR(thread_reason_name(r3.reason), "replied-to");
	uint64_t live = 0;
	T_EQ_INT(store_resolve_thread(t, r2.thread, &live), 0);
	T_EQ_INT(live, r1.thread);
	struct store_thread *th = NULL;
	T_EQ_INT(store_get_thread(t, r1.thread, &th), 0);
	if (th) {
		T_EQ_INT(th->messages.n, 3);
		T_EQ_STR(th->subject, "one");
		T_OK(strvec_contains(&th->participants, "c@x"));
	}
	store_thread_free(th);
	struct store_message *c = NULL;
	T_EQ_INT(store_get_message(t, 2, &c), 0);
	if (c)
		T_EQ_INT(c->thread, r1.thread);
	store_message_free(c);
	thread_result_finish(&r1);
	thread_result_finish(&r2);
	thread_result_finish(&r3);
	store_abort(t);
	temp_store_done(s);
}

/* What we sent and noted in a thread that merges into another goes with it. */
static void test_merge_carries_our_side(void)
{
	struct store *s = temp_store();
	struct store_txn *t = NULL;
	if (!s || store_begin(s, true, &t) < 0)
		return;
	struct thread_result r1, r2, r3;
	add(t, "From: a@x\nMessage-ID: <a@x>\nSubject: one\n\nhi\n", &r1);
	add(t, "From: c@x\nMessage-ID: <c@x>\nReferences: <b@x>\n\nhi\n", &r2);
	struct store_thread *th = NULL;
	uint64_t ids[] = {r1.thread, r2.thread};
	for (size_t i = 0; i < NELEM(ids); i++) {
		uint64_t id = ids[i];
		T_EQ_INT(store_get_thread(t, id, &th), 0);
		idvec_push(&th->sent, 10 * id);
		idvec_push(&th->notes, 100 * id);
		T_EQ_INT(store_put_thread(t, th), 0);
		store_thread_free(th);
	}
	add(t, "From: b@x\nMessage-ID: <b@x>\nIn-Reply-To: <a@x>\n\nhi\n", &r3);
	T_EQ_INT(r3.merged.n, 1);
	T_EQ_INT(store_get_thread(t, r1.thread, &th), 0);
	T_OK(th && th->sent.n == 2 && idvec_contains(&th->sent, 10 * r1.thread) &&
	     idvec_contains(&th->sent, 10 * r2.thread));
	T_OK(th && th->notes.n == 2 && idvec_contains(&th->notes, 100 * r1.thread) &&
	     idvec_contains(&th->notes, 100 * r2.thread));
	store_thread_free(th);
	T_EQ_INT(store_get_thread(t, r2.thread, &th), 0);
	T_OK(th && th->sent.n == 0 && th->notes.n == 0);
	store_thread_free(th);
	thread_result_finish(&r1);
	thread_result_finish(&r2);
	thread_result_finish(&r3);
	store_abort(t);
	temp_store_done(s);
}

T_MAIN(T_CASE(test_token_format_and_find), T_CASE(test_normalize_subject),
       T_CASE(test_rfc5256_base_subjects), T_CASE(test_assign_reasons_and_merge),
       T_CASE(test_own_unverified_and_reply_to), T_CASE(test_merge_carries_our_side))
