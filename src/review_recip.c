/*
 * review_recip: the To: and Cc: lines above the text in the file `tend edit` opens.
 *
 * The block is written from the draft's recipients and read back only when the agent changed
 * it, so that a recipient tend would not write the same way (a name with a line break in it)
 * stays as it was unless someone touched it. What the agent typed goes through the parser used
 * for mail and the sender's own check of an address, and nothing else is allowed in the block:
 * a line that is not To: or Cc: refuses the save, so no header can be added by typing it.
 */
#include <stdlib.h>
#include <string.h>

#include "review_int.h"
#include "tend/compose.h"

/* Characters of an RFC 5322 atom, and space: such a name needs no quotes. */
static bool name_plain(const char *s)
{
	for (; *s; s++)
		if (!((unsigned char)*s >= 0x80 || *s == ' ' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-/=?^_`{|}~", *s)))
			return false;
	return true;
}

static void put_addr(struct buf *b, const struct message_addr *a)
{
	char *name = a->name ? xstrdup(a->name) : NULL;
	if (name)
		text_strip_controls(name, strlen(name), TEXT_LINE);
	if (name && *name && name_plain(name)) {
		buf_printf(b, "%s <%s>", name, a->addr);
	} else if (name && *name) {
		buf_putc(b, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(b, '\\');
			buf_putc(b, *p);
		}
		buf_printf(b, "\" <%s>", a->addr);
	} else {
		buf_puts(b, a->addr);
	}
	free(name);
}

static void put_field(struct buf *b, const char *field, const struct message_addrs *as)
{
	buf_printf(b, "%s:", field);
	for (size_t i = 0; i < as->n; i++) {
		buf_puts(b, i ? ", " : " ");
		put_addr(b, &as->v[i]);
	}
	buf_putc(b, '\n');
}

char *review_recipients_block(const struct store_draft *d)
{
	struct buf b = BUF_INIT;
	put_field(&b, "To", &d->to);
	put_field(&b, "Cc", &d->cc);
	return buf_steal(&b);
}

void review_header_finish(struct review_header *h)
{
	free(h->block);
	free(h->to_text);
	free(h->cc_text);
	message_addrs_free(&h->to);
	message_addrs_free(&h->cc);
	memset(h, 0, sizeof(*h));
}

/* The line quoted for a message: control characters shown escaped, cut after 60 bytes (never
 * inside a character: half of one would show as "\xe6"). */
static int refuse_line(char **err, size_t no, const char *line, size_t n, const char *why)
{
	size_t keep = n > 60 ? 60 : n;
	while (keep > 0 && keep < n && ((unsigned char)line[keep] & 0xc0) == 0x80)
		keep--;
	char *cut = xasprintf("%.*s%s", (int)keep, line, n > 60 ? "..." : "");
	char *safe = term_dup(cut, TEXT_LINE);
	int rc = review_refuse(err, "line %zu, \"%s\", %s", no, safe, why);
	free(safe);
	free(cut);
	return rc;
}

enum { FIELD_NONE = -1, FIELD_TO, FIELD_CC, FIELD_OTHER };

/* Which field a header line names; *colon is where its value starts. */
static int line_field(const char *line, size_t n, size_t *colon)
{
	size_t k = strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
	if (k == 0 || k >= n || line[k] != ':')
		return FIELD_NONE;
	*colon = k + 1;
	if (k == 2 && str_ieqn(line, "To", 2))
		return FIELD_TO;
	if (k == 2 && str_ieqn(line, "Cc", 2))
		return FIELD_CC;
	return FIELD_OTHER;
}

static void append(char **field, const char *sep, const char *s, size_t n)
{
	char *more =
	    *field ? xasprintf("%s%s%.*s", *field, sep, (int)n, s) : xasprintf("%.*s", (int)n, s);
	free(*field);
	*field = more;
}

/* One line of the block, without its line end and trailing blanks. */
static int header_line(struct review_header *h, size_t no, const char *line, size_t n, char ***last,
                       char **err)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return refuse_line(err, no, line, n, "has a control character in it");
	if ((line[0] == ' ' || line[0] == '\t') && *last) {
		append(*last, " ", line, n); /* a folded line goes on with the one before */
		return 0;
	}
	size_t colon = 0;
	int which = line_field(line, n, &colon);
	if (which == FIELD_NONE && no == 1)
		return review_refuse(err,
		                     "the To: and Cc: lines are gone from the top of the file; "
		                     "they must come first, then a blank line, then the text");
	if (which == FIELD_NONE)
		return refuse_line(err, no, line, n,
		                   "is neither a To: nor a Cc: line: a blank line must separate "
		                   "them from the text");
	if (which == FIELD_OTHER)
		return refuse_line(err, no, line, n,
		                   "is not a To: or Cc: line: only the recipients can be changed "
		                   "there");
	char **field = which == FIELD_TO ? &h->to_text : &h->cc_text;
	append(field, ", ", line + colon, n - colon);
	*last = field;
	return 0;
}

int review_header_split(const char *text, struct review_header *h, char **err)
{
	memset(h, 0, sizeof(*h));
	struct buf block = BUF_INIT;
	char **last = NULL;
	const char *p = text;
	int rc = 0;
	for (size_t no = 1; *p && rc == 0; no++) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *next = p + n + (nl != NULL);
		while (n > 0 && strchr(" \t\r", p[n - 1]))
			n--;
		if (n == 0) { /* the blank line: the text starts after it */
			p = next;
			break;
		}
		if ((rc = header_line(h, no, p, n, &last, err)) == 0) {
			buf_append(&block, p, n);
			buf_putc(&block, '\n');
		}
		p = next;
	}
	h->block = block.data ? buf_steal(&block) : xstrdup("");
	h->body = p + strspn(p, "\n");
	if (rc < 0)
		review_header_finish(h);
	return rc;
}

static bool own_address(const struct config *c, const char *addr)
{
	for (size_t i = 0; c && i < c->naccounts; i++)
		if (c->accounts[i].address && str_ieq(c->accounts[i].address, addr))
			return true;
	return false;
}

static int read_field(const char *field, const char *value, const struct config *c,
                      struct message_addrs *out, char **err)
{
	char *bad = NULL;
	if (message_addrs_read(value ? value : "", out, &bad) < 0) {
		char *safe = term_dup(bad, TEXT_LINE);
		int rc =
		    review_refuse(err,
		                  "%s: \"%.80s\" is not one email address (write local@domain, "
		                  "or a name and <local@domain>; a comma between addresses)",
		                  field, safe);
		free(safe);
		free(bad);
		return rc;
	}
	for (size_t i = 0; i < out->n; i++) {
		const char *a = out->v[i].addr;
		if (!compose_addr_ok(a) || own_address(c, a)) {
			char *safe = term_dup(a, TEXT_LINE);
			int rc = review_refuse(err, "%s: \"%.80s\" %s", field, safe,
			                       own_address(c, a)
			                           ? "is our own address"
			                           : "is not a plain email address (local@domain)");
			free(safe);
			return rc;
		}
	}
	return 0;
}

int review_header_read(struct review_header *h, const struct config *c, char **err)
{
	int rc = read_field("To", h->to_text, c, &h->to, err);
	if (rc == 0)
		rc = read_field("Cc", h->cc_text, c, &h->cc, err);
	if (rc < 0)
		return rc;
	size_t n = h->to.n + h->cc.n;
	if (n == 0)
		return review_refuse(err, "the reply has no recipient: name one in To: or Cc:");
	if (c && c->review.max_recipients > 0 && n > (size_t)c->review.max_recipients)
		return review_refuse(err,
		                     "the reply would go to %zu addresses, more than "
		                     "review.max_recipients (%lld) in tend.yaml allows",
		                     n, (long long)c->review.max_recipients);
	return 0;
}
