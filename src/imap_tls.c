/*
 * imap: connections and TLS.
 *
 * libetpan 1.9.4 built with GnuTLS neither verifies the server's certificate nor sends SNI,
 * so tend does TLS itself and hands libetpan a stream driver (the low layer of a mailstream)
 * that reads and writes through GnuTLS. The handshake verifies the chain against ca_file or
 * the system store and checks the host name before anything else is said: a password never
 * goes to a server that was not verified.
 *
 * Timeouts: the socket carries SO_RCVTIMEO and SO_SNDTIMEO, so every read and write gives up
 * after the configured time, whichever libetpan function is waiting on it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "imap_int.h"
#include "tend/util.h"

struct low {
	int fd;
	int timeout;          /* seconds */
	gnutls_session_t tls; /* NULL for a plain connection */
	gnutls_certificate_credentials_t cred;
};

static void set_timeouts(int fd, int timeout)
{
	struct timeval tv = {.tv_sec = timeout, .tv_usec = 0};
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A non-blocking connect bounded by timeout; returns 0 or an errno value. */
static int connect_one(int fd, const struct addrinfo *ai, int timeout)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			return errno;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int r;
		do
			r = poll(&p, 1, timeout * 1000);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return ETIMEDOUT;
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			return errno;
		if (soerr != 0)
			return soerr;
	}
	if (fcntl(fd, F_SETFL, flags) < 0)
		return errno;
	return 0;
}

int imap_tcp_connect(const char *host, int port, int timeout, char **err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	int gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		*err = xasprintf("cannot resolve %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if ((e = connect_one(fd, ai, timeout)) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*err = xasprintf("cannot connect to %s:%d: %s", host, port, strerror(e));
		return -1;
	}
	set_timeouts(fd, timeout);
	return fd;
}

/* The stream driver. */

