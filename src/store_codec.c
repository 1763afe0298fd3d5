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
#define TABLE(name, type, fields) {name, sizeof(type), fields, NELEM(fields), false}
#define PART(name, type, fields) {name, sizeof(type), fields, NELEM(fields), true}
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
    FIELD(30, CODEC_STR, M, sender_note),
    FIELD(31, CODEC_STR, M, lang),
    FIELD(32, CODEC_STR, M, lang_note),
    FIELD(50, CODEC_STRVEC, M, fact_names),
    FIELD(51, CODEC_STRVEC, M, fact_values),
    FIELD(52, CODEC_STRVEC, M, fact_failures),
};
static const struct codec_field message_head_fields[] = {
    FIELD(1, CODEC_U64, M, id),
    FIELD(2, CODEC_U64, M, thread),
    FIELD(3, CODEC_U32, M, flags),
    FIELD(15, CODEC_I64, M, received),
    FIELD(21, CODEC_INT, M, join_reason),
    FIELD(28, CODEC_INT, M, priority),
    FIELD(29, CODEC_STR, M, ignore_reason),
    FIELD(31, CODEC_STR, M, lang),
    FIELD(32, CODEC_STR, M, lang_note),
    FIELD(50, CODEC_STRVEC, M, fact_names),
    FIELD(51, CODEC_STRVEC, M, fact_values),
    FIELD(52, CODEC_STRVEC, M, fact_failures),
};
#undef M
const struct codec_table codec_message = TABLE("message", struct store_message, message_fields);
const struct codec_table codec_message_head =
    PART("message", struct store_message, message_head_fields);

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
    FIELD(27, CODEC_U64, T, unverified),
    FIELD(28, CODEC_U64, T, settled),
    FIELD(29, CODEC_I64, T, resolved),
    FIELD(30, CODEC_STR, T, resolved_by),
    FIELD(31, CODEC_STR, T, resolve_reason),
    FIELD(32, CODEC_I64, T, first_bounced),
    FIELD(33, CODEC_IDVEC, T, sent),
    FIELD(34, CODEC_IDVEC, T, notes),
    FIELD(40, CODEC_STR, T, claim_agent),
    FIELD(41, CODEC_I64, T, claim_since),
    FIELD(42, CODEC_I64, T, claim_until),
    FIELD(55, CODEC_STRVEC, T, escalated_stages),
};
static const struct codec_field thread_link_fields[] = {
    FIELD(2, CODEC_U64, T, merged_into),
};
#undef T
const struct codec_table codec_thread = TABLE("thread", struct store_thread, thread_fields);
const struct codec_table codec_thread_link =
    PART("thread", struct store_thread, thread_link_fields);

static const struct codec_field file_fields[] = {
    FIELD(1, CODEC_STR, struct store_file, name),
    FIELD(2, CODEC_STR, struct store_file, content_type),
    FIELD(3, CODEC_U64, struct store_file, size),
    FIELD(4, CODEC_U32, struct store_file, seq),
    FIELD(5, CODEC_STR, struct store_file, rule),
};
static const struct codec_table codec_file = TABLE("file", struct store_file, file_fields);

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
    ARRAY(37, D, reply_to_held.v, reply_to_held.n, codec_addr),
    FIELD(38, CODEC_U64, D, cc_withheld),
    FIELD(39, CODEC_STR, D, last_editor_os),
    FIELD(40, CODEC_U64, D, resend_of),
    FIELD(41, CODEC_STR, D, bounce),
    FIELD(50, CODEC_STRVEC, D, lookup_failures),
    FIELD(60, CODEC_STRVEC, D, captures),
    FIELD(61, CODEC_I64, D, promised),
    FIELD(62, CODEC_STR, D, promise),
    FIELD(63, CODEC_IDVEC, D, digest),
    FIELD(64, CODEC_U64, D, composed),
    FIELD(65, CODEC_INT, D, stale_why),
    FIELD(70, CODEC_STR, D, undo_body),
    FIELD(71, CODEC_I64, D, undo_queued),
    FIELD(72, CODEC_I64, D, undo_until),
    FIELD(73, CODEC_STR, D, undo_error),
    FIELD(80, CODEC_STRVEC, D, parts_added),
    FIELD(81, CODEC_STRVEC, D, parts_removed),
    FIELD(82, CODEC_STR, D, recipients_by),
    ARRAY(90, D, files, nfiles, codec_file),
    FIELD(91, CODEC_U32, D, file_seq),
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

