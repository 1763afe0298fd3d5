/*
 * Unit tests for authres: reading Authentication-Results (RFC 8601, with the examples of its
 * appendix B) and deciding whether they vouch for mail from our domain.
 */
#include "t.h"
#include "tend/authres.h"

static void test_parse_rfc8601_examples(void)
{
	struct authres ar;
	/* B.2: nothing was checked */
	T_EQ_INT(authres_parse("example.org 1; none", &ar), 0);
	T_EQ_STR(ar.authserv_id, "example.org");
	T_EQ_INT(ar.n, 0);
	authres_finish(&ar);
	/* B.4, with comments and a version after the method */
	T_EQ_INT(authres_parse(
	             " example.com;\r\n spf = pass (sender is authorised) "
	             "smtp.mailfrom=example.net;\r\n dkim/1=pass header.i=@mail-router.example.net "
	             "(good signature); dkim=fail (bad signature) "
	             "header.i=@newyork.example.com",
	             &ar),
	         0);
	T_EQ_STR(ar.authserv_id, "example.com");
	T_EQ_INT(ar.n, 3);
	if (ar.n == 3) {
		T_EQ_STR(ar.v[0].method, "spf");
		T_EQ_STR(ar.v[0].result, "pass");
		T_EQ_STR(authres_prop(&ar.v[0], "smtp.mailfrom"), "example.net");
		T_EQ_STR(ar.v[1].method, "dkim");
		T_EQ_STR(authres_prop(&ar.v[1], "header.i"), "@mail-router.example.net");
		T_EQ_STR(ar.v[2].result, "fail");
	}
	authres_finish(&ar);
}

static void test_parse_odd_text(void)
{
	struct authres ar;
	/* a quoted authserv-id, a ';' inside a quoted reason and inside a comment, nested
	 * comments, upper case */
	T_EQ_INT(authres_parse("\"mx.shop.example\"; DKIM=Pass reason=\"ok; really\" "
	                       "(a (nested; comment)) Header.D=Shop.Example; dmarc=pass",
	                       &ar),
	         0);
	T_EQ_STR(ar.authserv_id, "mx.shop.example");
	T_EQ_INT(ar.n, 2);
	if (ar.n == 2) {
		T_EQ_STR(ar.v[0].method, "dkim");
		T_EQ_STR(ar.v[0].result, "pass");
		T_EQ_STR(authres_prop(&ar.v[0], "header.d"), "shop.example");
		T_OK(authres_prop(&ar.v[1], "header.from") == NULL);
	}
	authres_finish(&ar);
	/* nothing at all; an unterminated comment or quote */
	T_EQ_INT(authres_parse("   ", &ar), -1);
	authres_finish(&ar);
	T_EQ_INT(authres_parse("mx; dkim=pass (unterminated header.d=shop.example", &ar), 0);
	T_EQ_INT(ar.n, 1);
	if (ar.n == 1)
		T_OK(authres_prop(&ar.v[0], "header.d") == NULL);
	authres_finish(&ar);
	T_EQ_INT(authres_parse("mx; dkim=pass reason=\"unterminated", &ar), 0);
	authres_finish(&ar);
	T_EQ_INT(authres_parse("mx; =pass; dkim; dkim=; x.y", &ar), 0);
	T_EQ_INT(ar.n, 0);
	authres_finish(&ar);
	/* a vertical tab or form feed between properties is read as a word, not looped on */
	T_EQ_INT(authres_parse("mx; dkim=pass \v header.d=shop.example \f x", &ar), 0);
	T_EQ_INT(ar.n, 1);
	if (ar.n == 1)
		T_EQ_STR(authres_prop(&ar.v[0], "header.d"), "shop.example");
	authres_finish(&ar);
}

/* Whether a message with these header lines vouches for shop.example, trusting mx.shop.example. */
static bool vouches(const char *headers)
{
	char *raw = xasprintf("%sFrom: support@shop.example\nMessage-ID: <x@shop.example>\n\nhi\n",
	                      headers);
	struct message *m = NULL;
	char *reason = NULL, *why = NULL;
	struct strvec ids = STRVEC_INIT;
	strvec_push(&ids, "other.example");
	strvec_push(&ids, "MX.shop.example");
	bool yes = false;
	if (message_parse(raw, strlen(raw), NULL, &m, &reason) == 0)
		yes = authres_vouches(m, &ids, "shop.example", &why);
	else
		T_FAIL("parse: %s", reason);
	T_OK(why != NULL);
	free(why);
	free(reason);
	strvec_free(&ids);
	message_free(m);
	free(raw);
	return yes;
}

static void test_vouches(void)
{
	T_OK(vouches("Authentication-Results: mx.shop.example; dkim=pass header.d=shop.example\n"));
	T_OK(
	    vouches("Authentication-Results: mx.shop.example; dkim=pass header.i=@shop.example\n"));
	T_OK(vouches("Authentication-Results: mx.shop.example;\n"
	             "\tdmarc=pass (p=reject) header.from=shop.example\n"));
	/* a signature of the parent domain vouches for mail of a subdomain, not the reverse */
	T_OK(!vouches(
	    "Authentication-Results: mx.shop.example; dkim=pass header.d=mail.shop.example\n"));
	T_OK(!vouches(
	    "Authentication-Results: mx.shop.example; dkim=pass header.d=evilshop.example\n"));
	T_OK(!vouches(
	    "Authentication-Results: mx.shop.example; dmarc=pass header.from=evil.example\n"));
	T_OK(!vouches(
	    "Authentication-Results: mx.shop.example; spf=pass smtp.mailfrom=shop.example\n"));
	T_OK(!vouches(
	    "Authentication-Results: mx.shop.example; dkim=neutral header.d=shop.example\n"));
	T_OK(!vouches("Authentication-Results: evil.example; dkim=pass header.d=shop.example\n"));
	T_OK(!vouches(""));
	/* only the topmost field of a trusted server is read */
	T_OK(
	    !vouches("Authentication-Results: mx.shop.example; dkim=fail header.d=shop.example\n"
	             "Authentication-Results: mx.shop.example; dkim=pass header.d=shop.example\n"));
	T_OK(vouches("Authentication-Results: evil.example; dkim=fail header.d=shop.example\n"
	             "Authentication-Results: mx.shop.example; dkim=pass header.d=shop.example\n"));
}

T_MAIN(T_CASE(test_parse_rfc8601_examples), T_CASE(test_parse_odd_text), T_CASE(test_vouches))
