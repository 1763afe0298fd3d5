/*
 * review: agents, and the actions that change a draft (show, approve, reject, snooze, assign).
 *
 * Each action is one write transaction: load the live thread and its draft, check, change,
 * append the audit entry, commit. A refusal aborts the transaction, so nothing half-done is
 * ever stored. Editing is in review_edit.c, the queue and the log in review_list.c.
 */
#include "tend/review.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "review_int.h"
#include "tend/draft.h"

/* Agents */

static const char *env_value(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* The login of the real uid, else "uid N". */
static char *os_login(void)
{
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name && *pw->pw_name)
		return xstrdup(pw->pw_name);
	return xasprintf("uid %u", (unsigned)getuid());
}

/* Logins end up in the audit trail and in listings: one printable word. */
static bool login_valid(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static const struct config_agent *find_agent(const struct config *c, const char *login)
{
	for (size_t i = 0; c && i < c->nagents; i++)
		if (c->agents[i].login && strcmp(c->agents[i].login, login) == 0)
			return &c->agents[i];
	return NULL;
}

static const char *config_name(const struct config *c)
{
	return c->path ? c->path : "tend.yaml";
}

/* Checks a login against tend.yaml's agents; returns 0, or -1 with *err set. */
static int check_listed(const struct config *c, const char *login, char **err)
{
	if (!login_valid(login)) {
		*err = xstrdup("an agent login is one word of printable characters");
		return -1;
	}
	if (c && c->agents_listed && !find_agent(c, login)) {
		*err =
		    xasprintf("agent \"%s\" is not listed in agents in %s", login, config_name(c));
		return -1;
	}
	return 0;
}

/* When tend.yaml binds agents, each is bound to its user:, else to the OS account named like
 * its login: then nobody can act as someone else's agent by naming it. */
static bool bound_to(const struct config_agent *g, uid_t uid)
{
	if (g->user != NULL)
		return g->uid == uid;
	struct passwd *pw = getpwnam(g->login);
	return pw != NULL && pw->pw_uid == uid;
}

/* With agents bound and none named: the caller's own agent ($USER picks among several). */
static int bound_default(const struct config *c, const char *os, const char **login, char **err)
{
	const char *user = env_value("USER");
	const struct config_agent *mine = NULL;
	size_t n = 0;
	for (size_t i = 0; i < c->nagents; i++) {
		const struct config_agent *g = &c->agents[i];
		if (g->login == NULL || !bound_to(g, getuid()))
			continue;
		if (user != NULL && strcmp(g->login, user) == 0) {
			*login = g->login;
			return 0;
		}
		mine = g;
		n++;
	}
	if (n == 1) {
		*login = mine->login;
		return 0;
	}
	if (n == 0)
		*err = xasprintf("no agent in %s is bound to OS user %s", config_name(c), os);
	else
		*err = xasprintf("OS user %s is bound to %zu agents in %s; say which with --as", os,
		                 n, config_name(c));
	return -1;
}

/* A named agent (--as, $TEND_AGENT) must be bound to the caller when agents are bound. */
static int check_bound(const struct config *c, const char *login, const char *os, char **err)
{
	const struct config_agent *g = c ? find_agent(c, login) : NULL;
	if (g == NULL || !c->agents_bound || bound_to(g, getuid()))
		return 0;
	*err = xasprintf("agent \"%s\" is bound to OS user %s in %s, and you are %s", login,
	                 g->user ? g->user : g->login, config_name(c), os);
	return -1;
}

int review_agent_resolve(const struct config *c, const char *as, struct review_agent *out,
                         char **err)
{
	memset(out, 0, sizeof(*out));
	char *os = os_login();
	const char *login = as ? as : env_value("TEND_AGENT");
	int rc = 0;
	if (login == NULL && c && c->agents_bound)
		rc = bound_default(c, os, &login, err);
	else if (login == NULL)
		login = env_value("USER") ? env_value("USER") : os;
	if (rc == 0)
		rc = check_listed(c, login, err);
	if (rc == 0)
		rc = check_bound(c, login, os, err);
	if (rc < 0) {
		free(os);
		return -1;
	}
	const struct config_agent *g = find_agent(c, login);
	out->login = xstrdup(login);
	out->name = xstrdup(g && g->name ? g->name : login);
	out->os_user = os;
	return 0;
}

void review_agent_finish(struct review_agent *a)
{
	if (a == NULL)
		return;
	free(a->login);
	free(a->name);
	free(a->os_user);
	memset(a, 0, sizeof(*a));
}

/* Targets: the thread and draft an action works on */

int review_target_open(struct store *s, uint64_t thread, bool write, struct review_target *tg,
                       char **err)
{
	memset(tg, 0, sizeof(*tg));
	int rc = store_begin(s, write, &tg->t);
	if (rc == 0)
		rc = store_resolve_thread(tg->t, thread, &tg->id);
	if (rc == 0)
		rc = store_get_thread(tg->t, tg->id, &tg->th);
	if (rc == 0 && tg->th->draft != 0) {
		rc = store_get_draft(tg->t, tg->th->draft, &tg->d);
		if (rc == STORE_NOTFOUND) {
			log_warnx("thread %llu names draft %llu, which is not in the store",
			          (unsigned long long)tg->id, (unsigned long long)tg->th->draft);
			rc = 0;
		}
	}
	if (rc == STORE_NOTFOUND)
		*err = xasprintf("no thread %llu", (unsigned long long)thread);
	else if (rc < 0)
		*err = xasprintf("cannot read thread %llu: %s", (unsigned long long)thread,
		                 store_strerror(rc));
	if (rc < 0)
		review_target_close(tg);
	return rc;
}

int review_target_commit(struct review_target *tg, char **err)
{
	int rc = store_commit(tg->t);
	tg->t = NULL;
	if (rc < 0)
		*err = xasprintf("cannot save the change to thread %llu: %s",
		                 (unsigned long long)tg->id, store_strerror(rc));
	review_target_close(tg);
	return rc;
}

void review_target_close(struct review_target *tg)
{
	store_abort(tg->t);
	store_thread_free(tg->th);
	store_draft_free(tg->d);
	memset(tg, 0, sizeof(*tg));
}

int review_refuse(char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
	return REVIEW_REFUSED;
}

/* What became of a draft that is no longer proposed: "was approved by alice". */
static char *fate(const struct store_draft *d)
{
	switch (d->state) {
	case STORE_DRAFT_APPROVED:
		return xasprintf("was approved by %s and is waiting to be sent",
		                 d->approved_by ? d->approved_by : "someone");
	case STORE_DRAFT_SENT:
		return xstrdup("was sent");
	case STORE_DRAFT_REJECTED:
		return xstrdup("was rejected");
	case STORE_DRAFT_FAILED:
		return xstrdup("could not be sent");
	case STORE_DRAFT_UNCERTAIN:
		return xstrdup("may already have reached the customer (see `tend outbox`)");
	default:
		return xstrdup("was replaced by a newer one");
	}
}

int review_need_proposed(const struct review_target *tg, const char *verb, char **err)
{
	if (tg->d == NULL)
		return review_refuse(err, "thread %llu has no draft to %s",
		                     (unsigned long long)tg->id, verb);
	/* a reply the server refused is back in review, to be mended and approved again */
	if (tg->d->state == STORE_DRAFT_PROPOSED || tg->d->state == STORE_DRAFT_FAILED)
		return 0;
	char *what = fate(tg->d);
	int rc = review_refuse(err, "thread %llu: the draft %s; there is nothing to %s",
	                       (unsigned long long)tg->id, what, verb);
	free(what);
	return rc;
}

int review_audit(struct review_target *tg, const struct review_agent *a, const char *action,
                 const char *detail, int64_t now)
{
	struct store_audit e = {
	    .time = now,
	    .agent = a->login,
	    .os_user = a->os_user,
	    .action = (char *)action,
	    .thread = tg->id,
	    .draft = tg->d ? tg->d->id : tg->th->draft,
	    .detail = (char *)detail,
	};
	return store_audit_append(tg->t, &e);
}

struct queue_hits {
	uint64_t draft;
	int64_t *when;
	size_t n;
};

static int find_queued(int64_t when, uint64_t draft, void *arg)
{
	struct queue_hits *h = arg;
	if (draft == h->draft) {
		h->when = xreallocarray(h->when, h->n + 1, sizeof(*h->when));
		h->when[h->n++] = when;
	}
	return 0;
}

/*
 * The entry is filed under store_draft.queued (when, given here); a draft that records no time
 * is looked for through the whole index, so that no approved or rejected draft lingers in the
 * queue. (The listing skips such an entry anyway; the scan is the costly part with a big queue.)
 */
int review_queue_remove(struct store_txn *t, uint64_t draft, int64_t when)
{
	if (when != 0)
		return store_index_del(t, STORE_INDEX_QUEUE, when, draft);
	struct queue_hits h = {draft, NULL, 0};
	int rc = store_foreach_index(t, STORE_INDEX_QUEUE, find_queued, &h);
	for (size_t i = 0; rc >= 0 && i < h.n; i++)
		rc = store_index_del(t, STORE_INDEX_QUEUE, h.when[i], draft);
	free(h.when);
	return rc < 0 ? rc : 0;
}

/* Show */

/* True when showing the thread to a would clear a stale mark (so needs a write). */
static int show_would_write(struct store *s, uint64_t thread, const struct review_agent *a,
                            bool *write, char **err)
{
	struct review_target tg;
	*write = false;
	if (a == NULL)
		return 0;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	*write = tg.d && tg.d->stale && tg.d->state == STORE_DRAFT_PROPOSED;
	review_target_close(&tg);
	return 0;
}

int review_show(struct store *s, uint64_t thread, const struct review_agent *a,
                const struct view_options *o, FILE *out, char **err)
{
	bool write;
	struct review_target tg;
	int rc = show_would_write(s, thread, a, &write, err);
	if (rc < 0 || (rc = review_target_open(s, thread, write, &tg, err)) < 0)
		return rc;
	if ((rc = view_show(tg.t, thread, o, out)) < 0) {
		*err = xasprintf("cannot show thread %llu: %s", (unsigned long long)thread,
		                 store_strerror(rc));
		review_target_close(&tg);
		return rc;
	}
	if (!write || tg.d == NULL || !tg.d->stale) {
		review_target_close(&tg);
		return 0;
	}
	int64_t now = (int64_t)time(NULL);
	tg.d->stale = false;
	tg.d->shown = now;
	if ((rc = store_put_draft(tg.t, tg.d)) == 0)
		rc = review_audit(
		    &tg, a, "show",
		    tg.d->stale_why == STORE_STALE_RULES
		        ? "shown after it was redrafted; it may be approved now"
		        : "shown after the customer wrote again; it may be approved now",
		    now);
	if (rc < 0) {
		*err = xasprintf("cannot record that thread %llu was shown: %s",
		                 (unsigned long long)tg.id, store_strerror(rc));
		review_target_close(&tg);
		return rc;
	}
	return review_target_commit(&tg, err);
}

/* Approve */

/*
 * The domain of the sending account's address (the draft's, else the thread's), else of the
 * first account, else the host's name.
 */
static char *message_id_domain(const struct config *c, const struct store_thread *th,
                               const struct store_draft *d)
{
	const char *name = d->account ? d->account : th->account;
	const struct config_account *acc = name ? config_account(c, name) : NULL;
	for (size_t i = 0; c && (!acc || !acc->address) && i < c->naccounts; i++)
		acc = &c->accounts[i];
	const char *at = acc && acc->address ? strrchr(acc->address, '@') : NULL;
	if (at && at[1])
		return str_lower(xstrdup(at + 1));
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		return xstrdup("localhost");
	return xstrdup(host);
}

static void random_bytes(unsigned char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fatal("getrandom");
		got += (size_t)r;
	}
}

