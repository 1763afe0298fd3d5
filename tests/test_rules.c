/*
 * test_rules: loading rules.yaml, evaluating messages against it, explaining the result, and
 * recognising automatic mail; with the exact text an operator reads for each mistake.
 *
 * Each test writes its rules.yaml (and templates/) into a private temporary directory that is
 * also the current directory, and loads it as "rules.yaml", so messages read as they would for
 * an operator: "rules.yaml:LINE:COLUMN: ...".
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "tend/rules.h"

static char tmpdir[PATH_MAX];
static struct strvec created = STRVEC_INIT;

static void cleanup(void)
{
	for (size_t i = created.n; i > 0; i--)
		if (unlink(created.v[i - 1]) < 0)
			rmdir(created.v[i - 1]);
	strvec_free(&created);
	if (tmpdir[0] != '\0')
		rmdir(tmpdir);
}

static void enter_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		return;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/tend-rules-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) < 0) {
		perror("test_rules: temporary directory");
		exit(99);
	}
	if (mkdir("templates", 0700) < 0) {
		perror("test_rules: templates");
		exit(99);
	}
	strvec_push(&created, "templates");
	atexit(cleanup);
}

static void write_file(const char *name, const char *text)
{
	enter_tmpdir();
	FILE *f = fopen(name, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(name);
		exit(99);
	}
	if (!strvec_contains(&created, name))
		strvec_push(&created, name);
}

/* templates/NAME.txt */
static void write_template(const char *name, const char *text)
{
	char *path = xasprintf("templates/%s.txt", name);
	write_file(path, text);
	free(path);
}

static void remove_templates(void)
{
	for (size_t i = 0; i < created.n; i++)
		if (strncmp(created.v[i], "templates/", 10) == 0)
			unlink(created.v[i]);
}

/* Loads yaml as rules.yaml; returns the rules, or NULL with the messages in *msgs. */
static struct rules *load(const char *yaml, struct strvec *msgs)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	write_file("rules.yaml", yaml);
	int rc = rules_load("rules.yaml", &r, &d);
	for (size_t i = 0; i < d.n; i++)
		strvec_push_owned(msgs, diag_format(&d.v[i]));
	T_EQ_INT(rc, d.n > 0 ? -1 : 0);
	if (rc < 0)
		T_OK(r == NULL);
	diags_free(&d);
	return r;
}

static struct rules *load_ok(const char *yaml)
{
	struct strvec got = STRVEC_INIT;
	struct rules *r = load(yaml, &got);
	for (size_t i = 0; i < got.n; i++)
		T_FAIL("unexpected: %s", got.v[i]);
	strvec_free(&got);
	return r;
}

static void expect_errors(const char *yaml, const char *const *want, size_t nwant)
{
	struct strvec got = STRVEC_INIT;
	struct rules *r = load(yaml, &got);
	T_OK(r == NULL);
	rules_free(r);
	T_EQ_INT(got.n, nwant);
	for (size_t i = 0; i < got.n || i < nwant; i++)
		T_EQ_STR(i < got.n ? got.v[i] : NULL, i < nwant ? want[i] : NULL);
	strvec_free(&got);
}

static void expect_error(const char *yaml, const char *want)
{
	expect_errors(yaml, &want, 1);
}

static struct message *parse(const char *raw)
{
	struct message *m = NULL;
	char *reason = NULL;
	if (message_parse(raw, strlen(raw), NULL, &m, &reason) < 0) {
		T_FAIL("message_parse: %s", reason);
		free(reason);
	}
	return m;
}

static struct message *parse_file(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, &data, &len) < 0) {
		T_FAIL("%s: %s", path, strerror(errno));
		return NULL;
	}
	struct message *m = NULL;
	char *reason = NULL;
	if (message_parse(data, len, NULL, &m, &reason) < 0) {
		T_FAIL("%s: %s", path, reason);
		free(reason);
	}
	free(data);
	return m;
}

/* The names of the matching rules, space-separated ("" for none). */
static char *eval_names(const struct rules *r, const struct message *m, bool first,
                        struct rules_result *res)
{
	struct rules_input in = {.message = m, .first_message = first};
	rules_eval(r, &in, res);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < res->nmatches; i++)
		buf_printf(&b, "%s%s", i ? " " : "", res->matches[i].rule);
	return buf_steal(&b);
}

/* A rule written as its name and its match, for tests of conditions. */
struct rule_src {
	const char *name, *match;
};

static struct rules *load_pairs(const struct rule_src *pairs);

/* Evaluates raw against the rules; asserts the names of those that match. */
static void expect_match(const struct rule_src *pairs, const char *raw, bool first,
                         const char *want)
{
	struct rules *r = load_pairs(pairs);
	struct message *m = parse(raw);
	if (r == NULL || m == NULL) {
		rules_free(r);
		message_free(m);
		return;
	}
	struct rules_result res;
	char *got = eval_names(r, m, first, &res);
	T_EQ_STR(got, want);
	free(got);
	rules_result_finish(&res);
	message_free(m);
	rules_free(r);
}

static const char *capture(const struct rules_match *m, const char *name)
{
	for (size_t i = 0; i < m->capture_names.n; i++)
		if (strcmp(m->capture_names.v[i], name) == 0)
			return m->capture_values.v[i];
	return NULL;
}

/* ---- messages ---- */

static const char refund_mail[] = "From: Jorge Alvarez <jorge@example.org>\n"
                                  "To: Shop <support@shop.example>\n"
                                  "Cc: Accounts <accounts@shop.example>\n"
                                  "Subject: Refund for cancelled order #10460\n"
                                  "Message-ID: <r1@example.org>\n"
                                  "Date: Thu, 19 Nov 2026 14:03:51 -0500\n"
                                  "X-Tag: first\n"
                                  "X-Tag: =?utf-8?q?zweite_R=C3=BCckfrage?=\n"
                                  "\n"
                                  "Hi,\n\nmy order 10460 was cancelled; where is the money?\n"
                                  "\n"
                                  "On Mon, 9 Nov 2026, Shop wrote:\n"
                                  "> Your voucher XMAS20 was applied.\n";

static const char german_qp[] = "From: =?iso-8859-1?q?J=FCrgen_Wei=DF?= <juergen@example.org>\n"
                                "To: support@shop.example\n"
                                "Subject: Bestellung 10471\n"
                                "Message-ID: <de1@example.org>\n"
                                "MIME-Version: 1.0\n"
                                "Content-Type: text/plain; charset=iso-8859-1\n"
                                "Content-Transfer-Encoding: quoted-printable\n"
                                "\n"
                                "Ich bitte um R=FCckerstattung des vollen Betrags.\n";

static const char html_only[] = "From: Emma <emma@example.net>\n"
                                "To: support@shop.example\n"
                                "Subject: Sofa\n"
                                "Message-ID: <h1@example.net>\n"
                                "MIME-Version: 1.0\n"
                                "Content-Type: text/html; charset=utf-8\n"
                                "\n"
                                "<html><body><p>Will the <b>driver</b> call&nbsp;first?</p>"
                                "</body></html>\n";

static const char with_photo[] =
    "From: Ahmed <ahmed@example.com>\n"
    "To: support@shop.example\n"
    "Subject: Damaged frame\n"
    "Message-ID: <p1@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "--b\nContent-Type: text/plain\n\nThe frame is split. Photo attached.\n"
    "--b\nContent-Type: image/jpeg; name=x.jpg\nContent-Disposition: attachment; "
    "filename=IMG_2041.jpg\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n--b--\n";

/* ---- loading ---- */

static void test_builtin(void)
{
	struct rules *r = rules_builtin();
	T_EQ_STR(rules_path(r), "(built-in)");
	T_EQ_INT(rules_count(r), 0);
	T_EQ_INT(rules_sla(r)->target[RULES_PRIORITY_URGENT], 3600);
	T_EQ_INT(rules_sla(r)->target[RULES_PRIORITY_HIGH], 4 * 3600);
	T_EQ_INT(rules_sla(r)->target[RULES_PRIORITY_NORMAL], 24 * 3600);
	T_EQ_INT(rules_sla(r)->target[RULES_PRIORITY_LOW], 72 * 3600);
	T_OK(!rules_business_hours(r)->set);
	char *s = template_render(rules_greeting(r), NULL, NULL);
	T_EQ_STR(s, "Hello there,");
	free(s);
	s = template_render(rules_closing(r), NULL, NULL);
	T_EQ_STR(s, "Kind regards,\n");
	free(s);
	s = template_render(rules_fallback(r), NULL, NULL);
	T_OK(strncmp(s, "Thank you for your message. ", 28) == 0);
	free(s);
	struct message *m = parse(refund_mail);
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "");
	T_EQ_INT(res.priority, RULES_PRIORITY_NORMAL);
	T_OK(!res.ignore && !res.automated && res.ignore_reason == NULL);
	free(names);
	rules_result_finish(&res);
	message_free(m);
	rules_free(r);
	rules_free(NULL);
}

static void test_priority_names(void)
{
	T_EQ_STR(rules_priority_name(RULES_PRIORITY_LOW), "low");
	T_EQ_STR(rules_priority_name(RULES_PRIORITY_URGENT), "urgent");
	T_EQ_STR(rules_priority_name(42), "unknown");
	T_EQ_INT(rules_priority_parse("high"), RULES_PRIORITY_HIGH);
	T_EQ_INT(rules_priority_parse("normal"), RULES_PRIORITY_NORMAL);
	T_EQ_INT(rules_priority_parse("High"), -1);
	T_EQ_INT(rules_priority_parse(NULL), -1);
}

static void test_minimal(void)
{
	remove_templates();
	struct rules *r = load_ok("version: 1\n");
	if (r == NULL)
		return;
	T_EQ_STR(rules_path(r), "rules.yaml");
	T_EQ_INT(rules_count(r), 0);
	T_EQ_INT(rules_sla(r)->target[RULES_PRIORITY_NORMAL], 86400);
	T_OK(!rules_business_hours(r)->set);
	/* No templates/ files: the built-in parts stand in. */
	T_EQ_STR(template_file(rules_greeting(r)), "(built-in greeting)");
	T_EQ_STR(template_file(rules_fallback(r)), "(built-in fallback)");
	rules_free(r);
	/* Every business_hours line commented out: none. */
	r = load_ok("version: 1\nbusiness_hours:\nrules:\n");
	T_OK(r != NULL && !rules_business_hours(r)->set);
	rules_free(r);
}

