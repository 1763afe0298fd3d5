/*
 * rules_parse: the `rules` list of rules.yaml: each rule's keys, its conditions and captures,
 * and the regexes in them.
 *
 * Conditions come from one table of condition types, each with its parser and its evaluator
 * (in rules_eval.c), so a new condition is one table entry and two functions. A condition
 * mapping becomes an "all" node whose kids are its keys; `header` adds one kid per field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_int.h"
#include "tend/attach.h"

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define VAR_CHARS  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

struct cond_type;

typedef int cond_parse(struct yamlutil_doc *y, const struct cond_type *t,
                       const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent);

struct cond_type {
	const char *key;
	cond_parse *parse;
	rules_cond_eval *eval;
};

static cond_parse parse_regex, parse_header, parse_flag, parse_list, parse_not, parse_lang,
    parse_fact;

static const struct cond_type cond_types[] = {
    {"subject", parse_regex, rules_eval_subject},
    {"body", parse_regex, rules_eval_body},
    {"from", parse_regex, rules_eval_from},
    {"to", parse_regex, rules_eval_to},
    {"header", parse_header, rules_eval_header},
    {"has_attachment", parse_flag, rules_eval_attachment},
    {"first_message", parse_flag, rules_eval_first},
    {"any", parse_list, rules_eval_any},
    {"all", parse_list, rules_eval_all},
    {"not", parse_not, rules_eval_not},
    {"lang", parse_lang, rules_eval_lang},
    {"fact", parse_fact, rules_eval_fact},
    {"fact_age", parse_fact, rules_eval_fact_age},
};

static const char *label(struct yamlutil_doc *y);

/*
 * Parses a condition that holds conditions, one level deeper. Parsing, evaluating and freeing
 * conditions each take a level of the stack per level of nesting: past RULES_MAX_NESTING the
 * condition is refused at its key, and nothing inside it is parsed.
 */
static int parse_nested(struct yamlutil_doc *y, const struct cond_type *t,
                        const struct yamlutil_key *k, yaml_node_t *key, yaml_node_t *val,
                        struct rules_cond *parent)
{
	struct rules_load *ld = y->user;
	if (ld->depth >= RULES_MAX_NESTING) {
		yamlutil_error(y, key,
		               "\"%s\" in %s nests conditions deeper than %d levels (any, all and "
		               "not inside one another)",
		               t->key, label(y), RULES_MAX_NESTING);
		return -1;
	}
	ld->depth++;
	int rc = t->parse(y, t, k, val, parent);
	ld->depth--;
	return rc;
}

/*
 * Counts the file's conditions. An alias repeats the conditions it names, so a few lines of
 * aliases to aliases can stand for billions of them; past RULES_MAX_CONDITIONS the file is
 * refused (once, where it happens) and nothing more is parsed.
 */
static bool count_cond(struct yamlutil_doc *y, const yaml_node_t *key)
{
	struct rules_load *ld = y->user;
	if (ld->nconds < RULES_MAX_CONDITIONS) {
		ld->nconds++;
		return true;
	}
	if (!ld->too_many)
		yamlutil_error(y, key,
		               "more than %d conditions in the file by %s (aliases repeat the "
		               "conditions they name)",
		               RULES_MAX_CONDITIONS, label(y));
	ld->too_many = true;
	return false;
}

static int add_cond(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                    yaml_node_t *val, void *obj)
{
	if (!count_cond(y, key))
		return -1;
	for (size_t i = 0; i < NELEM(cond_types); i++) {
		const struct cond_type *t = &cond_types[i];
		if (strcmp(t->key, k->name) != 0)
			continue;
		bool nests = t->parse == parse_list || t->parse == parse_not;
		return nests ? parse_nested(y, t, k, key, val, obj) : t->parse(y, t, k, val, obj);
	}
	fatalx("rules: condition \"%s\" has no type", k->name);
}

#define FLAG offsetof(struct rules_cond, flag)

