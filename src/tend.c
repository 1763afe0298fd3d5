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
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tend/classify.h"
#include "tend/config.h"
#include "tend/import.h"
#include "tend/ingest.h"
#include "tend/json.h"
#include "tend/outbox.h"
#include "tend/review.h"
#include "tend/rules.h"
#include "tend/rulestool.h"
#include "tend/search.h"
#include "tend/stats.h"
#include "tend/status.h"
#include "tend/store.h"
#include "tend/view.h"
#include "tend/when.h"
#include "tend_review.h"

#define EXIT_USAGE 2

struct ctx {
	const char *config_path;
	const char *as; /* --as before the command */
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
	fprintf(f, "usage: tend [-c CONFIG] [--as AGENT] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-8s %-32s %s\n", c->name, c->args, c->help);
	fprintf(f, "\nCONFIG defaults to $TEND_CONFIG, else /etc/tend/tend.yaml.\n");
}

static void usage_print(const char *cmd, const char *fmt, ...) ATTR_PRINTF(2, 3);

/*
 * Says what is wrong with the command line and how the command is used; its value is the exit
 * status. A macro, so that every caller sees the constant: a parser that returns it leaves its
 * results unset, and only with the value in sight can the compiler tell that the caller never
 * reads them then (a function's value is unknown to it; -O3 warned of maybe-uninitialized).
 */
#define usage_error(...) (usage_print(__VA_ARGS__), EXIT_USAGE)

static void usage_print(const char *cmd, const char *fmt, ...)
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

/*
 * The operators' rules. Without a rules file tend still works: automatic mail is recognised
 * and drafts use the built-in templates (*out is NULL then). A file with errors is refused.
 */
static int load_rules(struct ctx *c, struct rules **out)
{
	struct diags d = DIAGS_INIT;
	*out = NULL;
	if (access(c->config->rules, F_OK) != 0 && errno == ENOENT)
		return 0;
	int rc = rules_load(c->config->rules, out, &d);
	if (rc < 0) {
		diags_print(&d);
		log_warnx("%s has errors: nothing was changed", c->config->rules);
	}
	diags_free(&d);
	return rc;
}

static int open_store(struct ctx *c, bool readonly)
{
	if (c->config == NULL && load_config(c) < 0) /* tend rules test has it already */
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
/* --json, and --sent where sent is not NULL (tend import); --help prints the usage. */
static int parse_flags(const char *cmd, int argc, char **argv, bool *json, bool *sent,
                       int *optind_out)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"sent", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 0; /* 0: GNU getopt starts afresh, permuting options after operands */
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'j')
			*json = true;
		else if (ch == 's' && sent)
			*sent = true;
		else if (ch == 'h')
			return command_help(cmd);
		else
			return usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
	}
	*optind_out = optind;
	return 0;
}

