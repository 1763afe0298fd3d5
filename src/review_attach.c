/*
 * review_attach: `tend attach` and `tend detach`, the files that go out with a draft.
 *
 * A file is read whole when it is attached and its bytes are kept in the store (the files
 * database, see store_file), so the draft is complete in itself: what the agent attached is
 * what is sent, whatever happens to the file on disk afterwards. The files of a draft count
 * together against limits.attachments.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
