/* fuzz: a template parsed, its variables listed, and rendered with and without values. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tend/template.h"

static const char *lookup(const char *name, void *arg)
{
	(void)arg;
	return strlen(name) % 2 ? "Anna {{not a var}} =?utf-8?q?x?=" : NULL;
}

static void var(const char *name, int line, int column, void *arg)
{
	(void)name, (void)line, (void)column;
	++*(int *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	if (template_parse((const char *)data, size, "fuzz.txt", &t, &d) == 0) {
		int n = 0;
		template_foreach_var(t, var, &n);
		free(template_render(t, lookup, NULL));
		template_free(t);
	}
	diags_free(&d);
	return 0;
}
