/*
 * config: tend.yaml `escalation:`, a list of stages, each a notice to one address once a
 * conversation has waited a share of its target (`at: 90%`) or a working time since its
 * customer wrote (`at: 2h`), optionally only for some priorities or tags. The older form, one
 * mapping `{to, at}`, is one stage. Two stages alike in `at`, `to`, `priority` and `tags` are
 * refused: the second could never send anything.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tend/rules.h"
#include "tend/yamlutil.h"

#include "config_int.h"

/* "75%": 1 to 100, else 0. */
static int parse_share(const char *s)
{
	size_t digits = strspn(s, "0123456789");
	int v = digits > 0 && digits <= 3 ? atoi(s) : 0;
	return strcmp(s + digits, "%") == 0 && v >= 1 && v <= 100 ? v : 0;
}

static int set_stage_at(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	struct config_stage *st = obj;
	const char *s = yamlutil_scalar(val);
	int64_t secs = 0;
	st->share = s ? parse_share(s) : 0;
	st->after = 0;
	/* a bare number is refused: 75 is more likely a share without its sign than seconds */
	bool unit = s && *s && strspn(s, "0123456789") != strlen(s) && strchr(s, '%') == NULL;
	if (st->share == 0 && unit && parse_duration(s, &secs) == 0 && secs > 0)
		st->after = secs;
	if (st->share == 0 && st->after == 0) {
		yamlutil_type_error(y, val, "\"at\"",
		                    "a share of the target from 1% to 100%, like 75%, or a time "
		                    "since the customer wrote, like 2h");
		return -1;
	}
	return 0;
}

static int add_priority(struct yamlutil_doc *y, yaml_node_t *n, unsigned *bits)
{
	int p = rules_priority_parse(yamlutil_scalar(n));
	if (p < 0) {
		yamlutil_type_error(y, n, "\"priority\"", "one of urgent, high, normal, low");
		return -1;
	}
	*bits |= 1u << p;
	return 0;
}

/* priority: urgent, or a list of them. */
static int set_stage_priority(struct yamlutil_doc *y, const struct yamlutil_key *k,
                              yaml_node_t *key, yaml_node_t *val, void *obj)
{
	struct config_stage *st = obj;
	st->priorities = 0;
	if (val->type != YAML_SEQUENCE_NODE)
		return add_priority(y, val, &st->priorities);
	int rc = 0;
	for (size_t i = 0; i < yamlutil_seq_len(val); i++)
		if (add_priority(y, yamlutil_seq_item(y, val, i), &st->priorities) < 0)
			rc = -1;
	return rc;
}

static const struct yamlutil_key stage_keys[] = {
    {.name = "to",
     .fn = config_set_address,
     .offset = offsetof(struct config_stage, to),
     .flags = YAMLUTIL_REQUIRED},
    {.name = "at", .fn = set_stage_at, .flags = YAMLUTIL_REQUIRED},
    {.name = "priority", .fn = set_stage_priority},
    {.name = "tags",
     .fn = yamlutil_set_strlist,
     .offset = offsetof(struct config_stage, tags),
     .min = 1},
};

/* "90% lead@shop.example", "2h lead@shop.example": the at as written, then the address. */
static void stage_key(struct yamlutil_doc *y, yaml_node_t *entry, struct config_stage *st)
{
	const char *at = yamlutil_scalar(yamlutil_map_get(y, entry, "at"));
	free(st->key);
	free(st->at);
	st->at = at ? xstrdup(at) : NULL;
	st->key = st->to && at ? xasprintf("%s %s", at, st->to) : NULL;
}

static bool same_tags(const struct strvec *a, const struct strvec *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!strvec_contains(b, a->v[i]))
			return false;
	return true;
}

static bool same_stage(const struct config_stage *a, const struct config_stage *b)
{
	return a->share == b->share && a->after == b->after && strcmp(a->to, b->to) == 0 &&
	       a->priorities == b->priorities && same_tags(&a->tags, &b->tags);
}

/* The stage at index i against those before it. */
static void check_duplicate(struct yamlutil_doc *y, yaml_node_t *seq, const struct config *c,
                            size_t i)
{
	const struct config_stage *st = &c->stages[i];
	for (size_t j = 0; st->key && j < i; j++) {
		if (c->stages[j].key == NULL || !same_stage(st, &c->stages[j]))
			continue;
		const yaml_node_t *first = yamlutil_seq_item(y, seq, j);
		yamlutil_error(
		    y, yamlutil_seq_item(y, seq, i),
		    "duplicate escalation stage (first at %d:%d): the same \"at\", \"to\", "
		    "\"priority\" and \"tags\"",
		    (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
		return;
	}
}

static void walk_stage(struct yamlutil_doc *y, yaml_node_t *entry, struct config_stage *st,
                       const char *where, const char *subject)
{
	yamlutil_walk(y, entry, stage_keys, NELEM(stage_keys), st, where, subject);
	stage_key(y, entry, st);
}

/* The at-risk mark: the earliest share of the target among the stages for every
 * conversation (a stage only for urgent mail does not make all mail at risk), else of any. */
static void set_risk_share(struct config *c)
{
	int any = 0, every = 0;
	for (size_t i = 0; i < c->nstages; i++) {
		const struct config_stage *st = &c->stages[i];
		if (st->share == 0)
			continue;
		if (any == 0 || st->share < any)
			any = st->share;
		if (st->priorities == 0 && st->tags.n == 0 && (every == 0 || st->share < every))
			every = st->share;
	}
	c->escalation_at = every ? every : any;
}

int config_walk_escalation(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                           yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	config_stages_free(c);
	if (val->type != YAML_SEQUENCE_NODE) {
		c->stages = xcalloc(1, sizeof(*c->stages));
		c->nstages = 1;
		walk_stage(y, val, &c->stages[0], "\"escalation\"", NULL);
		set_risk_share(c);
		return 0;
	}
	size_t n = yamlutil_seq_len(val);
	if (n > CONFIG_MAX_STAGES) {
		yamlutil_error(y, val, "\"escalation\" has %zu stages; at most %d", n,
		               CONFIG_MAX_STAGES);
		return -1;
	}
	c->stages = xcalloc(n + 1, sizeof(*c->stages));
	for (size_t i = 0; i < n; i++) {
		char *where = xasprintf("escalation stage %zu", i + 1);
		walk_stage(y, yamlutil_seq_item(y, val, i), &c->stages[c->nstages++], where,
		           "each entry of \"escalation\"");
		free(where);
		check_duplicate(y, val, c, i);
	}
	set_risk_share(c);
	return 0;
}

void config_stages_free(struct config *c)
{
	for (size_t i = 0; i < c->nstages; i++) {
		free(c->stages[i].to);
		free(c->stages[i].key);
		free(c->stages[i].at);
		strvec_free(&c->stages[i].tags);
	}
	free(c->stages);
	c->stages = NULL;
	c->nstages = 0;
}