char *review_message_id(const struct config *c, const struct store_thread *th,
                        const struct store_draft *d)
{
	unsigned char r[8];
	char hex[17];
	random_bytes(r, sizeof(r));
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	char *domain = message_id_domain(c, th, d);
	char *id = xasprintf("tend.%llu.%llu.%s@%s", (unsigned long long)th->id,
	                     (unsigned long long)d->id, hex, domain);
	free(domain);
	return id;
}

struct edit_find {
	uint64_t draft;
	char *os_user; /* of its latest edit */
};

static int visit_edit(const struct store_audit *e, void *arg)
{
	struct edit_find *f = arg;
	if (e->draft == f->draft && e->action && strcmp(e->action, "edit") == 0) {
		free(f->os_user);
		f->os_user = e->os_user ? xstrdup(e->os_user) : NULL;
	}
	return 0;
}

/* The OS user of the draft's last edit: recorded in the draft, or (edited before drafts kept
 * it) in the audit trail. NULL when neither knows; caller frees. */
static char *editor_os_user(const struct review_target *tg)
{
	if (tg->d->last_editor_os)
		return xstrdup(tg->d->last_editor_os);
	struct edit_find f = {tg->d->id, NULL};
	if (store_foreach_audit(tg->t, visit_edit, &f) < 0) {
		free(f.os_user);
		return NULL;
	}
	return f.os_user;
}

