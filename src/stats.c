/*
 * stats: response-time figures. See include/tend/stats.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/json.h"
#include "tend/rules.h"
#include "tend/sla.h"
#include "tend/stats.h"
#include "tend/util.h"

/* Times of one kind (wall-clock or business) of a group's first responses. */
struct times {
	int64_t *v;
	size_t n;
};

/* One group's figures, and the response times they come from. */
struct group {
	char *key;
	uint64_t received, answered, within, breached;
	uint64_t resolved;        /* without a reply: needed none after all */
	uint64_t not_delivered;   /* the first reply bounced */
	uint64_t approved;        /* first replies this group's agent approved (someone may have
	                           written them) */
	uint64_t replies, edited; /* replies tend sent; those an agent changed before approval */
	uint64_t changed, lines;  /* of the edited replies: lines changed, lines sent */
	uint64_t rejected, holding, bounces, backlog;
	struct times wall, business;
};

/* A count per id (a draft's changed lines, a thread's rejections), from the audit trail. */
struct count {
	uint64_t id, n;
};

struct counts {
	struct count *v;
	size_t n;
};

/* What the audit trail says about drafts and threads. */
struct trail {
	struct counts changed;  /* draft id -> lines changed by agents' edits */
	struct counts rejected; /* thread id -> drafts rejected */
	struct counts bounced;  /* thread id -> replies that came back */
};

/* One conversation's figures beyond the thread record: from its drafts and the trail. */
struct facts {
	char *writer, *approver; /* of the first response: the last editor, else the approver */
	uint64_t replies, edited, changed, lines, holding, rejected, bounces;
	int64_t business; /* the first response in working time; -1: none */
};

struct tally {
	const struct stats_options *so;
	int64_t now;
	struct store_txn *txn;
	struct trail trail;
	struct group total;
	struct group *v;
	size_t n;
	int64_t *days; /* --daily: the end of each day, and the backlog then */
	uint64_t *backlogs;
	size_t ndays;
	int rc;
};

static struct group *group_for(struct tally *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	t->v[t->n] = (struct group){.key = xstrdup(key)};
	return &t->v[t->n++];
}

static void counts_add(struct counts *c, uint64_t id, uint64_t n)
{
	c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = (struct count){id, n};
}

static int by_id(const void *a, const void *b)
{
	const struct count *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorts by id and adds up the counts of each id. */
static void counts_finish(struct counts *c)
{
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), by_id);
	size_t out = 0;
	for (size_t i = 0; i < c->n; i++)
		if (out && c->v[out - 1].id == c->v[i].id)
			c->v[out - 1].n += c->v[i].n;
		else
			c->v[out++] = c->v[i];
	c->n = out;
}

static uint64_t counts_get(const struct counts *c, uint64_t id)
{
	struct count key = {id, 0};
	const struct count *f = c->n ? bsearch(&key, c->v, c->n, sizeof(*c->v), by_id) : NULL;
	return f ? f->n : 0;
}

/* Lines an edit's unified diff changed: a line rewritten is one removed and one added. */
static uint64_t diff_changed(const char *diff)
{
	uint64_t plus = 0, minus = 0;
	for (const char *p = diff; p && *p;) {
		if (*p == '+' && strncmp(p, "+++ ", 4) != 0)
			plus++;
		else if (*p == '-' && strncmp(p, "--- ", 4) != 0)
			minus++;
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : p + strlen(p);
	}
	return plus > minus ? plus : minus;
}

static uint64_t text_lines(const char *s)
{
	uint64_t n = 0;
	for (const char *p = s; p && *p; p++)
		n += *p == '\n';
	return n + (s && *s && s[strlen(s) - 1] != '\n');
}

