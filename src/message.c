/*
 * message: parsing one raw message into struct message.
 *
 * The raw bytes are copied once with CRLF turned into LF and NUL into a space; everything else
 * works on that copy. Header fields come from message_header.c, addresses and dates from
 * message_addr.c, the MIME tree from message_mime.c, the text from message_body.c and the new
 * text from message_quote.c.
 *
 * Refused, with the reason: an empty message, one without a header block, one with none of
 * the fields that make mail (From, Subject, To, Date, Message-ID...: a fragment of a mis-split
 * mbox), and any that exceeds a limit: over max_size, a header block with more than
 * max_headers fields, MIME nesting deeper than max_depth or more than max_parts parts.
 * Degrading instead (say, ignoring parts past the limit) would hand the agent a text
 * that silently misses what the customer wrote; a quarantined message with a clear reason is
 * the safer outcome, and real mail stays far below the defaults.
 */
#include <string.h>

#include "message_int.h"

const struct message_limits message_default_limits = {
    .max_size = 50 * 1024 * 1024,
    .max_headers = 1000,
    .max_depth = 32,
    .max_parts = 1000,
    .max_addresses = 1000,
};

/* ---- Message-IDs, as notmuch 0.37 reads them (lib/message-id.c) ---- */

static bool id_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Whitespace and (possibly nested) comments, with "\" escaping any character. */
static void skip_space_and_comments(const char **str)
{
	const char *s = *str;
	while (*s && (id_space(*s) || *s == '(')) {
		while (*s && id_space(*s))
			s++;
		if (*s == '(') {
			int nesting = 1;
			s++;
			while (*s && nesting) {
				if (*s == '(')
					nesting++;
				else if (*s == ')')
					nesting--;
				else if (*s == '\\' && s[1])
					s++;
				s++;
			}
		}
	}
	*str = s;
}

/*
 * notmuch's _notmuch_message_id_parse, quirks included so that threads match notmuch's: text
 * before "<" is skipped, an unterminated "<abc" yields "abc", spaces and tabs inside are
 * removed, and an id of one character ("<a>") is rejected.
 */
static char *parse_one_id(const char *s, const char **next)
{
	skip_space_and_comments(&s);
	while (*s && *s != '<')
		s++;
	if (*s != '<') {
		*next = s;
		return NULL;
	}
	s++;
	skip_space_and_comments(&s);
	const char *end = s;
	while (*end && *end != '>')
		end++;
	*next = *end ? end + 1 : end;
	if (end > s && *end == '>')
		end--;
	if (end <= s)
		return NULL;
	size_t n = (size_t)(end - s) + 1;
	char *r = xmalloc(n + 1), *w = r;
	for (size_t i = 0; i < n && s[i]; i++)
		if (s[i] != ' ' && s[i] != '\t')
			*w++ = s[i];
	*w = '\0';
	return r;
}

void message_parse_id_list(const char *value, struct strvec *out)
{
	if (value == NULL)
		return;
	struct strindex set = {0};
	strindex_build(&set, out);
	const char *s = value;
	while (*s) {
		char *id = parse_one_id(s, &s);
		if (id == NULL)
			continue;
		strvec_push_owned(out, id);
		if (!strindex_add(&set, out, out->n - 1)) {
			free(out->v[--out->n]);
			out->v[out->n] = NULL;
		}
	}
	strindex_free(&set);
}

static void drop_id(struct strvec *sv, const char *id)
{
	size_t k = 0;
	for (size_t i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], id) == 0)
			free(sv->v[i]);
		else
			sv->v[k++] = sv->v[i];
	}
	sv->n = k;
}

/* ---- the synthetic Message-ID ---- */

/* Fields that relays add or change on the way: not part of what the sender wrote. */
static bool trace_field(const char *name)
{
	static const char *const names[] = {"received",       "received-spf",
	                                    "return-path",    "delivered-to",
	                                    "envelope-to",    "status",
	                                    "content-length", "lines",
	                                    "dkim-signature", "authentication-results",
	                                    "apparently-to",  "original-to"};
	if (str_istarts(name, "x-") || str_istarts(name, "arc-"))
		return true;
	for (size_t i = 0; i < NELEM(names); i++)
		if (str_ieq(name, names[i]))
			return true;
	return false;
}

