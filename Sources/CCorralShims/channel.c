// A template's control channel: a SOCK_SEQPACKET socket pair whose datagrams carry descriptors
// (SCM_RIGHTS), which Swift cannot build (CMSG_* are macros).
#define _GNU_SOURCE
#include "corral_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int corral_seqpacket_pair(int *corral_end, int *agent_end) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return errno;
    int flags = fcntl(pair[0], F_GETFL);
    if (flags < 0 || fcntl(pair[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        int saved = errno;
        close(pair[0]);
        close(pair[1]);
        return saved;
    }
    *corral_end = pair[0];
    *agent_end = pair[1];
    return 0;
}

int corral_send_with_fds(int fd, const void *bytes, size_t length, const int *fds, int fd_count) {
    if (fd_count < 0 || fd_count > CORRAL_MAX_PASSED_FDS) return EINVAL;
    struct iovec iov = {.iov_base = (void *)bytes, .iov_len = length};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * CORRAL_MAX_PASSED_FDS)];
    } control;
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (fd_count > 0) {
        memset(&control, 0, sizeof(control));
        message.msg_control = control.bytes;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)fd_count);
    }
    ssize_t sent = sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) return errno;
    return (size_t)sent == length ? 0 : EMSGSIZE;
}

int corral_receive_with_fds(int fd, void *buffer, size_t capacity, size_t *length, int *fds, int max_fds, int *fd_count,
                            int *truncated) {
    struct iovec iov = {.iov_base = buffer, .iov_len = capacity};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * CORRAL_MAX_PASSED_FDS)];
    } control;
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof(control.bytes);
    ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) return errno;
    *fd_count = 0;
    *truncated = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int received[CORRAL_MAX_PASSED_FDS];
        if (count > CORRAL_MAX_PASSED_FDS) count = CORRAL_MAX_PASSED_FDS;
        memcpy(received, CMSG_DATA(c), count * sizeof(int));
        for (size_t i = 0; i < count; i++) {
            // More descriptors than the caller takes: closed here, and the message is garbage.
            if (*fd_count < max_fds) {
                fds[(*fd_count)++] = received[i];
            } else {
                close(received[i]);
                *truncated = 1;
            }
        }
    }
    *length = (size_t)got;
    return 0;
}
