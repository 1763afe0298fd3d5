/*
 * test_config: loading tend.yaml, and the exact error text an operator sees for each mistake.
 *
 * Each test writes its YAML into tend.yaml in a private temporary directory that is also the
 * current directory, and loads it as "tend.yaml", so messages read as they would for an
 * operator: "tend.yaml:LINE:COLUMN: ...".
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "tend/config.h"
#include "tend/rules.h"
#include "tend/yamlutil.h"

static char tmpdir[PATH_MAX];

static void cleanup(void)
{
	unlink("tend.yaml");
	if (tmpdir[0] != '\0')
		rmdir(tmpdir);
}

/* Creates the temporary directory once and makes it the current directory. */
static void enter_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		return;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/tend-config-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) < 0) {
		perror("test_config: temporary directory");
		exit(99);
	}
	char *real = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	atexit(cleanup);
}

static void write_yaml(const char *yaml)
{
	enter_tmpdir();
	FILE *f = fopen("tend.yaml", "w");
	if (f == NULL || fputs(yaml, f) < 0 || fclose(f) != 0) {
		perror("test_config: tend.yaml");
		exit(99);
	}
}

/* Loads yaml; returns the config, or NULL with the diagnostics formatted into *msgs. */
static struct config *load(const char *yaml, struct strvec *msgs)
{
	struct config *c = NULL;
	struct diags d = DIAGS_INIT;
	write_yaml(yaml);
	int rc = config_load("tend.yaml", &c, &d);
	for (size_t i = 0; i < d.n; i++)
		strvec_push_owned(msgs, diag_format(&d.v[i]));
	T_EQ_INT(rc, d.n > 0 ? -1 : 0);
	if (rc < 0)
		T_OK(c == NULL);
	diags_free(&d);
	return c;
}

/* Asserts that yaml is rejected with exactly these messages, in this order. */
static void expect_errors(const char *yaml, const char *const *want, size_t nwant)
{
	struct strvec got = STRVEC_INIT;
	struct config *c = load(yaml, &got);
	T_OK(c == NULL);
	config_free(c);
	T_EQ_INT(got.n, nwant);
	for (size_t i = 0; i < got.n || i < nwant; i++)
		T_EQ_STR(i < got.n ? got.v[i] : NULL, i < nwant ? want[i] : NULL);
	strvec_free(&got);
}

static void expect_error(const char *yaml, const char *want)
{
	expect_errors(yaml, &want, 1);
}

/* Loads yaml that must be valid. */
static struct config *load_ok(const char *yaml)
{
	struct strvec got = STRVEC_INIT;
	struct config *c = load(yaml, &got);
	for (size_t i = 0; i < got.n; i++)
		T_FAIL("unexpected: %s", got.v[i]);
	strvec_free(&got);
	return c;
}

