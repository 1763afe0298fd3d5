/*
 * person: display names into title, first and last name. Words are compared and re-cased one
 * code point at a time, with a small case table (Latin, Greek, Cyrillic) of our own: the
 * process's locale may be "C", and a greeting must not depend on it.
 */
#include "tend/person.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tend/util.h"

/* Honorifics, lowercase and without a final dot: "Sig.ra" is "sig.ra", "Mme." is "mme". */
static const char *const titles[] = {
    "mr",        "mrs",      "ms",       "miss",         "mx",     "dr",        "prof",   "sir",
    "dame",      "herr",     "frau",     "hr",           "fr",     "dipl.-ing", "m",      "mme",
    "mlle",      "monsieur", "madame",   "mademoiselle", "sr",     "sra",       "srta",   "señor",
    "señora",    "señorita", "sig",      "sig.ra",       "sig.na", "sigg",      "signor", "signora",
    "signorina", "dott",     "dott.ssa", "ing",          "avv",    "dhr",       "mevr",   "mw",
    "mej",       "meneer",   "mevrouw",
};

/* What follows "Dr." and belongs to it: "Dr. med.", "Dr. rer. nat.", "Prof. Dr. med. dent.". */
static const char *const degrees[] = {"med",   "dent",  "vet",  "rer", "nat",  "phil",
                                      "jur",   "oec",   "pol",  "soc", "sc",   "h.c",
                                      "theol", "habil", "paed", "agr", "techn"};

/* What may follow a name and is not part of it: "John Smith Jr.", "Smith, John, PhD". */
static const char *const suffixes[] = {"jr",  "sr",   "junior", "senior", "ii",  "iii", "iv",
                                       "phd", "ph.d", "md",     "m.d",    "esq", "mba", "msc"};

/* Words before a last name that belong to it, lowercase: "van der Berg", "de la Cruz". */
static const char *const particles[] = {"van", "von", "der", "den", "de", "del", "della",
                                        "dei", "di",  "da",  "das", "do", "dos", "du",
                                        "la",  "le",  "ten", "ter", "te", "zu",  "'t"};

/* The other case of a letter, or 0 when it has none in our table. */
static uint32_t other_case(uint32_t c, bool *upper)
{
	*upper = false;
	if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7) ||
	    (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) || (c >= 0x430 && c <= 0x44f))
		return c - 0x20;
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
	    (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f)) {
		*upper = true;
		return c + 0x20;
	}
	if (c >= 0x450 && c <= 0x45f)
		return c - 0x50;
	if (c >= 0x400 && c <= 0x40f) {
		*upper = true;
		return c + 0x50;
	}
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) {
		*upper = (c & 1) == 0;
		return c ^ 1;
	}
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) {
		*upper = (c & 1) == 1;
		return *upper ? c + 1 : c - 1;
	}
	return 0;
}

static uint32_t to_case(uint32_t c, bool upper)
{
	bool is_upper;
	uint32_t o = other_case(c, &is_upper);
	return o != 0 && is_upper != upper ? o : c;
}

/* A byte that is not valid UTF-8: kept as it was. */
#define RAW_BYTE 0x80000000u

/* Decodes s into code points (an invalid byte is marked RAW_BYTE); returns how many. */
static size_t decode(const char *s, uint32_t *out)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t len = *p < 0xc0 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
		if (len == 1 || !utf8_valid((const char *)p, len)) {
			out[n++] = *p >= 0x80 ? RAW_BYTE | *p : *p;
			p++;
			continue;
		}
		uint32_t c = *p & (0xff >> (len + 1));
		for (size_t i = 1; i < len; i++)
			c = c << 6 | (p[i] & 0x3f);
		out[n++] = c;
		p += len;
	}
	return n;
}

