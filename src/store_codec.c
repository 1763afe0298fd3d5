/*
 * store_codec: table-driven MessagePack records (see store_codec.h).
 */
#include "store_codec.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend/store.h"

/* Initialisers for the tables below (clang-format would spread each over four lines). */
// clang-format off
#define FIELD(k, kind, type, member) {k, kind, offsetof(type, member), 0, NULL}
#define NESTED(k, type, member, table)                                                             \
	{k, CODEC_RECORD, offsetof(type, member), 0, &(table)}
#define ARRAY(k, type, member, count, table)                                                       \
	{k, CODEC_RECORDS, offsetof(type, member), offsetof(type, count), &(table)}
#define TABLE(name, type, fields) {name, sizeof(type), fields, NELEM(fields)}
// clang-format on

static const struct codec_field addr_fields[] = {
    FIELD(1, CODEC_STR, struct message_addr, name),
    FIELD(2, CODEC_STR, struct message_addr, addr),
};
static const struct codec_table codec_addr = TABLE("address", struct message_addr, addr_fields);

static const struct codec_field attachment_fields[] = {
    FIELD(1, CODEC_STR, struct message_attachment, filename),
    FIELD(2, CODEC_STR, struct message_attachment, content_type),
    FIELD(3, CODEC_SIZE, struct message_attachment, size),
};
static const struct codec_table codec_attachment =
    TABLE("attachment", struct message_attachment, attachment_fields);

#define M struct store_message
static const struct codec_field message_fields[] = {
    FIELD(1, CODEC_U64, M, id),
    FIELD(2, CODEC_U64, M, thread),
    FIELD(3, CODEC_U32, M, flags),
    FIELD(4, CODEC_STR, M, message_id),
    FIELD(5, CODEC_BOOL, M, message_id_synthetic),
    FIELD(6, CODEC_STRVEC, M, references),
    FIELD(7, CODEC_STRVEC, M, in_reply_to),
    FIELD(8, CODEC_STR, M, subject),
    NESTED(9, M, from, codec_addr),
    ARRAY(10, M, to.v, to.n, codec_addr),
    ARRAY(11, M, cc.v, cc.n, codec_addr),
    ARRAY(12, M, reply_to.v, reply_to.n, codec_addr),
    FIELD(13, CODEC_I64, M, date),
    FIELD(14, CODEC_INT, M, date_offset),
    FIELD(15, CODEC_I64, M, received),
    FIELD(16, CODEC_STR, M, text),
    FIELD(17, CODEC_STR, M, new_text),
    FIELD(18, CODEC_BOOL, M, text_from_html),
    ARRAY(19, M, attachments, nattachments, codec_attachment),
    FIELD(20, CODEC_STR, M, source),
    FIELD(21, CODEC_INT, M, join_reason),
    FIELD(22, CODEC_STR, M, join_detail),
    FIELD(23, CODEC_STR, M, quarantine_reason),
    FIELD(24, CODEC_STRVEC, M, warnings),
    FIELD(25, CODEC_U64, M, raw_size),
    FIELD(26, CODEC_STRVEC, M, tags),
    FIELD(27, CODEC_STRVEC, M, rules),
    FIELD(28, CODEC_INT, M, priority),
    FIELD(29, CODEC_STR, M, ignore_reason),
};
#undef M
const struct codec_table codec_message = TABLE("message", struct store_message, message_fields);

