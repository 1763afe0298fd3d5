/*
 * imap: one account's IMAP session. See include/tend/imap.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "imap_int.h"
#include "tend/imap.h"
#include "tend/util.h"

const char *imap_peer(const struct imap *im)
{
	return im->peer;
}

bool imap_has_idle(const struct imap *im)
{
	return im->idle;
}

uint64_t imap_exists(const struct imap *im)
{
	const struct mailimap_selection_info *sel = im->s ? im->s->imap_selection_info : NULL;
	return sel ? sel->sel_exists : 0;
}

/* The server's words for the last command, for error messages ("" when it said nothing). */
static const char *server_said(const struct imap *im)
{
	const char *r = im->s != NULL ? im->s->imap_response : NULL;
	return r != NULL ? r : "";
}

/* Maps a libetpan result to ours, with a message naming the operation. */
int imap_fail(struct imap *im, int r, int code, char **err, const char *what)
{
	if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_CONNECTION_REFUSED) {
		*err = xasprintf("%s: %s: connection lost or timed out", im->peer, what);
		return IMAP_ENET;
	}
	if (r == MAILIMAP_ERROR_PARSE) {
		*err = xasprintf("%s: %s: could not parse the server's answer", im->peer, what);
		return IMAP_EPROTO;
	}
	const char *said = server_said(im);
	*err = xasprintf("%s: %s failed%s%s", im->peer, what, *said ? ": server said: " : "", said);
	return code;
}

static void refresh_capabilities(struct imap *im)
{
	struct mailimap_capability_data *cap = NULL;
	if (mailimap_capability(im->s, &cap) == MAILIMAP_NO_ERROR && cap != NULL)
		mailimap_capability_data_free(cap);
	im->idle = mailimap_has_idle(im->s) != 0;
}

/*
 * STARTTLS, then TLS on the same socket. Bytes the server sent after its OK and before the
 * handshake would be plaintext injected into the secure session: refuse them.
 */
static int starttls(struct imap *im, char **err)
{
	int r = mailimap_starttls(im->s);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_ETLS, err, "STARTTLS");
	mailstream *stream = im->s->imap_stream;
	if (stream->read_buffer_len != 0) {
		*err = xasprintf("%s: the server sent data before the TLS handshake; refusing",
		                 im->peer);
		return IMAP_ETLS;
	}
	mailstream_low *plain = mailstream_get_low(stream);
	int fd = mailstream_low_get_fd(plain);
	char *why = NULL;
	mailstream_low *tls =
	    imap_low_tls(fd, im->cfg->host, im->cfg->ca_file, (int)im->cfg->timeout, &why);
	if (tls == NULL) {
		*err = xasprintf("%s: %s", im->peer, why);
		free(why);
		return IMAP_ETLS;
	}
	imap_low_release(plain);
	mailstream_low_free(plain);
	mailstream_set_low(stream, tls);
	return IMAP_OK;
}

/* TCP, then TLS for implicit mode, then the greeting (and STARTTLS). */
static int connect_session(struct imap *im, char **err)
{
	const struct config_imap *cfg = im->cfg;
	int fd = imap_tcp_connect(cfg->host, cfg->port, (int)cfg->timeout, err);
	if (fd < 0)
		return IMAP_ENET;
	mailstream_low *low;
	if (cfg->tls == CONFIG_TLS_IMPLICIT) {
		char *why = NULL;
		low = imap_low_tls(fd, cfg->host, cfg->ca_file, (int)cfg->timeout, &why);
		if (low == NULL) {
			close(fd);
			*err = xasprintf("%s: %s", im->peer, why);
			free(why);
			return IMAP_ETLS;
		}
	} else {
		low = imap_low_plain(fd);
	}
	mailstream *stream = mailstream_new(low, 8192);
	if (stream == NULL)
		fatalx("out of memory");
	int r = mailimap_connect(im->s, stream);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return imap_fail(im, r, IMAP_EPROTO, err, "greeting");
	if (cfg->tls == CONFIG_TLS_STARTTLS)
		return starttls(im, err);
	return IMAP_OK;
}

