/*
 * daemon: start-up, signals, rules reloads and shutdown. See include/tend/daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "tend/daemon.h"
#include "tend/outbox.h"
#include "tend/search.h"
#include "tend/smtp.h"
#include "tend/status.h"
#include "tend/util.h"

struct rules_ref *daemon_rules_acquire(struct daemon *d, unsigned *gen)
{
	pthread_mutex_lock(&d->lock);
	struct rules_ref *r = d->rules;
	r->refs++;
	*gen = d->rules_gen;
	pthread_mutex_unlock(&d->lock);
	return r;
}

void daemon_rules_release(struct daemon *d, struct rules_ref *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last) {
		rules_free(r->rules);
		free(r);
	}
}

unsigned daemon_rules_gen(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	unsigned g = d->rules_gen;
	pthread_mutex_unlock(&d->lock);
	return g;
}

void daemon_search_update(struct daemon *d)
{
	char *err = NULL;
	int rc = search_catch_up(d->store, NULL, &err);
	pthread_mutex_lock(&d->lock);
	if (rc < 0 && (d->index_error == NULL || strcmp(d->index_error, err) != 0)) {
		log_warnx("%s; mail is stored as ever, `tend search` may miss the newest until "
		          "this is fixed",
		          err);
		free(d->index_error);
		d->index_error = err;
		err = NULL;
	} else if (rc == 0 && d->index_error) {
		log_info("the search index works again");
		free(d->index_error);
		d->index_error = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	free(err);
}

/* Logs a failure once, and that it works again: called with metrics_lock held. */
static void note_metrics(struct daemon *d, char *err)
{
	if (err && (d->metrics_error == NULL || strcmp(d->metrics_error, err) != 0)) {
		log_warnx("%s", err);
		free(d->metrics_error);
		d->metrics_error = err;
		return;
	}
	if (err == NULL && d->metrics_error) {
		log_info("the metrics file %s is written again", d->config->metrics_file);
		free(d->metrics_error);
		d->metrics_error = NULL;
	}
	free(err);
}

void daemon_metrics_write(struct daemon *d)
{
	const char *path = d->config->metrics_file;
	char *err = NULL;
	if (path == NULL)
		return;
	pthread_mutex_lock(&d->metrics_lock);
	metrics_set_shop(d->metrics, d->config->metrics_shop);
	int rc = status_metrics(d->store, d->config, (int64_t)time(NULL), d->metrics);
	if (rc < 0)
		err = xasprintf("metrics file %s: reading the store failed: %s", path,
		                store_strerror(rc));
	else
		metrics_write(d->metrics, path, &err);
	note_metrics(d, err);
	pthread_mutex_unlock(&d->metrics_lock);
}

/* Loads the operators' rules; a missing file means the built-in ones (NULL). */
static int load_rules(const struct config *c, struct rules **out)
{
	struct diags dg = DIAGS_INIT;
	*out = NULL;
	if (access(c->rules, F_OK) != 0 && errno == ENOENT)
		return 0;
	int rc = rules_load(c->rules, out, &dg);
	if (rc < 0)
		diags_print(&dg);
	diags_free(&dg);
	return rc;
}

static void reload_rules(struct daemon *d)
{
	struct rules *r;
	if (load_rules(d->config, &r) < 0) {
		log_warnx("%s has errors: keeping the rules loaded before", d->config->rules);
		return;
	}
	struct rules_ref *ref = xcalloc(1, sizeof(*ref));
	ref->rules = r;
	ref->refs = 1;
	pthread_mutex_lock(&d->lock);
	struct rules_ref *old = d->rules;
	d->rules = ref;
	d->rules_gen++;
	pthread_mutex_unlock(&d->lock);
	daemon_rules_release(d, old);
	if (r != NULL)
		log_info("rules reloaded from %s (%zu rules)", rules_path(r), rules_count(r));
	else
		log_info("%s does not exist: using the built-in rules", d->config->rules);
}

/*
 * One daemon per store: an exclusive lock on STORE/tendd.pid, held until exit. The file holds
 * the pid, for `tend status`. Returns the descriptor or -1.
 */
