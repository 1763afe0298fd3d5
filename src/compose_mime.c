/*
 * compose_mime: the encodings of an outgoing message. Header fields are folded at whitespace;
 * free text that is not plain ASCII becomes RFC 2047 encoded words (Q or B, whichever is
 * shorter, at most 75 characters each, never splitting a UTF-8 character); the body becomes
 * CRLF-terminated 7bit, quoted-printable or base64 text (RFC 2045).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose_int.h"

/* Longest line RFC 5322 allows, without its CRLF. */
#define MAX_LINE 998
/* Longest encoded word (RFC 2047 section 2) and the shortest one worth starting a line with:
 * room for "=?UTF-8?Q?" "?=" and one four-byte character Q-encoded. */
#define MAX_EWORD 75
#define MIN_EWORD 24
/* An ASCII word longer than this is encoded so that it can be split over lines. */
#define MAX_PLAIN_WORD 900
/* A display name that is longer than this as an atom or quoted-string is encoded instead. */
#define MAX_PHRASE_WORD 70

/* ---- header lines ---- */

void compose_hdr_start(struct compose_hdr *h, struct buf *b, const char *name)
{
	h->b = b;
	buf_puts(b, name);
	buf_putc(b, ':');
	h->col = strlen(name) + 1;
	h->words = 0;
}

void compose_hdr_word(struct compose_hdr *h, const char *s, size_t n)
{
	if (h->words > 0 && h->col + 1 + n > COMPOSE_FOLD_AT) {
		buf_puts(h->b, "\r\n");
		h->col = 0;
	}
	buf_putc(h->b, ' ');
	buf_append(h->b, s, n);
	h->col += 1 + n;
	h->words++;
}

void compose_hdr_end(struct compose_hdr *h)
{
	buf_puts(h->b, "\r\n");
}

/* How long the next encoded word may be: what is left of the line, or a fresh line. */
static size_t hdr_room(const struct compose_hdr *h)
{
	size_t room = h->col + 1 < COMPOSE_FOLD_AT ? COMPOSE_FOLD_AT - h->col - 1 : 0;
	if (room < MIN_EWORD && h->words > 0)
		room = COMPOSE_FOLD_AT - 1;
	if (room < MIN_EWORD)
		room = MIN_EWORD; /* right after a very long field name: a long line, not a fold */
	return room > MAX_EWORD ? MAX_EWORD : room;
}

bool compose_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* ---- free text ---- */

/* The length of a C1 control (U+0080..U+009F) at s, or 0. */
static size_t c1_control(const unsigned char *s, size_t n)
{
	return n >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

char *compose_clean_text(const char *s)
{
	struct buf u = BUF_INIT, out = BUF_INIT;
	if (s)
		utf8_sanitize(&u, s, strlen(s));
	const unsigned char *p = (const unsigned char *)u.data;
	bool space = false;
	for (size_t i = 0; i < u.len; i++) {
		size_t c1 = c1_control(p + i, u.len - i);
		if (c1 || p[i] < 32 || p[i] == 127 || p[i] == ' ') {
			space = out.len > 0;
			i += c1 ? c1 - 1 : 0;
			continue;
		}
		if (space)
			buf_putc(&out, ' ');
		space = false;
		buf_putc(&out, (char)p[i]);
	}
	buf_free(&u);
	return buf_steal(&out);
}

/* ---- RFC 2047 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends s[0..n) base64-encoded, without line breaks. */
static void b64_put(struct buf *out, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		v |= i + 1 < n ? (unsigned)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? s[i + 2] : 0;
		char q[4] = {b64_alphabet[v >> 18 & 63], b64_alphabet[v >> 12 & 63],
		             i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=',
		             i + 2 < n ? b64_alphabet[v & 63] : '='};
		buf_append(out, q, 4);
	}
}

/* The length of the UTF-8 sequence that starts with c (the text is valid UTF-8). */
static size_t u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* Characters Q may leave as they are, even in a phrase (RFC 2047 section 5 (3)). */
static bool q_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!*+-/", c) != NULL);
}

static size_t q_len(const unsigned char *s, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += s[i] == ' ' || q_plain(s[i]) ? 1 : 3;
	return len;
}

/* One B word of at most max characters; returns the bytes of s it holds. */
static size_t eword_b(struct buf *w, const unsigned char *s, size_t n, size_t max)
{
	size_t room = (max - 12) / 4 * 3, k = 0;
	while (k < n && k + u8len(s[k]) <= room)
		k += u8len(s[k]);
	buf_puts(w, "=?UTF-8?B?");
	b64_put(w, s, k);
	buf_puts(w, "?=");
	return k;
}

