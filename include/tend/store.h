/*
 * store: the LMDB environment and everything kept in it. Nothing else includes lmdb.h.
 *
 * One environment (a directory created mode 0700, or 3770 for a team group), named databases
 * inside it, records encoded as MessagePack maps with integer keys behind a version byte, so a
 * field can be added without breaking older records. Raw messages are kept byte for byte.
 *
 * Every read and write happens inside a transaction: one writer at a time (across processes),
 * any number of lock-free readers. Pointers into the store handed out by store_get_raw live
 * only until the transaction ends; records returned by store_get_* are copies the caller frees.
 * store_put_* copy what they are given; the caller keeps ownership of its records.
 *
 * Databases and keys (ids are 8-byte big-endian, so key order is id order):
 *   meta        "schema_version", "last_message_id", "last_thread_id" -> 8-byte big-endian
 *   raw         message id -> the message, byte for byte (no version byte)
 *   messages    message id -> struct store_message
 *   msgids      Message-ID (or "sha256:" + hex of it when longer than 400 bytes) -> store_msgid
 *   threads     thread id -> struct store_thread
 *   quarantine  message id -> (empty)
 *   subjects    address '\0' normalised subject (a part too long is hashed) -> thread, when
 *   cursors     account '\0' folder -> struct store_cursor
 *   status      account '\0' folder -> struct store_status (folder "" for the account)
 *   drafts, queue, outbox, audit: created empty for the modules that will fill them.
 *   notes       note id -> struct store_note (agents' internal notes; never sent)
 *   files       draft id, 4-byte big-endian seq -> the bytes of a file attached to the draft
 *   blobs       message id -> version byte, 8-byte big-endian size, SHA-256 in hex: a raw
 *               message kept in the file blobs/<SHA-256> instead of in raw
 *
 * The environment variable TEND_STORE_MAPSIZE (bytes, or with a K, M or G suffix) replaces the
 * default 256 GiB map size at store_open; tests use it to fill a store quickly.
 */
#ifndef TEND_STORE_H
#define TEND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tend/message.h"
#include "tend/util.h"

/* The schema this build reads and writes; kept in meta and checked at open. */
#define STORE_SCHEMA_VERSION 1

/* Result codes. */
enum {
	STORE_OK = 0,
	STORE_NOTFOUND = -1, /* no such key: not an error for lookups */
	STORE_FULL = -2,     /* the disk or the map is full: retry after space is freed */
	STORE_CORRUPT = -3,  /* a record could not be decoded */
	STORE_ERROR = -4,    /* anything else; the detail has been logged */
};

/* Returns a short description of a result code. */
const char *store_strerror(int code);

struct store;
struct store_txn;

struct store_options {
	bool readonly;     /* open an existing store for reading only */
	const char *group; /* share the store with this Unix group (mode 3770) */
};

/*
 * Opens (creating when needed, unless readonly) the store in directory dir. On failure returns
 * a negative code and sets *err to a one-line reason naming the problem (caller frees), for
 * instance a schema version this build does not understand. A readonly open of a store that
 * does not exist yet returns STORE_NOTFOUND ("no store at DIR (import some mail first)").
 * Only the last component of dir is created. A directory that others may write (the world, or
 * a group when opt->group is not set) is refused, as is a shared one without the sticky bit
 * that the caller does not own (its owner sets the bit), and a dir whose last component is a
 * symbolic link. data.mdb and lock.mdb are checked before LMDB opens them (regular files with
 * one link, owned by the caller, the directory's owner or root) and created by the caller when
 * missing (in a shared store only by its owner or root). opt may be NULL for the defaults.
 */
int store_open(const char *dir, const struct store_options *opt, struct store **out, char **err);
/* Closes the store; every transaction must have ended. store_close(NULL) does nothing. */
void store_close(struct store *s);
/* The directory the store was opened in; owned by the store. */
const char *store_dir(const struct store *s);

