/*
 * rules: the operators' rules.yaml, compiled (PCRE2, UTF-8, JIT), evaluated against a parsed
 * message, and explained.
 *
 * A file with any error is rejected whole: rules_load reports every problem with
 * file:line:column and what was expected (for a bad regex, the column of the offending
 * character inside the pattern), and returns nothing, so a daemon keeps the rules it had.
 * Templates named by the file are loaded from templates/ beside it and checked: a template
 * naming a variable that does not exist is an error here, not at send time.
 *
 * Automatic mail (RFC 3834 and its relatives) is recognised whatever the rules say, and is
 * never drafted for.
 */
#ifndef TEND_RULES_H
#define TEND_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/lang.h"
#include "tend/message.h"
#include "tend/template.h"
#include "tend/util.h"

enum rules_priority {
	RULES_PRIORITY_LOW,
	RULES_PRIORITY_NORMAL,
	RULES_PRIORITY_HIGH,
	RULES_PRIORITY_URGENT,
	RULES_NPRIORITIES,
};

/* "low", "normal", "high", "urgent"; rules_priority_parse returns -1 for anything else. */
const char *rules_priority_name(int priority);
int rules_priority_parse(const char *s);

/* Target first-response times, in seconds, per priority (the `sla` mapping). */
struct rules_sla {
	int64_t target[RULES_NPRIORITIES];
};

/* The optional `business_hours` mapping. */
struct rules_business_hours {
	bool set;
	char *timezone;    /* IANA name, checked against the system's zoneinfo */
	unsigned days;     /* bit 0 = Monday ... bit 6 = Sunday */
	int open_minute;   /* minutes after midnight, e.g. 540 for 09:00 */
	int close_minute;  /* exclusive, greater than open_minute */
	int32_t *holidays; /* sorted, as YYYYMMDD */
	size_t nholidays;
};

struct rules;

/*
 * Loads path (and the templates it names, from templates/ in the same directory). A greeting,
 * closing or fallback left to its default name (greeting, closing, general) is built in when
 * that file does not exist. Returns 0 and *out (free with rules_free), or -1 after adding every
 * problem to d (NULL: not kept): the file's own in file order, then those inside templates.
 */
int rules_load(const char *path, struct rules **out, struct diags *d);

/*
 * Rules for a store with no rules.yaml: no operator rules, the built-in recognition of
 * automatic mail, and built-in greeting, fallback and closing templates.
 */
struct rules *rules_builtin(void);

void rules_free(struct rules *r);

/* The file loaded ("(built-in)" for rules_builtin). */
const char *rules_path(const struct rules *r);
size_t rules_count(const struct rules *r);
const struct rules_sla *rules_sla(const struct rules *r);
const struct rules_business_hours *rules_business_hours(const struct rules *r);

/* The draft's greeting, closing and fallback templates (never NULL). */
const struct template *rules_greeting(const struct rules *r);
const struct template *rules_closing(const struct rules *r);
const struct template *rules_fallback(const struct rules *r);
/*
 * The files the rule called rule attaches to its drafts (`attach:`), as paths beside the rules
 * file, checked when the rules were loaded; NULL when it attaches none or there is no such
 * rule. Owned by r.
 */
const struct strvec *rules_attachments(const struct rules *r, const char *rule);
/*
 * The holding reply (`holding_reply: {template, at}`): its template, or NULL when none is
 * configured; *at is the share of the target, in percent, after which it is sent.
 */
const struct template *rules_holding(const struct rules *r, int *at);

/* The default language (`language`, else en): for texts too short or unclear to tell. */
const char *rules_language(const struct rules *r);
/* The languages with a folder of templates (templates/de/), sorted. */
const struct strvec *rules_languages(const struct rules *r);
/*
 * The template standing for t in a draft in lang: templates/LANG/NAME.txt when there is one,
 * else t itself (also for a built-in greeting, closing or fallback: templates/de/greeting.txt).
 */
const struct template *rules_localize(const struct rules *r, const struct template *t,
                                      const char *lang);

/* The variables every template may use (customer.name, thread.id, ...), NULL-terminated. */
extern const char *const rules_global_vars[];

