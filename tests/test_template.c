/*
 * test_template: parsing and rendering {{variable}} templates, and the exact text an operator
 * reads for each mistake.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "tend/template.h"

static struct template *parse_ok(const char *text)
{
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(template_parse(text, strlen(text), "t.txt", &t, &d), 0);
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.v[i]);
		T_FAIL("unexpected: %s", s);
		free(s);
	}
	diags_free(&d);
	return t;
}

/* Asserts that text is rejected with exactly these messages, in this order. */
static void expect_errors(const char *text, const char *const *want, size_t nwant)
{
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(template_parse(text, strlen(text), "templates/refund.txt", &t, &d), -1);
	T_OK(t == NULL);
	T_EQ_INT(d.n, nwant);
	for (size_t i = 0; i < d.n || i < nwant; i++) {
		char *s = i < d.n ? diag_format(&d.v[i]) : NULL;
		T_EQ_STR(s, i < nwant ? want[i] : NULL);
		free(s);
	}
	diags_free(&d);
}

static void expect_error(const char *text, const char *want)
{
	expect_errors(text, &want, 1);
}

struct vars {
	const char *const *kv; /* name, value, name, value..., NULL */
};

static const char *lookup(const char *name, void *arg)
{
	const struct vars *v = arg;
	for (size_t i = 0; v->kv[i] != NULL; i += 2)
		if (strcmp(v->kv[i], name) == 0)
			return v->kv[i + 1];
	return NULL;
}

static void expect_render(const char *text, const char *const *kv, const char *want)
{
	struct template *t = parse_ok(text);
	if (t == NULL)
		return;
	struct vars v = {kv};
	char *s = template_render(t, lookup, &v);
	T_EQ_STR(s, want);
	free(s);
	template_free(t);
}

static void test_render(void)
{
	static const char *const kv[] = {
	    "customer.first_name", "Laura",       "order", "10460", "empty", "",
	    "agent.name",          "Alice Smith", NULL};
	expect_render("Hello {{customer.first_name|there}},", kv, "Hello Laura,");
	expect_render("Order {{ order }} is on its way.", kv, "Order 10460 is on its way.");
	expect_render("{{order}}{{order}}", kv, "1046010460");
	expect_render("Kind regards,\n{{agent.name}}", kv, "Kind regards,\nAlice Smith");
	expect_render("no variables at all", kv, "no variables at all");
	expect_render("", kv, "");
}

static void test_fallbacks(void)
{
	static const char *const kv[] = {"empty", "", NULL};
	expect_render("Hello {{customer.first_name|there}},", kv, "Hello there,");
	expect_render("Hello {{ customer.first_name | dear customer }},", kv,
	              "Hello dear customer,");
	expect_render("[{{empty|fallback}}]", kv, "[fallback]");
	expect_render("[{{empty}}]", kv, "[]");
	expect_render("[{{missing}}]", kv, "[]");
	expect_render("[{{missing|}}]", kv, "[]");
	/* A fallback is plain text: a bar or a brace in it is kept. */
	expect_render("[{{missing|a|b {c}}]", kv, "[a|b {c]");
}

static void test_literal_braces(void)
{
	static const char *const kv[] = {"x", "X", NULL};
	expect_render("a { b } c }} d {x}", kv, "a { b } c }} d {x}");
	expect_render("{x}} {{x}}}", kv, "{x}} X}");
}

/* Editors end files with a line break; the template's text does not include it. */
static void test_trailing_newlines(void)
{
	static const char *const kv[] = {NULL};
	expect_render("Kind regards,\n\n", kv, "Kind regards,");
	expect_render("Kind regards,\r\n", kv, "Kind regards,");
	expect_render("\n\nKind regards,", kv, "\n\nKind regards,");
}

static void test_utf8(void)
{
	static const char *const kv[] = {"name", "Jürgen", NULL};
	expect_render("Grüße, {{name}} — 👋", kv, "Grüße, Jürgen — 👋");
}

struct seen {
	struct strvec names;
	struct buf pos;
};

static void collect(const char *name, int line, int column, void *arg)
{
	struct seen *s = arg;
	strvec_push(&s->names, name);
	buf_printf(&s->pos, "%d:%d ", line, column);
}

static void test_foreach_var(void)
{
	struct template *t = parse_ok("Hello {{customer.first_name|there}},\n\n"
	                              "Grüße {{ order }} and {{order}}.\n{{agent.name}}");
	if (t == NULL)
		return;
	struct seen s = {STRVEC_INIT, BUF_INIT};
	template_foreach_var(t, collect, &s);
	T_EQ_INT(s.names.n, 4);
	if (s.names.n == 4) {
		T_EQ_STR(s.names.v[0], "customer.first_name");
		T_EQ_STR(s.names.v[1], "order");
		T_EQ_STR(s.names.v[2], "order");
		T_EQ_STR(s.names.v[3], "agent.name");
	}
	/* Columns count characters: "Grüße " is six of them, whatever its bytes. */
	T_EQ_STR(s.pos.data, "1:9 3:10 3:25 4:3 ");
	T_EQ_STR(template_file(t), "t.txt");
	strvec_free(&s.names);
	buf_free(&s.pos);
	template_free(t);
	template_free(NULL);
}

