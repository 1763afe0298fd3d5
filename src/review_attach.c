/*
 * review_attach: `tend attach` and `tend detach`, the files that go out with a draft.
 *
 * A file is read whole when it is attached and its bytes are kept in the store (the files
 * database, see store_file), so the draft is complete in itself: what the agent attached is
 * what is sent, whatever happens to the file on disk afterwards. The files of a draft count
 * together against limits.attachments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "review_int.h"
#include "tend/attach.h"

/* A file read from disk, waiting for the transaction. */
struct loaded {
	char *name;
	const char *type;
	char *data;
	size_t len;
};

static void loaded_free(struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].data);
	}
	free(v);
}

uint64_t review_files_size(const struct store_draft *d)
{
	uint64_t total = 0;
	for (size_t i = 0; i < d->nfiles; i++)
		total += d->files[i].size;
	return total;
}

static int too_big(char **err, const char *what, uint64_t size, int64_t max)
{
	return review_refuse(
	    err,
	    "cannot attach %s: the draft's attachments would come to %" PRIu64
	    " bytes, more than the %lld allowed (limits.attachments in tend.yaml); "
	    "nothing was attached",
	    what, size, (long long)max);
}

/* Reads every file before the transaction begins: a slow disk holds no lock. */
static int load_all(const struct config *c, char *const *paths, size_t n, struct loaded **out,
                    char **err)
{
	struct loaded *v = xcalloc(n ? n : 1, sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc =
		    attach_read(paths[i], false, c->limits.attachments, &v[i].data, &v[i].len, err);
		v[i].name = attach_name(paths[i]);
		if (rc == ATTACH_TOO_BIG) {
			char *safe = term_dup(paths[i], TEXT_LINE);
			rc = review_refuse(
			    err,
			    "cannot attach %s: it is larger than the %lld bytes allowed "
			    "for a draft's attachments (limits.attachments in tend.yaml); "
			    "nothing was attached",
			    safe, (long long)c->limits.attachments);
			free(safe);
		} else if (rc < 0) {
			char *more = xasprintf("%s; nothing was attached", *err);
			free(*err);
			*err = more;
			rc = REVIEW_REFUSED;
		} else {
			v[i].type = attach_content_type(v[i].name, v[i].data, v[i].len);
		}
	}
	*out = v;
	return rc;
}

/* Adds one loaded file to the draft in tg's transaction. */
static int add_file(struct review_target *tg, const struct review_agent *a, const struct loaded *f,
                    int64_t now)
{
	struct store_draft *d = tg->d;
	uint32_t seq = d->file_seq++;
	int rc = store_put_file(tg->t, d->id, seq, f->data, f->len);
	if (rc < 0)
		return rc;
	d->files = xreallocarray(d->files, d->nfiles + 1, sizeof(*d->files));
	d->files[d->nfiles++] = (struct store_file){
	    .name = xstrdup(f->name),
	    .content_type = xstrdup(f->type),
	    .size = f->len,
	    .seq = seq,
	};
	char *detail = xasprintf("%s (%s, %zu bytes)", f->name, f->type, f->len);
	rc = review_audit(tg, a, "attach", detail, now);
	free(detail);
	return rc;
}

int review_attach(struct store *s, const struct config *c, uint64_t thread,
                  const struct review_agent *a, char *const *paths, size_t n, char **err)
{
	struct loaded *v = NULL;
	struct review_target tg;
	int rc = load_all(c, paths, n, &v, err);
	if (rc == 0)
		rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0) {
		loaded_free(v, n);
		return rc;
	}
	if ((rc = review_need_proposed(&tg, "attach files to", err)) == 0) {
		uint64_t total = review_files_size(tg.d);
		for (size_t i = 0; i < n; i++)
			total += v[i].len;
		if (total > (uint64_t)c->limits.attachments)
			rc = too_big(err, n == 1 ? v[0].name : "these files", total,
			             c->limits.attachments);
	}
	if (rc < 0) {
		review_target_close(&tg);
		loaded_free(v, n);
		return rc;
	}
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_file(&tg, a, &v[i], now);
	tg.d->updated = now;
	if (rc == 0)
		rc = store_put_draft(tg.t, tg.d);
	loaded_free(v, n);
	return review_finish(&tg, rc, "attach files to", err);
}

