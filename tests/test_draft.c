/*
 * Unit tests for draft: subjects, signing, and composing a reply from rule matches.
 */
#include "t.h"
#include "tend/draft.h"

static void test_reply_subject(void)
{
	char *s = draft_reply_subject("Voucher code not working", "[#{id}]", 7);
	T_EQ_STR(s, "Re: Voucher code not working [#7]");
	free(s);
	s = draft_reply_subject("AW: Rückerstattung", "[#{id}]", 7);
	T_EQ_STR(s, "AW: Rückerstattung [#7]");
	free(s);
	s = draft_reply_subject("Re: Voucher [#7]", "[#{id}]", 7);
	T_EQ_STR(s, "Re: Voucher [#7]");
	free(s);
	s = draft_reply_subject("", "[#{id}]", 3);
	T_EQ_STR(s, "Re: Your message [#3]");
	free(s);
}

static void test_sign(void)
{
	char *s = draft_sign("Kind regards,\n{{agent.name}}\n{{agent.name}}", "Alice Smith");
	T_EQ_STR(s, "Kind regards,\nAlice Smith\nAlice Smith");
	free(s);
}

static struct message *parse(const char *raw)
{
	struct message *m = NULL;
	char *reason = NULL;
	if (message_parse(raw, strlen(raw), NULL, &m, &reason) < 0)
		T_FAIL("parse: %s", reason);
	free(reason);
	return m;
}

static struct template *tmpl(const char *text)
{
	struct template *t = NULL;
	struct diags d = DIAGS_INIT;
	if (template_parse(text, strlen(text), "t.txt", &t, &d) < 0)
		T_FAIL("template: %s", d.n ? d.v[0].msg : "?");
	diags_free(&d);
	return t;
}

static void match(struct rules_result *r, const char *rule, const struct template *t,
                  const char *cap, const char *val)
{
	r->matches = xreallocarray(r->matches, r->nmatches + 1, sizeof(*r->matches));
	struct rules_match *m = &r->matches[r->nmatches++];
	memset(m, 0, sizeof(*m));
	m->rule = rule;
	m->template = t;
	if (cap) {
		strvec_push(&m->capture_names, cap);
		strvec_push(&m->capture_values, val);
	}
}

static const char *first_raw = "From: Anna Kowalski <anna@example.com>\n"
                               "To: support@shop.example, bob@example.org\n"
                               "Message-ID: <1@example.com>\nSubject: Refund for order 10460\n"
                               "Date: Mon, 16 Nov 2026 10:00:00 +0000\n\nI want my money back.\n";
static const char *second_raw = "From: Anna Kowalski <anna@example.com>\n"
                                "Reply-To: anna.private@example.net\n"
                                "To: support@shop.example\nCc: Support <SUPPORT@shop.example>\n"
                                "Message-ID: <2@example.com>\nIn-Reply-To: <1@example.com>\n"
                                "References: <1@example.com>\nSubject: Re: Refund for order 10460\n"
                                "Date: Tue, 17 Nov 2026 10:00:00 +0000\n\nAlso order 10461, and "
                                "my voucher failed.\n\n> I want my money back.\n";