#define T struct store_thread
static const struct codec_field thread_fields[] = {
    FIELD(1, CODEC_U64, T, id),
    FIELD(2, CODEC_U64, T, merged_into),
    FIELD(3, CODEC_INT, T, state),
    FIELD(4, CODEC_STR, T, subject),
    NESTED(5, T, customer, codec_addr),
    FIELD(6, CODEC_I64, T, created),
    FIELD(7, CODEC_I64, T, updated),
    FIELD(8, CODEC_IDVEC, T, messages),
    FIELD(9, CODEC_STRVEC, T, participants),
    FIELD(10, CODEC_STRVEC, T, tags),
    FIELD(11, CODEC_INT, T, priority),
    FIELD(12, CODEC_I64, T, deadline),
    FIELD(13, CODEC_I64, T, first_response),
    FIELD(14, CODEC_U64, T, draft),
    FIELD(15, CODEC_STR, T, assignee),
    FIELD(16, CODEC_I64, T, clock_start),
    FIELD(17, CODEC_I64, T, answered),
    FIELD(18, CODEC_STR, T, account),
    FIELD(19, CODEC_STRVEC, T, bounced),
    FIELD(20, CODEC_STR, T, bounce_detail),
    FIELD(21, CODEC_I64, T, first_clock),
    FIELD(22, CODEC_I64, T, first_deadline),
    FIELD(23, CODEC_STR, T, first_agent),
    FIELD(24, CODEC_I64, T, escalated),
    FIELD(25, CODEC_I64, T, holding_sent),
    FIELD(26, CODEC_I64, T, risk_at),
};
static const struct codec_field thread_link_fields[] = {
    FIELD(2, CODEC_U64, T, merged_into),
};
#undef T
const struct codec_table codec_thread = TABLE("thread", struct store_thread, thread_fields);
const struct codec_table codec_thread_link =
    TABLE("thread", struct store_thread, thread_link_fields);

#define D struct store_draft
static const struct codec_field draft_fields[] = {
    FIELD(1, CODEC_U64, D, id),
    FIELD(2, CODEC_U64, D, thread),
    FIELD(3, CODEC_INT, D, state),
    FIELD(4, CODEC_BOOL, D, stale),
    FIELD(5, CODEC_BOOL, D, edited),
    FIELD(6, CODEC_STR, D, body),
    FIELD(7, CODEC_STR, D, previous_body),
    FIELD(8, CODEC_STR, D, subject),
    ARRAY(9, D, to.v, to.n, codec_addr),
    ARRAY(10, D, cc.v, cc.n, codec_addr),
    FIELD(11, CODEC_STR, D, in_reply_to),
    FIELD(12, CODEC_STRVEC, D, references),
    FIELD(13, CODEC_STR, D, message_id),
    FIELD(14, CODEC_STRVEC, D, parts),
    FIELD(15, CODEC_U64, D, answers),
    FIELD(16, CODEC_STR, D, last_editor),
    FIELD(17, CODEC_STR, D, approved_by),
    FIELD(18, CODEC_STR, D, reject_reason),
    FIELD(19, CODEC_I64, D, created),
    FIELD(20, CODEC_I64, D, updated),
    FIELD(21, CODEC_I64, D, shown),
    FIELD(22, CODEC_I64, D, snoozed_until),
    FIELD(23, CODEC_I64, D, approved),
    FIELD(24, CODEC_I64, D, sent),
    FIELD(25, CODEC_STR, D, error),
    FIELD(26, CODEC_I64, D, next_attempt),
    FIELD(27, CODEC_STR, D, account),
    FIELD(28, CODEC_I64, D, queued),
    FIELD(29, CODEC_INT, D, attempts),
    FIELD(30, CODEC_INT, D, send_phase),
    FIELD(31, CODEC_I64, D, first_attempt),
    FIELD(32, CODEC_I64, D, last_attempt),
    FIELD(33, CODEC_STR, D, smtp_reply),
    FIELD(34, CODEC_BOOL, D, copy_pending),
    FIELD(35, CODEC_I64, D, copied),
    FIELD(36, CODEC_INT, D, kind),
};
#undef D
const struct codec_table codec_draft = TABLE("draft", struct store_draft, draft_fields);

#define A struct store_audit
static const struct codec_field audit_fields[] = {
    FIELD(1, CODEC_U64, A, seq),     FIELD(2, CODEC_I64, A, time),   FIELD(3, CODEC_STR, A, agent),
    FIELD(4, CODEC_STR, A, os_user), FIELD(5, CODEC_STR, A, action), FIELD(6, CODEC_U64, A, thread),
    FIELD(7, CODEC_U64, A, draft),   FIELD(8, CODEC_STR, A, detail),
};
#undef A
const struct codec_table codec_audit = TABLE("audit", struct store_audit, audit_fields);

