#include "rec_support.h"
