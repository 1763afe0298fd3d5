/* thread: being written */
#include "tend/thread.h"
