/*
 * test_diff: the unified diff kept in the audit trail for every edit, compared as text with
 * what `diff -u` prints for the same files.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tend/diff.h"
#include "tend/util.h"

static void expect(const char *a, const char *b, const char *want)
{
	char *got = diff_unified(a, b, "before", "after");
	T_EQ_STR(got, want);
	free(got);
}

static void test_identical(void)
{
	expect("", "", "");
	expect(NULL, NULL, "");
	expect(NULL, "", "");
	expect("Hello Anna,\nthanks.\n", "Hello Anna,\nthanks.\n", "");
}

static void test_insert(void)
{
	expect("a\nb\nc\n", "a\nb\nnew\nc\n",
	       "--- before\n+++ after\n"
	       "@@ -1,3 +1,4 @@\n a\n b\n+new\n c\n");
	expect("a\n", "top\na\n", "--- before\n+++ after\n@@ -1 +1,2 @@\n+top\n a\n");
}

static void test_delete(void)
{
	expect("a\nb\nc\nd\n", "a\nd\n",
	       "--- before\n+++ after\n"
	       "@@ -1,4 +1,2 @@\n a\n-b\n-c\n d\n");
}

static void test_change(void)
{
	expect("Hello Anna,\n\nYour refund is on its way.\n\nBest,\n{{agent.name}}\n",
	       "Hi Anna,\n\nYour refund is on its way.\n\nBest,\n{{agent.name}}\n",
	       "--- before\n+++ after\n"
	       "@@ -1,4 +1,4 @@\n"
	       "-Hello Anna,\n"
	       "+Hi Anna,\n"
	       " \n"
	       " Your refund is on its way.\n"
	       " \n");
}

static void test_empty_sides(void)
{
	expect("", "one\ntwo\n", "--- before\n+++ after\n@@ -0,0 +1,2 @@\n+one\n+two\n");
	expect("one\n", "", "--- before\n+++ after\n@@ -1 +0,0 @@\n-one\n");
}

static void test_no_newline_at_end(void)
{
	expect(
	    "a\nb", "a\nb\n",
	    "--- before\n+++ after\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

/* Changes more than six unchanged lines apart make two hunks; closer ones share one. */
static void test_hunks(void)
{
	expect("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
	       "--- before\n+++ after\n"
	       "@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n"
	       "@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n");
	expect("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n",
	       "--- before\n+++ after\n"
	       "@@ -1,10 +1,10 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n 10\n");
}

/* Two texts with nothing in common past the search bound still give a correct diff. */
static void test_large(void)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	for (int i = 0; i < 3000; i++) {
		buf_printf(&a, "a%d\n", i);
		buf_printf(&b, "b%d\n", i);
	}
	char *d = diff_unified(a.data, b.data, "before", "after");
	T_OK(strncmp(d, "--- before\n+++ after\n@@ -1,3000 +1,3000 @@\n-a0\n", 44) == 0);
	size_t minus = 0, plus = 0;
	for (const char *p = d; (p = strchr(p, '\n')) != NULL; p++) {
		minus += p[1] == '-' && p[2] == 'a';
		plus += p[1] == '+' && p[2] == 'b';
	}
	T_EQ_INT(minus, 3000);
	T_EQ_INT(plus, 3000);
	free(d);
	buf_free(&a);
	buf_free(&b);
}

T_MAIN(T_CASE(test_identical), T_CASE(test_insert), T_CASE(test_delete), T_CASE(test_change),
       T_CASE(test_empty_sides), T_CASE(test_no_newline_at_end), T_CASE(test_hunks),
       T_CASE(test_large))
