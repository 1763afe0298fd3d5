/*
 * message_header: header blocks (unfolding, field limits, 8-bit values), RFC 2047 encoded
 * words, and the parameters of Content-Type and Content-Disposition (RFC 2045, RFC 2183,
 * RFC 2231 continuations and charsets).
 *
 * Structured values go through libetpan's parsers first; what they reject or leave unparsed
 * (a doubled ';', a bare word, a missing type) is read by a lenient scanner instead, the way
 * mail readers cope with the same mail.
 */
#include <libetpan/libetpan.h>
#include <string.h>

#include "message_int.h"

#define MAX_COMMENT_NESTING  8
#define MAX_RFC2231_SECTIONS 100

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- header blocks ---- */

/*
 * A field line is name [WSP] ":". RFC 5322 names are printable ASCII; 1 is returned for
 * those, 2 for a name with 8-bit bytes (a broken field, skipped), 0 for a line that is not a
 * field at all. *namelen is set for 1 and 2.
 */
static int field_line(const char *s, size_t n, size_t *namelen)
{
	size_t i = 0;
	bool eight = false;
	while (i < n && (unsigned char)s[i] > 32 && s[i] != 127 && s[i] != ':') {
		eight |= (unsigned char)s[i] >= 128;
		i++;
	}
	size_t name = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (name == 0 || i >= n || s[i] != ':')
		return 0;
	*namelen = name;
	return eight ? 2 : 1;
}

static void hdrs_push(struct message_hdrs *h, const char *name, size_t namelen, struct buf *val)
{
	size_t a = 0, b = val->len;
	while (a < b && is_wsp(val->data[a]))
		a++;
	while (b > a && is_wsp(val->data[b - 1]))
		b--;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	struct message_header *f = &h->v[h->n++];
	f->name = xstrndup(name, namelen);
	if (utf8_valid(val->data + a, b - a)) {
		f->value = xstrndup(val->data + a, b - a);
	} else {
		struct buf u = BUF_INIT;
		message_cs_guess(&u, val->data + a, b - a);
		f->value = buf_steal(&u);
	}
}

struct hdr_state {
	const char *name;
	size_t namelen;
	bool open;
	int keep;
	struct buf val;
};

static void state_flush(struct hdr_state *st, struct message_hdrs *out)
{
	if (!st->open)
		return;
	st->open = false;
	if (st->keep == HDRS_KEEP_ALL || (st->namelen >= 8 && str_ieqn(st->name, "content-", 8)))
		hdrs_push(out, st->name, st->namelen, &st->val);
}

static void warn(struct strvec *warnings, const char *msg)
{
	if (warnings)
		strvec_push(warnings, msg);
}

/*
 * Lines are read as Python's email package and mime4j read them: a line that starts with
 * whitespace continues the field before it (even when it holds nothing else: obsolete RFC 822
 * folding), and the first line that is not a field starts the body. A field whose name has
 * 8-bit bytes is dropped.
 */
long message_hdrs_parse(const char *s, size_t len, size_t *pos, size_t max, int keep,
                        struct message_hdrs *out, struct strvec *warnings)
{
	struct hdr_state st = {NULL, 0, false, keep, BUF_INIT};
	size_t p = *pos, namelen = 0;
	long count = 0;
	buf_reserve(&st.val, 256);
	st.val.data[0] = '\0';
	while (p < len) {
		const char *line = s + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t ll = nl ? (size_t)(nl - line) : len - p;
		size_t next = p + ll + (nl ? 1 : 0);
		if (ll == 0 || (ll == 1 && line[0] == '\r')) {
			p = next;
			break;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (st.open) /* unfolding keeps the whitespace, drops the line end */
				buf_append(&st.val, line, ll);
			p = next;
			continue;
		}
		int kind = field_line(line, ll, &namelen);
		if (kind == 0) {
			warn(warnings, "a line in a header block is not a header field: the body "
			               "starts there");
			break;
		}
		state_flush(&st, out);
		if ((size_t)++count > max) {
			buf_free(&st.val);
			return -1;
		}
		p = next;
		if (kind == 2) {
			warn(warnings, "a header field name with 8-bit bytes: field dropped");
			continue;
		}
		const char *colon = memchr(line, ':', ll);
		st.name = line;
		st.namelen = namelen;
		st.open = true;
		buf_reset(&st.val);
		buf_append(&st.val, colon + 1, ll - (size_t)(colon + 1 - line));
	}
	state_flush(&st, out);
	buf_free(&st.val);
	*pos = p;
	return count;
}

