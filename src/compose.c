/*
 * compose: an outgoing reply's bytes. Everything that goes into the header is checked first
 * (addresses, Message-IDs, Auto-Submitted, extra fields), so that a refusal names the one
 * value at fault and nothing half-written escapes; then the fields are written in a fixed
 * order and the body appended. The encodings themselves are in compose_mime.c.
 */
#include "tend/compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compose_int.h"

/* RFC 5321 section 4.5.3.1.3: the longest path is 256 octets with its angle brackets. */
#define MAX_ADDR 254
/* A Message-ID this long still leaves "In-Reply-To: <...>" within a line's 998 octets. */
#define MAX_ID 900
/* Longest name of an extra header field: it must fit on a line with its value. */
#define MAX_FIELD_NAME 76
/* At most this many bytes of a refused value are quoted in an error. */
#define MAX_SHOWN 100

/* ---- checks ---- */

static bool domain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* s[0..n) is words of ok characters joined by single dots. */
static bool dot_atom(const char *s, size_t n, bool (*ok)(char))
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' ? s[i + 1] == '.' : !ok(s[i]))
			return false;
	return true;
}

/* "..." with printable ASCII and quoted pairs inside, but no space, '<', '>' or ','. */
static bool quoted_local(const char *s, size_t n)
{
	if (n < 3 || s[0] != '"' || s[n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' && i + 2 < n)
			c = (unsigned char)s[++i];
		else if (c == '\\' || c == '"')
			return false;
		if (c <= ' ' || c >= 127 || strchr("<>,", c))
			return false;
	}
	return true;
}

static bool domain_ok(const char *s, size_t n)
{
	if (n > 2 && s[0] == '[' && s[n - 1] == ']') {
		for (size_t i = 1; i + 1 < n; i++)
			if (!domain_char(s[i]) && s[i] != '.' && s[i] != ':')
				return false;
		return true;
	}
	return dot_atom(s, n, domain_char);
}

bool compose_addr_ok(const char *addr)
{
	if (addr == NULL)
		return false;
	size_t n = strlen(addr);
	const char *at = strrchr(addr, '@');
	if (n > MAX_ADDR || at == NULL)
		return false;
	size_t local = (size_t)(at - addr);
	bool ok = addr[0] == '"' ? quoted_local(addr, local) : dot_atom(addr, local, compose_atext);
	return ok && domain_ok(at + 1, n - local - 1);
}

/* Printable ASCII without space, '<' or '>': what can stand between angle brackets. */
static bool id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= ' ' || (unsigned char)id[i] >= 127 || id[i] == '<' ||
		    id[i] == '>')
			return false;
	return true;
}

static bool token_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!domain_char(*s))
			return false;
	return true;
}

/* Sets *err to what, the value quoted with control and 8-bit bytes escaped, and why. */
static int fail(char **err, const char *what, const char *value, const char *why)
{
	struct buf b = BUF_INIT;
	size_t i = 0;
	buf_printf(&b, "%s \"", what);
	for (; value && value[i] && i < MAX_SHOWN; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '\r' || c == '\n' || c == '\t')
			buf_printf(&b, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
		else if (c == '"' || c == '\\')
			buf_printf(&b, "\\%c", c);
		else if (c < 32 || c >= 127)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, (char)c);
	}
	buf_printf(&b, "%s\": %s", value && value[i] ? "..." : "", why);
	*err = buf_steal(&b);
	return -1;
}

static int check_addrs(const struct message_addrs *a, char **err)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (!compose_addr_ok(a->v[i].addr))
			return fail(err, "cannot send to", a->v[i].addr,
			            "not a plain email address");
	return 0;
}

/* The fields compose writes itself: an extra one would make a second. */
static bool own_field(const char *name, size_t n)
{
	static const char *const own[] = {
	    "Date",           "From",         "To",           "Cc",
	    "Subject",        "Message-ID",   "In-Reply-To",  "References",
	    "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"};
	for (size_t i = 0; i < NELEM(own); i++)
		if (strlen(own[i]) == n && str_ieqn(name, own[i], n))
			return true;
	return false;
}

/* The length of the field name in "Name: value", or 0 when the line is not a safe field. */
static size_t extra_name(const char *line)
{
	size_t n = strcspn(line, ":");
	if (n == 0 || n > MAX_FIELD_NAME || line[n] != ':')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] <= ' ' || (unsigned char)line[i] >= 127)
			return 0;
	for (const char *v = line + n + 1; *v; v++)
		if (((unsigned char)*v < 32 && *v != '\t') || *v == 127)
			return 0;
	return n;
}

