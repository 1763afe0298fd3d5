/*
 * message_html: readable text from an HTML part, through libxml2's HTML parser.
 *
 * The DOM is walked with its own parent and sibling links, never by recursion (libxml2 caps
 * the tree depth, but the walk does not rely on it). Block elements break lines, paragraphs and
 * headings leave a blank line, list items start with "- ", links keep their text and add the
 * URL in angle brackets when it says something the text does not, blockquotes become "> "
 * lines (so the quote stripping of plain text works on HTML mail too), and script, style and
 * head are dropped.
 *
 * libxml2 is loaded (dlopen) the first time an HTML part is read, not when tend starts: it
 * brings ICU and the C++ runtime, and linking them took a third of the start of every tend
 * command, `tend search` and `tend show` among them, which never read HTML.
 */
#include <dlfcn.h>
#include <libxml/HTMLparser.h>
#include <pthread.h>
#include <string.h>

#include "message_int.h"

/* The library's name as the loader knows it (its soname, stable since libxml2 2.0). */
#define LIBXML "libxml2.so.2"

/* The four functions of libxml2 used here. */
static struct {
	htmlDocPtr (*read_memory)(const char *, int, const char *, const char *, int);
	void (*free_doc)(xmlDocPtr);
	xmlChar *(*get_prop)(const xmlNode *, const xmlChar *);
	xmlFreeFunc *free_fn; /* the variable xmlFree: the function that frees its strings */
} lx;
static pthread_once_t lx_once = PTHREAD_ONCE_INIT;

static void lx_load(void)
{
	void *h = dlopen(LIBXML, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		*(void **)&lx.read_memory = dlsym(h, "htmlReadMemory");
		*(void **)&lx.free_doc = dlsym(h, "xmlFreeDoc");
		*(void **)&lx.get_prop = dlsym(h, "xmlGetProp");
		lx.free_fn = dlsym(h, "xmlFree");
	}
	if (!lx.read_memory || !lx.free_doc || !lx.get_prop || !lx.free_fn)
		fatalx("cannot load %s to read HTML mail: %s (is libxml2 installed?)", LIBXML,
		       dlerror());
}

static void lx_free(void *p)
{
	(*lx.free_fn)(p);
}

#define MAX_LINKS 16

struct link {
	size_t start;
	xmlChar *href;
};

struct hw {
	struct buf out;
	int quote;       /* blockquote depth */
	int pre;         /* inside <pre> */
	int newlines;    /* line ends owed before the next text */
	int nl_quote;    /* quote depth when they were first owed */
	bool space;      /* a space owed before the next text */
	bool line_start; /* nothing written on the current line yet */
	bool bullet;     /* "- " owed before the next text */
	struct link links[MAX_LINKS];
	int nlinks;
};

static bool name_in(const xmlChar *name, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp((const char *)name, set[i]) == 0)
			return true;
	return false;
}

static bool skipped(const xmlChar *name)
{
	static const char *const set[] = {"script",   "style",    "head", "title",
	                                  "noscript", "template", "svg",  "object"};
	return name_in(name, set, NELEM(set));
}

/* 2 for elements that stand apart by a blank line, 1 for other blocks, 0 for inline. */
static int block_kind(const xmlChar *name)
{
	static const char *const para[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "hr"};
	static const char *const block[] = {
	    "div",    "ul",         "ol",     "li",         "table",   "tr",      "dl",
	    "dt",     "dd",         "pre",    "blockquote", "address", "article", "aside",
	    "center", "section",    "header", "footer",     "nav",     "form",    "fieldset",
	    "figure", "figcaption", "main",   "details",    "summary", "caption", "body",
	    "html",   "tbody",      "thead",  "tfoot",      "legend",  "menu",    "dir"};
	if (name_in(name, para, NELEM(para)))
		return 2;
	return name_in(name, block, NELEM(block)) ? 1 : 0;
}

static void need_lines(struct hw *w, int n)
{
	if (w->bullet)
		return; /* "<li><p>x" keeps "- x" on one line */
	if (w->newlines == 0)
		w->nl_quote = w->quote;
	if (w->newlines < n)
		w->newlines = n;
	w->space = false;
}

static void quote_prefix(struct hw *w, int depth, bool blank)
{
	for (int i = 0; i < depth; i++)
		buf_puts(&w->out, blank ? ">" : "> ");
}

/* Writes what is owed before text: line ends, the quote prefix, a bullet or a space. */
static void flush(struct hw *w)
{
	if (w->newlines > 0 && w->out.len > 0) {
		/* a blank line between a quote and the text around it belongs to neither */
		int depth = w->nl_quote < w->quote ? w->nl_quote : w->quote;
		for (int i = 0; i < w->newlines; i++) {
			if (i > 0)
				quote_prefix(w, depth, true);
			buf_putc(&w->out, '\n');
		}
		w->line_start = true;
	}
	w->newlines = 0;
	if (w->line_start) {
		quote_prefix(w, w->quote, false);
		w->line_start = false;
	} else if (w->space) {
		buf_putc(&w->out, ' ');
	}
	if (w->bullet)
		buf_puts(&w->out, "- ");
	w->bullet = false;
	w->space = false;
}

static size_t space_len(const unsigned char *s)
{
	if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f')
		return 1;
	return s[0] == 0xc2 && s[1] == 0xa0 ? 2 : 0; /* no-break space */
}

static void pre_text(struct hw *w, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n') {
			w->newlines++;
			continue;
		}
		if (*s != '\r')
			flush(w);
		if (*s != '\r')
			buf_putc(&w->out, *s);
	}
}

