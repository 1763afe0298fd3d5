/*
 * stats: how well the team keeps its response-time targets, from the times recorded on each
 * conversation: when the first customer message arrived, the deadline that was in force, and
 * when the SMTP server accepted our first reply (and who approved it). Nothing is recomputed
 * from today's rules.
 */
#ifndef TEND_STATS_H
#define TEND_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/rules.h"
#include "tend/store.h"
#include "tend/view.h"

enum stats_by {
	STATS_BY_NONE,
	STATS_BY_TAG,
	STATS_BY_PRIORITY,
	STATS_BY_AGENT,
};

/* How many ways of grouping one report combines (each of enum stats_by at most once). */
#define STATS_BY_MAX 3

struct stats_options {
	int64_t since; /* conversations whose first message arrived at or after; 0: all */
	int64_t until; /* ... and before; 0: now */
	/* Group by all of these at once, in this order: a conversation tagged refund and
	 * voucher and answered by alice is in "refund / alice" and "voucher / alice". */
	enum stats_by by[STATS_BY_MAX];
	size_t nby;
	bool daily; /* also the backlog at the end of each day from since to until */
	/* rules.yaml business_hours: first-response times also in working time; NULL: none */
	const struct rules_business_hours *bh;
};

/* Adds a grouping; -1 when it is there already. */
int stats_add_by(struct stats_options *so, enum stats_by by);

/*
 * Per group (and in total): conversations received, answered, answered within target, breached
 * (answered late, or unanswered past the deadline), and the first-response time's p50, p90
 * and p99 (nearest rank, in seconds); resolved (by an agent, without a reply: neither answered
 * nor breached, and left out of the share within target), and not delivered (the first reply
 * bounced: it does not count as a response; the next reply accepted does, measured from the
 * customer's first message against the first target, and until then the conversation is late
 * against that target). Returns 0 or a store code.
 */
int stats_report(struct store *s, const struct stats_options *so, const struct view_options *o,
                 FILE *out);

#endif
