/*
 * review_edit: `tend edit`, the way `git commit` edits a message.
 *
 * The draft goes into a private temporary file with reference material below a scissors line;
 * the agent's editor runs with no transaction open (an editor may stay open for an hour, and
 * LMDB has one writer); what comes back above the scissors line is saved in a write
 * transaction, but only if nobody changed the draft in the meantime. Otherwise the agent's text
 * stays in the file, so no typing is ever lost.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "review_int.h"
#include "tend/conversation.h"
#include "tend/diff.h"

/* What was loaded for editing, to check nothing changed before saving. */
struct edit_session {
	uint64_t thread; /* live */
	uint64_t draft;
	int64_t updated;
	char *body;      /* as stored */
	char *header;    /* the To: and Cc: lines as written into the file */
	char *reference; /* the commented lines below the scissors */
	char *path;      /* the temporary file */
};

static void session_free(struct edit_session *es)
{
	free(es->body);
	free(es->header);
	free(es->reference);
	free(es->path);
}

/* The customer's latest message: the one the draft answers, else the newest one not ours. */
static const struct store_message *latest_customer(const struct conversation *c,
                                                   const struct store_draft *d)
{
	const struct store_message *best = NULL;
	for (size_t i = 0; i < c->nmessages; i++) {
		const struct store_message *m = c->messages[i];
		if (d->answers && m->id == d->answers)
			return m;
		if (!(m->flags & (STORE_MSG_OURS | STORE_MSG_UNVERIFIED)))
			best = m; /* by arrival: the last one is the newest */
	}
	return best;
}

/* Appends text with "# " before each line, its control characters escaped (it quotes mail). */
static void put_commented(struct buf *b, const char *text)
{
	char *safe = term_dup(text, TEXT_LINES);
	for (const char *p = safe; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		buf_puts(b, n ? "# " : "#");
		buf_append(b, p, n);
		buf_putc(b, '\n');
		p += n + (nl != NULL);
	}
	free(safe);
}

/* "Mon 30 Nov 2026 10:02" */
static void stamp(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, size, "%a %e %b %Y %H:%M", &tm);
}

static void put_customer(struct buf *b, const struct store_message *m)
{
	char *who = view_addr_display(&m->from), when[64];
	char *from = term_dup(who, TEXT_LINE);
	stamp(m->date ? m->date : m->received, when, sizeof(when));
	buf_printf(b, "#\n# The customer's latest message, from %s, %s:\n#\n", from, when);
	put_commented(b, m->text);
	free(from);
	free(who);
}

/* What we said last, so that a follow-up is answered knowing what was promised. */
static void put_our_reply(struct buf *b, const struct conversation_entry *e)
{
	char when[64];
	stamp(e->when, when, sizeof(when));
	if (e->draft) {
		char *by =
		    term_dup(e->draft->approved_by ? e->draft->approved_by : "someone", TEXT_LINE);
		buf_printf(b, "#\n# Our latest reply, approved by %s, sent %s:\n#\n", by, when);
		put_commented(b, e->draft->body ? e->draft->body : "");
		free(by);
	} else {
		buf_printf(b, "#\n# Our latest reply, written outside tend, %s:\n#\n", when);
		put_commented(b, e->message->text ? e->message->text : "");
	}
}

static char *reference_text(struct store_txn *t, const struct store_thread *th,
                            const struct store_draft *d)
{
	struct buf b = BUF_INIT;
	struct conversation c;
	buf_puts(&b, "# Do not modify or remove the line above.\n"
	             "# Everything below it is ignored: it is here to help you write the reply.\n");
	if (conversation_load(t, th, &c) == 0) {
		const struct store_message *m = latest_customer(&c, d);
		const struct conversation_entry *ours = conversation_latest_reply(&c);
		if (m)
			put_customer(&b, m);
		if (ours)
			put_our_reply(&b, ours);
		conversation_finish(&c);
	}
	if (d->previous_body && *d->previous_body) {
		buf_printf(&b, "#\n# Your earlier edit, %s:\n#\n", view_aside_why(d));
		put_commented(&b, d->previous_body);
	}
	return buf_steal(&b);
}

static int edit_load(struct store *s, uint64_t thread, struct edit_session *es, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_need_proposed(&tg, "edit", err)) == 0) {
		es->thread = tg.id;
		es->draft = tg.d->id;
		es->updated = tg.d->updated;
		es->body = xstrdup(tg.d->body ? tg.d->body : "");
		es->header = review_recipients_block(tg.d);
		es->reference = reference_text(tg.t, tg.th, tg.d);
	}
	review_target_close(&tg);
	return rc;
}

/* Text without trailing white space, ending in one newline ("" stays ""). */
static char *normalize(const char *s, size_t n)
{
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	return n ? xasprintf("%.*s\n", (int)n, s) : xstrdup("");
}

