/*
 * prefilter: required literals of a PCRE2 pattern, and an Aho-Corasick automaton over them.
 *
 * The pattern is read by a small recursive-descent parser that knows the parts of PCRE2 syntax
 * rules use (groups, alternation, quantifiers, classes, escapes). For each piece it works out
 * either the exact set of strings the piece matches (when small) or a set of strings at least
 * one of which occurs in every match, in the manner of RE2's prefilter. Anything it does not
 * know makes it give up on the pattern, which then simply always runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tend/prefilter.h"

#define EXACT_MAX   16  /* strings an exact set may hold before it is reduced to a requirement */
#define LIT_MAX     64  /* literals a pattern's filter may have */
#define LIT_MIN_LEN 3   /* shorter literals are in nearly every text: no filter */
#define DEPTH_MAX   100 /* nested groups the parser follows */

/* ---- reading a pattern ---- */

/* What a piece of pattern tells about the texts it matches. */
struct info {
	bool exact;        /* matches exactly the strings in set */
	struct strvec set; /* !exact: one of these occurs in every match; empty: nothing known */
};

struct reader {
	const char *p;
	int depth;
	bool failed; /* met something it does not know */
};

static struct info info_exact(const char *s)
{
	struct info i = {.exact = true};
	strvec_push(&i.set, s);
	return i;
}

static struct info info_any(void)
{
	return (struct info){.exact = false};
}

static void info_free(struct info *i)
{
	strvec_free(&i->set);
}

static void set_add(struct strvec *v, const char *s)
{
	if (!strvec_contains(v, s))
		strvec_push(v, s);
}

static size_t min_len(const struct strvec *v)
{
	size_t m = SIZE_MAX;
	for (size_t i = 0; i < v->n; i++)
		if (strlen(v->v[i]) < m)
			m = strlen(v->v[i]);
	return v->n ? m : 0;
}

/* The set as a requirement: an exact set that holds "" requires nothing. */
static struct info required(struct info i)
{
	if (i.exact && min_len(&i.set) == 0) {
		info_free(&i);
		return info_any();
	}
	i.exact = false;
	return i;
}

/* How useful a requirement is: its shortest literal; nothing known is worst. */
static long score(const struct info *i)
{
	return i->set.n ? (long)min_len(&i->set) : -1;
}

static struct info cross(const struct info *a, const struct info *b)
{
	struct info c = {.exact = true};
	for (size_t i = 0; i < a->set.n; i++)
		for (size_t j = 0; j < b->set.n; j++) {
			char *s = xasprintf("%s%s", a->set.v[i], b->set.v[j]);
			set_add(&c.set, s);
			free(s);
		}
	return c;
}

/* The more useful of two requirements. */
static struct info better(struct info a, struct info b)
{
	bool keep_a = score(&a) > score(&b) || (score(&a) == score(&b) && a.set.n <= b.set.n);
	info_free(keep_a ? &b : &a);
	return keep_a ? a : b;
}

/*
 * A concatenation in progress: the exact strings of its latest run of exactly known pieces,
 * and the best requirement of what came before the run.
 */
struct seq {
	struct info run;  /* exact */
	struct info best; /* a requirement */
	bool inexact;     /* something before the run was not exactly known */
};

static void seq_add(struct seq *q, struct info i)
{
	if (i.exact && q->run.set.n * i.set.n <= EXACT_MAX) {
		struct info c = cross(&q->run, &i);
		info_free(&q->run);
		info_free(&i);
		q->run = c;
		return;
	}
	q->inexact = true;
	q->best = better(q->best, required(q->run));
	if (i.exact) {
		q->run = i;
	} else {
		q->best = better(q->best, i);
		q->run = info_exact("");
	}
}

static struct info seq_end(struct seq *q)
{
	if (!q->inexact) {
		info_free(&q->best);
		return q->run;
	}
	return better(q->best, required(q->run));
}

