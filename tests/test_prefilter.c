/*
 * The rules' prefilter: which literals a pattern cannot match without, and, above all, that
 * it never says "cannot match" where PCRE2 finds a match: every pattern of the sample rules and
 * a set of awkward ones, against every message of the shared corpora and texts made to catch
 * case folding out.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ftw.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tend/prefilter.h"
#include "tend/util.h"

static char *literals(const char *pattern)
{
	struct strvec v = {0};
	if (!prefilter_literals(pattern, &v))
		return xstrdup("(none)");
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < v.n; i++)
		buf_printf(&b, "%s[%s]", i ? " " : "", v.v[i]);
	strvec_free(&v);
	return buf_steal(&b);
}

#define T_LITS(pattern, want)                                                                      \
	do {                                                                                       \
		char *t_l_ = literals(pattern);                                                    \
		T_EQ_STR(t_l_, want);                                                              \
		free(t_l_);                                                                        \
	} while (0)

static void test_literals(void)
{
	T_LITS("(?i)\\b(damaged?|broken|crack(s|ed)?)\\b", "[damage] [broken] [crack]");
	T_LITS("(?i)(\\brefund|r(ü|ue)ckerstattung)", "[refund] [ckerstattung]");
	T_LITS("(?i)\\b(?:order|bestellung)\\s*(?:no\\.?|nr\\.?)?\\s*#?\\s*(?<order>\\d{4,})",
	       "[order] [bestellung]");
	T_LITS("^(bulk|list|junk)$", "[bulk] [list] [junk]");
	T_LITS("(?i)^(mailer-daemon|no-?reply)@", "[mailer-daemon@] [no-reply@] [noreply@]");
	T_LITS("Voucher (?'code'\\w+)", "[voucher ]");
	T_LITS("(?<=order )\\d+ (?:is|was) late", "[ is late] [ was late]");
	T_LITS("(?i:Refund)|(?-i)money back", "[refund] [money back]");
	T_LITS("delivery(?# a comment )\\.", "[delivery.]");
	T_LITS("x{2}yz+ab[c]abc", "[abc]");
	T_LITS("(?:gift )+card", "[gift ]");
	T_LITS("ab(c|d)*ef", "(none)");   /* "ab" and "ef": too short to help */
	T_LITS("refund|.", "(none)");     /* any character will do */
	T_LITS("(refund)?", "(none)");    /* the empty string will do */
	T_LITS("(re)fund\\1", "(none)");  /* backreferences: not read */
	T_LITS("\\Qrefund\\E", "(none)"); /* quoting: not read */
	T_LITS("(?x) r e f u n d", "(none)");
	T_LITS("refund{,3}", "(none)"); /* a brace PCRE2 10.42 takes literally */
	T_LITS("(?|(refund)|(money))x", "[refundx] [moneyx]");
	T_LITS("(*UTF)refund", "(none)");
}

/* Patterns from config/rules.yaml, and some that stress the reader. */
static const char *const patterns[] = {
    "(?i)\\b(damaged?|broken|crack(s|ed)?|split|scratch(ed|es)?|dent(s|ed)?|faulty|defect(ive)?|"
    "besch(ä|ae)digt|kaputt)\\b",
    "(?i)\\b(return (it|this|them|the \\w+)|send (it|this|them) back|return label|arrange a "
    "pick-?up|zur(ü|ue)ckschicken)\\b",
    "(?i)\\b(please cancel|cancel (my|the|this|that|it|order)|(want|like|need) to "
    "cancel|cancellation|storn(o|ieren|ierung))\\b",
    "(?i)(\\b(my|the|a full) refund\\b|\\bwhere is my money\\b|r(ü|ue)ckerstattung)",
    "(?i)\\b(still (have |had )?no (answer|reply|response)|haven('|’)?t heard (back|from "
    "you)|no one (has )?(replied|answered|got back)|still waiting for (a|an|your) "
    "(answer|reply|response))\\b",
    "(?i)\\b(change|amend|modify|alter)\\w*\\b.{0,30}\\border\\b|\\border\\b.{0,30}\\b(change|"
    "amend)",
    "(?i)\\b(?:order|bestellung)\\s*(?:no\\.?|number|nr\\.?)?\\s*#?\\s*(?<order>\\d{4,})",
    "(?i)\\b(voucher|coupon|discount code|promo code|gutschein)",
    "(?i)\\b(remove|add|swap|change)\\b.{0,60}\\b(from|to|in|on) (my|the|this|our) order\\b",
    "(?i)^(mailer-daemon|postmaster|no-?reply)@",
    "(?i)patch(es)?\\b",
    "(?i)\\bthanks?\\b",
    "(?i)\\bR CMD check",
    "(?i)(?<=\\s)cran\\b",
    "(?i)mai(l|n)(er|tainer)s?",
    "(?i)unsubscribe|list(info|serv)",
    "(?i)the (bug|issue|problem)s? (is|are|was)",
    "(?-i)Kelvin|(?i)kilo",
    "(?i)stra(ss|ß)e",
};

