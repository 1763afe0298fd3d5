/*
 * daemon: one account's thread. Connect, fetch every folder, then IDLE (or sleep) until the
 * server has news or poll_interval passes, and again; on failure wait with exponential backoff
 * and jitter, and log an error once when it appears and once when it clears, not per retry.
 * What happened is written to the store's status records for `tend status`.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "tend/fetch.h"
#include "tend/imap.h"
#include "tend/ingest.h"
#include "tend/secret.h"
#include "tend/util.h"

#define BACKOFF_MAX 300 /* seconds */
/* A full store comes back when someone makes room, not when a server does: retry sooner. */
#define STORE_BACKOFF_MAX 60
#define REIDLE_MAX        (25 * 60) /* servers may drop an IDLE after 30 minutes (RFC 2177) */

struct session {
	struct worker *w;
	struct imap *imap;
	struct ingest *ingest;
	struct rules_ref *rules;
	unsigned rules_gen;
	bool changed;         /* a folder's count changed while the last pass ran: sync again */
	uint64_t idle_exists; /* the IDLE folder's count at the end of its last pass */
};

/* Status records */

typedef void (*status_edit_fn)(struct store_status *st, void *arg);

/* Read, change and write one status record in its own small transaction. */
static void status_edit(struct worker *w, const char *folder, status_edit_fn fn, void *arg)
{
	struct store_txn *t;
	struct store_status st = {0};
	if (store_begin(w->d->store, true, &t) < 0)
		return;
	int rc = store_get_status(t, w->acct->name, folder, &st);
	if (rc == 0 || rc == STORE_NOTFOUND) {
		fn(&st, arg);
		st.updated = (int64_t)time(NULL);
		rc = store_put_status(t, w->acct->name, folder, &st);
	}
	if (rc == 0)
		rc = store_commit(t);
	else
		store_abort(t);
	if (rc < 0)
		log_warnx("%s: writing status failed: %s", w->acct->name, store_strerror(rc));
	store_status_free(&st);
}

static void set_error(struct store_status *st, void *arg)
{
	const char *msg = arg;
	if (st->last_error == NULL || strcmp(st->last_error, msg) != 0 || st->error_since == 0)
		st->error_since = (int64_t)time(NULL);
	free(st->last_error);
	st->last_error = xstrdup(msg);
}

static void clear_error(struct store_status *st, void *arg)
{
	free(st->last_error);
	st->last_error = NULL;
	st->error_since = 0;
}

static void set_login(struct store_status *st, void *arg)
{
	const struct worker *w = arg;
	st->last_login = (int64_t)time(NULL);
	if (w->store_error == NULL) /* a login makes no room in the store */
		clear_error(st, NULL);
}

struct folder_note {
	const struct fetch_result *res;
	uint64_t fetched;
	bool done;
};

static void set_folder(struct store_status *st, void *arg)
{
	const struct folder_note *n = arg;
	st->uidvalidity = n->res->uidvalidity;
	st->uidnext = n->res->uidnext;
	st->exists = n->res->exists;
	st->waiting = n->res->waiting;
	st->fetched = n->fetched;
	if (n->done) {
		st->last_fetch = (int64_t)time(NULL);
		free(st->last_error);
		st->last_error = NULL;
		st->error_since = 0;
	}
}

/* Errors, logged once per change of state */

static void note_error(struct worker *w, char **slot, const char *folder, const char *msg)
{
	if (*slot == NULL || strcmp(*slot, msg) != 0) {
		log_warnx("%s: %s", w->acct->name, msg);
		free(*slot);
		*slot = xstrdup(msg);
	}
	status_edit(w, folder, set_error, (void *)msg);
}

static void note_recovered(struct worker *w, char **slot, const char *what)
{
	if (*slot == NULL)
		return;
	log_info("%s: %s works again", w->acct->name, what);
	free(*slot);
	*slot = NULL;
}

/* A pass stored what it had to after the store was full: it has room again. */
static void store_recovered(struct worker *w)
{
	if (w->store_error == NULL)
		return;
	note_recovered(w, &w->store_error, "the store");
	status_edit(w, "", clear_error, NULL);
}

/* Login */

static int open_session(struct session *ss)
{
	struct worker *w = ss->w;
	const struct config_imap *cfg = &w->acct->imap;
	bool oauth = cfg->oauth2_token_command.n > 0;
	char *secret = NULL, *err = NULL;
	int rc =
	    secret_get(oauth ? NULL : cfg->password_file,
	               oauth ? &cfg->oauth2_token_command : &cfg->password_command, &secret, &err);
	if (rc == 0) {
		rc = imap_open(cfg, secret, &ss->imap, &err);
		secret_free(secret);
	}
	if (rc != 0) {
		metrics_add(w->d->metrics, METRICS_ERRORS,
		            (const char *const[]){w->acct->name, "", "login"}, 1);
		note_error(w, &w->account_error, "", err);
		free(err);
		return -1;
	}
	if (!w->logged_in_before || w->account_error != NULL)
		log_info("%s: logged in to %s%s", w->acct->name, imap_peer(ss->imap),
		         imap_has_idle(ss->imap) && cfg->idle ? " (IDLE)" : "");
	w->logged_in_before = true;
	note_recovered(w, &w->account_error, "the connection");
	status_edit(w, "", set_login, w);
	return 0;
}

