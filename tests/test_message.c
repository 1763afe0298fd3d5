/*
 * test_message: parsing single messages as a support agent would see them: decoded subjects
 * and names, Message-IDs and references as notmuch reads them, dates, the text of plain, HTML
 * and multipart mail, the customer's new words, attachments, broken mail and limits.
 */
#include <stdbool.h>
#include <string.h>

#include "t.h"
#include "tend/message.h"

static struct message *parse(const char *raw)
{
	struct message *m = NULL;
	char *reason = NULL;
	if (message_parse(raw, strlen(raw), NULL, &m, &reason) < 0) {
		T_FAIL("message_parse failed: %s", reason ? reason : "(no reason)");
		free(reason);
		return NULL;
	}
	return m;
}

/* The reason message_parse gives for refusing raw[0..len), or NULL when it parses. */
static char *refusal(const char *raw, size_t len, const struct message_limits *lim)
{
	struct message *m = NULL;
	char *reason = NULL;
	int rc = message_parse(raw, len, lim, &m, &reason);
	if (rc == 0) {
		message_free(m);
		return NULL;
	}
	T_OK(m == NULL);
	T_OK(reason != NULL && reason[0] != '\0' && strchr(reason, '\n') == NULL);
	return reason;
}

static bool has_warning(const struct message *m, const char *needle)
{
	for (size_t i = 0; i < m->warnings.n; i++)
		if (strstr(m->warnings.v[i], needle))
			return true;
	return false;
}

/* ---- subjects and names ---- */

