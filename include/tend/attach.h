/*
 * attach: files that go out with a reply. Reading one from disk (a regular file, never more
 * than a limit, and for a rule's file never through a symbolic link), the name it is sent
 * under and its content type. Pure but for attach_read.
 */
#ifndef TEND_ATTACH_H
#define TEND_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The attachments of one draft in all, in bytes, when tend.yaml does not say (limits). */
#define ATTACH_DEFAULT_MAX ((int64_t)10 << 20)
/* The longest name a file is sent under, in bytes (a longer one is cut, keeping UTF-8). */
#define ATTACH_NAME_MAX 200

/*
 * The name a file at path is sent under: its last component, as UTF-8 (invalid bytes become
 * U+FFFD), control characters, '/', '\' and quotes made "_", cut to ATTACH_NAME_MAX bytes
 * keeping its extension. Caller frees; "attachment" when nothing is left.
 */
char *attach_name(const char *path);

/*
 * The content type of a file called name holding data[0..len): from the extension, among a
 * few common ones; a text type only when the data is UTF-8 without NUL bytes;
 * "application/octet-stream" when unsure. A static string.
 */
const char *attach_content_type(const char *name, const char *data, size_t len);

/* attach_read's answer for a file of more than max bytes (*err is not set then). */
#define ATTACH_TOO_BIG (-2)

/*
 * Reads the regular file at path (with nofollow, refusing a symbolic link as its last
 * component) into *data (caller frees) and *len. Returns 0; ATTACH_TOO_BIG when it has more
 * than max bytes; or -1 with *err, one line naming path and the reason (caller frees).
 */
int attach_read(const char *path, bool nofollow, int64_t max, char **data, size_t *len, char **err);

#endif
