/*
 * review_undo: the agent's last look before a reply goes (the preview) and the way back after
 * (the undo window).
 *
 * The preview is read back from the bytes the sender would build (outbox_compose), so that
 * what the agent reads cannot differ from what the customer gets. The undo window is
 * review.undo seconds in which the approved reply sits in the outbox, not yet due: tendd does
 * not start it, and `tend undo` may put it back in the queue as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "review_int.h"
#include "tend/draft.h"
#include "tend/message.h"
#include "tend/outbox.h"

/* Preview */

static void put_addrs(struct buf *b, const char *field, const struct message_addrs *v)
{
	if (v->n == 0)
		return;
	buf_printf(b, "%s: ", field);
	for (size_t i = 0; i < v->n; i++) {
		char *one = view_addr_display(&v->v[i]);
		buf_puts(b, i ? ", " : "");
		term_put(b, one, TEXT_LINE);
		free(one);
	}
	buf_putc(b, '\n');
}

/* The message as a person reads it: the fields that matter, the attachments, the text. */
static char *render(const struct message *m)
{
	struct buf b = BUF_INIT;
	put_addrs(&b, "From", &(struct message_addrs){(struct message_addr *)&m->from, 1});
	put_addrs(&b, "To", &m->to);
	put_addrs(&b, "Cc", &m->cc);
	buf_puts(&b, "Subject: ");
	term_put(&b, m->subject, TEXT_LINE);
	buf_putc(&b, '\n');
	for (size_t i = 0; i < m->nattachments; i++) {
		const struct message_attachment *at = &m->attachments[i];
		buf_puts(&b, "Attachment: ");
		term_put(&b, at->filename ? at->filename : "(no name)", TEXT_LINE);
		buf_puts(&b, " (");
		term_put(&b, at->content_type ? at->content_type : "?", TEXT_LINE);
		buf_printf(&b, ", %zu bytes)\n", at->size);
	}
	buf_putc(&b, '\n');
	term_put(&b, m->text, TEXT_LINES);
	if (b.len && b.data[b.len - 1] != '\n')
		buf_putc(&b, '\n');
	return buf_steal(&b);
}

int review_preview_text(const struct config *c, const struct review_target *tg,
                        const struct review_agent *a, char **out, char **err)
{
	struct store_draft tmp = *tg->d; /* shallow: only body and message_id are replaced */
	tmp.body = draft_sign(tg->d->body ? tg->d->body : "", a->name);
	tmp.message_id = review_message_id(c, tg->th, tg->d);
	char *data = NULL, *why = NULL;
	size_t len = 0;
	struct message *m = NULL;
	int rc = outbox_compose(tg->t, c, &tmp, (int64_t)time(NULL), &data, &len, &why);
	if (rc == 0 && message_parse(data, len, NULL, &m, &why) < 0)
		rc = -1;
	if (rc == 0)
		*out = render(m);
	else
		rc = review_refuse(err, "thread %llu: the reply cannot be sent as it is: %s",
		                   (unsigned long long)tg->id, why);
	message_free(m);
	free(data);
	free(why);
	free(tmp.body);
	free(tmp.message_id);
	return rc;
}

int review_preview(struct store *s, const struct config *c, uint64_t thread,
                   const struct review_agent *a, char **out, char **err)
{
	struct review_target tg;
	*out = NULL;
	int rc = review_target_open(s, thread, false, &tg, err);
	if (rc < 0)
		return rc;
	if ((rc = review_need_proposed(&tg, "approve", err)) == 0)
		rc = review_preview_text(c, &tg, a, out, err);
	review_target_close(&tg);
	return rc;
}

/* Undo */

/* Why an approved reply can no longer be taken back; 0 when it can. */
static int check_undoable(const struct review_target *tg, int64_t now, char **err)
{
	unsigned long long id = (unsigned long long)tg->id;
	const struct store_draft *d = tg->d;
	/* once sent, the reply is no longer the thread's open draft: it is in its sent list */
	if ((d == NULL && tg->th->sent.n > 0) || (d && d->state == STORE_DRAFT_SENT))
		return review_refuse(
		    err, "thread %llu: the reply was sent; it cannot be taken back", id);
	if (d == NULL)
		return review_refuse(err, "thread %llu has no reply to take back", id);
	if (d->state != STORE_DRAFT_APPROVED)
		return review_refuse(err,
		                     "thread %llu: the draft is not approved; there is nothing to "
		                     "take back",
		                     id);
	if (d->send_phase != STORE_SEND_IDLE || d->attempts > 0)
		return review_refuse(
		    err,
		    "thread %llu: the reply is being sent; it is too late to take it "
		    "back (see `tend outbox`)",
		    id);
	if (d->undo_until == 0)
		return review_refuse(err,
		                     "thread %llu: the reply was approved without an undo window "
		                     "(review.undo is 0); it is being sent (see `tend outbox`)",
		                     id);
	if (now >= d->undo_until)
		return review_refuse(err,
		                     "thread %llu: the undo window closed %llds ago; the reply is "
		                     "being sent (see `tend outbox`)",
		                     id, (long long)(now - d->undo_until));
	return 0;
}

/* Back to the queue as it was before approval. */
static int take_back(struct review_target *tg, const struct review_agent *a, int64_t now)
{
	struct store_draft *d = tg->d;
	int64_t left = d->undo_until - now;
	int rc = store_index_del(tg->t, STORE_INDEX_OUTBOX, d->next_attempt, d->id);
	if (rc == STORE_NOTFOUND)
		rc = 0;
	free(d->body);
	d->body = d->undo_body;
	free(d->error);
	d->error = d->undo_error;
	d->undo_body = d->undo_error = NULL;
	free(d->message_id);
	free(d->approved_by);
	d->message_id = d->approved_by = NULL;
	d->state = STORE_DRAFT_PROPOSED;
	d->approved = d->next_attempt = d->undo_until = 0;
	d->queued = d->undo_queued;
	d->undo_queued = 0;
	d->updated = now;
	if (rc == 0 && d->queued)
		rc = store_index_put(tg->t, STORE_INDEX_QUEUE, d->queued, d->id);
	if (rc == 0)
		rc = store_put_draft(tg->t, d);
	if (rc == 0) {
		char *detail = xasprintf("taken back %llds before it was due; back in the queue",
		                         (long long)left);
		rc = review_audit(tg, a, "undo", detail, now);
		free(detail);
	}
	return rc;
}

int review_undo(struct store *s, uint64_t thread, const struct review_agent *a, char **err)
{
	struct review_target tg;
	int rc = review_target_open(s, thread, true, &tg, err);
	if (rc < 0)
		return rc;
	int64_t now = (int64_t)time(NULL);
	if ((rc = check_undoable(&tg, now, err)) < 0) {
		review_target_close(&tg);
		return rc;
	}
	return review_finish(&tg, take_back(&tg, a, now), "take back the reply of", err);
}