static int check_extras(const struct strvec *extra, char **err)
{
	for (size_t i = 0; extra && i < extra->n; i++) {
		size_t n = extra_name(extra->v[i]);
		if (n == 0)
			return fail(err, "cannot add header", extra->v[i],
			            "not a \"Name: value\" field on one line");
		if (own_field(extra->v[i], n))
			return fail(err, "cannot add header", extra->v[i],
			            "compose writes this field itself");
	}
	return 0;
}

static int check_input(const struct compose_input *in, char **err)
{
	if (!compose_addr_ok(in->from_addr))
		return fail(err, "cannot send from", in->from_addr, "not a plain email address");
	if (check_addrs(in->to, err) < 0 || check_addrs(in->cc, err) < 0)
		return -1;
	if ((in->to ? in->to->n : 0) + (in->cc ? in->cc->n : 0) == 0) {
		*err = xstrdup("no recipient");
		return -1;
	}
	if (!id_ok(in->message_id))
		return fail(err, "cannot send with Message-ID", in->message_id,
		            "not a well-formed Message-ID");
	if (in->auto_submitted && !token_ok(in->auto_submitted))
		return fail(err, "cannot send with Auto-Submitted", in->auto_submitted,
		            "not a token");
	return check_extras(in->extra_headers, err);
}

/* ---- fields ---- */

/* RFC 5322 section 3.3, in the local zone, with English names whatever the locale. */
static void put_date(struct buf *b, int64_t t)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	off = off < 0 ? -off : off;
	buf_printf(b, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n", days[tm.tm_wday],
	           tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	           tm.tm_sec, sign, off / 60, off % 60);
}

/* "name <addr>" or "addr", then sep (a comma or nothing) */
static void put_mailbox(struct compose_hdr *h, const char *name, const char *addr, const char *sep)
{
	char *clean = compose_clean_text(name);
	char *tok = xasprintf(*clean ? "<%s>%s" : "%s%s", addr, sep);
	if (*clean)
		compose_put_phrase(h, clean);
	compose_hdr_word(h, tok, strlen(tok));
	free(tok);
	free(clean);
}

static void put_addrs(struct buf *b, const char *field, const struct message_addrs *a)
{
	if (a == NULL || a->n == 0)
		return;
	struct compose_hdr h;
	compose_hdr_start(&h, b, field);
	for (size_t i = 0; i < a->n; i++)
		put_mailbox(&h, a->v[i].name, a->v[i].addr, i + 1 < a->n ? "," : "");
	compose_hdr_end(&h);
}

static void put_text_field(struct buf *b, const char *field, const char *value)
{
	struct compose_hdr h;
	char *clean = compose_clean_text(value);
	compose_hdr_start(&h, b, field);
	compose_put_text(&h, clean);
	compose_hdr_end(&h);
	free(clean);
}

/*
 * The well-formed references without repeats, the message replied to last, trimmed to the
 * first and the latest ones. Returns how many; the strings belong to in.
 */
static size_t gather_references(const struct compose_input *in, const char ***out)
{
	size_t cap = (in->references ? in->references->n : 0) + 1, n = 0;
	const char **v = xcalloc(cap, sizeof(*v));
	for (size_t i = 0; i < cap; i++) {
		const char *id = i + 1 < cap ? in->references->v[i] : in->in_reply_to;
		size_t k = 0;
		while (k < n && strcmp(v[k], id ? id : "") != 0)
			k++;
		if (k == n && id_ok(id))
			v[n++] = id;
	}
	if (n > COMPOSE_MAX_REFERENCES) {
		size_t drop = n - COMPOSE_MAX_REFERENCES;
		memmove(v + 1, v + 1 + drop, (COMPOSE_MAX_REFERENCES - 1) * sizeof(*v));
		n = COMPOSE_MAX_REFERENCES;
	}
	*out = v;
	return n;
}

/* One Message-ID per line: they cannot be folded inside. */
static void put_references(struct buf *b, const struct compose_input *in)
{
	const char **v;
	size_t n = gather_references(in, &v);
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s<%s>", i == 0 ? "References: " : "\r\n ", v[i]);
	if (n > 0)
		buf_puts(b, "\r\n");
	free(v);
}

