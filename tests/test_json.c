/*
 * Unit tests for the JSON writer: the output of every --json listing.
 */
#include "t.h"
#include "tend/json.h"

static void test_nesting_and_escapes(void)
{
	struct json j;
	json_init(&j, false);
	json_object_begin(&j);
	json_key(&j, "id");
	json_int(&j, 12);
	json_key(&j, "subject");
	json_string(&j, "Re: \"quote\" \\ tab\t nl\n ctl\x01 del\x7f");
	json_key(&j, "tags");
	json_array_begin(&j);
	json_string(&j, "refund");
	json_string(&j, NULL);
	json_bool(&j, true);
	json_array_end(&j);
	json_key(&j, "empty");
	json_array_begin(&j);
	json_array_end(&j);
	json_object_end(&j);
	T_EQ_STR(j.out.data,
	         "{\"id\":12,\"subject\":\"Re: \\\"quote\\\" \\\\ tab\\t nl\\n ctl\\u0001 "
	         "del\\u007f\",\"tags\":[\"refund\",null,true],\"empty\":[]}");
	json_finish(&j);
}

static void test_invalid_utf8_replaced(void)
{
	struct json j;
	json_init(&j, false);
	json_string(&j, "M\xfcller");
	T_EQ_STR(j.out.data, "\"M\xef\xbf\xbdller\"");
	json_finish(&j);
}

/* C1 controls are legal in a JSON string, but a terminal showing the output obeys them. */
static void test_c1_escaped(void)
{
	struct json j;
	json_init(&j, false);
	json_string(&j, "a\xc2\x9b"
	                "2J\xc2\x80 nbsp\xc2\xa0 \xc3\xa9\xe2\x80\x9c \x1b]52;c;x\x07");
	T_EQ_STR(j.out.data, "\"a\\u009b2J\\u0080 nbsp\xc2\xa0 \xc3\xa9\xe2\x80\x9c "
	                     "\\u001b]52;c;x\\u0007\"");
	json_finish(&j);
}

static void test_time(void)
{
	struct json j;
	json_init(&j, false);
	json_array_begin(&j);
	json_time(&j, 1795000000);
	json_time(&j, 0);
	json_array_end(&j);
	T_EQ_STR(j.out.data, "[\"2026-11-18T11:06:40Z\",null]");
	json_finish(&j);
}

static void test_pretty(void)
{
	struct json j;
	json_init(&j, true);
	json_object_begin(&j);
	json_key(&j, "a");
	json_array_begin(&j);
	json_int(&j, 1);
	json_array_end(&j);
	json_object_end(&j);
	T_EQ_STR(j.out.data, "{\n  \"a\": [\n    1\n  ]\n}");
	json_finish(&j);
}

T_MAIN(T_CASE(test_nesting_and_escapes), T_CASE(test_invalid_utf8_replaced),
       T_CASE(test_c1_escaped), T_CASE(test_time), T_CASE(test_pretty))
