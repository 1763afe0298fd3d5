/*
 * yamlutil: libyaml documents with positions, key tables and typed getters that report.
 */
#include "tend/yamlutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Values quoted in messages are cut here: a message is one line an operator reads. */
#define QUOTE_MAX 60

/* The file's directory, absolute, so paths in it keep working whatever the cwd later is. */
static char *file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL   ? xstrdup(".")
	            : slash == path ? xstrdup("/")
	                            : xstrndup(path, (size_t)(slash - path));
	char *real = realpath(dir, NULL);
	if (real != NULL) {
		free(dir);
		return real;
	}
	/* The file was just read, so this is rare (a directory without search permission). */
	char *cwd = getcwd(NULL, 0);
	char *abs = dir[0] == '/' || cwd == NULL ? xstrdup(dir) : xasprintf("%s/%s", cwd, dir);
	free(cwd);
	free(dir);
	return abs;
}

/* A reader error gives a byte offset, not a mark: count lines and columns up to it. */
static void offset_pos(const char *data, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (data[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

static void syntax_error(struct yamlutil_doc *y, const yaml_parser_t *p, const char *data,
                         size_t len)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	if (p->error == YAML_READER_ERROR)
		offset_pos(data, len, p->problem_offset, &line, &col);
	if (p->error == YAML_MEMORY_ERROR)
		diag_add(y->diags, y->file, 0, 0, "out of memory while parsing");
	else if (p->context != NULL)
		diag_add(y->diags, y->file, line, col, "%s (%s)", problem, p->context);
	else
		diag_add(y->diags, y->file, line, col, "%s", problem);
}

/* A second document would be silently ignored by yaml_parser_load: say so instead. */
static void check_single(struct yamlutil_doc *y, yaml_parser_t *p, const char *data, size_t len)
{
	yaml_document_t extra;
	if (!yaml_parser_load(p, &extra)) {
		syntax_error(y, p, data, len);
		return;
	}
	yaml_node_t *root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		diag_add(y->diags, y->file, (int)root->start_mark.line + 1,
		         (int)root->start_mark.column + 1,
		         "a second YAML document; the file must hold only one");
	yaml_document_delete(&extra);
}

/*
 * Reads the stream's events, counting how deep mappings and lists nest, and refuses the file
 * once they nest deeper than YAMLUTIL_MAX_DEPTH, before a tree is built: nothing tend reads
 * nests that deep, and libyaml's loader takes seconds on a few thousand levels of flow
 * nesting. A syntax error ends the count quietly; the loader reports it. Returns 0 or -1.
 */
static int check_depth(struct yamlutil_doc *y, const char *data, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	if (!yaml_parser_initialize(&p))
		fatalx("libyaml: cannot initialize a parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	while (rc == 0 && yaml_parser_parse(&p, &ev)) {
		yaml_event_type_t type = ev.type;
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		if (depth > YAMLUTIL_MAX_DEPTH) {
			diag_add(y->diags, y->file, (int)ev.start_mark.line + 1,
			         (int)ev.start_mark.column + 1,
			         "mappings and lists nest deeper than %d levels here",
			         YAMLUTIL_MAX_DEPTH);
			rc = -1;
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

static int parse(struct yamlutil_doc *y, const char *data, size_t len)
{
	if (check_depth(y, data, len) < 0)
		return -1;
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		fatalx("libyaml: cannot initialize a parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	int rc = -1;
	if (!yaml_parser_load(&p, &y->doc)) {
		syntax_error(y, &p, data, len);
		goto out;
	}
	y->loaded = true;
	y->root = yaml_document_get_root_node(&y->doc);
	/* "---" alone or "~" holds nothing, just like an empty file. */
	if (y->root != NULL && yamlutil_is_null(y->root))
		y->root = NULL;
	if (y->root != NULL)
		check_single(y, &p, data, len);
	rc = 0;
out:
	yaml_parser_delete(&p);
	return rc;
}

int yamlutil_load(struct yamlutil_doc *y, const char *path, struct diags *diags)
{
	memset(y, 0, sizeof(*y));
	y->file = xstrdup(path);
	y->diags = diags;
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, &data, &len) < 0) {
		diag_add(diags, path, 0, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	y->dir = file_dir(path);
	int rc = parse(y, data, len);
	y->text = data;
	y->len = len;
	return rc;
}

void yamlutil_finish(struct yamlutil_doc *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	free(y->file);
	free(y->dir);
	free(y->text);
	memset(y, 0, sizeof(*y));
}

static void verror(struct yamlutil_doc *y, const yaml_node_t *n, const char *fmt, va_list ap)
    ATTR_PRINTF(3, 0);

static void verror(struct yamlutil_doc *y, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	if (n == NULL)
		diag_add(y->diags, y->file, 0, 0, "%s", msg);
	else
		diag_add(y->diags, y->file, (int)n->start_mark.line + 1,
		         (int)n->start_mark.column + 1, "%s", msg);
	free(msg);
}

void yamlutil_error(struct yamlutil_doc *y, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(y, n, fmt, ap);
	va_end(ap);
}

/* Length of the UTF-8 sequence starting with c, so that a cut never splits a character. */
static size_t utf8_len(unsigned char c)
{
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* A walk through the file's text beside a scalar's value, keeping line and column. */
struct walk {
	const char *p, *end;
	int line, column;
};

/* Where a mark points in the text: libyaml counts lines and characters, not bytes. */
static const char *mark_ptr(const struct yamlutil_doc *y, const yaml_mark_t *m)
{
	const char *p = y->text, *end = y->text + y->len;
	for (size_t l = 0; l < m->line && p < end;)
		l += *p++ == '\n';
	for (size_t c = 0; c < m->column && p < end && *p != '\n'; c++)
		p += utf8_len((unsigned char)*p);
	return p < end ? p : end;
}

static void walk_char(struct walk *w)
{
	size_t n = utf8_len((unsigned char)*w->p);
	w->p += n < (size_t)(w->end - w->p) ? n : (size_t)(w->end - w->p);
	w->column++;
}

/* A line break, then the next line's indentation (up to indent spaces; -1: all blanks). */
static void walk_newline(struct walk *w, int indent)
{
	w->p++;
	w->line++;
	w->column = 1;
	for (int i = 0; w->p < w->end && (indent < 0 || i < indent); i++) {
		if (*w->p != ' ' && (indent >= 0 || *w->p != '\t'))
			break;
		w->p++;
		w->column++;
	}
}

/* A block scalar's text starts on the line after its | or >, at the first line's indent. */
static int walk_block_start(struct walk *w)
{
	const char *nl = memchr(w->p, '\n', (size_t)(w->end - w->p));
	if (nl == NULL) {
		w->p = w->end;
		return 0;
	}
	w->p = nl;
	const char *q = nl + 1;
	int indent = 0;
	while (q < w->end) {
		int i = 0;
		while (q < w->end && *q == ' ')
			q++, i++;
		if (q < w->end && *q == '\n') {
			q++;
			continue;
		}
		indent = i;
		break;
	}
	walk_newline(w, indent);
	return indent;
}

/* Bytes a "\\" escape of a double-quoted scalar decodes to; *src is its length in the file. */
static size_t escape_len(const char *p, const char *end, size_t *src)
{
	int digits = p[1] == 'x' ? 2 : p[1] == 'u' ? 4 : p[1] == 'U' ? 8 : 0;
	*src = 2 + (size_t)digits;
	if (*src > (size_t)(end - p))
		*src = (size_t)(end - p);
	if (digits > 0) {
		char hex[9] = {0};
		memcpy(hex, p + 2, *src - 2);
		unsigned long cp = strtoul(hex, NULL, 16);
		return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	}
	return p[1] == 'N' || p[1] == '_' ? 2 : p[1] == 'L' || p[1] == 'P' ? 3 : 1;
}

/* Steps over one piece of the source; returns how many value bytes it stands for. */
static size_t walk_step(struct walk *w, yaml_scalar_style_t style, int indent)
{
	if (*w->p == '\n') {
		walk_newline(w, indent);
		return 1;
	}
	bool more = w->end - w->p > 1;
	if (style == YAML_SINGLE_QUOTED_SCALAR_STYLE && *w->p == '\'' && more && w->p[1] == '\'') {
		w->p += 2;
		w->column += 2;
		return 1;
	}
	if (style == YAML_DOUBLE_QUOTED_SCALAR_STYLE && *w->p == '\\' && more) {
		if (w->p[1] == '\n') {
			w->p++;
			w->column++;
			walk_newline(w, -1);
			return 0;
		}
		size_t src, n = escape_len(w->p, w->end, &src);
		w->p += src;
		w->column += (int)src;
		return n;
	}
	size_t n = utf8_len((unsigned char)*w->p);
	walk_char(w);
	return n;
}

void yamlutil_scalar_pos(const struct yamlutil_doc *y, const yaml_node_t *n, size_t offset,
                         int *line, int *column)
{
	*line = (int)n->start_mark.line + 1;
	*column = (int)n->start_mark.column + 1;
	if (y->text == NULL || n->type != YAML_SCALAR_NODE)
		return;
	struct walk w = {mark_ptr(y, &n->start_mark), y->text + y->len, *line, *column};
	yaml_scalar_style_t style = n->data.scalar.style;
	int indent = -1;
	if (style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
		w.p++;
		w.column++;
	} else if (style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE) {
		indent = walk_block_start(&w);
	}
	for (size_t done = 0; done < offset && w.p < w.end;)
		done += walk_step(&w, style, indent);
	*line = w.line;
	*column = w.column;
}

void yamlutil_quote(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	size_t i = 0;
	while (s[i] != '\0') {
		unsigned char c = (unsigned char)s[i];
		size_t n = utf8_len(c);
		if (i + n > QUOTE_MAX) {
			buf_puts(b, "...");
			break;
		}
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_append(b, s + i, strnlen(s + i, n));
		i += strnlen(s + i, n);
	}
	buf_putc(b, '"');
}

/* How a value reads in "must be X, not ...". */
static void describe(struct buf *b, const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		buf_puts(b, "a mapping");
	else if (n->type == YAML_SEQUENCE_NODE)
		buf_puts(b, "a list");
	else if (yamlutil_is_null(n) || n->data.scalar.length == 0)
		buf_puts(b, "empty");
	else
		yamlutil_quote(b, (const char *)n->data.scalar.value);
}

void yamlutil_type_error(struct yamlutil_doc *y, const yaml_node_t *n, const char *subject,
                         const char *expected)
{
	struct buf b = BUF_INIT;
	describe(&b, n);
	yamlutil_error(y, n, "%s must be %s, not %s", subject, expected, b.data);
	buf_free(&b);
}

yaml_node_t *yamlutil_node(struct yamlutil_doc *y, int index)
{
	return yaml_document_get_node(&y->doc, index);
}

const char *yamlutil_scalar(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool yamlutil_is_null(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return strcmp(s, "") == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

yaml_node_t *yamlutil_map_get(struct yamlutil_doc *y, const yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = yamlutil_scalar(yamlutil_node(y, p->key));
		if (k != NULL && strcmp(k, key) == 0)
			return yamlutil_node(y, p->value);
	}
	return NULL;
}

size_t yamlutil_seq_len(const yaml_node_t *seq)
{
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *yamlutil_seq_item(struct yamlutil_doc *y, const yaml_node_t *seq, size_t i)
{
	if (i >= yamlutil_seq_len(seq))
		return NULL;
	return yamlutil_node(y, seq->data.sequence.items.start[i]);
}

bool yamlutil_expect_seq(struct yamlutil_doc *y, const yaml_node_t *n, const char *name)
{
	if (n->type == YAML_SEQUENCE_NODE || yamlutil_is_null(n))
		return true;
	char *subject = xasprintf("\"%s\"", name);
	yamlutil_type_error(y, n, subject, "a list");
	free(subject);
	return false;
}

/* Optimal string alignment distance, ASCII case-insensitive: a swap counts as one typo. */
static size_t typo_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *d = xcalloc((la + 1) * (lb + 1), sizeof(*d));
#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (size_t i = 0; i <= la; i++)
		D(i, 0) = i;
	for (size_t j = 0; j <= lb; j++)
		D(0, j) = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]),
			    cb = tolower((unsigned char)b[j - 1]);
			size_t best = D(i - 1, j - 1) + (ca != cb);
			if (D(i - 1, j) + 1 < best)
				best = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < best)
				best = D(i, j - 1) + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && D(i - 2, j - 2) + 1 < best)
				best = D(i - 2, j - 2) + 1;
			D(i, j) = best;
		}
	}
	size_t r = D(la, lb);
#undef D
	free(d);
	return r;
}

const char *yamlutil_suggest(const char *word, const char *const *cands, size_t n)
{
	/* Two typos in a short word make it a different word, not a misspelling. */
	size_t limit = strlen(word) <= 3 ? 1 : 2;
	const char *best = NULL;
	size_t best_d = limit + 1;
	for (size_t i = 0; i < n; i++) {
		size_t dist = typo_distance(word, cands[i]);
		if (dist < best_d) {
			best_d = dist;
			best = cands[i];
		}
	}
	return best;
}

static void unknown_key(struct yamlutil_doc *y, const yaml_node_t *key, const char *name,
                        const struct yamlutil_key *keys, size_t nkeys, const char *where)
{
	const char **cands = xcalloc(nkeys, sizeof(*cands));
	size_t n = 0;
	struct buf list = BUF_INIT;
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].flags & YAMLUTIL_HIDDEN)
			continue;
		buf_printf(&list, "%s%s", n ? ", " : "", keys[i].name);
		cands[n++] = keys[i].name;
	}
	struct buf q = BUF_INIT;
	yamlutil_quote(&q, name);
	const char *best = yamlutil_suggest(name, cands, n);
	if (best != NULL)
		yamlutil_error(y, key,
		               "unknown key %s in %s (expected one of: %s; did you mean \"%s\"?)",
		               q.data, where, list.data ? list.data : "", best);
	else
		yamlutil_error(y, key, "unknown key %s in %s (expected one of: %s)", q.data, where,
		               list.data ? list.data : "");
	buf_free(&q);
	buf_free(&list);
	free(cands);
}

