/*
 * search: what the index takes from each record, built the same way when a message or reply
 * is indexed and when a result's line is looked for in it, so the two always agree.
 */
#include <stdlib.h>
#include <string.h>

#include "search_int.h"

/*
 * The text indexed of one body at most; the rest of a longer one is not searchable. Real
 * messages are far shorter; this bounds what a hostile 50 MB message costs every search that
 * shows it.
 */
#define BODY_MAX (1u << 20)

void search_entry_clear(struct search_entry *e)
{
	if (e == NULL)
		return;
	free(e->subject);
	free(e->people);
	free(e->body);
	e->subject = e->people = e->body = NULL;
}

int search_ref_type(enum search_kind kind)
{
	switch (kind) {
	case SEARCH_REPLY:
	case SEARCH_HOLDING:
		return REF_DRAFT;
	case SEARCH_NOTE:
		return REF_NOTE;
	default:
		return REF_MESSAGE;
	}
}

int64_t search_ref(enum search_kind kind, uint64_t id)
{
	return (int64_t)(((uint64_t)search_ref_type(kind) << 56) | (id & ((1ull << 56) - 1)));
}

/* Whether the line at s (n bytes) quotes: its first character after blanks is '>'. */
static bool quotes(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == '>';
}

/* The text without its quoting lines, cut at a line end (or a character) near BODY_MAX. */
static char *unquoted(const char *text)
{
	struct buf b = BUF_INIT;
	size_t len = text ? strlen(text) : 0;
	buf_reserve(&b, len < BODY_MAX ? len : BODY_MAX); /* one allocation, not one a doubling */
	for (const char *p = text ? text : ""; *p && b.len < BODY_MAX;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!quotes(p, n))
			buf_append(&b, p, n);
		p += n;
	}
	if (b.len > BODY_MAX) {
		size_t cut = BODY_MAX;
		while (cut > 0 && ((unsigned char)b.data[cut] & 0xc0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		b.data[cut] = '\0';
		b.len = cut;
	}
	return b.len ? buf_steal(&b) : (buf_free(&b), NULL);
}

static void put_addr(struct buf *b, const struct message_addr *a)
{
	if (a->addr == NULL && a->name == NULL)
		return;
	if (b->len)
		buf_putc(b, '\n');
	if (a->name && *a->name)
		buf_printf(b, "%s <%s>", a->name, a->addr ? a->addr : "");
	else
		buf_puts(b, a->addr ? a->addr : "");
}

static void put_addrs(struct buf *b, const struct message_addrs *as)
{
	for (size_t i = 0; i < as->n; i++)
		put_addr(b, &as->v[i]);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

void search_message_entry(const struct store_message *m, struct search_entry *e)
{
	struct buf people = BUF_INIT;
	put_addr(&people, &m->from);
	put_addrs(&people, &m->reply_to);
	put_addrs(&people, &m->to);
	put_addrs(&people, &m->cc);
	*e = (struct search_entry){
	    .thread = m->thread,
	    .kind = (m->flags & STORE_MSG_OURS) ? SEARCH_OURS : SEARCH_MESSAGE,
	    .id = m->id,
	    .time = m->received,
	    .subject = dup_or_null(m->subject),
	    .people = people.len ? buf_steal(&people) : NULL,
	    .body = unquoted(m->text),
	};
	buf_free(&people);
}

void search_draft_entry(const struct store_draft *d, struct search_entry *e)
{
	struct buf people = BUF_INIT;
	put_addrs(&people, &d->to);
	put_addrs(&people, &d->cc);
	*e = (struct search_entry){
	    .thread = d->thread,
	    .kind = d->kind == STORE_KIND_HOLDING ? SEARCH_HOLDING : SEARCH_REPLY,
	    .id = d->id,
	    .time = d->sent,
	    .subject = dup_or_null(d->subject),
	    .people = people.len ? buf_steal(&people) : NULL,
	    .body = unquoted(d->body),
	};
	buf_free(&people);
}

void search_note_entry(const struct store_note *n, struct search_entry *e)
{
	*e = (struct search_entry){
	    .thread = n->thread,
	    .kind = SEARCH_NOTE,
	    .id = n->id,
	    .time = n->created,
	    .people = dup_or_null(n->agent),
	    .body = xstrdup(n->text ? n->text : ""),
	};
}

static int load_message(struct store_txn *t, uint64_t id, struct search_entry *e)
{
	struct store_message *m = NULL;
	int rc = store_get_message(t, id, &m);
	if (rc == 0)
		search_message_entry(m, e);
	store_message_free(m);
	return rc;
}

static int load_draft(struct store_txn *t, uint64_t id, struct search_entry *e)
{
	struct store_draft *d = NULL;
	int rc = store_get_draft(t, id, &d);
	if (rc == 0 && d->state != STORE_DRAFT_SENT)
		rc = STORE_NOTFOUND;
	if (rc == 0)
		search_draft_entry(d, e);
	store_draft_free(d);
	return rc;
}

static int load_note(struct store_txn *t, uint64_t id, struct search_entry *e)
{
	struct store_note *n = NULL;
	int rc = store_get_note(t, id, &n);
	if (rc == 0)
		search_note_entry(n, e);
	store_note_free(n);
	return rc;
}

int search_load_entry(struct store_txn *t, enum search_kind kind, uint64_t id,
                      struct search_entry *e)
{
	memset(e, 0, sizeof(*e));
	switch (search_ref_type(kind)) {
	case REF_MESSAGE:
		return load_message(t, id, e);
	case REF_DRAFT:
		return load_draft(t, id, e);
	case REF_NOTE:
		return load_note(t, id, e);
	default:
		return STORE_NOTFOUND;
	}
}
