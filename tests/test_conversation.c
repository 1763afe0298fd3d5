/*
 * test_conversation: both sides of a conversation in one time order, from records put in a
 * temporary store as ingest, the outbox and `tend note` write them.
 */
#include "tend/conversation.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tend/store.h"

#define T0 1767225600 /* 2026-01-01 00:00 UTC */

static char dir[PATH_MAX];

static struct store *open_store(void)
{
	t_mkdtemp(dir, sizeof(dir), "test_conversation");
	char *path = xasprintf("%s/store", dir), *err = NULL;
	struct store *s = NULL;
	if (store_open(path, NULL, &s, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err ? err : "?");
		exit(99);
	}
	free(path);
	return s;
}

static void close_store(struct store *s)
{
	store_close(s);
	t_rmtree(dir);
}

static void put_message(struct store_txn *t, struct store_thread *th, uint64_t id, uint32_t flags,
                        int64_t received, const char *text)
{
	struct store_message m = {
	    .id = id,
	    .thread = th->id,
	    .flags = flags,
	    .message_id = xasprintf("m%llu@example.com", (unsigned long long)id),
	    .from = {"Anna", flags ? "support@shop.example" : "anna@example.com"},
	    .received = received,
	    .text = (char *)text,
	};
	T_EQ_INT(store_put_message(t, &m), 0);
	idvec_push(&th->messages, id);
	free(m.message_id);
}

/* A draft the server accepted at sent; its copy, when copy is set, came back as message copy. */
static void put_sent(struct store_txn *t, struct store_thread *th, uint64_t id, int kind,
                     int64_t sent, bool listed, uint64_t copy)
{
	char *msgid = xasprintf("tend.%llu.%llu@shop.example", (unsigned long long)th->id,
	                        (unsigned long long)id);
	struct store_draft d = {.id = id,
	                        .thread = th->id,
	                        .state = STORE_DRAFT_SENT,
	                        .kind = kind,
	                        .body = "We sent the refund of 45 GBP today.\n",
	                        .message_id = msgid,
	                        .approved_by = "alice",
	                        .approved = sent - 5,
	                        .sent = sent,
	                        .smtp_reply = "250 2.0.0 Ok: queued"};
	T_EQ_INT(store_put_draft(t, &d), 0);
	if (listed)
		idvec_push(&th->sent, id);
	if (copy) {
		struct store_message m = {.id = copy,
		                          .thread = th->id,
		                          .flags = STORE_MSG_OURS | STORE_MSG_COPY,
		                          .message_id = msgid,
		                          .from = {NULL, "support@shop.example"},
		                          .received = sent + 30,
		                          .text = d.body};
		T_EQ_INT(store_put_message(t, &m), 0);
		idvec_push(&th->messages, copy);
	}
	struct store_msgid e = {.message = copy, .thread = th->id, .draft = id};
	T_EQ_INT(store_put_msgid(t, msgid, &e), 0);
	free(msgid);
}

static void put_note(struct store_txn *t, struct store_thread *th, uint64_t id, int64_t created)
{
	struct store_note n = {.id = id,
	                       .thread = th->id,
	                       .created = created,
	                       .agent = "bob",
	                       .text = "Called her: she wants the refund, not a voucher."};
	T_EQ_INT(store_put_note(t, &n), 0);
	idvec_push(&th->notes, id);
}

/* The kinds in order, as one string: "customer note reply ...". */
static char *kinds(const struct conversation *c)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < c->n; i++) {
		buf_puts(&b, i ? " " : "");
		buf_puts(&b, conversation_kind_name(c->entries[i].kind));
	}
	return b.len ? buf_steal(&b) : xstrdup("");
}

static void load(struct store *s, const struct store_thread *th, struct conversation *c)
{
	struct store_txn *t = NULL;
	T_EQ_INT(store_begin(s, false, &t), 0);
	T_EQ_INT(conversation_load(t, th, c), 0);
	store_abort(t);
}