static void test_compose(void)
{
	struct rules *rules = rules_builtin();
	struct template *refund = tmpl("Refund for order {{order}}: on its way.");
	struct template *voucher = tmpl("Your voucher: we will check it.\n\n");
	struct message *m1 = parse(first_raw), *m2 = parse(second_raw);
	struct rules_result r1 = {0}, r2 = {0};
	match(&r1, "refund", refund, "order", "10460");
	match(&r2, "voucher", voucher, NULL, NULL);
	match(&r2, "refund", refund, "order", "10461");
	match(&r2, "tagonly", NULL, NULL, NULL);
	struct draft_message dm[] = {{m1, &r1, 0}, {m2, &r2, 0}};
	struct strvec own = STRVEC_INIT;
	strvec_push(&own, "support@shop.example");
	struct store_thread th = {.id = 12,
	                          .subject = "Refund for order 10460",
	                          .customer = {"Anna Kowalski", "anna@example.com"}};
	struct draft_input in = {.rules = rules,
	                         .thread = &th,
	                         .messages = dm,
	                         .nmessages = 2,
	                         .own = &own,
	                         .token = "[#{id}]"};
	struct store_draft *dp = xcalloc(1, sizeof(*dp)), d;
	draft_compose(&in, dp);
	d = *dp;
	static const char start[] =
	    "Hello Anna,\n\nRefund for order 10461: on its way.\n\n"
	    "Your voucher: we will check it.\n\nKind regards,\n{{agent.name}}\n\n";
	T_OK(strncmp(d.body, start, strlen(start)) == 0);
	T_CONTAINS(d.body, "{{agent.name}}");
	T_CONTAINS(d.body, "Anna Kowalski <anna@example.com> wrote:\n> Also order 10461");
	T_CONTAINS(d.body, "\n>\n> > I want my money back.\n");
	T_EQ_INT(d.parts.n, 2);
	if (d.parts.n == 2) {
		T_EQ_STR(d.parts.v[0], "refund");
		T_EQ_STR(d.parts.v[1], "voucher");
	}
	T_EQ_STR(d.subject, "Re: Refund for order 10460 [#12]");
	T_EQ_INT(d.to.n, 1);
	if (d.to.n)
		T_EQ_STR(d.to.v[0].addr, "anna.private@example.net");
	T_EQ_INT(d.cc.n, 0); /* our own address, in any case, is never copied */
	T_EQ_STR(d.in_reply_to, "2@example.com");
	T_EQ_INT(d.references.n, 2);
	store_draft_free(dp);

	/* Answering only the first message: Bob, whom the customer wrote to as well, stays in Cc. */
	dp = xcalloc(1, sizeof(*dp));
	in.nmessages = 1;
	draft_compose(&in, dp);
	T_EQ_INT(dp->to.n, 1);
	if (dp->to.n)
		T_EQ_STR(dp->to.v[0].addr, "anna@example.com");
	T_EQ_INT(dp->cc.n, 1);
	if (dp->cc.n)
		T_EQ_STR(dp->cc.v[0].addr, "bob@example.org");
	T_CONTAINS(dp->body, "Refund for order 10460: on its way.");
	store_draft_free(dp);

	/* The second message's Reply-To held by threading: the reply goes to its sender. */
	dp = xcalloc(1, sizeof(*dp));
	in.nmessages = 2;
	dm[1].flags = STORE_MSG_REPLY_TO_HELD;
	draft_compose(&in, dp);
	T_EQ_INT(dp->to.n, 1);
	if (dp->to.n)
		T_EQ_STR(dp->to.v[0].addr, "anna@example.com");
	T_EQ_INT(dp->reply_to_held.n, 1);
	if (dp->reply_to_held.n)
		T_EQ_STR(dp->reply_to_held.v[0].addr, "anna.private@example.net");
	store_draft_free(dp);

	/* Over max_recipients the Cc is left out, and counted. */
	dp = xcalloc(1, sizeof(*dp));
	in.nmessages = 1;
	in.max_recipients = 1;
	draft_compose(&in, dp);
	T_EQ_INT(dp->to.n + dp->cc.n, 1);
	T_EQ_INT(dp->cc_withheld, 1);
	store_draft_free(dp);
	message_free(m1);
	message_free(m2);
	rules_result_finish(&r1);
	rules_result_finish(&r2);
	template_free(refund);
	template_free(voucher);
	strvec_free(&own);
	rules_free(rules);
}

/*
 * A draft in the language of the latest message that told one ("Danke!" tells none): its
 * deadline and quote line in German, in the shop's zone, with the zone's name.
 */
