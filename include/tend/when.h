/*
 * when: the times a user names on the command line (`tend stats --since`, `tend log --since`),
 * as dates or in words, read in the local time zone.
 */
#ifndef TEND_WHEN_H
#define TEND_WHEN_H

#include <stdint.h>

/* A span of time the words name: [start, end). A moment (a date, "7d") has end == start. */
struct when_span {
	int64_t start;
	int64_t end;
};

/*
 * Reads s, relative to now, in the local time zone:
 *   "2026-11-01"        local midnight of that day (a moment)
 *   "2026-11-01 14:30"  that local time (a moment)
 *   "7d", "12h"         that many days (of 24 hours) or hours before now (a moment)
 *   "today"             from local midnight today to local midnight tomorrow
 *   "yesterday"         the day before
 *   "this week"         the current calendar week, Monday 00:00 to the next Monday (ISO 8601)
 *   "last week"         the previous calendar week, Monday to Monday
 * Words are taken without regard to case. Returns 0, or -1 when s is none of these.
 */
int when_parse(const char *s, int64_t now, struct when_span *out);

#endif
