/*
 * config: tend.yaml into struct config.
 *
 * The schema is a set of key tables, one per mapping, walked by yamlutil: generic handlers
 * store plain values; the handlers here add what only tend knows (addresses, TLS policy,
 * password sources). Checks that span keys run after a mapping's walk, when every key has been
 * seen whatever order the operator wrote them in.
 */
#include "tend/config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend/attach.h"
#include "tend/yamlutil.h"

#include "config_int.h"

#define MIB (1024 * 1024)

/* What handlers need beyond the struct they fill. */
struct load {
	struct config *c;
	const char *label; /* the account being walked, for messages: account "support" */
};

/* The label of the account being walked. */
static const char *label(struct yamlutil_doc *y)
{
	return ((struct load *)y->user)->label;
}

static void set_defaults(struct config *c)
{
	c->threading.subject_fallback = true;
	c->threading.subject_window = 14 * 86400;
	c->threading.token = xstrdup("[#{id}]");
	c->limits.message_size = 50 * MIB;
	c->limits.header_count = 1000;
	c->limits.mime_depth = 32;
	c->limits.mime_parts = 1000;
	c->limits.addresses = 1000;
	c->limits.attachments = ATTACH_DEFAULT_MAX;
	c->review.max_recipients = 20;
	c->review.claim_for = 15 * 60;
	c->review.undo = 20;
	strvec_push(&c->review.placeholders, CONFIG_PLACEHOLDER_DEFAULT);
}

struct config *config_defaults(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	char *cwd = getcwd(NULL, 0);
	c->dir = xstrdup(cwd ? cwd : "/");
	free(cwd);
	set_defaults(c);
	return c;
}

static void imap_defaults(struct config_imap *m)
{
	m->tls = CONFIG_TLS_IMPLICIT;
	strvec_push(&m->folders, "INBOX");
	m->sent_folder = xstrdup("Sent");
	m->idle = true;
	m->poll_interval = 60;
	m->max_message_size = 50 * MIB;
	m->timeout = 60;
}

static void smtp_defaults(struct config_smtp *m)
{
	m->timeout = 60;
	m->retry_interval = 30;
	m->give_up_after = 2 * 86400;
}

bool config_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (host == NULL)
		return false;
	if (str_ieq(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Bytes that may stand unquoted in a local part, plus UTF-8 (RFC 6531). */
static bool local_char(unsigned char c)
{
	return c >= 0x80 || (c > 0x20 && c < 0x7f && strchr("()<>[]\\,;:@\"", c) == NULL);
}

static bool domain_valid(const char *d)
{
	size_t label_len = 0;
	for (const unsigned char *p = (const unsigned char *)d;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label_len == 0)
				return false;
			if (*p == '\0')
				return true;
			label_len = 0;
		} else if (isalnum(*p) || *p == '-' || *p >= 0x80) {
			label_len++;
		} else {
			return false;
		}
	}
}

/* A bare addr-spec such as support@shop.example: what tend writes in From and compares with. */
static bool address_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || at == s)
		return false;
	for (const char *p = s; p < at; p++)
		if (!local_char((unsigned char)*p))
			return false;
	return domain_valid(at + 1);
}

