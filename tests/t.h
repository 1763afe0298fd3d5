/*
 * t.h: the unit-test harness. Each test is a function; a failed check prints the file, line
 * and both values and marks the test failed; main prints TAP, one line per test.
 */
#ifndef TEND_T_H
#define TEND_T_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

/*
 * A private temporary directory for a test, $TMPDIR/NAME.XXXXXX (else under /tmp), made with
 * mkdtemp into buf; exits 99 (a hard error for the harness) when it cannot be made.
 */
static inline char *t_mkdtemp(char *buf, size_t n, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, n, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(buf) == NULL) {
		perror(buf);
		exit(99);
	}
	return buf;
}

static inline int t_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Removes a directory tree made for a test. */
static inline void t_rmtree(const char *dir)
{
	nftw(dir, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int t_failed_checks;

/* Why the running case was skipped (t_skip), or empty. */
static char t_skip_why[512];

/*
 * Skips the running case, which returns right after: its TAP line says "ok N - name # SKIP"
 * and why, and meson and contrib/check count it as skipped, not passed.
 */
__attribute__((format(printf, 1, 2))) static inline void t_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t_skip_why, sizeof(t_skip_why), fmt, ap);
	va_end(ap);
}

#ifdef CORPORA
/* Where a test looked for the corpora, and how to point it elsewhere. */
#define T_NO_CORPORA                                                                               \
	"corpora not found at " CORPORA " (meson setup -Dcorpora=DIR to point elsewhere)"

/* Whether the shared corpora (meson's -Dcorpora) are there. */
static inline bool t_corpora_found(void)
{
	struct stat st;
	return stat(CORPORA, &st) == 0 && S_ISDIR(st.st_mode);
}

/* For a case that reads the corpora: false, and the case skipped, when they are not there. */
static inline bool t_corpora(void)
{
	if (t_corpora_found())
		return true;
	t_skip("%s", T_NO_CORPORA);
	return false;
}
#endif

#define T_FAIL(...)                                                                                \
	do {                                                                                       \
		fprintf(stderr, "# %s:%d: ", __FILE__, __LINE__);                                  \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		t_failed_checks++;                                                                 \
	} while (0)

#define T_OK(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond))                                                                       \
			T_FAIL("expected: %s", #cond);                                             \
	} while (0)

#define T_EQ_INT(a, b)                                                                             \
	do {                                                                                       \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                            \
		if (t_a_ != t_b_)                                                                  \
			T_FAIL("%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);                      \
	} while (0)

#define T_EQ_STR(a, b)                                                                             \
	do {                                                                                       \
		const char *t_a_ = (a), *t_b_ = (b);                                               \
		if (t_a_ == NULL || t_b_ == NULL ? t_a_ != t_b_ : strcmp(t_a_, t_b_) != 0)         \
			T_FAIL("%s == %s:\n#   got      \"%s\"\n#   expected \"%s\"", #a, #b,      \
			       t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                    \
	} while (0)

#define T_CONTAINS(hay, needle)                                                                    \
	do {                                                                                       \
		const char *t_h_ = (hay), *t_n_ = (needle);                                        \
		if (t_h_ == NULL || strstr(t_h_, t_n_) == NULL)                                    \
			T_FAIL("%s does not contain \"%s\":\n#   \"%s\"", #hay, t_n_,              \
			       t_h_ ? t_h_ : "(null)");                                            \
	} while (0)

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_CASE(fn)                                                                                 \
	{                                                                                          \
#fn, fn                                                                            \
	}

/* Runs the cases (or only those named on the command line) and prints TAP. */
static inline int t_run(const struct t_case *cases, size_t n, int argc, char **argv)
{
	int failed = 0;
	size_t ran = 0;
	for (size_t i = 0; i < n; i++) {
		int want = argc <= 1;
		for (int a = 1; a < argc; a++)
			if (strcmp(argv[a], cases[i].name) == 0)
				want = 1;
		ran += (size_t)want;
	}
	printf("1..%zu\n", ran);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int want = argc <= 1;
		for (int a = 1; a < argc; a++)
			if (strcmp(argv[a], cases[i].name) == 0)
				want = 1;
		if (!want)
			continue;
		int before = t_failed_checks;
		t_skip_why[0] = '\0';
		cases[i].fn();
		int ok = t_failed_checks == before;
		if (ok && t_skip_why[0])
			printf("ok %zu - %s # SKIP %s\n", ++k, cases[i].name, t_skip_why);
		else
			printf("%s %zu - %s\n", ok ? "ok" : "not ok", ++k, cases[i].name);
		fflush(stdout);
		failed += !ok;
	}
	return failed ? 1 : 0;
}

#define T_MAIN(...)                                                                                \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct t_case t_cases_[] = {__VA_ARGS__};                             \
		return t_run(t_cases_, sizeof(t_cases_) / sizeof(t_cases_[0]), argc, argv);        \
	}

#ifdef CORPORA
/*
 * T_MAIN for a test program whose every case reads the corpora: without them it skips as a
 * whole, in one line that says where it looked.
 */
#define T_MAIN_CORPORA(...)                                                                        \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct t_case t_cases_[] = {__VA_ARGS__};                             \
		if (!t_corpora_found()) {                                                          \
			printf("1..0 # SKIP %s\n", T_NO_CORPORA);                                  \
			return 0;                                                                  \
		}                                                                                  \
		return t_run(t_cases_, sizeof(t_cases_) / sizeof(t_cases_[0]), argc, argv);        \
	}
#endif

#endif
