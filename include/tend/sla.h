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
 * Escalation: every conversation waiting for review past a stage of tend.yaml `escalation:`
 * (a share of its target or a working time since its clock started, for its priority and
 * tags) that has not had that stage for its current clock gets it: what falls due together
 * for one address is one notice, queued in the outbox as an approved draft of kind notice,
 * and each stage is recorded in the conversation (escalated_stages) and audited. r gives the
 * targets and the time zone the notice writes the deadline in (may be NULL: the wall-clock
 * target the deadline was set with). *queued counts the conversations escalated.
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