static const char full_yaml[] =
    "version: 1\n"
    "sla: {urgent: 30m, low: 5d}\n"
    "business_hours:\n"
    "  timezone: Europe/Berlin\n"
    "  days: [mon, tue, wed, thu, fri, Sat]\n"
    "  hours: \"09:30-17:00\"\n"
    "  holidays: [2026-12-26, 2026-12-24, 2027-01-01, 2026-12-24, 2028-02-29]\n"
    "draft: {greeting: hello, closing: bye, fallback: general}\n"
    "rules:\n"
    "  - name: refund\n"
    "    match: {subject: '(?i)\\brefund'}\n"
    "    capture:\n"
    "      order: '(?i)order\\s*#?\\s*(?<order>\\d{4,})'\n"
    "    tags: [policy, refund]\n"
    "    priority: high\n"
    "    template: refund\n"
    "  - name: Newsletter.2\n"
    "    match: {from: '^news@'}\n"
    "    action: ignore\n"
    "    stop: yes\n";

static void test_full(void)
{
	write_template("hello", "Hi {{customer.first_name|there}},\n");
	write_template("bye", "Cheers,\n{{agent.name}}\n");
	write_template("general", "Thanks, we will look into it.\n");
	write_template("refund", "Your refund for order {{order|(no number)}} is on its way.\n");
	struct rules *r = load_ok(full_yaml);
	if (r == NULL)
		return;
	const struct rules_sla *sla = rules_sla(r);
	T_EQ_INT(sla->target[RULES_PRIORITY_URGENT], 1800);
	T_EQ_INT(sla->target[RULES_PRIORITY_HIGH], 4 * 3600);
	T_EQ_INT(sla->target[RULES_PRIORITY_LOW], 5 * 86400);
	const struct rules_business_hours *bh = rules_business_hours(r);
	T_OK(bh->set);
	T_EQ_STR(bh->timezone, "Europe/Berlin");
	T_EQ_INT(bh->days, 0x3f);
	T_EQ_INT(bh->open_minute, 9 * 60 + 30);
	T_EQ_INT(bh->close_minute, 17 * 60);
	T_EQ_INT(bh->nholidays, 4);
	if (bh->nholidays == 4) {
		T_EQ_INT(bh->holidays[0], 20261224);
		T_EQ_INT(bh->holidays[1], 20261226);
		T_EQ_INT(bh->holidays[2], 20270101);
		T_EQ_INT(bh->holidays[3], 20280229);
	}
	T_EQ_INT(rules_count(r), 2);
	T_EQ_STR(template_file(rules_greeting(r)), "templates/hello.txt");
	T_EQ_STR(template_file(rules_closing(r)), "templates/bye.txt");
	T_EQ_STR(template_file(rules_fallback(r)), "templates/general.txt");
	struct message *m = parse(refund_mail);
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "refund");
	T_EQ_INT(res.priority, RULES_PRIORITY_HIGH);
	if (res.nmatches == 1) {
		T_EQ_STR(template_file(res.matches[0].template), "templates/refund.txt");
		T_EQ_STR(capture(&res.matches[0], "order"), "10460");
	}
	free(names);
	rules_result_finish(&res);
	message_free(m);
	rules_free(r);
	remove_templates();
}

/* Templates sit beside the rules file, wherever it is loaded from. */
static void test_path_elsewhere(void)
{
	enter_tmpdir();
	mkdir("sub", 0700);
	strvec_push(&created, "sub");
	mkdir("sub/templates", 0700);
	strvec_push(&created, "sub/templates");
	write_file("sub/templates/refund.txt", "Refund {{order}}.\n");
	write_file("sub/rules.yaml", "version: 1\nrules:\n  - name: refund\n"
	                             "    match: {subject: refund}\n    template: refund\n"
	                             "    capture: {order: '\\d+'}\n");
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(rules_load("sub/rules.yaml", &r, &d), 0);
	T_EQ_INT(d.n, 0);
	diags_free(&d);
	rules_free(r);
	write_file("sub/rules.yaml", "version: 1\nrules:\n  - name: refund\n"
	                             "    match: {subject: refund}\n    template: refund\n");
	T_EQ_INT(rules_load("sub/rules.yaml", &r, &d), -1);
	T_EQ_INT(d.n, 1);
	if (d.n == 1) {
		char *s = diag_format(&d.v[0]);
		T_EQ_STR(
		    s, "sub/templates/refund.txt:1:10: unknown variable \"order\" (rule \"refund\" "
		       "knows: customer.name, customer.first_name, customer.email, thread.id, "
		       "thread.subject, deadline, agent.name, customer.last_name, customer.title)");
		free(s);
	}
	diags_free(&d);
	unlink("sub/templates/refund.txt");
}

/* ---- conditions ---- */

/* "version: 1" and one rule per entry, up to the one with no name. */
static char *rules_yaml(const struct rule_src *pairs)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "version: 1\nrules:\n");
	for (size_t i = 0; pairs[i].name != NULL; i++)
		buf_printf(&b, "  - name: %s\n    match: %s\n", pairs[i].name, pairs[i].match);
	return buf_steal(&b);
}

static struct rules *load_pairs(const struct rule_src *pairs)
{
	char *yaml = rules_yaml(pairs);
	struct rules *r = load_ok(yaml);
	free(yaml);
	return r;
}

static void test_cond_subject_body(void)
{
	static const struct rule_src rules[] = {
	    {"s", "{subject: '(?i)\\brefund\\b'}"},
	    {"b_new", "{body: 'where is the money'}"},
	    /* The quoted reply is not the customer's new text. */
	    {"b_quoted", "{body: 'voucher'}"},
	    {"s_miss", "{subject: '^refund'}"},
	    {NULL, NULL},
	};
	expect_match(rules, refund_mail, true, "s b_new");
}

static void test_cond_from_to(void)
{
	static const struct rule_src rules[] = {
	    {"from", "{from: '^jorge@example\\.org$'}"},
	    /* The address, not the name. */
	    {"from_name", "{from: 'Jorge'}"},
	    /* Any of To and Cc. */
	    {"to", "{to: '^support@'}"},
	    {"cc", "{to: '^accounts@'}"},
	    {"to_miss", "{to: '^sales@'}"},
	    {NULL, NULL},
	};
	expect_match(rules, refund_mail, true, "from to cc");
}

static void test_cond_header(void)
{
	static const struct rule_src rules[] = {
	    {"first", "{header: {X-Tag: '^first$'}}"},
	    /* Every occurrence is tried, each decoded from RFC 2047; names ignore case. */
	    {"second", "{header: {x-tag: 'Rückfrage'}}"},
	    {"both", "{header: {X-Tag: first, Subject: '#10460'}}"},
	    {"one_of_two", "{header: {X-Tag: first, Subject: nothing}}"},
	    {"missing", "{header: {X-Missing: '.*'}}"},
	    {"not_missing", "{not: {header: {X-Missing: '.*'}}}"},
	    {NULL, NULL},
	};
	expect_match(rules, refund_mail, true, "first second both not_missing");
}

static void test_cond_flags(void)
{
	static const struct rule_src rules[] = {
	    {"att", "{has_attachment: true}"},
	    {"no_att", "{has_attachment: false}"},
	    {"first", "{first_message: true}"},
	    {"reply", "{first_message: no}"},
	    {NULL, NULL},
	};
	expect_match(rules, with_photo, true, "att first");
	expect_match(rules, refund_mail, false, "no_att reply");
}

static void test_cond_any_all_not(void)
{
	static const struct rule_src rules[] = {
	    {"any", "{any: [{subject: nomatch}, {body: money}]}"},
	    {"any_none", "{any: [{subject: nomatch}, {body: nomatch}]}"},
	    {"all", "{all: [{subject: Refund}, {body: money}]}"},
	    {"all_one", "{all: [{subject: Refund}, {body: nomatch}]}"},
	    {"not", "{not: {subject: nomatch}}"},
	    {"not_not", "{not: {not: {subject: Refund}}}"},
	    /* A mapping's keys must all hold, wherever it stands. */
	    {"map", "{subject: Refund, not: {has_attachment: true}, any: [{to: shop}]}"},
	    {"map_one", "{subject: Refund, has_attachment: true}"},
	    {"nested", "{any: [{all: [{subject: x}]}, {not: {any: [{from: nobody}]}}]}"},
	    {NULL, NULL},
	};
	expect_match(rules, refund_mail, true, "any all not not_not map nested");
}

/* kind (any, all or not) n deep around leaf, in flow style. Caller frees. */
static char *nested(const char *kind, int n, const char *leaf)
{
	struct buf b = BUF_INIT;
	bool list = strcmp(kind, "not") != 0;
	for (int i = 0; i < n; i++)
		buf_printf(&b, "{%s: %s", kind, list ? "[" : "");
	buf_puts(&b, leaf);
	for (int i = 0; i < n; i++)
		buf_puts(&b, list ? "]}" : "}");
	return buf_steal(&b);
}

/* any, all and not nest 64 deep and still match; the 65th level is refused where it stands. */
static void test_nesting_limit(void)
{
	char *not64 = nested("not", 64, "{subject: Refund}");
	char *any64 = nested("any", 64, "{subject: Refund}");
	char *all63 = nested("all", 63, "{not: {subject: nomatch}}");
	const struct rule_src rules[] = {
	    {"not64", not64}, {"any64", any64}, {"all64", all63}, {NULL, NULL}};
	expect_match(rules, refund_mail, true, "not64 any64 all64");
	char *not65 = nested("not", 65, "{subject: x}");
	char *yaml = xasprintf("version: 1\nrules:\n  - name: deep\n    match: %s\n", not65);
	expect_error(yaml, "rules.yaml:4:397: \"not\" in rule \"deep\" nests conditions deeper "
	                   "than 64 levels (any, all and not inside one another)");
	free(yaml);
	/* An alias to a mapping that holds it: without the limit, it nests without end. */
	expect_error("version: 1\nrules:\n  - name: loop\n    match: &m {not: {not: *m}}\n",
	             "rules.yaml:4:16: \"not\" in rule \"loop\" nests conditions deeper than 64 "
	             "levels (any, all and not inside one another)");
	free(not64);
	free(any64);
	free(all63);
	free(not65);
}

