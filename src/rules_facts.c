/*
 * rules_facts: the `facts` block of rules.yaml (lookups), and running them for a message.
 *
 *     facts:
 *       order:
 *         command: [/usr/local/bin/shop-order, "{{order}}"]
 *         timeout: 5s
 *
 * Each argument is a template over the captures, rendered into one argv entry: a customer's
 * words never reach a shell and are never split. The answer, one JSON object, becomes the
 * facts order.FIELD, which templates use and `fact:` / `fact_age:` conditions test. A lookup
 * that fails never stops a message: its facts are missing, the rules without facts apply,
 * and the failure is kept for the agent.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules_int.h"
#include "tend/jsonread.h"
#include "tend/lookup.h"

#define VAR_CHARS       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#define DEFAULT_TIMEOUT 5
#define MAX_TIMEOUT     60 /* a message waits for its lookups: a minute is already long */

/* Names the globals start with: a lookup called so would hide them. */
static const char *const reserved[] = {"customer", "thread", "agent", "deadline"};

/* Besides captures, what a lookup's arguments may use: known from the message alone. */
#define FROM_MESSAGE "customer.email"

static int set_command(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj);
static int set_timeout(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj);

static const struct yamlutil_key fact_keys[] = {
    {.name = "command", .fn = set_command, .flags = YAMLUTIL_REQUIRED},
    {.name = "timeout",
     .fn = set_timeout,
     .offset = offsetof(struct rules_fact, timeout),
     .min = 1},
};

/*
 * The program: an absolute path, or one relative to rules.yaml's directory (never looked up
 * in PATH). It must be there and runnable now, not found missing at the first message.
 * Returns the absolute path (caller frees), or NULL after reporting.
 */
static char *program(struct yamlutil_doc *y, const yaml_node_t *n, const char *name,
                     const char *path)
{
	struct stat st;
	if (path[0] == '\0' || strstr(path, "{{") != NULL) {
		yamlutil_error(y, n, "lookup \"%s\": the program must be a path, not \"%s\"", name,
		               path);
		return NULL;
	}
	char *abs = yamlutil_resolve(y->dir, path);
	if (stat(abs, &st) < 0 || !S_ISREG(st.st_mode))
		yamlutil_error(y, n, "lookup \"%s\": no program %s", name, abs);
	else if (access(abs, X_OK) < 0)
		yamlutil_error(y, n, "lookup \"%s\": %s is not executable", name, abs);
	else
		return abs;
	free(abs);
	return NULL;
}

static struct template *parse_arg(struct yamlutil_doc *y, const yaml_node_t *n, const char *name,
                                  const char *s)
{
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	if (template_parse(s, strlen(s), "argument", &t, &d) < 0)
		yamlutil_error(y, n, "lookup \"%s\": bad argument: %s", name,
		               d.n ? d.v[0].msg : "cannot parse");
	diags_free(&d);
	return t;
}

static int set_command(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	struct rules_fact *f = obj;
	size_t n = yamlutil_seq_len(val);
	if (val->type != YAML_SEQUENCE_NODE || n == 0) {
		yamlutil_type_error(y, val, "\"command\"",
		                    "a list: the program, then its arguments");
		return -1;
	}
	f->args = xcalloc(n, sizeof(*f->args));
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *a = yamlutil_seq_item(y, val, i);
		const char *s;
		char *prog = NULL;
		if (yamlutil_get_string(y, a, "each entry of command", &s) < 0 ||
		    (i == 0 && (s = prog = program(y, a, f->name, s)) == NULL) ||
		    (f->args[f->nargs] = parse_arg(y, a, f->name, s)) == NULL)
			rc = -1;
		else
			f->nargs++;
		free(prog);
	}
	return rc;
}

static int set_timeout(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	if (yamlutil_set_duration(y, k, key, val, obj) < 0)
		return -1;
	if (*(int64_t *)yamlutil_field(k, obj) <= MAX_TIMEOUT)
		return 0;
	yamlutil_type_error(y, val, "\"timeout\"", "a duration of at most 60s");
	return -1;
}

static bool name_ok(const char *name)
{
	if (name == NULL || *name == '\0' || strspn(name, VAR_CHARS) != strlen(name))
		return false;
	for (size_t i = 0; i < NELEM(reserved); i++)
		if (strcmp(name, reserved[i]) == 0)
			return false;
	return true;
}

static void add_fact(struct yamlutil_doc *y, struct rules *r, yaml_node_t *key, yaml_node_t *val)
{
	const char *name = yamlutil_scalar(key);
	if (!name_ok(name)) {
		yamlutil_type_error(y, key, "each name in \"facts\"",
		                    "a name of letters, digits and \"_\" other than customer, "
		                    "thread, agent and deadline");
		return;
	}
	r->facts = xreallocarray(r->facts, r->nfacts + 1, sizeof(*r->facts));
	struct rules_fact *f = &r->facts[r->nfacts++];
	memset(f, 0, sizeof(*f));
	f->name = xstrdup(name);
	f->timeout = DEFAULT_TIMEOUT;
	char *where = xasprintf("lookup \"%s\"", name);
	yamlutil_walk(y, val, fact_keys, NELEM(fact_keys), f, where, NULL);
	free(where);
}

