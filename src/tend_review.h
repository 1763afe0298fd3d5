/*
 * tend_review: `tend review`, the one-key loop over the review queue. Part of the tend command
 * (the terminal is the user interface's business), not of the library: it calls the review
 * and view modules as the plain commands do.
 */
#ifndef TEND_REVIEW_LOOP_H
#define TEND_REVIEW_LOOP_H

#include <stdio.h>

#include "tend/config.h"
#include "tend/review.h"
#include "tend/store.h"

struct rules;

/* What the loop works with; all of it stays the caller's. */
struct tend_review_args {
	struct store *store;                /* open for writing */
	const struct config *config;        /* loaded */
	struct review_agent *agent;         /* who reviews; force is set for a confirmed action */
	const struct review_filter *filter; /* the queue's filters; NULL: the whole queue */
	const struct rules *rules;          /* for the languages `tend show` tells; may be NULL */
	bool tell_lang;                     /* as view_options.tell_lang */
};

/*
 * Walks the queue on the terminal (stdin and stdout must be one), a key per action, until the
 * agent quits or nothing is left. The terminal's mode is restored on every way out, signals
 * included. Returns the exit status.
 */
int tend_review_run(const struct tend_review_args *args);

/* Writes the keys and what each does, as `?` shows them, to f. */
void tend_review_keys(FILE *f);

#endif