/* The keys of a condition mapping, in the order messages offer them. */
static const struct yamlutil_key cond_keys[] = {
    {.name = "subject", .fn = add_cond},
    {.name = "body", .fn = add_cond},
    {.name = "from", .fn = add_cond},
    {.name = "to", .fn = add_cond},
    {.name = "header", .fn = add_cond},
    {.name = "has_attachment", .fn = add_cond, .offset = FLAG},
    {.name = "first_message", .fn = add_cond, .offset = FLAG},
    {.name = "any", .fn = add_cond},
    {.name = "all", .fn = add_cond},
    {.name = "not", .fn = add_cond},
    {.name = "lang", .fn = add_cond},
    {.name = "fact", .fn = add_cond},
    {.name = "fact_age", .fn = add_cond},
};

#define COND_LIST                                                                                  \
	"subject, body, from, to, header, has_attachment, first_message, any, all, not, lang, "    \
	"fact, fact_age"

static const char *label(struct yamlutil_doc *y)
{
	return ((struct rules_load *)y->user)->label;
}

void rules_regex_free(struct rules_regex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	free(re->src);
	free(re);
}

struct rules_regex *rules_regex_compile(struct yamlutil_doc *y, const yaml_node_t *n,
                                        const char *name, const char *what)
{
	const char *src;
	if (yamlutil_get_string(y, n, name, &src) < 0)
		return NULL;
	int err;
	PCRE2_SIZE off;
	/* UCP: \b, \w and (?i) work on "Rückerstattung" as they do on "refund". \C could split
	 * a UTF-8 character and is never what an operator means. */
	pcre2_code *code =
	    pcre2_compile((PCRE2_SPTR)src, strlen(src),
	                  PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
	if (code == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof(msg));
		int line, col;
		yamlutil_scalar_pos(y, n, off, &line, &col);
		diag_add(y->diags, y->file, line, col, "bad regex in %s %s: %s", label(y), what,
		         (const char *)msg);
		return NULL;
	}
	/* Without JIT (an unsupported CPU, a hardened kernel) the interpreter does the work. */
	pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	struct rules_regex *re = xcalloc(1, sizeof(*re));
	re->src = xstrdup(src);
	re->code = code;
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ncaptures);
	struct rules *r = ((struct rules_load *)y->user)->r;
	re->prefilter = prefilter_add(r->prefilter, src);
	if (re->ncaptures + 1 > r->max_pairs)
		r->max_pairs = re->ncaptures + 1;
	return re;
}

static struct rules_cond *new_kid(struct rules_cond *parent, const char *kind,
                                  rules_cond_eval *eval)
{
	parent->kids = xreallocarray(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
	struct rules_cond *c = &parent->kids[parent->nkids++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->eval = eval;
	return c;
}

static void cond_finish(struct rules_cond *c)
{
	for (size_t i = 0; i < c->nkids; i++)
		cond_finish(&c->kids[i]);
	free(c->kids);
	rules_regex_free(c->re);
	free(c->header);
	strvec_free(&c->langs);
}

/* Walks a condition mapping into node (an "all"); an empty one would match every message. */
static void walk_conds(struct yamlutil_doc *y, yaml_node_t *map, struct rules_cond *node,
                       const char *where, const char *subject)
{
	size_t errors = yamlutil_walk(y, map, cond_keys, NELEM(cond_keys), node, where, subject);
	/* Past the count of conditions none is parsed: that was said once already. */
	if (errors == 0 && node->nkids == 0 && !((struct rules_load *)y->user)->too_many)
		yamlutil_error(y, map, "%s must list at least one condition (%s)", where,
		               COND_LIST);
}

static int parse_regex(struct yamlutil_doc *y, const struct cond_type *t,
                       const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	struct rules_cond *c = new_kid(parent, t->key, t->eval);
	c->re = rules_regex_compile(y, val, t->key, t->key);
	return c->re ? 0 : -1;
}

static int parse_flag(struct yamlutil_doc *y, const struct cond_type *t,
                      const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	if (t->eval == rules_eval_first)
		((struct rules_load *)y->user)->r->asks_first = true;
	return yamlutil_set_bool(y, k, NULL, val, new_kid(parent, t->key, t->eval));
}

/* RFC 5322 field names: printable ASCII except the colon. */
static bool field_name_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < 33 || *s > 126 || *s == ':')
			return false;
	return true;
}

