/*
 * message_addr: address lists and dates.
 *
 * An address list is split into one segment per address first (at ',' and ';' outside
 * quotes, comments and angle brackets, group names dropped), and each segment goes through
 * libetpan's mailbox parser. libetpan is lenient in ways that produce garbage ("John Doe
 * <john@x.org" becomes "JohnDoe<john@x.org"), so its result is kept only when it is a plausible
 * address; otherwise the segment is read the way a person would: the text in angle brackets,
 * or "user at example.org" (Pipermail) with " at " turned into "@", with the display name from
 * the phrase before the brackets or from a trailing (comment).
 */
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "message_int.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- addresses ---- */

static bool local_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._+-", c) != NULL;
}

/*
 * local@domain with no space or bracket; with bare, also a local name alone such as
 * <MAILER-DAEMON> (only in angle brackets: a lone word is more often a broken display name).
 */
static bool addr_ok(const char *a, bool bare)
{
	const char *at = strrchr(a, '@');
	if (at == NULL) {
		if (!bare)
			return false;
		for (const char *p = a; *p; p++)
			if (!local_char(*p))
				return false;
		return a[0] != '\0';
	}
	if (at == a || at[1] == '\0' || at[1] == '.')
		return false;
	for (const char *p = a; *p; p++)
		if (is_wsp(*p) || strchr("<>(),;\\", *p) || (*p == '@' && p != at))
			return false;
	return true;
}

static void addrs_push(struct message_addrs *out, char *name, char *addr)
{
	message_addrs_reserve(out);
	text_strip_controls(addr, strlen(addr), TEXT_LINE); /* the name is decoded, so clean */
	if (name && name[0] == '\0') {
		free(name);
		name = NULL;
	}
	out->v[out->n].name = name;
	out->v[out->n].addr = addr;
	out->n++;
}

void message_addrs_free(struct message_addrs *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].addr);
	}
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

static char *decode_phrase(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	while (n > 0 && is_wsp(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_wsp(s[n - 1]))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	message_decode_words(&b, s, n, NULL);
	return buf_steal(&b);
}

/* The text of the first (comment) in s, decoded; NULL when there is none. */
static char *comment_text(const char *s)
{
	const char *open = strchr(s, '(');
	if (open == NULL)
		return NULL;
	int depth = 1;
	const char *p = open + 1;
	for (; *p && depth > 0; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
	}
	size_t n = (size_t)(p - open - 1) - (depth == 0 ? 1 : 0);
	return decode_phrase(open + 1, n);
}

/* True when s holds nothing but whitespace and comments. */
static bool only_cfws(const char *s)
{
	int depth = 0;
	for (; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (*s == '(')
			depth++;
		else if (*s == ')' && depth > 0)
			depth--;
		else if (depth == 0 && !is_wsp(*s))
			return false;
	}
	return true;
}

/* "user at example.org" as Pipermail writes it: turned into an address when that is one. */
static char *pipermail(char *a)
{
	char *at = strstr(a, " at ");
	if (at == NULL || strchr(a, '@'))
		return a;
	char *fixed = xasprintf("%.*s@%s", (int)(at - a), a, at + 4);
	if (!addr_ok(fixed, false) || strchr(at + 4, '.') == NULL) {
		free(fixed);
		return a;
	}
	free(a);
	return fixed;
}

static bool via_libetpan(const char *seg, struct message_addrs *out)
{
	size_t idx = 0;
	struct mailimf_mailbox *mb = NULL;
	if (mailimf_mailbox_parse(seg, strlen(seg), &idx, &mb) != MAILIMF_NO_ERROR)
		return false;
	bool ok = mb->mb_addr_spec && addr_ok(mb->mb_addr_spec, false) && only_cfws(seg + idx);
	if (ok) {
		char *name = mb->mb_display_name
		                 ? decode_phrase(mb->mb_display_name, strlen(mb->mb_display_name))
		                 : comment_text(seg + idx);
		addrs_push(out, name, xstrdup(mb->mb_addr_spec));
	}
	mailimf_mailbox_free(mb);
	return ok;
}

/* Without brackets: the words outside comments are the address, a comment is the name. */
static bool bare_address(const char *seg, struct message_addrs *out)
{
	struct buf core = BUF_INIT;
	int depth = 0;
	for (const char *p = seg; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			buf_putc(&core, *p);
	}
	char *addr = pipermail(str_trim_dup(core.data ? core.data : "", core.len));
	buf_free(&core);
	if (!addr_ok(addr, false)) {
		free(addr);
		return false;
	}
	addrs_push(out, comment_text(seg), addr);
	return true;
}

static bool fallback(const char *seg, struct message_addrs *out)
{
	const char *lt = strrchr(seg, '<');
	if (lt == NULL)
		return bare_address(seg, out);
	const char *gt = strchr(lt, '>');
	size_t n = gt ? (size_t)(gt - lt - 1) : strlen(lt + 1);
	char *addr = pipermail(str_trim_dup(lt + 1, n));
	if (!addr_ok(addr, true)) {
		free(addr);
		return false;
	}
	addrs_push(out, decode_phrase(seg, (size_t)(lt - seg)), addr);
	return true;
}

char *message_addr_name_only(const char *value)
{
	char *name = comment_text(value);
	const char *lt = strchr(value, '<');
	if ((name == NULL || name[0] == '\0') && lt) {
		free(name);
		name = decode_phrase(value, (size_t)(lt - value));
	}
	if (name && name[0] == '\0') {
		free(name);
		name = NULL;
	}
	return name;
}

/* Drops "group-name:" at the start of a segment (RFC 5322 groups). */
static const char *skip_group(const char *seg)
{
	bool quote = false;
	for (const char *p = seg; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '"')
			quote = !quote;
		else if (!quote && (*p == '<' || *p == '@' || *p == '('))
			return seg;
		else if (!quote && *p == ':')
			return p + 1;
	}
	return seg;
}

