/*
 * fetch: one IMAP folder into the store, by UID.
 *
 * Per folder a cursor (UIDVALIDITY, last UID) says what is already stored; it is written in the
 * same write transaction as the messages it covers, so a crash at any moment loses nothing and
 * stores nothing twice. New messages are listed with their sizes first; each batch is fetched
 * with BODY.PEEK[] (flags are never read to decide what is new and never changed), then
 * ingested and committed with the advanced cursor. A message larger than max_message_size is
 * stored as its header only and quarantined with the reason. When the server's UIDVALIDITY
 * changes, the folder is scanned again from the start and Message-ID de-duplication keeps every
 * message once.
 */
#ifndef TEND_FETCH_H
#define TEND_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/imap.h"
#include "tend/ingest.h"
#include "tend/store.h"

struct fetch_result {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t last_uid; /* the cursor after the pass */
	uint64_t exists;
	uint64_t waiting; /* listed but not stored yet (non-zero after a failure or a stop) */
	uint64_t stored, duplicates, quarantined;
	bool rescanned; /* UIDVALIDITY changed since the last pass */
	/* The server announced a change of the message count while the pass ran (an EXISTS in
	 * the middle of a FETCH): it may hold mail the pass did not list. Sync again before
	 * waiting; an IDLE would not hear of it, as the server does not say it twice. */
	bool changed;
	uint64_t exists_after; /* the count as last announced, at the end of the pass */
};

/* Called after each committed batch, with the totals so far. */
typedef void (*fetch_progress_fn)(const struct fetch_result *r, void *arg);

struct fetch_job {
	struct imap *imap;
	struct ingest *ingest;
	struct store *store;
	const char *account;
	const struct config_imap *cfg;
	const char *folder;
	bool (*stopping)(void *arg); /* checked between batches; NULL: never */
	fetch_progress_fn progress;  /* NULL: none */
	void *arg;
	/* Called with the time each message took to store (parse, rules, write); NULL: none. */
	void (*ingested)(double seconds, void *arg);
};

/*
 * One pass over the folder. Returns 0 (also when stopped between batches), an IMAP_* code
 * from the session, or a negative store code shifted below IMAP_* codes (FETCH_ESTORE), with
 * *err (caller frees) saying what failed.
 */
enum { FETCH_ESTORE = -100 };
int fetch_folder(const struct fetch_job *job, struct fetch_result *res, char **err);

#endif