static int parse_json_flag(const char *cmd, int argc, char **argv, bool *json, int *optind_out)
{
	return parse_flags(cmd, argc, argv, json, NULL, optind_out);
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

/* The search index, caught up on its own thread while the import goes on storing. */
struct import_index {
	struct search_follower *f;
	struct ingest *in;
};

/* After each commit: wakes the index's thread, once something was stored. */
static void import_committed(void *arg)
{
	struct import_index *ix = arg;
	if (ingest_stats(ix->in)->stored)
		search_follow_poke(ix->f);
}

/* The index caught up with what was stored; a failing index fails nothing. */
static void import_index_finish(struct import_index *ix)
{
	char *err = NULL;
	if (search_follow_finish(ix->f, ingest_stats(ix->in)->stored > 0, &err) < 0)
		log_warnx("%s; the mail is stored, and `tend search` catches up when it can", err);
	free(err);
}

static int cmd_import(struct ctx *c, int argc, char **argv)
{
	bool json = false, sent = false;
	int first = argc;
	int rc = parse_flags("import", argc, argv, &json, &sent, &first);
	if (rc)
		return rc;
	if (first >= argc)
		return usage_error("import", "%s", "no PATH given");
	if (open_store(c, false) < 0)
		return 1;
	struct rules *rules = NULL;
	if (load_rules(c, &rules) < 0)
		return 1;
	struct ingest *in = ingest_new(c->store, c->config, rules, "import");
	struct import_index ix = {search_follow_start(c->store), in};
	struct import_options opt = {.progress = !json && isatty(STDERR_FILENO),
	                             .sent = sent,
	                             .committed = import_committed,
	                             .committed_arg = &ix};
	struct import_report rep;
	rc = import_paths(in, argv + first, (size_t)(argc - first), &opt, &rep);
	if (rc < 0)
		log_warnx("import stopped: %s; everything before this batch is stored",
		          store_strerror(rc));
	import_index_finish(&ix);
	print_import_summary(&rep, ingest_stats(in), json);
	ingest_free(in);
	rules_free(rules);
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
	    {"state", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false, quarantined = false;
	int ch, state = -1;
	optind = 0; /* 0: GNU getopt starts afresh, permuting options after operands */
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'q')
			quarantined = true;
		else if (ch == 's' && (state = view_thread_state_parse(optarg)) < 0)
			return usage_error("threads",
			                   "--state takes open, answered, resolved or ignored, not "
			                   "\"%s\"",
			                   optarg);
		else if (ch == ':')
			return usage_error("threads", "%s needs a value", argv[optind - 1]);
		else if (ch != 's')
			return usage_error("threads", "unknown option \"%s\"", argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error("threads", "unexpected argument \"%s\"", argv[optind]);
	struct store_txn *t;
	if (with_read_txn(c, &t) < 0)
		return 1;
	struct view_options o;
	view_options_detect(&o, json);
	int rc =
	    quarantined ? view_quarantined(t, &o, stdout) : view_threads_in(t, &o, state, stdout);
	store_abort(t);
	if (rc < 0)
		log_warnx("cannot list threads: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* tend customer ADDRESS: every conversation with that customer. */
static int cmd_customer(struct ctx *c, int argc, char **argv)
{
	bool json = false;
	int first = argc;
	int rc = parse_json_flag("customer", argc, argv, &json, &first);
	if (rc)
		return rc;
	if (argc - first != 1)
		return usage_error("customer", "%s", "one ADDRESS is needed");
	struct store_txn *t;
	if (with_read_txn(c, &t) < 0)
		return 1;
	struct view_options o;
	view_options_detect(&o, json);
	rc = view_customer(t, argv[first], &o, stdout);
	store_abort(t);
	if (rc < 0)
		log_warnx("cannot list the conversations of %s: %s", argv[first],
		          store_strerror(rc));
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

/* Review: queue, show, edit, approve, reject, snooze, assign, log */

/* The options of the review commands; each command says which it takes. */
enum {
	OPT_JSON = 1 << 0,
	OPT_ALL = 1 << 1,
	OPT_AS = 1 << 2,
	OPT_REASON = 1 << 3,
	OPT_LIMIT = 1 << 4,
	OPT_RESOLVE = 1 << 5,
	OPT_REINDEX = 1 << 6,
	OPT_FORCE = 1 << 7,
	OPT_TAKE = 1 << 8,
	OPT_FILTER = 1 << 9, /* --mine, --assignee, --tag, --priority */
	OPT_PARTS = 1 << 10, /* draft --add TEMPLATE, --remove N */
	OPT_YES = 1 << 11,
	OPT_BOUNCED_OK = 1 << 12,
};

struct opts {
	bool json, all, resolve, reindex, force, take, mine, yes, bounced_ok;
	const char *assignee, *tag, *priority; /* queue filters */
	const char *as;
	const char *reason;
	const char *limit;
	const char *add, *remove; /* draft --add TEMPLATE, --remove N */
	int first;                /* the first operand */
};

static unsigned opt_bit(int ch)
{
	switch (ch) {
	case 'j':
		return OPT_JSON;
	case 'A':
		return OPT_ALL;
	case 'a':
		return OPT_AS;
	case 'r':
		return OPT_REASON;
	case 'l':
		return OPT_LIMIT;
	case 'R':
		return OPT_RESOLVE;
	case 'X':
		return OPT_REINDEX;
	case 'f':
		return OPT_FORCE;
	case 'T':
		return OPT_TAKE;
	case 'm':
	case 'g':
	case 't':
	case 'p':
		return OPT_FILTER;
	case 'P':
	case 'M':
		return OPT_PARTS;
	case 'y':
		return OPT_YES;
	case 'B':
		return OPT_BOUNCED_OK;
	default:
		return 0;
	}
}

static int parse_opts(const char *cmd, unsigned allowed, int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'A'},
	    {"as", required_argument, NULL, 'a'},
	    {"reason", required_argument, NULL, 'r'},
	    {"limit", required_argument, NULL, 'l'},
	    {"resolve", no_argument, NULL, 'R'}, /* reject --resolve */
	    {"reindex", no_argument, NULL, 'X'}, /* search --reindex */
	    {"force", no_argument, NULL, 'f'},
	    {"take", no_argument, NULL, 'T'}, /* show --take */
	    {"mine", no_argument, NULL, 'm'},
	    {"assignee", required_argument, NULL, 'g'},
	    {"tag", required_argument, NULL, 't'},
	    {"priority", required_argument, NULL, 'p'},
	    {"add", required_argument, NULL, 'P'},    /* draft --add TEMPLATE */
	    {"remove", required_argument, NULL, 'M'}, /* draft --remove N */
	    {"yes", no_argument, NULL, 'y'},          /* approve --yes */
	    {"bounced-ok", no_argument, NULL, 'B'},   /* approve --bounced-ok */
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	memset(o, 0, sizeof(*o));
	optind = 0; /* 0: GNU getopt starts afresh, permuting options after operands */
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h')
			return command_help(cmd);
		if (ch == ':' && (allowed & opt_bit(optopt)))
			return usage_error(cmd, "%s needs a value", argv[optind - 1]);
		if (!(allowed & opt_bit(ch)))
			return usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
		o->json |= ch == 'j';
		o->all |= ch == 'A';
		o->resolve |= ch == 'R';
		o->reindex |= ch == 'X';
		o->force |= ch == 'f';
		o->take |= ch == 'T';
		o->mine |= ch == 'm';
		if (ch == 'g')
			o->assignee = optarg;
		if (ch == 't')
			o->tag = optarg;
		if (ch == 'p')
			o->priority = optarg;
		o->yes |= ch == 'y';
		o->bounced_ok |= ch == 'B';
		if (ch == 'a')
			o->as = optarg;
		if (ch == 'r')
			o->reason = optarg;
		if (ch == 'l')
			o->limit = optarg;
		if (ch == 'P')
			o->add = optarg;
		if (ch == 'M')
			o->remove = optarg;
	}
	o->first = optind;
	return 0;
}

/* Checks the number of operands (want, described by expected) and parses the thread ID. */
static int parse_id_operands(const char *cmd, int argc, char **argv, const struct opts *o, int want,
                             const char *expected, uint64_t *id)
{
	if (argc - o->first != want)
		return usage_error(cmd, "expected %s", expected);
	if (want == 0) /* redraft --all */
		return 0;
	if (parse_thread_id(argv[o->first], id) < 0)
		return usage_error(cmd, "\"%s\" is not a thread ID", argv[o->first]);
	return 0;
}

/* The agent acting: --as (of the command, else tend's), else $TEND_AGENT, else $USER. */
static int resolve_agent(struct ctx *c, const struct opts *o, struct review_agent *a, bool quiet)
{
	char *err = NULL;
	const char *as = o->as ? o->as : c->as;
	if (review_agent_resolve(c->config, as, a, &err) == 0) {
		a->force = o->force;
		return 0;
	}
	if (!quiet)
		log_warnx("%s", err);
	free(err);
	return -1;
}

/*
 * Opens the store, which must exist (a review command never creates one), for reading or
 * writing; the config must be loaded. A store open already is closed first.
 */
static int open_existing_store(struct ctx *c, bool write)
{
	struct store_options so = {.readonly = true, .group = c->config->group};
	char *err = NULL;
	store_close(c->store);
	c->store = NULL;
	int rc = store_open(c->config->store, &so, &c->store, &err);
	if (rc == 0 && write) {
		store_close(c->store);
		c->store = NULL;
		so.readonly = false;
		rc = store_open(c->config->store, &so, &c->store, &err);
	}
	if (rc < 0) {
		log_warnx("%s", err ? err : "cannot open the store");
		free(err);
		return -1;
	}
	return 0;
}

/* Reports a review function's failure; returns the exit status. */
static int review_status(int rc, char *err, const char *what, uint64_t id)
{
	if (rc >= 0) {
		free(err);
		return 0;
	}
	if (err)
		log_warnx("%s", err);
	else
		log_warnx("cannot %s thread %llu: %s", what, (unsigned long long)id,
		          store_strerror(rc));
	free(err);
	return 1;
}

enum { QUEUE_SCREEN = 50 }; /* drafts `tend queue` lists without --limit */

/* --limit N into *limit (left as it is without the option); 0 or the usage error's status. */
static int parse_limit(const char *cmd, const char *what, const struct opts *o,
                       unsigned long long *limit)
{
	char *end;
	if (o->limit == NULL)
		return 0;
	errno = 0;
	*limit = strtoull(o->limit, &end, 10);
	if (errno || end == o->limit || *end || o->limit[0] == '-')
		return usage_error(cmd, "--limit wants a number of %s (0: all), not \"%s\"", what,
		                   o->limit);
	return 0;
}

/* --mine, --assignee, --tag, --priority into f; --mine needs the agent (*a, to be freed).
 * Returns 0, 1 (no agent) or the usage error's status. */
static int queue_filter(struct ctx *c, const char *cmd, const struct opts *o,
                        struct review_filter *f, struct review_agent *a)
{
	*f = (struct review_filter){.assignee = o->assignee, .tag = o->tag, .priority = -1};
	if (o->mine && o->assignee)
		return usage_error(cmd, "--mine and --assignee each name an assignee: give one");
	if (o->priority && (f->priority = rules_priority_parse(o->priority)) < 0)
		return usage_error(cmd, "--priority wants urgent, high, normal or low, not \"%s\"",
		                   o->priority);
	if (o->mine && resolve_agent(c, o, a, false) < 0)
		return 1;
	if (o->mine)
		f->assignee = a->login;
	return 0;
}

static int cmd_queue(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts("queue", OPT_JSON | OPT_ALL | OPT_LIMIT | OPT_FILTER | OPT_AS, argc,
	                    argv, &o);
	if (rc)
		return rc;
	if (o.first < argc)
		return usage_error("queue", "unexpected argument \"%s\"", argv[o.first]);
	/* A person reads a screenful, most urgent first; a script gets everything. */
	unsigned long long limit = o.json ? 0 : QUEUE_SCREEN;
	if ((rc = parse_limit("queue", "drafts", &o, &limit)))
		return rc;
	if (open_store(c, true) < 0)
		return 1;
	struct review_filter f;
	struct review_agent a = {0};
	if ((rc = queue_filter(c, "queue", &o, &f, &a)) != 0)
		return rc;
	bool filtered = o.mine || o.assignee || o.tag || o.priority;
	struct view_options vo;
	view_options_detect(&vo, o.json);
	rc = review_queue_filter(c->store, &vo, o.all, (size_t)limit, filtered ? &f : NULL, stdout);
	if (rc < 0)
		log_warnx("cannot list the queue: %s", store_strerror(rc));
	review_agent_finish(&a);
	return rc < 0 ? 1 : 0;
}

/* Showing a stale draft clears its mark: only then is the store opened for writing. */
static bool show_writes(struct ctx *c, uint64_t id)
{
	struct store_draft *d = NULL;
	char *err = NULL;
	bool yes = review_current_draft(c->store, id, &d, &err) == 0 && d->stale &&
	           d->state == STORE_DRAFT_PROPOSED;
	store_draft_free(d);
	free(err);
	return yes;
}

/*
 * The rules, for the languages tend show tells of messages that have none stored. Quietly none
 * when they cannot be read: showing a thread does not depend on the rules file.
 */
static struct rules *show_rules(struct ctx *c, struct view_options *vo)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	bool none = access(c->config->rules, F_OK) != 0 && errno == ENOENT;
	vo->tell_lang = none || rules_load(c->config->rules, &r, &d) == 0;
	vo->rules = r;
	diags_free(&d);
	return r;
}

static int begin_action(struct ctx *c, const char *cmd, unsigned allowed, int nargs,
                        const char *expected, int argc, char **argv, struct opts *o, uint64_t *id,
                        struct review_agent *a);

/* show --take: claims the conversation for the agent, then shows it with the claim. */
static int show_take(struct ctx *c, int argc, char **argv, uint64_t id)
{
	struct opts o;
	struct review_agent a;
	int rc = begin_action(c, "show", OPT_JSON | OPT_TAKE | OPT_FORCE, 1, "one thread ID", argc,
	                      argv, &o, &id, &a);
	if (rc)
		return rc;
	char *err = NULL;
	rc = review_claim(c->store, c->config, id, &a, "take", &err);
	if (rc == 0) {
		struct view_options vo;
		view_options_detect(&vo, o.json);
		struct rules *rules = show_rules(c, &vo);
		rc = review_show(c->store, id, &a, &vo, stdout, &err);
		rules_free(rules);
	}
	review_agent_finish(&a);
	return review_status(rc, err, "take", id);
}

static int cmd_show(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = parse_opts("show", OPT_JSON | OPT_AS | OPT_TAKE | OPT_FORCE, argc, argv, &o);
	if (rc || (rc = parse_id_operands("show", argc, argv, &o, 1, "one thread ID", &id)))
		return rc;
	if (o.take)
		return show_take(c, argc, argv, id);
	if (open_store(c, true) < 0)
		return 1;
	bool explicit = o.as || c->as, agent = resolve_agent(c, &o, &a, !explicit) == 0;
	if (!agent && explicit)
		return 1;
	if (agent && show_writes(c, id) && open_existing_store(c, true) < 0) {
		/* Someone who may only read the store still sees the thread; the mark stays. */
		review_agent_finish(&a);
		agent = false;
		if (open_existing_store(c, false) < 0)
			return 1;
	}
	struct view_options vo;
	view_options_detect(&vo, o.json);
	struct rules *rules = show_rules(c, &vo);
	char *err = NULL;
	rc = review_show(c->store, id, agent ? &a : NULL, &vo, stdout, &err);
	if (agent)
		review_agent_finish(&a);
	rules_free(rules);
	return review_status(rc, err, "show", id);
}

/* Where an agent without a terminal turns: the plain commands, which the keys stand for. */
#define REVIEW_PLAIN                                                                               \
	"`tend queue`, `tend show ID`, `tend approve ID`, `tend edit ID`, `tend snooze ID "        \
	"DURATION`, `tend reject --reason TEXT ID`, `tend resolve ID`, `tend note ID TEXT`"

/* The loop's store, agent and filters; the loop itself is tend_review.c's. */
static int review_loop(struct ctx *c, const struct opts *o)
{
	struct review_agent a, fa = {0};
	struct review_filter f;
	if (load_config(c) < 0 || resolve_agent(c, o, &a, false) < 0)
		return 1;
	int rc = queue_filter(c, "review", o, &f, &fa);
	if (rc == 0 && open_existing_store(c, true) < 0)
		rc = 1;
	if (rc != 0) {
		review_agent_finish(&a);
		review_agent_finish(&fa);
		return rc;
	}
	struct view_options vo;
	struct rules *rules = show_rules(c, &vo);
	bool filtered = o->mine || o->assignee || o->tag || o->priority;
	struct tend_review_args args = {.store = c->store,
	                                .config = c->config,
	                                .agent = &a,
	                                .filter = filtered ? &f : NULL,
	                                .rules = rules,
	                                .tell_lang = vo.tell_lang};
	rc = tend_review_run(&args);
	rules_free(rules);
	review_agent_finish(&a);
	review_agent_finish(&fa);
	return rc;
}

static int cmd_review(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts("review", OPT_FILTER | OPT_AS, argc, argv, &o);
	if (rc == HELP_SHOWN)
		tend_review_keys(stdout);
	if (rc)
		return rc;
	if (o.first < argc)
		return usage_error("review", "unexpected argument \"%s\"", argv[o.first]);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return usage_error("review",
		                   "needs a terminal (stdin and stdout) to read one key at a "
		                   "time; without one use %s",
		                   REVIEW_PLAIN);
	return review_loop(c, &o);
}

/*
 * The first steps of every review command that acts: options, operands (nargs, described by
 * expected), the agent, a writable store. Returns 0, or the exit status.
 */
static int begin_action(struct ctx *c, const char *cmd, unsigned allowed, int nargs,
                        const char *expected, int argc, char **argv, struct opts *o, uint64_t *id,
                        struct review_agent *a)
{
	int rc = parse_opts(cmd, allowed | OPT_AS, argc, argv, o);
	if (rc || (rc = parse_id_operands(cmd, argc, argv, o, nargs, expected, id)))
		return rc;
	if (load_config(c) < 0 || resolve_agent(c, o, a, false) < 0)
		return 1;
	if (open_existing_store(c, true) < 0) {
		review_agent_finish(a);
		return 1;
	}
	return 0;
}

static int cmd_edit(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = begin_action(c, "edit", OPT_FORCE, 1, "one thread ID", argc, argv, &o, &id, &a);
	if (rc)
		return rc;
	char *err = NULL;
	rc = review_edit(c->store, c->config, id, &a, &err);
	review_agent_finish(&a);
	if (rc == REVIEW_UNCHANGED)
		printf("No changes.\n");
	else if (rc == 0)
		printf("Saved the draft of thread %llu.\n", (unsigned long long)id);
	return review_status(rc, err, "edit", id);
}

/* "Anna <anna@example.com>, bob@example.com", for a terminal */
static char *recipients(const struct store_draft *d)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < d->to.n; i++) {
		char *one = view_addr_display(&d->to.v[i]);
		buf_puts(&b, i ? ", " : "");
		term_put(&b, one, TEXT_LINE);
		free(one);
	}
	return b.len ? buf_steal(&b) : xstrdup("(no recipient)");
}

