/*
 * search: the index file, its schema, and keeping it up to date with the store.
 *
 * Choices that are not obvious from the code:
 * - WAL journal, kept (SQLITE_FCNTL_PERSIST_WAL): readers (`tend search`) never wait for a
 *   writer (tendd, `tend import`) nor the writer for them, and the -wal and -shm files are
 *   made once, by us, with the checks the store's own files get, and never removed, so that
 *   nobody else can slip a file of theirs in under those names while no one has the index
 *   open. SQLite opens every file with O_NOFOLLOW (3.40, and SQLITE_OPEN_NOFOLLOW for the
 *   database itself).
 * - synchronous=NORMAL: a power cut may lose the last batches, which the next catch-up adds
 *   again; the high-water marks commit with the entries, so the index never claims more than
 *   it holds.
 * - The key of an entry (its rowid in the words table) is its minute, shifted, with the low
 *   bits of its id: FTS5 returns the matches of a query in key order, so the newest come
 *   first and a query stops as soon as it has its screenful of conversations.
 * - Contentless FTS5 (content=''): the texts live in the store, not twice on the disk.
 * - The beginnings of words of 3 and 4 letters are terms of their own (prefix=, a "prefix
 *   index"): the index is 2.2 times the size and building it takes about a third more CPU,
 *   but `abcd*` reads one list as far as its newest matches go, where FTS5 would otherwise
 *   merge the lists of every word it begins first (up to 0.2 s on a million messages). An
 *   index without them (user_version 1) is built again.
 * - FTS5 merges its segments 16 at a time rather than 4 (automerge, crisismerge): an import
 *   that adds thousands of entries merges each of them fewer times. It gathers up to 16 MB of
 *   new entries in memory before it writes a segment (hashsize; 1 MB by default): fewer
 *   segments, 4% less work to build and a tenth smaller.
 */
#include "tend/search.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "search_int.h"

#define INDEX_FILE "search.sqlite"
/* PRAGMA user_version of the index tend makes (SCHEMA_SQL sets it); another is rebuilt. */
#define SCHEMA_VERSION 2
#define STR_(x)        #x
#define STR(x)         STR_(x)
/* How long a writer waits for another's batch, and a reader for a checkpoint. */
#define BUSY_MS 15000

static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;

/* SQLite's files beside the database: checked and made by us, never by SQLite. */
static const char *const side_files[] = {"-wal", "-shm"};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [ST_META_PUT] = "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
    [ST_ENTRY_PUT] = "INSERT INTO entry(id, thread, kind, ref, time) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_WORDS_PUT] = "INSERT INTO words(rowid, subject, people, body) VALUES (?1, ?2, ?3, ?4)",
    [ST_QUERY] = "SELECT e.id, e.thread, e.kind, e.ref, e.time FROM words "
                 "JOIN entry e ON e.id = words.rowid WHERE words MATCH ?1 "
                 "ORDER BY words.rowid DESC",
};

#define SCHEMA_SQL                                                                                 \
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"                           \
	"CREATE TABLE entry(id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, kind INTEGER "        \
	"NOT NULL, ref INTEGER NOT NULL UNIQUE, time INTEGER NOT NULL);"                           \
	"CREATE VIRTUAL TABLE words USING fts5(subject, people, body, tokenize='" SEARCH_TOKENIZER \
	" remove_diacritics 2', prefix='" SEARCH_PREFIXES "', content='', columnsize=0);"          \
	"INSERT INTO words(words, rank) VALUES('automerge', 16);"                                  \
	"INSERT INTO words(words, rank) VALUES('crisismerge', 64);"                                \
	"INSERT INTO words(words, rank) VALUES('hashsize', 16777216);"                             \
	"PRAGMA user_version = " STR(SCHEMA_VERSION) ";"

#define PRAGMAS_SQL                                                                                \
	"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;"      \
	"PRAGMA trusted_schema = OFF; PRAGMA journal_size_limit = 16777216;"

/* Errors */

char *search_sqlite_err(const struct search *x, const char *what)
{
	return xasprintf("search index %s: %s: %s", x->path, what,
	                 x->db ? sqlite3_errmsg(x->db) : "cannot open it");
}