static void subject_encoded_words(void)
{
	static const struct {
		const char *raw, *want;
	} cases[] = {
	    {"=?utf-8?q?R=C3=BCckerstattung_?= =?iso-8859-1?q?f=FCr?= Bestellung 123",
	     "Rückerstattung für Bestellung 123"},
	    {"=?UTF-8?B?w4RwZmVs?= und Birnen", "Äpfel und Birnen"},
	    {"=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"},
	    {"=?koi8-r?B?8NLJ18XU?=", "Привет"},
	    /* adjacent words: the space between them is not text (RFC 2047 6.2) */
	    {"=?utf-8?q?Hello?= =?utf-8?q?World?=", "HelloWorld"},
	    /* one character split over two words */
	    {"=?UTF-8?B?YWLD?= =?UTF-8?B?hGNk?=", "abÄcd"},
	    {"=?utf-8?q?ab=C3?=\n =?utf-8?q?=84cd?=", "abÄcd"},
	    {"Re: =?utf-8?Q?Best=C3=A4tigung?= Ihrer Bestellung",
	     "Re: Bestätigung Ihrer Bestellung"},
	    {"\"=?utf-8?q?quoted?=\" word", "quoted word"},
	    {"=?utf-8?x?not-an-encoding?=", "=?utf-8?x?not-an-encoding?="},
	    {"plain  text\twith   spaces", "plain text with spaces"},
	    {"=?unicode-1-1-utf-7?q?hello_+IKw-?=", "hello €"},
	    {"=?ks_c_5601-1987?b?vsiz5w==?=", "안녕"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = message_decode_header(cases[i].raw);
		T_EQ_STR(s, cases[i].want);
		free(s);
	}
}

static void subject_from_message(void)
{
	struct message *m = parse("From: a@example.com\n"
	                          "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus?=\n"
	                          "  =?ISO-8859-1?Q?_M=FCnchen?=\n"
	                          "\n"
	                          "Hallo\n");
	if (m) {
		T_EQ_STR(m->subject, "Grüße aus München");
		/* headers[] keeps the raw value, unfolded */
		T_EQ_STR(message_header(m, "subject"),
		         "=?ISO-8859-1?Q?Gr=FC=DFe_aus?=  =?ISO-8859-1?Q?_M=FCnchen?=");
		T_OK(message_header(m, "X-Missing") == NULL);
	}
	message_free(m);
	m = parse("From: a@example.com\n\nno subject\n");
	if (m)
		T_EQ_STR(m->subject, "");
	message_free(m);
}

static void header_8bit(void)
{
	struct message *m = parse("From: J\xf6rg M\xfcller <joerg@example.de>\n"
	                          "Subject: Gr\xfc\xdf"
	                          "e\n"
	                          "To: Zo\xc3\xab <zoe@example.com>\n"
	                          "\n"
	                          "Hallo\n");
	if (m) {
		T_EQ_STR(m->subject, "Grüße"); /* not UTF-8: read as windows-1252 */
		T_EQ_STR(m->from.name, "Jörg Müller");
		T_EQ_STR(m->to.v[0].name, "Zoë"); /* valid UTF-8 stays */
		T_EQ_STR(message_header(m, "Subject"), "Grüße");
	}
	message_free(m);
}

static void addresses(void)
{
	struct message *m =
	    parse("From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>\n"
	          "To: \"Doe, John\" <john@example.com>, jane@example.com (Jane Roe),\n"
	          "  Team: anne@example.com, bob@example.com;, broken <carl@example.com\n"
	          "To: second@example.com\n"
	          "Cc: =?iso-8859-1?q?Andr=E9?= <andre@example.fr>\n"
	          "Reply-To: <support-reply@example.org>\n"
	          "Subject: addresses\n\nbody\n");
	if (m == NULL)
		return;
	T_EQ_STR(m->from.name, "Jörg Müller");
	T_EQ_STR(m->from.addr, "joerg@example.de");
	T_EQ_INT(m->to.n, 6);
	if (m->to.n == 6) {
		T_EQ_STR(m->to.v[0].name, "Doe, John");
		T_EQ_STR(m->to.v[0].addr, "john@example.com");
		T_EQ_STR(m->to.v[1].name, "Jane Roe");
		T_EQ_STR(m->to.v[1].addr, "jane@example.com");
		T_EQ_STR(m->to.v[2].addr, "anne@example.com");
		T_EQ_STR(m->to.v[3].addr, "bob@example.com");
		T_EQ_STR(m->to.v[4].name, "broken");
		T_EQ_STR(m->to.v[4].addr, "carl@example.com");
		T_EQ_STR(m->to.v[5].addr, "second@example.com");
	}
	T_EQ_INT(m->cc.n, 1);
	if (m->cc.n == 1)
		T_EQ_STR(m->cc.v[0].name, "André");
	T_EQ_INT(m->reply_to.n, 1);
	if (m->reply_to.n == 1) {
		T_OK(m->reply_to.v[0].name == NULL);
		T_EQ_STR(m->reply_to.v[0].addr, "support-reply@example.org");
	}
	message_free(m);
}

static void address_pipermail(void)
{
	struct message *m = parse("From: edd at debian.org (Dirk Eddelbuettel)\n"
	                          "Subject: [R-pkg-devel] Welcome all!\n\nHi\n");
	if (m) {
		T_EQ_STR(m->from.addr, "edd@debian.org");
		T_EQ_STR(m->from.name, "Dirk Eddelbuettel");
	}
	message_free(m);
	m = parse("From: vondruch at redhat.com (=?UTF-8?B?VsOtdCBPbmRydWNo?=)\n"
	          "Subject: x\n\nHi\n");
	if (m) {
		T_EQ_STR(m->from.addr, "vondruch@redhat.com");
		T_EQ_STR(m->from.name, "Vít Ondruch");
	}
	message_free(m);
	m = parse("From: meet at noon\nSubject: x\n\nHi\n"); /* not an address: no From */
	if (m) {
		T_EQ_STR(m->from.addr, "");
		T_OK(m->from.name == NULL);
		T_OK(has_warning(m, "unreadable address"));
	}
	message_free(m);
	/* the archive's own mangling ("at" as "@ending from", "a", "s", "." as "@"): the name stays */
	m = parse("From: mlevy79 @ending from gm@il@com (Michael Levy)\nSubject: x\n\nHi\n");
	if (m) {
		T_EQ_STR(m->from.addr, "");
		T_EQ_STR(m->from.name, "Michael Levy");
	}
	message_free(m);
}

static void address_broken(void)
{
	struct message *m = parse("From: Mail Delivery System <MAILER-DAEMON>\n"
	                          "To: Doe, John <john@example.com>, undisclosed-recipients:;\n"
	                          "Cc: Postmaster <>, =?utf-8?q?S=C3=B8ren?= <soren@example.dk\n"
	                          "Subject: x\n\nHi\n");
	if (m == NULL)
		return;
	T_EQ_STR(m->from.addr, "MAILER-DAEMON");
	T_EQ_STR(m->from.name, "Mail Delivery System");
	T_EQ_INT(m->to.n, 1); /* "Doe" alone is no address */
	if (m->to.n == 1)
		T_EQ_STR(m->to.v[0].addr, "john@example.com");
	T_EQ_INT(m->cc.n, 1);
	if (m->cc.n == 1) {
		T_EQ_STR(m->cc.v[0].name, "Søren");
		T_EQ_STR(m->cc.v[0].addr, "soren@example.dk");
	}
	T_OK(has_warning(m, "unreadable address"));
	message_free(m);
}

/* ---- Message-IDs ---- */

static void message_id_forms(void)
{
	static const struct {
		const char *header, *want;
	} cases[] = {
	    {"<1234.5678@mail.example.com>", "1234.5678@mail.example.com"},
	    {"  <abc@example.com>  (a comment)", "abc@example.com"},
	    {"(comment <not@this>) <real@example.com>", "real@example.com"},
	    {"junk before <id@example.com> junk after", "id@example.com"},
	    {"<id with\tspaces@example.com>", "idwithspaces@example.com"},
	    {"<( comment ) inner@example.com>", "inner@example.com"},
	    {"no-brackets@example.com", "no-brackets@example.com"},
	    {"<unterminated@example.com", "unterminated@example.com"},
	    /* notmuch rejects a one-character id and then uses the header as it is */
	    {"<a>", "<a>"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char raw[256];
		snprintf(raw, sizeof(raw), "From: a@example.com\nMessage-ID: %s\n\nbody\n",
		         cases[i].header);
		struct message *m = parse(raw);
		if (m) {
			T_EQ_STR(m->message_id, cases[i].want);
			T_OK(!m->message_id_synthetic);
		}
		message_free(m);
	}
}

static char *id_of(const char *raw)
{
	struct message *m = parse(raw);
	if (m == NULL)
		return xstrdup("");
	T_OK(m->message_id_synthetic);
	T_OK(has_warning(m, "no Message-ID"));
	char *id = xstrdup(m->message_id);
	message_free(m);
	return id;
}

static void message_id_synthetic(void)
{
	char *lf = id_of("From: a@example.com\nSubject: no id\nDate: Mon, 1 Jan 2024 10:00:00 "
	                 "+0000\n\nline one\nline two\n");
	char *crlf = id_of("From: a@example.com\r\nSubject: no id\r\nDate: Mon, 1 Jan 2024 "
	                   "10:00:00 +0000\r\n\r\nline one\r\nline two\r\n");
	char *traced =
	    id_of("Return-Path: <a@example.com>\nReceived: from mx by mx2; Mon, 1 Jan "
	          "2024\nDelivered-To: support@shop.example\nX-Spam-Score: 0.1\n"
	          "From: a@example.com\nSubject: no id\nDate: Mon, 1 Jan 2024 10:00:00 "
	          "+0000\nX-Original-To: support@shop.example\n\nline one\nline two\n\n");
	char *mbox = id_of("From a@example.com Mon Jan  1 10:00:00 2024\nFrom: a@example.com\n"
	                   "Subject: no id\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nline one\n"
	                   "line two\n");
	char *other = id_of("From: a@example.com\nSubject: no id\nDate: Mon, 1 Jan 2024 10:00:00 "
	                    "+0000\n\nline one\nline three\n");
	char *empty = id_of("From: a@example.com\nMessage-ID:   \nSubject: no id\nDate: Mon, 1 "
	                    "Jan 2024 10:00:00 +0000\n\nline one\nline two\n");
	T_EQ_INT(strlen(lf), 64 + strlen("@synthetic.tend"));
	T_OK(strchr(lf, '<') == NULL && strchr(lf, '>') == NULL);
	T_OK(strstr(lf, "@synthetic.tend") != NULL);
	T_EQ_STR(crlf, lf);
	T_EQ_STR(traced, lf);
	T_EQ_STR(mbox, lf);
	T_EQ_STR(empty, lf);
	T_OK(strcmp(other, lf) != 0);
	char *direct = message_synthetic_id("From: a@example.com\r\nSubject: no id\r\nDate: Mon, "
	                                    "1 Jan 2024 10:00:00 +0000\r\n\r\nline one\r\nline "
	                                    "two\r\n",
	                                    strlen("From: a@example.com\r\nSubject: no id\r\nDate: "
	                                           "Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nline "
	                                           "one\r\nline two\r\n"));
	T_EQ_STR(direct, lf);
	free(direct);
	free(lf);
	free(crlf);
	free(traced);
	free(mbox);
	free(other);
	free(empty);
}

static void id_lists(void)
{
	struct strvec v = STRVEC_INIT;
	message_parse_id_list("<a@x> <b@y>\n <a@x> some junk <> <c @ z>\t<d\t@w> <e", &v);
	T_EQ_INT(v.n, 5);
	if (v.n == 5) {
		T_EQ_STR(v.v[0], "a@x");
		T_EQ_STR(v.v[1], "b@y");
		T_EQ_STR(v.v[2], "c@z");
		T_EQ_STR(v.v[3], "d@w");
		T_EQ_STR(v.v[4], "e");
	}
	strvec_free(&v);
	message_parse_id_list("Other person's message of Saturday, 7 April 2007 00:53:46 +0300 "
	                      "<200704070053.46646.other.person@example.com>",
	                      &v);
	T_EQ_INT(v.n, 1);
	if (v.n == 1)
		T_EQ_STR(v.v[0], "200704070053.46646.other.person@example.com");
	strvec_free(&v);
	message_parse_id_list("no ids here", &v);
	message_parse_id_list("", &v);
	message_parse_id_list(NULL, &v);
	T_EQ_INT(v.n, 0);
	strvec_free(&v);

	struct message *m = parse("From: a@example.com\n"
	                          "Message-ID: <self@example.com>\n"
	                          "In-Reply-To: <parent@example.com> (sent Monday)\n"
	                          "References: <root@example.com>\n"
	                          "  <self@example.com> <parent@example.com>\n"
	                          "\n"
	                          "reply\n");
	if (m) {
		T_EQ_INT(m->references.n, 2);
		T_OK(!strvec_contains(&m->references, "self@example.com"));
		T_EQ_STR(m->references.v[0], "root@example.com");
		T_EQ_STR(m->references.v[1], "parent@example.com");
		T_EQ_INT(m->in_reply_to.n, 1);
		T_EQ_STR(m->in_reply_to.v[0], "parent@example.com");
	}
	message_free(m);
	m = parse("From: a@example.com\nMessage-ID: <loop@example.com>\n"
	          "In-Reply-To: <loop@example.com>\n\nreply\n");
	if (m)
		T_EQ_INT(m->in_reply_to.n, 0);
	message_free(m);
}

/* ---- dates ---- */

static void dates(void)
{
	static const struct {
		const char *value;
		int64_t t;
		int offset;
	} cases[] = {
	    {"Fri, 22 May 2015 06:38:22 -0500", 1432294702, -300},
	    {"22 May 2015 11:38:22 +0000", 1432294702, 0},
	    {"Fri, 22 May 2015 17:08:22 +0530 (IST)", 1432294702, 330},
	    {"Fri, 22 May 15 11:38:22 GMT", 1432294702, 0},
	    {"Fri, 22 May 2015 07:38:22 EDT", 1432294702, -240},
	    {"Fri May 22 11:38:22 2015", 1432294702, 0},
	    {"2015-05-22T13:38:22+0200", 1432294702, 120},
	    {"Friday, 22 May 2015 11:38:22 +0000", 1432294702, 0},
	    {"Fr, 22 Mai 2015 13:38:22 +0200", 1432294702, 120},
	    {"Wed, 19 Jun 96 18:12 MES", 835207920, 0}, /* unknown zone: UTC */
	    {"Tue, 30 Nov 1999 23:56:33 -3000 (CST)", 944006193, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char raw[256];
		snprintf(raw, sizeof(raw), "From: a@example.com\nDate: %s\n\nbody\n",
		         cases[i].value);
		struct message *m = parse(raw);
		if (m) {
			if (m->date != cases[i].t)
				T_FAIL("Date: %s", cases[i].value);
			T_EQ_INT(m->date, cases[i].t);
			T_EQ_INT(m->date_offset, cases[i].offset);
		}
		message_free(m);
	}
}

static void dates_broken(void)
{
	static const char *const bad[] = {"yesterday", "Fri, 32 May 2015 10:00:00 +0000",
	                                  "Fri, 22 Foo 2015 10:00:00 +0000", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char raw[256];
		snprintf(raw, sizeof(raw), "From: a@example.com\nDate: %s\n\nbody\n", bad[i]);
		struct message *m = parse(raw);
		if (m) {
			T_EQ_INT(m->date, 0);
			T_OK(has_warning(m, "Date"));
		}
		message_free(m);
	}
	struct message *m = parse("From: a@example.com\n\nno date\n");
	if (m) {
		T_EQ_INT(m->date, 0);
		T_OK(has_warning(m, "no Date"));
	}
	message_free(m);
	m = parse("From: a@example.com\nDate: Tue, 30 Nov 1999 23:56:33 -3000\n\nx\n");
	if (m)
		T_OK(has_warning(m, "zone"));
	message_free(m);
}

/* ---- text ---- */

static void text_quoted_printable_german(void)
{
	struct message *m =
	    parse("From: kunde@example.de\n"
	          "Subject: =?iso-8859-1?q?R=FCckerstattung?=\n"
	          "MIME-Version: 1.0\n"
	          "Content-Type: text/plain; charset=iso-8859-1\n"
	          "Content-Transfer-Encoding: quoted-printable\n"
	          "\n"
	          "Guten Tag,\n"
	          "ich m=F6chte eine R=FCckerstattung f=FCr Bestellung 4711. Die Ware ist =\n"
	          "besch=E4digt.\n"
	          "\n"
	          "Mit freundlichen Gr=FC=DFen\n");
	if (m) {
		T_EQ_STR(m->subject, "Rückerstattung");
		T_CONTAINS(m->text, "ich möchte eine Rückerstattung für Bestellung 4711. Die Ware "
		                    "ist beschädigt.");
		T_CONTAINS(m->text, "Mit freundlichen Grüßen");
		T_OK(!m->text_from_html);
		T_EQ_INT(m->nattachments, 0);
	}
	message_free(m);
}

static void text_base64_utf8_and_charsets(void)
{
	struct message *m = parse("From: a@example.com\n"
	                          "Content-Type: text/plain; charset=\"UTF-8\"\n"
	                          "Content-Transfer-Encoding: base64\n"
	                          "\n"
	                          "w4RwZmVsIHVuZCBCaXJuZW4K\n");
	if (m)
		T_EQ_STR(m->text, "Äpfel und Birnen");
	message_free(m);
	/* us-ascii with 8-bit bytes: windows-1252 unless they are valid UTF-8 */
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=us-ascii\n\n"
	          "caf\xe9 \x93quoted\x94\n");
	if (m)
		T_EQ_STR(m->text, "café “quoted”");
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=us-ascii\n\n"
	          "caf\xc3\xa9\n");
	if (m)
		T_EQ_STR(m->text, "café");
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=x-unknown\n\n"
	          "na\xefve\n");
	if (m)
		T_EQ_STR(m->text, "naïve");
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=ks_c_5601-1987\n\n"
	          "\xbe\xc8\xb3\xe7\n");
	if (m)
		T_EQ_STR(m->text, "안녕");
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=iso-0646-6\n\n"
	          "Gr\xfc\xdf"
	          "e\n");
	if (m) {
		T_EQ_STR(m->text, "Grüße");
		T_OK(has_warning(m, "unknown charset"));
	}
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\n"
	          "valid \xc3\xa9 and stray \xe9 byte\n");
	if (m)
		T_EQ_STR(m->text, "valid é and stray é byte");
	message_free(m);
}

