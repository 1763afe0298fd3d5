/*
 * Unit tests for util: buffers, strings, UTF-8, durations, diagnostics, hashing.
 */
#include "t.h"
#include "tend/util.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	T_EQ_INT(b.len, strlen(b.data));
	T_OK(strncmp(b.data, "0,1,2,", 6) == 0);
	char *s = buf_steal(&b);
	T_OK(b.data == NULL && b.len == 0);
	free(s);
	s = buf_steal(&b);
	T_EQ_STR(s, "");
	free(s);
}

/*
 * A size so large that len + extra + 1 wraps around is out of memory (abort, with the
 * message), not a fit in the buffer there is; the child process is the one that aborts.
 */
static void test_buf_reserve_wraps(void)
{
	int fds[2];
	T_EQ_INT(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fds[1], STDERR_FILENO);
		struct buf b = BUF_INIT;
		buf_puts(&b, "x");
		buf_reserve(&b, SIZE_MAX - 1);
		_exit(0);
	}
	close(fds[1]);
	char err[512] = "";
	size_t got = 0;
	for (ssize_t n; (n = read(fds[0], err + got, sizeof(err) - 1 - got)) > 0;)
		got += (size_t)n;
	close(fds[0]);
	int status = 0;
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	T_CONTAINS(err, "out of memory");
}

