/*
 * json: a small streaming JSON writer for the --json output of every listing.
 * Strings are escaped per RFC 8259; invalid UTF-8 is replaced by U+FFFD so the output always
 * parses.
 */
#ifndef TEND_JSON_H
#define TEND_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/util.h"

#define JSON_MAX_DEPTH 32

struct json {
	struct buf out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool after_key;
	bool pretty;
};

/* Starts a writer; with pretty, nested values are indented by two spaces. */
void json_init(struct json *j, bool pretty);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* Writes an object key; the next call writes its value. */
void json_key(struct json *j, const char *key);
/* Writes s as a string, or null when s is NULL. */
void json_string(struct json *j, const char *s);
void json_stringn(struct json *j, const char *s, size_t n);
void json_int(struct json *j, int64_t v);
/* Writes v with three decimals (durations in seconds). */
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Writes the time as an RFC 3339 UTC timestamp, or null when t is 0. */
void json_time(struct json *j, int64_t t);
/* Writes the document and a newline to stdout; returns 0, or -1 on a write error. */
int json_flush_stdout(struct json *j);
void json_finish(struct json *j);

#endif
