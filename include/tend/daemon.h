/*
 * daemon: what tendd does once its arguments are parsed.
 *
 * One thread per account with an imap block. libetpan's IMAP calls block, and an account's
 * session is a simple sequence (connect, fetch each folder, IDLE or sleep, again): a thread
 * per account keeps each sequence readable as straight-line code, and a stuck or slow server
 * stalls only its own account. The threads share the LMDB store, which serialises writers.
 * The main thread only waits for signals: SIGTERM and SIGINT stop every account after the
 * transaction in hand, SIGHUP reloads the rules (a file with errors is refused and the rules
 * in use stay).
 */
#ifndef TEND_DAEMON_H
#define TEND_DAEMON_H

#include <stdbool.h>

struct daemon_options {
	bool once; /* one pass over every folder, then exit */
};

/* Runs tendd with the configuration at path; returns the exit status (0, or 1 on failure). */
int daemon_run(const char *config_path, const struct daemon_options *opt);

#endif