#define N struct store_note
static const struct codec_field note_fields[] = {
    FIELD(1, CODEC_U64, N, id),    FIELD(2, CODEC_U64, N, thread),  FIELD(3, CODEC_I64, N, created),
    FIELD(4, CODEC_STR, N, agent), FIELD(5, CODEC_STR, N, os_user), FIELD(6, CODEC_STR, N, text),
};
#undef N
const struct codec_table codec_note = TABLE("note", struct store_note, note_fields);

static const struct codec_field msgid_fields[] = {
    FIELD(1, CODEC_U64, struct store_msgid, message),
    FIELD(2, CODEC_U64, struct store_msgid, thread),
    FIELD(3, CODEC_U64, struct store_msgid, draft),
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

/* Decoding: straight from the bytes, without msgpack's object tree (most of the cost of
 * reading a record was building it). Only when a record turns out bad is it read a second
 * time, to report what is wrong with it as MessagePack first, as before. */

/* Deeper nesting than any record has (msgpack-c's limit too): a record that nests more is not
 * one of ours. */
#define MAX_DEPTH 32

struct rd {
	const unsigned char *p, *end;
	int depth; /* maps and arrays open around the value being read */
};

enum rd_kind { RD_NIL, RD_BOOL, RD_UINT, RD_NINT, RD_STR, RD_ARRAY, RD_MAP, RD_OTHER };

/* One value's head, decoded: its kind, and its number, length or element count. */
struct rd_head {
	enum rd_kind kind;
	uint64_t u; /* RD_UINT; RD_BOOL 0/1; RD_STR bytes; RD_ARRAY, RD_MAP elements;
	             * RD_OTHER bytes of payload to skip */
	int64_t i;  /* RD_NINT */
};

static int fail(struct codec_error *e, const char *what)
{
	snprintf(e->what, sizeof(e->what), "%s", what);
	return -1;
}

/* The next n bytes, big-endian, as a number; false when the record ends first. */
static bool rd_be(struct rd *r, size_t n, uint64_t *v)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | *r->p++;
	return true;
}

static bool rd_signed(struct rd *r, size_t n, struct rd_head *h)
{
	uint64_t v;
	if (!rd_be(r, n, &v))
		return false;
	int64_t i = n == 8 ? (int64_t)v : (int64_t)(v << (64 - 8 * n)) >> (64 - 8 * n);
	/* As msgpack-c classifies them: a signed encoding of a value >= 0 is a positive integer. */
	h->kind = i < 0 ? RD_NINT : RD_UINT;
	h->i = i;
	h->u = (uint64_t)i;
	return true;
}

/* Sizes of the heads from 0xc4 to 0xdf: of the length field or the number that follows. */
static const unsigned char head_bytes[] = {
    1, 2, 4,        /* bin 8/16/32 */
    1, 2, 4,        /* ext 8/16/32 (length; the type byte is payload) */
    4, 8,           /* float 32/64 */
    1, 2, 4, 8,     /* uint */
    1, 2, 4, 8,     /* int */
    1, 2, 4, 8, 16, /* fixext 1-16 (payload, after the type byte) */
    1, 2, 4,        /* str 8/16/32 */
    2, 4, 2, 4,     /* array 16/32, map 16/32 */
};

