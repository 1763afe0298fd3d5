/*
 * message_int.h: what the message_*.c files share and nothing else includes (except the
 * message tests). The parser works on a private copy of the raw message with CRLF turned
 * into LF and NUL bytes into spaces, so every scanner here sees LF line ends only.
 */
#ifndef TEND_MESSAGE_INT_H
#define TEND_MESSAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tend/message.h"
#include "tend/util.h"

/* ---- charsets (message_charset.c) ---- */

/*
 * Appends s[0..n), written in charset (NULL or "" when unlabelled), to out as UTF-8. Unknown
 * charsets and unlabelled 8-bit text are read as UTF-8 where valid and windows-1252 otherwise;
 * bytes invalid in a known charset become U+FFFD. Adds a warning (when warnings is not NULL)
 * for an unknown charset or invalid bytes. Returns false when the charset was unknown.
 */
bool message_cs_to_utf8(struct buf *out, const char *charset, const char *s, size_t n,
                        struct strvec *warnings);

/* Appends s[0..n): valid UTF-8 sequences as they are, every other byte read as windows-1252. */
void message_cs_guess(struct buf *out, const char *s, size_t n);

/* ---- header blocks, RFC 2047 words, parameters (message_header.c) ---- */

struct message_hdrs {
	struct message_header *v;
	size_t n;
	size_t cap;
};

#define MESSAGE_HDRS_INIT                                                                          \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

enum {
	HDRS_KEEP_ALL,     /* every field */
	HDRS_KEEP_CONTENT, /* only Content-* fields (MIME part headers) */
};

/*
 * Parses the header block that starts at s[*pos] and ends at an empty line (consumed), at a
 * line that is not a header field (left for the body) or at len. Values are unfolded, trimmed
 * and converted to UTF-8. Returns the number of fields seen (kept or not), or -1 when there are
 * more than max; *pos is then the start of the body.
 */
long message_hdrs_parse(const char *s, size_t len, size_t *pos, size_t max, int keep,
                        struct message_hdrs *out, struct strvec *warnings);
void message_hdrs_free(struct message_hdrs *h);
/* The first field called name (case-insensitive), or NULL. */
const char *message_hdrs_get(const struct message_hdrs *h, const char *name);

/* Appends value[0..n) with RFC 2047 encoded words decoded and whitespace collapsed. */
void message_decode_words(struct buf *out, const char *s, size_t n, struct strvec *warnings);

/*
 * libetpan parses RFC 5322 comments recursively, so hostile nesting could exhaust the stack:
 * returns value itself when its parentheses nest at most a few levels, else a copy without
 * the comments, stored in *tmp for the caller to free.
 */
const char *message_shallow(const char *value, char **tmp);

struct message_param {
	char *name; /* lowercase */
	char *value;
};

struct message_params {
	struct message_param *v;
	size_t n;
	size_t cap;
};

#define MESSAGE_PARAMS_INIT                                                                        \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void message_params_free(struct message_params *p);

/*
 * Content-Type: returns the lowercase "type/subtype" (caller frees), or NULL when the value
 * names no type; fills params.
 */
char *message_ctype_parse(const char *value, struct message_params *params);

/*
 * The boundary parameter of a Content-Type value, byte for byte (libetpan collapses white
 * space inside quoted strings, and a boundary may end in spaces); NULL when absent.
 */
char *message_ctype_boundary(const char *value);

enum message_disp {
	DISP_NONE,
	DISP_INLINE,
	DISP_ATTACHMENT,
};

/* Content-Disposition: returns its type and fills params. */
enum message_disp message_disp_parse(const char *value, struct message_params *params);

/*
 * The parameter called name, joined from RFC 2231 continuations and decoded (RFC 2231 charset
 * and percent-encoding, or RFC 2047 words, which mailers put there in defiance of the RFC), as
 * UTF-8; NULL when absent. Caller frees.
 */