/*
 * Files that tend keeps in the store directory beside LMDB's (tendd.pid, tendd.sock). Nothing
 * in a store is opened through a symbolic link, and nothing is taken that someone else put
 * there: a file must be of the type tend makes, belong to the caller, the directory's owner or
 * root, and (a regular file) have one link. Refusals name the file and what is wrong with it.
 *
 * store_file_open opens dir/name with flags (O_RDONLY or O_RDWR, and O_CREAT to create it with
 * mode when missing), never following a link and never truncating: truncate with ftruncate
 * once the descriptor is yours. Returns the descriptor (close-on-exec, O_NONBLOCK), or -1
 * with *err (caller frees).
 */
int store_file_open(const char *dir, const char *name, int flags, mode_t mode, char **err);
/*
 * Readies the file name in the store's directory for a library that opens it by name (the
 * search index, which SQLite opens), with the checks above: never a link, a regular file of
 * the caller, the directory's owner or root, with one link. When it is missing and create is
 * set, it is created empty with the mode of the store's files (0600, or 0660 and the group
 * for a shared store; there only by the directory's owner or root); a file of the caller's
 * is given that mode. *st describes it afterwards. Returns 0, STORE_NOTFOUND when it is
 * missing and was not created (*err unset), or a negative code with *err (caller frees). The
 * file is opened and closed: closing drops the process's POSIX locks on it, so call this
 * while no connection of the process has the file open.
 */
int store_file_prepare(struct store *s, const char *name, bool create, struct stat *st, char **err);
/*
 * Makes way for a socket dir/name the caller is about to bind: removes a stale socket that
 * belongs to the caller, the directory's owner or root, and refuses anything else. Returns 0, or
 * a negative code with *err (caller frees).
 */
int store_socket_clear(const char *dir, const char *name, char **err);
/* Sets the mode of the socket dir/name the caller bound, never through a link; as above. */
int store_socket_chmod(const char *dir, const char *name, mode_t mode, char **err);

/*
 * Begins a transaction. Only one write transaction exists at a time: this call waits for it
 * (so a thread that holds one must not ask for a second). Read transactions never wait.
 * A transaction belongs to one thread at a time.
 */
int store_begin(struct store *s, bool write, struct store_txn **out);
/*
 * Commits and frees the transaction, also when it fails (durable when it returns 0). After any
 * write in the transaction failed, commit discards the transaction and returns that failure:
 * STORE_FULL when the map or the disk is full. The store stays as of the last commit.
 */
int store_commit(struct store_txn *t);
/* Abandons and frees the transaction; store_abort(NULL) does nothing. */
void store_abort(struct store_txn *t);

/* Counters kept in meta; the next id is returned and the counter advanced (write txn). */
enum store_counter {
	STORE_COUNTER_MESSAGE,
	STORE_COUNTER_THREAD,
	STORE_COUNTER_DRAFT,
	STORE_COUNTER_AUDIT,
	STORE_COUNTER_NOTE,
};
int store_next_id(struct store_txn *t, enum store_counter c, uint64_t *id);
/* The last id handed out by a counter (0: none yet), without advancing it; any transaction. */
int store_get_counter(struct store_txn *t, enum store_counter c, uint64_t *last);

/*
 * Raw messages, byte for byte. store_get_raw's pointer lives until the transaction ends (in a
 * write transaction, until the next write). A message of STORE_BLOB_MIN bytes or more is kept
 * in a file of its own, blobs/<SHA-256 of it>, and the raw database records only that name
 * (see store.c); store_get_raw maps such a file, and a missing or wrong one is an error
 * (STORE_CORRUPT, with the message and the file logged), never a crash.
 */
int store_put_raw(struct store_txn *t, uint64_t msg, const char *raw, size_t len);
int store_get_raw(struct store_txn *t, uint64_t msg, const char **raw, size_t *len);

/*
 * Raw messages from this size on are kept in blobs/ rather than in LMDB. 1 MiB: a file of its
 * own costs a create, two syncs and a rename, a few milliseconds whatever its size, which the
 * bulk of mail (tens of KB) would only lose by and which would fill blobs/ with files; from
 * about a megabyte on, copying the message into LMDB and syncing it at commit, while every
 * account waits for the one writer, costs more than that and grows with the size.
 */
#define STORE_BLOB_MIN ((size_t)1 << 20)