static char *in_tmp(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static void check_path(const char *got, const char *rel)
{
	char *want = rel[0] == '/' ? xstrdup(rel) : in_tmp(rel);
	T_EQ_STR(got, want);
	free(want);
}

static const char full_yaml[] =
    "store: ../var/tend\n"
    "rules: ./policy/rules.yaml\n"
    "group: %s\n"
    "threading:\n"
    "  subject_fallback: false\n"
    "  subject_window: 7d\n"
    "  token: \"(ticket {id})\"\n"
    "limits: {message_size: 10M, header_count: 500, mime_depth: 8, mime_parts: 200}\n"
    "accounts:\n"
    "  - name: support\n"
    "    address: support@shop.example\n"
    "    from_name: Shop Support\n"
    "    imap:\n"
    "      host: imap.shop.example\n"
    "      port: 9993\n"
    "      tls: implicit\n"
    "      ca_file: certs/ca.pem\n"
    "      user: support@shop.example\n"
    "      password_file: /etc/tend/support.pass\n"
    "      folders: [INBOX, Support]\n"
    "      sent_folder: Sent Items\n"
    "      idle: no\n"
    "      poll_interval: 15m\n"
    "      max_message_size: 512K\n"
    "    smtp:\n"
    "      url: smtp://smtp.shop.example:587\n"
    "      ca_file: /etc/ssl/ca.pem\n"
    "      user: support@shop.example\n"
    "      password_command: [pass, show, support]\n"
    "      timeout: 20s\n"
    "      retry_interval: 1m\n"
    "      give_up_after: 1d\n"
    "  - name: local-test\n"
    "    address: Test@Localhost\n"
    "    imap:\n"
    "      host: 127.0.0.1\n"
    "      tls: none\n"
    "      user: test\n"
    "      password_file: test.pass\n"
    "    smtp: {url: \"smtp://[::1]:2525\"}\n"
    "agents:\n"
    "  - {login: alice, name: Alice Smith}\n"
    "  - login: bob\n"
    "escalation: {to: lead@shop.example, at: 75%%}\n";

static void check_full_account(const struct config_account *a)
{
	T_EQ_STR(a->name, "support");
	T_EQ_STR(a->address, "support@shop.example");
	T_EQ_STR(a->from_name, "Shop Support");
	T_OK(a->has_imap && a->has_smtp);
	T_EQ_STR(a->imap.host, "imap.shop.example");
	T_EQ_INT(a->imap.port, 9993);
	T_EQ_INT(a->imap.tls, CONFIG_TLS_IMPLICIT);
	check_path(a->imap.ca_file, "certs/ca.pem");
	T_EQ_STR(a->imap.user, "support@shop.example");
	T_EQ_STR(a->imap.password_file, "/etc/tend/support.pass");
	T_EQ_INT(a->imap.password_command.n, 0);
	T_EQ_INT(a->imap.folders.n, 2);
	T_EQ_STR(a->imap.folders.v[0], "INBOX");
	T_EQ_STR(a->imap.folders.v[1], "Support");
	T_EQ_STR(a->imap.sent_folder, "Sent Items");
	T_OK(!a->imap.idle);
	T_EQ_INT(a->imap.poll_interval, 15 * 60);
	T_EQ_INT(a->imap.max_message_size, 512 * 1024);
	T_EQ_STR(a->smtp.url, "smtp://smtp.shop.example:587");
	T_EQ_STR(a->smtp.ca_file, "/etc/ssl/ca.pem");
	T_EQ_STR(a->smtp.user, "support@shop.example");
	T_OK(a->smtp.password_file == NULL);
	T_EQ_INT(a->smtp.password_command.n, 3);
	T_EQ_STR(a->smtp.password_command.v[0], "pass");
	T_EQ_STR(a->smtp.password_command.v[2], "support");
	T_EQ_INT(a->smtp.timeout, 20);
	T_EQ_INT(a->smtp.retry_interval, 60);
	T_EQ_INT(a->smtp.give_up_after, 86400);
}

/* The second account leaves everything it can to the defaults. */
static void check_default_account(const struct config_account *a)
{
	T_EQ_STR(a->name, "local-test");
	T_OK(a->from_name == NULL);
	T_EQ_INT(a->imap.tls, CONFIG_TLS_NONE);
	T_EQ_INT(a->imap.port, 143);
	T_OK(a->imap.ca_file == NULL);
	check_path(a->imap.password_file, "test.pass");
	T_EQ_INT(a->imap.folders.n, 1);
	T_EQ_STR(a->imap.folders.v[0], "INBOX");
	T_EQ_STR(a->imap.sent_folder, "Sent");
	T_OK(a->imap.idle);
	T_EQ_INT(a->imap.poll_interval, 60);
	T_EQ_INT(a->imap.max_message_size, 50 * 1024 * 1024);
	T_OK(a->has_smtp);
	T_EQ_INT(a->smtp.timeout, 60);
	T_EQ_INT(a->smtp.retry_interval, 30);
	T_EQ_INT(a->smtp.give_up_after, 2 * 86400);
	T_EQ_STR(a->smtp.url, "smtp://[::1]:2525");
	T_OK(a->smtp.user == NULL && a->smtp.ca_file == NULL && a->smtp.password_file == NULL);
}

static void test_full(void)
{
	struct group *gr = getgrgid(getgid());
	T_OK(gr != NULL);
	char *yaml = xasprintf(full_yaml, gr ? gr->gr_name : "root");
	struct config *c = load_ok(yaml);
	free(yaml);
	T_OK(c != NULL);
	if (c == NULL)
		return;
	T_EQ_STR(c->path, "tend.yaml");
	T_EQ_STR(c->dir, tmpdir);
	check_path(c->store, "../var/tend");
	check_path(c->rules, "policy/rules.yaml");
	T_EQ_STR(c->group, gr ? gr->gr_name : "root");
	T_OK(!c->threading.subject_fallback);
	T_EQ_INT(c->threading.subject_window, 7 * 86400);
	T_EQ_STR(c->threading.token, "(ticket {id})");
	T_EQ_INT(c->limits.message_size, 10 * 1024 * 1024);
	T_EQ_INT(c->limits.header_count, 500);
	T_EQ_INT(c->limits.mime_depth, 8);
	T_EQ_INT(c->limits.mime_parts, 200);
	T_EQ_INT(c->naccounts, 2);
	if (c->naccounts == 2) {
		check_full_account(&c->accounts[0]);
		check_default_account(&c->accounts[1]);
	}
	T_OK(c->agents_listed);
	T_EQ_INT(c->nagents, 2);
	if (c->nagents == 2) {
		T_EQ_STR(c->agents[0].login, "alice");
		T_EQ_STR(c->agents[0].name, "Alice Smith");
		T_EQ_STR(c->agents[1].login, "bob");
		T_EQ_STR(c->agents[1].name, "bob");
	}
	/* the single mapping of older files: one stage */
	T_EQ_INT(c->nstages, 1);
	if (c->nstages == 1) {
		T_EQ_STR(c->stages[0].to, "lead@shop.example");
		T_EQ_INT(c->stages[0].share, 75);
		T_EQ_STR(c->stages[0].key, "75% lead@shop.example");
	}
	T_EQ_INT(c->escalation_at, 75);
	config_free(c);
}

static void test_minimal_defaults(void)
{
	struct config *c = load_ok("# only the store\nstore: /srv/tend\n");
	T_OK(c != NULL);
	if (c == NULL)
		return;
	T_EQ_STR(c->store, "/srv/tend");
	check_path(c->rules, "rules.yaml");
	T_OK(c->group == NULL);
	T_OK(c->threading.subject_fallback);
	T_EQ_INT(c->threading.subject_window, 14 * 86400);
	T_EQ_STR(c->threading.token, "[#{id}]");
	T_EQ_INT(c->limits.message_size, 50 * 1024 * 1024);
	T_EQ_INT(c->limits.header_count, 1000);
	T_EQ_INT(c->limits.mime_depth, 32);
	T_EQ_INT(c->limits.mime_parts, 1000);
	T_EQ_INT(c->naccounts, 0);
	T_EQ_INT(c->nagents, 0);
	T_OK(!c->agents_listed);
	T_EQ_INT(c->nstages, 0);
	T_EQ_INT(c->escalation_at, 0);
	T_OK(!c->review.require_second_person);
	config_free(c);
}

/* review: whether the approver of a draft may be the agent who last edited it. */
static void test_review(void)
{
	struct config *c = load_ok("store: .\nreview:\n  require_second_person: true\n");
	T_OK(c != NULL && c->review.require_second_person);
	config_free(c);
	c = load_ok("store: .\nreview: {require_second_person: no}\n");
	T_OK(c != NULL && !c->review.require_second_person);
	config_free(c);
	c = load_ok("store: .\nreview:\n");
	T_OK(c != NULL && !c->review.require_second_person);
	config_free(c);
	expect_error("store: .\nreview: {require_second_person: often}\n",
	             "tend.yaml:2:33: \"require_second_person\" must be true or false, not "
	             "\"often\"");
	expect_error("store: .\nreview: {four_eyes: true}\n",
	             "tend.yaml:2:10: unknown key \"four_eyes\" in \"review\" (expected one of: "
	             "require_second_person, max_recipients, claim_for, undo, placeholders)");
}

/* review.claim_for: how long an agent's claim on a conversation holds. */
static void test_review_claim_for(void)
{
	struct config *c = load_ok("store: .\n");
	T_OK(c != NULL && c->review.claim_for == 15 * 60);
	config_free(c);
	c = load_ok("store: .\nreview: {claim_for: 2s}\n");
	T_OK(c != NULL && c->review.claim_for == 2);
	config_free(c);
	expect_error("store: .\nreview: {claim_for: 0s}\n",
	             "tend.yaml:2:21: \"claim_for\" must be at least 1s, not \"0s\"");
	expect_error(
	    "store: .\nreview: {claim_for: soon}\n",
	    "tend.yaml:2:21: \"claim_for\" must be a duration like 30s, 15m, 4h or 2d, not "
	    "\"soon\"");
}

/* review.undo and review.placeholders; each number lands in its own field alone. */
static void test_review_undo_placeholders(void)
{
	struct config *c = load_ok("store: .\n");
	T_OK(c != NULL && c->review.undo == 20 && c->review.placeholders.n == 1);
	T_EQ_STR(c->review.placeholders.v[0], "\\[[A-Z][A-Z ]{3,}\\]");
	config_free(c);
	c = load_ok("store: .\nreview: {undo: 7, max_recipients: 3, placeholders: [TBD, 'X+']}\n");
	T_OK(c != NULL && c->review.undo == 7 && c->review.max_recipients == 3);
	T_OK(c != NULL && c->review.placeholders.n == 2);
	config_free(c);
	c = load_ok("store: .\nreview: {undo: 0, placeholders: []}\n");
	T_OK(c != NULL && c->review.undo == 0 && c->review.placeholders.n == 0);
	config_free(c);
	expect_error("store: .\nreview:\n  placeholders: ['ok', '(x']\n",
	             "tend.yaml:3:27: bad pattern in \"review\" \"placeholders\": missing closing "
	             "parenthesis");
	expect_error("store: .\nreview: {undo: 3601}\n",
	             "tend.yaml:2:16: \"undo\" must be an integer from 0 to 3600, not \"3601\"");
}

/* agents bound to OS users: the user must exist, and then every agent is bound. */
static void test_agent_user(void)
{
	struct config *c = load_ok("store: .\nagents:\n  - {login: alice, user: root}\n"
	                           "  - {login: bob}\n");
	T_OK(c != NULL && c->agents_bound && c->nagents == 2);
	if (c != NULL && c->nagents == 2) {
		T_EQ_STR(c->agents[0].user, "root");
		T_EQ_INT(c->agents[0].uid, 0);
		T_OK(c->agents[1].user == NULL);
	}
	config_free(c);
	c = load_ok("store: .\nagents:\n  - {login: alice}\n");
	T_OK(c != NULL && !c->agents_bound);
	config_free(c);
	expect_error("store: .\nagents:\n  - {login: alice, user: no-such-user-here}\n",
	             "tend.yaml:3:26: user \"no-such-user-here\" does not exist on this system");
}

/* Nesting deeper than YAMLUTIL_MAX_DEPTH is refused where it happens, before a tree is built
 * (libyaml takes seconds to build one a few thousand levels deep). */
static void test_err_deep_nesting(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "store: /srv\nx: ");
	for (int i = 0; i < 30000; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 30000; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '\n');
	expect_error(b.data,
	             "tend.yaml:2:203: mappings and lists nest deeper than 200 levels here");
	buf_reset(&b);
	buf_puts(&b, "store: /srv\nx: ");
	for (int i = 0; i < 199; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 199; i++)
		buf_putc(&b, ']');
	expect_error(b.data,
	             "tend.yaml:2:1: unknown key \"x\" in the top level (expected one of: "
	             "store, rules, group, threading, limits, accounts, agents, escalation, "
	             "review, authserv_id, form_senders, metrics_file, metrics_shop)");
	buf_free(&b);
}

