/* fuzz: rules.yaml through the rules loader (regexes compiled, templates looked up). */
#include "fuzz.h"
#include "tend/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	if (rules_load(fuzz_file("rules.yaml", data, size), &r, &d) == 0)
		rules_free(r);
	diags_free(&d);
	return 0;
}
