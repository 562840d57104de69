/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl-use.c: the verbs for using a detached device without root:
 * grant, revoke (ACL entries on its group's nodes), run (detach, grant
 * or pass the fds, raise the locked-memory limit, exec).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "vfioctl.h"

static int print_nodes(const VfiodNodeList *nodes, bool grant, bool json) {
        if (json) {
                JsonWriter w;
                json_writer_init(&w, stdout, out.tty);
                json_writer_begin_object(&w);
                json_writer_key(&w, "nodes");
                json_writer_begin_array(&w);
                for (size_t i = 0; i < nodes->n_nodes; i++) {
                        json_writer_begin_object(&w);
                        vfiod_node_foreach_field(nodes->nodes[i], json_field, &w);
                        json_writer_end_object(&w);
                }
                json_writer_end_array(&w);
                json_writer_end_object(&w);
                if (json_writer_finish(&w) < 0)
                        return -EIO;
        } else if (nodes->n_nodes == 0)
                printf("%s\n", grant ? "Nothing granted." : "Nothing to revoke.");
        else
                for (size_t i = 0; i < nodes->n_nodes; i++)
                        printf("%s uid %u access to %s\n", grant ? "granted" : "revoked",
                               (unsigned) nodes->nodes[i]->uid, nodes->nodes[i]->path);
        return fflush(stdout) != 0 ? -errno : 0;
}

/* Interactive authorization unless --no-ask-password, with our text
 * agent (see main()). */
static int verb_access(Vfioctl *ctx, const char *device, bool grant) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_node_list_freep) VfiodNodeList *nodes = NULL;
        int r;

        if (grant)
                r = vfiod_client_grant_access(ctx->client, device, 0, &nodes, &error);
        else
                r = vfiod_client_revoke_access(ctx->client, device, 0, &nodes, &error);
        vfioctl_agent_stop(ctx);
        if (r < 0)
                return vfioctl_fail(ctx, &error, device);
        return print_nodes(nodes, grant, ctx->options->json) < 0 ? vfioctl_fail_output(-EIO) : EXIT_SUCCESS;
}

int verb_grant(Vfioctl *ctx, char **args, size_t n_args) {
        return verb_access(ctx, args[0], true);
}

int verb_revoke(Vfioctl *ctx, char **args, size_t n_args) {
        return verb_access(ctx, args[0], false);
}

/* run DEVICE... -- COMMAND [ARGS...]: detach, let this user use the
 * devices (ACL grants, or with --fd-env the groups' fds), raise our own
 * locked-memory limit (inherited across exec), then become COMMAND. */
int verb_run_check(const Options *options, char **args, size_t n_args) {
        /* options->dashdash counts the verb too */
        if (options->dashdash == SIZE_MAX || options->dashdash < 2 || options->dashdash - 1 >= n_args) {
                fprintf(stderr, "vfioctl: run needs devices, then -- and the command to run, e.g.\n"
                                "  vfioctl run --memlock 8G 03:00.0 -- qemu-system-x86_64 "
                                "-device vfio-pci,host=03:00.0 ...\n");
                return EXIT_USAGE;
        }
        return 0;
}

int verb_run(Vfioctl *ctx, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        const Options *options = ctx->options;
        VfiodClient *client = ctx->client;
        size_t n_devices = options->dashdash - 1; /* checked by verb_run_check() */
        char **command = args + n_devices;
        int r = 0;

        for (size_t i = 0; i < n_devices && r >= 0; i++) {
                VfiodPlan *plan = NULL;
                const char *device = args[i];

                r = vfiod_client_detach_device(client, device, vfioctl_flags(options) & VFIOD_FLAG_GROUP,
                                               &plan, &error);
                vfiod_plan_free(plan);
                if (r >= 0 && (options->verb_options & VERB_OPTION_FD_ENV)) {
                        uint32_t group;
                        int fd;
                        char name[32], value[16];

                        r = vfiod_client_open_group(client, device, 0, &group, &fd, &error);
                        if (r == -EBUSY && vfiod_error_has_name(&error, VFIOD_ERROR_GROUP_BUSY)) {
                                /* a device of a group opened for an earlier one */
                                snprintf(name, sizeof(name), "VFIOD_GROUP_FD_%u", (unsigned) group);
                                if (getenv(name)) {
                                        vfiod_error_clear(&error);
                                        r = 0;
                                        continue;
                                }
                        }
                        if (r >= 0) {
                                /* the command inherits it */
                                (void) fcntl(fd, F_SETFD, 0);
                                snprintf(name, sizeof(name), "VFIOD_GROUP_FD_%u", (unsigned) group);
                                snprintf(value, sizeof(value), "%d", fd);
                                setenv(name, value, 1);
                        }
                } else if (r >= 0)
                        r = vfiod_client_grant_access(client, device, 0, NULL, &error);
                if (r < 0)
                        return vfioctl_fail(ctx, &error, device);
        }

        if (options->verb_options & VERB_OPTION_MEMLOCK) {
                int pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
                if (pidfd < 0) {
                        fprintf(stderr, "vfioctl: cannot open a pidfd of itself: %s\n", strerror(errno));
                        return EXIT_REFUSED;
                }
                r = vfiod_client_set_locked_memory_limit(client, pidfd, options->memlock, &error);
                close(pidfd);
                if (r < 0)
                        return vfioctl_fail(ctx, &error, NULL);
        }

        vfioctl_release(ctx);
        fflush(NULL);
        execvp(command[0], command);
        fprintf(stderr, "vfioctl: cannot run %s: %s\n", command[0], strerror(errno));
        return errno == ENOENT ? 127 : 126;
}