static void text_html_only(void)
{
	struct message *m =
	    parse("From: a@example.com\n"
	          "Content-Type: text/html; charset=utf-8\n"
	          "\n"
	          "<html><head><title>Shop</title><style>p {color: red}</style>"
	          "<script>alert('x')</script></head>\n"
	          "<body><p>Hello&nbsp;there,</p><p>I would like a <b>refund</b>   for\n"
	          "order&nbsp;#4711 &amp; #4712.</p>\n"
	          "<ul><li>first item</li><li>second item</li></ul>\n"
	          "<p>See <a href=\"https://shop.example/orders/4711\">my order</a> or "
	          "<a href=\"https://shop.example\">https://shop.example</a>.<br>Thanks</p>\n"
	          "<blockquote><p>Your order has shipped.</p></blockquote>\n"
	          "</body></html>\n");
	if (m == NULL)
		return;
	T_OK(m->text_from_html);
	T_CONTAINS(m->text, "Hello there,\n\nI would like a refund for order #4711 & #4712.");
	T_CONTAINS(m->text, "- first item\n- second item");
	T_CONTAINS(m->text, "See my order <https://shop.example/orders/4711> or "
	                    "https://shop.example.\nThanks");
	T_CONTAINS(m->text, "Thanks\n\n> Your order has shipped.");
	T_OK(strstr(m->text, "alert") == NULL && strstr(m->text, "color") == NULL &&
	     strstr(m->text, "Shop") == NULL);
	T_OK(strstr(m->new_text, "shipped") == NULL);
	T_CONTAINS(m->new_text, "refund");
	message_free(m);
}

