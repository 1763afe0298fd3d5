/*
 * sla: response-time deadlines. A conversation's deadline is the arrival of its first
 * unanswered customer message plus the target for its priority (rules.yaml `sla`). With
 * `business_hours` only working time counts: the configured days, between the opening and
 * closing times, in the configured IANA time zone (daylight saving followed as the zone's
 * rules say), holidays skipped. A message on Friday 16:30 with a 4h target in 09:00-17:00
 * Monday to Friday is due on Monday 12:30.
 */
#ifndef TEND_SLA_H
#define TEND_SLA_H

#include <stdbool.h>
#include <stdint.h>

#include "tend/config.h"
#include "tend/rules.h"
#include "tend/store.h"

/* The moment target seconds of working time have passed since start (bh may be NULL). */
int64_t sla_deadline(const struct rules_business_hours *bh, int64_t start, int64_t target);

/* The working time between start and end (the wall-clock time without business hours). */
int64_t sla_elapsed(const struct rules_business_hours *bh, int64_t start, int64_t end);

/*
 * The moment share percent of the target has passed (escalation and holding replies): the
 * deadline of that share of the target, counted the same way.
 */
int64_t sla_share(const struct rules_business_hours *bh, int64_t start, int64_t target, int share);

/*
 * Escalation: every conversation waiting for review past its escalation point (risk_at, from
 * tend.yaml `escalation.at`) that has had no notice for its current clock gets one, queued in
 * the outbox as an approved draft of kind notice to `escalation.to`, and is audited. r gives
 * the time zone the notice writes the deadline in (may be NULL). *queued counts the notices.
 * Returns 0 or a negative store code.
 */
int sla_escalate(struct store *s, const struct config *c, const struct rules *r, int64_t now,
                 unsigned *queued);

/*
 * Holding replies (rules.yaml `holding_reply`; nothing when r has none): every conversation
 * waiting for review past that share of its target, never given one, whose customer is not
 * ours, has not bounced and got no automatic reply in the last day, gets one, queued in the
 * outbox as an approved draft of kind holding and audited. Returns 0 or a store code.
 */
int sla_holding(struct store *s, const struct config *c, const struct rules *r, int64_t now,
                unsigned *queued);

#endif