/* A raw message written to blobs/ ahead of its write transaction by store_blob_stage. */
struct store_blob {
	char sha256[65]; /* the file's name in blobs/; "" when nothing was staged */
	size_t len;
};

/*
 * Writes raw to its file in blobs/ and syncs it, outside any transaction, so that the write
 * transaction that stores the message (store_put_raw_staged) only records its name: the
 * store's one writer is then not held while 50 MB go to disk. Does nothing (*b empty) for a
 * message under STORE_BLOB_MIN, or for a user who may not make files in a shared store (the
 * message then goes into LMDB). A file already there with the same content is kept. Returns
 * 0, or a store code (logged): store_put_raw_staged then tries again itself.
 */
int store_blob_stage(struct store *s, const char *raw, size_t len, struct store_blob *b);

/* store_put_raw with b from store_blob_stage (or NULL, or an empty one: as store_put_raw). */
int store_put_raw_staged(struct store_txn *t, uint64_t msg, const char *raw, size_t len,
                         const struct store_blob *b);

/* Message flags. */
enum {
	STORE_MSG_QUARANTINED = 1 << 0, /* could not be parsed: stored raw with a reason */
	STORE_MSG_OURS = 1 << 1,        /* our reply: from our address, and something vouches */
	STORE_MSG_AUTOMATED = 1 << 2,   /* automatic mail (RFC 3834, bounces, lists) */
	/* Claims one of our addresses, but neither tend sent it, nor did it come from the Sent
	 * folder, nor did a trusted server authenticate it: it answers and closes nothing. */
	STORE_MSG_UNVERIFIED = 1 << 3,
	STORE_MSG_COPY = 1 << 4, /* with OURS: a copy of a reply tend sent, counted when sent */
	/* Joined by token or subject with a Reply-To outside the conversation: not followed. */
	STORE_MSG_REPLY_TO_HELD = 1 << 5,
	/* From a web form or shop platform writing for someone: the customer is its Reply-To. */
	STORE_MSG_FORM = 1 << 6,
};

/* A parsed message as stored. All strings are UTF-8 and owned by the record. */
struct store_message {
	uint64_t id;
	uint64_t thread; /* 0 for a quarantined message */
	uint32_t flags;
	char *message_id; /* without angle brackets */
	bool message_id_synthetic;
	struct strvec references;
	struct strvec in_reply_to;
	char *subject;
	struct message_addr from;
	struct message_addrs to;
	struct message_addrs cc;
	struct message_addrs reply_to;
	int64_t date;     /* Date header, 0 when absent */
	int date_offset;  /* minutes east of UTC */
	int64_t received; /* arrival: IMAP INTERNALDATE, else Date, else the file's time */
	char *text;
	char *new_text;
	bool text_from_html;
	struct message_attachment *attachments;
	size_t nattachments;
	char *source; /* where it came from: "imap:ACCOUNT/FOLDER:UIDVALIDITY:UID", a file path */
	int join_reason;         /* enum thread_reason */
	char *join_detail;       /* which header and Message-ID, which token, ... */
	char *quarantine_reason; /* for STORE_MSG_QUARANTINED */
	struct strvec warnings;  /* tolerated standards violations */
	uint64_t raw_size;
	struct strvec tags;  /* what the rules tagged it with */
	struct strvec rules; /* the rules that matched it, in order */
	int priority;        /* enum rules_priority the rules gave it */
	char *ignore_reason; /* why it gets no draft (a rule, automatic mail), or NULL */
	/* For mail from one of our addresses: what vouches that it is ours (STORE_MSG_OURS), or
	 * why nothing does (STORE_MSG_UNVERIFIED); NULL for anyone else's mail. */
	char *sender_note;
	char *lang;      /* the language of new_text, ISO 639-1 ("de"); NULL before tend knew */
	char *lang_note; /* why lang is the default language (too short, unclear), or NULL */
	/* What its fact lookups found when it arrived (names and values in step) and what failed:
	 * a redraft uses these rather than running the lookups again. */
	struct strvec fact_names, fact_values, fact_failures;
};