static const struct codec_field msgid_fields[] = {
    FIELD(1, CODEC_U64, struct store_msgid, message),
    FIELD(2, CODEC_U64, struct store_msgid, thread),
};
const struct codec_table codec_msgid = TABLE("msgid", struct store_msgid, msgid_fields);

static const struct codec_field subject_fields[] = {
    FIELD(1, CODEC_U64, struct codec_subject, thread),
    FIELD(2, CODEC_I64, struct codec_subject, when),
};
const struct codec_table codec_subject = TABLE("subject", struct codec_subject, subject_fields);

static const struct codec_field cursor_fields[] = {
    FIELD(1, CODEC_U32, struct store_cursor, uidvalidity),
    FIELD(2, CODEC_U32, struct store_cursor, last_uid),
};
const struct codec_table codec_cursor = TABLE("cursor", struct store_cursor, cursor_fields);

#define S struct store_status
static const struct codec_field status_fields[] = {
    FIELD(1, CODEC_I64, S, updated),    FIELD(2, CODEC_I64, S, last_login),
    FIELD(3, CODEC_I64, S, last_fetch), FIELD(4, CODEC_I64, S, error_since),
    FIELD(5, CODEC_STR, S, last_error), FIELD(6, CODEC_U32, S, uidvalidity),
    FIELD(7, CODEC_U32, S, uidnext),    FIELD(8, CODEC_U64, S, exists),
    FIELD(9, CODEC_U64, S, waiting),    FIELD(10, CODEC_U64, S, fetched),
};
#undef S
const struct codec_table codec_status = TABLE("status", struct store_status, status_fields);

/* Encoding */

static int buf_writer(void *data, const char *p, size_t n)
{
	buf_append(data, p, n);
	return 0;
}

static void encode_map(msgpack_packer *pk, const struct codec_table *t, const char *rec);

static void encode_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void encode_strvec(msgpack_packer *pk, const struct strvec *sv)
{
	msgpack_pack_array(pk, sv->n);
	for (size_t i = 0; i < sv->n; i++)
		encode_str(pk, sv->v[i]);
}

static void encode_idvec(msgpack_packer *pk, const struct idvec *iv)
{
	msgpack_pack_array(pk, iv->n);
	for (size_t i = 0; i < iv->n; i++)
		msgpack_pack_uint64(pk, iv->v[i]);
}

static void encode_records(msgpack_packer *pk, const struct codec_field *f, const char *rec)
{
	const char *v = *(const char *const *)(const void *)(rec + f->off);
	size_t n = *(const size_t *)(const void *)(rec + f->aux);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		encode_map(pk, f->sub, v + i * f->sub->size);
}

static void encode_value(msgpack_packer *pk, const struct codec_field *f, const char *rec)
{
	const void *p = rec + f->off;
	switch ((enum codec_kind)f->kind) {
	case CODEC_U64:
		msgpack_pack_uint64(pk, *(const uint64_t *)p);
		break;
	case CODEC_I64:
		msgpack_pack_int64(pk, *(const int64_t *)p);
		break;
	case CODEC_U32:
		msgpack_pack_uint32(pk, *(const uint32_t *)p);
		break;
	case CODEC_INT:
		msgpack_pack_int(pk, *(const int *)p);
		break;
	case CODEC_SIZE:
		msgpack_pack_uint64(pk, *(const size_t *)p);
		break;
	case CODEC_BOOL:
		(*(const bool *)p ? msgpack_pack_true : msgpack_pack_false)(pk);
		break;
	case CODEC_STR:
		encode_str(pk, *(char *const *)p);
		break;
	case CODEC_STRVEC:
		encode_strvec(pk, p);
		break;
	case CODEC_IDVEC:
		encode_idvec(pk, p);
		break;
	case CODEC_RECORD:
		encode_map(pk, f->sub, p);
		break;
	case CODEC_RECORDS:
		encode_records(pk, f, rec);
		break;
	}
}

