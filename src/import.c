/*
 * import: files and directories -> the ingest pipeline, in batches.
 *
 * Two threads: a reader walks the paths, reads each file, splits mboxes and parses every
 * message (with the rules' verdict) ahead; the caller's thread stores them in order, commits
 * the batches and reports. Between them a queue bounded in messages and bytes. The order is
 * the walk's, as it would be on one thread, so an import stores the same thing either way.
 */
#include "tend/import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#define QUEUE_ITEMS      1024
#define QUEUE_BYTES      (16u << 20) /* of raw mail read ahead (as much again being stored) */
#define HANDOFF_ITEMS    64
#define HANDOFF_BYTES    (QUEUE_BYTES / 4)
#define READ_MAX         (4 << 20) /* larger files (mboxes) are mapped, not read */

/* A message read and parsed, or a path that could not be read (then err is set). */
struct item {
	struct item *next;
	char *raw;
	size_t len;
	char *label; /* the message's source: the path, with #N in an mbox */
	int64_t file_time;
	struct ingest_parsed *parsed;
	int err;
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t filled, drained;
	struct item *head, *tail;
	size_t n, bytes;
	bool taker_waits, putter_waits;
	bool done; /* the reader has finished */
	bool stop; /* the store failed: the reader gives up */
};

/* The reader's side. */
struct walk {
	const struct ingest *in;
	struct import_report *rep; /* files only: the rest is the storing side's */
	struct queue *q;
	char *const *paths;
	size_t npaths;
	const char *path;
	size_t mbox_index; /* 1-based position in the current mbox */
	int64_t file_time;
};

/* The storing side. */
struct run {
	struct ingest *in;
	const struct import_options *opt;
	struct import_report *rep;
	size_t in_batch;
	size_t batch_bytes;
	int store_rc; /* first store failure: stops the import */
	struct timespec start;
	double last_progress;
};

static void item_free(struct item *it)
{
	ingest_parsed_free(it->parsed);
	free(it->raw);
	free(it->label);
	free(it);
}

/* Queues it, waiting for room; false (it freed) when the storing side has stopped. The
 * storing side is woken for a handful of messages at a time, not for each: a wake-up costs
 * more than parsing a message. */
static bool queue_put(struct queue *q, struct item *it)
{
	pthread_mutex_lock(&q->lock);
	while (!q->stop && (q->n >= QUEUE_ITEMS || (q->n > 0 && q->bytes >= QUEUE_BYTES))) {
		q->putter_waits = true;
		pthread_cond_wait(&q->drained, &q->lock);
	}
	q->putter_waits = false;
	bool stop = q->stop;
	if (!stop) {
		*(q->tail ? &q->tail->next : &q->head) = it;
		q->tail = it;
		q->n++;
		q->bytes += it->len;
		if (q->taker_waits && (q->n >= HANDOFF_ITEMS || q->bytes >= HANDOFF_BYTES))
			pthread_cond_signal(&q->filled);
	}
	pthread_mutex_unlock(&q->lock);
	if (stop)
		item_free(it);
	return !stop;
}

/* All items queued, in order; NULL when the reader is done and all is taken. */
static struct item *queue_take_all(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->head == NULL && !q->done) {
		q->taker_waits = true;
		pthread_cond_wait(&q->filled, &q->lock);
	}
	q->taker_waits = false;
	struct item *list = q->head;
	q->head = q->tail = NULL;
	q->n = q->bytes = 0;
	if (q->putter_waits)
		pthread_cond_signal(&q->drained);
	pthread_mutex_unlock(&q->lock);
	return list;
}

static void queue_set(struct queue *q, bool *flag)
{
	pthread_mutex_lock(&q->lock);
	*flag = true;
	pthread_cond_broadcast(&q->filled);
	pthread_cond_broadcast(&q->drained);
	pthread_mutex_unlock(&q->lock);
}

/* ---- the reader ---- */

/* Parses raw (taken over) and queues it; false when the import has stopped. */
static bool send_message(struct walk *w, char *raw, size_t len)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->raw = raw;
	it->len = len;
	/* An mbox message is named by its position, so an operator can find it again. */
	it->label = w->mbox_index ? xasprintf("%s#%zu", w->path, w->mbox_index) : xstrdup(w->path);
	it->file_time = w->file_time;
	struct ingest_source src = {.file_time = w->file_time};
	it->parsed = ingest_parse(w->in, raw, len, &src);
	return queue_put(w->q, it);
}

