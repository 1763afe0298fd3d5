/*
 * test_sla: deadline arithmetic against cases worked out by hand, with the UTC answer written
 * out: business hours across a weekend, a holiday, both daylight saving changes (one in each
 * hemisphere), before opening, several working days, and no business hours at all.
 */
#include "tend/sla.h"

#include <time.h>

#include "t.h"

#define MON_FRI 0x1f

static int32_t christmas[] = {20261224, 20261225, 20261226};

static struct rules_business_hours hours(const char *zone)
{
	return (struct rules_business_hours){
	    .set = true,
	    .timezone = (char *)zone,
	    .days = MON_FRI,
	    .open_minute = 9 * 60,
	    .close_minute = 17 * 60,
	    .holidays = christmas,
	    .nholidays = 3,
	};
}

/* An instant written as UTC. */
static int64_t utc(int y, int mon, int d, int h, int min)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = min};
	return (int64_t)timegm(&tm);
}

#define H 3600

/* Friday 16:30 CET, 4h: half an hour on Friday, three and a half on Monday. */
static void test_over_weekend(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 11, 27, 15, 30), 4 * H), utc(2026, 11, 30, 11, 30));
	/* 75% of it: three hours, Monday 11:30 CET */
	T_EQ_INT(sla_share(&bh, utc(2026, 11, 27, 15, 30), 4 * H, 75), utc(2026, 11, 30, 10, 30));
}

/* Berlin moves to summer time on Sunday 29 March 2026: Monday 09:00 is 07:00 UTC, not 08:00. */
static void test_spring_forward(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 3, 27, 14, 0), 4 * H), utc(2026, 3, 30, 9, 0));
}

/* Sydney moves to summer time on Sunday 4 October 2026 (+10 to +11). */
static void test_southern_dst(void)
{
	struct rules_business_hours bh = hours("Australia/Sydney");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 10, 2, 5, 0), 4 * H), utc(2026, 10, 5, 0, 0));
}

/* Berlin leaves summer time on Sunday 25 October 2026: Monday opens at 08:00 UTC again, and
 * the three hours left end at 12:00 CET, 11:00 UTC (with summer time kept: 10:00). */
static void test_fall_back(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 10, 23, 14, 0), 4 * H), utc(2026, 10, 26, 11, 0));
}

/* Wednesday 23 December 16:00 CET: one hour, then the holidays and the weekend, then Monday. */
static void test_holidays(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 12, 23, 15, 0), 4 * H), utc(2026, 12, 28, 11, 0));
}

static void test_outside_hours(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	/* Saturday: the clock starts on Monday at 09:00 */
	T_EQ_INT(sla_deadline(&bh, utc(2026, 11, 28, 9, 0), 1 * H), utc(2026, 11, 30, 9, 0));
	/* Tuesday 07:00: it starts at 09:00 */
	T_EQ_INT(sla_deadline(&bh, utc(2026, 12, 1, 6, 0), 1 * H), utc(2026, 12, 1, 9, 0));
	/* Tuesday 18:00: Wednesday */
	T_EQ_INT(sla_deadline(&bh, utc(2026, 12, 1, 17, 0), 1 * H), utc(2026, 12, 2, 9, 0));
}

/* 24 working hours are three working days of eight. */
static void test_several_days(void)
{
	struct rules_business_hours bh = hours("Europe/Berlin");
	T_EQ_INT(sla_deadline(&bh, utc(2026, 11, 30, 8, 0), 24 * H), utc(2026, 12, 2, 16, 0));
}

static void test_round_the_clock(void)
{
	struct rules_business_hours off = {.set = false};
	T_EQ_INT(sla_deadline(&off, utc(2026, 11, 27, 15, 30), 4 * H), utc(2026, 11, 27, 19, 30));
	T_EQ_INT(sla_deadline(NULL, 1000, 60), 1060);
	T_EQ_INT(sla_share(NULL, 1000, 400, 75), 1300);
}

T_MAIN(T_CASE(test_over_weekend), T_CASE(test_spring_forward), T_CASE(test_southern_dst),
       T_CASE(test_fall_back), T_CASE(test_holidays), T_CASE(test_outside_hours),
       T_CASE(test_several_days), T_CASE(test_round_the_clock))