/* Someone else: another agent, and another OS user, since one OS user can name any agent. */
static int check_second_person(const struct review_target *tg, const struct review_agent *a,
                               char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	const char *editor = tg->d->last_editor;
	if (editor && strcmp(editor, a->login) == 0)
		return review_refuse(err,
		                     "thread %llu: %s made the last edit to this draft, and "
		                     "tend.yaml (review: require_second_person) asks for someone "
		                     "else to approve it",
		                     id, a->login);
	char *os = editor_os_user(tg);
	int rc = 0;
	if (os == NULL)
		rc = review_refuse(err,
		                   "thread %llu: the OS user who made the last edit to this draft "
		                   "is not recorded, and tend.yaml (review: require_second_person) "
		                   "asks for another person to approve it",
		                   id);
	else if (strcmp(os, a->os_user) == 0)
		rc =
		    review_refuse(err,
		                  "thread %llu: OS user %s made the last edit to this draft (as "
		                  "agent %s), and tend.yaml (review: require_second_person) asks "
		                  "for another person to approve it, not another agent of the same "
		                  "OS user",
		                  id, os, editor ? editor : "?");
	free(os);
	return rc;
}

/* An empty draft (rejected, to be written by the agent) is never sent. */
static int check_has_text(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	if (!view_draft_empty(tg->d))
		return 0;
	return review_refuse(
	    err, "thread %llu: the draft is empty: write the reply with `tend edit %llu`", id, id);
}

