#define _GNU_SOURCE
#include "rec_support.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* One registered map. `start` is published last (release) and cleared first, so the handler, which reads without a
   lock, sees either a complete slot or an empty one. */
struct fault_map {
    _Atomic(const void *) start;
    size_t length;
    char path[1024];
};

static struct fault_map fault_maps[64];
static pthread_mutex_t fault_maps_lock = PTHREAD_MUTEX_INITIALIZER;

void recdb_fault_register_map(const void *start, size_t length, const char *path) {
    if (start == NULL) return;
    pthread_mutex_lock(&fault_maps_lock);
    for (size_t i = 0; i < sizeof fault_maps / sizeof fault_maps[0]; i++) {
        if (atomic_load_explicit(&fault_maps[i].start, memory_order_acquire) == NULL) {
            fault_maps[i].length = length;
            strncpy(fault_maps[i].path, path ? path : "", sizeof fault_maps[i].path - 1);
            fault_maps[i].path[sizeof fault_maps[i].path - 1] = 0;
            atomic_store_explicit(&fault_maps[i].start, start, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&fault_maps_lock);
}

void recdb_fault_unregister_map(const void *start) {
    if (start == NULL) return;
    pthread_mutex_lock(&fault_maps_lock);
    for (size_t i = 0; i < sizeof fault_maps / sizeof fault_maps[0]; i++) {
        if (atomic_load_explicit(&fault_maps[i].start, memory_order_acquire) == start) {
            atomic_store_explicit(&fault_maps[i].start, NULL, memory_order_release);
        }
    }
    pthread_mutex_unlock(&fault_maps_lock);
}

static void write_text(const char *text) {
    size_t length = strlen(text);
    while (length > 0) {
        ssize_t n = write(STDERR_FILENO, text, length);
        if (n <= 0) return;
        text += n;
        length -= (size_t)n;
    }
}

/* Only async-signal-safe calls: write and _exit. */
static void bus_error(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    const char *address = info ? (const char *)info->si_addr : NULL;
    for (size_t i = 0; i < sizeof fault_maps / sizeof fault_maps[0]; i++) {
        const char *start = atomic_load_explicit(&fault_maps[i].start, memory_order_acquire);
        if (start != NULL && address >= start && address < start + fault_maps[i].length) {
            write_text("recdb: fatal: ");
            write_text(fault_maps[i].path);
            write_text(" changed size under the process (a page of its memory map is gone: the file was truncated "
                       "or replaced while open); run `recctl check`\n");
            _exit(1);
        }
    }
    write_text("recdb: fatal: bus error: a memory-mapped file (data.mdb or a model file) changed size under the "
               "process\n");
    _exit(1);
}

int recdb_fault_install_bus_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = bus_error;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGBUS, &action, NULL);
}