static int header_entry(struct yamlutil_doc *y, const struct cond_type *t, yaml_node_t *key,
                        yaml_node_t *val, struct rules_cond *parent)
{
	const char *name = yamlutil_scalar(key);
	if (!field_name_ok(name)) {
		yamlutil_type_error(y, key, "each name in \"header\"",
		                    "a header field name like Auto-Submitted");
		return -1;
	}
	struct rules_cond *c = new_kid(parent, t->key, t->eval);
	c->header = xstrdup(name);
	char *what = xasprintf("header \"%s\"", name);
	c->re = rules_regex_compile(y, val, name, what);
	free(what);
	return c->re ? 0 : -1;
}

static int parse_header(struct yamlutil_doc *y, const struct cond_type *t,
                        const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	if (val->type != YAML_MAPPING_NODE ||
	    val->data.mapping.pairs.start == val->data.mapping.pairs.top) {
		yamlutil_type_error(
		    y, val, "\"header\"",
		    "a mapping of header names to regexes, like {Precedence: bulk}");
		return -1;
	}
	int rc = 0;
	for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
	     p++)
		if (header_entry(y, t, yamlutil_node(y, p->key), yamlutil_node(y, p->value),
		                 parent) < 0)
			rc = -1;
	return rc;
}

/* fact_age: "<24h" (newer than) or ">24h" (older than), in the units of the sla. */
static int parse_age(struct yamlutil_doc *y, yaml_node_t *val, const char *name,
                     struct rules_cond *c)
{
	const char *s = yamlutil_scalar(val);
	const char *d = s ? s + 1 + strspn(s + 1, " ") : NULL;
	if (s == NULL || (s[0] != '<' && s[0] != '>') || parse_duration(d, &c->age) < 0 ||
	    c->age <= 0) {
		char *subject = xasprintf("fact_age \"%s\"", name);
		yamlutil_type_error(y, val, subject,
		                    "< or > and a duration, like '<24h' (newer) or '>30d' (older)");
		free(subject);
		return -1;
	}
	c->flag = s[0] == '>';
	return 0;
}

static int fact_entry(struct yamlutil_doc *y, const struct cond_type *t, yaml_node_t *key,
                      yaml_node_t *val, struct rules_cond *parent)
{
	const struct rules *r = ((struct rules_load *)y->user)->r;
	const char *name = yamlutil_scalar(key);
	if (name == NULL || rules_fact_of(r, name) == NULL) {
		yamlutil_error(y, key,
		               "%s in %s: \"%s\" is no fact (a lookup declared in \"facts\", then "
		               "a dot and a field, like order.status)",
		               t->key, label(y), name ? name : "");
		return -1;
	}
	struct rules_cond *c = new_kid(parent, t->key, t->eval);
	c->header = xstrdup(name);
	if (t->eval == rules_eval_fact_age)
		return parse_age(y, val, name, c);
	char *what = xasprintf("fact \"%s\"", name);
	c->re = rules_regex_compile(y, val, name, what);
	free(what);
	return c->re ? 0 : -1;
}

/* fact: {order.status: regex}, fact_age: {order.placed_at: '<24h'}: one kid per entry. */
static int parse_fact(struct yamlutil_doc *y, const struct cond_type *t,
                      const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	if (val->type != YAML_MAPPING_NODE ||
	    val->data.mapping.pairs.start == val->data.mapping.pairs.top) {
		char *subject = xasprintf("\"%s\"", t->key);
		yamlutil_type_error(
		    y, val, subject,
		    t->eval == rules_eval_fact
		        ? "a mapping of facts to regexes, like {order.status: paid}"
		        : "a mapping of facts to ages, like {order.placed_at: '<24h'}");
		free(subject);
		return -1;
	}
	int rc = 0;
	for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
	     p++)
		if (fact_entry(y, t, yamlutil_node(y, p->key), yamlutil_node(y, p->value), parent) <
		    0)
			rc = -1;
	return rc;
}

