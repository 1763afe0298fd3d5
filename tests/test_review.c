/*
 * test_review: what agents do with drafts, against a temporary store. Drafts are put in the
 * store here as ingest makes them (a proposed draft named by store_thread.draft, with a queue
 * entry at the thread's deadline), so these tests do not depend on the rules or the templates.
 *
 * The editor is a real program run through sh: sed for an edit, true for none, false for a
 * failure, and this test program itself (see bump_draft) for someone who changes the draft
 * while the editor is open.
 */
#include "tend/review.h"

#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/outbox_int.h"
#include "t.h"
#include "tend/outbox.h"
#include "tend/store.h"

#define BODY "Hello Anna,\n\nYour refund is on its way.\n\nBest,\n{{agent.name}}\n"

struct fx {
	char dir[PATH_MAX];
	char *store_dir;
	struct store *s;
	struct config *c;
};

static struct fx fx_open(void)
{
	struct fx f = {{0}, NULL, NULL, NULL};
	const char *tmp = getenv("TMPDIR");
	snprintf(f.dir, sizeof(f.dir), "%s/test_review.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(f.dir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	f.store_dir = xasprintf("%s/store", f.dir);
	char *err = NULL;
	if (store_open(f.store_dir, NULL, &f.s, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err ? err : "?");
		exit(99);
	}
	f.c = config_defaults();
	f.c->path = xasprintf("%s/tend.yaml", f.dir);
	return f;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_close(struct fx *f)
{
	store_close(f->s);
	config_free(f->c);
	free(f->store_dir);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void add_account(struct config *c, const char *name, const char *address)
{
	c->accounts = xreallocarray(c->accounts, c->naccounts + 1, sizeof(*c->accounts));
	struct config_account *a = &c->accounts[c->naccounts++];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	a->address = xstrdup(address);
}

static void add_agent(struct config *c, const char *login, const char *name)
{
	c->agents = xreallocarray(c->agents, c->nagents + 1, sizeof(*c->agents));
	memset(&c->agents[c->nagents], 0, sizeof(*c->agents));
	c->agents[c->nagents].login = xstrdup(login);
	c->agents[c->nagents++].name = xstrdup(name);
	c->agents_listed = true;
}

/* Binds the last agent added to the OS user with uid (user: in tend.yaml). */
static void bind_agent(struct config *c, const char *user, uid_t uid)
{
	c->agents[c->nagents - 1].user = xstrdup(user);
	c->agents[c->nagents - 1].uid = uid;
	c->agents_bound = true;
}

static struct store_txn *begin(struct store *s, bool write)
{
	struct store_txn *t = NULL;
	if (store_begin(s, write, &t) < 0) {
		fprintf(stderr, "store_begin failed\n");
		exit(99);
	}
	return t;
}

static void put_message(struct store_txn *t, uint64_t thread, uint64_t *id)
{
	struct store_message m = {0};
	T_EQ_INT(store_next_id(t, STORE_COUNTER_MESSAGE, id), 0);
	m.id = *id;
	m.thread = thread;
	m.message_id = xasprintf("m%llu@example.com", (unsigned long long)*id);
	m.subject = xstrdup("Refund please");
	m.from.name = xstrdup("Anna");
	m.from.addr = xstrdup("anna@example.com");
	m.text = xstrdup("Where is my refund for order 12345?\n");
	m.new_text = xstrdup(m.text);
	m.received = m.date = (int64_t)time(NULL) - 600;
	T_EQ_INT(store_put_message(t, &m), 0);
	free(m.message_id);
	free(m.subject);
	free(m.from.name);
	free(m.from.addr);
	free(m.text);
	free(m.new_text);
}

static void put_draft(struct store_txn *t, uint64_t thread, uint64_t id, uint64_t msg,
                      int64_t queued)
{
	struct store_draft d = {0};
	struct message_addr to = {"Anna", "anna@example.com"};
	d.id = id;
	d.thread = thread;
	d.state = STORE_DRAFT_PROPOSED;
	d.body = BODY;
	d.subject = "Re: Refund please [#1]";
	d.to.v = &to;
	d.to.n = 1;
	d.answers = msg;
	d.queued = queued;
	d.created = d.updated = (int64_t)time(NULL) - 60;
	strvec_push(&d.parts, "refund");
	T_EQ_INT(store_put_draft(t, &d), 0);
	strvec_free(&d.parts);
}

/* A thread from Anna with one message and a proposed draft filed in the queue. */
static uint64_t add_thread(struct fx *f, const char *subject, int64_t deadline, bool with_draft)
{
	struct store_txn *t = begin(f->s, true);
	struct store_thread th = {0};
	uint64_t msg, draft = 0;
	T_EQ_INT(store_next_id(t, STORE_COUNTER_THREAD, &th.id), 0);
	if (with_draft)
		T_EQ_INT(store_next_id(t, STORE_COUNTER_DRAFT, &draft), 0);
	put_message(t, th.id, &msg);
	th.state = STORE_THREAD_OPEN;
	th.subject = (char *)subject;
	th.customer = (struct message_addr){"Anna", "anna@example.com"};
	th.created = th.updated = (int64_t)time(NULL) - 600;
	th.deadline = deadline;
	th.priority = 2;
	th.draft = draft;
	idvec_push(&th.messages, msg);
	strvec_push(&th.tags, "refund");
	T_EQ_INT(store_put_thread(t, &th), 0);
	if (with_draft) {
		put_draft(t, th.id, draft, msg, deadline);
		T_EQ_INT(store_index_put(t, STORE_INDEX_QUEUE, deadline, draft), 0);
	}
	T_EQ_INT(store_commit(t), 0);
	idvec_free(&th.messages);
	strvec_free(&th.tags);
	return th.id;
}

static struct store_draft *get_draft(struct fx *f, uint64_t thread)
{
	struct store_draft *d = NULL;
	char *err = NULL;
	T_EQ_INT(review_current_draft(f->s, thread, &d, &err), 0);
	free(err);
	return d;
}

static struct store_draft *get_draft_by_id(struct store *s, uint64_t id)
{
	struct store_txn *t = begin(s, false);
	struct store_draft *d = NULL;
	T_EQ_INT(store_get_draft(t, id, &d), 0);
	store_abort(t);
	return d;
}

static struct store_thread *get_thread(struct fx *f, uint64_t id)
{
	struct store_txn *t = begin(f->s, false);
	struct store_thread *th = NULL;
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	store_abort(t);
	return th;
}

/* What ingest does when the customer writes again. */
static void mark_stale(struct fx *f, uint64_t draft)
{
	struct store_txn *t = begin(f->s, true);
	struct store_draft *d = NULL;
	T_EQ_INT(store_get_draft(t, draft, &d), 0);
	d->stale = true;
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
}

struct index_count {
	uint64_t draft;
	int64_t when;
	int n;
};

static int count_entry(int64_t when, uint64_t draft, void *arg)
{
	struct index_count *c = arg;
	if (draft == c->draft) {
		c->n++;
		c->when = when;
	}
	return 0;
}

static struct index_count index_entries(struct fx *f, enum store_index ix, uint64_t draft)
{
	struct index_count c = {draft, 0, 0};
	struct store_txn *t = begin(f->s, false);
	T_EQ_INT(store_foreach_index(t, ix, count_entry, &c), 0);
	store_abort(t);
	return c;
}

static struct review_agent agent(const char *login, const char *name)
{
	return (struct review_agent){
	    .login = xstrdup(login), .name = xstrdup(name), .os_user = xstrdup("osuser")};
}

/* Runs fn's listing into a string (caller frees). */
static char *queue_text(struct fx *f, bool json, bool all)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	struct view_options o = {.json = json, .now = (int64_t)time(NULL)};
	T_EQ_INT(review_queue(f->s, &o, all, 0, mf), 0);
	fclose(mf);
	return text;
}

static char *log_text(struct fx *f, uint64_t thread, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	struct view_options o = {.json = json, .now = (int64_t)time(NULL)};
	T_EQ_INT(review_log(f->s, thread, &o, mf), 0);
	fclose(mf);
	return text;
}

static char *show_text(struct fx *f, uint64_t thread, const struct review_agent *a, bool json)
{
	char *text = NULL, *err = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	struct view_options o = {.json = json, .now = (int64_t)time(NULL)};
	T_EQ_INT(review_show(f->s, thread, a, &o, mf, &err), 0);
	fclose(mf);
	free(err);
	return text;
}

static const char *os_login(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "?";
}

static void test_agent_resolution(void)
{
	struct config *c = config_defaults();
	struct review_agent a;
	char *err = NULL;
	unsetenv("TEND_AGENT");
	setenv("USER", "carol", 1);
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), 0);
	T_EQ_STR(a.login, "carol");
	T_EQ_STR(a.name, "carol");
	T_EQ_STR(a.os_user, os_login());
	review_agent_finish(&a);
	setenv("TEND_AGENT", "dave", 1);
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), 0);
	T_EQ_STR(a.login, "dave");
	review_agent_finish(&a);
	T_EQ_INT(review_agent_resolve(c, "erin", &a, &err), 0);
	T_EQ_STR(a.login, "erin");
	review_agent_finish(&a);
	unsetenv("TEND_AGENT");
	unsetenv("USER");
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), 0);
	T_EQ_STR(a.login, os_login());
	review_agent_finish(&a);
	T_EQ_INT(review_agent_resolve(c, "two words", &a, &err), -1);
	T_EQ_STR(err, "an agent login is one word of printable characters");
	free(err);
	err = NULL;
	review_agent_finish(NULL);
	config_free(c);
}