/*
 * Reads one address of a list. Returns NULL, or when it cannot be read, the segment as written
 * (caller frees); with strict, neither is a group name ("friends: a@x") nor an address that
 * is not there as written (read leniently: "user at example.org", folding white space).
 */
static char *parse_segment(const char *s, size_t n, struct message_addrs *out, bool strict)
{
	char *raw = str_trim_dup(s, n), *bad = NULL;
	char *tmp;
	const char *seg = skip_group(raw);
	if (strict && seg != raw) {
		free(raw);
		return str_trim_dup(s, n);
	}
	seg = message_shallow(seg, &tmp);
	while (is_wsp(*seg))
		seg++;
	if (*seg && !via_libetpan(seg, out) && !fallback(seg, out))
		bad = xstrdup(seg);
	else if (*seg && strict && strstr(seg, out->v[out->n - 1].addr) == NULL)
		bad = xstrdup(seg); /* read as something else than written ("a@exa mple.org") */
	free(tmp);
	free(raw);
	return bad;
}

static void parse_warn(const char *s, size_t n, struct message_addrs *out, struct strvec *warnings)
{
	char *bad = parse_segment(s, n, out, false);
	if (bad && warnings)
		strvec_push_owned(warnings, xasprintf("unreadable address \"%.60s\" ignored", bad));
	free(bad);
}

void message_addrs_reserve(struct message_addrs *as)
{
	/* The array grows in powers of two: a hostile Cc list pushes hundreds of thousands. */
	if (as->n == 0 || (as->n & (as->n - 1)) == 0)
		as->v = xreallocarray(as->v, as->n ? 2 * as->n : 1, sizeof(*as->v));
}

/*
 * Calls fn on each address of the list in value (split at ',' and ';' outside quotes,
 * comments and angle brackets) while it returns 0, until out holds max addresses; returns 1
 * when some were left out for that, else what fn returned last.
 */
static int split_list(const char *value, struct message_addrs *out, size_t max,
                      int (*fn)(const char *, size_t, struct message_addrs *, void *), void *arg)
{
	const char *seg = value;
	bool quote = false;
	int comment = 0, angle = 0;
	for (const char *p = value;; p++) {
		char c = *p;
		if (c == '\\' && p[1] && (quote || comment)) {
			p++;
			continue;
		}
		if (c == '\0' || ((c == ',' || c == ';') && !quote && !comment && !angle)) {
			if (out->n >= max)
				return *seg && seg[strspn(seg, " \t\r\n,;")] != '\0';
			int rc = fn(seg, (size_t)(p - seg), out, arg);
			if (c == '\0' || rc != 0)
				return rc;
			seg = p + 1;
		} else if (c == '"' && !comment) {
			quote = !quote;
		} else if (!quote && c == '(') {
			comment++;
		} else if (!quote && c == ')' && comment > 0) {
			comment--;
		} else if (!quote && !comment && c == '<') {
			angle = 1;
		} else if (!quote && !comment && c == '>') {
			angle = 0;
		}
	}
}

