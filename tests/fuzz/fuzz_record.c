/*
 * fuzz: the store's record decoder, which reads MessagePack itself. The first byte picks the
 * kind of record, the rest is the stored value. Decoding must not crash or leak; it must call
 * the bytes well-formed exactly when msgpack-c reads them as one whole object (after the
 * version byte); and a record it accepts, written again, must read back to the same bytes.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store_codec.h"
#include "fuzz.h"
#include "tend/util.h"

static const struct codec_table *const tables[] = {
    &codec_message, &codec_thread, &codec_msgid,       &codec_cursor,  &codec_status,
    &codec_draft,   &codec_audit,  &codec_thread_link, &codec_subject,
};

/*
 * What msgpack-c makes of the record's bytes after the version byte; -1 when it cannot be
 * asked: it allocates for the element count an array or map declares before it looks for the
 * elements (tend's reader does not), so a 32-bit count (0xdd, 0xdf) anywhere could make it
 * ask for gigabytes.
 */
static int msgpack_whole(const uint8_t *data, size_t size)
{
	if (size == 0 || data[0] != CODEC_RECORD_VERSION)
		return 0;
	if (memchr(data, 0xdd, size) || memchr(data, 0xdf, size))
		return -1;
	msgpack_zone zone;
	msgpack_object o;
	size_t off = 0;
	msgpack_zone_init(&zone, 1024);
	bool whole = msgpack_unpack((const char *)data + 1, size - 1, &off, &zone, &o) ==
	             MSGPACK_UNPACK_SUCCESS;
	msgpack_zone_destroy(&zone);
	return whole;
}

/* Errors about the bytes as MessagePack, not about what a field holds. */
static bool malformed(const struct codec_error *e)
{
	static const char *const whole[] = {"empty record", "record is truncated",
	                                    "not MessagePack", "bytes after the record"};
	for (size_t i = 0; i < NELEM(whole); i++)
		if (strcmp(e->what, whole[i]) == 0)
			return true;
	return strncmp(e->what, "unknown record version", 22) == 0;
}

/* Writes rec, reads it back and writes that again: the two encodings must be the same. */
static void round_trip(const struct codec_table *t, const void *rec)
{
	struct buf once = BUF_INIT, twice = BUF_INIT;
	struct codec_error e;
	codec_encode(&once, t, rec);
	void *again = xcalloc(1, t->size);
	if (codec_decode(t, once.data, once.len, again, &e) < 0)
		abort();
	codec_encode(&twice, t, again);
	if (once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0)
		abort();
	codec_clear(t, again);
	free(again);
	buf_free(&once);
	buf_free(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const struct codec_table *t = tables[data[0] % NELEM(tables)];
	data++, size--;
	void *rec = xcalloc(1, t->size);
	struct codec_error e;
	int rc = codec_decode(t, data, size, rec, &e);
	int whole = msgpack_whole(data, size);
	/* A partial table stops reading after its fields: what follows may be anything. */
	if (whole >= 0 && (rc == 0 || !malformed(&e)) != whole && !(t->partial && rc == 0))
		abort();
	if (rc == 0) {
		round_trip(t, rec);
		codec_clear(t, rec);
	}
	free(rec);
	return 0;
}
