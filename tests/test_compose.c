/*
 * test_compose: outgoing replies as a recipient's mail program reads them, through tend's own
 * parser: names, addresses and subjects in any script, bodies in each transfer encoding,
 * References trimming, line ends and lengths, and, above all, that nothing a customer wrote
 * can add a header or a recipient.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "t.h"
#include "tend/compose.h"
#include "tend/message.h"

/* ---- helpers ---- */

/* A reply with one recipient; tests change what they need. */
struct fixture {
	struct message_addr to_v[8];
	struct message_addrs to;
	struct message_addr cc_v[8];
	struct message_addrs cc;
	struct compose_input in;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->to_v[0] = (struct message_addr){"Anna Kowalski", "anna@example.com"};
	f->to = (struct message_addrs){f->to_v, 1};
	f->cc = (struct message_addrs){f->cc_v, 0};
	f->in = (struct compose_input){
	    .from_addr = "support@shop.example",
	    .from_name = "Shop Support",
	    .to = &f->to,
	    .cc = &f->cc,
	    .subject = "Re: Refund for order 10460",
	    .message_id = "reply-1@shop.example",
	    .body = "Hello Anna,\n\nyour refund is on its way.\n",
	    .date = 1796026502, /* Mon, 30 Nov 2026 08:15:02 UTC */
	};
}

/* Composes, failing the test on an error; the raw message or NULL. */
static char *compose_ok(const struct compose_input *in, size_t *len)
{
	char *out = NULL, *err = NULL;
	size_t n = 0;
	if (compose_message(in, &out, &n, &err) < 0) {
		T_FAIL("compose_message failed: %s", err ? err : "(no error)");
		free(err);
		return NULL;
	}
	T_OK(err == NULL);
	T_EQ_INT(strlen(out), n);
	if (len)
		*len = n;
	return out;
}

/* The error compose_message gives, failing the test when it succeeds. */
static char *compose_err(const struct compose_input *in)
{
	char *out = NULL, *err = NULL;
	size_t n = 0;
	if (compose_message(in, &out, &n, &err) == 0) {
		T_FAIL("compose_message succeeded:\n%s", out);
		free(out);
		return NULL;
	}
	T_OK(out == NULL);
	T_OK(err != NULL && strchr(err, '\r') == NULL && strchr(err, '\n') == NULL);
	return err;
}

static struct message *parse(const char *raw)
{
	struct message *m = NULL;
	char *reason = NULL;
	if (raw && message_parse(raw, strlen(raw), NULL, &m, &reason) < 0) {
		T_FAIL("message_parse failed: %s", reason ? reason : "(no reason)");
		free(reason);
		return NULL;
	}
	return m;
}

/* The header block without its final blank line, as a copy; "" when raw is NULL. */
static char *header_block(const char *raw)
{
	const char *end = raw ? strstr(raw, "\r\n\r\n") : NULL;
	return end ? xstrndup(raw, (size_t)(end - raw) + 2) : xstrdup("");
}

static const char *body_of(const char *raw)
{
	const char *end = raw ? strstr(raw, "\r\n\r\n") : NULL;
	return end ? end + 4 : "";
}

/* CRLF line ends only, no line over 998 octets; header and body lines within max columns. */
static void check_lines(const char *raw, size_t max_header, size_t max_body)
{
	if (raw == NULL)
		return;
	bool in_header = true;
	for (const char *p = raw; *p;) {
		const char *nl = strchr(p, '\n');
		if (nl == NULL) {
			T_FAIL("last line has no line end: \"%.40s\"", p);
			return;
		}
		size_t n = (size_t)(nl - p);
		if (n == 0 || p[n - 1] != '\r')
			T_FAIL("bare LF after \"%.40s\"", p);
		else if (memchr(p, '\r', n - 1))
			T_FAIL("bare CR in \"%.40s\"", p);
		n -= n > 0;
		if (n > 998)
			T_FAIL("line of %zu octets: \"%.40s\"", n, p);
		if (n > (in_header ? max_header : max_body))
			T_FAIL("%s line of %zu columns: \"%.*s\"", in_header ? "header" : "body", n,
			       (int)n, p);
		in_header = in_header && n > 0;
		p = nl + 1;
	}
}

/* How many lines of the header block start with prefix (case-insensitive). */
static int header_lines_starting(const char *raw, const char *prefix)
{
	char *h = header_block(raw);
	int count = 0;
	for (const char *p = h; *p; p = strchr(p, '\n') + 1)
		count += str_istarts(p, prefix);
	free(h);
	return count;
}

/* The field names of the header block, in order, joined by spaces. */
static char *field_names(const char *raw)
{
	char *h = header_block(raw);
	struct buf b = BUF_INIT;
	for (const char *p = h; *p; p = strchr(p, '\n') + 1) {
		if (*p == ' ' || *p == '\t')
			continue;
		if (b.len)
			buf_putc(&b, ' ');
		buf_append(&b, p, strcspn(p, ":\r\n"));
	}
	free(h);
	return buf_steal(&b);
}

/* True when the header block holds only ASCII and every encoded word is at most 75 chars. */
static bool encoded_words_ok(const char *raw)
{
	char *h = header_block(raw);
	bool ok = true;
	for (const char *p = h; *p; p++)
		ok = ok && (unsigned char)*p < 0x80;
	for (const char *p = h; *p;) {
		size_t n = strcspn(p, " \r\n");
		if (n >= 2 && strncmp(p, "=?", 2) == 0) {
			bool word = n >= 4 && strncmp(p + n - 2, "?=", 2) == 0;
			if (!word || n > 75) {
				T_FAIL("encoded word of %zu characters: \"%.*s\"", n, (int)n, p);
				ok = false;
			}
		}
		p += n + (p[n] != '\0');
	}
	free(h);
	return ok;
}

