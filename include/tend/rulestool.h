/*
 * rulestool: the operators' commands around rules.yaml. `tend rules check` validates a file;
 * `tend rules test` shows what the rules make of one message and the draft it would get;
 * `tend rules replay` shows, across the stored mail, which conversations a rules file would
 * tag differently from what was recorded when the mail arrived.
 */
#ifndef TEND_RULESTOOL_H
#define TEND_RULESTOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "tend/config.h"
#include "tend/rules.h"
#include "tend/store.h"

/* Loads path and prints every problem (file:line:column) to stderr, or a one-line summary to
 * out. Returns 0 when the file is valid, 1 otherwise. */
int rulestool_check(const char *path, FILE *out);

/*
 * Evaluates the message in the file eml_path with r and prints the explanation (which rules
 * matched, on which text, captures and where each came from, tags, priority) and the draft it
 * would produce, or the same as JSON. When s (may be NULL) holds the conversation the message
 * follows up, its customer's earlier messages are where captures the message lacks come from.
 * Returns 0, or 1 when the file cannot be read or parsed (reason on stderr).
 */
int rulestool_test(const struct rules *r, const struct config *c, struct store *s,
                   const char *eml_path, bool json, FILE *out);

/*
 * For every conversation in the store, compares the tags, priority and "needs an answer"
 * recorded when its messages arrived with what r says now, and the text of each open
 * proposed draft with what r and its templates would write (see classify_redraft); prints the
 * differences and the open drafts that would read differently. c gives our addresses and the
 * drafts' settings. Returns 0 or a store error code.
 */
int rulestool_replay(struct store *s, const struct config *c, const struct rules *r, bool json,
                     FILE *out);

#endif
