/*
 * Unit tests for mbox splitting (the rest of import is tested through the tend binary).
 */
#include "t.h"
#include "tend/import.h"

struct collected {
	struct strvec msgs;
};

static int collect(const struct mbox_entry *e, void *arg)
{
	struct collected *c = arg;
	strvec_push_owned(&c->msgs, xstrndup(e->data, e->len));
	return 0;
}

static struct strvec split(const char *text)
{
	struct collected c = {STRVEC_INIT};
	T_EQ_INT(mbox_split(text, strlen(text), collect, &c), 0);
	return c.msgs;
}

static void test_two_messages(void)
{
	struct strvec v = split("From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\n"
	                        "From c@d Tue Jan  2 00:00:00 2024\nSubject: two\n\nbody 2\n");
	T_EQ_INT(v.n, 2);
	if (v.n == 2) {
		T_EQ_STR(v.v[0], "Subject: one\n\nbody\n");
		T_EQ_STR(v.v[1], "Subject: two\n\nbody 2\n");
	}
	strvec_free(&v);
}

static void test_body_from_line_does_not_split(void)
{
	struct strvec v = split("From - \nSubject: film\n\nMy favourite:\n\nFrom Russia with love\n"
	                        "Year: 1963\n\nFrom -\nSubject: next\n\nx\n");
	T_EQ_INT(v.n, 2);
	if (v.n == 2)
		T_CONTAINS(v.v[0], "From Russia with love\nYear: 1963");
	strvec_free(&v);
}

static void test_pipermail_from_line(void)
{
	struct strvec v =
	    split("From jane at example.org  Mon Jun  1 10:00:00 2015\n"
	          "From: jane at example.org (Jane)\n\nhi\n\n"
	          "From joe at example.org  Mon Jun  1 11:00:00 2015\nFrom: joe\n\nyo\n");
	T_EQ_INT(v.n, 2);
	strvec_free(&v);
}

static void test_mboxrd_unescaped(void)
{
	struct strvec v = split("From a@b Mon Jan  1 00:00:00 2024\nSubject: q\n\n>From here\n"
	                        ">>From there\nnot >From this\n");
	T_EQ_INT(v.n, 1);
	if (v.n == 1)
		T_EQ_STR(v.v[0], "Subject: q\n\nFrom here\n>From there\nnot >From this\n");
	strvec_free(&v);
}

static void test_bom_and_crlf(void)
{
	struct strvec v = split("\xef\xbb\xbf"
	                        "From a@b Mon Jan  1 00:00:00 2024\r\nSubject: q\r\n\r\nx\r\n\r\n"
	                        "From a@b Mon Jan  1 00:00:01 2024\r\nSubject: r\r\n\r\ny\r\n");
	T_EQ_INT(v.n, 2);
	if (v.n == 2) {
		T_EQ_STR(v.v[0], "Subject: q\r\n\r\nx\r\n");
		T_EQ_STR(v.v[1], "Subject: r\r\n\r\ny\r\n");
	}
	strvec_free(&v);
}

static bool detect(const char *s)
{
	return mbox_detect(s, strlen(s));
}

static void test_detect(void)
{
	T_OK(detect("From a@b Mon Jan  1 00:00:00 2024\nX: y\n"));
	T_OK(detect("From 1844347792267117879@xxx\nFrom: x\n"));
	T_OK(detect("From - \nFrom: x\n"));
	T_OK(!detect("From: a@b\nSubject: x\n"));
	T_OK(!detect("From Russia with love\n"));
	T_OK(!detect("Return-Path: <a@b>\n"));
	T_OK(!detect(""));
}

static int stop_at_first(const struct mbox_entry *e, void *arg)
{
	(*(int *)arg)++;
	return 7;
}

static void test_callback_stops(void)
{
	const char *t = "From a@b Mon Jan  1 00:00:00 2024\n\nx\n\nFrom a@b 10:00 2024\n\ny\n";
	int calls = 0;
	T_EQ_INT(mbox_split(t, strlen(t), stop_at_first, &calls), 7);
	T_EQ_INT(calls, 1);
}

T_MAIN(T_CASE(test_two_messages), T_CASE(test_body_from_line_does_not_split),
       T_CASE(test_pipermail_from_line), T_CASE(test_mboxrd_unescaped), T_CASE(test_bom_and_crlf),
       T_CASE(test_detect), T_CASE(test_callback_stops))