static void html_to_text_direct(void)
{
	static const struct {
		const char *html, *want;
	} cases[] = {
	    {"<p>one</p><p>two</p>", "one\n\ntwo"},
	    {"a<br>b<br><br>c", "a\nb\n\nc"},
	    {"<div>x</div><div>y</div>", "x\ny"},
	    {"<pre>  keep\n    this</pre>", "  keep\n    this"},
	    {"<a href=\"mailto:a@example.com\">a@example.com</a>", "a@example.com"},
	    {"<table><tr><td>Order</td><td>4711</td></tr><tr><td>Total</td><td>10</td></tr>"
	     "</table>",
	     "Order 4711\nTotal 10"},
	    {"<blockquote>outer<blockquote>inner</blockquote></blockquote>after",
	     "> outer\n> > inner\nafter"},
	    {"caf&eacute; &lt;tag&gt; &#8364;", "café <tag> €"},
	    {"<p>unclosed <b>bold <i>italic", "unclosed bold italic"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = message_html_to_text(cases[i].html, strlen(cases[i].html));
		T_EQ_STR(s, cases[i].want);
		free(s);
	}
}

/* Deep HTML must not recurse anywhere: 200,000 nested elements. */
static void html_deep(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 100000; i++)
		buf_puts(&b, "<div><blockquote>");
	buf_puts(&b, "deep words");
	char *s = message_html_to_text(b.data, b.len);
	T_OK(s != NULL);
	free(s);
	buf_free(&b);
}

/* A multipart/alternative message whose text/plain part is plain (a string literal). */
#define ALTERNATIVE(plain)                                                                         \
	"From: a@example.com\n"                                                                    \
	"Subject: alt\n"                                                                           \
	"MIME-Version: 1.0\n"                                                                      \
	"Content-Type: multipart/alternative; boundary=\"ALT\"\n"                                  \
	"\n"                                                                                       \
	"preamble is not text\n"                                                                   \
	"--ALT\n"                                                                                  \
	"Content-Type: text/plain; charset=utf-8\n"                                                \
	"\n" plain "\n"                                                                            \
	"--ALT\n"                                                                                  \
	"Content-Type: text/html; charset=utf-8\n"                                                 \
	"\n"                                                                                       \
	"<p>The <i>HTML</i> version</p>\n"                                                         \
	"--ALT--\n"                                                                                \
	"epilogue is not text\n"

static void text_alternative(void)
{
	struct message *m = parse(ALTERNATIVE("The plain version"));
	if (m) {
		T_EQ_STR(m->text, "The plain version");
		T_OK(!m->text_from_html);
		T_EQ_INT(m->nattachments, 0);
	}
	message_free(m);
	m = parse(ALTERNATIVE("  \n"));
	if (m) {
		T_EQ_STR(m->text, "The HTML version");
		T_OK(m->text_from_html);
	}
	message_free(m);
}