static int parse_list(struct yamlutil_doc *y, const struct cond_type *t,
                      const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	if (!yamlutil_expect_seq(y, val, t->key))
		return -1;
	size_t n = yamlutil_seq_len(val);
	if (n == 0) {
		yamlutil_error(y, val, "\"%s\" in %s must list at least one condition", t->key,
		               label(y));
		return -1;
	}
	struct rules_cond *c = new_kid(parent, t->key, t->eval);
	char *subject = xasprintf("each entry of \"%s\"", t->key);
	for (size_t i = 0; i < n; i++) {
		struct rules_cond *kid = new_kid(c, NULL, rules_eval_all);
		char *where = xasprintf("entry %zu of \"%s\" in %s", i + 1, t->key, label(y));
		walk_conds(y, yamlutil_seq_item(y, val, i), kid, where, subject);
		free(where);
	}
	free(subject);
	return 0;
}

static int parse_not(struct yamlutil_doc *y, const struct cond_type *t,
                     const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	struct rules_cond *c = new_kid(parent, t->key, t->eval);
	struct rules_cond *inner = new_kid(c, NULL, rules_eval_all);
	char *where = xasprintf("\"not\" in %s", label(y));
	walk_conds(y, val, inner, where, "\"not\"");
	free(where);
	return 0;
}

static int parse_lang(struct yamlutil_doc *y, const struct cond_type *t,
                      const struct yamlutil_key *k, yaml_node_t *val, struct rules_cond *parent)
{
	return rules_parse_lang(y, val, new_kid(parent, t->key, t->eval));
}

/* ---- captures ---- */

struct named_group {
	uint32_t group;
	const char *name;
};

static int cmp_group(const void *a, const void *b)
{
	uint32_t x = ((const struct named_group *)a)->group,
	         z = ((const struct named_group *)b)->group;
	return (x > z) - (x < z);
}

