/* fuzz: tend.yaml through the configuration loader. */
#include "fuzz.h"
#include "tend/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	struct diags d = DIAGS_INIT;
	if (config_load(fuzz_file("tend.yaml", data, size), &c, &d) == 0)
		config_free(c);
	diags_free(&d);
	return 0;
}