static void text_mixed_and_attachments(void)
{
	struct message *m =
	    parse("From: a@example.com\n"
	          "Subject: invoice\n"
	          "Content-Type: multipart/mixed; boundary=\"=-outer\"\n"
	          "\n"
	          "--=-outer\n"
	          "Content-Type: multipart/alternative; boundary=\"=-outer-1\"\n"
	          "\n"
	          "--=-outer-1\n"
	          "Content-Type: text/plain\n"
	          "\n"
	          "Please find the invoice attached.\n"
	          "--=-outer-1\n"
	          "Content-Type: text/html\n"
	          "\n"
	          "<p>Please find the invoice attached.</p>\n"
	          "--=-outer-1--\n"
	          "--=-outer\n"
	          "Content-Type: application/pdf; name=\"ignored.pdf\"\n"
	          "Content-Disposition: attachment;\n"
	          " filename*=UTF-8''%E2%82%AC%20rates%20f%C3%BCr%202024.pdf\n"
	          "Content-Transfer-Encoding: base64\n"
	          "\n"
	          "JVBERi0xLjQgZmFrZSBwZGYgY29udGVudCBoZXJlCiVQREYtMS40IGZha2UgcGRmIGNvbnRlbnQg\n"
	          "aGVyZQolUERGLTEuNCBmYWtlIHBkZiBjb250ZW50IGhlcmUK\n"
	          "--=-outer\n"
	          "Content-Type: text/plain; charset=utf-8\n"
	          "Content-Disposition: inline\n"
	          "\n"
	          "A second inline note.\n"
	          "--=-outer\n"
	          "Content-Type: IMAGE/PNG\n"
	          "Content-Disposition: inline; filename*0*=iso-8859-1''Gr%FC%DF;\n"
	          "  filename*1=\"e.png\"\n"
	          "\n"
	          "PNGDATA\n"
	          "--=-outer\n"
	          "Content-Type: text/csv; name=\"=?utf-8?q?Bestellungen_M=C3=A4rz.csv?=\"\n"
	          "\n"
	          "id,total\n"
	          "--=-outer\n"
	          "Content-Type: text/plain; name=notes.txt\n"
	          "Content-Disposition: attachment\n"
	          "Content-Transfer-Encoding: quoted-printable\n"
	          "\n"
	          "caf=C3=A9\n"
	          "--=-outer--\n");
	if (m == NULL)
		return;
	T_EQ_STR(m->text, "Please find the invoice attached.\n\nA second inline note.");
	T_EQ_INT(m->nattachments, 4);
	if (m->nattachments == 4) {
		T_EQ_STR(m->attachments[0].filename, "€ rates für 2024.pdf");
		T_EQ_STR(m->attachments[0].content_type, "application/pdf");
		T_EQ_INT(m->attachments[0].size, 93);
		T_EQ_STR(m->attachments[1].filename, "Grüße.png");
		T_EQ_STR(m->attachments[1].content_type, "image/png");
		T_EQ_INT(m->attachments[1].size, 7);
		T_EQ_STR(m->attachments[2].filename, "Bestellungen März.csv");
		T_EQ_STR(m->attachments[2].content_type, "text/csv");
		T_EQ_STR(m->attachments[3].filename, "notes.txt");
		T_EQ_INT(m->attachments[3].size, 5);
	}
	message_free(m);
}

static void forwarded_only(void)
{
	struct message *m = parse("From: agent@example.com\n"
	                          "Subject: Fwd: refund\n"
	                          "Content-Type: multipart/mixed; boundary=b\n"
	                          "\n"
	                          "--b\n"
	                          "Content-Type: message/rfc822\n"
	                          "Content-Disposition: attachment\n"
	                          "\n"
	                          "From: =?utf-8?q?Kunde_M=C3=BCller?= <kunde@example.de>\n"
	                          "Subject: Refund please\n"
	                          "Date: Mon, 1 Jan 2024 10:00:00 +0100\n"
	                          "\n"
	                          "I want my money back.\n"
	                          "--b--\n");
	if (m) {
		T_CONTAINS(m->text, "From: Kunde Müller <kunde@example.de>");
		T_CONTAINS(m->text, "Subject: Refund please");
		T_CONTAINS(m->text, "I want my money back.");
		T_CONTAINS(m->new_text, "I want my money back.");
		T_EQ_INT(m->nattachments, 1);
		if (m->nattachments == 1)
			T_EQ_STR(m->attachments[0].content_type, "message/rfc822");
	}
	message_free(m);
	/* a whole message that is a base64-encoded message/rfc822 */
	m = parse("From: a@example.com\nContent-Type: message/rfc822\n"
	          "Content-Transfer-Encoding: base64\n\n"
	          "U3ViamVjdDogaW5uZXIKCmlubmVyIGJvZHkK\n");
	if (m) {
		T_CONTAINS(m->text, "Subject: inner");
		T_CONTAINS(m->text, "inner body");
	}
	message_free(m);
}

static void delivery_report(void)
{
	struct message *m =
	    parse("From: MAILER-DAEMON@mx.example.com\n"
	          "Subject: Undelivered Mail Returned to Sender\n"
	          "Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n"
	          "\n"
	          "--R\n"
	          "Content-Type: text/plain\n"
	          "\n"
	          "I'm sorry to have to inform you that your message could not be delivered.\n"
	          "--R\n"
	          "Content-Type: message/delivery-status\n"
	          "\n"
	          "Reporting-MTA: dns; mx.example.com\n"
	          "\n"
	          "Final-Recipient: rfc822; gone@example.org\n"
	          "Action: failed\n"
	          "--R\n"
	          "Content-Type: message/rfc822\n"
	          "\n"
	          "From: support@shop.example\n"
	          "Subject: Your order\n"
	          "\n"
	          "original text that must not show\n"
	          "--R--\n");
	if (m) {
		T_OK(m->is_report);
		T_CONTAINS(m->text, "could not be delivered");
		T_OK(strstr(m->text, "original text") == NULL);
		T_EQ_STR(m->from.addr, "MAILER-DAEMON@mx.example.com");
	}
	message_free(m);
	m = parse("From: a@example.com\n\nplain\n");
	if (m)
		T_OK(!m->is_report);
	message_free(m);
}

/* ---- new text ---- */

static void new_text_gmail(void)
{
	char *s =
	    message_new_text("Hi,\n\nI still have not received my refund.\n\n"
	                     "On Mon, 1 Jan 2024 at 10:00, Shop Support <support@shop.example> "
	                     "wrote:\n\n> Thanks for your order.\n> We will ship soon.\n>\n");
	T_EQ_STR(s, "Hi,\n\nI still have not received my refund.");
	free(s);
	/* attribution wrapped over two lines */
	s = message_new_text("Thanks, that works.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Shop Support "
	                     "<\nsupport@shop.example> wrote:\n> Try this.\n");
	T_EQ_STR(s, "Thanks, that works.");
	free(s);
	s = message_new_text("Thanks, that works.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Shop Support "
	                     "<support@shop.example>\nwrote:\n\n> Try this.\n");
	T_EQ_STR(s, "Thanks, that works.");
	free(s);
	/* interleaved answers keep every answer */
	s = message_new_text("> Which order?\n4711\n> Which item?\nThe blue one\n");
	T_EQ_STR(s, "4711\nThe blue one");
	free(s);
}

