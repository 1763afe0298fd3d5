/*
 * smtp: sending one message (libcurl), the only module that includes curl.
 *
 * smtp:// upgrades with STARTTLS and refuses to go on without it, except to a loopback host;
 * smtps:// is TLS from the first byte. The certificate chain and host name are always
 * verified, against ca_file or the system store. AUTH (PLAIN or LOGIN, as the server offers)
 * when a user is configured.
 *
 * An attempt ends in one of four ways: accepted; refused for good (a 5xx: sending it again
 * cannot help); failed for now (a 4xx, a refused connection, a timeout: try again later); or
 * not known, when the connection was lost after the whole message was handed over but before
 * the server's answer arrived: the server may have accepted it.
 */
#ifndef TEND_SMTP_H
#define TEND_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "tend/config.h"

enum smtp_outcome {
	SMTP_ACCEPTED,
	SMTP_REFUSED,  /* a 5xx: the server refused this message for good */
	SMTP_TEMPFAIL, /* a 4xx, or no connection: the message was certainly not accepted */
	SMTP_ACCOUNT,  /* TLS, certificate or login failed: the account needs an operator */
	SMTP_UNKNOWN,  /* lost after the end of the data: it may have been accepted */
};

struct smtp_envelope {
	const char *from;         /* MAIL FROM */
	const char *const *rcpts; /* RCPT TO, n of them */
	size_t n;
};

/*
 * Called once, just before the last bytes of the message are handed to the connection and
 * before the end-of-data mark: from then on the server may accept it at any moment. The sender
 * records that here, so that after a crash it knows the outcome is uncertain. A nonzero return
 * aborts the transfer there, before the server can have the whole message (SMTP_TEMPFAIL).
 */
typedef int (*smtp_data_done_fn)(void *arg);

struct smtp_result {
	enum smtp_outcome outcome;
	int code;    /* the server's last reply code; 0 when it said nothing */
	char *reply; /* what went wrong or, when accepted, the server's reply; caller frees */
};

/*
 * Sends data (a whole RFC 5322 message with CRLF line ends) to the envelope's recipients
 * through cfg's server, logging in with password (NULL when cfg has no user). Fills *res;
 * returns 0 when accepted, else -1.
 */
int smtp_send(const struct config_smtp *cfg, const char *password, const struct smtp_envelope *env,
              const char *data, size_t len, smtp_data_done_fn done, void *arg,
              struct smtp_result *res);

/*
 * Checks an SMTP URL as libcurl reads it, since libcurl is what connects: smtp:// or smtps://,
 * and no user info, query or fragment (the user and password have keys of their own; anything
 * more only lets a reader and libcurl disagree about the host). Returns 0 and, when host is
 * not NULL, the host libcurl connects to, without brackets, in *host; or -1 with a reason in
 * *err. The caller frees *host or *err.
 */
int smtp_url_check(const char *url, char **host, char **err);

/*
 * Checks the SMTP URL of every account of c with smtp_url_check, adding each problem to d as
 * FILE:LINE:COLUMN where the URL is written. Returns how many it added.
 */
size_t smtp_check_config(const struct config *c, struct diags *d);

/* Frees what res holds. */
void smtp_result_finish(struct smtp_result *res);

/* Once per process, before any thread starts: curl's global set-up; and its undoing at exit. */
void smtp_global_init(void);
void smtp_global_cleanup(void);

#endif
