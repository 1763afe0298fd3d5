/*
 * imap: one account's IMAP session (libetpan mailimap), the only module that includes
 * libetpan's IMAP headers.
 *
 * TLS is tend's own (GnuTLS under a libetpan stream driver): libetpan 1.9.4 built with GnuTLS
 * neither verifies the server's certificate nor sends SNI. Here the chain is verified against
 * ca_file or the system store and the host name is checked, during the handshake, before a
 * password is sent. Every read and write has the configured timeout.
 *
 * The session never changes the mail it reads: folders are opened with EXAMINE (read-only) and
 * bodies fetched with BODY.PEEK, so flags that people see in their clients stay as they are.
 * All it adds is the copies of sent replies, and the Sent folder for them when it is missing.
 */
#ifndef TEND_IMAP_H
#define TEND_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/config.h"

struct imap;

/* Result codes; every failure also hands back a one-line message. */
enum {
	IMAP_OK = 0,
	IMAP_ENET = -1,    /* connection refused, lost or timed out: try again later */
	IMAP_ETLS = -2,    /* TLS failed or the certificate was refused */
	IMAP_EAUTH = -3,   /* the server refused the login */
	IMAP_EFOLDER = -4, /* the server refused a command on a folder (no such folder...) */
	IMAP_EPROTO = -5,  /* the server said something we could not use */
};

/*
 * Connects, secures the connection as cfg->tls says, logs in with secret (a password, or an
 * OAuth2 access token when the method is XOAUTH2) and reads the capabilities. Returns IMAP_OK
 * and *out, or a code and *err (caller frees) naming the host and what went wrong.
 */
int imap_open(const struct config_imap *cfg, const char *secret, struct imap **out, char **err);

/* Logs out (when still connected) and frees. NULL is fine. */
void imap_close(struct imap *im);

/* True when the server offers IDLE (as read after login). */
bool imap_has_idle(const struct imap *im);
/* The message count of the selected folder as the server last announced it (EXISTS), which
 * untagged responses to any command update; 0 when none is selected. */
uint64_t imap_exists(const struct imap *im);

/* "host:port", for messages. */
const char *imap_peer(const struct imap *im);

struct imap_folder {
	uint32_t uidvalidity;
	uint32_t uidnext; /* 0 when the server did not say */
	uint64_t exists;
};

/* Opens folder read-only (EXAMINE). */
int imap_examine(struct imap *im, const char *folder, struct imap_folder *out, char **err);

/*
 * After a refused EXAMINE: whether folder does not exist (a LIST of its name comes back empty).
 * A folder that exists but cannot be opened, or a LIST that fails, gives false.
 */
bool imap_folder_missing(struct imap *im, const char *folder);

/* One message of the open folder, as listed before its body is fetched. */
struct imap_entry {
	uint32_t uid;
	uint64_t size;        /* RFC822.SIZE */
	int64_t internaldate; /* Unix seconds; 0 when the server gave none */
};

/*
 * Lists the messages of the open folder with a UID above after, in UID order. *out (free it)
 * may be empty.
 */
int imap_list(struct imap *im, uint32_t after, struct imap_entry **out, size_t *n, char **err);

/*
 * Fetches the messages with the given UIDs (headers only when header_only) and calls fn for
 * each that the server returned, in the server's order; a message expunged meanwhile is simply
 * missing. fn's data lives until it returns; fn returns nonzero to stop (returned as is).
 */
typedef int (*imap_body_fn)(uint32_t uid, const char *data, size_t len, void *arg);
int imap_fetch(struct imap *im, const uint32_t *uids, size_t n, bool header_only, imap_body_fn fn,
               void *arg, char **err);

/*
 * IDLE on the open folder until the server says something, timeout_ms passes, or wake_fd
 * (may be -1) becomes readable; then DONE. Returns 1 when the server spoke (or data was
 * already buffered), 0 on timeout or wake-up, or a negative code. Callers re-sync by UID
 * whatever it returns: an IDLE notification is a hint, never the record of what is new.
 */
int imap_idle(struct imap *im, int timeout_ms, int wake_fd, char **err);

/*
 * Appends a message (CRLF line ends) to folder with the \Seen flag: the copy of a sent reply.
 * When the server answers that the folder does not exist ([TRYCREATE]), creates it (marked
 * \Sent where the server offers CREATE-SPECIAL-USE), subscribes to it and tries once more; a
 * refused CREATE is the error, with the server's words.
 */
int imap_append(struct imap *im, const char *folder, const char *data, size_t len, char **err);

/*
 * Opens folder read-only and sets *found when a message in it has the Message-ID msgid
 * (without brackets): how the sender learns whether a reply whose outcome it lost went out.
 * A folder that does not exist holds no message: IMAP_OK with *found false.
 */
int imap_find_message_id(struct imap *im, const char *folder, const char *msgid, bool *found,
                         char **err);

#endif
