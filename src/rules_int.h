/*
 * rules_int.h: what the rules_*.c files share. Loading (rules.c, rules_parse.c,
 * rules_hours.c) builds these structures; evaluation (rules_eval.c) only reads them.
 */
#ifndef TEND_RULES_INT_H
#define TEND_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/prefilter.h"
#include "tend/rules.h"
#include "tend/yamlutil.h"

/* Caps that keep one catastrophic pattern from stalling the daemon on one message. */
#define RULES_MATCH_LIMIT 1000000
#define RULES_DEPTH_LIMIT 100000
#define RULES_HEAP_LIMIT  (20 * 1024) /* KiB */

/* How deep any, all and not may nest: each level is a level of recursion in parsing,
 * evaluating, explaining and freeing a rule. */
#define RULES_MAX_NESTING 64

/* How many conditions a file may have, counting each use of an alias: far more than anyone
 * writes (2,000 rules of five conditions load in half a second), and few enough to compile in
 * a second or two. */
#define RULES_MAX_CONDITIONS 100000

struct rules_regex {
	char *src; /* as the operator wrote it, for explanations */
	pcre2_code *code;
	uint32_t ncaptures;
	int prefilter; /* its number in rules.prefilter, or -1: always run it */
	/* A limit was hit and logged: once per pattern, or a busy mailbox floods the log. */
	bool warned;
};

struct rules_ctx;
struct rules_cond;

typedef bool rules_cond_eval(const struct rules_cond *c, struct rules_ctx *x);

/* One condition: a leaf (subject, header, has_attachment...) or any/all/not over kids. */
struct rules_cond {
	rules_cond_eval *eval;
	struct rules_regex *re;  /* subject, body, from, to, header */
	char *header;            /* header: the field name */
	bool flag;               /* has_attachment, first_message */
	struct rules_cond *kids; /* all (a condition mapping), any, not (one kid) */
	size_t nkids;
	const char *kind; /* "all", "any", "not" or the leaf's key, for explanations */
	/* lang: the language codes it accepts */
	struct strvec langs;
	/* fact, fact_age: header holds the fact's name; fact_age: the age in seconds, and flag
	 * says "older than" (>) rather than "newer than" (<) */
	int64_t age;
};

/* One entry of `capture`: the variables it provides and the groups they come from. */
struct rules_capture {
	char *key;
	struct rules_regex *re;
	struct strvec vars; /* variable names, in group order */
	uint32_t *groups;   /* the group each var comes from; 0: the whole match */
};

struct rules_rule {
	char *name;
	struct rules_cond match; /* an "all" node */
	struct rules_capture *captures;
	size_t ncaptures;
	struct strvec tags;
	int priority; /* -1 when the rule does not say */
	char *template_name;
	const struct template *template;
	bool ignore;
	bool stop;
	int place; /* enum rules_place */
	/* attach: the files its part brings, as paths beside the rules file (checked at load) */
	struct strvec attach;
	/* settles: names of rules whose earlier parts a match of this one drops (checked) */
	struct strvec settles;
};

/* Templates by name, each loaded once however many rules name it. */
struct rules_template {
	char *name;
	struct template *t;
};

struct rules {
	char *path;
	struct rules_rule *rules;
	size_t nrules;
	struct rules_sla sla;
	struct rules_business_hours hours;
	struct rules_template *templates;
	size_t ntemplates;
	const struct template *greeting, *closing, *fallback;
	const struct template *holding; /* holding_reply: template, or NULL when not configured */
	int holding_at;                 /* holding_reply: at, percent of the target */
	pcre2_match_context *mctx;
	uint32_t max_pairs; /* the most capture pairs of any pattern, plus the whole match */
	struct prefilter *prefilter; /* the literals every pattern needs, built after loading */
	bool asks_first;             /* some condition is first_message */
	char language[8];            /* `language`: the default; empty means en */
	struct strvec langs;         /* the folders of templates/ named like languages, sorted */
	struct rules_fact *facts;    /* lookups (`facts`), in file order */
	size_t nfacts;
};

/* One lookup of `facts`: a program whose JSON answer becomes the facts NAME.FIELD. */
struct rules_fact {
	char *name;
	struct template **args; /* argv, each a template over captures */
	size_t nargs;
	int64_t timeout; /* seconds */
};

