/*
 * rules_eval: a parsed message against the compiled rules, and the explanation of it.
 *
 * Evaluating and explaining are one code path: each condition's evaluator writes what it saw
 * when an explanation is asked for, so `tend rules test` can never disagree with the daemon.
 * Texts are checked for valid UTF-8 once per message (and mended if need be), which is what
 * makes PCRE2_NO_UTF_CHECK safe on every match that follows.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules_int.h"
#include "tend/lang.h"

/* How much of a text an explanation shows, in characters: a match's context is shared out
 * to both sides of it, and never less than CONTEXT_MIN a side. */
#define SHOW_MAX    60
#define CONTEXT_MIN 10
#define WORD_SNAP   10 /* bytes a cut may move to fall between words */

#define TEXT_PAD 64 /* zero bytes after every text that is matched, for the JIT's wide loads */

/* A copy of a text that is valid UTF-8 (mended if need be), padded for the JIT; and, once a
 * filtered pattern meets it, which of the rules' literals it holds. */
struct vtext {
	const char *s;
	size_t len;
	char *owned;
	bool scanned;
	struct prefilter_scan scan;
};

/* Where the customer raised the rule being matched: its first text condition that held. */
struct seen {
	const char *in; /* "subject", "body", or NULL: none yet */
	size_t position;
};

struct rules_ctx {
	const struct rules *r;
	const struct rules_input *in;
	pcre2_match_data *md; /* one for the whole evaluation, sized for the largest pattern */
	struct vtext subject, new_text, text;
	struct buf *out; /* explaining: where lines go; NULL when only evaluating */
	int depth;
	struct lang_guess lang; /* the new text's language, once lang_known */
	bool lang_known;
	struct seen seen;
};

/*
 * A copy with zeroed padding after it: the JIT's SIMD searches load whole 16- or 32-byte blocks
 * and may read past the end of the text. That is harmless (the loads stay within the page),
 * but valgrind cannot know it, and a test that cannot run under valgrind hides real errors.
 */
static void vtext_set(struct vtext *t, const char *s)
{
	struct buf b = BUF_INIT;
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || utf8_valid(s, len))
		buf_append(&b, s ? s : "", len);
	else
		utf8_sanitize(&b, s, len);
	buf_reserve(&b, TEXT_PAD);
	memset(b.data + b.len, 0, TEXT_PAD + 1);
	t->len = b.len;
	t->s = t->owned = buf_steal(&b);
	t->scanned = false;
}

static void vtext_free(struct vtext *t)
{
	free(t->owned);
	t->owned = NULL;
	if (t->scanned)
		prefilter_scan_free(&t->scan);
	t->scanned = false;
}

/* False when the text lacks every literal the pattern needs: PCRE2 would find nothing. */
static bool worth_matching(struct rules_ctx *x, const struct rules_regex *re, struct vtext *t)
{
	if (re->prefilter < 0)
		return true;
	if (!t->scanned) {
		prefilter_scan(x->r->prefilter, t->s, t->len, &t->scan);
		t->scanned = true;
	}
	return prefilter_may_match(x->r->prefilter, re->prefilter, &t->scan);
}

/* Returns 1 with the match's bounds, 0 for no match, -1 when PCRE2 gave up (no match). */
static int find(struct rules_ctx *x, struct rules_regex *re, struct vtext *t, size_t *so,
                size_t *eo)
{
	if (!worth_matching(x, re, t))
		return 0;
	int rc = pcre2_match(re->code, (PCRE2_SPTR)t->s, t->len, 0, PCRE2_NO_UTF_CHECK, x->md,
	                     x->r->mctx);
	if (rc >= 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
		*so = ov[0];
		*eo = ov[1] >= ov[0] ? ov[1] : ov[0];
		return 1;
	}
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (!re->warned) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(rc, msg, sizeof(msg));
		log_warnx("rules: pattern '%s' gave up (%s); counted as no match", re->src,
		          (const char *)msg);
		re->warned = true;
	}
	return -1;
}

/* ---- explanation helpers ---- */

