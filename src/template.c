/*
 * template: {{variable}} text, split once into literal and variable segments so that rendering
 * is a single pass that copies and looks up, with no parsing left to do per draft.
 *
 * A section ({{#x}}...{{/x}}, {{^x}}...{{/x}}) is an opening segment that knows the index of
 * its closing one: rendering a section that is not shown jumps there, so it stays one pass.
 */
#include "tend/template.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct segment {
	char *text;     /* the literal text, or the variable's name */
	char *fallback; /* for a variable: used when it is empty; NULL means "" */
	bool var;
	char section; /* '#' or '^' opens a section (text its variable), '/' closes one; 0 */
	size_t skip;  /* an opening segment: the index of its closing one */
	int line, column;
	int tag_column; /* a section's: where its "{{" is, for messages about the tag */
};

struct template
{
	char *file;
	struct segment *v;
	size_t n;
	size_t cap;
	size_t literal_len; /* a first guess at the rendered size */
};

/* Where the parser is, in bytes and in the line:column an operator's editor shows. */
struct cursor {
	const char *text;
	size_t len;
	size_t i;
	int line, column;
	const char *file;
	struct diags *d;
	size_t errors;
	size_t *open; /* the sections open here: indices of their opening segments */
	size_t nopen, capopen;
};

/* Columns count characters, as editors and libyaml do: continuation bytes take none. */
static int columns(const char *s, size_t n)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

static void advance(struct cursor *p, size_t to)
{
	for (; p->i < to; p->i++) {
		if (p->text[p->i] == '\n') {
			p->line++;
			p->column = 1;
		} else if (((unsigned char)p->text[p->i] & 0xc0) != 0x80) {
			p->column++;
		}
	}
}

static void error_at(struct cursor *p, int line, int column, const char *msg)
{
	diag_add(p->d, p->file, line, column, "%s", msg);
	p->errors++;
}

static struct segment *add_segment(struct template *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	struct segment *s = &t->v[t->n++];
	memset(s, 0, sizeof(*s));
	return s;
}