static int visit_audit(const struct store_audit *a, void *arg)
{
	struct tally *t = arg;
	uint64_t live = a->thread;
	if (a->action == NULL)
		return 0;
	if (strcmp(a->action, "edit") == 0 && a->draft)
		counts_add(&t->trail.changed, a->draft, diff_changed(a->detail));
	else if (strcmp(a->action, "reject") == 0 && a->thread &&
	         store_resolve_thread(t->txn, a->thread, &live) == 0)
		counts_add(&t->trail.rejected, live, 1);
	else if (strcmp(a->action, "bounced") == 0 && a->thread &&
	         store_resolve_thread(t->txn, a->thread, &live) == 0)
		counts_add(&t->trail.bounced, live, 1);
	return 0;
}

static int read_trail(struct tally *t)
{
	int rc = store_foreach_audit(t->txn, visit_audit, t);
	counts_finish(&t->trail.changed);
	counts_finish(&t->trail.rejected);
	counts_finish(&t->trail.bounced);
	return rc;
}

/* When the conversation began needing an answer: its first customer message. */
static int64_t first_clock(const struct store_thread *th)
{
	return th->first_clock ? th->first_clock : th->created;
}

/* The deadline an unanswered conversation is late against: after its first reply bounced, the
 * first one (the customer has waited since), else the current one. */
static int64_t due(const struct store_thread *th)
{
	return th->first_bounced && th->first_deadline ? th->first_deadline : th->deadline;
}

static void push_time(struct times *ts, int64_t v)
{
	ts->v = xreallocarray(ts->v, ts->n + 1, sizeof(*ts->v));
	ts->v[ts->n++] = v < 0 ? 0 : v;
}

static void count(struct group *g, const struct store_thread *th, const struct facts *f,
                  int64_t now)
{
	g->received++;
	g->replies += f->replies;
	g->edited += f->edited;
	g->changed += f->changed;
	g->lines += f->lines;
	g->holding += f->holding;
	g->rejected += f->rejected;
	g->bounces += f->bounces;
	if (th->first_bounced)
		g->not_delivered++;
	if (th->first_response) {
		g->answered++;
		push_time(&g->wall, th->first_response - first_clock(th));
		if (f->business >= 0)
			push_time(&g->business, f->business);
		if (th->first_deadline == 0 || th->first_response <= th->first_deadline)
			g->within++;
		else
			g->breached++;
	} else if (th->state == STORE_THREAD_CLOSED) {
		g->resolved++;
	} else if (due(th) && now > due(th)) {
		g->breached++;
	}
}

/* Conversations that needed a reply: the share of them answered in time is what counts. */
static uint64_t needed(const struct group *g)
{
	return g->received - g->resolved;
}

/* Who wrote the first reply (or approved it); replies found in the mailbox had no agent. */
static const char *agent_key(const struct store_thread *th, const char *agent)
{
	if (agent)
		return agent;
	return th->first_response ? "(answered outside tend)" : "(not answered)";
}

static bool counted(const struct store_thread *th)
{
	/* conversations that never needed an answer (automatic mail, ignored) are not counted */
	return th->first_clock != 0 || th->first_response != 0;
}

static void draft_facts(struct tally *t, const struct store_thread *th, const struct store_draft *d,
                        struct facts *f)
{
	if (d->kind == STORE_KIND_HOLDING) {
		f->holding++;
		return;
	}
	if (d->kind != STORE_KIND_REPLY)
		return;
	f->replies++;
	if (d->edited) {
		f->edited++;
		f->changed += counts_get(&t->trail.changed, d->id);
		f->lines += text_lines(d->body);
	}
	if (f->writer == NULL && th->first_response && d->sent == th->first_response) {
		const char *w = d->edited && d->last_editor ? d->last_editor : d->approved_by;
		f->writer = w ? xstrdup(w) : NULL;
		f->approver = d->approved_by ? xstrdup(d->approved_by) : NULL;
	}
}

