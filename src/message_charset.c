/*
 * message_charset: text in any charset glibc's iconv knows, to UTF-8.
 *
 * The common cases (ASCII, UTF-8, Latin-1/windows-1252 and unlabelled text) never reach
 * iconv: they are converted here, which keeps a typical message free of iconv_open calls.
 * Mislabels follow what mail readers do: ISO-8859-1 and US-ASCII are read as windows-1252
 * (its superset in practice), bytes that are not valid UTF-8 in "UTF-8" text are read as
 * windows-1252 one by one, and a few names that iconv does not know map to the charset the
 * sender meant (ks_c_5601-1987 is CP949, gb2312 is GB18030 in practice, and so on).
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include "message_int.h"

enum cs_kind {
	CS_GUESS, /* unlabelled or unknown: UTF-8 where valid, else windows-1252 */
	CS_UTF8,  /* same reading, but a warning when bytes are invalid */
	CS_1252,  /* ISO-8859-1, windows-1252 and their aliases */
	CS_ICONV,
};

struct cs_alias {
	const char *name;
	enum cs_kind kind;
	const char *iconv_name;
};

static const struct cs_alias cs_aliases[] = {
    {"", CS_GUESS, NULL},
    {"us-ascii", CS_GUESS, NULL},
    {"ascii", CS_GUESS, NULL},
    {"us", CS_GUESS, NULL},
    {"ansi_x3.4-1968", CS_GUESS, NULL},
    {"iso646-us", CS_GUESS, NULL},
    {"csascii", CS_GUESS, NULL},
    {"x-unknown", CS_GUESS, NULL},
    {"unknown", CS_GUESS, NULL},
    {"unknown-8bit", CS_GUESS, NULL},
    {"x-user-defined", CS_GUESS, NULL},
    {"default", CS_GUESS, NULL},
    {"charset", CS_GUESS, NULL},
    {"none", CS_GUESS, NULL},
    {"7bit", CS_GUESS, NULL},
    {"8bit", CS_GUESS, NULL},
    {"utf-8", CS_UTF8, NULL},
    {"utf8", CS_UTF8, NULL},
    {"x-utf-8", CS_UTF8, NULL},
    {"unicode-1-1-utf-8", CS_UTF8, NULL},
    {"iso-8859-1", CS_1252, NULL},
    {"iso8859-1", CS_1252, NULL},
    {"iso_8859-1", CS_1252, NULL},
    {"iso-8859-1:1987", CS_1252, NULL},
    {"latin1", CS_1252, NULL},
    {"latin-1", CS_1252, NULL},
    {"l1", CS_1252, NULL},
    {"cp819", CS_1252, NULL},
    {"iso-ir-100", CS_1252, NULL},
    {"windows-1252", CS_1252, NULL},
    {"cp1252", CS_1252, NULL},
    {"x-cp1252", CS_1252, NULL},
    {"cp-1252", CS_1252, NULL},
    {"unicode-1-1-utf-7", CS_ICONV, "UTF-7"},
    {"x-unicode-2-0-utf-7", CS_ICONV, "UTF-7"},
    {"utf7", CS_ICONV, "UTF-7"},
    {"ks_c_5601-1987", CS_ICONV, "UHC"},
    {"ks_c_5601-1989", CS_ICONV, "UHC"},
    {"ks_c_5601", CS_ICONV, "UHC"},
    {"ksc5601", CS_ICONV, "UHC"},
    {"ksc_5601", CS_ICONV, "UHC"},
    {"euc-kr", CS_ICONV, "UHC"},
    {"windows-949", CS_ICONV, "UHC"},
    {"gb2312", CS_ICONV, "GB18030"},
    {"gb_2312-80", CS_ICONV, "GB18030"},
    {"csgb2312", CS_ICONV, "GB18030"},
    {"gbk", CS_ICONV, "GB18030"},
    {"euc-cn", CS_ICONV, "GB18030"},
    {"cp936", CS_ICONV, "GB18030"},
    {"windows-936", CS_ICONV, "GB18030"},
    {"big5", CS_ICONV, "BIG5-HKSCS"},
    {"big-5", CS_ICONV, "BIG5-HKSCS"},
    {"cn-big5", CS_ICONV, "BIG5-HKSCS"},
    {"shift_jis", CS_ICONV, "CP932"},
    {"shift-jis", CS_ICONV, "CP932"},
    {"sjis", CS_ICONV, "CP932"},
    {"ms_kanji", CS_ICONV, "CP932"},
    {"windows-31j", CS_ICONV, "CP932"},
    {"csshiftjis", CS_ICONV, "CP932"},
    {"iso-2022-jp", CS_ICONV, "ISO-2022-JP-2"},
    {"csiso2022jp", CS_ICONV, "ISO-2022-JP-2"},
    {"iso-8859-8-i", CS_ICONV, "ISO-8859-8"},
    {"iso-8859-8-e", CS_ICONV, "ISO-8859-8"},
    {"iso-8859-6-i", CS_ICONV, "ISO-8859-6"},
    {"iso-8859-6-e", CS_ICONV, "ISO-8859-6"},
    {"windows-874", CS_ICONV, "CP874"},
    {"tis-620", CS_ICONV, "CP874"},
    {"iso-8859-11", CS_ICONV, "CP874"},
    {"mac", CS_ICONV, "MACINTOSH"},
    {"mac-roman", CS_ICONV, "MACINTOSH"},
    {"macroman", CS_ICONV, "MACINTOSH"},
    {"x-mac-roman", CS_ICONV, "MACINTOSH"},
};

