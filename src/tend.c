/*
 * tend: the command agents and operators type. Argument parsing and wiring only; the work is
 * done by the modules.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend/config.h"
#include "tend/import.h"
#include "tend/ingest.h"
#include "tend/json.h"
#include "tend/store.h"
#include "tend/view.h"

#define EXIT_USAGE 2

struct ctx {
	const char *config_path;
	struct config *config;
	struct store *store;
};

struct command {
	const char *name;
	int (*run)(struct ctx *c, int argc, char **argv);
	const char *args;
	const char *help;
};

static const struct command commands[];

static void usage(FILE *f)
{
	fprintf(f, "usage: tend [-c CONFIG] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-8s %-32s %s\n", c->name, c->args, c->help);
	fprintf(f, "\nCONFIG defaults to $TEND_CONFIG, else /etc/tend/tend.yaml.\n");
}

static int usage_error(const char *cmd, const char *fmt, ...) ATTR_PRINTF(2, 3);

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "tend%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	for (const struct command *c = commands; cmd && c->name; c++)
		if (strcmp(c->name, cmd) == 0)
			fprintf(stderr, "usage: tend %s %s\n", c->name, c->args);
	if (!cmd)
		fprintf(stderr, "Try 'tend --help'.\n");
	return EXIT_USAGE;
}

/* Prints a command's usage to stdout; the caller exits with status 0 (HELP_SHOWN). */
#define HELP_SHOWN (-100)
static int command_help(const char *cmd)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, cmd) == 0)
			printf("usage: tend %s %s\n%s\n", c->name, c->args, c->help);
	return HELP_SHOWN;
}

static int load_config(struct ctx *c)
{
	struct diags d = DIAGS_INIT;
	if (config_load(c->config_path, &c->config, &d) < 0) {
		diags_print(&d);
		diags_free(&d);
		return -1;
	}
	diags_free(&d);
	return 0;
}

static int open_store(struct ctx *c, bool readonly)
{
	if (load_config(c) < 0)
		return -1;
	struct store_options so = {.readonly = readonly, .group = c->config->group};
	char *err = NULL;
	if (store_open(c->config->store, &so, &c->store, &err) < 0) {
		log_warnx("%s", err ? err : "cannot open the store");
		free(err);
		return -1;
	}
	return 0;
}

/* Parses a command's own options; only --json (and -h) are shared by the listings. */
static int parse_json_flag(const char *cmd, int argc, char **argv, bool *json, int *optind_out)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 0; /* 0: GNU getopt starts afresh, permuting options after operands */
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'j')
			*json = true;
		else if (ch == 'h')
			return command_help(cmd);
		else
			return usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
	}
	*optind_out = optind;
	return 0;
}

static void print_import_summary(const struct import_report *r, const struct ingest_stats *s,
                                 bool json)
{
	if (json) {
		struct json j;
		json_init(&j, false);
		json_object_begin(&j);
		json_key(&j, "files");
		json_int(&j, (int64_t)r->files);
		json_key(&j, "messages");
		json_int(&j, (int64_t)r->messages);
		json_key(&j, "stored");
		json_int(&j, (int64_t)s->stored);
		json_key(&j, "duplicates");
		json_int(&j, (int64_t)s->duplicates);
		json_key(&j, "quarantined");
		json_int(&j, (int64_t)s->quarantined);
		json_key(&j, "threads_touched");
		json_int(&j, (int64_t)s->threads_touched);
		json_key(&j, "threads_created");
		json_int(&j, (int64_t)s->threads_created);
		json_key(&j, "unreadable");
		json_int(&j, (int64_t)r->unreadable);
		json_key(&j, "seconds");
		json_double(&j, r->seconds);
		json_object_end(&j);
		json_flush_stdout(&j);
		json_finish(&j);
		return;
	}
	printf("Imported %llu message%s from %llu file%s in %.2f s.\n",
	       (unsigned long long)r->messages, r->messages == 1 ? "" : "s",
	       (unsigned long long)r->files, r->files == 1 ? "" : "s", r->seconds);
	printf("  stored        %llu\n", (unsigned long long)s->stored);
	printf("  duplicates    %llu (already in the store: skipped)\n",
	       (unsigned long long)s->duplicates);
	printf("  quarantined   %llu%s\n", (unsigned long long)s->quarantined,
	       s->quarantined ? " (kept raw: see `tend threads --quarantined`)" : "");
	printf("  threads       %llu touched, %llu new\n", (unsigned long long)s->threads_touched,
	       (unsigned long long)s->threads_created);
	if (r->unreadable)
		printf("  unreadable    %llu (see the messages above)\n",
		       (unsigned long long)r->unreadable);
}

