/*
 * message_mime: the MIME structure of a message, built without recursion.
 *
 * libetpan's mailmime_parse recurses once per nesting level and overflows the stack on hostile
 * input, so the tree is built here instead: parts live in one array, children of a part are
 * contiguous, and a single loop over the array expands each part in turn (breadth first).
 * Each multipart body is scanned once for its own delimiter lines, so the work is bounded by
 * the message size times the nesting limit. libetpan still parses every field value and
 * removes transfer encodings.
 *
 * Tolerated: a missing boundary parameter (the first "--" line is taken as the delimiter), a
 * multipart without any delimiter line (read as text/plain), a missing final delimiter (the
 * last part runs to the end), parts without a header block, message/rfc822 bodies encoded in
 * base64 or quoted-printable, and broken quoted-printable escapes (kept as written).
 */
#include <libetpan/libetpan.h>
#include <stdint.h>
#include <string.h>

#include "message_int.h"

/* The rare case: NUL bytes too, byte by byte. */
static size_t normalize_slow(const char *raw, size_t len, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (c == '\r') {
			size_t j = i;
			while (j < len && raw[j] == '\r')
				j++;
			if (j < len && raw[j] == '\n') {
				i = j - 1; /* CRLF, and CRCRLF as some gateways write it */
				continue;
			}
		}
		out[k++] = c == '\0' ? ' ' : c;
	}
	return k;
}

char *message_normalize(const char *raw, size_t len, size_t *outlen, bool *had_nul)
{
	char *out = xmalloc(len + 1);
	size_t i = 0, k = 0;
	*had_nul = memchr(raw, '\0', len) != NULL;
	if (*had_nul) {
		k = normalize_slow(raw, len, out);
		i = len;
	}
	while (i < len) {
		const char *cr = memchr(raw + i, '\r', len - i);
		size_t j = cr ? (size_t)(cr - raw) : len;
		memcpy(out + k, raw + i, j - i);
		k += j - i;
		i = j;
		if (cr == NULL)
			break;
		while (j < len && raw[j] == '\r')
			j++;
		if (j >= len || raw[j] != '\n') { /* a lone CR stays */
			memcpy(out + k, raw + i, j - i);
			k += j - i;
		}
		i = j;
	}
	out[k] = '\0';
	*outlen = k;
	return out;
}

/* ---- parts ---- */

static size_t part_add(struct message_tree *t, size_t parent)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	struct message_part *p = &t->v[t->n];
	memset(p, 0, sizeof(*p));
	p->parent = parent;
	p->depth = parent == SIZE_MAX ? 0 : t->v[parent].depth + 1;
	p->encoding = MAILMIME_MECHANISM_7BIT;
	return t->n++;
}

void message_tree_free(struct message_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct message_part *p = &t->v[i];
		free(p->type);
		free(p->charset);
		free(p->filename);
		free(p->boundary);
		free(p->forward);
		free(p->text);
	}
	for (size_t i = 0; i < t->nbufs; i++)
		free(t->bufs[i]);
	free(t->bufs);
	free(t->attached);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int encoding_of(const char *value)
{
	size_t idx = 0;
	struct mailmime_mechanism *m = NULL;
	int enc = MAILMIME_MECHANISM_7BIT;
	char *tmp;
	if (value == NULL)
		return enc;
	const char *v = message_shallow(value, &tmp);
	if (mailmime_encoding_parse(v, strlen(v), &idx, &m) == MAILIMF_NO_ERROR) {
		enc = m->enc_type;
		if (enc == MAILMIME_MECHANISM_TOKEN && m->enc_token &&
		    str_ieq(m->enc_token, "base-64"))
			enc = MAILMIME_MECHANISM_BASE64;
		mailmime_mechanism_free(m);
	}
	free(tmp);
	return enc;
}

static char *param_raw(const struct message_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0 && p->v[i].value[0])
			return xstrdup(p->v[i].value);
	return NULL;
}

