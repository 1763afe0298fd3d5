/*
 * diff: unified line diffs (Myers' O(ND) algorithm, with a bound on D).
 *
 * The common prefix and suffix are set aside first (an edit of a draft usually touches a few
 * lines in the middle), then Myers' greedy search finds a shortest edit script for what is
 * left, keeping each round's furthest-reaching paths to walk back through. Past MAX_D rounds
 * the search stops and the middle is shown as replaced whole.
 */
#include "tend/diff.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tend/util.h"

/* The search keeps about MAX_D * MAX_D integers (8 MiB) before it gives up. */
#define MAX_D 1024

struct line {
	const char *p;
	size_t len; /* including the '\n', when there is one */
	uint64_t hash;
};

struct lines {
	struct line *v;
	size_t n;
};

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void split(const char *s, struct lines *l)
{
	size_t cap = 0;
	l->v = NULL;
	l->n = 0;
	for (const char *p = s ? s : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (l->n == cap) {
			cap = cap ? cap * 2 : 16;
			l->v = xreallocarray(l->v, cap, sizeof(*l->v));
		}
		l->v[l->n++] = (struct line){p, len, fnv1a(p, len)};
		p += len;
	}
}

static bool line_eq(const struct line *x, const struct line *y)
{
	return x->hash == y->hash && x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

/* The part of the two texts that differs: a[a0, a1) against b[b0, b1). */
struct span {
	const struct lines *a, *b;
	size_t a0, a1, b0, b1;
};

static bool eq_at(const struct span *s, ptrdiff_t x, ptrdiff_t y)
{
	return line_eq(&s->a->v[s->a0 + (size_t)x], &s->b->v[s->b0 + (size_t)y]);
}

/* The furthest x on diagonal k that round d reaches, from the previous round's v. */
static ptrdiff_t next_x(const ptrdiff_t *v, ptrdiff_t k, ptrdiff_t d)
{
	if (k == -d || (k != d && v[k - 1] < v[k + 1]))
		return v[k + 1];
	return v[k - 1] + 1;
}

/*
 * Runs the forward search. trace[d] receives round d's v (diagonals -d..d, centred). Returns
 * the number of rounds D, or -1 when the bound was reached.
 */
static ptrdiff_t search(const struct span *s, ptrdiff_t **trace)
{
	ptrdiff_t n = (ptrdiff_t)(s->a1 - s->a0), m = (ptrdiff_t)(s->b1 - s->b0);
	ptrdiff_t max = n + m < MAX_D ? n + m : MAX_D;
	ptrdiff_t *vbuf = xcalloc((size_t)(2 * max + 3), sizeof(*vbuf));
	ptrdiff_t *v = vbuf + max + 1, found = -1;
	for (ptrdiff_t d = 0; d <= max && found < 0; d++) {
		for (ptrdiff_t k = -d; k <= d; k += 2) {
			ptrdiff_t x = d == 0 ? 0 : next_x(v, k, d), y = x - k;
			while (x < n && y < m && eq_at(s, x, y))
				x++, y++;
			v[k] = x;
			if (x >= n && y >= m)
				found = d;
		}
		trace[d] = xmalloc((size_t)(2 * d + 1) * sizeof(**trace));
		memcpy(trace[d], v - d, (size_t)(2 * d + 1) * sizeof(**trace));
	}
	free(vbuf);
	return found;
}

/* Walks back from (n, m) through the saved rounds, marking what was deleted and inserted. */
static void backtrack(const struct span *s, ptrdiff_t **trace, ptrdiff_t dmax, bool *del, bool *ins)
{
	ptrdiff_t x = (ptrdiff_t)(s->a1 - s->a0), y = (ptrdiff_t)(s->b1 - s->b0);
	for (ptrdiff_t d = dmax; d > 0; d--) {
		const ptrdiff_t *v = trace[d - 1] + (d - 1); /* centred on diagonal 0 */
		ptrdiff_t k = x - y;
		ptrdiff_t pk = (k == -d || (k != d && v[k - 1] < v[k + 1])) ? k + 1 : k - 1;
		ptrdiff_t px = v[pk], py = px - pk;
		while (x > px && y > py)
			x--, y--;
		if (x == px)
			ins[s->b0 + (size_t)py] = true;
		else
			del[s->a0 + (size_t)px] = true;
		x = px;
		y = py;
	}
}

/* Marks the lines of a that b lacks (del) and the lines of b that a lacks (ins). */
static void compare(const struct lines *a, const struct lines *b, bool *del, bool *ins)
{
	struct span s = {a, b, 0, a->n, 0, b->n};
	while (s.a0 < s.a1 && s.b0 < s.b1 && line_eq(&a->v[s.a0], &b->v[s.b0]))
		s.a0++, s.b0++;
	while (s.a1 > s.a0 && s.b1 > s.b0 && line_eq(&a->v[s.a1 - 1], &b->v[s.b1 - 1]))
		s.a1--, s.b1--;
	size_t rounds = (s.a1 - s.a0) + (s.b1 - s.b0);
	rounds = (rounds < MAX_D ? rounds : MAX_D) + 1;
	ptrdiff_t **trace = xcalloc(rounds, sizeof(*trace));
	ptrdiff_t d = search(&s, trace);
	if (d >= 0) {
		backtrack(&s, trace, d, del, ins);
	} else {
		for (size_t i = s.a0; i < s.a1; i++)
			del[i] = true;
		for (size_t j = s.b0; j < s.b1; j++)
			ins[j] = true;
	}
	for (size_t i = 0; i < rounds; i++)
		free(trace[i]);
	free(trace);
}

/* One step of the edit script: keep a line of both, delete one of a, insert one of b. */
struct op {
	char kind;     /* ' ', '-', '+' */
	size_t ai, bj; /* lines of a and b before this step */
};

static struct op *script(const struct lines *a, const struct lines *b, const bool *del,
                         const bool *ins, size_t *nops)
{
	struct op *ops = xcalloc(a->n + b->n + 1, sizeof(*ops));
	size_t i = 0, j = 0, n = 0;
	while (i < a->n || j < b->n) {
		struct op o = {' ', i, j};
		if (i < a->n && del[i])
			o.kind = '-', i++;
		else if (j < b->n && ins[j])
			o.kind = '+', j++;
		else
			i++, j++;
		ops[n++] = o;
	}
	*nops = n;
	return ops;
}

/* GNU's range: "L" for one line, "L,N" otherwise, the line before for an empty range. */
static void put_range(struct buf *out, size_t start, size_t count)
{
	if (count == 1)
		buf_printf(out, "%zu", start + 1);
	else if (count == 0)
		buf_printf(out, "%zu,0", start);
	else
		buf_printf(out, "%zu,%zu", start + 1, count);
}

static void put_line(struct buf *out, char kind, const struct line *l)
{
	buf_putc(out, kind);
	buf_append(out, l->p, l->len);
	if (l->len == 0 || l->p[l->len - 1] != '\n')
		buf_puts(out, "\n\\ No newline at end of file\n");
}

static void put_hunk(struct buf *out, const struct lines *a, const struct lines *b,
                     const struct op *ops, size_t from, size_t to)
{
	size_t na = 0, nb = 0;
	for (size_t i = from; i < to; i++) {
		na += ops[i].kind != '+';
		nb += ops[i].kind != '-';
	}
	buf_puts(out, "@@ -");
	put_range(out, ops[from].ai, na);
	buf_puts(out, " +");
	put_range(out, ops[from].bj, nb);
	buf_puts(out, " @@\n");
	for (size_t i = from; i < to; i++) {
		if (ops[i].kind == '+')
			put_line(out, '+', &b->v[ops[i].bj]);
		else
			put_line(out, ops[i].kind, &a->v[ops[i].ai]);
	}
}

/* Groups changes less than 2 * DIFF_CONTEXT kept lines apart into hunks, and prints them. */
static void put_hunks(struct buf *out, const struct lines *a, const struct lines *b,
                      const struct op *ops, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && ops[i].kind == ' ')
			i++;
		if (i == n)
			break;
		size_t from = i > DIFF_CONTEXT ? i - DIFF_CONTEXT : 0, last = i;
		for (size_t k = i; k < n && k <= last + 2 * DIFF_CONTEXT + 1; k++)
			if (ops[k].kind != ' ')
				last = k;
		size_t to = last + 1 + DIFF_CONTEXT < n ? last + 1 + DIFF_CONTEXT : n;
		put_hunk(out, a, b, ops, from, to);
		i = last + 1;
	}
}

char *diff_unified(const char *a, const char *b, const char *label_a, const char *label_b)
{
	struct lines la, lb;
	split(a, &la);
	split(b, &lb);
	bool *del = xcalloc(la.n + 1, sizeof(*del)), *ins = xcalloc(lb.n + 1, sizeof(*ins));
	compare(&la, &lb, del, ins);
	size_t nops;
	struct op *ops = script(&la, &lb, del, ins, &nops);
	struct buf out = BUF_INIT;
	bool changed = false;
	for (size_t i = 0; i < nops && !changed; i++)
		changed = ops[i].kind != ' ';
	if (changed) {
		buf_printf(&out, "--- %s\n+++ %s\n", label_a ? label_a : "a",
		           label_b ? label_b : "b");
		put_hunks(&out, &la, &lb, ops, nops);
	}
	free(ops);
	free(del);
	free(ins);
	free(la.v);
	free(lb.v);
	return buf_steal(&out);
}