/* Creates the file (mode 0600: mkstemps) with the text, the scissors and the reference. */
static int write_file(const char *name, uint64_t thread, const char *body, const char *reference,
                      char **path, char **err)
{
	const char *dir = getenv("TMPDIR");
	*path = xasprintf("%s/tend-%s-%llu-XXXXXX.txt", dir && *dir ? dir : "/tmp", name,
	                  (unsigned long long)thread);
	int fd = mkstemps(*path, 4);
	if (fd < 0) {
		*err = xasprintf("cannot create %s: %s", *path, strerror(errno));
		return STORE_ERROR;
	}
	char *text = xasprintf("%s%s\n%s", body, REVIEW_SCISSORS, reference);
	int rc = util_write_all(fd, text, strlen(text));
	if (close(fd) < 0 || rc < 0) {
		*err = xasprintf("cannot write %s: %s", *path, strerror(errno));
		unlink(*path);
		rc = STORE_ERROR;
	}
	free(text);
	return rc;
}

static const char *editor(void)
{
	const char *e = getenv("VISUAL");
	if (e == NULL || *e == '\0')
		e = getenv("EDITOR");
	return e && *e ? e : "vi";
}

/* Waits for the editor; ^C and ^\ are the editor's to handle meanwhile, as in git. */
static int wait_editor(pid_t pid, int *status)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, oint, oquit;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	pid_t r;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	return r < 0 ? -1 : 0;
}

/* Runs `sh -c 'EDITOR "$1"' sh FILE`: EDITOR may hold arguments and shell quoting. */
static int run_editor(const char *path, char **err)
{
	const char *ed = editor();
	char *cmd = xasprintf("%s \"$1\"", ed);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int status = 0;
	if (pid < 0 || wait_editor(pid, &status) < 0) {
		*err = xasprintf("cannot run the editor (%s): %s", ed, strerror(errno));
		return STORE_ERROR;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		*err = xasprintf("the editor (%s) exited with status %d: nothing was saved", ed,
		                 WEXITSTATUS(status));
	else
		*err = xasprintf("the editor (%s) was killed by signal %d: nothing was saved", ed,
		                 WTERMSIG(status));
	return REVIEW_REFUSED;
}

/* Where the scissors line starts in text, or NULL. */
static const char *find_scissors(const char *text)
{
	size_t n = strlen(REVIEW_SCISSORS);
	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, REVIEW_SCISSORS, n) != 0)
			continue;
		const char *q = p + n;
		while (*q == ' ' || *q == '\t' || *q == '\r')
			q++;
		if (*q == '\n' || *q == '\0')
			return p;
	}
	return NULL;
}

/* Reads what the agent saved, up to the scissors line. */
static int read_back(const char *path, char **out, char **err)
{
	char *text;
	size_t len;
	if (read_file(path, &text, &len) < 0) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return STORE_ERROR;
	}
	const char *cut = find_scissors(text);
	int rc = 0;
	if (strspn(text, " \t\r\n") == len) /* emptied whole, scissors and all: nothing to keep */
		*out = xstrdup("");
	else if (memchr(text, '\0', len) != NULL || !utf8_valid(text, len))
		rc = review_refuse(
		    err, "%s is not UTF-8 text; nothing was saved (the file is kept)", path);
	else if (cut == NULL)
		rc = review_refuse(err,
		                   "the scissors line is gone from %s, so the reply cannot be told "
		                   "from the notes below it; nothing was saved (the file is kept)",
		                   path);
	else
		*out = normalize(text, (size_t)(cut - text));
	free(text);
	return rc;
}

void review_kept(char **err, const char *path)
{
	char *more = xasprintf("%s (your text is in %s)", *err, path);
	free(*err);
	*err = more;
}

/* A refusal for what the agent wrote: nothing is saved and the file stays for another go. */
static int refuse_kept(const char *path, char **err)
{
	char *more = xasprintf("%s; nothing was saved (your text is in %s)", *err, path);
	free(*err);
	*err = more;
	return REVIEW_REFUSED;
}

/* The agent's change in the draft: its text and, when h is not NULL, its recipients. */
static void apply_edit(struct store_draft *d, const struct review_agent *a, const char *body,
                       struct review_header *h, int64_t now)
{
	free(d->body);
	d->body = xstrdup(body);
	d->edited = true;
	free(d->last_editor);
	d->last_editor = xstrdup(a->login);
	free(d->last_editor_os);
	d->last_editor_os = xstrdup(a->os_user);
	d->updated = now;
	if (h == NULL)
		return;
	message_addrs_free(&d->to);
	message_addrs_free(&d->cc);
	d->to = h->to;
	d->cc = h->cc;
	memset(&h->to, 0, sizeof(h->to));
	memset(&h->cc, 0, sizeof(h->cc));
	/* the agent chose them: what show said of the customer's choices no longer holds, and the
	 * rules keep them when they write the draft again */
	message_addrs_free(&d->reply_to_held);
	d->cc_withheld = 0;
	free(d->recipients_by);
	d->recipients_by = xstrdup(a->login);
}

