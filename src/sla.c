/*
 * sla: deadlines in working time. See include/tend/sla.h.
 *
 * Walks day by day in the zone's local time: on a working day that is not a holiday the
 * interval from opening to closing time (as absolute instants, so a day on which the clocks
 * change counts its real length) is used up until the target is. Converting a local wall time
 * to an instant asks the zone for its offset at a guess and corrects once, which settles both
 * sides of a change.
 */
#include <stdlib.h>
#include <time.h>

#include "tend/sla.h"
#include "tend/util.h"

/* Ten years of days without working time is a configuration no one means. */
#define MAX_DAYS 3660

/* The instant of local wall time (year, month 0-11, day, minute of the day) in zone. */
static int64_t instant(const char *zone, int year, int mon, int mday, int minute)
{
	/* mday may run past the month's end (the next day's midnight) */
	int64_t wall = days_from_civil(year, mon + 1, mday) * 86400 + minute * 60;
	int64_t t = wall - local_offset_in(zone, wall);
	return wall - local_offset_in(zone, t);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return x < y ? -1 : x > y;
}

static bool working_day(const struct rules_business_hours *bh, const struct tm *lt)
{
	int weekday = (lt->tm_wday + 6) % 7; /* Monday 0 */
	if (!(bh->days & (1u << weekday)))
		return false;
	int32_t ymd = (lt->tm_year + 1900) * 10000 + (lt->tm_mon + 1) * 100 + lt->tm_mday;
	/* no holidays: holidays may be NULL, which bsearch must not be given */
	return bh->nholidays == 0 ||
	       bsearch(&ymd, bh->holidays, bh->nholidays, sizeof(*bh->holidays), cmp_i32) == NULL;
}

int64_t sla_deadline(const struct rules_business_hours *bh, int64_t start, int64_t target)
{
	if (bh == NULL || !bh->set || bh->days == 0)
		return start + target;
	int64_t t = start, left = target;
	for (int day = 0; day < MAX_DAYS; day++) {
		struct tm lt;
		local_time_in(bh->timezone, t, &lt);
		int y = lt.tm_year + 1900;
		int64_t open = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday, bh->open_minute);
		int64_t close = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday, bh->close_minute);
		if (working_day(bh, &lt) && t < close) {
			if (t < open)
				t = open;
			if (close - t >= left)
				return t + left;
			left -= close - t;
		}
		int64_t next = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday + 1, 0);
		t = next > t ? next : t + 3600;
	}
	return start + target;
}

int64_t sla_share(const struct rules_business_hours *bh, int64_t start, int64_t target, int share)
{
	return sla_deadline(bh, start, target * share / 100);
}

int64_t sla_elapsed(const struct rules_business_hours *bh, int64_t start, int64_t end)
{
	if (end <= start)
		return 0;
	if (bh == NULL || !bh->set || bh->days == 0)
		return end - start;
	int64_t t = start, sum = 0;
	for (int day = 0; day < MAX_DAYS && t < end; day++) {
		struct tm lt;
		local_time_in(bh->timezone, t, &lt);
		int y = lt.tm_year + 1900;
		int64_t open = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday, bh->open_minute);
		int64_t close = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday, bh->close_minute);
		if (working_day(bh, &lt)) {
			int64_t from = t < open ? open : t, to = close < end ? close : end;
			sum += to > from ? to - from : 0;
		}
		int64_t next = instant(bh->timezone, y, lt.tm_mon, lt.tm_mday + 1, 0);
		t = next > t ? next : t + 3600;
	}
	return sum;
}