bool search_damaged(const struct search *x)
{
	int rc = x->db ? sqlite3_errcode(x->db) & 0xff : SQLITE_OK;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

int search_fail(const struct search *x, const char *what, char **err)
{
	free(*err);
	*err = search_sqlite_err(x, what);
	return SEARCH_EINDEX;
}

sqlite3_stmt *search_stmt(struct search *x, enum stmt which)
{
	if (x->st[which] == NULL &&
	    sqlite3_prepare_v2(x->db, stmt_sql[which], -1, &x->st[which], NULL) != SQLITE_OK)
		x->st[which] = NULL;
	return x->st[which];
}

static void finalize_all(struct search *x)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(x->st[i]);
		x->st[i] = NULL;
	}
}

int search_exec(struct search *x, const char *sql, const char *what, char **err)
{
	if (sqlite3_exec(x->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return search_fail(x, what, err);
	return 0;
}

/* Opening: the files */

/*
 * The database and SQLite's files beside it, checked (and made when missing) as the store's
 * own before SQLite opens them by name; *db describes the database file.
 */
static int prepare_files(struct store *s, bool create, struct stat *db, char **err)
{
	struct stat st;
	int rc = store_file_prepare(s, INDEX_FILE, create, db, err);
	if (rc == STORE_NOTFOUND) {
		*err = xasprintf("there is no search index in %s yet", store_dir(s));
		return SEARCH_NOINDEX;
	}
	for (size_t i = 0; rc == 0 && i < NELEM(side_files); i++) {
		char *name = xasprintf("%s%s", INDEX_FILE, side_files[i]);
		rc = store_file_prepare(s, name, true, &st, err);
		free(name);
		rc = rc == STORE_NOTFOUND ? 0 : rc; /* a read-only file system: SQLite will say */
	}
	/* Only made while the database is new, and then removed; one that is there is checked. */
	if (rc == 0 &&
	    (rc = store_file_prepare(s, INDEX_FILE "-journal", false, &st, err)) == STORE_NOTFOUND)
		rc = 0;
	return rc;
}

/* SQLite opened the files by name: are they the ones we checked? (See store.c for why.) */
static int verify_file(const struct search *x, const struct stat *want, char **err)
{
	struct stat st;
	if (lstat(x->path, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino)
		return 0;
	*err = xasprintf("%s was replaced while it was being opened; refusing to use it "
	                 "(someone may be trying to take over files: remove it and check who "
	                 "made it)",
	                 x->path);
	return SEARCH_EINDEX;
}

static int configure(struct search *x, char **err)
{
	int one = 1;
	sqlite3_extended_result_codes(x->db, 1);
	sqlite3_busy_timeout(x->db, BUSY_MS);
	sqlite3_db_config(x->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_file_control(x->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	return search_exec(x, PRAGMAS_SQL, "setting it up", err);
}

static int open_db(struct search *x, const struct stat *st, char **err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_PRIVATECACHE;
	if (sqlite3_open_v2(x->path, &x->db, flags, NULL) != SQLITE_OK)
		return search_fail(x, "opening it", err);
	int rc = verify_file(x, st, err);
	if (rc == 0 && (rc = configure(x, err)) < 0 && search_damaged(x)) {
		log_warnx("%s; building it again", *err);
		free(*err);
		*err = NULL;
		rc = search_reset(x, err);
	}
	return rc;
}

/* Opening: the tokenizer the words table uses, for queries and for finding lines */

static fts5_api *fts5_of(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return api;
}

static int open_tokenizer(struct search *x, char **err)
{
	const char *args[] = SEARCH_TOKENIZER_ARGS;
	void *ud = NULL;
	fts5_api *api = fts5_of(x->db);
	if (api == NULL || api->xFindTokenizer(api, SEARCH_TOKENIZER, &ud, &x->tok) != SQLITE_OK ||
	    x->tok.xCreate(ud, args, (int)NELEM(args), &x->tokenizer) != SQLITE_OK) {
		x->tokenizer = NULL;
		*err = xasprintf("search index %s: SQLite has no FTS5 %s tokenizer", x->path,
		                 SEARCH_TOKENIZER);
		return SEARCH_EINDEX;
	}
	return 0;
}

struct tok_ctx {
	search_token_fn fn;
	void *arg;
};

static int on_token(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	struct tok_ctx *c = ctx;
	if (flags & FTS5_TOKEN_COLOCATED)
		return SQLITE_OK;
	return c->fn(c->arg, tok, n, start, end) ? SQLITE_DONE : SQLITE_OK;
}

int search_tokenize(struct search *x, const char *text, size_t len, bool query, search_token_fn fn,
                    void *arg)
{
	struct tok_ctx c = {fn, arg};
	if (len > INT32_MAX)
		len = INT32_MAX;
	int rc =
	    x->tok.xTokenize(x->tokenizer, &c, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT,
	                     text, (int)len, on_token);
	return rc == SQLITE_OK || rc == SQLITE_DONE ? 0 : SEARCH_EINDEX;
}

/* The schema */

static int user_version(struct search *x, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(x->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Makes the tables in an empty database (unless another process just did). */
static int create_schema(struct search *x, char **err)
{
	int v = -1;
	int rc = search_exec(x, "BEGIN IMMEDIATE", "creating its tables", err);
	if (rc == 0 && user_version(x, &v) < 0)
		rc = search_fail(x, "reading its version", err);
	if (rc == 0 && v == 0)
		rc = search_exec(x, SCHEMA_SQL, "creating its tables", err);
	if (rc == 0)
		return search_exec(x, "COMMIT", "creating its tables", err);
	sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int search_reset(struct search *x, char **err)
{
	finalize_all(x);
	sqlite3_db_config(x->db, SQLITE_DBCONFIG_RESET_DATABASE, 1, NULL);
	int rc = sqlite3_exec(x->db, "VACUUM", NULL, NULL, NULL);
	sqlite3_db_config(x->db, SQLITE_DBCONFIG_RESET_DATABASE, 0, NULL);
	if (rc != SQLITE_OK)
		return search_fail(x, "emptying it", err);
	if ((rc = search_exec(x, PRAGMAS_SQL, "setting it up", err)) == 0)
		rc = create_schema(x, err);
	return rc;
}

static int check_schema(struct search *x, char **err)
{
	int v = -1;
	if (user_version(x, &v) < 0 && !search_damaged(x))
		return search_fail(x, "reading its version", err);
	if (v == SCHEMA_VERSION)
		return 0;
	if (v == 0)
		return create_schema(x, err);
	if (v > 0)
		log_info("search index %s: of another version (%d); building it again", x->path, v);
	else
		log_warnx("search index %s: %s; building it again", x->path, sqlite3_errmsg(x->db));
	return search_reset(x, err);
}

int search_open(struct store *s, bool create, struct search **out, char **err)
{
	struct stat st;
	struct search *x = xcalloc(1, sizeof(*x));
	*err = NULL;
	*out = NULL;
	pthread_mutex_lock(&index_lock);
	x->locked = true;
	x->store = s;
	x->path = xasprintf("%s/%s", store_dir(s), INDEX_FILE);
	int rc = prepare_files(s, create, &st, err);
	if (rc == 0)
		rc = open_db(x, &st, err);
	if (rc == 0)
		rc = check_schema(x, err);
	if (rc == 0)
		rc = open_tokenizer(x, err);
	if (rc < 0) {
		search_close(x);
		return rc;
	}
	*out = x;
	return 0;
}

void search_close(struct search *x)
{
	if (x == NULL)
		return;
	if (x->tokenizer)
		x->tok.xDelete(x->tokenizer);
	finalize_all(x);
	if (x->db)
		sqlite3_close(x->db);
	free(x->path);
	if (x->locked)
		pthread_mutex_unlock(&index_lock);
	free(x);
}

uint64_t search_size(const struct search *x)
{
	struct stat st;
	uint64_t n = 0;
	char *wal = xasprintf("%s-wal", x->path);
	if (stat(x->path, &st) == 0)
		n += (uint64_t)st.st_size;
	if (stat(wal, &st) == 0)
		n += (uint64_t)st.st_size;
	free(wal);
	return n;
}
