/* imap: what imap.c and imap_tls.c share. Not for other modules. */
#ifndef TEND_IMAP_INT_H
#define TEND_IMAP_INT_H

#include <stdbool.h>

#include <libetpan/libetpan.h>

#include "tend/config.h"

struct imap {
	mailimap *s;
	const struct config_imap *cfg;
	char *peer;
	bool idle; /* the server offers IDLE */
};

/*
 * Turns libetpan's result r for the operation what into one of ours and a message: a lost
 * connection is IMAP_ENET, a refusal is code with the server's words.
 */
int imap_fail(struct imap *im, int r, int code, char **err, const char *what);

/*
 * Opens a TCP connection to host:port within timeout seconds, trying every address the name
 * resolves to. The socket is blocking, with send and receive timeouts of timeout seconds.
 * Returns the descriptor, or -1 with *err set.
 */
int imap_tcp_connect(const char *host, int port, int timeout, char **err);

/* A stream driver over fd without TLS (for STARTTLS before the upgrade, or tls: none). */
mailstream_low *imap_low_plain(int fd);

/*
 * Runs a TLS handshake on fd, sending host as SNI (unless it is an IP address) and verifying
 * the chain against ca_file (NULL: the system store) and the host name. On success returns a
 * stream driver that owns fd; on failure NULL with *err set (fd is left open).
 */
mailstream_low *imap_low_tls(int fd, const char *host, const char *ca_file, int timeout,
                             char **err);

/* True when the driver holds decrypted bytes not yet read (poll() on the socket misses them). */
bool imap_low_pending(mailstream_low *low);

/* Forgets the descriptor so that freeing the driver does not close it (STARTTLS hand-over). */
void imap_low_release(mailstream_low *low);

#endif
