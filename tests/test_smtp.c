/* smtp: the SMTP URL as libcurl reads it (sending is tested against a real server in
 * tests/daemon_send.py). */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tend/smtp.h"

/* The host libcurl connects to, or the reason the URL is refused ("error: ..."). */
static char *check(const char *url)
{
	char *host = NULL, *err = NULL;
	if (smtp_url_check(url, &host, &err) == 0)
		return host;
	char *s = xasprintf("error: %s", err);
	free(err);
	return s;
}

#define T_URL(url, want)                                                                           \
	do {                                                                                       \
		char *got_ = check(url);                                                           \
		T_EQ_STR(got_, want);                                                              \
		free(got_);                                                                        \
	} while (0)

static void test_host_as_libcurl_reads_it(void)
{
	T_URL("smtp://127.0.0.1:2525", "127.0.0.1");
	T_URL("smtps://smtp.shop.example", "smtp.shop.example");
	T_URL("smtp://[::1]:25", "::1");
	T_URL("SMTP://smtp.shop.example:587/shop.example", "smtp.shop.example");
	/* What libcurl connects to is what the loopback rule sees, however it is written. */
	T_URL("smtp://127.1", "127.0.0.1");
	T_URL("smtp://%31%32%37.0.0.1", "127.0.0.1");
}

static void test_refused(void)
{
	T_URL("smtp://192.0.2.2?@127.0.0.1",
	      "error: has a query (from \"?\" on), which SMTP URLs do not take; libcurl reads the "
	      "host as 192.0.2.2");
	T_URL("smtp://127.0.0.1?", "error: has a query (from \"?\" on), which SMTP URLs do not "
	                           "take; libcurl reads the host as 127.0.0.1");
	T_URL("smtp://127.0.0.1/#x",
	      "error: has a fragment (from \"#\" on), which SMTP URLs do not take");
	T_URL("smtp://127.0.0.1#",
	      "error: has a fragment (from \"#\" on), which SMTP URLs do not take");
	const char *user = "error: has user info (before \"@\"), which tend does not take there: "
	                   "the user goes in \"user\", the password in password_file or "
	                   "password_command";
	T_URL("smtp://user:pw@127.0.0.1", user);
	T_URL("smtp://@127.0.0.1", user);
	T_URL("smtp://;AUTH=PLAIN@127.0.0.1", user);
	T_URL("smtp://127.0.0.1\\@192.0.2.2", user);
	T_URL("smtp://a@b@127.0.0.1", "error: has user info (before \"@\"), which tend does not "
	                              "take there, and libcurl cannot read it (Bad hostname)");
	T_URL("smtp://host:0", "error: has port 0");
	T_URL("https://host", "error: is not an smtp:// or smtps:// URL");
	T_URL("smtp://", "error: cannot be read by libcurl (No host part in the URL)");
}

/* tendd --check-config: each problem where the URL is written, naming the account. */
static void test_check_config(void)
{
	struct config *c = config_defaults();
	c->path = xstrdup("tend.yaml");
	c->accounts = xcalloc(3, sizeof(*c->accounts));
	const char *urls[] = {"smtp://127.0.0.1:2525", "smtp://192.0.2.2?@127.0.0.1", NULL};
	for (size_t i = 0; i < 3; i++) {
		struct config_account *a = &c->accounts[c->naccounts++];
		a->name = xasprintf("acct%zu", i);
		a->has_smtp = urls[i] != NULL;
		a->smtp.url = urls[i] ? xstrdup(urls[i]) : NULL;
		a->smtp.url_line = (int)i + 10;
		a->smtp.url_column = 12;
	}
	struct diags d = DIAGS_INIT;
	T_EQ_INT(smtp_check_config(c, &d), 1);
	char *s = d.n == 1 ? diag_format(&d.v[0]) : NULL;
	T_EQ_STR(s, "tend.yaml:11:12: account \"acct1\": the smtp url has a query (from \"?\" on), "
	            "which SMTP URLs do not take; libcurl reads the host as 192.0.2.2");
	free(s);
	diags_free(&d);
	config_free(c);
}

T_MAIN(T_CASE(test_host_as_libcurl_reads_it), T_CASE(test_refused), T_CASE(test_check_config))
