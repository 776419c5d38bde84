#ifndef RECDB_CZLIB_SHIM_H
#define RECDB_CZLIB_SHIM_H
#include <zlib.h>
#endif