static void test_compose_in_language(void)
{
	struct rules *rules = rules_builtin();
	struct template *t = tmpl("Wir melden uns bis {{deadline}}.");
	struct message *m1 = parse(first_raw), *m2 = parse(second_raw);
	struct rules_result r1 = {0}, r2 = {0};
	match(&r1, "deadline", t, NULL, NULL);
	strcpy(r1.lang, "de");
	strcpy(r2.lang, "en");
	strcpy(r2.lang_note, "the text is too short to tell");
	struct draft_message dm[] = {{m1, &r1, 0}, {m2, &r2, 0}};
	struct store_thread th = {.id = 12,
	                          .subject = "Refund for order 10460",
	                          .customer = {"Anna Kowalski", "anna@example.com"}};
	struct draft_input in = {.rules = rules,
	                         .thread = &th,
	                         .messages = dm,
	                         .nmessages = 2,
	                         .token = "[#{id}]",
	                         .deadline = 1796206200, /* 2026-12-02 10:10 UTC */
	                         .now = 1796202600,      /* an hour before it */
	                         .timezone = "Europe/Berlin"};
	struct store_draft *d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_CONTAINS(d->body, "Wir melden uns bis Mittwoch, 2. Dezember, 11:10 CET.");
	T_CONTAINS(d->body, "\n\nAm Dienstag, 17. November 2026 um 11:00 CET schrieb Anna Kowalski "
	                    "<anna@example.com>:\n> Also order 10461");
	store_draft_free(d);
	rules_result_finish(&r1);
	rules_result_finish(&r2);
	message_free(m1);
	message_free(m2);
	template_free(t);
	rules_free(rules);
}

/* Parts in the order the customer raised them, across messages; pinned ones first and last. */
static void test_compose_order(void)
{
	struct rules *rules = rules_builtin();
	struct template *t[5];
	static const char *const text[] = {"Sorry for the wait.", "Invoice for {{order}}.",
	                                   "Delivery.", "Voucher.", "Anything else?"};
	for (size_t i = 0; i < NELEM(t); i++)
		t[i] = tmpl(text[i]);
	struct message *m1 = parse(first_raw), *m2 = parse(second_raw);
	struct rules_result r1 = {0}, r2 = {0};
	/* rule order in the file: anything 0, voucher 1, invoice 2, delivery 3, sorry 4 */
	match(&r1, "voucher", t[3], NULL, NULL);
	r1.matches[0].index = 1;
	r1.matches[0].position = 40;
	match(&r2, "anything", t[4], NULL, NULL);
	r2.matches[0].place = RULES_PLACE_LAST;
	match(&r2, "invoice", t[1], "order", "OT-20417");
	r2.matches[1].index = 2;
	r2.matches[1].position = 30;
	strvec_push(&r2.matches[1].capture_sources, "message 3, 2 Dec");
	match(&r2, "delivery", t[2], NULL, NULL);
	r2.matches[2].index = 3;
	r2.matches[2].position = 5;
	match(&r2, "voucher", t[3], NULL, NULL);
	r2.matches[3].index = 1;
	match(&r2, "sorry", t[0], NULL, NULL);
	r2.matches[4].index = 4;
	r2.matches[4].place = RULES_PLACE_FIRST;
	struct draft_message dm[] = {{m1, &r1, 0}, {m2, &r2, 0}};
	struct store_thread th = {.id = 12, .subject = "Refund", .customer = {"Anna", "a@x.org"}};
	struct draft_input in = {
	    .rules = rules, .thread = &th, .messages = dm, .nmessages = 2, .token = "[#{id}]"};
	struct store_draft *d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_CONTAINS(d->body, "Sorry for the wait.\n\nVoucher.\n\nDelivery.\n\nInvoice for OT-20417."
	                    "\n\nAnything else?\n\n");
	T_EQ_INT(d->parts.n, 5);
	if (d->parts.n == 5) {
		T_EQ_STR(d->parts.v[0], "sorry");
		T_EQ_STR(d->parts.v[1], "voucher");
		T_EQ_STR(d->parts.v[4], "anything");
	}
	T_EQ_INT(d->captures.n, 1);
	if (d->captures.n == 1)
		T_EQ_STR(d->captures.v[0], "order = OT-20417 (from message 3, 2 Dec)");
	store_draft_free(d);
	message_free(m1);
	message_free(m2);
	rules_result_finish(&r1);
	rules_result_finish(&r2);
	for (size_t i = 0; i < NELEM(t); i++)
		template_free(t[i]);
	rules_free(rules);
}

/*
 * A later message that settles an earlier concern drops its part ("here is the photo" after
 * "please send a photo"); raised again after it, the concern stays.
 */