/* Nor one that still promises, in words, a time that has gone by (rendered days ago). */
static int check_promise(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	if (!draft_promise_passed(tg->d, (int64_t)time(NULL)))
		return 0;
	return review_refuse(err,
	                     "thread %llu: the draft promises \"%s\", a time that has passed: "
	                     "change it with `tend edit %llu`",
	                     id, tg->d->promise, id);
}

/* Nor one that goes to nobody (a bounced reply with no other address of the customer). */
static int check_has_recipient(const struct review_target *tg, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	if (view_recipients(tg->d) > 0)
		return 0;
	return review_refuse(err,
	                     "thread %llu: the draft has no recipient, and tend cannot set one "
	                     "yet: reach the customer another way, then `tend resolve %llu`",
	                     id, id);
}

/* What a draft must be to go out, before the second-person rule. */
static int check_content(const struct review_target *tg, const struct config *c,
                         const struct review_approve_opts *opt, char **err)
{
	int rc;
	if ((rc = check_has_text(tg, err)) < 0 || (rc = check_has_recipient(tg, err)) < 0 ||
	    (rc = check_promise(tg, err)) < 0 ||
	    (rc = review_check_text(c, tg->id, tg->d->body, err)) < 0)
		return rc;
	size_t n = view_recipients(tg->d);
	if (c && c->review.max_recipients > 0 && n > (size_t)c->review.max_recipients)
		return review_refuse(err,
		                     "thread %llu: the reply would go to %zu addresses, more than "
		                     "review.max_recipients (%lld) in tend.yaml allows",
		                     (unsigned long long)tg->id, n,
		                     (long long)c->review.max_recipients);
	if (!(opt && opt->bounced_ok))
		return review_check_bounced(tg->th, tg->d, err);
	return 0;
}

/* The reply must still be the one the agent read and said yes to. */
static int check_previewed(const struct review_target *tg, const struct config *c,
                           const struct review_agent *a, uint64_t previewed, char **err)
{
	char *text = NULL;
	int rc = review_preview_text(c, tg, a, &text, err);
	if (rc == 0 && str_hash(text) != previewed)
		rc = review_refuse(err,
		                   "thread %llu: the reply changed while you read it; nothing was "
		                   "approved: run `tend approve %llu` again",
		                   (unsigned long long)tg->id, (unsigned long long)tg->id);
	free(text);
	return rc;
}

