/*
 * outbox: `tend outbox` (what is being sent, sent, failed or uncertain, and why), the agents'
 * decisions on failed and uncertain replies, and the socket that wakes the sender.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "outbox_int.h"
#include "tend/json.h"
#include "tend/outbox.h"
#include "tend/util.h"

/* Sent replies older than this are listed only with --all. */
#define RECENT (7 * 86400)

struct listing {
	struct store_draft **v;
	size_t n;
	bool all;
	bool json; /* keep the bodies too */
	int64_t now;
};

static int64_t event_time(const struct store_draft *d)
{
	if (d->state == STORE_DRAFT_SENT)
		return d->sent;
	return d->last_attempt > d->approved ? d->last_attempt : d->approved;
}

static bool listed(const struct listing *l, const struct store_draft *d)
{
	switch (d->state) {
	case STORE_DRAFT_APPROVED:
	case STORE_DRAFT_UNCERTAIN:
		return true;
	case STORE_DRAFT_FAILED:
		return d->approved != 0;
	case STORE_DRAFT_SENT:
		return l->all || d->copy_pending || l->now - d->sent < RECENT;
	default:
		return false;
	}
}

static int visit(const struct store_draft *d, void *arg)
{
	struct listing *l = arg;
	if (!listed(l, d))
		return 0;
	struct store_draft *copy = xcalloc(1, sizeof(*copy));
	/* the record is only lent: keep the few fields the listing shows */
	*copy = (struct store_draft){
	    .id = d->id,
	    .thread = d->thread,
	    .state = d->state,
	    .subject = d->subject ? xstrdup(d->subject) : NULL,
	    .body = l->json && d->body ? xstrdup(d->body) : NULL,
	    .kind = d->kind,
	    .message_id = d->message_id ? xstrdup(d->message_id) : NULL,
	    .approved_by = d->approved_by ? xstrdup(d->approved_by) : NULL,
	    .approved = d->approved,
	    .sent = d->sent,
	    .error = d->error ? xstrdup(d->error) : NULL,
	    .smtp_reply = d->smtp_reply ? xstrdup(d->smtp_reply) : NULL,
	    .next_attempt = d->next_attempt,
	    .attempts = d->attempts,
	    .last_attempt = d->last_attempt,
	    .copy_pending = d->copy_pending,
	    .copied = d->copied,
	    .undo_until = d->undo_until,
	    .send_phase = d->send_phase,
	};
	copy->to.v = xcalloc(d->to.n + 1, sizeof(*copy->to.v));
	for (size_t i = 0; i < d->to.n; i++, copy->to.n++) {
		copy->to.v[i].addr = xstrdup(d->to.v[i].addr);
		copy->to.v[i].name = d->to.v[i].name ? xstrdup(d->to.v[i].name) : NULL;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = copy;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct store_draft *x = *(struct store_draft *const *)a;
	const struct store_draft *y = *(struct store_draft *const *)b;
	int64_t tx = event_time(x), ty = event_time(y);
	return tx < ty ? 1 : tx > ty ? -1 : (x->id < y->id ? 1 : -1);
}

/* What the outbox sends: a reply an agent approved, or what tendd writes on its own. */
static const char *kind_name(int kind)
{
	return kind == STORE_KIND_HOLDING  ? "holding"
	       : kind == STORE_KIND_NOTICE ? "notice"
	                                   : "reply";
}

/* Seconds left to take the reply back with `tend undo`; 0 when it cannot be any more. */
static int64_t undo_left(const struct store_draft *d, int64_t now)
{
	bool open = d->state == STORE_DRAFT_APPROVED && d->send_phase == STORE_SEND_IDLE &&
	            d->attempts == 0 && d->undo_until > now;
	return open ? d->undo_until - now : 0;
}

static void json_item(struct json *j, const struct store_draft *d, int64_t now)
{
	json_object_begin(j);
	json_key(j, "thread");
	json_int(j, (int64_t)d->thread);
	json_key(j, "draft");
	json_int(j, (int64_t)d->id);
	json_key(j, "state");
	json_string(j, view_draft_state_name(d->state));
	json_key(j, "message_id");
	json_string(j, d->message_id);
	json_key(j, "to");
	view_json_addrs(j, &d->to);
	json_key(j, "subject");
	json_string(j, d->subject);
	json_key(j, "kind");
	json_string(j, kind_name(d->kind));
	json_key(j, "body");
	json_string(j, d->body);
	json_key(j, "approved_by");
	json_string(j, d->approved_by);
	json_key(j, "approved");
	json_time(j, d->approved);
	json_key(j, "attempts");
	json_int(j, d->attempts);
	json_key(j, "next_attempt");
	json_time(j, d->state == STORE_DRAFT_APPROVED ? d->next_attempt : 0);
	json_key(j, "sent");
	json_time(j, d->sent);
	json_key(j, "reply");
	json_string(j, d->smtp_reply);
	json_key(j, "error");
	json_string(j, d->error);
	json_key(j, "copied");
	json_bool(j, d->copied != 0);
	json_key(j, "undo_left");
	json_int(j, undo_left(d, now));
	json_object_end(j);
}

/* "sent 3 minutes ago", "next attempt in 2 minutes", "failed 1 hour ago" */
static void human_when(struct buf *b, const struct store_draft *d, int64_t now)
{
	char rel[64];
	if (undo_left(d, now) > 0) {
		buf_printf(b, "sending in %lld s", (long long)undo_left(d, now));
	} else if (d->state == STORE_DRAFT_APPROVED && d->next_attempt > now) {
		view_relative_time(d->next_attempt, now, rel, sizeof(rel));
		buf_printf(b, "next attempt %s", rel);
	} else if (d->state == STORE_DRAFT_APPROVED) {
		buf_puts(b, "sending now");
	} else {
		view_relative_time(event_time(d), now, rel, sizeof(rel));
		buf_puts(b, rel);
	}
}

static void human_item(struct buf *b, const struct store_draft *d, int64_t now)
{
	buf_printf(b, "%6llu  ", (unsigned long long)d->thread);
	view_put_cell(b, view_draft_state_name(d->state), 10);
	buf_puts(b, "  ");
	struct buf when = BUF_INIT;
	human_when(&when, d, now);
	view_put_cell(b, when.data, 26);
	buf_free(&when);
	buf_puts(b, "  ");
	char *to = d->to.n ? view_addr_display(&d->to.v[0]) : xstrdup("(nobody)");
	view_put_cell(b, to, 32);
	free(to);
	buf_puts(b, "  ");
	term_put(b, d->subject, TEXT_LINE);
	buf_putc(b, '\n');
	if (undo_left(d, now) > 0)
		buf_printf(b, "        `tend undo %llu` takes it back\n",
		           (unsigned long long)d->thread);
	if (d->attempts > 1 || (d->state == STORE_DRAFT_APPROVED && d->attempts))
		buf_printf(b, "        %d attempt%s so far\n", d->attempts,
		           d->attempts == 1 ? "" : "s");
	const char *said = d->error                       ? d->error
	                   : d->state == STORE_DRAFT_SENT ? d->smtp_reply
	                                                  : NULL;
	if (said) { /* a server's words */
		buf_puts(b, "        ");
		term_put(b, said, TEXT_LINE);
		buf_putc(b, '\n');
	}
}

static void print_human(struct buf *b, const struct listing *l)
{
	if (l->n == 0) {
		buf_puts(b, l->all ? "Nothing was ever sent.\n"
		                   : "Nothing waiting, failed or sent in the last 7 days.\n");
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		human_item(b, l->v[i], l->now);
}

int outbox_list(struct store *s, const struct view_options *o, bool all, FILE *out)
{
	struct listing l = {.all = all, .json = o->json, .now = o->now};
	struct store_txn *t = NULL;
	int rc = store_begin(s, false, &t);
	if (rc < 0)
		return rc;
	rc = store_foreach_draft(t, visit, &l);
	store_abort(t);
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), newest_first);
	struct buf b = BUF_INIT;
	if (rc >= 0 && o->json) {
		struct json j;
		json_init(&j, false);
		json_array_begin(&j);
		for (size_t i = 0; i < l.n; i++)
			json_item(&j, l.v[i], l.now);
		json_array_end(&j);
		buf_append(&b, j.out.data, j.out.len);
		buf_putc(&b, '\n');
		json_finish(&j);
	} else if (rc >= 0) {
		print_human(&b, &l);
	}
	if (rc >= 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
	buf_free(&b);
	for (size_t i = 0; i < l.n; i++)
		store_draft_free(l.v[i]);
	free(l.v);
	return rc < 0 ? rc : 0;
}

/* The wake-up socket */

#define SOCKET_NAME "tendd.sock"

static int socket_path(const char *store_dir, struct sockaddr_un *sa, char **err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/" SOCKET_NAME, store_dir);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		if (err)
			*err = xasprintf("%s/tendd.sock: the path is too long for a Unix socket "
			                 "(approvals will wait for the next scan of the outbox)",
			                 store_dir);
		return -1;
	}
	return 0;
}

int outbox_listen(const char *store_dir, bool group, char **err)
{
	struct sockaddr_un sa;
	if (socket_path(store_dir, &sa, err) < 0)
		return -1;
	/* A stale one goes (we hold the daemon's lock); anything else in its place stays. */
	if (store_socket_clear(store_dir, SOCKET_NAME, err) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = xasprintf("%s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (store_socket_chmod(store_dir, SOCKET_NAME, group ? 0660 : 0600, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void outbox_drain(int fd)
{
	char buf[64];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

void outbox_poke(const char *store_dir)
{
	struct sockaddr_un sa;
	if (socket_path(store_dir, &sa, NULL) < 0)
		return;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "send", 4, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}