/* The variables a capture provides: its named groups in pattern order, else its own key. */
static void capture_vars(struct rules_capture *cap)
{
	uint32_t count = 0, size = 0;
	PCRE2_SPTR table = NULL;
	pcre2_pattern_info(cap->re->code, PCRE2_INFO_NAMECOUNT, &count);
	if (count == 0) {
		strvec_push(&cap->vars, cap->key);
		cap->groups = xcalloc(1, sizeof(*cap->groups));
		cap->groups[0] = cap->re->ncaptures > 0 ? 1 : 0;
		return;
	}
	pcre2_pattern_info(cap->re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(cap->re->code, PCRE2_INFO_NAMETABLE, &table);
	/* The table is sorted by name; templates and explanations read better in pattern order. */
	struct named_group *v = xcalloc(count, sizeof(*v));
	for (uint32_t i = 0; i < count; i++) {
		PCRE2_SPTR e = table + (size_t)i * size;
		v[i].group = (uint32_t)e[0] << 8 | e[1];
		v[i].name = (const char *)e + 2;
	}
	qsort(v, count, sizeof(*v), cmp_group);
	cap->groups = xcalloc(count, sizeof(*cap->groups));
	for (uint32_t i = 0; i < count; i++) {
		if (strvec_contains(&cap->vars, v[i].name))
			continue;
		cap->groups[cap->vars.n] = v[i].group;
		strvec_push(&cap->vars, v[i].name);
	}
	free(v);
}

static bool is_global(const char *name)
{
	for (size_t i = 0; rules_global_vars[i] != NULL; i++)
		if (strcmp(rules_global_vars[i], name) == 0)
			return true;
	return false;
}

bool rules_var_known(const struct rules_rule *rule, const char *name)
{
	if (is_global(name))
		return true;
	for (size_t i = 0; rule != NULL && i < rule->ncaptures; i++)
		if (strvec_contains(&rule->captures[i].vars, name))
			return true;
	return false;
}

/* A capture must not hide a global: {{deadline}} would silently mean something else. */
static int check_capture_names(struct yamlutil_doc *y, const yaml_node_t *val,
                               const struct rules_capture *cap)
{
	for (size_t i = 0; i < cap->vars.n; i++) {
		if (!is_global(cap->vars.v[i]))
			continue;
		yamlutil_error(y, val, "capture \"%s\" of %s would hide the global variable \"%s\"",
		               cap->key, label(y), cap->vars.v[i]);
		return -1;
	}
	return 0;
}

static int add_capture(struct yamlutil_doc *y, struct rules_rule *rule, yaml_node_t *key,
                       yaml_node_t *val)
{
	const char *name = yamlutil_scalar(key);
	if (name == NULL || *name == '\0' || strspn(name, VAR_CHARS) != strlen(name)) {
		yamlutil_type_error(y, key, "each name in \"capture\"",
		                    "a variable name of letters, digits and \"_\"");
		return -1;
	}
	for (size_t i = 0; i < rule->ncaptures; i++) {
		if (strcmp(rule->captures[i].key, name) == 0) {
			yamlutil_error(y, key, "duplicate capture \"%s\" in %s", name, label(y));
			return -1;
		}
	}
	char *what = xasprintf("capture \"%s\"", name);
	struct rules_regex *re = rules_regex_compile(y, val, name, what);
	free(what);
	if (re == NULL)
		return -1;
	rule->captures =
	    xreallocarray(rule->captures, rule->ncaptures + 1, sizeof(*rule->captures));
	struct rules_capture *cap = &rule->captures[rule->ncaptures++];
	memset(cap, 0, sizeof(*cap));
	cap->key = xstrdup(name);
	cap->re = re;
	capture_vars(cap);
	return check_capture_names(y, val, cap);
}

static int walk_capture(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	struct rules_load *ld = y->user;
	if (yamlutil_is_null(val))
		return 0;
	if (val->type != YAML_MAPPING_NODE) {
		yamlutil_type_error(y, val, "\"capture\"",
		                    "a mapping of variable names to regexes");
		ld->capture_failed = true;
		return -1;
	}
	for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
	     p++)
		if (add_capture(y, obj, yamlutil_node(y, p->key), yamlutil_node(y, p->value)) < 0)
			ld->capture_failed = true;
	return 0;
}

/* ---- the rule's other keys ---- */

static int set_name(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                    yaml_node_t *val, void *obj)
{
	struct rules_rule *rule = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (strspn(s, NAME_CHARS) != strlen(s)) {
		yamlutil_type_error(y, val, "\"name\"", "letters, digits, \"_\", \"-\" or \".\"");
		return -1;
	}
	free(rule->name);
	rule->name = xstrdup(s);
	return 0;
}

static int walk_match(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	struct rules_rule *rule = obj;
	char *where = xasprintf("\"match\" of %s", label(y));
	walk_conds(y, val, &rule->match, where, "\"match\"");
	free(where);
	return 0;
}

static int set_priority(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	static const char *const names[] = {"urgent", "high", "normal", "low"};
	struct rules_rule *rule = obj;
	const char *s = yamlutil_scalar(val);
	int p = rules_priority_parse(s);
	if (p >= 0) {
		rule->priority = p;
		return 0;
	}
	const char *best = s ? yamlutil_suggest(s, names, NELEM(names)) : NULL;
	char *expected =
	    best ? xasprintf("one of urgent, high, normal, low (did you mean \"%s\"?)", best)
	         : xstrdup("one of urgent, high, normal, low");
	yamlutil_type_error(y, val, "\"priority\"", expected);
	free(expected);
	return -1;
}

static int set_template(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	struct rules_rule *rule = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (!rules_template_name_ok(s)) {
		yamlutil_type_error(y, val, "\"template\"",
		                    "a template name (letters, digits, \"_\", \"-\", \".\")");
		return -1;
	}
	free(rule->template_name);
	rule->template_name = xstrdup(s);
	rule->template = rules_get_template(y, val, label(y), s);
	return rule->template ? 0 : -1;
}

