/*
 * smtp: one message through libcurl's SMTP client.
 *
 * libcurl does the protocol, TLS (GnuTLS, verifying chain and host name) and AUTH; this file
 * chooses the options, hands the message over, listens to the server's replies through the
 * debug callback (curl's error text says "RCPT failed: 550", the server says why), and sorts
 * the end of the attempt into the outcomes of smtp.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tend/smtp.h"
#include "tend/util.h"

/* The longest server reply kept. */
#define REPLY_MAX 1000

struct attempt {
	const char *data;
	size_t len, pos;
	smtp_data_done_fn done;
	void *arg;
	bool data_done;   /* the last byte went out: the server may accept at any moment */
	bool aborted;     /* the caller stopped the transfer before the end of the data */
	bool answered;    /* a complete reply arrived after data_done */
	struct buf reply; /* the latest reply, its lines joined */
	struct buf
	    refusal; /* the latest 4xx or 5xx reply: what went wrong, in the server's words */
	bool reply_complete; /* the latest reply has had its last line */
	struct buf partial;  /* an incoming line not yet ended */
};

void smtp_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("cannot initialise libcurl");
}

void smtp_global_cleanup(void)
{
	curl_global_cleanup();
}

static size_t read_message(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t n = size * nmemb;
	if (n > a->len - a->pos)
		n = a->len - a->pos;
	/*
	 * With the size known, curl may never ask again once it has it all: the message counts as
	 * handed over as soon as its last bytes are, a little before the end-of-data mark goes out.
	 */
	if (a->pos + n == a->len && !a->data_done) {
		if (a->done && a->done(a->arg) != 0) {
			a->aborted = true;
			return CURL_READFUNC_ABORT;
		}
		a->data_done = true;
	}
	memcpy(ptr, a->data + a->pos, n);
	a->pos += n;
	return n;
}

/* One line of a reply ("250-text" or "250 text"), kept printable. */
static void reply_line(struct attempt *a, const char *line, size_t n)
{
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	if (a->reply_complete) {
		buf_reset(&a->reply);
		a->reply_complete = false;
	}
	bool last = n < 4 || line[3] != '-';
	size_t from = 0;
	if (a->reply.len > 0) {
		buf_putc(&a->reply, ' ');
		from = n >= 4 ? 4 : n; /* the code once is enough */
	}
	for (size_t i = from; i < n && a->reply.len < REPLY_MAX; i++) {
		unsigned char c = (unsigned char)line[i];
		buf_putc(&a->reply, c >= 0x20 && c != 0x7f ? (char)c : '?');
	}
	if (last) {
		a->reply_complete = true;
		a->answered = a->data_done;
		if (a->reply.data[0] == '4' || a->reply.data[0] == '5') {
			buf_reset(&a->refusal);
			buf_puts(&a->refusal, a->reply.data);
		}
	}
}

static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)h;
	struct attempt *a = arg;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	for (size_t i = 0; i < size; i++) {
		buf_putc(&a->partial, data[i]);
		if (data[i] == '\n') {
			reply_line(a, a->partial.data, a->partial.len);
			buf_reset(&a->partial);
		}
	}
	return 0;
}

/* Whether libcurl found this part of the URL (an empty one counts). */
static bool has_part(CURLU *u, CURLUPart what)
{
	char *v = NULL;
	CURLUcode rc = curl_url_get(u, what, &v, 0);
	curl_free(v);
	return rc == CURLUE_OK;
}

/* The part libcurl found, as a string the caller frees; NULL when there is none. */
static char *get_part(CURLU *u, CURLUPart what)
{
	char *v = NULL;
	if (curl_url_get(u, what, &v, 0) != CURLUE_OK)
		return NULL;
	char *copy = xstrdup(v);
	curl_free(v);
	return copy;
}

