#ifndef RECDB_CNATS_SHIM_H
#define RECDB_CNATS_SHIM_H
#include <nats/nats.h>
#endif