static enum config_auth auth_method(const struct imap *im)
{
	const struct config_imap *cfg = im->cfg;
	if (cfg->auth != CONFIG_AUTH_AUTO)
		return cfg->auth;
	if (cfg->oauth2_token_command.n > 0)
		return CONFIG_AUTH_XOAUTH2;
	if (mailimap_has_extension(im->s, "LOGINDISABLED"))
		return CONFIG_AUTH_PLAIN;
	return CONFIG_AUTH_LOGIN;
}

static int login(struct imap *im, const char *secret, char **err)
{
	const struct config_imap *cfg = im->cfg;
	int r;
	const char *how;
	int tag = im->s->imap_tag; /* unchanged after a failure: nothing reached the server */
	switch (auth_method(im)) {
	case CONFIG_AUTH_XOAUTH2:
		how = "AUTHENTICATE XOAUTH2";
		r = mailimap_oauth2_authenticate(im->s, cfg->user, secret);
		break;
	case CONFIG_AUTH_PLAIN:
		how = "AUTHENTICATE PLAIN";
		r = mailimap_authenticate(im->s, "PLAIN", cfg->host, NULL, NULL, cfg->user,
		                          cfg->user, secret, NULL);
		break;
	default:
		how = "LOGIN";
		r = mailimap_login(im->s, cfg->user, secret);
		break;
	}
	if (r == MAILIMAP_NO_ERROR)
		return IMAP_OK;
	if (r == MAILIMAP_ERROR_SASL || im->s->imap_tag == tag) {
		*err = xasprintf("%s: %s: the SASL library cannot do it here (libsasl2-modules "
		                 "provides PLAIN)",
		                 im->peer, how);
		return IMAP_EAUTH;
	}
	char *what = xasprintf("%s as %s", how, cfg->user);
	int code = imap_fail(im, r, IMAP_EAUTH, err, what);
	free(what);
	return code;
}

int imap_open(const struct config_imap *cfg, const char *secret, struct imap **out, char **err)
{
	struct imap *im = xcalloc(1, sizeof(*im));
	im->cfg = cfg;
	im->peer = xasprintf("%s:%d", cfg->host, cfg->port);
	im->s = mailimap_new(0, NULL);
	if (im->s == NULL)
		fatalx("out of memory");
	mailimap_set_timeout(im->s, (time_t)cfg->timeout);
	*out = NULL;
	int rc = connect_session(im, err);
	if (rc == IMAP_OK) {
		refresh_capabilities(im); /* after STARTTLS: what was said before does not count */
		rc = login(im, secret, err);
	}
	if (rc != IMAP_OK) {
		mailimap_free(im->s);
		free(im->peer);
		free(im);
		return rc;
	}
	refresh_capabilities(im); /* servers may offer more once logged in */
	*out = im;
	return IMAP_OK;
}

void imap_close(struct imap *im)
{
	if (im == NULL)
		return;
	if (im->s->imap_stream != NULL)
		(void)mailimap_logout(im->s);
	mailimap_free(im->s);
	free(im->peer);
	free(im);
}

int imap_examine(struct imap *im, const char *folder, struct imap_folder *out, char **err)
{
	int r = mailimap_examine(im->s, folder);
	if (r != MAILIMAP_NO_ERROR) {
		char *what = xasprintf("EXAMINE %s", folder);
		int code = imap_fail(im, r, IMAP_EFOLDER, err, what);
		free(what);
		return code;
	}
	struct mailimap_selection_info *sel = im->s->imap_selection_info;
	memset(out, 0, sizeof(*out));
	if (sel != NULL) {
		out->uidvalidity = sel->sel_uidvalidity;
		out->uidnext = sel->sel_uidnext;
		out->exists = sel->sel_exists;
	}
	if (out->uidvalidity == 0) {
		*err =
		    xasprintf("%s: EXAMINE %s: the server gave no UIDVALIDITY", im->peer, folder);
		return IMAP_EPROTO;
	}
	return IMAP_OK;
}