static bool send_unreadable(struct walk *w, const char *path)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->err = errno ? errno : EIO;
	it->label = xstrdup(path);
	return queue_put(w->q, it);
}

static int mbox_cb(const struct mbox_entry *e, void *arg)
{
	struct walk *w = arg;
	w->mbox_index++;
	char *raw = xmalloc(e->len + 1);
	memcpy(raw, e->data, e->len);
	raw[e->len] = '\0';
	return send_message(w, raw, e->len) ? 0 : -1;
}

/* The open file's bytes: read into a buffer of their own when small (*mapped false), else
 * mapped. */
static int load_file(int fd, const struct stat *st, char **data, size_t *len, bool *mapped)
{
	*len = (size_t)st->st_size;
	*mapped = st->st_size > READ_MAX;
	if (*mapped) {
		void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
		*data = m == MAP_FAILED ? NULL : m;
		return *data ? 0 : -1;
	}
	*data = xmalloc(*len + 1);
	size_t got = 0;
	while (got < *len) {
		ssize_t n = read(fd, *data + got, *len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno; /* the reason the operator is told; free may not keep it */
			free(*data);
			errno = e;
			return -1;
		}
		if (n == 0)
			break; /* shrank since fstat */
		got += (size_t)n;
	}
	(*data)[got] = '\0';
	*len = got;
	return 0;
}

/* Returns -1 only when the import has stopped. */
static int walk_file(struct walk *w, const char *path, int fd, const struct stat *st)
{
	char *data;
	size_t len;
	bool mapped;
	if (load_file(fd, st, &data, &len, &mapped) < 0)
		return send_unreadable(w, path) ? 0 : -1;
	w->file_time = (int64_t)st->st_mtime;
	w->rep->files++;
	w->path = path;
	w->mbox_index = 0;
	int rc = 0;
	if (mbox_detect(data, len)) {
		rc = mbox_split(data, len, mbox_cb, w);
	} else if (mapped) {
		char *copy = xmalloc(len + 1);
		memcpy(copy, data, len);
		copy[len] = '\0';
		rc = send_message(w, copy, len) ? 0 : -1;
	} else {
		rc = send_message(w, data, len) ? 0 : -1;
		data = NULL; /* the item's now */
	}
	w->mbox_index = 0;
	if (mapped)
		munmap(data, len);
	else
		free(data);
	return rc < 0 ? -1 : 0;
}

static int walk_path(struct walk *w, const char *path, int depth);

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

static int walk_dir(struct walk *w, const char *path, int depth)
{
	struct strvec names = STRVEC_INIT;
	if (list_dir(path, &names) < 0)
		return send_unreadable(w, path) ? 0 : -1;
	/* A maildir's tmp/ holds deliveries in progress, not messages. */
	bool maildir = strvec_contains(&names, "cur") && strvec_contains(&names, "new");
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		if (maildir && strcmp(names.v[i], "tmp") == 0)
			continue;
		char *child = xasprintf("%s/%s", path, names.v[i]);
		rc = walk_path(w, child, depth + 1);
		free(child);
	}
	strvec_free(&names);
	return rc;
}

/* Opened first, then asked what it is: one system call fewer per message of a maildir.
 * O_NONBLOCK: a FIFO among the files must not hang the import (it is then skipped). */
static int walk_path(struct walk *w, const char *path, int depth)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return send_unreadable(w, path) ? 0 : -1;
	}
	int rc = 0;
	if (S_ISREG(st.st_mode))
		rc = walk_file(w, path, fd, &st);
	close(fd);
	if (!S_ISDIR(st.st_mode) || rc < 0)
		return rc;
	if (depth >= MAX_DIR_DEPTH) {
		errno = ELOOP;
		return send_unreadable(w, path) ? 0 : -1;
	}
	return walk_dir(w, path, depth);
}

