/* search: what search.c, search_text.c and search_query.c share. Not for other modules. */
#ifndef TEND_SEARCH_INT_H
#define TEND_SEARCH_INT_H

#include <sqlite3.h>

#include "tend/search.h"

/* The tokenizer of the words table; the query and the line finder use the same one. */
#define SEARCH_TOKENIZER "unicode61"
#define SEARCH_TOKENIZER_ARGS                                                                      \
	{                                                                                          \
		"remove_diacritics", "2"                                                           \
	}

/*
 * The beginnings of words the words table also files as terms of their own, by length in
 * characters: a query for a word's beginning of one of these lengths reads one list, newest
 * first, as far as it needs, instead of gathering every word it begins (search_query.c).
 */
#define SEARCH_PREFIXES "3 4"

/* Which id an entry's ref holds, in its top byte: message, draft or note ids. */
enum { REF_MESSAGE = 1, REF_DRAFT = 2, REF_NOTE = 3 };

/* Prepared statements. */
enum stmt { ST_META_GET, ST_META_PUT, ST_ENTRY_PUT, ST_WORDS_PUT, ST_QUERY, ST_COUNT };

struct search {
	struct store *store;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	fts5_tokenizer tok;
	Fts5Tokenizer *tokenizer;
	uint64_t added; /* entries added by search_add since the last look */
	bool locked;    /* holds the process's index lock */
};

/* A copy of SQLite's latest error on x, with what was being done; the caller frees. */
char *search_sqlite_err(const struct search *x, const char *what);
/* Replaces *err with SQLite's latest error (search_sqlite_err); returns SEARCH_EINDEX. */
int search_fail(const struct search *x, const char *what, char **err);
/* Whether the latest failure says the file is no sound database: it is emptied and rebuilt. */
bool search_damaged(const struct search *x);
/* Runs sql (no results); 0, or search_fail's. */
int search_exec(struct search *x, const char *sql, const char *what, char **err);
/* Empties the database, whatever state it is in, and makes the tables again. */
int search_reset(struct search *x, char **err);
/* The statement, prepared on first use; NULL when it cannot be (sqlite3_errmsg says why). */
sqlite3_stmt *search_stmt(struct search *x, enum stmt which);

/* Which kind of id (REF_*) an entry kind refers to, and the ref the index keys it by. */
int search_ref_type(enum search_kind kind);
int64_t search_ref(enum search_kind kind, uint64_t id);

/* Entries from store records, as search_add takes them (the caller clears them). */
void search_message_entry(const struct store_message *m, struct search_entry *e);
void search_draft_entry(const struct store_draft *d, struct search_entry *e);
void search_note_entry(const struct store_note *n, struct search_entry *e);
/*
 * The entry of kind and id read back from the store, for showing it. Returns 0,
 * STORE_NOTFOUND when it is not (or no longer) what the index says, or a store code.
 */
int search_load_entry(struct store_txn *t, enum search_kind kind, uint64_t id,
                      struct search_entry *e);

/*
 * Splits text into the tokens the index makes of it, calling fn with each (folded) token
 * and its byte offsets in text; query: the flavour for a query. fn returns nonzero to stop.
 */
typedef int (*search_token_fn)(void *arg, const char *tok, int n, int start, int end);
int search_tokenize(struct search *x, const char *text, size_t len, bool query, search_token_fn fn,
                    void *arg);

#endif