static void say(struct rules_ctx *x, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void say(struct rules_ctx *x, const char *fmt, ...)
{
	for (int i = 0; i <= x->depth; i++)
		buf_puts(x->out, "  ");
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_puts(x->out, s);
	buf_putc(x->out, '\n');
	free(s);
}

/* Back or forward over n characters from i, never splitting one. */
static size_t chars_back(const char *s, size_t i, int n)
{
	while (i > 0 && n > 0) {
		i--;
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n--;
	}
	return i;
}

static size_t chars_fwd(const char *s, size_t len, size_t i, int n)
{
	while (i < len && n > 0) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		n--;
	}
	return i;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* s[from..to) on one line, quoted: runs of white space (line breaks too) become one space. */
static void put_quoted(struct buf *b, const char *s, size_t from, size_t to, bool pre, bool post)
{
	buf_puts(b, pre ? "\"..." : "\"");
	bool space = false, started = false;
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space((char)c)) {
			space = true;
			continue;
		}
		if (space && started)
			buf_putc(b, ' ');
		space = false;
		started = true;
		buf_putc(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	buf_puts(b, post ? "...\"" : "\"");
}

/*
 * The matched words, then the text around them: a short text whole, a long one cut to about
 * SHOW_MAX characters around the match, so that the line stays readable in a terminal.
 */
static void put_match(struct buf *b, const struct vtext *t, size_t so, size_t eo)
{
	size_t cut = chars_fwd(t->s, t->len, so, SHOW_MAX);
	if (eo > cut)
		eo = cut;
	buf_puts(b, "matched ");
	put_quoted(b, t->s, so, eo, false, eo == cut && cut < t->len);
	buf_puts(b, " in ");
	if (chars_fwd(t->s, t->len, 0, SHOW_MAX) == t->len) {
		put_quoted(b, t->s, 0, t->len, false, false);
		return;
	}
	int mlen = 0;
	for (size_t i = so; i < eo; i++)
		mlen += ((unsigned char)t->s[i] & 0xc0) != 0x80;
	int side = (SHOW_MAX - mlen) / 2;
	side = side < CONTEXT_MIN ? CONTEXT_MIN : side;
	size_t from = chars_back(t->s, so, side), to = chars_fwd(t->s, t->len, eo, side);
	/* Whole words read better than "...n der Tisch" when a space is close by. */
	for (size_t i = from; from > 0 && i < so && i < from + WORD_SNAP; i++) {
		if (is_space(t->s[i])) {
			from = i + 1;
			break;
		}
	}
	for (size_t i = to; to < t->len && i > eo && i + WORD_SNAP > to; i--) {
		if (is_space(t->s[i - 1])) {
			to = i - 1;
			break;
		}
	}
	put_quoted(b, t->s, from, to, from > 0, to < t->len);
}

static void put_start(struct buf *b, const struct vtext *t)
{
	size_t to = chars_fwd(t->s, t->len, 0, SHOW_MAX);
	put_quoted(b, t->s, 0, to, false, to < t->len);
}

/* The pattern as it could be written in rules.yaml: single-quoted, '' for a quote. */
static void put_pattern(struct buf *b, const struct rules_regex *re)
{
	buf_putc(b, '\'');
	for (const char *p = re->src; *p != '\0'; p++) {
		if (*p == '\'')
			buf_putc(b, '\'');
		buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

/* Explains one pattern tried on one text (rc as find returned it). */
static void explain_try(struct rules_ctx *x, const char *what, const struct rules_regex *re,
                        const struct vtext *t, int rc, size_t so, size_t eo)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s ", what);
	put_pattern(&b, re);
	if (rc > 0) {
		buf_putc(&b, ' ');
		put_match(&b, t, so, eo);
	} else if (rc < 0) {
		buf_puts(&b, " gave up (too much backtracking): counted as no match");
	} else if (t->len == 0) {
		buf_puts(&b, " did not match: the text is empty");
	} else {
		buf_puts(&b, " did not match ");
		put_start(&b, t);
	}
	say(x, "%s", b.data);
	buf_free(&b);
}

/* ---- leaf conditions ---- */

/* Tries the pattern on t; *at is where the match starts. */
static bool match_text(const struct rules_cond *c, struct rules_ctx *x, const char *what,
                       struct vtext *t, size_t *at)
{
	size_t so = 0, eo = 0;
	int rc = find(x, c->re, t, &so, &eo);
	if (x->out != NULL)
		explain_try(x, what, c->re, t, rc, so, eo);
	*at = so;
	return rc > 0;
}

/* The characters in t before byte so (none for no text). */
static size_t chars_before(const struct vtext *t, size_t so)
{
	size_t n = 0;
	for (size_t i = 0; t != NULL && i < so; i++)
		n += ((unsigned char)t->s[i] & 0xc0) != 0x80;
	return n;
}

/* Notes where the rule's first text condition that holds matched, in characters. */
static void note_seen(struct rules_ctx *x, const char *in, const struct vtext *t, size_t so)
{
	if (x->seen.in != NULL)
		return;
	x->seen.in = in;
	x->seen.position = chars_before(t, so);
}

bool rules_eval_subject(const struct rules_cond *c, struct rules_ctx *x)
{
	size_t so;
	bool ok = match_text(c, x, "subject", &x->subject, &so);
	if (ok)
		note_seen(x, "subject", NULL, 0);
	return ok;
}

bool rules_eval_body(const struct rules_cond *c, struct rules_ctx *x)
{
	size_t so;
	bool ok = match_text(c, x, "body", &x->new_text, &so);
	if (ok)
		note_seen(x, "body", &x->new_text, so);
	return ok;
}

bool rules_eval_from(const struct rules_cond *c, struct rules_ctx *x)
{
	struct vtext t;
	size_t so;
	vtext_set(&t, x->in->message->from.addr);
	bool ok = match_text(c, x, "from", &t, &so);
	vtext_free(&t);
	return ok;
}

/* Tries the pattern on each value until one matches; explains the match, or every miss. */
static bool match_any_of(const struct rules_cond *c, struct rules_ctx *x, const char *what,
                         const struct strvec *values)
{
	struct buf *out = x->out;
	struct buf misses = BUF_INIT;
	bool ok = false;
	for (size_t i = 0; i < values->n && !ok; i++) {
		struct vtext t;
		vtext_set(&t, values->v[i]);
		size_t so = 0, eo = 0;
		int rc = find(x, c->re, &t, &so, &eo);
		ok = rc > 0;
		if (out != NULL && (ok || rc < 0)) {
			explain_try(x, what, c->re, &t, rc, so, eo);
		} else if (out != NULL) {
			buf_puts(&misses, misses.len ? ", " : "");
			put_start(&misses, &t);
		}
		vtext_free(&t);
	}
	if (out != NULL && !ok && misses.len > 0) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s ", what);
		put_pattern(&b, c->re);
		say(x, "%s did not match %s", b.data, misses.data);
		buf_free(&b);
	}
	buf_free(&misses);
	return ok;
}

static void push_addrs(struct strvec *sv, const struct message_addrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		strvec_push(sv, a->v[i].addr);
}

bool rules_eval_to(const struct rules_cond *c, struct rules_ctx *x)
{
	struct strvec addrs = STRVEC_INIT;
	push_addrs(&addrs, &x->in->message->to);
	push_addrs(&addrs, &x->in->message->cc);
	bool ok = match_any_of(c, x, "to", &addrs);
	if (addrs.n == 0 && x->out != NULL)
		say(x, "to: the message has no To or Cc address");
	strvec_free(&addrs);
	return ok;
}

bool rules_eval_header(const struct rules_cond *c, struct rules_ctx *x)
{
	const struct message *m = x->in->message;
	struct strvec values = STRVEC_INIT;
	for (size_t i = 0; i < m->nheaders; i++)
		if (str_ieq(m->headers[i].name, c->header))
			strvec_push_owned(&values, message_decode_header(m->headers[i].value));
	char *what = xasprintf("header %s", c->header);
	bool ok = match_any_of(c, x, what, &values);
	if (values.n == 0 && x->out != NULL)
		say(x, "%s: no such header", what);
	free(what);
	strvec_free(&values);
	return ok;
}

bool rules_eval_attachment(const struct rules_cond *c, struct rules_ctx *x)
{
	const struct message *m = x->in->message;
	bool ok = (m->nattachments > 0) == c->flag;
	if (x->out == NULL)
		return ok;
	if (m->nattachments == 0) {
		say(x, "has_attachment %s: %s (no attachments)", c->flag ? "true" : "false",
		    ok ? "held" : "did not hold");
		return ok;
	}
	const char *first = m->attachments[0].filename;
	say(x, "has_attachment %s: %s (%zu attachment%s: %s%s)", c->flag ? "true" : "false",
	    ok ? "held" : "did not hold", m->nattachments, m->nattachments == 1 ? "" : "s",
	    first ? first : m->attachments[0].content_type, m->nattachments > 1 ? ", ..." : "");
	return ok;
}

bool rules_ask_first_message(const struct rules *r)
{
	return r->asks_first;
}

bool rules_eval_first(const struct rules_cond *c, struct rules_ctx *x)
{
	bool ok = x->in->first_message == c->flag;
	if (x->out != NULL)
		say(x, "first_message %s: %s (%s)", c->flag ? "true" : "false",
		    ok ? "held" : "did not hold",
		    x->in->first_message ? "it starts a conversation"
		                         : "it is part of a conversation");
	return ok;
}

/* The language of the message's new text, told once per evaluation. */
static const struct lang_guess *ctx_lang(struct rules_ctx *x)
{
	if (!x->lang_known)
		lang_detect(x->new_text.s, &x->r->langs, rules_language(x->r), &x->lang);
	x->lang_known = true;
	return &x->lang;
}

bool rules_eval_lang(const struct rules_cond *c, struct rules_ctx *x)
{
	const struct lang_guess *g = ctx_lang(x);
	bool ok = strvec_contains(&c->langs, g->code);
	if (x->out == NULL)
		return ok;
	struct buf list = BUF_INIT;
	for (size_t i = 0; i < c->langs.n; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", c->langs.v[i]);
	say(x, "lang %s: %s (the text is in %s%s%s)", list.data, ok ? "held" : "did not hold",
	    g->code, g->note[0] ? ", the default: " : "", g->note);
	buf_free(&list);
	return ok;
}

/* ---- facts ---- */

/* The fact's value, or NULL after saying why there is none. */
static const char *fact_value(const struct rules_cond *c, struct rules_ctx *x, const char *what)
{
	const char *v = rules_fact_value(x->in->facts, c->header);
	if (v == NULL && x->out != NULL)
		say(x, "%s %s: did not hold (no such fact: %s)", what, c->header,
		    x->in->facts == NULL ? "no lookups ran" : "the lookup failed or did not say");
	return v;
}

bool rules_eval_fact(const struct rules_cond *c, struct rules_ctx *x)
{
	const char *v = fact_value(c, x, "fact");
	if (v == NULL)
		return false;
	struct vtext t;
	vtext_set(&t, v);
	size_t at = 0;
	char *what = xasprintf("fact %s", c->header);
	bool ok = match_text(c, x, what, &t, &at);
	free(what);
	vtext_free(&t);
	return ok;
}

/* 86400 as "24h", 90 as "90s": in the largest unit that divides it, as rules.yaml says it. */
static void put_age(char *out, size_t n, int64_t s)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
	for (size_t i = 0; i < NELEM(units); i++) {
		if (s != 0 && s % units[i].secs == 0 && (units[i].unit != 'd' || s / 86400 > 1)) {
			snprintf(out, n, "%lld%c", (long long)(s / units[i].secs), units[i].unit);
			return;
		}
	}
	snprintf(out, n, "%llds", (long long)s);
}

/* What an age was measured against, after the age: "before the message's Date", "ago". */
static const char *age_against(const struct rules_input *in, bool after)
{
	if (in->received == 0)
		return after ? "ahead" : "ago";
	if (in->received_is_date)
		return after ? "after the message's Date" : "before the message's Date";
	return after ? "after the message came" : "before the message came";
}

bool rules_eval_fact_age(const struct rules_cond *c, struct rules_ctx *x)
{
	const char *v = fact_value(c, x, "fact_age");
	int64_t age = 0;
	if (v == NULL)
		return false;
	int64_t ref = x->in->received ? x->in->received : (int64_t)time(NULL);
	bool ok_time = rules_fact_age_of(v, ref, &age);
	if (ok_time && age < 0 && x->in->arrived > ref)
		ok_time = rules_fact_age_of(v, x->in->arrived, &age);
	if (!ok_time) {
		if (x->out != NULL)
			say(x, "fact_age %s: did not hold (\"%s\" is not a timestamp)", c->header,
			    v);
		return false;
	}
	bool ok = c->flag ? age > c->age : age < c->age;
	if (x->out != NULL) {
		char want[32], was[32];
		put_age(want, sizeof(want), c->age);
		put_age(was, sizeof(was), age < 0 ? -age : age);
		say(x, "fact_age %s '%c%s': %s (%s is %s %s)", c->header, c->flag ? '>' : '<', want,
		    ok ? "held" : "did not hold", v, was, age_against(x->in, age < 0));
	}
	return ok;
}

/* ---- any, all, not ---- */

/*
 * Evaluates a kid of a group: what it saw counts only when it held (so a not that holds, whose kid
 * did not, never says where the customer raised anything).
 */
static bool eval_kid(const struct rules_cond *kid, struct rules_ctx *x)
{
	struct seen before = x->seen;
	bool ok = kid->eval(kid, x);
	if (!ok)
		x->seen = before;
	return ok;
}

static bool group_holds(const struct rules_cond *c, size_t held)
{
	if (c->eval == rules_eval_any)
		return held > 0;
	if (c->eval == rules_eval_not)
		return held == 0;
	return held == c->nkids;
}

static void say_group(struct rules_ctx *x, const struct rules_cond *c, size_t held, bool ok)
{
	if (c->eval == rules_eval_not)
		say(x, "not: %s",
		    ok ? "held (the condition below did not)"
		       : "did not hold (the condition below held)");
	else if (c->eval == rules_eval_any && !ok)
		say(x, "any: none of %zu held", c->nkids);
	else
		say(x, "%s: %s (%zu of %zu)", c->kind ? c->kind : "all",
		    ok ? "held" : "did not hold", held, c->nkids);
}

/*
 * Explaining evaluates every kid, not only up to the first that decides: an operator wants
 * to see all of what held. The group's own line comes first, so the kids' lines wait in a
 * buffer of their own. A condition mapping with one key needs no line of its own.
 */
static bool explain_group(const struct rules_cond *c, struct rules_ctx *x)
{
	if (c->kind == NULL && c->nkids == 1)
		return eval_kid(&c->kids[0], x);
	struct buf *out = x->out, kids = BUF_INIT;
	x->out = &kids;
	x->depth++;
	size_t held = 0;
	struct seen seen = x->seen;
	for (size_t i = 0; i < c->nkids; i++) {
		held += eval_kid(&c->kids[i], x);
		/* Evaluating, an any stops at its first kid that holds: what later ones see is
		 * explained, and counts for nothing. */
		if (held == 1 && c->eval == rules_eval_any && seen.in == NULL)
			seen = x->seen;
	}
	if (c->eval == rules_eval_any)
		x->seen = seen;
	x->depth--;
	x->out = out;
	bool ok = group_holds(c, held);
	say_group(x, c, held, ok);
	buf_append(out, kids.data ? kids.data : "", kids.len);
	buf_free(&kids);
	return ok;
}

bool rules_eval_all(const struct rules_cond *c, struct rules_ctx *x)
{
	if (x->out != NULL)
		return explain_group(c, x);
	for (size_t i = 0; i < c->nkids; i++)
		if (!eval_kid(&c->kids[i], x))
			return false;
	return true;
}

bool rules_eval_any(const struct rules_cond *c, struct rules_ctx *x)
{
	if (x->out != NULL)
		return explain_group(c, x);
	for (size_t i = 0; i < c->nkids; i++)
		if (eval_kid(&c->kids[i], x))
			return true;
	return false;
}

bool rules_eval_not(const struct rules_cond *c, struct rules_ctx *x)
{
	if (x->out != NULL)
		return explain_group(c, x);
	return !eval_kid(&c->kids[0], x);
}

/* ---- rules ---- */

/* The rule's whole match: its lines follow "rule NAME: matched" when explaining. */
static bool match_rule(struct rules_ctx *x, const struct rules_rule *rule)
{
	x->seen = (struct seen){NULL, 0};
	if (x->out == NULL)
		return rule->match.eval(&rule->match, x);
	struct buf *out = x->out, lines = BUF_INIT;
	x->out = &lines;
	size_t held = 0;
	for (size_t i = 0; i < rule->match.nkids; i++)
		held += eval_kid(&rule->match.kids[i], x);
	x->out = out;
	bool ok = held == rule->match.nkids;
	buf_printf(out, "rule %s: %s", rule->name, ok ? "matched" : "not matched");
	if (ok && rule->template_name != NULL)
		buf_printf(out, " (template %s)", rule->template_name);
	buf_putc(out, '\n');
	buf_append(out, lines.data ? lines.data : "", lines.len);
	buf_free(&lines);
	return ok;
}

/* Values from the first of n texts the pattern matches, with where; false when none does. */
static bool capture_texts(struct rules_ctx *x, const struct rules_capture *cap,
                          struct rules_match *m, struct vtext *const *texts,
                          const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t so, eo;
		if (find(x, cap->re, texts[i], &so, &eo) <= 0)
			continue;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
		for (size_t v = 0; v < cap->vars.n; v++) {
			uint32_t g = cap->groups[v];
			if (ov[2 * g] == PCRE2_UNSET ||
			    strvec_contains(&m->capture_names, cap->vars.v[v]))
				continue;
			strvec_push(&m->capture_names, cap->vars.v[v]);
			strvec_push_owned(&m->capture_values, xstrndup(texts[i]->s + ov[2 * g],
			                                               ov[2 * g + 1] - ov[2 * g]));
			strvec_push(&m->capture_sources, names[i]);
		}
		return true;
	}
	return false;
}