/* Sets type, charset, boundary, filename, encoding and disposition from a header block. */
static void part_apply(struct message_part *p, const struct message_hdrs *h, const char *deftype)
{
	struct message_params ct = MESSAGE_PARAMS_INIT, cd = MESSAGE_PARAMS_INIT;
	const char *v = message_hdrs_get(h, "Content-Type");
	p->type = v ? message_ctype_parse(v, &ct) : NULL;
	if (p->type == NULL)
		p->type = xstrdup(deftype);
	p->charset = param_raw(&ct, "charset");
	p->boundary = v ? message_ctype_boundary(v) : NULL;
	if (p->boundary == NULL)
		p->boundary = param_raw(&ct, "boundary");
	v = message_hdrs_get(h, "Content-Disposition");
	p->disp = v ? message_disp_parse(v, &cd) : DISP_NONE;
	p->filename = message_param_get(&cd, "filename");
	if (p->filename == NULL)
		p->filename = message_param_get(&ct, "name");
	if (p->filename && p->filename[0] == '\0') {
		free(p->filename);
		p->filename = NULL;
	}
	p->encoding = encoding_of(message_hdrs_get(h, "Content-Transfer-Encoding"));
	message_params_free(&ct);
	message_params_free(&cd);
}

struct build {
	struct message_tree *t;
	const struct message_limits *lim;
	char **reason;
	struct strvec *warnings;
};

static bool is_message_type(const char *type)
{
	return strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0 ||
	       strcmp(type, "message/news") == 0;
}

/* The embedded message's header lines that a reader wants to see above a forwarded text. */
static char *forward_text(const struct message_hdrs *h)
{
	static const char *const names[] = {"Subject", "Date", "From", "To", "Cc"};
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < NELEM(names); i++) {
		const char *v = message_hdrs_get(h, names[i]);
		if (v == NULL)
			continue;
		buf_printf(&b, "%s: ", names[i]);
		message_decode_words(&b, v, strlen(v), NULL);
		buf_putc(&b, '\n');
	}
	return buf_steal(&b);
}

/* Adds a child of parent holding the entity ent[0..len): a header block and a body. */
static int child_add(struct build *b, size_t parent, const char *ent, size_t len, bool message)
{
	struct message_tree *t = b->t;
	if (t->v[parent].depth + 1 > b->lim->max_depth) {
		*b->reason = xasprintf("MIME nesting deeper than %zu levels", b->lim->max_depth);
		return -1;
	}
	if (t->n + 1 > b->lim->max_parts) {
		*b->reason = xasprintf("more than %zu MIME parts", b->lim->max_parts);
		return -1;
	}
	struct message_hdrs h = MESSAGE_HDRS_INIT;
	size_t pos = 0;
	int keep = message ? HDRS_KEEP_ALL : HDRS_KEEP_CONTENT;
	if (message_hdrs_parse(ent, len, &pos, b->lim->max_headers, keep, &h, NULL) < 0) {
		message_hdrs_free(&h);
		*b->reason =
		    xasprintf("a MIME part has more than %zu header fields", b->lim->max_headers);
		return -1;
	}
	const char *ptype = t->v[parent].type;
	size_t i = part_add(t, parent);
	struct message_part *p = &t->v[i];
	p->body = ent + pos;
	p->body_len = len - pos;
	part_apply(p, &h, strcmp(ptype, "multipart/digest") == 0 ? "message/rfc822" : "text/plain");
	if (message)
		p->forward = forward_text(&h);
	message_hdrs_free(&h);
	return 0;
}

struct range {
	size_t off, len;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

static void range_add(struct ranges *r, size_t start, size_t end)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n].off = start;
	r->v[r->n].len = end > start ? end - start : 0;
	r->n++;
}

/*
 * 0: not a delimiter line; 1: "--boundary"; 2: "--boundary--". RFC 2046 5.1.1: the boundary
 * only has to start the line, so text after it is ignored; but it must be followed by "--",
 * white space or the line end, or an inner boundary that extends the outer one
 * ("--b" and "--b-1", as some mailers nest them) would end the outer part.
 */
static int delimiter(const char *line, size_t ll, const char *bd, size_t bl)
{
	if (ll < bl + 2 || line[0] != '-' || line[1] != '-' || memcmp(line + 2, bd, bl) != 0)
		return 0;
	const char *rest = line + 2 + bl;
	size_t rl = ll - 2 - bl;
	if (rl >= 2 && rest[0] == '-' && rest[1] == '-')
		return 2;
	return rl == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' ? 1 : 0;
}

