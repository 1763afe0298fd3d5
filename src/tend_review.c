/*
 * tend review: the one-key loop over the review queue. This file is the terminal (raw mode,
 * signals, paging) and the keys; every action is the review module's, as the plain commands
 * (`tend approve`, `tend snooze`, ...) use it.
 *
 * The terminal: keys are read in raw mode (no ICANON, ECHO or ISIG: ^C is read as a key and
 * quits); the prompts that want a line (a duration, a reason, a note) read it in the
 * terminal's own mode, with echo. The handlers only restore the saved mode, re-raise and set
 * flags; the loop sees the flags when read() returns EINTR (no SA_RESTART) and redraws.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tend/outbox.h"
#include "tend/review.h"
#include "tend/util.h"
#include "tend/view.h"
#include "tend_review.h"

/* The terminal as it was, and whether it is in raw mode now: the handlers read both. */
static struct termios cooked;
static volatile sig_atomic_t raw_on, winched, continued;

static void raw_enter(void)
{
	struct termios t = cooked;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSANOW, &t);
	raw_on = 1;
}

static void raw_leave(void)
{
	fflush(stdout);
	if (raw_on)
		tcsetattr(STDIN_FILENO, TCSANOW, &cooked);
	raw_on = 0;
}

/* SIGINT, SIGTERM, SIGHUP: the terminal as it was, then the default action (SA_RESETHAND). */
static void on_fatal(int sig)
{
	if (raw_on)
		tcsetattr(STDIN_FILENO, TCSANOW, &cooked);
	raise(sig);
}

/* SIGTSTP: the terminal as it was, stop; once continued, the loop redraws in raw mode. */
static void on_tstp(int sig)
{
	int saved = errno;
	struct sigaction dfl = {.sa_handler = SIG_DFL}, self;
	sigset_t set;
	if (raw_on)
		tcsetattr(STDIN_FILENO, TCSANOW, &cooked);
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, &self);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig); /* stopped here until SIGCONT */
	sigaction(sig, &self, NULL);
	continued = 1;
	errno = saved;
}

static void on_flag(int sig)
{
	if (sig == SIGWINCH)
		winched = 1;
	else
		continued = 1;
}

static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT, SIGWINCH};
enum { NHANDLED = sizeof(handled) / sizeof(handled[0]) };

static void signals_install(struct sigaction *old)
{
	for (int i = 0; i < NHANDLED; i++) {
		int sig = handled[i];
		struct sigaction sa = {.sa_flags = 0}; /* no SA_RESTART: read() returns EINTR */
		sigemptyset(&sa.sa_mask);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			sa.sa_handler = on_fatal;
			sa.sa_flags = SA_RESETHAND | SA_NODEFER;
		} else {
			sa.sa_handler = sig == SIGTSTP ? on_tstp : on_flag;
		}
		sigaction(sig, &sa, &old[i]);
	}
}

static void signals_restore(const struct sigaction *old)
{
	for (int i = 0; i < NHANDLED; i++)
		sigaction(handled[i], &old[i], NULL);
}

/* Keys */

enum { KEY_EOF = -1, KEY_REDRAW = -2, KEY_CTRL_C = 3, KEY_CTRL_Z = 26 };

/* One key in raw mode; KEY_REDRAW after SIGWINCH or a stop, KEY_EOF when the terminal went. */
static int read_key(void)
{
	unsigned char ch;
	if (!raw_on)
		raw_enter();
	fflush(stdout);
	for (;;) {
		if (continued) {
			continued = 0;
			raw_enter();
			return KEY_REDRAW;
		}
		if (winched) {
			winched = 0;
			return KEY_REDRAW;
		}
		ssize_t r = read(STDIN_FILENO, &ch, 1);
		if (r == 1 && ch == KEY_CTRL_Z) {
			raise(SIGTSTP); /* ISIG is off: ^Z stops us as the terminal would */
			continue;
		}
		if (r == 1)
			return ch;
		if (r == 0 || errno != EINTR)
			return KEY_EOF;
	}
}

/* A line typed in the terminal's own mode, with echo; NULL when it ended (^D). */
static char *read_line(const char *prompt)
{
	struct buf b = BUF_INIT;
	raw_leave();
	printf("%s", prompt);
	fflush(stdout);
	for (;;) {
		char ch;
		ssize_t r = read(STDIN_FILENO, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			buf_free(&b);
			printf("\n");
			return NULL;
		}
		if (ch == '\n' || ch == '\r')
			break;
		buf_putc(&b, ch);
	}
	return buf_steal(&b);
}

