/*
 * search: what an agent types, turned into an FTS5 query; the conversations that match, newest
 * first; and the line of each that matched.
 *
 * The query is never handed to FTS5 as typed: it is split into terms (at blanks, with "..."
 * keeping a phrase together), each term is split into words by the index's own tokenizer, and
 * the words are put back as FTS5 strings ("word" or "two words"), with any double quote
 * doubled, and a '*' at the end of a term becomes FTS5's prefix mark after the string. So
 * nothing typed is FTS5 syntax: NEAR(, :, AND, ( and ) are words or nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "search_int.h"
#include "tend/json.h"

/* Longer queries are refused; nobody types more. */
#define QUERY_MAX 4096
/*
 * A term that ends in '*' also finds the words its last word begins ("refund*" finds
 * "refunded") when that word is this long: shorter ones would read most of the index.
 * Without it words match whole, and a query reads only as far into the index as its newest
 * matches go. So does a beginning of a length the index files (SEARCH_PREFIXES); a longer one
 * makes FTS5 gather every match of every word it begins first.
 */
#define PREFIX_MIN 3

struct term {
	struct strvec toks; /* the words, folded as the index folds them */
	bool prefix;        /* the last word also matches as the beginning of a word */
};

struct query {
	struct term *v;
	size_t n;
	char *match;    /* the FTS5 query */
	bool addresses; /* a term has an @: show a matching address before a line of text */
};

static void query_free(struct query *q)
{
	for (size_t i = 0; i < q->n; i++)
		strvec_free(&q->v[i].toks);
	free(q->v);
	free(q->match);
}

static int collect_token(void *arg, const char *tok, int n, int start, int end)
{
	(void)start;
	(void)end;
	strvec_push_owned(arg, xstrndup(tok, (size_t)n));
	return 0;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Adds the term raw (star: it ended in '*') unless it holds no word. */
static int add_term(struct search *x, struct query *q, const char *raw, size_t len, bool star)
{
	struct term t = {STRVEC_INIT, false};
	if (search_tokenize(x, raw, len, true, collect_token, &t.toks) < 0) {
		strvec_free(&t.toks);
		return SEARCH_EINDEX;
	}
	if (t.toks.n == 0)
		return 0; /* punctuation only: nothing to look for */
	t.prefix = star && utf8_chars(t.toks.v[t.toks.n - 1]) >= PREFIX_MIN;
	q->v = xreallocarray(q->v, q->n + 1, sizeof(*q->v));
	q->v[q->n++] = t;
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Splits text at blanks outside double quotes into terms. */
static int split_terms(struct search *x, struct query *q, const char *text)
{
	struct buf t = BUF_INIT;
	int rc = 0;
	for (const char *p = text; *p && rc == 0;) {
		bool in = false, star = false;
		while (blank(*p))
			p++;
		buf_reset(&t);
		for (; *p && (in || !blank(*p)); p++) {
			if (*p == '"')
				in = !in;
			else
				buf_putc(&t, *p);
			if (*p != '"')
				star = *p == '*';
		}
		if (t.len)
			rc = add_term(x, q, t.data, t.len, star);
	}
	buf_free(&t);
	return rc;
}

/* The FTS5 query: each term an FTS5 string, every one required. */
static char *match_of(const struct query *q)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < q->n; i++) {
		buf_puts(&b, i ? " \"" : "\"");
		for (size_t j = 0; j < q->v[i].toks.n; j++) {
			buf_puts(&b, j ? " " : "");
			for (const char *s = q->v[i].toks.v[j]; *s; s++)
				buf_puts(&b, *s == '"' ? "\"\"" : (char[]){*s, '\0'});
		}
		buf_puts(&b, q->v[i].prefix ? "\" *" : "\"");
	}
	return buf_steal(&b);
}

static int parse_query(struct search *x, const char *text, struct query *q, char **err)
{
	memset(q, 0, sizeof(*q));
	if (strlen(text) > QUERY_MAX) {
		*err = xasprintf("the query is longer than %d bytes", QUERY_MAX);
		return SEARCH_EQUERY;
	}
	q->addresses = strchr(text, '@') != NULL;
	int rc = split_terms(x, q, text);
	if (rc < 0) {
		*err = xasprintf("search index %s: cannot split the query into words", x->path);
		return rc;
	}
	if (q->n == 0) {
		char *shown = term_dup(text, TEXT_LINE);
		*err = xasprintf("nothing to search for in \"%s\": give a word, a number or an "
		                 "address",
		                 shown);
		free(shown);
		return SEARCH_EQUERY;
	}
	q->match = match_of(q);
	return 0;
}

/* Running it */

struct hit {
	uint64_t thread; /* the live thread */
	enum search_kind kind;
	uint64_t id;
	int64_t time;
};

struct hits {
	struct hit *v;
	size_t n;
	struct idvec threads;
	bool more; /* another conversation matches beyond the limit */
};

