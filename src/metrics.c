/*
 * metrics: the registry and the text exposition format. See include/tend/metrics.h.
 */
#include "tend/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LABELS 3

enum kind { COUNTER, GAUGE, HISTOGRAM };

/* Bucket bounds in seconds: an IMAP pass over a folder takes from milliseconds to minutes, */
static const double fetch_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
/* storing one message from a millisecond to a second or two (fact lookups), */
static const double ingest_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   10};
/* and one SMTP transaction from a tenth of a second to the client's time-out. */
static const double send_buckets[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

struct family {
	const char *name;
	enum kind kind;
	const char *help;
	const char *labels[MAX_LABELS + 1]; /* NULL-terminated */
	const double *buckets;
	size_t nbuckets;
};

#define BUCKETS(v) v, sizeof(v) / sizeof(v[0])
#define NO_BUCKETS NULL, 0

static const struct family families[METRICS_NFAMILIES] = {
    [METRICS_LAST_LOGIN] = {"tend_last_login_timestamp_seconds",
                            GAUGE,
                            "When tendd last logged in to the account (Unix time).",
                            {"account"},
                            NO_BUCKETS},
    [METRICS_LAST_FETCH] = {"tend_last_fetch_timestamp_seconds",
                            GAUGE,
                            "When tendd last fetched the folder completely (Unix time).",
                            {"account", "folder"},
                            NO_BUCKETS},
    [METRICS_STORED] = {"tend_messages_stored_total",
                        COUNTER,
                        "New messages stored since tendd started.",
                        {"account", "folder"},
                        NO_BUCKETS},
    [METRICS_QUARANTINED] = {"tend_messages_quarantined_total",
                             COUNTER,
                             "Messages quarantined since tendd started.",
                             {"account", "folder"},
                             NO_BUCKETS},
    [METRICS_ERRORS] = {"tend_errors_total",
                        COUNTER,
                        "Failures since tendd started, by kind: login, connection, folder, store.",
                        {"account", "folder", "kind"},
                        NO_BUCKETS},
    [METRICS_IDLE_WAKEUPS] = {"tend_idle_wakeups_total",
                              COUNTER,
                              "Times IDLE reported news on the folder since tendd started.",
                              {"account", "folder"},
                              NO_BUCKETS},
    [METRICS_FETCH_SECONDS] = {"tend_fetch_duration_seconds",
                               HISTOGRAM,
                               "Time one pass over the folder took.",
                               {"account", "folder"},
                               BUCKETS(fetch_buckets)},
    [METRICS_INGEST_SECONDS] = {"tend_ingest_duration_seconds",
                                HISTOGRAM,
                                "Time one fetched message took to parse, judge and store.",
                                {"account", "folder"},
                                BUCKETS(ingest_buckets)},
    [METRICS_CONVERSATIONS] = {"tend_conversations",
                               GAUGE,
                               "Conversations waiting for an answer; at_risk and overdue "
                               "are the part of them past the escalation point and past "
                               "the deadline.",
                               {"state"},
                               NO_BUCKETS},
    [METRICS_OUTBOX] = {"tend_outbox_replies",
                        GAUGE,
                        "Approved replies not sent yet (queued, retrying) and sent replies "
                        "whose copy is not in the Sent folder yet (copy_pending).",
                        {"state"},
                        NO_BUCKETS},
    [METRICS_SEND_SECONDS] = {"tend_send_duration_seconds",
                              HISTOGRAM,
                              "Time one SMTP transaction took.",
                              {NULL},
                              BUCKETS(send_buckets)},
    [METRICS_SENT] = {"tend_replies_sent_total",
                      COUNTER,
                      "Replies the SMTP server accepted since tendd started.",
                      {NULL},
                      NO_BUCKETS},
    [METRICS_SEND_RETRIES] = {"tend_send_retries_total",
                              COUNTER,
                              "Send attempts that failed and will be tried again, since "
                              "tendd started.",
                              {NULL},
                              NO_BUCKETS},
    [METRICS_SEND_FAILED] = {"tend_replies_failed_total",
                             COUNTER,
                             "Replies the SMTP server refused for good since tendd started.",
                             {NULL},
                             NO_BUCKETS},
    [METRICS_SEND_UNCERTAIN] = {"tend_replies_uncertain_total",
                                COUNTER,
                                "Replies whose outcome was lost (an agent must decide), since "
                                "tendd started.",
                                {NULL},
                                NO_BUCKETS},
    [METRICS_STORE_MESSAGES] =
        {"tend_store_messages", GAUGE, "Messages in the store.", {NULL}, NO_BUCKETS},
    [METRICS_STORE_THREADS] =
        {"tend_store_conversations", GAUGE, "Conversations in the store.", {NULL}, NO_BUCKETS},
};

struct sample {
	enum metrics_family f;
	char *lv[MAX_LABELS];
	double value;      /* counter or gauge; a histogram's sum */
	uint64_t count;    /* a histogram's observations */
	uint64_t *buckets; /* a histogram's per bucket (not cumulative) */
};

struct metrics {
	pthread_mutex_t lock;
	char *shop; /* the label every sample carries first, or NULL */
	struct sample *v;
	size_t n, cap;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		for (size_t k = 0; k < MAX_LABELS; k++)
			free(m->v[i].lv[k]);
		free(m->v[i].buckets);
	}
	free(m->v);
	free(m->shop);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void metrics_set_shop(struct metrics *m, const char *shop)
{
	pthread_mutex_lock(&m->lock);
	free(m->shop);
	m->shop = shop ? xstrdup(shop) : NULL;
	pthread_mutex_unlock(&m->lock);
}

static size_t nlabels(enum metrics_family f)
{
	size_t n = 0;
	while (n < MAX_LABELS && families[f].labels[n])
		n++;
	return n;
}

static bool same_labels(const struct sample *s, const char *const *lv, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(s->lv[k], lv[k] ? lv[k] : "") != 0)
			return false;
	return true;
}