/* windows-1252 0x80..0x9f; 0 where the code page leaves a hole. */
static const unsigned short cp1252_c1[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

static void put_utf8(struct buf *out, unsigned cp)
{
	char u[3];
	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, u, 2);
	} else {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, u, 3);
	}
}

static void put_cp1252(struct buf *out, unsigned char c)
{
	if (c >= 0x80 && c < 0xa0)
		put_utf8(out, cp1252_c1[c - 0x80] ? cp1252_c1[c - 0x80] : 0xfffd);
	else
		put_utf8(out, c);
}

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t k;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

/* Like message_cs_guess; returns how many bytes were not valid UTF-8. */
static size_t guess(struct buf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, bad = 0;
	buf_reserve(out, n);
	out->data[out->len] = '\0';
	while (i < n) {
		size_t j = i + ascii_prefix(s + i, n - i);
		buf_append(out, s + i, j - i);
		if (j >= n)
			break;
		size_t k = utf8_seq(u + j, n - j);
		if (k) {
			buf_append(out, s + j, k);
			i = j + k;
		} else {
			put_cp1252(out, u[j]);
			bad++;
			i = j + 1;
		}
	}
	return bad;
}

void message_cs_guess(struct buf *out, const char *s, size_t n)
{
	guess(out, s, n);
}

static void latin1(struct buf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	buf_reserve(out, n);
	out->data[out->len] = '\0';
	while (i < n) {
		size_t j = i + ascii_prefix(s + i, n - i);
		buf_append(out, s + i, j - i);
		if (j < n)
			put_cp1252(out, u[j++]);
		i = j;
	}
}

/* Lowercase charset name without quotes, spaces or an RFC 2231 language ("utf-8*en"). */
static void cs_clean(const char *charset, char *name, size_t size)
{
	size_t k = 0;
	for (const char *p = charset ? charset : ""; *p && *p != '*' && k + 1 < size; p++) {
		char c = *p;
		if (c == '"' || c == '\'' || c == ' ' || c == '\t')
			continue;
		name[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	name[k] = '\0';
}

static const struct cs_alias *cs_lookup(const char *name)
{
	for (size_t i = 0; i < NELEM(cs_aliases); i++)
		if (strcmp(cs_aliases[i].name, name) == 0)
			return &cs_aliases[i];
	return NULL;
}

/* Charsets in which plain ASCII bytes are not simply ASCII text. */
static bool ascii_incompatible(const char *name)
{
	static const char *const prefixes[] = {"utf-7",   "utf7",  "utf-16",   "utf16",   "utf-32",
	                                       "utf32",   "ucs",   "iso-2022", "iso2022", "hz",
	                                       "unicode", "UTF-7", "UCS",      "ISO-2022"};
	for (size_t i = 0; i < NELEM(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static bool all_ascii(const char *s, size_t n)
{
	return ascii_prefix(s, n) == n && memchr(s, 0x1b, n) == NULL;
}

static void iconv_run(iconv_t cd, struct buf *out, const char *s, size_t n, size_t *bad)
{
	char *in = (char *)s;
	size_t inleft = n;
	buf_reserve(out, n + n / 2 + 16);
	while (inleft > 0) {
		char *o = out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		out->len = (size_t)(o - out->data);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG) {
			buf_reserve(out, inleft * 2 + 16);
			continue;
		}
		buf_append(out, "\xef\xbf\xbd", 3);
		(*bad)++;
		if (errno != EILSEQ)
			break; /* EINVAL: a truncated sequence at the end */
		in++;
		inleft--;
	}
	buf_reserve(out, 16);
	char *o = out->data + out->len;
	size_t oleft = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, &o, &oleft);
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

/* Converts with iconv; false when iconv knows neither name nor its "x-"less form. */
static bool via_iconv(struct buf *out, const char *name, const char *s, size_t n, size_t *bad)
{
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1 && strncmp(name, "x-", 2) == 0)
		cd = iconv_open("UTF-8", name + 2);
	if (cd == (iconv_t)-1)
		return false;
	size_t start = out->len;
	iconv_run(cd, out, s, n, bad);
	iconv_close(cd);
	if (!utf8_valid(out->data + start, out->len - start)) {
		char *copy = xstrndup(out->data + start, out->len - start);
		size_t len = out->len - start;
		out->len = start;
		utf8_sanitize(out, copy, len);
		free(copy);
	}
	return true;
}

bool message_cs_to_utf8(struct buf *out, const char *charset, const char *s, size_t n,
                        struct strvec *warnings)
{
	char name[64];
	cs_clean(charset, name, sizeof(name));
	const struct cs_alias *a = cs_lookup(name);
	enum cs_kind kind = a ? a->kind : CS_ICONV;
	const char *iname = a && a->iconv_name ? a->iconv_name : name;
	size_t bad = 0;
	bool known = true;

	if (kind == CS_ICONV && !ascii_incompatible(iname) && all_ascii(s, n))
		kind = CS_GUESS;
	if (kind == CS_ICONV && !via_iconv(out, iname, s, n, &bad)) {
		known = false;
		kind = CS_GUESS;
		if (warnings)
			strvec_push_owned(warnings, xasprintf("unknown charset \"%s\": read as "
			                                      "UTF-8 or windows-1252",
			                                      name));
	}
	if (kind == CS_1252)
		latin1(out, s, n);
	else if (kind == CS_GUESS || kind == CS_UTF8)
		bad = guess(out, s, n);
	if (bad && warnings && (kind != CS_GUESS || name[0]))
		strvec_push_owned(warnings,
		                  xasprintf("%zu bytes not valid in charset \"%s\"", bad, name));
	return known;
}