static void test_agents_list(void)
{
	struct config *c = config_defaults();
	c->path = xstrdup("/etc/tend/tend.yaml");
	add_agent(c, "alice", "Alice Smith");
	struct review_agent a;
	char *err = NULL;
	T_EQ_INT(review_agent_resolve(c, "alice", &a, &err), 0);
	T_EQ_STR(a.name, "Alice Smith");
	review_agent_finish(&a);
	T_EQ_INT(review_agent_resolve(c, "bob", &a, &err), -1);
	T_EQ_STR(err, "agent \"bob\" is not listed in agents in /etc/tend/tend.yaml");
	T_OK(a.login == NULL);
	free(err);
	err = NULL;
	/* An empty list lets nobody act: an operator who writes `agents: []` means it. */
	struct config *none = config_defaults();
	none->agents_listed = true;
	T_EQ_INT(review_agent_resolve(none, "alice", &a, &err), -1);
	T_CONTAINS(err, "agent \"alice\" is not listed in agents in tend.yaml");
	free(err);
	config_free(none);
	config_free(c);
}

/* Agents bound to OS users: nobody acts as another user's agent, however it is named. */
static void test_agents_bound(void)
{
	struct config *c = config_defaults();
	c->path = xstrdup("/etc/tend/tend.yaml");
	add_agent(c, "alice", "Alice Smith");
	bind_agent(c, "me", getuid());
	add_agent(c, "bob", "Bob");
	bind_agent(c, "someone", getuid() + 1);
	add_agent(c, "no-such-account", "Nobody");
	struct review_agent a;
	char *err = NULL;
	unsetenv("TEND_AGENT");
	unsetenv("USER");
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), 0);
	T_EQ_STR(a.login, "alice"); /* the caller's own agent, unnamed */
	review_agent_finish(&a);
	T_EQ_INT(review_agent_resolve(c, "alice", &a, &err), 0);
	review_agent_finish(&a);
	char *want = xasprintf("agent \"bob\" is bound to OS user someone in /etc/tend/tend.yaml, "
	                       "and you are %s",
	                       os_login());
	T_EQ_INT(review_agent_resolve(c, "bob", &a, &err), -1);
	T_EQ_STR(err, want);
	free(err);
	err = NULL;
	setenv("TEND_AGENT", "bob", 1);
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), -1);
	T_EQ_STR(err, want);
	free(err);
	free(want);
	err = NULL;
	unsetenv("TEND_AGENT");
	/* Without user:, an agent is bound to the account of its login's name. */
	T_EQ_INT(review_agent_resolve(c, "no-such-account", &a, &err), -1);
	T_CONTAINS(err, "agent \"no-such-account\" is bound to OS user no-such-account");
	free(err);
	err = NULL;
	/* The caller's agent is gone: no agent left to act as. */
	free(c->agents[0].user);
	c->agents[0].user = xstrdup("someone");
	c->agents[0].uid = getuid() + 1;
	T_EQ_INT(review_agent_resolve(c, NULL, &a, &err), -1);
	want = xasprintf("no agent in /etc/tend/tend.yaml is bound to OS user %s", os_login());
	T_EQ_STR(err, want);
	free(want);
	free(err);
	config_free(c);
}

static void test_show_draft(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 3600, true);
	uint64_t bare = add_thread(&f, "Thanks!", 0, false);
	char *out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "══ Draft: proposed");
	T_CONTAINS(out, "To: Anna <anna@example.com>\n");
	T_CONTAINS(out, "Subject: Re: Refund please [#1]\n");
	T_CONTAINS(out, "Answers: 1. refund\n");
	T_CONTAINS(out, "\n" BODY);
	T_OK(strstr(out, "wrote again") == NULL);
	free(out);
	out = show_text(&f, id, NULL, true);
	T_CONTAINS(out, "\"state\": \"proposed\"");
	T_CONTAINS(out, "\"stale\": false");
	T_CONTAINS(out, "\"parts\": [\n      \"refund\"\n    ]");
	T_CONTAINS(out, "\"previous_body\": null");
	T_CONTAINS(out, "\"email\": \"anna@example.com\"");
	free(out);
	out = show_text(&f, bare, NULL, false);
	T_CONTAINS(out, "\nNo draft.\n");
	free(out);
	out = show_text(&f, bare, NULL, true);
	T_CONTAINS(out, "\"draft\": null");
	free(out);
	char *err = NULL;
	struct view_options o = {.now = (int64_t)time(NULL)};
	T_EQ_INT(review_show(f.s, 99, NULL, &o, stdout, &err), STORE_NOTFOUND);
	T_EQ_STR(err, "no thread 99");
	free(err);
	fx_close(&f);
}

static void test_approve_refuses_stale_until_shown(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 3600, true);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	store_draft_free(d);
	mark_stale(&f, draft);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the customer wrote again after this draft was made; run `tend "
	              "show 1` first");
	free(err);
	err = NULL;
	/* Shown to nobody in particular: nothing changes. */
	char *out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "The customer wrote again after this draft was made: read the new message "
	                "above; the draft was rewritten.");
	free(out);
	d = get_draft(&f, id);
	T_OK(d->stale);
	store_draft_free(d);
	out = show_text(&f, id, &a, true);
	T_CONTAINS(out, "\"stale\": true");
	free(out);
	d = get_draft(&f, id);
	T_OK(!d->stale);
	T_OK(d->shown > 0);
	store_draft_free(d);
	out = log_text(&f, id, true);
	T_CONTAINS(out, "\"agent\":\"alice\",\"os_user\":\"osuser\",\"action\":\"show\"");
	free(out);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	T_OK(err == NULL);
	review_agent_finish(&a);
	fx_close(&f);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static void test_approve_moves_to_outbox(void)
{
	struct fx f = fx_open();
	add_account(f.c, "support", "support@Shop.example");
	int64_t deadline = (int64_t)time(NULL) + 7200;
	uint64_t id = add_thread(&f, "Refund please", deadline, true);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	store_draft_free(d);
	T_EQ_INT(index_entries(&f, STORE_INDEX_QUEUE, draft).n, 1);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL;
	int64_t before = (int64_t)time(NULL);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	d = get_draft(&f, id);
	T_EQ_INT(d->state, STORE_DRAFT_APPROVED);
	T_EQ_INT(d->queued, 0);
	T_OK(d->next_attempt >= before);
	T_EQ_STR(d->approved_by, "alice");
	T_OK(d->approved >= before);
	T_EQ_STR(d->body, "Hello Anna,\n\nYour refund is on its way.\n\nBest,\nAlice Smith\n");
	const char *prefix = "tend.1.1.";
	T_OK(d->message_id && strncmp(d->message_id, prefix, strlen(prefix)) == 0);
	T_OK(d->message_id &&
	     strlen(d->message_id) == strlen(prefix) + 16 + strlen("@shop.example"));
	T_OK(d->message_id && is_hex(d->message_id + strlen(prefix), 16));
	T_OK(d->message_id && strcmp(d->message_id + strlen(prefix) + 16, "@shop.example") == 0);
	store_draft_free(d);
	T_EQ_INT(index_entries(&f, STORE_INDEX_QUEUE, draft).n, 0);
	struct index_count ob = index_entries(&f, STORE_INDEX_OUTBOX, draft);
	T_EQ_INT(ob.n, 1);
	T_OK(ob.when >= before);
	char *q = queue_text(&f, true, true);
	T_EQ_STR(q, "[]\n");
	free(q);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the draft was approved by alice and is waiting to be sent; there "
	              "is nothing to approve");
	free(err);
	char *log = log_text(&f, 0, true);
	T_CONTAINS(log, "\"action\":\"approve\",\"thread\":1,\"draft\":1,\"detail\":\"Message-ID "
	                "<tend.1.1.");
	free(log);
	review_agent_finish(&a);
	fx_close(&f);
}

