/*
 * message_body: choosing the text a reader would show, and listing attachments.
 *
 * Like a mail reader: in multipart/alternative the plain text unless it is empty, else a
 * nested multipart, else the HTML turned into text; in multipart/mixed (and any multipart this
 * code does not know) every inline text part in order; in multipart/related, report and signed
 * only the first part. A message/rfc822 part is shown inline unless its disposition says
 * attachment; when nothing else yields text (a message that is only a forwarded message),
 * attached messages are shown too, under a "Forwarded Message" line.
 *
 * The walk keeps its own stack: a hostile message cannot make it recurse.
 */
#include <stdint.h>
#include <string.h>

#include "message_int.h"

#define FORWARD_MARK "-------- Forwarded Message --------\n"

struct item {
	size_t part;
	bool forced; /* chosen by its parent: shown whatever its disposition */
};

struct render {
	struct message_tree *t;
	struct message *m;
	struct buf text;
	struct item *stack;
	size_t n, cap;
};

static void push(struct render *r, size_t part, bool forced)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->stack = xreallocarray(r->stack, r->cap, sizeof(*r->stack));
	}
	r->stack[r->n].part = part;
	r->stack[r->n].forced = forced;
	r->n++;
}

static bool is_multipart(const struct message_part *p)
{
	return strncmp(p->type, "multipart/", 10) == 0;
}

static bool is_message(const struct message_part *p)
{
	return strncmp(p->type, "message/", 8) == 0 && p->nchildren > 0;
}

static bool has_words(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n')
			return true;
	return false;
}