struct differ {
	pcre2_code *code[sizeof(patterns) / sizeof(patterns[0])];
	int id[sizeof(patterns) / sizeof(patterns[0])];
	struct prefilter *pf;
	pcre2_match_data *md;
	size_t texts, matched, skipped;
};

static struct differ D;

/* Every pattern on one text: a match that the filter ruled out fails the test. */
static void differ_text(const char *raw, size_t len)
{
	struct buf b = BUF_INIT;
	utf8_sanitize(&b, raw, len);
	struct prefilter_scan sc;
	prefilter_scan(D.pf, b.data ? b.data : "", b.len, &sc);
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		int rc = pcre2_match(D.code[p], (PCRE2_SPTR)(b.data ? b.data : ""), b.len, 0, 0,
		                     D.md, NULL);
		bool may = prefilter_may_match(D.pf, D.id[p], &sc);
		if (rc >= 0 && !may) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(D.md);
			T_FAIL("pattern %zu matches \"%.*s\" but the filter ruled it out", p,
			       (int)(ov[1] - ov[0]), b.data + ov[0]);
		}
		D.matched += rc >= 0;
		D.skipped += !may;
	}
	D.texts++;
	prefilter_scan_free(&sc);
	buf_free(&b);
}

static int differ_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_F || strstr(path, "/bench/") || st->st_size > 256 * 1024)
		return 0;
	char *data = NULL;
	size_t len;
	if (read_file(path, &data, &len) == 0)
		differ_text(data, len > 16384 ? 16384 : len);
	free(data);
	return 0;
}

static void differ_setup(void)
{
	D.pf = prefilter_new();
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		int err;
		PCRE2_SIZE off;
		D.code[p] = pcre2_compile((PCRE2_SPTR)patterns[p], PCRE2_ZERO_TERMINATED,
		                          PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
		if (D.code[p] == NULL)
			T_FAIL("pattern %zu does not compile (at %zu)", p, (size_t)off);
		D.id[p] = prefilter_add(D.pf, patterns[p]);
	}
	prefilter_build(D.pf);
	D.md = pcre2_match_data_create(16, NULL);
}

static void differ_finish(void)
{
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++)
		pcre2_code_free(D.code[p]);
	pcre2_match_data_free(D.md);
	prefilter_free(D.pf);
}

/* Case folding: the upper case, and the characters PCRE2 matches caselessly to k, s, i. */
static void test_folding(void)
{
	static const char *const texts[] = {
	    "It arrived BROKEN.",
	    "It arrived bro\xe2\x84\xaa"
	    "en.", /* Kelvin sign */
	    "I want to cancel the order",
	    "ſtornierung bitte",
	    "STORNO",
	    "my Rückerstattung",
	    "Mai\xc4\xb0ntainers",
	    "KILO",
	    "Stra\xc3\x9f"
	    "e",
	    "order   no. 12345",
	    "Bestellung nr.4711",
	    "MAILER-DAEMON@example.org",
	    "I haven’t heard back",
	    "I haven't heard back",
	    "thanks!",
	    "",
	};
	differ_setup();
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		differ_text(texts[i], strlen(texts[i]));
	T_OK(D.matched >= 12);
	differ_finish();
}

static void test_corpora(void)
{
	if (!t_corpora())
		return;
	memset(&D, 0, sizeof(D));
	differ_setup();
	T_EQ_INT(nftw(CORPORA, differ_file, 16, FTW_PHYS), 0);
	printf("# %zu texts, %zu matches; the filter ruled out %zu of %zu pattern runs\n", D.texts,
	       D.matched, D.skipped, D.texts * (sizeof(patterns) / sizeof(patterns[0])));
	T_OK(D.texts > 500);
	T_OK(D.matched > 100);
	T_OK(D.skipped > D.texts * 5); /* it must earn its keep */
	differ_finish();
}

T_MAIN(T_CASE(test_literals), T_CASE(test_folding), T_CASE(test_corpora))