/* Composes in, parses it back, checks the line rules; the parsed message or NULL. */
static struct message *round_trip(const struct compose_input *in, char **raw_out)
{
	char *raw = compose_ok(in, NULL);
	check_lines(raw, 998, 998);
	struct message *m = parse(raw);
	if (raw_out)
		*raw_out = raw;
	else
		free(raw);
	return m;
}

static char *repeat(const char *s, size_t times, const char *sep)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < times; i++) {
		if (i)
			buf_puts(&b, sep);
		buf_puts(&b, s);
	}
	return buf_steal(&b);
}

/* ---- addresses ---- */

static void test_addr_ok(void)
{
	static const char *const good[] = {
	    "a@b",
	    "anna.k+tag@example.com",
	    "o'brien@example.ie",
	    "x_y-z=1@mail-1.example.org",
	    "\"john..doe\"@example.com",
	    "\"a\\\"b\"@example.com",
	    "x@[192.168.0.1]",
	    "x@[IPv6:2001:db8::1]",
	};
	static const char *const bad[] = {
	    "",
	    "anna",
	    "@example.com",
	    "anna@",
	    "a..b@example.com",
	    ".anna@example.com",
	    "anna.@example.com",
	    "anna@example..com",
	    "anna@.example.com",
	    "anna@example.com.",
	    "an na@example.com",
	    "anna@exa mple.com",
	    "<anna@example.com>",
	    "Anna <anna@example.com>",
	    "anna@example.com, bob@example.com",
	    "a,b@example.com",
	    "evil\r\nBcc: x@y",
	    "anna@example.com\n",
	    "anna@example.com\r\nBcc: x@y",
	    "an\tna@example.com",
	    "j\xc3\xbcrgen@example.de",
	    "anna@m\xc3\xbcller.de",
	    "\"a b\"@example.com",
	    "\"a\r\nb\"@example.com",
	    "\"unterminated@example.com",
	    "anna@exa_mple.com",
	    "anna@[1.2.3.4",
	    "anna@[1.2.3.4 ]",
	};
	for (size_t i = 0; i < NELEM(good); i++)
		if (!compose_addr_ok(good[i]))
			T_FAIL("refused \"%s\"", good[i]);
	for (size_t i = 0; i < NELEM(bad); i++)
		if (compose_addr_ok(bad[i]))
			T_FAIL("accepted \"%s\"", bad[i]);
	T_OK(!compose_addr_ok(NULL));
}

/* An address may have 254 octets, no more. */
static void test_addr_length(void)
{
	char *local = repeat("a", 64, "");
	char *label = repeat("b", 63, "");
	char *dom = repeat(label, 4, ".");
	char *addr = xasprintf("%s@%.*s", local, 189, dom);
	T_EQ_INT(strlen(addr), 254);
	T_OK(compose_addr_ok(addr));
	free(addr);
	addr = xasprintf("%s@%.*s", local, 191, dom);
	T_EQ_INT(strlen(addr), 256);
	T_OK(!compose_addr_ok(addr));
	free(addr);
	free(dom);
	free(label);
	free(local);
}

static void test_refused_addresses(void)
{
	static const char *const bad[] = {"evil\r\nBcc: x@y", "anna@example.com, bob@example.com",
	                                  "Anna <anna@example.com>", "anna@example.com\n",
	                                  "<anna@example.com>"};
	for (size_t i = 0; i < NELEM(bad); i++) {
		for (int where = 0; where < 3; where++) {
			struct fixture f;
			fixture_init(&f);
			if (where == 0)
				f.to_v[0].addr = (char *)bad[i];
			else if (where == 1)
				f.cc_v[f.cc.n++] = (struct message_addr){NULL, (char *)bad[i]};
			else
				f.in.from_addr = bad[i];
			char *err = compose_err(&f.in);
			T_CONTAINS(err, where == 2 ? "cannot send from \"" : "cannot send to \"");
			T_CONTAINS(err, "not a plain email address");
			free(err);
		}
	}
	/* what an operator sees: the control characters escaped, not raw */
	struct fixture f;
	fixture_init(&f);
	f.to_v[0].addr = "evil\r\nBcc: x@y";
	char *err = compose_err(&f.in);
	T_EQ_STR(err, "cannot send to \"evil\\r\\nBcc: x@y\": not a plain email address");
	free(err);
	f.to_v[0].addr = "j\xc3\xbcrgen\"@example.de";
	err = compose_err(&f.in);
	T_EQ_STR(err, "cannot send to \"j\\xc3\\xbcrgen\\\"@example.de\": not a plain email "
	              "address");
	free(err);
}

static void test_no_recipient(void)
{
	struct fixture f;
	fixture_init(&f);
	f.to.n = 0;
	char *err = compose_err(&f.in);
	T_EQ_STR(err, "no recipient");
	free(err);
	f.in.to = NULL;
	f.in.cc = NULL;
	err = compose_err(&f.in);
	T_EQ_STR(err, "no recipient");
	free(err);
	/* Cc alone is enough; no empty To is written */
	f.in.cc = &f.cc;
	f.cc_v[f.cc.n++] = (struct message_addr){NULL, "bob@example.org"};
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	T_EQ_INT(header_lines_starting(raw, "To:"), 0);
	if (m) {
		T_EQ_INT(m->to.n, 0);
		T_EQ_INT(m->cc.n, 1);
		if (m->cc.n == 1)
			T_EQ_STR(m->cc.v[0].addr, "bob@example.org");
	}
	message_free(m);
	free(raw);
}