static int each_lenient(const char *s, size_t n, struct message_addrs *out, void *warnings)
{
	parse_warn(s, n, out, warnings);
	return 0;
}

int message_addrs_parse(const char *value, struct message_addrs *out, struct strvec *warnings,
                        size_t max)
{
	return split_list(value, out, max, each_lenient, warnings);
}

static int each_strict(const char *s, size_t n, struct message_addrs *out, void *bad)
{
	char **b = bad;
	*b = parse_segment(s, n, out, true);
	return *b ? -1 : 0;
}

int message_addrs_read(const char *value, struct message_addrs *out, char **bad)
{
	*bad = NULL;
	return split_list(value, out, SIZE_MAX, each_strict, bad) < 0 ? -1 : 0;
}

void message_addrs_add(struct message_addrs *as, const struct message_addr *a)
{
	message_addrs_reserve(as);
	as->v[as->n].name = a->name ? xstrdup(a->name) : NULL;
	as->v[as->n].addr = xstrdup(a->addr);
	as->n++;
}

/* ---- dates ---- */

struct dt {
	int year, month, day, hour, min, sec;
	int zone; /* +hhmm as an integer, e.g. -500 */
	bool have_zone;
};

static int days_in_month(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : mdays[m - 1];
}

static const struct {
	const char *name;
	int month;
} month_names[] = {
    {"jan", 1},  {"feb", 2}, {"mar", 3},  {"apr", 4},  {"may", 5},  {"jun", 6},
    {"jul", 7},  {"aug", 8}, {"sep", 9},  {"oct", 10}, {"nov", 11}, {"dec", 12},
    {"mai", 5},  {"mär", 3}, {"mrz", 3},  {"okt", 10}, {"dez", 12}, {"janv", 1},
    {"févr", 2}, {"fév", 2}, {"mars", 3}, {"avr", 4},  {"juin", 6}, {"juil", 7},
    {"août", 8}, {"aoû", 8}, {"déc", 12}, {"ene", 1},  {"abr", 4},  {"ago", 8},
    {"dic", 12}, {"gen", 1}, {"giu", 6},  {"lug", 7},  {"set", 9},  {"ott", 10},
};

static const struct {
	const char *name;
	int zone;
} zone_names[] = {
    {"ut", 0},     {"utc", 0},    {"gmt", 0},    {"z", 0},      {"est", -500},
    {"edt", -400}, {"cst", -600}, {"cdt", -500}, {"mst", -700}, {"mdt", -600},
    {"pst", -800}, {"pdt", -700}, {"cet", 100},  {"cest", 200}, {"met", 100},
    {"mest", 200}, {"bst", 100},  {"eet", 200},  {"eest", 300}, {"jst", 900},
    {"wet", 0},    {"west", 100}, {"msk", 300},  {"hkt", 800},  {"aest", 1000},
};

static int month_of(const char *tok)
{
	int best = 0;
	size_t bestlen = 0;
	for (size_t i = 0; i < NELEM(month_names); i++) {
		size_t l = strlen(month_names[i].name);
		if (l > bestlen && strncmp(tok, month_names[i].name, l) == 0) {
			best = month_names[i].month;
			bestlen = l;
		}
	}
	return best;
}

static bool zone_of(const char *tok, int *zone)
{
	if ((tok[0] == '+' || tok[0] == '-') && strlen(tok) == 5 &&
	    strspn(tok + 1, "0123456789") == 4) {
		*zone = atoi(tok + 1) * (tok[0] == '-' ? -1 : 1);
		return true;
	}
	for (size_t i = 0; i < NELEM(zone_names); i++)
		if (strcmp(tok, zone_names[i].name) == 0) {
			*zone = zone_names[i].zone;
			return true;
		}
	return false;
}