/* The Message-ID's domain: the thread's account, else the first account, else the host. */
static void test_message_id_domain(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Order", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL, host[256] = "";
	gethostname(host, sizeof(host) - 1);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	struct store_draft *d = get_draft(&f, id);
	const char *at = d->message_id ? strrchr(d->message_id, '@') : NULL;
	T_EQ_STR(at ? at + 1 : NULL, host);
	store_draft_free(d);

	add_account(f.c, "support", "support@shop.example");
	add_account(f.c, "sales", "sales@sales.example");
	id = add_thread(&f, "Order", 0, true);
	struct store_txn *t = begin(f.s, true);
	struct store_thread *th = NULL;
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	th->account = xstrdup("sales");
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	d = get_draft(&f, id);
	at = d->message_id ? strrchr(d->message_id, '@') : NULL;
	T_EQ_STR(at, "@sales.example");
	store_draft_free(d);

	/* The draft names the account that sends it: that one wins over the thread's. */
	id = add_thread(&f, "Order", 0, true);
	t = begin(f.s, true);
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	th->account = xstrdup("sales");
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_get_draft(t, th->draft, &d), 0);
	d->account = xstrdup("support");
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
	store_draft_free(d);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	d = get_draft(&f, id);
	at = d->message_id ? strrchr(d->message_id, '@') : NULL;
	T_EQ_STR(at, "@shop.example");
	store_draft_free(d);
	review_agent_finish(&a);
	fx_close(&f);
}

/* An edit by login, run by OS user os; NULL: a draft stored before drafts kept the OS user,
 * whose edit only the audit trail ties to one (audit_os; NULL: no audit entry either). */
static void set_last_editor(struct fx *f, uint64_t thread, const char *login, const char *os,
                            const char *audit_os)
{
	struct store_draft *d = get_draft(f, thread);
	struct store_txn *t = begin(f->s, true);
	d->edited = true;
	d->last_editor = xstrdup(login);
	d->last_editor_os = os ? xstrdup(os) : NULL;
	T_EQ_INT(store_put_draft(t, d), 0);
	struct store_audit e = {.time = 1,
	                        .agent = (char *)login,
	                        .os_user = (char *)audit_os,
	                        .action = "edit",
	                        .thread = thread,
	                        .draft = d->id};
	if (audit_os)
		T_EQ_INT(store_audit_append(t, &e), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
}

static void test_second_person(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	uint64_t other = add_thread(&f, "Refund again", 0, true);
	set_last_editor(&f, id, "alice", "osalice", NULL);
	set_last_editor(&f, other, "alice", "osalice", NULL);
	struct review_agent alice = agent("alice", "Alice"), bob = agent("bob", "Bob");
	char *err = NULL;
	f.c->review.require_second_person = true;
	T_EQ_INT(review_approve(f.s, f.c, id, &alice, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: alice made the last edit to this draft, and tend.yaml (review: "
	              "require_second_person) asks for someone else to approve it");
	free(err);
	err = NULL;
	/* bob, run by the OS user who edited as alice, is the same person. */
	free(bob.os_user);
	bob.os_user = xstrdup("osalice");
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), REVIEW_REFUSED);
	T_EQ_STR(err,
	         "thread 1: OS user osalice made the last edit to this draft (as agent alice), "
	         "and tend.yaml (review: require_second_person) asks for another person to "
	         "approve it, not another agent of the same OS user");
	free(err);
	err = NULL;
	free(bob.os_user);
	bob.os_user = xstrdup("osbob");
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), 0);
	f.c->review.require_second_person = false;
	T_EQ_INT(review_approve(f.s, f.c, other, &alice, &err), 0);
	T_OK(err == NULL);
	review_agent_finish(&alice);
	review_agent_finish(&bob);
	fx_close(&f);
}

/* A draft edited before drafts kept the OS user: the audit trail says who it was. */
static void test_second_person_old_record(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	uint64_t lost = add_thread(&f, "Refund again", 0, true);
	set_last_editor(&f, id, "alice", NULL, "osalice");
	set_last_editor(&f, lost, "alice", NULL, NULL);
	struct review_agent bob = agent("bob", "Bob");
	char *err = NULL;
	f.c->review.require_second_person = true;
	free(bob.os_user);
	bob.os_user = xstrdup("osalice");
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), REVIEW_REFUSED);
	T_CONTAINS(err, "OS user osalice made the last edit to this draft (as agent alice)");
	free(err);
	err = NULL;
	free(bob.os_user);
	bob.os_user = xstrdup("osbob");
	T_EQ_INT(review_approve(f.s, f.c, lost, &bob, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 2: the OS user who made the last edit to this draft is not recorded, "
	              "and tend.yaml (review: require_second_person) asks for another person to "
	              "approve it");
	free(err);
	err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), 0);
	review_agent_finish(&bob);
	fx_close(&f);
}

