/* ingest: being written */
#include "tend/ingest.h"