void rules_load_facts(struct yamlutil_doc *y)
{
	struct rules *r = ((struct rules_load *)y->user)->r;
	yaml_node_t *val = y->root && y->root->type == YAML_MAPPING_NODE
	                       ? yamlutil_map_get(y, y->root, "facts")
	                       : NULL;
	if (val == NULL || yamlutil_is_null(val))
		return;
	if (val->type != YAML_MAPPING_NODE) {
		yamlutil_type_error(y, val, "\"facts\"", "a mapping of lookup names to lookups");
		return;
	}
	for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
	     p++)
		add_fact(y, r, yamlutil_node(y, p->key), yamlutil_node(y, p->value));
}

int rules_walk_facts(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	return 0;
}

/* ---- after the rules: the arguments' variables ---- */

struct arg_check {
	struct yamlutil_doc *y;
	const struct rules_fact *f;
	size_t arg;
};

static bool captured(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nrules; i++)
		for (size_t j = 0; j < r->rules[i].ncaptures; j++)
			if (strvec_contains(&r->rules[i].captures[j].vars, name))
				return true;
	return strcmp(name, FROM_MESSAGE) == 0;
}

static void check_arg_var(const char *name, int line, int column, void *arg)
{
	struct arg_check *ac = arg;
	struct yamlutil_doc *y = ac->y;
	if (captured(((struct rules_load *)y->user)->r, name))
		return;
	yaml_node_t *facts = yamlutil_map_get(y, y->root, "facts");
	yaml_node_t *cmd = yamlutil_map_get(y, yamlutil_map_get(y, facts, ac->f->name), "command");
	yamlutil_error(y, yamlutil_seq_item(y, cmd, ac->arg),
	               "lookup \"%s\": no rule captures \"%s\" (arguments may use captures and "
	               "%s)",
	               ac->f->name, name, FROM_MESSAGE);
}

void rules_check_fact_args(struct yamlutil_doc *y)
{
	const struct rules *r = ((struct rules_load *)y->user)->r;
	for (size_t i = 0; i < r->nfacts; i++) {
		for (size_t a = 0; a < r->facts[i].nargs; a++) {
			struct arg_check ac = {y, &r->facts[i], a};
			template_foreach_var(r->facts[i].args[a], check_arg_var, &ac);
		}
	}
}

const struct rules_fact *rules_fact_of(const struct rules *r, const char *name)
{
	const char *dot = strchr(name, '.');
	if (dot == NULL || dot[1] == '\0')
		return NULL;
	for (size_t i = 0; i < r->nfacts; i++)
		if (strlen(r->facts[i].name) == (size_t)(dot - name) &&
		    strncmp(r->facts[i].name, name, (size_t)(dot - name)) == 0)
			return &r->facts[i];
	return NULL;
}

void rules_facts_free(struct rules *r)
{
	for (size_t i = 0; i < r->nfacts; i++) {
		for (size_t a = 0; a < r->facts[i].nargs; a++)
			template_free(r->facts[i].args[a]);
		free(r->facts[i].args);
		free(r->facts[i].name);
	}
	free(r->facts);
}

bool rules_has_lookups(const struct rules *r)
{
	return r != NULL && r->nfacts > 0;
}

/* ---- running them ---- */

struct arg_values {
	const struct strvec *names, *values;
	const char *missing; /* the first variable without a value */
};

static const char *arg_value(const char *name, void *arg)
{
	struct arg_values *av = arg;
	for (size_t i = 0; i < av->names->n; i++)
		if (strcmp(av->names->v[i], name) == 0 && av->values->v[i][0] != '\0')
			return av->values->v[i];
	if (av->missing == NULL)
		av->missing = name;
	return NULL;
}

static void explain_run(struct buf *explain, const struct rules_fact *f, char **argv,
                        const struct rules_facts *out, size_t before, const char *err)
{
	buf_printf(explain, "lookup %s:", f->name);
	for (size_t i = 0; argv[i] != NULL; i++) {
		buf_putc(explain, ' ');
		yamlutil_quote(explain, argv[i]);
	}
	if (err != NULL) {
		buf_printf(explain, "\n  failed: %s\n", err);
		return;
	}
	buf_printf(explain, "\n");
	for (size_t i = before; i < out->names.n; i++) {
		buf_printf(explain, "  fact %s = ", out->names.v[i]);
		yamlutil_quote(explain, out->values.v[i]);
		buf_putc(explain, '\n');
	}
	if (before == out->names.n)
		buf_puts(explain, "  (an empty object: no facts)\n");
}