/* Fetching */

struct progress {
	struct worker *w;
	size_t folder;
};

static bool stopping(void *arg)
{
	struct progress *p = arg;
	return daemon_stopping(p->w->d);
}

static void on_ingested(double seconds, void *arg)
{
	struct progress *p = arg;
	const char *const lv[] = {p->w->acct->name, p->w->acct->imap.folders.v[p->folder]};
	metrics_observe(p->w->d->metrics, METRICS_INGEST_SECONDS, lv, seconds);
}

static void on_batch(const struct fetch_result *res, void *arg)
{
	struct progress *p = arg;
	struct folder_note n = {res, p->w->fetched[p->folder] + res->stored, false};
	status_edit(p->w, p->w->acct->imap.folders.v[p->folder], set_folder, &n);
	daemon_search_update(p->w->d); /* the batch is committed */
}

/* Picks up rules reloaded since the last pass. */
static void refresh_rules(struct session *ss)
{
	struct daemon *d = ss->w->d;
	if (ss->rules != NULL && daemon_rules_gen(d) == ss->rules_gen)
		return;
	daemon_rules_release(d, ss->rules);
	ss->rules = daemon_rules_acquire(d, &ss->rules_gen);
	ingest_set_rules(ss->ingest, ss->rules->rules);
}

static void log_fetch(struct worker *w, const char *folder, const struct fetch_result *r)
{
	if (r->rescanned)
		log_warnx("%s/%s: UIDVALIDITY changed to %u: the folder was scanned again",
		          w->acct->name, folder, r->uidvalidity);
	if (r->stored + r->duplicates + r->quarantined == 0)
		return;
	log_info("%s/%s: %llu new message%s stored, %llu already known, %llu quarantined",
	         w->acct->name, folder, (unsigned long long)r->stored, r->stored == 1 ? "" : "s",
	         (unsigned long long)r->duplicates, (unsigned long long)r->quarantined);
}

/*
 * Where a failure of folder i is remembered. A store failure (a full disk) is no fault of the
 * connection: the next login must not report it cleared, nor log it again.
 */
static char **error_slot(struct worker *w, size_t i, int rc)
{
	if (rc == IMAP_EFOLDER)
		return &w->folder_errors[i];
	return rc <= FETCH_ESTORE ? &w->store_error : &w->account_error;
}