static void new_text_outlook(void)
{
	char *s = message_new_text("Please cancel.\r\n\r\n-----Original Message-----\r\n"
	                           "From: Shop <support@shop.example>\r\nSent: Monday\r\n\r\n"
	                           "Your order\r\n");
	T_EQ_STR(s, "Please cancel.");
	free(s);
	s = message_new_text("Please cancel.\n\n________________________________\n"
	                     "From: Shop Support <support@shop.example>\n"
	                     "Sent: Monday, January 1, 2024 10:00 AM\nTo: Me\n"
	                     "Subject: Your order\n\nYour order shipped.\n");
	T_EQ_STR(s, "Please cancel.");
	free(s);
	s = message_new_text("See below.\n\n-------- Forwarded Message --------\nSubject: x\n\n"
	                     "forwarded text\n");
	T_EQ_STR(s, "See below.");
	free(s);
	s = message_new_text("Looks good.\n\n*From:* Shop <support@shop.example>\n*Sent:* "
	                     "Monday\n*To:* me\n");
	T_EQ_STR(s, "Looks good.");
	free(s);
}

static void new_text_german_french(void)
{
	char *s = message_new_text("Hallo,\nwo bleibt meine Erstattung?\n\nAm 01.01.2024 um 10:00 "
	                           "schrieb Shop Support <support@shop.example>:\n> Vielen Dank\n");
	T_EQ_STR(s, "Hallo,\nwo bleibt meine Erstattung?");
	free(s);
	s = message_new_text("Bitte stornieren.\n\n-----Ursprüngliche Nachricht-----\nVon: Shop\n"
	                     "Gesendet: Montag\n\nIhre Bestellung\n");
	T_EQ_STR(s, "Bitte stornieren.");
	free(s);
	s = message_new_text("Bitte stornieren.\n\nVon: Shop Support <support@shop.example>\n"
	                     "Gesendet: Montag, 1. Januar 2024 10:00\nAn: Kunde\n\nText\n");
	T_EQ_STR(s, "Bitte stornieren.");
	free(s);
	s = message_new_text(
	    "Merci.\n\nLe lun. 1 janv. 2024 à 10:00, Shop <support@shop.example> a "
	    "écrit :\n> Bonjour\n");
	T_EQ_STR(s, "Merci.");
	free(s);
	s = message_new_text("Dank je.\n\nOp ma 1 jan. 2024 om 10:00 schreef Shop "
	                     "<support@shop.example>:\n> Hallo\n");
	T_EQ_STR(s, "Dank je.");
	free(s);
}

static void new_text_signature_and_fallbacks(void)
{
	char *s = message_new_text("Where is my parcel?\n\n-- \nJohn Doe\nACME Corp\n");
	T_EQ_STR(s, "Where is my parcel?");
	free(s);
	s = message_new_text("Where is my parcel?\n--\nJohn\n\n\n");
	T_EQ_STR(s, "Where is my parcel?");
	free(s);
	/* nothing before the marker: the forwarded words are the message */
	s = message_new_text("---------- Forwarded message ---------\nFrom: X\n\nRefund please\n");
	T_CONTAINS(s, "Refund please");
	free(s);
	s = message_new_text("-- \nonly a signature\n");
	T_CONTAINS(s, "only a signature");
	free(s);
	s = message_new_text("On Mon, X wrote:\n> quoted only\n");
	T_EQ_STR(s, "On Mon, X wrote:");
	free(s);
	s = message_new_text("> all\n> quoted\n");
	T_EQ_STR(s, "");
	free(s);
	s = message_new_text("");
	T_EQ_STR(s, "");
	free(s);
	/* "wrote:" in the customer's own words, not before a quote, stays */
	s = message_new_text("My colleague wrote:\nthe parcel is lost\n");
	T_EQ_STR(s, "My colleague wrote:\nthe parcel is lost");
	free(s);
}

static void new_text_in_message(void)
{
	struct message *m = parse("From: a@example.com\nSubject: Re: order\n\n"
	                          "Still waiting.\n\nOn Tue, Shop wrote:\n> Soon.\n");
	if (m) {
		T_EQ_STR(m->new_text, "Still waiting.");
		T_CONTAINS(m->text, "> Soon.");
	}
	message_free(m);
}

static void normalize_subject(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"Re: Refund", "refund"},
	    {"RE: Fwd: AW:  Refund   request", "refund request"},
	    {"[R-pkg-devel] Re: [#42] Refund", "refund"},
	    {"Re[2]: SV: Antw: WG: order 4711", "order 4711"},
	    {"Fw: Ärger mit Bestellung", "ärger mit bestellung"},
	    {"Refund (fwd)", "refund"},
	    {"R: a language", "r: a language"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = message_normalize_subject(cases[i].in);
		T_EQ_STR(s, cases[i].want);
		free(s);
	}
}

/* ---- broken mail ---- */

static void line_ends_and_nul(void)
{
	const char *lf = "From: a@example.com\nSubject: line\n ends\n"
	                 "Content-Type: multipart/mixed; boundary=x\n\n--x\n\nfirst\n--x\n"
	                 "Content-Type: text/plain\n\nsecond\n--x--\n";
	const char *crlf = "From: a@example.com\r\nSubject: line\r\n ends\r\n"
	                   "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nfirst\r\n"
	                   "--x\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--x--\r\n";
	struct message *a = parse(lf), *b = parse(crlf);
	if (a && b) {
		T_EQ_STR(a->subject, "line ends");
		T_EQ_STR(b->subject, a->subject);
		T_EQ_STR(a->text, "first\n\nsecond");
		T_EQ_STR(b->text, a->text);
		T_EQ_STR(b->message_id, a->message_id);
	}
	message_free(a);
	message_free(b);
	static const char nul[] = "From: a@example.com\nSubject: nul\0byte\n\nbody\0with nul\n";
	struct message *m = NULL;
	char *reason = NULL;
	T_EQ_INT(message_parse(nul, sizeof(nul) - 1, NULL, &m, &reason), 0);
	if (m) {
		T_EQ_STR(m->subject, "nul byte");
		T_EQ_STR(m->text, "body with nul");
		T_OK(has_warning(m, "NUL"));
	}
	message_free(m);
	free(reason);
}

