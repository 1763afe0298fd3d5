/*
 * fuzz: the rules' prefilter against PCRE2 itself. The input's first line is a pattern, the
 * rest a text; whenever PCRE2 finds a match, the prefilter must not have ruled the text out.
 * (Patterns PCRE2 refuses are skipped; the reader must not crash on them either.)
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tend/prefilter.h"
#include "tend/util.h"

static bool pcre_matches(const char *pattern, size_t plen, const char *text, size_t len)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *code =
	    pcre2_compile((PCRE2_SPTR)pattern, plen,
	                  PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
	if (code == NULL)
		return false;
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mc, 100000);
	pcre2_set_depth_limit(mc, 10000);
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
	int rc = pcre2_match(code, (PCRE2_SPTR)text, len, 0, 0, md, mc);
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	pcre2_code_free(code);
	return rc >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	if (nl == NULL)
		return 0;
	char *pattern = xstrndup((const char *)data, (size_t)(nl - (const char *)data));
	struct buf text = BUF_INIT;
	utf8_sanitize(&text, nl + 1, size - (size_t)(nl + 1 - (const char *)data));
	buf_putc(&text, '\0');
	text.len--;
	struct prefilter *pf = prefilter_new();
	int id = prefilter_add(pf, pattern);
	prefilter_build(pf);
	struct prefilter_scan sc;
	prefilter_scan(pf, text.data, text.len, &sc);
	if (!prefilter_may_match(pf, id, &sc) &&
	    pcre_matches(pattern, strlen(pattern), text.data, text.len))
		abort(); /* the filter ruled out a text the pattern matches */
	prefilter_scan_free(&sc);
	prefilter_free(pf);
	buf_free(&text);
	free(pattern);
	return 0;
}