/* Aliases to aliases multiply conditions: a file stands for at most 100,000 of them. */
static void test_conditions_limit(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "version: 1\nrules:\n  - name: r0\n    match: &a0 {subject: x}\n");
	for (int i = 1; i <= 40; i++)
		buf_printf(&b, "  - name: r%d\n    match: &a%d {any: [*a%d, *a%d]}\n", i, i, i - 1,
		           i - 1);
	expect_error(b.data, "rules.yaml:4:17: more than 100000 conditions in the file by rule "
	                     "\"r15\" (aliases repeat the conditions they name)");
	buf_free(&b);
	/* Far more than any rules file holds is still well below it. */
	buf_puts(&b, "version: 1\nrules:\n");
	for (int i = 0; i < 2500; i++)
		buf_printf(&b,
		           "  - name: r%d\n    match: {any: [{subject: a}, {body: b}, {not: {to: "
		           "c}}]}\n",
		           i);
	struct rules *r = load_ok(b.data);
	T_EQ_INT(rules_count(r), 2500);
	rules_free(r);
	buf_free(&b);
}

/* Quoted-printable Latin-1 is decoded before matching; \b, \w and (?i) know about ü (UCP). */
static void test_unicode(void)
{
	static const struct rule_src rules[] = {
	    {"alt", "{body: '(?i)r(ü|ue)ckerstattung'}"},
	    {"word", "{body: '(?i)\\bRÜCKERSTATTUNG\\b'}"},
	    {"w", "{body: 'um \\w{14} des'}"},
	    {"subject", "{subject: '^Bestellung \\d+$'}"},
	    {"sender", "{header: {From: 'Jürgen Weiß'}}"},
	    {NULL, NULL},
	};
	expect_match(rules, german_qp, true, "alt word w subject sender");
	/* An HTML-only message is matched on its words, not its markup. */
	static const struct rule_src html[] = {
	    {"html", "{body: 'the driver call\\sfirst'}"},
	    {"tags", "{body: '<b>'}"},
	    {NULL, NULL},
	};
	expect_match(html, html_only, true, "html");
}

/* ---- evaluation ---- */

static void test_eval_order(void)
{
	const char *yaml = "version: 1\nrules:\n"
	                   "  - {name: a, match: {subject: Refund}, tags: [policy, refund], "
	                   "priority: low}\n"
	                   "  - {name: b, match: {subject: nomatch}, tags: [never], priority: "
	                   "urgent}\n"
	                   "  - {name: c, match: {body: money}, tags: [refund, money], priority: "
	                   "high}\n"
	                   "  - {name: d, match: {body: money}, tags: [last], priority: normal, "
	                   "action: ignore, stop: true}\n"
	                   "  - {name: e, match: {body: money}, tags: [after-stop]}\n";
	struct rules *r = load_ok(yaml);
	struct message *m = parse(refund_mail);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "a c d");
	free(names);
	T_EQ_INT(res.tags.n, 4);
	if (res.tags.n == 4) {
		T_EQ_STR(res.tags.v[0], "policy");
		T_EQ_STR(res.tags.v[1], "refund");
		T_EQ_STR(res.tags.v[2], "money");
		T_EQ_STR(res.tags.v[3], "last");
	}
	T_EQ_INT(res.priority, RULES_PRIORITY_HIGH);
	T_OK(res.ignore);
	T_OK(!res.automated);
	T_EQ_STR(res.ignore_reason, "rule \"d\"");
	T_OK(res.matches[0].template == NULL);
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

/* A rule without a priority counts as normal: with a low one, the message stays normal. */
static void test_priority_default(void)
{
	const char *yaml = "version: 1\nrules:\n"
	                   "  - {name: delivery, match: {body: money}}\n"
	                   "  - {name: invoice, match: {subject: Refund}, priority: low}\n";
	struct rules *r = load_ok(yaml);
	struct message *m = parse(refund_mail);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "delivery invoice");
	free(names);
	T_EQ_STR(rules_priority_name(res.priority), "normal");
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

static void test_captures(void)
{
	const char *yaml = "version: 1\nrules:\n"
	                   "  - name: c\n"
	                   "    match: {subject: Refund}\n"
	                   "    capture:\n"
	                   /* Named groups, in pattern order whatever their names. */
	                   "      two: '(?<zorder>\\d{4})(?<aorder>\\d)'\n"
	                   /* No named group: the key takes group 1... */
	                   "      who: '^From: (\\w+)'\n"
	                   /* ...or the whole match. */
	                   "      money: 'money\\?'\n"
	                   /* Searched in the subject, then the new text, then the text. */
	                   "      voucher: '(?<voucher>[A-Z]{4}\\d\\d)'\n"
	                   "      none: 'nowhere to be found'\n"
	                   "      opt: '(?<opt>x)?Refund'\n";
	struct rules *r = load_ok(yaml);
	struct message *m = parse(refund_mail);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "c");
	free(names);
	if (res.nmatches == 1) {
		const struct rules_match *mt = &res.matches[0];
		T_EQ_INT(mt->capture_names.n, 4);
		T_EQ_INT(mt->capture_values.n, mt->capture_names.n);
		if (mt->capture_names.n == 4) {
			T_EQ_STR(mt->capture_names.v[0], "zorder");
			T_EQ_STR(mt->capture_names.v[1], "aorder");
			T_EQ_STR(mt->capture_names.v[2], "money");
			T_EQ_STR(mt->capture_names.v[3], "voucher");
		}
		T_EQ_STR(capture(mt, "zorder"), "1046");
		T_EQ_STR(capture(mt, "aorder"), "0");
		T_EQ_STR(capture(mt, "money"), "money?");
		T_EQ_STR(capture(mt, "voucher"), "XMAS20");
		T_OK(capture(mt, "who") == NULL);
		T_OK(capture(mt, "none") == NULL);
		T_OK(capture(mt, "opt") == NULL);
	}
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

/* A rule's template may use its captures and the globals; a typo is caught at load time. */
static void test_template_vars(void)
{
	write_template("refund", "Order {{order}} for {{customer.name}} ({{ thread.id }}), "
	                         "due {{deadline}}.\n{{agent.name}} {{aorder}}\n");
	struct rules *r = load_ok("version: 1\nrules:\n"
	                          "  - name: refund\n"
	                          "    match: {subject: Refund}\n"
	                          "    capture: {order: '\\d+', two: '(?<aorder>\\d)'}\n"
	                          "    template: refund\n");
	rules_free(r);
	remove_templates();
}

/* Catastrophic backtracking is cut short and counts as no match; the daemon goes on. */
static void test_match_limit(void)
{
	struct buf raw = BUF_INIT;
	buf_puts(&raw, "From: a@example.org\nSubject: x\n\n");
	for (int i = 0; i < 40; i++)
		buf_puts(&raw, "aaaaaaaaaa");
	buf_puts(&raw, "!\n");
	static const struct rule_src rules[] = {
	    {"evil", "{body: '(a+)+$'}"},
	    {"evil2", "{body: '^(a|aa)+$'}"},
	    {"after", "{body: '!'}"},
	    {NULL, NULL},
	};
	fprintf(stderr, "# two warnings about patterns that gave up are expected below\n");
	expect_match(rules, raw.data, true, "after");
	buf_free(&raw);
}