/* What tend refuses in a URL that libcurl read; NULL when nothing. */
static char *url_problem(CURLU *u, const char *url, const char *host)
{
	char *scheme = get_part(u, CURLUPART_SCHEME);
	bool smtp = scheme && (strcmp(scheme, "smtp") == 0 || strcmp(scheme, "smtps") == 0);
	free(scheme);
	if (!smtp)
		return xstrdup("is not an smtp:// or smtps:// URL");
	if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
	    has_part(u, CURLUPART_OPTIONS))
		return xstrdup("has user info (before \"@\"), which tend does not take there: the "
		               "user goes in \"user\", the password in password_file or "
		               "password_command");
	/* An empty query or fragment leaves no part behind, but still says something else. */
	if (has_part(u, CURLUPART_QUERY) || strchr(url, '?'))
		return xasprintf(
		    "has a query (from \"?\" on), which SMTP URLs do not take; libcurl "
		    "reads the host as %s",
		    host);
	if (has_part(u, CURLUPART_FRAGMENT) || strchr(url, '#'))
		return xstrdup("has a fragment (from \"#\" on), which SMTP URLs do not take");
	char *port = get_part(u, CURLUPART_PORT);
	bool zero = port && strtol(port, NULL, 10) == 0;
	free(port);
	return zero ? xstrdup("has port 0") : NULL;
}

/* The URL as libcurl reads it, and its host without brackets; NULL with *err set when tend
 * will not send through it. */
static CURLU *parse_url(const char *url, char **host, char **err)
{
	CURLU *u = curl_url();
	if (u == NULL)
		fatal("out of memory");
	char *h = NULL, *why = NULL;
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK && strchr(url, '@'))
		why = xasprintf("has user info (before \"@\"), which tend does not take there, and "
		                "libcurl cannot read it (%s)",
		                curl_url_strerror(rc));
	else if (rc != CURLUE_OK)
		why = xasprintf("cannot be read by libcurl (%s)", curl_url_strerror(rc));
	else if ((h = get_part(u, CURLUPART_HOST)) == NULL)
		why = xstrdup("has no host");
	else
		why = url_problem(u, url, h);
	if (why != NULL) {
		*err = why;
		free(h);
		curl_url_cleanup(u);
		return NULL;
	}
	size_t n = strlen(h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		memmove(h, h + 1, n - 2);
		h[n - 2] = '\0';
	}
	*host = h;
	return u;
}

int smtp_url_check(const char *url, char **host, char **err)
{
	char *h = NULL;
	CURLU *u = parse_url(url, &h, err);
	if (u == NULL)
		return -1;
	curl_url_cleanup(u);
	if (host)
		*host = h;
	else
		free(h);
	return 0;
}

size_t smtp_check_config(const struct config *c, struct diags *d)
{
	size_t n = 0;
	for (size_t i = 0; i < c->naccounts; i++) {
		const struct config_account *a = &c->accounts[i];
		char *err = NULL;
		if (!a->has_smtp || a->smtp.url == NULL ||
		    smtp_url_check(a->smtp.url, NULL, &err) == 0)
			continue;
		diag_add(d, c->path, a->smtp.url_line, a->smtp.url_column,
		         "account \"%s\": the smtp url %s", a->name ? a->name : "?", err);
		free(err);
		n++;
	}
	return n;
}

/* smtps:// is TLS from the start; smtp:// must upgrade, except to a loopback host. */
static long tls_policy(CURLU *u, const char *host)
{
	char *scheme = get_part(u, CURLUPART_SCHEME);
	bool implicit = scheme && strcmp(scheme, "smtps") == 0;
	free(scheme);
	if (implicit || !config_host_is_loopback(host))
		return CURLUSESSL_ALL;
	return CURLUSESSL_TRY;
}

static struct curl_slist *recipients(const struct smtp_envelope *env)
{
	struct curl_slist *list = NULL;
	for (size_t i = 0; i < env->n; i++) {
		char *r = xasprintf("<%s>", env->rcpts[i]);
		struct curl_slist *next = curl_slist_append(list, r);
		free(r);
		if (next == NULL)
			fatal("out of memory");
		list = next;
	}
	return list;
}

