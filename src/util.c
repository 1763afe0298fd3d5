/*
 * util: memory, buffers, string helpers, logging, diagnostics.
 */
#include "tend/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "tend";
static int log_verbosity;

static ATTR_NORETURN void out_of_memory(size_t n)
{
	fprintf(stderr, "%s: out of memory (%zu bytes)\n", log_prog, n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory(nmemb * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		out_of_memory(n);
	return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		out_of_memory(SIZE_MAX);
	return xrealloc(p, nmemb * size);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory(strlen(fmt));
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void buf_reserve(struct buf *b, size_t extra)
{
	if (extra >= SIZE_MAX - b->len) /* len + extra + 1 would wrap around to a small size */
		out_of_memory(SIZE_MAX);
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1) {
		if (cap > SIZE_MAX / 2)
			out_of_memory(SIZE_MAX);
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->data[b->len] = '\0';
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_puts(b, s);
	free(s);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_steal(struct buf *b)
{
	char *s = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void strvec_push_owned(struct strvec *sv, char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 4;
		sv->v = xreallocarray(sv->v, sv->cap, sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
}

void strvec_push(struct strvec *sv, const char *s)
{
	strvec_push_owned(sv, xstrdup(s));
}

bool strvec_contains(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot holding s, or the free slot where it would go. */
static size_t strindex_find(const struct strindex *ix, const struct strvec *sv, const char *s)
{
	size_t mask = ix->cap - 1, h = str_hash(s) & mask;
	while (ix->slot[h] != 0 && strcmp(sv->v[ix->slot[h] - 1], s) != 0)
		h = (h + 1) & mask;
	return h;
}

/* Keeps the table at most half full. */
static void strindex_grow(struct strindex *ix, const struct strvec *sv)
{
	if (2 * (ix->used + 1) <= ix->cap)
		return;
	struct strindex bigger = {NULL, ix->cap ? ix->cap * 2 : 64, 0};
	bigger.slot = xcalloc(bigger.cap, sizeof(*bigger.slot));
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slot[i])
			bigger.slot[strindex_find(&bigger, sv, sv->v[ix->slot[i] - 1])] =
			    ix->slot[i];
	bigger.used = ix->used;
	free(ix->slot);
	*ix = bigger;
}

bool strindex_add(struct strindex *ix, const struct strvec *sv, size_t pos)
{
	strindex_grow(ix, sv);
	size_t h = strindex_find(ix, sv, sv->v[pos]);
	if (ix->slot[h] != 0)
		return false;
	ix->slot[h] = pos + 1;
	ix->used++;
	return true;
}

void strindex_build(struct strindex *ix, const struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		strindex_add(ix, sv, i);
}

bool strindex_contains(const struct strindex *ix, const struct strvec *sv, const char *s)
{
	return ix->cap > 0 && ix->slot[strindex_find(ix, sv, s)] != 0;
}

bool strindex_push(struct strindex *ix, struct strvec *sv, const char *s)
{
	if (strindex_contains(ix, sv, s))
		return false;
	strvec_push(sv, s);
	return strindex_add(ix, sv, sv->n - 1);
}

void strindex_free(struct strindex *ix)
{
	free(ix->slot);
	memset(ix, 0, sizeof(*ix));
}

void strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

static int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool str_ieqn(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
		if (a[i] == '\0')
			return true;
	}
	return true;
}

bool str_icontains(const char *s, const char *word)
{
	int first = ascii_lower((unsigned char)word[0]);
	size_t n = strlen(word);
	if (n == 0)
		return true;
	for (; *s; s++)
		if (ascii_lower((unsigned char)*s) == first && str_ieqn(s, word, n))
			return true;
	return false;
}

bool str_ieq(const char *a, const char *b)
{
	size_t la = strlen(a);
	return la == strlen(b) && str_ieqn(a, b, la);
}

bool str_istarts(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strnlen(s, n) == n && str_ieqn(s, prefix, n);
}

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)ascii_lower((unsigned char)*p);
	return s;
}

char *str_trim_dup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	return len;
}

size_t ascii_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (w & 0x8080808080808080ULL)
			break;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) {
			i += ascii_prefix(s + i, n - i);
			continue;
		}
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

void utf8_sanitize(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;
	buf_reserve(b, n);
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_seq_len(p + i, n - i);
		if (l) {
			i += l;
			continue;
		}
		buf_append(b, s + start, i - start);
		buf_puts(b, "\xef\xbf\xbd");
		i++;
		start = i;
	}
	buf_append(b, s + start, i - start);
}