static void *reader(void *arg)
{
	struct walk *w = arg;
	pthread_setname_np(pthread_self(), "tend-read"); /* as ps -L and perf show it */
	for (size_t i = 0; i < w->npaths; i++)
		if (walk_path(w, w->paths[i], 0) < 0)
			break;
	queue_set(w->q, &w->q->done);
	return NULL;
}

/* ---- the storing side ---- */

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
	if (rc == 0 && r->opt->committed)
		r->opt->committed(r->opt->committed_arg);
	r->in_batch = 0;
	r->batch_bytes = 0;
	return rc;
}

static void unreadable(struct run *r, const struct item *it)
{
	if (r->opt->progress)
		fputs("\r\033[K", stderr);
	log_warnx("cannot read %s: %s", it->label, strerror(it->err));
	r->rep->unreadable++;
}

/* Stores one message, committing when the batch is full. */
static int add_message(struct run *r, struct item *it)
{
	int rc;
	struct ingest_parsed *p = it->parsed;
	it->parsed = NULL;
	if ((rc = ingest_begin(r->in)) < 0) {
		ingest_parsed_free(p);
		return rc;
	}
	struct ingest_source src = {
	    .label = it->label,
	    .file_time = it->file_time,
	    .ours = r->opt->sent ? "it was imported as sent mail (tend import --sent)" : NULL,
	};
	enum ingest_outcome outcome;
	if ((rc = ingest_add_parsed(r->in, p, it->raw, it->len, &src, &outcome, NULL)) < 0) {
		ingest_abort(r->in);
		return rc;
	}
	r->rep->messages++;
	r->in_batch++;
	r->batch_bytes += it->len;
	size_t batch = r->opt->batch_messages ? r->opt->batch_messages : DEFAULT_BATCH;
	if ((r->in_batch >= batch || r->batch_bytes >= BATCH_BYTES) && (rc = flush_batch(r)) < 0)
		return rc;
	progress(r, false);
	return 0;
}

/* Stores one item (or reports it unreadable); on a store failure tells the reader to stop. */
static void store_one(struct run *r, struct queue *q, struct item *it)
{
	if (r->store_rc < 0)
		return; /* what the reader had queued before it heard */
	int rc = 0;
	if (it->err)
		unreadable(r, it);
	else
		rc = add_message(r, it);
	if (rc < 0) {
		r->store_rc = rc;
		queue_set(q, &q->stop);
	}
}

static bool queue_empty(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	bool empty = q->head == NULL && !q->done;
	pthread_mutex_unlock(&q->lock);
	return empty;
}

/* Takes the reader's items until it is done. */
static void store_all(struct run *r, struct queue *q)
{
	struct item *it;
	for (;;) {
		/* The reader runs fact lookups: no write transaction stays open while it does. */
		if (r->in_batch && r->store_rc == 0 && ingest_has_lookups(r->in) &&
		    queue_empty(q) && (r->store_rc = flush_batch(r)) < 0)
			queue_set(q, &q->stop);
		if ((it = queue_take_all(q)) == NULL)
			break;
		while (it) {
			struct item *next = it->next;
			store_one(r, q, it);
			item_free(it);
			it = next;
		}
	}
}

int import_paths(struct ingest *in, char *const *paths, size_t npaths,
                 const struct import_options *opt, struct import_report *rep)
{
	struct run r = {.in = in, .opt = opt, .rep = rep};
	struct queue q = {.lock = PTHREAD_MUTEX_INITIALIZER,
	                  .filled = PTHREAD_COND_INITIALIZER,
	                  .drained = PTHREAD_COND_INITIALIZER};
	struct walk w = {.in = in, .rep = rep, .q = &q, .paths = paths, .npaths = npaths};
	memset(rep, 0, sizeof(*rep));
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	pthread_t tid;
	if ((errno = pthread_create(&tid, NULL, reader, &w)) != 0)
		fatal("import: cannot start the reading thread");
	store_all(&r, &q);
	pthread_join(tid, NULL);
	if (r.store_rc == 0)
		r.store_rc = flush_batch(&r);
	progress(&r, true);
	rep->seconds = elapsed(&r);
	if (r.store_rc < 0)
		return r.store_rc;
	return rep->unreadable ? 1 : 0;
}