void message_hdrs_free(struct message_hdrs *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

const char *message_hdrs_get(const struct message_hdrs *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (str_ieq(h->v[i].name, name))
			return h->v[i].value;
	return NULL;
}

/* ---- comments ---- */

const char *message_shallow(const char *value, char **tmp)
{
	int depth = 0, maxdepth = 0;
	*tmp = NULL;
	for (const char *p = value; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '(' && ++depth > maxdepth)
			maxdepth = depth;
		else if (*p == ')' && depth > 0)
			depth--;
	}
	if (maxdepth <= MAX_COMMENT_NESTING)
		return value;
	struct buf b = BUF_INIT;
	depth = 0;
	for (const char *p = value; *p; p++) {
		if (*p == '\\' && p[1]) {
			if (depth == 0)
				buf_append(&b, p, 2);
			p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && depth > 0) {
			depth--;
		} else if (depth == 0) {
			buf_putc(&b, *p);
		}
	}
	*tmp = buf_steal(&b);
	return *tmp;
}

/* ---- RFC 2047 ---- */

/* Tries an encoded word at s[*i]; on success appends its text and advances *i. */
static bool encoded_word(struct buf *out, const char *s, size_t n, size_t *i,
                         struct strvec *warnings)
{
	size_t k = *i;
	if (k + 1 < n && s[k] == '"')
		k++;
	if (k + 2 >= n || s[k] != '=' || s[k + 1] != '?')
		return false;
	size_t idx = *i;
	struct mailmime_encoded_word *w = NULL;
	int has_fwd = 0, missing_quote = 0;
	if (mailmime_encoded_word_parse(s, n, &idx, &w, &has_fwd, &missing_quote) !=
	        MAILIMF_NO_ERROR ||
	    idx <= *i) {
		if (w)
			mailmime_encoded_word_free(w);
		return false;
	}
	struct buf u = BUF_INIT;
	message_cs_to_utf8(&u, w->wd_charset, w->wd_text, strlen(w->wd_text), warnings);
	buf_append(out, u.data ? u.data : "", u.len);
	buf_free(&u);
	mailmime_encoded_word_free(w);
	*i = idx;
	return true;
}

void message_decode_words(struct buf *out, const char *s, size_t n, struct strvec *warnings)
{
	struct buf word = BUF_INIT;
	size_t i = 0, start = out->len;
	bool prev_encoded = false, any = false;
	while (i < n) {
		size_t ws = i;
		while (i < n && is_wsp(s[i]))
			i++;
		if (i >= n)
			break;
		bool space = i > ws && any;
		buf_reset(&word);
		bool encoded = encoded_word(&word, s, n, &i, warnings);
		if (!encoded) {
			size_t j = i + 1;
			while (j < n && !is_wsp(s[j]) &&
			       !(s[j] == '=' && j + 1 < n && s[j + 1] == '?'))
				j++;
			message_cs_guess(&word, s + i, j - i);
			i = j;
		}
		/* RFC 2047: the space between two encoded words is not part of the text */
		if (space && !(encoded && prev_encoded))
			buf_putc(out, ' ');
		buf_append(out, word.data ? word.data : "", word.len);
		prev_encoded = encoded;
		any = true;
	}
	buf_free(&word);
	if (out->len > start) /* raw or encoded, control characters are not text */
		out->len =
		    start + text_strip_controls(out->data + start, out->len - start, TEXT_LINE);
}

char *message_decode_header(const char *value)
{
	struct buf b = BUF_INIT;
	if (value)
		message_decode_words(&b, value, strlen(value), NULL);
	return buf_steal(&b);
}

/* ---- parameters ---- */

static void params_add(struct message_params *p, const char *name, size_t nlen, const char *val,
                       size_t vlen)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n].name = str_lower(str_trim_dup(name, nlen));
	p->v[p->n].value = xstrndup(val, vlen);
	p->n++;
}

void message_params_free(struct message_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].value);
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* A quoted string at s (s[0] == '"'), unescaped into b; returns the length read. */
static size_t quoted(const char *s, struct buf *b)
{
	size_t i = 1;
	while (s[i] && s[i] != '"') {
		if (s[i] == '\\' && s[i + 1])
			i++;
		buf_putc(b, s[i++]);
	}
	return s[i] == '"' ? i + 1 : i;
}

/* The lenient reading of "; name=value; name="value"" that tolerates what libetpan rejects. */
static void lenient_params(const char *s, struct message_params *p)
{
	struct buf v = BUF_INIT;
	while (*s) {
		while (*s == ';' || is_wsp(*s))
			s++;
		const char *name = s;
		while (*s && *s != '=' && *s != ';')
			s++;
		if (*s != '=') { /* a word without a value: skip it */
			continue;
		}
		size_t nlen = (size_t)(s - name);
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		buf_reset(&v);
		buf_append(&v, "", 0);
		if (*s == '"') {
			s += quoted(s, &v);
		} else {
			const char *val = s;
			while (*s && *s != ';')
				s++;
			size_t vlen = (size_t)(s - val);
			while (vlen > 0 && is_wsp(val[vlen - 1]))
				vlen--;
			buf_append(&v, val, vlen);
		}
		if (nlen > 0)
			params_add(p, name, nlen, v.data, v.len);
		while (*s && *s != ';')
			s++;
	}
	buf_free(&v);
}