/* True when the line holds nothing but white space. */
static bool blank(const char *s)
{
	return s == NULL || strspn(s, " \t") == strlen(s);
}

/* question [y/N], answered with one key. */
static bool ask_key(const char *question)
{
	printf("%s [y/N] ", question);
	int k;
	while ((k = read_key()) == KEY_REDRAW) /* a new width does not answer the question */
		;
	bool yes = k == 'y' || k == 'Y';
	printf("%s\n", yes ? "y" : "n");
	return yes;
}

/* Screen */

/* Rows and columns of the terminal (24 x 80 when it does not say). */
static void screen_size(int *rows, int *cols)
{
	struct winsize ws;
	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

/*
 * Terminal rows one line of output takes at cols columns: colour sequences take no column, a
 * wide character two (and goes whole to the next row when one column is left), a combining
 * mark none, a tab to the next stop (not past the margin).
 */
static int line_rows(const char *s, size_t n, int cols)
{
	int rows = 1, col = 0;
	for (size_t i = 0; i < n;) {
		int w;
		if (s[i] == '\033' && i + 1 < n && s[i + 1] == '[') {
			for (i += 2; i < n && !((unsigned char)s[i] >= 0x40 && s[i] <= 0x7e); i++)
				;
			i++;
			continue;
		}
		if (s[i] == '\t') {
			w = (col / 8 + 1) * 8 < cols ? 8 - col % 8 : cols - 1 - col;
			i++;
		} else
			i += view_char_cols(s + i, &w);
		if (col > 0 && col + w > cols) {
			rows++;
			col = 0;
		}
		col += w > 0 ? w : 0;
	}
	return rows;
}

enum page_end { PAGE_DONE, PAGE_REDRAW, PAGE_EOF };

/*
 * Writes text a screenful at a time: space or Enter shows the next one, any other key the rest
 * at once (the draft and the status line come last, so that a key shows them).
 */
static enum page_end page(const char *text)
{
	int rows, cols, used = 0;
	bool all = false;
	screen_size(&rows, &cols);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		int need = line_rows(p, n, cols);
		if (!all && used > 0 && used + need > rows - 1) {
			printf("-- more: space; any other key: all of it --");
			int k = read_key();
			printf("\r\033[K");
			if (k == KEY_REDRAW || k == KEY_EOF)
				return k == KEY_EOF ? PAGE_EOF : PAGE_REDRAW;
			all = k != ' ' && k != '\r';
			used = 0;
		}
		fwrite(p, 1, n, stdout);
		fputs("\n", stdout);
		used += need;
		p += n + (nl ? 1 : 0);
	}
	return PAGE_DONE;
}

/* The loop */

struct loop {
	struct store *s;
	const struct config *c;
	struct review_agent *a;
	const struct tend_review_args *args;
	struct idvec ids; /* the queue as it was when the loop began, most urgent first */
	bool *done;       /* acted on: approved, snoozed, rejected, resolved or taken */
	size_t pos, ndone;
	char *claim; /* "alice is on it (4 min)" when another agent is on the current one */
	bool glance; /* the loop claimed the current one for looking at it, and nothing since */
	char *said;  /* what the last key did, one line, shown above the status line */
	bool color;
	bool quit;
};