static bool capture_lacks(const struct rules_capture *cap, const struct rules_match *m)
{
	for (size_t v = 0; v < cap->vars.n; v++)
		if (!strvec_contains(&m->capture_names, cap->vars.v[v]))
			return true;
	return false;
}

/* "message 3, 2 Dec": an earlier message as `tend show` numbers it. */
static char *earlier_name(const struct rules_input *in, const struct rules_earlier *e)
{
	char mon[16] = "";
	struct tm tm;
	local_time_in(in->timezone, e->when, &tm);
	strftime(mon, sizeof(mon), "%b", &tm);
	return xasprintf("message %llu, %d %s", (unsigned long long)e->id, tm.tm_mday, mon);
}

/* What the message lacks, from the conversation's earlier messages, newest first. */
static void capture_earlier(struct rules_ctx *x, const struct rules_capture *cap,
                            struct rules_match *m)
{
	for (size_t i = 0; i < x->in->nearlier && capture_lacks(cap, m); i++) {
		const struct rules_earlier *e = &x->in->earlier[i];
		struct vtext subject, new_text;
		vtext_set(&subject, e->message->subject);
		vtext_set(&new_text, e->message->new_text);
		char *name = earlier_name(x->in, e);
		struct vtext *texts[] = {&subject, &new_text};
		const char *names[] = {name, name};
		capture_texts(x, cap, m, texts, names, NELEM(texts));
		free(name);
		vtext_free(&subject);
		vtext_free(&new_text);
	}
}