/* The key node of an earlier pair of map with the same name, or NULL. */
static yaml_node_t *earlier_key(struct yamlutil_doc *y, const yaml_node_t *map,
                                const yaml_node_pair_t *pair, const char *name)
{
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
		yaml_node_t *k = yamlutil_node(y, p->key);
		const char *s = yamlutil_scalar(k);
		if (s != NULL && strcmp(s, name) == 0)
			return k;
	}
	return NULL;
}

static const struct yamlutil_key *find_key(const struct yamlutil_key *keys, size_t nkeys,
                                           const char *name)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Handles one pair; returns the table entry it matched, or NULL when it was reported. */
static const struct yamlutil_key *walk_pair(struct yamlutil_doc *y, const yaml_node_t *map,
                                            const yaml_node_pair_t *pair,
                                            const struct yamlutil_key *keys, size_t nkeys,
                                            void *obj, const char *where)
{
	yaml_node_t *key = yamlutil_node(y, pair->key), *val = yamlutil_node(y, pair->value);
	const char *name = yamlutil_scalar(key);
	if (name == NULL) {
		yamlutil_type_error(y, key, "a key", "a name");
		return NULL;
	}
	yaml_node_t *first = earlier_key(y, map, pair, name);
	if (first != NULL) {
		struct buf q = BUF_INIT;
		yamlutil_quote(&q, name);
		yamlutil_error(y, key, "duplicate key %s (first given at %d:%d)", q.data,
		               (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
		buf_free(&q);
		return NULL;
	}
	const struct yamlutil_key *k = find_key(keys, nkeys, name);
	if (k == NULL) {
		unknown_key(y, key, name, keys, nkeys, where);
		return NULL;
	}
	k->fn(y, k, key, val, obj);
	return k;
}

size_t yamlutil_walk(struct yamlutil_doc *y, yaml_node_t *map, const struct yamlutil_key *keys,
                     size_t nkeys, void *obj, const char *where, const char *subject)
{
	size_t before = y->diags->n;
	if (map->type != YAML_MAPPING_NODE && !yamlutil_is_null(map)) {
		yamlutil_type_error(y, map, subject ? subject : where, "a mapping");
		return y->diags->n - before;
	}
	bool *seen = xcalloc(nkeys, sizeof(*seen));
	if (map->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
		     p < map->data.mapping.pairs.top; p++) {
			const struct yamlutil_key *k =
			    walk_pair(y, map, p, keys, nkeys, obj, where);
			if (k != NULL)
				seen[k - keys] = true;
		}
	}
	for (size_t i = 0; i < nkeys; i++)
		if ((keys[i].flags & YAMLUTIL_REQUIRED) && !seen[i])
			yamlutil_error(y, map, "missing required key \"%s\" in %s", keys[i].name,
			               where);
	free(seen);
	return y->diags->n - before;
}

/* A scalar's text for a string setting; subject is already quoted for messages. */
static int scalar_text(struct yamlutil_doc *y, const yaml_node_t *n, const char *subject,
                       const char **out)
{
	if (n->type != YAML_SCALAR_NODE) {
		yamlutil_type_error(y, n, subject, "a string");
		return -1;
	}
	if (yamlutil_is_null(n) || n->data.scalar.length == 0) {
		yamlutil_error(y, n, "%s must not be empty", subject);
		return -1;
	}
	/* A "\0" escape would silently cut the value short in every C string that holds it. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		yamlutil_error(y, n, "%s must not contain a NUL character", subject);
		return -1;
	}
	*out = (const char *)n->data.scalar.value;
	return 0;
}

int yamlutil_get_string(struct yamlutil_doc *y, const yaml_node_t *n, const char *name,
                        const char **out)
{
	char *subject = xasprintf("\"%s\"", name);
	int rc = scalar_text(y, n, subject, out);
	free(subject);
	return rc;
}

void *yamlutil_field(const struct yamlutil_key *k, void *obj)
{
	return (char *)obj + k->offset;
}

int yamlutil_set_string(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	char **dst = yamlutil_field(k, obj);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

char *yamlutil_resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2 + strspn(path + 2, "/");
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return xstrdup(dir);
	return xasprintf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", path);
}

int yamlutil_set_path(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	char **dst = yamlutil_field(k, obj);
	free(*dst);
	*dst = yamlutil_resolve(y->dir ? y->dir : ".", s);
	return 0;
}

static int type_fail(struct yamlutil_doc *y, const yaml_node_t *n, const char *name,
                     const char *expected)
{
	char *subject = xasprintf("\"%s\"", name);
	yamlutil_type_error(y, n, subject, expected);
	free(subject);
	return -1;
}

int yamlutil_set_bool(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};
	const char *s = yamlutil_scalar(val);
	bool *dst = yamlutil_field(k, obj);
	for (size_t i = 0; s != NULL && i < NELEM(yes); i++) {
		if (str_ieq(s, yes[i]) || str_ieq(s, no[i])) {
			*dst = str_ieq(s, yes[i]);
			return 0;
		}
	}
	return type_fail(y, val, k->name, "true or false");
}

/* Strict decimal: YAML's 0x10, 1_000 or 1e3 are more likely mistakes than intent here. */
static int parse_int(const char *s, long long *v)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	if (!isdigit((unsigned char)digits[0]))
		return -1;
	errno = 0;
	char *end;
	*v = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

int yamlutil_get_int(struct yamlutil_doc *y, const yaml_node_t *n, const char *name, long long min,
                     long long max, int64_t *out)
{
	const char *s = yamlutil_scalar(n);
	long long v;
	if (s == NULL || parse_int(s, &v) < 0 || v < min || v > max) {
		char *expected = xasprintf("an integer from %lld to %lld", min, max);
		type_fail(y, n, name, expected);
		free(expected);
		return -1;
	}
	*out = v;
	return 0;
}

int yamlutil_set_int(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	return yamlutil_get_int(y, val, k->name, k->min, k->max, yamlutil_field(k, obj));
}

int yamlutil_set_duration(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                          yaml_node_t *val, void *obj)
{
	const char *s = yamlutil_scalar(val);
	int64_t v;
	if (s == NULL || parse_duration(s, &v) < 0)
		return type_fail(y, val, k->name, "a duration like 30s, 15m, 4h or 2d");
	if (v < k->min) {
		char *expected = xasprintf("at least %llds", k->min);
		type_fail(y, val, k->name, expected);
		free(expected);
		return -1;
	}
	*(int64_t *)yamlutil_field(k, obj) = v;
	return 0;
}

int yamlutil_parse_size(const char *s, int64_t *bytes)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	int64_t unit = 1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		unit = 1024;
		break;
	case 'm':
	case 'M':
		unit = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		unit = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if ((*end != '\0' && end[1] != '\0') || v > INT64_MAX / unit)
		return -1;
	*bytes = (int64_t)v * unit;
	return 0;
}

int yamlutil_set_size(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	const char *s = yamlutil_scalar(val);
	int64_t v;
	if (s == NULL || yamlutil_parse_size(s, &v) < 0)
		return type_fail(y, val, k->name, "a size like 10M, 512K, 1G or a number of bytes");
	if (v < k->min) {
		char *expected = xasprintf("at least %lld bytes", k->min);
		type_fail(y, val, k->name, expected);
		free(expected);
		return -1;
	}
	*(int64_t *)yamlutil_field(k, obj) = v;
	return 0;
}

int yamlutil_set_strlist(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                         yaml_node_t *val, void *obj)
{
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	char *subject = xasprintf("each entry of \"%s\"", k->name);
	struct strvec sv = STRVEC_INIT;
	int rc = 0;
	for (size_t i = 0; i < yamlutil_seq_len(val); i++) {
		const char *s;
		if (scalar_text(y, yamlutil_seq_item(y, val, i), subject, &s) < 0)
			rc = -1;
		else
			strvec_push(&sv, s);
	}
	free(subject);
	if (rc == 0 && (long long)sv.n < k->min) {
		yamlutil_error(y, val, "\"%s\" must not be an empty list", k->name);
		rc = -1;
	}
	if (rc < 0) {
		strvec_free(&sv);
		return -1;
	}
	struct strvec *dst = yamlutil_field(k, obj);
	strvec_free(dst);
	*dst = sv;
	return 0;
}

static bool diag_before(const struct diag *a, const struct diag *b)
{
	return a->line < b->line || (a->line == b->line && a->column < b->column);
}

void yamlutil_sort_diags(struct diags *d, size_t from)
{
	/* Insertion sort: stable, and a file has few problems. */
	for (size_t i = from + 1; i < d->n; i++) {
		struct diag t = d->v[i];
		size_t j = i;
		for (; j > from && diag_before(&t, &d->v[j - 1]); j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = t;
	}
}
