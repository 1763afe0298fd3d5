/*
 * yamlutil: walking a libyaml document with positions, for files that operators write
 * (tend.yaml, rules.yaml).
 *
 * Every problem becomes a diagnostic "file:line:column: message" (1-based) in the caller's
 * diags, and walking goes on after a problem so that a check reports all of them. A mapping is
 * walked against a table of known keys: unknown keys (with a did-you-mean suggestion), duplicate
 * keys and missing required keys are reported by the walker; each known key's value goes to
 * its handler. Generic handlers store strings, paths, booleans, integers, durations, sizes and
 * string lists at an offset into the caller's struct.
 *
 * Messages name values the way an operator wrote them: `"port" must be an integer from 1 to
 * 65535, not "imap"`.
 */
#ifndef TEND_YAMLUTIL_H
#define TEND_YAMLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "tend/util.h"

struct yamlutil_doc {
	yaml_document_t doc;
	bool loaded;         /* doc holds a document that yamlutil_finish must delete */
	yaml_node_t *root;   /* NULL for an empty file */
	char *file;          /* the path as given, for messages */
	char *dir;           /* the file's directory, absolute; relative paths resolve here */
	struct diags *diags; /* where problems go (not owned) */
	void *user;          /* the caller's, for handlers that need more than their obj */
	char *text;          /* the file's bytes, for positions inside values */
	size_t len;
};

/*
 * How deep mappings and lists may nest in a file: far beyond what tend.yaml or rules.yaml need
 * (rules nest conditions at most 64 deep, two levels each), and refused before a tree is built.
 */
#define YAMLUTIL_MAX_DEPTH 200

/*
 * Reads and parses the file at path. Returns 0 with y->root set (NULL when the file holds no
 * document), or -1 after adding one diagnostic: "FILE: cannot read: <strerror>", the YAML
 * syntax error "FILE:LINE:COL: <problem> (<context>)" or, where mappings and lists nest deeper
 * than YAMLUTIL_MAX_DEPTH, "FILE:LINE:COL: mappings and lists nest deeper than 200 levels
 * here". Either way y must be released with yamlutil_finish.
 */
int yamlutil_load(struct yamlutil_doc *y, const char *path, struct diags *diags);

/* Releases the document; safe on a zeroed or half-loaded y. */
void yamlutil_finish(struct yamlutil_doc *y);