/* The sample of f with the label values lv, made when missing; called with the lock held. */
static struct sample *sample_of(struct metrics *m, enum metrics_family f, const char *const *lv)
{
	size_t nl = nlabels(f);
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].f == f && same_labels(&m->v[i], lv, nl))
			return &m->v[i];
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->v = xreallocarray(m->v, m->cap, sizeof(*m->v));
	}
	struct sample *s = &m->v[m->n++];
	*s = (struct sample){.f = f};
	for (size_t k = 0; k < nl; k++)
		s->lv[k] = xstrdup(lv[k] ? lv[k] : "");
	if (families[f].kind == HISTOGRAM)
		s->buckets = xcalloc(families[f].nbuckets, sizeof(*s->buckets));
	return s;
}

void metrics_add(struct metrics *m, enum metrics_family f, const char *const *lv, uint64_t n)
{
	pthread_mutex_lock(&m->lock);
	sample_of(m, f, lv)->value += (double)n;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set(struct metrics *m, enum metrics_family f, const char *const *lv, double v)
{
	pthread_mutex_lock(&m->lock);
	sample_of(m, f, lv)->value = v;
	pthread_mutex_unlock(&m->lock);
}

void metrics_observe(struct metrics *m, enum metrics_family f, const char *const *lv,
                     double seconds)
{
	const struct family *fam = &families[f];
	pthread_mutex_lock(&m->lock);
	struct sample *s = sample_of(m, f, lv);
	s->value += seconds;
	s->count++;
	for (size_t i = 0; i < fam->nbuckets; i++)
		if (seconds <= fam->buckets[i]) {
			s->buckets[i]++;
			break;
		}
	pthread_mutex_unlock(&m->lock);
}

/* Rendering */

void metrics_put_label_value(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '"')
			buf_puts(out, "\\\"");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *s);
	}
}

