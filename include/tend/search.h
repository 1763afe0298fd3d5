/*
 * search: full-text search over every conversation, with SQLite's FTS5. Nothing else includes
 * sqlite3.h.
 *
 * The index is a second file beside the LMDB store (STORE/search.sqlite, with SQLite's -wal
 * and -shm files beside it), derived from the store and never the only copy of anything. It
 * holds one entry per thing said in a conversation: a message (its subject; the names and
 * addresses of From, Reply-To, To and Cc; its text without the lines that quote with ">"), a
 * reply or holding reply that tend sent (subject, recipients, body as sent), and (later) a
 * note; each with its thread, kind, id and time. FTS5 indexes the words (the unicode61
 * tokenizer, case and diacritics folded) and keeps no copy of the texts: a result's line is
 * read back from the store.
 *
 * The index remembers how far it got: the last message id and the last audit sequence it
 * looked at (a sent reply is found through its "sent" entry in the audit trail). search_update
 * catches up from there. Writers call it after their LMDB commit, never inside a store
 * transaction; `tend search` calls it before each query; so a writer that died in between
 * leaves an index that lags harmlessly until the next one. An index that is damaged, of
 * another schema or of another store is emptied and built again.
 *
 * Within a process one index is open at a time: search_open waits for the search_close of
 * another thread. (SQLite's locks are POSIX locks, which any close(2) of the file by the
 * process drops; the file checks open and close it, so they never run beside a connection.)
 */
#ifndef TEND_SEARCH_H
#define TEND_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tend/store.h"
#include "tend/view.h"

/* Result codes, beside the store's. */
enum {
	SEARCH_EINDEX = -20,  /* the index failed (SQLite, its files): *err says how */
	SEARCH_NOINDEX = -21, /* there is no index, and it was not to be (or could not be) made */
	SEARCH_EQUERY = -22,  /* the query holds nothing to search for: *err says so */
};

/* What an entry is. */
enum search_kind {
	SEARCH_MESSAGE = 1, /* a message in the conversation */
	SEARCH_OURS,        /* a message of ours that tend did not send (the Sent folder) */
	SEARCH_REPLY,       /* a reply tend sent */
	SEARCH_HOLDING,     /* a holding reply tend sent */
	SEARCH_NOTE,        /* an internal note */
};

/* One thing said in a conversation, as the index takes it. Strings may be NULL. */
struct search_entry {
	uint64_t thread; /* as recorded: a merged thread is followed to the live one at search */
	enum search_kind kind;
	uint64_t id;   /* message id (MESSAGE, OURS), draft id (REPLY, HOLDING) or note id */
	int64_t time;  /* when it was said: arrival, acceptance by the SMTP server, writing */
	char *subject; /* one line */
	char *people;  /* names and addresses, a line each */
	char *body;    /* the text */
};

/* Frees the strings of e (not e). */
void search_entry_clear(struct search_entry *e);

struct search;

/*
 * Opens the index of store s, creating it when missing and create is set. Its files are
 * checked as the store's own (store_file_prepare: no links, no stranger's file), and an index
 * of another schema or a damaged one is emptied. Returns 0, SEARCH_NOINDEX when it is missing
 * and create is not set, or SEARCH_EINDEX (or a store code) with *err (caller frees).
 */
int search_open(struct store *s, bool create, struct search **out, char **err);
/* Closes the index; search_close(NULL) does nothing. */
void search_close(struct search *x);

/*
 * Adds e to the index, in the write transaction search_update keeps open while it catches up
 * (its visitors call this); an entry already indexed (same kind of id, same id) is left as it
 * is. Returns 0 or SEARCH_EINDEX.
 */
int search_add(struct search *x, const struct search_entry *e);

/*
 * Brings the index up to date with the store, in batches (each its own SQLite transaction and
 * its own LMDB read transaction). *added (may be NULL) counts the entries added. Returns 0 or
 * a negative code with *err (caller frees). Never call it inside a store transaction.
 */
int search_update(struct search *x, uint64_t *added, char **err);
/* Empties the index and builds it again from the store. */
int search_reindex(struct search *x, uint64_t *added, char **err);

/* search_open (create), search_update, search_close: for the writers. */
int search_catch_up(struct store *s, uint64_t *added, char **err);

/*
 * A thread that catches the index up with each commit a writer tells it about, beside the
 * writer (search_follow.c). search_follow_poke: a commit was made (f may be NULL).
 * search_follow_finish: with catch_up, a last catch-up with what is committed now; then the
 * thread ends and f is freed. Returns 0 or the first failure's code with *err (caller frees);
 * after a failure the thread stops catching up.
 */
struct search_follower;
struct search_follower *search_follow_start(struct store *s);
void search_follow_poke(struct search_follower *f);
int search_follow_finish(struct search_follower *f, bool catch_up, char **err);

/*
 * Runs query against the index: conversations whose entries hold every term, newest first
 * by their latest matching entry, at most limit of them (0: all), each with the line that
 * matched. A term is a word, a number or anything between double quotes (a phrase); a term
 * ending in '*' also finds the words its last word begins (of three letters or more). Prints a table,
 * or a JSON array with o->json, to out. Returns 0, SEARCH_EQUERY, or another code with *err.
 */
int search_query(struct search *x, const char *query, size_t limit, const struct view_options *o,
                 FILE *out, char **err);

/* What `tend search` asks for. */
struct search_request {
	const char *query; /* NULL: none (--reindex alone) */
	size_t limit;      /* conversations at most; 0: all */
	bool reindex;      /* empty the index and build it again first */
};

/*
 * `tend search`: opens the index (making it when missing), catches it up (or builds it again),
 * and runs the query. When the index cannot be brought up to date, says so on stderr and
 * searches what it holds. Returns 0 or a negative code with *err (caller frees).
 */
int search_command(struct store *s, const struct search_request *r, const struct view_options *o,
                   FILE *out, char **err);

/* The index's size in bytes (its file and the write-ahead log); 0 when unknown. */
uint64_t search_size(const struct search *x);

#endif