/* Texts from elsewhere than message_parse may be broken UTF-8: matching must still be safe. */
static void test_invalid_utf8(void)
{
	static const struct rule_src rules[] = {
	    {"u", "{subject: 'caf.'}"},
	    {"b", "{body: '^\\w+ \\x{FFFD}'}"},
	    {"f", "{from: 'x'}"},
	    {NULL, NULL},
	};
	struct rules *r = load_pairs(rules);
	struct message *m = parse(refund_mail);
	if (r == NULL || m == NULL)
		goto out;
	free(m->subject);
	m->subject = xstrdup("caf\xe9 \xc3");
	free(m->new_text);
	m->new_text = xstrdup("broken \xff\xfe text");
	free(m->from.addr);
	m->from.addr = xstrdup("\xed\xa0\x80x@example.org");
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	T_EQ_STR(names, "u b f");
	free(names);
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

/* ---- the draft's order ---- */

static const char three_concerns[] = "From: Ann <ann@example.org>\n"
                                     "To: support@shop.example\n"
                                     "Subject: Invoice please\n"
                                     "Message-ID: <o1@example.org>\n"
                                     "\n"
                                     "Where is my delivery? My voucher failed too.\n"
                                     "And I need an invoice.\n";

/* Parts go where the customer raised them; place pins a part first or last. */
static void test_place_order(void)
{
	static const char *const names[] = {"catchall", "voucher", "delivery", "invoice",
	                                    "late",     "sorry",   "missing"};
	for (size_t i = 0; i < NELEM(names); i++)
		write_template(names[i], "x\n");
	struct rules *r = load_ok(
	    "version: 1\nrules:\n"
	    "  - {name: catchall, match: {body: '.'}, place: last, template: catchall}\n"
	    "  - {name: voucher, match: {body: voucher}, template: voucher}\n"
	    "  - {name: delivery, match: {body: delivery}, template: delivery}\n"
	    "  - {name: invoice, match: {any: [{subject: Invoice}, {body: invoice}]},\n"
	    "     template: invoice}\n"
	    /* voucher held first, but in a group that did not: the place is the invoice's */
	    "  - {name: late, match: {any: [{all: [{body: voucher}, {body: nowhere}]},\n"
	    "     {body: 'need an'}]}, template: late}\n"
	    "  - {name: sorry, match: {body: failed}, place: first, template: sorry}\n"
	    /* the first condition that holds says where: here none of the text */
	    "  - {name: missing, match: {any: [{from: ann}, {body: Where}]}, template: missing}\n");
	struct message *m = parse(three_concerns);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_input in = {.message = m, .first_message = true};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	/* invoice and missing both start at the start; the body raised missing's "Where" first. */
	T_CONTAINS(out.data, "draft: built-in greeting + sorry + missing + invoice + delivery + "
	                     "voucher + late + catchall + built-in closing\n");
	T_CONTAINS(out.data, "parts in the customer's order: sorry (place: first), missing (no "
	                     "text condition: the start; body, character 1), invoice (subject; "
	                     "body, character 60), delivery (body, character 13), voucher (body, "
	                     "character 26), late (body, character 52), catchall (place: last)\n");
	/* Evaluating without explaining puts them in the same order. */
	rules_result_finish(&res);
	rules_eval(r, &in, &res);
	const struct rules_match *v[8];
	for (size_t i = 0; i < res.nmatches && i < NELEM(v); i++)
		v[i] = &res.matches[i];
	T_EQ_INT(res.nmatches, 7);
	T_OK(res.nmatches == 7 && rules_match_cmp(v[5], v[6]) < 0 &&
	     rules_match_cmp(v[6], v[3]) < 0 && rules_match_cmp(v[3], v[2]) < 0 &&
	     rules_match_cmp(v[2], v[1]) < 0 && rules_match_cmp(v[1], v[4]) < 0 &&
	     rules_match_cmp(v[4], v[0]) < 0);
	buf_free(&out);
	rules_result_finish(&res);
out:
	for (size_t i = 0; i < NELEM(names); i++) {
		char *path = xasprintf("templates/%s.txt", names[i]);
		remove(path);
		free(path);
	}
	message_free(m);
	rules_free(r);
}

static void test_err_place(void)
{
	expect_error("version: 1\nrules:\n  - {name: r, match: {subject: x}, place: top}\n",
	             "rules.yaml:3:43: \"place\" must be first or last (leave it out to follow "
	             "the customer's order), not \"top\"");
}

static const char follow_up[] = "From: Ann <ann@example.org>\n"
                                "To: support@shop.example\n"
                                "Subject: Re: VAT invoice\n"
                                "Message-ID: <f3@example.org>\n"
                                "In-Reply-To: <f2@shop.example>\n"
                                "\n"
                                "I still need the VAT invoice.\n";
static const char first_ask[] = "From: Ann <ann@example.org>\n"
                                "To: support@shop.example\n"
                                "Subject: VAT invoice\n"
                                "Message-ID: <f1@example.org>\n"
                                "\n"
                                "Please send a VAT invoice for order OT-20417.\n";
static const char older_ask[] = "From: Ann <ann@example.org>\n"
                                "To: support@shop.example\n"
                                "Subject: Hello\n"
                                "Message-ID: <f0@example.org>\n"
                                "\n"
                                "About order OT-11111.\n";

/* A capture the new message lacks comes from the newest earlier message that has it. */
static void test_captures_earlier(void)
{
	struct rules *r = load_ok("version: 1\nrules:\n"
	                          "  - name: invoice\n"
	                          "    match: {body: invoice}\n"
	                          "    capture: {order: '(?<order>OT-\\d+)', vat: 'VAT'}\n");
	struct message *m = parse(follow_up), *e1 = parse(first_ask), *e0 = parse(older_ask);
	if (r == NULL || m == NULL || e1 == NULL || e0 == NULL)
		goto out;
	/* 2 Dec 2026 23:30 UTC is 3 Dec in Berlin */
	struct rules_earlier earlier[] = {{e1, 3, 1796254200}, {e0, 1, 1796000000}};
	struct rules_input in = {.message = m,
	                         .earlier = earlier,
	                         .nearlier = NELEM(earlier),
	                         .timezone = "Europe/Berlin"};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_CONTAINS(out.data, "capture order = \"OT-20417\" (from message 3, 3 Dec)\n");
	T_CONTAINS(out.data, "capture vat = \"VAT\" (from the subject)\n");
	buf_free(&out);
	rules_result_finish(&res);

	/* A verdict taken without them gets the same from rules_capture_earlier. */
	struct rules_input bare = {.message = m};
	rules_eval(r, &bare, &res);
	T_OK(rules_capture_lacking(r, &res));
	rules_capture_earlier(r, &in, &res);
	T_OK(!rules_capture_lacking(r, &res));
	T_EQ_STR(capture(&res.matches[0], "order"), "OT-20417");
	T_EQ_STR(res.matches[0].capture_sources.v[1], "message 3, 3 Dec");
	rules_result_finish(&res);
out:
	message_free(m);
	message_free(e1);
	message_free(e0);
	rules_free(r);
}

/* ---- explanations ---- */

static void test_explain(void)
{
	write_template("refund", "Refund for {{order}}.\n");
	struct rules *r = load_ok(
	    "version: 1\nrules:\n"
	    "  - name: automated\n"
	    "    match: {any: [{header: {Auto-Submitted: '^auto-'}}, {from: '^postmaster@'}]}\n"
	    "    action: ignore\n"
	    "    stop: true\n"
	    "  - name: refund\n"
	    "    match:\n"
	    "      subject: '(?i)\\brefund'\n"
	    "      body: 'where is the (?<x>money)'\n"
	    "      not: {has_attachment: true}\n"
	    "    capture: {order: 'order (?<order>\\d+)', other: 'nothing'}\n"
	    "    tags: [policy, refund]\n"
	    "    priority: high\n"
	    "    template: refund\n"
	    "  - name: voucher\n"
	    "    match: {to: '^sales@', first_message: true}\n");
	struct message *m = parse(refund_mail);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_input in = {.message = m, .first_message = true};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_EQ_STR(
	    out.data,
	    "rule automated: not matched\n"
	    "  any: none of 2 held\n"
	    "    header Auto-Submitted: no such header\n"
	    "    from '^postmaster@' did not match \"jorge@example.org\"\n"
	    "rule refund: matched (template refund)\n"
	    "  subject '(?i)\\brefund' matched \"Refund\" in \"Refund for cancelled order "
	    "#10460\"\n"
	    "  body 'where is the (?<x>money)' matched \"where is the money\" in \"Hi, my order "
	    "10460 was cancelled; where is the money?\"\n"
	    "  not: held (the condition below did not)\n"
	    "    has_attachment true: did not hold (no attachments)\n"
	    "  capture order = \"10460\" (from the new text)\n"
	    "  capture other: no match in the subject, the new text or the text\n"
	    "rule voucher: not matched\n"
	    "  to '^sales@' did not match \"support@shop.example\", \"accounts@shop.example\"\n"
	    "  first_message true: held (it starts a conversation)\n"
	    "automated: no\n"
	    "tags: policy, refund   priority: high\n"
	    "draft: built-in greeting + refund + built-in closing\n");
	T_EQ_INT(res.nmatches, 1);
	rules_result_finish(&res);
	buf_free(&out);
out:
	message_free(m);
	rules_free(r);
	remove_templates();
}

static void test_explain_context(void)
{
	/* A long text is shown around the match, cut at whole characters, on one line. */
	struct buf raw = BUF_INIT;
	buf_puts(&raw,
	         "From: a@example.org\nSubject: x\nContent-Type: text/plain; charset=utf-8\n\n");
	buf_puts(&raw, "Über die Lieferung:\nich möchte gern wissen, wann der Tisch kommt. Die "
	               "Rückerstattung für den Stuhl fehlt auch noch, schon seit drei Wochen.\n");
	static const struct rule_src rules[] = {
	    {"r", "{body: 'R(ü|ue)ckerstattung'}"},
	    {"stop", "{subject: x}\n    stop: true"},
	    {"never", "{subject: x}"},
	    {NULL, NULL},
	};
	struct rules *r = load_pairs(rules);
	struct message *m = parse(raw.data);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_input in = {.message = m, .first_message = false};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_EQ_STR(out.data, "rule r: matched\n"
	                   "  body 'R(ü|ue)ckerstattung' matched \"Rückerstattung\" in \"...der "
	                   "Tisch kommt. Die Rückerstattung für den Stuhl fehlt...\"\n"
	                   "rule stop: matched\n"
	                   "  subject 'x' matched \"x\" in \"x\"\n"
	                   "stopped by rule stop (stop: true): 1 later rule not evaluated\n"
	                   "automated: no\n"
	                   "tags: (none)   priority: normal\n"
	                   "draft: built-in greeting + built-in fallback (the fallback: no "
	                   "matching rule has a template) + built-in closing\n");
	rules_result_finish(&res);
	buf_free(&out);
out:
	buf_free(&raw);
	message_free(m);
	rules_free(r);
}

static void test_explain_attachment(void)
{
	static const struct rule_src rules[] = {
	    {"photo", "{has_attachment: true, first_message: false}"},
	    {NULL, NULL},
	};
	struct rules *r = load_pairs(rules);
	struct message *m = parse(with_photo);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_input in = {.message = m, .first_message = true};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_EQ_STR(out.data, "rule photo: not matched\n"
	                   "  has_attachment true: held (1 attachment: IMG_2041.jpg)\n"
	                   "  first_message false: did not hold (it starts a conversation)\n"
	                   "automated: no\n"
	                   "tags: (none)   priority: normal\n"
	                   "draft: built-in greeting + built-in fallback (the fallback: no "
	                   "matching rule has a template) + built-in closing\n");
	rules_result_finish(&res);
	buf_free(&out);
out:
	message_free(m);
	rules_free(r);
}

static void test_explain_automated(void)
{
	struct rules *r = rules_builtin();
	struct message *m = parse("From: Richard <r@example.org>\nSubject: Automatic reply\n"
	                          "Auto-Submitted: auto-replied\n\nOut of office.\n");
	struct rules_input in = {.message = m, .first_message = false};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_EQ_STR(out.data, "no rules in (built-in)\n"
	                   "automated: yes (Auto-Submitted: auto-replied): never answered "
	                   "automatically\n"
	                   "tags: (none)   priority: normal\n"
	                   "draft: none; ignored because of Auto-Submitted: auto-replied\n");
	T_OK(res.automated && res.ignore);
	rules_result_finish(&res);
	buf_free(&out);
	message_free(m);
	rules_free(r);
}

/* ---- automatic mail ---- */

static void expect_automated(const char *headers, const char *body, const char *want)
{
	char *raw = xasprintf("From: Customer <c@example.org>\nTo: support@shop.example\n"
	                      "Message-ID: <a@example.org>\n%s\n%s",
	                      headers, body);
	struct message *m = parse(raw);
	char *why = (char *)"unset";
	bool a = m != NULL && rules_automated(m, &why);
	T_EQ_INT(a, want != NULL);
	T_EQ_STR(why, want);
	if (!a && why != NULL)
		T_FAIL("%s: reason %s for a message that is not automatic", headers, why);
	if (a)
		free(why);
	message_free(m);
	free(raw);
}

static void test_automated(void)
{
	expect_automated("Subject: Hello\n", "Hi\n", NULL);
	expect_automated("Subject: Hello\nAuto-Submitted: no\n", "Hi\n", NULL);
	expect_automated("Subject: Hello\nAuto-Submitted: auto-replied\n", "Hi\n",
	                 "Auto-Submitted: auto-replied");
	expect_automated("Subject: Hello\nAuto-Submitted:  auto-generated (failure)\n", "",
	                 "Auto-Submitted: auto-generated (failure)");
	expect_automated("Subject: Hello\nPrecedence: Bulk\n", "", "Precedence: Bulk");
	expect_automated("Subject: Hello\nPrecedence: first-class\n", "", NULL);
	expect_automated("Subject: Hello\nList-Id: Shop news <news.shop.example>\n", "",
	                 "List-Id: Shop news <news.shop.example>");
	/* A long value is cut, never inside a character. */
	struct buf h = BUF_INIT, w = BUF_INIT;
	buf_puts(&h, "Subject: Hello\nList-Id: x");
	buf_puts(&w, "List-Id: x");
	for (int i = 0; i < 40; i++) {
		buf_puts(&h, "ü");
		if (i < 29)
			buf_puts(&w, "ü");
	}
	buf_puts(&h, "\n");
	buf_puts(&w, "...");
	expect_automated(h.data, "", w.data);
	buf_free(&h);
	buf_free(&w);
	expect_automated("Subject: Hello\nReturn-Path: <>\n", "", "Return-Path: <>");
	expect_automated("Subject: Hello\nReturn-Path: <c@example.org>\n", "", NULL);
	expect_automated("Subject: Hello\nReturn-Path: <MAILER-DAEMON@mx.example.org>\n", "",
	                 "Return-Path: <MAILER-DAEMON@mx.example.org>");
	expect_automated("Subject: Hello\nX-Autoreply: yes\n", "", "X-Autoreply: yes");
	expect_automated("Subject: Hello\nX-Autoreply: no\n", "", NULL);
	expect_automated("Subject: Hello\nMIME-Version: 1.0\nContent-Type: multipart/report; "
	                 "report-type=delivery-status; boundary=x\n",
	                 "--x\nContent-Type: text/plain\n\nfailed\n--x\nContent-Type: "
	                 "message/delivery-status\n\nStatus: 5.0.0\n--x--\n",
	                 "Content-Type: multipart/report; report-type=delivery-status; "
	                 "boundary=x");
	expect_automated("Subject: Undelivered Mail Returned to Sender\n", "",
	                 "Subject: Undelivered Mail Returned to Sender");
	/* Words a customer could write are not enough on their own. */
	expect_automated("Subject: Delivery failure - my sofa never came\n",
	                 "The driver did not turn up.\n", NULL);
	expect_automated("Subject: Delivery failure\n",
	                 "Your message could not be delivered to x@example.org.\n",
	                 "Subject: Delivery failure, and a bounce's wording in the body");
	/* A sender's name alone is not a system's. */
	char *raw = xasprintf("From: postmaster@example.org\nSubject: Hi\n\nHello\n");
	struct message *m = parse(raw);
	char *why = NULL;
	T_OK(rules_automated(m, &why));
	T_EQ_STR(why, "From: postmaster@example.org");
	free(why);
	T_OK(rules_automated(m, NULL));
	message_free(m);
	free(raw);
}

/*
 * Every bounce in the shared corpus is automatic mail. groupwise_03 is the one exception: it
 * is a person's reply from Outlook that once confused flufl.bounce's GroupWise detector, as
 * flufl.bounce's own tests say ("Not a bounce but has confused groupwise"); nothing in it
 * tells it from a customer's reply, and taking customers for bounces leaves them unanswered.
 */
static void test_automated_bounces(void)
{
	if (!t_corpora())
		return;
	char *dir = xasprintf("%s/bounces", CORPORA);
	DIR *d = opendir(dir);
	T_OK(d != NULL);
	size_t seen = 0, recognised = 0;
	for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		struct message *m = parse_file(path);
		char *why = NULL;
		bool a = m != NULL && rules_automated(m, &why);
		bool human = strcmp(e->d_name, "groupwise_03.txt") == 0;
		if (a == human)
			T_FAIL("%s: %s", e->d_name, a ? why : "not recognised as automatic");
		T_OK(!a || (why != NULL && *why != '\0'));
		seen++;
		recognised += a;
		free(why);
		message_free(m);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	T_EQ_INT(seen, 115);
	T_EQ_INT(recognised, 114);
	free(dir);
}

static const char *const sample_files[] = {
    "01-voucher-expired.eml",       "02-return-custom-table.eml", "03-order-change.eml",
    "04-cancel-order.eml",          "05-slow-answer.eml",         "06-refund-request.eml",
    "07-several-concerns.eml",      "08-rueckerstattung-de.eml",  "09-html-only.eml",
    "10-followup-order-change.eml", "11-damaged-item-photo.eml",  "12-out-of-office.eml",
};

static void test_automated_samples(void)
{
	for (size_t i = 0; i < NELEM(sample_files); i++) {
		char *path = xasprintf("%s/config/sample-mail/%s", SOURCE_ROOT, sample_files[i]);
		struct message *m = parse_file(path);
		char *why = NULL;
		bool a = m != NULL && rules_automated(m, &why);
		if (strcmp(sample_files[i], "12-out-of-office.eml") == 0)
			T_EQ_STR(why, "Auto-Submitted: auto-replied");
		else if (a)
			T_FAIL("%s taken for automatic mail: %s", sample_files[i], why);
		free(why);
		message_free(m);
		free(path);
	}
}

/* ---- the sample shipped to users ---- */

static const char *const sample_expect[] = {
    "voucher",
    "return_custom",
    "order_change",
    "cancel",
    "slow_answer delivery_late",
    "refund",
    "voucher address_change order_change",
    "cancel refund",
    "delivery_info",
    "slow_answer order_change",
    "damaged",
    "automated",
};

struct globals {
	const struct rules_match *m;
};

static const char *sample_lookup(const char *name, void *arg)
{
	const struct globals *g = arg;
	if (strcmp(name, "agent.name") == 0)
		return "Alice";
	return capture(g->m, name);
}

static void check_sample(const struct rules *r, size_t i)
{
	char *path = xasprintf("%s/config/sample-mail/%s", SOURCE_ROOT, sample_files[i]);
	struct message *m = parse_file(path);
	free(path);
	if (m == NULL)
		return;
	struct rules_result res;
	char *names = eval_names(r, m, m->in_reply_to.n == 0, &res);
	if (strcmp(names, sample_expect[i]) != 0)
		T_FAIL("%s: matched \"%s\", expected \"%s\"", sample_files[i], names,
		       sample_expect[i]);
	bool ooo = i == NELEM(sample_files) - 1;
	T_EQ_INT(res.ignore, ooo);
	T_EQ_INT(res.automated, ooo);
	/* Every part renders with what its rule captured, and names the order when known. */
	for (size_t k = 0; k < res.nmatches; k++) {
		if (res.matches[k].template == NULL)
			continue;
		struct globals g = {&res.matches[k]};
		char *text = template_render(res.matches[k].template, sample_lookup, &g);
		const char *order = capture(&res.matches[k], "order");
		if (order != NULL)
			T_CONTAINS(text, order);
		free(text);
	}
	free(names);
	rules_result_finish(&res);
	message_free(m);
}

static void test_sample_rules(void)
{
	char *path = xasprintf("%s/config/rules.yaml", SOURCE_ROOT);
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(rules_load(path, &r, &d), 0);
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.v[i]);
		T_FAIL("unexpected: %s", s);
		free(s);
	}
	diags_free(&d);
	free(path);
	if (r == NULL)
		return;
	const struct rules_business_hours *bh = rules_business_hours(r);
	T_EQ_STR(bh->timezone, "Europe/Berlin");
	T_EQ_INT(bh->days, 0x1f);
	T_EQ_INT(bh->nholidays, 4);
	for (size_t i = 0; i < NELEM(sample_files); i++)
		check_sample(r, i);
	rules_free(r);
}