/* Form senders: addresses, domains or local parts; authserv-ids: one or a list. */
static void test_form_senders_and_authserv(void)
{
	struct config *c =
	    load_ok("store: .\nform_senders: [orders@platform.example, '@forms.example',"
	            " 'shopify@']\nauthserv_id: mx.shop.example\n");
	T_OK(c != NULL);
	if (c) {
		T_EQ_INT(c->form_senders.n, 3);
		T_EQ_INT(c->authserv_ids.n, 1);
	}
	config_free(c);
	expect_error(
	    "store: .\nform_senders: [platform.example]\n",
	    "tend.yaml:2:16: each entry of \"form_senders\" must be an address "
	    "(forms@shop.example), a domain (@forms.example) or a local part (orders@), not "
	    "\"platform.example\"");
	expect_error(
	    "store: .\nauthserv_id: \"mx; dkim=pass\"\n",
	    "tend.yaml:2:14: \"authserv_id\" must be the authserv-id your receiving server "
	    "writes in Authentication-Results, like mx.shop.example, not \"mx; dkim=pass\"");
}

/* Keys left with no value (all entries commented out) are empty lists, not errors. */
static void test_empty_lists(void)
{
	struct config *c = load_ok("store: .\naccounts:\nagents: []\n");
	T_OK(c != NULL);
	if (c == NULL)
		return;
	T_EQ_STR(c->store, tmpdir);
	T_EQ_INT(c->naccounts, 0);
	T_OK(c->agents_listed);
	config_free(c);
}

