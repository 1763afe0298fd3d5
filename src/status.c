/*
 * status: `tend status`. Everything is gathered first (one read transaction), then printed.
 */
#include "tend/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "tend/json.h"
#include "tend/metrics.h"

#define RED   "\033[31m"
#define RESET "\033[0m"

/* The least width of the label column: "tendd", "store" and friends, two spaces apart. */
#define LABEL_COLS 12

/* Whether tendd runs */

/* The pid in the file: digits and a newline; 0 when it says something else. */
static pid_t read_pid(int fd)
{
	char b[32];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(b, &end, 10);
	if (errno || end == b || (*end != '\n' && *end != '\0') || v <= 0 || v != (pid_t)v)
		return 0;
	return (pid_t)v;
}

void status_daemon_probe(const char *dir, struct status_daemon *out)
{
	char *err = NULL;
	/* A link or a stranger's file in its place says nothing about tendd: not running. */
	int fd = store_file_open(dir, "tendd.pid", O_RDONLY, 0, &err);
	memset(out, 0, sizeof(*out));
	free(err);
	if (fd < 0)
		return;
	/* A shared lock we get is given back at close: tendd is not running. */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		out->running = true;
		out->pid = read_pid(fd);
	}
	close(fd);
}

/* Gathering */

struct folder_row {
	char *name;
	bool has_cursor, has_status;
	struct store_cursor cursor;
	struct store_status st;
};

struct account_row {
	const char *name; /* the config's */
	bool has_status;
	struct store_status st; /* the account's own record (folder "") */
	struct folder_row *folders;
	size_t nfolders, cap;
};

struct report {
	struct status_daemon daemon;
	struct account_row *accounts;
	size_t naccounts;
	struct store_counts counts;
	uint64_t outbox;         /* approved replies not sent yet */
	uint64_t copies_pending; /* sent replies whose copy is not in the Sent folder yet */
	uint64_t oldest;         /* the thread; 0: nothing is waiting for an answer */
	int64_t oldest_since;
	char *oldest_subject;
	int64_t now;                    /* for the figures below */
	uint64_t waiting, at_risk, due; /* conversations waiting, at risk, overdue */
	uint64_t retrying;              /* part of outbox: tried before, to be tried again */
};

static void report_free(struct report *r)
{
	for (size_t i = 0; i < r->naccounts; i++) {
		struct account_row *a = &r->accounts[i];
		for (size_t k = 0; k < a->nfolders; k++) {
			free(a->folders[k].name);
			store_status_free(&a->folders[k].st);
		}
		free(a->folders);
		store_status_free(&a->st);
	}
	free(r->accounts);
	free(r->oldest_subject);
}

static void add_folder(struct account_row *a, const char *name)
{
	for (size_t i = 0; i < a->nfolders; i++)
		if (strcmp(a->folders[i].name, name) == 0)
			return;
	if (a->nfolders == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 4;
		a->folders = xreallocarray(a->folders, a->cap, sizeof(*a->folders));
	}
	a->folders[a->nfolders++] = (struct folder_row){.name = xstrdup(name)};
}

/* A folder of a configured account known to the store only (no longer configured, say). */
static void add_stored_folder(struct report *r, const char *account, const char *folder)
{
	if (*folder == '\0')
		return;
	for (size_t i = 0; i < r->naccounts; i++)
		if (strcmp(r->accounts[i].name, account) == 0)
			add_folder(&r->accounts[i], folder);
}

static int folder_of_cursor(const char *account, const char *folder, const struct store_cursor *c,
                            void *arg)
{
	add_stored_folder(arg, account, folder);
	return 0;
}

static int folder_of_status(const char *account, const char *folder, const struct store_status *st,
                            void *arg)
{
	add_stored_folder(arg, account, folder);
	return 0;
}

/* The configured IMAP accounts and their folders, then the folders only the store knows. */
static int list_accounts(struct store_txn *t, const struct config *c, struct report *r)
{
	r->accounts = xcalloc(c->naccounts + 1, sizeof(*r->accounts));
	for (size_t i = 0; i < c->naccounts; i++) {
		const struct config_account *ca = &c->accounts[i];
		if (!ca->has_imap)
			continue;
		struct account_row *a = &r->accounts[r->naccounts++];
		a->name = ca->name;
		for (size_t k = 0; k < ca->imap.folders.n; k++)
			add_folder(a, ca->imap.folders.v[k]);
	}
	int rc = store_foreach_cursor(t, folder_of_cursor, r);
	if (rc >= 0)
		rc = store_foreach_status(t, folder_of_status, r);
	return rc;
}

/* The result of a lookup, where a record not found is no error (*hit says which). */
static int lookup(int rc, bool *hit)
{
	*hit = rc == 0;
	return rc == STORE_NOTFOUND ? 0 : rc;
}

