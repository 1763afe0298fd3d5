/*
 * message_quote: the customer's own words in a reply.
 *
 * Line based: quoted lines ("> ...") go, so does the attribution line that introduces a quote
 * ("On ... wrote:", "Am ... schrieb ...:", "Le ... a écrit :", also when wrapped over two
 * lines), and everything from the first forwarded or original-message marker, Outlook header
 * block ("From: ...\nSent: ...") or signature separator ("-- ") to the end. When that leaves
 * nothing, less is removed, so that a message with any unquoted words never ends up empty.
 */
#include <string.h>

#include "message_int.h"

struct line {
	const char *s;
	size_t n;
};

enum {
	STRIP_CUT = 1,  /* markers, Outlook blocks and signatures end the text */
	STRIP_ATTR = 2, /* attribution lines go with their quotes */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool nbsp_at(const char *s, size_t n)
{
	return n >= 2 && (unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xa0;
}

/* The line without its first k bytes. */
static struct line skip(struct line l, size_t k)
{
	l.s += k;
	l.n -= k;
	return l;
}

/* The line without leading and trailing blanks (no-break spaces included). */
static struct line trim(struct line l)
{
	for (;;) {
		if (l.n > 0 && is_space(l.s[0]))
			l = skip(l, 1);
		else if (nbsp_at(l.s, l.n))
			l = skip(l, 2);
		else
			break;
	}
	for (;;) {
		if (l.n > 0 && is_space(l.s[l.n - 1]))
			l.n--;
		else if (l.n >= 2 && nbsp_at(l.s + l.n - 2, 2))
			l.n -= 2;
		else
			break;
	}
	return l;
}

static bool blank(struct line l)
{
	return trim(l).n == 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool starts_ci(struct line l, const char *prefix)
{
	size_t k = strlen(prefix);
	if (l.n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (lower(l.s[i]) != prefix[i])
			return false;
	return true;
}

/* needle (lowercase) in l at a word start. */
static bool has_word(struct line l, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= l.n; i++) {
		if (i > 0 && l.s[i - 1] != ' ' && l.s[i - 1] != ',' && l.s[i - 1] != '>')
			continue;
		struct line rest = {l.s + i, l.n - i};
		if (starts_ci(rest, needle))
			return true;
	}
	return false;
}

static bool is_quote(struct line l)
{
	size_t i = 0;
	while (i < l.n && i < 3 && l.s[i] == ' ')
		i++;
	return i < l.n && l.s[i] == '>';
}

static bool is_signature(struct line l)
{
	while (l.n > 0 && is_space(l.s[l.n - 1]))
		l.n--;
	return l.n == 2 && l.s[0] == '-' && l.s[1] == '-';
}

/* Whether a marker (below) can begin with c: a dash, underscore or equals sign, or the first
 * letter of a "whole" one. */
static bool may_start_marker(char c)
{
	switch (lower(c)) {
	case '-':
	case '_':
	case '=':
	case 'b':
	case 'a':
	case 'd':
	case 'i':
		return true;
	default:
		return false;
	}
}

static bool is_marker(struct line l)
{
	static const char *const inner[] = {"original message",
	                                    "forwarded message",
	                                    "ursprüngliche nachricht",
	                                    "original-nachricht",
	                                    "weitergeleitete nachricht",
	                                    "message d'origine",
	                                    "message d’origine",
	                                    "message transféré",
	                                    "mensaje original",
	                                    "mensaje reenviado",
	                                    "oorspronkelijk bericht",
	                                    "doorgestuurd bericht",
	                                    "originalmeddelande",
	                                    "vidarebefordrat meddelande",
	                                    "opprinnelig melding",
	                                    "oprindelig meddelelse",
	                                    "videresendt meddelelse",
	                                    "messaggio originale",
	                                    "messaggio inoltrato",
	                                    "mensagem original",
	                                    "mensagem encaminhada",
	                                    "alkuperäinen viesti",
	                                    "původní zpráva",
	                                    "original message follows"};
	static const char *const whole[] = {
	    "begin forwarded message:",      "anfang der weitergeleiteten nachricht:",
	    "début du message réexpédié :",  "début du message réexpédié:",
	    "inicio del mensaje reenviado:", "begin doorgestuurd bericht:"};
	l = trim(l);
	if (l.n == 0 || !may_start_marker(l.s[0]))
		return false; /* the common case, quickly */
	for (size_t i = 0; i < NELEM(whole); i++)
		if (l.n == strlen(whole[i]) && starts_ci(l, whole[i]))
			return true;
	if (l.n < 2 || (l.s[0] != '-' && l.s[0] != '_' && l.s[0] != '=') || l.s[1] != l.s[0])
		return false;
	while (l.n > 0 && strchr("-_= *", l.s[0]))
		l = skip(l, 1);
	while (l.n > 0 && strchr("-_= *:", l.s[l.n - 1]))
		l.n--;
	for (size_t i = 0; i < NELEM(inner); i++)
		if (l.n == strlen(inner[i]) && starts_ci(l, inner[i]))
			return true;
	return false;
}

/* "From: x", "*From:* x", "De : x" with a name from set; the name is matched lowercase. */
static bool header_line(struct line l, const char *const *set, size_t nset)
{
	l = trim(l);
	while (l.n > 0 && l.s[0] == '*')
		l = skip(l, 1);
	if (l.n < 3 || memchr(l.s, ':', l.n) == NULL)
		return false;
	for (size_t i = 0; i < nset; i++) {
		size_t k = strlen(set[i]);
		if (!starts_ci(l, set[i]))
			continue;
		size_t j = k;
		while (j < l.n && (l.s[j] == ' ' || l.s[j] == '*'))
			j++;
		if (j < l.n && l.s[j] == ':' && (j == k || l.s[k] == ' ' || l.s[k] == '*'))
			return true;
	}
	return false;
}

/* Whether the line can be the "From:" line of is_outlook_block (by its first letter). */
static bool may_start_from(struct line l)
{
	l = trim(l);
	while (l.n > 0 && l.s[0] == '*')
		l = skip(l, 1);
	if (l.n == 0)
		return false;
	switch (lower(l.s[0])) {
	case 'f':
	case 'v':
	case 'd':
	case 'o':
	case '\xd0': /* from von de od, "от" */
		return true;
	default:
		return false;
	}
}

static bool is_outlook_block(const struct line *lines, size_t i, size_t n)
{
	static const char *const from[] = {"from", "von", "de", "van", "från",
	                                   "fra",  "da",  "od", "от"};
	static const char *const next[] = {
	    "sent",      "date",    "gesendet", "datum",   "envoyé",  "verzonden", "skickat",
	    "sendt",     "inviato", "enviado",  "fecha",   "data",    "to",        "an",
	    "à",         "aan",     "till",     "til",     "subject", "betreff",   "objet",
	    "onderwerp", "ämne",    "emne",     "oggetto", "asunto",  "assunto",   "cc"};
	if (!may_start_from(lines[i]) || !header_line(lines[i], from, NELEM(from)))
		return false;
	for (size_t k = i + 1; k < n && k <= i + 4; k++)
		if (header_line(lines[k], next, NELEM(next)))
			return true;
	return false;
}

static bool underscores(struct line l)
{
	l = trim(l);
	if (l.n < 5)
		return false;
	for (size_t i = 0; i < l.n; i++)
		if (l.s[i] != '_')
			return false;
	return true;
}

/* The first line from which everything is a signature, a forward or an original message. */
static size_t cut_point(const struct line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (is_quote(lines[i]))
			continue;
		if (is_signature(lines[i]) || is_marker(lines[i]) ||
		    is_outlook_block(lines, i, n)) {
			if (i > 0 && underscores(lines[i - 1]))
				return i - 1;
			if (i > 1 && blank(lines[i - 1]) && underscores(lines[i - 2]))
				return i - 2;
			return i;
		}
	}
	return n;
}

static bool is_attribution(struct line l)
{
	static const char *const verbs[] = {"wrote",    "writes",     "schrieb",  "a écrit",
	                                    "escribió", "schreef",    "skrev",    "kirjoitti",
	                                    "napisał",  "ha scritto", "escreveu", "написал",
	                                    "napsal",   "írta",       "yazdı",    "geschreven"};
	l = trim(l);
	if (l.n == 0 || l.s[l.n - 1] != ':')
		return false;
	for (size_t i = 0; i < NELEM(verbs); i++)
		if (has_word(l, verbs[i]))
			return true;
	return false;
}

/* The first line of an attribution wrapped over two lines: "On Mon, 1 Jan 2024, Name". */
static bool attribution_start(struct line l)
{
	static const char *const openers[] = {"on ",  "am ", "le ", "op ",     "el ",
	                                      "den ", "il ", "em ", "w dniu ", "dne "};
	l = trim(l);
	if (l.n == 0 || l.s[l.n - 1] == ':' || is_quote(l))
		return false;
	for (size_t i = 0; i < NELEM(openers); i++)
		if (starts_ci(l, openers[i]))
			return true;
	return false;
}

static void mark_attributions(const struct line *lines, size_t end, bool *drop)
{
	for (size_t i = 1; i < end; i++) {
		if (!is_quote(lines[i]) || is_quote(lines[i - 1]))
			continue;
		size_t a = i - 1;
		if (blank(lines[a]) && a > 0)
			a--;
		if (!is_attribution(lines[a]))
			continue;
		drop[a] = true;
		if (a > 0 && attribution_start(lines[a - 1]) && !attribution_start(lines[a]))
			drop[a - 1] = true;
	}
}

static char *assemble(const struct line *lines, size_t end, const bool *drop)
{
	struct buf b = BUF_INIT;
	bool pending_blank = false;
	for (size_t i = 0; i < end; i++) {
		if (drop[i])
			continue;
		struct line l = lines[i];
		while (l.n > 0 && is_space(l.s[l.n - 1]))
			l.n--;
		if (l.n == 0 || blank(l)) {
			pending_blank = b.len > 0;
			continue;
		}
		if (b.len > 0)
			buf_puts(&b, pending_blank ? "\n\n" : "\n");
		pending_blank = false;
		buf_append(&b, l.s, l.n);
	}
	return buf_steal(&b);
}

static char *strip(const struct line *lines, size_t n, int how)
{
	size_t end = how & STRIP_CUT ? cut_point(lines, n) : n;
	bool *drop = xcalloc(n ? n : 1, sizeof(bool));
	for (size_t i = 0; i < end; i++)
		drop[i] = is_quote(lines[i]);
	if (how & STRIP_ATTR)
		mark_attributions(lines, end, drop);
	char *s = assemble(lines, end, drop);
	free(drop);
	return s;
}

static size_t split_lines(const char *text, struct line **out)
{
	const char *end = text + strlen(text);
	size_t n = 0, cap = (size_t)(end - text) / 32 + 8;
	struct line *v = xreallocarray(NULL, cap, sizeof(*v));
	for (const char *s = text;;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (n == cap)
			v = xreallocarray(v, cap *= 2, sizeof(*v));
		v[n++] = (struct line){s, (size_t)((nl ? nl : end) - s)};
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	*out = v;
	return n;
}

char *message_new_text(const char *text)
{
	static const int tries[] = {STRIP_CUT | STRIP_ATTR, STRIP_ATTR, 0};
	struct line *lines;
	size_t n = split_lines(text ? text : "", &lines);
	char *s = NULL;
	for (size_t t = 0; t < NELEM(tries); t++) {
		free(s);
		s = strip(lines, n, tries[t]);
		if (s[0])
			break;
	}
	free(lines);
	return s;
}