/* The example shipped to users must load as it is. */
static void test_shipped_example(void)
{
	char *path = xasprintf("%s/config/tend.yaml", SOURCE_ROOT);
	struct config *c = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(config_load(path, &c, &d), 0);
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.v[i]);
		T_FAIL("unexpected: %s", s);
		free(s);
	}
	diags_free(&d);
	free(path);
	T_OK(c != NULL);
	if (c == NULL)
		return;
	size_t n = strlen(c->store);
	T_OK(n > 16 && strcmp(c->store + n - 16, "/config/var/tend") == 0);
	T_OK(c->dir[0] == '/');
	config_free(c);
}

static void test_api(void)
{
	config_free(NULL);
	struct config *d = config_defaults();
	T_OK(d->dir != NULL && d->dir[0] == '/');
	T_EQ_STR(d->threading.token, "[#{id}]");
	T_EQ_INT(d->limits.mime_depth, 32);
	T_OK(config_account(d, "support") == NULL);
	T_OK(!config_is_own_address(d, "support@shop.example"));
	config_free(d);

	struct config *c = load_ok("store: s\n"
	                           "accounts:\n"
	                           "  - {name: support, address: Support@Shop.Example}\n"
	                           "  - {name: sales, address: sales@shop.example}\n");
	T_OK(c != NULL);
	T_OK(config_account(c, "sales") == &c->accounts[1]);
	T_OK(config_account(c, "nobody") == NULL);
	T_OK(config_account(c, NULL) == NULL);
	T_OK(config_is_own_address(c, "support@shop.example"));
	T_OK(config_is_own_address(c, "SALES@SHOP.EXAMPLE"));
	T_OK(!config_is_own_address(c, "customer@example.org"));
	T_OK(!config_is_own_address(c, NULL));
	config_free(c);
}

static void test_default_path(void)
{
	char *saved = getenv("TEND_CONFIG") ? xstrdup(getenv("TEND_CONFIG")) : NULL;
	setenv("TEND_CONFIG", "/env/tend.yaml", 1);
	T_EQ_STR(config_default_path("/arg/tend.yaml"), "/arg/tend.yaml");
	T_EQ_STR(config_default_path(NULL), "/env/tend.yaml");
	unsetenv("TEND_CONFIG");
	T_EQ_STR(config_default_path(NULL), "/etc/tend/tend.yaml");
	setenv("TEND_CONFIG", "", 1);
	T_EQ_STR(config_default_path(NULL), "/etc/tend/tend.yaml");
	if (saved != NULL)
		setenv("TEND_CONFIG", saved, 1);
	else
		unsetenv("TEND_CONFIG");
	free(saved);
}

static void test_loopback(void)
{
	T_OK(config_host_is_loopback("127.0.0.1"));
	T_OK(config_host_is_loopback("127.1.2.3"));
	T_OK(config_host_is_loopback("::1"));
	T_OK(config_host_is_loopback("LocalHost"));
	T_OK(!config_host_is_loopback("128.0.0.1"));
	T_OK(!config_host_is_loopback("::2"));
	T_OK(!config_host_is_loopback("localhost.shop.example"));
	T_OK(!config_host_is_loopback(NULL));
}

static void test_sizes_and_suggestions(void)
{
	int64_t v = 0;
	T_EQ_INT(yamlutil_parse_size("4096", &v), 0);
	T_EQ_INT(v, 4096);
	T_EQ_INT(yamlutil_parse_size("1G", &v), 0);
	T_EQ_INT(v, 1024LL * 1024 * 1024);
	T_EQ_INT(yamlutil_parse_size("10m", &v), 0);
	T_EQ_INT(v, 10 * 1024 * 1024);
	T_EQ_INT(yamlutil_parse_size("10MB", &v), -1);
	T_EQ_INT(yamlutil_parse_size("-1", &v), -1);
	T_EQ_INT(yamlutil_parse_size("99999999999999G", &v), -1);
	static const char *const cands[] = {"host", "port", "poll_interval", "tls"};
	T_EQ_STR(yamlutil_suggest("hots", cands, 4), "host");
	T_EQ_STR(yamlutil_suggest("Port", cands, 4), "port");
	T_EQ_STR(yamlutil_suggest("pol_interval", cands, 4), "poll_interval");
	T_OK(yamlutil_suggest("ssl", cands, 4) == NULL);
	T_OK(yamlutil_suggest("password", cands, 4) == NULL);
}

/* ---- one test per kind of mistake, with the exact text an operator reads ---- */

static void test_err_unreadable(void)
{
	struct config *c = NULL;
	struct diags d = DIAGS_INIT;
	enter_tmpdir();
	T_EQ_INT(config_load("missing.yaml", &c, &d), -1);
	T_OK(c == NULL);
	T_EQ_INT(d.n, 1);
	if (d.n == 1) {
		char *s = diag_format(&d.v[0]);
		T_EQ_STR(s, "missing.yaml: cannot read: No such file or directory");
		free(s);
	}
	diags_free(&d);
	/* A directory is not a configuration either. */
	T_EQ_INT(config_load(".", &c, NULL), -1);
	T_OK(c == NULL);
}

static void test_err_empty(void)
{
	expect_error("", "tend.yaml: empty configuration; `store` is required");
	expect_error("# nothing yet\n\n", "tend.yaml: empty configuration; `store` is required");
	expect_error("---\n", "tend.yaml: empty configuration; `store` is required");
}

static void test_err_syntax(void)
{
	expect_error("store: /srv\nthreading:\n  token: \"[#{id}]\n",
	             "tend.yaml:4:1: found unexpected end of stream (while scanning a quoted "
	             "scalar)");
	expect_error("store: /srv\n  rules: r.yaml\n",
	             "tend.yaml:2:8: mapping values are not allowed in this context");
	expect_error("store: /srv\naccounts:\n\t- name: x\n",
	             "tend.yaml:3:1: found character that cannot start any token (while scanning "
	             "for the next token)");
	expect_error("store: \"/srv\"\nrules: \xff\n",
	             "tend.yaml:2:8: invalid leading UTF-8 octet");
}

static void test_err_second_document(void)
{
	expect_error("store: /srv\n---\nstore: /other\n",
	             "tend.yaml:3:1: a second YAML document; the file must hold only one");
}