/* The sample's captures: 07 gets its voucher code and order number into its parts. */
static void test_sample_captures(void)
{
	char *path = xasprintf("%s/config/rules.yaml", SOURCE_ROOT);
	struct rules *r = NULL;
	T_EQ_INT(rules_load(path, &r, NULL), 0);
	free(path);
	path = xasprintf("%s/config/sample-mail/07-several-concerns.eml", SOURCE_ROOT);
	struct message *m = parse_file(path);
	free(path);
	if (r == NULL || m == NULL)
		goto out;
	struct rules_result res;
	char *names = eval_names(r, m, true, &res);
	free(names);
	T_EQ_INT(res.nmatches, 3);
	if (res.nmatches == 3) {
		T_EQ_STR(capture(&res.matches[0], "code"), "SPRING10");
		T_EQ_STR(capture(&res.matches[1], "order"), "10488");
		T_EQ_STR(capture(&res.matches[2], "order"), "10488");
		struct globals g = {&res.matches[0]};
		char *text = template_render(res.matches[0].template, sample_lookup, &g);
		T_CONTAINS(text, "your voucher SPRING10.");
		free(text);
	}
	T_EQ_INT(res.priority, RULES_PRIORITY_HIGH);
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

/* ---- one test per kind of mistake, with the exact text an operator reads ---- */

static void test_err_unreadable(void)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	enter_tmpdir();
	T_EQ_INT(rules_load("missing.yaml", &r, &d), -1);
	T_OK(r == NULL);
	T_EQ_INT(d.n, 1);
	if (d.n == 1) {
		char *s = diag_format(&d.v[0]);
		T_EQ_STR(s, "missing.yaml: cannot read: No such file or directory");
		free(s);
	}
	diags_free(&d);
	expect_error("# nothing yet\n", "rules.yaml: empty rules file; it needs at least "
	                                "\"version: 1\"");
	expect_error("version: 1\nrules: [\n", "rules.yaml:3:1: did not find expected node "
	                                       "content (while parsing a flow node)");
}

static void test_err_version(void)
{
	expect_error("rules: []\n", "rules.yaml:1:1: missing required key \"version\" in the top "
	                            "level");
	expect_error("version: 2\n", "rules.yaml:1:10: \"version\" must be 1 (the only version of "
	                             "this format), not \"2\"");
}

/* settles names another rule of the file, where a misspelling would settle nothing. */
static void test_err_settles(void)
{
	const char *head = "version: 1\nrules:\n  - name: ask_photo\n    match: {subject: x}\n"
	                   "  - name: photo\n    match: {has_attachment: true}\n";
	char *yaml = xasprintf("%s    settles: [ask_photo, ask_foto]\n", head);
	expect_error(yaml, "rules.yaml:7:26: \"settles\" in rule \"photo\" names \"ask_foto\", "
	                   "which is no rule of this file");
	free(yaml);
	yaml = xasprintf("%s    settles: [photo]\n", head);
	expect_error(yaml, "rules.yaml:7:15: \"settles\" in rule \"photo\" names \"photo\", the "
	                   "rule itself");
	free(yaml);
	yaml = xasprintf("%s    settles: ask_photo\n", head);
	expect_error(yaml, "rules.yaml:7:14: \"settles\" must be a list, not \"ask_photo\"");
	free(yaml);
}

