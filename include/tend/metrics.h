/*
 * metrics: tendd's figures in the Prometheus text exposition format (version 0.0.4), for
 * node_exporter's textfile collector (tend.yaml `metrics_file`).
 *
 * A registry holds one value (or one histogram) per family and label values. Counters count
 * since the process started: Prometheus takes a restart's reset in its stride (rate() and
 * increase() allow for it). Gauges are set afresh from the store before each write. Every
 * function may be called from any thread.
 */
#ifndef TEND_METRICS_H
#define TEND_METRICS_H

#include <stdint.h>

#include "tend/util.h"

/* The families, in the order they are written. */
enum metrics_family {
	METRICS_LAST_LOGIN,     /* gauge {account}: last successful login, Unix time */
	METRICS_LAST_FETCH,     /* gauge {account, folder}: last complete fetch, Unix time */
	METRICS_STORED,         /* counter {account, folder}: messages stored */
	METRICS_QUARANTINED,    /* counter {account, folder}: messages quarantined */
	METRICS_ERRORS,         /* counter {account, folder, kind} */
	METRICS_IDLE_WAKEUPS,   /* counter {account, folder}: IDLE said the server has news */
	METRICS_FETCH_SECONDS,  /* histogram {account, folder}: one pass over a folder */
	METRICS_INGEST_SECONDS, /* histogram {account, folder}: one message parsed and stored */
	METRICS_CONVERSATIONS,  /* gauge {state}: waiting, at_risk, overdue */
	METRICS_OUTBOX,         /* gauge {state}: queued, retrying, copy_pending */
	METRICS_SEND_SECONDS,   /* histogram: one SMTP transaction */
	METRICS_SENT,           /* counter: replies the server accepted */
	METRICS_SEND_RETRIES,   /* counter: attempts that failed and will be retried */
	METRICS_SEND_FAILED,    /* counter: replies the server refused for good */
	METRICS_SEND_UNCERTAIN, /* counter: replies whose outcome was lost */
	METRICS_STORE_MESSAGES, /* gauge: messages in the store */
	METRICS_STORE_THREADS,  /* gauge: conversations in the store */
	METRICS_NFAMILIES,
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Changes the sample of family f with the label values lv (as many as the family has labels,
 * in the order given above; NULL when it has none): metrics_add adds n to a counter (n = 0
 * makes it appear at 0, which lets increase() see its first step), metrics_set sets a gauge,
 * metrics_observe counts a duration in a histogram.
 */
void metrics_add(struct metrics *m, enum metrics_family f, const char *const *lv, uint64_t n);
void metrics_set(struct metrics *m, enum metrics_family f, const char *const *lv, double v);
void metrics_observe(struct metrics *m, enum metrics_family f, const char *const *lv,
                     double seconds);

/* Gives every sample a first label shop="shop" (NULL: none), from the next render on. */
void metrics_set_shop(struct metrics *m, const char *shop);

/* Appends the exposition: per family its HELP and TYPE lines, then its samples. */
void metrics_render(struct metrics *m, struct buf *out);

/* Appends s as a label value: backslash, double quote and newline escaped. */
void metrics_put_label_value(struct buf *out, const char *s);

/*
 * Writes the exposition to path atomically: into path.tmp in the same directory (created
 * with O_EXCL|O_NOFOLLOW, mode 0644; a file or link left there by a crash is removed first,
 * never followed), fsync, rename over path. Returns 0, or -1 with *err (caller frees).
 */
int metrics_write(struct metrics *m, const char *path, char **err);

#endif