static bool rd_sized(struct rd *r, unsigned char c, struct rd_head *h)
{
	size_t n = head_bytes[c - 0xc4];
	if (c >= 0xd0 && c <= 0xd3)
		return rd_signed(r, n, h);
	if ((c >= 0xca && c <= 0xcb) || (c >= 0xd4 && c <= 0xd8)) { /* float, fixext */
		h->kind = RD_OTHER;
		h->u = n + (c >= 0xd4);
		return true;
	}
	uint64_t v;
	if (!rd_be(r, n, &v))
		return false;
	h->u = v;
	if (c <= 0xc6)
		h->kind = RD_STR; /* bin: read as a string, as before */
	else if (c <= 0xc9)
		h->kind = RD_OTHER, h->u = v + 1;
	else if (c <= 0xcf)
		h->kind = RD_UINT;
	else if (c <= 0xdb)
		h->kind = RD_STR;
	else
		h->kind = c <= 0xdd ? RD_ARRAY : RD_MAP;
	return true;
}

/* Reads the head of the next value; -1 truncated, -2 not MessagePack. */
static int rd_head(struct rd *r, struct rd_head *h)
{
	if (r->p >= r->end)
		return -1;
	unsigned char c = *r->p++;
	if (c <= 0x7f || c >= 0xe0) {
		h->kind = c <= 0x7f ? RD_UINT : RD_NINT;
		h->u = c;
		h->i = (int8_t)c;
		return 0;
	}
	if (c <= 0xbf) {
		h->kind = c <= 0x8f ? RD_MAP : c <= 0x9f ? RD_ARRAY : RD_STR;
		h->u = c & (c <= 0x9f ? 0x0f : 0x1f);
		return 0;
	}
	if (c == 0xc1)
		return -2;
	if (c <= 0xc3) {
		h->kind = c == 0xc0 ? RD_NIL : RD_BOOL;
		h->u = c == 0xc3;
		return 0;
	}
	return rd_sized(r, c, h) ? 0 : -1;
}

/* Steps over the bytes a string or other payload holds. */
static bool rd_payload(struct rd *r, const struct rd_head *h)
{
	if ((h->kind != RD_STR && h->kind != RD_OTHER) || h->u == 0)
		return true;
	if ((uint64_t)(r->end - r->p) < h->u)
		return false;
	r->p += h->u;
	return true;
}

/* Steps over one whole value; -1 truncated, -2 not MessagePack (or nested too deep). */
static int rd_skip(struct rd *r, int depth)
{
	struct rd_head h;
	int rc = rd_head(r, &h);
	if (rc < 0)
		return rc;
	if (h.kind == RD_ARRAY || h.kind == RD_MAP) {
		if (depth >= MAX_DEPTH && h.u > 0) /* as msgpack-c: only a non-empty one nests */
			return -2;
		uint64_t n = h.kind == RD_MAP ? 2 * h.u : h.u;
		for (uint64_t i = 0; i < n; i++)
			if ((rc = rd_skip(r, depth + 1)) < 0)
				return rc;
		return 0;
	}
	return rd_payload(r, &h) ? 0 : -1;
}

static bool get_u64(const struct rd_head *h, uint64_t max, uint64_t *v)
{
	if (h->kind != RD_UINT || h->u > max)
		return false;
	*v = h->u;
	return true;
}

static bool get_i64(const struct rd_head *h, int64_t min, int64_t max, int64_t *v)
{
	if (h->kind == RD_NINT)
		*v = h->i;
	else if (h->kind == RD_UINT && h->u <= INT64_MAX)
		*v = (int64_t)h->u;
	else
		return false;
	return *v >= min && *v <= max;
}

/* A copy of the string whose head is h, as a C string; NULL when it is not a string or the
 * record ends first. */
static char *dup_string(struct rd *r, const struct rd_head *h)
{
	if (h->kind != RD_STR || (uint64_t)(r->end - r->p) < h->u)
		return NULL;
	char *s = xmalloc(h->u + 1);
	if (h->u)
		memcpy(s, r->p, h->u);
	s[h->u] = '\0';
	r->p += h->u;
	return s;
}

/* The next value's head; -1 (with e set) when it is not there. */
static int next(struct rd *r, struct rd_head *h, struct codec_error *e)
{
	return rd_head(r, h) == 0 ? 0 : fail(e, "not a whole record");
}