static int check_approvable(const struct review_target *tg, const struct config *c,
                            const struct review_agent *a, const struct review_approve_opts *opt,
                            char **err)
{
	int rc = review_need_proposed(tg, "approve", err);
	if (rc < 0)
		return rc;
	unsigned long long id = (unsigned long long)tg->id;
	if (tg->d->stale && tg->d->stale_why == STORE_STALE_RULES)
		return review_refuse(err,
		                     "thread %llu: `tend redraft` wrote this draft again and set "
		                     "your edit aside; run `tend show %llu` first",
		                     id, id);
	if (tg->d->stale)
		return review_refuse(err,
		                     "thread %llu: the customer wrote again after this draft was "
		                     "made; run `tend show %llu` first",
		                     id, id);
	if ((rc = check_content(tg, c, opt, err)) < 0)
		return rc;
	if (opt && opt->previewed && (rc = check_previewed(tg, c, a, opt->previewed, err)) < 0)
		return rc;
	if (c && c->review.require_second_person && tg->d->edited)
		return check_second_person(tg, a, err);
	return 0;
}

/*
 * When a second person must approve, the claimant's saved edit hands the draft over: the one
 * who wrote it may not approve it, so the claim holds nobody else back from approving it.
 */
static bool handed_over(const struct review_target *tg, const struct config *c)
{
	const char *who = tg->th->claim_agent, *editor = tg->d->last_editor;
	return c && c->review.require_second_person && tg->d->edited && who && editor &&
	       strcmp(who, editor) == 0 && tg->d->updated >= tg->th->claim_since;
}

int review_approvable(struct store *s, const struct config *c, uint64_t thread,
                      const struct review_agent *a, const struct review_approve_opts *opt,
                      char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	rc = check_approvable(&tg, c, a, opt, err);
	review_target_close(&tg);
	return rc;
}

/* The approved draft waits undo seconds (the window in which `tend undo` takes it back, as it
 * was) before the sender may start. */
static void open_window(struct store_draft *d, const struct config *c, int64_t now)
{
	int64_t undo = c ? c->review.undo : 0;
	free(d->undo_body);
	free(d->undo_error);
	d->undo_body = undo > 0 ? xstrdup(d->body ? d->body : "") : NULL;
	d->undo_error = undo > 0 && d->error ? xstrdup(d->error) : NULL;
	d->undo_queued = undo > 0 ? d->queued : 0;
	d->undo_until = undo > 0 ? now + undo : 0;
	d->next_attempt = now + (undo > 0 ? undo : 0);
}

/* Everything an approval changes, in the open transaction. */
static int approve_in(struct review_target *tg, const struct config *c,
                      const struct review_agent *a, int64_t now)
{
	struct store_draft *d = tg->d;
	open_window(d, c, now);
	char *body = draft_sign(d->body ? d->body : "", a->name);
	free(d->body);
	d->body = body;
	free(d->message_id);
	d->message_id = review_message_id(c, tg->th, d);
	free(d->approved_by);
	d->approved_by = xstrdup(a->login);
	d->approved = now;
	d->updated = now;
	d->snoozed_until = 0;
	int64_t queued = d->queued;
	d->state = STORE_DRAFT_APPROVED;
	d->queued = 0;
	d->attempts = 0;
	d->first_attempt = d->last_attempt = 0;
	d->send_phase = STORE_SEND_IDLE;
	free(d->error);
	d->error = NULL;
	int rc = review_queue_remove(tg->t, d->id, queued);
	if (rc == 0 && review_claim_drop(tg->th, NULL)) /* nothing left to be on */
		rc = store_put_thread(tg->t, tg->th);
	if (rc == 0)
		rc = store_index_put(tg->t, STORE_INDEX_OUTBOX, d->next_attempt, d->id);
	if (rc == 0)
		rc = store_put_draft(tg->t, d);
	if (rc == 0) {
		char *detail = xasprintf("Message-ID <%s>", d->message_id);
		rc = review_audit(tg, a, "approve", detail, now);
		free(detail);
	}
	return rc;
}

int review_approve(struct store *s, const struct config *c, uint64_t thread,
                   const struct review_agent *a, char **err)
{
	return review_approve_with(s, c, thread, a, NULL, err);
}