void store_message_free(struct store_message *m);
/* For qsort of struct store_message *: by arrival, then by id (the order of ingest). */
int store_message_by_arrival(const void *a, const void *b);
int store_put_message(struct store_txn *t, const struct store_message *m);
/* *out is a copy the caller frees with store_message_free; NULL on failure. */
int store_get_message(struct store_txn *t, uint64_t id, struct store_message **out);
/* The same with only id, thread, flags, received, join_reason, priority, ignore_reason, lang
 * and lang_note set: whether a message waits for an answer, without copying its texts. */
int store_get_message_head(struct store_txn *t, uint64_t id, struct store_message **out);
/*
 * Calls fn for every message in id order; fn returns nonzero to stop, which becomes the return
 * value. The record is valid only during the call.
 */
int store_foreach_message(struct store_txn *t, int (*fn)(const struct store_message *, void *),
                          void *arg);
/* The same from message id first on. */
int store_foreach_message_from(struct store_txn *t, uint64_t first,
                               int (*fn)(const struct store_message *, void *), void *arg);

/* Thread states. */
enum store_thread_state {
	STORE_THREAD_OPEN,     /* waiting for an answer */
	STORE_THREAD_ANSWERED, /* our reply is the latest word */
	STORE_THREAD_CLOSED,   /* "resolved": needs nothing more, without (another) reply */
	STORE_THREAD_IGNORED,  /* automated, or a rule said ignore */
};

/* A list of ids in the order pushed; zero-initialise, then push. Past a few dozen ids a
 * hash set beside the list keeps idvec_contains constant-time. */
struct idvec {
	uint64_t *v;
	size_t n;
	size_t cap;
	uint64_t *set; /* open addressing, 0 = empty slot; NULL while the list is short */
	size_t set_cap;
	bool set_zero; /* id 0 is in the set */
};

void idvec_push(struct idvec *iv, uint64_t id);
bool idvec_contains(const struct idvec *iv, uint64_t id);
void idvec_clear(struct idvec *iv);
void idvec_free(struct idvec *iv);

/* A conversation. */
struct store_thread {
	uint64_t id;
	uint64_t merged_into; /* nonzero: this thread was merged away; follow it */
	int state;            /* enum store_thread_state */
	char *subject;        /* of the first message */
	struct message_addr customer;
	int64_t created; /* arrival of the first message */
	int64_t updated; /* arrival of the latest message */
	struct idvec messages;
	struct strvec participants; /* lowercase addresses that wrote or were addressed */
	struct strvec tags;
	int priority;
	int64_t deadline;
	int64_t first_response;
	uint64_t draft;        /* the open draft (proposed or approved), 0 when there is none */
	char *assignee;        /* the agent the conversation is assigned to, or NULL */
	int64_t clock_start;   /* arrival of the first customer message not yet answered; 0: none */
	int64_t answered;      /* when our latest reply was accepted for delivery; 0: never */
	char *account;         /* the account the conversation belongs to, or NULL */
	struct strvec bounced; /* addresses our replies bounced from (lowercase) */
	char *bounce_detail;   /* what the latest bounce said */
	/* Recorded for statistics when the first reply went out (or the first customer wrote). */
	int64_t first_clock;    /* arrival of the first customer message; 0: none yet */
	int64_t first_deadline; /* the deadline in force when the first reply was accepted */
	char *first_agent;      /* who approved the first reply; NULL: not answered through tend */
	int64_t escalated;      /* the clock_start the escalation notice was sent for; 0: none */
	/* The escalation stages (config_stage.key) whose notice was queued for the clock
	 * `escalated`. Empty with escalated set: a store from before stages, one notice sent. */
	struct strvec escalated_stages;
	int64_t holding_sent; /* when a holding reply was queued for the customer; 0: never */
	int64_t risk_at;      /* when the conversation is at risk (escalation.at of its target) */
	uint64_t unverified;  /* the latest message claiming to be ours unverified; 0: none */
	/* Resolving (STORE_THREAD_CLOSED): customer messages up to this message id need no
	 * answer, whenever they arrived; 0: none. Message ids grow with ingest, so a message
	 * fetched after the resolve is never taken as settled, whatever its date. */
	uint64_t settled;
	int64_t resolved;     /* when an agent resolved it; 0: not resolved (or reopened since) */
	char *resolved_by;    /* that agent */
	char *resolve_reason; /* why, as the agent wrote it; NULL: none given */
	/* When a bounce showed that the first reply never reached the customer: first_response
	 * was cleared then (the next reply accepted is the first response), first_clock and
	 * first_deadline kept. 0: the first reply did not bounce. */
	int64_t first_bounced;
	/* Our side of the conversation, kept here so that showing it reads no other thread's
	 * records: the drafts the server accepted (replies, holding replies, escalation notices),
	 * in the order they were sent, and the internal notes, in the order written. Threads
	 * written before these lists existed have none. */
	struct idvec sent;
	struct idvec notes;
	/* Who is on it: the agent who claimed the conversation by editing, taking or reviewing
	 * it, since when, and until when the claim holds (review.claim_for after it was last
	 * renewed). A claim past claim_until has lapsed; NULL agent: nobody is on it. */
	char *claim_agent;
	int64_t claim_since;
	int64_t claim_until;
};