/*
 * What a message's fact lookups found (rules.yaml `facts`): each field of a lookup's answer as
 * "LOOKUP.FIELD" = text, and what failed, as the agent is told ("Lookup order failed: timed
 * out after 5 s"). Never shown to the customer.
 */
struct rules_facts {
	struct strvec names;
	struct strvec values;
	struct strvec failures;
};

/* Where a rule's part goes in a draft (its `place`): where the customer raised it, or pinned. */
enum rules_place {
	RULES_PLACE_FIRST = -1,
	RULES_PLACE_TEXT = 0,
	RULES_PLACE_LAST = 1,
};

/* One rule that matched a message. Strings are owned by the result. */
struct rules_match {
	const char *rule;                /* the rule's name (owned by struct rules) */
	const struct template *template; /* NULL when the rule has none */
	struct strvec capture_names;     /* named groups that matched, in pattern order */
	struct strvec capture_values;    /* their text */
	/* Where each value was found: "the subject", "the new text", "the text", or an earlier
	 * message of the conversation, "message 3, 2 Dec". */
	struct strvec capture_sources;
	size_t index;     /* the rule's place in the file */
	int place;        /* enum rules_place */
	const char *seen; /* "subject" or "body": the first text condition that held; or NULL */
	size_t position;  /* in the body: characters before the match; 0 for the subject */
	/* Characters before the first body match of any of its body conditions, for ties at the
	 * start (a subject match); SIZE_MAX when no body condition matched. */
	size_t body_position;
	/* settles: the rules whose parts from the customer's earlier messages this one makes moot
	 * (a photo sent settles "send us a photo"); owned by struct rules; NULL: none. */
	const struct strvec *settles;
};

/*
 * The order of two matches' parts in a draft: `place: first` rules, then the others by where
 * the customer raised them (a subject, or no text at all, counts as the start; those at the
 * start by where their body conditions first match, one without a body match first), then
 * `place: last` rules; rule order among equals.
 */
int rules_match_cmp(const struct rules_match *a, const struct rules_match *b);

struct rules_result {
	struct rules_match *matches; /* in rule order (rules_match_cmp: the draft's order) */
	size_t nmatches;
	struct strvec tags; /* union, in the order rules added them */
	int priority;       /* highest of the matches; RULES_PRIORITY_NORMAL when none says */
	bool ignore;        /* a rule said `action: ignore`, or the mail is automatic */
	/* e.g. "rule \"newsletter\"" or "Auto-Submitted: auto-replied"; automatic mail's reason
	 * when a rule says ignore as well */
	char *ignore_reason;
	bool automated; /* automatic mail (see rules_automated) */
	/* The language of the new text (see lang_detect), e.g. "de": told by rules_eval only when
	 * a rule asks `lang`, else empty until rules_result_lang. */
	char lang[8];
	/* Empty when the text told; else why lang is the default language. */
	char lang_note[96];
	struct rules_facts facts; /* a copy of the input's facts, for the draft */
};

/* An earlier customer message of the same conversation. */
struct rules_earlier {
	const struct message *message;
	uint64_t id;  /* the stored message's number */
	int64_t when; /* when it was written */
};

/* What a message is evaluated with. */
struct rules_input {
	const struct message *message;
	bool first_message; /* it started its thread */
	/* NULL: no lookups ran; fact conditions do not hold (the rules without facts) */
	const struct rules_facts *facts;
	/* Where a capture the message lacks is looked for next: newest first. */
	const struct rules_earlier *earlier;
	size_t nearlier;
	const char *timezone; /* the dates of earlier messages are written in it; NULL: local */
	/* When the message came (seconds since the epoch): what fact_age measures a fact's age
	 * against, so that the verdict is the one of when the customer wrote, whenever the rules
	 * run; 0: now. received_is_date: it is the Date header's (explanations say so). */
	int64_t received;
	bool received_is_date;
	/* The message's own arrival where received is earlier (the start of the wait it joined):
	 * a fact dated after received (an order placed after the customer first wrote) cannot be
	 * what that first message asked about, and is measured against this instead; 0: none. */
	int64_t arrived;
};