/* Whole numbers (timestamps, counts) as digits; others with enough precision. */
static void put_number(struct buf *out, double v)
{
	if (isinf(v))
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		buf_puts(out, "NaN");
	else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v)
		buf_printf(out, "%.0f", v);
	else
		buf_printf(out, "%.9g", v);
}

/* One label: ,name="value" (without the comma first). */
static void put_label(struct buf *out, bool *first, const char *name, const char *value)
{
	buf_printf(out, "%c%s=\"", *first ? '{' : ',', name);
	metrics_put_label_value(out, value);
	buf_putc(out, '"');
	*first = false;
}

/* name{shop="s",a="x",b="y"[,le="bound"]} value */
static void put_line(struct buf *out, const char *shop, const char *suffix, const struct sample *s,
                     const char *le, double v)
{
	const struct family *fam = &families[s->f];
	bool first = true;
	buf_printf(out, "%s%s", fam->name, suffix);
	if (shop)
		put_label(out, &first, "shop", shop);
	for (size_t k = 0; k < nlabels(s->f); k++)
		put_label(out, &first, fam->labels[k], s->lv[k]);
	if (le)
		put_label(out, &first, "le", le);
	if (!first)
		buf_putc(out, '}');
	buf_putc(out, ' ');
	put_number(out, v);
	buf_putc(out, '\n');
}

static void put_histogram(struct buf *out, const char *shop, const struct sample *s)
{
	const struct family *fam = &families[s->f];
	uint64_t cum = 0;
	for (size_t i = 0; i < fam->nbuckets; i++) {
		char le[32];
		snprintf(le, sizeof(le), "%g", fam->buckets[i]);
		cum += s->buckets[i];
		put_line(out, shop, "_bucket", s, le, (double)cum);
	}
	put_line(out, shop, "_bucket", s, "+Inf", (double)s->count);
	put_line(out, shop, "_sum", s, NULL, s->value);
	put_line(out, shop, "_count", s, NULL, (double)s->count);
}

static const char *kind_name(enum kind k)
{
	return k == COUNTER ? "counter" : k == GAUGE ? "gauge" : "histogram";
}

void metrics_render(struct metrics *m, struct buf *out)
{
	pthread_mutex_lock(&m->lock);
	for (int f = 0; f < METRICS_NFAMILIES; f++) {
		const struct family *fam = &families[f];
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
		           kind_name(fam->kind));
		for (size_t i = 0; i < m->n; i++) {
			if (m->v[i].f != (enum metrics_family)f)
				continue;
			if (fam->kind == HISTOGRAM)
				put_histogram(out, m->shop, &m->v[i]);
			else
				put_line(out, m->shop, "", &m->v[i], NULL, m->v[i].value);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* Writing */

/* Creates tmp afresh: a file or link left there (a crash, or planted) is removed, not used. */
static int create_tmp(const char *tmp)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = open(tmp, flags, 0644);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, flags, 0644);
	/* the umask must not make it unreadable to node_exporter */
	if (fd >= 0 && fchmod(fd, 0644) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

int metrics_write(struct metrics *m, const char *path, char **err)
{
	struct buf b = BUF_INIT;
	char *tmp = xasprintf("%s.tmp", path);
	const char *step = "cannot create the metrics file";
	int rc = -1, fd;
	metrics_render(m, &b);
	if ((fd = create_tmp(tmp)) < 0)
		goto out;
	step = "cannot write the metrics file";
	bool ok = util_write_all(fd, b.data, b.len) == 0 && fsync(fd) == 0;
	if (close(fd) < 0)
		ok = false;
	if (ok) {
		step = "rename of";
		rc = rename(tmp, path);
	}
	if (rc < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
	}
out:
	if (rc < 0)
		*err = xasprintf("%s %s%s%s: %s", step, tmp, *step == 'r' ? " to " : "",
		                 *step == 'r' ? path : "", strerror(errno));
	buf_free(&b);
	free(tmp);
	return rc;
}
