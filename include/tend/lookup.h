/*
 * lookup: running one fact lookup, a program the operator names in rules.yaml, as safely as a
 * program can be run for every customer message.
 *
 * No shell: argv is passed to execve as it is, so a customer's words in an argument stay one
 * argument whatever they contain. The program gets a clean environment (PATH=/usr/bin:/bin,
 * LANG=C.UTF-8 and nothing of the caller's, so no password or TEND_* setting leaks), stdin
 * from /dev/null, its own process group, a timeout and a limit on its output. It answers when
 * it exits; anything it leaves running in its group is killed then.
 */
#ifndef TEND_LOOKUP_H
#define TEND_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

/* What a lookup may print: more is a failure, not a truncated answer. */
#define LOOKUP_MAX_OUTPUT (64 * 1024)

/*
 * Runs argv[0] (an absolute path) with argv (NULL-terminated) and waits at most timeout
 * seconds. Returns 0 with what it printed on stdout in *out (NUL-terminated, *len bytes; the
 * caller frees), or -1 with *err (caller frees) saying what went wrong, as an agent reads it:
 * "timed out after 5 s", "exited with status 3: no such order" (with the first line it wrote
 * on stderr), "was killed by signal 9", "printed more than 64 KiB", "cannot run: Permission
 * denied". Safe to call from any thread.
 */
int lookup_run(char *const argv[], int64_t timeout, size_t max_output, char **out, size_t *len,
               char **err);

#endif