static bool iso_date(const char *tok, struct dt *d)
{
	int y, m, dd, h = 0, mi = 0, s = 0, n = 0;
	if (sscanf(tok, "%4d-%2d-%2d%n", &y, &m, &dd, &n) != 3 || n != 10)
		return false;
	d->year = y, d->month = m, d->day = dd;
	if (tok[10] == 't' && sscanf(tok + 11, "%2d:%2d:%2d", &h, &mi, &s) >= 2) {
		d->hour = h, d->min = mi, d->sec = s;
		const char *z = tok + 11 + strspn(tok + 11, "0123456789:.");
		d->have_zone = zone_of(z, &d->zone);
	}
	return true;
}

static void lenient_token(const char *tok, struct dt *d)
{
	int h, mi, s = 0, m;
	size_t len = strlen(tok);
	if (iso_date(tok, d))
		return;
	if (strchr(tok, ':') && sscanf(tok, "%d:%d:%d", &h, &mi, &s) >= 2) {
		d->hour = h, d->min = mi, d->sec = s;
	} else if (len > 0 && strspn(tok, "0123456789") == len) {
		if (len <= 2 && d->day == 0)
			d->day = atoi(tok);
		else if (d->year < 0)
			d->year = atoi(tok);
	} else if (!d->have_zone && zone_of(tok, &d->zone)) {
		d->have_zone = true;
	} else if (d->month == 0 && (m = month_of(tok)) != 0) {
		d->month = m;
	}
}

/* asctime ("Fri May 22 06:38:22 2015"), ISO 8601, localised month names and the like. */
static bool lenient_date(const char *v, struct dt *d)
{
	char tok[64];
	*d = (struct dt){-1, 0, 0, 0, 0, 0, 0, false};
	while (*v) {
		while (*v && (is_wsp(*v) || *v == ','))
			v++;
		size_t n = 0;
		while (*v && !is_wsp(*v) && *v != ',') {
			if (n + 1 < sizeof(tok))
				tok[n++] = (char)(*v >= 'A' && *v <= 'Z' ? *v - 'A' + 'a' : *v);
			v++;
		}
		tok[n] = '\0';
		if (n > 0)
			lenient_token(tok, d);
	}
	return d->year >= 0 && d->month > 0 && d->day > 0;
}

static bool via_libetpan_date(const char *v, struct dt *d)
{
	size_t idx = 0;
	struct mailimf_date_time *t = NULL;
	if (mailimf_date_time_parse(v, strlen(v), &idx, &t) != MAILIMF_NO_ERROR)
		return false;
	*d = (struct dt){t->dt_year, t->dt_month, t->dt_day,  t->dt_hour,
	                 t->dt_min,  t->dt_sec,   t->dt_zone, true};
	mailimf_date_time_free(t);
	return true;
}

static bool dt_valid(struct dt *d)
{
	if (d->year >= 0 && d->year < 50)
		d->year += 2000; /* RFC 5322 4.3: two-digit years */
	else if (d->year >= 50 && d->year < 1000)
		d->year += 1900;
	return d->year >= 1900 && d->year <= 9999 && d->month >= 1 && d->month <= 12 &&
	       d->day >= 1 && d->day <= days_in_month(d->year, d->month) && d->hour >= 0 &&
	       d->hour <= 23 && d->min >= 0 && d->min <= 59 && d->sec >= 0 && d->sec <= 60;
}

int message_date_parse(const char *value, int64_t *t, int *offset, struct strvec *warnings)
{
	char *tmp;
	const char *v = message_shallow(value, &tmp);
	struct dt d;
	bool ok =
	    (via_libetpan_date(v, &d) && dt_valid(&d)) || (lenient_date(v, &d) && dt_valid(&d));
	free(tmp);
	if (!ok)
		return -1;
	int z = d.zone < 0 ? -d.zone : d.zone;
	if (z % 100 >= 60 || z / 100 > 14) {
		if (warnings)
			strvec_push_owned(warnings, xasprintf("Date zone %+05d out of range: "
			                                      "read as UTC",
			                                      d.zone));
		d.zone = z = 0;
	}
	*offset = (d.zone < 0 ? -1 : 1) * (z / 100 * 60 + z % 100);
	*t = days_from_civil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.min * 60 + d.sec -
	     (int64_t)*offset * 60;
	return 0;
}