static void test_render_without_lookup(void)
{
	struct template *t = parse_ok("Hello {{name|there}}{{x}}!");
	char *s = template_render(t, NULL, NULL);
	T_EQ_STR(s, "Hello there!");
	free(s);
	template_free(t);
}

static void test_sections(void)
{
	static const char *const kv[] = {"order", "10460", "empty", "", "name", "Anna", NULL};
	expect_render(
	    "About {{#order}}the order {{order}}{{/order}}{{^order}}your order{{/order}}:", kv,
	    "About the order 10460:");
	expect_render(
	    "About {{#empty}}the order {{empty}}{{/empty}}{{^empty}}your order{{/empty}}:", kv,
	    "About your order:");
	expect_render("[{{#missing}}x{{/missing}}{{^missing}}y{{/missing}}]", kv, "[y]");
	/* Sections nest, and an inner one is only looked at when the outer one is shown. */
	expect_render("{{#order}}A{{#name}}B{{name}}{{/name}}{{^empty}}C{{/empty}}{{/order}}.", kv,
	              "ABAnnaC.");
	expect_render("{{#empty}}A{{#name}}B{{/name}}{{/empty}}{{# name }}D{{/ name }}.", kv, "D.");
	expect_render("{{#order}}{{#order}}twice{{/order}}{{/order}}", kv, "twice");
	expect_render("{{^order}}{{#name}}hidden{{/name}}{{/order}}end", kv, "end");
}

/* A section tag alone on its line takes the line with it: no blank line is left behind. */
static void test_sections_standalone(void)
{
	static const char *const kv[] = {"order", "10460", NULL};
	expect_render("Hello,\n\n{{#order}}\nAbout {{order}}.\n\n{{/order}}\n{{^order}}\nAbout "
	              "it.\n\n{{/order}}\nBye",
	              kv, "Hello,\n\nAbout 10460.\n\nBye");
	expect_render("Hello,\n\n{{#missing}}\nAbout {{missing}}.\n\n{{/missing}}\nBye", kv,
	              "Hello,\n\nBye");
	expect_render("a\n  {{#order}}  \r\nb\n\t{{/order}}\nc", kv, "a\nb\nc");
	/* A tag that shares its line with text keeps the line. */
	expect_render("a\nx {{#order}}b{{/order}}\nc", kv, "a\nx b\nc");
	expect_render("a\n{{#missing}}b{{/missing}} \nc", kv, "a\n \nc");
	/* The last line, without a line break: the one before it stays. */
	expect_render("a\n{{#order}}\nb\n{{/order}}", kv, "a\nb\n");
}

static void test_foreach_var_sections(void)
{
	struct template *t = parse_ok("{{#order}}\nA {{^ name }}B{{/ name }}{{/order}}");
	if (t == NULL)
		return;
	struct seen s = {STRVEC_INIT, BUF_INIT};
	template_foreach_var(t, collect, &s);
	T_EQ_INT(s.names.n, 2);
	if (s.names.n == 2) {
		T_EQ_STR(s.names.v[0], "order");
		T_EQ_STR(s.names.v[1], "name");
	}
	T_EQ_STR(s.pos.data, "1:4 2:7 ");
	strvec_free(&s.names);
	buf_free(&s.pos);
	template_free(t);
}

static void test_err_sections(void)
{
	expect_error("About {{#order}}your order {{order}}:\n",
	             "templates/refund.txt:1:7: section \"{{#order}}\" is never closed (no "
	             "\"{{/order}}\")");
	expect_error("About\n  {{^order}}\nyour order\n",
	             "templates/refund.txt:2:3: section \"{{^order}}\" is never closed (no "
	             "\"{{/order}}\")");
	expect_error(
	    "About your order{{/order}}:",
	    "templates/refund.txt:1:17: \"{{/order}}\" closes no section (no \"{{#order}}\" "
	    "or \"{{^order}}\" before it)");
	expect_error(
	    "{{#order}}\n{{#code}}x{{/order}}{{/code}}",
	    "templates/refund.txt:2:11: \"{{/order}}\" where \"{{/code}}\" was expected, to "
	    "close \"{{#code}}\" of line 2, column 1");
	expect_error("{{#}}x", "templates/refund.txt:1:1: empty section name in \"{{#}}\"");
	expect_error("{{#order|none}}x{{/order}}",
	             "templates/refund.txt:1:1: a section takes no fallback: \"{{#order|none}}\" "
	             "(write the other case as \"{{^...}}\")");
	expect_error("{{#order-id}}x",
	             "templates/refund.txt:1:9: bad character \"-\" in variable name \"order-id\" "
	             "(letters, digits, \"_\" and \".\" only)");
}