static void add_literal(struct template *t, const char *s, size_t n)
{
	if (n == 0)
		return;
	add_segment(t)->text = xstrndup(s, n);
	t->literal_len += n;
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

/* Bytes of the UTF-8 character starting with c, to quote a bad character whole. */
static size_t char_len(unsigned char c)
{
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/*
 * Checks the name in inner[0..n) (already without surrounding spaces) that starts at column
 * col; returns false after reporting the first bad character.
 */
static bool check_name(struct cursor *p, const char *name, size_t n, int col)
{
	for (size_t i = 0; i < n; i++) {
		if (name_char((unsigned char)name[i]))
			continue;
		size_t cl = char_len((unsigned char)name[i]);
		char *bad = xstrndup(name + i, cl < n - i ? cl : n - i);
		char *whole = xstrndup(name, n);
		diag_add(p->d, p->file, p->line, col + columns(name, i),
		         "bad character \"%s\" in variable name \"%s\" (letters, digits, \"_\" and "
		         "\".\" only)",
		         bad, whole);
		p->errors++;
		free(bad);
		free(whole);
		return false;
	}
	return true;
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

static const char *trim_end(const char *s, const char *end)
{
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

/* Parses the reference whose inside is text[from..to), "{{" being at the cursor. */
static void parse_reference(struct cursor *p, struct template *t, size_t from, size_t to)
{
	const char *inner = p->text + from, *end = p->text + to;
	const char *bar = memchr(inner, '|', (size_t)(end - inner));
	const char *name = skip_blanks(inner, bar ? bar : end);
	const char *name_end = trim_end(name, bar ? bar : end);
	if (name == name_end) {
		char *ref = xstrndup(p->text + p->i, to + 2 - p->i);
		char *msg = xasprintf("empty variable name in \"%s\"", ref);
		error_at(p, p->line, p->column, msg);
		free(msg);
		free(ref);
		return;
	}
	int col = p->column + 2 + columns(inner, (size_t)(name - inner));
	if (!check_name(p, name, (size_t)(name_end - name), col))
		return;
	struct segment *s = add_segment(t);
	s->var = true;
	s->text = xstrndup(name, (size_t)(name_end - name));
	s->line = p->line;
	s->column = col;
	if (bar != NULL) {
		const char *fb = skip_blanks(bar + 1, end);
		s->fallback = xstrndup(fb, (size_t)(trim_end(fb, end) - fb));
	}
}

/* The end of the line that starts at or before i: where a reference must have closed. */
static size_t line_end(const struct cursor *p, size_t i)
{
	const char *nl = memchr(p->text + i, '\n', p->len - i);
	return nl ? (size_t)(nl - p->text) : p->len;
}

/* Finds "}}" in text[from..to), or returns SIZE_MAX. */
static size_t find_close(const struct cursor *p, size_t from, size_t to)
{
	for (size_t i = from; i + 1 < to; i++)
		if (p->text[i] == '}' && p->text[i + 1] == '}')
			return i;
	return SIZE_MAX;
}

static size_t find_open(const struct cursor *p, size_t from)
{
	for (size_t i = from; i + 1 < p->len; i++)
		if (p->text[i] == '{' && p->text[i + 1] == '{')
			return i;
	return SIZE_MAX;
}

/* A template goes into mail as UTF-8: text in another charset would reach customers garbled. */
static void check_utf8(struct cursor *p)
{
	const char *s = p->text;
	int line = 1, col = 1;
	for (size_t i = 0; i < p->len;) {
		size_t n = char_len((unsigned char)s[i]);
		if (n > p->len - i || !utf8_valid(s + i, n) || s[i] == '\0') {
			error_at(p, line, col,
			         s[i] == '\0' ? "NUL byte in a template"
			                      : "not valid UTF-8 (save the file as UTF-8)");
			return;
		}
		line += s[i] == '\n';
		col = s[i] == '\n' ? 1 : col + 1;
		i += n;
	}
}

/* The sigil of a section tag ("#", "^" or "/") when inner..end is one, else 0. */
static char section_sigil(const char *inner, const char *end)
{
	const char *s = skip_blanks(inner, end);
	return s < end && (*s == '#' || *s == '^' || *s == '/') ? *s : 0;
}

/* The name of a section tag whose inside is text[from..to), or NULL after reporting it. */
static char *section_name(struct cursor *p, size_t from, size_t to, int *col)
{
	const char *inner = p->text + from, *end = p->text + to;
	const char *sigil = skip_blanks(inner, end);
	const char *name = skip_blanks(sigil + 1, end), *name_end = trim_end(name, end);
	const char *bar = memchr(name, '|', (size_t)(name_end - name));
	char *tag = xstrndup(p->text + p->i, to + 2 - p->i);
	*col = p->column + 2 + columns(inner, (size_t)(name - inner));
	if (bar != NULL) {
		/* Reported, and the name before the bar kept so that its closing tag matches. */
		char *msg =
		    xasprintf("a section takes no fallback: \"%s\" (write the other case as "
		              "\"{{^...}}\")",
		              tag);
		error_at(p, p->line, p->column, msg);
		free(msg);
		name_end = trim_end(name, bar);
	}
	if (name == name_end && bar == NULL) {
		char *msg = xasprintf("empty section name in \"%s\"", tag);
		error_at(p, p->line, p->column, msg);
		free(msg);
	}
	free(tag);
	if (name == name_end || !check_name(p, name, (size_t)(name_end - name), *col))
		return NULL;
	return xstrndup(name, (size_t)(name_end - name));
}

static void open_section(struct cursor *p, struct template *t, char sigil, char *name, int col)
{
	if (p->nopen == p->capopen) {
		p->capopen = p->capopen ? p->capopen * 2 : 4;
		p->open = xreallocarray(p->open, p->capopen, sizeof(*p->open));
	}
	p->open[p->nopen++] = t->n;
	struct segment *s = add_segment(t);
	s->section = sigil;
	s->text = name;
	s->line = p->line;
	s->column = col;
	s->tag_column = p->column;
}

/* The innermost open section named name, or SIZE_MAX. */
static size_t find_open_section(const struct cursor *p, const struct template *t, const char *name)
{
	for (size_t k = p->nopen; k-- > 0;)
		if (strcmp(t->v[p->open[k]].text, name) == 0)
			return k;
	return SIZE_MAX;
}

/*
 * Closes the innermost section. A name that does not match it is reported once: it closes the
 * open section of that name if there is one (sections crossed), else the innermost (a typo).
 */
static void close_section(struct cursor *p, struct template *t, char *name)
{
	if (p->nopen == 0) {
		char *msg =
		    xasprintf("\"{{/%s}}\" closes no section (no \"{{#%s}}\" or \"{{^%s}}\" "
		              "before it)",
		              name, name, name);
		error_at(p, p->line, p->column, msg);
		free(msg);
		free(name);
		return;
	}
	size_t k = p->nopen - 1;
	const struct segment *open = &t->v[p->open[k]];
	if (strcmp(open->text, name) != 0) {
		char *msg = xasprintf("\"{{/%s}}\" where \"{{/%s}}\" was expected, to close "
		                      "\"{{%c%s}}\" of line %d, column %d",
		                      name, open->text, open->section, open->text, open->line,
		                      open->tag_column);
		error_at(p, p->line, p->column, msg);
		free(msg);
		size_t named = find_open_section(p, t, name);
		k = named != SIZE_MAX ? named : k;
	}
	t->v[p->open[k]].skip = t->n;
	memmove(p->open + k, p->open + k + 1, (p->nopen - k - 1) * sizeof(*p->open));
	p->nopen--;
	struct segment *s = add_segment(t);
	s->section = '/';
	s->text = name;
}

static void parse_section(struct cursor *p, struct template *t, size_t from, size_t to)
{
	int col = 0;
	char sigil = section_sigil(p->text + from, p->text + to);
	char *name = section_name(p, from, to, &col);
	if (name == NULL)
		return;
	if (sigil == '/')
		close_section(p, t, name);
	else
		open_section(p, t, sigil, name, col);
}

/* Sections still open at the end of the file: each is reported where it was opened. */
static void check_unclosed(struct cursor *p, const struct template *t)
{
	for (size_t i = 0; i < p->nopen; i++) {
		const struct segment *s = &t->v[p->open[i]];
		char *msg = xasprintf("section \"{{%c%s}}\" is never closed (no \"{{/%s}}\")",
		                      s->section, s->text, s->text);
		error_at(p, s->line, s->tag_column, msg);
		free(msg);
	}
}

/*
 * A section tag alone on its line (blanks around it allowed) takes the whole line with it, line
 * break included, so that a section leaves no blank line behind. Returns where that line
 * starts, or SIZE_MAX when the tag shares its line with other text.
 */
static size_t standalone_start(const struct cursor *p, size_t open, size_t close, size_t eol)
{
	size_t start = open;
	while (start > p->i && (p->text[start - 1] == ' ' || p->text[start - 1] == '\t'))
		start--;
	if (start > 0 && p->text[start - 1] != '\n')
		return SIZE_MAX;
	for (size_t i = close + 2; i < eol; i++)
		if (p->text[i] != ' ' && p->text[i] != '\t' && p->text[i] != '\r')
			return SIZE_MAX;
	return start;
}

/* Parses the tag text[open..close+2), the literal text before it being already added. */
static void parse_tag(struct cursor *p, struct template *t, size_t open, size_t close, size_t eol)
{
	if (!section_sigil(p->text + open + 2, p->text + close)) {
		add_literal(t, p->text + p->i, open - p->i);
		advance(p, open);
		parse_reference(p, t, open + 2, close);
		advance(p, close + 2);
		return;
	}
	size_t start = standalone_start(p, open, close, eol);
	add_literal(t, p->text + p->i, (start == SIZE_MAX ? open : start) - p->i);
	advance(p, open);
	parse_section(p, t, open + 2, close);
	advance(p, start == SIZE_MAX ? close + 2 : eol < p->len ? eol + 1 : eol);
}

static void parse_all(struct cursor *p, struct template *t)
{
	while (p->i < p->len) {
		size_t open = find_open(p, p->i);
		if (open == SIZE_MAX) {
			add_literal(t, p->text + p->i, p->len - p->i);
			advance(p, p->len);
			break;
		}
		size_t eol = line_end(p, open), close = find_close(p, open + 2, eol);
		if (close == SIZE_MAX) {
			add_literal(t, p->text + p->i, open - p->i);
			advance(p, open);
			error_at(p, p->line, p->column,
			         "unclosed \"{{\" (no \"}}\" on the same line)");
			advance(p, eol);
			continue;
		}
		parse_tag(p, t, open, close, eol);
	}
	check_unclosed(p, t);
	free(p->open);
}

int template_parse(const char *text, size_t len, const char *file, struct template **out,
                   struct diags *d)
{
	/* Editors end every file with a line break; the draft decides how parts are joined. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	struct cursor p = {.text = text, .len = len, .line = 1, .column = 1, .file = file, .d = d};
	struct template *t = xcalloc(1, sizeof(*t));
	t->file = xstrdup(file);
	*out = NULL;
	check_utf8(&p);
	if (p.errors == 0)
		parse_all(&p, t);
	if (p.errors > 0) {
		template_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int template_load(const char *path, struct template **out, struct diags *d)
{
	char *data = NULL;
	size_t len = 0;
	*out = NULL;
	if (read_file(path, &data, &len) < 0) {
		diag_add(d, path, 0, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	int rc = template_parse(data, len, path, out, d);
	free(data);
	return rc;
}

void template_free(struct template *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].text);
		free(t->v[i].fallback);
	}
	free(t->v);
	free(t->file);
	free(t);
}

const char *template_file(const struct template *t)
{
	return t->file;
}

void template_foreach_var(const struct template *t,
                          void (*fn)(const char *name, int line, int column, void *arg), void *arg)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].var || t->v[i].section == '#' || t->v[i].section == '^')
			fn(t->v[i].text, t->v[i].line, t->v[i].column, arg);
}

/* Whether the section s opens is shown; a closing segment is a no-op, so it is "shown". */
static bool shown(const struct segment *s, template_lookup_fn lookup, void *arg)
{
	if (s->section == '/')
		return true;
	const char *v = lookup ? lookup(s->text, arg) : NULL;
	return (v != NULL && *v != '\0') == (s->section == '#');
}

char *template_render(const struct template *t, template_lookup_fn lookup, void *arg)
{
	struct buf b = BUF_INIT;
	buf_reserve(&b, t->literal_len + 64);
	b.data[0] = '\0'; /* buf_reserve leaves a fresh buffer unterminated */
	for (size_t i = 0; i < t->n; i++) {
		const struct segment *s = &t->v[i];
		if (s->section != 0) {
			i = shown(s, lookup, arg) ? i : s->skip;
			continue;
		}
		if (!s->var) {
			buf_puts(&b, s->text);
			continue;
		}
		const char *v = lookup ? lookup(s->text, arg) : NULL;
		if (v != NULL && *v != '\0')
			buf_puts(&b, v);
		else if (s->fallback != NULL)
			buf_puts(&b, s->fallback);
	}
	return buf_steal(&b);
}
