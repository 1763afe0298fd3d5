/*
 * ingest: the pipeline every message takes, from IMAP or from `tend import`:
 * parse -> thread -> store -> classify -> draft (one write transaction for the raw message,
 * its record, the indexes, the conversation's draft and, for IMAP, the folder cursor). A message that cannot be parsed is stored raw and
 * quarantined with the reason; nothing is ever dropped.
 */
#ifndef TEND_INGEST_H
#define TEND_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/rules.h"
#include "tend/store.h"

struct ingest;

/* Where a message came from. */
struct ingest_source {
	const char *label; /* stored as the message's source (file path, imap:...) */
	int64_t received;  /* arrival time; 0: use the Date header, else now */
	int64_t file_time; /* for imported files: the file's mtime, used when there is no Date */
	/*
	 * Non-NULL when the source itself vouches that mail from our addresses is ours (the
	 * account's Sent folder, `tend import --sent`): says so, e.g. "it was fetched from the
	 * Sent folder". Elsewhere such mail counts as ours only when tend sent it or a trusted
	 * server authenticated it (config authserv_id).
	 */
	const char *ours;
};

enum ingest_outcome {
	INGEST_STORED,
	INGEST_DUPLICATE,
	INGEST_QUARANTINED,
};

struct ingest_stats {
	uint64_t stored;
	uint64_t duplicates;
	uint64_t quarantined;
	uint64_t threads_touched;
	uint64_t threads_created;
	uint64_t bytes;
};

/*
 * Creates a pipeline writing to s with the settings of c and the operators' rules (NULL: the
 * built-in ones); all three outlive it. actor names it in the audit trail ("import", "tendd").
 */
struct ingest *ingest_new(struct store *s, const struct config *c, const struct rules *rules,
                          const char *actor);

/* Replaces the rules (after a reload); NULL: the built-in ones. */
void ingest_set_rules(struct ingest *in, const struct rules *rules);
void ingest_free(struct ingest *in);

/* Opens the write transaction that the following ingest_add calls share. */
int ingest_begin(struct ingest *in);

/*
 * Ingests one raw message into the open transaction. Returns 0 with *outcome set, or a
 * negative store code (the transaction must then be aborted with ingest_abort).
 * *msg_id, when not NULL, receives the stored message's id (or the existing one for a duplicate).
 */
int ingest_add(struct ingest *in, const char *raw, size_t len, const struct ingest_source *src,
               enum ingest_outcome *outcome, uint64_t *msg_id);

/*
 * The same in two steps, so that the next messages can be parsed on another thread while one
 * is stored: ingest_parse parses raw, writes it to its file in the store's blobs/ when it is
 * big (store_blob_stage), and takes the rules' verdict, with the fact lookups unless the
 * message is stored already (call it outside the write transaction; src says when the
 * message came, as ingest_add_parsed will be told, for fact_age), reading in's settings and
 * the store only (safe beside ingest_add_parsed on another thread; not beside
 * ingest_set_rules); ingest_add_parsed stores it as ingest_add does, raw being the same
 * bytes, and frees p.
 */
struct ingest_parsed;
struct ingest_parsed *ingest_parse(const struct ingest *in, const char *raw, size_t len,
                                   const struct ingest_source *src);
int ingest_add_parsed(struct ingest *in, struct ingest_parsed *p, const char *raw, size_t len,
                      const struct ingest_source *src, enum ingest_outcome *outcome,
                      uint64_t *msg_id);
void ingest_parsed_free(struct ingest_parsed *p);

/*
 * Stores raw (which may be only part of a message, such as the header of one too large to
 * fetch) as quarantined with reason, outside any thread, in the open transaction. The same
 * bytes stored again count as a duplicate. Returns as ingest_add.
 */
int ingest_add_quarantined(struct ingest *in, const char *raw, size_t len,
                           const struct ingest_source *src, const char *reason,
                           enum ingest_outcome *outcome, uint64_t *msg_id);

/* The open transaction, for callers that store more in it (an IMAP folder cursor). */
struct store_txn *ingest_txn(struct ingest *in);

/* Commits the open transaction; returns 0 or a store code. */
int ingest_commit(struct ingest *in);
void ingest_abort(struct ingest *in);

/*
 * True when the rules run fact lookups. They run in ingest_parse only (ingest_add stores
 * without them: the rules without facts), never in the write transaction: a caller that has
 * one open should commit it before it waits for a message being parsed elsewhere.
 */
bool ingest_has_lookups(const struct ingest *in);

/* Running totals since ingest_new (only committed work counts). */
const struct ingest_stats *ingest_stats(const struct ingest *in);

#endif
