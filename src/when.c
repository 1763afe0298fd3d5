/*
 * when: dates and relative times of the command line. See include/tend/when.h.
 */
#include "tend/when.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Local midnight of the day that is days after the one now falls in (negative: before).
 * mktime normalises the day of the month and finds the offset in force that day, so a
 * day across a change of daylight saving time is 23 or 25 hours long, as the clock says. */
static int64_t midnight(int64_t now, int days)
{
	time_t t = (time_t)now;
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* Days from the Monday of now's week to now's day (ISO 8601 weeks begin on Monday). */
static int since_monday(int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;
	localtime_r(&t, &tm);
	return (tm.tm_wday + 6) % 7;
}

static int parse_date(const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end && *end == ' ')
		end = strptime(end + 1, "%H:%M", &tm);
	if (end == NULL || *end != '\0' || !isdigit((unsigned char)s[0]))
		return -1;
	tm.tm_isdst = -1;
	*out = (int64_t)mktime(&tm);
	return 0;
}

/* "7d", "12h": up to a hundred years back. */
static int parse_ago(const char *s, int64_t now, int64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	int64_t unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : 0;
	if (unit == 0 || end[1] != '\0' || n > 36500UL * 86400 / (unsigned long)unit)
		return -1;
	*out = now - (int64_t)n * unit;
	return 0;
}

int when_parse(const char *s, int64_t now, struct when_span *out)
{
	int week = since_monday(now);
	if (strcasecmp(s, "today") == 0)
		*out = (struct when_span){midnight(now, 0), midnight(now, 1)};
	else if (strcasecmp(s, "yesterday") == 0)
		*out = (struct when_span){midnight(now, -1), midnight(now, 0)};
	else if (strcasecmp(s, "this week") == 0)
		*out = (struct when_span){midnight(now, -week), midnight(now, 7 - week)};
	else if (strcasecmp(s, "last week") == 0)
		*out = (struct when_span){midnight(now, -week - 7), midnight(now, -week)};
	else if (parse_ago(s, now, &out->start) == 0 || parse_date(s, &out->start) == 0)
		out->end = out->start;
	else
		return -1;
	return 0;
}
