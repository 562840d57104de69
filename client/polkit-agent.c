/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * polkit-agent.c: see polkit-agent.h.
 *
 * pkttyagent --notify-fd N closes (or writes to) fd N once it is
 * registered as the agent for --process PID; --fallback lets it step aside
 * when the session already has an agent.  It dies with us (PDEATHSIG) and
 * is terminated explicitly when the command is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "polkit-agent.h"

/* How long to wait for the agent to register before going on without it. */
#define POLKIT_AGENT_READY_TIMEOUT_MS (10 * 1000)

static void polkit_agent_exec(const char *path, pid_t parent, int notify_fd) {
        char pid_text[32], fd_text[32];

        /* Die with vfioctl, and never outlive a parent that is already gone. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        /* The pipe end was created O_CLOEXEC: pass a copy without it. */
        int fd = fcntl(notify_fd, F_DUPFD, 3);
        if (fd < 0)
                _exit(EXIT_FAILURE);

        /* Prompts go to the terminal, never into our (maybe piped) stdout. */
        if (!isatty(STDOUT_FILENO)) {
                int tty = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (tty < 0 || dup2(tty, STDOUT_FILENO) < 0)
                        _exit(EXIT_FAILURE);
        }

        snprintf(pid_text, sizeof(pid_text), "%d", (int) parent);
        snprintf(fd_text, sizeof(fd_text), "%d", fd);
        execl(path, path, "--notify-fd", fd_text, "--fallback", "--process", pid_text, (char *) NULL);
        _exit(127);
}

pid_t polkit_agent_start(const char *path) {
        int pipe_fds[2];
        pid_t parent = getpid(), pid;

        if (access(path, X_OK) < 0)
                return -errno;

        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;

        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(pipe_fds[0]);
                close(pipe_fds[1]);
                return -e;
        }
        if (pid == 0) {
                close(pipe_fds[0]);
                polkit_agent_exec(path, parent, pipe_fds[1]);
        }

        close(pipe_fds[1]);

        /* Readable (a byte or EOF) once the agent is ready, or has exited. */
        struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
        int r;
        do
                r = poll(&p, 1, POLKIT_AGENT_READY_TIMEOUT_MS);
        while (r < 0 && errno == EINTR);
        close(pipe_fds[0]);

        return pid;
}

void polkit_agent_stop(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}