/* a or b. */
static struct info alternate(struct info a, struct info b)
{
	if (!(a.exact && b.exact && a.set.n + b.set.n <= EXACT_MAX * 4)) {
		a = required(a);
		b = required(b);
		if (a.set.n == 0 || b.set.n == 0) {
			info_free(&a);
			info_free(&b);
			return info_any();
		}
	}
	for (size_t i = 0; i < b.set.n; i++)
		set_add(&a.set, b.set.v[i]);
	info_free(&b);
	return a;
}

static struct info fail(struct reader *r)
{
	r->failed = true;
	return info_any();
}

static struct info read_alt(struct reader *r);

/* Skips a character class; what it matches is not tracked. */
static struct info read_class(struct reader *r)
{
	const char *p = r->p + 1;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (p[0] == '\\' && p[1] == 'Q')
			return fail(r);
		if (p[0] == '\\' && p[1])
			p += 2;
		else if (p[0] == '[' && p[1] == ':' && strstr(p + 2, ":]"))
			p = strstr(p + 2, ":]") + 2;
		else
			p++;
	}
	if (*p != ']')
		return fail(r);
	r->p = p + 1;
	return info_any();
}

/* One UTF-8 character beyond ASCII: matched caselessly in ways this module does not track. */
static struct info read_utf8(struct reader *r)
{
	r->p++;
	while (((unsigned char)*r->p & 0xc0) == 0x80)
		r->p++;
	return info_any();
}

/* \p{..}, \x{..}, \o{..} and their one-letter forms: some character. */
static struct info read_braced(struct reader *r)
{
	if (*r->p == '{') {
		const char *e = strchr(r->p, '}');
		if (e == NULL)
			return fail(r);
		r->p = e + 1;
	} else if (*r->p) {
		r->p++;
	}
	return info_any();
}

