/*
 * import: files and directories -> the ingest pipeline, in batches.
 */
#include "tend/import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BATCH    1000
#define BATCH_BYTES      (64u << 20)
#define MAX_DIR_DEPTH    64
#define PROGRESS_EVERY_S 0.2

struct run {
	struct ingest *in;
	const struct import_options *opt;
	struct import_report *rep;
	size_t in_batch;
	size_t batch_bytes;
	int store_rc; /* first store failure: stops the import */
	const char *path;
	size_t mbox_index; /* 1-based position in the current mbox, 0 for a single message */
	int64_t file_time;
	struct buf file; /* a small file's bytes, the buffer reused from file to file */
	struct timespec start;
	double last_progress;
};

static double elapsed(const struct run *r)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - r->start.tv_sec) + (now.tv_nsec - r->start.tv_nsec) / 1e9;
}

static void progress(struct run *r, bool final)
{
	if (!r->opt->progress)
		return;
	double t = elapsed(r);
	if (!final && t - r->last_progress < PROGRESS_EVERY_S)
		return;
	r->last_progress = t;
	fprintf(stderr, "\rimporting: %llu messages, %.1f s%s",
	        (unsigned long long)r->rep->messages, t, final ? "\r\033[K" : "");
	fflush(stderr);
}

static int flush_batch(struct run *r)
{
	int rc = ingest_commit(r->in);
	r->in_batch = 0;
	r->batch_bytes = 0;
	return rc;
}

/* Feeds one message to the pipeline, committing when the batch is full. */
static int add_message(struct run *r, const char *data, size_t len)
{
	int rc;
	if ((rc = ingest_begin(r->in)) < 0)
		goto fail;
	/* An mbox message is named by its position, so an operator can find it again. */
	char *label = r->mbox_index ? xasprintf("%s#%zu", r->path, r->mbox_index) : NULL;
	struct ingest_source src = {.label = label ? label : r->path, .file_time = r->file_time};
	enum ingest_outcome outcome;
	rc = ingest_add(r->in, data, len, &src, &outcome, NULL);
	free(label);
	if (rc < 0) {
		ingest_abort(r->in);
		goto fail;
	}
	r->rep->messages++;
	r->in_batch++;
	r->batch_bytes += len;
	size_t batch = r->opt->batch_messages ? r->opt->batch_messages : DEFAULT_BATCH;
	if ((r->in_batch >= batch || r->batch_bytes >= BATCH_BYTES) && (rc = flush_batch(r)) < 0)
		goto fail;
	progress(r, false);
	return 0;
fail:
	r->store_rc = rc;
	return rc;
}

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

static int mbox_cb(const struct mbox_entry *e, void *arg)
{
	struct run *r = arg;
	r->mbox_index++;
	return add_message(r, e->data, e->len) < 0 ? -1 : 0;
}

#define READ_MAX (4 << 20) /* larger files (mboxes) are mapped, not copied into memory */

/* The open file's bytes: read into r->file when small, else mapped (*mapped says so). */
static int load_file(struct run *r, int fd, const struct stat *st, const char **data, size_t *len,
                     bool *mapped)
{
	*len = (size_t)st->st_size;
	*data = "";
	*mapped = st->st_size > READ_MAX;
	if (*mapped) {
		void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED)
			return -1;
		*data = m;
		return 0;
	}
	r->file.len = 0;
	buf_reserve(&r->file, *len + 1);
	size_t got = 0;
	while (got < *len) {
		ssize_t n = read(fd, r->file.data + got, *len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break; /* shrank since fstat */
		got += (size_t)n;
	}
	r->file.len = *len = got;
	*data = r->file.data;
	return 0;
}

static void unreadable(struct run *r, const char *path)
{
	int e = errno;
	if (r->opt->progress)
		fputs("\r\033[K", stderr);
	log_warnx("cannot read %s: %s", path, strerror(e));
	r->rep->unreadable++;
}

static int import_file(struct run *r, const char *path, int fd, const struct stat *st)
{
	const char *data;
	size_t len;
	bool mapped;
	if (load_file(r, fd, st, &data, &len, &mapped) < 0) {
		unreadable(r, path);
		return 0;
	}
	r->file_time = (int64_t)st->st_mtime;
	r->rep->files++;
	r->path = path;
	r->mbox_index = 0;
	int rc;
	if (mbox_detect(data, len))
		rc = mbox_split(data, len, mbox_cb, r);
	else
		rc = add_message(r, data, len);
	r->mbox_index = 0;
	if (mapped)
		munmap((void *)data, len);
	return rc < 0 ? -1 : 0;
}

static int import_path(struct run *r, const char *path, int depth);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries of a directory worth importing, sorted so the order is the same on every run. */
static int list_dir(const char *path, struct strvec *names)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		/* Dot files are metadata (.notmuch, .mbsyncstate, .uidvalidity). */
		if (de->d_name[0] == '.')
			continue;
		strvec_push(names, de->d_name);
	}
	closedir(d);
	if (names->n)
		qsort(names->v, names->n, sizeof(*names->v), cmp_names);
	return 0;
}

static int import_dir(struct run *r, const char *path, int depth)
{
	struct strvec names = STRVEC_INIT;
	if (list_dir(path, &names) < 0) {
		unreadable(r, path);
		return 0;
	}
	/* A maildir's tmp/ holds deliveries in progress, not messages. */
	bool maildir = strvec_contains(&names, "cur") && strvec_contains(&names, "new");
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		if (maildir && strcmp(names.v[i], "tmp") == 0)
			continue;
		char *child = xasprintf("%s/%s", path, names.v[i]);
		rc = import_path(r, child, depth + 1);
		free(child);
	}
	strvec_free(&names);
	return rc;
}

/* Opened first, then asked what it is: one system call fewer per message of a maildir.
 * O_NONBLOCK: a FIFO among the files must not hang the import (it is then skipped). */
static int import_path(struct run *r, const char *path, int depth)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		unreadable(r, path);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	int rc = 0;
	if (S_ISREG(st.st_mode))
		rc = import_file(r, path, fd, &st);
	close(fd);
	if (!S_ISDIR(st.st_mode))
		return rc;
	if (depth >= MAX_DIR_DEPTH) {
		errno = ELOOP;
		unreadable(r, path);
		return 0;
	}
	return import_dir(r, path, depth);
}

int import_paths(struct ingest *in, char *const *paths, size_t npaths,
                 const struct import_options *opt, struct import_report *rep)
{
	struct run r = {.in = in, .opt = opt, .rep = rep};
	memset(rep, 0, sizeof(*rep));
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	int rc = 0;
	for (size_t i = 0; i < npaths && rc == 0; i++)
		rc = import_path(&r, paths[i], 0);
	if (rc == 0 && r.store_rc == 0 && (rc = flush_batch(&r)) < 0)
		r.store_rc = rc;
	progress(&r, true);
	buf_free(&r.file);
	rep->seconds = elapsed(&r);
	if (r.store_rc < 0)
		return r.store_rc;
	return rep->unreadable ? 1 : 0;
}