static void encode_map(msgpack_packer *pk, const struct codec_table *t, const char *rec)
{
	msgpack_pack_map(pk, t->nfields);
	for (size_t i = 0; i < t->nfields; i++) {
		msgpack_pack_uint8(pk, t->fields[i].key);
		encode_value(pk, &t->fields[i], rec);
	}
}

void codec_encode(struct buf *out, const struct codec_table *t, const void *rec)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_writer);
	buf_putc(out, CODEC_RECORD_VERSION);
	encode_map(&pk, t, rec);
}

/* Freeing */

static size_t scalar_size(int kind)
{
	switch ((enum codec_kind)kind) {
	case CODEC_U32:
		return sizeof(uint32_t);
	case CODEC_INT:
		return sizeof(int);
	case CODEC_SIZE:
		return sizeof(size_t);
	case CODEC_BOOL:
		return sizeof(bool);
	case CODEC_U64:
	case CODEC_I64:
		return sizeof(uint64_t);
	default:
		return 0;
	}
}

static void clear_field(const struct codec_field *f, char *rec)
{
	void *p = rec + f->off;
	switch ((enum codec_kind)f->kind) {
	case CODEC_STR:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	case CODEC_STRVEC:
		strvec_free(p);
		break;
	case CODEC_IDVEC:
		idvec_free(p);
		break;
	case CODEC_RECORD:
		codec_clear(f->sub, p);
		break;
	case CODEC_RECORDS: {
		char *v = *(char **)p;
		size_t *n = (size_t *)(void *)(rec + f->aux);
		for (size_t i = 0; i < *n; i++)
			codec_clear(f->sub, v + i * f->sub->size);
		free(v);
		*(char **)p = NULL;
		*n = 0;
		break;
	}
	default:
		memset(p, 0, scalar_size(f->kind));
		break;
	}
}

void codec_clear(const struct codec_table *t, void *rec)
{
	for (size_t i = 0; i < t->nfields; i++)
		clear_field(&t->fields[i], rec);
}

/* Decoding */

static int fail(struct codec_error *e, const char *what)
{
	snprintf(e->what, sizeof(e->what), "%s", what);
	return -1;
}

static bool get_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return false;
	*v = o->via.u64;
	return true;
}

static bool get_i64(const msgpack_object *o, int64_t min, int64_t max, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else
		return false;
	return *v >= min && *v <= max;
}

/* A copy of a str or bin object as a C string; NULL when o is neither. */
static char *dup_string(const msgpack_object *o)
{
	const char *p;
	size_t n;
	if (o->type == MSGPACK_OBJECT_STR) {
		p = o->via.str.ptr;
		n = o->via.str.size;
	} else if (o->type == MSGPACK_OBJECT_BIN) {
		p = o->via.bin.ptr;
		n = o->via.bin.size;
	} else {
		return NULL;
	}
	char *s = xmalloc(n + 1);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int decode_map(const struct codec_table *t, const msgpack_object *o, char *rec,
                      struct codec_error *e);

static int decode_strvec(const msgpack_object *o, struct strvec *sv, struct codec_error *e)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(e, "expected an array of strings");
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		char *s = dup_string(&o->via.array.ptr[i]);
		if (s == NULL)
			return fail(e, "expected a string in the array");
		strvec_push_owned(sv, s);
	}
	return 0;
}

static int decode_idvec(const msgpack_object *o, struct idvec *iv, struct codec_error *e)
{
	uint64_t id;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(e, "expected an array of ids");
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		if (!get_u64(&o->via.array.ptr[i], UINT64_MAX, &id))
			return fail(e, "expected an id in the array");
		idvec_push(iv, id);
	}
	return 0;
}

static int decode_records(const struct codec_field *f, const msgpack_object *o, char *rec,
                          struct codec_error *e)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(e, "expected an array of maps");
	size_t n = o->via.array.size;
	char *v = n ? xcalloc(n, f->sub->size) : NULL;
	/* Set before decoding the elements so that a failure frees what was decoded. */
	*(char **)(void *)(rec + f->off) = v;
	*(size_t *)(void *)(rec + f->aux) = n;
	for (size_t i = 0; i < n; i++)
		if (decode_map(f->sub, &o->via.array.ptr[i], v + i * f->sub->size, e) < 0)
			return -1;
	return 0;
}