/* ---- control characters ---- */

/* How many bytes at the start of s are printable ASCII (0x20..0x7e), eight at a time. */
static size_t printable_prefix(const unsigned char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w, del;
		memcpy(&w, s + i, 8);
		del = w ^ (0x7f * ones);
		if ((w & high) || ((w - 0x20 * ones) & ~w & high) || ((del - ones) & ~del & high))
			break;
	}
	while (i < n && s[i] >= 0x20 && s[i] < 0x7f)
		i++;
	return i;
}

/*
 * The character at s, which is not printable ASCII: its length (1 for a byte that is not
 * UTF-8) and whether it is a C1 control, U+0080..U+009F or a stray byte 0x80..0x9f.
 */
static size_t high_char(const unsigned char *s, size_t n, bool *c1)
{
	size_t l = utf8_seq_len(s, n);
	*c1 = l == 2 ? s[0] == 0xc2 && s[1] < 0xa0 : l == 0 && s[0] < 0xa0;
	return l ? l : 1;
}

size_t text_strip_controls(char *s, size_t n, enum text_shape shape)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0, k = 0;
	while (i < n) {
		size_t run = printable_prefix(p + i, n - i);
		if (k != i)
			memmove(p + k, p + i, run);
		i += run;
		k += run;
		if (i >= n)
			break;
		unsigned char c = p[i];
		if (c >= 0x80) {
			bool c1;
			size_t l = high_char(p + i, n - i, &c1);
			if (!c1)
				memmove(p + k, p + i, l);
			k += c1 ? 0 : l;
			i += l;
			continue;
		}
		if (c == '\t' || (c == '\n' && shape == TEXT_LINES)) {
			p[k++] = c;
		} else if (c == '\r' || c == '\n') {
			p[k++] = shape == TEXT_LINES ? '\n' : ' ';
			i += c == '\r' && i + 1 < n && p[i + 1] == '\n';
		}
		i++;
	}
	p[k] = '\0';
	return k;
}

/* A character that is not ASCII at s: as it is, or escaped when it is a control or not UTF-8. */
static size_t term_high(struct buf *b, const unsigned char *s, size_t n)
{
	bool c1;
	size_t l = high_char(s, n, &c1);
	if (l == 1)
		buf_printf(b, "\\x%02x", s[0]);
	else if (c1)
		buf_printf(b, "\\u%04x", s[1]); /* U+0080..U+009F is 0xc2 followed by itself */
	else
		buf_append(b, s, l);
	return l;
}

void term_put(struct buf *b, const char *s, enum text_shape shape)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0;
	buf_reserve(b, n);
	while (i < n) {
		size_t run = printable_prefix(p + i, n - i);
		buf_append(b, p + i, run);
		if ((i += run) >= n)
			break;
		unsigned char c = p[i];
		if (c >= 0x80) {
			i += term_high(b, p + i, n - i);
			continue;
		}
		if (shape == TEXT_LINES && (c == '\n' || c == '\t'))
			buf_putc(b, (char)c);
		else if (shape == TEXT_LINE && (c == '\n' || c == '\t' || c == '\r'))
			buf_putc(b, ' ');
		else
			buf_printf(b, "\\x%02x", c);
		i++;
	}
}

char *term_dup(const char *s, enum text_shape shape)
{
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	term_put(&b, s, shape);
	return buf_steal(&b);
}

void log_init(const char *progname, int verbosity)
{
	log_prog = progname;
	log_verbosity = verbosity;
}

static void log_vemit(const char *fmt, va_list ap, const char *err) ATTR_PRINTF(1, 0);

static void log_vemit(const char *fmt, va_list ap, const char *err)
{
	char *msg = xvasprintf(fmt, ap);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s: ", log_prog);
	term_put(&b, msg, TEXT_LINE); /* a warning may quote mail; it stays one line */
	if (err)
		buf_printf(&b, ": %s", err);
	buf_putc(&b, '\n');
	fwrite(b.data, 1, b.len, stderr);
	fflush(stderr);
	buf_free(&b);
	free(msg);
}

