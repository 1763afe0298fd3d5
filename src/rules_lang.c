/*
 * rules_lang: the shop's languages: the `language` key (the default language), the
 * templates/<lang>/ folders beside the rules file, and the `lang` condition.
 *
 * A language's templates are the default ones translated: templates/de/refund.txt stands for
 * templates/refund.txt in a German draft. Each is loaded under the name "de/refund" (no file's
 * own name has a slash) and checked like the template it stands for, against the variables of
 * the rule that uses it, so `tend rules check` finds a mistake in a translation too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_int.h"
#include "tend/lang.h"

#define LANG_EXPECTED "a language code (ISO 639-1, like de or fr)"

int rules_set_language(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	struct rules *r = obj;
	const char *s = yamlutil_scalar(val);
	if (!lang_code_ok(s)) {
		yamlutil_type_error(y, val, "\"language\"", LANG_EXPECTED);
		return -1;
	}
	snprintf(r->language, sizeof(r->language), "%s", s);
	return 0;
}

/* `lang: de` or `lang: [de, at]`. */
int rules_parse_lang(struct yamlutil_doc *y, yaml_node_t *val, struct rules_cond *c)
{
	bool list = val->type == YAML_SEQUENCE_NODE;
	size_t n = list ? yamlutil_seq_len(val) : 1;
	int rc = n ? 0 : -1;
	if (n == 0)
		yamlutil_type_error(y, val, "\"lang\"", LANG_EXPECTED " or a list of them");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = list ? yamlutil_seq_item(y, val, i) : val;
		const char *s = yamlutil_scalar(item);
		if (!lang_code_ok(s)) {
			yamlutil_type_error(y, item, list ? "each entry of \"lang\"" : "\"lang\"",
			                    list ? LANG_EXPECTED
			                         : LANG_EXPECTED " or a list of them");
			rc = -1;
		} else if (!strvec_contains(&c->langs, s)) {
			strvec_push(&c->langs, s);
		}
	}
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders of templates/ named like a language, sorted. */
static void find_languages(const char *dir, struct strvec *out)
{
	char *tdir = xasprintf("%s/templates", dir);
	DIR *d = opendir(tdir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char *path = xasprintf("%s/%s", tdir, e->d_name);
		struct stat st;
		if (lang_code_ok(e->d_name) && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			strvec_push(out, e->d_name);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), by_name);
	free(tdir);
}

/* The file name a template was loaded from, without .txt: a built-in part's default name. */
static const char *base_name(const struct rules *r, const struct template *t)
{
	static const char *const builtin[][2] = {{"built-in greeting", "greeting"},
	                                         {"built-in closing", "closing"},
	                                         {"built-in fallback", "general"}};
	for (size_t i = 0; t != NULL && i < r->ntemplates; i++) {
		if (r->templates[i].t != t)
			continue;
		for (size_t j = 0; j < NELEM(builtin); j++)
			if (strcmp(r->templates[i].name, builtin[j][0]) == 0)
				return builtin[j][1];
		return r->templates[i].name;
	}
	return NULL;
}

static const struct template *find(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->ntemplates; i++)
		if (strcmp(r->templates[i].name, name) == 0)
			return r->templates[i].t;
	return NULL;
}

const struct template *rules_localize(const struct rules *r, const struct template *t,
                                      const char *lang)
{
	const char *base = base_name(r, t);
	if (base == NULL || lang == NULL || !strvec_contains(&r->langs, lang))
		return t;
	char *name = xasprintf("%s/%s", lang, base);
	const struct template *lt = find(r, name);
	free(name);
	return lt ? lt : t;
}

/* Loads templates/LANG/NAME.txt for t when it exists, and checks it as rule's (NULL: none). */
static void load_one(struct yamlutil_doc *y, const char *lang, const struct template *t,
                     const struct rules_rule *rule, const char *who)
{
	struct rules *r = ((struct rules_load *)y->user)->r;
	const char *base = base_name(r, t);
	if (base == NULL)
		return;
	char *name = xasprintf("%s/%s", lang, base);
	char *path = xasprintf("%s/templates/%s.txt", y->dir, name);
	struct stat st;
	if (stat(path, &st) == 0) {
		const struct template *lt = rules_get_template(y, NULL, who, name);
		if (lt != NULL)
			rules_check_vars(y, lt, rule, who);
	}
	free(path);
	free(name);
}

/*
 * After the default templates: each language's translations of them. A template several rules
 * share is checked once per rule, as its default is, so a capture one of them lacks is found.
 */
void rules_load_languages(struct yamlutil_doc *y)
{
	struct rules *r = ((struct rules_load *)y->user)->r;
	find_languages(y->dir, &r->langs);
	for (size_t i = 0; i < r->langs.n; i++) {
		const char *lang = r->langs.v[i];
		load_one(y, lang, r->greeting, NULL, "draft greeting");
		load_one(y, lang, r->closing, NULL, "draft closing");
		load_one(y, lang, r->fallback, NULL, "draft fallback");
		for (size_t j = 0; j < r->nrules; j++) {
			const struct rules_rule *rule = &r->rules[j];
			char *who = xasprintf("rule \"%s\"", rule->name);
			load_one(y, lang, rule->template, rule, who);
			free(who);
		}
	}
}

const char *rules_language(const struct rules *r)
{
	return r->language[0] ? r->language : "en";
}

const struct strvec *rules_languages(const struct rules *r)
{
	return &r->langs;
}