/* Adds a diagnostic at the node's start (NULL node: at the file, with no position). */
void yamlutil_error(struct yamlutil_doc *y, const yaml_node_t *n, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

/*
 * Reports "SUBJECT must be EXPECTED, not WHAT-IT-IS" at n. subject is already formatted, e.g.
 * "\"port\"" or "each entry of \"folders\"".
 */
void yamlutil_type_error(struct yamlutil_doc *y, const yaml_node_t *n, const char *subject,
                         const char *expected);

/*
 * The 1-based line and column in the file of byte `offset` of a scalar's value (the value as
 * libyaml decoded it), for problems inside a value such as a bad regex. Exact for plain and
 * quoted scalars on one line ('' and escapes in "..." are followed); across folded lines and
 * in block scalars it is as close as the folding allows.
 */
void yamlutil_scalar_pos(const struct yamlutil_doc *y, const yaml_node_t *n, size_t offset,
                         int *line, int *column);

/* Appends a short, quoted, single-line rendering of a scalar (long values are cut). */
void yamlutil_quote(struct buf *b, const char *s);

/* The node with that index, or NULL. */
yaml_node_t *yamlutil_node(struct yamlutil_doc *y, int index);

/* A scalar's text (valid while the document is), or NULL for a mapping or list. */
const char *yamlutil_scalar(const yaml_node_t *n);

/* True for a plain empty value: nothing at all, ~ or null. */
bool yamlutil_is_null(const yaml_node_t *n);

/* The value of key in the mapping (the first, if it is repeated), or NULL. */
yaml_node_t *yamlutil_map_get(struct yamlutil_doc *y, const yaml_node_t *map, const char *key);

/* Number of entries of a list (0 for anything else) and the i-th one. */
size_t yamlutil_seq_len(const yaml_node_t *seq);
yaml_node_t *yamlutil_seq_item(struct yamlutil_doc *y, const yaml_node_t *seq, size_t i);

/*
 * Checks that n is a list; a null value counts as an empty list, since operators comment out
 * every entry and leave the key. Reports a type error naming "name" otherwise.
 */
bool yamlutil_expect_seq(struct yamlutil_doc *y, const yaml_node_t *n, const char *name);

/* The candidate closest to word when it is close enough to be a likely typo, else NULL. */
const char *yamlutil_suggest(const char *word, const char *const *cands, size_t n);

struct yamlutil_key;

/*
 * Handles one key's value. obj is the walker's obj argument; key is the key node, val its
 * value. Returns 0, or -1 after reporting a problem.
 */
typedef int yamlutil_handler(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                             yaml_node_t *val, void *obj);

enum {
	YAMLUTIL_REQUIRED = 1 << 0, /* reported when missing */
	YAMLUTIL_HIDDEN = 1 << 1,   /* handled but not offered in "expected one of" (password) */
};

struct yamlutil_key {
	const char *name;
	yamlutil_handler *fn;
	size_t offset;      /* where the generic handlers store the value, in obj */
	unsigned flags;     /* YAMLUTIL_REQUIRED, YAMLUTIL_HIDDEN */
	long long min, max; /* bounds for yamlutil_set_int; min for durations and sizes */
};

/*
 * Walks a mapping against keys. where names the mapping in messages ("the top level",
 * "\"imap\" of account \"support\""). A null value is walked as an empty mapping; anything
 * else that is not a mapping is a type error named by subject (NULL: where). Returns the
 * number of problems reported during the walk.
 */
size_t yamlutil_walk(struct yamlutil_doc *y, yaml_node_t *map, const struct yamlutil_key *keys,
                     size_t nkeys, void *obj, const char *where, const char *subject);

/*
 * Where a handler stores k's value: obj + k->offset, as void * because the table knows the
 * member's type and so its alignment (a cast from char * would make compilers doubt it).
 */
void *yamlutil_field(const struct yamlutil_key *k, void *obj);

/* Generic handlers; each stores at obj + k->offset. */
yamlutil_handler yamlutil_set_string;   /* char *, replaced; empty is an error */
yamlutil_handler yamlutil_set_path;     /* char *, made absolute against y->dir */
yamlutil_handler yamlutil_set_bool;     /* bool: true/false, yes/no, on/off */
yamlutil_handler yamlutil_set_int;      /* int64_t within [k->min, k->max] */
yamlutil_handler yamlutil_set_duration; /* int64_t seconds, at least k->min */
yamlutil_handler yamlutil_set_size;     /* int64_t bytes (10M, 512K, 1G, 4096), at least k->min */
yamlutil_handler yamlutil_set_strlist;  /* struct strvec, replaced; k->min 1: not empty */

/*
 * Typed getters behind the handlers, for values outside a key table. name is unquoted. A
 * string points into the document: copy it before yamlutil_finish.
 */
int yamlutil_get_string(struct yamlutil_doc *y, const yaml_node_t *n, const char *name,
                        const char **out);
int yamlutil_get_int(struct yamlutil_doc *y, const yaml_node_t *n, const char *name, long long min,
                     long long max, int64_t *out);

/* Parses "10M", "512K", "1G" or a plain number of bytes; returns 0 or -1. */
int yamlutil_parse_size(const char *s, int64_t *bytes);

/*
 * Sorts d->v[from..] by line and column, keeping the order of problems at one place: walks
 * find cross-key problems after the keys, and operators read a file top to bottom.
 */
void yamlutil_sort_diags(struct diags *d, size_t from);

/* Returns path made absolute against dir (a copy when it already is); caller frees. */
char *yamlutil_resolve(const char *dir, const char *path);

#endif