/* One Q word of at most max characters; returns the bytes of s it holds. */
static size_t eword_q(struct buf *w, const unsigned char *s, size_t n, size_t max)
{
	size_t used = 12, k = 0;
	buf_puts(w, "=?UTF-8?Q?");
	while (k < n) {
		size_t cl = u8len(s[k]);
		size_t el = q_len(s + k, cl);
		if (used + el > max)
			break;
		for (size_t i = k; i < k + cl; i++) {
			if (s[i] == ' ')
				buf_putc(w, '_');
			else if (q_plain(s[i]))
				buf_putc(w, (char)s[i]);
			else
				buf_printf(w, "=%02X", s[i]);
		}
		used += el;
		k += cl;
	}
	buf_puts(w, "?=");
	return k;
}

/* Writes s[0..n) (valid UTF-8) as encoded words, each sized to the room left on its line. */
static void put_encoded(struct compose_hdr *h, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	bool q = q_len(p, n) <= (n + 2) / 3 * 4;
	struct buf w = BUF_INIT;
	while (n > 0) {
		buf_reset(&w);
		size_t k = q ? eword_q(&w, p, n, hdr_room(h)) : eword_b(&w, p, n, hdr_room(h));
		compose_hdr_word(h, w.data, w.len);
		p += k;
		n -= k;
	}
	buf_free(&w);
}

/* A word that can be written as it is: ASCII, not too long, nothing a decoder would decode. */
static bool word_plain(const char *s, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || (s[i] == '=' && i + 1 < n && s[i + 1] == '?'))
			return false;
	return true;
}

void compose_put_text(struct compose_hdr *h, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, " ");
		if (word_plain(p, n, MAX_PLAIN_WORD)) {
			compose_hdr_word(h, p, n);
			p += n + (p[n] == ' ');
			continue;
		}
		/* the space between two encoded words is not text: encode a run of words as one */
		const char *end = p + n;
		while (*end == ' ' && !word_plain(end + 1, strcspn(end + 1, " "), MAX_PLAIN_WORD))
			end += 1 + strcspn(end + 1, " ");
		put_encoded(h, p, (size_t)(end - p));
		p = end + (*end == ' ');
	}
}

/* The name as a quoted-string, backslash before '"' and '\'. */
static void quote(struct buf *q, const char *name)
{
	buf_putc(q, '"');
	for (const char *s = name; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(q, '\\');
		buf_putc(q, *s);
	}
	buf_putc(q, '"');
}

void compose_put_phrase(struct compose_hdr *h, const char *name)
{
	size_t n = strlen(name);
	bool atoms = true, plain = true;
	for (const char *s = name; *s; s += strcspn(s, " "), s += *s == ' ') {
		size_t w = strcspn(s, " ");
		plain = plain && word_plain(s, w, MAX_PHRASE_WORD);
		for (size_t i = 0; i < w; i++)
			atoms = atoms && compose_atext(s[i]);
	}
	struct buf q = BUF_INIT;
	if (plain && !atoms)
		quote(&q, name);
	if (!plain || q.len > MAX_PHRASE_WORD) {
		put_encoded(h, name, n);
	} else if (atoms) {
		for (const char *s = name; *s; s += strcspn(s, " "), s += *s == ' ')
			compose_hdr_word(h, s, strcspn(s, " "));
	} else {
		compose_hdr_word(h, q.data, q.len);
	}
	buf_free(&q);
}

/* ---- MIME parameters (RFC 2045, RFC 2231) ---- */

/* RFC 2231 attribute-char: what may stand unencoded in an extended value. */
static bool attr_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("*'%()<>@,;:\\\"/[]?=", c) == NULL;
}

/* printable ASCII, short enough for one quoted-string on a line */
static bool param_plain(const char *v)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
		if (*p < 32 || *p >= 127)
			return false;
	return n > 0 && n <= MAX_PHRASE_WORD - 10;
}

/* name*0*=utf-8''..; name*1*=...: segments of at most 60 characters, never splitting %XX */
static void put_extended(struct compose_hdr *h, const char *name, const char *v, bool last)
{
	struct buf seg = BUF_INIT;
	const unsigned char *p = (const unsigned char *)v;
	for (unsigned k = 0; *p || k == 0; k++) {
		buf_reset(&seg);
		buf_printf(&seg, "%s*%u*=%s", name, k, k == 0 ? "utf-8''" : "");
		size_t start = seg.len;
		while (*p && seg.len - start + 3 <= 60) {
			if (attr_char(*p))
				buf_putc(&seg, (char)*p);
			else
				buf_printf(&seg, "%%%02X", *p);
			p++;
		}
		if (*p || !last)
			buf_putc(&seg, ';');
		compose_hdr_word(h, seg.data, seg.len);
	}
	buf_free(&seg);
}

