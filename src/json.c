/*
 * json: streaming writer.
 */
#include "tend/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void json_init(struct json *j, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->pretty = pretty;
}

static void newline(struct json *j)
{
	if (!j->pretty)
		return;
	buf_putc(&j->out, '\n');
	for (int i = 0; i < j->depth; i++)
		buf_puts(&j->out, "  ");
}

/* Separates a value from the previous one, unless it follows a key. */
static void value_prefix(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (j->need_comma[j->depth])
			buf_putc(&j->out, ',');
		newline(j);
	}
	j->need_comma[j->depth] = true;
}

static void open(struct json *j, char c)
{
	value_prefix(j);
	buf_putc(&j->out, c);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_(struct json *j, char c)
{
	bool had = j->need_comma[j->depth];
	if (j->depth > 0)
		j->depth--;
	if (had)
		newline(j);
	buf_putc(&j->out, c);
}

void json_object_begin(struct json *j)
{
	open(j, '{');
}

void json_object_end(struct json *j)
{
	close_(j, '}');
}

void json_array_begin(struct json *j)
{
	open(j, '[');
}

void json_array_end(struct json *j)
{
	close_(j, ']');
}

static void put_escaped(struct buf *b, const char *s, size_t n)
{
	struct buf clean = BUF_INIT;
	if (!utf8_valid(s, n)) {
		utf8_sanitize(&clean, s, n);
		s = clean.data;
		n = clean.len;
	}
	buf_putc(b, '"');
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool c1 = c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0;
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f && !c1)
			continue;
		buf_append(b, s + start, i - start);
		if (c1) { /* U+0080..U+009F: legal in JSON, but a terminal obeys them */
			buf_printf(b, "\\u%04x", (unsigned char)s[++i]);
			start = i + 1;
			continue;
		}
		switch (c) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default:
			buf_printf(b, "\\u%04x", c);
			break;
		}
		start = i + 1;
	}
	buf_append(b, s + start, n - start);
	buf_putc(b, '"');
	buf_free(&clean);
}

void json_key(struct json *j, const char *key)
{
	value_prefix(j);
	put_escaped(&j->out, key, strlen(key));
	buf_puts(&j->out, j->pretty ? ": " : ":");
	j->after_key = true;
}

void json_stringn(struct json *j, const char *s, size_t n)
{
	value_prefix(j);
	put_escaped(&j->out, s, n);
}

void json_string(struct json *j, const char *s)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_stringn(j, s, strlen(s));
}

void json_int(struct json *j, int64_t v)
{
	value_prefix(j);
	buf_printf(&j->out, "%lld", (long long)v);
}

void json_double(struct json *j, double v)
{
	value_prefix(j);
	buf_printf(&j->out, "%.3f", v);
}

void json_bool(struct json *j, bool v)
{
	value_prefix(j);
	buf_puts(&j->out, v ? "true" : "false");
}

void json_null(struct json *j)
{
	value_prefix(j);
	buf_puts(&j->out, "null");
}

void json_time(struct json *j, int64_t t)
{
	if (t == 0) {
		json_null(j);
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];
	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_string(j, s);
}

int json_flush_stdout(struct json *j)
{
	buf_putc(&j->out, '\n');
	size_t len = j->out.len;
	size_t w = fwrite(j->out.data, 1, len, stdout);
	buf_reset(&j->out);
	if (fflush(stdout) != 0 || w != len)
		return -1;
	return 0;
}

void json_finish(struct json *j)
{
	buf_free(&j->out);
}