static void test_reject(void)
{
	struct fx f = fx_open();
	int64_t deadline = (int64_t)time(NULL) + 60;
	uint64_t id = add_thread(&f, "Refund please", deadline, true);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	store_draft_free(d);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	T_EQ_INT(review_reject(f.s, id, &a, " \n", false, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "a reason is required to reject a draft");
	free(err);
	err = NULL;
	T_EQ_INT(review_reject(f.s, id, &a, "  wrong customer, answered by phone ", false, &err),
	         0);
	T_EQ_INT(index_entries(&f, STORE_INDEX_QUEUE, draft).n, 0);
	d = get_draft_by_id(f.s, draft);
	T_EQ_INT(d->state, STORE_DRAFT_REJECTED);
	T_EQ_STR(d->reject_reason, "wrong customer, answered by phone");
	T_EQ_STR(d->body, BODY); /* the rejected text is kept with its draft */
	store_draft_free(d);
	/* an empty draft in its place, to the same customer, in the queue at the deadline */
	d = get_draft(&f, id);
	T_OK(d->id != draft);
	T_EQ_INT(d->state, STORE_DRAFT_PROPOSED);
	T_EQ_STR(d->body, "");
	T_EQ_STR(d->to.v[0].addr, "anna@example.com");
	T_EQ_STR(d->subject, "Re: Refund please [#1]");
	struct index_count ix = index_entries(&f, STORE_INDEX_QUEUE, d->id);
	T_EQ_INT(ix.n, 1);
	T_EQ_INT(ix.when, deadline);
	store_draft_free(d);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_INT(th->state, STORE_THREAD_OPEN);
	T_EQ_INT(th->deadline, deadline);
	store_thread_free(th);
	char *log = log_text(&f, id, true);
	T_CONTAINS(log, "\"action\":\"reject\",\"thread\":1,\"draft\":1,\"detail\":\"wrong "
	                "customer, answered by phone\"");
	free(log);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the draft is empty: write the reply with `tend edit 1`");
	free(err);
	err = NULL;
	/* with resolve: no draft, the conversation needs nothing more */
	T_EQ_INT(review_reject(f.s, id, &a, "spam", true, &err), 0);
	th = get_thread(&f, id);
	T_EQ_INT(th->state, STORE_THREAD_CLOSED);
	T_EQ_INT(th->draft, 0);
	T_EQ_INT(th->deadline, 0);
	T_EQ_STR(th->resolve_reason, "spam");
	store_thread_free(th);
	char *q = queue_text(&f, false, false);
	T_EQ_STR(q, "Nothing to review.\n");
	free(q);
	T_EQ_INT(review_reject(f.s, id, &a, "again", false, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1 has no draft to reject");
	free(err);
	review_agent_finish(&a);
	fx_close(&f);
}

static void test_resolve(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) - 60, true);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	store_draft_free(d);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	T_EQ_INT(review_resolve(f.s, id, &a, " answered by phone\n", &err), 0);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_INT(th->state, STORE_THREAD_CLOSED);
	T_EQ_INT(th->draft, 0);
	T_EQ_INT(th->deadline, 0);
	T_EQ_INT(th->clock_start, 0);
	T_EQ_INT(th->settled, th->messages.v[0]);
	T_EQ_STR(th->resolved_by, "alice");
	T_EQ_STR(th->resolve_reason, "answered by phone");
	store_thread_free(th);
	d = get_draft_by_id(f.s, draft);
	T_EQ_INT(d->state, STORE_DRAFT_REJECTED);
	T_EQ_STR(d->reject_reason, "the conversation was resolved");
	store_draft_free(d);
	T_EQ_INT(index_entries(&f, STORE_INDEX_QUEUE, draft).n, 0);
	char *log = log_text(&f, id, true);
	T_CONTAINS(log, "\"action\":\"resolve\",\"thread\":1,\"draft\":1,\"detail\":\"answered "
	                "by phone\"");
	free(log);
	char *show = show_text(&f, id, NULL, false);
	T_CONTAINS(show, "State: resolved");
	T_CONTAINS(show, "Resolved by alice");
	T_CONTAINS(show, ": answered by phone\n");
	free(show);
	T_EQ_INT(review_resolve(f.s, id, &a, NULL, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1 is resolved already");
	free(err);
	review_agent_finish(&a);
	fx_close(&f);
}

static void test_approve_needs_recipient(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 60, true);
	struct store_txn *t = begin(f.s, true);
	struct store_draft *d = NULL;
	T_EQ_INT(store_get_draft(t, 1, &d), 0);
	free(d->to.v[0].name);
	free(d->to.v[0].addr);
	d->to.n = 0;
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the draft has no recipient, and tend cannot set one yet: reach "
	              "the customer another way, then `tend resolve 1`");
	free(err);
	review_agent_finish(&a);
	fx_close(&f);
}

static void test_snooze(void)
{
	struct fx f = fx_open();
	int64_t deadline = (int64_t)time(NULL) + 7200;
	uint64_t id = add_thread(&f, "Refund please", deadline, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	T_EQ_INT(review_snooze(f.s, id, &a, 3600, &err), 0);
	struct store_draft *d = get_draft(&f, id);
	T_OK(d->snoozed_until >= (int64_t)time(NULL) + 3590);
	struct index_count qc = index_entries(&f, STORE_INDEX_QUEUE, d->id);
	T_EQ_INT(qc.n, 1);
	T_EQ_INT(qc.when, deadline);
	store_draft_free(d);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_INT(th->deadline, deadline);
	store_thread_free(th);
	char *q = queue_text(&f, true, false);
	T_EQ_STR(q, "[]\n");
	free(q);
	q = queue_text(&f, false, false);
	T_EQ_STR(q, "Nothing to review.\n(1 snoozed draft not shown: `tend queue --all` lists "
	            "it.)\n");
	free(q);
	q = queue_text(&f, true, true);
	T_CONTAINS(q, "\"thread\":1,");
	T_OK(strstr(q, "\"snoozed_until\":null") == NULL);
	free(q);
	q = queue_text(&f, false, true);
	T_CONTAINS(q, "[snoozed until ");
	free(q);
	char *log = log_text(&f, id, false);
	T_CONTAINS(log, "  snooze  #1  for 1h, until ");
	free(log);
	T_EQ_INT(review_snooze(f.s, id, &a, 0, &err), 0);
	q = queue_text(&f, true, false);
	T_CONTAINS(q, "\"snoozed_until\":null");
	free(q);
	review_agent_finish(&a);
	fx_close(&f);
}

static void test_queue_order_and_fields(void)
{
	struct fx f = fx_open();
	int64_t now = (int64_t)time(NULL);
	add_thread(&f, "Later", now + 5 * 3600 + 60, true);
	add_thread(&f, "Overdue", now - 2 * 3600 - 60, true);
	add_thread(&f, "Soon", now + 25 * 60 + 30, true);
	add_thread(&f, "No draft", now - 9000, false);
	char *q = queue_text(&f, true, false);
	const char *p2 = strstr(q, "{\"thread\":2,"), *p3 = strstr(q, "{\"thread\":3,"),
	           *p1 = strstr(q, "{\"thread\":1,");
	T_OK(p1 && p2 && p3 && p2 < p3 && p3 < p1);
	T_OK(strstr(q, "\"thread\":4,") == NULL);
	T_CONTAINS(q, "{\"thread\":2,\"due\":\"");
	T_CONTAINS(q, "\"priority\":\"high\",\"tags\":[\"refund\"],\"customer\":{\"name\":\"Anna\","
	              "\"email\":\"anna@example.com\"},\"subject\":\"Overdue\",\"stale\":false,"
	              "\"draft\":2,\"assignee\":null,\"snoozed_until\":null");
	free(q);
	q = queue_text(&f, false, false);
	/* tags and customer as wide as their widest cell; the customer's name, not address */
	T_CONTAINS(q, "ID  DUE            PRI     TAGS    CUSTOMER  SUBJECT\n"
	              " 2  overdue 2 h    high    refund  Anna      Overdue\n"
	              " 3  in 25 min      high    refund  Anna      Soon\n"
	              " 1  in 5 h         high    refund  Anna      Later\n");
	T_OK(strstr(q, "\033[") == NULL);
	free(q);
	fx_close(&f);
}

static void test_assign(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	add_agent(f.c, "alice", "Alice");
	add_agent(f.c, "bob", "Bob");
	T_EQ_INT(review_assign(f.s, f.c, id, &a, "bob", &err), 0);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_STR(th->assignee, "bob");
	store_thread_free(th);
	char *q = queue_text(&f, false, false);
	T_CONTAINS(q, "[@bob]");
	free(q);
	T_EQ_INT(review_assign(f.s, f.c, id, &a, "mallory", &err), REVIEW_REFUSED);
	T_CONTAINS(err, "agent \"mallory\" is not listed in agents in ");
	free(err);
	err = NULL;
	T_EQ_INT(review_assign(f.s, f.c, id, &a, "-", &err), 0);
	th = get_thread(&f, id);
	T_OK(th->assignee == NULL);
	store_thread_free(th);
	struct idvec ids = {0};
	struct review_filter bobs = {.assignee = "bob", .priority = -1};
	struct review_filter none = {.assignee = "-", .priority = -1};
	/* assigned to nobody again: only "-" keeps it */
	T_EQ_INT(review_queue_threads(f.s, (int64_t)time(NULL), false, &bobs, &ids), 0);
	T_OK(ids.n == 0);
	T_EQ_INT(review_queue_threads(f.s, (int64_t)time(NULL), false, &none, &ids), 0);
	T_OK(ids.n == 1 && ids.v[0] == id);
	idvec_free(&ids);
	char *log = log_text(&f, id, false);
	T_CONTAINS(log, "  assign  #1  bob\n");
	T_CONTAINS(log, "  assign  #1  (nobody)\n");
	free(log);
	review_agent_finish(&a);
	fx_close(&f);
}

/* A claim refuses another agent's approval until forced, and ends with the approval. */
static void test_claim(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent alice = agent("alice", "Alice"), bob = agent("bob", "Bob");
	char *err = NULL;
	T_EQ_INT(review_claim(f.s, f.c, id, &alice, "take", &err), 0);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_STR(th->claim_agent, "alice");
	T_OK(th->claim_until - th->claim_since == 15 * 60);
	char *text = view_claim_text(th, th->claim_since + 4 * 60 + 30);
	T_EQ_STR(text, "alice is on it (4 min)");
	free(text);
	T_OK(view_claim_text(th, th->claim_until) == NULL); /* lapsed */
	store_thread_free(th);
	char *q = queue_text(&f, false, false);
	T_CONTAINS(q, "[alice is on it (1 min)]");
	free(q);
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), REVIEW_REFUSED);
	T_CONTAINS(err, "thread 1: alice is on it (1 min), since ");
	T_CONTAINS(err, "; to approve it all the same, add --force");
	free(err);
	err = NULL;
	T_EQ_INT(review_claim(f.s, f.c, id, &bob, "take", &err), REVIEW_REFUSED);
	free(err);
	err = NULL;
	bob.force = true;
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), 0);
	th = get_thread(&f, id);
	T_OK(th->claim_agent == NULL); /* approving ends it */
	store_thread_free(th);
	char *log = log_text(&f, id, false);
	T_CONTAINS(log, "  force    #1  approve with --force, over this claim: alice is on it");
	free(log);
	review_agent_finish(&alice);
	review_agent_finish(&bob);
	fx_close(&f);
}

/* A lapsed claim refuses nobody; review.claim_for sets how long one holds. */
static void test_claim_lapses(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent alice = agent("alice", "Alice"), bob = agent("bob", "Bob");
	char *err = NULL;
	f.c->review.claim_for = 60;
	T_EQ_INT(review_claim(f.s, f.c, id, &alice, "edit", &err), 0);
	struct store_txn *t = begin(f.s, true);
	struct store_thread *th = NULL;
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	T_OK(th->claim_until - th->claim_since == 60);
	th->claim_since -= 120;
	th->claim_until -= 120; /* as if taken two minutes ago */
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
	T_EQ_INT(review_release(f.s, id, &alice, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: nobody is on it");
	free(err);
	err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &bob, &err), 0);
	review_agent_finish(&alice);
	review_agent_finish(&bob);
	fx_close(&f);
}

/* The audit names the OS user beside the agent; the human log says "(as USER)". */
static void test_audit_os_user(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a;
	char *err = NULL;
	T_EQ_INT(review_agent_resolve(f.c, "someone-else", &a, &err), 0);
	T_EQ_INT(review_snooze(f.s, id, &a, 60, &err), 0);
	char *log = log_text(&f, 0, true);
	char *want = xasprintf(
	    "\"agent\":\"someone-else\",\"os_user\":\"%s\",\"action\":\"snooze\"", os_login());
	T_CONTAINS(log, want);
	free(want);
	free(log);
	log = log_text(&f, 0, false);
	want = xasprintf("  someone-else (as %s)  snooze  #1  for 1m, until ", os_login());
	T_CONTAINS(log, want);
	free(want);
	free(log);
	review_agent_finish(&a);
	struct view_options o = {.now = (int64_t)time(NULL)};
	T_EQ_INT(review_log(f.s, 42, &o, stdout), STORE_NOTFOUND);
	fx_close(&f);
}