static void test_compose_settled(void)
{
	struct rules *rules = rules_builtin();
	struct template *ask = tmpl("Please send a photo."), *photo = tmpl("Thanks for the photo.");
	struct message *m1 = parse(first_raw), *m2 = parse(second_raw);
	struct rules_result r1 = {0}, r2 = {0};
	struct strvec settles = {0};
	strvec_push(&settles, "ask_photo");
	match(&r1, "ask_photo", ask, NULL, NULL);
	match(&r2, "photo", photo, NULL, NULL);
	r2.matches[0].settles = &settles;
	struct draft_message dm[] = {{m1, &r1, 0}, {m2, &r2, 0}};
	struct store_thread th = {.id = 3, .subject = "Broken", .customer = {"Anna", "a@x.org"}};
	struct draft_input in = {
	    .rules = rules, .thread = &th, .messages = dm, .nmessages = 2, .token = "[#{id}]"};
	struct store_draft *d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_EQ_INT(d->parts.n, 1);
	T_EQ_STR(d->parts.n ? d->parts.v[0] : "", "photo");
	T_OK(strstr(d->body, "Please send a photo.") == NULL);
	store_draft_free(d);
	match(&r2, "ask_photo", ask, NULL, NULL); /* asked again in the same message: it stays */
	d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_EQ_INT(d->parts.n, 2);
	T_CONTAINS(d->body, "Please send a photo.");
	store_draft_free(d);
	strvec_free(&settles);
	message_free(m1);
	message_free(m2);
	rules_result_finish(&r1);
	rules_result_finish(&r2);
	template_free(ask);
	template_free(photo);
	rules_free(rules);
}

/* {{deadline}} names a time only while it is ahead; a draft that still says it once it has
 * gone is caught. */
static void test_deadline_past(void)
{
	struct rules *rules = rules_builtin();
	struct template *call = tmpl("We will call you by {{deadline|as soon as we can}}.");
	struct message *m = parse(first_raw);
	struct rules_result r = {0};
	match(&r, "call", call, NULL, NULL);
	struct draft_message dm[] = {{m, &r, 0}};
	struct store_thread th = {.id = 3, .customer = {"Anna Kowalski", "anna@example.com"}};
	int64_t due = 1796119200; /* Tuesday 1 December 2026, 10:00 UTC */
	struct draft_input in = {.rules = rules,
	                         .thread = &th,
	                         .messages = dm,
	                         .nmessages = 1,
	                         .deadline = due,
	                         .now = due - 3600,
	                         .timezone = "UTC"};
	struct store_draft *d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_CONTAINS(d->body, "We will call you by Tuesday");
	T_OK(d->promise != NULL && d->promised == due);
	T_OK(d->promise && strstr(d->body, d->promise) != NULL);
	T_OK(!draft_promise_passed(d, due - 1));
	T_OK(draft_promise_passed(d, due));
	char *edited = xstrdup("We will call you today.");
	free(d->body);
	d->body = edited;
	T_OK(!draft_promise_passed(d, due)); /* an agent took the time out */
	store_draft_free(d);

	/* rendered the day after: nothing in the past, the template's words instead */
	in.now = due + 86400;
	d = xcalloc(1, sizeof(*d));
	draft_compose(&in, d);
	T_CONTAINS(d->body, "We will call you by as soon as we can.");
	T_OK(strstr(d->body, "December, 10:00") == NULL);
	T_OK(d->promise == NULL && d->promised == 0);
	store_draft_free(d);

	/* a template rendered on its own (a holding reply) at a deadline already gone */
	char *s = draft_render(call, &th, (int64_t)time(NULL) - 60, "UTC");
	T_EQ_STR(s, "We will call you by as soon as we can.\n");
	free(s);
	message_free(m);
	rules_result_finish(&r);
	template_free(call);
	rules_free(rules);
}

T_MAIN(T_CASE(test_reply_subject), T_CASE(test_sign), T_CASE(test_compose),
       T_CASE(test_compose_in_language), T_CASE(test_compose_order), T_CASE(test_deadline_past),
       T_CASE(test_compose_settled))
