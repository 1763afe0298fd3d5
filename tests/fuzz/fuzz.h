/*
 * The fuzz harnesses' shared entry point. Built with clang -fsanitize=fuzzer, each harness is
 * a libFuzzer target; built any other way, driver.c runs it once over every file named on the
 * command line (the regression inputs in tests/fuzz/), so every CI build replays them.
 */
#ifndef TEND_FUZZ_H
#define TEND_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private file the harnesses that read paths write each input to; created once. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

#endif