/*
 * The body parts between delimiter lines; the line end before a delimiter belongs to the
 * delimiter (RFC 2046). Returns false when there is no delimiter line at all.
 */
static bool split_body(const char *b, size_t n, const char *bd, struct ranges *r, bool *closed)
{
	size_t bl = strlen(bd), pos = 0;
	bool open = false;
	size_t start = 0;
	*closed = false;
	while (pos < n) {
		const char *line = b + pos;
		const char *nl = memchr(line, '\n', n - pos);
		size_t ll = nl ? (size_t)(nl - line) : n - pos;
		size_t next = pos + ll + (nl ? 1 : 0);
		int kind = line[0] == '-' ? delimiter(line, ll, bd, bl) : 0;
		if (kind) {
			if (open)
				range_add(r, start, pos > 0 ? pos - 1 : 0);
			if (kind == 2) {
				*closed = true;
				return true;
			}
			open = true;
			start = next;
		}
		pos = next;
	}
	if (open)
		range_add(r, start, n);
	return open;
}

/* RFC 2046 requires a boundary parameter; without one, the first "--" line is the delimiter. */
static char *guess_boundary(const char *b, size_t n)
{
	size_t pos = 0;
	while (pos < n) {
		const char *line = b + pos;
		const char *nl = memchr(line, '\n', n - pos);
		size_t ll = nl ? (size_t)(nl - line) : n - pos;
		pos += ll + 1;
		while (ll > 0 &&
		       (line[ll - 1] == ' ' || line[ll - 1] == '\t' || line[ll - 1] == '\r'))
			ll--;
		if (ll > 2 && line[0] == '-' && line[1] == '-')
			return xstrndup(line + 2, ll - 2);
	}
	return NULL;
}

static void as_text(struct message_part *p, struct strvec *warnings, const char *why)
{
	strvec_push_owned(warnings, xasprintf("%s %s: read as text/plain", p->type, why));
	free(p->type);
	p->type = xstrdup("text/plain");
}

static int expand_multipart(struct build *b, size_t i)
{
	struct message_part *p = &b->t->v[i];
	if (p->boundary == NULL) {
		p->boundary = guess_boundary(p->body, p->body_len);
		if (p->boundary == NULL) {
			as_text(p, b->warnings, "without boundary");
			return 0;
		}
		strvec_push(b->warnings, "multipart without boundary parameter: guessed from "
		                         "the first delimiter line");
	}
	struct ranges r = {NULL, 0, 0};
	bool closed;
	if (!split_body(p->body, p->body_len, p->boundary, &r, &closed)) {
		as_text(p, b->warnings, "without any delimiter line");
		free(r.v);
		return 0;
	}
	if (!closed)
		strvec_push(b->warnings, "multipart without final delimiter: last part runs to "
		                         "the end");
	const char *body = p->body;
	b->t->v[i].first_child = b->t->n;
	int rc = 0;
	for (size_t k = 0; k < r.n && rc == 0; k++)
		rc = child_add(b, i, body + r.v[k].off, r.v[k].len, false);
	b->t->v[i].nchildren = b->t->n - b->t->v[i].first_child;
	free(r.v);
	return rc;
}

static int expand_message(struct build *b, size_t i)
{
	struct message_part *p = &b->t->v[i];
	const char *ent = p->body;
	size_t len = p->body_len;
	if (p->encoding == MAILMIME_MECHANISM_BASE64 ||
	    p->encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE) {
		struct buf d = BUF_INIT;
		bool nul;
		message_part_decode(p, &d, b->warnings);
		char *norm = message_normalize(d.data ? d.data : "", d.len, &len, &nul);
		buf_free(&d);
		b->t->bufs = xreallocarray(b->t->bufs, b->t->nbufs + 1, sizeof(char *));
		b->t->bufs[b->t->nbufs++] = norm;
		ent = norm;
	}
	b->t->v[i].first_child = b->t->n;
	int rc = child_add(b, i, ent, len, true);
	b->t->v[i].nchildren = b->t->n - b->t->v[i].first_child;
	return rc;
}