void store_thread_free(struct store_thread *th);
int store_put_thread(struct store_txn *t, const struct store_thread *th);
/* *out is a copy the caller frees with store_thread_free; merged threads are returned as is. */
int store_get_thread(struct store_txn *t, uint64_t id, struct store_thread **out);
/*
 * Follows merged_into links from id to the live thread. STORE_NOTFOUND when id is unknown;
 * STORE_CORRUPT when a link points nowhere or the chain loops.
 */
int store_resolve_thread(struct store_txn *t, uint64_t id, uint64_t *live);

/*
 * Calls fn for every live (not merged) thread in id order; fn returns nonzero to stop, which
 * becomes the return value. The record is valid only during the call.
 */
int store_foreach_thread(struct store_txn *t, int (*fn)(const struct store_thread *, void *),
                         void *arg);

/* Draft states. */
enum store_draft_state {
	STORE_DRAFT_PROPOSED, /* waiting for review */
	STORE_DRAFT_APPROVED, /* in the outbox */
	STORE_DRAFT_SENT,
	STORE_DRAFT_REJECTED,
	STORE_DRAFT_FAILED,     /* the server refused it for good */
	STORE_DRAFT_SUPERSEDED, /* replaced by a newer draft of the same thread */
	STORE_DRAFT_UNCERTAIN,  /* handed to the server, outcome lost: an agent must decide */
};

/* What a draft is: a reply an agent approves, or a message tendd writes on its own. */
enum store_draft_kind {
	STORE_KIND_REPLY,   /* the answer to the customer */
	STORE_KIND_HOLDING, /* a holding reply (Auto-Submitted: auto-replied); not a response */
	STORE_KIND_NOTICE,  /* an internal escalation notice (Auto-Submitted: auto-generated) */
};

/* Where a draft's current send attempt stands (what a restart after a crash must know). */
enum store_send_phase {
	STORE_SEND_IDLE,    /* no attempt in progress */
	STORE_SEND_STARTED, /* connecting: the server cannot have the whole message yet */
	STORE_SEND_HANDED,  /* the whole message was handed over: it may have been accepted */
};

/*
 * A file attached to a draft. Its bytes are a record of their own in the files database, not
 * part of the draft, so that reading and rewriting a draft (every show, edit, send attempt)
 * does not copy megabytes, and so that a later change of the file on disk does not change
 * what is sent.
 */
struct store_file {
	char *name;         /* the file name sent (UTF-8, no directory) */
	char *content_type; /* lowercase type/subtype */
	uint64_t size;      /* bytes */
	uint32_t seq;       /* the key of its bytes, unique within the draft */
	char *rule;         /* the rule that attached it, or NULL when an agent did */
};