/* Sets EDITOR (and clears VISUAL) for the next review_edit. */
static void use_editor(const char *cmd)
{
	unsetenv("VISUAL");
	setenv("EDITOR", cmd, 1);
}

/* Runs tend edit with an editor that changes nothing; returns the file it was given. */
static char *edit_unchanged(struct fx *f, uint64_t id, const struct review_agent *a)
{
	char *err = NULL, *cmd = xasprintf("cp \"$1\" '%s/seen'; :", f->dir);
	use_editor(cmd);
	free(cmd);
	T_EQ_INT(review_edit(f->s, f->c, id, a, &err), REVIEW_UNCHANGED);
	free(err);
	char *path = xasprintf("%s/seen", f->dir), *seen = NULL;
	size_t n;
	T_EQ_INT(read_file(path, &seen, &n), 0);
	free(path);
	return seen;
}

static void test_edit(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	char *copy = xasprintf("cp \"$1\" '%s/seen'; stat -c %%a \"$1\" > '%s/mode'; sed -i "
	                       "s/Hello/Hi/",
	                       f.dir, f.dir);
	use_editor(copy);
	free(copy);
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), 0);
	T_OK(err == NULL);
	struct store_draft *d = get_draft(&f, id);
	T_EQ_STR(d->body, "Hi Anna,\n\nYour refund is on its way.\n\nBest,\n{{agent.name}}\n");
	T_OK(d->edited);
	T_EQ_STR(d->last_editor, "alice");
	T_EQ_STR(d->last_editor_os, "osuser");
	store_draft_free(d);
	char *path = xasprintf("%s/seen", f.dir), *seen = NULL, *mode = NULL;
	size_t n;
	T_EQ_INT(read_file(path, &seen, &n), 0);
#define HEAD "To: Anna <anna@example.com>\nCc:\n\n"
	T_OK(seen && strncmp(seen, HEAD BODY REVIEW_SCISSORS "\n",
	                     strlen(HEAD BODY REVIEW_SCISSORS) + 1) == 0);
#undef HEAD
	T_CONTAINS(seen, REVIEW_SCISSORS
	           "\n# Do not modify or remove the line above.\n"
	           "# Everything below it is ignored: it is here to help you write the reply.\n"
	           "#\n# The customer's latest message, from Anna <anna@example.com>, ");
	T_CONTAINS(seen, ":\n#\n# Where is my refund for order 12345?\n");
	free(path);
	path = xasprintf("%s/mode", f.dir);
	T_EQ_INT(read_file(path, &mode, &n), 0);
	T_EQ_STR(mode, "600\n");
	char *log = log_text(&f, id, true);
	T_CONTAINS(log,
	           "\"action\":\"edit\",\"thread\":1,\"draft\":1,\"detail\":\"--- before\\n+++ "
	           "after\\n@@ -1,4 +1,4 @@\\n-Hello Anna,\\n+Hi Anna,\\n \\n");
	free(log);
	free(path);
	free(seen);
	free(mode);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* An editor that leaves the file alone saves nothing and records nothing. */
static void test_edit_unchanged(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	use_editor("true");
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_UNCHANGED);
	/* Trailing blank lines are not a change either. */
	use_editor("sed -i 's/^{{agent.name}}$/&\\n\\n  /'");
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_UNCHANGED);
	T_OK(err == NULL);
	struct store_draft *d = get_draft(&f, id);
	T_OK(!d->edited);
	store_draft_free(d);
	char *log = log_text(&f, id, false);
	T_EQ_STR(log, "Nothing recorded for thread 1 yet.\n");
	free(log);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* Emptying the reply, a failing editor, a lost scissors line: nothing is saved. */
static void test_edit_aborts(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	use_editor("sed -i '1,/^# ---/{/^# ---/!s/.*/ /}'");
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "empty draft: edit aborted; the draft is unchanged");
	free(err);
	err = NULL;
	use_editor("sed -i s/Hello/Hi/ \"$1\"; exit 3; :");
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_CONTAINS(err, ") exited with status 3: nothing was saved");
	free(err);
	err = NULL;
	use_editor("sed -i '/>8/d'");
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_CONTAINS(err, "the scissors line is gone from ");
	T_CONTAINS(err, "nothing was saved (the file is kept)");
	free(err);
	err = NULL;
	struct store_draft *d = get_draft(&f, id);
	T_EQ_STR(d->body, BODY);
	T_OK(!d->edited);
	store_draft_free(d);
	char *log = log_text(&f, id, false);
	T_EQ_STR(log, "Nothing recorded for thread 1 yet.\n");
	free(log);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/*
 * The "editor" of test_edit_conflict: this program, run with TEST_REVIEW_BUMP=STORE:DRAFT,
 * changes the draft as ingest would while an agent's editor is open, then exits.
 */
__attribute__((constructor)) static void bump_draft(void)
{
	const char *spec = getenv("TEST_REVIEW_BUMP");
	if (spec == NULL)
		return;
	char *dir = xstrdup(spec), *colon = strrchr(dir, ':');
	*colon = '\0';
	struct store *s = NULL;
	char *err = NULL;
	struct store_txn *t = NULL;
	struct store_draft *d = NULL;
	if (store_open(dir, NULL, &s, &err) < 0 || store_begin(s, true, &t) < 0 ||
	    store_get_draft(t, strtoull(colon + 1, NULL, 10), &d) < 0)
		_exit(98);
	free(d->body);
	d->body = xstrdup("Regenerated after the customer wrote again.\n");
	d->updated++;
	d->stale = true;
	if (store_put_draft(t, d) < 0 || store_commit(t) < 0)
		_exit(98);
	store_close(s);
	_exit(0);
}

static void test_edit_conflict(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL, self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *cmd =
	    xasprintf("sed -i s/Hello/Hi/ \"$1\"; TEST_REVIEW_BUMP='%s:1' '%s'", f.store_dir, self);
	use_editor(cmd);
	free(cmd);
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_CONTAINS(err, "thread 1: the draft changed while you were editing it; nothing was saved "
	                "(your text is in ");
	const char *p = err ? strstr(err, "(your text is in ") : NULL;
	if (p) {
		char *path = xstrndup(p + 17, strlen(p + 17) - 1), *text = NULL;
		size_t len;
		T_EQ_INT(read_file(path, &text, &len), 0);
		T_CONTAINS(text, "Hi Anna,");
		free(text);
		free(path);
	}
	free(err);
	err = NULL;
	struct store_draft *d = get_draft(&f, id);
	T_EQ_STR(d->body, "Regenerated after the customer wrote again.\n");
	T_OK(!d->edited);
	store_draft_free(d);
	/* A file that comes back unchanged saves nothing, whatever happened meanwhile. */
	char *spec = xasprintf("%s:1", f.store_dir);
	setenv("TEST_REVIEW_BUMP", spec, 1);
	use_editor(self);
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_UNCHANGED);
	unsetenv("TEST_REVIEW_BUMP");
	free(spec);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* Only a proposed draft can be edited; the reference shows an agent's earlier edit. */