int message_tree_build(struct message_tree *t, const char *s, size_t len, size_t body,
                       const struct message_hdrs *top, const struct message_limits *lim,
                       char **reason, struct strvec *warnings)
{
	struct build b = {t, lim, reason, warnings};
	size_t root = part_add(t, SIZE_MAX);
	t->v[root].body = s + body;
	t->v[root].body_len = len - body;
	part_apply(&t->v[root], top, "text/plain");
	for (size_t i = 0; i < t->n; i++) {
		const char *type = t->v[i].type;
		int rc = 0;
		if (strncmp(type, "multipart/", 10) == 0)
			rc = expand_multipart(&b, i);
		else if (is_message_type(type))
			rc = expand_message(&b, i);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- transfer encodings ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* True when every "=" starts a hex escape or a soft line break, as libetpan expects. */
static bool qp_strict(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	while ((p = memchr(p, '=', (size_t)(end - p))) != NULL) {
		if (p + 1 < end && p[1] == '\n') {
			p += 2;
		} else if (p + 2 < end && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			p += 3;
		} else if (p + 1 == end) {
			p++;
		} else {
			return false;
		}
	}
	return true;
}

/* Quoted-printable that keeps a broken escape as written (RFC 2045 6.7, note 1). */
static void qp_lenient(const char *s, size_t n, struct buf *out)
{
	size_t i = 0;
	while (i < n) {
		const char *eq = memchr(s + i, '=', n - i);
		size_t j = eq ? (size_t)(eq - s) : n;
		buf_append(out, s + i, j - i);
		if (j >= n)
			break;
		int hi = j + 2 < n ? hexval(s[j + 1]) : -1, lo = j + 2 < n ? hexval(s[j + 2]) : -1;
		size_t k = j + 1;
		while (k < n && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (hi >= 0 && lo >= 0) {
			buf_putc(out, (char)(hi * 16 + lo));
			i = j + 3;
		} else if (k >= n || s[k] == '\n') {
			i = k + 1; /* soft line break, perhaps with trailing blanks */
		} else {
			buf_putc(out, '=');
			i = j + 1;
		}
	}
}

static void via_libetpan(const struct message_part *p, struct buf *out)
{
	size_t idx = 0, rlen = 0;
	char *res = NULL;
	if (mailmime_part_parse(p->body, p->body_len, &idx, p->encoding, &res, &rlen) ==
	    MAILIMF_NO_ERROR) {
		buf_append(out, res, rlen);
		mailmime_decoded_part_free(res);
	}
}

void message_part_decode(const struct message_part *p, struct buf *out, struct strvec *warnings)
{
	buf_append(out, "", 0);
	if (p->encoding == MAILMIME_MECHANISM_BASE64) {
		via_libetpan(p, out);
	} else if (p->encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE) {
		if (qp_strict(p->body, p->body_len)) {
			via_libetpan(p, out);
		} else {
			if (warnings)
				strvec_push(warnings, "broken quoted-printable escapes kept as "
				                      "written");
			qp_lenient(p->body, p->body_len, out);
		}
	} else {
		buf_append(out, p->body, p->body_len);
	}
}

static bool b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

size_t message_part_size(const struct message_part *p)
{
	if (p->encoding == MAILMIME_MECHANISM_BASE64) {
		size_t count = 0;
		for (size_t i = 0; i < p->body_len; i++)
			count += b64_char((unsigned char)p->body[i]);
		return count / 4 * 3 + (count % 4 ? count % 4 - 1 : 0);
	}
	if (p->encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE) {
		struct buf d = BUF_INIT;
		message_part_decode(p, &d, NULL);
		size_t n = d.len;
		buf_free(&d);
		return n;
	}
	return p->body_len;
}

const char *message_part_text(struct message_part *p, struct strvec *warnings)
{
	if (p->text)
		return p->text;
	struct buf u = BUF_INIT;
	buf_append(&u, "", 0);
	if (p->encoding == MAILMIME_MECHANISM_BASE64 ||
	    p->encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE) {
		struct buf d = BUF_INIT;
		message_part_decode(p, &d, warnings);
		message_cs_to_utf8(&u, p->charset, d.data, d.len, warnings);
		buf_free(&d);
	} else {
		message_cs_to_utf8(&u, p->charset, p->body, p->body_len, warnings);
	}
	/* LF line ends, no NUL or other control character but tab */
	p->text_len = text_strip_controls(u.data, u.len, TEXT_LINES);
	p->text = buf_steal(&u);
	return p->text;
}
