/*
 * view_claim: how listings show who is on a conversation ("alice is on it (4 min)"), for
 * people and for scripts. The claims themselves are taken and released in review_claim.c.
 */
#include <stdlib.h>
#include <string.h>

#include "tend/json.h"
#include "tend/view.h"

bool view_claim_held(const struct store_thread *th, int64_t now)
{
	return th->claim_agent && *th->claim_agent && now < th->claim_until;
}

char *view_claim_text(const struct store_thread *th, int64_t now)
{
	return view_claim_text_for(th, now, NULL);
}

char *view_claim_text_for(const struct store_thread *th, int64_t now, const char *viewer)
{
	if (!view_claim_held(th, now))
		return NULL;
	int64_t d = now > th->claim_since ? now - th->claim_since : 0;
	char span[32];
	if (d < 3600) /* under a minute counts as one: "on it (0 min)" reads as a fault */
		snprintf(span, sizeof(span), "%d min", (int)(d < 60 ? 1 : d / 60));
	else
		snprintf(span, sizeof(span), "%d h %d min", (int)(d / 3600), (int)(d % 3600 / 60));
	struct buf b = BUF_INIT;
	if (viewer && strcmp(th->claim_agent, viewer) == 0)
		buf_printf(&b, "you are on it (%s)", span);
	else {
		term_put(&b, th->claim_agent, TEXT_LINE);
		buf_printf(&b, " is on it (%s)", span);
	}
	return buf_steal(&b);
}

void view_claim_json(struct json *j, const struct store_thread *th, int64_t now)
{
	if (!view_claim_held(th, now)) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_key(j, "agent");
	json_string(j, th->claim_agent);
	json_key(j, "since");
	json_time(j, th->claim_since);
	json_key(j, "until");
	json_time(j, th->claim_until);
	json_object_end(j);
}
