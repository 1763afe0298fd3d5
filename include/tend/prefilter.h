/*
 * prefilter: words a regular expression cannot match without, and one pass over a text that
 * finds which of them it holds.
 *
 * Most rules never match most mail, yet PCRE2 must try every position of a body to prove
 * it. A pattern like (?i)\b(damaged?|broken|faulty)\b cannot match a text that holds none of
 * "damage", "broken", "faulty" (case aside), so each pattern gets such a set of literals,
 * found by reading the pattern; one Aho-Corasick pass over a text then tells every pattern at
 * once whether it needs to run at all. The test is only ever a necessary condition: a pattern
 * this module cannot read (backreferences, \Q...\E, extended mode, anything unexpected) gets no
 * filter and always runs, and literals are compared folded (ASCII letters, and the few other
 * characters PCRE2's caseless matching treats as k, s or i), so a "maybe" is never wrong.
 */
#ifndef TEND_PREFILTER_H
#define TEND_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "tend/util.h"

/*
 * The literals (lower-case ASCII) one of which every match of pattern contains; false when the
 * pattern gives no useful set (then it must always run).
 */
bool prefilter_literals(const char *pattern, struct strvec *out);

struct prefilter;

struct prefilter *prefilter_new(void);
void prefilter_free(struct prefilter *pf);

/* Adds a pattern: its number for prefilter_may_match, or -1 when it has no filter. Before
 * prefilter_build. */
int prefilter_add(struct prefilter *pf, const char *pattern);

/* Builds the automaton over every added pattern's literals. */
void prefilter_build(struct prefilter *pf);

/* What one pass found in a text: give it to prefilter_may_match. */
struct prefilter_scan {
	unsigned char *seen; /* a bit per literal */
};

void prefilter_scan(const struct prefilter *pf, const char *s, size_t len,
                    struct prefilter_scan *out);
void prefilter_scan_free(struct prefilter_scan *sc);

/* False only when the text scanned cannot match pattern number id. */
bool prefilter_may_match(const struct prefilter *pf, int id, const struct prefilter_scan *sc);

#endif
