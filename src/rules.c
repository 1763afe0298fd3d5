/*
 * rules: rules.yaml into struct rules, the built-in rules, and what callers ask of them.
 *
 * The file is walked with yamlutil key tables, one per mapping: rules_parse.c walks the
 * `rules` list and its conditions, rules_hours.c the `sla` and `business_hours` mappings, this
 * file the top level and `draft`. Templates are loaded from templates/ when a key names them
 * (each file once) and checked against the variables their user knows; problems inside a
 * template are reported at the template's own file:line:column, after the rules file's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_int.h"

const char *const rules_global_vars[] = {
    "customer.name",  "customer.first_name",
    "customer.email", "thread.id",
    "thread.subject", "deadline",
    "agent.name",     "customer.last_name",
    "customer.title", NULL,
};

static const char *const priority_names[RULES_NPRIORITIES] = {
    [RULES_PRIORITY_LOW] = "low",
    [RULES_PRIORITY_NORMAL] = "normal",
    [RULES_PRIORITY_HIGH] = "high",
    [RULES_PRIORITY_URGENT] = "urgent",
};

/* The draft's parts outside the rules: what rules.yaml calls them, and what stands in. */
enum { DRAFT_GREETING, DRAFT_CLOSING, DRAFT_FALLBACK, DRAFT_NPARTS };

static const char *const draft_keys[DRAFT_NPARTS] = {"greeting", "closing", "fallback"};
static const char *const draft_defaults[DRAFT_NPARTS] = {"greeting", "closing", "general"};
static const char *const draft_builtin[DRAFT_NPARTS] = {
    "Hello {{customer.first_name|there}},",
    "Kind regards,\n{{agent.name}}",
    /* Honest, and plainly a placeholder: the agent replaces it with the answer. */
    ("Thank you for your message. I have read it and I am looking into your question now; "
     "I will write again with a full answer as soon as I can."),
};

const char *rules_priority_name(int priority)
{
	return priority >= 0 && priority < RULES_NPRIORITIES ? priority_names[priority] : "unknown";
}

int rules_priority_parse(const char *s)
{
	for (int i = 0; s != NULL && i < RULES_NPRIORITIES; i++)
		if (strcmp(s, priority_names[i]) == 0)
			return i;
	return -1;
}

static struct rules *rules_new(const char *path)
{
	struct rules *r = xcalloc(1, sizeof(*r));
	r->path = xstrdup(path);
	r->sla.target[RULES_PRIORITY_URGENT] = 3600;
	r->sla.target[RULES_PRIORITY_HIGH] = 4 * 3600;
	r->sla.target[RULES_PRIORITY_NORMAL] = 24 * 3600;
	r->sla.target[RULES_PRIORITY_LOW] = 72 * 3600;
	r->mctx = pcre2_match_context_create(NULL);
	if (r->mctx == NULL)
		fatalx("pcre2: cannot create a match context");
	pcre2_set_match_limit(r->mctx, RULES_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, RULES_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, RULES_HEAP_LIMIT);
	r->max_pairs = 1;
	r->prefilter = prefilter_new();
	return r;
}

/* Keeps t (NULL for a file that did not parse, so it is reported once) under name. */
static void add_template(struct rules *r, const char *name, struct template *t)
{
	r->templates = xreallocarray(r->templates, r->ntemplates + 1, sizeof(*r->templates));
	r->templates[r->ntemplates].name = xstrdup(name);
	r->templates[r->ntemplates].t = t;
	r->ntemplates++;
}

/* Kept under a name no file can have ("built-in greeting"), so it never hides one. */
static const struct template *builtin_template(struct rules *r, int part)
{
	char *name = xasprintf("built-in %s", draft_keys[part]);
	for (size_t i = 0; i < r->ntemplates; i++) {
		if (strcmp(r->templates[i].name, name) == 0) {
			free(name);
			return r->templates[i].t;
		}
	}
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	const char *text = draft_builtin[part];
	char *file = xasprintf("(%s)", name);
	if (template_parse(text, strlen(text), file, &t, &d) < 0)
		fatalx("built-in %s template does not parse", draft_keys[part]);
	add_template(r, name, t);
	free(file);
	free(name);
	return t;
}