/* "sending in 20 s; `tend undo 12` to stop it", or "queued for sending" without a window. */
static void print_approved(uint64_t id, const struct store_draft *d)
{
	char *to = recipients(d);
	struct buf notes = BUF_INIT;
	size_t n = view_recipients(d);
	view_recipient_notes(&notes, d);
	printf("Approved thread %llu: the reply to %s is ", (unsigned long long)id, to);
	if (d->undo_until)
		printf("sending in %lld s", (long long)(d->undo_until - d->approved));
	else
		printf("queued for sending");
	printf(" (%zu recipient%s", n, n == 1 ? "" : "s");
	if (d->cc.n)
		printf(": %zu in To, %zu in Cc", d->to.n, d->cc.n);
	printf(")");
	if (d->undo_until)
		printf("; `tend undo %llu` to stop it", (unsigned long long)id);
	printf(".\n%s", notes.len ? notes.data : "");
	buf_free(&notes);
	free(to);
}

/*
 * On a terminal, the reply as it will go out and the question; true when the agent said y.
 * Refusals come first, so that nobody reads a reply that cannot be approved.
 */
static bool confirmed(struct ctx *c, uint64_t id, const struct review_agent *a,
                      struct review_approve_opts *ao, int *rc, char **err)
{
	char *text = NULL;
	*rc = review_approvable(c->store, c->config, id, a, ao, err);
	if (*rc == 0)
		*rc = review_preview(c->store, c->config, id, a, &text, err);
	if (*rc < 0)
		return false;
	printf("%s\nSend this reply? [y/N] ", text);
	ao->previewed = str_hash(text);
	free(text);
	fflush(stdout);
	char line[64] = "";
	bool yes = fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y') &&
	           (line[1] == '\n' || line[1] == '\0');
	if (!yes)
		printf("%sNot approved: nothing was changed.\n", line[0] == '\0' ? "\n" : "");
	return yes;
}

