/*
 * draft: rendering a reply draft from the rules that matched a conversation's unanswered
 * messages: a greeting, one part per matching rule's template (each concern once, in the order
 * the customer raised them), a closing, the customer's latest message quoted below, and the
 * reply's headers (To, Cc, "Re:" subject with the tracking token, In-Reply-To, References).
 *
 * Pure: no store, no I/O. The agent's name is not known until someone approves, so
 * {{agent.name}} stays in the body as written and draft_sign fills it in.
 */
#ifndef TEND_DRAFT_H
#define TEND_DRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/message.h"
#include "tend/rules.h"
#include "tend/store.h"

/* One customer message the draft answers, with what the rules made of it. */
struct draft_message {
	const struct message *message;
	const struct rules_result *result;
	uint32_t flags; /* the stored message's STORE_MSG_* flags */
};

struct draft_input {
	const struct rules *rules;
	const struct store_thread *thread;
	const struct draft_message *messages; /* unanswered, oldest first; at least one */
	size_t nmessages;
	const struct strvec *own; /* our addresses: never To or Cc of a reply */
	const char *token;        /* the tracking token format, "[#{id}]" */
	int64_t deadline;         /* for {{deadline}}; 0: none */
	int64_t now;              /* when it is rendered (0: the clock): a deadline not after it
	                           * is empty, so no draft promises a time already gone */
	const char *timezone;     /* IANA zone to write the deadline in; NULL: local time */
	int max_recipients;       /* To and Cc at most: past it the Cc is left out; 0: no cap */
	/* Parts by hand: rules whose parts are left out (NULL: none), and matches made for
	 * parts an agent added (rules_match_by_hand), each a part unless its rule is one already. */
	const struct strvec *removed;
	const struct rules_match *added;
	size_t nadded;
};

/*
 * Fills d's body, subject, to, cc, reply_to_held, cc_withheld, in_reply_to, references,
 * parts, captures, promised and promise (replacing what they held); leaves every other field alone. The reply goes to the
 * latest message's Reply-To, unless the message was flagged STORE_MSG_REPLY_TO_HELD (then to its
 * sender, with the Reply-To kept in reply_to_held), else its sender, else the customer; the
 * others it was addressed to are in Cc unless that makes more than max_recipients.
 */
void draft_compose(const struct draft_input *in, struct store_draft *d);

/*
 * One template rendered for thread th on its own (a holding reply): the thread's variables and
 * the deadline written in zone (NULL: local time), empty once it has passed. Caller frees.
 */
char *draft_render(const struct template *t, const struct store_thread *th, int64_t deadline,
                   const char *zone);

/*
 * A new proposed reply d (id set, every other field empty) in place of src, in the same
 * thread: src's subject, threading (In-Reply-To, References, the message it answers), sending
 * account and, when recipients, its To, Cc and the notes about them. The body is left empty.
 */
void draft_copy_reply(struct store_draft *d, const struct store_draft *src, bool recipients);

/*
 * Does d still say, in words, a deadline that has passed by now (the text {{deadline}} gave
 * when it was rendered)? Such a draft must not be approved as it is.
 */
bool draft_promise_passed(const struct store_draft *d, int64_t now);

/* Returns body with every {{agent.name}} replaced by name; caller frees. */
char *draft_sign(const char *body, const char *name);

/* "Re: " + subject unless it already starts with a reply prefix, plus the token; caller frees. */
char *draft_reply_subject(const char *subject, const char *token, uint64_t thread);

#endif