static struct info read_escape(struct reader *r)
{
	char c = r->p[1];
	if (c == '\0') {
		r->p++;
		return fail(r);
	}
	r->p += 2;
	if (strchr("bBAzZGKE", c))
		return info_exact(""); /* assertions: they match no text */
	if (strchr("dDwWsShHvVRNXntrfea", c))
		return info_any();
	if (c == 'p' || c == 'P' || c == 'o')
		return read_braced(r);
	if (c == 'x') {
		if (*r->p == '{')
			return read_braced(r);
		for (int i = 0; i < 2 && *r->p && strchr("0123456789abcdefABCDEF", *r->p); i++)
			r->p++;
		return info_any();
	}
	if (c == 'c')
		return read_braced(r);
	if ((unsigned char)c >= 0x80) {
		r->p--;
		return read_utf8(r);
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return fail(r); /* backreferences, \Q, \g, \k and what else: give up */
	char s[2] = {c, '\0'};
	return info_exact(s);
}

/* The body of a group up to its ')'. */
static struct info read_group_body(struct reader *r, bool zero_width)
{
	struct info i = read_alt(r);
	if (*r->p != ')') {
		info_free(&i);
		return fail(r);
	}
	r->p++;
	if (zero_width) {
		info_free(&i);
		return info_exact("");
	}
	return i;
}

/* (?flags) or (?flags:...); extended mode changes what spaces mean: give up on it. */
static struct info read_flags(struct reader *r)
{
	const char *p = r->p;
	while (*p && strchr("imnsxUJ^-", *p))
		p++;
	if (memchr(r->p, 'x', (size_t)(p - r->p)) || (*p != ')' && *p != ':'))
		return fail(r);
	r->p = p + 1;
	return *p == ')' ? info_exact("") : read_group_body(r, false);
}

static struct info read_group(struct reader *r)
{
	const char *p = r->p + 1;
	if (*p != '?') {
		r->p = p;
		return *p == '*' ? fail(r) : read_group_body(r, false);
	}
	p++;
	if (*p == '#') {
		const char *e = strchr(p, ')');
		if (e == NULL)
			return fail(r);
		r->p = e + 1;
		return info_exact("");
	}
	if (*p == ':' || *p == '>' || *p == '|' || *p == '=' || *p == '!') {
		r->p = p + 1;
		return read_group_body(r, *p == '=' || *p == '!');
	}
	if (*p == '<' && (p[1] == '=' || p[1] == '!')) {
		r->p = p + 2;
		return read_group_body(r, true);
	}
	if (*p == '<' || *p == '\'' || (*p == 'P' && p[1] == '<')) { /* a named group */
		const char *e = strchr(p + 1, *p == '\'' ? '\'' : '>');
		if (e == NULL)
			return fail(r);
		r->p = e + 1;
		return read_group_body(r, false);
	}
	r->p = p;
	return read_flags(r);
}

static struct info read_atom(struct reader *r)
{
	unsigned char c = (unsigned char)*r->p;
	switch (c) {
	case '(':
		return ++r->depth > DEPTH_MAX ? fail(r) : read_group(r);
	case '[':
		return read_class(r);
	case '\\':
		return read_escape(r);
	case '.':
		r->p++;
		return info_any();
	case '^':
	case '$':
		r->p++;
		return info_exact("");
	case '*':
	case '+':
	case '?':
	case '{':
		return fail(r);
	default:
		if (c >= 0x80)
			return read_utf8(r);
		r->p++;
		char s[2] = {(char)(c >= 'A' && c <= 'Z' ? c + 32 : c), '\0'};
		return info_exact(s);
	}
}

/* {n}, {n,}, {n,m}: false when the brace is not a quantifier (PCRE2 takes it literally). */
static bool read_braces(const char **pp, long *min, long *max)
{
	char *e;
	const char *p = *pp + 1;
	if (*p < '0' || *p > '9')
		return false;
	*min = strtol(p, &e, 10);
	*max = *min;
	if (*e == ',') {
		*max = -1;
		if (e[1] >= '0' && e[1] <= '9')
			*max = strtol(e + 1, &e, 10);
		else
			e++;
	}
	if (*e != '}')
		return false;
	*pp = e + 1;
	return true;
}

/* The quantifier after an atom, if any, applied to what the atom matches. */
static struct info read_quantifier(struct reader *r, struct info i)
{
	long min = 1, max = 1;
	char q = *r->p;
	if (q == '?' || q == '*' || q == '+') {
		r->p++;
		min = q == '+';
		max = q == '?' ? 1 : -1;
	} else if (q == '{' && !read_braces(&r->p, &min, &max)) {
		info_free(&i);
		return fail(r);
	} else if (q != '{') {
		return i;
	}
	if (*r->p == '?' || *r->p == '+') /* lazy or possessive: the same texts */
		r->p++;
	if (min == 0 && max == 1 && i.exact && i.set.n < EXACT_MAX) {
		set_add(&i.set, "");
		return i;
	}
	if (min == 0) {
		info_free(&i);
		return info_any();
	}
	return min == 1 && max == 1 ? i : required(i);
}

static struct info read_concat(struct reader *r)
{
	struct seq q = {.run = info_exact(""), .best = info_any()};
	while (*r->p && *r->p != '|' && *r->p != ')' && !r->failed)
		seq_add(&q, read_quantifier(r, read_atom(r)));
	return seq_end(&q);
}

static struct info read_alt(struct reader *r)
{
	struct info i = read_concat(r);
	while (*r->p == '|' && !r->failed) {
		r->p++;
		i = alternate(i, read_concat(r));
	}
	r->depth--;
	return i;
}

/* Drops a literal that holds another: when the other is missing, so is it. */
static void simplify(struct strvec *v)
{
	bool *drop = xcalloc(v->n ? v->n : 1, sizeof(*drop));
	for (size_t i = 0; i < v->n; i++)
		for (size_t j = 0; j < v->n && !drop[i]; j++)
			drop[i] =
			    j != i && strlen(v->v[j]) < strlen(v->v[i]) && strstr(v->v[i], v->v[j]);
	size_t n = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (drop[i])
			free(v->v[i]);
		else
			v->v[n++] = v->v[i];
	}
	v->n = n;
	free(drop);
}

bool prefilter_literals(const char *pattern, struct strvec *out)
{
	struct reader r = {.p = pattern, .depth = 1};
	struct info i = required(read_alt(&r));
	bool ok = !r.failed && *r.p == '\0' && i.set.n > 0;
	if (ok) {
		simplify(&i.set);
		ok = i.set.n <= LIT_MAX && min_len(&i.set) >= LIT_MIN_LEN;
	}
	for (size_t k = 0; ok && k < i.set.n; k++)
		strvec_push(out, i.set.v[k]);
	info_free(&i);
	return ok;
}