/* Values from the message's subject, new text or text, else from earlier messages. */
static bool capture_one(struct rules_ctx *x, const struct rules_capture *cap, struct rules_match *m)
{
	static const char *const names[] = {"the subject", "the new text", "the text"};
	struct vtext *texts[] = {&x->subject, &x->new_text, &x->text};
	size_t before = m->capture_names.n;
	capture_texts(x, cap, m, texts, names, NELEM(texts));
	if (capture_lacks(cap, m))
		capture_earlier(x, cap, m);
	return m->capture_names.n > before;
}

static void capture_all(struct rules_ctx *x, const struct rules_rule *rule, struct rules_match *m)
{
	for (size_t i = 0; i < rule->ncaptures; i++) {
		size_t before = m->capture_names.n;
		bool found = capture_one(x, &rule->captures[i], m);
		if (x->out == NULL)
			continue;
		if (!found)
			say(x, "capture %s: no match in the subject, the new text or the text%s",
			    rule->captures[i].key,
			    x->in->nearlier ? ", nor in the conversation's earlier messages" : "");
		for (size_t v = before; v < m->capture_names.n; v++) {
			struct buf b = BUF_INIT;
			put_quoted(&b, m->capture_values.v[v], 0, strlen(m->capture_values.v[v]),
			           false, false);
			say(x, "capture %s = %s (from %s)", m->capture_names.v[v], b.data,
			    m->capture_sources.v[v]);
			buf_free(&b);
		}
	}
}

