// Prints "offset size db" for every value of the named databases, as offsets into data.mdb.
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    MDB_env *env; MDB_txn *txn; MDB_envinfo info;
    mdb_env_create(&env); mdb_env_set_maxdbs(env, 64);
    int rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0644);
    if (rc) { fprintf(stderr, "open: %s\n", mdb_strerror(rc)); return 1; }
    mdb_env_info(env, &info);
    char *base = NULL;
    {   // The map's start: LMDB reports it only for fixed maps, so read it from /proc/self/maps.
        FILE *maps = fopen("/proc/self/maps", "r"); char line[4096];
        while (fgets(line, sizeof line, maps)) {
            unsigned long start, offset; char path[4096] = "";
            if (sscanf(line, "%lx-%*lx %*s %lx %*s %*s %4095s", &start, &offset, path) >= 2 && strstr(path, "data.mdb") && offset == 0) {
                base = (char *)start; break;
            }
        }
        fclose(maps);
        if (!base) { fprintf(stderr, "no mapping of data.mdb\n"); return 1; }
    }
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    for (int i = 2; i < argc; i++) {
        MDB_dbi dbi; MDB_cursor *c; MDB_val k, v;
        if ((rc = mdb_dbi_open(txn, argv[i], 0, &dbi))) { fprintf(stderr, "%s: %s\n", argv[i], mdb_strerror(rc)); continue; }
        mdb_cursor_open(txn, dbi, &c);
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
            if (v.mv_size > 0) printf("%ld %zu %s\n", (long)((char *)v.mv_data - base), v.mv_size, argv[i]);
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn); mdb_env_close(env);
    return 0;
}
