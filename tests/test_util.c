/*
 * Unit tests for util: buffers, strings, UTF-8, durations, diagnostics, hashing.
 */
#include "t.h"
#include "tend/util.h"

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	T_EQ_INT(b.len, strlen(b.data));
	T_OK(strncmp(b.data, "0,1,2,", 6) == 0);
	char *s = buf_steal(&b);
	T_OK(b.data == NULL && b.len == 0);
	free(s);
	s = buf_steal(&b);
	T_EQ_STR(s, "");
	free(s);
}

static void test_utf8(void)
{
	T_OK(utf8_valid("R\xc3\xbc"
	                "ckerstattung",
	                14));
	T_OK(!utf8_valid("R\xfc"
	                 "ckerstattung",
	                 13));
	T_OK(!utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	T_OK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	T_OK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
	T_OK(!utf8_valid("\xe2\x82", 2));         /* truncated */
	struct buf b = BUF_INIT;
	utf8_sanitize(&b,
	              "a\xfc"
	              "b\xe2\x82",
	              5);
	T_EQ_STR(b.data, "a\xef\xbf\xbd"
	                 "b\xef\xbf\xbd\xef\xbf\xbd");
	buf_free(&b);
}

static void test_duration(void)
{
	int64_t s;
	T_EQ_INT(parse_duration("30s", &s), 0);
	T_EQ_INT(s, 30);
	T_EQ_INT(parse_duration("15m", &s), 0);
	T_EQ_INT(s, 900);
	T_EQ_INT(parse_duration("4h", &s), 0);
	T_EQ_INT(s, 14400);
	T_EQ_INT(parse_duration("2d", &s), 0);
	T_EQ_INT(s, 172800);
	T_EQ_INT(parse_duration("90", &s), 0);
	T_EQ_INT(s, 90);
	T_EQ_INT(parse_duration("4 h", &s), -1);
	T_EQ_INT(parse_duration("h", &s), -1);
	T_EQ_INT(parse_duration("-1s", &s), -1);
	T_EQ_INT(parse_duration("4hours", &s), -1);
	T_EQ_INT(parse_duration("99999999999999999999s", &s), -1);
}

static void test_strings(void)
{
	T_OK(str_ieq("Message-ID", "message-id"));
	T_OK(!str_ieq("Message-ID", "message-i"));
	T_OK(str_istarts("Re: x", "RE:"));
	char *t = str_trim_dup("  \t hello \n", 11);
	T_EQ_STR(t, "hello");
	free(t);
	struct strvec v = STRVEC_INIT;
	strvec_push(&v, "a");
	strvec_push(&v, "b");
	T_OK(strvec_contains(&v, "b") && !strvec_contains(&v, "c"));
	strvec_free(&v);
}

static void test_diag_format(void)
{
	struct diags d = DIAGS_INIT;
	diag_add(&d, "tend.yaml", 3, 5, "unknown key \"%s\"", "stor");
	diag_add(&d, "tend.yaml", 0, 0, "empty");
	char *a = diag_format(&d.v[0]), *b = diag_format(&d.v[1]);
	T_EQ_STR(a, "tend.yaml:3:5: unknown key \"stor\"");
	T_EQ_STR(b, "tend.yaml: empty");
	free(a);
	free(b);
	diags_free(&d);
}

static void test_sha256(void)
{
	char hex[65];
	sha256_hex("abc", 3, hex);
	T_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

T_MAIN(T_CASE(test_buf), T_CASE(test_utf8), T_CASE(test_duration), T_CASE(test_strings),
       T_CASE(test_diag_format), T_CASE(test_sha256))