/* A reply being prepared, reviewed and sent. */
struct store_draft {
	uint64_t id;
	uint64_t thread;
	int state;           /* enum store_draft_state */
	bool stale;          /* the customer wrote after it was made: must be shown again */
	bool edited;         /* an agent changed the body */
	char *body;          /* the reply text as it will be sent */
	char *previous_body; /* an agent's edit replaced when the customer wrote again */
	char *subject;
	struct message_addrs to;
	struct message_addrs cc;
	char *in_reply_to; /* Message-ID answered, without brackets */
	struct strvec references;
	char *message_id;    /* the reply's own Message-ID, fixed at approval */
	struct strvec parts; /* the rules whose templates make up the body, in order */
	uint64_t answers;    /* the latest customer message it answers */
	char *last_editor;
	char *last_editor_os; /* the OS user who made that edit; NULL in older records */
	char *approved_by;
	char *reject_reason;
	int64_t created;
	int64_t updated;
	int64_t shown;         /* last time an agent was shown it */
	int64_t snoozed_until; /* hidden from the queue until then; the deadline stays */
	int64_t approved;
	int64_t sent;
	char *error;          /* the last sending problem, in the server's words */
	int64_t next_attempt; /* its outbox index time while approved */
	int64_t queued;       /* its queue index time (the deadline) while proposed; 0: none */
	char *account;        /* the account that sends it */
	int attempts;         /* send attempts so far */
	int send_phase;       /* enum store_send_phase */
	int64_t first_attempt;
	int64_t last_attempt;
	char *smtp_reply;  /* the server's words when it accepted the reply */
	bool copy_pending; /* sent, but the copy is not in the Sent folder yet */
	int64_t copied;    /* when the copy went into the Sent folder; 0: not (yet) */
	int kind;          /* enum store_draft_kind */
	/* The Reply-To of the message answered, when it was not followed (STORE_MSG_REPLY_TO_HELD) */
	struct message_addrs reply_to_held;
	/* Cc addresses of the customer's message left out: with them the reply would have had
	 * more recipients than review.max_recipients allows. */
	uint64_t cc_withheld;
	/* A reply that bounced, back in review: the draft whose reply came back (this one has its
	 * text) and what the bounce said, "our reply to X bounced (550 5.1.1 ...)". */
	uint64_t resend_of;
	char *bounce;
	/* Fact lookups that failed for the messages it answers ("Lookup order failed: timed out
	 * after 5 s"): the draft follows the rules without those facts; the agent is told. */
	struct strvec lookup_failures;
	/* The captures its parts used and where each came from, "order = 10488 (from the
	 * subject)"; empty in older records. */
	struct strvec captures;
	/* The deadline the body promises in words ({{deadline}} as rendered) and that text; a
	 * draft still saying it once the time has passed cannot be approved. 0/NULL: none. */
	int64_t promised;
	char *promise;
	/* A notice sent as a digest: the other conversations it names (its thread is the most
	 * overdue); each lists the notice as sent once the server has it. */
	struct idvec digest;
	/* str_hash of the body as the rules last wrote it, before any edit: tells whether the
	 * rules would write another text now. 0: not known (a bounced reply's text, older records). */
	uint64_t composed;
	/* What made the draft stale and set an agent's text aside (previous_body): enum
	 * store_stale_why. */
	int stale_why;
	/* Its attachments, in the order they are sent, and the seq the next one gets. */
	struct store_file *files;
	size_t nfiles;
	uint32_t file_seq;
	/* Parts an agent added (`tend draft --add`) and took out (`--remove`), by rule name:
	 * the rules write the draft with them, and without them, from then on. */
	struct strvec parts_added;
	struct strvec parts_removed;
	/* The agent who set the recipients by hand (`tend edit`); NULL: the rules chose them.
	 * Recipients set by hand stay when the rules write the draft again. */
	char *recipients_by;
	/* The undo window of an approved reply (review.undo): until undo_until it can be taken
	 * back to the queue as it was, its body without the signature approval added
	 * (undo_body), at its place in the queue (undo_queued) and with the sending problem it
	 * had (undo_error). 0/NULL: no window. */
	char *undo_body;
	int64_t undo_queued;
	int64_t undo_until;
	char *undo_error;
};

/* Why a draft was rewritten under an agent's eyes. */
enum store_stale_why {
	STORE_STALE_CUSTOMER = 0, /* the customer wrote again */
	STORE_STALE_RULES = 1,    /* `tend redraft` rewrote it from changed rules or templates */
};

