/* config: what config.c and config_escalation.c share. Not for other modules. */
#ifndef TEND_CONFIG_INT_H
#define TEND_CONFIG_INT_H

#include <stdbool.h>

#include "tend/config.h"
#include "tend/yamlutil.h"

/* An address such as support@shop.example into the char * at k->offset, else an error. */
yamlutil_handler config_set_address;

/* tend.yaml `escalation:`, a list of stages or one mapping, into c->stages. */
yamlutil_handler config_walk_escalation;

/* Frees c's stages and leaves it with none. */
void config_stages_free(struct config *c);

#endif