/* Sets the line that says what the last key did; the text is made safe for the terminal. */
static void say(struct loop *l, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void say(struct loop *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	free(l->said);
	l->said = term_dup(text, TEXT_LINE);
	free(text);
}

/* Says why an action failed (err, else the store's code); frees err. */
static void say_failed(struct loop *l, int rc, char *err, const char *what)
{
	if (err)
		say(l, "%s", err);
	else
		say(l, "cannot %s thread %llu: %s", what, (unsigned long long)l->ids.v[l->pos],
		    store_strerror(rc));
	free(err);
}

static uint64_t current(const struct loop *l)
{
	return l->ids.v[l->pos];
}

/*
 * Records that the agent is on the current conversation, as `tend edit` does; when another
 * agent is, l->claim says who (and acting asks first).
 */
static void claim_current(struct loop *l)
{
	struct store_txn *t = NULL;
	struct store_thread *th = NULL;
	int64_t now = (int64_t)time(NULL);
	bool mine = false;
	free(l->claim);
	l->claim = NULL;
	if (store_begin(l->s, false, &t) == 0 && store_get_thread(t, current(l), &th) == 0 &&
	    view_claim_held(th, now)) {
		mine = strcmp(th->claim_agent, l->a->login) == 0;
		if (!mine)
			l->claim = view_claim_text(th, now);
	}
	store_thread_free(th);
	store_abort(t);
	char *err = NULL;
	l->glance = false;
	if (l->claim == NULL && review_claim(l->s, l->c, current(l), l->a, "review", &err) < 0)
		say_failed(l, -1, err, "claim");
	else
		l->glance = l->claim == NULL && !mine;
	free(err);
}

/*
 * Leaving a conversation that was only looked at gives it back: passing by with j must not
 * hold it from the colleagues for review.claim_for. A claim the agent had before, took, or
 * worked under (an edit, a note) stays.
 */
static void unclaim_glanced(struct loop *l, size_t pos)
{
	char *err = NULL;
	uint64_t id = l->ids.v[pos];
	if (l->glance && review_unclaim(l->s, id, l->a, &err) < 0)
		log_debug("thread %llu: %s", (unsigned long long)id, err ? err : "");
	free(err);
	l->glance = false;
}

/* "3/12 · 9 left · 2 due within 1 h", then the keys: where the agent is, what waits. */
static char *status_line(const struct loop *l)
{
	int64_t now = (int64_t)time(NULL);
	size_t soon = 0, overdue = 0;
	for (size_t i = 0; i < l->ids.n; i++) {
		struct store_draft *d = NULL;
		char *err = NULL;
		bool waits = !l->done[i] &&
		             review_current_draft(l->s, l->ids.v[i], &d, &err) == 0 &&
		             d->state == STORE_DRAFT_PROPOSED && d->queued;
		if (waits && d->queued <= now)
			overdue++;
		else if (waits && d->queued <= now + 3600)
			soon++;
		store_draft_free(d);
		free(err);
	}
	size_t left = l->ids.n - l->ndone - (l->done[l->pos] ? 0 : 1);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s%zu/%zu · %zu left", l->color ? "\033[7m" : "", l->pos + 1, l->ids.n,
	           left);
	if (overdue)
		buf_printf(&b, " · %zu overdue", overdue);
	buf_printf(&b, " · %zu due within 1 h%s", soon, l->color ? "\033[0m" : "");
	buf_puts(&b, "  a e s r v n t j k o q ? ");
	return buf_steal(&b);
}

/* The conversation as `tend show` shows it, then the last key's line and the status line. */
static char *screen_text(struct loop *l)
{
	struct view_options vo;
	char *shown = NULL, *err = NULL;
	size_t len = 0;
	view_options_detect(&vo, false);
	vo.rules = l->args->rules;
	vo.tell_lang = l->args->tell_lang;
	vo.viewer = l->a->login; /* its own claim reads "you are on it" */
	l->color = vo.color;
	FILE *f = open_memstream(&shown, &len);
	int rc = f ? review_show(l->s, current(l), l->a, &vo, f, &err) : STORE_ERROR;
	if (f)
		fclose(f);
	struct buf b = BUF_INIT;
	if (rc < 0) {
		buf_printf(&b, "Thread %llu cannot be shown: ", (unsigned long long)current(l));
		term_put(&b, err ? err : store_strerror(rc), TEXT_LINE);
		buf_putc(&b, '\n');
	} else
		buf_puts(&b, shown);
	if (l->claim)
		buf_printf(&b, "\n%s: acting on it asks first.\n", l->claim);
	if (l->said)
		buf_printf(&b, "\n%s\n", l->said);
	char *st = status_line(l);
	buf_printf(&b, "%s%s", l->said ? "" : "\n\n", st);
	free(st);
	free(shown);
	free(err);
	return buf_steal(&b);
}

/* Clears the screen and shows the current conversation; false when the terminal went. */
static bool draw(struct loop *l)
{
	for (;;) {
		char *text = screen_text(l);
		printf("\033[H\033[2J");
		/* the status line is the prompt: no line end after it */
		char *last = strrchr(text, '\n');
		*last = '\0';
		enum page_end e = page(text);
		if (e == PAGE_DONE)
			fputs(last + 1, stdout);
		free(text);
		if (e != PAGE_REDRAW)
			return e == PAGE_DONE;
	}
}

/*
 * Another agent is on the current conversation: acting asks first, and yes acts with force
 * (the audit trail records it). False when the agent said no.
 */
static bool may_act(struct loop *l)
{
	if (l->claim == NULL)
		return true;
	char *q = xasprintf("%s. Act on it all the same?", l->claim);
	bool yes = ask_key(q);
	free(q);
	if (!yes) {
		say(l, "Left thread %llu to them: nothing was changed.",
		    (unsigned long long)current(l));
		return false;
	}
	l->a->force = true;
	return true;
}

enum after { STAY, NEXT };

/* Approving a conversation assigned to someone else asks first, as `tend approve` does. */
static bool assignee_ok(struct loop *l)
{
	char *who = NULL, *err = NULL;
	bool ok = true;
	if (review_assigned_elsewhere(l->s, current(l), l->a, &who, &err) == 0 && who &&
	    !l->a->force) {
		char *safe = term_dup(who, TEXT_LINE);
		char *q = xasprintf("Thread %llu is assigned to %s. Approve it all the same?",
		                    (unsigned long long)current(l), safe);
		ok = ask_key(q);
		l->a->over_assignee = ok;
		free(q);
		free(safe);
	}
	free(who);
	free(err);
	return ok;
}

/* "Approved thread 12: sending in 20 s; `tend undo 12` to stop it." */
static void say_approved(struct loop *l)
{
	struct store_draft *d = NULL;
	char *err = NULL;
	unsigned long long id = current(l);
	if (review_current_draft(l->s, id, &d, &err) == 0 && d->undo_until)
		say(l, "Approved thread %llu: sending in %lld s; `tend undo %llu` to stop it.", id,
		    (long long)(d->undo_until - d->approved), id);
	else
		say(l, "Approved thread %llu: queued for sending.", id);
	store_draft_free(d);
	free(err);
	outbox_poke(l->c->store); /* tendd, when running, sends it when it is due */
}

/* a: the checks, the reply as it will go out, y, then the approval. */
static enum after act_approve(struct loop *l)
{
	struct review_approve_opts ao = {0};
	char *text = NULL, *err = NULL;
	if (!assignee_ok(l)) {
		say(l, "Not approved: nothing was changed.");
		return STAY;
	}
	int rc = review_approvable(l->s, l->c, current(l), l->a, &ao, &err);
	if (rc == 0)
		rc = review_preview(l->s, l->c, current(l), l->a, &text, &err);
	if (rc < 0) {
		say_failed(l, rc, err, "approve");
		return STAY;
	}
	printf("\033[H\033[2J");
	bool yes = page(text) == PAGE_DONE && ask_key("Send this reply?");
	ao.previewed = str_hash(text);
	free(text);
	if (!yes) {
		say(l, "Not approved: nothing was changed.");
		return STAY;
	}
	rc = review_approve_with(l->s, l->c, current(l), l->a, &ao, &err);
	if (rc < 0) {
		say_failed(l, rc, err, "approve");
		return STAY;
	}
	free(err);
	say_approved(l);
	return NEXT;
}

/* e: the editor, in the terminal's own mode; back to the same conversation. */
static enum after act_edit(struct loop *l)
{
	char *err = NULL;
	raw_leave();
	printf("\n");
	fflush(stdout);
	int rc = review_edit(l->s, l->c, current(l), l->a, &err);
	if (rc == REVIEW_UNCHANGED)
		say(l, "No changes.");
	else if (rc == 0)
		say(l, "Saved the draft of thread %llu.", (unsigned long long)current(l));
	if (rc < 0)
		say_failed(l, rc, err, "edit");
	else
		free(err);
	return STAY;
}

/* s: asks how long, as `tend snooze ID DURATION` takes it. */
static enum after act_snooze(struct loop *l)
{
	int64_t secs = 0;
	char *err = NULL,
	     *line = read_line("Snooze for how long (like 30m, 4h or 2d; Enter: not)? ");
	if (blank(line) || parse_duration(line, &secs) < 0 || secs <= 0) {
		if (blank(line))
			say(l, "Not snoozed.");
		else
			say(l, "\"%s\" is not a duration (like 30m, 4h or 2d): not snoozed.", line);
		free(line);
		return STAY;
	}
	free(line);
	int rc = review_snooze(l->s, current(l), l->a, secs, &err);
	if (rc < 0) {
		say_failed(l, rc, err, "snooze");
		return STAY;
	}
	char when[64];
	time_t tt = time(NULL) + (time_t)secs;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%a %e %b %Y %H:%M", &tm);
	say(l, "Snoozed thread %llu until %s.", (unsigned long long)current(l), when);
	return NEXT;
}

/* r: asks why, as `tend reject --reason` wants it. */
static enum after act_reject(struct loop *l)
{
	char *err = NULL, *why = read_line("Why reject the draft (Enter: do not)? ");
	if (blank(why)) {
		free(why);
		say(l, "Not rejected.");
		return STAY;
	}
	int rc = review_reject(l->s, current(l), l->a, why, false, &err);
	free(why);
	if (rc < 0) {
		say_failed(l, rc, err, "reject");
		return STAY;
	}
	say(l,
	    "Rejected the draft of thread %llu: the draft is empty now; write the reply with "
	    "`tend edit %llu`.",
	    (unsigned long long)current(l), (unsigned long long)current(l));
	return NEXT;
}

/* v: resolves the conversation, after a y. */
static enum after act_resolve(struct loop *l)
{
	char *err = NULL;
	if (!ask_key("Resolve it: it needs nothing more?")) {
		say(l, "Not resolved.");
		return STAY;
	}
	int rc = review_resolve(l->s, current(l), l->a, NULL, &err);
	if (rc < 0) {
		say_failed(l, rc, err, "resolve");
		return STAY;
	}
	say(l, "Resolved thread %llu: a new message from the customer opens it again.",
	    (unsigned long long)current(l));
	return NEXT;
}

/* n: an internal note, typed on one line; back to the same conversation. */
static enum after act_note(struct loop *l)
{
	char *err = NULL, *text = read_line("Note (never sent; Enter: none): ");
	if (blank(text)) {
		free(text);
		say(l, "No note.");
		return STAY;
	}
	int rc = review_note(l->s, current(l), l->a, text, &err);
	free(text);
	if (rc < 0)
		say_failed(l, rc, err, "note");
	else
		say(l, "Added an internal note to thread %llu (never sent to the customer).",
		    (unsigned long long)current(l));
	return STAY;
}

/*
 * t: takes the conversation: assigned to the agent (audited "assign") and claimed, as `tend
 * show --take` claims it. Viewing it here claimed it already: the assignment is what lasts.
 */
static enum after act_take(struct loop *l)
{
	char *err = NULL;
	int rc = review_assign(l->s, l->c, current(l), l->a, l->a->login, &err);
	if (rc == 0)
		rc = review_claim(l->s, l->c, current(l), l->a, "take", &err);
	if (rc < 0) {
		say_failed(l, rc, err, "take");
		return STAY;
	}
	say(l, "Thread %llu is yours: assigned to you, and you are on it.",
	    (unsigned long long)current(l));
	return NEXT;
}

/* Attachments */

/* One attachment of the conversation: message and number, as `tend attachment` takes them. */
struct attachment_ref {
	uint64_t msg;
	size_t n;
};

/* Lists the conversation's attachments, numbered from 1 across it, into *refs. */
static size_t list_attachments(struct loop *l, struct attachment_ref **refs)
{
	struct store_txn *t = NULL;
	struct store_thread *th = NULL;
	size_t count = 0;
	*refs = NULL;
	if (store_begin(l->s, false, &t) < 0 || store_get_thread(t, current(l), &th) < 0) {
		store_abort(t);
		return 0;
	}
	for (size_t i = 0; i < th->messages.n; i++) {
		struct store_message *m = NULL;
		if (store_get_message(t, th->messages.v[i], &m) < 0)
			continue;
		for (size_t k = 0; k < m->nattachments; k++) {
			struct buf b = BUF_INIT;
			const struct message_attachment *at = &m->attachments[k];
			view_attachment_line(&b, count + 1, at->filename, at->content_type,
			                     at->size);
			printf("%s (message %llu)\n", b.data, (unsigned long long)m->id);
			buf_free(&b);
			*refs = xreallocarray(*refs, count + 1, sizeof(**refs));
			(*refs)[count++] = (struct attachment_ref){m->id, k + 1};
		}
		store_message_free(m);
	}
	store_thread_free(th);
	store_abort(t);
	return count;
}

/* True when a viewer can be started: a display, and xdg-open on the PATH. */
static bool can_open(void)
{
	const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
	if (!(x && *x) && !(w && *w))
		return false;
	const char *path = getenv("PATH");
	char *copy = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/xdg-open", *dir ? dir : ".");
		found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}

/* Runs xdg-open on path, its output kept off the screen. */
static int xdg_open(const char *path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execlp("xdg-open", "xdg-open", path, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A private copy for the viewer: a new 0700 directory in $TMPDIR (else /tmp). */
static void open_copy(struct loop *l, const struct review_file *f)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/tend-attachment-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	char *written = NULL, *err = NULL;
	if (mkdtemp(dir) == NULL)
		say(l, "cannot make a private directory for the attachment: %s", strerror(errno));
	else if (review_file_save(f, dir, false, &written, &err) < 0)
		say_failed(l, -1, err, "open an attachment of");
	else if (xdg_open(written) < 0)
		say(l, "xdg-open could not open %s (it is kept there)", written);
	else
		say(l, "Opened %s (a private copy; delete it when done).", written);
	free(written);
	free(dir);
}

/*
 * Asks where to save it, with the safety of `tend attachment -o`: never over a file. A name
 * that is taken asks for another (the loop has no --force to give).
 */
static void save_copy(struct loop *l, const struct review_file *f)
{
	char *written = NULL, *err = NULL, *path = read_line("Save it as (a file or directory)? ");
	int rc = 0;
	while (!blank(path) &&
	       (rc = review_file_save(f, path, false, &written, &err)) == REVIEW_EXISTS) {
		char *q = xasprintf("%s; another name (Enter: not saved)? ", err);
		free(path);
		free(err);
		err = NULL;
		path = read_line(q);
		free(q);
	}
	if (blank(path))
		say(l, "Not saved.");
	else if (rc < 0)
		say_failed(l, -1, err, "save an attachment of");
	else
		say(l, "Wrote %zu bytes to %s.", f->data.len, written);
	free(written);
	free(path);
}

/* o: lists the attachments, asks which, opens it or saves it. */
static enum after act_open(struct loop *l)
{
	struct attachment_ref *refs = NULL;
	printf("\n");
	size_t count = list_attachments(l, &refs);
	char *line = count ? read_line("Which one (number; Enter: none)? ") : NULL;
	char *end = NULL;
	unsigned long long n = line ? strtoull(line, &end, 10) : 0;
	if (count == 0)
		say(l, "Thread %llu has no attachments.", (unsigned long long)current(l));
	else if (blank(line) || *end || n == 0 || n > count)
		say(l, "No attachment opened.");
	else {
		struct review_file f;
		char *err = NULL;
		if (review_attachment(l->s, l->c, refs[n - 1].msg, refs[n - 1].n, &f, &err) < 0)
			say_failed(l, -1, err, "read an attachment of");
		else if (can_open())
			open_copy(l, &f);
		else
			save_copy(l, &f);
		review_file_finish(&f);
	}
	free(line);
	free(refs);
	return STAY;
}

/* Moving */

static void mark_done(struct loop *l)
{
	if (!l->done[l->pos])
		l->ndone++;
	l->done[l->pos] = true;
}

/* To the next conversation not acted on (after this one, else from the start); quits when
 * none is left. */
static void next_open(struct loop *l)
{
	for (size_t k = 1; k <= l->ids.n; k++) {
		size_t i = (l->pos + k) % l->ids.n;
		if (!l->done[i]) {
			l->pos = i;
			return;
		}
	}
	l->quit = true;
}

/* j and k. */
static void step(struct loop *l, int dir)
{
	if (dir > 0 && l->pos + 1 < l->ids.n)
		l->pos++;
	else if (dir < 0 && l->pos > 0)
		l->pos--;
	else
		say(l, "%s",
		    dir > 0 ? "This is the last conversation: k goes back, q quits."
		            : "This is the first conversation.");
}

void tend_review_keys(FILE *f)
{
	fputs("keys:\n"
	      "  a  approve: the checks, then the reply as it will go out; y sends it\n"
	      "  e  edit the draft in $VISUAL or $EDITOR, then come back to it\n"
	      "  s  snooze: asks how long (30m, 4h, 2d)\n"
	      "  r  reject the draft: asks why; the draft is empty then, for you to write\n"
	      "  v  resolve: the conversation needs nothing more\n"
	      "  n  add an internal note (never sent)\n"
	      "  t  take it: assigned to you, and you are on it\n"
	      "  j  next conversation        k  previous conversation\n"
	      "  o  open an attachment (xdg-open), or save it\n"
	      "  q  quit (^C too)            ?  this help\n",
	      f);
}

static void show_help(struct loop *l)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f) {
		tend_review_keys(f);
		fputs("\npress a key to go back", f);
		fclose(f);
		printf("\033[H\033[2J");
		char *last = strrchr(text, '\n');
		*last = '\0';
		if (page(text) == PAGE_DONE) {
			fputs(last + 1, stdout);
			if (read_key() == KEY_EOF)
				l->quit = true;
		}
	}
	free(text);
}

