/*
 * secret: passwords and tokens, read from a file or printed by a command, never from tend.yaml.
 */
#ifndef TEND_SECRET_H
#define TEND_SECRET_H

#include "tend/util.h"

/*
 * The first line of file (when not NULL), else the first line printed by command (argv, run
 * without a shell). Returns 0 and *out (release with secret_free), or -1 and *err (caller
 * frees) saying what went wrong, never the secret itself.
 */
int secret_get(const char *file, const struct strvec *command, char **out, char **err);

/* Wipes and frees a secret; NULL is fine. */
void secret_free(char *s);

#endif