static int decode_map(const struct codec_table *t, struct rd *r, const struct rd_head *h, char *rec,
                      struct codec_error *e);

static int decode_strvec(struct rd *r, const struct rd_head *h, struct strvec *sv,
                         struct codec_error *e)
{
	if (h->kind != RD_ARRAY)
		return fail(e, "expected an array of strings");
	for (uint64_t i = 0; i < h->u; i++) {
		struct rd_head eh;
		if (next(r, &eh, e) < 0)
			return -1;
		char *s = dup_string(r, &eh);
		if (s == NULL)
			return fail(e, "expected a string in the array");
		strvec_push_owned(sv, s);
	}
	return 0;
}

static int decode_idvec(struct rd *r, const struct rd_head *h, struct idvec *iv,
                        struct codec_error *e)
{
	uint64_t id;
	if (h->kind != RD_ARRAY)
		return fail(e, "expected an array of ids");
	for (uint64_t i = 0; i < h->u; i++) {
		struct rd_head eh;
		if (next(r, &eh, e) < 0)
			return -1;
		if (!get_u64(&eh, UINT64_MAX, &id))
			return fail(e, "expected an id in the array");
		idvec_push(iv, id);
	}
	return 0;
}

static int decode_records(const struct codec_field *f, struct rd *r, const struct rd_head *h,
                          char *rec, struct codec_error *e)
{
	if (h->kind != RD_ARRAY)
		return fail(e, "expected an array of maps");
	size_t n = h->u;
	if (n > (size_t)(r->end - r->p)) /* not before allocating for them: each takes a byte */
		return fail(e, "not a whole record");
	char *v = n ? xcalloc(n, f->sub->size) : NULL;
	/* Set before decoding the elements so that a failure frees what was decoded. */
	*(char **)(void *)(rec + f->off) = v;
	*(size_t *)(void *)(rec + f->aux) = n;
	r->depth++;
	for (size_t i = 0; i < n; i++) {
		struct rd_head eh;
		if (next(r, &eh, e) < 0 || decode_map(f->sub, r, &eh, v + i * f->sub->size, e) < 0)
			return -1;
	}
	r->depth--;
	return 0;
}

static int decode_int(const struct codec_field *f, const struct rd_head *h, void *p,
                      struct codec_error *e)
{
	uint64_t u;
	int64_t i;
	bool ok = false;
	switch ((enum codec_kind)f->kind) {
	case CODEC_U64:
		ok = get_u64(h, UINT64_MAX, p);
		break;
	case CODEC_SIZE:
		if ((ok = get_u64(h, SIZE_MAX, &u)))
			*(size_t *)p = (size_t)u;
		break;
	case CODEC_U32:
		if ((ok = get_u64(h, UINT32_MAX, &u)))
			*(uint32_t *)p = (uint32_t)u;
		break;
	case CODEC_I64:
		ok = get_i64(h, INT64_MIN, INT64_MAX, p);
		break;
	case CODEC_INT:
		if ((ok = get_i64(h, INT_MIN, INT_MAX, &i)))
			*(int *)p = (int)i;
		break;
	default:
		break;
	}
	return ok ? 0 : fail(e, "expected an integer in range");
}

static int decode_value(const struct codec_field *f, struct rd *r, const struct rd_head *h,
                        char *rec, struct codec_error *e)
{
	void *p = rec + f->off;
	/* A key seen twice must not leak its first value. */
	clear_field(f, rec);
	if (h->kind == RD_NIL)
		return 0;
	switch ((enum codec_kind)f->kind) {
	case CODEC_BOOL:
		if (h->kind != RD_BOOL)
			return fail(e, "expected a boolean");
		*(bool *)p = h->u != 0;
		return 0;
	case CODEC_STR:
		if ((*(char **)p = dup_string(r, h)) == NULL)
			return fail(e, "expected a string");
		return 0;
	case CODEC_STRVEC:
		return decode_strvec(r, h, p, e);
	case CODEC_IDVEC:
		return decode_idvec(r, h, p, e);
	case CODEC_RECORD:
		return decode_map(f->sub, r, h, p, e);
	case CODEC_RECORDS:
		return decode_records(f, r, h, rec, e);
	default:
		return decode_int(f, h, p, e);
	}
}

