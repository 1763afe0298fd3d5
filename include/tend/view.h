/*
 * view: what `tend threads` and `tend show` print, for people (aligned columns, relative
 * dates, colour only on a terminal) and for scripts (--json, the contract of DESIGN.md).
 */
#ifndef TEND_VIEW_H
#define TEND_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/store.h"

struct view_options {
	bool json;
	bool color;  /* ANSI colour: only when stdout is a terminal and NO_COLOR is unset */
	int width;   /* terminal columns; 0: do not truncate */
	int64_t now; /* the time relative dates are computed from */
};

/* Fills colour, width and now from the environment and stdout. */
void view_options_detect(struct view_options *o, bool json);

/* Lists live conversations, most recently active first. Returns 0 or a store code. */
int view_threads(struct store_txn *t, const struct view_options *o, FILE *out);

/* Lists quarantined messages with their reasons. */
int view_quarantined(struct store_txn *t, const struct view_options *o, FILE *out);

/*
 * Shows one thread: its messages (oldest first) with why each joined, and its draft.
 * Returns 0, STORE_NOTFOUND when there is no such thread, or another store code.
 */
int view_show(struct store_txn *t, uint64_t id, const struct view_options *o, FILE *out);

/* "just now", "5 min ago", "3 h ago", "yesterday 14:02", "Mon 14:02", "12 Nov", "2024-03-01". */
void view_relative_time(int64_t t, int64_t now, char *buf, size_t size);

#endif