static void ctx_init(struct rules_ctx *x, const struct rules *r, const struct rules_input *in,
                     struct buf *out);
static void ctx_finish(struct rules_ctx *x);

enum { NO, YES, UNKNOWN };

/* Whether c holds, with fact conditions unknown (Kleene's logic): before the lookups. */
static int maybe(const struct rules_cond *c, struct rules_ctx *x)
{
	if (c->eval == rules_eval_fact || c->eval == rules_eval_fact_age)
		return UNKNOWN;
	if (c->eval == rules_eval_not) {
		int v = maybe(&c->kids[0], x);
		return v == UNKNOWN ? UNKNOWN : v == NO ? YES : NO;
	}
	if (c->eval != rules_eval_all && c->eval != rules_eval_any)
		return c->eval(c, x) ? YES : NO;
	bool any = c->eval == rules_eval_any;
	int res = any ? NO : YES;
	for (size_t i = 0; i < c->nkids; i++) {
		int v = maybe(&c->kids[i], x);
		if (v == (any ? YES : NO))
			return v;
		if (v == UNKNOWN)
			res = UNKNOWN;
	}
	return res;
}

void rules_lookup_captures(const struct rules *r, const struct rules_input *in,
                           struct strvec *names, struct strvec *values)
{
	struct rules_ctx x;
	struct rules_match m = {0};
	ctx_init(&x, r, in, NULL);
	for (size_t i = 0; i < r->nrules; i++) {
		int v = maybe(&r->rules[i].match, &x);
		if (v != NO)
			capture_all(&x, &r->rules[i], &m);
		if (v == YES && r->rules[i].stop)
			break;
	}
	ctx_finish(&x);
	strvec_free(&m.capture_sources); /* a lookup needs the values, not where they came from */
	*names = m.capture_names;
	*values = m.capture_values;
}