static void test_err_unknown_keys(void)
{
	expect_error(
	    "version: 1\nrule: []\n",
	    "rules.yaml:2:1: unknown key \"rule\" in the top level (expected one of: "
	    "version, sla, business_hours, draft, holding_reply, rules, language, facts; did you "
	    "mean \"rules\"?)");
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {subject: x}\n"
	             "    tag: [refund]\n",
	             "rules.yaml:5:5: unknown key \"tag\" in rule \"refund\" (expected one of: "
	             "name, match, capture, tags, priority, template, action, stop, place, attach, "
	             "settles; did you mean "
	             "\"tags\"?)");
	expect_error(
	    "version: 1\nrules:\n  - name: refund\n    match: {subjct: x}\n",
	    "rules.yaml:4:13: unknown key \"subjct\" in \"match\" of rule \"refund\" "
	    "(expected one of: subject, body, from, to, header, has_attachment, "
	    "first_message, any, all, not, lang, fact, fact_age; did you mean \"subject\"?)");
	expect_error(
	    "version: 1\nrules:\n  - name: refund\n    match:\n      any:\n"
	    "        - {subject: x}\n        - {bdy: y}\n",
	    "rules.yaml:7:12: unknown key \"bdy\" in entry 2 of \"any\" in rule \"refund\" "
	    "(expected one of: subject, body, from, to, header, has_attachment, "
	    "first_message, any, all, not, lang, fact, fact_age; did you mean \"body\"?)");
	expect_error("version: 1\nsla: {urgnt: 1h}\n",
	             "rules.yaml:2:7: unknown key \"urgnt\" in \"sla\" (expected one of: urgent, "
	             "high, normal, low; did you mean \"urgent\"?)");
	expect_error("version: 1\ndraft: {greting: hi}\n",
	             "rules.yaml:2:9: unknown key \"greting\" in \"draft\" (expected one of: "
	             "greeting, closing, fallback; did you mean \"greeting\"?)");
}

static void test_err_types(void)
{
	expect_error("version: 1\nrules: {name: x}\n",
	             "rules.yaml:2:8: \"rules\" must be a list, not a mapping");
	expect_error("version: 1\nrules:\n  - refund\n",
	             "rules.yaml:3:5: each entry of \"rules\" must be a mapping, not \"refund\"");
	expect_error("version: 1\nrules:\n  - name: x\n    match: [{subject: x}]\n",
	             "rules.yaml:4:12: \"match\" must be a mapping, not a list");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {subject: x}\n    tags: refund\n",
	             "rules.yaml:5:11: \"tags\" must be a list, not \"refund\"");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {subject: [a, b]}\n",
	             "rules.yaml:4:22: \"subject\" must be a string, not a list");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {any: {subject: x}}\n",
	             "rules.yaml:4:18: \"any\" must be a list, not a mapping");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {has_attachment: photo}\n",
	             "rules.yaml:4:29: \"has_attachment\" must be true or false, not \"photo\"");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {header: Auto-Submitted}\n",
	             "rules.yaml:4:21: \"header\" must be a mapping of header names to regexes, "
	             "like {Precedence: bulk}, not \"Auto-Submitted\"");
	expect_error(
	    "version: 1\nrules:\n  - name: x\n    match: {header: {'Auto Submitted': x}}\n",
	    "rules.yaml:4:22: each name in \"header\" must be a header field name like "
	    "Auto-Submitted, not \"Auto Submitted\"");
	expect_error("version: 1\nrules:\n  - name: x\n    match: {subject: ''}\n",
	             "rules.yaml:4:22: \"subject\" must not be empty");
	expect_error(
	    "version: 1\nrules:\n  - name: my rule\n    match: {subject: x}\n",
	    "rules.yaml:3:11: \"name\" must be letters, digits, \"_\", \"-\" or \".\", not "
	    "\"my rule\"");
}

static void test_err_regex_plain(void)
{
	expect_error("version: 1\nrules:\n  - name: refund\n    match:\n"
	             "      subject: (?i)refund)\n",
	             "rules.yaml:5:26: bad regex in rule \"refund\" subject: unmatched closing "
	             "parenthesis");
}

static void test_err_regex_single_quoted(void)
{
	/* 12:31 as an operator would see it: the end of the pattern, where ")" is missing. */
	expect_error("version: 1\n"
	             "rules:\n"
	             "  - name: refund\n"
	             "    match:\n"
	             "      any:\n"
	             "        - body: '(?i)\\b(refund|money back)\\b'\n"
	             "        - subject: '(?i)\\b(refund'\n",
	             "rules.yaml:7:34: bad regex in rule \"refund\" subject: missing closing "
	             "parenthesis");
	/* '' is one quote in the pattern but two columns in the file. */
	expect_error("version: 1\nrules:\n  - name: q\n    match: {body: 'it''s [z-a] x'}\n",
	             "rules.yaml:4:29: bad regex in rule \"q\" body: range out of order in "
	             "character class");
}

static void test_err_regex_double_quoted(void)
{
	/* "\\" and "\u00e9" are two and six columns for one and two bytes of pattern; PCRE2
	 * points at the end of the bad range, the "a". */
	expect_error("version: 1\nrules:\n  - name: d\n"
	             "    match: {subject: \"\\\\d+ caf\\u00e9 [z-a]\"}\n",
	             "rules.yaml:4:41: bad regex in rule \"d\" subject: range out of order in "
	             "character class");
}

static void test_err_regex_other_places(void)
{
	expect_error("version: 1\nrules:\n  - name: h\n"
	             "    match: {header: {Precedence: '^(bulk|list'}}\n",
	             "rules.yaml:4:46: bad regex in rule \"h\" header \"Precedence\": missing "
	             "closing parenthesis");
	expect_error("version: 1\nrules:\n  - name: c\n    match: {subject: x}\n"
	             "    capture: {order: '(?<order\\d+)'}\n",
	             "rules.yaml:5:31: bad regex in rule \"c\" capture \"order\": syntax error in "
	             "subpattern name (missing terminator?)");
	/* A plain scalar folded onto a second line: the line break is one space. */
	expect_error("version: 1\nrules:\n  - name: f\n    match:\n      subject: (?i)refund\n"
	             "        more)\n",
	             "rules.yaml:6:13: bad regex in rule \"f\" subject: unmatched closing "
	             "parenthesis");
	/* A block scalar: the pattern's own lines. */
	expect_error("version: 1\nrules:\n  - name: b\n    match:\n      body: >-\n"
	             "        (?i)refund)\n",
	             "rules.yaml:6:19: bad regex in rule \"b\" body: unmatched closing "
	             "parenthesis");
}

static void test_err_unknown_template(void)
{
	expect_error(
	    "version: 1\nrules:\n  - name: refund\n    match: {subject: x}\n"
	    "    template: refnd\n",
	    "rules.yaml:5:15: rule \"refund\": no template \"refnd\" (templates/refnd.txt: "
	    "No such file or directory)");
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {subject: x}\n"
	             "    template: ../refund\n",
	             "rules.yaml:5:15: \"template\" must be a template name (letters, digits, "
	             "\"_\", \"-\", \".\"), not \"../refund\"");
	expect_error("version: 1\ndraft: {greeting: hello}\n",
	             "rules.yaml:2:19: draft greeting: no template \"hello\" (templates/hello.txt: "
	             "No such file or directory)");
}

static void test_err_template_variable(void)
{
	write_template("refund", "Hello,\n\nabout your refund\nfor order {{oder}}: it is on its "
	                         "way.\n");
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {subject: x}\n"
	             "    capture: {order: '(?<order>\\d+)'}\n    template: refund\n",
	             "templates/refund.txt:4:13: unknown variable \"oder\" (rule \"refund\" knows: "
	             "order, customer.name, customer.first_name, customer.email, thread.id, "
	             "thread.subject, deadline, agent.name, customer.last_name, customer.title; "
	             "did you mean \"order\"?)");
	/* Greeting, closing and fallback know only the globals. */
	write_template("greeting", "Hello {{customer.first_name|there}} ({{order}}),\n");
	expect_error("version: 1\n",
	             "templates/greeting.txt:1:40: unknown variable \"order\" (draft greeting "
	             "knows: customer.name, customer.first_name, customer.email, thread.id, "
	             "thread.subject, deadline, agent.name, customer.last_name, customer.title)");
	remove_templates();
}

/* holding_reply: a template tendd sends on its own, after a share of the target. */
static void test_holding_reply(void)
{
	write_template("holding", "Hello {{customer.first_name|there}}, by {{deadline}}.\n");
	struct rules *r = load_ok("version: 1\nholding_reply: {template: holding, at: 50%}\n");
	int at = 0;
	T_OK(r && rules_holding(r, &at) != NULL);
	T_EQ_INT(at, 50);
	rules_free(r);
	r = load_ok("version: 1\n");
	T_OK(r && rules_holding(r, &at) == NULL);
	rules_free(r);
	expect_error("version: 1\nholding_reply: {template: holding, at: 150%}\n",
	             "rules.yaml:2:40: \"at\" must be a percentage from 1% to 100%, like 50%, "
	             "not \"150%\"");
	expect_error("version: 1\nholding_reply: {at: 50%}\n",
	             "rules.yaml:2:16: missing required key \"template\" in \"holding_reply\"");
	write_template("holding", "Regards,\n{{agent.name}}\n");
	expect_error("version: 1\nholding_reply: {template: holding, at: 50%}\n",
	             "templates/holding.txt:2:3: holding_reply: tendd sends it on its own, so "
	             "\"agent.name\" has no value");
	remove_templates();
}

static void test_err_template_syntax(void)
{
	write_template("refund", "Your order {{order is late.\n");
	expect_error("version: 1\nrules:\n  - name: a\n    match: {subject: x}\n"
	             "    template: refund\n"
	             "  - name: b\n    match: {subject: y}\n    template: refund\n",
	             "templates/refund.txt:1:12: unclosed \"{{\" (no \"}}\" on the same line)");
	remove_templates();
}

static void test_err_duplicate_name(void)
{
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {subject: x}\n"
	             "  - name: refund\n    match: {subject: y}\n",
	             "rules.yaml:5:11: duplicate rule name \"refund\" (first used at 3:11)");
}