static void test_err_unknown_key(void)
{
	expect_error("store: /srv\n"
	             "threading:\n"
	             "  subject_fallback: true\n"
	             "  tokn: \"[#{id}]\"\n",
	             "tend.yaml:4:3: unknown key \"tokn\" in \"threading\" (expected one of: "
	             "subject_fallback, subject_window, token; did you mean \"token\"?)");
	expect_errors("stor: /srv\n",
	              (const char *const[]){
	                  "tend.yaml:1:1: unknown key \"stor\" in the top level (expected one of: "
	                  "store, rules, group, threading, limits, accounts, agents, escalation, "
	                  "review, authserv_id, form_senders, metrics_file, metrics_shop; "
	                  "did you mean \"store\"?)",
	                  "tend.yaml:1:1: missing required key \"store\" in the top level",
	              },
	              2);
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap: {host: h, user: u, password_file: p, ssl: true}\n",
	             "tend.yaml:5:48: unknown key \"ssl\" in \"imap\" of account \"support\" "
	             "(expected one of: host, port, tls, ca_file, user, password_file, "
	             "password_command, folders, sent_folder, idle, poll_interval, "
	             "max_message_size, timeout, auth, oauth2_token_command)");
}

static void test_err_unknown_key_in_agent(void)
{
	expect_error("store: /srv\nagents:\n  - {login: alice, nmae: Alice}\n",
	             "tend.yaml:3:20: unknown key \"nmae\" in agent \"alice\" (expected one of: "
	             "login, name, user; did you mean \"name\"?)");
}

static void test_err_port(void)
{
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap:\n"
	             "      host: imap.shop.example\n"
	             "      user: support\n"
	             "      password_file: p\n"
	             "      port: imap\n",
	             "tend.yaml:9:13: \"port\" must be an integer from 1 to 65535, not \"imap\"");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - {name: s, address: s@x.example,\n"
	             "     imap: {host: h, user: u, password_file: p, port: 70000}}\n",
	             "tend.yaml:4:55: \"port\" must be an integer from 1 to 65535, not \"70000\"");
}

static void test_err_password(void)
{
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap:\n"
	             "      host: imap.shop.example\n"
	             "      user: support\n"
	             "      password: hunter2\n",
	             "tend.yaml:8:7: account \"support\": password given in tend.yaml; use "
	             "password_file or password_command");
	/* The same in smtp, and before the name: key: the account is still named. */
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - smtp: {url: \"smtps://smtp.example\", user: u, password: x}\n"
	             "    name: sales\n"
	             "    address: sales@shop.example\n",
	             "tend.yaml:3:50: account \"sales\": password given in tend.yaml; use "
	             "password_file or password_command");
}

static void test_err_password_sources(void)
{
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap:\n"
	             "      host: imap.shop.example\n"
	             "      user: support\n"
	             "      password_command: [pass, show, support]\n"
	             "      password_file: /etc/tend/support.pass\n",
	             "tend.yaml:9:22: account \"support\": password_file and password_command are "
	             "both given; use one");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap:\n"
	             "      host: imap.shop.example\n"
	             "      user: support\n",
	             "tend.yaml:6:7: account \"support\": \"imap\" needs password_file or "
	             "password_command");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    smtp: {url: \"smtp://127.0.0.1\", password_file: p}\n",
	             "tend.yaml:5:11: account \"support\": \"smtp\" has a password but no user");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    smtp: {url: \"smtp://127.0.0.1\", user: u, password_command: []}\n",
	             "tend.yaml:5:64: \"password_command\" must not be an empty list");
}

static void test_err_tls(void)
{
	expect_error(
	    "store: /srv\n"
	    "accounts:\n"
	    "  - name: support\n"
	    "    address: support@shop.example\n"
	    "    imap:\n"
	    "      host: imap.shop.example\n"
	    "      tls: none\n"
	    "      user: support\n"
	    "      password_file: p\n",
	    "tend.yaml:7:12: account \"support\": \"tls: none\" would send the password and "
	    "mail unencrypted; it is allowed only when host is loopback (127.0.0.1, ::1, "
	    "localhost), not \"imap.shop.example\"");
	expect_error(
	    "store: /srv\n"
	    "accounts:\n"
	    "  - name: support\n"
	    "    address: support@shop.example\n"
	    "    imap: {host: localhost, tls: ssl, user: u, password_file: p}\n",
	    "tend.yaml:5:34: \"tls\" must be one of implicit, starttls, none, not \"ssl\"");
}

static void test_err_duplicate_key(void)
{
	expect_error("store: /srv\n"
	             "rules: a.yaml\n"
	             "limits:\n"
	             "  mime_depth: 8\n"
	             "rules: b.yaml\n",
	             "tend.yaml:5:1: duplicate key \"rules\" (first given at 2:1)");
}

static void test_err_duplicate_names(void)
{
	expect_errors("store: /srv\n"
	              "accounts:\n"
	              "  - {name: support, address: support@shop.example}\n"
	              "  - {name: sales, address: sales@shop.example}\n"
	              "  - {name: support, address: help@shop.example}\n"
	              "agents:\n"
	              "  - {login: alice}\n"
	              "  - {login: alice, name: Alice Again}\n",
	              (const char *const[]){
	                  "tend.yaml:5:12: duplicate account name \"support\" (first used at "
	                  "3:12)",
	                  "tend.yaml:8:13: duplicate agent login \"alice\" (first used at 7:13)",
	              },
	              2);
}