static int read_account(struct store_txn *t, struct account_row *a)
{
	int rc = lookup(store_get_status(t, a->name, "", &a->st), &a->has_status);
	for (size_t i = 0; rc >= 0 && i < a->nfolders; i++) {
		struct folder_row *f = &a->folders[i];
		rc = lookup(store_get_cursor(t, a->name, f->name, &f->cursor), &f->has_cursor);
		if (rc >= 0)
			rc = lookup(store_get_status(t, a->name, f->name, &f->st), &f->has_status);
	}
	return rc;
}

struct outbox_count {
	struct store_txn *t;
	struct report *r;
};

/*
 * The outbox index also holds sent replies until their copy is in the Sent folder: those are
 * not waiting to be sent, and are counted apart.
 */
static int count_outbox(int64_t when, uint64_t draft, void *arg)
{
	struct outbox_count *c = arg;
	struct store_draft *d = NULL;
	int rc = store_get_draft(c->t, draft, &d);
	if (rc == STORE_NOTFOUND)
		return 0; /* a stray entry, which the sender drops */
	if (rc < 0)
		return rc;
	bool listed = d->next_attempt == when; /* else a stray entry, as the sender sees it */
	if (listed && d->state == STORE_DRAFT_APPROVED)
		c->r->outbox++;
	if (listed && d->state == STORE_DRAFT_APPROVED && d->attempts > 0)
		c->r->retrying++;
	else if (listed && d->state == STORE_DRAFT_SENT && d->copy_pending)
		c->r->copies_pending++;
	store_draft_free(d);
	return 0;
}

/*
 * What counts as waiting for an answer: an open thread whose clock runs (clock_start, the
 * arrival of the first customer message nobody answered). Ignored threads (automatic mail, a
 * rule's ignore) are not open, and ignored messages never start the clock. A thread whose
 * reply is approved but still in the outbox, or whose draft is snoozed, still counts: the
 * customer has no answer yet.
 */
static int find_oldest(const struct store_thread *th, void *arg)
{
	struct report *r = arg;
	if (th->state != STORE_THREAD_OPEN || th->clock_start == 0)
		return 0;
	r->waiting++;
	if (th->deadline && r->now >= th->deadline)
		r->due++;
	else if (th->risk_at && r->now >= th->risk_at)
		r->at_risk++;
	if (r->oldest && th->clock_start >= r->oldest_since)
		return 0; /* in id order, so on a tie the older thread stays */
	r->oldest = th->id;
	r->oldest_since = th->clock_start;
	free(r->oldest_subject);
	r->oldest_subject = xstrdup(th->subject ? th->subject : "");
	return 0;
}

static int gather(struct store *s, const struct config *c, struct report *r)
{
	struct store_txn *t = NULL;
	status_daemon_probe(store_dir(s), &r->daemon);
	int rc = store_begin(s, false, &t);
	if (rc < 0)
		return rc;
	rc = list_accounts(t, c, r);
	for (size_t i = 0; rc >= 0 && i < r->naccounts; i++)
		rc = read_account(t, &r->accounts[i]);
	if (rc >= 0)
		rc = store_count(t, &r->counts);
	if (rc >= 0)
		rc = store_foreach_index(t, STORE_INDEX_OUTBOX, count_outbox,
		                         &(struct outbox_count){t, r});
	if (rc >= 0)
		rc = store_foreach_thread(t, find_oldest, r);
	store_abort(t);
	return rc < 0 ? rc : 0;
}

/* JSON */

static void json_error(struct json *j, const struct store_status *st, bool has)
{
	json_key(j, "error");
	json_string(j, has ? st->last_error : NULL);
	json_key(j, "error_since");
	json_time(j, has && st->last_error ? st->error_since : 0);
}

static void json_folder(struct json *j, const struct folder_row *f)
{
	const struct store_status *st = &f->st;
	json_object_begin(j);
	json_key(j, "name");
	json_string(j, f->name);
	json_key(j, "uidvalidity");
	json_int(j, f->cursor.uidvalidity);
	json_key(j, "last_uid");
	json_int(j, f->cursor.last_uid);
	json_key(j, "last_fetch");
	json_time(j, f->has_status ? st->last_fetch : 0);
	json_key(j, "waiting");
	json_int(j, f->has_status ? (int64_t)st->waiting : 0);
	json_key(j, "exists");
	json_int(j, f->has_status ? (int64_t)st->exists : 0);
	json_key(j, "fetched");
	json_int(j, f->has_status ? (int64_t)st->fetched : 0);
	json_error(j, st, f->has_status);
	json_object_end(j);
}