static enum after key_next(struct loop *l)
{
	step(l, 1);
	return STAY;
}

static enum after key_previous(struct loop *l)
{
	step(l, -1);
	return STAY;
}

static enum after key_help(struct loop *l)
{
	show_help(l);
	return STAY;
}

static enum after key_quit(struct loop *l)
{
	l->quit = true;
	return STAY;
}

/* What each key does; acting keys ask first on a conversation another agent is on. */
static const struct key_action {
	int key;
	bool acts;
	enum after (*run)(struct loop *l);
} key_actions[] = {
    {'a', true, act_approve},      {'e', true, act_edit},      {'s', true, act_snooze},
    {'r', true, act_reject},       {'v', true, act_resolve},   {'n', true, act_note},
    {'t', true, act_take},         {'o', false, act_open},     {'j', false, key_next},
    {'k', false, key_previous},    {'?', false, key_help},     {'q', false, key_quit},
    {KEY_CTRL_C, false, key_quit}, {KEY_EOF, false, key_quit},
};

/* Acts on one key; after an action that is done with the conversation, on to the next. */
static void dispatch(struct loop *l, int key)
{
	const struct key_action *ka = NULL;
	for (size_t i = 0; i < sizeof(key_actions) / sizeof(key_actions[0]); i++)
		if (key_actions[i].key == key)
			ka = &key_actions[i];
	if (ka == NULL) {
		if (key != KEY_REDRAW && key != '\r' && key != '\n' && key != ' ')
			say(l, "That key does nothing here: ? lists the keys.");
		return;
	}
	if (ka->acts && !may_act(l))
		return;
	if (ka->acts)
		l->glance = false;
	enum after after = ka->run(l);
	l->a->force = false;
	l->a->over_assignee = false;
	if (after == NEXT) {
		mark_done(l);
		next_open(l);
	}
}