/* The audit's diff: of the text, and of the recipients when they changed. */
static char *edit_diff(const struct edit_session *es, const char *old, const char *body,
                       const struct review_header *h)
{
	if (h == NULL)
		return diff_unified(old, body, "before", "after");
	char *before = xasprintf("%s\n%s", es->header, old);
	char *after = xasprintf("%s\n%s", h->block, body);
	char *diff = diff_unified(before, after, "before", "after");
	free(before);
	free(after);
	return diff;
}

/* Saves body (and h's recipients) unless the draft changed since it was loaded. */
static int edit_save(struct store *s, const struct edit_session *es, const struct review_agent *a,
                     const char *old, const char *body, struct review_header *h, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, es->thread, true, &tg, err);
	if (rc < 0)
		return rc;
	const struct store_draft *d = tg.d;
	if (!d || d->id != es->draft ||
	    (d->state != STORE_DRAFT_PROPOSED && d->state != STORE_DRAFT_FAILED) ||
	    d->updated != es->updated || strcmp(d->body ? d->body : "", es->body) != 0) {
		review_target_close(&tg);
		return review_refuse(err,
		                     "thread %llu: the draft changed while you were editing it; "
		                     "nothing was saved (your text is in %s)",
		                     (unsigned long long)es->thread, es->path);
	}
	int64_t now = (int64_t)time(NULL);
	char *diff = edit_diff(es, old, body, h);
	apply_edit(tg.d, a, body, h, now);
	rc = store_put_draft(tg.t, tg.d);
	if (rc == 0)
		rc = review_audit(&tg, a, "edit", diff, now);
	free(diff);
	if (rc < 0) {
		*err = xasprintf("cannot save the draft of thread %llu: %s (your text is in %s)",
		                 (unsigned long long)es->thread, store_strerror(rc), es->path);
		review_target_close(&tg);
		return rc;
	}
	if ((rc = review_target_commit(&tg, err)) < 0)
		review_kept(err, es->path);
	return rc;
}

int review_editor(const char *name, uint64_t thread, const char *head, const char *text,
                  const char *reference, char **path, char **out, char **err)
{
	char *body = normalize(text, strlen(text));
	char *all = head ? xasprintf("%s\n%s", head, body) : NULL;
	int rc = write_file(name, thread, all ? all : body, reference, path, err);
	free(all);
	free(body);
	if (rc == 0 && (rc = run_editor(*path, err)) < 0)
		review_kept(err, *path); /* what the agent typed before it failed is there */
	if (rc == 0)
		rc = read_back(*path, out, err);
	return rc;
}

/* What came back, split into recipients and text, decides between saving, nothing and
 * refusing. */
static int edit_apply(struct store *s, const struct config *c, const struct edit_session *es,
                      const struct review_agent *a, const char *old, struct review_header *h,
                      char **err)
{
	char *body = normalize(h->body, strlen(h->body));
	bool recip = strcmp(h->block, es->header) != 0;
	int rc;
	if (!recip && strcmp(body, old) == 0) {
		rc = REVIEW_UNCHANGED;
		unlink(es->path);
	} else if (*body == '\0' && *old != '\0') {
		rc = review_refuse(err, "empty draft: edit aborted; the draft is unchanged");
		unlink(es->path);
	} else if (recip && (rc = review_header_read(h, c, err)) < 0) {
		rc = refuse_kept(es->path, err);
	} else if ((rc = edit_save(s, es, a, old, body, recip ? h : NULL, err)) == 0) {
		unlink(es->path);
	}
	free(body);
	return rc;
}

/* After the editor: a file emptied whole saves nothing; otherwise edit_apply. */
static int edit_finish(struct store *s, const struct config *c, const struct edit_session *es,
                       const struct review_agent *a, char *text, char **err)
{
	struct review_header h;
	char *old = normalize(es->body, strlen(es->body));
	int rc;
	if (*text == '\0') { /* an empty draft (rejected) left empty is no change */
		rc = *old ? review_refuse(err, "empty draft: edit aborted; the draft is unchanged")
		          : REVIEW_UNCHANGED;
		unlink(es->path);
	} else if ((rc = review_header_split(text, &h, err)) < 0) {
		rc = refuse_kept(es->path, err);
	} else {
		rc = edit_apply(s, c, es, a, old, &h, err);
		review_header_finish(&h);
	}
	free(old);
	free(text);
	return rc;
}

int review_edit(struct store *s, const struct config *c, uint64_t thread,
                const struct review_agent *a, char **err)
{
	struct edit_session es = {0};
	char *text = NULL;
	int rc = edit_load(s, thread, &es, err);
	if (rc == 0) /* claimed before the editor opens: the others see who is writing */
		rc = review_claim(s, c, es.thread, a, "edit", err);
	if (rc == 0 && (rc = review_editor("draft", es.thread, es.header, es.body, es.reference,
	                                   &es.path, &text, err)) == 0)
		rc = edit_finish(s, c, &es, a, text, err);
	session_free(&es);
	return rc;
}