static int set_action(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	const char *s = yamlutil_scalar(val);
	if (s == NULL || strcmp(s, "ignore") != 0) {
		yamlutil_type_error(y, val, "\"action\"", "ignore (the only action there is)");
		return -1;
	}
	((struct rules_rule *)obj)->ignore = true;
	return 0;
}

static int set_place(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	const char *s = yamlutil_scalar(val);
	struct rules_rule *rule = obj;
	if (s != NULL && strcmp(s, "first") == 0) {
		rule->place = RULES_PLACE_FIRST;
		return 0;
	}
	if (s != NULL && strcmp(s, "last") == 0) {
		rule->place = RULES_PLACE_LAST;
		return 0;
	}
	yamlutil_type_error(y, val, "\"place\"",
	                    "first or last (leave it out to follow the customer's order)");
	return -1;
}

/* Why rel (relative to dir) cannot be attached, or NULL: a path that stays in dir, through no
 * symbolic link, to a regular file of at most ATTACH_DEFAULT_MAX bytes. */
static char *attach_problem(const char *dir, const char *rel)
{
	if (*rel == '\0' || *rel == '/')
		return xstrdup("not a path relative to the rules file's directory");
	for (const char *p = rel; *p; p += strcspn(p, "/"), p += *p == '/')
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return xstrdup("it leads out of the rules file's directory");
	struct stat st;
	char *path = xasprintf("%s/%s", dir, rel), *why = NULL;
	size_t start = strlen(dir) + 1;
	for (size_t i = start; !why; i++) { /* every component, the file last */
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (lstat(path, &st) < 0)
			why = xasprintf("cannot read it: %s", strerror(errno));
		else if (S_ISLNK(st.st_mode))
			why = xstrdup("it is reached through a symbolic link");
		path[i] = c;
		if (c == '\0')
			break;
	}
	if (!why && !S_ISREG(st.st_mode))
		why = xstrdup("not a regular file");
	else if (!why && st.st_size > ATTACH_DEFAULT_MAX)
		why = xasprintf("it has %lld bytes, more than the %lld a draft may attach",
		                (long long)st.st_size, (long long)ATTACH_DEFAULT_MAX);
	free(path);
	return why;
}

static int set_attach(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	struct rules_rule *rule = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	int rc = 0;
	for (size_t i = 0; i < yamlutil_seq_len(val); i++) {
		yaml_node_t *item = yamlutil_seq_item(y, val, i);
		const char *rel = yamlutil_scalar(item);
		char *why = rel ? attach_problem(y->dir, rel) : xstrdup("not a file name");
		if (why) {
			struct buf q = BUF_INIT;
			yamlutil_quote(&q, rel ? rel : "");
			yamlutil_error(y, item, "%s: attach %s: %s", label(y), q.data, why);
			buf_free(&q);
			free(why);
			rc = -1;
			continue;
		}
		strvec_push_owned(&rule->attach, xasprintf("%s/%s", y->dir, rel));
	}
	return rc;
}

static const struct yamlutil_key rule_keys[] = {
    {.name = "name", .fn = set_name, .flags = YAMLUTIL_REQUIRED},
    {.name = "match", .fn = walk_match, .flags = YAMLUTIL_REQUIRED},
    {.name = "capture", .fn = walk_capture},
    {.name = "tags", .fn = yamlutil_set_strlist, .offset = offsetof(struct rules_rule, tags)},
    {.name = "priority", .fn = set_priority},
    {.name = "template", .fn = set_template},
    {.name = "action", .fn = set_action},
    {.name = "stop", .fn = yamlutil_set_bool, .offset = offsetof(struct rules_rule, stop)},
    {.name = "place", .fn = set_place},
    {.name = "attach", .fn = set_attach},
    {.name = "settles", .fn = yamlutil_set_strlist, .offset = offsetof(struct rules_rule, settles)},
};

/* rule "refund", or rule 3 when the entry has no usable name yet. */
static char *rule_label(struct yamlutil_doc *y, const yaml_node_t *entry, size_t index)
{
	const char *name = yamlutil_scalar(yamlutil_map_get(y, entry, "name"));
	if (name == NULL || *name == '\0')
		return xasprintf("rule %zu", index + 1);
	struct buf b = BUF_INIT;
	buf_puts(&b, "rule ");
	yamlutil_quote(&b, name);
	return buf_steal(&b);
}

