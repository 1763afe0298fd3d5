/*
 * authres: reading Authentication-Results (RFC 8601, section 2.2):
 *
 *   authres-payload = [CFWS] authserv-id [CFWS authres-version] (no-result / 1*resinfo)
 *   resinfo    = [CFWS] ";" methodspec [CFWS reasonspec] [CFWS 1*propspec]
 *   methodspec = [CFWS] method [CFWS] "=" [CFWS] result
 *   propspec   = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
 *
 * The field is read after its comments are blanked out, one ";"-separated part at a time.
 */
#include "tend/authres.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Skips a quoted string starting at s ('"'); returns the position after it. */
static const char *skip_quoted(const char *s)
{
	for (s++; *s && *s != '"'; s++)
		if (*s == '\\' && s[1])
			s++;
	return *s ? s + 1 : s;
}

/* A copy of value with comments (nested, with quoted-pairs) replaced by spaces. */
static char *blank_comments(const char *value)
{
	char *out = xstrdup(value);
	int depth = 0;
	for (char *p = out; *p; p++) {
		if (depth == 0 && *p == '"') {
			char *end = (char *)skip_quoted(p);
			p = end - 1;
			if (!*end)
				break;
			continue;
		}
		if (*p == '(')
			depth++;
		if (depth > 0) {
			bool close = *p == ')';
			if (*p == '\\' && p[1])
				*p++ = ' ';
			*p = ' ';
			if (close)
				depth--;
		}
	}
	return out;
}

/* White space as the field's grammar has it; a vertical tab or form feed is a word. */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *s)
{
	while (is_ws(*s))
		s++;
	return s;
}

static bool keyword_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* A keyword (letters, digits, '-', '_'), lowercased; NULL when there is none at *s. */
static char *read_keyword(const char **s)
{
	const char *p = *s;
	while (keyword_char(*p))
		p++;
	if (p == *s)
		return NULL;
	char *k = str_lower(xstrndup(*s, (size_t)(p - *s)));
	*s = p;
	return k;
}

/* A value: a quoted string (unquoted) or everything up to white space; never NULL. */
static char *read_value(const char **s)
{
	const char *p = *s;
	if (*p == '"') {
		const char *end = skip_quoted(p);
		struct buf b = BUF_INIT;
		for (const char *q = p + 1; q < end && *q != '"'; q++) {
			if (*q == '\\' && q + 1 < end)
				q++;
			buf_putc(&b, *q);
		}
		*s = end;
		return buf_steal(&b);
	}
	while (*p && !is_ws(*p))
		p++;
	char *v = xstrndup(*s, (size_t)(p - *s));
	*s = p;
	return v;
}

/* "method[/version] = result"; false when the part does not start with one. */
static bool read_methodspec(const char **s, struct authres_result *r)
{
	const char *p = skip_ws(*s);
	char *method = read_keyword(&p);
	if (!method)
		return false;
	p = skip_ws(p);
	if (*p == '/') {
		p = skip_ws(p + 1);
		while (isdigit((unsigned char)*p))
			p++;
		p = skip_ws(p);
	}
	char *result = NULL;
	if (*p == '=') {
		p = skip_ws(p + 1);
		result = read_keyword(&p);
	}
	if (!result) {
		free(method);
		return false;
	}
	r->method = method;
	r->result = result;
	*s = p;
	return true;
}

/* "reason=value" and "ptype.property=value" after the methodspec. */
static void read_props(const char *p, struct authres_result *r)
{
	for (p = skip_ws(p); *p; p = skip_ws(p)) {
		char *ptype = read_keyword(&p);
		char *prop = NULL;
		p = skip_ws(p);
		if (ptype && *p == '.') {
			p = skip_ws(p + 1);
			prop = read_keyword(&p);
			p = skip_ws(p);
		}
		if (ptype && (prop || strcmp(ptype, "reason") == 0) && *p == '=') {
			p = skip_ws(p + 1);
			char *v = str_lower(read_value(&p));
			if (prop)
				strvec_push_owned(&r->props, xasprintf("%s.%s=%s", ptype, prop, v));
			free(v);
		} else {
			while (*p && !is_ws(*p)) /* not a property: skip the word */
				p++;
		}
		free(ptype);
		free(prop);
	}
}