/* ---- the automaton ---- */

struct pattern {
	uint32_t *lit; /* numbers of its literals */
	size_t n;
};

struct prefilter {
	struct strvec lits; /* every pattern's literals, once each */
	struct pattern *pats;
	size_t npats;
	bool built;
	unsigned char cls[256]; /* byte -> input class; 0: a byte in no literal */
	size_t ncls;
	size_t nstates;
	uint32_t *delta;    /* nstates * ncls: the next state */
	int32_t *lit_at;    /* per state: the literal ending here, or -1 */
	int32_t *first_out; /* per state: itself or the nearest suffix state where a literal ends */
	int32_t *next_out;  /* per state with a literal: the next such state on its suffix chain */
};

struct prefilter *prefilter_new(void)
{
	return xcalloc(1, sizeof(struct prefilter));
}

void prefilter_free(struct prefilter *pf)
{
	if (pf == NULL)
		return;
	for (size_t i = 0; i < pf->npats; i++)
		free(pf->pats[i].lit);
	free(pf->pats);
	strvec_free(&pf->lits);
	free(pf->delta);
	free(pf->lit_at);
	free(pf->first_out);
	free(pf->next_out);
	free(pf);
}

static uint32_t lit_number(struct prefilter *pf, const char *s)
{
	for (size_t i = 0; i < pf->lits.n; i++)
		if (strcmp(pf->lits.v[i], s) == 0)
			return (uint32_t)i;
	strvec_push(&pf->lits, s);
	return (uint32_t)(pf->lits.n - 1);
}

int prefilter_add(struct prefilter *pf, const char *pattern)
{
	struct strvec lits = {0};
	if (pf->built || !prefilter_literals(pattern, &lits)) {
		strvec_free(&lits);
		return -1;
	}
	pf->pats = xreallocarray(pf->pats, pf->npats + 1, sizeof(*pf->pats));
	struct pattern *p = &pf->pats[pf->npats];
	p->lit = xreallocarray(NULL, lits.n, sizeof(*p->lit));
	p->n = lits.n;
	for (size_t i = 0; i < lits.n; i++)
		p->lit[i] = lit_number(pf, lits.v[i]);
	strvec_free(&lits);
	return (int)pf->npats++;
}

/* Input classes: one per byte the literals use, upper-case letters with their lower case. */
static void make_classes(struct prefilter *pf)
{
	pf->ncls = 1;
	for (size_t i = 0; i < pf->lits.n; i++)
		for (const unsigned char *c = (const unsigned char *)pf->lits.v[i]; *c; c++)
			if (pf->cls[*c] == 0)
				pf->cls[*c] = (unsigned char)pf->ncls++;
	for (int c = 'A'; c <= 'Z'; c++)
		pf->cls[c] = pf->cls[c + 32];
}

static uint32_t new_state(struct prefilter *pf, size_t *cap)
{
	if (pf->nstates == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		pf->delta = xreallocarray(pf->delta, *cap * pf->ncls, sizeof(*pf->delta));
		pf->lit_at = xreallocarray(pf->lit_at, *cap, sizeof(*pf->lit_at));
	}
	for (size_t k = 0; k < pf->ncls; k++)
		pf->delta[pf->nstates * pf->ncls + k] = UINT32_MAX; /* no edge yet */
	pf->lit_at[pf->nstates] = -1;
	return (uint32_t)pf->nstates++;
}

static void make_trie(struct prefilter *pf)
{
	size_t cap = 0;
	new_state(pf, &cap);
	for (size_t i = 0; i < pf->lits.n; i++) {
		uint32_t s = 0;
		for (const unsigned char *c = (const unsigned char *)pf->lits.v[i]; *c; c++) {
			uint32_t *e = &pf->delta[s * pf->ncls + pf->cls[*c]];
			if (*e == UINT32_MAX) {
				uint32_t n = new_state(pf, &cap); /* may move delta */
				pf->delta[s * pf->ncls + pf->cls[*c]] = n;
			}
			s = pf->delta[s * pf->ncls + pf->cls[*c]];
		}
		pf->lit_at[s] = (int32_t)i;
	}
}

