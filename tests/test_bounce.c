/* bounce: reading delivery failure reports, on real bounces from many mail servers. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tend/bounce.h"
#include "tend/util.h"

/* Reads a bounce of the corpus; *b is set even when the file cannot be read (then empty). */
static bool parse_file(const char *name, struct bounce_info *b)
{
	char *path = xasprintf("%s/bounces/%s", CORPORA, name), *data = NULL;
	size_t len = 0;
	bool ok = false;
	memset(b, 0, sizeof(*b));
	if (read_file(path, &data, &len) < 0)
		T_FAIL("cannot read %s", path);
	else
		ok = bounce_parse(data, len, b);
	free(path);
	free(data);
	return ok;
}

/* RFC 3464: Action failed, Final- and Original-Recipient, the returned header quoted. */
static void test_dsn(void)
{
	if (!t_corpora())
		return;
	struct bounce_info b;
	T_OK(parse_file("dsn_01.txt", &b));
	T_EQ_INT(b.recipients.n, 2);
	T_OK(strvec_contains(&b.recipients, "userx@example.com"));
	T_OK(strvec_contains(&b.recipients, "userx@sims-ms-daemon"));
	T_OK(strvec_contains(&b.message_ids, "F1218V8zDv60gxapzha000001ae@hotmail.com"));
	T_EQ_STR(b.diagnostic, "5.0.0 (recipient reached disk quota)");
	bounce_info_finish(&b);
}

/* Exim's X-Failed-Recipients header. */
static void test_exim(void)
{
	if (!t_corpora())
		return;
	struct bounce_info b;
	T_OK(parse_file("exim_01.txt", &b));
	T_EQ_INT(b.recipients.n, 1);
	T_EQ_STR(b.recipients.n ? b.recipients.v[0] : "", "userx@its.example.nl");
	bounce_info_finish(&b);
}

/* The plain-text forms of Postfix and qmail, which carry no report part. */
static void test_text_forms(void)
{
	if (!t_corpora())
		return;
	static const char *const cases[][2] = {
	    {"postfix_01.txt", "xxxxx@local.ie"},
	    {"qmail_01.txt", "userx@example.de"},
	    {"yahoo_11.txt", "bad_user@aol.com"},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct bounce_info b;
		T_OK(parse_file(cases[i][0], &b));
		T_OK(strvec_contains(&b.recipients, cases[i][1]));
		bounce_info_finish(&b);
	}
}

/* A delay is not a failure: nobody is flagged for it. */
static void test_delay_is_not_failure(void)
{
	if (!t_corpora())
		return;
	struct bounce_info b;
	T_OK(!parse_file("dsn_05.txt", &b));
	T_EQ_INT(b.recipients.n, 0);
}

/* A customer who writes the words of a report in the body is not a bounce. */
static void test_customer_text(void)
{
	const char *m = "From: a@example.com\nSubject: question\n\n"
	                "Final-Recipient: rfc822; me@example.com\nAction: delivered\n\nthanks\n";
	struct bounce_info b;
	T_OK(!bounce_parse(m, strlen(m), &b));
}

/* Every bounce of the corpus is read without a crash; most name their failed recipient. */
static void test_corpus(void)
{
	if (!t_corpora())
		return;
	char *dir = xasprintf("%s/bounces", CORPORA);
	DIR *d = opendir(dir);
	size_t files = 0, named = 0;
	for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		struct bounce_info b;
		files++;
		if (parse_file(e->d_name, &b)) {
			named++;
			for (size_t i = 0; i < b.recipients.n; i++)
				T_OK(strchr(b.recipients.v[i], '@') &&
				     !strchr(b.recipients.v[i], ' '));
			bounce_info_finish(&b);
		}
	}
	if (d)
		closedir(d);
	free(dir);
	printf("# %zu of %zu bounces name a failed recipient\n", named, files);
	T_OK(files >= 100);
	T_OK(named * 3 >= files); /* 51 of 115 when written; the rest are notices in prose */
}

T_MAIN(T_CASE(test_dsn), T_CASE(test_exim), T_CASE(test_text_forms),
       T_CASE(test_delay_is_not_failure), T_CASE(test_customer_text), T_CASE(test_corpus))
