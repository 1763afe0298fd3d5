/* config: what config.c and config_escalation.c share. Not for other modules. */
#ifndef TEND_CONFIG_INT_H
#define TEND_CONFIG_INT_H

#include <stdbool.h>

#include "tend/config.h"
#include "tend/yamlutil.h"

/* A bare addr-spec such as support@shop.example: what tend writes in From and compares with. */
bool config_address_valid(const char *s);

/* tend.yaml `escalation:`, a list of stages or one mapping, into c->stages. */
yamlutil_handler config_walk_escalation;

/* Frees c's stages and leaves it with none. */
void config_stages_free(struct config *c);

#endif