int config_set_address(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (!address_valid(s)) {
		char *subject = xasprintf("\"%s\"", k->name);
		yamlutil_type_error(y, val, subject, "an email address like support@shop.example");
		free(subject);
		return -1;
	}
	char **dst = yamlutil_field(k, obj);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* After getgrnam or getpwnam (errno cleared before) found no entry for name. */
static void lookup_failed(struct yamlutil_doc *y, yaml_node_t *val, const char *what,
                          const char *name)
{
	int e = errno;
	struct buf q = BUF_INIT;
	yamlutil_quote(&q, name);
	if (e != 0 && e != ENOENT && e != ESRCH)
		yamlutil_error(y, val, "cannot look up %s %s: %s", what, q.data, strerror(e));
	else
		yamlutil_error(y, val, "%s %s does not exist on this system", what, q.data);
	buf_free(&q);
}

static int set_group(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	/* The store is created with this group: a typo would leave agents locked out later. */
	errno = 0;
	if (getgrnam(s) == NULL) {
		lookup_failed(y, val, "group", s);
		return -1;
	}
	free(c->group);
	c->group = xstrdup(s);
	return 0;
}

static int set_token(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	const char *first = strstr(s, "{id}");
	if (first == NULL || strstr(first + 1, "{id}") != NULL) {
		struct buf q = BUF_INIT;
		yamlutil_quote(&q, s);
		yamlutil_error(
		    y, val,
		    "\"token\" must contain \"{id}\" exactly once, like \"[#{id}]\", not %s",
		    q.data);
		buf_free(&q);
		return -1;
	}
	free(c->threading.token);
	c->threading.token = xstrdup(s);
	return 0;
}

static const struct yamlutil_key threading_keys[] = {
    {.name = "subject_fallback",
     .fn = yamlutil_set_bool,
     .offset = offsetof(struct config, threading.subject_fallback)},
    {.name = "subject_window",
     .fn = yamlutil_set_duration,
     .offset = offsetof(struct config, threading.subject_window),
     .min = 1},
    {.name = "token", .fn = set_token},
};

static const struct yamlutil_key limits_keys[] = {
    {.name = "message_size",
     .fn = yamlutil_set_size,
     .offset = offsetof(struct config, limits.message_size),
     .min = 1},
    {.name = "header_count",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, limits.header_count),
     .min = 1,
     .max = 1000000},
    {.name = "mime_depth",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, limits.mime_depth),
     .min = 1,
     .max = 1000},
    {.name = "mime_parts",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, limits.mime_parts),
     .min = 1,
     .max = 1000000},
    {.name = "addresses",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, limits.addresses),
     .min = 1,
     .max = 10000000},
    {.name = "attachments",
     .fn = yamlutil_set_size,
     .offset = offsetof(struct config, limits.attachments),
     .min = 1},
};

void *config_placeholder_compile(const char *pattern, size_t *offset, char **err)
{
	int code;
	PCRE2_SIZE off = 0;
	/* as the rules' patterns: UCP so that [[:upper:]] and \w know "Ä" */
	pcre2_code *re =
	    pcre2_compile((PCRE2_SPTR)pattern, strlen(pattern),
	                  PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
	if (re == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		*err = xstrdup((const char *)msg);
		*offset = (size_t)off;
	}
	return re;
}

/* review.placeholders: a list of patterns, each compiled here so that a bad one is an error
 * at load, with its place, and not a surprise at approval. */
static int set_placeholders(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                            yaml_node_t *val, void *obj)
{
	if (yamlutil_set_strlist(y, k, key, val, obj) < 0)
		return -1;
	struct strvec *list = yamlutil_field(k, obj);
	int rc = 0;
	for (size_t i = 0; i < list->n; i++) {
		size_t off;
		char *err = NULL;
		void *re = config_placeholder_compile(list->v[i], &off, &err);
		if (re == NULL) {
			int line, col;
			yamlutil_scalar_pos(y, yamlutil_seq_item(y, val, i), off, &line, &col);
			diag_add(y->diags, y->file, line, col,
			         "bad pattern in \"review\" \"placeholders\": %s", err);
			rc = -1;
		}
		pcre2_code_free(re);
		free(err);
	}
	return rc;
}

static const struct yamlutil_key review_keys[] = {
    {.name = "require_second_person",
     .fn = yamlutil_set_bool,
     .offset = offsetof(struct config, review.require_second_person)},
    {.name = "max_recipients",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, review.max_recipients),
     .min = 1,
     .max = 10000},
    {.name = "claim_for",
     .fn = yamlutil_set_duration,
     .offset = offsetof(struct config, review.claim_for),
     .min = 1},
    {.name = "undo",
     .fn = yamlutil_set_int,
     .offset = offsetof(struct config, review.undo),
     .min = 0,
     .max = 3600},
    {.name = "placeholders",
     .fn = set_placeholders,
     .offset = offsetof(struct config, review.placeholders)},
};

static int walk_threading(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                          yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, threading_keys, NELEM(threading_keys), obj, "\"threading\"", NULL);
	return 0;
}

static int walk_limits(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, limits_keys, NELEM(limits_keys), obj, "\"limits\"", NULL);
	return 0;
}

static int walk_review(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	yamlutil_walk(y, val, review_keys, NELEM(review_keys), obj, "\"review\"", NULL);
	return 0;
}