static void test_edit_states(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", 0, true);
	struct review_agent a = agent("alice", "Alice");
	char *err = NULL;
	struct store_draft *d = get_draft(&f, id);
	struct store_txn *t = begin(f.s, true);
	d->previous_body = xstrdup("My own words.\n");
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
	char *seen = edit_unchanged(&f, id, &a);
	T_CONTAINS(seen, "#\n# Your earlier edit, from before the customer wrote again:\n#\n"
	                 "# My own words.\n");
	free(seen);
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	T_EQ_INT(review_edit(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the draft was approved by alice and is waiting to be sent; there "
	              "is nothing to edit");
	free(err);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* OSC 52, SGR 8, CSI as U+009B, BEL; then a raw 0x9b byte that is not UTF-8. */
#define HOSTILE_UTF8                                                                               \
	"\x1b]52;c;ZXZpbA==\x07\x1b[8m\xc2\x9b"                                                    \
	"2J"
#define HOSTILE HOSTILE_UTF8 "\x9b!"

/* Text a terminal shows as it is: UTF-8 without a control but line feed and tab. */
static bool terminal_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (!utf8_valid(s, strlen(s)))
		return false;
	for (; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return false;
	return true;
}

/*
 * A thread as a store written before the parser removed control characters can hold it; its
 * draft proposed, or (failed) refused by the server.
 */
static uint64_t add_hostile_thread(struct fx *f, bool failed)
{
	uint64_t id = add_thread(f, "Refund " HOSTILE " please", (int64_t)time(NULL) + 3600, true);
	struct store_txn *t = begin(f->s, true);
	struct store_thread *th = NULL;
	struct store_message *m = NULL;
	struct store_draft *d = NULL;
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	free(th->customer.name);
	th->customer.name = xstrdup("Anna " HOSTILE);
	strvec_push(&th->bounced, "anna" HOSTILE "@example.com");
	th->bounce_detail = xstrdup("550 " HOSTILE);
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_get_message(t, th->messages.v[0], &m), 0);
	struct message_attachment att = {"invoice" HOSTILE ".pdf", "application/pdf", 4};
	struct message_attachment *was = m->attachments;
	size_t nwas = m->nattachments;
	m->attachments = &att;
	m->nattachments = 1;
	char *subject = m->subject, *text = m->text, *detail = m->join_detail, *name = m->from.name;
	m->subject = "Refund " HOSTILE;
	m->from.name = "Anna " HOSTILE;
	m->text = "Line one " HOSTILE "\nline two\r\n";
	m->join_detail = "References <" HOSTILE "@example.com>";
	T_EQ_INT(store_put_message(t, m), 0);
	m->attachments = was; /* the record's own fields back, to be freed */
	m->nattachments = nwas;
	m->subject = subject;
	m->text = text;
	m->join_detail = detail;
	m->from.name = name;
	T_EQ_INT(store_get_draft(t, th->draft, &d), 0);
	free(d->body);
	d->body = xstrdup("Hello Anna " HOSTILE_UTF8 ",\n\nYour refund.\n"); /* edit wants UTF-8 */
	if (failed) {
		d->state = STORE_DRAFT_FAILED;
		d->approved = (int64_t)time(NULL) - 60;
		d->error = xstrdup("550 " HOSTILE);
	}
	T_EQ_INT(store_put_draft(t, d), 0);
	struct store_audit a = {.time = (int64_t)time(NULL),
	                        .agent = "tendd",
	                        .action = "bounce",
	                        .thread = id,
	                        .detail = "mail to anna bounced: 550 " HOSTILE};
	T_EQ_INT(store_audit_append(t, &a), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
	store_message_free(m);
	store_draft_free(d);
	return id;
}

/* `tend threads` and `tend outbox --all`, one after the other. */
static char *threads_and_outbox(struct fx *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);
	struct view_options o = {.now = (int64_t)time(NULL)};
	struct store_txn *t = begin(f->s, false);
	T_EQ_INT(view_threads(t, &o, mf), 0);
	store_abort(t);
	T_EQ_INT(outbox_list(f->s, &o, true, mf), 0);
	fclose(mf);
	return text;
}

/* Records that hold escape sequences are printed with them escaped, in every listing. */
static void test_old_records_escaped(void)
{
	struct fx f = fx_open();
	uint64_t id = add_hostile_thread(&f, true);
	struct review_agent a = agent("alice", "Alice");
	char *show = show_text(&f, id, &a, false), *queue = queue_text(&f, false, true);
	char *log = log_text(&f, 0, false), *lists = threads_and_outbox(&f);
	const char *esc = "\\x1b]52;c;ZXZpbA==\\x07\\x1b[8m\\u009b2J\\x9b!";
	T_CONTAINS(show,
	           "Thread 1: Refund \\x1b]52;c;ZXZpbA==\\x07\\x1b[8m\\u009b2J\\x9b! please\n");
	T_CONTAINS(show, "Customer: Anna \\x1b]52;");
	T_CONTAINS(show, "Bounced: mail to anna\\x1b]52;");
	T_CONTAINS(show, "Attachment 1: invoice\\x1b]52;");
	T_CONTAINS(show, "Joined: ");
	T_CONTAINS(show,
	           "Line one \\x1b]52;c;ZXZpbA==\\x07\\x1b[8m\\u009b2J\\x9b!\nline two\\x0d\n");
	T_CONTAINS(show, "Hello Anna \\x1b]52;");
	T_CONTAINS(show, "Sending failed: 550 \\x1b]52;");
	T_CONTAINS(queue, "not sent: 550 \\x1b]52;");
	T_CONTAINS(log, "bounced: 550 \\x1b]52;");
	T_CONTAINS(lists, "Refund \\x1b]52;");
	T_CONTAINS(lists, "        550 \\x1b]52;"); /* the outbox's error line */
	T_CONTAINS(show, esc);
	const char *outs[] = {show, queue, log, lists};
	for (size_t i = 0; i < NELEM(outs); i++)
		if (!terminal_safe(outs[i]))
			T_FAIL("listing %zu holds a control character:\n%s", i, outs[i]);
	free(show);
	free(queue);
	free(log);
	free(lists);
	review_agent_finish(&a);
	fx_close(&f);
}

/* What the editor shows below the scissors quotes the customer: escaped too. */
static void test_edit_reference_escaped(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_hostile_thread(&f, false);
	struct review_agent a = agent("alice", "Alice");
	char *seen = edit_unchanged(&f, id, &a);
	const char *ref = seen ? strstr(seen, REVIEW_SCISSORS) : NULL;
	T_OK(ref && terminal_safe(ref));
	T_CONTAINS(ref, "# The customer's latest message, from Anna \\x1b]52;c;ZXZpbA==\\x07");
	T_CONTAINS(ref, "# Line one \\x1b]52;c;ZXZpbA==\\x07\\x1b[8m\\u009b2J\\x9b!\n# line two");
	free(seen);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* How many files named tend-note-* the editor flow left in dir. */
static int note_files(const char *dir)
{
	char *cmd = xasprintf("ls '%s' | grep -c '^tend-note-'", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	free(cmd);
	return n;
}

static void expect_refused(struct fx *f, uint64_t id, const char *text, const char *why)
{
	struct review_agent a = agent("bob", "Bob");
	char *err = NULL;
	T_EQ_INT(review_note(f->s, id, &a, text, &err), REVIEW_REFUSED);
	T_EQ_STR(err, why);
	free(err);
	review_agent_finish(&a);
}

/* A note is shown in the conversation, escaped, and audited; the draft never has it. */
static void test_note(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 3600, true);
	struct review_agent a = agent("bob", "Bob");
	char *err = NULL;
	T_EQ_INT(review_note(f.s, id, &a, "Called her " HOSTILE_UTF8 ": NOTE-7731\n\n", &err), 0);
	T_OK(err == NULL);
	char *out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "\n── 2 ── Internal note by bob · ");
	T_CONTAINS(out, " (never sent)\n\nCalled her \\x1b]52;c;ZXZpbA==\\x07\\x1b[8m\\u009b2J: "
	                "NOTE-7731\n\n══ Draft: proposed");
	T_OK(terminal_safe(out));
	free(out);
	out = show_text(&f, id, NULL, true);
	T_CONTAINS(out, "\"kind\": \"note\",");
	T_CONTAINS(out, "\"agent\": \"bob\",\n      \"os_user\": \"osuser\",");
	T_CONTAINS(out, "NOTE-7731\"");
	free(out);
	out = log_text(&f, id, false);
	T_CONTAINS(out, "  note    #1  Called her \\x1b]52;");
	T_OK(terminal_safe(out));
	free(out);
	out = log_text(&f, id, true);
	T_CONTAINS(out, "\"agent\":\"bob\",\"os_user\":\"osuser\",\"action\":\"note\"");
	free(out);
	struct store_draft *d = get_draft(&f, id);
	T_EQ_STR(d->body, BODY);
	store_draft_free(d);

	use_editor("sed -i '1i Second note, from the editor'");
	T_EQ_INT(review_note_edit(f.s, id, &a, &err), 0);
	out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "\n── 3 ── Internal note by bob · ");
	T_CONTAINS(out, "(never sent)\n\nSecond note, from the editor\n\n══ Draft");
	free(out);
	use_editor("true");
	T_EQ_INT(review_note_edit(f.s, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "empty note: nothing was saved");
	free(err);
	err = NULL;
	T_EQ_INT(note_files(f.dir), 0);
	struct store_thread *th = get_thread(&f, id);
	T_EQ_INT(th->notes.n, 2);
	store_thread_free(th);

	expect_refused(&f, id, " \n\t", "empty note: nothing was saved");
	expect_refused(&f, id, "caf\xe9", "the note is not UTF-8 text: nothing was saved");
	char *big = xcalloc(REVIEW_NOTE_MAX + 2, 1);
	memset(big, 'x', REVIEW_NOTE_MAX + 1);
	expect_refused(&f, id, big,
	               "a note holds at most 100000 bytes, and this one has 100001: nothing was "
	               "saved");
	free(big);
	T_EQ_INT(review_note(f.s, 99, &a, "hello", &err), STORE_NOTFOUND);
	T_EQ_STR(err, "no thread 99");
	free(err);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* The customer writes again after our reply: a new message, and a new draft for it. */
static void follow_up(struct fx *f, uint64_t id)
{
	struct store_txn *t = begin(f->s, true);
	struct store_thread *th = NULL;
	uint64_t msg, draft;
	T_EQ_INT(store_get_thread(t, id, &th), 0);
	put_message(t, id, &msg);
	struct store_message *m = NULL;
	T_EQ_INT(store_get_message(t, msg, &m), 0);
	m->received = (int64_t)time(NULL) + 60; /* after our reply */
	T_EQ_INT(store_put_message(t, m), 0);
	store_message_free(m);
	T_EQ_INT(store_next_id(t, STORE_COUNTER_DRAFT, &draft), 0);
	put_draft(t, id, draft, msg, 0);
	idvec_push(&th->messages, msg);
	th->draft = draft;
	th->state = STORE_THREAD_OPEN;
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
}

/* A reply the server accepted is part of the conversation, marked as ours, as it was sent. */
static void test_sent_reply_shown(void)
{
	struct fx f = fx_open();
	setenv("TMPDIR", f.dir, 1);
	add_account(f.c, "support", "support@shop.example");
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 3600, true);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	store_draft_free(d);
	int64_t now = (int64_t)time(NULL);
	T_EQ_INT(outbox_record_sent(f.s, draft, now, "250 2.0.0 Ok: queued as 42", true, true, now),
	         0);
	struct store_thread *th = get_thread(&f, id);
	T_OK(th->sent.n == 1 && th->sent.v[0] == draft);
	T_EQ_INT(th->state, STORE_THREAD_ANSWERED);
	store_thread_free(th);
	char *out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "\n── 2 ── Our reply, approved by alice, accepted by the server ");
	T_CONTAINS(out, " (250 2.0.0 Ok: queued as 42)\nMessage-ID: <tend.1.1.");
	T_CONTAINS(out,
	           "To: Anna <anna@example.com>\nSubject: Re: Refund please [#1]\n\n"
	           "Hello Anna,\n\nYour refund is on its way.\n\nBest,\nAlice Smith\n\nNo draft.");
	free(out);
	out = show_text(&f, id, NULL, true);
	T_CONTAINS(out, "\"kind\": \"reply\",");
	T_CONTAINS(out, "\"agent\": \"alice\",");
	T_CONTAINS(out,
	           "\"body\": \"Hello Anna,\\n\\nYour refund is on its way.\\n\\nBest,\\nAlice "
	           "Smith\\n\",");
	T_CONTAINS(out, "\"server_reply\": \"250 2.0.0 Ok: queued as 42\"");
	free(out);

	follow_up(&f, id);
	char *seen = edit_unchanged(&f, id, &a);
	T_CONTAINS(seen, "#\n# Our latest reply, approved by alice, sent ");
	T_CONTAINS(seen,
	           ":\n#\n# Hello Anna,\n#\n# Your refund is on its way.\n#\n# Best,\n# Alice "
	           "Smith\n");
	free(seen);
	out = show_text(&f, id, NULL, false);
	T_CONTAINS(out, "Alice Smith\n\n── 3 ── Anna <anna@example.com>");
	free(out);
	review_agent_finish(&a);
	unsetenv("TMPDIR");
	fx_close(&f);
}