/* Takes the row unless its conversation is in already; 1 when it was taken. */
static int take_row(struct store_txn *t, sqlite3_stmt *st, struct hits *h)
{
	uint64_t thread = (uint64_t)sqlite3_column_int64(st, 1), live;
	int rc = store_resolve_thread(t, thread, &live);
	if (rc == STORE_NOTFOUND || rc == STORE_CORRUPT)
		return 0; /* the index knows a thread the store does not: skip it */
	if (rc < 0)
		return rc;
	if (idvec_contains(&h->threads, live))
		return 0;
	idvec_push(&h->threads, live);
	h->v = xreallocarray(h->v, h->n + 1, sizeof(*h->v));
	h->v[h->n++] = (struct hit){
	    .thread = live,
	    .kind = (enum search_kind)sqlite3_column_int(st, 2),
	    .id = (uint64_t)sqlite3_column_int64(st, 3) & ((1ull << 56) - 1),
	    .time = sqlite3_column_int64(st, 4),
	};
	return 1;
}

/* The newest matching entry of each conversation, newest first, limit of them (0: all). */
static int find_hits(struct search *x, struct store_txn *t, const struct query *q, size_t limit,
                     struct hits *h, char **err)
{
	sqlite3_stmt *st = search_stmt(x, ST_QUERY);
	if (st == NULL)
		return search_fail(x, "preparing the query", err);
	sqlite3_bind_text(st, 1, q->match, -1, SQLITE_STATIC);
	int rc = 0, step = SQLITE_DONE;
	while (rc >= 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		size_t before = h->n;
		if ((rc = take_row(t, st, h)) == 1 && limit && before == limit) {
			h->n--; /* one beyond the limit: there is more */
			h->more = true;
			break;
		}
	}
	if (rc >= 0 && !h->more && step != SQLITE_DONE)
		rc = search_fail(x, "searching", err);
	sqlite3_reset(st);
	if (rc < 0 && *err == NULL)
		*err = xasprintf("search: reading the store: %s", store_strerror(rc));
	return rc < 0 ? rc : 0;
}

/* The line that matched */

struct pick {
	char *line;   /* the best line so far */
	size_t score; /* how many terms it holds */
};

static bool term_in(const struct term *t, const struct strvec *toks)
{
	size_t k = t->toks.n;
	for (size_t i = 0; i + k <= toks->n; i++) {
		size_t j = 0;
		for (; j < k; j++) {
			const char *a = toks->v[i + j], *b = t->toks.v[j];
			bool part = j == k - 1 && t->prefix;
			if (part ? strncmp(a, b, strlen(b)) != 0 : strcmp(a, b) != 0)
				break;
		}
		if (j == k)
			return true;
	}
	return false;
}

/* Scores the line s (n bytes): how many of the query's terms it holds. */
static size_t score_line(struct search *x, const struct query *q, const char *s, size_t n)
{
	struct strvec toks = STRVEC_INIT;
	size_t score = 0;
	if (search_tokenize(x, s, n, false, collect_token, &toks) == 0)
		for (size_t i = 0; i < q->n; i++)
			score += term_in(&q->v[i], &toks);
	strvec_free(&toks);
	return score;
}

/* Looks at each line of text for a better one than p has; true when one holds every term. */
static bool pick_line(struct search *x, const struct query *q, const char *text, struct pick *p)
{
	for (const char *s = text; s && *s && p->score < q->n;) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		size_t score = score_line(x, q, s, n);
		if (score > p->score) {
			free(p->line);
			p->line = str_trim_dup(s, n);
			p->score = score;
		}
		s = nl ? nl + 1 : s + n;
	}
	return p->score == q->n;
}

/*
 * The line of e that holds the most terms: of its text, else its addresses (first when the
 * query holds an address), else its subject.
 */
static char *matching_line(struct search *x, const struct query *q, const struct search_entry *e)
{
	struct pick p = {NULL, 0};
	const char *first = q->addresses ? e->people : e->body;
	const char *second = q->addresses ? e->body : e->people;
	if (!pick_line(x, q, first, &p) && !pick_line(x, q, second, &p))
		pick_line(x, q, e->subject, &p);
	if (p.line == NULL)
		p.line =
		    str_trim_dup(e->subject ? e->subject : "", e->subject ? strlen(e->subject) : 0);
	return p.line;
}

/* Showing them */

static const char *kind_label(enum search_kind k, bool json)
{
	switch (k) {
	case SEARCH_OURS:
	case SEARCH_REPLY:
		return json ? "reply" : "our reply";
	case SEARCH_HOLDING:
		return json ? "holding" : "holding reply";
	case SEARCH_NOTE:
		return "note";
	default:
		return "message";
	}
}

struct shown {
	const struct hit *hit;
	const struct store_thread *th;
	const char *line;
};