void store_draft_free(struct store_draft *d);
int store_put_draft(struct store_txn *t, const struct store_draft *d);
/* *out is a copy the caller frees with store_draft_free. */
int store_get_draft(struct store_txn *t, uint64_t id, struct store_draft **out);
/*
 * The bytes of the files attached to drafts, keyed by draft id and store_file.seq. The pointer
 * store_get_file returns lives until the transaction ends (in a write transaction, until the
 * next write). Deleting a file that is not there is not an error.
 */
int store_put_file(struct store_txn *t, uint64_t draft, uint32_t seq, const void *data, size_t len);
int store_get_file(struct store_txn *t, uint64_t draft, uint32_t seq, const char **data,
                   size_t *len);
int store_del_file(struct store_txn *t, uint64_t draft, uint32_t seq);
/* Every draft in id order; fn returns nonzero to stop. The record is valid only during the call. */
int store_foreach_draft(struct store_txn *t, int (*fn)(const struct store_draft *, void *),
                        void *arg);

/*
 * Time-ordered indexes: the review queue (by deadline) and the outbox (by next attempt). A
 * key is the time and the draft id; callers delete the old entry when the time changes.
 */
enum store_index {
	STORE_INDEX_QUEUE,
	STORE_INDEX_OUTBOX,
};
int store_index_put(struct store_txn *t, enum store_index ix, int64_t when, uint64_t draft);
/* Removing an entry that is not there is not an error. */
int store_index_del(struct store_txn *t, enum store_index ix, int64_t when, uint64_t draft);
/* In time order; fn returns nonzero to stop, which becomes the return value. */
int store_foreach_index(struct store_txn *t, enum store_index ix,
                        int (*fn)(int64_t when, uint64_t draft, void *arg), void *arg);
/* How many entries the index holds (at once, whatever its size). */
int store_index_count(struct store_txn *t, enum store_index ix, uint64_t *n);

/* One entry of the audit trail: who did what to which conversation, and when. */
struct store_audit {
	uint64_t seq; /* assigned by store_audit_append */
	int64_t time;
	char *agent;   /* the agent acting (--as, $TEND_AGENT, $USER), or "tendd" */
	char *os_user; /* the operating-system user who ran the command */
	char *action;  /* "draft", "redraft", "show", "edit", "approve", "reject", ... */
	uint64_t thread;
	uint64_t draft;
	char *detail; /* the diff of an edit, a reason, a duration, an agent */
};

void store_audit_free(struct store_audit *a);
/* Appends a at its time (a->seq is set from a counter). */
int store_audit_append(struct store_txn *t, struct store_audit *a);
/* Oldest first; the record is valid only during the call. */
int store_foreach_audit(struct store_txn *t, int (*fn)(const struct store_audit *, void *),
                        void *arg);
/* The same from the entries of time since on (the trail is in time order, then seq). */
int store_foreach_audit_since(struct store_txn *t, int64_t since,
                              int (*fn)(const struct store_audit *, void *), void *arg);

/*
 * An internal note an agent wrote in a conversation (`tend note`). It is shown and audited,
 * and nothing ever sends or quotes it: it is not a draft and not a message.
 */
struct store_note {
	uint64_t id;
	uint64_t thread; /* where it was written; the thread may have been merged since */
	int64_t created;
	char *agent;   /* who wrote it */
	char *os_user; /* the operating-system user who ran the command */
	char *text;    /* UTF-8 */
};

void store_note_free(struct store_note *n);
/* Writes n under n->id (take one from STORE_COUNTER_NOTE). */
int store_put_note(struct store_txn *t, const struct store_note *n);
/* *out is a copy the caller frees with store_note_free. */
int store_get_note(struct store_txn *t, uint64_t id, struct store_note **out);

/* What a Message-ID maps to: a stored message, or a placeholder for one referenced but unseen. */
struct store_msgid {
	uint64_t message; /* 0 for a placeholder */
	uint64_t thread;  /* may have been merged: resolve it */
	uint64_t draft;   /* the draft whose reply tend sent with this Message-ID; 0: none */
};