char *message_param_get(const struct message_params *p, const char *name);

/* ---- addresses and dates (message_addr.c) ---- */

/* Appends the addresses in value (an address-list header) to out. */
/*
 * Appends the addresses in value to out, until out holds max of them; returns 1 when some were
 * left out for that, else 0.
 */
/* Makes room for one more address. */
void message_addrs_reserve(struct message_addrs *as);
int message_addrs_parse(const char *value, struct message_addrs *out, struct strvec *warnings,
                        size_t max);
/* The display name in an address field whose address is unusable (a comment or the phrase
 * before "<"), decoded; NULL when there is none. Caller frees. */
char *message_addr_name_only(const char *value);

/*
 * Parses a Date value: RFC 5322 through libetpan, then the usual broken forms (asctime, ISO
 * 8601, localised or missing names, out-of-range zones). Returns 0 or -1.
 */
int message_date_parse(const char *value, int64_t *t, int *offset, struct strvec *warnings);

/* ---- MIME structure (message_mime.c) ---- */

struct message_part {
	const char *body; /* transfer-encoded body, in the normalised copy or a decoded buffer */
	size_t body_len;
	char *type;     /* lowercase type/subtype */
	char *charset;  /* as labelled, or NULL */
	char *filename; /* decoded, or NULL */
	char *boundary; /* multipart only */
	char *forward;  /* message/rfc822 children: "Subject: ...\nFrom: ...\n" */
	int encoding;   /* MAILMIME_MECHANISM_* */
	enum message_disp disp;
	size_t depth;
	size_t parent;      /* SIZE_MAX for the root */
	size_t first_child; /* children are contiguous */
	size_t nchildren;
	bool rendered; /* its text is in message->text */
	char *text;    /* cached UTF-8 text (text parts), or NULL */
	size_t text_len;
};

struct message_tree {
	struct message_part *v;
	size_t n;
	size_t cap;
	char **bufs; /* decoded message/rfc822 bodies the parts point into */
	size_t nbufs;
	size_t *attached; /* the part of each attachment message_body_build listed, in order */
	size_t nattached;
};

/*
 * Builds the MIME tree of a message whose top-level fields are top and whose body is
 * s[body..len), without recursion. Returns 0, or -1 with *reason set when a limit is exceeded.
 */
int message_tree_build(struct message_tree *t, const char *s, size_t len, size_t body,
                       const struct message_hdrs *top, const struct message_limits *lim,
                       char **reason, struct strvec *warnings);
void message_tree_free(struct message_tree *t);

/* Appends the part's body with its transfer encoding removed. */
void message_part_decode(const struct message_part *p, struct buf *out, struct strvec *warnings);
/* The part's size once its transfer encoding is removed. */
size_t message_part_size(const struct message_part *p);
/* The part's text as UTF-8 with LF line ends (cached in p->text). */
const char *message_part_text(struct message_part *p, struct strvec *warnings);

/* Replaces CRLF and lone CR with LF and NUL with a space: the copy every scanner works on. */
char *message_normalize(const char *raw, size_t len, size_t *outlen, bool *had_nul);

/* ---- choosing the body and listing attachments (message_body.c) ---- */

/* Sets m->text, m->text_from_html, m->is_report and m->attachments from the tree. */
void message_body_build(struct message_tree *t, struct message *m);

/* ---- for tests ---- */

typedef void message_leaf_fn(void *arg, const char *path, const struct message_part *p,
                             const char *text);

/*
 * Calls fn for every leaf part, in document order, with its mime4j-style section path ("1",
 * "1_2_1": the root is 1, a multipart's children add _1, _2..., a message/rfc822 adds _1) and
 * its text as UTF-8 (text/ parts only, else NULL). Returns 0, or -1 when the message cannot be
 * parsed.
 */
int message_walk_leaves(const char *raw, size_t len, message_leaf_fn *fn, void *arg);

#endif