/* Names end up in cursor keys ("support/INBOX") and on command lines (--account support). */
static int set_account_name(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                            yaml_node_t *val, void *obj)
{
	struct config_account *a = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(s)) {
		yamlutil_type_error(y, val, "\"name\"", "letters, digits, \".\", \"_\" or \"-\"");
		return -1;
	}
	free(a->name);
	a->name = xstrdup(s);
	return 0;
}

/* A password in the file would be readable by everyone who may read the configuration. */
static int reject_password(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                           yaml_node_t *val, void *obj)
{
	const char *slash = strrchr(y->file, '/');
	yamlutil_error(y, key, "%s: password given in %s; use password_file or password_command",
	               label(y), slash ? slash + 1 : y->file);
	return -1;
}

static int set_port(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                    yaml_node_t *val, void *obj)
{
	struct config_account *a = obj;
	int64_t v;
	if (yamlutil_get_int(y, val, k->name, 1, 65535, &v) < 0)
		return -1;
	a->imap.port = (int)v;
	return 0;
}

static int set_tls(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                   yaml_node_t *val, void *obj)
{
	static const char *const names[] = {
	    [CONFIG_TLS_IMPLICIT] = "implicit",
	    [CONFIG_TLS_STARTTLS] = "starttls",
	    [CONFIG_TLS_NONE] = "none",
	};
	struct config_account *a = obj;
	const char *s = yamlutil_scalar(val);
	for (size_t i = 0; s != NULL && i < NELEM(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			a->imap.tls = (enum config_tls)i;
			return 0;
		}
	}
	yamlutil_type_error(y, val, "\"tls\"", "one of implicit, starttls, none");
	return -1;
}

static int set_auth(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                    yaml_node_t *val, void *obj)
{
	static const char *const names[] = {
	    [CONFIG_AUTH_AUTO] = "auto",
	    [CONFIG_AUTH_LOGIN] = "login",
	    [CONFIG_AUTH_PLAIN] = "plain",
	    [CONFIG_AUTH_XOAUTH2] = "xoauth2",
	};
	struct config_account *a = obj;
	const char *s = yamlutil_scalar(val);
	for (size_t i = 0; s != NULL && i < NELEM(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			a->imap.auth = (enum config_auth)i;
			return 0;
		}
	}
	yamlutil_type_error(y, val, "\"auth\"", "one of auto, login, plain, xoauth2");
	return -1;
}

/*
 * smtp:// or smtps://, the two forms libcurl sends mail with. The rest of the URL is read by
 * libcurl, and checked as it reads it (smtp_check_config): a second reading here could only
 * disagree with it about where the mail goes.
 */
static bool smtp_url_valid(const char *s)
{
	return (str_istarts(s, "smtp://") || str_istarts(s, "smtps://")) &&
	       strpbrk(s, " \t") == NULL;
}

static int set_url(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                   yaml_node_t *val, void *obj)
{
	struct config_account *a = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	if (!smtp_url_valid(s)) {
		yamlutil_type_error(y, val, "\"url\"",
		                    "a URL like smtp://HOST:587 (STARTTLS) or smtps://HOST:465");
		return -1;
	}
	free(a->smtp.url);
	a->smtp.url = xstrdup(s);
	a->smtp.url_line = (int)val->start_mark.line + 1;
	a->smtp.url_column = (int)val->start_mark.column + 1;
	return 0;
}

#define IMAP(field) offsetof(struct config_account, imap.field)
#define SMTP(field) offsetof(struct config_account, smtp.field)

