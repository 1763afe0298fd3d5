/*
 * bounce: what a delivery failure report says: which recipients failed, why, and which of our
 * messages it is about. Read from the raw message so that it works for the many mail servers
 * that follow RFC 3464 (message/delivery-status: Final-Recipient, Action, Status,
 * Diagnostic-Code) and for those that only set X-Failed-Recipients (Exim) or quote the
 * returned message's Message-ID in text. Pure: no store, no I/O.
 */
#ifndef TEND_BOUNCE_H
#define TEND_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "tend/util.h"

struct bounce_info {
	struct strvec recipients;  /* the addresses that failed for good, lowercase, each once */
	struct strvec message_ids; /* Message-IDs quoted in the report, without brackets */
	char *diagnostic;          /* the first Diagnostic-Code or failed Status, or NULL */
	struct strvec text_recipients; /* while reading: the plain-text form's addresses */
	bool weak_diagnostic;          /* while reading: diagnostic is only a Status */
};

/*
 * Reads the report in raw[0..len). Returns true, with *out filled (free with
 * bounce_info_finish), when it names at least one recipient that failed for good; a report of
 * a delay, a relay or a success names none.
 */
bool bounce_parse(const char *raw, size_t len, struct bounce_info *out);
void bounce_info_finish(struct bounce_info *b);

#endif