static int lock_pidfile(const char *store_dir)
{
	char *path = xasprintf("%s/tendd.pid", store_dir), *err = NULL;
	/*
	 * Readable by the group of a shared store, so that agents' `tend status` sees the lock.
	 * Never a link or a stranger's file, and truncated only once it is ours and locked.
	 */
	int fd = store_file_open(store_dir, "tendd.pid", O_RDWR | O_CREAT, 0644, &err);
	if (fd < 0) {
		log_warnx("%s", err);
		free(err);
		free(path);
		return -1;
	}
	int locked = -1;
	/* `tend status` holds a shared lock for an instant: try for a little while */
	for (int i = 0; i < 20 && (locked = flock(fd, LOCK_EX | LOCK_NB)) < 0; i++)
		usleep(50 * 1000);
	if (locked < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_warnx("another tendd%s%s%s is running on the store %s", *buf ? " (pid " : "",
		          buf, *buf ? ")" : "", store_dir);
		close(fd);
		free(path);
		return -1;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("%s", path);
	free(path);
	return fd;
}

static int setup(struct daemon *d, const char *config_path)
{
	struct diags dg = DIAGS_INIT;
	/* The sender connects where libcurl reads the SMTP URL: check it the way it will. */
	if (config_load(config_path, &d->config, &dg) < 0 ||
	    smtp_check_config(d->config, &dg) > 0) {
		diags_print(&dg);
		diags_free(&dg);
		log_warnx("%s has errors: not starting", config_path);
		return -1;
	}
	diags_free(&dg);
	char *err = NULL;
	struct store_options so = {.group = d->config->group};
	if (store_open(d->config->store, &so, &d->store, &err) < 0) {
		log_warnx("%s", err ? err : "cannot open the store");
		free(err);
		return -1;
	}
	struct rules *r;
	if (load_rules(d->config, &r) < 0) {
		log_warnx("%s has errors: not starting", d->config->rules);
		return -1;
	}
	d->rules = xcalloc(1, sizeof(*d->rules));
	d->rules->rules = r;
	d->rules->refs = 1;
	return 0;
}

static void start_workers(struct daemon *d)
{
	d->workers = xcalloc(d->config->naccounts + 1, sizeof(*d->workers));
	for (size_t i = 0; i < d->config->naccounts; i++) {
		const struct config_account *a = &d->config->accounts[i];
		if (!a->has_imap)
			continue;
		struct worker *w = &d->workers[d->nworkers++];
		w->d = d;
		w->acct = a;
		w->backoff = 1;
		w->folder_errors = xcalloc(a->imap.folders.n, sizeof(*w->folder_errors));
		w->fetched = xcalloc(a->imap.folders.n, sizeof(*w->fetched));
		atomic_fetch_add(&d->running, 1);
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
			fatalx("cannot start a thread for account %s", a->name);
		w->started = true;
	}
}

static bool can_send(const struct config *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].has_smtp)
			return true;
	return false;
}

/*
 * Every counter of every configured account and folder appears at 0 from the start, so that
 * Prometheus sees the first message or error as an increase.
 */
static void count_from_zero(struct daemon *d)
{
	static const char *const account_kinds[] = {"login", "connection", "store"};
	static const enum metrics_family sender[] = {METRICS_SENT, METRICS_SEND_RETRIES,
	                                             METRICS_SEND_FAILED, METRICS_SEND_UNCERTAIN};
	for (size_t i = 0; i < d->config->naccounts; i++) {
		const struct config_account *a = &d->config->accounts[i];
		for (size_t k = 0; a->has_imap && k < NELEM(account_kinds); k++)
			metrics_add(d->metrics, METRICS_ERRORS,
			            (const char *const[]){a->name, "", account_kinds[k]}, 0);
		for (size_t k = 0; a->has_imap && k < a->imap.folders.n; k++) {
			const char *const lv[] = {a->name, a->imap.folders.v[k], "folder"};
			metrics_add(d->metrics, METRICS_STORED, lv, 0);
			metrics_add(d->metrics, METRICS_QUARANTINED, lv, 0);
			metrics_add(d->metrics, METRICS_ERRORS, lv, 0);
			if (k == 0) /* the folder IDLE watches */
				metrics_add(d->metrics, METRICS_IDLE_WAKEUPS, lv, 0);
		}
	}
	for (size_t k = 0; can_send(d->config) && k < NELEM(sender); k++)
		metrics_add(d->metrics, sender[k], NULL, 0);
}