static const struct yamlutil_key imap_keys[] = {
    {.name = "host", .fn = yamlutil_set_string, .offset = IMAP(host), .flags = YAMLUTIL_REQUIRED},
    {.name = "port", .fn = set_port},
    {.name = "tls", .fn = set_tls},
    {.name = "ca_file", .fn = yamlutil_set_path, .offset = IMAP(ca_file)},
    {.name = "user", .fn = yamlutil_set_string, .offset = IMAP(user), .flags = YAMLUTIL_REQUIRED},
    {.name = "password_file", .fn = yamlutil_set_path, .offset = IMAP(password_file)},
    {.name = "password_command",
     .fn = yamlutil_set_strlist,
     .offset = IMAP(password_command),
     .min = 1},
    {.name = "password", .fn = reject_password, .flags = YAMLUTIL_HIDDEN},
    {.name = "folders", .fn = yamlutil_set_strlist, .offset = IMAP(folders), .min = 1},
    {.name = "sent_folder", .fn = yamlutil_set_string, .offset = IMAP(sent_folder)},
    {.name = "idle", .fn = yamlutil_set_bool, .offset = IMAP(idle)},
    {.name = "poll_interval", .fn = yamlutil_set_duration, .offset = IMAP(poll_interval), .min = 1},
    {.name = "max_message_size",
     .fn = yamlutil_set_size,
     .offset = IMAP(max_message_size),
     .min = 1},
    {.name = "timeout", .fn = yamlutil_set_duration, .offset = IMAP(timeout), .min = 1},
    {.name = "auth", .fn = set_auth},
    {.name = "oauth2_token_command",
     .fn = yamlutil_set_strlist,
     .offset = IMAP(oauth2_token_command),
     .min = 1},
};

static const struct yamlutil_key smtp_keys[] = {
    {.name = "url", .fn = set_url, .flags = YAMLUTIL_REQUIRED},
    {.name = "ca_file", .fn = yamlutil_set_path, .offset = SMTP(ca_file)},
    {.name = "user", .fn = yamlutil_set_string, .offset = SMTP(user)},
    {.name = "password_file", .fn = yamlutil_set_path, .offset = SMTP(password_file)},
    {.name = "password_command",
     .fn = yamlutil_set_strlist,
     .offset = SMTP(password_command),
     .min = 1},
    {.name = "password", .fn = reject_password, .flags = YAMLUTIL_HIDDEN},
    {.name = "timeout", .fn = yamlutil_set_duration, .offset = SMTP(timeout), .min = 1},
    {.name = "retry_interval",
     .fn = yamlutil_set_duration,
     .offset = SMTP(retry_interval),
     .min = 1},
    {.name = "give_up_after", .fn = yamlutil_set_duration, .offset = SMTP(give_up_after), .min = 1},
};

/* The one of two nodes written later in the file, where a conflict becomes visible. */
static const yaml_node_t *later(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->start_mark.index > b->start_mark.index ? a : b;
}

/*
 * At most one password source, and a source goes with a user. A password: key was already
 * rejected with advice, and a required user that is missing was already reported: saying
 * more about either would only repeat it.
 */
static void check_password(struct yamlutil_doc *y, const yaml_node_t *map, const char *section,
                           bool user_required, const char *user)
{
	const yaml_node_t *fnode = yamlutil_map_get(y, map, "password_file");
	const yaml_node_t *cnode = yamlutil_map_get(y, map, "password_command");
	if (fnode != NULL && cnode != NULL) {
		yamlutil_error(y, later(fnode, cnode),
		               "%s: password_file and password_command are both given; use one",
		               label(y));
		return;
	}
	if (yamlutil_map_get(y, map, "password") != NULL)
		return;
	bool source = fnode != NULL || cnode != NULL;
	if (!source && user != NULL)
		yamlutil_error(y, map, "%s: \"%s\" needs password_file or password_command",
		               label(y), section);
	else if (source && user == NULL && !user_required)
		yamlutil_error(y, map, "%s: \"%s\" has a password but no user", label(y), section);
}

/* XOAUTH2 takes a token command instead of a password; the other methods take a password. */
static void check_imap_auth(struct yamlutil_doc *y, const yaml_node_t *map, struct config_imap *m)
{
	const yaml_node_t *tnode = yamlutil_map_get(y, map, "oauth2_token_command");
	if (m->auth == CONFIG_AUTH_XOAUTH2 && tnode == NULL)
		yamlutil_error(y, yamlutil_map_get(y, map, "auth"),
		               "%s: \"auth: xoauth2\" needs oauth2_token_command", label(y));
	else if (tnode != NULL && m->auth != CONFIG_AUTH_XOAUTH2 && m->auth != CONFIG_AUTH_AUTO)
		yamlutil_error(y, tnode,
		               "%s: oauth2_token_command is used only with \"auth: xoauth2\"",
		               label(y));
	if (tnode == NULL && m->auth != CONFIG_AUTH_XOAUTH2)
		check_password(y, map, "imap", true, m->user);
}