/* Skips an mbox "From " line and blank lines before the header block. */
static size_t skip_envelope(const char *s, size_t n)
{
	size_t pos = 0;
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark */
		pos = 3;
	const char *t = s + pos;
	size_t left = n - pos;
	if ((left >= 5 && memcmp(t, "From ", 5) == 0) ||
	    (left >= 6 && memcmp(t, ">From ", 6) == 0)) {
		const char *nl = memchr(t, '\n', left);
		pos = nl ? (size_t)(nl - s) + 1 : n;
	}
	while (pos < n && s[pos] == '\n')
		pos++;
	return pos;
}

static void hash_put_value(struct buf *b, const char *v)
{
	bool space = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			buf_putc(b, ' ');
		space = false;
		buf_putc(b, *v);
	}
}

/* Body lines without trailing blanks or ">From " escaping; trailing blank lines dropped. */
static void hash_put_body(struct buf *b, const char *s, size_t n)
{
	size_t pos = 0, blanks = 0;
	while (pos < n) {
		const char *line = s + pos;
		const char *nl = memchr(line, '\n', n - pos);
		size_t ll = nl ? (size_t)(nl - line) : n - pos;
		pos += ll + 1;
		while (ll > 0 &&
		       (line[ll - 1] == ' ' || line[ll - 1] == '\t' || line[ll - 1] == '\r'))
			ll--;
		size_t gt = 0;
		while (gt < ll && line[gt] == '>')
			gt++;
		if (gt > 0 && ll - gt >= 5 && memcmp(line + gt, "From ", 5) == 0) {
			line += gt;
			ll -= gt;
		}
		if (ll == 0) {
			blanks++;
			continue;
		}
		for (; blanks > 0; blanks--)
			buf_putc(b, '\n');
		buf_append(b, line, ll);
		buf_putc(b, '\n');
	}
}

char *message_synthetic_id(const char *raw, size_t len)
{
	size_t n;
	bool nul;
	char *s = message_normalize(raw ? raw : "", raw ? len : 0, &n, &nul);
	size_t pos = skip_envelope(s, n);
	struct message_hdrs h = MESSAGE_HDRS_INIT;
	struct buf b = BUF_INIT;
	message_hdrs_parse(s, n, &pos, SIZE_MAX, HDRS_KEEP_ALL, &h, NULL);
	for (size_t i = 0; i < h.n; i++) {
		if (trace_field(h.v[i].name) || str_ieq(h.v[i].name, "Message-ID"))
			continue;
		buf_puts(&b, str_lower(h.v[i].name));
		buf_putc(&b, ':');
		hash_put_value(&b, h.v[i].value);
		buf_putc(&b, '\n');
	}
	buf_putc(&b, '\n');
	hash_put_body(&b, s + pos, n - pos);
	char hex[65];
	sha256_hex(b.data, b.len, hex);
	buf_free(&b);
	message_hdrs_free(&h);
	free(s);
	return xasprintf("%s@synthetic.tend", hex);
}

/* ---- subjects: RFC 5256 base subjects, with the reply prefixes of other languages ---- */

/* subj-blob = "[" *BLOBCHAR "]" *WSP; its length at s, or 0. */
static size_t blob_len(const char *s, size_t n)
{
	if (n == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < n && s[i] != '[' && s[i] != ']')
		i++;
	if (i >= n || s[i] != ']')
		return 0;
	for (i++; i < n && s[i] == ' ';)
		i++;
	return i;
}