static void start_sender(struct daemon *d)
{
	char *err = NULL;
	if (d->once || !can_send(d->config))
		return;
	d->poke_fd = outbox_listen(d->config->store, d->config->group != NULL, &err);
	if (d->poke_fd < 0) {
		log_warnx("%s", err);
		free(err);
	}
	atomic_fetch_add(&d->running, 1);
	if (pthread_create(&d->sender_tid, NULL, sender_main, d) != 0)
		fatalx("cannot start the sender thread");
	d->sender_started = true;
}

static void request_stop(struct daemon *d, int sig)
{
	if (atomic_exchange(&d->stopping, true))
		return;
	log_info("%s: stopping after the transaction in hand", strsignal(sig));
	(void)!write(d->stop_pipe[1], "x", 1);
}

/* The longest the metrics file goes without being written while tendd runs, in seconds. */
#define METRICS_INTERVAL 60

/*
 * The main thread: signals until every account thread has finished. It also writes the metrics
 * file once a minute, so that its age says whether tendd lives when no pass has run.
 */
static void wait_signals(struct daemon *d, const sigset_t *set)
{
	time_t written = time(NULL);
	while (atomic_load(&d->running) > 0) {
		if (time(NULL) - written >= METRICS_INTERVAL) {
			daemon_metrics_write(d);
			written = time(NULL);
		}
		struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		int sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			request_stop(d, sig);
		else if (sig == SIGHUP)
			reload_rules(d);
	}
}

static int finish(struct daemon *d)
{
	int status = 0;
	for (size_t i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->started)
			pthread_join(w->tid, NULL);
		if (w->failed)
			status = 1;
		free(w->account_error);
		free(w->store_error);
		for (size_t j = 0; j < w->acct->imap.folders.n; j++)
			free(w->folder_errors[j]);
		free(w->folder_errors);
		free(w->fetched);
	}
	free(d->workers);
	if (d->sender_started)
		pthread_join(d->sender_tid, NULL);
	if (d->once && can_send(d->config) && daemon_outbox_pass(d) < 0)
		status = 1;
	return status;
}

int daemon_run(const char *config_path, const struct daemon_options *opt)
{
	struct daemon d = {.once = opt->once, .stop_pipe = {-1, -1}, .poke_fd = -1};
	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.metrics_lock, NULL);
	d.metrics = metrics_new();
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set,
	                NULL); /* threads inherit it; only sigtimedwait sees them */
	signal(SIGPIPE, SIG_IGN);
	int status = 1, pidfd = -1;
	if (setup(&d, config_path) < 0 || (pidfd = lock_pidfile(d.config->store)) < 0)
		goto out;
	if (pipe2(d.stop_pipe, O_CLOEXEC) < 0)
		fatal("pipe");
	daemon_search_update(&d); /* what a crash, or a tend before the index, left out */
	count_from_zero(&d);
	daemon_metrics_write(&d);
	start_workers(&d);
	start_sender(&d);
	if (d.nworkers == 0)
		log_info("no account has an imap block: nothing to fetch");
	else
		log_info("started: %zu account%s%s", d.nworkers, d.nworkers == 1 ? "" : "s",
		         d.once ? ", one pass" : "");
	wait_signals(&d, &set);
	status = finish(&d);
	log_info("stopped");
out:
	if (pidfd >= 0) {
		(void)!ftruncate(pidfd, 0);
		close(pidfd);
	}
	if (d.poke_fd >= 0)
		close(d.poke_fd);
	if (d.stop_pipe[0] >= 0) {
		close(d.stop_pipe[0]);
		close(d.stop_pipe[1]);
	}
	daemon_rules_release(&d, d.rules);
	free(d.index_error);
	free(d.metrics_error);
	metrics_free(d.metrics);
	pthread_mutex_destroy(&d.metrics_lock);
	store_close(d.store);
	config_free(d.config);
	pthread_mutex_destroy(&d.lock);
	return status;
}