static void check_imap(struct yamlutil_doc *y, const yaml_node_t *map, struct config_imap *m)
{
	check_imap_auth(y, map, m);
	if (m->port == 0)
		m->port = m->tls == CONFIG_TLS_IMPLICIT ? 993 : 143;
	if (m->tls != CONFIG_TLS_NONE || m->host == NULL || config_host_is_loopback(m->host))
		return;
	struct buf q = BUF_INIT;
	yamlutil_quote(&q, m->host);
	yamlutil_error(y, yamlutil_map_get(y, map, "tls"),
	               "%s: \"tls: none\" would send the password and mail unencrypted; it is "
	               "allowed only when host is loopback (127.0.0.1, ::1, localhost), not %s",
	               label(y), q.data);
	buf_free(&q);
}

static int walk_imap(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct config_account *a = obj;
	char *where = xasprintf("\"imap\" of %s", label(y));
	a->has_imap = true;
	imap_defaults(&a->imap);
	yamlutil_walk(y, val, imap_keys, NELEM(imap_keys), a, where, "\"imap\"");
	check_imap(y, val, &a->imap);
	free(where);
	return 0;
}

static int walk_smtp(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                     yaml_node_t *val, void *obj)
{
	struct config_account *a = obj;
	char *where = xasprintf("\"smtp\" of %s", label(y));
	a->has_smtp = true;
	smtp_defaults(&a->smtp);
	yamlutil_walk(y, val, smtp_keys, NELEM(smtp_keys), a, where, "\"smtp\"");
	if (val->type == YAML_MAPPING_NODE)
		check_password(y, val, "smtp", false, a->smtp.user);
	free(where);
	return 0;
}

static const struct yamlutil_key account_keys[] = {
    {.name = "name", .fn = set_account_name, .flags = YAMLUTIL_REQUIRED},
    {.name = "address",
     .fn = config_set_address,
     .offset = offsetof(struct config_account, address),
     .flags = YAMLUTIL_REQUIRED},
    {.name = "from_name",
     .fn = yamlutil_set_string,
     .offset = offsetof(struct config_account, from_name)},
    {.name = "imap", .fn = walk_imap},
    {.name = "smtp", .fn = walk_smtp},
};

/* An agent bound to an OS user: a typo would lock the agent out, so the user must exist. */
static int set_agent_user(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                          yaml_node_t *val, void *obj)
{
	struct config_agent *g = obj;
	const char *s;
	if (yamlutil_get_string(y, val, k->name, &s) < 0)
		return -1;
	errno = 0;
	struct passwd *pw = getpwnam(s);
	if (pw == NULL) {
		lookup_failed(y, val, "user", s);
		return -1;
	}
	free(g->user);
	g->user = xstrdup(s);
	g->uid = pw->pw_uid;
	return 0;
}

static const struct yamlutil_key agent_keys[] = {
    {.name = "login",
     .fn = yamlutil_set_string,
     .offset = offsetof(struct config_agent, login),
     .flags = YAMLUTIL_REQUIRED},
    {.name = "name", .fn = yamlutil_set_string, .offset = offsetof(struct config_agent, name)},
    {.name = "user", .fn = set_agent_user},
};

/*
 * Reports the second of two list entries whose `field` values are equal: two accounts with one
 * name, or two agents with one login, would make lookups by name ambiguous.
 */
static void check_unique(struct yamlutil_doc *y, const yaml_node_t *seq, const char *field,
                         const char *what)
{
	for (size_t i = 0; i < yamlutil_seq_len(seq); i++) {
		const yaml_node_t *ni = yamlutil_map_get(y, yamlutil_seq_item(y, seq, i), field);
		const char *si = yamlutil_scalar(ni);
		for (size_t j = 0; si != NULL && j < i; j++) {
			const yaml_node_t *nj =
			    yamlutil_map_get(y, yamlutil_seq_item(y, seq, j), field);
			const char *sj = yamlutil_scalar(nj);
			if (sj == NULL || strcmp(si, sj) != 0)
				continue;
			struct buf q = BUF_INIT;
			yamlutil_quote(&q, si);
			yamlutil_error(y, ni, "duplicate %s %s (first used at %d:%d)", what, q.data,
			               (int)nj->start_mark.line + 1,
			               (int)nj->start_mark.column + 1);
			buf_free(&q);
			break;
		}
	}
}