/* `tend outbox --json` carries what each message says. */
static void test_outbox_json_body(void)
{
	struct fx f = fx_open();
	add_account(f.c, "support", "support@shop.example");
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 3600, true);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL, *text = NULL;
	size_t len = 0;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	FILE *mf = open_memstream(&text, &len);
	struct view_options o = {.json = true, .now = (int64_t)time(NULL)};
	T_EQ_INT(outbox_list(f.s, &o, true, mf), 0);
	fclose(mf);
	T_CONTAINS(text, "\"kind\":\"reply\",\"body\":\"Hello Anna,\\n\\nYour refund is on its "
	                 "way.\\n\\nBest,\\nAlice Smith\\n\"");
	free(text);
	review_agent_finish(&a);
	fx_close(&f);
}

/* The recipients' block: names that need quotes get them, and what is written reads back. */
static void test_recipients_block(void)
{
	struct message_addr to[] = {{"Doe, Jane \"JD\"", "jane@example.org"},
	                            {"Jürgen Groß", "j@example.de"},
	                            {"Eve\r\nBcc: x@example.com", "eve@example.com"},
	                            {NULL, "bob@example.net"}};
	struct store_draft d = {0};
	d.to.v = to;
	d.to.n = 4;
	char *block = review_recipients_block(&d), *err = NULL;
	T_EQ_STR(block, "To: \"Doe, Jane \\\"JD\\\"\" <jane@example.org>, Jürgen Groß "
	                "<j@example.de>, \"Eve Bcc: x@example.com\" <eve@example.com>, "
	                "bob@example.net\nCc:\n");
	char *text = xasprintf("%s\nHello\n", block);
	struct review_header h;
	T_EQ_INT(review_header_split(text, &h, &err), 0);
	T_EQ_STR(h.block, block);
	T_EQ_STR(h.body, "Hello\n");
	T_EQ_INT(review_header_read(&h, NULL, &err), 0);
	T_EQ_INT(h.to.n, 4);
	T_EQ_INT(h.cc.n, 0);
	for (size_t i = 0; i < h.to.n && i < 4; i++)
		T_EQ_STR(h.to.v[i].addr, to[i].addr);
	T_EQ_STR(h.to.v[0].name, "Doe, Jane \"JD\"");
	T_EQ_STR(h.to.v[1].name, "Jürgen Groß");
	T_EQ_STR(h.to.v[2].name, "Eve Bcc: x@example.com");
	T_OK(h.to.v[3].name == NULL);
	review_header_finish(&h);
	free(text);
	/* folded lines and several Cc: lines add up; a header block without a text is fine */
	T_EQ_INT(review_header_split("cc: a@example.org,\n\tb@example.org\nTO: c@example.org\n"
	                             "Cc: d@example.org",
	                             &h, &err),
	         0);
	T_EQ_STR(h.body, "");
	T_EQ_INT(review_header_read(&h, NULL, &err), 0);
	T_EQ_INT(h.to.n, 1);
	T_EQ_INT(h.cc.n, 3);
	T_EQ_STR(h.cc.v[1].addr, "b@example.org");
	T_EQ_STR(h.cc.v[2].addr, "d@example.org");
	review_header_finish(&h);
	T_EQ_INT(
	    review_header_split("To: a@example.org\nReply-To: e@example.org\n\nHi\n", &h, &err),
	    REVIEW_REFUSED);
	T_EQ_STR(err, "line 2, \"Reply-To: e@example.org\", is not a To: or Cc: line: only the "
	              "recipients can be changed there");
	free(err);
	free(block);
}

/* Replaces the draft's body as an edit would (or as a template left it). */
static void set_body(struct fx *f, uint64_t thread, const char *body)
{
	struct store_draft *d = get_draft(f, thread);
	struct store_txn *t = begin(f->s, true);
	free(d->body);
	d->body = xstrdup(body);
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
}

/* Approval of a body: REVIEW_REFUSED with the reason in *err, or 0. */
static int approve_body(struct fx *f, const char *body, char **err)
{
	uint64_t id = add_thread(f, "Refund please", (int64_t)time(NULL) + 7200, true);
	set_body(f, id, body);
	struct review_agent a = agent("alice", "Alice Smith");
	*err = NULL;
	int rc = review_approve(f->s, f->c, id, &a, err);
	review_agent_finish(&a);
	return rc;
}

static void expect_refusal(struct fx *f, const char *body, const char *want)
{
	char *err = NULL;
	T_EQ_INT(approve_body(f, body, &err), REVIEW_REFUSED);
	T_EQ_STR(err, want);
	free(err);
}

/* Template markers and placeholders left in the text are refused, quoted safely with their
 * line; the signature marker and the customer's quoted words are not. */
