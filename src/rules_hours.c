/*
 * rules_hours: the `sla` and `business_hours` mappings of rules.yaml.
 *
 * Everything here is checked when the file is loaded, so that the SLA clock never meets a time
 * zone it cannot load, a day it cannot name or a holiday that does not exist.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

#define ZONEINFO "/usr/share/zoneinfo"

static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

#define SLA(p) offsetof(struct rules, sla.target[p])

static const struct yamlutil_key sla_keys[] = {
    {.name = "urgent", .fn = yamlutil_set_duration, .offset = SLA(RULES_PRIORITY_URGENT), .min = 1},
    {.name = "high", .fn = yamlutil_set_duration, .offset = SLA(RULES_PRIORITY_HIGH), .min = 1},
    {.name = "normal", .fn = yamlutil_set_duration, .offset = SLA(RULES_PRIORITY_NORMAL), .min = 1},
    {.name = "low", .fn = yamlutil_set_duration, .offset = SLA(RULES_PRIORITY_LOW), .min = 1},
};

int rules_walk_sla(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                   yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, sla_keys, NELEM(sla_keys), obj, "\"sla\"", NULL);
	return 0;
}

/* TZDIR is what the C library itself honours, so a test or a container can point elsewhere. */
static const char *zoneinfo_dir(void)
{
	const char *dir = getenv("TZDIR");
	return dir != NULL && *dir != '\0' ? dir : ZONEINFO;
}

/* Names like Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+1: never a way out. */
static bool zone_name_ok(const char *s)
{
	return s[0] != '/' && strstr(s, "..") == NULL && strstr(s, "//") == NULL &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-/") ==
	           strlen(s);
}

/* A real zone is a TZif file; zone.tab and tzdata.zi live in the same directory. */
static bool zone_exists(const char *name)
{
	char *path = xasprintf("%s/%s", zoneinfo_dir(), name);
	FILE *f = fopen(path, "rb");
	free(path);
	if (f == NULL)
		return false;
	char magic[4] = {0};
	bool ok =
	    fread(magic, 1, sizeof(magic), f) == sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* The closest zone beside the one named (Europe/Berln: Europe/Berlin), or NULL; caller frees. */
static char *zone_suggest(const char *name)
{
	const char *slash = strrchr(name, '/');
	char *region = slash ? xstrndup(name, (size_t)(slash - name)) : xstrdup("");
	char *dirpath = xasprintf("%s/%s", zoneinfo_dir(), region);
	struct strvec cands = STRVEC_INIT;
	DIR *dir = opendir(dirpath);
	for (struct dirent *e; dir != NULL && (e = readdir(dir)) != NULL;)
		if (e->d_name[0] != '.')
			strvec_push(&cands, e->d_name);
	if (dir != NULL)
		closedir(dir);
	const char *best =
	    yamlutil_suggest(slash ? slash + 1 : name, (const char *const *)cands.v, cands.n);
	char *full = NULL;
	if (best != NULL)
		full = *region ? xasprintf("%s/%s", region, best) : xstrdup(best);
	if (full != NULL && !zone_exists(full)) {
		free(full);
		full = NULL;
	}
	strvec_free(&cands);
	free(dirpath);
	free(region);
	return full;
}

static int set_timezone(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	struct rules_business_hours *h = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (!zone_name_ok(s) || !zone_exists(s)) {
		char *best = zone_name_ok(s) ? zone_suggest(s) : NULL;
		char *hint = best ? xasprintf("; did you mean \"%s\"?", best) : xstrdup("");
		struct buf q = BUF_INIT;
		yamlutil_quote(&q, s);
		yamlutil_error(y, val,
		               "unknown time zone %s (expected an IANA name like Europe/Berlin, as "
		               "found in %s%s)",
		               q.data, zoneinfo_dir(), hint);
		buf_free(&q);
		free(hint);
		free(best);
		return -1;
	}
	free(h->timezone);
	h->timezone = xstrdup(s);
	return 0;
}

static int day_index(const char *s)
{
	for (size_t i = 0; s != NULL && i < NELEM(day_names); i++)
		if (str_ieq(s, day_names[i]))
			return (int)i;
	return -1;
}

static int set_days(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                    yaml_node_t *val, void *obj)
{
	struct rules_business_hours *h = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	unsigned days = 0;
	int rc = 0;
	for (size_t i = 0; i < yamlutil_seq_len(val); i++) {
		yaml_node_t *item = yamlutil_seq_item(y, val, i);
		int d = day_index(yamlutil_scalar(item));
		if (d < 0) {
			yamlutil_type_error(y, item, "each entry of \"days\"",
			                    "one of mon, tue, wed, thu, fri, sat, sun");
			rc = -1;
		} else if (days & (1u << d)) {
			yamlutil_error(y, item, "\"days\" lists \"%s\" twice", day_names[d]);
			rc = -1;
		}
		days |= d >= 0 ? 1u << d : 0;
	}
	if (rc == 0 && days == 0) {
		yamlutil_error(y, val,
		               "\"days\" must not be an empty list: the clock would never run");
		rc = -1;
	}
	h->days = days;
	return rc;
}

/* "HH:MM" or "H:MM" at s; returns the characters read, or 0. 24:00 only where allowed. */
static size_t parse_clock(const char *s, bool allow_24, int *minute)
{
	size_t hd = strspn(s, "0123456789");
	if (hd < 1 || hd > 2 || s[hd] != ':' || strspn(s + hd + 1, "0123456789") < 2)
		return 0;
	int hh = atoi(s), mm = (s[hd + 1] - '0') * 10 + (s[hd + 2] - '0');
	if (mm > 59 || hh > 24 || (hh == 24 && (!allow_24 || mm != 0)))
		return 0;
	*minute = hh * 60 + mm;
	return hd + 3;
}

static int parse_hours(const char *s, int *open, int *close)
{
	size_t n = parse_clock(s, false, open);
	if (n == 0)
		return -1;
	s += n + strspn(s + n, " ");
	if (*s++ != '-')
		return -1;
	s += strspn(s, " ");
	n = parse_clock(s, true, close);
	return n == 0 || s[n] != '\0' ? -1 : 0;
}

static int set_hours(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct rules_business_hours *h = obj;
	const char *s = yamlutil_scalar(val);
	int open, close;
	if (s == NULL || parse_hours(s, &open, &close) < 0) {
		yamlutil_type_error(y, val, "\"hours\"",
		                    "opening and closing times like \"09:00-17:00\"");
		return -1;
	}
	if (open >= close) {
		struct buf q = BUF_INIT;
		yamlutil_quote(&q, s);
		yamlutil_error(y, val, "\"hours\" must open before they close, not %s", q.data);
		buf_free(&q);
		return -1;
	}
	h->open_minute = open;
	h->close_minute = close;
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD naming a day that exists, as YYYYMMDD; -1 otherwise. */
static int32_t parse_date(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    strspn(s, "0123456789") != 4 || strspn(s + 5, "0123456789") != 2 ||
	    strspn(s + 8, "0123456789") != 2)
		return -1;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1)
		return -1;
	if (d > mdays[m - 1] + (m == 2 && leap(y)))
		return -1;
	return y * 10000 + m * 100 + d;
}