/* "account \"support\"" or, before a usable name, "account 2": how messages name an entry. */
static char *entry_label(struct yamlutil_doc *y, yaml_node_t *entry, const char *key,
                         const char *what, size_t index)
{
	const char *name = yamlutil_scalar(yamlutil_map_get(y, entry, key));
	if (name == NULL || *name == '\0')
		return xasprintf("%s %zu", what, index + 1);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s ", what);
	yamlutil_quote(&b, name);
	return buf_steal(&b);
}

static void walk_account(struct yamlutil_doc *y, yaml_node_t *entry, struct config_account *a,
                         size_t index)
{
	/* Messages inside the entry name the account, wherever its name: key stands. */
	char *lab = entry_label(y, entry, "name", "account", index);
	struct load *ld = y->user;
	ld->label = lab;
	yamlutil_walk(y, entry, account_keys, NELEM(account_keys), a, lab,
	              "each entry of \"accounts\"");
	ld->label = NULL;
	free(lab);
}

static int walk_accounts(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                         yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	size_t n = yamlutil_seq_len(val);
	c->accounts = xcalloc(n, sizeof(*c->accounts));
	for (size_t i = 0; i < n; i++)
		walk_account(y, yamlutil_seq_item(y, val, i), &c->accounts[c->naccounts++], i);
	check_unique(y, val, "name", "account name");
	return 0;
}

static int walk_agents(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                       yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	if (!yamlutil_expect_seq(y, val, k->name))
		return -1;
	size_t n = yamlutil_seq_len(val);
	c->agents_listed = true;
	c->agents = xcalloc(n, sizeof(*c->agents));
	for (size_t i = 0; i < n; i++) {
		struct config_agent *g = &c->agents[c->nagents++];
		yaml_node_t *entry = yamlutil_seq_item(y, val, i);
		char *where = entry_label(y, entry, "login", "agent", i);
		yamlutil_walk(y, entry, agent_keys, NELEM(agent_keys), g, where,
		              "each entry of \"agents\"");
		free(where);
		if (g->name == NULL && g->login != NULL)
			g->name = xstrdup(g->login);
		if (g->user != NULL)
			c->agents_bound = true;
	}
	check_unique(y, val, "login", "agent login");
	return 0;
}

/* One authserv-id or a list: each a token as RFC 8601 writes them, such as mx.shop.example. */
static int set_authserv_ids(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                            yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	struct strvec ids = STRVEC_INIT;
	const char *s = yamlutil_scalar(val);
	if (s != NULL)
		strvec_push(&ids, s);
	else if (yamlutil_set_strlist(y, &(struct yamlutil_key){.name = k->name, .min = 1}, key,
	                              val, &ids) < 0)
		return -1;
	for (size_t i = 0; i < ids.n; i++) {
		const char *id = ids.v[i];
		if (*id == '\0' || strcspn(id, " \t\r\n;()\"=") != strlen(id)) {
			yamlutil_type_error(y, val, "\"authserv_id\"",
			                    "the authserv-id your receiving server writes in "
			                    "Authentication-Results, like mx.shop.example");
			strvec_free(&ids);
			return -1;
		}
	}
	strvec_free(&c->authserv_ids);
	c->authserv_ids = ids;
	return 0;
}

/* Each "addr@domain", "@domain" or "local@": an @ and no white space. */
static int set_form_senders(struct yamlutil_doc *y, const struct yamlutil_key *k, yaml_node_t *key,
                            yaml_node_t *val, void *obj)
{
	struct config *c = obj;
	struct strvec list = STRVEC_INIT;
	if (yamlutil_set_strlist(y, &(struct yamlutil_key){.name = k->name}, key, val, &list) < 0)
		return -1;
	for (size_t i = 0; i < list.n; i++) {
		const char *e = list.v[i], *at = strchr(e, '@');
		if (!at || at != strrchr(e, '@') || strcspn(e, " \t\r\n<>,;\"") != strlen(e) ||
		    strlen(e) < 2) {
			yamlutil_type_error(
			    y, yamlutil_seq_item(y, val, i), "each entry of \"form_senders\"",
			    "an address (forms@shop.example), a domain (@forms.example) "
			    "or a local part (orders@)");
			strvec_free(&list);
			return -1;
		}
	}
	strvec_free(&c->form_senders);
	c->form_senders = list;
	return 0;
}