/*
 * Characters before the first place in the new text where one of c's body conditions (not
 * under a `not`) matches; SIZE_MAX when none does. Breaks ties between parts that both start
 * at the subject: "voucher + cancellation" with the voucher raised first in the body.
 */
static size_t first_body_match(struct rules_ctx *x, const struct rules_cond *c)
{
	size_t best = SIZE_MAX, so = 0, eo = 0;
	if (c->eval == rules_eval_not)
		return best;
	if (c->eval == rules_eval_body && find(x, c->re, &x->new_text, &so, &eo) > 0)
		return chars_before(&x->new_text, so);
	for (size_t i = 0; i < c->nkids; i++) {
		size_t p = first_body_match(x, &c->kids[i]);
		best = p < best ? p : best;
	}
	return best;
}

static void add_match(struct rules_ctx *x, const struct rules_rule *rule, struct rules_result *res)
{
	res->matches = xreallocarray(res->matches, res->nmatches + 1, sizeof(*res->matches));
	struct rules_match *m = &res->matches[res->nmatches++];
	memset(m, 0, sizeof(*m));
	m->rule = rule->name;
	m->template = rule->template;
	m->index = (size_t)(rule - x->r->rules);
	m->place = rule->place;
	m->settles = rule->settles.n ? &rule->settles : NULL;
	m->seen = x->seen.in;
	m->position = x->seen.position;
	m->body_position = m->seen != NULL && strcmp(m->seen, "body") == 0
	                       ? m->position
	                       : first_body_match(x, &rule->match);
	capture_all(x, rule, m);
	for (size_t i = 0; i < rule->tags.n; i++)
		if (!strvec_contains(&res->tags, rule->tags.v[i]))
			strvec_push(&res->tags, rule->tags.v[i]);
	/* A rule that does not say is as urgent as any message: it never lowers the priority. */
	int priority = rule->priority < 0 ? RULES_PRIORITY_NORMAL : rule->priority;
	if (priority > res->priority)
		res->priority = priority;
	if (rule->ignore && !res->ignore) {
		res->ignore = true;
		res->ignore_reason = xasprintf("rule \"%s\"", rule->name);
	}
}

