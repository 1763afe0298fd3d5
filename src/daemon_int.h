/* daemon: what daemon.c and daemon_account.c share. Not for other modules. */
#ifndef TEND_DAEMON_INT_H
#define TEND_DAEMON_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/metrics.h"
#include "tend/rules.h"
#include "tend/store.h"

/* Rules shared by the account threads, freed when the last user lets go after a reload. */
struct rules_ref {
	struct rules *rules; /* NULL: the built-in rules */
	int refs;
};

struct worker;

struct daemon {
	struct config *config;
	struct store *store;
	bool once;
	atomic_bool stopping;
	int stop_pipe[2];     /* written once on stop, never read: every poll() on it wakes */
	pthread_mutex_t lock; /* guards rules, rules_gen and index_error */
	struct rules_ref *rules;
	unsigned rules_gen;
	struct worker *workers;
	size_t nworkers;
	atomic_int running; /* account and sender threads not finished yet */
	int poke_fd;        /* the outbox's wake-up socket, or -1 */
	pthread_t sender_tid;
	bool sender_started;
	char *index_error;       /* the search index's failure last logged, NULL when it works */
	struct metrics *metrics; /* counted always, written when metrics_file is set */
	pthread_mutex_t metrics_lock; /* one writer of the file at a time; guards metrics_error */
	char *metrics_error;          /* the write failure last logged, NULL when it works */
};

struct worker {
	struct daemon *d;
	const struct config_account *acct;
	pthread_t tid;
	bool started;
	bool failed;          /* the last pass failed (the exit status of --once) */
	int backoff;          /* seconds before the next attempt after a failure */
	char *account_error;  /* the error last logged for the account, NULL when fine */
	char *store_error;    /* the same for the store (full): a login does not clear it */
	char **folder_errors; /* the same per folder */
	uint64_t *fetched;    /* messages stored per folder since start */
	bool logged_in_before;
};

/* The account thread. */
void *worker_main(void *arg);

/* The sender thread (arg: the daemon), and one pass of the outbox for --once (-1: a failure). */
void *sender_main(void *arg);
int daemon_outbox_pass(struct daemon *d);

/*
 * Brings the search index up to date after a commit (never inside a store transaction). A
 * failure fails nothing: it is logged once, and once more when the index works again.
 */
void daemon_search_update(struct daemon *d);

/*
 * Writes the metrics file (tend.yaml metrics_file; nothing when unset): the counters, and the
 * gauges read afresh from the store. A failure fails nothing: it is logged once, and once
 * more when writing works again.
 */
void daemon_metrics_write(struct daemon *d);

/* Takes a reference to the rules in use; *gen receives their generation. */
struct rules_ref *daemon_rules_acquire(struct daemon *d, unsigned *gen);
void daemon_rules_release(struct daemon *d, struct rules_ref *r);
unsigned daemon_rules_gen(struct daemon *d);

static inline bool daemon_stopping(struct daemon *d)
{
	return atomic_load(&d->stopping);
}

#endif
