/*
 * import: feeding files to the ingest pipeline. A path may be a directory (walked recursively:
 * maildirs, MH-style folders or plain directories of messages), an mbox file, or a single
 * message (.eml, a maildir file). Nothing is skipped silently: an unreadable file is reported
 * and counted.
 */
#ifndef TEND_IMPORT_H
#define TEND_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tend/ingest.h"

struct import_options {
	bool progress;         /* redraw a progress line on stderr (for a terminal) */
	size_t batch_messages; /* messages per write transaction; 0: the default (1000) */
	bool sent;             /* the files are our sent mail: ours where from our addresses */
	/* Called after each batch is committed (may be NULL), with committed_arg. */
	void (*committed)(void *arg);
	void *committed_arg;
};

struct import_report {
	uint64_t files;      /* files read */
	uint64_t messages;   /* messages found in them */
	uint64_t unreadable; /* files or directories that could not be read */
	double seconds;
};

/*
 * Imports every path through in. Returns 0 when all was read and stored (unreadable files
 * included in the report make it return 1), or a negative store code when the store failed
 * (work up to the last committed batch is kept).
 */
int import_paths(struct ingest *in, char *const *paths, size_t npaths,
                 const struct import_options *opt, struct import_report *rep);

/* One message found in an mbox: its bytes inside the mbox buffer (no From_ line). */
struct mbox_entry {
	const char *data;
	size_t len;
};

/*
 * Splits an mbox held in memory: a message starts at a "From " line that carries a sender and
 * a time of day, or a lone envelope sender (an address, "-", MAILER-DAEMON), and is followed by
 * a header line or an empty header. So body lines that archives forgot to escape, such as
 * "From Russia with love" or "From WRE:", do not split a message. Calls fn for each message, in order;
 * fn returns nonzero to stop, which becomes the return value. ">From " lines are unescaped
 * (mboxrd) into scratch copies only when a message contains one.
 */
int mbox_split(const char *data, size_t len, int (*fn)(const struct mbox_entry *, void *),
               void *arg);

/* True when data begins (after an optional UTF-8 BOM) with an mbox From_ line. */
bool mbox_detect(const char *data, size_t len);

#endif