static int cmp_date(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, z = *(const int32_t *)b;
	return (x > z) - (x < z);
}

static int set_holidays(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                        yaml_node_t *val, void *obj)
{
	struct rules_business_hours *h = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	size_t n = yamlutil_seq_len(val), used = 0;
	int32_t *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yamlutil_seq_item(y, val, i);
		int32_t date = parse_date(yamlutil_scalar(item));
		if (date < 0)
			yamlutil_type_error(y, item, "each entry of \"holidays\"",
			                    "a real date written YYYY-MM-DD, like 2026-12-25");
		else
			v[used++] = date;
	}
	qsort(v, used, sizeof(*v), cmp_date);
	size_t kept = 0;
	for (size_t i = 0; i < used; i++)
		if (kept == 0 || v[kept - 1] != v[i])
			v[kept++] = v[i];
	free(h->holidays);
	h->holidays = v;
	h->nholidays = kept;
	return used == n ? 0 : -1;
}

static const struct yamlutil_key hours_keys[] = {
    {.name = "timezone", .fn = set_timezone, .flags = YAMLUTIL_REQUIRED},
    {.name = "days", .fn = set_days},
    {.name = "hours", .fn = set_hours, .flags = YAMLUTIL_REQUIRED},
    {.name = "holidays", .fn = set_holidays},
};

int rules_walk_hours(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct rules *r = obj;
	/* Left empty (every line commented out): no business hours, the clock always runs. */
	if (yamlutil_is_null(val))
		return 0;
	r->hours.set = true;
	r->hours.days = 0x1f; /* Monday to Friday unless the operator says otherwise */
	yamlutil_walk(y, val, hours_keys, NELEM(hours_keys), &r->hours, "\"business_hours\"", NULL);
	return 0;
}

void rules_hours_finish(struct rules_business_hours *h)
{
	free(h->timezone);
	free(h->holidays);
	memset(h, 0, sizeof(*h));
}
