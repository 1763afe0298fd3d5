/*
 * Unit tests for the strict JSON reader that fact lookups' output goes through.
 */
#include "t.h"
#include "tend/jsonread.h"

/* Parses s with prefix "order"; returns "name=value;..." or "error: ..." (caller frees). */
static char *flat(const char *s)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	char *err = NULL;
	struct buf b = BUF_INIT;
	if (jsonread_flat(s, strlen(s), "order", &names, &values, &err) < 0) {
		buf_printf(&b, "error: %s", err);
		T_EQ_INT(names.n, 0);
	}
	for (size_t i = 0; i < names.n; i++)
		buf_printf(&b, "%s=%s;", names.v[i], values.v[i]);
	free(err);
	strvec_free(&names);
	strvec_free(&values);
	return buf_steal(&b);
}

#define T_FLAT(in, want)                                                                           \
	do {                                                                                       \
		char *got_ = flat(in);                                                             \
		T_EQ_STR(got_, want);                                                              \
		free(got_);                                                                        \
	} while (0)

static void test_flattened(void)
{
	T_FLAT("{\"status\":\"placed\",\"placed_at\":\"2026-12-02T21:00:00Z\"}",
	       "order.status=placed;order.placed_at=2026-12-02T21:00:00Z;");
	T_FLAT(" {\"a\": {\"b\": {\"c\": -1.5e3}}, \"paid\": true, \"gift\": false, \"note\": "
	       "null} \n",
	       "order.a.b.c=-1.5e3;order.paid=true;order.gift=false;");
	T_FLAT("{\"items\":[\"mug\",{\"sku\":7}],\"empty\":{},\"none\":[]}",
	       "order.items.0=mug;order.items.1.sku=7;");
	T_FLAT("{}", "");
}

static void test_strings(void)
{
	T_FLAT("{\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\"}",
	       "order.s=a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80;");
	T_FLAT("{\"s\":\"M\xc3\xbcller\"}", "order.s=M\xc3\xbcller;");
}

static void test_strict(void)
{
	T_FLAT("[1,2]", "error: not a JSON object at byte 0");
	T_FLAT("\"placed\"", "error: not a JSON object at byte 0");
	T_FLAT("", "error: not a JSON object at byte 0");
	T_FLAT("{\"a\":1,}", "error: expected a member name at byte 7");
	T_FLAT("{\"a\":01}", "error: expected ',' or '}' at byte 6");
	T_FLAT("{\"a\":1.}", "error: bad number at byte 7");
	T_FLAT("{\"a\":+1}", "error: unexpected character at byte 5");
	T_FLAT("{'a':1}", "error: expected a member name at byte 1");
	T_FLAT("{\"a\":1} x", "error: text after the object at byte 8");
	T_FLAT("{\"a\":1}{}", "error: text after the object at byte 7");
	T_FLAT("{\"a\":\"x\ty\"}", "error: control character in a string at byte 7");
	T_FLAT("{\"a\":\"\\x\"}", "error: bad escape at byte 7");
	T_FLAT("{\"a\":\"\\ud83d\"}", "error: high surrogate without its low one at byte 12");
	T_FLAT("{\"a\":\"\\ude00\"}", "error: lone low surrogate at byte 12");
	T_FLAT("{\"a\":\"\\u0000\"}", "error: \\u0000 in a string at byte 12");
	T_FLAT("{\"a\":\"unterminated}", "error: unterminated string at byte 19");
	T_FLAT("{\"a\":tru}", "error: unexpected character at byte 5");
	T_FLAT("{\"a\":1 /* c */}", "error: expected ',' or '}' at byte 7");
	T_FLAT("{\"a\":1,\"a\":2}", "error: \"order.a\" appears twice at byte 12");
	T_FLAT("{\"a\":{\"b\":1},\"a.b\":2}", "error: \"order.a.b\" appears twice at byte 20");
	T_FLAT("{\"a\":\"\xff\"}", "error: not UTF-8");
	T_FLAT("{\"a\":\"\xc0\xaf\"}", "error: not UTF-8");
}

static void test_nul_and_depth(void)
{
	struct strvec n = STRVEC_INIT, v = STRVEC_INIT;
	char *err = NULL;
	T_EQ_INT(jsonread_flat("{\"a\":\"\0\"}", 9, NULL, &n, &v, &err), -1);
	T_EQ_STR(err, "a NUL byte");
	free(err);
	struct buf b = BUF_INIT;
	for (int i = 0; i < JSONREAD_MAX_DEPTH; i++)
		buf_puts(&b, "{\"a\":");
	buf_puts(&b, "1");
	for (int i = 0; i < JSONREAD_MAX_DEPTH; i++)
		buf_putc(&b, '}');
	T_EQ_INT(jsonread_flat(b.data, b.len, NULL, &n, &v, &err), 0);
	T_EQ_INT(n.n, 1);
	buf_reset(&b);
	for (int i = 0; i <= JSONREAD_MAX_DEPTH; i++)
		buf_puts(&b, "{\"a\":");
	T_EQ_INT(jsonread_flat(b.data, b.len, NULL, &n, &v, &err), -1);
	T_CONTAINS(err, "nested too deep");
	T_EQ_INT(n.n, 1);
	free(err);
	buf_free(&b);
	strvec_free(&n);
	strvec_free(&v);
}

T_MAIN(T_CASE(test_flattened), T_CASE(test_strings), T_CASE(test_strict),
       T_CASE(test_nul_and_depth))
