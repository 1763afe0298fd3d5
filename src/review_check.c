/*
 * review_check: what approval refuses in a draft's text and recipients, beyond its state:
 * template markers a rule left unfilled, an operator's placeholders, an address that bounced.
 *
 * Lines quoted with '>' are the customer's own words under the reply: they are not checked, so
 * that a customer who writes "{{" or "[URGENT REQUEST]" does not block the answer.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "review_int.h"

/* The one marker approval fills in (draft_sign); every other one is a hole in the text. */
#define SIGNATURE_MARKER "{{agent.name}}"

/* What one pattern may spend on one line, as the rules' patterns (rules_int.h): a pattern that
 * backtracks without end on a long line gives up instead of hanging `tend approve`. */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 100000

/* The longest piece of text a refusal quotes. */
#define QUOTE_MAX 60

/* One line of the body: [p, p + len). */
struct line {
	const char *p;
	size_t len;
	unsigned no; /* from 1 */
};

/* `"text"` for a message: control bytes made safe, cut (at a character) after QUOTE_MAX. */
static char *quote(const char *p, size_t len)
{
	bool cut = len > QUOTE_MAX;
	if (cut) {
		len = QUOTE_MAX;
		while (len > 0 && ((unsigned char)p[len] & 0xc0) == 0x80)
			len--;
	}
	char *raw = xstrndup(p, len);
	char *safe = term_dup(raw, TEXT_LINE);
	char *q = xasprintf("\"%s%s\"", safe, cut ? "..." : "");
	free(safe);
	free(raw);
	return q;
}

/* The next line of body after *l (l->p NULL: the first); false at the end. */
static bool next_line(const char *body, struct line *l)
{
	const char *p = l->p ? l->p + l->len : body;
	if (l->p) {
		if (*p == '\0')
			return false;
		p++; /* the line feed */
	}
	const char *nl = strchr(p, '\n');
	l->p = p;
	l->len = nl ? (size_t)(nl - p) : strlen(p);
	l->no++;
	return true;
}

/* A template marker on the line, "{{...}}" (or "{{" to the end of the line, unclosed): its
 * offset and length; false when there is none but the signature. */
static bool find_marker(const struct line *l, size_t *at, size_t *len)
{
	for (size_t i = 0; i + 1 < l->len; i++) {
		if (l->p[i] != '{' || l->p[i + 1] != '{')
			continue;
		size_t rest = l->len - i;
		size_t sig = strlen(SIGNATURE_MARKER);
		if (rest >= sig && memcmp(l->p + i, SIGNATURE_MARKER, sig) == 0) {
			i += sig - 1;
			continue;
		}
		size_t end = i + 2;
		while (end + 1 < l->len && !(l->p[end] == '}' && l->p[end + 1] == '}'))
			end++;
		*at = i;
		*len = end + 1 < l->len ? end + 2 - i : rest;
		return true;
	}
	return false;
}

static int refuse_marker(uint64_t thread, const struct line *l, size_t at, size_t len, char **err)
{
	unsigned long long id = (unsigned long long)thread;
	char *q = quote(l->p + at, len);
	int rc = review_refuse(err,
	                       "thread %llu: line %u of the draft still holds the template "
	                       "marker %s: write the text in its place with `tend edit %llu`",
	                       id, l->no, q, id);
	free(q);
	return rc;
}

/* The operator's placeholder patterns, compiled once for a check. */
struct patterns {
	pcre2_code **v;
	const char **src; /* the patterns as written */
	size_t n;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
};