static int cmd_import(struct ctx *c, int argc, char **argv)
{
	bool json = false;
	int first;
	int rc = parse_json_flag("import", argc, argv, &json, &first);
	if (rc)
		return rc;
	if (first >= argc)
		return usage_error("import", "%s", "no PATH given");
	if (open_store(c, false) < 0)
		return 1;
	struct ingest *in = ingest_new(c->store, c->config);
	struct import_options opt = {.progress = !json && isatty(STDERR_FILENO)};
	struct import_report rep;
	rc = import_paths(in, argv + first, (size_t)(argc - first), &opt, &rep);
	if (rc < 0)
		log_warnx("import stopped: %s; everything before this batch is stored",
		          store_strerror(rc));
	print_import_summary(&rep, ingest_stats(in), json);
	ingest_free(in);
	return rc == 0 ? 0 : 1;
}

static int with_read_txn(struct ctx *c, struct store_txn **t)
{
	if (open_store(c, true) < 0)
		return -1;
	int rc = store_begin(c->store, false, t);
	if (rc < 0) {
		log_warnx("cannot read the store: %s", store_strerror(rc));
		return -1;
	}
	return 0;
}

static int cmd_threads(struct ctx *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"quarantined", no_argument, NULL, 'q'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false, quarantined = false;
	int ch;
	optind = 0; /* 0: GNU getopt starts afresh, permuting options after operands */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'q')
			quarantined = true;
		else
			return usage_error("threads", "unknown option \"%s\"", argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error("threads", "unexpected argument \"%s\"", argv[optind]);
	struct store_txn *t;
	if (with_read_txn(c, &t) < 0)
		return 1;
	struct view_options o;
	view_options_detect(&o, json);
	int rc = quarantined ? view_quarantined(t, &o, stdout) : view_threads(t, &o, stdout);
	store_abort(t);
	if (rc < 0)
		log_warnx("cannot list threads: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* A thread id as agents type it: digits, optionally with a leading '#'. */
static int parse_thread_id(const char *s, uint64_t *id)
{
	if (*s == '#')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return -1;
	*id = v;
	return 0;
}

static int cmd_show(struct ctx *c, int argc, char **argv)
{
	bool json = false;
	int first;
	int rc = parse_json_flag("show", argc, argv, &json, &first);
	if (rc)
		return rc;
	if (argc - first != 1)
		return usage_error("show", "%s", "expected one thread ID");
	uint64_t id;
	if (parse_thread_id(argv[first], &id) < 0)
		return usage_error("show", "\"%s\" is not a thread ID", argv[first]);
	struct store_txn *t;
	if (with_read_txn(c, &t) < 0)
		return 1;
	struct view_options o;
	view_options_detect(&o, json);
	rc = view_show(t, id, &o, stdout);
	store_abort(t);
	if (rc == STORE_NOTFOUND)
		log_warnx("no thread %llu", (unsigned long long)id);
	else if (rc < 0)
		log_warnx("cannot show thread %llu: %s", (unsigned long long)id,
		          store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* Writes a stored message exactly as it was received, e.g. to inspect a quarantined one. */
static int cmd_raw(struct ctx *c, int argc, char **argv)
{
	bool json = false;
	int first;
	int rc = parse_json_flag("raw", argc, argv, &json, &first);
	if (rc)
		return rc;
	uint64_t id;
	if (argc - first != 1 || parse_thread_id(argv[first], &id) < 0)
		return usage_error("raw", "%s", "expected one message number");
	struct store_txn *t;
	if (with_read_txn(c, &t) < 0)
		return 1;
	const char *raw;
	size_t len;
	rc = store_get_raw(t, id, &raw, &len);
	if (rc == 0 && (fwrite(raw, 1, len, stdout) != len || fflush(stdout) != 0))
		rc = STORE_ERROR;
	store_abort(t);
	if (rc == STORE_NOTFOUND)
		log_warnx("no message %llu", (unsigned long long)id);
	else if (rc < 0)
		log_warnx("cannot read message %llu: %s", (unsigned long long)id,
		          store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

static const struct command commands[] = {
    {"import", cmd_import, "[--json] PATH...", "ingest mbox files, maildirs and .eml files"},
    {"threads", cmd_threads, "[--json] [--quarantined]",
     "list conversations (or quarantined messages)"},
    {"show", cmd_show, "[--json] ID", "a thread's messages"},
    {"raw", cmd_raw, "MSG", "a stored message as received (MSG from --quarantined)"},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctx c = {0};
	const char *config_arg = NULL;
	int ch;
	log_init("tend", 0);
	opterr = 0; /* errors are reported by usage_error, naming the command */
	while ((ch = getopt_long(argc, argv, "+:c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_arg = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tend %s\n", TEND_VERSION);
			return 0;
		case ':':
			return usage_error(NULL, "%s needs a value", argv[optind - 1]);
		default:
			return usage_error(NULL, "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	c.config_path = config_default_path(config_arg);
	const char *name = argv[optind];
	for (const struct command *cmd = commands; cmd->name; cmd++) {
		if (strcmp(cmd->name, name) != 0)
			continue;
		int rc = cmd->run(&c, argc - optind, argv + optind);
		store_close(c.store);
		config_free(c.config);
		return rc == HELP_SHOWN ? 0 : rc;
	}
	return usage_error(NULL, "unknown command \"%s\"", name);
}