static void text(struct hw *w, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	if (w->pre) {
		pre_text(w, s);
		return;
	}
	while (*u) {
		size_t k = space_len(u);
		if (k) {
			w->space = true;
			u += k;
			continue;
		}
		const unsigned char *start = u;
		while (*u && !space_len(u))
			u++;
		flush(w);
		buf_append(&w->out, start, (size_t)(u - start));
	}
}

static void link_open(struct hw *w, xmlNodePtr n)
{
	if (w->nlinks < MAX_LINKS) {
		w->links[w->nlinks].start = w->out.len;
		w->links[w->nlinks].href = lx.get_prop(n, (const xmlChar *)"href");
	}
	w->nlinks++;
}

/* The URL goes after the link text unless it only repeats it. */
static void link_close(struct hw *w)
{
	if (w->nlinks-- > MAX_LINKS || w->nlinks < 0)
		return;
	struct link *l = &w->links[w->nlinks];
	const char *href = (const char *)l->href;
	if (href == NULL)
		return;
	char *shown = str_trim_dup(w->out.data + l->start, w->out.len - l->start);
	const char *bare = href;
	if (strncmp(bare, "mailto:", 7) == 0)
		bare += 7;
	else if (strncmp(bare, "tel:", 4) == 0)
		bare += 4;
	bool useful = shown[0] && href[0] && href[0] != '#' && strncmp(href, "javascript:", 11) &&
	              strcmp(shown, href) != 0 && strcmp(shown, bare) != 0;
	if (useful) {
		w->space = true;
		flush(w);
		buf_printf(&w->out, "<%s>", href);
		w->space = false;
	}
	free(shown);
	lx_free(l->href);
	l->href = NULL;
}

static bool enter(struct hw *w, xmlNodePtr n)
{
	if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
		if (n->content)
			text(w, (const char *)n->content);
		return false;
	}
	if (n->type != XML_ELEMENT_NODE || n->name == NULL || skipped(n->name))
		return false;
	const char *name = (const char *)n->name;
	int block = block_kind(n->name);
	if (block)
		need_lines(w, block);
	if (strcmp(name, "br") == 0) {
		w->bullet = false;
		if (w->newlines++ == 0)
			w->nl_quote = w->quote;
		w->space = false;
	} else if (strcmp(name, "li") == 0) {
		w->bullet = true;
	} else if (strcmp(name, "blockquote") == 0) {
		w->quote++;
	} else if (strcmp(name, "pre") == 0) {
		w->pre++;
	} else if (strcmp(name, "a") == 0) {
		link_open(w, n);
	} else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0) {
		w->space = true;
	}
	return true;
}

static void leave(struct hw *w, xmlNodePtr n)
{
	if (n->type != XML_ELEMENT_NODE || n->name == NULL)
		return;
	const char *name = (const char *)n->name;
	int block = block_kind(n->name);
	if (strcmp(name, "blockquote") == 0 && w->quote > 0)
		w->quote--;
	else if (strcmp(name, "pre") == 0 && w->pre > 0)
		w->pre--;
	else if (strcmp(name, "a") == 0)
		link_close(w);
	if (block)
		need_lines(w, block);
}

static void walk(struct hw *w, xmlDocPtr doc)
{
	xmlNodePtr n = doc->children;
	while (n) {
		bool entered = enter(w, n);
		if (entered && n->children) {
			n = n->children;
			continue;
		}
		if (entered)
			leave(w, n);
		while (n && n->next == NULL) {
			n = n->parent;
			if (n == NULL || n == (xmlNodePtr)doc)
				return;
			leave(w, n);
		}
		n = n->next;
	}
}

/* Trailing blanks off every line, at most one blank line in a row, none at either end. */
static char *tidy(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	int blanks = 0;
	size_t pos = 0;
	buf_reserve(&b, n);
	b.data[0] = '\0';
	while (pos < n) {
		const char *line = s + pos;
		const char *nl = memchr(line, '\n', n - pos);
		size_t ll = nl ? (size_t)(nl - line) : n - pos;
		pos += ll + 1;
		while (ll > 0 && (line[ll - 1] == ' ' || line[ll - 1] == '\t'))
			ll--;
		if (ll == 0) {
			blanks++;
			continue;
		}
		if (b.len > 0)
			buf_puts(&b, blanks ? "\n\n" : "\n");
		blanks = 0;
		buf_append(&b, line, ll);
	}
	return buf_steal(&b);
}

char *message_html_to_text(const char *html, size_t len)
{
	if (html == NULL || len == 0 || len > INT32_MAX)
		return xstrdup("");
	int opts =
	    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET;
	pthread_once(&lx_once, lx_load);
	htmlDocPtr doc = lx.read_memory(html, (int)len, NULL, "UTF-8", opts);
	if (doc == NULL)
		return xstrdup("");
	struct hw w = {.out = BUF_INIT, .line_start = true};
	buf_append(&w.out, "", 0); /* never NULL, for link_close */
	walk(&w, doc);
	for (int i = 0; i < w.nlinks && i < MAX_LINKS; i++)
		lx_free(w.links[i].href);
	lx.free_doc(doc);
	/* entities such as &#27; and &#155; decode to control characters */
	w.out.len = text_strip_controls(w.out.data, w.out.len, TEXT_LINES);
	char *s = tidy(w.out.data, w.out.len);
	buf_free(&w.out);
	return s;
}