/* ---- one test per kind of mistake ---- */

static void test_err_unclosed(void)
{
	expect_error("Dear customer,\n\nyour order {{order is late.\n",
	             "templates/refund.txt:3:12: unclosed \"{{\" (no \"}}\" on the same line)");
	/* The closing braces must be on the same line. */
	expect_error("{{order\n}}", "templates/refund.txt:1:1: unclosed \"{{\" (no \"}}\" on "
	                            "the same line)");
}

static void test_err_empty_name(void)
{
	expect_error("Hello {{ }},", "templates/refund.txt:1:7: empty variable name in \"{{ }}\"");
	expect_error("Hello {{|there}},",
	             "templates/refund.txt:1:7: empty variable name in \"{{|there}}\"");
}

static void test_err_bad_character(void)
{
	expect_error("Your order {{order-id}} ships today.",
	             "templates/refund.txt:1:19: bad character \"-\" in variable name \"order-id\" "
	             "(letters, digits, \"_\" and \".\" only)");
	expect_error(
	    "Grüße {{kündigung}}",
	    "templates/refund.txt:1:10: bad character \"ü\" in variable name \"kündigung\" "
	    "(letters, digits, \"_\" and \".\" only)");
	/* "{{" always opens a reference, so a third brace is part of the name. */
	expect_error("{{{x}}", "templates/refund.txt:1:3: bad character \"{\" in variable name "
	                       "\"{x\" (letters, digits, \"_\" and \".\" only)");
	expect_error("{{customer name}}",
	             "templates/refund.txt:1:11: bad character \" \" in variable name \"customer "
	             "name\" (letters, digits, \"_\" and \".\" only)");
}

static void test_err_encoding(void)
{
	expect_error("Gr\xfc\xdf"
	             "e",
	             "templates/refund.txt:1:3: not valid UTF-8 (save the file as UTF-8)");
	static const char nul[] = "ab\0cd";
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(template_parse(nul, sizeof(nul) - 1, "n.txt", &t, &d), -1);
	T_EQ_INT(d.n, 1);
	if (d.n == 1) {
		char *s = diag_format(&d.v[0]);
		T_EQ_STR(s, "n.txt:1:3: NUL byte in a template");
		free(s);
	}
	diags_free(&d);
}

/* Every mistake in a file is reported, not only the first. */
static void test_err_several(void)
{
	static const char *const want[] = {
	    "templates/refund.txt:1:8: empty variable name in \"{{}}\"",
	    ("templates/refund.txt:2:14: bad character \"!\" in variable name \"order!\" (letters, "
	     "digits, \"_\" and \".\" only)"),
	    "templates/refund.txt:3:1: unclosed \"{{\" (no \"}}\" on the same line)",
	    "templates/refund.txt:4:7: unclosed \"{{\" (no \"}}\" on the same line)",
	};
	expect_errors("Hello, {{}}\nOrder {{order!}} {{ok}}\n{{ oops\nfine, {{ again", want,
	              NELEM(want));
}

static void test_load(void)
{
	char dir[PATH_MAX];
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/tend-template-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		T_FAIL("mkdtemp: %s", strerror(errno));
		return;
	}
	char *path = xasprintf("%s/closing.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("Kind regards,\n{{agent.name}}\n", f);
	fclose(f);
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	T_EQ_INT(template_load(path, &t, &d), 0);
	T_EQ_INT(d.n, 0);
	T_EQ_STR(template_file(t), path);
	static const char *const kv[] = {"agent.name", "Bo", NULL};
	struct vars v = {kv};
	char *s = template_render(t, lookup, &v);
	T_EQ_STR(s, "Kind regards,\nBo");
	free(s);
	template_free(t);

	char *missing = xasprintf("%s/nope.txt", dir);
	T_EQ_INT(template_load(missing, &t, &d), -1);
	T_OK(t == NULL);
	T_EQ_INT(d.n, 1);
	if (d.n == 1) {
		char *want = xasprintf("%s: cannot read: No such file or directory", missing);
		char *got = diag_format(&d.v[0]);
		T_EQ_STR(got, want);
		free(got);
		free(want);
	}
	diags_free(&d);
	unlink(path);
	rmdir(dir);
	free(missing);
	free(path);
}

T_MAIN(T_CASE(test_render), T_CASE(test_fallbacks), T_CASE(test_literal_braces),
       T_CASE(test_trailing_newlines), T_CASE(test_utf8), T_CASE(test_foreach_var),
       T_CASE(test_render_without_lookup), T_CASE(test_err_unclosed), T_CASE(test_err_empty_name),
       T_CASE(test_err_bad_character), T_CASE(test_err_encoding), T_CASE(test_err_several),
       T_CASE(test_load), T_CASE(test_sections), T_CASE(test_sections_standalone),
       T_CASE(test_foreach_var_sections), T_CASE(test_err_sections))
