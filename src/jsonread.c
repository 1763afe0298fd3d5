/*
 * jsonread: strict RFC 8259 parsing into flat name = value pairs.
 */
#include "tend/jsonread.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const char *s;
	size_t len, pos;
	int depth;
	struct strvec names, values;
	struct strindex ix; /* over names: duplicates are errors */
	char *err;
};

static int fail(struct reader *r, const char *what)
{
	if (r->err == NULL)
		r->err = xasprintf("%s at byte %zu", what, r->pos);
	return -1;
}

static void skip_ws(struct reader *r)
{
	while (r->pos < r->len && (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' ||
	                           r->s[r->pos] == '\n' || r->s[r->pos] == '\r'))
		r->pos++;
}

static bool eat(struct reader *r, char c)
{
	skip_ws(r);
	if (r->pos < r->len && r->s[r->pos] == c) {
		r->pos++;
		return true;
	}
	return false;
}

static int hex4(struct reader *r, uint32_t *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++, r->pos++) {
		char c = r->pos < r->len ? r->s[r->pos] : '\0';
		int v = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (v < 0)
			return fail(r, "bad \\u escape");
		*out = *out << 4 | (uint32_t)v;
	}
	return 0;
}

static void put_utf8(struct buf *b, uint32_t c)
{
	if (c < 0x80) {
		buf_putc(b, (char)c);
	} else if (c < 0x800) {
		buf_putc(b, (char)(0xc0 | c >> 6));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_putc(b, (char)(0xe0 | c >> 12));
		buf_putc(b, (char)(0x80 | (c >> 6 & 0x3f)));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_putc(b, (char)(0xf0 | c >> 18));
		buf_putc(b, (char)(0x80 | (c >> 12 & 0x3f)));
		buf_putc(b, (char)(0x80 | (c >> 6 & 0x3f)));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* \uXXXX, with its low surrogate when it is a high one; r->pos is after the "u". */
static int unicode_escape(struct reader *r, struct buf *b)
{
	uint32_t c, lo;
	if (hex4(r, &c) < 0)
		return -1;
	if (c >= 0xdc00 && c <= 0xdfff)
		return fail(r, "lone low surrogate");
	if (c >= 0xd800 && c <= 0xdbff) {
		if (r->pos + 2 > r->len || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u')
			return fail(r, "high surrogate without its low one");
		r->pos += 2;
		if (hex4(r, &lo) < 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(r, "high surrogate without its low one");
		c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (c == 0)
		return fail(r, "\\u0000 in a string");
	put_utf8(b, c);
	return 0;
}

static int escape(struct reader *r, struct buf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char c = r->pos < r->len ? r->s[r->pos] : '\0';
	r->pos++;
	if (c == 'u')
		return unicode_escape(r, b);
	const char *p = c ? strchr(from, c) : NULL;
	if (p == NULL) {
		r->pos--;
		return fail(r, "bad escape");
	}
	buf_putc(b, to[p - from]);
	return 0;
}

/* A string; r->pos is at its opening quote. The input was checked as UTF-8 as a whole. */
static int string(struct reader *r, struct buf *b)
{
	r->pos++;
	for (;;) {
		if (r->pos >= r->len)
			return fail(r, "unterminated string");
		unsigned char c = (unsigned char)r->s[r->pos];
		if (c == '"') {
			r->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail(r, "control character in a string");
		r->pos++;
		if (c != '\\')
			buf_putc(b, (char)c);
		else if (escape(r, b) < 0)
			return -1;
	}
}

static size_t digits(struct reader *r)
{
	size_t n = 0;
	while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9')
		r->pos++, n++;
	return n;
}

static int number(struct reader *r, struct buf *b)
{
	size_t start = r->pos;
	if (r->s[r->pos] == '-')
		r->pos++;
	if (r->pos < r->len && r->s[r->pos] == '0')
		r->pos++;
	else if (digits(r) == 0)
		return fail(r, "bad number");
	if (r->pos < r->len && r->s[r->pos] == '.' && (r->pos++, digits(r) == 0))
		return fail(r, "bad number");
	if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
		r->pos++;
		if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-'))
			r->pos++;
		if (digits(r) == 0)
			return fail(r, "bad number");
	}
	buf_append(b, r->s + start, r->pos - start);
	return 0;
}

static bool word(struct reader *r, const char *w)
{
	size_t n = strlen(w);
	if (r->len - r->pos < n || memcmp(r->s + r->pos, w, n) != 0)
		return false;
	r->pos += n;
	return true;
}

static int value(struct reader *r, const char *name);

static int add(struct reader *r, const char *name, struct buf *v)
{
	size_t at = r->names.n;
	strvec_push(&r->names, name);
	if (!strindex_add(&r->ix, &r->names, at)) {
		free(r->names.v[--r->names.n]);
		buf_free(v);
		char *what = xasprintf("\"%s\" appears twice", name);
		fail(r, what);
		free(what);
		return -1;
	}
	strvec_push_owned(&r->values, buf_steal(v));
	return 0;
}

/* name.key, or key at the top */
static char *member_name(const char *name, const char *key)
{
	return name ? xasprintf("%s.%s", name, key) : xstrdup(key);
}

static int object(struct reader *r, const char *name)
{
	r->pos++;
	if (eat(r, '}'))
		return 0;
	do {
		skip_ws(r);
		struct buf key = BUF_INIT;
		if (r->pos >= r->len || r->s[r->pos] != '"')
			return fail(r, "expected a member name");
		if (string(r, &key) < 0) {
			buf_free(&key);
			return -1;
		}
		char *full = member_name(name, key.data ? key.data : "");
		buf_free(&key);
		int rc = eat(r, ':') ? value(r, full) : fail(r, "expected ':'");
		free(full);
		if (rc < 0)
			return -1;
	} while (eat(r, ','));
	return eat(r, '}') ? 0 : fail(r, "expected ',' or '}'");
}

static int array(struct reader *r, const char *name)
{
	r->pos++;
	if (eat(r, ']'))
		return 0;
	size_t i = 0;
	do {
		char *full = xasprintf("%s.%zu", name, i++);
		int rc = value(r, full);
		free(full);
		if (rc < 0)
			return -1;
	} while (eat(r, ','));
	return eat(r, ']') ? 0 : fail(r, "expected ',' or ']'");
}

static int nested(struct reader *r, const char *name, bool is_object)
{
	if (r->depth >= JSONREAD_MAX_DEPTH)
		return fail(r, "nested too deep");
	r->depth++;
	int rc = is_object ? object(r, name) : array(r, name);
	r->depth--;
	return rc;
}

static int value(struct reader *r, const char *name)
{
	skip_ws(r);
	if (r->pos >= r->len)
		return fail(r, "unexpected end");
	char c = r->s[r->pos];
	if (c == '{' || c == '[')
		return nested(r, name, c == '{');
	struct buf v = BUF_INIT;
	int rc;
	if (c == '"')
		rc = string(r, &v);
	else if (c == '-' || (c >= '0' && c <= '9'))
		rc = number(r, &v);
	else if (word(r, "true") || word(r, "false"))
		rc = (buf_puts(&v, c == 't' ? "true" : "false"), 0);
	else if (word(r, "null"))
		return 0;
	else
		rc = fail(r, "unexpected character");
	if (rc < 0) {
		buf_free(&v);
		return -1;
	}
	return add(r, name, &v);
}

int jsonread_flat(const char *text, size_t len, const char *prefix, struct strvec *names,
                  struct strvec *values, char **err)
{
	struct reader r = {.s = text, .len = len};
	int rc = -1;
	*err = NULL;
	if (!utf8_valid(text, len) || memchr(text, '\0', len) != NULL) {
		*err = xstrdup(memchr(text, '\0', len) ? "a NUL byte" : "not UTF-8");
		goto out;
	}
	skip_ws(&r);
	if (r.pos >= r.len || r.s[r.pos] != '{') {
		fail(&r, "not a JSON object");
	} else if (nested(&r, prefix, true) == 0) {
		skip_ws(&r);
		rc = r.pos == r.len ? 0 : fail(&r, "text after the object");
	}
	if (rc < 0) {
		*err = r.err;
		goto out;
	}
	for (size_t i = 0; i < r.names.n; i++) {
		strvec_push_owned(names, r.names.v[i]);
		strvec_push_owned(values, r.values.v[i]);
	}
	r.names.n = r.values.n = 0;
out:
	strindex_free(&r.ix);
	strvec_free(&r.names);
	strvec_free(&r.values);
	return rc;
}
