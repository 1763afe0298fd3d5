/*
 * template: the plain-text templates operators write for reply drafts.
 *
 * Text with {{variable}} references; {{variable|fallback}} uses the fallback text when the
 * variable is empty (for "Hello {{customer.first_name|there}},"). {{#variable}}...{{/variable}}
 * is shown only when the variable is set (not empty), {{^variable}}...{{/variable}} only when
 * it is not; sections nest, and a section tag alone on its line (blanks around it allowed)
 * takes the whole line, line break included, so that it leaves no blank line behind. Variable names are letters,
 * digits, '_' and '.', surrounding spaces ignored. There are no escapes: "{{" always starts a
 * reference, and one without "}}" on the same line is an error, so mistakes are found at check
 * time, not in a customer's inbox.
 */
#ifndef TEND_TEMPLATE_H
#define TEND_TEMPLATE_H

#include <stddef.h>

#include "tend/util.h"

struct template;

/*
 * Parses text[0..len), read from file (for diagnostics). Line breaks at the very end are not
 * part of the template: editors end every file with one, and the draft decides how parts are
 * joined. The text must be UTF-8. Returns 0 and *out (free with template_free), or -1 after
 * adding every problem to d as file:line:column.
 */
int template_parse(const char *text, size_t len, const char *file, struct template **out,
                   struct diags *d);

/* Reads and parses a file; a missing file is one diagnostic naming it. */
int template_load(const char *path, struct template **out, struct diags *d);

void template_free(struct template *t);

/* The file the template came from, as given. */
const char *template_file(const struct template *t);

/*
 * Calls fn for every variable reference and every section's variable, in order, with the
 * 1-based line and column of its name.
 */
void template_foreach_var(const struct template *t,
                          void (*fn)(const char *name, int line, int column, void *arg), void *arg);

/* Returns the value of a variable, or NULL when it has none (the fallback, or "", is used). */
typedef const char *(*template_lookup_fn)(const char *name, void *arg);

/* Renders the template; the result is newly allocated (caller frees). */
char *template_render(const struct template *t, template_lookup_fn lookup, void *arg);

#endif