static void test_err_missing_required(void)
{
	expect_error("rules: r.yaml\n",
	             "tend.yaml:1:1: missing required key \"store\" in the top level");
	expect_errors("store: /srv\n"
	              "accounts:\n"
	              "  - name: support\n"
	              "    address: support@shop.example\n"
	              "    imap:\n"
	              "      port: 993\n"
	              "    smtp:\n"
	              "escalation: {at: 50%}\n",
	              (const char *const[]){
	                  "tend.yaml:6:7: missing required key \"host\" in \"imap\" of account "
	                  "\"support\"",
	                  "tend.yaml:6:7: missing required key \"user\" in \"imap\" of account "
	                  "\"support\"",
	                  "tend.yaml:7:10: missing required key \"url\" in \"smtp\" of account "
	                  "\"support\"",
	                  "tend.yaml:8:13: missing required key \"to\" in \"escalation\"",
	              },
	              4);
	expect_errors("store: /srv\naccounts:\n  - from_name: Nobody\n",
	              (const char *const[]){
	                  "tend.yaml:3:5: missing required key \"name\" in account 1",
	                  "tend.yaml:3:5: missing required key \"address\" in account 1",
	              },
	              2);
}

static void test_err_types(void)
{
	expect_error("- store: /srv\n",
	             "tend.yaml:1:1: the top level must be a mapping, not a list");
	expect_error("store: [a, b]\n", "tend.yaml:1:8: \"store\" must be a string, not a list");
	expect_error("store:\n", "tend.yaml:1:7: \"store\" must not be empty");
	expect_error("store: \"\"\n", "tend.yaml:1:8: \"store\" must not be empty");
	expect_error("store: /srv\naccounts: {name: support}\n",
	             "tend.yaml:2:11: \"accounts\" must be a list, not a mapping");
	expect_error(
	    "store: /srv\naccounts: [support]\n",
	    "tend.yaml:2:12: each entry of \"accounts\" must be a mapping, not \"support\"");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap: [imap.shop.example]\n",
	             "tend.yaml:5:11: \"imap\" must be a mapping, not a list");
	expect_error("store: /srv\nthreading: yes\n",
	             "tend.yaml:2:12: \"threading\" must be a mapping, not \"yes\"");
	expect_error("store: /srv\nthreading: {subject_fallback: maybe}\n",
	             "tend.yaml:2:31: \"subject_fallback\" must be true or false, not \"maybe\"");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - {name: s, address: s@x.example,\n"
	             "     imap: {host: h, user: u, password_file: p, folders: [INBOX, [a]]}}\n",
	             "tend.yaml:4:66: each entry of \"folders\" must be a string, not a list");
	expect_error("store: /srv\n{a: 1}: x\n",
	             "tend.yaml:2:1: a key must be a name, not a mapping");
}

static void test_err_duration(void)
{
	expect_errors("store: /srv\n"
	              "threading: {subject_window: 0s}\n"
	              "accounts:\n"
	              "  - name: support\n"
	              "    address: support@shop.example\n"
	              "    imap:\n"
	              "      host: imap.shop.example\n"
	              "      user: support\n"
	              "      password_file: p\n"
	              "      poll_interval: soon\n",
	              (const char *const[]){
	                  "tend.yaml:2:29: \"subject_window\" must be at least 1s, not \"0s\"",
	                  "tend.yaml:10:22: \"poll_interval\" must be a duration like 30s, 15m, 4h "
	                  "or 2d, not \"soon\"",
	              },
	              2);
}

static void test_err_size_and_counts(void)
{
	expect_errors("store: /srv\n"
	              "limits:\n"
	              "  message_size: 10 MB\n"
	              "  header_count: 0\n"
	              "  mime_depth: 0x20\n"
	              "  mime_parts: 1e3\n",
	              (const char *const[]){
	                  "tend.yaml:3:17: \"message_size\" must be a size like 10M, 512K, 1G or "
	                  "a number of bytes, not \"10 MB\"",
	                  "tend.yaml:4:17: \"header_count\" must be an integer from 1 to 1000000, "
	                  "not \"0\"",
	                  "tend.yaml:5:15: \"mime_depth\" must be an integer from 1 to 1000, not "
	                  "\"0x20\"",
	                  "tend.yaml:6:15: \"mime_parts\" must be an integer from 1 to 1000000, "
	                  "not \"1e3\"",
	              },
	              4);
}

static void test_err_percent(void)
{
	const char *want = "\"at\" must be a share of the target from 1% to 100%, like 75%, or a "
	                   "time since the customer wrote, like 2h, not ";
	struct buf b = BUF_INIT;
	buf_printf(&b, "tend.yaml:2:41: %s\"0.75\"", want);
	expect_error("store: /srv\nescalation: {to: lead@shop.example, at: 0.75}\n", b.data);
	buf_reset(&b);
	buf_printf(&b, "tend.yaml:2:41: %s\"150%%\"", want);
	expect_error("store: /srv\nescalation: {to: lead@shop.example, at: 150%}\n", b.data);
	buf_reset(&b);
	buf_printf(&b, "tend.yaml:2:41: %s\"0%%\"", want);
	expect_error("store: /srv\nescalation: {to: lead@shop.example, at: 0%}\n", b.data);
	buf_free(&b);
}

/* escalation: a list of stages, each with its own address, point and limits. */
static void test_escalation_stages(void)
{
	struct config *c =
	    load_ok("store: /srv\n"
	            "escalation:\n"
	            "  - {at: 90%, to: lead@shop.example}\n"
	            "  - {at: 50%, to: team@shop.example}\n"
	            "  - {at: 2h, to: owner@shop.example, priority: urgent}\n"
	            "  - {at: 50%, to: team@shop.example, tags: [complaint]}\n"
	            "  - {at: 50%, to: vip@shop.example, priority: [urgent, high]}\n");
	T_OK(c != NULL);
	if (c == NULL)
		return;
	T_EQ_INT(c->nstages, 5);
	if (c->nstages == 5) {
		T_EQ_STR(c->stages[0].key, "90% lead@shop.example");
		T_EQ_INT(c->stages[1].share, 50);
		T_EQ_INT(c->stages[2].share, 0);
		T_EQ_INT(c->stages[2].after, 7200);
		T_EQ_STR(c->stages[2].key, "2h owner@shop.example");
		T_EQ_INT(c->stages[2].priorities, 1u << RULES_PRIORITY_URGENT);
		T_EQ_INT(c->stages[3].tags.n, 1);
		T_EQ_INT(c->stages[4].priorities,
		         (1u << RULES_PRIORITY_URGENT) | (1u << RULES_PRIORITY_HIGH));
	}
	T_EQ_INT(c->escalation_at, 50); /* the at-risk mark: the earliest share */
	config_free(c);
	/* a stage only for urgent mail does not mark every conversation at risk */
	c = load_ok("store: /srv\n"
	            "escalation:\n"
	            "  - {at: 25%, to: lead@shop.example, priority: urgent}\n"
	            "  - {at: 80%, to: team@shop.example}\n");
	T_OK(c != NULL);
	if (c)
		T_EQ_INT(c->escalation_at, 80);
	config_free(c);
}

