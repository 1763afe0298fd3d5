/* fuzz: what a fact lookup prints, read as one JSON object and flattened. */
#include <stdlib.h>

#include "fuzz.h"
#include "tend/jsonread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strvec names = STRVEC_INIT, values = STRVEC_INIT;
	char *err = NULL;
	jsonread_flat((const char *)data, size, "fact", &names, &values, &err);
	free(err);
	strvec_free(&names);
	strvec_free(&values);
	return 0;
}
