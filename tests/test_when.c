/*
 * test_when: the times `tend stats` and `tend log` take, read in Europe/Berlin so that a week
 * across the end of daylight saving time is 169 hours long, as the clock on the wall says.
 */
#include "tend/when.h"

#include "tend/util.h"

#include <stdlib.h>
#include <time.h>

#include "t.h"

#define NOW      1796288400 /* Thursday 2026-12-03 10:00 in Berlin (09:00 UTC) */
#define MIDNIGHT 1796252400 /* Thursday 2026-12-03 00:00 in Berlin */
#define MONDAY   1795993200 /* Monday 2026-11-30 00:00 in Berlin */

static struct when_span at(const char *s, int64_t now)
{
	struct when_span w = {-1, -1};
	T_EQ_INT(when_parse(s, now, &w), 0);
	return w;
}

static void test_days(void)
{
	struct when_span w = at("today", NOW);
	T_EQ_INT(w.start, MIDNIGHT);
	T_EQ_INT(w.end, MIDNIGHT + 86400);
	w = at("Yesterday", NOW);
	T_EQ_INT(w.start, MIDNIGHT - 86400);
	T_EQ_INT(w.end, MIDNIGHT);
	w = at("7d", NOW);
	T_EQ_INT(w.start, NOW - 7 * 86400);
	T_EQ_INT(w.end, NOW - 7 * 86400);
	T_EQ_INT(at("12h", NOW).start, NOW - 12 * 3600);
	T_EQ_INT(at("0d", NOW).start, NOW);
}

/* ISO weeks: Monday to Monday, also on a Sunday and across a change of the clocks. */
static void test_weeks(void)
{
	struct when_span w = at("last week", NOW);
	T_EQ_INT(w.start, MONDAY - 7 * 86400);
	T_EQ_INT(w.end, MONDAY);
	w = at("this week", NOW);
	T_EQ_INT(w.start, MONDAY);
	T_EQ_INT(w.end, MONDAY + 7 * 86400);
	w = at("LAST WEEK", 1796554800); /* Sunday 2026-12-06 12:00: still the week of the 30th */
	T_EQ_INT(w.start, MONDAY - 7 * 86400);
	T_EQ_INT(w.end, MONDAY);
	w = at("last week", 1793264400); /* Thursday 2026-10-29: the clocks went back on the 25th */
	T_EQ_INT(w.start, 1792360800);   /* Monday 19 October 00:00 CEST */
	T_EQ_INT(w.end, 1792969200);     /* Monday 26 October 00:00 CET */
	T_EQ_INT(w.end - w.start, 169 * 3600);
}

static void test_dates(void)
{
	T_EQ_INT(at("2026-12-03", NOW).start, MIDNIGHT);
	struct when_span w = at("2026-12-03 10:00", 0);
	T_EQ_INT(w.start, NOW);
	T_EQ_INT(w.end, NOW);
}

static void test_refused(void)
{
	static const char *const bad[] = {
	    "",           "d",           "7",          "7days",
	    "-7d",        "7d ago",      "last month", "lastweek",
	    "2026-13-01", "2026-12-03x", " today",     "99999999999999999999d",
	    "365000000d", "tomorrow"};
	for (size_t i = 0; i < NELEM(bad); i++) {
		struct when_span w;
		if (when_parse(bad[i], NOW, &w) != -1)
			T_FAIL("\"%s\" was taken", bad[i]);
	}
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {T_CASE(test_days), T_CASE(test_weeks),
	                                      T_CASE(test_dates), T_CASE(test_refused)};
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return t_run(cases, NELEM(cases), argc, argv);
}