static void params_from_clist(struct message_params *p, clist *list)
{
	if (list == NULL)
		return;
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct mailmime_parameter *mp = clist_content(it);
		if (mp && mp->pa_name && mp->pa_value)
			params_add(p, mp->pa_name, strlen(mp->pa_name), mp->pa_value,
			           strlen(mp->pa_value));
	}
}

static const char *const discrete_names[] = {"application", "text",  "image",
                                             "audio",       "video", "application"};

/* "type" from libetpan's structure; NULL for an extension type it did not name. */
static const char *ctype_major(const struct mailmime_type *t)
{
	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		const struct mailmime_discrete_type *d = t->tp_data.tp_discrete_type;
		if (d->dt_type == MAILMIME_DISCRETE_TYPE_EXTENSION)
			return d->dt_extension;
		return d->dt_type > 0 && d->dt_type < 6 ? discrete_names[d->dt_type] : NULL;
	}
	const struct mailmime_composite_type *c = t->tp_data.tp_composite_type;
	if (c->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE)
		return "message";
	if (c->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART)
		return "multipart";
	return c->ct_token;
}

/* A type without a subtype gets the one mail readers assume. */
static char *type_join(const char *major, size_t mlen, const char *sub, size_t slen)
{
	if (mlen == 0)
		return NULL;
	if (slen == 0) {
		if (mlen == 4 && str_ieqn(major, "text", 4))
			return xstrdup("text/plain");
		if (mlen == 9 && str_ieqn(major, "multipart", 9))
			return xstrdup("multipart/mixed");
		return xstrdup("application/octet-stream");
	}
	return str_lower(xasprintf("%.*s/%.*s", (int)mlen, major, (int)slen, sub));
}

static bool is_token_char(char c)
{
	return (unsigned char)c > 32 && c != 127 && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* The lenient reading of "type/subtype"; *rest is where the parameters start. */
static char *lenient_type(const char *s, const char **rest)
{
	while (is_wsp(*s))
		s++;
	const char *major = s;
	while (is_token_char(*s))
		s++;
	size_t mlen = (size_t)(s - major);
	const char *sub = s;
	size_t slen = 0;
	if (*s == '/') {
		sub = ++s;
		while (is_token_char(*s))
			s++;
		slen = (size_t)(s - sub);
	}
	*rest = s;
	return type_join(major, mlen, sub, slen);
}

char *message_ctype_parse(const char *value, struct message_params *params)
{
	char *tmp;
	const char *v = message_shallow(value, &tmp);
	size_t len = strlen(v), idx = 0;
	struct mailmime_content *c = NULL;
	char *type = NULL;
	const char *rest = NULL;
	if (mailmime_content_parse(v, len, &idx, &c) == MAILIMF_NO_ERROR) {
		const char *major = ctype_major(c->ct_type);
		const char *slash = strchr(v, '/');
		bool has_sub = slash && (!strchr(v, ';') || slash < strchr(v, ';'));
		if (major && c->ct_subtype)
			type = type_join(major, strlen(major), c->ct_subtype,
			                 has_sub ? strlen(c->ct_subtype) : 0);
		params_from_clist(params, c->ct_parameters);
		mailmime_content_free(c);
		rest = v + idx;
	}
	if (type == NULL) {
		message_params_free(params);
		type = lenient_type(v, &rest);
	}
	lenient_params(rest, params);
	free(tmp);
	if (type) /* shown beside an attachment's name */
		text_strip_controls(type, strlen(type), TEXT_LINE);
	return type;
}

char *message_ctype_boundary(const char *value)
{
	struct message_params params = MESSAGE_PARAMS_INIT;
	const char *rest;
	char *boundary = NULL;
	free(lenient_type(value, &rest));
	lenient_params(rest, &params);
	for (size_t i = 0; i < params.n && boundary == NULL; i++)
		if (strcmp(params.v[i].name, "boundary") == 0 && params.v[i].value[0])
			boundary = xstrdup(params.v[i].value);
	message_params_free(&params);
	return boundary;
}

static void disp_params(struct message_params *p, clist *list)
{
	if (list == NULL)
		return;
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct mailmime_disposition_parm *dp = clist_content(it);
		const char *v = NULL;
		if (dp->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME)
			v = dp->pa_data.pa_filename;
		if (v)
			params_add(p, "filename", 8, v, strlen(v));
		struct mailmime_parameter *mp = dp->pa_data.pa_parameter;
		if (dp->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER && mp && mp->pa_name &&
		    mp->pa_value)
			params_add(p, mp->pa_name, strlen(mp->pa_name), mp->pa_value,
			           strlen(mp->pa_value));
	}
}

