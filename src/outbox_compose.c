/*
 * outbox: the message the sender hands to the SMTP server for a draft, apart from the sending
 * itself, so that `tend approve`'s preview builds the very same bytes without linking the
 * SMTP client (and its libraries) into tend.
 */
#include <stdlib.h>
#include <string.h>

#include "outbox_int.h"
#include "tend/compose.h"
#include "tend/outbox.h"
#include "tend/util.h"

/* The account a draft goes out through: its own, else the first that can send. */
const struct config_account *outbox_sending_account(const struct config *c,
                                                    const struct store_draft *d)
{
	const struct config_account *a = d->account ? config_account(c, d->account) : NULL;
	for (size_t i = 0; (!a || !a->has_smtp) && i < c->naccounts; i++)
		a = &c->accounts[i];
	return a && a->has_smtp ? a : NULL;
}

void outbox_outgoing_free(struct outgoing *o)
{
	free(o->to.v);
	free(o->cc.v);
	free(o->rcpts);
	free(o->data);
}

static bool own_address(const struct config *c, const char *addr)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (c->accounts[i].address && str_ieq(c->accounts[i].address, addr))
			return true;
	return false;
}

/* Keeps the addresses of in that are not ours and not already recipients. */
static void keep_recipients(const struct config *c, const struct message_addrs *in,
                            struct message_addrs *out, struct outgoing *o)
{
	out->v = xcalloc(in->n + 1, sizeof(*out->v));
	out->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const char *addr = in->v[i].addr;
		bool dup = false;
		for (size_t j = 0; j < o->nrcpts && !dup; j++)
			dup = str_ieq(o->rcpts[j], addr);
		if (dup || own_address(c, addr))
			continue;
		out->v[out->n++] = in->v[i];
		o->rcpts = xreallocarray(o->rcpts, o->nrcpts + 1, sizeof(*o->rcpts));
		o->rcpts[o->nrcpts++] = addr;
	}
}

/* RFC 3834: a reply an agent approved is "no"; what tendd writes on its own says so. */
static const char *auto_submitted(const struct store_draft *d)
{
	switch (d->kind) {
	case STORE_KIND_HOLDING:
		return "auto-replied";
	case STORE_KIND_NOTICE:
		return "auto-generated";
	default:
		return "no";
	}
}

/*
 * Builds the message with the draft's attachments, read from the store in the caller's
 * transaction in (NULL: one of its own, that lasts while the bytes are copied into the message).
 */
static int compose_with_files(struct store *s, struct store_txn *in_txn,
                              const struct store_draft *d, struct compose_input *in,
                              struct outgoing *o, char **err)
{
	struct store_txn *own = NULL, *t = in_txn;
	struct compose_file *f = xcalloc(d->nfiles + 1, sizeof(*f));
	int rc = d->nfiles && t == NULL ? store_begin(s, false, &own) : 0;
	if (t == NULL)
		t = own;
	for (size_t i = 0; rc == 0 && i < d->nfiles; i++) {
		f[i].name = d->files[i].name;
		f[i].content_type = d->files[i].content_type;
		rc = store_get_file(t, d->id, d->files[i].seq, &f[i].data, &f[i].len);
		if (rc < 0)
			*err = xasprintf("cannot read its attachment %zu (%s) from the store: %s",
			                 i + 1, d->files[i].name, store_strerror(rc));
	}
	if (rc < 0 && *err == NULL)
		*err =
		    xasprintf("cannot read its attachments from the store: %s", store_strerror(rc));
	in->files = f;
	in->nfiles = d->nfiles;
	if (rc == 0)
		rc = compose_message(in, &o->data, &o->len, err);
	store_abort(own);
	free(f);
	return rc;
}

static int prepare_in(struct store *s, struct store_txn *t, const struct config *c,
                      const struct store_draft *d, int64_t date, struct outgoing *o, char **err)
{
	memset(o, 0, sizeof(*o));
	if ((o->acct = outbox_sending_account(c, d)) == NULL) {
		*err = xstrdup("no account in tend.yaml has an smtp block to send it with");
		return PREPARE_ACCOUNT;
	}
	keep_recipients(c, &d->to, &o->to, o);
	keep_recipients(c, &d->cc, &o->cc, o);
	if (o->nrcpts == 0) {
		*err = xstrdup("it has no recipient other than our own addresses");
		return PREPARE_REFUSED;
	}
	struct compose_input in = {
	    .from_addr = o->acct->address,
	    .from_name = o->acct->from_name,
	    .to = &o->to,
	    .cc = &o->cc,
	    .subject = d->subject ? d->subject : "",
	    .message_id = d->message_id ? d->message_id : "",
	    .in_reply_to = d->in_reply_to,
	    .references = &d->references,
	    .body = d->body ? d->body : "",
	    .date = date,
	    .auto_submitted = auto_submitted(d),
	};
	return compose_with_files(s, t, d, &in, o, err) == 0 ? PREPARE_OK : PREPARE_REFUSED;
}

int outbox_prepare(struct store *s, const struct config *c, const struct store_draft *d,
                   int64_t date, struct outgoing *o, char **err)
{
	return prepare_in(s, NULL, c, d, date, o, err);
}

int outbox_compose(struct store_txn *t, const struct config *c, const struct store_draft *d,
                   int64_t date, char **data, size_t *len, char **err)
{
	struct outgoing o;
	int rc = prepare_in(NULL, t, c, d, date, &o, err);
	if (rc == PREPARE_OK) {
		*data = o.data;
		*len = o.len;
		o.data = NULL;
	}
	outbox_outgoing_free(&o);
	return rc == PREPARE_OK ? 0 : -1;
}
