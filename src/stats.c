/*
 * stats: response-time figures. See include/tend/stats.h.
 */
#include <stdlib.h>
#include <string.h>

#include "tend/json.h"
#include "tend/rules.h"
#include "tend/stats.h"
#include "tend/util.h"

/* One group's figures, and the response times they come from. */
struct group {
	char *key;
	uint64_t received, answered, within, breached;
	uint64_t resolved;      /* without a reply: needed none after all */
	uint64_t not_delivered; /* the first reply bounced */
	int64_t *times;
	size_t ntimes;
};

struct tally {
	const struct stats_options *so;
	int64_t now;
	struct group total;
	struct group *v;
	size_t n;
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

static void count(struct group *g, const struct store_thread *th, int64_t now)
{
	g->received++;
	if (th->first_bounced)
		g->not_delivered++;
	if (th->first_response) {
		g->answered++;
		int64_t frt = th->first_response - first_clock(th);
		g->times = xreallocarray(g->times, g->ntimes + 1, sizeof(*g->times));
		g->times[g->ntimes++] = frt < 0 ? 0 : frt;
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

/* Who approved the first reply; replies found in the mailbox had no agent in tend. */
static const char *agent_key(const struct store_thread *th)
{
	if (th->first_agent)
		return th->first_agent;
	return th->first_response ? "(answered outside tend)" : "(not answered)";
}

static bool counted(const struct store_thread *th)
{
	/* conversations that never needed an answer (automatic mail, ignored) are not counted */
	return th->first_clock != 0 || th->first_response != 0;
}

static int visit(const struct store_thread *th, void *arg)
{
	struct tally *t = arg;
	int64_t at = first_clock(th);
	if (!counted(th) || (t->so->since && at < t->so->since) ||
	    (t->so->until && at >= t->so->until))
		return 0;
	count(&t->total, th, t->now);
	switch (t->so->by) {
	case STATS_BY_TAG:
		for (size_t i = 0; i < th->tags.n; i++)
			count(group_for(t, th->tags.v[i]), th, t->now);
		if (th->tags.n == 0)
			count(group_for(t, "(no tag)"), th, t->now);
		break;
	case STATS_BY_PRIORITY:
		count(group_for(t, rules_priority_name(th->priority)), th, t->now);
		break;
	case STATS_BY_AGENT:
		count(group_for(t, agent_key(th)), th, t->now);
		break;
	default:
		break;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void sort_times(struct group *g)
{
	if (g->ntimes > 1)
		qsort(g->times, g->ntimes, sizeof(*g->times), cmp_i64);
}

/* The nearest-rank percentile p of the sorted times; -1 when there are none. */
static int64_t percentile(const struct group *g, int p)
{
	if (g->ntimes == 0)
		return -1;
	size_t rank = (g->ntimes * (size_t)p + 99) / 100;
	return g->times[rank ? rank - 1 : 0];
}

static void json_group(struct json *j, const struct group *g)
{
	json_key(j, "received");
	json_int(j, (int64_t)g->received);
	json_key(j, "answered");
	json_int(j, (int64_t)g->answered);
	json_key(j, "within_target");
	json_int(j, (int64_t)g->within);
	json_key(j, "within_target_share");
	if (needed(g))
		json_double(j, (double)g->within / (double)needed(g));
	else
		json_null(j);
	json_key(j, "breached");
	json_int(j, (int64_t)g->breached);
	static const int ps[] = {50, 90, 99};
	for (size_t i = 0; i < NELEM(ps); i++) {
		char key[32];
		snprintf(key, sizeof(key), "first_response_p%d", ps[i]);
		json_key(j, key);
		if (g->ntimes)
			json_int(j, percentile(g, ps[i]));
		else
			json_null(j);
	}
	json_key(j, "resolved");
	json_int(j, (int64_t)g->resolved);
	json_key(j, "not_delivered");
	json_int(j, (int64_t)g->not_delivered);
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
	json_key(&j, "total");
	json_object_begin(&j);
	json_group(&j, &t->total);
	json_object_end(&j);
	json_key(&j, "groups");
	json_array_begin(&j);
	for (size_t i = 0; i < t->n; i++) {
		json_object_begin(&j);
		json_key(&j, "key");
		json_string(&j, t->v[i].key);
		json_group(&j, &t->v[i]);
		json_object_end(&j);
	}
	json_array_end(&j);
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

static void human_row(struct buf *b, const char *key, const struct group *g)
{
	char p50[32], p90[32], p99[32], share[16] = "-";
	duration(p50, sizeof(p50), percentile(g, 50));
	duration(p90, sizeof(p90), percentile(g, 90));
	duration(p99, sizeof(p99), percentile(g, 99));
	if (needed(g))
		snprintf(share, sizeof(share), "%.0f%%",
		         100.0 * (double)g->within / (double)needed(g));
	view_put_cell(b, key, 20); /* a tag or an agent's name: escaped, cut and padded */
	buf_printf(b, " %8llu %8llu %8llu %8s %8llu %8llu %8s %8s %8s\n",
	           (unsigned long long)g->received, (unsigned long long)g->answered,
	           (unsigned long long)g->resolved, share, (unsigned long long)g->breached,
	           (unsigned long long)g->not_delivered, p50, p90, p99);
}

static int by_received(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->received != y->received)
		return x->received < y->received ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void print_human(struct buf *b, struct tally *t)
{
	buf_printf(b, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "received", "answered",
	           "resolved", "in time", "breached", "bounced", "p50", "p90", "p99");
	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), by_received);
	for (size_t i = 0; i < t->n; i++)
		human_row(b, t->v[i].key, &t->v[i]);
	human_row(b, "all", &t->total);
}

static void group_free(struct group *g)
{
	free(g->key);
	free(g->times);
}

int stats_report(struct store *s, const struct stats_options *so, const struct view_options *o,
                 FILE *out)
{
	struct tally t = {.so = so, .now = o->now, .total = {.key = NULL}};
	struct store_txn *txn = NULL;
	int rc = store_begin(s, false, &txn);
	if (rc < 0)
		return rc;
	rc = store_foreach_thread(txn, visit, &t);
	store_abort(txn);
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
	group_free(&t.total);
	for (size_t i = 0; i < t.n; i++)
		group_free(&t.v[i]);
	free(t.v);
	return rc < 0 ? rc : 0;
}