/* ---- the header ---- */

static void test_basic_message(void)
{
	struct fixture f;
	fixture_init(&f);
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	check_lines(raw, 78, 998);
	char *names = field_names(raw);
	T_EQ_STR(names, "Date From To Subject Message-ID Auto-Submitted MIME-Version Content-Type "
	                "Content-Transfer-Encoding");
	free(names);
	T_CONTAINS(raw, "\r\nFrom: Shop Support <support@shop.example>\r\n");
	T_CONTAINS(raw, "\r\nTo: Anna Kowalski <anna@example.com>\r\n");
	T_CONTAINS(raw, "\r\nMessage-ID: <reply-1@shop.example>\r\n");
	T_CONTAINS(raw, "\r\nAuto-Submitted: no\r\n");
	T_CONTAINS(raw, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                "Content-Transfer-Encoding: 7bit\r\n\r\n");
	T_EQ_STR(body_of(raw), "Hello Anna,\r\n\r\nyour refund is on its way.\r\n");
	if (m) {
		T_EQ_STR(m->from.name, "Shop Support");
		T_EQ_STR(m->from.addr, "support@shop.example");
		T_EQ_INT(m->to.n, 1);
		if (m->to.n == 1) {
			T_EQ_STR(m->to.v[0].name, "Anna Kowalski");
			T_EQ_STR(m->to.v[0].addr, "anna@example.com");
		}
		T_EQ_STR(m->subject, "Re: Refund for order 10460");
		T_EQ_STR(m->message_id, "reply-1@shop.example");
		T_OK(!m->message_id_synthetic);
		T_EQ_INT(m->date, f.in.date);
		T_EQ_INT(m->in_reply_to.n, 0);
		T_EQ_INT(m->references.n, 0);
		T_EQ_STR(m->text, "Hello Anna,\n\nyour refund is on its way.");
		T_EQ_INT(m->warnings.n, 0);
	}
	message_free(m);
	free(raw);
}

static void test_full_header_order(void)
{
	struct fixture f;
	fixture_init(&f);
	f.cc_v[f.cc.n++] = (struct message_addr){"Bob", "bob@example.org"};
	struct strvec refs = STRVEC_INIT, extra = STRVEC_INIT;
	strvec_push(&refs, "1@example.com");
	strvec_push(&extra, "X-Tend-Thread: 12");
	strvec_push(&extra, "X-Empty:");
	f.in.in_reply_to = "2@example.com";
	f.in.references = &refs;
	f.in.extra_headers = &extra;
	f.in.auto_submitted = "auto-replied";
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	char *names = field_names(raw);
	T_EQ_STR(names, "Date From To Cc Subject Message-ID In-Reply-To References Auto-Submitted "
	                "MIME-Version Content-Type Content-Transfer-Encoding X-Tend-Thread "
	                "X-Empty");
	free(names);
	T_CONTAINS(raw, "\r\nIn-Reply-To: <2@example.com>\r\n");
	T_CONTAINS(raw, "\r\nReferences: <1@example.com>\r\n <2@example.com>\r\n");
	T_CONTAINS(raw, "\r\nAuto-Submitted: auto-replied\r\n");
	T_CONTAINS(raw, "\r\nX-Tend-Thread: 12\r\n");
	if (m) {
		T_EQ_STR(message_header(m, "X-Tend-Thread"), "12");
		T_EQ_STR(message_header(m, "Auto-Submitted"), "auto-replied");
		T_EQ_INT(m->in_reply_to.n, 1);
		T_EQ_INT(m->references.n, 2);
	}
	message_free(m);
	free(raw);
	strvec_free(&refs);
	strvec_free(&extra);
}

