/*
 * imap: listing, fetching and IDLE in the open folder. See include/tend/imap.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap_int.h"
#include "tend/imap.h"
#include "tend/util.h"

/* INTERNALDATE as Unix seconds; dt_zone is the offset as written (+0130 is 130). */
static int64_t date_seconds(const struct mailimap_date_time *d)
{
	struct tm tm = {
	    .tm_year = d->dt_year - 1900,
	    .tm_mon = d->dt_month - 1,
	    .tm_mday = d->dt_day,
	    .tm_hour = d->dt_hour,
	    .tm_min = d->dt_min,
	    .tm_sec = d->dt_sec,
	};
	int zone = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t offset = (int64_t)(zone / 100) * 3600 + (zone % 100) * 60;
	return (int64_t)timegm(&tm) - (d->dt_zone < 0 ? -offset : offset);
}

/* What one FETCH response says, for the attributes tend asks for. */
struct fetched {
	uint32_t uid;
	uint64_t size;
	int64_t internaldate;
	const char *body;
	size_t body_len;
	bool has_body;
};

static void read_static(const struct mailimap_msg_att_static *st, struct fetched *f)
{
	switch (st->att_type) {
	case MAILIMAP_MSG_ATT_UID:
		f->uid = st->att_data.att_uid;
		break;
	case MAILIMAP_MSG_ATT_RFC822_SIZE:
		f->size = st->att_data.att_rfc822_size;
		break;
	case MAILIMAP_MSG_ATT_INTERNALDATE:
		if (st->att_data.att_internal_date != NULL)
			f->internaldate = date_seconds(st->att_data.att_internal_date);
		break;
	case MAILIMAP_MSG_ATT_BODY_SECTION:
		if (st->att_data.att_body_section != NULL) {
			f->body = st->att_data.att_body_section->sec_body_part;
			f->body_len = st->att_data.att_body_section->sec_length;
			f->has_body = true;
		}
		break;
	default:
		break;
	}
}

static void read_msg_att(const struct mailimap_msg_att *ma, struct fetched *f)
{
	memset(f, 0, sizeof(*f));
	for (clistiter *it = clist_begin(ma->att_list); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC)
			read_static(item->att_data.att_static, f);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct imap_entry *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static struct mailimap_fetch_type *fetch_type(bool listing, bool header_only)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (ft == NULL)
		fatalx("out of memory");
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	if (listing) {
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		                                           mailimap_fetch_att_new_rfc822_size());
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		                                           mailimap_fetch_att_new_internaldate());
		return ft;
	}
	/* BODY.PEEK, never BODY: fetching must not set \Seen on anybody's mail */
	struct mailimap_section *sec =
	    header_only ? mailimap_section_new_header() : mailimap_section_new(NULL);
	mailimap_fetch_type_new_fetch_att_list_add(ft,
	                                           mailimap_fetch_att_new_body_peek_section(sec));
	return ft;
}

int imap_list(struct imap *im, uint32_t after, struct imap_entry **out, size_t *n, char **err)
{
	*out = NULL;
	*n = 0;
	if (after == UINT32_MAX)
		return IMAP_OK;
	struct mailimap_set *set = mailimap_set_new_interval(after + 1, 0); /* after+1:* */
	struct mailimap_fetch_type *ft = fetch_type(true, false);
	clist *res = NULL;
	int r = mailimap_uid_fetch(im->s, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_EFOLDER, err, "UID FETCH (listing)");
	struct imap_entry *v = xcalloc(clist_count(res) + 1, sizeof(*v));
	for (clistiter *it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct fetched f;
		read_msg_att(clist_content(it), &f);
		/* "after+1:*" names the last message even when its UID is lower: skip it */
		if (f.uid > after)
			v[(*n)++] = (struct imap_entry){f.uid, f.size, f.internaldate};
	}
	mailimap_fetch_list_free(res);
	qsort(v, *n, sizeof(*v), cmp_entry);
	*out = v;
	return IMAP_OK;
}

/* A UID set with runs of consecutive UIDs written as ranges; uids ascend. */
static struct mailimap_set *uid_set(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	if (set == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (mailimap_set_add_interval(set, uids[i], uids[j]) != MAILIMAP_NO_ERROR)
			fatalx("out of memory");
		i = j + 1;
	}
	return set;
}

int imap_fetch(struct imap *im, const uint32_t *uids, size_t n, bool header_only, imap_body_fn fn,
               void *arg, char **err)
{
	if (n == 0)
		return IMAP_OK;
	struct mailimap_set *set = uid_set(uids, n);
	struct mailimap_fetch_type *ft = fetch_type(false, header_only);
	clist *res = NULL;
	int r = mailimap_uid_fetch(im->s, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_EFOLDER, err, "UID FETCH");
	int rc = IMAP_OK;
	for (clistiter *it = clist_begin(res); it != NULL && rc == 0; it = clist_next(it)) {
		struct fetched f;
		read_msg_att(clist_content(it), &f);
		if (f.uid != 0 && f.has_body)
			rc = fn(f.uid, f.body ? f.body : "", f.body ? f.body_len : 0, arg);
	}
	mailimap_fetch_list_free(res);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the server or wake_fd; 1 when the server spoke, 0 otherwise. */
static int wait_idle(struct imap *im, int timeout_ms, int wake_fd)
{
	mailstream *st = im->s->imap_stream;
	/* what libetpan or GnuTLS already buffered would never wake poll() */
	if (st->read_buffer_len > 0 || imap_low_pending(st->low))
		return 1;
	struct pollfd p[2] = {
	    {.fd = mailimap_idle_get_fd(im->s), .events = POLLIN},
	    {.fd = wake_fd, .events = POLLIN},
	};
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		int64_t left = end - now_ms();
		int r = poll(p, wake_fd >= 0 ? 2 : 1, left > 0 ? (int)left : 0);
		if (r >= 0)
			return r > 0 && p[0].revents != 0;
		if (errno != EINTR)
			return 0;
	}
}

int imap_idle(struct imap *im, int timeout_ms, int wake_fd, char **err)
{
	uint64_t before = imap_exists(im);
	int r = mailimap_idle(im->s);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_EPROTO, err, "IDLE");
	/* an EXISTS read on the way in (before the server's "+ idling") is news already */
	int spoke = imap_exists(im) != before ? 1 : wait_idle(im, timeout_ms, wake_fd);
	r = mailimap_idle_done(im->s);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(im, r, IMAP_EPROTO, err, "IDLE (DONE)");
	return spoke;
}
