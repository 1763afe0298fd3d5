/*
 * config: tend.yaml, loaded with libyaml into typed structs.
 *
 * Every problem in the file is reported with file:line:column and what was expected; unknown
 * keys are errors; all problems are collected, not only the first. Relative paths in the file
 * are made absolute against the file's directory at load time.
 */
#ifndef TEND_CONFIG_H
#define TEND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tend/util.h"

/* How tendd logs in to IMAP. */
enum config_auth {
	CONFIG_AUTH_AUTO,    /* XOAUTH2 with a token command, else LOGIN, else AUTHENTICATE PLAIN */
	CONFIG_AUTH_LOGIN,   /* the LOGIN command */
	CONFIG_AUTH_PLAIN,   /* AUTHENTICATE PLAIN (SASL) */
	CONFIG_AUTH_XOAUTH2, /* AUTHENTICATE XOAUTH2 with the token from oauth2_token_command */
};

enum config_tls {
	CONFIG_TLS_IMPLICIT,
	CONFIG_TLS_STARTTLS,
	CONFIG_TLS_NONE, /* accepted only for a loopback host */
};

struct config_imap {
	char *host;
	int port; /* default 993 for implicit TLS, 143 otherwise */
	enum config_tls tls;
	char *ca_file; /* NULL: the system store */
	char *user;
	char *password_file;            /* absolute path, or NULL */
	struct strvec password_command; /* argv, empty when unset */
	struct strvec folders;          /* default: INBOX */
	char *sent_folder;              /* default: Sent */
	bool idle;                      /* default: true */
	int64_t poll_interval;          /* seconds; default 60 */
	int64_t max_message_size;       /* bytes; default 50 MiB */
	int64_t timeout;                /* seconds for connect, TLS and each reply; default 60 */
	enum config_auth auth;          /* default: auto */
	struct strvec oauth2_token_command; /* argv printing an access token, empty when unset */
};

struct config_smtp {
	char *url;    /* smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT] (implicit TLS) */
	int url_line; /* where url is written in the file, for the checks of smtp_check_config */
	int url_column;
	char *ca_file;       /* NULL: the system store */
	char *user;          /* NULL: no AUTH (a loopback relay); then no password source either */
	char *password_file; /* absolute path, or NULL */
	struct strvec password_command; /* argv, empty when unset */
	int64_t timeout;                /* seconds for connect, TLS and each reply; default 60 */
	int64_t retry_interval; /* seconds before the first retry after a temporary failure; the
	                           wait doubles, to at most an hour; default 30 */
	int64_t give_up_after;  /* seconds of temporary failures before a reply fails; default 2d */
};

struct config_account {
	char *name;
	char *address; /* our own address: never answered, never a customer */
	char *from_name;
	bool has_imap;
	struct config_imap imap;
	bool has_smtp;
	struct config_smtp smtp;
};

struct config_agent {
	char *login;
	char *name; /* default: the login */
	char *user; /* the OS user it is bound to (user:), or NULL */
	uid_t uid;  /* that user's uid, looked up when the file was loaded */
};

struct config_threading {
	bool subject_fallback;  /* default true */
	int64_t subject_window; /* seconds; default 14 days */
	char *token;            /* default "[#{id}]"; contains "{id}" exactly once */
};

/* Limits that keep a hostile message from exhausting memory or stack. */
struct config_limits {
	int64_t message_size; /* bytes; default 50 MiB */
	int64_t header_count; /* default 1000 */
	int64_t mime_depth;   /* default 32 */
	int64_t mime_parts;   /* default 1000 */
	int64_t addresses;    /* of each of To, Cc and Reply-To kept; default 1000 */
	int64_t attachments;  /* bytes of the files attached to one draft, in all; 10 MiB */
};

/* How drafts are reviewed. */
struct config_review {
	bool require_second_person; /* the approver may not be the draft's last editor; false */
	/* int64_t, as yamlutil_set_int writes: an int here took 8 bytes (and the next field) */
	int64_t max_recipients; /* To and Cc of a reply at most; default 20 */
	int64_t undo;           /* seconds an approved reply waits, to be taken back; 20 */
	/* PCRE2 patterns of an operator's placeholders ("[CHECK PRICE]"): a draft that still
	 * matches one is not approved. Checked when the file is loaded. */
	struct strvec placeholders;
	int64_t claim_for; /* seconds an agent's claim on a conversation holds; 15 min */
};