static void test_approve_refuses_holes(void)
{
	struct fx f = fx_open();
	expect_refusal(&f, "Hi {{customer.first_name}},\n",
	               "thread 1: line 1 of the draft still holds the template marker "
	               "\"{{customer.first_name}}\": write the text in its place with `tend edit "
	               "1`");
	expect_refusal(&f, "Hi,\n\nIt costs \xc2\xa3{{price}}.\n",
	               "thread 2: line 3 of the draft still holds the template marker "
	               "\"{{price}}\": write the text in its place with `tend edit 2`");
	expect_refusal(&f, "Hi,\n{{#vip}}Thanks for being with us.\n",
	               "thread 3: line 2 of the draft still holds the template marker "
	               "\"{{#vip}}\": write the text in its place with `tend edit 3`");
	expect_refusal(&f, "Hi,\nok {{/vip}}\n",
	               "thread 4: line 2 of the draft still holds the template marker "
	               "\"{{/vip}}\": write the text in its place with `tend edit 4`");
	expect_refusal(&f, "{{^known}}Hello{{/known}}\n",
	               "thread 5: line 1 of the draft still holds the template marker "
	               "\"{{^known}}\": write the text in its place with `tend edit 5`");
	expect_refusal(&f, "Best,\n{{ agent.name }}\n",
	               "thread 6: line 2 of the draft still holds the template marker "
	               "\"{{ agent.name }}\": write the text in its place with `tend edit 6`");
	expect_refusal(&f, "x {{a\x1b[2Jb}} y\n",
	               "thread 7: line 1 of the draft still holds the template marker "
	               "\"{{a\\x1b[2Jb}}\": write the text in its place with `tend edit 7`");
	expect_refusal(&f, "see {{unclosed\n",
	               "thread 8: line 1 of the draft still holds the template marker "
	               "\"{{unclosed\": write the text in its place with `tend edit 8`");
	expect_refusal(&f, "{{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}\n",
	               "thread 9: line 1 of the draft still holds the template marker "
	               "\"{{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\": write "
	               "the text in its place with `tend edit 9`");
	expect_refusal(&f, "Hi,\n\nThe repair is [CHECK PRICE WITH WORKSHOP].\n",
	               "thread 10: line 3 of the draft still holds \"[CHECK PRICE WITH "
	               "WORKSHOP]\", a placeholder (review.placeholders in tend.yaml): replace it "
	               "with `tend edit 10`");
	char *err = NULL;
	T_EQ_INT(approve_body(&f,
	                      "Hi,\n\n[OK] done.\n\n> {{x}} [URGENT REQUEST]\n>\n\nBest,\n"
	                      "{{agent.name}}\n",
	                      &err),
	         0);
	free(err);
	fx_close(&f);
}

/*
 * An operator's own patterns replace the default one. "XXXX" and "Todo" here are the drafts'
 * unfinished text that approval must refuse: the inputs of the test, not work left in tend.
 */
static void test_approve_placeholders_configured(void)
{
	struct fx f = fx_open();
	strvec_free(&f.c->review.placeholders);
	strvec_push(&f.c->review.placeholders, "X{3,}");
	strvec_push(&f.c->review.placeholders, "(?i)\\btodo\\b");
	expect_refusal(&f, "Your order XXXX ships.\n",
	               "thread 1: line 1 of the draft still holds \"XXXX\", a placeholder "
	               "(review.placeholders in tend.yaml): replace it with `tend edit 1`");
	expect_refusal(&f, "Hi,\nTodo: the date\n",
	               "thread 2: line 2 of the draft still holds \"Todo\", a placeholder "
	               "(review.placeholders in tend.yaml): replace it with `tend edit 2`");
	char *err = NULL;
	T_EQ_INT(approve_body(&f, "Hi,\n[CHECK PRICE] is fine here.\n", &err), 0);
	free(err);
	/* a pattern that backtracks without end gives up, and the draft is not let through */
	strvec_push(&f.c->review.placeholders, "(a+)+$");
	expect_refusal(&f, "Hi,\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n",
	               "thread 4: line 2 of the draft cannot be checked: the placeholder pattern "
	               "\"(a+)+$\" gave up on it (review.placeholders in tend.yaml); make the "
	               "pattern simpler or the line shorter");
	fx_close(&f);
}

/* A recipient whose mail bounced is refused, unless the agent says it works again. */
static void test_approve_refuses_bounced(void)
{
	struct fx f = fx_open();
	uint64_t id = add_thread(&f, "Refund please", (int64_t)time(NULL) + 7200, true);
	struct store_thread *th = get_thread(&f, id);
	strvec_push(&th->bounced, "anna@example.com");
	th->bounce_detail = xstrdup("550 5.1.1 \x1b[31mno such user");
	struct store_txn *t = begin(f.s, true);
	T_EQ_INT(store_put_thread(t, th), 0);
	T_EQ_INT(store_commit(t), 0);
	store_thread_free(th);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: mail to anna@example.com bounced before (550 5.1.1 \\x1b[31mno "
	              "such user): reach the customer another way, or when you know the address "
	              "works again, `tend approve --bounced-ok 1`");
	free(err);
	err = NULL;
	struct review_approve_opts ok = {.bounced_ok = true};
	T_EQ_INT(review_approve_with(f.s, f.c, id, &a, &ok, &err), 0);
	free(err);
	review_agent_finish(&a);
	fx_close(&f);
}

static void set_undo_state(struct fx *f, uint64_t thread, int64_t until, int phase)
{
	struct store_draft *d = get_draft(f, thread);
	struct store_txn *t = begin(f->s, true);
	d->undo_until = until;
	d->send_phase = phase;
	T_EQ_INT(store_put_draft(t, d), 0);
	T_EQ_INT(store_commit(t), 0);
	store_draft_free(d);
}

/* The window: the reply is due undo seconds after approval; taken back, it is as it was. */
static void test_undo_window(void)
{
	struct fx f = fx_open();
	f.c->review.undo = 20;
	int64_t deadline = (int64_t)time(NULL) + 7200;
	uint64_t id = add_thread(&f, "Refund please", deadline, true);
	struct review_agent a = agent("alice", "Alice Smith");
	char *err = NULL;
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	struct store_draft *d = get_draft(&f, id);
	uint64_t draft = d->id;
	T_EQ_INT(d->next_attempt, d->approved + 20);
	T_EQ_INT(d->undo_until, d->approved + 20);
	T_EQ_INT(index_entries(&f, STORE_INDEX_OUTBOX, draft).when, d->approved + 20);
	store_draft_free(d);
	struct outbox_pass p;
	T_EQ_INT(outbox_run(f.s, f.c, (int64_t)time(NULL), NULL, &p), 0);
	T_EQ_INT(p.sent + p.failed + p.deferred, 0);
	T_OK(p.next_due >= (int64_t)time(NULL) + 19);
	outbox_pass_finish(&p);
	T_EQ_INT(review_undo(f.s, id, &a, &err), 0);
	d = get_draft(&f, id);
	T_EQ_INT(d->state, STORE_DRAFT_PROPOSED);
	T_EQ_STR(d->body, BODY);
	T_EQ_INT(d->queued, deadline);
	T_OK(d->message_id == NULL && d->approved_by == NULL && d->undo_body == NULL);
	store_draft_free(d);
	T_EQ_INT(index_entries(&f, STORE_INDEX_OUTBOX, draft).n, 0);
	struct index_count q = index_entries(&f, STORE_INDEX_QUEUE, draft);
	T_OK(q.n == 1 && q.when == deadline);
	char *log = log_text(&f, 0, true);
	T_CONTAINS(log, "\"action\":\"undo\",\"thread\":1,\"draft\":1,\"detail\":\"taken back ");
	free(log);
	T_EQ_INT(review_undo(f.s, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the draft is not approved; there is nothing to take back");
	free(err);
	/* the window closed, or tendd began: too late */
	T_EQ_INT(review_approve(f.s, f.c, id, &a, &err), 0);
	set_undo_state(&f, id, (int64_t)time(NULL) - 5, STORE_SEND_IDLE);
	T_EQ_INT(review_undo(f.s, id, &a, &err), REVIEW_REFUSED);
	T_CONTAINS(err, "thread 1: the undo window closed ");
	T_CONTAINS(err, "s ago; the reply is being sent (see `tend outbox`)");
	free(err);
	set_undo_state(&f, id, (int64_t)time(NULL) + 60, STORE_SEND_STARTED);
	T_EQ_INT(review_undo(f.s, id, &a, &err), REVIEW_REFUSED);
	T_EQ_STR(err, "thread 1: the reply is being sent; it is too late to take it back (see "
	              "`tend outbox`)");
	free(err);
	review_agent_finish(&a);
	fx_close(&f);
}

T_MAIN(T_CASE(test_recipients_block), T_CASE(test_agent_resolution), T_CASE(test_agents_list),
       T_CASE(test_show_draft), T_CASE(test_approve_refuses_stale_until_shown),
       T_CASE(test_approve_moves_to_outbox), T_CASE(test_message_id_domain),
       T_CASE(test_second_person), T_CASE(test_reject), T_CASE(test_resolve),
       T_CASE(test_approve_needs_recipient), T_CASE(test_snooze),
       T_CASE(test_queue_order_and_fields), T_CASE(test_assign), T_CASE(test_audit_os_user),
       T_CASE(test_edit), T_CASE(test_edit_unchanged), T_CASE(test_edit_aborts),
       T_CASE(test_edit_conflict), T_CASE(test_edit_states), T_CASE(test_old_records_escaped),
       T_CASE(test_edit_reference_escaped), T_CASE(test_agents_bound),
       T_CASE(test_second_person_old_record), T_CASE(test_note), T_CASE(test_sent_reply_shown),
       T_CASE(test_outbox_json_body), T_CASE(test_claim), T_CASE(test_claim_lapses),
       T_CASE(test_approve_refuses_holes), T_CASE(test_approve_placeholders_configured),
       T_CASE(test_approve_refuses_bounced), T_CASE(test_undo_window))