/* Breadth first: every missing edge goes where the longest suffix would go (Aho-Corasick). */
static void make_links(struct prefilter *pf)
{
	size_t n = pf->nstates, head = 0, tail = 0;
	uint32_t *fail = xcalloc(n, sizeof(*fail)), *queue = xcalloc(n, sizeof(*queue));
	pf->first_out = xreallocarray(NULL, n, sizeof(*pf->first_out));
	pf->next_out = xreallocarray(NULL, n, sizeof(*pf->next_out));
	pf->first_out[0] = pf->next_out[0] = -1;
	queue[tail++] = 0;
	while (head < tail) {
		uint32_t s = queue[head++];
		for (size_t k = 0; k < pf->ncls; k++) {
			uint32_t *e = &pf->delta[s * pf->ncls + k];
			uint32_t via = s ? pf->delta[fail[s] * pf->ncls + k] : 0;
			if (*e == UINT32_MAX || k == 0) {
				*e = via;
				continue;
			}
			fail[*e] = via;
			pf->next_out[*e] = pf->first_out[via];
			pf->first_out[*e] = pf->lit_at[*e] >= 0 ? (int32_t)*e : pf->first_out[via];
			queue[tail++] = *e;
		}
	}
	free(fail);
	free(queue);
}

void prefilter_build(struct prefilter *pf)
{
	if (pf->built)
		return;
	pf->built = true;
	if (pf->lits.n == 0)
		return;
	make_classes(pf);
	make_trie(pf);
	make_links(pf);
}

/*
 * The class of the character at s[*i] >= 0x80, stepping over the rest of it. PCRE2's caseless
 * matching takes the Kelvin sign for k and the long s for s; the Turkish dotted and dotless
 * i are folded to i as well, which can only make the answer "maybe" more often.
 */
static unsigned fold_wide(const struct prefilter *pf, const unsigned char *s, size_t len, size_t *i)
{
	size_t k = *i;
	if (k + 2 < len && s[k] == 0xe2 && s[k + 1] == 0x84 && s[k + 2] == 0xaa) {
		*i += 2;
		return pf->cls['k'];
	}
	if (k + 1 < len && s[k] == 0xc5 && s[k + 1] == 0xbf) {
		*i += 1;
		return pf->cls['s'];
	}
	if (k + 1 < len && s[k] == 0xc4 && (s[k + 1] == 0xb0 || s[k + 1] == 0xb1)) {
		*i += 1;
		return pf->cls['i'];
	}
	return 0;
}

void prefilter_scan(const struct prefilter *pf, const char *text, size_t len,
                    struct prefilter_scan *out)
{
	out->seen = xcalloc(pf->lits.n / 8 + 1, 1);
	if (!pf->built || pf->lits.n == 0)
		return;
	const unsigned char *s = (const unsigned char *)text;
	uint32_t st = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned k = s[i] < 0x80 ? pf->cls[s[i]] : fold_wide(pf, s, len, &i);
		st = pf->delta[st * pf->ncls + k];
		for (int32_t t = pf->first_out[st]; t >= 0; t = pf->next_out[t]) {
			int32_t lit = pf->lit_at[t];
			out->seen[lit >> 3] |= (unsigned char)(1u << (lit & 7));
		}
	}
}

void prefilter_scan_free(struct prefilter_scan *sc)
{
	free(sc->seen);
	sc->seen = NULL;
}

bool prefilter_may_match(const struct prefilter *pf, int id, const struct prefilter_scan *sc)
{
	if (id < 0 || (size_t)id >= pf->npats || !pf->built || sc->seen == NULL)
		return true;
	const struct pattern *p = &pf->pats[id];
	for (size_t i = 0; i < p->n; i++)
		if (sc->seen[p->lit[i] >> 3] & (1u << (p->lit[i] & 7)))
			return true;
	return false;
}