int review_detach(struct store *s, uint64_t thread, const struct review_agent *a, size_t index,
                  char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_need_proposed(&tg, "detach files from", err)) == 0 &&
	    (index == 0 || index > tg.d->nfiles))
		rc = review_refuse(err, "thread %llu: the draft has no attachment %zu (it has %zu)",
		                   (unsigned long long)tg.id, index, tg.d->nfiles);
	if (rc < 0) {
		review_target_close(&tg);
		return rc;
	}
	struct store_draft *d = tg.d;
	struct store_file f = d->files[index - 1];
	memmove(d->files + index - 1, d->files + index, (d->nfiles - index) * sizeof(*d->files));
	d->nfiles--;
	int64_t now = (int64_t)time(NULL);
	d->updated = now;
	rc = store_del_file(tg.t, d->id, f.seq);
	if (rc == 0)
		rc = store_put_draft(tg.t, d);
	if (rc == 0)
		rc = review_audit(&tg, a, "detach", f.name, now);
	free(f.name);
	free(f.content_type);
	free(f.rule);
	return review_finish(&tg, rc, "detach files from", err);
}

static void limits_of(const struct config *c, struct message_limits *l)
{
	*l = message_default_limits;
	l->max_size = (size_t)c->limits.message_size;
	l->max_headers = (size_t)c->limits.header_count;
	l->max_depth = (size_t)c->limits.mime_depth;
	l->max_parts = (size_t)c->limits.mime_parts;
	l->max_addresses = (size_t)c->limits.addresses;
}

/* The n-th attachment of a message read in t; rc as review_attachment. */
static int attachment_in(struct store_txn *t, const struct config *c, uint64_t msg, size_t n,
                         struct review_file *out, char **err)
{
	struct store_message *m = NULL;
	const char *raw;
	size_t len;
	int rc = store_get_message(t, msg, &m);
	if (rc == STORE_NOTFOUND)
		return review_refuse(err, "no message %llu", (unsigned long long)msg);
	if (rc == 0 && (n == 0 || n > m->nattachments))
		rc = review_refuse(err, "message %llu has no attachment %zu (it has %zu)",
		                   (unsigned long long)msg, n, m->nattachments);
	if (rc == 0 && (rc = store_get_raw(t, msg, &raw, &len)) == 0) {
		struct message_limits l;
		char *why = NULL;
		limits_of(c, &l);
		int prc = message_attachment(raw, len, &l, n - 1, &out->data, &why);
		if (prc != 0)
			rc = review_refuse(err, "cannot read attachment %zu of message %llu: %s", n,
			                   (unsigned long long)msg,
			                   why ? why : "it is not there now");
		free(why);
	}
	if (rc == 0) {
		const struct message_attachment *a = &m->attachments[n - 1];
		out->name = attach_name(a->filename ? a->filename : "attachment");
		out->content_type = xstrdup(a->content_type);
	}
	if (rc < 0 && *err == NULL)
		*err = xasprintf("cannot read message %llu: %s", (unsigned long long)msg,
		                 store_strerror(rc));
	store_message_free(m);
	return rc;
}

int review_attachment(struct store *s, const struct config *c, uint64_t msg, size_t n,
                      struct review_file *out, char **err)
{
	struct store_txn *t = NULL;
	memset(out, 0, sizeof(*out));
	*err = NULL;
	int rc = store_begin(s, false, &t);
	if (rc < 0) {
		*err = xasprintf("cannot read the store: %s", store_strerror(rc));
		return rc;
	}
	rc = attachment_in(t, c, msg, n, out, err);
	store_abort(t);
	if (rc < 0)
		review_file_finish(out);
	return rc;
}

void review_file_finish(struct review_file *f)
{
	free(f->name);
	free(f->content_type);
	buf_free(&f->data);
	memset(f, 0, sizeof(*f));
}

/* The path written: inside dir under the file's own name made safe, or path as given. */
static char *target(const char *path, const char *name)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return xasprintf("%s/%s", path, name);
	return xstrdup(path);
}

int review_file_save(const struct review_file *f, const char *path, bool force, char **written,
                     char **err)
{
	char *to = target(path, f->name);
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	int fd = open(to, flags, 0600);
	int rc = 0;
	char *safe = term_dup(to, TEXT_LINE);
	if (fd < 0 && errno == EEXIST) {
		review_refuse(err, "%s exists: nothing was written", safe);
		rc = REVIEW_EXISTS;
	} else if (fd < 0 && errno == ELOOP)
		rc = review_refuse(err, "%s is a symbolic link: nothing was written", safe);
	else if (fd < 0)
		rc = review_refuse(err, "cannot write %s: %s", safe, strerror(errno));
	else if (util_write_all(fd, f->data.data, f->data.len) < 0)
		rc = review_refuse(err, "cannot write %s: %s", safe, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = review_refuse(err, "cannot write %s: %s", safe, strerror(errno));
	free(safe);
	if (rc == 0)
		*written = to;
	else
		free(to);
	return rc;
}