/* The placeholder pattern when tend.yaml names none: words in capitals between brackets. */
#define CONFIG_PLACEHOLDER_DEFAULT "\\[[A-Z][A-Z ]{3,}\\]"

/*
 * Compiles a review.placeholders pattern as approval uses it (PCRE2, UTF and Unicode
 * properties). Returns the code (a pcre2_code *, freed with pcre2_code_free), or NULL with
 * *err (caller frees) and *offset, the place in the pattern where it went wrong.
 */
void *config_placeholder_compile(const char *pattern, size_t *offset, char **err);

/*
 * One stage of escalation (tend.yaml `escalation:`): a notice to `to` once a conversation has
 * waited `at` for a reply, sent once per conversation and clock.
 */
#define CONFIG_MAX_STAGES 32

struct config_stage {
	char *to;
	int share;           /* at: a share of the target in percent, 1-100; 0 when after is set */
	int64_t after;       /* at: working seconds since the clock started; 0 when share is set */
	unsigned priorities; /* bit (1 << priority) per priority it is limited to; 0: every one */
	struct strvec tags;  /* limited to conversations with one of these tags; empty: all */
	char *at;            /* as written: "90%", "2h" */
	/* "90% lead@shop.example": what a conversation records when the stage fired for it */
	char *key;
};

struct config {
	char *path; /* the file loaded, as given */
	char *dir;  /* its directory, absolute */
	char *store;
	char *rules; /* default: rules.yaml beside the config */
	char *group; /* NULL: the store is private to its owner */
	struct config_threading threading;
	struct config_limits limits;
	struct config_account *accounts;
	size_t naccounts;
	struct config_agent *agents;
	size_t nagents;
	bool agents_listed; /* the file has an agents: list (which may restrict who acts) */
	bool agents_bound;  /* an agent names a user: every agent is bound to an OS user */
	int escalation_at;  /* the at-risk mark: the smallest share of the stages; 0: none */
	struct config_review review;
	/*
	 * The authserv-ids (RFC 8601) of the receiving servers whose Authentication-Results are
	 * believed: a DKIM or DMARC pass for our domain there makes mail from our address ours.
	 * Empty (the default): no Authentication-Results field is believed.
	 */
	struct strvec authserv_ids;
	/* Senders that write for someone else, besides no-reply@ and its kin (thread.h):
	 * "addr@domain", "@domain" or "local@". Their mail's customer is its Reply-To. */
	struct strvec form_senders;
	/* escalation: the stages, in the order written (the old single mapping is one stage);
	 * at most CONFIG_MAX_STAGES */
	struct config_stage *stages;
	size_t nstages;
	/* Where tendd writes its figures for node_exporter's textfile collector; NULL: nowhere. */
	char *metrics_file;
	/* A shop label on every figure in metrics_file (one host, several shops' tendds, one
	 * textfile collector); NULL: none. */
	char *metrics_shop;
};

/*
 * Loads and validates the file at path. On success returns 0 and *out (free with
 * config_free). On failure returns -1, sets *out to NULL and appends every problem found to
 * diags, each as "FILE:LINE:COLUMN: message" with FILE the path as given.
 */
int config_load(const char *path, struct config **out, struct diags *diags);

/*
 * Fills a config with defaults only (no file): used for tests and for `tend import` helpers.
 * path, store and rules are NULL and dir is the current directory; the caller sets what it
 * needs and frees the result with config_free.
 */
struct config *config_defaults(void);

/*
 * The config path to use: the argument, else $TEND_CONFIG, else /etc/tend/tend.yaml. Returns
 * arg, the environment's string or a constant: never free it.
 */
const char *config_default_path(const char *arg);

/* Looks up an account by name; NULL when there is none. The result lives as long as c. */
const struct config_account *config_account(const struct config *c, const char *name);

/* True when addr (case-insensitively) is one of the configured accounts' own addresses. */
bool config_is_own_address(const struct config *c, const char *addr);

/* True for a loopback host (localhost, 127.0.0.0/8, ::1): where TLS may be skipped. */
bool config_host_is_loopback(const char *host);

/* Frees c and everything it holds; NULL is fine. */
void config_free(struct config *c);

#endif