static void set_builtin_drafts(struct rules *r)
{
	r->greeting = builtin_template(r, DRAFT_GREETING);
	r->closing = builtin_template(r, DRAFT_CLOSING);
	r->fallback = builtin_template(r, DRAFT_FALLBACK);
}

struct rules *rules_builtin(void)
{
	struct rules *r = rules_new("(built-in)");
	set_builtin_drafts(r);
	return r;
}

void rules_free(struct rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++)
		rules_rule_finish(&r->rules[i]);
	free(r->rules);
	for (size_t i = 0; i < r->ntemplates; i++) {
		free(r->templates[i].name);
		template_free(r->templates[i].t);
	}
	free(r->templates);
	rules_hours_finish(&r->hours);
	strvec_free(&r->langs);
	rules_facts_free(r);
	pcre2_match_context_free(r->mctx);
	prefilter_free(r->prefilter);
	free(r->path);
	free(r);
}

const char *rules_path(const struct rules *r)
{
	return r->path;
}

size_t rules_count(const struct rules *r)
{
	return r->nrules;
}

const struct rules_sla *rules_sla(const struct rules *r)
{
	return &r->sla;
}

const struct rules_business_hours *rules_business_hours(const struct rules *r)
{
	return &r->hours;
}

const struct template *rules_greeting(const struct rules *r)
{
	return r->greeting;
}

const struct template *rules_closing(const struct rules *r)
{
	return r->closing;
}

const struct template *rules_holding(const struct rules *r, int *at)
{
	*at = r ? r->holding_at : 0;
	return r ? r->holding : NULL;
}

const struct template *rules_fallback(const struct rules *r)
{
	return r->fallback;
}

const struct strvec *rules_attachments(const struct rules *r, const char *rule)
{
	for (size_t i = 0; r && rule && i < r->nrules; i++)
		if (r->rules[i].name && strcmp(r->rules[i].name, rule) == 0)
			return r->rules[i].attach.n ? &r->rules[i].attach : NULL;
	return NULL;
}

/* A name becomes a path under templates/: nothing that could climb out of it. */
bool rules_template_name_ok(const char *name)
{
	return name[0] != '.' && name[0] != '\0' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	           strlen(name);
}

const struct template *rules_get_template(struct yamlutil_doc *y, const yaml_node_t *n,
                                          const char *who, const char *name)
{
	struct rules_load *ld = y->user;
	for (size_t i = 0; i < ld->r->ntemplates; i++)
		if (strcmp(ld->r->templates[i].name, name) == 0)
			return ld->r->templates[i].t;
	char *path = xasprintf("%s/templates/%s.txt", y->dir, name);
	char *shown = xasprintf("%s%s.txt", ld->tdir_shown, name);
	char *data = NULL;
	size_t len = 0;
	struct template *t = NULL;
	if (read_file(path, &data, &len) < 0) {
		int err = errno;
		yamlutil_error(y, n, "%s: no template \"%s\" (%s: %s)", who, name, shown,
		               strerror(err));
	} else {
		template_parse(data, len, shown, &t, &ld->tdiags);
		add_template(ld->r, name, t);
	}
	free(data);
	free(shown);
	free(path);
	return t;
}

/* What a template's user knows, for "unknown variable" messages: captures, then globals. */
static void known_vars(const struct rules_rule *rule, struct strvec *out)
{
	for (size_t i = 0; rule != NULL && i < rule->ncaptures; i++)
		for (size_t j = 0; j < rule->captures[i].vars.n; j++)
			if (!strvec_contains(out, rule->captures[i].vars.v[j]))
				strvec_push(out, rule->captures[i].vars.v[j]);
	for (size_t i = 0; rules_global_vars[i] != NULL; i++)
		strvec_push(out, rules_global_vars[i]);
}

struct var_check {
	const struct rules *r;
	struct diags *d;
	const struct template *t;
	const struct rules_rule *rule;
	const char *who;
};