static void encode(struct buf *b, uint32_t c)
{
	if (c < 0x80 || (c & RAW_BYTE) != 0) {
		buf_putc(b, (char)(c & 0xff));
	} else if (c < 0x800) {
		buf_putc(b, (char)(0xc0 | c >> 6));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_putc(b, (char)(0xe0 | c >> 12));
		buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_putc(b, (char)(0xf0 | c >> 18));
		buf_putc(b, (char)(0x80 | ((c >> 12) & 0x3f)));
		buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_putc(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* Whether the letter at c[i] starts a part of the name: "Anne-Marie", "O'Brien", "McDonald". */
static bool starts_part(const uint32_t *c, size_t i)
{
	if (i == 0 || c[i - 1] == '-' || c[i - 1] == ' ')
		return true;
	if (i == 2 && (c[1] == '\'' || c[1] == 0x2019))
		return true;
	return i == 2 && (c[0] == 'm' || c[0] == 'M') && (c[1] == 'c' || c[1] == 'C') && c[3] != 0;
}

/*
 * The word re-cased if it is written all in capitals or all in lower case ("JOHN", "o'brien");
 * a particle ("VAN") goes lower case. Mixed case ("McDonald", "DeShawn") is the customer's own.
 */
static char *fix_case(const char *w, bool particle)
{
	uint32_t *c = xreallocarray(NULL, strlen(w) + 1, sizeof(*c));
	size_t n = decode(w, c);
	c[n] = 0;
	bool upper, has_upper = false, has_lower = false;
	for (size_t i = 0; i < n; i++)
		if (other_case(c[i], &upper) != 0)
			*(upper ? &has_upper : &has_lower) = true;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		encode(&b, has_upper != has_lower ? to_case(c[i], !particle && starts_part(c, i))
		                                  : c[i]);
	free(c);
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

/* The word as the tables hold it: lower case, without a final dot. */
static char *key(const char *w)
{
	uint32_t *c = xreallocarray(NULL, strlen(w) + 1, sizeof(*c));
	size_t n = decode(w, c);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		if (!(i == n - 1 && c[i] == '.'))
			encode(&b, to_case(c[i], false));
	free(c);
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

static bool in_list(const char *w, const char *const *list, size_t n)
{
	char *k = key(w);
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(k, list[i]) == 0;
	free(k);
	return found;
}

static bool is_title(const char *w)
{
	return in_list(w, titles, NELEM(titles));
}

/* "med." after a title, written with its dot: "Dr. Nat Berg" is Nat. */
static bool is_degree(const char *w)
{
	size_t n = strlen(w);
	return n > 1 && w[n - 1] == '.' && in_list(w, degrees, NELEM(degrees));
}

static bool is_suffix(const char *w)
{
	return in_list(w, suffixes, NELEM(suffixes));
}

static bool is_particle(const char *w)
{
	return in_list(w, particles, NELEM(particles));
}

/* "J", "J.", "J.R.": letters alone, no name to greet someone by. */
static bool is_initial(const char *w)
{
	uint32_t *c = xreallocarray(NULL, strlen(w) + 1, sizeof(*c));
	size_t n = decode(w, c), letters = 0;
	for (size_t i = 0; i < n; i++)
		letters += c[i] != '.';
	bool initial = true;
	for (size_t i = 0; i < n && initial; i++)
		initial = c[i] == '.' || i + 1 == n || c[i + 1] == '.';
	free(c);
	return initial && letters > 0;
}

/* The name without double quotes and (comments), and without single quotes around it all. */
static char *clean(const char *name)
{
	struct buf b = BUF_INIT;
	int depth = 0;
	for (const char *p = name; *p; p++) {
		depth += *p == '(';
		if (depth == 0 && *p != '"' && *p != ')')
			buf_putc(&b, *p);
		depth -= *p == ')' && depth > 0;
	}
	char *s = b.data ? buf_steal(&b) : xstrdup("");
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
	return s;
}

/* The words of s[0..n), without the punctuation that separates them from the next. */
static void split_words(const char *s, size_t n, struct strvec *out)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && strchr(" \t\r\n", s[i]) != NULL)
			i++;
		size_t start = i;
		while (i < n && strchr(" \t\r\n", s[i]) == NULL)
			i++;
		size_t end = i;
		while (end > start && strchr(",;:<>[]", s[end - 1]) != NULL)
			end--;
		while (start < end && strchr("<>[]", s[start]) != NULL)
			start++;
		if (end > start)
			strvec_push_owned(out, xstrndup(s + start, end - start));
	}
}

/*
 * Moves the honorifics at w[i...] into title, with the degrees that follow them ("Dr. med.");
 * returns the index of the first other word.
 */
static size_t take_titles(const struct strvec *w, size_t i, struct strvec *title)
{
	while (i < w->n) {
		bool joined = title->n > 0 && i + 1 < w->n && is_title(w->v[i + 1]) &&
		              (strcmp(w->v[i], "&") == 0 || str_ieq(w->v[i], "and"));
		if (i + 1 < w->n && str_ieq(w->v[i], "de") && str_ieq(w->v[i + 1], "heer")) {
			strvec_push(title, w->v[i++]); /* Dutch "De heer", two words for "Mr" */
		} else if (!is_title(w->v[i]) && !joined && !(title->n > 0 && is_degree(w->v[i]))) {
			break;
		}
		strvec_push(title, w->v[i++]);
	}
	return i;
}

/* t with its degrees in lower case, as they are written: "DR. MED." re-cased is "Dr. med.". */
static char *lower_degrees(const char *t)
{
	struct strvec w = STRVEC_INIT;
	split_words(t, strlen(t), &w);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < w.n; i++) {
		char *k = is_degree(w.v[i]) ? key(w.v[i]) : NULL;
		buf_printf(&b, "%s%s%s", i > 0 ? " " : "", k ? k : w.v[i], k ? "." : "");
		free(k);
	}
	strvec_free(&w);
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* Where w[from..n) ends without a trailing "Jr." or "PhD"; one word always stays. */
static size_t drop_suffixes(const struct strvec *w, size_t from)
{
	size_t to = w->n;
	while (to > from + 1 && is_suffix(w->v[to - 1]))
		to--;
	return to;
}

static bool all_suffixes(const struct strvec *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (!is_suffix(w->v[i]))
			return false;
	return true;
}

/* w[from..to) joined with spaces, a name's words re-cased (particles lower); NULL if empty. */
static char *join(const struct strvec *w, size_t from, size_t to, bool name)
{
	if (from >= to)
		return NULL;
	struct buf b = BUF_INIT;
	for (size_t i = from; i < to; i++) {
		char *s =
		    name ? fix_case(w->v[i], i + 1 < to && is_particle(w->v[i])) : xstrdup(w->v[i]);
		buf_printf(&b, "%s%s", i > from ? " " : "", s);
		free(s);
	}
	return buf_steal(&b);
}

/* The first given name in w[from..to) that is not an initial: "J. Robert Smith" is Robert. */
static char *given(const struct strvec *w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (!is_initial(w->v[i]))
			return fix_case(w->v[i], false);
	return NULL;
}

/* "Anna Maria van der Berg": the first name, then the last word with its particles. */
static void name_in_order(struct person *p, const struct strvec *w, size_t from, size_t to,
                          bool titled)
{
	if (to - from == 1) {
		/* "Mr Smith" is a last name; "Anna" alone is a first name. */
		if (titled)
			p->last = join(w, from, to, true);
		else
			p->first = given(w, from, to);
		return;
	}
	size_t last = to - 1;
	while (last - 1 > from && is_particle(w->v[last - 1]))
		last--;
	p->first = given(w, from, last);
	p->last = join(w, last, to, true);
}

void person_parse(const char *display_name, struct person *p)
{
	memset(p, 0, sizeof(*p));
	if (display_name == NULL || strchr(display_name, '@') != NULL)
		return;
	char *s = clean(display_name);
	const char *comma = strchr(s, ',');
	struct strvec a = STRVEC_INIT, b = STRVEC_INIT, title = STRVEC_INIT;
	split_words(s, comma ? (size_t)(comma - s) : strlen(s), &a);
	if (comma != NULL)
		split_words(comma + 1, strlen(comma + 1), &b);
	if (all_suffixes(&b)) /* "John Smith, Jr." is not "Last, First" */
		strvec_free(&b);
	size_t ia = take_titles(&a, 0, &title), ib = take_titles(&b, 0, &title);
	size_t ta = drop_suffixes(&a, ia), tb = drop_suffixes(&b, ib);
	if (tb > ib) { /* "Berg, Dr. Anna" */
		p->first = given(&b, ib, tb);
		p->last = join(&a, ia, ta, true);
	} else if (ta > ia) {
		name_in_order(p, &a, ia, ta, title.n > 0);
	}
	if (title.n > 0) {
		/* Re-cased as a whole: "De heer" is as the customer wrote it, "MR" is not. */
		char *raw = join(&title, 0, title.n, false);
		char *cased = fix_case(raw, false);
		p->title = lower_degrees(cased);
		free(cased);
		free(raw);
	}
	strvec_free(&title);
	strvec_free(&b);
	strvec_free(&a);
	free(s);
}

/* A web form's labels for the sender's whole name, lowercase, in the six languages. */
static const char *const form_labels[] = {
    "name",
    "full name",
    "your name",
    "ihr name",
    "vollständiger name",
    "nom",
    "nom complet",
    "votre nom",
    "nombre",
    "nombre completo",
    "su nombre",
    "nome",
    "nome e cognome",
    "il tuo nome",
    "naam",
    "volledige naam",
    "uw naam",
};

/* s[0..n) without the blanks around it: its start, and *len its length. */
static const char *trim(const char *s, size_t n, size_t *len)
{
	while (n > 0 && strchr(" \t\r", s[0]) != NULL)
		s++, n--;
	while (n > 0 && strchr(" \t\r", s[n - 1]) != NULL)
		n--;
	*len = n;
	return s;
}

/* The value of a "Name: Anna Berg" line (n bytes); NULL for any other line. */
static char *form_field(const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	if (colon == NULL)
		return NULL;
	size_t llen, vlen;
	const char *l = trim(line, (size_t)(colon - line), &llen);
	const char *v = trim(colon + 1, n - (size_t)(colon + 1 - line), &vlen);
	char *label = xstrndup(l, llen);
	bool name = in_list(label, form_labels, NELEM(form_labels));
	free(label);
	/* No control bytes: the name is shown in terminals and written into the greeting. */
	for (size_t i = 0; name && i < vlen; i++)
		name = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
	return name && vlen > 0 && vlen <= PERSON_FORM_NAME_MAX ? xstrndup(v, vlen) : NULL;
}

char *person_form_name(const char *text)
{
	for (const char *p = text; p != NULL && *p;) {
		size_t n = strcspn(p, "\n");
		char *v = form_field(p, n);
		if (v != NULL)
			return v;
		p += n + (p[n] == '\n');
	}
	return NULL;
}

void person_free(struct person *p)
{
	free(p->title);
	free(p->first);
	free(p->last);
	memset(p, 0, sizeof(*p));
}
