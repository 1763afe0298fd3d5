/* config: being written */
#include "tend/config.h"