/* The field for key, looked for from *at on: records are written in table order, so it is
 * usually the next one. */
static const struct codec_field *find_field(const struct codec_table *t, uint64_t key, size_t *at)
{
	for (size_t n = 0; n < t->nfields; n++) {
		size_t i = (*at + n) % t->nfields;
		if (t->fields[i].key == key) {
			*at = i + 1;
			return &t->fields[i];
		}
	}
	return NULL;
}

/* Steps over a value whose head was read: a value this build has no field for. */
static int skip_rest(struct rd *r, const struct rd_head *h, struct codec_error *e)
{
	uint64_t n = h->kind == RD_MAP ? 2 * h->u : h->kind == RD_ARRAY ? h->u : 0;
	if ((n == 0 && !rd_payload(r, h)) || (n > 0 && r->depth >= MAX_DEPTH))
		return fail(e, "not a whole record");
	for (uint64_t i = 0; i < n; i++)
		if (rd_skip(r, r->depth + 1) < 0)
			return fail(e, "not a whole record");
	return 0;
}

static int decode_map(const struct codec_table *t, struct rd *r, const struct rd_head *h, char *rec,
                      struct codec_error *e)
{
	if (h->kind != RD_MAP)
		return fail(e, "expected a map");
	size_t at = 0, found = 0;
	uint64_t seen = 0; /* a partial table's fields found (they are few) */
	r->depth++;
	for (uint64_t i = 0; i < h->u && !(t->partial && found == t->nfields); i++) {
		struct rd_head kh, vh;
		if (next(r, &kh, e) < 0)
			return -1;
		/* Keys this build does not know (or not integers at all) belong to a newer tend. */
		const struct codec_field *f = kh.kind == RD_UINT ? find_field(t, kh.u, &at) : NULL;
		if ((f == NULL && skip_rest(r, &kh, e) < 0) || next(r, &vh, e) < 0)
			return -1;
		if (f == NULL) {
			if (skip_rest(r, &vh, e) < 0)
				return -1;
			continue;
		}
		if (decode_value(f, r, &vh, rec, e) < 0) {
			/* Set on the way out, so the report names the top-level key. */
			e->field = f->key;
			return -1;
		}
		size_t bit = (size_t)(f - t->fields) % 64;
		found += !(seen >> bit & 1);
		seen |= (uint64_t)1 << bit;
	}
	r->depth--;
	return 0;
}

/* What is wrong with a record as MessagePack, if anything: reported before what is wrong with
 * its fields. */
static bool not_whole(const unsigned char *p, size_t len, struct codec_error *e)
{
	struct rd r = {p, p + len, 0};
	int rc = rd_skip(&r, 0);
	if (rc == 0 && r.p == r.end)
		return false;
	e->field = 0;
	fail(e, rc == -1 ? "record is truncated"
	        : rc < 0 ? "not MessagePack"
	                 : "bytes after the record");
	return true;
}

int codec_decode(const struct codec_table *t, const void *data, size_t len, void *rec,
                 struct codec_error *e)
{
	const unsigned char *p = data;
	e->field = 0;
	e->what[0] = '\0';
	if (len == 0)
		return fail(e, "empty record");
	if (p[0] != CODEC_RECORD_VERSION) {
		snprintf(e->what, sizeof(e->what), "unknown record version %u", p[0]);
		return -1;
	}
	struct rd r = {p + 1, p + len, 0};
	struct rd_head h;
	/* A partial table stops reading where its last field was: the rest is not looked at. */
	if (next(&r, &h, e) == 0 && decode_map(t, &r, &h, rec, e) == 0 &&
	    (t->partial || r.p == r.end))
		return 0;
	not_whole(p + 1, len - 1, e);
	codec_clear(t, rec);
	return -1;
}