static void test_err_priority(void)
{
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    priority: hihg\n",
	             "rules.yaml:5:15: \"priority\" must be one of urgent, high, normal, low (did "
	             "you mean \"high\"?), not \"hihg\"");
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    priority: 1\n",
	             "rules.yaml:5:15: \"priority\" must be one of urgent, high, normal, low, not "
	             "\"1\"");
}

static void test_err_duration(void)
{
	expect_errors("version: 1\nsla: {urgent: 1 hour, low: 0s}\n",
	              (const char *const[]){
	                  "rules.yaml:2:15: \"urgent\" must be a duration like 30s, 15m, 4h or "
	                  "2d, not \"1 hour\"",
	                  "rules.yaml:2:28: \"low\" must be at least 1s, not \"0s\"",
	              },
	              2);
}

static void test_err_timezone(void)
{
	expect_error("version: 1\nbusiness_hours: {timezone: Europe/Berln, hours: 09:00-17:00}\n",
	             "rules.yaml:2:28: unknown time zone \"Europe/Berln\" (expected an IANA name "
	             "like Europe/Berlin, as found in /usr/share/zoneinfo; did you mean "
	             "\"Europe/Berlin\"?)");
	expect_error("version: 1\nbusiness_hours: {timezone: ../../etc/passwd, hours: "
	             "09:00-17:00}\n",
	             "rules.yaml:2:28: unknown time zone \"../../etc/passwd\" (expected an IANA "
	             "name like Europe/Berlin, as found in /usr/share/zoneinfo)");
	expect_error("version: 1\nbusiness_hours: {timezone: /etc/localtime, hours: 09:00-17:00}\n",
	             "rules.yaml:2:28: unknown time zone \"/etc/localtime\" (expected an IANA "
	             "name like Europe/Berlin, as found in /usr/share/zoneinfo)");
	/* In the directory, but not a zone. */
	expect_error("version: 1\nbusiness_hours: {timezone: zone.tab, hours: 09:00-17:00}\n",
	             "rules.yaml:2:28: unknown time zone \"zone.tab\" (expected an IANA name like "
	             "Europe/Berlin, as found in /usr/share/zoneinfo)");
	expect_error("version: 1\nbusiness_hours: {hours: 09:00-17:00}\n",
	             "rules.yaml:2:17: missing required key \"timezone\" in \"business_hours\"");
}

static void test_err_days(void)
{
	expect_error("version: 1\nbusiness_hours:\n  timezone: UTC\n  hours: 09:00-17:00\n"
	             "  days: [monday, tue]\n",
	             "rules.yaml:5:10: each entry of \"days\" must be one of mon, tue, wed, thu, "
	             "fri, sat, sun, not \"monday\"");
	expect_error("version: 1\nbusiness_hours:\n  timezone: UTC\n  hours: 09:00-17:00\n"
	             "  days: [mon, tue, tue]\n",
	             "rules.yaml:5:20: \"days\" lists \"tue\" twice");
	expect_error("version: 1\nbusiness_hours:\n  timezone: UTC\n  hours: 09:00-17:00\n"
	             "  days: []\n",
	             "rules.yaml:5:9: \"days\" must not be an empty list: the clock would never "
	             "run");
	expect_error("version: 1\nbusiness_hours:\n  timezone: UTC\n  hours: 09:00-17:00\n"
	             "  days: mon-fri\n",
	             "rules.yaml:5:9: \"days\" must be a list, not \"mon-fri\"");
}

static void test_err_hours(void)
{
	expect_error("version: 1\nbusiness_hours: {timezone: UTC, hours: 9-5}\n",
	             "rules.yaml:2:40: \"hours\" must be opening and closing times like "
	             "\"09:00-17:00\", not \"9-5\"");
	expect_error("version: 1\nbusiness_hours: {timezone: UTC, hours: '17:00-09:00'}\n",
	             "rules.yaml:2:40: \"hours\" must open before they close, not \"17:00-09:00\"");
	expect_error("version: 1\nbusiness_hours: {timezone: UTC, hours: '09:60-17:00'}\n",
	             "rules.yaml:2:40: \"hours\" must be opening and closing times like "
	             "\"09:00-17:00\", not \"09:60-17:00\"");
	struct rules *r = load_ok("version: 1\nbusiness_hours: {timezone: UTC, hours: 8:00 - "
	                          "24:00}\n");
	if (r != NULL) {
		T_EQ_INT(rules_business_hours(r)->open_minute, 480);
		T_EQ_INT(rules_business_hours(r)->close_minute, 1440);
	}
	rules_free(r);
}

static void test_err_holidays(void)
{
	expect_errors("version: 1\nbusiness_hours:\n  timezone: UTC\n  hours: 09:00-17:00\n"
	              "  holidays: [2026-12-25, 2026-02-29, 26-12-25, 2026-13-01]\n",
	              (const char *const[]){
	                  "rules.yaml:5:26: each entry of \"holidays\" must be a real date written "
	                  "YYYY-MM-DD, like 2026-12-25, not \"2026-02-29\"",
	                  "rules.yaml:5:38: each entry of \"holidays\" must be a real date written "
	                  "YYYY-MM-DD, like 2026-12-25, not \"26-12-25\"",
	                  "rules.yaml:5:48: each entry of \"holidays\" must be a real date written "
	                  "YYYY-MM-DD, like 2026-12-25, not \"2026-13-01\"",
	              },
	              3);
}

static void test_err_missing_name_match(void)
{
	expect_error("version: 1\nrules:\n  - match: {subject: x}\n",
	             "rules.yaml:3:5: missing required key \"name\" in rule 1");
	expect_error("version: 1\nrules:\n  - name: refund\n    tags: [x]\n",
	             "rules.yaml:3:5: missing required key \"match\" in rule \"refund\"");
}

static void test_err_empty_match(void)
{
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {}\n",
	             "rules.yaml:4:12: \"match\" of rule \"refund\" must list at least one "
	             "condition (subject, body, from, to, header, has_attachment, first_message, "
	             "any, all, not, lang, fact, fact_age)");
	expect_error(
	    "version: 1\nrules:\n  - name: refund\n    match: {any: []}\n",
	    "rules.yaml:4:18: \"any\" in rule \"refund\" must list at least one condition");
	expect_error("version: 1\nrules:\n  - name: refund\n    match: {not: {}}\n",
	             "rules.yaml:4:18: \"not\" in rule \"refund\" must list at least one condition "
	             "(subject, body, from, to, header, has_attachment, first_message, any, all, "
	             "not, lang, fact, fact_age)");
}

static void test_err_stop_action(void)
{
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n    stop: maybe\n",
	             "rules.yaml:5:11: \"stop\" must be true or false, not \"maybe\"");
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    action: delete\n",
	             "rules.yaml:5:13: \"action\" must be ignore (the only action there is), not "
	             "\"delete\"");
}

static void test_err_captures(void)
{
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    capture: {order-no: '\\d+'}\n",
	             "rules.yaml:5:15: each name in \"capture\" must be a variable name of "
	             "letters, digits and \"_\", not \"order-no\"");
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    capture: {due: '(?<deadline>\\d+)'}\n",
	             "rules.yaml:5:20: capture \"due\" of rule \"r\" would hide the global "
	             "variable \"deadline\"");
	expect_error("version: 1\nrules:\n  - name: r\n    match: {subject: x}\n"
	             "    capture: [order]\n",
	             "rules.yaml:5:14: \"capture\" must be a mapping of variable names to regexes, "
	             "not a list");
}

/* Every problem in a file is reported, the file's own in order, then its templates'. */
static void test_err_several(void)
{
	write_template("refund", "Order {{oder}}\n");
	static const char *const want[] = {
	    "rules.yaml:2:15: \"urgent\" must be a duration like 30s, 15m, 4h or 2d, not \"soon\"",
	    "rules.yaml:6:5: missing required key \"match\" in rule \"refund\"",
	    "rules.yaml:8:15: \"priority\" must be one of urgent, high, normal, low, not \"top\"",
	    "rules.yaml:10:24: bad regex in rule \"b\" subject: missing closing parenthesis",
	    "rules.yaml:11:11: duplicate rule name \"refund\" (first used at 6:11)",
	    "rules.yaml:12:13: unknown key \"bdy\" in \"match\" of rule \"refund\" (expected one "
	    "of: subject, body, from, to, header, has_attachment, first_message, any, all, not, "
	    "lang, fact, fact_age; "
	    "did you mean \"body\"?)",
	    "templates/refund.txt:1:9: unknown variable \"oder\" (rule \"refund\" knows: "
	    "customer.name, customer.first_name, customer.email, thread.id, thread.subject, "
	    "deadline, agent.name, customer.last_name, customer.title)",
	};
	expect_errors("version: 1\n"
	              "sla: {urgent: soon}\n"
	              "business_hours: {timezone: UTC, hours: 09:00-17:00}\n"
	              "rules:\n"
	              "  # the first rule\n"
	              "  - name: refund\n"
	              "    template: refund\n"
	              "    priority: top\n"
	              "  - name: b\n"
	              "    match: {subject: (a}\n"
	              "  - name: refund\n"
	              "    match: {bdy: x}\n",
	              want, NELEM(want));
	remove_templates();
}

/* ---- facts ---- */

static const char facts_yaml[] = "version: 1\n"
                                 "facts:\n"
                                 "  order: {command: [/bin/echo, '{\"number\": \"{{order}}\"}']}\n"
                                 "  broken: {command: [/bin/false, '{{order}}']}\n"
                                 "rules:\n"
                                 "  - name: inside\n"
                                 "    match: {body: change, fact_age: {order.placed_at: '<24h'}}\n"
                                 "    capture: {order: '#(?<order>\\d+)'}\n"
                                 "  - name: outside\n"
                                 "    match: {body: change, fact_age: {order.placed_at: '>24h'}}\n"
                                 "  - name: hedge\n"
                                 "    match: {body: change, not: {fact: {order.placed_at: '.'}}}\n";

/* The rules that match with the one fact order.placed_at = placed_at (NULL: no facts). */
static char *with_placed_at(const struct rules *r, const struct message *m, const char *placed_at)
{
	struct rules_facts f = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	strvec_push(&f.names, "order.placed_at");
	strvec_push(&f.values, placed_at ? placed_at : "");
	struct rules_input in = {
	    .message = m, .first_message = true, .facts = placed_at ? &f : NULL};
	struct rules_result res;
	rules_eval(r, &in, &res);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < res.nmatches; i++)
		buf_printf(&b, "%s%s", i ? " " : "", res.matches[i].rule);
	rules_result_finish(&res);
	rules_facts_finish(&f);
	return buf_steal(&b);
}