static void check_var(const char *name, int line, int column, void *arg)
{
	struct var_check *vc = arg;
	if (rules_var_known(vc->rule, name) || rules_fact_of(vc->r, name) != NULL)
		return;
	struct strvec known = STRVEC_INIT;
	known_vars(vc->rule, &known);
	struct buf list = BUF_INIT;
	for (size_t i = 0; i < known.n; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", known.v[i]);
	const char *best = yamlutil_suggest(name, (const char *const *)known.v, known.n);
	char *hint = best ? xasprintf("; did you mean \"%s\"?", best) : xstrdup("");
	diag_add(vc->d, template_file(vc->t), line, column,
	         "unknown variable \"%s\" (%s knows: %s%s)", name, vc->who, list.data, hint);
	free(hint);
	buf_free(&list);
	strvec_free(&known);
}

void rules_check_vars(struct yamlutil_doc *y, const struct template *t,
                      const struct rules_rule *rule, const char *who)
{
	struct rules_load *ld = y->user;
	struct var_check vc = {ld->r, &ld->tdiags, t, rule, who};
	template_foreach_var(t, check_var, &vc);
}

static int set_version(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	const char *s = yamlutil_scalar(val);
	if (s != NULL && strcmp(s, "1") == 0)
		return 0;
	yamlutil_type_error(y, val, "\"version\"", "1 (the only version of this format)");
	return -1;
}

static int set_draft_part(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                          yaml_node_t *val, void *obj)
{
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (!rules_template_name_ok(s)) {
		char *subject = xasprintf("\"%s\"", k->name);
		yamlutil_type_error(y, val, subject,
		                    "a template name (letters, digits, \"_\", \"-\", \".\")");
		free(subject);
		return -1;
	}
	*(yaml_node_t **)yamlutil_field(k, obj) = val;
	return 0;
}

static const struct yamlutil_key draft_table[] = {
    {.name = "greeting",
     .fn = set_draft_part,
     .offset = offsetof(struct rules_load, draft[DRAFT_GREETING])},
    {.name = "closing",
     .fn = set_draft_part,
     .offset = offsetof(struct rules_load, draft[DRAFT_CLOSING])},
    {.name = "fallback",
     .fn = set_draft_part,
     .offset = offsetof(struct rules_load, draft[DRAFT_FALLBACK])},
};

static int walk_draft(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                      yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, draft_table, NELEM(draft_table), y->user, "\"draft\"", NULL);
	return 0;
}

static int set_holding_template(struct yamlutil_doc *y, const struct yamlutil_key *k,
                                yaml_node_t *key, yaml_node_t *val, void *obj)
{
	struct rules_load *ld = obj;
	const char *s;
	if (yamlutil_get_string(y, val, "template", &s) < 0)
		return -1;
	if (!rules_template_name_ok(s)) {
		yamlutil_type_error(y, val, "\"template\"",
		                    "a template name (letters, digits, \"_\", \"-\", \".\")");
		return -1;
	}
	ld->holding = val;
	return 0;
}

static int set_holding_at(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                          yaml_node_t *val, void *obj)
{
	struct rules_load *ld = obj;
	const char *s = yamlutil_scalar(val);
	size_t digits = s ? strspn(s, "0123456789") : 0;
	int v = digits > 0 && digits <= 3 ? atoi(s) : 0;
	if (digits == 0 || digits > 3 || strcmp(s + digits, "%") != 0 || v < 1 || v > 100) {
		yamlutil_type_error(y, val, "\"at\"", "a percentage from 1% to 100%, like 50%");
		return -1;
	}
	ld->r->holding_at = v;
	return 0;
}

static const struct yamlutil_key holding_table[] = {
    {.name = "template", .fn = set_holding_template, .flags = YAMLUTIL_REQUIRED},
    {.name = "at", .fn = set_holding_at, .flags = YAMLUTIL_REQUIRED},
};

static int walk_holding(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, holding_table, NELEM(holding_table), y->user, "\"holding_reply\"",
	              NULL);
	return 0;
}

static const struct yamlutil_key top_keys[] = {
    {.name = "version", .fn = set_version, .flags = YAMLUTIL_REQUIRED},
    {.name = "sla", .fn = rules_walk_sla},
    {.name = "business_hours", .fn = rules_walk_hours},
    {.name = "draft", .fn = walk_draft},
    {.name = "holding_reply", .fn = walk_holding},
    {.name = "rules", .fn = rules_walk_rules},
    {.name = "language", .fn = rules_set_language},
    {.name = "facts", .fn = rules_walk_facts},
};