static void run_one(const struct rules_fact *f, char **argv, struct rules_facts *out,
                    struct buf *explain)
{
	char *text = NULL, *err = NULL, *why = NULL;
	size_t len = 0, before = out->names.n;
	if (lookup_run(argv, f->timeout, LOOKUP_MAX_OUTPUT, &text, &len, &err) == 0 &&
	    jsonread_flat(text, len, f->name, &out->names, &out->values, &why) < 0)
		err = xasprintf("its answer is not a JSON object (%s)", why);
	if (err != NULL) {
		strvec_push_owned(&out->failures, xasprintf("Lookup %s failed: %s", f->name, err));
		log_warnx("lookup %s (%s) failed: %s", f->name, argv[0], err);
	}
	if (explain != NULL)
		explain_run(explain, f, argv, out, before, err);
	free(why);
	free(err);
	free(text);
}

void rules_lookup(const struct rules *r, const struct rules_input *in, struct rules_facts *out,
                  struct buf *explain)
{
	memset(out, 0, sizeof(*out));
	if (r->nfacts == 0 || rules_automated(in->message, NULL))
		return;
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	rules_lookup_captures(r, in, &names, &values);
	strvec_push(&names, FROM_MESSAGE);
	strvec_push(&values, in->message->from.addr ? in->message->from.addr : "");
	for (size_t i = 0; i < r->nfacts; i++) {
		const struct rules_fact *f = &r->facts[i];
		struct arg_values av = {&names, &values, NULL};
		char **argv = xcalloc(f->nargs + 1, sizeof(*argv));
		for (size_t a = 0; a < f->nargs; a++)
			argv[a] = template_render(f->args[a], arg_value, &av);
		if (av.missing == NULL)
			run_one(f, argv, out, explain);
		else if (explain != NULL)
			buf_printf(explain, "lookup %s: not run (nothing captured \"%s\")\n",
			           f->name, av.missing);
		for (size_t a = 0; a < f->nargs; a++)
			free(argv[a]);
		free(argv);
	}
	strvec_free(&names);
	strvec_free(&values);
}

void rules_facts_finish(struct rules_facts *f)
{
	strvec_free(&f->names);
	strvec_free(&f->values);
	strvec_free(&f->failures);
}

void rules_facts_copy(struct rules_facts *dst, const struct rules_facts *src)
{
	for (size_t i = 0; src != NULL && i < src->names.n; i++) {
		strvec_push(&dst->names, src->names.v[i]);
		strvec_push(&dst->values, src->values.v[i]);
	}
	for (size_t i = 0; src != NULL && i < src->failures.n; i++)
		strvec_push(&dst->failures, src->failures.v[i]);
}

const char *rules_fact_value(const struct rules_facts *f, const char *name)
{
	for (size_t i = 0; f != NULL && i < f->names.n; i++)
		if (strcmp(f->names.v[i], name) == 0)
			return f->values.v[i];
	return NULL;
}

/* ---- timestamps, for fact_age ---- */

static bool unix_seconds(const char *s, int64_t *t)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n > 12 ||
	    (s[n] != '\0' && (s[n] != '.' || s[n + 1 + strspn(s + n + 1, "0123456789")] != '\0')))
		return false;
	*t = strtoll(s, NULL, 10);
	return true;
}

/* "Z", "+01:00", "-0500", or nothing after a date alone; *off in seconds east of UTC. */
static bool zone(const char *s, bool date_only, int64_t *off)
{
	int hh, mm, n = 0;
	*off = 0;
	if (*s == '\0')
		return date_only;
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		return true;
	if ((s[0] != '+' && s[0] != '-') ||
	    !((sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 && n == 5) ||
	      (sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) == 2 && n == 4)) ||
	    s[1 + n] != '\0' || hh > 23 || mm > 59)
		return false;
	*off = (s[0] == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
	return true;
}

static bool iso_time(const char *s, int64_t *t)
{
	struct tm tm = {0};
	int n = 0, hh = 0, mi = 0, ss = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
		return false;
	const char *p = s + n;
	bool date_only = *p == '\0';
	if (!date_only) {
		int m = 0;
		if ((*p != 'T' && *p != 't' && *p != ' ') ||
		    sscanf(p + 1, "%2d:%2d:%2d%n", &hh, &mi, &ss, &m) != 3 || m != 8)
			return false;
		p += 1 + m;
		if (*p == '.')
			p += 1 + strspn(p + 1, "0123456789");
	}
	int64_t off;
	if (!zone(p, date_only, &off) || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || hh > 23 || mi > 59 || ss > 60)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	*t = (int64_t)timegm(&tm) - off;
	return true;
}

bool rules_fact_age_of(const char *s, int64_t now, int64_t *age)
{
	int64_t t;
	if (s == NULL || !(unix_seconds(s, &t) || iso_time(s, &t)))
		return false;
	*age = now - t;
	return true;
}