static void test_err_escalation_stages(void)
{
	expect_errors("store: /srv\n"
	              "escalation:\n"
	              "  - {at: 50%, to: team@shop.example}\n"
	              "  - {at: 90%, to: lead@}\n"
	              "  - {at: 75, to: lead@shop.example}\n"
	              "  - {at: 50%, to: team@shop.example}\n"
	              "  - {at: 90%, to: lead@shop.example, priority: asap}\n"
	              "  - {at: 1h, to: x@shop.example, tags: []}\n"
	              "  - {to: x@shop.example}\n",
	              (const char *const[]){
	                  "tend.yaml:4:19: \"to\" must be an email address like "
	                  "support@shop.example, not \"lead@\"",
	                  "tend.yaml:5:10: \"at\" must be a share of the target from 1% to 100%, "
	                  "like 75%, or a time since the customer wrote, like 2h, not \"75\"",
	                  "tend.yaml:6:5: duplicate escalation stage (first at 3:5): the same "
	                  "\"at\", \"to\", \"priority\" and \"tags\"",
	                  "tend.yaml:7:48: \"priority\" must be one of urgent, high, normal, low, "
	                  "not \"asap\"",
	                  "tend.yaml:8:40: \"tags\" must not be an empty list",
	                  "tend.yaml:9:5: missing required key \"at\" in escalation stage 7",
	              },
	              6);
}

static void test_err_address(void)
{
	expect_errors("store: /srv\n"
	              "accounts:\n"
	              "  - {name: support, address: support}\n"
	              "  - {name: sales, address: \"Sales <sales@shop.example>\"}\n"
	              "escalation: {to: lead@, at: 75%}\n",
	              (const char *const[]){
	                  "tend.yaml:3:30: \"address\" must be an email address like "
	                  "support@shop.example, not \"support\"",
	                  "tend.yaml:4:28: \"address\" must be an email address like "
	                  "support@shop.example, not \"Sales <sales@shop.example>\"",
	                  "tend.yaml:5:18: \"to\" must be an email address like "
	                  "support@shop.example, not \"lead@\"",
	              },
	              3);
}

static void test_err_token(void)
{
	expect_error(
	    "store: /srv\nthreading: {token: \"[#ticket]\"}\n",
	    "tend.yaml:2:20: \"token\" must contain \"{id}\" exactly once, like \"[#{id}]\", "
	    "not \"[#ticket]\"");
	expect_error(
	    "store: /srv\nthreading: {token: \"{id}-{id}\"}\n",
	    "tend.yaml:2:20: \"token\" must contain \"{id}\" exactly once, like \"[#{id}]\", "
	    "not \"{id}-{id}\"");
}

static void test_err_group(void)
{
	expect_error("store: /srv\ngroup: tend-no-such-group\n",
	             "tend.yaml:2:8: group \"tend-no-such-group\" does not exist on this system");
}

static void test_err_url_and_name(void)
{
	expect_errors("store: /srv\n"
	              "accounts:\n"
	              "  - name: my support\n"
	              "    address: support@shop.example\n"
	              "    smtp: {url: \"https://smtp.shop.example\"}\n"
	              "  - name: b\n"
	              "    address: b@shop.example\n"
	              "    smtp: {url: \"smtps:/smtp.shop.example\"}\n",
	              (const char *const[]){
	                  "tend.yaml:3:11: \"name\" must be letters, digits, \".\", \"_\" or "
	                  "\"-\", not \"my support\"",
	                  "tend.yaml:5:17: \"url\" must be a URL like smtp://HOST:587 (STARTTLS) "
	                  "or smtps://HOST:465, not \"https://smtp.shop.example\"",
	                  "tend.yaml:8:17: \"url\" must be a URL like smtp://HOST:587 (STARTTLS) "
	                  "or smtps://HOST:465, not \"smtps:/smtp.shop.example\"",
	              },
	              3);
}

/* Long or multi-line values are cut and escaped so each message stays one line. */
static void test_err_quoting(void)
{
	expect_error(
	    "store: /srv\n"
	    "threading: {token: \"line one\\nline two \\\"quoted\\\" and a long tail that "
	    "goes on and on\"}\n",
	    "tend.yaml:2:20: \"token\" must contain \"{id}\" exactly once, like \"[#{id}]\", "
	    "not \"line one\\nline two \\\"quoted\\\" and a long tail that goes on and ...\"");
}

/*
 * One file with many mistakes: every one is reported, sorted by position (the tls check runs
 * after the whole imap section is read, yet its message comes before the password's).
 */
