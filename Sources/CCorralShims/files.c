// File operations glibc does not show to Swift.
#define _GNU_SOURCE
#include "corral_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

int corral_rename_noreplace(int from_directory, const char *from, int to_directory, const char *to) {
    return syscall(SYS_renameat2, from_directory, from, to_directory, to, RENAME_NOREPLACE) == 0 ? 0 : errno;
}
