/*
 * attach: reading a file to attach, its name and its content type (see include/tend/attach.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tend/attach.h"
#include "tend/util.h"

/* The length of the UTF-8 sequence that starts with c (in sanitized text). */
static size_t u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* A byte that never goes into a name: controls, separators and quotes a reader could trip on. */
static bool bad_byte(unsigned char c)
{
	return c < 32 || c == 127 || c == '/' || c == '\\' || c == '"' || c == '\'';
}

/* Cuts name to max bytes at a character boundary, keeping a short extension. */
static void cut(struct buf *b, size_t max)
{
	const char *dot = strrchr(b->data, '.');
	size_t ext = dot && strlen(dot) <= 10 ? strlen(dot) : 0;
	char *keep = xstrdup(b->data + b->len - ext);
	size_t n = 0;
	while (n < b->len - ext && n + u8len((unsigned char)b->data[n]) <= max - ext)
		n += u8len((unsigned char)b->data[n]);
	b->len = n;
	b->data[n] = '\0';
	buf_puts(b, keep);
	free(keep);
}

char *attach_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	struct buf u = BUF_INIT, out = BUF_INIT;
	utf8_sanitize(&u, base, strlen(base));
	for (size_t i = 0; i < u.len; i++) {
		unsigned char c = (unsigned char)u.data[i];
		bool c1 = c == 0xc2 && i + 1 < u.len && (unsigned char)u.data[i + 1] <= 0x9f;
		buf_putc(&out, bad_byte(c) || c1 ? '_' : (char)c);
		i += c1;
	}
	buf_free(&u);
	if (out.len == 0 || strspn(out.data, ".") == out.len)
		buf_puts(&out, out.len ? "_" : "attachment");
	if (out.len > ATTACH_NAME_MAX)
		cut(&out, ATTACH_NAME_MAX);
	return buf_steal(&out);
}

struct type_entry {
	const char *ext;
	const char *type;
};

/* Common extensions only; anything else is application/octet-stream. */
static const struct type_entry types[] = {
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"zip", "application/zip"},
    {"txt", "text/plain"},
    {"csv", "text/csv"},
    {"ics", "text/calendar"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
};

const char *attach_content_type(const char *name, const char *data, size_t len)
{
	const char *dot = strrchr(name, '.');
	if (dot == NULL)
		return "application/octet-stream";
	for (size_t i = 0; i < NELEM(types); i++) {
		if (!str_ieq(dot + 1, types[i].ext))
			continue;
		bool text = strncmp(types[i].type, "text/", 5) == 0;
		if (text && (memchr(data, '\0', len) || !utf8_valid(data, len)))
			break; /* not what the name says: a reader would show it garbled */
		return types[i].type;
	}
	return "application/octet-stream";
}

static int refuse(char **err, const char *path, const char *why)
{
	char *safe = term_dup(path, TEXT_LINE);
	*err = xasprintf("cannot attach %s: %s", safe, why);
	free(safe);
	return -1;
}

static int read_all(int fd, const char *path, int64_t max, struct buf *b, char **err)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return refuse(err, path, strerror(errno));
		if (n == 0)
			return 0;
		buf_append(b, chunk, (size_t)n);
		if ((int64_t)b->len > max)
			return -2;
	}
}

int attach_read(const char *path, bool nofollow, int64_t max, char **data, size_t *len, char **err)
{
	*data = NULL;
	*len = 0;
	*err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return refuse(err, path,
		              errno == ELOOP && nofollow ? "it is a symbolic link"
		                                         : strerror(errno));
	struct stat st;
	struct buf b = BUF_INIT;
	int rc = fstat(fd, &st) < 0 ? refuse(err, path, strerror(errno)) : 0;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = refuse(err, path, "not a regular file");
	if (rc == 0 && st.st_size > max)
		rc = -2;
	if (rc == 0)
		rc = read_all(fd, path, max, &b, err);
	close(fd);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*len = b.len;
	*data = b.data ? buf_steal(&b) : xstrdup("");
	return 0;
}
