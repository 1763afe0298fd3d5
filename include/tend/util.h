/*
 * util: memory, growable buffers, string vectors, logging and diagnostics
 * shared by every module.
 */
#ifndef TEND_UTIL_H
#define TEND_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN     __attribute__((noreturn))
#define NELEM(a)          (sizeof(a) / sizeof((a)[0]))

/* Allocation wrappers: they never return NULL; on exhaustion they abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Returns a pointer to n bytes holding the old contents; `p` is invalid afterwards. */
void *xrealloc(void *p, size_t n);
/* Like xrealloc for an array of nmemb elements of size bytes, checking the multiplication. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string. */
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ATTR_PRINTF(1, 0);

/* Writes all of p[0..n) to fd, again after EINTR; 0, or -1 with errno. */
int util_write_all(int fd, const char *p, size_t n);

/* A growable byte buffer, always NUL-terminated when data != NULL. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
void buf_reset(struct buf *b);
/* Hands the contents to the caller (who frees them) and empties the buffer; never NULL. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/* A vector of owned strings. */
struct strvec {
	char **v;
	size_t n;
	size_t cap;
};

#define STRVEC_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* Appends a copy of s. */
void strvec_push(struct strvec *sv, const char *s);
/* Appends s itself; the vector takes ownership. */
void strvec_push_owned(struct strvec *sv, char *s);
bool strvec_contains(const struct strvec *sv, const char *s);
/* A 64-bit FNV-1a hash of s: for tables, and to recognise a text again. */
uint64_t str_hash(const char *s);
void strvec_free(struct strvec *sv);

/*
 * A hash index over the strings of one strvec, for membership tests that stay fast on lists a
 * hostile message can make long (references, participants, Cc). It refers to the vector's
 * strings by position and owns only its slots: it is valid while the vector only grows through
 * strindex_push (or strindex_add after a push). Zero-initialise; free with strindex_free.
 */
struct strindex {
	size_t *slot; /* position + 1 in the vector; 0: free */
	size_t cap, used;
};

/* Indexes sv->v[pos] unless an equal string is indexed already; returns whether it was added. */
bool strindex_add(struct strindex *ix, const struct strvec *sv, size_t pos);
/* Indexes every string of sv (after a vector was read from elsewhere). */
void strindex_build(struct strindex *ix, const struct strvec *sv);
bool strindex_contains(const struct strindex *ix, const struct strvec *sv, const char *s);
/* Appends a copy of s to sv unless sv holds it already; returns whether it was appended. */
bool strindex_push(struct strindex *ix, struct strvec *sv, const char *s);
void strindex_free(struct strindex *ix);

/* ASCII case-insensitive helpers that ignore the locale. */
bool str_ieq(const char *a, const char *b);
bool str_ieqn(const char *a, const char *b, size_t n);
/* Whether s holds word, ignoring ASCII case (strcasestr without its set-up for each call). */
bool str_icontains(const char *s, const char *word);
bool str_istarts(const char *s, const char *prefix);
/* Lowercases ASCII letters in place; returns s. */
char *str_lower(char *s);
/* Returns a copy of s[0..n) with leading and trailing whitespace removed. */
char *str_trim_dup(const char *s, size_t n);

/* True when the n bytes at s are valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);
/* How many bytes at the start of s are ASCII (checked eight at a time). */
size_t ascii_prefix(const char *s, size_t n);
/* Appends s[0..n) to b, replacing each invalid UTF-8 sequence with U+FFFD. */
void utf8_sanitize(struct buf *b, const char *s, size_t n);

/*
 * Control characters in text from mail. A sender can put escape sequences in a subject, a name
 * or a body that a terminal would obey: OSC 52 writes the clipboard, OSC 8 hides a link, SGR 8
 * hides text, CSI (ESC [ or the C1 code point U+009B) moves the cursor. The parser removes them
 * (text_strip_controls); everything printed from a message goes through term_put as well, for
 * records stored before they were removed.
 */