/* url and host from parse_url: libcurl connects to the URL that the TLS policy was worked out
 * from, not to its own reading of the text again. */
static void set_options(CURL *h, const struct config_smtp *cfg, CURLU *url, const char *host,
                        const char *password, struct attempt *a, char *errbuf)
{
	long t = cfg->timeout > 0 ? (long)cfg->timeout : 60;
	curl_easy_setopt(h, CURLOPT_CURLU, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_USE_SSL, tls_policy(url, host));
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password ? password : "");
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, t);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, t);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, t * 10);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(h, CURLOPT_READDATA, a);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)a->len);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

static bool account_problem(CURLcode rc)
{
	switch (rc) {
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_AUTH_ERROR:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return true;
	default:
		return false;
	}
}

static enum smtp_outcome classify(CURLcode rc, long code, const struct attempt *a)
{
	if (rc == CURLE_OK)
		return SMTP_ACCEPTED;
	if (a->aborted)
		return SMTP_TEMPFAIL;
	if (a->data_done && !a->answered)
		return SMTP_UNKNOWN;
	if (account_problem(rc))
		return SMTP_ACCOUNT;
	if (code >= 500 && code < 600)
		return SMTP_REFUSED;
	return SMTP_TEMPFAIL;
}

/* What to tell the agent and the log. */
static char *describe(const struct config_smtp *cfg, CURLcode rc, const struct attempt *a,
                      const char *errbuf, enum smtp_outcome o)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	if (o == SMTP_ACCEPTED)
		return xstrdup(a->reply.len ? a->reply.data : "accepted");
	if (o == SMTP_UNKNOWN)
		return xasprintf(
		    "%s: the connection broke after the message was handed over, before "
		    "the server answered (%s)",
		    cfg->url, why);
	if (a->refusal.len && rc != CURLE_OPERATION_TIMEDOUT)
		return xasprintf("%s said: %s", cfg->url, a->refusal.data);
	return xasprintf("%s: %s", cfg->url, why);
}

/* An attempt that never starts: the URL is one tend does not send through. */
static int refuse_url(struct smtp_result *res, char *why)
{
	res->outcome = SMTP_ACCOUNT;
	res->reply = xasprintf("not sent: the smtp url %s", why);
	free(why);
	return -1;
}

int smtp_send(const struct config_smtp *cfg, const char *password, const struct smtp_envelope *env,
              const char *data, size_t len, smtp_data_done_fn done, void *arg,
              struct smtp_result *res)
{
	struct attempt a = {.data = data, .len = len, .done = done, .arg = arg};
	char errbuf[CURL_ERROR_SIZE] = "";
	memset(res, 0, sizeof(*res));
	char *host = NULL, *why = NULL;
	CURLU *url = parse_url(cfg->url, &host, &why);
	if (url == NULL)
		return refuse_url(res, why);
	CURL *h = curl_easy_init();
	if (h == NULL)
		fatal("cannot start a libcurl session");
	struct curl_slist *rcpts = recipients(env);
	char *from = xasprintf("<%s>", env->from);
	set_options(h, cfg, url, host, password, &a, errbuf);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	res->outcome = classify(rc, code, &a);
	res->code = (int)code;
	res->reply = describe(cfg, rc, &a, errbuf, res->outcome);
	curl_easy_cleanup(h);
	curl_url_cleanup(url);
	free(host);
	curl_slist_free_all(rcpts);
	free(from);
	buf_free(&a.reply);
	buf_free(&a.refusal);
	buf_free(&a.partial);
	return res->outcome == SMTP_ACCEPTED ? 0 : -1;
}

void smtp_result_finish(struct smtp_result *res)
{
	free(res->reply);
	res->reply = NULL;
}