/* subj-refwd = ("re" / "fw" / "fwd" / "aw" / ...) *WSP [subj-blob] ":"; its length, or 0. */
static size_t refwd_len(const char *s, size_t n)
{
	static const char *const words[] = {"re",  "fwd",  "fw",      "aw",  "wg",  "sv",
	                                    "vs",  "antw", "antwort", "rif", "tr",  "ref",
	                                    "réf", "enc",  "odp",     "res", "ynt", "atb"};
	for (size_t w = 0; w < NELEM(words); w++) {
		size_t i = strlen(words[w]);
		if (i > n || !str_ieqn(s, words[w], i))
			continue;
		while (i < n && s[i] == ' ')
			i++;
		i += blob_len(s + i, n - i);
		if (i < n && s[i] == ':')
			return i + 1;
		if (i + 3 <= n && memcmp(s + i, "\xef\xbc\x9a", 3) == 0) /* full-width colon */
			return i + 3;
	}
	return 0;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; its length, or 0. */
static size_t leader_len(const char *s, size_t n)
{
	size_t i = 0, k;
	if (n > 0 && s[0] == ' ')
		return 1;
	while ((k = blob_len(s + i, n - i)) > 0)
		i += k;
	k = refwd_len(s + i, n - i);
	return k ? i + k : 0;
}

/* Steps 2 to 6 of RFC 5256 2.1 on s[*a..*b). */
static void base_subject(const char *s, size_t *a, size_t *b)
{
	for (;;) {
		for (;;) { /* (2) trailing "(fwd)" and blanks */
			if (*b > *a && s[*b - 1] == ' ')
				(*b)--;
			else if (*b - *a >= 5 && str_ieqn(s + *b - 5, "(fwd)", 5))
				*b -= 5;
			else
				break;
		}
		for (;;) { /* (3) to (5): leaders, and blobs that leave something */
			size_t k = leader_len(s + *a, *b - *a);
			if (k == 0 && (k = blob_len(s + *a, *b - *a)) > 0 && *a + k >= *b)
				k = 0;
			if (k == 0)
				break;
			*a += k;
		}
		if (*b - *a >= 6 && str_ieqn(s + *a, "[fwd:", 5) && s[*b - 1] == ']') {
			*a += 5; /* (6) "[fwd: ...]" */
			(*b)--;
			continue;
		}
		return;
	}
}

char *message_normalize_subject(const char *subject)
{
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	for (const char *s = subject ? subject : ""; *s; s++) { /* (1) one space for any run */
		bool space = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';
		if (!space)
			buf_putc(&b, *s);
		else if (b.len == 0 || b.data[b.len - 1] != ' ')
			buf_putc(&b, ' ');
	}
	size_t start = 0, end = b.len;
	base_subject(b.data, &start, &end);
	char *out = xstrndup(b.data + start, end - start);
	for (unsigned char *u = (unsigned char *)out; *u; u++) {
		if (*u >= 'A' && *u <= 'Z') {
			*u = (unsigned char)(*u - 'A' + 'a');
		} else if (u[0] == 0xc3 && u[1] != '\0') {
			if (u[1] >= 0x80 && u[1] <= 0x9e && u[1] != 0x97) /* Latin-1 À..Þ */
				u[1] = (unsigned char)(u[1] + 0x20);
			u++;
		}
	}
	buf_free(&b);
	return out;
}

/* ---- fields ---- */

static void set_message_id(struct message *m, const struct message_hdrs *h, const char *raw,
                           size_t len)
{
	const char *v = message_hdrs_get(h, "Message-ID");
	const char *next;
	if (v && v[0]) {
		m->message_id = parse_one_id(v, &next);
		if (m->message_id == NULL) /* notmuch: a Message-ID without <...> is used as is */
			m->message_id = xstrdup(v);
	}
	if (m->message_id == NULL) {
		m->message_id = message_synthetic_id(raw, len);
		m->message_id_synthetic = true;
		strvec_push(&m->warnings, "no Message-ID: made one from the content");
	}
	message_parse_id_list(message_hdrs_get(h, "References"), &m->references);
	message_parse_id_list(message_hdrs_get(h, "In-Reply-To"), &m->in_reply_to);
	drop_id(&m->references, m->message_id);
	drop_id(&m->in_reply_to, m->message_id);
}

static void set_from(struct message *m, const struct message_hdrs *h)
{
	struct message_addrs a = {NULL, 0};
	const char *v = message_hdrs_get(h, "From");
	if (v)
		message_addrs_parse(v, &a, &m->warnings, 1);
	else
		strvec_push(&m->warnings, "no From header");
	if (a.n > 0) {
		m->from = a.v[0];
		a.v[0].name = NULL;
		a.v[0].addr = NULL;
	} else { /* no address, but the name still tells the agent who wrote */
		m->from.addr = xstrdup("");
		m->from.name = v ? message_addr_name_only(v) : NULL;
	}
	message_addrs_free(&a);
}

/* Every field called name: To and Cc given twice are read as one list, up to max addresses. */
static void set_addrs(struct message *m, const struct message_hdrs *h, const char *name, size_t max,
                      struct message_addrs *out)
{
	for (size_t i = 0; i < h->n; i++)
		if (str_ieq(h->v[i].name, name) &&
		    message_addrs_parse(h->v[i].value, out, &m->warnings, max) > 0) {
			strvec_push_owned(
			    &m->warnings,
			    xasprintf("%s: more than %zu addresses; the first %zu are "
			              "read, the raw message keeps the rest",
			              name, max, max));
			return;
		}
}

static void set_date(struct message *m, const struct message_hdrs *h)
{
	const char *v = message_hdrs_get(h, "Date");
	if (v == NULL) {
		strvec_push(&m->warnings, "no Date header");
	} else if (message_date_parse(v, &m->date, &m->date_offset, &m->warnings) < 0) {
		strvec_push_owned(&m->warnings, xasprintf("unreadable Date \"%.60s\"", v));
		m->date = 0;
		m->date_offset = 0;
	}
}

static void set_fields(struct message *m, const struct message_hdrs *h, const char *raw, size_t len,
                       const struct message_limits *lim)
{
	size_t max = lim->max_addresses ? lim->max_addresses : message_default_limits.max_addresses;
	set_message_id(m, h, raw, len);
	const char *v = message_hdrs_get(h, "Subject");
	struct buf b = BUF_INIT;
	if (v)
		message_decode_words(&b, v, strlen(v), &m->warnings);
	m->subject = buf_steal(&b);
	set_from(m, h);
	set_addrs(m, h, "To", max, &m->to);
	set_addrs(m, h, "Cc", max, &m->cc);
	set_addrs(m, h, "Reply-To", max, &m->reply_to);
	set_date(m, h);
}

/* ---- parsing ---- */

struct parse {
	char *copy; /* the normalised message */
	size_t len;
	size_t body; /* offset of the top-level body in copy */
	struct message_hdrs hdrs;
	struct message_tree tree;
};

static bool has_value(const struct message_hdrs *h, const char *name)
{
	const char *v = message_hdrs_get(h, name);
	return v && v[0];
}

/*
 * A header block with none of the fields that identify, address or structure a message is
 * not mail: it is typically a fragment of a mis-split mbox. (notmuch asks for From, Subject or To; a bare
 * reply carrying only Message-ID and References, as in imaptest's RFC 5256 cases, is still a
 * message that threads.)
 */
static bool is_email(const struct message_hdrs *h, char **reason)
{
	static const char *const fields[] = {
	    "From", "Subject",    "To",     "Message-ID",   "In-Reply-To",
	    "Date", "References", "Sender", "MIME-Version", "Content-Type",
	};
	for (size_t i = 0; i < NELEM(fields); i++)
		if (has_value(h, fields[i]))
			return true;
	*reason =
	    xstrdup("no From, To, Subject, Date, Message-ID or MIME field: not an email message");
	return false;
}

/* Copies, splits off the top-level header block and builds the MIME tree. */
static int parse_structure(struct parse *p, const char *raw, size_t len,
                           const struct message_limits *lim, struct strvec *warnings, char **reason)
{
	bool nul;
	if (raw == NULL || len == 0) {
		*reason = xstrdup("empty message");
		return -1;
	}
	if (len > lim->max_size) {
		*reason = xasprintf("message of %zu bytes is over the limit of %zu bytes", len,
		                    lim->max_size);
		return -1;
	}
	p->copy = message_normalize(raw, len, &p->len, &nul);
	if (nul)
		strvec_push(warnings, "NUL bytes replaced with spaces");
	p->body = skip_envelope(p->copy, p->len);
	long n = message_hdrs_parse(p->copy, p->len, &p->body, lim->max_headers, HDRS_KEEP_ALL,
	                            &p->hdrs, warnings);
	if (n < 0) {
		*reason = xasprintf("more than %zu header fields", lim->max_headers);
		return -1;
	}
	if (n == 0) {
		*reason = xstrdup("no header block: not an RFC 5322 message");
		return -1;
	}
	return message_tree_build(&p->tree, p->copy, p->len, p->body, &p->hdrs, lim, reason,
	                          warnings);
}

static void parse_finish(struct parse *p)
{
	message_tree_free(&p->tree);
	message_hdrs_free(&p->hdrs);
	free(p->copy);
}

int message_parse(const char *raw, size_t len, const struct message_limits *limits,
                  struct message **out, char **reason)
{
	struct parse p = {NULL, 0, 0, MESSAGE_HDRS_INIT, {NULL, 0, 0, NULL, 0, NULL, 0}};
	struct message *m = xcalloc(1, sizeof(*m));
	*out = NULL;
	*reason = NULL;
	if (!limits)
		limits = &message_default_limits;
	if (parse_structure(&p, raw, len, limits, &m->warnings, reason) < 0 ||
	    !is_email(&p.hdrs, reason)) {
		parse_finish(&p);
		message_free(m);
		return -1;
	}
	set_fields(m, &p.hdrs, raw, len, limits);
	message_body_build(&p.tree, m);
	for (size_t i = 0; i < m->warnings.n; i++) /* some quote a header value */
		text_strip_controls(m->warnings.v[i], strlen(m->warnings.v[i]), TEXT_LINE);
	m->new_text = message_new_text(m->text);
	m->headers = p.hdrs.v;
	m->nheaders = p.hdrs.n;
	p.hdrs = (struct message_hdrs)MESSAGE_HDRS_INIT;
	parse_finish(&p);
	*out = m;
	return 0;
}

int message_attachment(const char *raw, size_t len, const struct message_limits *limits,
                       size_t index, struct buf *out, char **reason)
{
	struct parse p = {NULL, 0, 0, MESSAGE_HDRS_INIT, {NULL, 0, 0, NULL, 0, NULL, 0}};
	struct message *m = xcalloc(1, sizeof(*m));
	*reason = NULL;
	int rc = parse_structure(&p, raw, len, limits ? limits : &message_default_limits,
	                         &m->warnings, reason);
	if (rc == 0) {
		message_body_build(&p.tree, m);
		if (index < p.tree.nattached)
			message_part_decode(&p.tree.v[p.tree.attached[index]], out, NULL);
		else
			rc = 1;
	}
	parse_finish(&p);
	message_free(m);
	return rc;
}

void message_free(struct message *m)
{
	if (m == NULL)
		return;
	free(m->message_id);
	strvec_free(&m->references);
	strvec_free(&m->in_reply_to);
	free(m->subject);
	free(m->from.name);
	free(m->from.addr);
	message_addrs_free(&m->to);
	message_addrs_free(&m->cc);
	message_addrs_free(&m->reply_to);
	free(m->text);
	free(m->new_text);
	for (size_t i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->nattachments; i++) {
		free(m->attachments[i].filename);
		free(m->attachments[i].content_type);
	}
	free(m->attachments);
	strvec_free(&m->warnings);
	free(m);
}

const char *message_header(const struct message *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (str_ieq(m->headers[i].name, name))
			return m->headers[i].value;
	return NULL;
}

/* ---- for tests ---- */

static char **leaf_paths(const struct message_tree *t)
{
	char **paths = xcalloc(t->n, sizeof(char *));
	for (size_t i = 0; i < t->n; i++) {
		const struct message_part *p = &t->v[i];
		if (p->parent == SIZE_MAX) {
			paths[i] = xstrdup("1");
			continue;
		}
		const struct message_part *up = &t->v[p->parent];
		size_t k = strncmp(up->type, "multipart/", 10) == 0 ? i - up->first_child + 1 : 1;
		paths[i] = xasprintf("%s_%zu", paths[p->parent], k);
	}
	return paths;
}

int message_walk_leaves(const char *raw, size_t len, message_leaf_fn *fn, void *arg)
{
	struct parse p = {NULL, 0, 0, MESSAGE_HDRS_INIT, {NULL, 0, 0, NULL, 0, NULL, 0}};
	struct strvec warnings = STRVEC_INIT;
	char *reason = NULL;
	int rc = parse_structure(&p, raw, len, &message_default_limits, &warnings, &reason);
	if (rc == 0) {
		char **paths = leaf_paths(&p.tree);
		size_t *stack = xcalloc(p.tree.n + 1, sizeof(size_t)), n = 0;
		stack[n++] = 0;
		while (n > 0) {
			struct message_part *q = &p.tree.v[stack[--n]];
			for (size_t k = q->nchildren; k > 0; k--)
				stack[n++] = q->first_child + k - 1;
			if (q->nchildren == 0)
				fn(arg, paths[q - p.tree.v], q,
				   strncmp(q->type, "text/", 5) == 0 ? message_part_text(q, NULL)
				                                     : NULL);
		}
		for (size_t i = 0; i < p.tree.n; i++)
			free(paths[i]);
		free(paths);
		free(stack);
	}
	free(reason);
	strvec_free(&warnings);
	parse_finish(&p);
	return rc;
}