/* What the load handlers need beside the object they fill. */
struct rules_load {
	struct rules *r;
	struct rules_rule *rule; /* being walked */
	const char *label;       /* rule "refund", or rule 3 before a name */
	char *tdir_shown;        /* "templates/" as messages name it, beside the file as given */
	struct diags tdiags;     /* problems in template files, reported after the file's own */
	yaml_node_t *draft[3];   /* draft: greeting, closing, fallback as given, or NULL */
	yaml_node_t *holding;    /* holding_reply: template as given, or NULL */
	bool capture_failed;     /* the rule's variables are unknown: do not check its template */
	int depth;               /* any, all and not open around the condition being parsed */
	size_t nconds;           /* conditions parsed so far, in the whole file */
	bool too_many;           /* past RULES_MAX_CONDITIONS, and said so */
};

/* rules.c */
/*
 * The template called name, loaded from templates/ once. When it cannot be read, reports
 * "WHO: no template ..." at n and returns NULL; problems inside it go to the template's file.
 */
const struct template *rules_get_template(struct yamlutil_doc *y, const yaml_node_t *n,
                                          const char *who, const char *name);
bool rules_template_name_ok(const char *name);
/* Reports every variable t uses that rule (NULL: a greeting, closing or fallback) lacks. */
void rules_check_vars(struct yamlutil_doc *y, const struct template *t,
                      const struct rules_rule *rule, const char *who);

/* rules_parse.c */
yamlutil_handler rules_walk_rules;
/*
 * Compiles the pattern in n; name is the key for "must be a string" messages, what names it in
 * "bad regex in rule "x" WHAT: ..." at the offending character. NULL after reporting.
 */
struct rules_regex *rules_regex_compile(struct yamlutil_doc *y, const yaml_node_t *n,
                                        const char *name, const char *what);
void rules_regex_free(struct rules_regex *re);
void rules_rule_finish(struct rules_rule *rule);
/* True when name may be used in a template: a global or a capture of rule (NULL: none). */
bool rules_var_known(const struct rules_rule *rule, const char *name);

/* rules_lang.c */
yamlutil_handler rules_set_language;
/* Parses `lang: de` or `lang: [de, at]` into c->langs; 0, or -1 after reporting. */
int rules_parse_lang(struct yamlutil_doc *y, yaml_node_t *val, struct rules_cond *c);
/* Loads and checks templates/<lang>/ for every default template in use. */
void rules_load_languages(struct yamlutil_doc *y);
/* rules_facts.c */
/* Walks `facts` ahead of the rest of the file, so rules and templates can name facts. */
void rules_load_facts(struct yamlutil_doc *y);
yamlutil_handler rules_walk_facts; /* the `facts` key in the walk: done already */
/* After the rules: every variable a lookup's arguments use is some rule's capture. */
void rules_check_fact_args(struct yamlutil_doc *y);
/* The lookup name LOOKUP.FIELD belongs to, or NULL. */
const struct rules_fact *rules_fact_of(const struct rules *r, const char *name);
void rules_facts_free(struct rules *r);

/* rules_hours.c */
yamlutil_handler rules_walk_sla;
yamlutil_handler rules_walk_hours;
void rules_hours_finish(struct rules_business_hours *h);

/* rules_eval.c: the condition evaluators that rules_parse.c puts into conditions. */
rules_cond_eval rules_eval_subject, rules_eval_body, rules_eval_from, rules_eval_to,
    rules_eval_header, rules_eval_attachment, rules_eval_first, rules_eval_any, rules_eval_all,
    rules_eval_not, rules_eval_lang, rules_eval_fact, rules_eval_fact_age;
/*
 * The captures of every rule that matches or could match once facts are known (fact
 * conditions counted as unknown), first value of each name, for the lookups' arguments.
 */
void rules_lookup_captures(const struct rules *r, const struct rules_input *in,
                           struct strvec *names, struct strvec *values);
/* Seconds since the timestamp s (RFC 3339, ISO 8601 date or date-time, or Unix seconds);
 * false when s is none of those. */
bool rules_fact_age_of(const char *s, int64_t now, int64_t *age);

#endif
