/*
 * outbox: one pass over the drafts that are due. See include/tend/outbox.h for the steps and
 * what a crash between any two of them leaves behind.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outbox_int.h"
#include "tend/compose.h"
#include "tend/imap.h"
#include "tend/outbox.h"
#include "tend/secret.h"
#include "tend/smtp.h"
#include "tend/util.h"

/* An outbox entry due now. */
struct due {
	int64_t when;
	uint64_t draft;
};

struct pass_ctx {
	struct store *s;
	const struct config *c;
	int64_t now;
	struct outbox_pass *pass;
	struct due *v;
	size_t n;
};

void outbox_fault(const char *name)
{
	const char *want = getenv("TEND_FAULT");
	if (want && strcmp(want, name) == 0) {
		log_warnx("TEND_FAULT=%s: killing myself here, as the test asked", name);
		raise(SIGKILL);
	}
}

void outbox_pass_finish(struct outbox_pass *pass)
{
	free(pass->account_error);
	pass->account_error = NULL;
	free(pass->send_seconds);
	pass->send_seconds = NULL;
	pass->nsend = 0;
}

static void note_duration(struct outbox_pass *pass, const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pass->send_seconds = xreallocarray(pass->send_seconds, pass->nsend + 1, sizeof(double));
	pass->send_seconds[pass->nsend++] =
	    (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void account_error(struct pass_ctx *p, const char *why)
{
	free(p->pass->account_error);
	p->pass->account_error = xstrdup(why);
}

static int collect(int64_t when, uint64_t draft, void *arg)
{
	struct pass_ctx *p = arg;
	if (when > p->now) {
		p->pass->next_due = when;
		return 1;
	}
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = (struct due){when, draft};
	return 0;
}

/* The Sent folder a copy goes to, or NULL when the account has no IMAP to put it in. */
static const char *sent_folder(const struct config_account *a)
{
	return a && a->has_imap && a->imap.sent_folder && *a->imap.sent_folder ? a->imap.sent_folder
	                                                                       : NULL;
}

/* An IMAP session of the account, or NULL with *err. */
static struct imap *imap_session(const struct config_account *a, char **err)
{
	char *secret = NULL;
	struct imap *im = NULL;
	const struct config_imap *m = &a->imap;
	bool oauth = m->oauth2_token_command.n > 0; /* as the account's fetching thread does */
	const struct strvec *cmd = oauth ? &m->oauth2_token_command : &m->password_command;
	if (secret_get(oauth ? NULL : m->password_file, cmd, &secret, err) == 0)
		(void)imap_open(m, secret, &im, err);
	secret_free(secret);
	return im;
}

/* Appends the reply to the Sent folder; false with *err when it could not. */
static bool copy_to_sent(const struct config_account *a, const char *data, size_t len, char **err)
{
	struct imap *im = imap_session(a, err);
	if (im == NULL)
		return false;
	int rc = imap_append(im, sent_folder(a), data, len, err);
	imap_close(im);
	return rc == IMAP_OK;
}

/* Whether the reply is in the Sent folder: 1, 0, or -1 with *err when we cannot tell. */
static int in_sent(const struct config_account *a, const char *msgid, char **err)
{
	if (sent_folder(a) == NULL) {
		*err = xstrdup("the account has no IMAP folder to look in");
		return -1;
	}
	struct imap *im = imap_session(a, err);
	if (im == NULL)
		return -1;
	bool found = false;
	int rc = imap_find_message_id(im, sent_folder(a), msgid, &found, err);
	imap_close(im);
	return rc == IMAP_OK ? found : -1;
}

static void note_store_error(int rc, const struct store_draft *d, const char *step)
{
	if (rc < 0)
		log_warnx("thread %llu: cannot record %s: %s", (unsigned long long)d->thread, step,
		          store_strerror(rc));
}

static void fail(struct pass_ctx *p, const struct store_draft *d, const char *why)
{
	log_warnx("thread %llu: the reply cannot be sent: %s", (unsigned long long)d->thread, why);
	note_store_error(outbox_record_failed(p->s, d->id, why, p->now), d, "the failure");
	p->pass->failed++;
}

static void defer(struct pass_ctx *p, const struct config_account *a, const struct store_draft *d,
                  const char *why, bool account)
{
	log_warnx("thread %llu: the reply was not sent this time: %s",
	          (unsigned long long)d->thread, why);
	if (account)
		account_error(p, why);
	int rc = outbox_record_deferred(p->s, a ? &a->smtp : NULL, d->id, why, p->now);
	note_store_error(rc, d, "the attempt");
	p->pass->deferred++;
}

/* The server has it (found in Sent, or accepted just now): record it as sent. */
static void sent(struct pass_ctx *p, const struct store_draft *d, int64_t when, const char *reply,
                 bool copied, bool want)
{
	int rc = outbox_record_sent(p->s, d->id, when, reply, copied, want, p->now);
	note_store_error(rc, d, "that the reply was sent");
	if (rc == 0) {
		log_info("thread %llu: reply <%s> sent: %s", (unsigned long long)d->thread,
		         d->message_id, reply);
		p->pass->sent++;
	}
}

/*
 * The server may or may not have accepted the reply. The copy in Sent is made before the
 * draft is recorded as sent, so finding it there settles it; not finding it leaves the
 * question to an agent. When the folder cannot be searched now, the next pass tries again.
 */
static void resolve_unknown(struct pass_ctx *p, const struct store_draft *d, const char *what)
{
	const struct config_account *a = outbox_sending_account(p->c, d);
	char *err = NULL;
	int found = sent_folder(a) ? in_sent(a, d->message_id, &err) : 0;
	if (found == 1) {
		sent(p, d, d->last_attempt,
		     "found in the Sent folder after the server's answer was lost", true, true);
	} else if (found == 0) {
		unsigned long long id = (unsigned long long)d->thread;
		char *why =
		    xasprintf("%s; it is not in the Sent folder%s, so it may or may not have "
		              "reached the customer: check, then `tend outbox retry %llu` to "
		              "send it again or `tend outbox mark-sent %llu`",
		              what, sent_folder(a) ? "" : " (the account has none)", id, id);
		log_warnx("thread %llu: the reply may or may not have been sent: %s", id, why);
		int rc = outbox_record_uncertain(p->s, d->id, why, p->now);
		note_store_error(rc, d, "the uncertain outcome");
		p->pass->uncertain++;
		free(why);
	} else {
		char *why =
		    xasprintf("%s; cannot look for it in the Sent folder yet: %s", what, err);
		defer(p, a, d, why, true);
		free(why);
	}
	free(err);
}

struct handed_ctx {
	struct store *s;
	uint64_t draft;
};

/* The last byte is about to go: from now on the server may accept it. Refuses (aborting the
 * transfer before the end-of-data mark) when that cannot be recorded. */
static int on_handed(void *arg)
{
	struct handed_ctx *h = arg;
	int rc = outbox_mark_handed(h->s, h->draft);
	if (rc != 0) {
		log_warnx("cannot record that a reply is being handed over (%s): not sending it",
		          rc < 0 ? store_strerror(rc) : "its state changed");
		return -1;
	}
	outbox_fault("handed");
	return 0;
}

static void accepted(struct pass_ctx *p, const struct store_draft *d, const struct outgoing *o,
                     int64_t when, const char *reply)
{
	outbox_fault("accepted");
	bool want = sent_folder(o->acct) != NULL && d->kind != STORE_KIND_NOTICE;
	sent(p, d, when, reply, false, want);
	outbox_fault("recorded");
	if (!want)
		return;
	char *err = NULL;
	bool ok = copy_to_sent(o->acct, o->data, o->len, &err);
	if (!ok)
		log_warnx("thread %llu: the reply went out, but its copy is not in %s yet: %s",
		          (unsigned long long)d->thread, sent_folder(o->acct), err);
	note_store_error(outbox_record_copy(p->s, d->id, ok, err, p->now), d, "the Sent copy");
	free(err);
	outbox_fault("copied");
}

static void send_it(struct pass_ctx *p, const struct store_draft *d, struct outgoing *o,
                    const char *password)
{
	int rc = outbox_mark_started(p->s, d->id, p->now);
	if (rc != 0) {
		note_store_error(rc, d, "the start of an attempt");
		return;
	}
	outbox_fault("started");
	struct smtp_envelope env = {o->acct->address, o->rcpts, o->nrcpts};
	struct handed_ctx h = {p->s, d->id};
	struct smtp_result r;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	smtp_send(&o->acct->smtp, password, &env, o->data, o->len, on_handed, &h, &r);
	note_duration(p->pass, &t0);
	int64_t when = (int64_t)time(NULL);
	switch (r.outcome) {
	case SMTP_ACCEPTED:
		accepted(p, d, o, when, r.reply);
		break;
	case SMTP_REFUSED:
		fail(p, d, r.reply);
		break;
	case SMTP_UNKNOWN:
		resolve_unknown(p, d, r.reply);
		break;
	default:
		defer(p, o->acct, d, r.reply, true);
	}
	smtp_result_finish(&r);
}

static void attempt(struct pass_ctx *p, const struct store_draft *d)
{
	struct outgoing o;
	char *err = NULL, *password = NULL;
	int prc = outbox_prepare(p->s, p->c, d, p->now, &o, &err);
	if (prc == PREPARE_REFUSED) {
		fail(p, d, err);
	} else if (prc == PREPARE_ACCOUNT) {
		defer(p, NULL, d, err, true);
	} else if (o.acct->smtp.user &&
	           secret_get(o.acct->smtp.password_file, &o.acct->smtp.password_command, &password,
	                      &err) < 0) {
		defer(p, o.acct, d, err, true);
	} else {
		send_it(p, d, &o, password);
	}
	secret_free(password);
	free(err);
	outbox_outgoing_free(&o);
}

/* A sent reply whose copy did not reach the Sent folder: the same bytes, once more. */
static void copy_again(struct pass_ctx *p, const struct store_draft *d)
{
	struct outgoing o;
	char *err = NULL;
	bool ok = outbox_prepare(p->s, p->c, d, d->sent, &o, &err) == PREPARE_OK &&
	          (!sent_folder(o.acct) || copy_to_sent(o.acct, o.data, o.len, &err));
	if (ok && sent_folder(o.acct))
		log_info("thread %llu: the copy of reply <%s> is in %s now",
		         (unsigned long long)d->thread, d->message_id, sent_folder(o.acct));
	int rc = outbox_record_copy(p->s, d->id, ok, err, p->now);
	note_store_error(rc, d, "the Sent copy");
	free(err);
	outbox_outgoing_free(&o);
}

/* What one outbox entry needs. Returns a negative store code only when the store failed. */
static int one(struct pass_ctx *p, const struct due *e)
{
	struct store_txn *t = NULL;
	struct store_draft *d = NULL;
	int rc = store_begin(p->s, false, &t);
	if (rc < 0)
		return rc;
	rc = store_get_draft(t, e->draft, &d);
	store_abort(t);
	if (rc == STORE_NOTFOUND)
		return outbox_unlist(p->s, e->when, e->draft);
	if (rc < 0)
		return rc;
	if (d->state == STORE_DRAFT_SENT && d->copy_pending && d->next_attempt == e->when)
		copy_again(p, d);
	else if (d->state != STORE_DRAFT_APPROVED || d->next_attempt != e->when)
		rc = outbox_unlist(p->s, e->when, e->draft); /* a stray entry */
	else if (d->send_phase == STORE_SEND_HANDED)
		resolve_unknown(p, d,
		                "tendd stopped after handing the reply to the server and "
		                "before the server answered");
	else
		attempt(p, d);
	store_draft_free(d);
	return rc;
}

static int first_due(int64_t when, uint64_t draft, void *arg)
{
	(void)draft;
	*(int64_t *)arg = when;
	return 1;
}

int outbox_run(struct store *s, const struct config *c, int64_t now, const atomic_bool *stop,
               struct outbox_pass *pass)
{
	memset(pass, 0, sizeof(*pass));
	struct pass_ctx p = {.s = s, .c = c, .now = now, .pass = pass};
	struct store_txn *t = NULL;
	int rc = store_begin(s, false, &t);
	if (rc < 0)
		return rc;
	rc = store_foreach_index(t, STORE_INDEX_OUTBOX, collect, &p);
	store_abort(t);
	for (size_t i = 0; rc >= 0 && i < p.n && !(stop && atomic_load(stop)); i++) {
		p.now = (int64_t)time(NULL) > now ? (int64_t)time(NULL) : now;
		rc = one(&p, &p.v[i]);
	}
	free(p.v);
	if (rc < 0)
		return rc;
	pass->next_due = 0;
	if ((rc = store_begin(s, false, &t)) < 0)
		return rc;
	rc = store_foreach_index(t, STORE_INDEX_OUTBOX, first_due, &pass->next_due);
	store_abort(t);
	return rc < 0 ? rc : 0;
}
