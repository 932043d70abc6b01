// epoll with plain tokens, and the notify (sd_notify) socket.
#define _GNU_SOURCE
#include "corral_shims.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int corral_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int corral_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int corral_inotify_init(void) {
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int corral_inotify_watch_modify(int fd, const char *path) {
    int watch = inotify_add_watch(fd, path, IN_MODIFY);
    return watch < 0 ? -errno : watch;
}

int corral_inotify_unwatch(int fd, int watch) {
    if (inotify_rm_watch(fd, watch) != 0) return errno;
    return 0;
}

void corral_inotify_drain(int fd) {
    char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buffer, sizeof(buffer)) > 0) {
    }
}

int corral_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN;
    event.data.u64 = token;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) != 0) return errno;
    return 0;
}

int corral_epoll_remove(int epfd, int fd) {
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) != 0) return errno;
    return 0;
}

int corral_epoll_wait(int epfd, uint64_t *tokens, int max_tokens, int timeout_ms) {
    struct epoll_event events[64];
    if (max_tokens > 64) max_tokens = 64;
    int n = epoll_wait(epfd, events, max_tokens, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}

/// Fills `address` for `path`, where a leading '@' means the abstract namespace (as systemd's
/// NOTIFY_SOCKET has it). Returns 0 or ENAMETOOLONG.
static int notify_address(const char *path, struct sockaddr_un *address, socklen_t *address_length) {
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof(address->sun_path)) return ENAMETOOLONG;
    memcpy(address->sun_path, path, length);
    *address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    if (path[0] == '@') {
        address->sun_path[0] = '\0';
    } else {
        *address_length += 1;
    }
    return 0;
}

int corral_notify_socket_open(const char *path, int *fd_out) {
    struct sockaddr_un address;
    socklen_t address_length;
    int invalid = notify_address(path, &address, &address_length);
    if (invalid) return invalid;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&address, address_length) != 0) {
        int saved = errno;
        close(fd);
        return saved;
    }
    *fd_out = fd;
    return 0;
}

int corral_notify_socket_receive(int fd, char *buffer, size_t capacity, size_t *length, pid_t *sender) {
    struct iovec iov = {.iov_base = buffer, .iov_len = capacity};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    } control;
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof(control.bytes);
    ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (got < 0) return errno;
    *sender = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(c), sizeof(credentials));
            *sender = credentials.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            // An agent may pass descriptors (sd_notify FDSTORE); corral does not keep them.
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[16];
            if (count > 16) count = 16;
            memcpy(fds, CMSG_DATA(c), count * sizeof(int));
            for (size_t i = 0; i < count; i++) close(fds[i]);
        }
    }
    *length = (size_t)got < capacity ? (size_t)got : capacity;
    return 0;
}

int corral_notify_send(const char *path, const char *message, size_t length) {
    struct sockaddr_un address;
    socklen_t address_length;
    int invalid = notify_address(path, &address, &address_length);
    if (invalid) return invalid;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    ssize_t sent;
    do {
        sent = sendto(fd, message, length, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&address, address_length);
    } while (sent < 0 && errno == EINTR);
    int saved = sent < 0 ? errno : 0;
    close(fd);
    return saved;
}
