/*
 * compose_int.h: what compose.c and compose_mime.c share and nothing else includes: a header
 * line writer that folds at whitespace, RFC 2047 encoding of free text, and the body encodings.
 */
#ifndef TEND_COMPOSE_INT_H
#define TEND_COMPOSE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "tend/util.h"

/* Header lines are folded to stay within this many characters where whitespace allows. */
#define COMPOSE_FOLD_AT 78

/* One header field being written: words are separated by a space or, when the line is
 * full, by CRLF and a space. */
struct compose_hdr {
	struct buf *b;
	size_t col;   /* characters on the current line */
	size_t words; /* words written after the field name */
};

/* Writes "Name:" to b and starts a field. */
void compose_hdr_start(struct compose_hdr *h, struct buf *b, const char *name);
/* Writes a space (or a fold) and then s[0..n), which must not contain whitespace. */
void compose_hdr_word(struct compose_hdr *h, const char *s, size_t n);
/* Ends the field with CRLF. */
void compose_hdr_end(struct compose_hdr *h);

/* True for RFC 5322 atext: the characters of an atom. */
bool compose_atext(char c);

/*
 * Free text (a display name, a subject) made safe for a header: invalid UTF-8 replaced with
 * U+FFFD, control characters (C0, DEL, C1) turned into spaces, runs of spaces collapsed,
 * leading and trailing spaces removed. Caller frees; never NULL (s may be).
 */
char *compose_clean_text(const char *s);

/* Writes cleaned text as an unstructured field body: ASCII words as they are, runs of other
 * words as RFC 2047 encoded words. */
void compose_put_text(struct compose_hdr *h, const char *text);

/* Writes a cleaned, non-empty display name as a phrase: atoms, a quoted-string or encoded
 * words. */
void compose_put_phrase(struct compose_hdr *h, const char *name);

/*
 * Appends body (UTF-8, any line ends) to out transfer-encoded, lines ending in CRLF; returns
 * the Content-Transfer-Encoding it used ("7bit", "quoted-printable" or "base64").
 */
const char *compose_body(const char *body, struct buf *out);

/* Writes the parameter name=value (a file name, UTF-8) as a quoted-string when it is short
 * printable ASCII, else as RFC 2231 continuations (name*0*=utf-8''...). Control characters
 * are removed first. Each parameter but the last must be followed by ";": last says. */
void compose_put_param(struct compose_hdr *h, const char *name, const char *value, bool last);

/* Appends data[0..n) in base64, lines of 76 characters ending in CRLF. */
void compose_base64(struct buf *out, const char *data, size_t n);

#endif
