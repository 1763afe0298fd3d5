/*
 * jsonread: a strict JSON parser (RFC 8259) for what fact lookups print: one object, read
 * into flat name = value pairs that templates and rule conditions can use.
 *
 * Strict on purpose: the text comes from a program the operator wrote, and a half-understood
 * answer must fail loudly rather than become a wrong fact. No comments, no trailing commas, no
 * leading zeros, no raw control characters in strings, no lone surrogates, nothing after the
 * value, UTF-8 only, and nesting no deeper than JSONREAD_MAX_DEPTH.
 */
#ifndef TEND_JSONREAD_H
#define TEND_JSONREAD_H

#include <stddef.h>

#include "tend/util.h"

#define JSONREAD_MAX_DEPTH 32

/*
 * Parses text[0..len) as one JSON object and appends its members to names and values: nested
 * objects flattened with dots ("customer.name"), array items by index ("items.0"), strings as
 * they are, numbers as written, true and false as words; null members are left out. prefix,
 * when not NULL, comes before every name, with a dot. A name that appears twice is an error.
 * Returns 0, or -1 with nothing appended and *err (caller frees) saying what is wrong and at
 * which byte.
 */
int jsonread_flat(const char *text, size_t len, const char *prefix, struct strvec *names,
                  struct strvec *values, char **err);

#endif