int review_approve_with(struct store *s, const struct config *c, uint64_t thread,
                        const struct review_agent *a, const struct review_approve_opts *opt,
                        char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	int64_t now = (int64_t)time(NULL);
	if ((rc = check_approvable(&tg, c, a, opt, err)) < 0 ||
	    (!handed_over(&tg, c) && (rc = review_claim_check(&tg, a, "approve", now, err)) < 0) ||
	    (rc = review_assignee_check(&tg, a, "approve", now, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	if ((rc = approve_in(&tg, c, a, now)) < 0) {
		*err = xasprintf("cannot approve thread %llu: %s", (unsigned long long)tg.id,
		                 store_strerror(rc));
		review_target_close(&tg);
		return rc;
	}
	return review_target_commit(&tg, err);
}

/* Reject, snooze, assign */

static bool blank(const char *s)
{
	for (; s && *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* Ends an action whose change is in tg: commits, or reports rc and aborts. */
static int finish(struct review_target *tg, int rc, const char *verb, char **err)
{
	if (rc < 0) {
		*err = xasprintf("cannot %s thread %llu: %s", verb, (unsigned long long)tg->id,
		                 store_strerror(rc));
		review_target_close(tg);
		return rc;
	}
	return review_target_commit(tg, err);
}

int review_finish(struct review_target *tg, int rc, const char *verb, char **err)
{
	return finish(tg, rc, verb, err);
}

int review_reject(struct store *s, uint64_t thread, const struct review_agent *a,
                  const char *reason, bool resolve, char **err)
{
	if (blank(reason))
		return review_refuse(err, "a reason is required to reject a draft");
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_need_proposed(&tg, "reject", err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	int64_t now = (int64_t)time(NULL);
	tg.d->state = STORE_DRAFT_REJECTED;
	free(tg.d->reject_reason);
	tg.d->reject_reason = str_trim_dup(reason, strlen(reason));
	tg.d->updated = now;
	int64_t queued = tg.d->queued;
	tg.d->queued = 0;
	tg.th->draft = 0;
	review_claim_drop(tg.th, NULL); /* stored with the thread below */
	rc = store_put_draft(tg.t, tg.d);
	if (rc == 0)
		rc = review_queue_remove(tg.t, tg.d->id, queued);
	if (rc == 0)
		rc = review_audit(&tg, a, "reject", tg.d->reject_reason, now);
	/* the conversation still needs an answer, written by the agent; or none */
	if (rc == 0 && resolve)
		rc = review_resolve_in(&tg, a, reason, now);
	else if (rc == 0)
		rc = review_blank_draft(&tg, now);
	return finish(&tg, rc, "reject the draft of", err);
}

/* "4h", "90m", "2d", "45s": the largest unit that divides the duration. */
static void format_duration(int64_t s, char *buf, size_t size)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
	else if (s > 0 && s % 3600 == 0)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else if (s > 0 && s % 60 == 0)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%llds", (long long)s);
}

int review_snooze(struct store *s, uint64_t thread, const struct review_agent *a, int64_t seconds,
                  char **err)
{
	if (seconds < 0)
		return review_refuse(err, "a snooze lasts zero seconds or more");
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_need_proposed(&tg, "snooze", err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	int64_t now = (int64_t)time(NULL);
	char detail[128], dur[32], when[64];
	tg.d->snoozed_until = seconds ? now + seconds : 0;
	format_duration(seconds, dur, sizeof(dur));
	time_t tt = (time_t)tg.d->snoozed_until;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M %Z", &tm);
	if (seconds)
		snprintf(detail, sizeof(detail), "for %s, until %s", dur, when);
	else
		snprintf(detail, sizeof(detail), "snooze ended: back in the queue");
	rc = store_put_draft(tg.t, tg.d);
	if (rc == 0 && review_claim_drop(tg.th, a->login)) /* the claimant turns to other work */
		rc = store_put_thread(tg.t, tg.th);
	if (rc == 0)
		rc = review_audit(&tg, a, "snooze", detail, now);
	return finish(&tg, rc, "snooze", err);
}

int review_assign(struct store *s, const struct config *c, uint64_t thread,
                  const struct review_agent *a, const char *assignee, char **err)
{
	if (assignee && strcmp(assignee, "-") == 0)
		assignee = NULL;
	if (assignee && check_listed(c, assignee, err) < 0)
		return REVIEW_REFUSED;
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	free(tg.th->assignee);
	tg.th->assignee = assignee ? xstrdup(assignee) : NULL;
	rc = store_put_thread(tg.t, tg.th);
	if (rc == 0)
		rc = review_audit(&tg, a, "assign", assignee ? assignee : "(nobody)",
		                  (int64_t)time(NULL));
	return finish(&tg, rc, "assign", err);
}

int review_current_draft(struct store *s, uint64_t thread, struct store_draft **out, char **err)
{
	struct review_target tg;
	*out = NULL;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	if (tg.d == NULL) {
		*err = xasprintf("thread %llu has no draft", (unsigned long long)tg.id);
		rc = STORE_NOTFOUND;
	}
	*out = tg.d;
	tg.d = NULL;
	review_target_close(&tg);
	return rc;
}
