/*
 * message: parsing one raw RFC 5322 / MIME message into what tend needs: header fields,
 * decoded addresses, date, Message-ID, In-Reply-To and References, the body as UTF-8 text
 * (HTML-only mail turned into readable text), the customer's new text with quoted replies and
 * signatures removed, and the list of attachments.
 *
 * Parsing is a pure function over a buffer. It tolerates the broken mail found in the wild (see
 * the README's list) and refuses only what it cannot read at all or what exceeds the limits;
 * a refused message is quarantined by the caller with the reason given here.
 */
#ifndef TEND_MESSAGE_H
#define TEND_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/util.h"

struct message_addr {
	char *name; /* display name decoded to UTF-8 (RFC 2047), or NULL */
	char *addr; /* addr-spec as written (local@domain), never NULL */
};

struct message_addrs {
	struct message_addr *v;
	size_t n;
};

/* Appends a copy of a to as (the array grows geometrically, whatever its length). */
void message_addrs_add(struct message_addrs *as, const struct message_addr *a);

/*
 * Reads an address list a person typed (the To: line of the file `tend edit` opens) with the
 * parser used for mail, appending to out; nothing is guessed or skipped: returns 0, or -1 with
 * *bad the first part that is not one address (a group name is not; caller frees). Whether an
 * address is fit to send to is compose_addr_ok's question.
 */
int message_addrs_read(const char *value, struct message_addrs *out, char **bad);

/* Frees the addresses and empties as. */
void message_addrs_free(struct message_addrs *as);

struct message_header {
	char *name; /* as written, e.g. "Subject" */
	/* Unfolded, as UTF-8 (8-bit bytes that are not UTF-8 read as windows-1252); RFC 2047
	 * encoded words are left as they are. */
	char *value;
};

struct message_attachment {
	char *filename;     /* decoded (RFC 2047 / RFC 2231), or NULL */
	char *content_type; /* lowercase type/subtype */
	size_t size;        /* decoded size in bytes */
};

struct message_limits {
	size_t max_size;    /* bytes of raw message */
	size_t max_headers; /* header fields in any one header block */
	size_t max_depth;   /* MIME nesting (multipart and message/rfc822) */
	size_t max_parts;   /* MIME parts in all */
	/* Addresses kept of each of To, Cc and Reply-To; the rest are left out of the parsed
	 * message with a warning (the raw message keeps them). 0: the default. */
	size_t max_addresses;
};

/* The limits used when a config does not say otherwise. */
extern const struct message_limits message_default_limits;

struct message {
	char *message_id;          /* without angle brackets */
	bool message_id_synthetic; /* no usable Message-ID: one made from a content hash */
	struct strvec references;  /* Message-IDs from References, in order, without brackets */
	struct strvec in_reply_to; /* Message-IDs from In-Reply-To, without brackets */
	char *subject;             /* decoded to UTF-8; "" when absent */
	struct message_addr from;  /* from.addr is "" when there is no usable From */
	struct message_addrs to;
	struct message_addrs cc;
	struct message_addrs reply_to;
	int64_t date;        /* seconds since the epoch (UTC); 0 when absent or unreadable */
	int date_offset;     /* the Date header's zone, in minutes east of UTC */
	char *text;          /* the body as UTF-8 text; "" when there is none */
	char *new_text;      /* text without quoted replies and signature */
	bool text_from_html; /* text was made from an HTML part */
	bool is_report;      /* multipart/report or message/delivery-status inside */
	struct message_header *headers; /* the top-level header fields, in order */
	size_t nheaders;
	struct message_attachment *attachments;
	size_t nattachments;
	struct strvec warnings; /* standards violations tolerated while parsing */
};

/*
 * Parses raw[0..len). limits may be NULL for the defaults. On success returns 0 and *out (free
 * with message_free). When the message cannot be used (no header block, a limit exceeded)
 * returns -1 and sets *reason to a one-line explanation (caller frees); *out is NULL then.
 */
int message_parse(const char *raw, size_t len, const struct message_limits *limits,
                  struct message **out, char **reason);

void message_free(struct message *m);

/*
 * Appends to out the bytes of the index-th (from 0) attachment of message_parse's list, its
 * transfer encoding removed. The parser reads line ends as LF and NUL bytes as spaces, so an
 * attachment sent as 8bit or binary (not base64 or quoted-printable) comes back with those
 * changed. Returns 0; 1 when the message has no such attachment; -1 with *reason (caller
 * frees) when the message cannot be parsed.
 */
int message_attachment(const char *raw, size_t len, const struct message_limits *limits,
                       size_t index, struct buf *out, char **reason);

/*
 * The first header field called name (case-insensitive), unfolded, encoded words not decoded;
 * NULL if none.
 */
const char *message_header(const struct message *m, const char *name);

/* A header value with RFC 2047 encoded words decoded to UTF-8; caller frees. */
char *message_decode_header(const char *value);

/*
 * The Message-ID tend uses for a message that has none: stable across copies of the same mail
 * (line endings and trace headers do not change it). Caller frees. Also used for a quarantined
 * message so that importing it again is recognised as a duplicate.
 */
char *message_synthetic_id(const char *raw, size_t len);

/*
 * Extracts the Message-IDs from a References or In-Reply-To value the way notmuch does:
 * every <...> token, internal whitespace removed; text outside brackets ignored.
 */
void message_parse_id_list(const char *value, struct strvec *out);

/*
 * The subject with reply and forward prefixes (Re:, Fwd:, AW:, SV:, Antw: ..., and "[list]"
 * tags) removed and whitespace collapsed, lowercased: for subject-fallback threading.
 * Caller frees.
 */
char *message_normalize_subject(const char *subject);

/* Readable text from an HTML document (UTF-8 in, UTF-8 out); caller frees. */
char *message_html_to_text(const char *html, size_t len);

/*
 * The customer's own words in a plain-text body: quoted lines ("> ..."), the attribution line
 * that introduces them ("On ... wrote:", "Am ... schrieb ...:"), forwarded or Outlook-style
 * original messages and the signature ("-- ") removed. Caller frees.
 */
char *message_new_text(const char *text);

#endif