static void ctx_init(struct rules_ctx *x, const struct rules *r, const struct rules_input *in,
                     struct buf *out)
{
	memset(x, 0, sizeof(*x));
	x->r = r;
	x->in = in;
	x->out = out;
	x->md = pcre2_match_data_create(r->max_pairs, NULL);
	if (x->md == NULL)
		fatalx("pcre2: out of memory");
	vtext_set(&x->subject, in->message->subject);
	vtext_set(&x->new_text, in->message->new_text);
	vtext_set(&x->text, in->message->text);
}

static void ctx_finish(struct rules_ctx *x)
{
	pcre2_match_data_free(x->md);
	vtext_free(&x->subject);
	vtext_free(&x->new_text);
	vtext_free(&x->text);
}

/* Evaluates in rule order; returns how many rules a `stop` left unevaluated. */
static size_t run(struct rules_ctx *x, struct rules_result *res, const char **stopped_by)
{
	*stopped_by = NULL;
	for (size_t i = 0; i < x->r->nrules; i++) {
		const struct rules_rule *rule = &x->r->rules[i];
		if (!match_rule(x, rule))
			continue;
		add_match(x, rule, res);
		if (rule->stop) {
			*stopped_by = rule->name;
			return x->r->nrules - i - 1;
		}
	}
	return 0;
}

static void evaluate(const struct rules *r, const struct rules_input *in, struct rules_result *res,
                     struct buf *out)
{
	memset(res, 0, sizeof(*res));
	res->priority = -1;
	char *why = NULL;
	if (rules_automated(in->message, &why)) {
		res->automated = res->ignore = true;
		res->ignore_reason = why;
	}
	rules_facts_copy(&res->facts, in->facts);
	struct rules_ctx x;
	ctx_init(&x, r, in, out);
	const char *stopped_by;
	size_t skipped = run(&x, res, &stopped_by);
	/* Told only when a rule asked: otherwise rules_result_lang tells it where it is needed. */
	if (x.lang_known) {
		memcpy(res->lang, x.lang.code, sizeof(res->lang));
		memcpy(res->lang_note, x.lang.note, sizeof(res->lang_note));
	}
	if (res->priority < 0)
		res->priority = RULES_PRIORITY_NORMAL;
	if (out != NULL && stopped_by != NULL)
		buf_printf(out, "stopped by rule %s (stop: true): %zu later rule%s not evaluated\n",
		           stopped_by, skipped, skipped == 1 ? "" : "s");
	ctx_finish(&x);
}

void rules_eval(const struct rules *r, const struct rules_input *in, struct rules_result *out)
{
	evaluate(r, in, out, NULL);
}

void rules_text_lang(const struct rules *r, const char *text, struct lang_guess *out)
{
	struct vtext t;
	vtext_set(&t, text);
	lang_detect(t.s, r ? &r->langs : NULL, r ? rules_language(r) : "en", out);
	vtext_free(&t);
}

void rules_result_lang(const struct rules *r, const struct message *m, struct rules_result *res)
{
	if (res->lang[0])
		return;
	struct lang_guess g;
	rules_text_lang(r, m->new_text, &g);
	memcpy(res->lang, g.code, sizeof(res->lang));
	memcpy(res->lang_note, g.note, sizeof(res->lang_note));
}

void rules_capture_earlier(const struct rules *r, const struct rules_input *in,
                           struct rules_result *res)
{
	if (in->nearlier == 0)
		return;
	struct rules_ctx x;
	ctx_init(&x, r, in, NULL);
	for (size_t i = 0; i < res->nmatches; i++) {
		struct rules_match *m = &res->matches[i];
		const struct rules_rule *rule = m->index < r->nrules ? &r->rules[m->index] : NULL;
		for (size_t k = 0; rule != NULL && k < rule->ncaptures; k++)
			if (capture_lacks(&rule->captures[k], m))
				capture_earlier(&x, &rule->captures[k], m);
	}
	ctx_finish(&x);
}

bool rules_capture_lacking(const struct rules *r, const struct rules_result *res)
{
	for (size_t i = 0; i < res->nmatches; i++) {
		const struct rules_match *m = &res->matches[i];
		const struct rules_rule *rule = m->index < r->nrules ? &r->rules[m->index] : NULL;
		for (size_t k = 0; rule != NULL && k < rule->ncaptures; k++)
			if (capture_lacks(&rule->captures[k], m))
				return true;
	}
	return false;
}

