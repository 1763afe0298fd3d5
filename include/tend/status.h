/*
 * status: what `tend status` prints, the health of tendd, the IMAP accounts and the store at a
 * glance, for people (aligned lines, relative times) and for scripts (--json).
 *
 * Whether tendd runs is read from the lock it holds: while it runs, tendd keeps an exclusive
 * flock on STOREDIR/tendd.pid, which holds its pid and a newline. The IMAP side comes from the
 * status records tendd writes (store_put_status) and from the cursors.
 */
#ifndef TEND_STATUS_H
#define TEND_STATUS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "tend/config.h"
#include "tend/store.h"
#include "tend/view.h"

struct status_daemon {
	bool running;
	pid_t pid; /* 0 when not running, or when the file does not say */
};

/*
 * Looks whether a tendd holds the lock on dir/tendd.pid (dir: the store's directory). Opens the
 * file read-only and tries a shared lock without waiting: refused means running. A missing or
 * unreadable file means not running. Never creates the file, keeps no lock.
 */
void status_daemon_probe(const char *dir, struct status_daemon *out);

/*
 * Writes the status report to out: tendd; each configured IMAP account (c->accounts with
 * has_imap) with its login and error, and its folders (the configured ones, then any other
 * folder with a cursor or a status record) with the last fetch, the cursor, what is waiting
 * and the error; the store's counts; the outbox backlog; the conversation that has waited
 * longest for an answer. With o->json one JSON object on one line:
 *
 *   {"daemon": {"running": bool, "pid": int|null},
 *    "accounts": [{"name", "last_login", "error", "error_since",
 *                  "folders": [{"name", "uidvalidity", "last_uid", "last_fetch", "waiting",
 *                               "exists", "fetched", "error", "error_since"}]}],
 *    "messages", "threads", "quarantined", "outbox",
 *    "oldest_unanswered": {"thread", "since", "subject"} | null}
 *
 * with times in RFC 3339 (UTC), null for never. The store is read in one read transaction.
 * Returns 0, or a store code (STORE_ERROR when out could not be written).
 */
int status_report(struct store *s, const struct config *c, const struct view_options *o, FILE *out);

struct metrics;

/*
 * The same figures for tendd's metrics file (include/tend/metrics.h), gathered the same way
 * and set as gauges in m: per account the last login and per folder the last complete fetch
 * (from the status records), the conversations waiting for an answer with those at risk and
 * overdue at now, the outbox by state (queued, retrying, copy_pending), the store's messages
 * and conversations. Returns 0 or a store code.
 */
int status_metrics(struct store *s, const struct config *c, int64_t now, struct metrics *m);

#endif