static const struct yamlutil_key top_keys[] = {
    {.name = "store",
     .fn = yamlutil_set_path,
     .offset = offsetof(struct config, store),
     .flags = YAMLUTIL_REQUIRED},
    {.name = "rules", .fn = yamlutil_set_path, .offset = offsetof(struct config, rules)},
    {.name = "group", .fn = set_group},
    {.name = "threading", .fn = walk_threading},
    {.name = "limits", .fn = walk_limits},
    {.name = "accounts", .fn = walk_accounts},
    {.name = "agents", .fn = walk_agents},
    {.name = "escalation", .fn = config_walk_escalation},
    {.name = "review", .fn = walk_review},
    {.name = "authserv_id", .fn = set_authserv_ids},
    {.name = "form_senders", .fn = set_form_senders},
    {.name = "metrics_file",
     .fn = yamlutil_set_path,
     .offset = offsetof(struct config, metrics_file)},
    {.name = "metrics_shop",
     .fn = yamlutil_set_string,
     .offset = offsetof(struct config, metrics_shop)},
};

int config_load(const char *path, struct config **out, struct diags *diags)
{
	struct diags local = DIAGS_INIT;
	struct yamlutil_doc y;
	struct config *c = NULL;
	if (diags == NULL)
		diags = &local;
	size_t before = diags->n;
	*out = NULL;
	if (yamlutil_load(&y, path, diags) < 0)
		goto out;
	if (y.root == NULL) {
		diag_add(diags, path, 0, 0, "empty configuration; `store` is required");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->dir = xstrdup(y.dir);
	set_defaults(c);
	struct load ld = {c, NULL};
	y.user = &ld;
	yamlutil_walk(&y, y.root, top_keys, NELEM(top_keys), c, "the top level", NULL);
	if (c->rules == NULL)
		c->rules = yamlutil_resolve(c->dir, "rules.yaml");
out:
	yamlutil_finish(&y);
	yamlutil_sort_diags(diags, before);
	bool failed = diags->n > before;
	diags_free(&local);
	if (failed) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

const char *config_default_path(const char *arg)
{
	if (arg != NULL && *arg != '\0')
		return arg;
	const char *env = getenv("TEND_CONFIG");
	if (env != NULL && *env != '\0')
		return env;
	return "/etc/tend/tend.yaml";
}

const struct config_account *config_account(const struct config *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->naccounts; i++)
		if (c->accounts[i].name != NULL && strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

bool config_is_own_address(const struct config *c, const char *addr)
{
	for (size_t i = 0; c != NULL && addr != NULL && i < c->naccounts; i++)
		if (c->accounts[i].address != NULL && str_ieq(c->accounts[i].address, addr))
			return true;
	return false;
}

static void account_free(struct config_account *a)
{
	free(a->name);
	free(a->address);
	free(a->from_name);
	free(a->imap.host);
	free(a->imap.ca_file);
	free(a->imap.user);
	free(a->imap.password_file);
	strvec_free(&a->imap.password_command);
	strvec_free(&a->imap.oauth2_token_command);
	strvec_free(&a->imap.folders);
	free(a->imap.sent_folder);
	free(a->smtp.url);
	free(a->smtp.ca_file);
	free(a->smtp.user);
	free(a->smtp.password_file);
	strvec_free(&a->smtp.password_command);
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->naccounts; i++)
		account_free(&c->accounts[i]);
	free(c->accounts);
	for (size_t i = 0; i < c->nagents; i++) {
		free(c->agents[i].login);
		free(c->agents[i].name);
		free(c->agents[i].user);
	}
	free(c->agents);
	free(c->path);
	free(c->dir);
	free(c->store);
	free(c->rules);
	free(c->group);
	free(c->threading.token);
	config_stages_free(c);
	strvec_free(&c->authserv_ids);
	strvec_free(&c->form_senders);
	free(c->metrics_file);
	free(c->metrics_shop);
	strvec_free(&c->review.placeholders);
	free(c);
}