void log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, err);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, NULL);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	if (log_verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, NULL);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (log_verbosity < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, NULL);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, err);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void diag_add(struct diags *d, const char *file, int line, int column, const char *fmt, ...)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	struct diag *g = &d->v[d->n++];
	va_list ap;
	va_start(ap, fmt);
	g->msg = xvasprintf(fmt, ap);
	va_end(ap);
	g->file = xstrdup(file ? file : "");
	g->line = line;
	g->column = column;
}

char *diag_format(const struct diag *d)
{
	if (d->line > 0 && d->column > 0)
		return xasprintf("%s:%d:%d: %s", d->file, d->line, d->column, d->msg);
	if (d->line > 0)
		return xasprintf("%s:%d: %s", d->file, d->line, d->msg);
	return xasprintf("%s: %s", d->file, d->msg);
}

void diags_print(const struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->v[i]);
		fprintf(stderr, "%s\n", s);
		free(s);
	}
}

void diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

int read_file(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	struct buf b = BUF_INIT;
	buf_reserve(&b, st.st_size > 0 ? (size_t)st.st_size : 4096);
	for (;;) {
		buf_reserve(&b, 65536);
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			buf_free(&b);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	b.data[b.len] = '\0';
	close(fd);
	*len = b.len;
	*data = buf_steal(&b);
	return 0;
}

int parse_duration(const char *s, int64_t *seconds)
{
	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	int64_t unit = 1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > INT64_MAX / unit)
		return -1;
	*seconds = (int64_t)v * unit;
	return 0;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[64] = '\0';
}

/*
 * glibc converts to a named zone only through $TZ, and reads the zone's file again every time
 * $TZ changes. So the zone is switched under one lock (and restored before unlocking) only to
 * learn UTC days' offsets: at each day's first and last second, and, on the two days a year
 * the clocks change, the instant they change (found by bisection while the zone is set). Every
 * conversion is then plain arithmetic from a small cache; the SLA clock asks for many instants
 * of the same days.
 */
#define ZONE_CACHE 4096
#define ZONE_SPAN  64 /* days learnt per switch of $TZ: mail comes roughly in date order */

int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse (H. Hinnant's civil_from_days): year, month 1-12, day of days since 1970. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The day (since 1970-01-01) that instant t falls in: division rounding down. */
static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : (t - 86399) / 86400;
}

