/*
 * mbox: splitting an mbox held in memory into its messages. See include/tend/import.h.
 */
#include "tend/import.h"

#include <stdlib.h>
#include <string.h>

#include "tend/util.h"

static bool is_separator(const char *p, size_t n, const char *end);

bool mbox_detect(const char *data, size_t len)
{
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	const char *nl = memchr(data, '\n', len);
	return is_separator(data, nl ? (size_t)(nl - data) : len, data + len);
}

/* "HH:MM" somewhere in the line: envelope lines carry a date, body lines rarely do. */
static bool has_time(const char *p, size_t n)
{
	for (size_t i = 0; i + 4 < n; i++)
		if (p[i + 2] == ':' && p[i] >= '0' && p[i] <= '9' && p[i + 1] >= '0' &&
		    p[i + 1] <= '9' && p[i + 3] >= '0' && p[i + 3] <= '9' && p[i + 4] >= '0' &&
		    p[i + 4] <= '9')
			return true;
	return false;
}

/* An envelope sender standing alone: an address, Netscape's "-", or MAILER-DAEMON. */
static bool is_lone_sender(const char *p, size_t n)
{
	return memchr(p, '@', n) || (n == 1 && *p == '-') ||
	       (n == 13 && memcmp(p, "MAILER-DAEMON", 13) == 0);
}

/* A From_ line: "From SENDER" followed by a date and time, or a lone envelope sender. */
static bool is_from_line(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n < 6 || memcmp(p, "From ", 5) != 0 || p[5] == ' ' || p[5] == '\t')
		return false;
	size_t i = 5;
	while (i < n && p[i] != ' ' && p[i] != '\t')
		i++;
	size_t sender_end = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n)
		return is_lone_sender(p + 5, sender_end - 5);
	return has_time(p + i, n - i);
}

/* The line after a From_ line starts a header ("Name:"), or the message has no header. */
static bool starts_message(const char *p, const char *end)
{
	if (p >= end || *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
		return true;
	const char *q = p;
	while (q<end && * q> ' ' && *q < 127 && *q != ':')
		q++;
	return q > p && q < end && *q == ':';
}

/* A From_ line at p (n bytes, without its newline) that really begins a message. */
static bool is_separator(const char *p, size_t n, const char *end)
{
	if (!is_from_line(p, n))
		return false;
	const char *next = p + n < end ? p + n + 1 : end;
	return starts_message(next, end);
}

/* Copies a message, turning mboxrd's ">From " (and ">>From "...) back by one '>'. */
static char *unescape_from(const char *p, size_t n, size_t *outlen)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	bool bol = true;
	for (size_t i = 0; i < n; i++) {
		if (bol && p[i] == '>') {
			size_t j = i;
			while (j < n && p[j] == '>')
				j++;
			if (n - j >= 5 && memcmp(p + j, "From ", 5) == 0)
				i++;
		}
		out[o++] = p[i];
		bol = p[i] == '\n';
	}
	*outlen = o;
	return out;
}

static bool needs_unescape(const char *p, size_t n)
{
	for (const char *q = p; (q = memmem(q, (size_t)(p + n - q), ">From ", 6)) != NULL; q++) {
		const char *b = q;
		while (b > p && b[-1] == '>')
			b--;
		if (b == p || b[-1] == '\n')
			return true;
	}
	return false;
}

static int emit(const char *p, size_t n, int (*fn)(const struct mbox_entry *, void *), void *arg)
{
	/* The blank line that separates messages belongs to the mbox, not the message. */
	if (n > 0 && p[n - 1] == '\n') {
		size_t k = n - 1;
		if (k > 0 && p[k - 1] == '\r')
			k--;
		if (k > 0 && p[k - 1] == '\n')
			n = k;
	}
	struct mbox_entry e = {p, n};
	if (!needs_unescape(p, n))
		return fn(&e, arg);
	size_t len;
	char *copy = unescape_from(p, n, &len);
	e.data = copy;
	e.len = len;
	int rc = fn(&e, arg);
	free(copy);
	return rc;
}

int mbox_split(const char *data, size_t len, int (*fn)(const struct mbox_entry *, void *),
               void *arg)
{
	const char *end = data + len, *p = data, *msg = NULL;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;
		if (is_separator(p, (size_t)((nl ? nl : end) - p), end)) {
			if (msg) {
				int rc = emit(msg, (size_t)(p - msg), fn, arg);
				if (rc)
					return rc;
			}
			msg = next;
		} else if (!msg) {
			msg = p; /* text before the first From_ line: keep it, don't drop it */
		}
		p = next;
	}
	if (msg && msg < end)
		return emit(msg, (size_t)(end - msg), fn, arg);
	return 0;
}