static void test_err_all_reported(void)
{
	expect_errors("stor: var/tend\n"
	              "threading:\n"
	              "  subject_window: forever\n"
	              "  token: \"[#]\"\n"
	              "accounts:\n"
	              "  - name: support\n"
	              "    address: support\n"
	              "    imap:\n"
	              "      host: imap.shop.example\n"
	              "      port: imap\n"
	              "      tls: none\n"
	              "      user: support\n"
	              "      password: secret\n"
	              "  - name: support\n"
	              "    address: help@shop.example\n"
	              "escalation: {to: lead@shop.example, at: 75}\n",
	              (const char *const[]){
	                  "tend.yaml:1:1: unknown key \"stor\" in the top level (expected one of: "
	                  "store, rules, group, threading, limits, accounts, agents, escalation, "
	                  "review, authserv_id, form_senders, metrics_file, metrics_shop; "
	                  "did you mean \"store\"?)",
	                  "tend.yaml:1:1: missing required key \"store\" in the top level",
	                  "tend.yaml:3:19: \"subject_window\" must be a duration like 30s, 15m, "
	                  "4h or 2d, not \"forever\"",
	                  "tend.yaml:4:10: \"token\" must contain \"{id}\" exactly once, like "
	                  "\"[#{id}]\", not \"[#]\"",
	                  "tend.yaml:7:14: \"address\" must be an email address like "
	                  "support@shop.example, not \"support\"",
	                  "tend.yaml:10:13: \"port\" must be an integer from 1 to 65535, not "
	                  "\"imap\"",
	                  "tend.yaml:11:12: account \"support\": \"tls: none\" would send the "
	                  "password and mail unencrypted; it is allowed only when host is loopback "
	                  "(127.0.0.1, ::1, localhost), not \"imap.shop.example\"",
	                  "tend.yaml:13:7: account \"support\": password given in tend.yaml; use "
	                  "password_file or password_command",
	                  "tend.yaml:14:11: duplicate account name \"support\" (first used at "
	                  "6:11)",
	                  "tend.yaml:16:41: \"at\" must be a share of the target from 1% to 100%, "
	                  "like 75%, or a time since the customer wrote, like 2h, not \"75\"",
	              },
	              10);
}

/* diags may already hold problems from another file: only this load's count. */
static void test_diags_appended(void)
{
	struct diags d = DIAGS_INIT;
	diag_add(&d, "rules.yaml", 1, 1, "earlier problem");
	struct config *c = NULL;
	write_yaml("store: /srv\n");
	T_EQ_INT(config_load("tend.yaml", &c, &d), 0);
	T_OK(c != NULL);
	T_EQ_INT(d.n, 1);
	config_free(c);
	diags_free(&d);
}

static void test_imap_auth(void)
{
	struct strvec msgs = STRVEC_INIT;
	struct config *c = load("store: /srv\n"
	                        "accounts:\n"
	                        "  - name: support\n"
	                        "    address: support@shop.example\n"
	                        "    imap:\n"
	                        "      host: imap.shop.example\n"
	                        "      user: support\n"
	                        "      auth: xoauth2\n"
	                        "      timeout: 15s\n"
	                        "      oauth2_token_command: [get-token, support]\n",
	                        &msgs);
	T_OK(c != NULL);
	if (c != NULL) {
		T_EQ_INT(c->accounts[0].imap.auth, CONFIG_AUTH_XOAUTH2);
		T_EQ_INT(c->accounts[0].imap.timeout, 15);
		T_EQ_STR(c->accounts[0].imap.oauth2_token_command.v[1], "support");
	}
	config_free(c);
	strvec_free(&msgs);
}

static void test_err_auth(void)
{
	expect_error(
	    "store: /srv\n"
	    "accounts:\n"
	    "  - name: support\n"
	    "    address: support@shop.example\n"
	    "    imap: {host: h, user: u, password_file: p, auth: cram}\n",
	    "tend.yaml:5:54: \"auth\" must be one of auto, login, plain, xoauth2, not \"cram\"");
	expect_error("store: /srv\n"
	             "accounts:\n"
	             "  - name: support\n"
	             "    address: support@shop.example\n"
	             "    imap: {host: h, user: u, auth: xoauth2}\n",
	             "tend.yaml:5:36: account \"support\": \"auth: xoauth2\" needs "
	             "oauth2_token_command");
}

/* metrics_file: a path as every other, relative to the file's directory. */
static void test_metrics_file(void)
{
	struct config *c = load_ok("store: .\nmetrics_file: metrics/tend.prom\n");
	T_OK(c != NULL);
	if (c)
		check_path(c->metrics_file, "metrics/tend.prom");
	config_free(c);
	c = load_ok("store: .\nmetrics_shop: acme\n");
	T_OK(c != NULL && c->metrics_file == NULL && c->metrics_shop &&
	     !strcmp(c->metrics_shop, "acme"));
	config_free(c);
}

T_MAIN(T_CASE(test_full), T_CASE(test_minimal_defaults), T_CASE(test_review),
       T_CASE(test_form_senders_and_authserv), T_CASE(test_empty_lists),
       T_CASE(test_shipped_example), T_CASE(test_api), T_CASE(test_default_path),
       T_CASE(test_loopback), T_CASE(test_sizes_and_suggestions), T_CASE(test_err_unreadable),
       T_CASE(test_err_empty), T_CASE(test_err_syntax), T_CASE(test_err_second_document),
       T_CASE(test_err_unknown_key), T_CASE(test_err_unknown_key_in_agent), T_CASE(test_err_port),
       T_CASE(test_err_password), T_CASE(test_err_password_sources), T_CASE(test_err_tls),
       T_CASE(test_err_duplicate_key), T_CASE(test_err_duplicate_names),
       T_CASE(test_err_missing_required), T_CASE(test_err_types), T_CASE(test_err_duration),
       T_CASE(test_err_size_and_counts), T_CASE(test_err_percent), T_CASE(test_escalation_stages),
       T_CASE(test_err_escalation_stages), T_CASE(test_err_address), T_CASE(test_err_token),
       T_CASE(test_err_group), T_CASE(test_err_url_and_name), T_CASE(test_err_quoting),
       T_CASE(test_err_all_reported), T_CASE(test_diags_appended), T_CASE(test_imap_auth),
       T_CASE(test_err_auth), T_CASE(test_agent_user), T_CASE(test_err_deep_nesting),
       T_CASE(test_review_claim_for), T_CASE(test_review_undo_placeholders),
       T_CASE(test_metrics_file))
