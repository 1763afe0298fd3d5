/*
 * test_message_corpus: the message parser over real mail collected by other projects (read
 * from CORPORA, never copied here): every message parses or is refused with a reason, the
 * text of mime4j's test messages matches the decoded parts mime4j ships, and the benchmark
 * archives parse (the time is printed, not asserted).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../src/message_int.h"
#include "t.h"
#include "tend/import.h"

struct stats {
	size_t parsed, refused;
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parses one file; a refusal must come with a reason. */
static void parse_file(const char *path, struct stats *st)
{
	char *data;
	size_t len;
	if (read_file(path, &data, &len) < 0) {
		T_FAIL("cannot read %s", path);
		return;
	}
	struct message *m = NULL;
	char *reason = NULL;
	if (message_parse(data, len, NULL, &m, &reason) == 0) {
		T_OK(m != NULL && m->message_id[0] && m->text && m->new_text && m->subject);
		T_OK(utf8_valid(m->text, strlen(m->text)));
		T_OK(utf8_valid(m->subject, strlen(m->subject)));
		st->parsed++;
	} else {
		if (m != NULL || reason == NULL || reason[0] == '\0')
			T_FAIL("%s refused without a reason", path);
		else
			printf("# refused %s: %s\n", path + strlen(CORPORA) + 1, reason);
		st->refused++;
	}
	message_free(m);
	free(reason);
	free(data);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An empty vector's array is NULL, which qsort must not be given. */
static void sort_names(struct strvec *v)
{
	if (v->n > 1)
		qsort(v->v, v->n, sizeof(char *), by_name);
}

/* The regular files in dir (recursively when deep), sorted, filtered by prefix and suffix. */
static void list_files(const char *dir, const char *prefix, const char *suffix, bool deep,
                       struct strvec *out)
{
	struct strvec dirs = STRVEC_INIT;
	strvec_push(&dirs, dir);
	for (size_t d = 0; d < dirs.n; d++) {
		DIR *dh = opendir(dirs.v[d]);
		if (dh == NULL)
			continue;
		struct dirent *e;
		while ((e = readdir(dh)) != NULL) {
			if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
				continue;
			char *path = xasprintf("%s/%s", dirs.v[d], e->d_name);
			struct stat sb;
			if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && deep)
				strvec_push_owned(&dirs, path);
			else if (S_ISREG(sb.st_mode) &&
			         strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
			         has_suffix(e->d_name, suffix))
				strvec_push_owned(out, path);
			else
				free(path);
		}
		closedir(dh);
	}
	strvec_free(&dirs);
	sort_names(out);
}

static void parse_dir(const char *sub, const char *prefix, const char *suffix, bool deep,
                      size_t at_least)
{
	struct strvec files = STRVEC_INIT;
	struct stats st = {0, 0};
	char *dir = xasprintf("%s/%s", CORPORA, sub);
	list_files(dir, prefix, suffix, deep, &files);
	for (size_t i = 0; i < files.n; i++)
		parse_file(files.v[i], &st);
	printf("# %s: %zu files, %zu parsed, %zu refused with a reason\n", sub, files.n, st.parsed,
	       st.refused);
	T_OK(files.n >= at_least);
	strvec_free(&files);
	free(dir);
}

static void corpus_mime4j(void)
{
	parse_dir("mime4j/testmsgs", "", ".msg", false, 30);
	parse_dir("mime4j/mimetools-testmsgs", "", ".msg", false, 45);
}

static void corpus_mimekit(void)
{
	parse_dir("mimekit/messages", "", "", false, 30);
}

static void corpus_cpython(void)
{
	parse_dir("cpython-email", "msg_", ".txt", false, 40);
}

static void corpus_bounces(void)
{
	parse_dir("bounces", "", "", false, 100);
}

static void corpus_malformed(void)
{
	parse_dir("malformed", "", "", false, 20);
}

static void corpus_mu_notmuch(void)
{
	parse_dir("mu", "", "", true, 40);
	parse_dir("notmuch", "", "", true, 250);
}

/* ---- mime4j's decoded parts ---- */

struct leaf {
	char *path;
	char *charset;
	char *text; /* NULL for a part that is not text */
};

struct leaves {
	struct leaf *v;
	size_t n;
};

static void collect_leaf(void *arg, const char *path, const struct message_part *p,
                         const char *text)
{
	struct leaves *l = arg;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n].path = xstrdup(path);
	l->v[l->n].charset = p->charset ? xstrdup(p->charset) : NULL;
	l->v[l->n].text = text ? xstrdup(text) : NULL;
	l->n++;
}