static void put_extras(struct buf *b, const struct strvec *extra)
{
	for (size_t i = 0; extra && i < extra->n; i++) {
		const char *line = extra->v[i];
		size_t n = strcspn(line, ":");
		char *name = xstrndup(line, n);
		put_text_field(b, name, line + n + 1);
		free(name);
	}
}

/* ---- attachments ---- */

/* A type/subtype of token characters, lowercase; else application/octet-stream. */
static const char *safe_type(const char *type)
{
	const char *slash = type ? strchr(type, '/') : NULL;
	if (!slash || slash == type || !slash[1] || strlen(type) > 100)
		return "application/octet-stream";
	for (const char *p = type; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      strchr("!#$&-^_.+", *p) || p == slash))
			return "application/octet-stream";
	return type;
}

/* A boundary that occurs in none of the parts: from the Message-ID, so it is the same each
 * time the reply is built; base64 and quoted-printable never hold "=_". */
static char *boundary(const struct compose_input *in, const struct buf *body)
{
	uint64_t h = str_hash(in->message_id);
	for (unsigned k = 0;; k++) {
		char *bd = xasprintf("=_tend_%016llx_%u", (unsigned long long)h, k);
		if (!memmem(body->data, body->len, bd, strlen(bd)))
			return bd;
		free(bd);
	}
}

static void put_file(struct buf *b, const struct compose_file *f)
{
	struct compose_hdr h;
	const char *type = safe_type(f->content_type);
	if (strncmp(type, "text/", 5) == 0) /* attach_content_type checked it is UTF-8 */
		buf_printf(b, "Content-Type: %s; charset=utf-8\r\n", type);
	else
		buf_printf(b, "Content-Type: %s\r\n", type);
	buf_puts(b, "Content-Transfer-Encoding: base64\r\n");
	compose_hdr_start(&h, b, "Content-Disposition");
	compose_hdr_word(&h, "attachment;", 11);
	compose_put_param(&h, "filename", f->name ? f->name : "attachment", true);
	compose_hdr_end(&h);
	buf_puts(b, "\r\n");
	compose_base64(b, f->data, f->len);
}

/* multipart/mixed: the text, then each file. */
static void put_mixed(struct buf *b, const struct compose_input *in, const struct buf *body,
                      const char *cte)
{
	char *bd = boundary(in, body);
	buf_printf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n", bd);
	put_extras(b, in->extra_headers);
	buf_printf(b,
	           "\r\nThis is a message in MIME format.\r\n\r\n--%s\r\n"
	           "Content-Type: text/plain; charset=utf-8\r\n"
	           "Content-Transfer-Encoding: %s\r\n\r\n",
	           bd, cte);
	buf_append(b, body->data, body->len);
	for (size_t i = 0; i < in->nfiles; i++) {
		buf_printf(b, "--%s\r\n", bd);
		put_file(b, &in->files[i]);
	}
	buf_printf(b, "--%s--\r\n", bd);
	free(bd);
}

int compose_message(const struct compose_input *in, char **out, size_t *len, char **err)
{
	*out = NULL;
	*len = 0;
	*err = NULL;
	if (check_input(in, err) < 0)
		return -1;
	struct buf b = BUF_INIT, body = BUF_INIT;
	struct compose_hdr h;
	put_date(&b, in->date);
	compose_hdr_start(&h, &b, "From");
	put_mailbox(&h, in->from_name, in->from_addr, "");
	compose_hdr_end(&h);
	put_addrs(&b, "To", in->to);
	put_addrs(&b, "Cc", in->cc);
	put_text_field(&b, "Subject", in->subject);
	buf_printf(&b, "Message-ID: <%s>\r\n", in->message_id);
	if (id_ok(in->in_reply_to))
		buf_printf(&b, "In-Reply-To: <%s>\r\n", in->in_reply_to);
	put_references(&b, in);
	buf_printf(&b, "Auto-Submitted: %s\r\n", in->auto_submitted ? in->auto_submitted : "no");
	const char *cte = compose_body(in->body ? in->body : "", &body);
	buf_puts(&b, "MIME-Version: 1.0\r\n");
	if (in->nfiles == 0) {
		buf_printf(&b,
		           "Content-Type: text/plain; charset=utf-8\r\n"
		           "Content-Transfer-Encoding: %s\r\n",
		           cte);
		put_extras(&b, in->extra_headers);
		buf_puts(&b, "\r\n");
		buf_append(&b, body.data, body.len);
	} else {
		put_mixed(&b, in, &body, cte);
	}
	buf_free(&body);
	*len = b.len;
	*out = buf_steal(&b);
	return 0;
}