static void json_account(struct json *j, const struct account_row *a)
{
	json_object_begin(j);
	json_key(j, "name");
	json_string(j, a->name);
	json_key(j, "last_login");
	json_time(j, a->has_status ? a->st.last_login : 0);
	json_error(j, &a->st, a->has_status);
	json_key(j, "folders");
	json_array_begin(j);
	for (size_t i = 0; i < a->nfolders; i++)
		json_folder(j, &a->folders[i]);
	json_array_end(j);
	json_object_end(j);
}

static void json_oldest(struct json *j, const struct report *r)
{
	json_key(j, "oldest_unanswered");
	if (r->oldest == 0) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_key(j, "thread");
	json_int(j, (int64_t)r->oldest);
	json_key(j, "since");
	json_time(j, r->oldest_since);
	json_key(j, "subject");
	json_string(j, r->oldest_subject);
	json_object_end(j);
}

static void report_json(struct buf *b, const struct report *r)
{
	struct json j;
	json_init(&j, false);
	json_object_begin(&j);
	json_key(&j, "daemon");
	json_object_begin(&j);
	json_key(&j, "running");
	json_bool(&j, r->daemon.running);
	json_key(&j, "pid");
	if (r->daemon.pid)
		json_int(&j, r->daemon.pid);
	else
		json_null(&j);
	json_object_end(&j);
	json_key(&j, "accounts");
	json_array_begin(&j);
	for (size_t i = 0; i < r->naccounts; i++)
		json_account(&j, &r->accounts[i]);
	json_array_end(&j);
	json_key(&j, "messages");
	json_int(&j, (int64_t)r->counts.messages);
	json_key(&j, "threads");
	json_int(&j, (int64_t)r->counts.threads);
	json_key(&j, "quarantined");
	json_int(&j, (int64_t)r->counts.quarantined);
	json_key(&j, "outbox");
	json_int(&j, (int64_t)r->outbox);
	json_key(&j, "copies_pending");
	json_int(&j, (int64_t)r->copies_pending);
	json_oldest(&j, r);
	json_object_end(&j);
	buf_append(b, j.out.data, j.out.len);
	buf_putc(b, '\n');
	json_finish(&j);
}

/* For people */