/* Escape sequences a terminal would obey are not text: removed wherever they come from. */
static void control_characters(void)
{
	struct message *m = parse(
	    "From: \"\x1b]52;c;eA==\x07"
	    "Anna =?utf-8?q?=1B[8mEvil?=\" <anna@example.com>\n"
	    "To: =?iso-8859-2?q?Bob=9B2J?= <bob\x1b@example.com>\n"
	    "Subject: Refund \x1b[8mnow =?utf-8?q?line=0D=0Abreak=C2=9B31m?= \x9b x\n"
	    "Date: soon\x1b[2J\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n"
	    "--b\nContent-Type: text/plain; charset=utf-8\n\n"
	    "one\x1b]8;;http://evil\x1b\\link\r\ntwo\rthree \xc2\x9b"
	    "2J\x07\tend\n"
	    "--b\nContent-Type: text/html\n\n<p>html &#27;[8m &#155;2J</p>\n"
	    "--b\nContent-Type: message/rfc822\n\n"
	    "From: Fwd \x1b[8mName <f@example.com>\nSubject: =?utf-8?q?fwd=07=C2=9Bx?=\n\nbody\n"
	    "--b\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename=\"a\x1b[8m.pdf\"\n\nx\n"
	    "--b\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename*=utf-8''b%1B%C2%9B.pdf\n\nx\n"
	    "--b--\n");
	if (m == NULL)
		return;
	T_EQ_STR(m->subject, "Refund [8mnow line break31m \xe2\x80\xba x");
	T_EQ_STR(m->from.name, "]52;c;eA==Anna [8mEvil");
	T_EQ_INT(m->to.n, 1);
	if (m->to.n == 1) {
		T_EQ_STR(m->to.v[0].name, "Bob2J");
		T_EQ_STR(m->to.v[0].addr, "bob@example.com");
	}
	T_EQ_STR(m->text, "one]8;;http://evil\\link\ntwo\nthree 2J\tend\n\n"
	                  "html [8m 2J\n\n"
	                  "-------- Forwarded Message --------\n"
	                  "Subject: fwdx\nFrom: Fwd [8mName <f@example.com>\n\nbody");
	T_EQ_INT(m->nattachments, 2);
	if (m->nattachments == 2) {
		T_EQ_STR(m->attachments[0].filename, "a[8m.pdf");
		T_EQ_STR(m->attachments[1].filename, "b.pdf");
	}
	T_OK(has_warning(m, "unreadable Date \"soon[2J\""));
	message_free(m);
}

static void broken_structure(void)
{
	struct message *m =
	    parse("From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
	          "--b\n\nfirst part\n--b\nContent-Type: text/plain\n\nlast part, "
	          "no final boundary\n");
	if (m) {
		T_EQ_STR(m->text, "first part\n\nlast part, no final boundary");
		T_OK(has_warning(m, "final delimiter"));
	}
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: multipart/alternative\n\n"
	          "--guess\nContent-Type: text/plain\n\nguessed boundary\n--guess--\n");
	if (m) {
		T_EQ_STR(m->text, "guessed boundary");
		T_OK(has_warning(m, "without boundary parameter"));
	}
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: multipart/mixed; boundary=nowhere\n\n"
	          "no delimiter at all\n");
	if (m)
		T_EQ_STR(m->text, "no delimiter at all");
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: text\nContent-Transfer-Encoding: "
	          "quoted-printable\n\nsum=ZZ 1+1=3D2 =\ncontinued\n");
	if (m) {
		T_EQ_STR(m->text, "sum=ZZ 1+1=2 continued");
		T_OK(has_warning(m, "quoted-printable"));
	}
	message_free(m);
	m = parse("From: a@example.com\nContent-Type: ;;; garbage\nContent-Transfer-Encoding: "
	          "x-unknown\n\nstill readable\n");
	if (m)
		T_EQ_STR(m->text, "still readable");
	message_free(m);
}

static void broken_headers(void)
{
	struct message *m = parse("\xef\xbb\xbf"
	                          "From sender@example.com Mon Jan  1 10:00:00 2024\n"
	                          "   stray continuation\n"
	                          "From: a@example.com\n"
	                          "Subject : spaced colon\n"
	                          "Bad\xfcName: dropped\n"
	                          "X-Folded: one\n"
	                          "   \n"
	                          "  two\n"
	                          "\n"
	                          "body\n");
	if (m) {
		T_EQ_STR(m->from.addr, "a@example.com");
		T_EQ_STR(m->subject, "spaced colon");
		T_EQ_STR(message_header(m, "X-Folded"), "one     two");
		T_EQ_INT(m->nheaders, 3);
		T_EQ_STR(m->text, "body");
	}
	message_free(m);
	/* a line that is no header field starts the body: nothing the sender wrote is lost */
	m = parse("From: a@example.com\nSubject: no blank line\nHello, this is the body.\n"
	          "Second line\n");
	if (m)
		T_EQ_STR(m->text, "Hello, this is the body.\nSecond line");
	message_free(m);
	m = parse("From: a@example.com\nSubject: headers only");
	if (m)
		T_EQ_STR(m->text, "");
	message_free(m);
}

static void refused(void)
{
	char *r = refusal("", 0, NULL);
	T_CONTAINS(r, "empty");
	free(r);
	r = refusal("just some text\nwithout headers\n", 31, NULL);
	T_CONTAINS(r, "no header block");
	free(r);
	r = refusal("\nFrom: a@example.com\n", 21, NULL);
	T_OK(r == NULL); /* leading blank lines are skipped */
	free(r);
	r = refusal("Note: a fragment of a mis-split mbox\n\ntext\n", 43, NULL);
	T_CONTAINS(r, "no From, To, Subject, Date, Message-ID or MIME field");
	free(r);
}

/* ---- limits ---- */

static char *nested_multiparts(size_t levels)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; "
	             "boundary=0\n\n");
	for (size_t i = 0; i < levels; i++)
		buf_printf(&b, "--%zx\nContent-Type: multipart/mixed; boundary=%zx\n\n", i, i + 1);
	buf_puts(&b, "--end\n\ntext at the bottom\n");
	return buf_steal(&b);
}