enum text_shape {
	TEXT_LINE,  /* one line (a header field, a name, a table cell): a line break is a space */
	TEXT_LINES, /* text shown as lines (a body): line feed and tab are kept */
};

/*
 * Removes, in place, the C0 controls (but tab, and line feed in TEXT_LINES), DEL, the C1
 * controls U+0080..U+009F and any stray byte 0x80..0x9f that is not part of a UTF-8 sequence.
 * CR LF and a lone CR become a line feed in TEXT_LINES; in TEXT_LINE, CR and LF become one space
 * so that the words around them do not fuse. s has room for n + 1 bytes; returns the new
 * length, at which a '\0' is put.
 */
size_t text_strip_controls(char *s, size_t n, enum text_shape shape);

/*
 * Appends s to b for a terminal, with every control character shown as a visible escape
 * instead: "\x1b" for a C0 control, DEL or a byte that is not UTF-8, "\u009b" for a C1
 * control. TEXT_LINES keeps line feed and tab; TEXT_LINE shows tab, CR and LF as a space.
 * s may be NULL (nothing is appended).
 */
void term_put(struct buf *b, const char *s, enum text_shape shape);
/* term_put into a new string; the caller frees. */
char *term_dup(const char *s, enum text_shape shape);

/*
 * Logging. Lines go to stderr as "prog: message", one line per event, which is what journald
 * wants. log_warn appends ": strerror(errno)"; log_warnx does not.
 */
void log_init(const char *progname, int verbosity);
void log_warn(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_info(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* For start-up errors and broken invariants only. */
ATTR_NORETURN void fatal(const char *fmt, ...) ATTR_PRINTF(1, 2);
ATTR_NORETURN void fatalx(const char *fmt, ...) ATTR_PRINTF(1, 2);

/*
 * Diagnostics for files operators write (tend.yaml, rules.yaml): every problem is collected, each
 * as "file:line:column: message", so a check reports all of them at once.
 */
struct diag {
	char *file; /* as given to diag_add */
	int line;   /* 1-based; 0 when the problem concerns the whole file */
	int column; /* 1-based; 0 when unknown */
	char *msg;
};

struct diags {
	struct diag *v;
	size_t n;
	size_t cap;
};

#define DIAGS_INIT                                                                                 \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void diag_add(struct diags *d, const char *file, int line, int column, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
/* Returns "file:line:column: msg" (or "file: msg" without a position); caller frees. */
char *diag_format(const struct diag *d);
/* Writes every diagnostic to stderr, one line each. */
void diags_print(const struct diags *d);
void diags_free(struct diags *d);

/* Reads a whole file into memory (NUL-terminated); returns 0, or -1 with errno set. */
int read_file(const char *path, char **data, size_t *len);

/*
 * Parses a duration such as "30s", "15m", "4h", "2d" (a bare number is seconds) into seconds.
 * Returns 0, or -1 when the text is not a duration.
 */
int parse_duration(const char *s, int64_t *seconds);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; day may run past the
 * month's end, into the next). */
int64_t days_from_civil(int64_t year, int month, int day);

/* Broken-down UTC time of t, as gmtime_r gives, by arithmetic (no lock, no zone). */
struct tm;
void utc_time(int64_t t, struct tm *out);

/*
 * Broken-down time of t in the IANA zone (e.g. "Europe/Berlin"); NULL or "" means the local
 * zone. Safe to call from several threads.
 */
void local_time_in(const char *zone, int64_t t, struct tm *out);
/* Only the offset east of UTC, in seconds, that local_time_in would give. */
long local_offset_in(const char *zone, int64_t t);

/*
 * Sets $TZ to zone (and calls tzset); returns what tz_restore takes to put the old value
 * back. $TZ is the process's: local_time_in calls them under its own lock; tests call them
 * to run in a known zone.
 */
char *tz_set(const char *zone);
void tz_restore(char *saved);

/* Lowercase hex SHA-256 of data; out must hold 65 bytes. */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