/* The conversation's replies and holding replies as sent, and what the trail says of it. */
static int gather(struct tally *t, const struct store_thread *th, struct facts *f)
{
	*f = (struct facts){.business = -1};
	for (size_t i = 0; i < th->sent.n; i++) {
		struct store_draft *d = NULL;
		int rc = store_get_draft(t->txn, th->sent.v[i], &d);
		if (rc == STORE_NOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		draft_facts(t, th, d, f);
		store_draft_free(d);
	}
	if (f->writer == NULL && th->first_agent) /* records from before drafts were kept */
		f->writer = xstrdup(th->first_agent);
	if (f->approver == NULL && th->first_agent)
		f->approver = xstrdup(th->first_agent);
	f->rejected = counts_get(&t->trail.rejected, th->id);
	f->bounces = counts_get(&t->trail.bounced, th->id);
	if (th->first_response && t->so->bh && t->so->bh->set)
		f->business = sla_elapsed(t->so->bh, first_clock(th), th->first_response);
	return 0;
}

static void facts_free(struct facts *f)
{
	free(f->writer);
	free(f->approver);
}

/* What a visit does to each group the conversation falls in. */
struct add {
	const struct store_thread *th;
	const struct facts *f;
	int64_t now;
	bool approval; /* count an approval, not the conversation */
	bool waiting;  /* count it in the backlog only */
};

static void add_to(struct group *g, const struct add *a)
{
	if (a->waiting)
		g->backlog++;
	else if (a->approval)
		g->approved++;
	else
		count(g, a->th, a->f, a->now);
}

static void put_key_part(struct buf *key, const char *part)
{
	buf_printf(key, "%s%s", key->len ? " / " : "", part);
}

/*
 * Adds to every group the conversation falls in: one per combination of the values of each
 * --by, in their order (a conversation with two tags is in two groups). The agent is the
 * writer of the first reply, or for an approval its approver.
 */
static void each_key(struct tally *t, const struct add *a, size_t level, struct buf *key)
{
	if (level >= t->so->nby || level >= STATS_BY_MAX) {
		add_to(group_for(t, key->data ? key->data : ""), a);
		return;
	}
	size_t len = key->len;
	const struct store_thread *th = a->th;
	switch (t->so->by[level]) {
	case STATS_BY_TAG:
		for (size_t i = 0; i < th->tags.n; i++) {
			put_key_part(key, th->tags.v[i]);
			each_key(t, a, level + 1, key);
			key->len = len;
			key->data[len] = '\0';
		}
		if (th->tags.n)
			return;
		put_key_part(key, "(no tag)");
		break;
	case STATS_BY_PRIORITY:
		put_key_part(key, rules_priority_name(th->priority));
		break;
	default:
		put_key_part(key, agent_key(th, a->approval ? a->f->approver : a->f->writer));
		break;
	}
	each_key(t, a, level + 1, key);
	key->len = len;
	key->data[len] = '\0';
}

static void add_groups(struct tally *t, const struct add *a)
{
	if (t->so->nby == 0)
		return;
	struct buf key = BUF_INIT;
	buf_reserve(&key, 64);
	key.data[0] = '\0';
	each_key(t, a, 0, &key);
	buf_free(&key);
}

/* Waiting for an answer now. */
static bool waiting_now(const struct store_thread *th)
{
	return th->state == STORE_THREAD_OPEN && th->clock_start != 0;
}

/*
 * Waiting for an answer at the moment end: for the first reply (arrived before, answered and
 * resolved after), or in the wait that goes on now (it began before). A wait between two
 * replies that is over by now is not recorded, and so not counted.
 */
static bool waiting_at(const struct store_thread *th, int64_t end)
{
	if (waiting_now(th) && th->clock_start < end)
		return true;
	return first_clock(th) < end && (th->first_response == 0 || th->first_response >= end) &&
	       (th->resolved == 0 || th->resolved >= end) &&
	       (th->state != STORE_THREAD_CLOSED || th->resolved != 0);
}

static void count_daily(struct tally *t, const struct store_thread *th)
{
	for (size_t i = 0; i < t->ndays; i++)
		if (waiting_at(th, t->days[i]))
			t->backlogs[i]++;
}

static int visit(const struct store_thread *th, void *arg)
{
	struct tally *t = arg;
	int64_t at = first_clock(th);
	if (!counted(th))
		return 0;
	bool in = !(t->so->since && at < t->so->since) && !(t->so->until && at >= t->so->until);
	bool waiting = waiting_now(th);
	if (!in && !waiting && !t->ndays)
		return 0;
	struct facts f;
	if ((t->rc = gather(t, th, &f)) < 0) {
		facts_free(&f);
		return 1;
	}
	struct add a = {.th = th, .f = &f, .now = t->now};
	if (in) {
		count(&t->total, th, &f, t->now);
		add_groups(t, &a);
		a.approval = true;
		if (f.approver) {
			t->total.approved++;
			add_groups(t, &a);
		}
	}
	if (waiting) {
		a.approval = false, a.waiting = true;
		t->total.backlog++;
		add_groups(t, &a);
	}
	count_daily(t, th);
	facts_free(&f);
	return 0;
}

/* --daily: the end of each local day from since (else a week ago) to until (else today). */
static void plan_days(struct tally *t)
{
	if (!t->so->daily)
		return;
	int64_t from = t->so->since ? t->so->since : t->now - 6 * 86400;
	int64_t to = t->so->until ? t->so->until : t->now;
	for (int64_t day = from; day < to && t->ndays < 366;) {
		time_t tt = (time_t)day;
		struct tm tm;
		localtime_r(&tt, &tm);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_mday++;
		tm.tm_isdst = -1;
		int64_t end = (int64_t)mktime(&tm);
		t->days = xreallocarray(t->days, t->ndays + 1, sizeof(*t->days));
		t->days[t->ndays++] = end;
		day = end;
	}
	t->backlogs = xcalloc(t->ndays ? t->ndays : 1, sizeof(*t->backlogs));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void sort_times(struct group *g)
{
	if (g->wall.n > 1)
		qsort(g->wall.v, g->wall.n, sizeof(*g->wall.v), cmp_i64);
	if (g->business.n > 1)
		qsort(g->business.v, g->business.n, sizeof(*g->business.v), cmp_i64);
}

/* The nearest-rank percentile p of the sorted times; -1 when there are none. */
static int64_t percentile(const struct times *ts, int p)
{
	if (ts->n == 0)
		return -1;
	size_t rank = (ts->n * (size_t)p + 99) / 100;
	return ts->v[rank ? rank - 1 : 0];
}

/* a / b, or -1 when b is 0 */
static double share_of(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : -1;
}

static void json_share(struct json *j, const char *key, double share)
{
	json_key(j, key);
	if (share >= 0)
		json_double(j, share);
	else
		json_null(j);
}

static void json_count(struct json *j, const char *key, uint64_t n)
{
	json_key(j, key);
	json_int(j, (int64_t)n);
}

static void json_percentiles(struct json *j, const char *prefix, const struct times *ts)
{
	static const int ps[] = {50, 90, 99};
	for (size_t i = 0; i < NELEM(ps); i++) {
		char key[48];
		snprintf(key, sizeof(key), "%s_p%d", prefix, ps[i]);
		json_key(j, key);
		if (ts->n)
			json_int(j, percentile(ts, ps[i]));
		else
			json_null(j);
	}
}

static void json_group(struct json *j, const struct group *g, bool business)
{
	json_count(j, "received", g->received);
	json_count(j, "answered", g->answered);
	json_count(j, "within_target", g->within);
	json_share(j, "within_target_share", share_of(g->within, needed(g)));
	json_count(j, "breached", g->breached);
	if (business)
		json_percentiles(j, "first_response_business", &g->business);
	json_percentiles(j, "first_response", &g->wall);
	json_count(j, "resolved", g->resolved);
	json_count(j, "not_delivered", g->not_delivered);
	json_count(j, "approved", g->approved);
	json_count(j, "replies", g->replies);
	json_count(j, "edited", g->edited);
	json_share(j, "edited_share", share_of(g->edited, g->replies));
	json_share(j, "edited_lines_share", share_of(g->changed, g->lines));
	json_count(j, "rejected", g->rejected);
	json_count(j, "holding_replies", g->holding);
	json_count(j, "bounced_replies", g->bounces);
	json_count(j, "backlog", g->backlog);
}

/* The local date of the day that ends at end. */
static void day_label(char *out, size_t size, int64_t end)
{
	time_t tt = (time_t)(end - 1);
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%d", &tm);
}

static void json_daily(struct json *j, const struct tally *t)
{
	json_key(j, "daily");
	json_array_begin(j);
	for (size_t i = 0; i < t->ndays; i++) {
		char day[16];
		day_label(day, sizeof(day), t->days[i]);
		json_object_begin(j);
		json_key(j, "day");
		json_string(j, day);
		json_count(j, "backlog", t->backlogs[i]);
		json_object_end(j);
	}
	json_array_end(j);
}

static bool business(const struct tally *t)
{
	return t->so->bh && t->so->bh->set;
}

static void print_json(struct buf *b, const struct tally *t)
{
	struct json j;
	json_init(&j, true);
	json_object_begin(&j);
	json_key(&j, "since");
	json_time(&j, t->so->since);
	json_key(&j, "until");
	json_time(&j, t->so->until ? t->so->until : t->now);
	json_key(&j, "business_hours");
	json_bool(&j, business(t));
	json_key(&j, "total");
	json_object_begin(&j);
	json_group(&j, &t->total, business(t));
	json_object_end(&j);
	json_key(&j, "groups");
	json_array_begin(&j);
	for (size_t i = 0; i < t->n; i++) {
		json_object_begin(&j);
		json_key(&j, "key");
		json_string(&j, t->v[i].key);
		json_group(&j, &t->v[i], business(t));
		json_object_end(&j);
	}
	json_array_end(&j);
	if (t->so->daily)
		json_daily(&j, t);
	json_object_end(&j);
	buf_append(b, j.out.data, j.out.len);
	buf_putc(b, '\n');
	json_finish(&j);
}

/* "45m", "3h10m", "2d4h", "-" */
static void duration(char *out, size_t size, int64_t s)
{
	if (s < 0)
		snprintf(out, size, "-");
	else if (s < 3600)
		snprintf(out, size, "%lldm", (long long)((s + 59) / 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600),
		         (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%lldd%02lldh", (long long)(s / 86400),
		         (long long)(s % 86400 / 3600));
}

/* The p50, p90 and p99 of ts, each right-aligned in 9 columns. */
static void put_percentiles(struct buf *b, const struct times *ts)
{
	static const int ps[] = {50, 90, 99};
	for (size_t i = 0; i < NELEM(ps); i++) {
		char d[32];
		duration(d, sizeof(d), percentile(ts, ps[i]));
		buf_printf(b, " %8s", d);
	}
}

/* "40%", or "-" when there is nothing to take a share of */
static void percent(char *out, size_t size, double share)
{
	if (share < 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%.0f%%", 100.0 * share);
}

static void human_row(struct buf *b, const char *key, const struct group *g, bool business)
{
	char share[16];
	percent(share, sizeof(share), share_of(g->within, needed(g)));
	view_put_cell(b, key, 20); /* a tag or an agent's name: escaped, cut and padded */
	buf_printf(b, " %8llu %8llu %8llu %8s %8llu %8llu", (unsigned long long)g->received,
	           (unsigned long long)g->answered, (unsigned long long)g->resolved, share,
	           (unsigned long long)g->breached, (unsigned long long)g->not_delivered);
	put_percentiles(b, business ? &g->business : &g->wall);
	buf_putc(b, '\n');
}

static void work_row(struct buf *b, const char *key, const struct group *g, bool business)
{
	char edited[16], changed[16];
	percent(edited, sizeof(edited), share_of(g->edited, g->replies));
	percent(changed, sizeof(changed), share_of(g->changed, g->lines));
	view_put_cell(b, key, 20);
	buf_printf(b, " %8llu %8llu %8s %8s %8llu %8llu %8llu %8llu",
	           (unsigned long long)g->approved, (unsigned long long)g->replies, edited, changed,
	           (unsigned long long)g->rejected, (unsigned long long)g->holding,
	           (unsigned long long)g->bounces, (unsigned long long)g->backlog);
	if (business)
		put_percentiles(b, &g->wall);
	buf_putc(b, '\n');
}

static int by_received(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->received != y->received)
		return x->received < y->received ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void print_daily(struct buf *b, const struct tally *t)
{
	buf_puts(b, "\nbacklog at the end of each day\n");
	for (size_t i = 0; i < t->ndays; i++) {
		char day[16];
		day_label(day, sizeof(day), t->days[i]);
		buf_printf(b, "%-20s %8llu\n", day, (unsigned long long)t->backlogs[i]);
	}
}

static void print_human(struct buf *b, struct tally *t)
{
	bool bh = business(t);
	if (bh)
		buf_puts(b, "first response in business hours (rules.yaml business_hours)\n");
	buf_printf(b, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "received", "answered",
	           "resolved", "in time", "breached", "bounced", "p50", "p90", "p99");
	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), by_received);
	for (size_t i = 0; i < t->n; i++)
		human_row(b, t->v[i].key, &t->v[i], bh);
	human_row(b, "all", &t->total, bh);
	buf_printf(b, "\n%-20s %8s %8s %8s %8s %8s %8s %8s %8s", "", "approved", "replies",
	           "edited", "changed", "rejected", "holding", "bounces", "backlog");
	if (bh)
		buf_printf(b, " %8s %8s %8s", "wall p50", "wall p90", "wall p99");
	buf_putc(b, '\n');
	for (size_t i = 0; i < t->n; i++)
		work_row(b, t->v[i].key, &t->v[i], bh);
	work_row(b, "all", &t->total, bh);
	if (t->so->daily)
		print_daily(b, t);
}

static void group_free(struct group *g)
{
	free(g->key);
	free(g->wall.v);
	free(g->business.v);
}

static void tally_free(struct tally *t)
{
	group_free(&t->total);
	for (size_t i = 0; i < t->n; i++)
		group_free(&t->v[i]);
	free(t->v);
	free(t->trail.changed.v);
	free(t->trail.rejected.v);
	free(t->trail.bounced.v);
	free(t->days);
	free(t->backlogs);
}

int stats_add_by(struct stats_options *so, enum stats_by by)
{
	for (size_t i = 0; i < so->nby; i++)
		if (so->by[i] == by)
			return -1;
	if (so->nby == STATS_BY_MAX)
		return -1;
	so->by[so->nby++] = by;
	return 0;
}

int stats_report(struct store *s, const struct stats_options *so, const struct view_options *o,
                 FILE *out)
{
	struct tally t = {.so = so, .now = o->now, .total = {.key = NULL}};
	int rc = store_begin(s, false, &t.txn);
	if (rc < 0)
		return rc;
	plan_days(&t);
	if ((rc = read_trail(&t)) >= 0)
		rc = store_foreach_thread(t.txn, visit, &t);
	if (t.rc < 0)
		rc = t.rc;
	store_abort(t.txn);
	sort_times(&t.total);
	for (size_t i = 0; i < t.n; i++)
		sort_times(&t.v[i]);
	struct buf b = BUF_INIT;
	if (rc >= 0 && o->json)
		print_json(&b, &t);
	else if (rc >= 0)
		print_human(&b, &t);
	if (rc >= 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len)
		rc = STORE_ERROR;
	buf_free(&b);
	tally_free(&t);
	return rc < 0 ? rc : 0;
}
