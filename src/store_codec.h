/*
 * store_codec: the MessagePack form of the store's records. Private to the store module.
 *
 * A record is one version byte followed by a MessagePack map from small integer keys to values.
 * Each record type is described once, by a table of fields (key, kind, where in the C struct),
 * and the same table drives encoding, decoding and freeing, so a field cannot be written and
 * forgotten when reading or freeing. Decoders skip keys they do not know, which lets a later
 * tend add a field without a schema change. A key number, once used, is never given to
 * another field.
 */
#ifndef TEND_STORE_CODEC_H
#define TEND_STORE_CODEC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/util.h"

/* The version byte in front of every record this build writes and the only one it reads. */
#define CODEC_RECORD_VERSION 1

enum codec_kind {
	CODEC_U64,     /* uint64_t */
	CODEC_I64,     /* int64_t */
	CODEC_U32,     /* uint32_t */
	CODEC_INT,     /* int */
	CODEC_SIZE,    /* size_t */
	CODEC_BOOL,    /* bool */
	CODEC_STR,     /* char *, owned; NULL is written as nil */
	CODEC_STRVEC,  /* struct strvec */
	CODEC_IDVEC,   /* struct idvec */
	CODEC_RECORD,  /* a struct described by sub, held inline */
	CODEC_RECORDS, /* an owned array of sub at off, its length (size_t) at aux */
};

struct codec_table;

struct codec_field {
	uint8_t key;  /* the map key */
	uint8_t kind; /* enum codec_kind */
	size_t off;   /* offset of the member */
	size_t aux;   /* CODEC_RECORDS: offset of the element count */
	const struct codec_table *sub;
};

struct codec_table {
	const char *name;
	size_t size; /* of the struct, for arrays of them */
	const struct codec_field *fields;
	size_t nfields;
	bool partial; /* a few fields (64 at most) of a record: reading stops once all are found */
};

/* struct store_message, _thread, _msgid, _cursor, _status, _draft and _audit. */
extern const struct codec_table codec_message;
extern const struct codec_table codec_thread;
extern const struct codec_table codec_msgid;
extern const struct codec_table codec_cursor;
extern const struct codec_table codec_status;
extern const struct codec_table codec_draft;
extern const struct codec_table codec_audit;
extern const struct codec_table codec_note;
/* Of a struct store_message only what says whether it waits for an answer (see
 * store_get_message_head). */
extern const struct codec_table codec_message_head;
/* Only merged_into of a struct store_thread: following merges need nothing else. */
extern const struct codec_table codec_thread_link;

/* The value of a subjects entry. */
struct codec_subject {
	uint64_t thread;
	int64_t when;
};
extern const struct codec_table codec_subject;

/* Appends the record for rec (version byte and map) to out. */
void codec_encode(struct buf *out, const struct codec_table *t, const void *rec);

/* Why a record could not be decoded. */
struct codec_error {
	int field;     /* the top-level key being decoded, 0 for the record as a whole */
	char what[80]; /* what was wrong */
};

/*
 * Decodes data[0..len) into rec, which the caller has zeroed. Returns 0, or -1 with *e filled
 * in, and rec cleared. Strings are copied: rec does not point into data.
 */
int codec_decode(const struct codec_table *t, const void *data, size_t len, void *rec,
                 struct codec_error *e);

/* Frees what rec owns according to t and zeroes those members. */
void codec_clear(const struct codec_table *t, void *rec);

#endif
