/*
 * diff: a unified line diff, for the audit trail of draft edits.
 *
 * The output is what `diff -u` prints (GNU format: "---"/"+++" labels, "@@ -a,b +c,d @@"
 * hunks with three lines of context, "\ No newline at end of file"), so it reads as agents
 * and operators expect. Lines are compared with Myers' algorithm; when two texts differ so
 * much that the search would grow too large, the differing middle is shown as one deletion
 * and one insertion instead: still a correct diff, only a longer one.
 */
#ifndef TEND_DIFF_H
#define TEND_DIFF_H

/* Lines of unchanged context around each change. */
#define DIFF_CONTEXT 3

/*
 * Returns the unified diff turning a into b, labelled label_a and label_b, or "" when they
 * are equal. NULL texts are empty. The caller frees the result (never NULL).
 */
char *diff_unified(const char *a, const char *b, const char *label_a, const char *label_b);

#endif