static void limit_depth(void)
{
	char *raw = nested_multiparts(100000);
	char *r = refusal(raw, strlen(raw), NULL);
	T_CONTAINS(r, "MIME nesting deeper than 32 levels");
	free(r);
	free(raw);
	/* deep but allowed: every walk over the tree keeps its own stack */
	raw = nested_multiparts(1000);
	struct message_limits lim = {1 << 20, 100, 5000, 10000, 0};
	struct message *m = NULL;
	T_EQ_INT(message_parse(raw, strlen(raw), &lim, &m, &r), 0);
	message_free(m);
	free(raw);
}

static void limit_headers(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "From: a@example.com\n");
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, "X-Spam: yes\n");
	buf_puts(&b, "\nbody\n");
	char *r = refusal(b.data, b.len, NULL);
	T_EQ_STR(r, "more than 1000 header fields");
	free(r);
	buf_free(&b);
	struct message_limits lim = message_default_limits;
	lim.max_headers = 3;
	const char *three = "From: a@example.com\nTo: b@example.com\nSubject: s\n\nbody\n";
	r = refusal(three, strlen(three), &lim);
	T_OK(r == NULL);
	const char *part = "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
	                   "Content-Type: text/plain\nA: 1\nB: 2\nC: 3\n\ntext\n--b--\n";
	r = refusal(part, strlen(part), &lim);
	T_EQ_STR(r, "a MIME part has more than 3 header fields");
	free(r);
}

/* libetpan parses comments recursively: 200,000 nested parentheses in every structured field. */
static void hostile_comments(void)
{
	struct buf nest = BUF_INIT, raw = BUF_INIT;
	for (int i = 0; i < 200000; i++)
		buf_putc(&nest, '(');
	for (int i = 0; i < 200000; i++)
		buf_putc(&nest, ')');
	buf_printf(&raw, "From: %s Jane <jane@example.com> %s\n", nest.data, nest.data);
	buf_printf(&raw, "To: %s bob@example.com\n", nest.data);
	buf_printf(&raw, "Date: %s Fri, 22 May 2015 06:38:22 -0500 %s\n", nest.data, nest.data);
	buf_printf(&raw, "Message-ID: %s <deep@example.com>\n", nest.data);
	buf_printf(&raw, "Content-Type: text/plain %s; charset=utf-8\n", nest.data);
	buf_printf(&raw, "Content-Transfer-Encoding: %s 8bit\n", nest.data);
	buf_printf(&raw, "Content-Disposition: inline %s\n\nbody\n", nest.data);
	struct message *m = parse(raw.data);
	if (m) {
		T_EQ_STR(m->from.addr, "jane@example.com");
		T_EQ_STR(m->message_id, "deep@example.com");
		T_EQ_INT(m->date, 1432294702);
		T_EQ_STR(m->text, "body");
	}
	message_free(m);
	buf_free(&nest);
	buf_free(&raw);
}

static void limit_size_and_parts(void)
{
	struct message_limits lim = message_default_limits;
	const char *raw = "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
	                  "--b\n\none\n--b\n\ntwo\n--b\n\nthree\n--b--\n";
	lim.max_size = strlen(raw) - 1;
	char *r = refusal(raw, strlen(raw), &lim);
	T_CONTAINS(r, "over the limit");
	free(r);
	lim.max_size = strlen(raw);
	lim.max_parts = 3;
	r = refusal(raw, strlen(raw), &lim);
	T_EQ_STR(r, "more than 3 MIME parts");
	free(r);
	lim.max_parts = 4;
	r = refusal(raw, strlen(raw), &lim);
	T_OK(r == NULL);
	T_OK(message_default_limits.max_depth >= 8 && message_default_limits.max_parts >= 100);
	message_free(NULL);
}

/* An address list a person typed: read as mail is, but nothing guessed or skipped. */
static void addresses_typed(void)
{
	struct message_addrs as = {0};
	char *bad = NULL;
	T_EQ_INT(message_addrs_read("\"Doe, Jane\" <jane@example.org>, bob@example.net; "
	                            "Anna (home) <anna@example.com>",
	                            &as, &bad),
	         0);
	T_EQ_INT(as.n, 3);
	if (as.n == 3) {
		T_EQ_STR(as.v[0].name, "Doe, Jane");
		T_EQ_STR(as.v[1].addr, "bob@example.net");
		T_EQ_STR(as.v[2].addr, "anna@example.com");
	}
	message_addrs_free(&as);
	const char *refused[][2] = {
	    {"a@example.org, user at example.org", "user at example.org"},
	    {"Jane <jane@exa mple.org>", "Jane <jane@exa mple.org>"},
	    {"friends: a@example.org;", "friends: a@example.org"},
	    {"a@example.org b@example.org", "a@example.org b@example.org"},
	    {"jane@", "jane@"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		T_EQ_INT(message_addrs_read(refused[i][0], &as, &bad), -1);
		T_EQ_STR(bad, refused[i][1]);
		free(bad);
		message_addrs_free(&as);
	}
	T_EQ_INT(message_addrs_read("", &as, &bad), 0);
	T_EQ_INT(as.n, 0);
}

T_MAIN(T_CASE(addresses_typed), T_CASE(subject_encoded_words), T_CASE(subject_from_message),
       T_CASE(header_8bit), T_CASE(addresses), T_CASE(address_pipermail), T_CASE(address_broken),
       T_CASE(message_id_forms), T_CASE(message_id_synthetic), T_CASE(id_lists), T_CASE(dates),
       T_CASE(dates_broken), T_CASE(text_quoted_printable_german),
       T_CASE(text_base64_utf8_and_charsets), T_CASE(text_html_only), T_CASE(html_to_text_direct),
       T_CASE(html_deep), T_CASE(text_alternative), T_CASE(text_mixed_and_attachments),
       T_CASE(forwarded_only), T_CASE(delivery_report), T_CASE(new_text_gmail),
       T_CASE(new_text_outlook), T_CASE(new_text_german_french),
       T_CASE(new_text_signature_and_fallbacks), T_CASE(new_text_in_message),
       T_CASE(normalize_subject), T_CASE(line_ends_and_nul), T_CASE(control_characters),
       T_CASE(broken_structure), T_CASE(broken_headers), T_CASE(refused), T_CASE(limit_depth),
       T_CASE(limit_headers), T_CASE(hostile_comments), T_CASE(limit_size_and_parts))