/* RFC 2183: a disposition type nobody knows is treated as "attachment". */
static enum message_disp disp_of(const char *token, size_t n)
{
	if (n == 0)
		return DISP_NONE;
	if (n >= 6 && str_ieqn(token, "inline", 6))
		return DISP_INLINE;
	return DISP_ATTACHMENT;
}

enum message_disp message_disp_parse(const char *value, struct message_params *params)
{
	char *tmp;
	const char *v = message_shallow(value, &tmp);
	size_t idx = 0;
	struct mailmime_disposition *d = NULL;
	enum message_disp disp;
	const char *rest;
	if (mailmime_disposition_parse(v, strlen(v), &idx, &d) == MAILIMF_NO_ERROR) {
		int t = d->dsp_type->dsp_type;
		disp = t == MAILMIME_DISPOSITION_TYPE_INLINE ? DISP_INLINE : DISP_ATTACHMENT;
		disp_params(params, d->dsp_parms);
		mailmime_disposition_free(d);
		rest = v + idx;
	} else {
		const char *s = v;
		while (is_wsp(*s))
			s++;
		rest = s;
		while (is_token_char(*rest))
			rest++;
		/* "Content-Disposition: filename=x" names no type, but it means a file */
		disp = *rest == '=' ? DISP_ATTACHMENT : disp_of(s, (size_t)(rest - s));
		if (*rest == '=')
			rest = s;
	}
	lenient_params(rest, params);
	free(tmp);
	return disp;
}

static const char *param_find(const struct message_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return p->v[i].value;
	return NULL;
}

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

static void pct_decode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		int hi, lo;
		if (*s == '%' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
			buf_putc(b, (char)(hi * 16 + lo));
			s += 2;
		} else {
			buf_putc(b, *s);
		}
	}
}

/* Splits "charset'language'text"; returns the text and sets *charset (caller frees). */
static const char *ext_split(const char *v, char **charset)
{
	const char *q1 = strchr(v, '\'');
	const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	if (q2 == NULL) {
		*charset = NULL;
		return v;
	}
	*charset = xstrndup(v, (size_t)(q1 - v));
	return q2 + 1;
}

static char *to_utf8_clean(const char *charset, const struct buf *raw)
{
	struct buf u = BUF_INIT;
	buf_append(&u, "", 0);
	message_cs_to_utf8(&u, charset, raw->data ? raw->data : "", raw->len, NULL);
	u.len = text_strip_controls(u.data, u.len, TEXT_LINE);
	return buf_steal(&u);
}

/* RFC 2231 continuations name*0*, name*1, ...: joined, then converted from section 0's charset. */
static char *continuations(const struct message_params *p, const char *name)
{
	struct buf raw = BUF_INIT;
	char *charset = NULL;
	char key[96];
	buf_append(&raw, "", 0);
	for (int k = 0; k < MAX_RFC2231_SECTIONS; k++) {
		snprintf(key, sizeof(key), "%s*%d*", name, k);
		const char *ext = param_find(p, key);
		snprintf(key, sizeof(key), "%s*%d", name, k);
		const char *plain = param_find(p, key);
		if (ext) {
			pct_decode(&raw, k == 0 ? ext_split(ext, &charset) : ext);
		} else if (plain) {
			buf_puts(&raw, plain);
		} else {
			break;
		}
	}
	char *s = to_utf8_clean(charset, &raw);
	free(charset);
	buf_free(&raw);
	return s;
}

/* name + suffix in key (at least 80 bytes); name is at most 64 bytes. */
static const char *key_of(char *key, const char *name, const char *suffix)
{
	size_t n = strlen(name);
	memcpy(key, name, n);
	strcpy(key + n, suffix);
	return key;
}

char *message_param_get(const struct message_params *p, const char *name)
{
	char key[96];
	if (strlen(name) > 64 || p->n == 0)
		return NULL;
	const char *ext = param_find(p, key_of(key, name, "*"));
	if (ext) {
		struct buf raw = BUF_INIT;
		char *charset;
		buf_append(&raw, "", 0);
		pct_decode(&raw, ext_split(ext, &charset));
		char *s = to_utf8_clean(charset, &raw);
		free(charset);
		buf_free(&raw);
		return s;
	}
	const char *c0 = param_find(p, key_of(key, name, "*0*"));
	if (c0 || param_find(p, key_of(key, name, "*0")))
		return continuations(p, name);
	const char *v = param_find(p, name);
	if (v == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	message_decode_words(&b, v, strlen(v), NULL);
	return buf_steal(&b);
}