/*
 * A part named in `draft` must exist. One left to its default name is taken from templates/
 * when that file exists, and is built in otherwise, so a rules file needs no templates at all.
 */
static const struct template *draft_part(struct yamlutil_doc *y, int part)
{
	struct rules_load *ld = y->user;
	yaml_node_t *n = ld->draft[part];
	const char *name = n ? yamlutil_scalar(n) : draft_defaults[part];
	char *who = xasprintf("draft %s", draft_keys[part]);
	const struct template *t = NULL;
	if (n == NULL) {
		char *path = xasprintf("%s/templates/%s.txt", y->dir, name);
		struct stat st;
		bool exists = stat(path, &st) == 0;
		free(path);
		if (!exists) {
			free(who);
			return builtin_template(ld->r, part);
		}
	}
	t = rules_get_template(y, n, who, name);
	if (t != NULL)
		rules_check_vars(y, t, NULL, who);
	free(who);
	return t;
}

/* tendd sends a holding reply on its own: no agent has approved it, so none can sign it. */
static void no_agent(const char *name, int line, int column, void *arg)
{
	struct yamlutil_doc *y = arg;
	struct rules_load *ld = y->user;
	if (strcmp(name, "agent.name") == 0)
		diag_add(
		    &ld->tdiags, template_file(ld->r->holding), line, column,
		    "holding_reply: tendd sends it on its own, so \"agent.name\" has no value");
}

static void load_holding(struct yamlutil_doc *y)
{
	struct rules_load *ld = y->user;
	if (ld->holding == NULL)
		return;
	ld->r->holding =
	    rules_get_template(y, ld->holding, "holding_reply", yamlutil_scalar(ld->holding));
	if (ld->r->holding == NULL)
		return;
	rules_check_vars(y, ld->r->holding, NULL, "holding_reply");
	template_foreach_var(ld->r->holding, no_agent, y);
}

static void load_drafts(struct yamlutil_doc *y)
{
	struct rules *r = ((struct rules_load *)y->user)->r;
	r->greeting = draft_part(y, DRAFT_GREETING);
	r->closing = draft_part(y, DRAFT_CLOSING);
	r->fallback = draft_part(y, DRAFT_FALLBACK);
	load_holding(y);
}

/* "templates/" beside the rules file, spelt the way the operator spelt the file's path. */
static char *templates_shown(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return xstrdup("templates/");
	return xasprintf("%.*stemplates/", (int)(slash - path + 1), path);
}

static void walk_file(struct yamlutil_doc *y, const char *path)
{
	if (y->root == NULL) {
		diag_add(y->diags, path, 0, 0,
		         "empty rules file; it needs at least \"version: 1\"");
		return;
	}
	rules_load_facts(y); /* first: rules and templates name facts */
	yamlutil_walk(y, y->root, top_keys, NELEM(top_keys), ((struct rules_load *)y->user)->r,
	              "the top level", NULL);
	rules_check_fact_args(y);
	load_drafts(y);
	rules_load_languages(y);
}

int rules_load(const char *path, struct rules **out, struct diags *d)
{
	struct diags local = DIAGS_INIT;
	if (d == NULL)
		d = &local;
	size_t before = d->n;
	*out = NULL;
	struct rules_load ld = {.r = rules_new(path), .tdir_shown = templates_shown(path)};
	struct yamlutil_doc y;
	if (yamlutil_load(&y, path, d) == 0) {
		y.user = &ld;
		walk_file(&y, path);
	}
	yamlutil_finish(&y);
	/* The file's own problems top to bottom, then those inside its templates. */
	yamlutil_sort_diags(d, before);
	for (size_t i = 0; i < ld.tdiags.n; i++) {
		const struct diag *g = &ld.tdiags.v[i];
		diag_add(d, g->file, g->line, g->column, "%s", g->msg);
	}
	diags_free(&ld.tdiags);
	free(ld.tdir_shown);
	bool failed = d->n > before;
	diags_free(&local);
	if (failed) {
		rules_free(ld.r);
		return -1;
	}
	prefilter_build(ld.r->prefilter);
	*out = ld.r;
	return 0;
}
