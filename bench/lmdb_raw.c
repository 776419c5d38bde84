/* Raw LMDB write rate through the C API, the yardstick for `bench/import`.
 *
 * Writes N key/value pairs into a fresh environment in transactions of BATCH pairs, each commit synced as RecDB's
 * import commits are (one data fsync per batch, meta deferred, final sync). Keys are 8-byte big-endian sequence
 * numbers (appended in order) or, with "random", the same numbers scrambled by a multiplicative hash so that
 * inserts land all over the B-tree. Values are 48 bytes, the size of a RecDB event record.
 *
 * usage: lmdb_raw DIR N BATCH [sequential|random]   prints: pairs seconds pairs_per_s db_bytes
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void check(int rc, const char *what) {
    if (rc != MDB_SUCCESS) {
        fprintf(stderr, "lmdb_raw: %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: lmdb_raw DIR N BATCH [sequential|random]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = atol(argv[2]), batch = atol(argv[3]);
    int random = argc > 4 && strcmp(argv[4], "random") == 0;
    mkdir(dir, 0755);
    MDB_env *env;
    check(mdb_env_create(&env), "mdb_env_create");
    check(mdb_env_set_mapsize(env, (size_t)4 << 30), "mdb_env_set_mapsize");
    check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
    check(mdb_env_open(env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0664), "mdb_env_open");
    MDB_dbi dbi;
    unsigned char key[8], value[48];
    memset(value, 0x5a, sizeof value);
    double start = now();
    for (long done = 0; done < n;) {
        MDB_txn *txn;
        check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        check(mdb_dbi_open(txn, "pairs", MDB_CREATE, &dbi), "mdb_dbi_open");
        long end = done + batch < n ? done + batch : n;
        for (; done < end; done++) {
            uint64_t k = (uint64_t)done + 1;
            if (random) k *= 0x9E3779B97F4A7C15ull;
            for (int b = 0; b < 8; b++) key[b] = (unsigned char)(k >> (56 - 8 * b));
            memcpy(value, &k, sizeof k);
            MDB_val mk = {sizeof key, key}, mv = {sizeof value, value};
            check(mdb_put(txn, dbi, &mk, &mv, random ? 0 : MDB_APPEND), "mdb_put");
        }
        check(mdb_txn_commit(txn), "mdb_txn_commit");
    }
    check(mdb_env_sync(env, 1), "mdb_env_sync");
    double seconds = now() - start;
    mdb_env_close(env);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    stat(path, &st);
    printf("%ld %.6f %.0f %lld\n", n, seconds, n / seconds, (long long)st.st_size);
    return 0;
}
