/*
 * fuzz: one raw message through the parser, the automatic-mail checks, the reading of its
 * Authentication-Results and the bounce reader.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "tend/authres.h"
#include "tend/bounce.h"
#include "tend/message.h"
#include "tend/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message *m = NULL;
	char *reason = NULL, *why = NULL;
	if (message_parse((const char *)data, size, NULL, &m, &reason) == 0) {
		(void)rules_automated(m, &why);
		free(why);
		struct strvec ids = STRVEC_INIT;
		strvec_push(&ids, "mx.shop.example");
		(void)authres_vouches(m, &ids, "shop.example", &why);
		free(why);
		strvec_free(&ids);
		message_free(m);
	}
	free(reason);
	struct bounce_info b;
	if (bounce_parse((const char *)data, size, &b))
		bounce_info_finish(&b);
	return 0;
}
