/*
 * authres: Authentication-Results header fields (RFC 8601), the verdicts a receiving server
 * writes on the mail it accepted (DKIM, SPF, DMARC, ...). tend believes them only from the
 * servers operators name (tend.yaml's authserv_id), to tell whether mail from one of our own
 * addresses really comes from us.
 *
 * Pure functions over header text; no I/O.
 */
#ifndef TEND_AUTHRES_H
#define TEND_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "tend/message.h"
#include "tend/util.h"

/* One result: "dkim=pass header.d=shop.example" is method dkim, result pass, one property. */
struct authres_result {
	char *method;        /* lowercase, without a version ("dkim") */
	char *result;        /* lowercase ("pass") */
	struct strvec props; /* "ptype.property=value", lowercase, e.g. "header.d=shop.example" */
};

struct authres {
	char *authserv_id; /* as written */
	struct authres_result *v;
	size_t n;
};

/*
 * Parses one field's value (unfolded). Comments are removed; results that cannot be read are
 * skipped, as RFC 8601 asks of a reader. Returns 0, or -1 when not even the authserv-id is
 * there. Free with authres_finish (also after -1).
 */
int authres_parse(const char *value, struct authres *out);
void authres_finish(struct authres *ar);

/* The value of property "ptype.name" of a result (lowercase), or NULL. */
const char *authres_prop(const struct authres_result *r, const char *name);

/*
 * Whether the message's Authentication-Results vouch that it comes from domain: DKIM passed
 * with a signature of domain or of a domain above it (header.d, else header.i), or DMARC
 * passed for domain as the From domain (header.from). Only the topmost field whose
 * authserv-id is one of ids counts: the receiving server adds its field above everything the
 * sender wrote, so any field below it (a sender can write one with any authserv-id) is never
 * read. No ids: nothing vouches. *why (when not NULL; caller frees) says what vouched, or why
 * nothing did, for `tend show`.
 */
bool authres_vouches(const struct message *m, const struct strvec *ids, const char *domain,
                     char **why);

#endif
