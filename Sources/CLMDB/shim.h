#ifndef RECDB_CLMDB_SHIM_H
#define RECDB_CLMDB_SHIM_H
#include <lmdb.h>
#endif
