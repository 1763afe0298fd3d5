/*
 * bounce: reading a delivery failure report. See include/tend/bounce.h.
 *
 * The report is scanned line by line rather than parsed as MIME: the per-recipient fields of a
 * message/delivery-status part, the quoted header of the returned message and Exim's header
 * are all plain "Name: value" lines, and bounces are the mail most often malformed. A group of
 * lines ends at a blank line, as RFC 3464 separates its per-recipient fields.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tend/bounce.h"
#include "tend/compose.h"

/* The per-recipient fields read so far. */
struct group {
	struct strvec addrs;
	char action[16]; /* "failed", "delayed", ...; "" when not given */
	char status;     /* the class digit of Status, or 0 */
};

/* The value of "Name: value" when line (of n bytes) is that field, else NULL. */
static const char *field(const char *line, size_t n, const char *name, size_t *vlen)
{
	size_t k = strlen(name);
	while (n > 0 && (*line == ' ' || *line == '\t'))
		line++, n--;
	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return NULL;
	const char *v = line + k + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

/* "rfc822; <Anna@Example.com>" -> "anna@example.com"; NULL when no address is there. */
static char *address(const char *v, size_t n)
{
	const char *semi = memchr(v, ';', n);
	if (semi) {
		n -= (size_t)(semi + 1 - v);
		v = semi + 1;
	}
	while (n > 0 && (isspace((unsigned char)*v) || *v == '<'))
		v++, n--;
	while (n > 0 && (isspace((unsigned char)v[n - 1]) || v[n - 1] == '>'))
		n--;
	if (n == 0 || n > 254)
		return NULL;
	char *a = xstrndup(v, n);
	if (compose_addr_ok(a))
		return str_lower(a);
	free(a);
	return NULL;
}

static void add_once(struct strvec *sv, char *s)
{
	if (s == NULL || strvec_contains(sv, s))
		free(s);
	else
		strvec_push_owned(sv, s);
}

/* "<id@host>" anywhere in v -> "id@host". */
static void add_message_id(struct bounce_info *b, const char *v, size_t n)
{
	const char *lt = memchr(v, '<', n);
	const char *gt = lt ? memchr(lt, '>', n - (size_t)(lt - v)) : NULL;
	if (lt && gt && gt > lt + 1 && gt - lt < 1000)
		add_once(&b->message_ids, xstrndup(lt + 1, (size_t)(gt - lt - 1)));
}

static void end_group(struct bounce_info *b, struct group *g)
{
	/* "failed" as RFC 3464 says, "failure" and "error" as some servers write it */
	bool failed = strncasecmp(g->action, "fail", 4) == 0 ||
	              strncasecmp(g->action, "error", 5) == 0 ||
	              (g->action[0] == '\0' && g->status == '5');
	for (size_t i = 0; failed && i < g->addrs.n; i++)
		add_once(&b->recipients, xstrdup(g->addrs.v[i]));
	strvec_free(&g->addrs);
	memset(g, 0, sizeof(*g));
}

/* The first Diagnostic-Code, else the first failed Status (weak: a Diagnostic-Code replaces it). */
static void set_diagnostic(struct bounce_info *b, const char *v, size_t n, bool weak)
{
	if ((b->diagnostic != NULL && !b->weak_diagnostic) || n == 0 || (weak && b->diagnostic))
		return;
	free(b->diagnostic);
	b->weak_diagnostic = weak;
	const char *semi = memchr(v, ';', n);
	if (semi && semi - v < 12) { /* "smtp; 550 ..." */
		n -= (size_t)(semi + 1 - v);
		v = semi + 1;
	}
	while (n > 0 && isspace((unsigned char)*v))
		v++, n--;
	b->diagnostic = xstrndup(v, n > 300 ? 300 : n);
	/* the server's words, shown to agents: not a way to reach their terminal */
	text_strip_controls(b->diagnostic, strlen(b->diagnostic), TEXT_LINE);
}

/*
 * The plain-text forms of older servers, used only when the report has no RFC 3464 part:
 * "<anna@example.com>: host said: 550 ..." (Postfix, qmail), "<anna@example.com>... User
 * unknown" (Sendmail), "<anna@example.com>" on a line of its own.
 */
static void text_recipient(struct bounce_info *b, const char *line, size_t n)
{
	while (n > 0 && (*line == ' ' || *line == '\t'))
		line++, n--;
	const char *gt = n > 3 && *line == '<' ? memchr(line, '>', n) : NULL;
	if (gt == NULL)
		return;
	size_t rest = n - (size_t)(gt + 1 - line);
	if (rest == 0 || gt[1] == ':' || gt[1] == '.' || gt[1] == ' ')
		add_once(&b->text_recipients, address(line + 1, (size_t)(gt - line - 1)));
}

static void body_line(struct bounce_info *b, struct group *g, const char *line, size_t n)
{
	const char *v;
	size_t vn;
	if ((v = field(line, n, "Final-Recipient", &vn)) ||
	    (v = field(line, n, "Original-Recipient", &vn)))
		add_once(&g->addrs, address(v, vn));
	else if ((v = field(line, n, "Action", &vn)))
		snprintf(g->action, sizeof(g->action), "%.*s", (int)(vn < 15 ? vn : 15), v);
	else if ((v = field(line, n, "Status", &vn)) && vn > 0) {
		g->status = *v;
		if (*v == '5')
			set_diagnostic(b, v, vn, true);
	} else if ((v = field(line, n, "Diagnostic-Code", &vn)))
		set_diagnostic(b, v, vn, false);
	else if ((v = field(line, n, "Message-ID", &vn)))
		add_message_id(b, v, vn);
	else
		text_recipient(b, line, n);
}

/* Exim names the failed addresses in its own header, comma separated. */
static void failed_recipients_header(struct bounce_info *b, const char *v, size_t n)
{
	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t k = comma ? (size_t)(comma - v) : n;
		add_once(&b->recipients, address(v, k));
		n -= comma ? k + 1 : k;
		v += comma ? k + 1 : k;
	}
}

bool bounce_parse(const char *raw, size_t len, struct bounce_info *out)
{
	memset(out, 0, sizeof(*out));
	struct group g = {0};
	bool in_header = true;
	for (size_t pos = 0; pos < len;) {
		const char *line = raw + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		const char *v;
		size_t vn;
		if (n == 0) {
			in_header = false;
			end_group(out, &g);
		} else if (in_header && (v = field(line, n, "X-Failed-Recipients", &vn))) {
			failed_recipients_header(out, v, vn);
		} else if (!in_header) {
			body_line(out, &g, line, n);
		}
	}
	end_group(out, &g);
	if (out->recipients.n == 0) { /* no report part: the text form, if any */
		out->recipients = out->text_recipients;
		memset(&out->text_recipients, 0, sizeof(out->text_recipients));
	}
	strvec_free(&out->text_recipients);
	if (out->recipients.n > 0)
		return true;
	bounce_info_finish(out);
	return false;
}

void bounce_info_finish(struct bounce_info *b)
{
	strvec_free(&b->recipients);
	strvec_free(&b->text_recipients);
	strvec_free(&b->message_ids);
	free(b->diagnostic);
	memset(b, 0, sizeof(*b));
}