static int decode_int(const struct codec_field *f, const msgpack_object *o, void *p,
                      struct codec_error *e)
{
	uint64_t u;
	int64_t i;
	bool ok = false;
	switch ((enum codec_kind)f->kind) {
	case CODEC_U64:
		ok = get_u64(o, UINT64_MAX, p);
		break;
	case CODEC_SIZE:
		if ((ok = get_u64(o, SIZE_MAX, &u)))
			*(size_t *)p = (size_t)u;
		break;
	case CODEC_U32:
		if ((ok = get_u64(o, UINT32_MAX, &u)))
			*(uint32_t *)p = (uint32_t)u;
		break;
	case CODEC_I64:
		ok = get_i64(o, INT64_MIN, INT64_MAX, p);
		break;
	case CODEC_INT:
		if ((ok = get_i64(o, INT_MIN, INT_MAX, &i)))
			*(int *)p = (int)i;
		break;
	default:
		break;
	}
	return ok ? 0 : fail(e, "expected an integer in range");
}

static int decode_value(const struct codec_field *f, const msgpack_object *o, char *rec,
                        struct codec_error *e)
{
	void *p = rec + f->off;
	/* A key seen twice must not leak its first value. */
	clear_field(f, rec);
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	switch ((enum codec_kind)f->kind) {
	case CODEC_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return fail(e, "expected a boolean");
		*(bool *)p = o->via.boolean;
		return 0;
	case CODEC_STR:
		if ((*(char **)p = dup_string(o)) == NULL)
			return fail(e, "expected a string");
		return 0;
	case CODEC_STRVEC:
		return decode_strvec(o, p, e);
	case CODEC_IDVEC:
		return decode_idvec(o, p, e);
	case CODEC_RECORD:
		return decode_map(f->sub, o, p, e);
	case CODEC_RECORDS:
		return decode_records(f, o, rec, e);
	default:
		return decode_int(f, o, p, e);
	}
}

static const struct codec_field *find_field(const struct codec_table *t, uint64_t key)
{
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].key == key)
			return &t->fields[i];
	return NULL;
}

static int decode_map(const struct codec_table *t, const msgpack_object *o, char *rec,
                      struct codec_error *e)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return fail(e, "expected a map");
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		/* Keys this build does not know (or not integers at all) belong to a newer tend. */
		if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			continue;
		const struct codec_field *f = find_field(t, kv->key.via.u64);
		if (f && decode_value(f, &kv->val, rec, e) < 0) {
			/* Set on the way out, so the report names the top-level key. */
			e->field = f->key;
			return -1;
		}
	}
	return 0;
}

int codec_decode(msgpack_zone *zone, const struct codec_table *t, const void *data, size_t len,
                 void *rec, struct codec_error *e)
{
	const unsigned char *p = data;
	msgpack_object o;
	size_t off = 0;
	int rc = -1;

	e->field = 0;
	e->what[0] = '\0';
	if (len == 0)
		return fail(e, "empty record");
	if (p[0] != CODEC_RECORD_VERSION) {
		snprintf(e->what, sizeof(e->what), "unknown record version %u", p[0]);
		return -1;
	}
	switch (msgpack_unpack((const char *)p + 1, len - 1, &off, zone, &o)) {
	case MSGPACK_UNPACK_SUCCESS:
		rc = decode_map(t, &o, rec, e);
		break;
	case MSGPACK_UNPACK_EXTRA_BYTES:
		fail(e, "bytes after the record");
		break;
	case MSGPACK_UNPACK_CONTINUE:
		fail(e, "record is truncated");
		break;
	default:
		fail(e, "not MessagePack");
		break;
	}
	if (rc < 0)
		codec_clear(t, rec);
	msgpack_zone_clear(zone);
	return rc;
}
