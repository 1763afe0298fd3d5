/*
 * review_note: `tend note`, an agent's internal note in a conversation.
 *
 * A note is a record of its own (store_note), listed by its thread: not a draft, so that no
 * path to the outbox can take it, and not a message, so that no draft can quote it. It is
 * written in one transaction with its place in the thread and its audit entry, which holds
 * the text, so the trail shows what was noted even where the note is not shown.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "review_int.h"

/* What a note may be: text a person wrote (control characters are escaped when shown). */
static int check_text(const char *text, size_t n, char **err)
{
	if (strspn(text, " \t\r\n") == n)
		return review_refuse(err, "empty note: nothing was saved");
	if (!utf8_valid(text, n))
		return review_refuse(err, "the note is not UTF-8 text: nothing was saved");
	if (n > REVIEW_NOTE_MAX)
		return review_refuse(err,
		                     "a note holds at most %d bytes, and this one has %zu: "
		                     "nothing was saved",
		                     REVIEW_NOTE_MAX, n);
	return 0;
}

/* The note, its place in the thread and the audit entry, in tg's transaction. */
static int note_in(struct review_target *tg, const struct review_agent *a, const char *text)
{
	struct store_note n = {
	    .thread = tg->id,
	    .created = (int64_t)time(NULL),
	    .agent = a->login,
	    .os_user = a->os_user,
	};
	size_t len = strlen(text);
	while (len > 0 && strchr(" \t\r\n", text[len - 1])) /* the editor's last newline */
		len--;
	n.text = xstrndup(text, len);
	int rc = store_next_id(tg->t, STORE_COUNTER_NOTE, &n.id);
	if (rc == 0)
		rc = store_put_note(tg->t, &n);
	if (rc == 0) {
		idvec_push(&tg->th->notes, n.id);
		rc = store_put_thread(tg->t, tg->th);
	}
	if (rc == 0)
		rc = review_audit(tg, a, "note", n.text, n.created);
	free(n.text);
	return rc;
}

int review_note(struct store *s, uint64_t thread, const struct review_agent *a, const char *text,
                char **err)
{
	int rc = check_text(text, strlen(text), err);
	if (rc < 0)
		return rc;
	struct review_target tg;
	if ((rc = review_target_open(s, thread, true, &tg, err)) < 0)
		return rc;
	if ((rc = note_in(&tg, a, text)) < 0) {
		*err = xasprintf("cannot add a note to thread %llu: %s", (unsigned long long)tg.id,
		                 store_strerror(rc));
		review_target_close(&tg);
		return rc;
	}
	return review_target_commit(&tg, err);
}

/* The thread the note goes to, after merges; refuses an unknown one before the editor runs. */
static int live_thread(struct store *s, uint64_t thread, uint64_t *live, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc == 0)
		*live = tg.id;
	review_target_close(&tg);
	return rc;
}

int review_note_edit(struct store *s, uint64_t thread, const struct review_agent *a, char **err)
{
	uint64_t live = 0;
	char *path = NULL, *text = NULL;
	int rc = live_thread(s, thread, &live, err);
	if (rc < 0)
		return rc;
	char *reference = xasprintf(
	    "# Write the note for thread %llu above the line: it is internal. `tend show` and\n"
	    "# `tend log` show it to agents; it is never sent, and never quoted in a reply.\n",
	    (unsigned long long)live);
	rc = review_editor("note", live, NULL, "", reference, &path, &text, err);
	if (rc == 0 && *text == '\0')
		rc = review_refuse(err, "empty note: nothing was saved");
	else if (rc == 0 && (rc = review_note(s, live, a, text, err)) < 0 && *err)
		review_kept(err, path);
	if (path && (rc == 0 || (text && *text == '\0')))
		unlink(path);
	free(reference);
	free(path);
	free(text);
	return rc;
}