void utc_time(int64_t t, struct tm *out)
{
	int64_t day = day_of(t), y;
	int64_t sec = t - day * 86400;
	int m, d;
	civil_from_days(day, &y, &m, &d);
	memset(out, 0, sizeof(*out));
	out->tm_year = (int)(y - 1900);
	out->tm_mon = m - 1;
	out->tm_mday = d;
	out->tm_hour = (int)(sec / 3600);
	out->tm_min = (int)(sec / 60 % 60);
	out->tm_sec = (int)(sec % 60);
	out->tm_wday = (int)((day % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	out->tm_yday = (int)(day - days_from_civil(y, 1, 1));
	out->tm_zone = "GMT";
}

struct zone_part {
	long off; /* seconds east of UTC */
	int isdst;
	char abbr[16];
};

struct zone_day {
	char zone[64];
	int64_t day;              /* UTC day number */
	struct zone_part part[2]; /* before and from change */
	int64_t change;           /* INT64_MAX: one offset all day */
	bool mixed;               /* more than one change in the day: ask the C library */
	bool used;
};

static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zone_day zone_cache[ZONE_CACHE];

char *tz_set(const char *zone)
{
	const char *old = getenv("TZ");
	char *saved = old ? xstrdup(old) : NULL;
	setenv("TZ", zone, 1);
	tzset();
	return saved;
}

void tz_restore(char *saved)
{
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

static struct zone_day *zone_slot(const char *zone, int64_t day)
{
	uint64_t h = (uint64_t)day * 0x9e3779b97f4a7c15u;
	for (const char *p = zone; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3u;
	return &zone_cache[h % ZONE_CACHE];
}

static void zone_part_set(struct zone_part *p, const struct tm *tm)
{
	p->off = tm->tm_gmtoff;
	p->isdst = tm->tm_isdst;
	snprintf(p->abbr, sizeof(p->abbr), "%s", tm->tm_zone ? tm->tm_zone : "");
}

static bool same_part(const struct tm *a, const struct tm *b)
{
	return a->tm_gmtoff == b->tm_gmtoff && a->tm_isdst == b->tm_isdst;
}

/* Learns one day while $TZ is the zone: its offsets, and the change between them. */
static void zone_learn(const char *zone, int64_t day)
{
	struct zone_day *e = zone_slot(zone, day);
	time_t lo = (time_t)(day * 86400), hi = lo + 86399;
	struct tm first, last, mid;
	localtime_r(&lo, &first);
	localtime_r(&hi, &last);
	snprintf(e->zone, sizeof(e->zone), "%s", zone);
	e->day = day;
	e->used = true;
	e->mixed = false;
	e->change = INT64_MAX;
	zone_part_set(&e->part[0], &first);
	zone_part_set(&e->part[1], &last);
	if (same_part(&first, &last))
		return;
	while (hi - lo > 1) { /* lo has the first offset, hi does not */
		time_t m = lo + (hi - lo) / 2;
		localtime_r(&m, &mid);
		*(same_part(&mid, &first) ? &lo : &hi) = m;
	}
	localtime_r(&hi, &mid);
	e->change = (int64_t)hi;
	e->mixed = !same_part(&mid, &last);
}

/* The day's entry; on a miss, ZONE_SPAN days from a week before it are learnt. */
static struct zone_day *zone_day(const char *zone, int64_t day)
{
	struct zone_day *e = zone_slot(zone, day);
	if (e->used && e->day == day && strcmp(e->zone, zone) == 0)
		return e;
	char *saved = tz_set(zone);
	for (int64_t d = day - 7; d < day - 7 + ZONE_SPAN; d++)
		zone_learn(zone, d);
	zone_learn(zone, day); /* last: no neighbour took its slot */
	tz_restore(saved);
	return e;
}

static void from_part(const struct zone_part *p, int64_t t, struct tm *out)
{
	static __thread char abbr[16];
	utc_time(t + p->off, out);
	out->tm_isdst = p->isdst;
	out->tm_gmtoff = p->off;
	memcpy(abbr, p->abbr, sizeof(abbr));
	out->tm_zone = abbr;
}

/* Copies of the days this thread asked for last, by day number modulo 4: a deadline asks
 * about a day and its neighbours several times in turn (a local midnight is the evening
 * before in UTC), and then needs neither the lock nor the shared table. */
static __thread struct zone_day near_days[4];

/* The part of its day that t falls in, from this thread's copies or the shared table; NULL
 * when only the C library can tell (a day with two changes, a name too long to keep). */
static const struct zone_part *zone_part_at(const char *zone, int64_t t)
{
	int64_t day = day_of(t);
	struct zone_day *e = &near_days[day & 3];
	if (strlen(zone) >= sizeof(e->zone))
		return NULL;
	if (!e->used || e->day != day || strcmp(e->zone, zone) != 0) {
		pthread_mutex_lock(&zone_lock);
		*e = *zone_day(zone, day);
		pthread_mutex_unlock(&zone_lock);
	}
	return e->mixed ? NULL : &e->part[t >= e->change];
}

static void libc_local_time(const char *zone, int64_t t, struct tm *out)
{
	time_t tt = (time_t)t;
	pthread_mutex_lock(&zone_lock);
	char *saved = tz_set(zone);
	localtime_r(&tt, out);
	tz_restore(saved);
	pthread_mutex_unlock(&zone_lock);
}

void local_time_in(const char *zone, int64_t t, struct tm *out)
{
	if (!zone || !*zone) {
		time_t tt = (time_t)t;
		localtime_r(&tt, out);
		return;
	}
	const struct zone_part *p = zone_part_at(zone, t);
	if (p)
		from_part(p, t, out);
	else
		libc_local_time(zone, t, out);
}

long local_offset_in(const char *zone, int64_t t)
{
	const struct zone_part *p = zone && *zone ? zone_part_at(zone, t) : NULL;
	if (p)
		return p->off;
	struct tm tm;
	local_time_in(zone, t, &tm);
	return tm.tm_gmtoff;
}

int util_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