/* Splits at ';' outside quoted strings; the parts point into s, which is cut. */
static void split_parts(char *s, struct strvec *parts)
{
	char *start = s;
	for (char *p = s;; p++) {
		if (*p == '"') {
			p = (char *)skip_quoted(p) - 1;
			if (!p[1])
				p++;
		}
		if (*p == ';' || *p == '\0') {
			bool end = *p == '\0';
			*p = '\0';
			strvec_push(parts, start);
			if (end)
				break;
			start = p + 1;
		}
	}
}

int authres_parse(const char *value, struct authres *out)
{
	memset(out, 0, sizeof(*out));
	char *text = blank_comments(value ? value : "");
	struct strvec parts = STRVEC_INIT;
	split_parts(text, &parts);
	const char *p = skip_ws(parts.v[0]);
	int rc = -1;
	if (*p != '\0') {
		out->authserv_id = read_value(&p);
		rc = 0;
	}
	out->v = xcalloc(parts.n, sizeof(*out->v));
	for (size_t i = 1; rc == 0 && i < parts.n; i++) {
		struct authres_result *r = &out->v[out->n];
		const char *q = parts.v[i];
		if (!read_methodspec(&q, r))
			continue;
		read_props(q, r);
		out->n++;
	}
	strvec_free(&parts);
	free(text);
	return rc;
}

void authres_finish(struct authres *ar)
{
	for (size_t i = 0; i < ar->n; i++) {
		free(ar->v[i].method);
		free(ar->v[i].result);
		strvec_free(&ar->v[i].props);
	}
	free(ar->v);
	free(ar->authserv_id);
	memset(ar, 0, sizeof(*ar));
}

const char *authres_prop(const struct authres_result *r, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < r->props.n; i++)
		if (strncmp(r->props.v[i], name, n) == 0 && r->props.v[i][n] == '=')
			return r->props.v[i] + n + 1;
	return NULL;
}

/* domain is d, or below it ("mail.shop.example" under "shop.example"). */
static bool within(const char *domain, const char *d)
{
	size_t n = strlen(domain), k = strlen(d);
	if (k == 0 || k > n)
		return false;
	return str_ieq(domain + n - k, d) && (k == n || domain[n - k - 1] == '.');
}

/* The signing domain of a DKIM result: header.d, else the domain of header.i. */
static const char *dkim_domain(const struct authres_result *r)
{
	const char *d = authres_prop(r, "header.d");
	if (d)
		return d;
	const char *i = authres_prop(r, "header.i");
	const char *at = i ? strrchr(i, '@') : NULL;
	return at ? at + 1 : i;
}

/* The result that vouches for domain, or NULL. */
static const struct authres_result *passing(const struct authres *ar, const char *domain)
{
	for (size_t i = 0; i < ar->n; i++) {
		const struct authres_result *r = &ar->v[i];
		if (strcmp(r->result, "pass") != 0)
			continue;
		if (strcmp(r->method, "dkim") == 0 && dkim_domain(r) &&
		    within(domain, dkim_domain(r)))
			return r;
		const char *from = authres_prop(r, "header.from");
		if (strcmp(r->method, "dmarc") == 0 && from && str_ieq(from, domain))
			return r;
	}
	return NULL;
}

static bool trusted(const struct strvec *ids, const char *id)
{
	for (size_t i = 0; id && i < ids->n; i++)
		if (str_ieq(ids->v[i], id))
			return true;
	return false;
}

static bool verdict(const struct authres *ar, const char *domain, char **why)
{
	const struct authres_result *r = passing(ar, domain);
	if (why && r)
		*why = xasprintf("%s=pass for %s in the Authentication-Results of %s", r->method,
		                 domain, ar->authserv_id);
	else if (why)
		*why =
		    xasprintf("the Authentication-Results of %s show no DKIM or DMARC pass for %s",
		              ar->authserv_id, domain);
	return r != NULL;
}

bool authres_vouches(const struct message *m, const struct strvec *ids, const char *domain,
                     char **why)
{
	if (why)
		*why = NULL;
	for (size_t i = 0; ids->n > 0 && domain && *domain && i < m->nheaders; i++) {
		if (!str_ieq(m->headers[i].name, "Authentication-Results"))
			continue;
		struct authres ar;
		if (authres_parse(m->headers[i].value, &ar) == 0 && trusted(ids, ar.authserv_id)) {
			bool yes = verdict(&ar, domain, why);
			authres_finish(&ar);
			return yes;
		}
		authres_finish(&ar);
	}
	if (why && ids->n > 0)
		*why = xstrdup("no Authentication-Results from a trusted server");
	return false;
}