static void patterns_init(struct patterns *ps, const struct config *c)
{
	memset(ps, 0, sizeof(*ps));
	size_t n = c ? c->review.placeholders.n : 0;
	ps->v = xcalloc(n + 1, sizeof(*ps->v));
	ps->src = xcalloc(n + 1, sizeof(*ps->src));
	for (size_t i = 0; i < n; i++) {
		size_t off;
		char *why = NULL;
		/* NULL only in a config made in code: config_load refuses a bad pattern */
		pcre2_code *re =
		    config_placeholder_compile(c->review.placeholders.v[i], &off, &why);
		free(why);
		if (re) {
			ps->src[ps->n] = c->review.placeholders.v[i];
			ps->v[ps->n++] = re;
		}
	}
	ps->md = pcre2_match_data_create(1, NULL);
	ps->mctx = pcre2_match_context_create(NULL);
	if (ps->md == NULL || ps->mctx == NULL)
		fatalx("pcre2: out of memory");
	pcre2_set_match_limit(ps->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(ps->mctx, DEPTH_LIMIT);
}

static void patterns_free(struct patterns *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		pcre2_code_free(ps->v[i]);
	free(ps->v);
	free(ps->src);
	pcre2_match_data_free(ps->md);
	pcre2_match_context_free(ps->mctx);
}

/*
 * The first placeholder on the line: 1 with its offset and length, 0 when there is none, -1
 * when pattern *which gave up (a limit): then the line cannot be said to be free of it.
 */
static int find_placeholder(const struct patterns *ps, const struct line *l, size_t *at,
                            size_t *len, size_t *which)
{
	for (size_t i = 0; i < ps->n; i++) {
		int rc = pcre2_match(ps->v[i], (PCRE2_SPTR)l->p, l->len, 0, 0, ps->md, ps->mctx);
		*which = i;
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (rc < 0)
			return -1;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ps->md);
		*at = (size_t)ov[0];
		*len = (size_t)(ov[1] - ov[0]);
		return 1;
	}
	return 0;
}

static int refuse_unchecked(uint64_t thread, const struct line *l, const char *src, char **err)
{
	char *q = quote(src, strlen(src));
	int rc = review_refuse(err,
	                       "thread %llu: line %u of the draft cannot be checked: the "
	                       "placeholder pattern %s gave up on it (review.placeholders in "
	                       "tend.yaml); make the pattern simpler or the line shorter",
	                       (unsigned long long)thread, l->no, q);
	free(q);
	return rc;
}

static int refuse_placeholder(uint64_t thread, const struct line *l, size_t at, size_t len,
                              char **err)
{
	unsigned long long id = (unsigned long long)thread;
	char *q = quote(l->p + at, len);
	int rc = review_refuse(err,
	                       "thread %llu: line %u of the draft still holds %s, a placeholder "
	                       "(review.placeholders in tend.yaml): replace it with `tend edit "
	                       "%llu`",
	                       id, l->no, q, id);
	free(q);
	return rc;
}

int review_check_text(const struct config *c, uint64_t thread, const char *body, char **err)
{
	struct line l = {NULL, 0, 0};
	struct patterns ps;
	size_t at, len, which;
	int rc = 0, found;
	patterns_init(&ps, c);
	while (rc == 0 && body && next_line(body, &l)) {
		if (l.len > 0 && l.p[0] == '>')
			continue;
		if (find_marker(&l, &at, &len))
			rc = refuse_marker(thread, &l, at, len, err);
		else if ((found = find_placeholder(&ps, &l, &at, &len, &which)) > 0)
			rc = refuse_placeholder(thread, &l, at, len, err);
		else if (found < 0)
			rc = refuse_unchecked(thread, &l, ps.src[which], err);
	}
	patterns_free(&ps);
	return rc;
}

int review_check_bounced(const struct store_thread *th, const struct store_draft *d, char **err)
{
	unsigned long long id = (unsigned long long)th->id;
	for (size_t i = 0; i < d->to.n + d->cc.n; i++) {
		const char *a = i < d->to.n ? d->to.v[i].addr : d->cc.v[i - d->to.n].addr;
		char *low = str_lower(xstrdup(a));
		bool bounced = strvec_contains(&th->bounced, low);
		free(low);
		if (!bounced)
			continue;
		char *safe = term_dup(a, TEXT_LINE);
		char *why =
		    term_dup(th->bounce_detail ? th->bounce_detail : "see `tend show`", TEXT_LINE);
		int rc = review_refuse(err,
		                       "thread %llu: mail to %s bounced before (%s): reach the "
		                       "customer another way, or when you know the address works "
		                       "again, `tend approve --bounced-ok %llu`",
		                       id, safe, why, id);
		free(why);
		free(safe);
		return rc;
	}
	return 0;
}