static const char *paint(const struct view_options *o, const char *code)
{
	return o->color ? code : "";
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* Starts a line: the label cut or padded to the label column. */
static void put_label(struct buf *b, const char *indent, const char *label, int cols)
{
	buf_puts(b, indent);
	view_put_cell(b, label, cols - (int)strlen(indent));
}

/* The label column fits the longest account or folder name, with two spaces to spare. */
static int label_cols(const struct report *r)
{
	int cols = LABEL_COLS;
	for (size_t i = 0; i < r->naccounts; i++) {
		const struct account_row *a = &r->accounts[i];
		int w = view_str_width(a->name) + 2;
		cols = w > cols ? w : cols;
		for (size_t k = 0; k < a->nfolders; k++) {
			w = 2 + view_str_width(a->folders[k].name) + 2;
			cols = w > cols ? w : cols;
		}
	}
	return cols;
}

/* "  error     certificate not trusted (since 5 min ago)", when there is an error. */
static void put_error(struct buf *b, const char *indent, const struct store_status *st, bool has,
                      const struct view_options *o, int cols)
{
	if (!has || st->last_error == NULL)
		return;
	put_label(b, indent, "error", cols);
	buf_puts(b, paint(o, RED));
	view_put_cell(b, st->last_error, -1);
	if (st->error_since) {
		char when[32];
		view_relative_time(st->error_since, o->now, when, sizeof(when));
		buf_printf(b, " (since %s)", when);
	}
	buf_printf(b, "%s\n", paint(o, RESET));
}

static void human_folder(struct buf *b, const struct folder_row *f, const struct view_options *o,
                         int cols)
{
	const struct store_status *st = &f->st;
	char when[32];
	put_label(b, "  ", f->name, cols);
	if (f->has_status && st->last_fetch) {
		view_relative_time(st->last_fetch, o->now, when, sizeof(when));
		buf_printf(b, "fetched %s", when);
	} else {
		buf_puts(b, "never fetched");
	}
	if (f->has_cursor)
		buf_printf(b, ", UID %u of UIDVALIDITY %u", f->cursor.last_uid,
		           f->cursor.uidvalidity);
	if (f->has_status)
		buf_printf(b, ", %llu waiting, %llu on the server, %llu stored this run",
		           (unsigned long long)st->waiting, (unsigned long long)st->exists,
		           (unsigned long long)st->fetched);
	buf_putc(b, '\n');
	put_error(b, "    ", st, f->has_status, o, cols);
}

static void human_account(struct buf *b, const struct account_row *a, const struct view_options *o,
                          int cols)
{
	put_label(b, "", a->name, cols);
	if (a->has_status && a->st.last_login) {
		char when[32];
		view_relative_time(a->st.last_login, o->now, when, sizeof(when));
		buf_printf(b, "logged in %s\n", when);
	} else {
		buf_puts(b, "never logged in\n");
	}
	put_error(b, "  ", &a->st, a->has_status, o, cols);
	for (size_t i = 0; i < a->nfolders; i++)
		human_folder(b, &a->folders[i], o, cols);
}

static void human_store(struct buf *b, const struct report *r, const struct view_options *o,
                        int cols)
{
	const struct store_counts *n = &r->counts;
	put_label(b, "", "store", cols);
	buf_printf(b, "%llu message%s, %llu thread%s, %llu quarantined%s\n",
	           (unsigned long long)n->messages, plural(n->messages),
	           (unsigned long long)n->threads, plural(n->threads),
	           (unsigned long long)n->quarantined,
	           n->quarantined ? " (tend threads --quarantined)" : "");
	put_label(b, "", "outbox", cols);
	buf_printf(b, "%llu waiting", (unsigned long long)r->outbox);
	if (r->copies_pending)
		buf_printf(b, ", %llu sent repl%s still to be copied to the Sent folder",
		           (unsigned long long)r->copies_pending,
		           r->copies_pending == 1 ? "y" : "ies");
	buf_putc(b, '\n');
	put_label(b, "", "oldest", cols);
	if (r->oldest == 0) {
		buf_puts(b, "no conversation is waiting for an answer\n");
		return;
	}
	char when[32];
	view_relative_time(r->oldest_since, o->now, when, sizeof(when));
	buf_printf(b, "thread %llu, unanswered since %s: \"", (unsigned long long)r->oldest, when);
	view_put_cell(b, *r->oldest_subject ? r->oldest_subject : "(no subject)", -1);
	buf_puts(b, "\"\n");
}

static void report_human(struct buf *b, const struct report *r, const struct view_options *o)
{
	int cols = label_cols(r);
	put_label(b, "", "tendd", cols);
	if (r->daemon.running && r->daemon.pid)
		buf_printf(b, "running (pid %ld)\n", (long)r->daemon.pid);
	else
		buf_puts(b, r->daemon.running ? "running\n" : "not running\n");
	for (size_t i = 0; i < r->naccounts; i++)
		human_account(b, &r->accounts[i], o, cols);
	human_store(b, r, o, cols);
}

int status_report(struct store *s, const struct config *c, const struct view_options *o, FILE *out)
{
	struct report r = {.now = o->now};
	struct buf b = BUF_INIT;
	int rc = gather(s, c, &r);
	if (rc == 0 && o->json)
		report_json(&b, &r);
	else if (rc == 0)
		report_human(&b, &r, o);
	if (rc == 0 && (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0))
		rc = STORE_ERROR;
	buf_free(&b);
	report_free(&r);
	return rc;
}

/* Figures */

static void metrics_account(struct metrics *m, const struct account_row *a)
{
	if (a->has_status && a->st.last_login)
		metrics_set(m, METRICS_LAST_LOGIN, (const char *const[]){a->name},
		            (double)a->st.last_login);
	for (size_t i = 0; i < a->nfolders; i++) {
		const struct folder_row *f = &a->folders[i];
		if (f->has_status && f->st.last_fetch)
			metrics_set(m, METRICS_LAST_FETCH, (const char *const[]){a->name, f->name},
			            (double)f->st.last_fetch);
	}
}

int status_metrics(struct store *s, const struct config *c, int64_t now, struct metrics *m)
{
	struct report r = {.now = now};
	int rc = gather(s, c, &r);
	for (size_t i = 0; rc == 0 && i < r.naccounts; i++)
		metrics_account(m, &r.accounts[i]);
	if (rc == 0) {
		metrics_set(m, METRICS_CONVERSATIONS, (const char *const[]){"waiting"},
		            (double)r.waiting);
		metrics_set(m, METRICS_CONVERSATIONS, (const char *const[]){"at_risk"},
		            (double)r.at_risk);
		metrics_set(m, METRICS_CONVERSATIONS, (const char *const[]){"overdue"},
		            (double)r.due);
		metrics_set(m, METRICS_OUTBOX, (const char *const[]){"queued"},
		            (double)(r.outbox - r.retrying));
		metrics_set(m, METRICS_OUTBOX, (const char *const[]){"retrying"},
		            (double)r.retrying);
		metrics_set(m, METRICS_OUTBOX, (const char *const[]){"copy_pending"},
		            (double)r.copies_pending);
		metrics_set(m, METRICS_STORE_MESSAGES, NULL, (double)r.counts.messages);
		metrics_set(m, METRICS_STORE_THREADS, NULL, (double)r.counts.threads);
	}
	report_free(&r);
	return rc;
}
