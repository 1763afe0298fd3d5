/*
 * fuzz: a main for the harnesses when they are not built with libFuzzer: runs the target once
 * on each file given, and on every file in each directory given (in name order), as the
 * regression tests do. Prints TAP, one case per input; a crash fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "tend/util.h"

static void add_inputs(const char *path, struct strvec *out)
{
	struct stat st;
	struct dirent **names = NULL;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		strvec_push(out, path);
		return;
	}
	int n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			strvec_push_owned(out, xasprintf("%s/%s", path, names[i]->d_name));
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	struct strvec inputs = STRVEC_INIT;
	for (int i = 1; i < argc; i++)
		add_inputs(argv[i], &inputs);
	printf("1..%zu\n", inputs.n);
	int rc = 0;
	for (size_t i = 0; i < inputs.n; i++) {
		char *data = NULL;
		size_t len = 0;
		if (read_file(inputs.v[i], &data, &len) < 0) {
			printf("not ok %zu - %s: cannot read\n", i + 1, inputs.v[i]);
			rc = 1;
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		free(data);
		printf("ok %zu - %s\n", i + 1,
		       strrchr(inputs.v[i], '/') ? strrchr(inputs.v[i], '/') + 1 : inputs.v[i]);
	}
	strvec_free(&inputs);
	return rc;
}