void compose_put_param(struct compose_hdr *h, const char *name, const char *value, bool last)
{
	char *v = compose_clean_text(value);
	if (param_plain(v)) {
		struct buf q = BUF_INIT;
		buf_printf(&q, "%s=", name);
		quote(&q, v);
		if (!last)
			buf_putc(&q, ';');
		compose_hdr_word(h, q.data, q.len);
		buf_free(&q);
	} else {
		put_extended(h, name, v, last);
	}
	free(v);
}

/* ---- body ---- */

/* The body as UTF-8 with CRLF line ends, ending in CRLF. */
static void canonical(struct buf *out, const char *body)
{
	struct buf u = BUF_INIT;
	utf8_sanitize(&u, body, strlen(body));
	for (size_t i = 0; i < u.len; i++) {
		if (u.data[i] == '\r' || u.data[i] == '\n') {
			i += u.data[i] == '\r' && i + 1 < u.len && u.data[i + 1] == '\n';
			buf_puts(out, "\r\n");
		} else {
			buf_putc(out, u.data[i]);
		}
	}
	if (out->len < 2 || out->data[out->len - 1] != '\n')
		buf_puts(out, "\r\n");
	buf_free(&u);
}

/* True when s[0..n) (CRLF lines) can go as 7bit: ASCII, no line over 998 octets. */
static bool seven_bit(const char *s, size_t n)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
		col = s[i] == '\r' || s[i] == '\n' ? 0 : col + 1;
		if (col > MAX_LINE)
			return false;
	}
	return true;
}

/*
 * Whether s[i] can stay as it is at column col: printable ASCII but '=', or a space or tab that
 * does not end the line; never a '.' or the "F" of "From " that starts a line (a lone dot ends
 * an SMTP message and "From " becomes ">From " in an mbox).
 */
static bool qp_literal(const char *s, size_t n, size_t i, size_t col)
{
	unsigned char c = (unsigned char)s[i];
	bool eol = i + 1 >= n || s[i + 1] == '\r';
	if (col == 0 && (c == '.' || (n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
		return false;
	if (c == ' ' || c == '\t')
		return !eol;
	return c >= 33 && c <= 126 && c != '=';
}

/* Quoted-printable (RFC 2045 section 6.7) of CRLF text, lines at most 76 characters. */
static void qp_encode(struct buf *out, const char *s, size_t n)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			buf_puts(out, "\r\n");
			col = 0;
			i++;
			continue;
		}
		bool eol = i + 1 >= n || s[i + 1] == '\r';
		size_t len = qp_literal(s, n, i, col) ? 1 : 3;
		/* the last character of a line may take the column a soft break's '=' needs */
		if (col + len > (eol ? 76 : 75)) {
			buf_puts(out, "=\r\n");
			col = 0;
			len = qp_literal(s, n, i, col) ? 1 : 3;
		}
		if (len == 1)
			buf_putc(out, s[i]);
		else
			buf_printf(out, "=%02X", (unsigned char)s[i]);
		col += len;
	}
}

/* Base64 in lines of 76 characters. */
static void b64_encode(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 57) {
		b64_put(out, (const unsigned char *)s + i, n - i < 57 ? n - i : 57);
		buf_puts(out, "\r\n");
	}
}

void compose_base64(struct buf *out, const char *data, size_t n)
{
	b64_encode(out, data, n);
}

const char *compose_body(const char *body, struct buf *out)
{
	struct buf text = BUF_INIT, qp = BUF_INIT;
	canonical(&text, body);
	const char *cte = "7bit";
	if (seven_bit(text.data, text.len)) {
		buf_append(out, text.data, text.len);
	} else {
		qp_encode(&qp, text.data, text.len);
		size_t b64_len = (text.len + 2) / 3 * 4 + (text.len + 56) / 57 * 2;
		if (qp.len <= b64_len) {
			buf_append(out, qp.data, qp.len);
			cte = "quoted-printable";
		} else {
			b64_encode(out, text.data, text.len);
			cte = "base64";
		}
	}
	buf_free(&qp);
	buf_free(&text);
	return cte;
}