static void walk_rule(struct yamlutil_doc *y, yaml_node_t *entry, struct rules_rule *rule,
                      size_t index)
{
	struct rules_load *ld = y->user;
	rule->priority = -1;
	rule->match.eval = rules_eval_all;
	char *lab = rule_label(y, entry, index);
	ld->rule = rule;
	ld->label = lab;
	ld->capture_failed = false;
	yamlutil_walk(y, entry, rule_keys, NELEM(rule_keys), rule, lab, "each entry of \"rules\"");
	/* Unknown variables are only worth reporting once the rule's captures are all known. */
	if (rule->template != NULL && !ld->capture_failed)
		rules_check_vars(y, rule->template, rule, lab);
	ld->rule = NULL;
	ld->label = NULL;
	free(lab);
}

/* Rule names are how operators, explanations and ignore reasons refer to a rule. */
static void check_unique(struct yamlutil_doc *y, const yaml_node_t *seq)
{
	for (size_t i = 0; i < yamlutil_seq_len(seq); i++) {
		const yaml_node_t *ni = yamlutil_map_get(y, yamlutil_seq_item(y, seq, i), "name");
		const char *si = yamlutil_scalar(ni);
		for (size_t j = 0; si != NULL && *si != '\0' && j < i; j++) {
			const yaml_node_t *nj =
			    yamlutil_map_get(y, yamlutil_seq_item(y, seq, j), "name");
			const char *sj = yamlutil_scalar(nj);
			if (sj == NULL || strcmp(si, sj) != 0)
				continue;
			struct buf q = BUF_INIT;
			yamlutil_quote(&q, si);
			yamlutil_error(y, ni, "duplicate rule name %s (first used at %d:%d)",
			               q.data, (int)nj->start_mark.line + 1,
			               (int)nj->start_mark.column + 1);
			buf_free(&q);
			break;
		}
	}
}

static bool has_rule(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nrules; i++)
		if (r->rules[i].name && strcmp(r->rules[i].name, name) == 0)
			return true;
	return false;
}

/* settles names other rules of the file: a misspelt name would settle nothing, silently. */
static void check_settles(struct yamlutil_doc *y, yaml_node_t *seq, const struct rules *r)
{
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];
		yaml_node_t *list = yamlutil_map_get(y, yamlutil_seq_item(y, seq, i), "settles");
		for (size_t j = 0; j < rule->settles.n; j++) {
			const char *name = rule->settles.v[j];
			bool self = rule->name && strcmp(name, rule->name) == 0;
			if (has_rule(r, name) && !self)
				continue;
			struct buf q = BUF_INIT;
			yamlutil_quote(&q, name);
			yamlutil_error(y, list ? yamlutil_seq_item(y, list, j) : seq,
			               "\"settles\" in rule \"%s\" names %s, %s", rule->name,
			               q.data,
			               self ? "the rule itself" : "which is no rule of this file");
			buf_free(&q);
		}
	}
}

int rules_walk_rules(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct rules *r = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	size_t n = yamlutil_seq_len(val);
	r->rules = xcalloc(n ? n : 1, sizeof(*r->rules));
	for (size_t i = 0; i < n; i++)
		walk_rule(y, yamlutil_seq_item(y, val, i), &r->rules[r->nrules++], i);
	check_unique(y, val);
	check_settles(y, val, r);
	return 0;
}

void rules_rule_finish(struct rules_rule *rule)
{
	free(rule->name);
	free(rule->template_name);
	cond_finish(&rule->match);
	for (size_t i = 0; i < rule->ncaptures; i++) {
		free(rule->captures[i].key);
		rules_regex_free(rule->captures[i].re);
		strvec_free(&rule->captures[i].vars);
		free(rule->captures[i].groups);
	}
	free(rule->captures);
	strvec_free(&rule->tags);
	strvec_free(&rule->attach);
	strvec_free(&rule->settles);
}