static void leaves_free(struct leaves *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].charset);
		free(l->v[i].text);
	}
	free(l->v);
}

/* Line ends, trailing blanks and trailing blank lines do not count. */
static char *canonical(const char *s)
{
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	for (; *s; s++) {
		if (*s == '\r' && s[1] == '\n')
			continue;
		char c = *s == '\r' ? '\n' : *s;
		if (c == '\n' || c == '\t' || (unsigned char)c >= 32) {
			if (c == '\n')
				while (b.len > 0 &&
				       (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
					b.len--;
			buf_putc(&b, c);
		}
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.len--;
	b.data[b.len] = '\0';
	return buf_steal(&b);
}

struct cmp {
	size_t compared, matched, kept_more;
	struct strvec mismatched;
};

/*
 * Where tend deliberately keeps more than mime4j: mime4j drops header-looking lines after a
 * broken header/body separator (and its two lenient modes disagree on this input); tend starts
 * the body at the first line that is not a header field, so no text the sender wrote is lost.
 * For these, every line mime4j shows must appear in tend's text, in order.
 */
static const char *const keeps_more[] = {
    "basic-plain-with-bad-header-separator",
    "malformedHeader-nocrlfcrlf",
    "malformedHeaderStartsBody-nocrlfcrlf",
    "hdr-fakeout",
};

static bool lines_in_order(const char *want, const char *got)
{
	while (*want) {
		const char *nl = strchr(want, '\n');
		size_t n = nl ? (size_t)(nl - want) : strlen(want);
		if (n > 0) {
			char *line = xstrndup(want, n);
			const char *at = strstr(got, line);
			free(line);
			if (at == NULL)
				return false;
			got = at + n;
		}
		want += n + (nl ? 1 : 0);
	}
	return true;
}

static bool keeps_more_case(const char *stem)
{
	for (size_t i = 0; i < NELEM(keeps_more); i++)
		if (strcmp(stem, keeps_more[i]) == 0)
			return true;
	return false;
}

static void compare_part(const char *dir, const char *stem, const char *name,
                         const struct leaves *l, struct cmp *c)
{
	char *path = xstrndup(name + strlen(stem) + 9, strlen(name) - strlen(stem) - 9 - 4);
	const struct leaf *leaf = NULL;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			leaf = &l->v[i];
	char *file = xasprintf("%s/%s", dir, name), *data;
	size_t len;
	c->compared++;
	if (read_file(file, &data, &len) == 0) {
		struct buf u = BUF_INIT;
		message_cs_to_utf8(&u, leaf ? leaf->charset : NULL, data, len, NULL);
		char *want = canonical(u.data ? u.data : ""), *got = NULL;
		if (leaf && leaf->text)
			got = canonical(leaf->text);
		if (got && strcmp(want, got) == 0)
			c->matched++;
		else if (got && keeps_more_case(stem) && lines_in_order(want, got))
			c->kept_more++;
		else
			strvec_push_owned(&c->mismatched, xasprintf("%s (part %s)", stem, path));
		free(want);
		free(got);
		buf_free(&u);
		free(data);
	}
	free(file);
	free(path);
}

/* Every <text-body name="..."/> in stem_decoded.xml against the leaf with that path. */
static void compare_message(const char *dir, const char *msgfile, struct cmp *c)
{
	char *stem = xstrndup(msgfile, strlen(msgfile) - 4);
	char *xml = xasprintf("%s/%s_decoded.xml", dir, stem), *raw = NULL, *x = NULL;
	char *msgpath = xasprintf("%s/%s", dir, msgfile);
	size_t len, xlen;
	struct leaves l = {NULL, 0};
	if (read_file(xml, &x, &xlen) == 0 && read_file(msgpath, &raw, &len) == 0 &&
	    message_walk_leaves(raw, len, collect_leaf, &l) == 0) {
		const char *p = x;
		while ((p = strstr(p, "<text-body name=\"")) != NULL) {
			p += 17;
			const char *q = strchr(p, '"');
			if (q == NULL)
				break;
			char *name = xstrndup(p, (size_t)(q - p));
			compare_part(dir, stem, name, &l, c);
			free(name);
			p = q;
		}
	}
	leaves_free(&l);
	free(x);
	free(raw);
	free(xml);
	free(msgpath);
	free(stem);
}

static void corpus_mime4j_decoded(void)
{
	static const char *const dirs[] = {"mime4j/testmsgs", "mime4j/mimetools-testmsgs"};
	struct cmp c = {0, 0, 0, STRVEC_INIT};
	for (size_t d = 0; d < NELEM(dirs); d++) {
		char *dir = xasprintf("%s/%s", CORPORA, dirs[d]);
		struct strvec files = STRVEC_INIT;
		list_files(dir, "", ".msg", false, &files);
		for (size_t i = 0; i < files.n; i++)
			compare_message(dir, strrchr(files.v[i], '/') + 1, &c);
		strvec_free(&files);
		free(dir);
	}
	printf("# mime4j decoded text parts: %zu compared, %zu identical, %zu with more text kept "
	       "on purpose\n",
	       c.compared, c.matched, c.kept_more);
	for (size_t i = 0; i < c.mismatched.n; i++)
		printf("# differs: %s\n", c.mismatched.v[i]);
	T_OK(c.compared >= 100);
	T_OK(c.kept_more <= NELEM(keeps_more));
	T_EQ_INT(c.mismatched.n, 0);
	strvec_free(&c.mismatched);
}

/* A To: field of thousands of encoded words, made to overflow recursive parsers. */
static void corpus_stack_overflow(void)
{
	char *path = xasprintf("%s/mimekit/messages/stack-overflow.txt", CORPORA), *data;
	size_t len;
	struct message *m = NULL;
	char *reason = NULL;
	if (read_file(path, &data, &len) < 0) {
		T_FAIL("cannot read %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	T_EQ_INT(message_parse(data, len, NULL, &m, &reason), 0);
	if (m) {
		T_EQ_STR(m->from.addr, "test@test.com");
		T_OK(m->to.n >= 1);
		if (m->to.n >= 1)
			T_EQ_STR(m->to.v[0].addr, "test@test.com");
	}
	message_free(m);
	free(reason);
	free(data);
	free(path);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
	size_t messages, refused, bytes;
	double seconds;
	struct strvec ids;
};

static int bench_one(const struct mbox_entry *e, void *arg)
{
	struct bench *b = arg;
	struct message *m = NULL;
	char *reason = NULL;
	double t0 = now();
	int rc = message_parse(e->data, e->len, NULL, &m, &reason);
	b->seconds += now() - t0;
	b->messages++;
	b->bytes += e->len;
	if (rc < 0) {
		b->refused++;
		if (reason == NULL || reason[0] == '\0')
			T_FAIL("message %zu refused without a reason", b->messages);
	} else {
		strvec_push(&b->ids, m->message_id);
	}
	message_free(m);
	free(reason);
	return 0;
}

static void corpus_bench(void)
{
	struct strvec files = STRVEC_INIT;
	struct bench b = {0, 0, 0, 0, STRVEC_INIT};
	char *dir = xasprintf("%s/bench/r-package-devel", CORPORA);
	list_files(dir, "", ".txt", false, &files);
	for (size_t i = 0; i < files.n; i++) {
		char *data;
		size_t len;
		if (read_file(files.v[i], &data, &len) == 0) {
			mbox_split(data, len, bench_one, &b);
			free(data);
		}
	}
	printf("# bench: %zu messages (%.1f MB) parsed in %.3f s: %.1f us per message, %zu "
	       "refused\n",
	       b.messages, (double)b.bytes / 1e6, b.seconds,
	       b.messages ? b.seconds * 1e6 / (double)b.messages : 0.0, b.refused);
	sort_names(&b.ids);
	size_t distinct = 0;
	for (size_t i = 0; i < b.ids.n; i++)
		distinct += i == 0 || strcmp(b.ids.v[i], b.ids.v[i - 1]) != 0;
	printf("# bench: %zu distinct Message-IDs (notmuch 0.37 indexes 11,111)\n", distinct);
	/*
	 * Python's mailbox module finds 11,147 by splitting at every "From " line, 33 of them
	 * fragments of bodies; tend's splitter keeps those inside their messages.
	 */
	T_EQ_INT(b.messages, 11114);
	T_EQ_INT(b.refused, 0);
	T_EQ_INT(distinct, 11111);
	strvec_free(&b.ids);
	strvec_free(&files);
	free(dir);
}

T_MAIN_CORPORA(T_CASE(corpus_mime4j), T_CASE(corpus_mimekit), T_CASE(corpus_cpython),
               T_CASE(corpus_bounces), T_CASE(corpus_malformed), T_CASE(corpus_mu_notmuch),
               T_CASE(corpus_mime4j_decoded), T_CASE(corpus_stack_overflow), T_CASE(corpus_bench))