int rules_match_cmp(const struct rules_match *a, const struct rules_match *b)
{
	if (a->place != b->place)
		return a->place < b->place ? -1 : 1;
	if (a->place == RULES_PLACE_TEXT && a->position != b->position)
		return a->position < b->position ? -1 : 1;
	/* Both at the start (the subject): by where the body raised them; one the body never
	 * names stays at the start, before them (SIZE_MAX + 1 is 0). */
	if (a->place == RULES_PLACE_TEXT && a->body_position != b->body_position)
		return a->body_position + 1 < b->body_position + 1 ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int match_ptr_cmp(const void *a, const void *b)
{
	return rules_match_cmp(*(const struct rules_match *const *)a,
	                       *(const struct rules_match *const *)b);
}

/* The name a template was loaded under, for "draft: greeting + refund + closing". */
static const char *template_name(const struct rules *r, const struct template *t)
{
	for (size_t i = 0; i < r->ntemplates; i++)
		if (r->templates[i].t == t)
			return r->templates[i].name;
	return "?";
}

/* Why a part is where it is: "refund (body, character 58)", "apology (place: first)". */
static void explain_place(const struct rules_match *m, struct buf *out)
{
	bool in_body = m->seen != NULL && strcmp(m->seen, "body") == 0;
	buf_printf(out, "%s (", m->rule);
	if (m->place != RULES_PLACE_TEXT)
		buf_printf(out, "place: %s", m->place == RULES_PLACE_FIRST ? "first" : "last");
	else if (in_body)
		buf_printf(out, "body, character %zu", m->position + 1);
	else
		buf_puts(out, m->seen ? "subject" : "no text condition: the start");
	/* Parts that tie at the start go by the body: say where it raised them. */
	if (m->place == RULES_PLACE_TEXT && !in_body && m->body_position != SIZE_MAX)
		buf_printf(out, "; body, character %zu", m->body_position + 1);
	buf_putc(out, ')');
}

static void explain_draft(const struct rules *r, const struct rules_result *res, struct buf *out)
{
	if (res->ignore) {
		buf_printf(out, "draft: none; ignored because of %s\n", res->ignore_reason);
		return;
	}
	const struct rules_match **parts = xcalloc(res->nmatches + 1, sizeof(*parts));
	size_t n = 0;
	for (size_t i = 0; i < res->nmatches; i++)
		if (res->matches[i].template != NULL)
			parts[n++] = &res->matches[i];
	qsort(parts, n, sizeof(*parts), match_ptr_cmp);
	buf_printf(out, "draft: %s", template_name(r, rules_localize(r, r->greeting, res->lang)));
	for (size_t i = 0; i < n; i++)
		buf_printf(out, " + %s",
		           template_name(r, rules_localize(r, parts[i]->template, res->lang)));
	if (n == 0)
		buf_printf(out, " + %s (the fallback: no matching rule has a template)",
		           template_name(r, rules_localize(r, r->fallback, res->lang)));
	buf_printf(out, " + %s\n", template_name(r, rules_localize(r, r->closing, res->lang)));
	for (size_t i = 0; n > 1 && i < n; i++) {
		buf_puts(out, i ? ", " : "parts in the customer's order: ");
		explain_place(parts[i], out);
	}
	if (n > 1)
		buf_putc(out, '\n');
	free(parts);
}

static void explain_summary(const struct rules *r, const struct rules_result *res, struct buf *out)
{
	if (res->automated)
		buf_printf(out, "automated: yes (%s): never answered automatically\n",
		           res->ignore_reason);
	else
		buf_puts(out, "automated: no\n");
	buf_puts(out, "tags: ");
	for (size_t i = 0; i < res->tags.n; i++)
		buf_printf(out, "%s%s", i ? ", " : "", res->tags.v[i]);
	buf_printf(out, "%s   priority: %s\n", res->tags.n ? "" : "(none)",
	           rules_priority_name(res->priority));
	explain_draft(r, res, out);
}

void rules_explain(const struct rules *r, const struct rules_input *in, struct rules_result *res,
                   struct buf *out)
{
	evaluate(r, in, res, out);
	if (r->nrules == 0)
		buf_printf(out, "no rules in %s\n", r->path);
	explain_summary(r, res, out);
}

const char *rules_template_rule(const struct rules *r, const char *template)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (r->rules[i].template && r->rules[i].template_name &&
		    strcmp(r->rules[i].template_name, template) == 0)
			return r->rules[i].name;
	return NULL;
}

int rules_match_by_hand(const struct rules *r, const char *rule, const struct rules_input *in,
                        struct rules_match *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rr = &r->rules[i];
		if (strcmp(rr->name, rule) != 0 || rr->template == NULL)
			continue;
		struct rules_ctx x;
		ctx_init(&x, r, in, NULL);
		out->rule = rr->name;
		out->template = rr->template;
		out->index = i;
		out->place = rr->place;
		out->settles = rr->settles.n ? &rr->settles : NULL;
		capture_all(&x, rr, out);
		ctx_finish(&x);
		return 0;
	}
	return -1;
}

void rules_match_finish(struct rules_match *m)
{
	strvec_free(&m->capture_names);
	strvec_free(&m->capture_values);
	strvec_free(&m->capture_sources);
}

void rules_result_finish(struct rules_result *res)
{
	for (size_t i = 0; i < res->nmatches; i++)
		rules_match_finish(&res->matches[i]);
	free(res->matches);
	strvec_free(&res->tags);
	free(res->ignore_reason);
	rules_facts_finish(&res->facts);
	memset(res, 0, sizeof(*res));
}
