/* store: being written */
#include "tend/store.h"