static void test_utf8(void)
{
	T_OK(utf8_valid("R\xc3\xbc"
	                "ckerstattung",
	                14));
	T_OK(!utf8_valid("R\xfc"
	                 "ckerstattung",
	                 13));
	T_OK(!utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	T_OK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	T_OK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
	T_OK(!utf8_valid("\xe2\x82", 2));         /* truncated */
	/* the eight-bytes-at-a-time ASCII path, with the bad byte at each offset of a word */
	for (size_t at = 0; at < 24; at++) {
		char long_text[25];
		memset(long_text, 'a', 24);
		long_text[24] = '\0';
		T_OK(utf8_valid(long_text, 24));
		long_text[at] = '\xfc';
		T_OK(!utf8_valid(long_text, 24));
	}
	struct buf b = BUF_INIT;
	utf8_sanitize(&b,
	              "a\xfc"
	              "b\xe2\x82",
	              5);
	T_EQ_STR(b.data, "a\xef\xbf\xbd"
	                 "b\xef\xbf\xbd\xef\xbf\xbd");
	buf_free(&b);
}

/* Strips s in place as the parser does; returns it. */
static char *stripped(char *s, enum text_shape shape)
{
	size_t n = text_strip_controls(s, strlen(s), shape);
	T_EQ_INT(n, strlen(s));
	return s;
}

static void test_strip_controls(void)
{
	char field[] = "a\x1b]52;c;ZXZpbA==\x07"
	               "b\x1b[8mc\r\nd\ne\tf\x7fg\x01h";
	T_EQ_STR(stripped(field, TEXT_LINE), "a]52;c;ZXZpbA==b[8mc d e\tfgh");
	char body[] = "one\r\ntwo\rthree\n\tfour\x1b[2J\x00x";
	size_t n = text_strip_controls(body, sizeof(body) - 1, TEXT_LINES);
	T_EQ_STR(body, "one\ntwo\nthree\n\tfour[2Jx"); /* the NUL went too */
	T_EQ_INT(n, strlen(body));
	/* C1 as code points and as stray bytes; other two-byte characters stay */
	char c1[] = "x\xc2\x9b"
	            "31m\xc2\x80y\xc2\xa0\xc2\xbf\xc3\xa9\x9b\x9f\xa0\xff\xe2\x80\x9cz";
	T_EQ_STR(stripped(c1, TEXT_LINE), "x31my\xc2\xa0\xc2\xbf\xc3\xa9\xa0\xff\xe2\x80\x9cz");
	/* the eight-bytes-at-a-time path, with the control at each offset of a word */
	for (size_t at = 0; at < 24; at++) {
		char s[26];
		memset(s, 'a', 24);
		s[24] = '\0';
		s[at] = '\x1b';
		T_EQ_INT(text_strip_controls(s, 24, TEXT_LINES), 23);
		T_OK(strchr(s, '\x1b') == NULL);
	}
	char empty[] = "";
	T_EQ_STR(stripped(empty, TEXT_LINE), "");
}

static void test_term_put(void)
{
	char *s = term_dup("Re: \x1b]8;;http://evil\x1b\\hi\x07 \xc2\x9b"
	                   "2J \x9b \xff caf\xc3\xa9",
	                   TEXT_LINE);
	T_EQ_STR(s, "Re: \\x1b]8;;http://evil\\x1b\\hi\\x07 \\u009b2J \\x9b \\xff caf\xc3\xa9");
	free(s);
	s = term_dup("a\tb\r\nc\x7f", TEXT_LINE);
	T_EQ_STR(s, "a b  c\\x7f");
	free(s);
	s = term_dup("a\tb\r\nc\x1b[8m", TEXT_LINES);
	T_EQ_STR(s, "a\tb\\x0d\nc\\x1b[8m");
	free(s);
	s = term_dup(NULL, TEXT_LINES);
	T_EQ_STR(s, "");
	free(s);
	struct buf b = BUF_INIT;
	buf_puts(&b, "Subject: ");
	term_put(&b, "\xe2\x80\x9cquoted\xe2\x80\x9d \xe6\x97\xa5\xe6\x9c\xac", TEXT_LINE);
	T_EQ_STR(b.data, "Subject: \xe2\x80\x9cquoted\xe2\x80\x9d \xe6\x97\xa5\xe6\x9c\xac");
	buf_free(&b);
}

static void test_duration(void)
{
	int64_t s;
	T_EQ_INT(parse_duration("30s", &s), 0);
	T_EQ_INT(s, 30);
	T_EQ_INT(parse_duration("15m", &s), 0);
	T_EQ_INT(s, 900);
	T_EQ_INT(parse_duration("4h", &s), 0);
	T_EQ_INT(s, 14400);
	T_EQ_INT(parse_duration("2d", &s), 0);
	T_EQ_INT(s, 172800);
	T_EQ_INT(parse_duration("90", &s), 0);
	T_EQ_INT(s, 90);
	T_EQ_INT(parse_duration("4 h", &s), -1);
	T_EQ_INT(parse_duration("h", &s), -1);
	T_EQ_INT(parse_duration("-1s", &s), -1);
	T_EQ_INT(parse_duration("4hours", &s), -1);
	T_EQ_INT(parse_duration("99999999999999999999s", &s), -1);
}

static void test_strings(void)
{
	T_OK(str_ieq("Message-ID", "message-id"));
	T_OK(!str_ieq("Message-ID", "message-i"));
	T_OK(str_istarts("Re: x", "RE:"));
	T_OK(str_icontains("Undeliverable: Re: order", "UNDELIVERABLE:"));
	T_OK(str_icontains("a Returned Mail", "returned mail"));
	T_OK(!str_icontains("returned mai", "returned mail"));
	T_OK(str_icontains("x", "") && !str_icontains("", "x"));
	char *t = str_trim_dup("  \t hello \n", 11);
	T_EQ_STR(t, "hello");
	free(t);
	struct strvec v = STRVEC_INIT;
	strvec_push(&v, "a");
	strvec_push(&v, "b");
	T_OK(strvec_contains(&v, "b") && !strvec_contains(&v, "c"));
	strvec_free(&v);
}

static void test_diag_format(void)
{
	struct diags d = DIAGS_INIT;
	diag_add(&d, "tend.yaml", 3, 5, "unknown key \"%s\"", "stor");
	diag_add(&d, "tend.yaml", 0, 0, "empty");
	char *a = diag_format(&d.v[0]), *b = diag_format(&d.v[1]);
	T_EQ_STR(a, "tend.yaml:3:5: unknown key \"stor\"");
	T_EQ_STR(b, "tend.yaml: empty");
	free(a);
	free(b);
	diags_free(&d);
}

static void test_sha256(void)
{
	char hex[65];
	sha256_hex("abc", 3, hex);
	T_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* Local time in a named zone, on ordinary days (from the cache) and on the days clocks change. */
static void test_local_time_in(void)
{
	static const struct {
		const char *zone;
		int64_t t;
		int hour, min;
		long off;
	} cases[] = {
	    {"Europe/Berlin", 1796040000, 13, 0, 3600},   /* 2026-11-30 12:00Z */
	    {"Europe/Berlin", 1796040000, 13, 0, 3600},   /* again: from the cache */
	    {"Europe/Berlin", 1774744200, 1, 30, 3600},   /* 2026-03-29 00:30Z, before the change */
	    {"Europe/Berlin", 1774747800, 3, 30, 7200},   /* 01:30Z, after it */
	    {"Europe/Berlin", 1792888200, 2, 30, 7200},   /* 2026-10-25 00:30Z: 02:30 CEST */
	    {"Europe/Berlin", 1792891800, 2, 30, 3600},   /* 01:30Z: 02:30 CET */
	    {"Asia/Kathmandu", 1795996800, 5, 45, 20700}, /* 2026-11-30 00:00Z */
	    {"Australia/Sydney", 1791158400, 11, 0, 39600}, /* 2026-10-05 00:00Z: AEDT */
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct tm tm;
		local_time_in(cases[i].zone, cases[i].t, &tm);
		T_EQ_INT(tm.tm_hour, cases[i].hour);
		T_EQ_INT(tm.tm_min, cases[i].min);
		T_EQ_INT(tm.tm_gmtoff, cases[i].off);
	}
}

static bool same_tm(const struct tm *a, const struct tm *b)
{
	return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
	       a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec &&
	       a->tm_wday == b->tm_wday && a->tm_yday == b->tm_yday;
}

static void check_utc(int64_t u, int *bad)
{
	time_t tt = (time_t)u;
	struct tm want, got;
	gmtime_r(&tt, &want);
	utc_time(u, &got);
	if (!same_tm(&got, &want)) {
		T_FAIL("utc_time(%lld): %04d-%02d-%02d %02d:%02d:%02d wday %d yday %d",
		       (long long)u, got.tm_year + 1900, got.tm_mon + 1, got.tm_mday, got.tm_hour,
		       got.tm_min, got.tm_sec, got.tm_wday, got.tm_yday);
		(*bad)++;
	}
}

/* The arithmetic against gmtime_r from 1600 to 2400 (leap centuries both ways) every 7 h 13 min
 * 17 s, and every second of the two days around 1970-01-01 and 2000-03-01. */
static void test_utc_time(void)
{
	int bad = 0;
	for (int64_t t = -11676096000; t < 13569465600 && bad < 3; t += 25997)
		check_utc(t, &bad);
	static const int64_t around[] = {-86400, 951868800 - 86400};
	for (size_t i = 0; i < NELEM(around); i++)
		for (int64_t u = around[i]; u < around[i] + 2 * 86400 && bad < 3; u++)
			check_utc(u, &bad);
	T_EQ_INT(days_from_civil(2024, 2, 30), days_from_civil(2024, 3, 1));
	T_EQ_INT(days_from_civil(2023, 12, 32), days_from_civil(2024, 1, 1));
	T_EQ_INT(days_from_civil(1970, 1, 1), 0);
}

/* Against the C library itself, second by second around every change and hourly between, in
 * zones with half-hour summer time, a skipped day (Samoa, 2011) and no changes at all; the
 * offset alone (local_offset_in) too. */
static void test_local_time_like_libc(void)
{
	static const char *const zones[] = {"Europe/Berlin",    "Australia/Sydney",
	                                    "America/New_York", "Australia/Lord_Howe",
	                                    "Pacific/Apia",     "Asia/Kathmandu"};
	char *saved = tz_set(zones[0]);
	for (size_t z = 0; z < NELEM(zones); z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		int bad = 0;
		long prev = 0;
		for (time_t t = 1293840000; t < 1356998400 && bad < 3; t += 3593) { /* 2011-2012 */
			struct tm want, got;
			localtime_r(&t, &want);
			bool change = want.tm_gmtoff != prev;
			prev = want.tm_gmtoff;
			for (time_t u = change ? t - 3700 : t; u <= t && bad < 3; u++) {
				localtime_r(&u, &want);
				local_time_in(zones[z], (int64_t)u, &got);
				if (got.tm_gmtoff != want.tm_gmtoff || !same_tm(&got, &want) ||
				    got.tm_isdst != want.tm_isdst ||
				    local_offset_in(zones[z], (int64_t)u) != want.tm_gmtoff) {
					T_FAIL("%s at %lld: got %02d:%02d%+ld, want %02d:%02d%+ld",
					       zones[z], (long long)u, got.tm_hour, got.tm_min,
					       got.tm_gmtoff, want.tm_hour, want.tm_min,
					       want.tm_gmtoff);
					bad++;
				}
			}
		}
	}
	tz_restore(saved);
}

/* Long lists stay lists: order kept, each string once, lookups by hash. */
static void test_strindex(void)
{
	struct strvec sv = STRVEC_INIT;
	struct strindex ix = {0};
	T_OK(!strindex_contains(&ix, &sv, "a"));
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			char *s = xasprintf("person%d@example.org", i);
			T_EQ_INT(strindex_push(&ix, &sv, s), round == 0);
			free(s);
		}
	T_EQ_INT(sv.n, 5000);
	T_EQ_STR(sv.v[4999], "person4999@example.org");
	T_OK(strindex_contains(&ix, &sv, "person0@example.org"));
	T_OK(!strindex_contains(&ix, &sv, "person5000@example.org"));
	struct strindex again = {0};
	strindex_build(&again, &sv);
	T_OK(strindex_contains(&again, &sv, "person2500@example.org"));
	strindex_free(&again);
	strindex_free(&ix);
	strvec_free(&sv);
}

T_MAIN(T_CASE(test_strindex), T_CASE(test_utc_time), T_CASE(test_local_time_in),
       T_CASE(test_local_time_like_libc), T_CASE(test_buf), T_CASE(test_buf_reserve_wraps),
       T_CASE(test_utf8), T_CASE(test_strip_controls), T_CASE(test_term_put), T_CASE(test_duration),
       T_CASE(test_strings), T_CASE(test_diag_format), T_CASE(test_sha256))