/* Text types that are data rather than something written to be read as the message. */
static bool data_text(const char *type)
{
	static const char *const types[] = {
	    "text/calendar",  "text/x-vcalendar",    "text/vcard", "text/x-vcard",
	    "text/directory", "text/rfc822-headers", "text/csv",   "text/x-vcard"};
	for (size_t i = 0; i < NELEM(types); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

static bool inline_text(const struct message_part *p)
{
	if (p->disp == DISP_ATTACHMENT || strncmp(p->type, "text/", 5) != 0)
		return false;
	if (strcmp(p->type, "text/plain") == 0 || strcmp(p->type, "text/html") == 0)
		return true;
	return p->filename == NULL && !data_text(p->type);
}

/* Appends a piece of text, separated from what came before by a blank line. */
static void add_piece(struct render *r, const char *s, size_t n)
{
	for (;;) { /* leading blank lines */
		const char *nl = memchr(s, '\n', n);
		if (nl == NULL || has_words(s, (size_t)(nl - s)))
			break;
		n -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!has_words(s, n))
		return;
	if (r->text.len > 0)
		buf_puts(&r->text, "\n\n");
	buf_append(&r->text, s, n);
}

static void render_leaf(struct render *r, struct message_part *p)
{
	const char *text = message_part_text(p, &r->m->warnings);
	p->rendered = true;
	if (strcmp(p->type, "text/html") == 0) {
		char *plain = message_html_to_text(text, p->text_len);
		size_t before = r->text.len;
		add_piece(r, plain, strlen(plain));
		if (r->text.len > before)
			r->m->text_from_html = true;
		free(plain);
	} else {
		add_piece(r, text, p->text_len);
	}
}

static int alt_score(struct message_part *p, struct strvec *warnings)
{
	if (is_multipart(p))
		return 3;
	if (strcmp(p->type, "text/plain") == 0) {
		message_part_text(p, warnings);
		return has_words(p->text, p->text_len) ? 4 : 1;
	}
	if (strcmp(p->type, "text/html") == 0)
		return 2;
	if (is_message(p) || (strncmp(p->type, "text/", 5) == 0 && !data_text(p->type)))
		return 1;
	return 0;
}

/* RFC 2046: the alternatives come in increasing order of preference, so ties go to the last. */
static size_t choose_alternative(struct render *r, const struct message_part *p)
{
	size_t best = SIZE_MAX;
	int best_score = 0;
	for (size_t k = 0; k < p->nchildren; k++) {
		size_t c = p->first_child + k;
		int score = alt_score(&r->t->v[c], &r->m->warnings);
		if (score > 0 && score >= best_score) {
			best = c;
			best_score = score;
		}
	}
	return best;
}

static void push_multipart(struct render *r, size_t i)
{
	const struct message_part *p = &r->t->v[i];
	const char *sub = p->type + 10;
	if (p->nchildren == 0 || strcmp(sub, "encrypted") == 0)
		return;
	if (strcmp(sub, "alternative") == 0) {
		size_t c = choose_alternative(r, p);
		if (c != SIZE_MAX)
			push(r, c, true);
	} else if (strcmp(sub, "related") == 0 || strcmp(sub, "report") == 0 ||
	           strcmp(sub, "signed") == 0) {
		push(r, p->first_child, true);
	} else {
		for (size_t k = p->nchildren; k > 0; k--)
			push(r, p->first_child + k - 1, false);
	}
}

static void render_message(struct render *r, size_t i)
{
	struct message_part *p = &r->t->v[i];
	struct message_part *c = &r->t->v[p->first_child];
	p->rendered = true;
	struct buf hdr = BUF_INIT;
	buf_puts(&hdr, FORWARD_MARK);
	buf_puts(&hdr, c->forward ? c->forward : "");
	if (r->text.len > 0)
		buf_puts(&r->text, "\n\n");
	buf_append(&r->text, hdr.data, hdr.len);
	r->text.len--; /* add_piece puts the blank line back */
	r->text.data[r->text.len] = '\0';
	buf_free(&hdr);
	push(r, p->first_child, true);
}

static void walk(struct render *r, size_t root, bool forced)
{
	push(r, root, forced);
	while (r->n > 0) {
		struct item it = r->stack[--r->n];
		struct message_part *p = &r->t->v[it.part];
		if (is_multipart(p))
			push_multipart(r, it.part);
		else if (is_message(p) && (it.forced || p->disp != DISP_ATTACHMENT))
			render_message(r, it.part);
		else if (!is_message(p) &&
		         (it.forced ? strncmp(p->type, "text/", 5) == 0 : inline_text(p)))
			render_leaf(r, p);
	}
}

/* ---- attachments ---- */

static bool signature_type(const char *type)
{
	return strcmp(type, "application/pgp-signature") == 0 ||
	       strcmp(type, "application/pkcs7-signature") == 0 ||
	       strcmp(type, "application/x-pkcs7-signature") == 0;
}

static void attachment_add(struct message *m, const struct message_part *p)
{
	m->attachments =
	    xreallocarray(m->attachments, m->nattachments + 1, sizeof(*m->attachments));
	struct message_attachment *a = &m->attachments[m->nattachments++];
	a->filename = p->filename ? xstrdup(p->filename) : NULL;
	a->content_type = xstrdup(p->type);
	a->size = message_part_size(p);
}

/* A leaf the sender attached: by its disposition, or a file that is not the text shown. */
static bool is_attachment(const struct message_part *p)
{
	if (signature_type(p->type))
		return false;
	if (p->disp == DISP_ATTACHMENT)
		return true;
	return !p->rendered && (strncmp(p->type, "text/", 5) != 0 || p->filename != NULL);
}

static void list_attachments(struct render *r)
{
	push(r, 0, false);
	while (r->n > 0) {
		const struct message_part *p = &r->t->v[r->stack[--r->n].part];
		bool open =
		    is_multipart(p) || (is_message(p) && p->rendered && p->disp != DISP_ATTACHMENT);
		if (open) {
			for (size_t k = p->nchildren; k > 0; k--)
				push(r, p->first_child + k - 1, false);
		} else if (is_attachment(p)) {
			attachment_add(r->m, p);
			r->t->attached = xreallocarray(r->t->attached, r->t->nattached + 1,
			                               sizeof(*r->t->attached));
			r->t->attached[r->t->nattached++] = (size_t)(p - r->t->v);
		}
	}
}

void message_body_build(struct message_tree *t, struct message *m)
{
	struct render r = {t, m, BUF_INIT, NULL, 0, 0};
	walk(&r, 0, true);
	for (size_t i = 0; i < t->n && !has_words(r.text.data ? r.text.data : "", r.text.len); i++)
		if (is_message(&t->v[i]) && !t->v[i].rendered)
			walk(&r, i, true);
	list_attachments(&r);
	for (size_t i = 0; i < t->n; i++) {
		const char *type = t->v[i].type;
		if (strcmp(type, "multipart/report") == 0 ||
		    strcmp(type, "message/delivery-status") == 0 ||
		    strcmp(type, "message/disposition-notification") == 0)
			m->is_report = true;
	}
	free(r.stack);
	m->text = buf_steal(&r.text);
}
