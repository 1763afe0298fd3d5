/*
 * compose: the bytes of an outgoing reply, built from an approved draft.
 *
 * Everything that goes into a header is checked here, whoever wrote it: a customer's display
 * name, a subject, a Message-ID from a customer's References. Control characters (CR and LF
 * above all) never reach a header: in free text (names, subject) they become spaces, and an
 * address or Message-ID that is not well formed is refused (an address) or left out (a
 * reference), so nothing a customer wrote can add a header or a recipient. Non-ASCII text is
 * written as RFC 2047 encoded words; long headers are folded. The body is text/plain UTF-8,
 * 7bit when it can be, else quoted-printable or base64, whichever is shorter; lines end in CRLF.
 * With attachments the message is multipart/mixed: the text first, then each file in base64
 * with Content-Disposition: attachment and its name (RFC 2231 when not plain ASCII, control
 * characters removed, so a file name can add no header). The boundary depends only on the
 * Message-ID and the content, so building the same reply again gives the same bytes.
 *
 * Pure: no store, no I/O.
 */
#ifndef TEND_COMPOSE_H
#define TEND_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "tend/message.h"
#include "tend/util.h"

/* A file that goes with the reply, as an attachment. */
struct compose_file {
	const char *name;         /* UTF-8; sent as the filename (RFC 2231 when not plain ASCII) */
	const char *content_type; /* type/subtype; application/octet-stream when not a plain one */
	const char *data;
	size_t len;
};

struct compose_input {
	const char *from_addr;              /* our address, local@domain */
	const char *from_name;              /* display name, or NULL */
	const struct message_addrs *to;     /* at least one address across to and cc */
	const struct message_addrs *cc;     /* may be NULL */
	const char *subject;                /* UTF-8 */
	const char *message_id;             /* without angle brackets */
	const char *in_reply_to;            /* without brackets, or NULL */
	const struct strvec *references;    /* without brackets, oldest first; may be NULL */
	const char *body;                   /* UTF-8 text, LF or CRLF line ends */
	int64_t date;                       /* Unix seconds, written in the local zone */
	const char *auto_submitted;         /* "no", or "auto-replied" for a holding reply */
	const struct strvec *extra_headers; /* "Name: value" lines added as given, or NULL */
	const struct compose_file *files;   /* attachments, in order; may be NULL */
	size_t nfiles;
};

/*
 * At most this many Message-IDs in References: the first (the conversation's start) and the
 * latest ones, as RFC 5322 section 3.6.4 suggests when trimming.
 */
#define COMPOSE_MAX_REFERENCES 20

/*
 * Builds the message. Returns 0 with *out (NUL-terminated, caller frees) and *len; or -1 with
 * *err (caller frees) naming what cannot be sent safely: a From, To or Cc address that is not
 * a plain ASCII local@domain, a Message-ID that is not well formed, no recipient at all.
 *
 * *err is one line, e.g. `cannot send to "evil\r\nBcc: x@y": not a plain email address`: the
 * value in quotes with control and 8-bit bytes escaped, cut after 100 bytes. Also refused: an
 * Auto-Submitted that is not a token, and an extra header that is not "Name: value" on one
 * line or names a field compose writes itself (Subject, Message-ID, ...). An In-Reply-To or
 * reference that is not well formed is left out silently. A Message-ID is well formed when
 * it is 1 to 900 bytes of printable ASCII without space, '<' or '>'. Without To addresses
 * (Cc only) no To field is written.
 */
int compose_message(const struct compose_input *in, char **out, size_t *len, char **err);

/* True when addr is a plain ASCII addr-spec that is safe in a header and in SMTP. */
bool compose_addr_ok(const char *addr);

#endif