static bool readable(struct low *l)
{
	struct pollfd p = {.fd = l->fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, l->timeout * 1000);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

static ssize_t low_read(mailstream_low *s, void *buf, size_t n)
{
	struct low *l = s->data;
	if (l->tls == NULL) {
		ssize_t r;
		do
			r = recv(l->fd, buf, n, 0);
		while (r < 0 && errno == EINTR);
		return r;
	}
	for (;;) {
		ssize_t r = gnutls_record_recv(l->tls, buf, n);
		if (r >= 0)
			return r;
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		/*
		 * AGAIN: the receive timeout, or a TLS 1.3 post-handshake message (a session
		 * ticket) consumed with no data behind it. Wait for more, up to the timeout.
		 */
		if (r != GNUTLS_E_AGAIN || !readable(l))
			return -1;
	}
}

static ssize_t low_write(mailstream_low *s, const void *buf, size_t n)
{
	struct low *l = s->data;
	if (l->tls == NULL) {
		ssize_t r;
		do
			r = send(l->fd, buf, n, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		return r;
	}
	for (;;) {
		ssize_t r = gnutls_record_send(l->tls, buf, n);
		if (r >= 0)
			return r;
		if (r != GNUTLS_E_INTERRUPTED)
			return -1;
	}
}

static int low_close(mailstream_low *s)
{
	struct low *l = s->data;
	if (l->tls != NULL && l->fd >= 0)
		(void)gnutls_bye(l->tls, GNUTLS_SHUT_WR);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return 0;
}

static int low_get_fd(mailstream_low *s)
{
	struct low *l = s->data;
	return l->fd;
}

static void low_free(mailstream_low *s)
{
	struct low *l = s->data;
	if (l->tls != NULL)
		gnutls_deinit(l->tls);
	if (l->cred != NULL)
		gnutls_certificate_free_credentials(l->cred);
	free(l);
	s->data = NULL;
	free(s); /* a driver frees its mailstream_low too: libetpan's own drivers do */
}

static void low_cancel(mailstream_low *s)
{
	struct low *l = s->data;
	if (l->fd >= 0)
		(void)shutdown(l->fd, SHUT_RDWR);
}

static mailstream_low_driver low_driver = {
    .mailstream_read = low_read,
    .mailstream_write = low_write,
    .mailstream_close = low_close,
    .mailstream_get_fd = low_get_fd,
    .mailstream_free = low_free,
    .mailstream_cancel = low_cancel,
};

static mailstream_low *low_new(struct low *l)
{
	mailstream_low *s = mailstream_low_new(l, &low_driver);
	if (s == NULL)
		fatalx("out of memory");
	return s;
}

mailstream_low *imap_low_plain(int fd)
{
	struct low *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	return low_new(l);
}

bool imap_low_pending(mailstream_low *s)
{
	if (s == NULL || s->driver != &low_driver)
		return false;
	struct low *l = s->data;
	return l->tls != NULL && gnutls_record_check_pending(l->tls) > 0;
}

void imap_low_release(mailstream_low *s)
{
	struct low *l = s->data;
	l->fd = -1;
}

/* TLS */

static bool is_ip_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int load_trust(struct low *l, const char *ca_file, char **err)
{
	int rc = gnutls_certificate_allocate_credentials(&l->cred);
	if (rc < 0) {
		*err = xasprintf("TLS: %s", gnutls_strerror(rc));
		return -1;
	}
	if (ca_file != NULL)
		rc = gnutls_certificate_set_x509_trust_file(l->cred, ca_file, GNUTLS_X509_FMT_PEM);
	else
		rc = gnutls_certificate_set_x509_system_trust(l->cred);
	if (rc > 0)
		return 0;
	if (ca_file != NULL)
		*err = xasprintf("ca_file %s: no certificate could be loaded%s%s", ca_file,
		                 rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
	else
		*err = xasprintf("the system's trusted certificates could not be loaded%s%s",
		                 rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
	return -1;
}

/* GnuTLS's words for a verification status, as one lower-case clause. */
static char *status_words(unsigned status)
{
	gnutls_datum_t out = {NULL, 0};
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) != 0)
		return xstrdup("verification failed");
	const char *p = (const char *)out.data;
	size_t n = out.size;
	static const char lead[] = "The certificate is NOT trusted. ";
	if (n >= sizeof(lead) - 1 && memcmp(p, lead, sizeof(lead) - 1) == 0) {
		p += sizeof(lead) - 1;
		n -= sizeof(lead) - 1;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '.'))
		n--;
	char *s = n > 0 ? xstrndup(p, n) : xstrdup("verification failed");
	gnutls_free(out.data);
	if (s[0] >= 'A' && s[0] <= 'Z')
		s[0] = (char)(s[0] - 'A' + 'a');
	return s;
}

/* Why the certificate was refused, in words an operator can act on. */
static char *verify_error(gnutls_session_t tls, const char *host)
{
	unsigned status = gnutls_session_get_verify_cert_status(tls);
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		return xasprintf("TLS certificate does not match host name \"%s\"", host);
	char *why = status_words(status);
	char *msg =
	    xasprintf("TLS certificate not trusted: %s (ca_file names the CAs to trust)", why);
	free(why);
	return msg;
}

static int handshake(struct low *l, const char *host, int timeout, char **err)
{
	int rc = gnutls_init(&l->tls, GNUTLS_CLIENT);
	if (rc == 0)
		rc = gnutls_set_default_priority(l->tls);
	if (rc == 0 && !is_ip_address(host))
		rc = gnutls_server_name_set(l->tls, GNUTLS_NAME_DNS, host, strlen(host));
	if (rc == 0)
		rc = gnutls_credentials_set(l->tls, GNUTLS_CRD_CERTIFICATE, l->cred);
	if (rc < 0) {
		*err = xasprintf("TLS: %s", gnutls_strerror(rc));
		return -1;
	}
	gnutls_session_set_verify_cert(l->tls, host, 0);
	gnutls_transport_set_int(l->tls, l->fd);
	gnutls_handshake_set_timeout(l->tls, (unsigned)timeout * 1000);
	do
		rc = gnutls_handshake(l->tls);
	while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		*err = verify_error(l->tls, host);
		return -1;
	}
	if (rc < 0) {
		*err = xasprintf("TLS handshake failed: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

mailstream_low *imap_low_tls(int fd, const char *host, const char *ca_file, int timeout, char **err)
{
	struct low *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->timeout = timeout;
	if (load_trust(l, ca_file, err) < 0 || handshake(l, host, timeout, err) < 0) {
		if (l->tls != NULL)
			gnutls_deinit(l->tls);
		if (l->cred != NULL)
			gnutls_certificate_free_credentials(l->cred);
		free(l);
		return NULL;
	}
	return low_new(l);
}