static double elapsed(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* The folder's figures after a pass (rc: what fetch_folder returned). */
static void count_fetch(struct worker *w, const char *folder, const struct fetch_result *res,
                        int rc, const struct timespec *start)
{
	struct metrics *m = w->d->metrics;
	const char *kind = rc == IMAP_EFOLDER   ? "folder"
	                   : rc <= FETCH_ESTORE ? "store"
	                                        : "connection";
	metrics_add(m, METRICS_STORED, (const char *const[]){w->acct->name, folder}, res->stored);
	metrics_add(m, METRICS_QUARANTINED, (const char *const[]){w->acct->name, folder},
	            res->quarantined);
	if (rc == 0)
		metrics_observe(m, METRICS_FETCH_SECONDS,
		                (const char *const[]){w->acct->name, folder}, elapsed(start));
	else
		metrics_add(
		    m, METRICS_ERRORS,
		    (const char *const[]){w->acct->name, rc == IMAP_EFOLDER ? folder : "", kind},
		    1);
}

/* One folder; returns 0, 1 when only this folder failed, or -1 when the session is gone. */
static int sync_folder(struct session *ss, size_t i)
{
	struct worker *w = ss->w;
	const char *folder = w->acct->imap.folders.v[i];
	struct progress p = {w, i};
	struct fetch_job job = {
	    ss->imap, ss->ingest, w->d->store, w->acct->name, &w->acct->imap, folder,
	    stopping, on_batch,   &p,          on_ingested};
	struct fetch_result res;
	char *err = NULL;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int rc = fetch_folder(&job, &res, &err);
	count_fetch(w, folder, &res, rc, &start);
	w->fetched[i] += res.stored;
	log_fetch(w, folder, &res);
	if (rc == 0) {
		ss->changed |= res.changed;
		if (i == 0)
			ss->idle_exists = res.exists_after;
		note_recovered(w, &w->folder_errors[i], folder);
		struct folder_note n = {&res, w->fetched[i], !daemon_stopping(w->d)};
		status_edit(w, folder, set_folder, &n);
		return 0;
	}
	note_error(w, error_slot(w, i, rc), rc == IMAP_EFOLDER ? folder : "", err);
	free(err);
	return rc == IMAP_EFOLDER ? 1 : -1;
}

static int sync_all(struct session *ss)
{
	refresh_rules(ss);
	ss->changed = false;
	int worst = 0;
	for (size_t i = 0; i < ss->w->acct->imap.folders.n && !daemon_stopping(ss->w->d); i++) {
		int rc = sync_folder(ss, i);
		if (rc < 0)
			return -1;
		if (rc > 0)
			worst = 1;
	}
	return worst;
}

/* Waiting */

static int wait_pipe(struct daemon *d, int seconds)
{
	struct pollfd p = {.fd = d->stop_pipe[0], .events = POLLIN};
	(void)poll(&p, 1, seconds * 1000);
	return 0;
}

/*
 * Until the server has news (IDLE on the first folder) or the poll interval passes. Whatever
 * IDLE says, the caller then re-syncs every folder by UID.
 */
static int wait_for_mail(struct session *ss)
{
	struct worker *w = ss->w;
	const struct config_imap *cfg = &w->acct->imap;
	int interval = (int)(cfg->poll_interval < REIDLE_MAX ? cfg->poll_interval : REIDLE_MAX);
	if (!cfg->idle || !imap_has_idle(ss->imap))
		return wait_pipe(w->d, interval);
	char *err = NULL;
	struct imap_folder f;
	int rc = IMAP_OK;
	if (cfg->folders.n > 1)
		rc = imap_examine(ss->imap, cfg->folders.v[0], &f, &err);
	/* mail that came while the other folders were synced: IDLE would only hear of more */
	if (rc == IMAP_OK && cfg->folders.n > 1 && f.exists != ss->idle_exists)
		return 0;
	if (rc == IMAP_OK)
		rc = imap_idle(ss->imap, interval * 1000, w->d->stop_pipe[0], &err);
	if (rc > 0) {
		log_debug("%s/%s: IDLE: the server has news", w->acct->name, cfg->folders.v[0]);
		metrics_add(w->d->metrics, METRICS_IDLE_WAKEUPS,
		            (const char *const[]){w->acct->name, cfg->folders.v[0]}, 1);
	}
	if (rc >= 0)
		return 0;
	metrics_add(w->d->metrics, METRICS_ERRORS,
	            (const char *const[]){w->acct->name, "", "connection"}, 1);
	note_error(w, &w->account_error, "", err);
	free(err);
	return -1;
}

/* A whole session: returns 0 after a clean stop or a --once pass, -1 after a failure. */
static int run_session(struct session *ss)
{
	struct worker *w = ss->w;
	if (open_session(ss) < 0)
		return -1;
	int rc;
	for (;;) {
		rc = sync_all(ss);
		w->failed = rc != 0;
		if (rc >= 0)
			store_recovered(w);
		daemon_metrics_write(w->d);
		if (rc < 0 || w->d->once || daemon_stopping(w->d))
			break;
		w->backoff = 1;  /* a full pass worked: the next failure starts afresh */
		if (ss->changed) /* news during the pass: the server will not repeat it */
			continue;
		if ((rc = wait_for_mail(ss)) < 0 || daemon_stopping(w->d))
			break;
	}
	imap_close(ss->imap);
	ss->imap = NULL;
	return rc < 0 ? -1 : 0;
}

/* Waits before reconnecting: backoff seconds with +-25% jitter, doubling up to BACKOFF_MAX
 * (STORE_BACKOFF_MAX while the store is what fails). */
static void backoff_wait(struct worker *w)
{
	int max = w->store_error ? STORE_BACKOFF_MAX : BACKOFF_MAX;
	int base = w->backoff < max ? w->backoff : max;
	int jitter = base / 4 > 0 ? rand() % (base / 2 + 1) - base / 4 : 0;
	int ms = base * 1000 + jitter * 1000 + (base < 4 ? rand() % 250 : 0);
	struct pollfd p = {.fd = w->d->stop_pipe[0], .events = POLLIN};
	(void)poll(&p, 1, ms);
	w->backoff = base * 2 > max ? max : base * 2;
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct session ss = {.w = w};
	ss.ingest = ingest_new(d->store, d->config, NULL, "tendd");
	srand((unsigned)time(NULL) ^ (unsigned)(uintptr_t)w);
	while (!daemon_stopping(d)) {
		int rc = run_session(&ss);
		if (rc < 0) {
			w->failed = true;
			daemon_metrics_write(d); /* the error counted */
		}
		if (d->once || daemon_stopping(d))
			break;
		backoff_wait(w);
	}
	ingest_free(ss.ingest);
	daemon_rules_release(d, ss.rules);
	atomic_fetch_sub(&d->running, 1);
	return NULL;
}
