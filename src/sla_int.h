/* sla: what escalation and holding replies share. Not for other modules. */
#ifndef TEND_SLA_INT_H
#define TEND_SLA_INT_H

#include <stdbool.h>

#include "tend/store.h"

/* Decides about one waiting draft and its live thread. */
typedef bool (*sla_pick_fn)(const struct store_thread *th, const struct store_draft *d, void *arg);
/* Acts on one in a write transaction: 1 to commit, 0 to leave it, or a negative store code. */
typedef int (*sla_act_fn)(struct store_txn *t, struct store_thread *th, const struct store_draft *d,
                          void *arg);

/*
 * For every draft in the review queue, with the live thread it belongs to, calls pick; runs
 * act, in a write transaction of its own that reads both afresh, for each it picked (pick is
 * asked again inside the transaction). Returns how many act committed, or a store code.
 */
int sla_each_waiting(struct store *s, sla_pick_fn pick, sla_act_fn act, void *arg);

#endif
