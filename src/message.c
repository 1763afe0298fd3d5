/* message: being written */
#include "tend/message.h"