/* "y" or "yes" typed on the terminal; anything else, or no terminal, is no. */
static bool ask_yes(const char *question)
{
	char line[64];
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return false;
	printf("%s [y/N] ", question);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

/*
 * Approving a conversation assigned to someone else asks first on a terminal; without one the
 * approval goes ahead and review_approve refuses it (--force approves it). Returns 0, or the
 * exit status when the agent said no.
 */
static int confirm_assignee(struct ctx *c, uint64_t id, struct review_agent *a)
{
	char *who = NULL, *err = NULL;
	if (review_assigned_elsewhere(c->store, id, a, &who, &err) < 0 || who == NULL ||
	    !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		free(err);
		free(who);
		return 0; /* review_approve reports what it finds */
	}
	char *safe = term_dup(who, TEXT_LINE);
	char *q = xasprintf("Thread %llu is assigned to %s. Approve it all the same?",
	                    (unsigned long long)id, safe);
	bool yes = ask_yes(q);
	if (yes)
		a->over_assignee = true;
	else
		printf("Not approved.\n");
	free(q);
	free(safe);
	free(who);
	return yes ? 0 : 1;
}

static int cmd_approve(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = begin_action(c, "approve", OPT_FORCE | OPT_YES | OPT_BOUNCED_OK, 1,
	                      "one thread ID", argc, argv, &o, &id, &a);
	if (rc)
		return rc;
	char *err = NULL;
	struct store_draft *d = NULL;
	if (!a.force && (rc = confirm_assignee(c, id, &a)) != 0) {
		review_agent_finish(&a);
		return rc;
	}
	struct review_approve_opts ao = {.bounced_ok = o.bounced_ok};
	bool ask = !o.yes && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (ask && !confirmed(c, id, &a, &ao, &rc, &err)) {
		review_agent_finish(&a);
		return rc < 0 ? review_status(rc, err, "approve", id) : 1;
	}
	rc = review_approve_with(c->store, c->config, id, &a, &ao, &err);
	review_agent_finish(&a);
	if (rc == 0 && review_current_draft(c->store, id, &d, &err) == 0) {
		print_approved(id, d);
		outbox_poke(c->config->store); /* tendd, when running, sends it when it is due */
	}
	store_draft_free(d);
	return review_status(rc, err, "approve", id);
}

static int cmd_release(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = begin_action(c, "release", OPT_FORCE, 1, "one thread ID", argc, argv, &o, &id, &a);
	if (rc)
		return rc;
	char *err = NULL;
	rc = review_release(c->store, id, &a, &err);
	review_agent_finish(&a);
	if (rc == 0)
		printf("Released thread %llu: nobody is on it now.\n", (unsigned long long)id);
	return review_status(rc, err, "release", id);
}

static int cmd_undo(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = begin_action(c, "undo", 0, 1, "one thread ID", argc, argv, &o, &id, &a);
	if (rc)
		return rc;
	char *err = NULL;
	rc = review_undo(c->store, id, &a, &err);
	review_agent_finish(&a);
	if (rc == 0)
		printf(
		    "Took back the reply of thread %llu: it was not sent, and the draft is in the "
		    "queue again.\n",
		    (unsigned long long)id);
	return review_status(rc, err, "undo", id);
}

static int cmd_reject(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = parse_opts("reject", OPT_AS | OPT_REASON | OPT_RESOLVE, argc, argv, &o);
	if (rc)
		return rc;
	if (o.reason == NULL || strspn(o.reason, " \t\r\n") == strlen(o.reason))
		return usage_error("reject", "%s", "--reason TEXT is required: say why");
	if ((rc = begin_action(c, "reject", OPT_REASON | OPT_RESOLVE, 1, "one thread ID", argc,
	                       argv, &o, &id, &a)))
		return rc;
	char *err = NULL;
	rc = review_reject(c->store, id, &a, o.reason, o.resolve, &err);
	review_agent_finish(&a);
	unsigned long long n = (unsigned long long)id;
	if (rc == 0 && o.resolve)
		printf("Rejected the draft of thread %llu and resolved the conversation.\n", n);
	else if (rc == 0)
		printf("Rejected the draft of thread %llu: the draft is empty now; write the reply "
		       "with `tend edit %llu`.\n",
		       n, n);
	return review_status(rc, err, "reject", id);
}

static int cmd_resolve(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = parse_opts("resolve", OPT_AS | OPT_REASON, argc, argv, &o);
	if (rc)
		return rc;
	if (o.reason && strspn(o.reason, " \t\r\n") == strlen(o.reason))
		return usage_error("resolve", "%s",
		                   "--reason TEXT is empty: say why, or leave it out");
	if ((rc = begin_action(c, "resolve", OPT_REASON, 1, "one thread ID", argc, argv, &o, &id,
	                       &a)))
		return rc;
	char *err = NULL;
	rc = review_resolve(c->store, id, &a, o.reason, &err);
	review_agent_finish(&a);
	if (rc == 0)
		printf(
		    "Resolved thread %llu: it needs nothing more; a new message from the customer "
		    "opens it again.\n",
		    (unsigned long long)id);
	return review_status(rc, err, "resolve", id);
}

/* "Reopened thread 12: its new draft is in the queue, due in 4 h.", counted from when the
 * command began (the clock started then), not from however much later this prints. */
static void print_reopened(struct ctx *c, uint64_t id, int64_t began)
{
	struct store_draft *d = NULL;
	char *err = NULL, due[32] = "-";
	if (review_current_draft(c->store, id, &d, &err) == 0 && d->queued)
		view_due(d->queued, began, due, sizeof(due));
	if (d)
		printf("Reopened thread %llu: its new draft is in the queue, due %s.\n",
		       (unsigned long long)id, due);
	else
		printf("Reopened thread %llu; no customer message to draft a reply for.\n",
		       (unsigned long long)id);
	store_draft_free(d);
	free(err);
}

/* The operators' rules (built-in without a file) and a classify with them, acting as an agent. */
struct agent_rules {
	struct rules *rules, *builtin;
	struct classify *cl;
};

/* Loads the rules; -1 when the file has errors (said on stderr). */
static int agent_rules_begin(struct ctx *c, const struct review_agent *a, struct agent_rules *ar)
{
	memset(ar, 0, sizeof(*ar));
	if (load_rules(c, &ar->rules) < 0)
		return -1;
	ar->builtin = ar->rules ? NULL : rules_builtin();
	ar->cl = classify_new(c->config, ar->rules ? ar->rules : ar->builtin, a->login);
	return 0;
}

static void agent_rules_end(struct agent_rules *ar)
{
	classify_free(ar->cl);
	rules_free(ar->rules);
	rules_free(ar->builtin);
}

static int cmd_reopen(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	struct agent_rules ar;
	int rc = begin_action(c, "reopen", 0, 1, "one thread ID", argc, argv, &o, &id, &a);
	if (rc)
		return rc;
	if (agent_rules_begin(c, &a, &ar) < 0) {
		review_agent_finish(&a);
		return 1;
	}
	char *err = NULL;
	int64_t began = (int64_t)time(NULL);
	rc = review_reopen(c->store, ar.cl, id, &a, &err);
	agent_rules_end(&ar);
	review_agent_finish(&a);
	if (rc == 0)
		print_reopened(c, id, began);
	return review_status(rc, err, "reopen", id);
}

/* One conversation's redraft, printed; 0, or 1 when it failed or was refused. */
static int redraft_one(struct ctx *c, struct classify *cl, uint64_t id,
                       const struct review_agent *a)
{
	char *line = NULL, *err = NULL;
	int rc = review_redraft(c->store, cl, id, a, &line, &err);
	if (line) {
		char *safe = term_dup(line, TEXT_LINE);
		printf("%s\n", safe);
		free(safe);
	}
	free(line);
	return review_status(rc, err, "redraft", id);
}

/* Every open draft, each in its own transaction: tendd waits for one at a time at most. */
static int redraft_all(struct ctx *c, struct classify *cl, const struct review_agent *a)
{
	struct idvec ids = {0};
	int rc = review_redraft_list(c->store, &ids), status = 0;
	if (rc < 0) {
		log_warnx("cannot list the open drafts: %s", store_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < ids.n; i++)
		status |= redraft_one(c, cl, ids.v[i], a);
	if (ids.n == 0)
		printf("No open draft to redraft.\n");
	idvec_free(&ids);
	return status;
}

static int cmd_redraft(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id = 0;
	struct review_agent a;
	struct agent_rules ar;
	int rc = parse_opts("redraft", OPT_ALL | OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	if (o.all && o.first < argc)
		return usage_error("redraft", "%s", "--all takes no thread ID");
	if ((rc = begin_action(c, "redraft", OPT_ALL, o.all ? 0 : 1,
	                       o.all ? "--all" : "one thread ID", argc, argv, &o, &id, &a)))
		return rc;
	if (agent_rules_begin(c, &a, &ar) < 0) {
		review_agent_finish(&a);
		return 1;
	}
	rc = o.all ? redraft_all(c, ar.cl, &a) : redraft_one(c, ar.cl, id, &a);
	agent_rules_end(&ar);
	review_agent_finish(&a);
	return rc;
}

/* `tend draft ID --add TEMPLATE | --remove N`: a part by hand. */
static int cmd_draft(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	struct agent_rules ar;
	char *end = NULL, *line = NULL, *err = NULL;
	int rc = parse_opts("draft", OPT_AS | OPT_PARTS, argc, argv, &o);
	if (rc)
		return rc;
	if (!o.add == !o.remove)
		return usage_error("draft", "%s", "give --add TEMPLATE or --remove N");
	unsigned long long n = o.remove ? strtoull(o.remove, &end, 10) : 0;
	if (o.remove && (strspn(o.remove, "0123456789") != strlen(o.remove) || *end || n == 0))
		return usage_error("draft", "\"%s\" is not a part number (1 is the first)",
		                   o.remove);
	if ((rc = begin_action(c, "draft", OPT_PARTS, 1, "one thread ID", argc, argv, &o, &id, &a)))
		return rc;
	if (agent_rules_begin(c, &a, &ar) < 0) {
		review_agent_finish(&a);
		return 1;
	}
	rc = o.add ? review_part_add(c->store, ar.cl, id, &a, o.add, &line, &err)
	           : review_part_remove(c->store, ar.cl, id, &a, (size_t)n, &line, &err);
	agent_rules_end(&ar);
	review_agent_finish(&a);
	if (rc == 0)
		printf("Thread %llu: %s.\n", (unsigned long long)id, line);
	free(line);
	return review_status(rc, err, "change the draft of", id);
}

static int cmd_snooze(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int64_t secs = 0;
	int rc = parse_opts("snooze", OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	if (argc - o.first == 2 && parse_duration(argv[o.first + 1], &secs) < 0)
		return usage_error("snooze", "\"%s\" is not a duration (like 30m, 4h or 2d)",
		                   argv[o.first + 1]);
	if ((rc = begin_action(c, "snooze", 0, 2, "a thread ID and a duration", argc, argv, &o, &id,
	                       &a)))
		return rc;
	char *err = NULL;
	rc = review_snooze(c->store, id, &a, secs, &err);
	review_agent_finish(&a);
	if (rc == 0 && secs == 0)
		printf("Thread %llu is back in the queue.\n", (unsigned long long)id);
	else if (rc == 0) {
		char when[64];
		time_t tt = time(NULL) + (time_t)secs;
		struct tm tm;
		localtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%a %e %b %Y %H:%M", &tm);
		printf("Snoozed thread %llu until %s.\n", (unsigned long long)id, when);
	}
	return review_status(rc, err, "snooze", id);
}

static int cmd_assign(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = begin_action(c, "assign", 0, 2, "a thread ID and an agent's login (or -)", argc,
	                      argv, &o, &id, &a);
	if (rc)
		return rc;
	const char *who = argv[o.first + 1];
	char *err = NULL;
	rc = review_assign(c->store, c->config, id, &a, who, &err);
	review_agent_finish(&a);
	if (rc == 0 && strcmp(who, "-") == 0)
		printf("Thread %llu is no longer assigned.\n", (unsigned long long)id);
	else if (rc == 0)
		printf("Assigned thread %llu to %s.\n", (unsigned long long)id, who);
	return review_status(rc, err, "assign", id);
}

/* The words after the ID, joined with spaces: `tend note 12 called her back` needs no quotes. */
static char *join_words(int argc, char **argv)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < argc; i++) {
		buf_puts(&b, i ? " " : "");
		buf_puts(&b, argv[i]);
	}
	return buf_steal(&b);
}

static int cmd_note(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = parse_opts("note", OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	int words = argc - o.first - 1; /* of the note, after the ID */
	if (words < 0)
		return usage_error("note", "%s", "expected a thread ID");
	if ((rc = begin_action(c, "note", 0, words + 1, "a thread ID", argc, argv, &o, &id, &a)))
		return rc;
	char *err = NULL, *text = words > 0 ? join_words(words, argv + o.first + 1) : NULL;
	rc = text ? review_note(c->store, id, &a, text, &err)
	          : review_note_edit(c->store, id, &a, &err);
	review_agent_finish(&a);
	free(text);
	if (rc == 0)
		printf("Added an internal note to thread %llu (never sent to the customer).\n",
		       (unsigned long long)id);
	return review_status(rc, err, "note", id);
}

static int cmd_attach(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id;
	struct review_agent a;
	int rc = parse_opts("attach", OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	int files = argc - o.first - 1;
	if (files < 1)
		return usage_error("attach", "%s", "expected a thread ID and one or more files");
	if ((rc = begin_action(c, "attach", 0, files + 1, "a thread ID and files", argc, argv, &o,
	                       &id, &a)))
		return rc;
	char *err = NULL;
	rc = review_attach(c->store, c->config, id, &a, argv + o.first + 1, (size_t)files, &err);
	review_agent_finish(&a);
	if (rc == 0)
		printf("Attached %d file%s to the draft of thread %llu (`tend show %llu` lists "
		       "them).\n",
		       files, files == 1 ? "" : "s", (unsigned long long)id,
		       (unsigned long long)id);
	return review_status(rc, err, "attach files to", id);
}

static int cmd_detach(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	uint64_t id, n = 0;
	struct review_agent a;
	int rc = parse_opts("detach", OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	if (argc - o.first == 2 && (parse_thread_id(argv[o.first + 1], &n) < 0 || n > SIZE_MAX))
		return usage_error("detach", "\"%s\" is not an attachment number (see tend show)",
		                   argv[o.first + 1]);
	if ((rc = begin_action(c, "detach", 0, 2, "a thread ID and an attachment number", argc,
	                       argv, &o, &id, &a)))
		return rc;
	char *err = NULL;
	rc = review_detach(c->store, id, &a, (size_t)n, &err);
	review_agent_finish(&a);
	if (rc == 0)
		printf("Removed attachment %llu from the draft of thread %llu.\n",
		       (unsigned long long)n, (unsigned long long)id);
	return review_status(rc, err, "detach files from", id);
}

/* --since WHEN (the start of the span it names) or --until WHEN (its end); 0, or a usage error. */
static int when_option(const char *cmd, const char *arg, bool until, int64_t *out)
{
	struct when_span w;
	if (when_parse(arg, (int64_t)time(NULL), &w) < 0)
		return usage_error(cmd,
		                   "\"%s\" is not a time (YYYY-MM-DD [HH:MM], 7d, 12h, today, "
		                   "yesterday, this week, last week)",
		                   arg);
	*out = until ? w.end : w.start;
	return 0;
}

static int log_option(int ch, const char *arg, struct review_log_filter *f, bool *json)
{
	switch (ch) {
	case 'j':
		*json = true;
		return 0;
	case 'g':
		f->agent = arg;
		return 0;
	case 'c':
		f->action = arg;
		return 0;
	case 's':
	case 'u':
		return when_option("log", arg, ch == 'u', ch == 's' ? &f->since : &f->until);
	default:
		return usage_error("log", "%s", "unknown option");
	}
}

static int cmd_log(struct ctx *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"agent", required_argument, NULL, 'g'},
	    {"action", required_argument, NULL, 'c'},
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct review_log_filter f = {0};
	bool json = false;
	int ch, rc;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h')
			return command_help("log");
		if (ch == ':')
			return usage_error("log", "%s needs a value", argv[optind - 1]);
		if (ch == '?')
			return usage_error("log", "unknown option \"%s\"", argv[optind - 1]);
		if ((rc = log_option(ch, optarg, &f, &json)) != 0)
			return rc;
	}
	if (argc - optind > 1)
		return usage_error("log", "unexpected argument \"%s\"", argv[optind + 1]);
	if (argc - optind == 1 && parse_thread_id(argv[optind], &f.thread) < 0)
		return usage_error("log", "\"%s\" is not a thread ID", argv[optind]);
	if (open_store(c, true) < 0)
		return 1;
	struct view_options vo;
	view_options_detect(&vo, json);
	rc = review_log_filtered(c->store, &f, &vo, stdout);
	if (rc == STORE_NOTFOUND)
		log_warnx("no thread %llu", (unsigned long long)f.thread);
	else if (rc < 0)
		log_warnx("cannot read the audit trail: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* `tend outbox retry ID` and `tend outbox mark-sent ID`: an agent's decision on a reply. */
static int outbox_decide(struct ctx *c, const struct opts *o, int argc, char **argv)
{
	const char *sub = argv[o->first];
	bool mark = strcmp(sub, "mark-sent") == 0;
	uint64_t id;
	struct review_agent a;
	if (!mark && strcmp(sub, "retry") != 0)
		return usage_error("outbox",
		                   "unknown subcommand \"%s\" (expected retry or mark-sent)", sub);
	if (argc - o->first != 2 || parse_thread_id(argv[o->first + 1], &id) < 0)
		return usage_error("outbox", "%s needs one thread ID", sub);
	if (load_config(c) < 0 || resolve_agent(c, o, &a, false) < 0)
		return 1;
	char *err = NULL;
	int rc = open_existing_store(c, true) < 0 ? -1 : 0;
	if (rc == 0 && mark)
		rc = outbox_mark_sent(c->store, id, a.login, a.os_user, &err);
	else if (rc == 0)
		rc = outbox_retry(c->store, id, a.login, a.os_user, &err);
	review_agent_finish(&a);
	if (rc == 0 && mark)
		printf("Recorded the reply of thread %llu as sent.\n", (unsigned long long)id);
	else if (rc == 0) {
		printf("The reply of thread %llu will be sent again.\n", (unsigned long long)id);
		outbox_poke(c->config->store);
	}
	return rc == -1 && err == NULL ? 1 : review_status(rc, err, sub, id);
}

/* What is being sent, sent, failed or uncertain; or a decision on one reply. */
static int cmd_outbox(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts("outbox", OPT_JSON | OPT_ALL | OPT_AS, argc, argv, &o);
	if (rc)
		return rc;
	if (o.first < argc)
		return outbox_decide(c, &o, argc, argv);
	if (open_store(c, true) < 0)
		return 1;
	struct view_options vo;
	view_options_detect(&vo, o.json);
	rc = outbox_list(c->store, &vo, o.all, stdout);
	if (rc < 0)
		log_warnx("cannot list the outbox: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

static int stats_option(int ch, const char *arg, struct stats_options *so, bool *json)
{
	static const char *const by[] = {
	    [STATS_BY_TAG] = "tag", [STATS_BY_PRIORITY] = "priority", [STATS_BY_AGENT] = "agent"};
	switch (ch) {
	case 'j':
		*json = true;
		return 0;
	case 'd':
		so->daily = true;
		return 0;
	case 's':
	case 'u':
		return when_option("stats", arg, ch == 'u', ch == 's' ? &so->since : &so->until);
	case 'b':
		for (size_t i = 1; i < NELEM(by); i++)
			if (strcmp(arg, by[i]) == 0)
				return stats_add_by(so, (enum stats_by)i) < 0
				           ? usage_error("stats", "--by %s is given twice", arg)
				           : 0;
		return usage_error("stats", "--by takes tag, priority or agent, not \"%s\"", arg);
	default:
		return usage_error("stats", "%s", "unknown option");
	}
}

/* Response-time figures from the recorded times. */
static int cmd_stats(struct ctx *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"by", required_argument, NULL, 'b'},
	    {"daily", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct stats_options so = {0};
	bool json = false;
	int ch, rc;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h')
			return command_help("stats");
		if (ch == ':')
			return usage_error("stats", "%s needs a value", argv[optind - 1]);
		if (ch == '?')
			return usage_error("stats", "unknown option \"%s\"", argv[optind - 1]);
		if ((rc = stats_option(ch, optarg, &so, &json)) != 0)
			return rc;
	}
	if (optind < argc)
		return usage_error("stats", "unexpected argument \"%s\"", argv[optind]);
	struct rules *rules = NULL;
	if (open_store(c, true) < 0 || load_rules(c, &rules) < 0)
		return 1;
	so.bh = rules ? rules_business_hours(rules) : NULL;
	struct view_options vo;
	view_options_detect(&vo, json);
	rc = stats_report(c->store, &so, &vo, stdout);
	rules_free(rules);
	if (rc < 0)
		log_warnx("cannot read the store: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* The health of tendd, the IMAP accounts and the store; exit 0 whenever the store was read. */
static int cmd_status(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts("status", OPT_JSON, argc, argv, &o);
	if (rc)
		return rc;
	if (o.first < argc)
		return usage_error("status", "unexpected argument \"%s\"", argv[o.first]);
	if (open_store(c, true) < 0)
		return 1;
	struct view_options vo;
	view_options_detect(&vo, o.json);
	rc = status_report(c->store, c->config, &vo, stdout);
	if (rc < 0)
		log_warnx("cannot read the store: %s", store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

enum { SEARCH_SCREEN = 20 }; /* conversations `tend search` lists without --limit */

/* Full-text search over the conversations; --reindex builds the index again first. */
static int cmd_search(struct ctx *c, int argc, char **argv)
{
	struct opts o;
	unsigned long long limit = SEARCH_SCREEN;
	int rc = parse_opts("search", OPT_JSON | OPT_LIMIT | OPT_REINDEX, argc, argv, &o);
	if (rc || (rc = parse_limit("search", "conversations", &o, &limit)))
		return rc;
	if (o.first >= argc && !o.reindex)
		return usage_error("search", "%s", "no QUERY given");
	struct buf q = BUF_INIT;
	for (int i = o.first; i < argc; i++) {
		buf_puts(&q, i > o.first ? " " : "");
		buf_puts(&q, argv[i]);
	}
	if (open_store(c, true) < 0) {
		buf_free(&q);
		return 1;
	}
	struct view_options vo;
	view_options_detect(&vo, o.json);
	struct search_request r = {q.data, (size_t)limit, o.reindex};
	char *err = NULL;
	rc = search_command(c->store, &r, &vo, stdout, &err);
	if (rc < 0)
		log_warnx("%s", err ? err : store_strerror(rc));
	free(err);
	buf_free(&q);
	return rc == SEARCH_EQUERY ? EXIT_USAGE : rc < 0 ? 1 : 0;
}

/* A C0 control that a terminal acts on: tab, line ends and form feed are only text. */
static bool has_terminal_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r' && ch != '\f')
			return true;
	}
	return false;
}

/*
 * Writes a stored message exactly as it was received, e.g. to inspect a quarantined one; not
 * to a terminal when it holds control characters, which the terminal would obey.
 */
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
	bool refuse = rc == 0 && isatty(STDOUT_FILENO) && has_terminal_control(raw, len);
	if (rc == 0 && !refuse && (fwrite(raw, 1, len, stdout) != len || fflush(stdout) != 0))
		rc = STORE_ERROR;
	store_abort(t);
	if (refuse) {
		log_warnx("message %llu holds terminal control characters: not written to a "
		          "terminal; read it with `tend raw %llu | less` or redirect it to a file",
		          (unsigned long long)id, (unsigned long long)id);
		return 1;
	}
	if (rc == STORE_NOTFOUND)
		log_warnx("no message %llu", (unsigned long long)id);
	else if (rc < 0)
		log_warnx("cannot read message %llu: %s", (unsigned long long)id,
		          store_strerror(rc));
	return rc < 0 ? 1 : 0;
}

/* Text a terminal shows as it is: UTF-8 without controls but tab and line ends. */
static bool terminal_safe(const char *s, size_t n)
{
	if (!utf8_valid(s, n) || has_terminal_control(s, n) || memchr(s, 0x7f, n))
		return false;
	for (size_t i = 0; i + 1 < n; i++) /* C1 controls, U+0080..U+009F */
		if ((unsigned char)s[i] == 0xc2 && (unsigned char)s[i + 1] <= 0x9f)
			return false;
	return true;
}

/* Writes the attachment to stdout, unless that is a terminal and it is not plain text. */
static int attachment_to_stdout(const struct review_file *f, uint64_t msg, size_t n)
{
	if (isatty(STDOUT_FILENO) && !terminal_safe(f->data.data, f->data.len)) {
		char *name = term_dup(f->name, TEXT_LINE);
		log_warnx("attachment %zu of message %llu (%s) is not plain text: not written to a "
		          "terminal; save it with `tend attachment %llu %zu -o FILE` (or -o DIR/)",
		          n, (unsigned long long)msg, name, (unsigned long long)msg, n);
		free(name);
		return 1;
	}
	if (fwrite(f->data.data, 1, f->data.len, stdout) != f->data.len || fflush(stdout) != 0) {
		log_warn("cannot write the attachment");
		return 1;
	}
	return 0;
}

static int cmd_attachment(struct ctx *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *output = NULL;
	bool force = false;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":o:fh", longopts, NULL)) != -1) {
		if (ch == 'h')
			return command_help("attachment");
		if (ch == ':' || ch == '?')
			return usage_error("attachment", "bad option \"%s\"", argv[optind - 1]);
		output = ch == 'o' ? optarg : output;
		force |= ch == 'f';
	}
	uint64_t msg, n;
	if (argc - optind != 2 || parse_thread_id(argv[optind], &msg) < 0 ||
	    parse_thread_id(argv[optind + 1], &n) < 0 || n > SIZE_MAX)
		return usage_error("attachment", "%s",
		                   "expected a message number and an attachment "
		                   "number (tend show lists them)");
	if (open_store(c, true) < 0)
		return 1;
	struct review_file f;
	char *err = NULL, *written = NULL;
	int rc = review_attachment(c->store, c->config, msg, (size_t)n, &f, &err);
	if (rc == 0 && output)
		rc = review_file_save(&f, output, force, &written, &err);
	else if (rc == 0)
		rc = attachment_to_stdout(&f, msg, (size_t)n) ? -1 : 0;
	if (rc == 0 && written) {
		char *safe = term_dup(written, TEXT_LINE);
		printf("Wrote %zu bytes to %s.\n", f.data.len, safe);
		free(safe);
	}
	if (err) /* the loop asks for another name instead: the option is the command's */
		log_warnx("%s%s", err, rc == REVIEW_EXISTS ? " (--force replaces it)" : "");
	review_file_finish(&f);
	free(err);
	free(written);
	return rc < 0 ? 1 : 0;
}

/* The rules in path, or (path NULL) the configured ones, built-in when there is no file. */
static int rules_from(struct ctx *c, const char *path, struct rules **out)
{
	if (!path)
		return load_rules(c, out);
	struct diags d = DIAGS_INIT;
	int rc = rules_load(path, out, &d);
	if (rc < 0)
		diags_print(&d);
	diags_free(&d);
	return rc;
}

static int rules_check(struct ctx *c, int argc, char **argv)
{
	if (argc > 2)
		return usage_error("rules", "%s", "check takes at most one FILE");
	if (argc == 2)
		return rulestool_check(argv[1], stdout);
	if (load_config(c) < 0)
		return 1;
	return rulestool_check(c->config->rules, stdout);
}

static int rules_test(struct ctx *c, bool json, int argc, char **argv)
{
	if (argc != 2)
		return usage_error("rules", "%s", "test takes one FILE.eml");
	struct rules *r = NULL;
	if (load_config(c) < 0 || rules_from(c, NULL, &r) < 0)
		return 1;
	struct rules *builtin = r ? NULL : rules_builtin();
	/* A follow-up's captures may come from its conversation: look in the store, if any. */
	if (c->config->store && access(c->config->store, F_OK) == 0)
		open_store(c, true);
	int rc = rulestool_test(r ? r : builtin, c->config, c->store, argv[1], json, stdout);
	rules_free(r);
	rules_free(builtin);
	return rc;
}

static int rules_replay(struct ctx *c, bool json, int argc, char **argv)
{
	if (argc > 2)
		return usage_error("rules", "%s", "replay takes at most one FILE");
	struct rules *r = NULL;
	if (open_store(c, true) < 0 || rules_from(c, argc == 2 ? argv[1] : NULL, &r) < 0)
		return 1;
	struct rules *builtin = r ? NULL : rules_builtin();
	int rc = rulestool_replay(c->store, c->config, r ? r : builtin, json, stdout);
	if (rc < 0)
		log_warnx("cannot replay the rules: %s", store_strerror(rc));
	rules_free(r);
	rules_free(builtin);
	return rc < 0 ? 1 : 0;
}

static int cmd_rules(struct ctx *c, int argc, char **argv)
{
	bool json = false;
	int first;
	int rc = parse_json_flag("rules", argc, argv, &json, &first);
	if (rc)
		return rc;
	if (first >= argc)
		return usage_error("rules", "%s", "expected check, test or replay");
	const char *sub = argv[first];
	if (strcmp(sub, "check") == 0)
		return rules_check(c, argc - first, argv + first);
	if (strcmp(sub, "test") == 0)
		return rules_test(c, json, argc - first, argv + first);
	if (strcmp(sub, "replay") == 0)
		return rules_replay(c, json, argc - first, argv + first);
	return usage_error("rules", "unknown subcommand \"%s\"", sub);
}

/* tend help [COMMAND]: tend's usage, or a command's (with review's keys). */
static int cmd_help(struct ctx *c, int argc, char **argv)
{
	(void)c;
	if (argc == 1) {
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		return usage_error("help", "%s", "expected at most one COMMAND");
	for (const struct command *cmd = commands; cmd->name; cmd++)
		if (strcmp(cmd->name, argv[1]) == 0) {
			command_help(argv[1]);
			if (strcmp(argv[1], "review") == 0)
				tend_review_keys(stdout);
			return 0;
		}
	return usage_error("help", "unknown command \"%s\"", argv[1]);
}

static const struct command commands[] = {
    {"import", cmd_import, "[--json] [--sent] PATH...",
     "ingest mbox files, maildirs and .eml files (--sent: our sent mail)"},
    {"threads", cmd_threads, "[--json] [--quarantined] [--state STATE]",
     "list conversations (or quarantined messages), or those in one state"},
    {"customer", cmd_customer, "[--json] ADDRESS",
     "every conversation with a customer, and the messages exchanged"},
    {"queue", cmd_queue,
     "[--json] [--all] [--limit N] [--mine] [--assignee A] [--tag T] [--priority P]",
     "drafts awaiting review, most urgent first"},
    {"show", cmd_show, "[--json] [--as AGENT] [--take [--force]] ID",
     "a thread's messages and its draft (--take: you are on it)"},
    {"review", cmd_review, "[--as AGENT] [--mine] [--assignee A] [--tag T] [--priority P]",
     "walk the queue on a terminal, a key per action (? lists the keys)"},
    {"edit", cmd_edit, "[--as AGENT] [--force] ID", "edit the draft in $VISUAL or $EDITOR"},
    {"approve", cmd_approve, "[--as AGENT] [--force] [--yes] [--bounced-ok] ID",
     "approve the draft (on a terminal: after showing it): it is sent after review.undo"},
    {"undo", cmd_undo, "[--as AGENT] ID", "take an approved reply back within review.undo"},
    {"release", cmd_release, "[--as AGENT] [--force] ID", "you are no longer on it"},
    {"reject", cmd_reject, "[--as AGENT] --reason TEXT [--resolve] ID",
     "reject the draft: write the reply yourself, or resolve"},
    {"resolve", cmd_resolve, "[--as AGENT] [--reason TEXT] ID",
     "the conversation needs nothing more: the clock stops"},
    {"reopen", cmd_reopen, "[--as AGENT] ID", "it needs an answer again: a new draft"},
    {"redraft", cmd_redraft, "[--as AGENT] ID | --all",
     "write open drafts again from the current rules and templates"},
    {"draft", cmd_draft, "[--as AGENT] ID --add TEMPLATE | --remove N",
     "add the part a rule's template writes, or remove part N"},
    {"snooze", cmd_snooze, "[--as AGENT] ID DURATION", "hide the draft from the queue a while"},
    {"assign", cmd_assign, "[--as AGENT] ID AGENT|-", "assign the thread to an agent (- clears)"},
    {"attach", cmd_attach, "[--as AGENT] ID FILE...", "attach files to the draft"},
    {"detach", cmd_detach, "[--as AGENT] ID N", "remove the draft's N-th attachment"},
    {"note", cmd_note, "[--as AGENT] ID [TEXT...]",
     "an internal note, never sent (no TEXT: $VISUAL or $EDITOR)"},
    {"outbox", cmd_outbox, "[--json] [--all] | retry ID | mark-sent ID",
     "replies being sent, sent, failed or uncertain; decide on one"},
    {"stats", cmd_stats,
     "[--json] [--daily] [--since WHEN] [--until WHEN] [--by tag|priority|agent]...",
     "first-response times and targets kept, from the recorded times"},
    {"log", cmd_log,
     "[--json] [--agent AGENT] [--action ACTION] [--since WHEN] [--until WHEN] [ID]",
     "the audit trail, of everything or of one thread"},
    {"search", cmd_search, "[--json] [--limit N] [--reindex] QUERY",
     "conversations holding these words, newest first"},
    {"rules", cmd_rules, "check [FILE] | test [--json] FILE.eml | replay [--json] [FILE]",
     "validate rules, try them on a message, or on all stored mail"},
    {"attachment", cmd_attachment, "MSG N [-o FILE|DIR] [--force]",
     "write a message's N-th attachment out (tend show numbers them)"},
    {"raw", cmd_raw, "MSG", "a stored message as received (MSG from --quarantined)"},
    {"status", cmd_status, "[--json]", "tendd, the mail accounts and the store at a glance"},
    {"help", cmd_help, "[COMMAND]", "how tend, or one command, is used"},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"as", required_argument, NULL, 'a'},
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
		case 'a':
			c.as = optarg;
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