static void test_date(void)
{
	char *old = tz_set("UTC0");
	static const struct {
		const char *tz;
		int64_t t;
		const char *want;
	} cases[] = {
	    {"CET-1CEST,M3.5.0,M10.5.0/3", 1796026502, "Date: Mon, 30 Nov 2026 09:15:02 +0100\r\n"},
	    {"CET-1CEST,M3.5.0,M10.5.0/3", 1783000000, "Date: Thu, 2 Jul 2026 15:46:40 +0200\r\n"},
	    {"EST5EDT,M3.2.0,M11.1.0", 1783000000, "Date: Thu, 2 Jul 2026 09:46:40 -0400\r\n"},
	    {"IST-5:30", 1796026502, "Date: Mon, 30 Nov 2026 13:45:02 +0530\r\n"},
	    {"UTC0", 0, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		setenv("TZ", cases[i].tz, 1);
		tzset();
		struct fixture f;
		fixture_init(&f);
		f.in.date = cases[i].t;
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		char *line = raw ? xstrndup(raw, strcspn(raw, "\n") + 1) : NULL;
		T_EQ_STR(line, cases[i].want);
		free(line);
		if (m)
			T_EQ_INT(m->date, cases[i].t);
		message_free(m);
		free(raw);
	}
	tz_restore(old);
}

/* ---- display names ---- */

static void test_display_names(void)
{
	static const struct {
		const char *name;
		const char *raw;    /* expected From line, or NULL */
		const char *parsed; /* the name a mail reader shows; NULL for none */
	} cases[] = {
	    {"Shop Support", "From: Shop Support <support@shop.example>\r\n", "Shop Support"},
	    {"Kowalski, Anna", "From: \"Kowalski, Anna\" <support@shop.example>\r\n",
	     "Kowalski, Anna"},
	    {"Anna \"AK\" K\\owalski",
	     "From: \"Anna \\\"AK\\\" K\\\\owalski\" <support@shop.example>\r\n",
	     "Anna \"AK\" K\\owalski"},
	    {"support@shop.example (Team)", NULL, "support@shop.example (Team)"},
	    {"  Shop\t\tSupport \x7f ", "From: Shop Support <support@shop.example>\r\n",
	     "Shop Support"},
	    {" \r\n\t ", "From: support@shop.example\r\n", NULL},
	    {"", "From: support@shop.example\r\n", NULL},
	    {NULL, "From: support@shop.example\r\n", NULL},
	    {"J\xc3\xbcrgen M\xc3\xbcller", NULL, "J\xc3\xbcrgen M\xc3\xbcller"},
	    {"=?UTF-8?B?SGk=?=", NULL, "=?UTF-8?B?SGk=?="},
	    {"Caf\xe9 Zoe", NULL, "Caf\xef\xbf\xbd Zoe"},
	    {"\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e", NULL,
	     "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e"},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct fixture f;
		fixture_init(&f);
		f.in.from_name = cases[i].name;
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		check_lines(raw, 78, 998);
		T_OK(encoded_words_ok(raw));
		if (cases[i].raw)
			T_CONTAINS(raw, cases[i].raw);
		if (m) {
			T_EQ_STR(m->from.name, cases[i].parsed);
			T_EQ_STR(m->from.addr, "support@shop.example");
		}
		message_free(m);
		free(raw);
	}
}

static void test_long_names(void)
{
	/* a long Japanese name and a long quoted one: folded, each character intact */
	char *jp = repeat("\xe5\xb1\xb1\xe7\x94\xb0", 40, "");
	char *quoted = repeat("Support, Shop.", 8, " ");
	const char *names[] = {jp, quoted};
	for (size_t i = 0; i < NELEM(names); i++) {
		struct fixture f;
		fixture_init(&f);
		f.to_v[0].name = (char *)names[i];
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		check_lines(raw, 78, 998);
		T_OK(encoded_words_ok(raw));
		T_OK(header_lines_starting(raw, " ") >= 2);
		if (m && m->to.n == 1) {
			T_EQ_STR(m->to.v[0].name, names[i]);
			T_EQ_STR(m->to.v[0].addr, "anna@example.com");
		} else {
			T_FAIL("To not read back");
		}
		message_free(m);
		free(raw);
	}
	free(jp);
	free(quoted);
}

static void test_address_lists(void)
{
	struct fixture f;
	fixture_init(&f);
	f.to_v[f.to.n++] = (struct message_addr){NULL, "bob@example.org"};
	f.to_v[f.to.n++] = (struct message_addr){"Doe, John", "john.doe@example.com"};
	f.cc_v[f.cc.n++] = (struct message_addr){"Zo\xc3\xab Andr\xc3\xa9", "zoe@example.fr"};
	f.cc_v[f.cc.n++] = (struct message_addr){"", "carl@example.net"};
	f.cc_v[f.cc.n++] = (struct message_addr){"Team Lead", "lead@shop.example"};
	f.cc_v[f.cc.n++] = (struct message_addr){"O'Brien", "ob@example.ie"};
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	check_lines(raw, 78, 998);
	T_OK(encoded_words_ok(raw));
	T_EQ_INT(header_lines_starting(raw, "To:"), 1);
	T_EQ_INT(header_lines_starting(raw, "Cc:"), 1);
	if (m == NULL)
		goto out;
	T_EQ_INT(m->to.n, 3);
	for (size_t i = 0; i < m->to.n && i < 3; i++) {
		T_EQ_STR(m->to.v[i].addr, f.to_v[i].addr);
		T_EQ_STR(m->to.v[i].name, f.to_v[i].name);
	}
	T_EQ_INT(m->cc.n, 4);
	for (size_t i = 0; i < m->cc.n && i < 4; i++) {
		T_EQ_STR(m->cc.v[i].addr, f.cc_v[i].addr);
		T_EQ_STR(m->cc.v[i].name, i == 1 ? NULL : f.cc_v[i].name);
	}
out:
	message_free(m);
	free(raw);
}

/* ---- header injection ---- */

static void test_name_injection(void)
{
	struct fixture f;
	fixture_init(&f);
	f.in.from_name = "Eve\r\nBcc: victim@example.com";
	f.to_v[0].name = "Mallory\nBcc: x@y\r\n\r\nInjected body";
	f.cc_v[f.cc.n++] = (struct message_addr){"Eve\rTo: a@b", "eve@example.org"};
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	T_EQ_INT(header_lines_starting(raw, "Bcc:"), 0);
	T_EQ_INT(header_lines_starting(raw, "To:"), 1);
	char *names = field_names(raw);
	T_EQ_STR(names, "Date From To Cc Subject Message-ID Auto-Submitted MIME-Version "
	                "Content-Type Content-Transfer-Encoding");
	free(names);
	T_EQ_STR(body_of(raw), "Hello Anna,\r\n\r\nyour refund is on its way.\r\n");
	if (m) {
		T_OK(message_header(m, "Bcc") == NULL);
		T_EQ_INT(m->nheaders, 10);
		T_EQ_STR(m->from.name, "Eve Bcc: victim@example.com");
		T_EQ_STR(m->from.addr, "support@shop.example");
		T_EQ_INT(m->to.n, 1);
		if (m->to.n == 1) {
			T_EQ_STR(m->to.v[0].name, "Mallory Bcc: x@y Injected body");
			T_EQ_STR(m->to.v[0].addr, "anna@example.com");
		}
		T_EQ_INT(m->cc.n, 1);
		if (m->cc.n == 1)
			T_EQ_STR(m->cc.v[0].addr, "eve@example.org");
		T_EQ_STR(m->text, "Hello Anna,\n\nyour refund is on its way.");
	}
	message_free(m);
	free(raw);
}

static void test_subject_injection(void)
{
	static const char *const subjects[] = {
	    "Hello\r\nBcc: x@y",
	    "Hello\nBcc: x@y\n\nInjected body",
	    "Hello\rBcc: x@y",
	    "Gr\xc3\xbc\xc3\x9f"
	    "e\r\nBcc: x@y",
	    "Hello\xc2\x85"
	    "Bcc: x@y", /* NEL, a C1 control */
	};
	static const char *const want[] = {
	    "Hello Bcc: x@y",
	    "Hello Bcc: x@y Injected body",
	    "Hello Bcc: x@y",
	    ("Gr\xc3\xbc\xc3\x9f"
	     "e Bcc: x@y"),
	    "Hello Bcc: x@y",
	};
	for (size_t i = 0; i < NELEM(subjects); i++) {
		struct fixture f;
		fixture_init(&f);
		f.in.subject = subjects[i];
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		T_EQ_INT(header_lines_starting(raw, "Bcc:"), 0);
		T_EQ_STR(body_of(raw), "Hello Anna,\r\n\r\nyour refund is on its way.\r\n");
		if (m) {
			T_OK(message_header(m, "Bcc") == NULL);
			T_EQ_INT(m->nheaders, 9);
			T_EQ_STR(m->subject, want[i]);
		}
		message_free(m);
		free(raw);
	}
}

static void test_extra_headers(void)
{
	static const char *const bad[] = {
	    "X-A: b\r\nBcc: c@d",
	    "X-A: b\nBcc: c@d",
	    "X-A: b\r",
	    "Bad Name: x",
	    "NoColon",
	    ": value",
	    "X-\xc3\xa4: x",
	    "Subject: second subject",
	    "bcc\r\n: x",
	    "message-id: <x@y>",
	};
	for (size_t i = 0; i < NELEM(bad); i++) {
		struct fixture f;
		fixture_init(&f);
		struct strvec extra = STRVEC_INIT;
		strvec_push(&extra, "X-Good: 1");
		strvec_push(&extra, bad[i]);
		f.in.extra_headers = &extra;
		char *err = compose_err(&f.in);
		T_CONTAINS(err, "cannot add header \"");
		free(err);
		strvec_free(&extra);
	}
	struct fixture f;
	fixture_init(&f);
	struct strvec extra = STRVEC_INIT;
	strvec_push(&extra, "X-A: b\r\nBcc: c@d");
	f.in.extra_headers = &extra;
	char *err = compose_err(&f.in);
	T_EQ_STR(err, "cannot add header \"X-A: b\\r\\nBcc: c@d\": not a \"Name: value\" field "
	              "on one line");
	free(err);
	strvec_free(&extra);
}

static void test_other_refusals(void)
{
	static const char *const bad_ids[] = {"",     "a b@c",           "<a@b>",
	                                      "a@b>", "a@b\r\nBcc: x@y", "caf\xc3\xa9@b"};
	for (size_t i = 0; i < NELEM(bad_ids); i++) {
		struct fixture f;
		fixture_init(&f);
		f.in.message_id = bad_ids[i];
		char *err = compose_err(&f.in);
		T_CONTAINS(err, "not a well-formed Message-ID");
		free(err);
	}
	struct fixture f;
	fixture_init(&f);
	f.in.message_id = NULL;
	char *err = compose_err(&f.in);
	T_EQ_STR(err, "cannot send with Message-ID \"\": not a well-formed Message-ID");
	free(err);
	f.in.message_id = "no-at-sign";
	char *raw = compose_ok(&f.in, NULL);
	T_CONTAINS(raw, "\r\nMessage-ID: <no-at-sign>\r\n");
	free(raw);
	static const char *const bad_auto[] = {"", "auto replied", "no\r\nBcc: x@y", "no;x"};
	for (size_t i = 0; i < NELEM(bad_auto); i++) {
		fixture_init(&f);
		f.in.auto_submitted = bad_auto[i];
		err = compose_err(&f.in);
		T_CONTAINS(err, "cannot send with Auto-Submitted \"");
		free(err);
	}
}

/* ---- subjects ---- */

static void test_subject_scripts(void)
{
	static const char *const subjects[] = {
	    "R\xc3\xbc"
	    "ckerstattung f\xc3\xbcr Bestellung 10460",
	    "Re: \xe3\x81\x94\xe6\xb3\xa8\xe6\x96\x87\xe3\x81\xae\xe8\xbf\x94\xe9\x87\x91",
	    "Refund \xf0\x9f\x8e\x89\xf0\x9f\x8e\x89 done \xf0\x9f\x91\x8d",
	    "Re: [#12] Stra\xc3\x9f"
	    "e_1 = \"A?B\" =?utf-8?q?x?= (Kl\xc3\xa4rung)",
	    "Caf\xe9 invalid",
	};
	static const char *const want_invalid = "Caf\xef\xbf\xbd invalid";
	for (size_t i = 0; i < NELEM(subjects); i++) {
		struct fixture f;
		fixture_init(&f);
		f.in.subject = subjects[i];
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		check_lines(raw, 78, 998);
		T_OK(encoded_words_ok(raw));
		if (m)
			T_EQ_STR(m->subject, i + 1 == NELEM(subjects) ? want_invalid : subjects[i]);
		message_free(m);
		free(raw);
	}
	/* plain ASCII words stay readable beside encoded ones */
	struct fixture f;
	fixture_init(&f);
	f.in.subject = "Re: R\xc3\xbc"
	               "ckerstattung for order 10460";
	char *raw = compose_ok(&f.in, NULL);
	T_CONTAINS(raw, "\r\nSubject: Re: =?UTF-8?Q?R=C3=BCckerstattung?= for order 10460\r\n");
	free(raw);
}

/* Every split point of Q and B words: characters kept whole, each word within 75. */
static void test_encoded_word_splits(void)
{
	for (size_t shift = 0; shift < 30; shift++) {
		char *q = repeat("abcdefghijklmnopqrst\xc3\xbc", 6, "");
		char *b = repeat("\xf0\x9f\x8e\x89\xc3\xa4", 12, "");
		char *pad = repeat("x", shift, "");
		const char *words[] = {q, b};
		for (size_t i = 0; i < NELEM(words); i++) {
			struct fixture f;
			fixture_init(&f);
			char *subject = xasprintf("%s%s", pad, words[i]);
			f.in.subject = subject;
			f.in.from_name = subject;
			char *raw = NULL;
			struct message *m = round_trip(&f.in, &raw);
			check_lines(raw, 78, 998);
			T_OK(encoded_words_ok(raw));
			T_CONTAINS(raw, i == 0 ? "=?UTF-8?Q?" : "=?UTF-8?B?");
			if (m) {
				T_EQ_STR(m->subject, subject);
				T_EQ_STR(m->from.name, subject);
			}
			message_free(m);
			free(raw);
			free(subject);
		}
		free(pad);
		free(b);
		free(q);
	}
}

static void test_long_subjects(void)
{
	char *ascii = repeat("Refund", 50, " "); /* 349 characters */
	char *jp = repeat(
	    "\xe8\xbf\x94\xe9\x87\x91 \xe3\x81\xab\xe3\x81\xa4\xe3\x81\x84\xe3\x81\xa6", 30, " ");
	char *mixed = repeat("M\xc3\xbcnchen Berlin", 20, " ");
	char *word = repeat("x", 1500, "");
	char *spaced = xasprintf("%.300s", ascii);
	T_EQ_INT(strlen(spaced), 300);
	const char *subjects[] = {spaced, ascii, jp, mixed, word};
	for (size_t i = 0; i < NELEM(subjects); i++) {
		struct fixture f;
		fixture_init(&f);
		f.in.subject = subjects[i];
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		/* folded at whitespace; a 1500-character word is split as encoded words */
		check_lines(raw, 78, 998);
		T_OK(encoded_words_ok(raw));
		T_OK(header_lines_starting(raw, " ") >= 3);
		if (m)
			T_EQ_STR(m->subject, subjects[i]);
		message_free(m);
		free(raw);
	}
	struct fixture f;
	fixture_init(&f);
	f.in.subject = spaced;
	char *raw = compose_ok(&f.in, NULL);
	T_CONTAINS(raw, "\r\nSubject: Refund Refund");
	T_OK(strstr(raw, "=?") == NULL); /* ASCII is folded, not encoded */
	free(raw);
	free(spaced);
	free(word);
	free(mixed);
	free(jp);
	free(ascii);
}

/* ---- bodies ---- */

/* The body round trip: encoding, lines, and the text a reader sees. */
static void check_body(const char *body, const char *cte, const char *want_text)
{
	struct fixture f;
	fixture_init(&f);
	f.in.body = body;
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	char *want = xasprintf("\r\nContent-Transfer-Encoding: %s\r\n", cte);
	T_CONTAINS(raw, want);
	free(want);
	const char *b = body_of(raw);
	T_OK(strlen(b) >= 2 && strcmp(b + strlen(b) - 2, "\r\n") == 0);
	for (const char *p = b; *p; p++)
		if ((unsigned char)*p >= 0x80) {
			T_FAIL("8-bit byte in the body");
			break;
		}
	if (strcmp(cte, "7bit") != 0)
		check_lines(b, 76, 76); /* encoded lines are at most 76 characters */
	if (m)
		T_EQ_STR(m->text, want_text);
	message_free(m);
	free(raw);
}

static void test_body_ascii(void)
{
	check_body("Hello Anna,\n\nyour refund is on its way.\n\n-- \nShop\n", "7bit",
	           "Hello Anna,\n\nyour refund is on its way.\n\n-- \nShop");
	struct fixture f;
	fixture_init(&f);
	static const char *const bodies[] = {"one\ntwo\r\nthree\rfour", "one\r\r\n\n", ""};
	static const char *const want[] = {"one\r\ntwo\r\nthree\r\nfour\r\n", "one\r\n\r\n\r\n",
	                                   "\r\n"};
	for (size_t i = 0; i < NELEM(bodies); i++) {
		f.in.body = bodies[i];
		char *raw = NULL;
		struct message *m = round_trip(&f.in, &raw);
		T_EQ_STR(body_of(raw), want[i]);
		T_CONTAINS(raw, "Content-Transfer-Encoding: 7bit\r\n");
		message_free(m);
		free(raw);
	}
	/* a line of 998 octets may still go as 7bit */
	char *line = repeat("a", 998, "");
	check_body(line, "7bit", line);
	free(line);
}

static void test_body_latin(void)
{
	const char *text =
	    "Sehr geehrte Frau M\xc3\xbcller,\n\nIhre R\xc3\xbc"
	    "ckerstattung ist unterwegs. Sie erhalten den Betrag in den "
	    "kommenden Tagen auf das Konto, mit dem Sie bezahlt haben.\n"
	    "Bei Fragen antworten Sie einfach auf diese Nachricht. Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln \xe2\x82\xac 12,50 = fair?\n"
	    "Trailing space \n"
	    "From here on\n"
	    ".\n"
	    "Tab at end\t\n"
	    "\xc3\x84\xc3\x96\xc3\x9c\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f";
	char *want = xstrdup(text);
	check_body(text, "quoted-printable", want);
	free(want);

	struct fixture f;
	fixture_init(&f);
	f.in.body = text;
	char *raw = compose_ok(&f.in, NULL);
	const char *b = body_of(raw);
	T_CONTAINS(b, "M=C3=BCller");
	T_CONTAINS(b, "\r\nTrailing space=20\r\n");
	T_CONTAINS(b, "\r\nTab at end=09\r\n");
	T_CONTAINS(b, "12,50 =3D fair?");
	/* safe through SMTP and mbox: no lone dot, no line starting "From " */
	T_OK(strstr(b, "\r\n.\r\n") == NULL);
	T_OK(strstr(b, "\r\nFrom ") == NULL);
	free(raw);
}

static void test_body_qp_soft_breaks(void)
{
	/* lines around the 76-column limit, with 3-character escapes at the edges */
	for (size_t n = 70; n <= 80; n++) {
		for (int tail = 0; tail < 3; tail++) {
			struct buf b = BUF_INIT;
			for (size_t i = 0; i < n; i++)
				buf_putc(&b, i % 2 ? 'a' : 'b');
			buf_puts(&b, tail == 0 ? "\xc3\xbc" : tail == 1 ? " " : ".");
			buf_puts(&b, "\n.\xc3\xa4\n");
			char *body = buf_steal(&b);
			char *want = xstrdup(body);
			want[strlen(want) - 1] = '\0';
			check_body(body, "quoted-printable", want);
			free(want);
			free(body);
		}
	}
}

static void test_body_base64(void)
{
	const char *text =
	    "\xe3\x81\x94\xe6\xb3\xa8\xe6\x96\x87\xe3\x81\x82\xe3\x82\x8a\xe3\x81"
	    "\x8c\xe3\x81\xa8\xe3\x81\x86\xe3\x81\x94\xe3\x81\x96\xe3\x81\x84\xe3"
	    "\x81\xbe\xe3\x81\x99\xe3\x80\x82\n\xe8\xbf\x94\xe9\x87\x91\xe3\x81\xaf"
	    "\xe6\x98\x8e\xe6\x97\xa5\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82\xf0\x9f\x8e"
	    "\x89\n";
	char *body = repeat(text, 20, "");
	char *want = xstrndup(body, strlen(body) - 1);
	check_body(body, "base64", want);
	free(want);
	free(body);
	/* invalid UTF-8 becomes U+FFFD, not raw bytes */
	check_body("Caf\xe9 au lait\n", "quoted-printable", "Caf\xef\xbf\xbd au lait");
}

static void test_body_long_line(void)
{
	char *line = repeat("abcdefghij", 200, "");
	T_EQ_INT(strlen(line), 2000);
	char *body = xasprintf("Short line.\n%s\nEnd.\n", line);
	char *want = xasprintf("Short line.\n%s\nEnd.", line);
	check_body(body, "quoted-printable", want);
	free(want);
	free(body);
	free(line);
}

/* ---- References ---- */

static void test_references_trim(void)
{
	struct fixture f;
	fixture_init(&f);
	struct strvec refs = STRVEC_INIT;
	for (int i = 1; i <= 30; i++)
		strvec_push_owned(&refs, xasprintf("r%d@example.com", i));
	f.in.references = &refs;
	f.in.in_reply_to = "r31@example.com";
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	check_lines(raw, 78, 998);
	T_CONTAINS(raw, "\r\nReferences: <r1@example.com>\r\n <r13@example.com>\r\n");
	T_CONTAINS(raw, " <r30@example.com>\r\n <r31@example.com>\r\nAuto-Submitted: no\r\n");
	T_OK(strstr(raw, "<r12@example.com>") == NULL);
	if (m) {
		T_EQ_INT(m->references.n, COMPOSE_MAX_REFERENCES);
		if (m->references.n == COMPOSE_MAX_REFERENCES) {
			T_EQ_STR(m->references.v[0], "r1@example.com");
			T_EQ_STR(m->references.v[1], "r13@example.com");
			T_EQ_STR(m->references.v[18], "r30@example.com");
			T_EQ_STR(m->references.v[19], "r31@example.com");
		}
		T_EQ_INT(m->in_reply_to.n, 1);
		if (m->in_reply_to.n == 1)
			T_EQ_STR(m->in_reply_to.v[0], "r31@example.com");
	}
	message_free(m);
	free(raw);
	/* exactly 20 with in_reply_to already last: nothing dropped */
	strvec_free(&refs);
	for (int i = 1; i <= 20; i++)
		strvec_push_owned(&refs, xasprintf("r%d@example.com", i));
	f.in.in_reply_to = "r20@example.com";
	m = round_trip(&f.in, NULL);
	if (m) {
		T_EQ_INT(m->references.n, 20);
		if (m->references.n == 20)
			T_EQ_STR(m->references.v[1], "r2@example.com");
	}
	message_free(m);
	strvec_free(&refs);
}

static void test_references_filtered(void)
{
	struct fixture f;
	fixture_init(&f);
	struct strvec refs = STRVEC_INIT;
	static const char *const given[] = {"a@example.com",
	                                    "bad id@example.com",
	                                    "a@example.com",
	                                    "<b@example.com>",
	                                    "c@example.com\r\nBcc: victim@example.com",
	                                    "",
	                                    "b@example.com",
	                                    "d>@example.com",
	                                    "\xc3\xa4@example.com"};
	for (size_t i = 0; i < NELEM(given); i++)
		strvec_push(&refs, given[i]);
	f.in.references = &refs;
	f.in.in_reply_to = "b@example.com";
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	T_EQ_INT(header_lines_starting(raw, "Bcc:"), 0);
	T_CONTAINS(raw, "\r\nIn-Reply-To: <b@example.com>\r\n"
	                "References: <a@example.com>\r\n <b@example.com>\r\nAuto-Submitted:");
	if (m) {
		T_EQ_INT(m->references.n, 2);
		T_OK(message_header(m, "Bcc") == NULL);
	}
	message_free(m);
	free(raw);
	/* an unusable In-Reply-To is left out, and not added to References */
	f.in.in_reply_to = "x y@example.com\r\nBcc: victim@example.com";
	raw = NULL;
	m = round_trip(&f.in, &raw);
	T_EQ_INT(header_lines_starting(raw, "In-Reply-To:"), 0);
	T_EQ_INT(header_lines_starting(raw, "Bcc:"), 0);
	T_CONTAINS(raw, "\r\nReferences: <a@example.com>\r\n <b@example.com>\r\nAuto-Submitted:");
	message_free(m);
	free(raw);
	/* no usable id at all: no References field */
	strvec_free(&refs);
	strvec_push(&refs, "bad id");
	f.in.in_reply_to = NULL;
	raw = compose_ok(&f.in, NULL);
	T_EQ_INT(header_lines_starting(raw, "References:"), 0);
	free(raw);
	strvec_free(&refs);
}

/* Attachments as a mail program reads them: names in any script, whatever bytes they hold,
 * and a file name that tries to end its field adds no header. */
static void test_attachments(void)
{
	struct fixture f;
	fixture_init(&f);
	char *bin = xmalloc(5000);
	for (size_t i = 0; i < 5000; i++)
		bin[i] = (char)(i * 7);
	char *long_name = repeat("\xc3\xbc", 100, "");
	struct compose_file files[] = {
	    {"returns form.pdf", "application/pdf", bin, 5000},
	    {"evil\"\r\nBcc: victim@example.com\r\n\r\n.txt", "text/plain", "hi\n", 3},
	    {long_name, "application/octet-stream", "", 0},
	    {"Rechnung M\xc3\xa4rz.csv", "text/csv; x=\r\nBcc: a@b", "a;b\n", 4},
	};
	f.in.files = files;
	f.in.nfiles = NELEM(files);
	/* a 7bit text that holds the boundary the message would have had: another is chosen */
	char *first = compose_ok(&f.in, NULL);
	const char *bd = first ? strstr(first, "boundary=\"") : NULL;
	char *body = xasprintf("Hello,\n--%.*s and the forms.\n", bd ? 25 : 0, bd ? bd + 10 : "");
	T_CONTAINS(body, "--=_tend_");
	f.in.body = body;
	char *raw = NULL;
	struct message *m = round_trip(&f.in, &raw);
	T_CONTAINS(raw, "Content-Type: multipart/mixed; boundary=\"=_tend_");
	T_EQ_INT(header_lines_starting(raw, "Bcc:"), 0);
	T_OK(strstr(raw, "\r\nBcc:") == NULL);
	T_CONTAINS(raw, "Content-Disposition: attachment; filename=\"returns form.pdf\"\r\n");
	T_CONTAINS(raw, "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
	                "base64\r\nContent-Disposition: attachment;\r\n filename*0*=utf-8''%C3%BC");
	if (m && m->nattachments == 4) {
		T_OK(strncmp(m->text, body, strlen(body) - 1) == 0);
		T_EQ_STR(m->attachments[0].filename, "returns form.pdf");
		T_EQ_STR(m->attachments[0].content_type, "application/pdf");
		T_EQ_INT(m->attachments[0].size, 5000);
		T_EQ_STR(m->attachments[1].filename, "evil\" Bcc: victim@example.com .txt");
		T_EQ_STR(m->attachments[2].filename, long_name);
		T_EQ_STR(m->attachments[3].filename, "Rechnung M\xc3\xa4rz.csv");
		T_EQ_STR(m->attachments[3].content_type, "application/octet-stream");
	} else {
		T_FAIL("attachments parsed: %zu", m ? m->nattachments : 0);
	}
	/* built again, the same bytes: a retry and the Sent copy are the same message */
	char *again = compose_ok(&f.in, NULL);
	T_EQ_STR(again, raw);
	message_free(m);
	free(again);
	free(raw);
	free(long_name);
	free(bin);
	free(first);
	free(body);
}

T_MAIN(T_CASE(test_addr_ok), T_CASE(test_addr_length), T_CASE(test_refused_addresses),
       T_CASE(test_no_recipient), T_CASE(test_basic_message), T_CASE(test_full_header_order),
       T_CASE(test_date), T_CASE(test_display_names), T_CASE(test_long_names),
       T_CASE(test_address_lists), T_CASE(test_name_injection), T_CASE(test_subject_injection),
       T_CASE(test_extra_headers), T_CASE(test_other_refusals), T_CASE(test_subject_scripts),
       T_CASE(test_encoded_word_splits), T_CASE(test_long_subjects), T_CASE(test_body_ascii),
       T_CASE(test_body_latin), T_CASE(test_body_qp_soft_breaks), T_CASE(test_body_base64),
       T_CASE(test_body_long_line), T_CASE(test_references_trim), T_CASE(test_references_filtered),
       T_CASE(test_attachments))