static void json_hit(struct json *j, const struct shown *s)
{
	json_object_begin(j);
	json_key(j, "thread");
	json_int(j, (int64_t)s->th->id);
	json_key(j, "subject");
	json_string(j, s->th->subject);
	json_key(j, "customer");
	view_json_addr(j, &s->th->customer);
	json_key(j, "state");
	json_string(j, view_thread_state_name(s->th->state));
	json_key(j, "date");
	json_time(j, s->hit->time);
	json_key(j, "kind");
	json_string(j, kind_label(s->hit->kind, true));
	json_key(j, "line");
	json_string(j, s->line);
	json_object_end(j);
}

/* Column widths; each cell holds one blank at its end at least. */
enum { ID_COLS = 6, STATE_COLS = 10, DATE_COLS = 16, CUSTOMER_COLS = 30 };

static void human_hit(struct buf *b, const struct shown *s, const struct view_options *o)
{
	char when[32];
	view_relative_time(s->hit->time, o->now, when, sizeof(when));
	char *cust = view_addr_display(&s->th->customer);
	buf_printf(b, "%*llu  ", ID_COLS, (unsigned long long)s->th->id);
	view_put_cell(b, view_thread_state_name(s->th->state), STATE_COLS);
	view_put_cell(b, when, DATE_COLS);
	view_put_cell(b, cust, CUSTOMER_COLS);
	buf_puts(b, "  ");
	int rest = o->width > 0
	               ? o->width - (ID_COLS + 2 + STATE_COLS + DATE_COLS + CUSTOMER_COLS + 2)
	               : -1;
	const char *subj = s->th->subject && *s->th->subject ? s->th->subject : "(no subject)";
	view_put_cell(b, subj, rest > 8 ? rest : (o->width > 0 ? 8 : -1));
	const char *label = kind_label(s->hit->kind, false);
	buf_printf(b, "\n%*s%s: ", ID_COLS + 2, "", label);
	rest = o->width > 0 ? o->width - (ID_COLS + 4 + (int)strlen(label)) : -1;
	view_put_cell(b, s->line, rest > 8 ? rest : (o->width > 0 ? 8 : -1));
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
	buf_putc(b, '\n');
	free(cust);
}

static int show_hit(struct search *x, struct store_txn *t, const struct query *q,
                    const struct hit *h, const struct view_options *o, struct buf *b,
                    struct json *j)
{
	struct store_thread *th = NULL;
	struct search_entry e;
	int rc = store_get_thread(t, h->thread, &th);
	if (rc < 0)
		return rc;
	if ((rc = search_load_entry(t, h->kind, h->id, &e)) < 0 && rc != STORE_NOTFOUND) {
		store_thread_free(th);
		return rc;
	}
	char *line = rc == 0 ? matching_line(x, q, &e) : xstrdup("");
	struct shown s = {h, th, line};
	if (o->json)
		json_hit(j, &s);
	else
		human_hit(b, &s, o);
	free(line);
	search_entry_clear(&e);
	store_thread_free(th);
	return 0;
}

static void header(struct buf *b, const struct hits *h, const char *text)
{
	if (h->n == 0) {
		char *shown = term_dup(text, TEXT_LINE);
		buf_printf(b, "No conversation matches \"%s\".\n", shown);
		free(shown);
		return;
	}
	buf_printf(b, "%*s  %-*s%-*s%-*s  %s\n", ID_COLS, "THREAD", STATE_COLS, "STATE", DATE_COLS,
	           "DATE", CUSTOMER_COLS, "CUSTOMER", "SUBJECT");
}

static int print_hits(struct search *x, struct store_txn *t, const struct query *q,
                      const struct hits *h, const char *text, const struct view_options *o,
                      FILE *out)
{
	struct buf b = BUF_INIT;
	struct json j;
	int rc = 0;
	json_init(&j, false);
	if (o->json)
		json_array_begin(&j);
	else
		header(&b, h, text);
	for (size_t i = 0; i < h->n && rc == 0; i++)
		rc = show_hit(x, t, q, &h->v[i], o, &b, &j);
	if (o->json) {
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
	} else if (h->more) {
		buf_printf(&b,
		           "Only the %zu most recent are shown: --limit N for more, 0 for all.\n",
		           h->n);
	}
	json_finish(&j);
	if (rc == 0 && (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0))
		rc = STORE_ERROR;
	buf_free(&b);
	return rc;
}

int search_query(struct search *x, const char *text, size_t limit, const struct view_options *o,
                 FILE *out, char **err)
{
	struct query q;
	struct hits h = {0};
	struct store_txn *t = NULL;
	*err = NULL;
	int rc = parse_query(x, text, &q, err);
	if (rc == 0 && (rc = store_begin(x->store, false, &t)) < 0)
		*err = xasprintf("search: reading the store: %s", store_strerror(rc));
	if (rc == 0)
		rc = find_hits(x, t, &q, limit, &h, err);
	if (rc == 0 && (rc = print_hits(x, t, &q, &h, text, o, out)) < 0)
		*err = xasprintf("search: %s", store_strerror(rc));
	store_abort(t);
	idvec_free(&h.threads);
	free(h.v);
	query_free(&q);
	return rc;
}