/* Looks up a Message-ID (without brackets); an empty one is never found. */
int store_get_msgid(struct store_txn *t, const char *msgid, struct store_msgid *out);
int store_put_msgid(struct store_txn *t, const char *msgid, const struct store_msgid *e);

/* Quarantined messages, in id order. */
int store_put_quarantine(struct store_txn *t, uint64_t msg);
int store_foreach_quarantined(struct store_txn *t, int (*fn)(uint64_t msg, void *), void *arg);

/*
 * Subject-fallback index: (customer address, normalised subject) -> thread and last arrival.
 * The caller normalises both (lowercase address, message_normalize_subject).
 */
int store_get_subject(struct store_txn *t, const char *addr, const char *subject, uint64_t *thread,
                      int64_t *when);
int store_put_subject(struct store_txn *t, const char *addr, const char *subject, uint64_t thread,
                      int64_t when);

/*
 * The conversations of a customer: store_put_customer files thread under addr (its customer,
 * compared without case); store_foreach_customer_thread calls fn for each thread filed under
 * addr, newest (highest id) first, until fn returns nonzero, which becomes the return value.
 * A thread merged away stays filed: resolve it. Stores from before this index are filled in the
 * first time they are opened for writing.
 */
int store_put_customer(struct store_txn *t, const char *addr, uint64_t thread);
int store_foreach_customer_thread(struct store_txn *t, const char *addr,
                                  int (*fn)(uint64_t thread, void *), void *arg);

/*
 * When an automatic message (a holding reply) last went to addr (lowercase), and in which
 * thread; *when is 0 when never.
 */
int store_get_autoreply(struct store_txn *t, const char *addr, int64_t *when);
int store_put_autoreply(struct store_txn *t, const char *addr, uint64_t thread, int64_t when);

/* Per-folder IMAP cursors. */
struct store_cursor {
	uint32_t uidvalidity;
	uint32_t last_uid;
};
int store_get_cursor(struct store_txn *t, const char *account, const char *folder,
                     struct store_cursor *out);
int store_put_cursor(struct store_txn *t, const char *account, const char *folder,
                     const struct store_cursor *c);
/* Calls fn for every cursor (ordered by account, then folder); nonzero stops, as above. */
int store_foreach_cursor(struct store_txn *t,
                         int (*fn)(const char *account, const char *folder,
                                   const struct store_cursor *c, void *arg),
                         void *arg);

/*
 * Health of one IMAP account and folder, written by tendd for `tend status`. The record with
 * folder "" is the account's own (login and connection errors); the others are per folder.
 * Times are Unix seconds, 0 for never. Strings may be NULL.
 */
struct store_status {
	int64_t updated;      /* when tendd last wrote this record */
	int64_t last_login;   /* last successful login (account record) */
	int64_t last_fetch;   /* last completed pass over the folder (folder records) */
	int64_t error_since;  /* when the current error began; 0: no error since the last success */
	char *last_error;     /* the current error, or NULL */
	uint32_t uidvalidity; /* the server's, at the last look (folder records) */
	uint32_t uidnext;     /* the server's UIDNEXT at the last look, 0 when unknown */
	uint64_t exists;      /* messages in the folder at the last look */
	uint64_t waiting;     /* messages on the server beyond the cursor at the last look */
	uint64_t fetched;     /* messages ingested from this folder by the running tendd */
};
void store_status_free(struct store_status *st); /* frees the strings, not st */
int store_get_status(struct store_txn *t, const char *account, const char *folder,
                     struct store_status *out);
int store_put_status(struct store_txn *t, const char *account, const char *folder,
                     const struct store_status *st);
/* Calls fn for every status record (ordered by account, then folder; "" first). */
int store_foreach_status(struct store_txn *t,
                         int (*fn)(const char *account, const char *folder,
                                   const struct store_status *st, void *arg),
                         void *arg);

/* Entry counts, for status and summaries. */
struct store_counts {
	uint64_t messages;
	uint64_t threads; /* including merged-away records */
	uint64_t quarantined;
};
int store_count(struct store_txn *t, struct store_counts *out);

#endif