static void test_fact_conditions(void)
{
	struct rules *r = load_ok(facts_yaml);
	struct message *m =
	    parse("From: a@example.com\nSubject: x\n\nPlease change order #4711.\n");
	if (r == NULL || m == NULL)
		goto out;
	time_t now = time(NULL);
	char iso[64], unix_s[32];
	struct tm tm;
	time_t t = now - 3 * 3600 + 2 * 3600; /* 3 h ago, written in +02:00 */
	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.250+02:00", &tm);
	snprintf(unix_s, sizeof(unix_s), "%lld", (long long)now - 30 * 3600);
	const char *want[][2] = {
	    {NULL, "hedge"},   {iso, "inside"},    {unix_s, "outside"},
	    {"yesterday", ""}, {"2026-13-01", ""},
	};
	for (size_t i = 0; i < NELEM(want); i++) {
		char *got = with_placed_at(r, m, want[i][0]);
		T_EQ_STR(got, want[i][1]);
		free(got);
	}
out:
	message_free(m);
	rules_free(r);
}

/* The rule that matches, and its explanation, for order.placed_at = placed_at on m received at
 * received: fact_age measures against the message, not against when the rules run. */
static void expect_age_at(const struct rules *r, const struct message *m, int64_t received,
                          int64_t placed_at, const char *rule, const char *says)
{
	struct rules_facts f = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	char value[32];
	snprintf(value, sizeof(value), "%lld", (long long)placed_at);
	strvec_push(&f.names, "order.placed_at");
	strvec_push(&f.values, value);
	struct rules_input in = {
	    .message = m, .first_message = true, .facts = &f, .received = received};
	struct rules_result res;
	struct buf out = BUF_INIT;
	rules_explain(r, &in, &res, &out);
	T_EQ_STR(res.nmatches ? res.matches[0].rule : "", rule);
	T_CONTAINS(out.data, says);
	buf_free(&out);
	rules_result_finish(&res);
	rules_facts_finish(&f);
}

static void test_fact_age_against_the_message(void)
{
	struct rules *r = load_ok(facts_yaml);
	struct message *m =
	    parse("From: a@example.com\nSubject: x\n\nPlease change order #4711.\n");
	if (r == NULL || m == NULL)
		goto out;
	/* received a week ago, and in the future: whenever the rules run, the same verdict */
	const int64_t now = (int64_t)time(NULL);
	const int64_t at[] = {now - 7 * 86400, now + 3 * 86400, 1700000000};
	for (size_t i = 0; i < NELEM(at); i++) {
		expect_age_at(r, m, at[i], at[i] - 23 * 3600, "inside",
		              "fact_age order.placed_at '<24h': held (");
		expect_age_at(r, m, at[i], at[i] - 23 * 3600, "inside",
		              " is 23h before the message came)");
		expect_age_at(r, m, at[i], at[i] - 25 * 3600, "outside",
		              "fact_age order.placed_at '<24h': did not hold (");
	}
out:
	message_free(m);
	rules_free(r);
}

/* The verdict on m, received (the wait's start) and arrived, for an order placed then. */
static const char *age_verdict(const struct rules *r, const struct message *m, int64_t received,
                               int64_t arrived, int64_t placed_at, struct rules_result *res)
{
	struct rules_facts f = {STRVEC_INIT, STRVEC_INIT, STRVEC_INIT};
	char value[32];
	snprintf(value, sizeof(value), "%lld", (long long)placed_at);
	strvec_push(&f.names, "order.placed_at");
	strvec_push(&f.values, value);
	struct rules_input in = {.message = m,
	                         .first_message = false,
	                         .facts = &f,
	                         .received = received,
	                         .arrived = arrived};
	rules_eval(r, &in, res);
	rules_facts_finish(&f);
	return res->nmatches ? res->matches[0].rule : "";
}

/*
 * A follow-up is judged as of when the wait began, but an order placed after that cannot be
 * what the first message asked about: writing three days into a wait about an order placed
 * two days ago is not "within 24 hours".
 */
static void test_fact_after_the_wait_began(void)
{
	struct rules *r = load_ok(facts_yaml);
	struct message *m =
	    parse("From: a@example.com\nSubject: x\n\nPlease change order #4711.\n");
	struct rules_result res;
	if (r == NULL || m == NULL)
		goto out;
	const int64_t now = (int64_t)time(NULL), began = now - 3 * 86400;
	T_EQ_STR(age_verdict(r, m, began, now, now - 2 * 86400, &res), "outside");
	rules_result_finish(&res);
	/* placed an hour before the wait began: in time, as the customer first asked */
	T_EQ_STR(age_verdict(r, m, began, now, began - 3600, &res), "inside");
	rules_result_finish(&res);
out:
	message_free(m);
	rules_free(r);
}

/* The capture comes from a rule that can only match once facts are known. */
static void test_lookup_arguments_and_failures(void)
{
	struct rules *r = load_ok(facts_yaml);
	struct message *m =
	    parse("From: a@example.com\nSubject: x\n\nPlease change order #4711.\n");
	if (r == NULL || m == NULL)
		goto out;
	struct rules_input in = {.message = m, .first_message = true};
	struct rules_facts f;
	struct buf explain = BUF_INIT;
	rules_lookup(r, &in, &f, &explain);
	T_EQ_STR(rules_fact_value(&f, "order.number"), "4711");
	T_EQ_INT(f.failures.n, 1);
	T_EQ_STR(f.failures.n ? f.failures.v[0] : "", "Lookup broken failed: exited with status 1");
	T_CONTAINS(explain.data, "lookup order: \"/bin/echo\" \"{\\\"number\\\": \\\"4711\\\"}\"\n"
	                         "  fact order.number = \"4711\"\n");
	rules_facts_finish(&f);
	buf_free(&explain);
	message_free(m);
	/* Nothing captured: nothing looked up, nothing failed. */
	m = parse("From: a@example.com\nSubject: x\n\nPlease change my order.\n");
	in.message = m;
	rules_lookup(r, &in, &f, NULL);
	T_EQ_INT(f.names.n + f.failures.n, 0);
	rules_facts_finish(&f);
out:
	message_free(m);
	rules_free(r);
}

/* A capture is one argument, whatever it holds: no shell ever sees it. */
static void test_lookup_argument_is_literal(void)
{
	char dir[256];
	t_mkdtemp(dir, sizeof(dir), "rules-facts");
	char *yaml = xasprintf("version: 1\n"
	                       "facts:\n"
	                       "  order: {command: [/usr/bin/printf, '{\"arg\": \"%%s\"}', "
	                       "'{{order}}']}\n"
	                       "rules:\n"
	                       "  - name: o\n"
	                       "    match: {body: order}\n"
	                       "    capture: {order: 'order: (?<order>.+)'}\n");
	char *text = xasprintf("From: a@example.com\nSubject: x\n\norder: $(touch %s/x); rm -rf %s "
	                       "`touch %s/y` | * ~\n",
	                       dir, dir, dir);
	char *want = xasprintf("$(touch %s/x); rm -rf %s `touch %s/y` | * ~", dir, dir, dir);
	struct rules *r = load_ok(yaml);
	struct message *m = parse(text);
	if (r != NULL && m != NULL) {
		struct rules_input in = {.message = m, .first_message = true};
		struct rules_facts f;
		rules_lookup(r, &in, &f, NULL);
		T_EQ_STR(rules_fact_value(&f, "order.arg"), want);
		T_EQ_INT(f.failures.n, 0);
		rules_facts_finish(&f);
		char *x = xasprintf("%s/x", dir), *y = xasprintf("%s/y", dir);
		T_OK(access(x, F_OK) != 0 && access(y, F_OK) != 0 && access(dir, F_OK) == 0);
		free(x);
		free(y);
	}
	message_free(m);
	rules_free(r);
	free(want);
	free(text);
	free(yaml);
	t_rmtree(dir);
}

T_MAIN(T_CASE(test_builtin), T_CASE(test_priority_names), T_CASE(test_minimal), T_CASE(test_full),
       T_CASE(test_path_elsewhere), T_CASE(test_cond_subject_body), T_CASE(test_cond_from_to),
       T_CASE(test_cond_header), T_CASE(test_cond_flags), T_CASE(test_cond_any_all_not),
       T_CASE(test_unicode), T_CASE(test_eval_order), T_CASE(test_captures),
       T_CASE(test_template_vars), T_CASE(test_match_limit), T_CASE(test_invalid_utf8),
       T_CASE(test_explain), T_CASE(test_explain_context), T_CASE(test_explain_attachment),
       T_CASE(test_explain_automated), T_CASE(test_automated), T_CASE(test_automated_bounces),
       T_CASE(test_automated_samples), T_CASE(test_sample_rules), T_CASE(test_sample_captures),
       T_CASE(test_err_unreadable), T_CASE(test_err_version), T_CASE(test_err_unknown_keys),
       T_CASE(test_err_settles), T_CASE(test_err_types), T_CASE(test_err_regex_plain),
       T_CASE(test_err_regex_single_quoted), T_CASE(test_err_regex_double_quoted),
       T_CASE(test_err_regex_other_places), T_CASE(test_err_unknown_template),
       T_CASE(test_err_template_variable), T_CASE(test_holding_reply),
       T_CASE(test_err_template_syntax), T_CASE(test_err_duplicate_name), T_CASE(test_err_priority),
       T_CASE(test_err_duration), T_CASE(test_err_timezone), T_CASE(test_err_days),
       T_CASE(test_err_hours), T_CASE(test_err_holidays), T_CASE(test_err_missing_name_match),
       T_CASE(test_err_empty_match), T_CASE(test_err_stop_action), T_CASE(test_err_captures),
       T_CASE(test_err_several), T_CASE(test_nesting_limit), T_CASE(test_conditions_limit),
       T_CASE(test_fact_conditions), T_CASE(test_fact_age_against_the_message),
       T_CASE(test_fact_after_the_wait_began), T_CASE(test_lookup_arguments_and_failures),
       T_CASE(test_lookup_argument_is_literal), T_CASE(test_priority_default),
       T_CASE(test_place_order), T_CASE(test_err_place), T_CASE(test_captures_earlier))