/* Every kind, each at its own time; a copy of a sent reply is not a second entry. */
static void test_time_order(void)
{
	struct store *s = open_store();
	struct store_txn *t = NULL;
	struct store_thread th = {.id = 1};
	T_EQ_INT(store_begin(s, true, &t), 0);
	put_message(t, &th, 1, 0, T0, "Where is my refund?");
	put_note(t, &th, 1, T0 + 50);
	put_sent(t, &th, 10, STORE_KIND_REPLY, T0 + 100, true, 3);
	put_sent(t, &th, 11, STORE_KIND_HOLDING, T0 + 20, true, 0);
	put_sent(t, &th, 12, STORE_KIND_NOTICE, T0 + 150, true, 0);
	put_message(t, &th, 2, 0, T0 + 200, "Please confirm the refund.");
	put_message(t, &th, 4, STORE_MSG_OURS, T0 + 300, "Confirmed by phone.");
	put_message(t, &th, 5, STORE_MSG_UNVERIFIED, T0 + 400, "Forged.");
	put_note(t, &th, 2, T0 + 200); /* the same second as the customer's message: after it */
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);

	struct conversation c;
	load(s, &th, &c);
	char *got = kinds(&c);
	T_EQ_STR(got, "customer holding note reply notice customer note ours customer");
	T_EQ_INT(c.nmessages, 5); /* the copy is still one of the thread's messages */
	T_OK(c.n == 9 && c.entries[3].draft && c.entries[3].draft->id == 10);
	T_OK(c.n == 9 && c.entries[3].when == T0 + 100);
	T_OK(c.n == 9 && c.entries[8].message && c.entries[8].message->id == 5);
	const struct conversation_entry *last = conversation_latest_reply(&c);
	T_OK(last && last->message && last->message->id == 4);
	free(got);
	conversation_finish(&c);
	conversation_finish(&c); /* twice is harmless */
	idvec_free(&th.messages);
	idvec_free(&th.sent);
	idvec_free(&th.notes);
	close_store(s);
}

/*
 * A thread written before it listed its sent drafts: a reply whose copy came back from the
 * Sent folder shows as that reply, once; a copy whose draft is gone shows as our message.
 */
static void test_old_thread_copy(void)
{
	struct store *s = open_store();
	struct store_txn *t = NULL;
	struct store_thread th = {.id = 1};
	T_EQ_INT(store_begin(s, true, &t), 0);
	put_message(t, &th, 1, 0, T0, "Where is my refund?");
	put_sent(t, &th, 10, STORE_KIND_REPLY, T0 + 100, false, 2);
	struct store_message orphan = {.id = 3,
	                               .thread = 1,
	                               .flags = STORE_MSG_OURS | STORE_MSG_COPY,
	                               .message_id = "lost@shop.example",
	                               .received = T0 + 500,
	                               .text = "?"};
	T_EQ_INT(store_put_message(t, &orphan), 0);
	idvec_push(&th.messages, 3);
	T_EQ_INT(store_put_thread(t, &th), 0);
	T_EQ_INT(store_commit(t), 0);

	struct conversation c;
	load(s, &th, &c);
	char *got = kinds(&c);
	T_EQ_STR(got, "customer reply ours");
	T_OK(c.n == 3 && c.entries[1].draft && c.entries[1].draft->id == 10);
	const struct conversation_entry *last = conversation_latest_reply(&c);
	T_OK(last && last->message && last->message->id == 3);
	free(got);
	conversation_finish(&c);
	idvec_free(&th.messages);
	close_store(s);
}

/* A listed draft or note the store lacks is left out, not an error. */
static void test_missing_records(void)
{
	struct store *s = open_store();
	struct store_thread th = {.id = 1};
	idvec_push(&th.sent, 99);
	idvec_push(&th.notes, 98);
	struct conversation c;
	load(s, &th, &c);
	T_EQ_INT(c.n, 0);
	T_OK(conversation_latest_reply(&c) == NULL);
	conversation_finish(&c);
	idvec_free(&th.sent);
	idvec_free(&th.notes);
	T_EQ_STR(conversation_kind_name(42), "unknown");
	close_store(s);
}

T_MAIN(T_CASE(test_time_order), T_CASE(test_old_thread_copy), T_CASE(test_missing_records))
