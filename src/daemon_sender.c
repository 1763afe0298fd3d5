/*
 * daemon: the sender thread. It runs the outbox (see include/tend/outbox.h) whenever a draft
 * is due, when `tend approve` pokes the socket in the store directory, and at least once a
 * minute; its own thread, so that a slow SMTP server never holds up fetching.
 */
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "tend/outbox.h"
#include "tend/sla.h"
#include "tend/util.h"

/* The longest the sender sleeps without looking at the outbox. */
#define SCAN_INTERVAL 60

/* Sleeps up to ms milliseconds, until poked or stopped. */
static void nap(struct daemon *d, int64_t ms)
{
	struct pollfd pf[2] = {{.fd = d->stop_pipe[0], .events = POLLIN},
	                       {.fd = d->poke_fd, .events = POLLIN}};
	int n = poll(pf, d->poke_fd >= 0 ? 2 : 1, (int)ms);
	if (n > 0 && d->poke_fd >= 0 && (pf[1].revents & POLLIN))
		outbox_drain(d->poke_fd);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * How long to wait before the next pass, in milliseconds: until the second the next draft is
 * due begins (a reply whose undo window ends then goes out then, not a second late).
 */
static int64_t next_wait(const struct outbox_pass *p, int rc)
{
	if (rc < 0)
		return SCAN_INTERVAL * 1000;
	int64_t wait = p->next_due ? p->next_due * 1000 - now_ms() : SCAN_INTERVAL * 1000;
	bool busy = p->sent + p->failed + p->deferred + p->uncertain > 0;
	/* something due that this pass did nothing with: not in a tight loop */
	if (wait <= 0)
		wait = busy ? 0 : 1000;
	return wait > SCAN_INTERVAL * 1000 ? SCAN_INTERVAL * 1000 : wait;
}

/* The SLA clock's part: escalation notices and holding replies into the outbox, before it is
 * sent. */
static void sla_pass(struct daemon *d)
{
	unsigned gen, queued = 0;
	struct rules_ref *r = daemon_rules_acquire(d, &gen);
	const struct rules *rules = r ? r->rules : NULL;
	int64_t now = (int64_t)time(NULL);
	int rc = sla_escalate(d->store, d->config, rules, now, &queued);
	if (rc < 0)
		log_warnx("escalation: %s", store_strerror(rc));
	if ((rc = sla_holding(d->store, d->config, rules, now, &queued)) < 0)
		log_warnx("holding replies: %s", store_strerror(rc));
	daemon_rules_release(d, r);
}

/* The pass's figures, counted and written. */
static void count_pass(struct daemon *d, const struct outbox_pass *p)
{
	for (size_t i = 0; i < p->nsend; i++)
		metrics_observe(d->metrics, METRICS_SEND_SECONDS, NULL, p->send_seconds[i]);
	metrics_add(d->metrics, METRICS_SENT, NULL, p->sent);
	metrics_add(d->metrics, METRICS_SEND_RETRIES, NULL, p->deferred);
	metrics_add(d->metrics, METRICS_SEND_FAILED, NULL, p->failed);
	metrics_add(d->metrics, METRICS_SEND_UNCERTAIN, NULL, p->uncertain);
	daemon_metrics_write(d);
}

/* The SLA clock, then the outbox; what went out is searchable after. */
static int run_outbox(struct daemon *d, struct outbox_pass *p)
{
	sla_pass(d);
	int rc = outbox_run(d->store, d->config, (int64_t)time(NULL), &d->stopping, p);
	if (rc < 0)
		log_warnx("outbox: %s", store_strerror(rc));
	if (p->sent)
		daemon_search_update(d);
	count_pass(d, p);
	return rc;
}

int daemon_outbox_pass(struct daemon *d)
{
	struct outbox_pass p;
	int rc = run_outbox(d, &p);
	bool failed = rc < 0 || p.account_error != NULL;
	outbox_pass_finish(&p);
	return failed ? -1 : 0;
}

void *sender_main(void *arg)
{
	struct daemon *d = arg;
	while (!daemon_stopping(d)) {
		struct outbox_pass p;
		int rc = run_outbox(d, &p);
		int64_t wait = next_wait(&p, rc);
		outbox_pass_finish(&p);
		if (wait > 0 && !daemon_stopping(d))
			nap(d, wait);
	}
	atomic_fetch_sub(&d->running, 1);
	return NULL;
}