/*
 * Evaluates every rule in order (until a matching rule with `stop`). Free with
 * rules_result_finish.
 */
void rules_eval(const struct rules *r, const struct rules_input *in, struct rules_result *out);

/*
 * Tells the language of m's new text into res->lang and res->lang_note, unless evaluating
 * told it already. Apart from rules_eval because it costs as much as a whole rule set: done
 * only for the message a draft is written in the language of (and, when that one is too short
 * to tell, the ones before it), not for every message stored.
 */
void rules_result_lang(const struct rules *r, const struct message *m, struct rules_result *res);

/*
 * The language of a stored new text (any bytes) among r's candidates, r's default language
 * when it cannot tell (r NULL: the common languages, en): what `tend show` tells of a message
 * whose language was not stored.
 */
void rules_text_lang(const struct rules *r, const char *text, struct lang_guess *out);

/*
 * Fills in, from in->earlier, the captures that res (a verdict on in->message by r) did not
 * find in the message itself, as rules_eval with in->earlier would have.
 */
void rules_capture_earlier(const struct rules *r, const struct rules_input *in,
                           struct rules_result *res);
/* The name of the first rule whose template is template ("refund"), or NULL. */
const char *rules_template_rule(const struct rules *r, const char *template);

/*
 * The match rule (a rule with a template) would make on in->message had its conditions held:
 * for a part an agent adds by hand. Its captures come from the message, then in->earlier, as
 * rules_eval's would; nothing else (tags, priority) is judged. Returns 0 with *out (free with
 * rules_match_finish), or -1 when r has no such rule.
 */
int rules_match_by_hand(const struct rules *r, const char *rule, const struct rules_input *in,
                        struct rules_match *out);
void rules_match_finish(struct rules_match *m);

/* True when a match of res lacks a variable of its rule's captures. */
bool rules_capture_lacking(const struct rules *r, const struct rules_result *res);

/* True when a condition asks first_message: only then does the verdict depend on it. */
bool rules_ask_first_message(const struct rules *r);
void rules_result_finish(struct rules_result *res);

/* True when rules.yaml declares lookups (`facts`). */
bool rules_has_lookups(const struct rules *r);

/*
 * Runs the lookups of rules.yaml `facts` for the message in (not for automatic mail): each
 * one whose captures are all set by a rule that matches, or could match once the facts are
 * known, with the captures as separate arguments (see lookup.h). Fills out (free with
 * rules_facts_finish): the fields of each answer, and what failed. Starts programs and waits
 * for them up to their timeouts: never call it while holding a write transaction. explain,
 * when not NULL, gets lines for `tend rules test`: each lookup, its arguments and its facts.
 */
void rules_lookup(const struct rules *r, const struct rules_input *in, struct rules_facts *out,
                  struct buf *explain);
void rules_facts_finish(struct rules_facts *f);
/* Appends copies of src's facts and failures to dst. */
void rules_facts_copy(struct rules_facts *dst, const struct rules_facts *src);
/* The value of fact name ("order.status"), or NULL; f may be NULL. */
const char *rules_fact_value(const struct rules_facts *f, const char *name);

/*
 * Evaluates like rules_eval and appends to out, for `tend rules test`, a human explanation:
 * per rule whether it matched, which condition matched on which text (the matched words in
 * context), its captures, and why evaluation stopped.
 */
void rules_explain(const struct rules *r, const struct rules_input *in, struct rules_result *res,
                   struct buf *out);

/*
 * True when m is automatic mail that must never get an automatic reply nor a draft (RFC 3834:
 * Auto-Submitted other than "no"; Precedence bulk, list, junk or auto_reply; List-Id or
 * List-Unsubscribe; an empty or mailer-daemon Return-Path; mailer-daemon or postmaster
 * senders; delivery and disposition reports; X-Autoreply and similar; and, for bounces from
 * servers that mark them no other way, a delivery-failure subject, which needs a bounce's
 * wording in the body too where a customer could write the same words). *reason (caller
 * frees; may be NULL) names the header that says so, e.g. "Auto-Submitted: auto-replied".
 */
bool rules_automated(const struct message *m, char **reason);

#endif