/* Shows the conversation at pos, claiming it when it is new here, until the agent quits. */
static void run(struct loop *l)
{
	size_t shown = SIZE_MAX;
	while (!l->quit) {
		if (shown != l->pos && shown != SIZE_MAX)
			unclaim_glanced(l, shown);
		if (shown != l->pos)
			claim_current(l);
		shown = l->pos;
		if (!draw(l))
			break;
		free(l->said);
		l->said = NULL;
		dispatch(l, read_key());
	}
	if (shown != SIZE_MAX)
		unclaim_glanced(l, shown);
}

static void loop_finish(struct loop *l)
{
	idvec_free(&l->ids);
	free(l->done);
	free(l->claim);
	free(l->said);
}

int tend_review_run(const struct tend_review_args *args)
{
	struct loop l = {.s = args->store, .c = args->config, .a = args->agent, .args = args};
	struct sigaction old[NHANDLED];
	int rc = review_queue_threads(l.s, (int64_t)time(NULL), false, args->filter, &l.ids);
	if (rc < 0) {
		log_warnx("cannot list the queue: %s", store_strerror(rc));
		loop_finish(&l);
		return 1;
	}
	if (l.ids.n == 0) {
		printf("Nothing to review.\n");
		loop_finish(&l);
		return 0;
	}
	if (tcgetattr(STDIN_FILENO, &cooked) < 0) {
		log_warn("cannot read the terminal's mode");
		loop_finish(&l);
		return 1;
	}
	l.done = xcalloc(l.ids.n, sizeof(*l.done));
	signals_install(old);
	run(&l);
	raw_leave();
	signals_restore(old);
	printf("\r\033[K%s%sReviewed %zu of %zu conversation%s.\n", l.said ? l.said : "",
	       l.said ? "\n" : "", l.ndone, l.ids.n, l.ids.n == 1 ? "" : "s");
	loop_finish(&l);
	return 0;
}
