// BSD libedit's readline-compatible line editing and history (libedit-dev), for `recctl shell`.
#include <stdio.h>
#include <editline/readline.h>
