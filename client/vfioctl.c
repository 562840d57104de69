/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl: the command line client of vfiod, built on libvfiod only.
 *
 * main() parses the command line, finds the verb in the table below,
 * opens what the verb's flags ask for (the libvfiod client; polkit's
 * interactive authorization and our text agent), runs it and closes them.
 * The verbs live in vfioctl-{read,change,use}.c (see vfioctl.h).
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "polkit-agent.h"
#include "vfioctl.h"

#ifndef VFIOCTL_PKTTYAGENT
#define VFIOCTL_PKTTYAGENT "/usr/bin/pkttyagent"
#endif

/* ---- errors ------------------------------------------------------- */

/* "vfioctl: <message>", each further line of a multi-line message
 * indented under the first. */
static void print_error_message(const char *message) {
        const char *line = message && *message ? message : "unknown error";
        bool first = true;

        while (line) {
                const char *nl = strchr(line, '\n');
                int len = nl ? (int) (nl - line) : (int) strlen(line);
                fprintf(stderr, "%s%.*s\n", first ? "vfioctl: " : "         ", len, line);
                first = false;
                line = nl ? nl + 1 : NULL;
        }
}

int vfioctl_fail(const Vfioctl *ctx, const VfiodError *error, const char *device) {
        print_error_message(error->message);

        /* The service words its refusals for any client; the command line
         * that does what it suggests is ours to give, once. */
        if (vfiod_error_has_name(error, VFIOD_ERROR_GROUP_NOT_VIABLE) && device)
                fprintf(stderr,
                        "Hint: 'vfioctl detach --group %s' detaches every device of "
                        "the group.\n",
                        device);
        else if (vfiod_error_has_name(error, VFIOD_ERROR_DEVICE_IN_USE) && device)
                fprintf(stderr, "Hint: add --force to detach it anyway, if you are sure the "
                                "host can do without it.\n");
        else if (vfiod_error_has_name(error, VFIOD_ERROR_NOT_DETACHED) && device &&
                 strcmp(ctx->verb->name, "reattach") != 0)
                fprintf(stderr,
                        "Hint: 'vfioctl detach --group %s' detaches it with its "
                        "group.\n",
                        device);
        else if ((vfiod_error_has_name(error, VFIOD_ERROR_NOT_ASSIGNABLE) ||
                  vfiod_error_has_name(error, VFIOD_ERROR_NOT_DETACHED)) &&
                 device)
                fprintf(stderr, "Hint: 'vfioctl group %s' lists the devices of its group.\n", device);
        else if (vfiod_error_has_name(error, VFIOD_ERROR_NO_SUCH_DEVICE) ||
                 vfiod_error_has_name(error, VFIOD_ERROR_INVALID_ADDRESS))
                fprintf(stderr, "Hint: 'vfioctl list' shows every PCI device.\n");
        else if (vfiod_error_has_name(error, VFIOD_DBUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                fprintf(stderr, "Hint: this needs authentication: run vfioctl on a terminal "
                                "without --no-ask-password, or as root.\n");
        return EXIT_REFUSED;
}

int vfioctl_fail_output(int r) {
        fprintf(stderr, "vfioctl: failed to write the output: %s\n", strerror(-r));
        return EXIT_REFUSED;
}

uint64_t vfioctl_flags(const Options *options) {
        uint64_t flags = 0;

        if (options->verb_options & VERB_OPTION_GROUP)
                flags |= VFIOD_FLAG_GROUP;
        if (options->verb_options & VERB_OPTION_DRY_RUN)
                flags |= VFIOD_FLAG_DRY_RUN;
        if (options->verb_options & VERB_OPTION_FORCE)
                flags |= VFIOD_FLAG_FORCE;
        if (options->verb_options & VERB_OPTION_PERSISTENT)
                flags |= VFIOD_FLAG_PERSISTENT;
        return flags;
}

/* ---- the client and the agent ----------------------------------------- */

/* Interactive authorization unless --no-ask-password, as systemctl does:
 * a session's graphical agent may answer even without a terminal.  Our
 * own text agent only on a terminal, and only when a prompt is possible
 * at all: root and dry runs are never asked. */
static int vfioctl_open(Vfioctl *ctx) {
        const Options *options = ctx->options;
        VfiodError error = VFIOD_ERROR_INIT;
        int r;

        if (!(ctx->verb->flags & (VERB_CLIENT | VERB_AGENT)))
                return 0;
        r = vfiod_client_new(&ctx->client, &error);
        if (r < 0) {
                r = vfioctl_fail(ctx, &error, NULL);
                vfiod_error_clear(&error);
                return r;
        }
        if (!(ctx->verb->flags & VERB_AGENT))
                return 0;
        vfiod_client_set_allow_interactive_authorization(ctx->client, options->ask_password);
        if (options->ask_password && !(vfioctl_flags(options) & VFIOD_FLAG_DRY_RUN) && geteuid() != 0 &&
            isatty(STDIN_FILENO))
                ctx->agent = polkit_agent_start(VFIOCTL_PKTTYAGENT); /* < 0: go on without */
        return 0;
}

void vfioctl_agent_stop(Vfioctl *ctx) {
        polkit_agent_stop(ctx->agent);
        ctx->agent = 0;
}

void vfioctl_release(Vfioctl *ctx) {
        vfioctl_agent_stop(ctx);
        vfiod_client_free(ctx->client);
        ctx->client = NULL;
}

/* ---- the verbs ------------------------------------------------------ */

static int verb_help(Vfioctl *ctx, char **args, size_t n_args);

/* Every verb, in the order of --help; the help line and the options of
 * each are shown from here.  The shell completion
 * (shell-completion/bash/vfioctl) and the manual (man/vfioctl.1.scd) list
 * the same verbs with the same options: tests/integration/test_completion.py
 * checks them against --help. */
static const Verb verbs[] = {
        /* vfioctl-read.c */
        {.name = "list",
         .summary = "List every PCI device (the default)",
         .is_default = true,
         .run = verb_list,
         .flags = VERB_CLIENT},
        {.name = "group",
         .args = "DEVICE",
         .summary = "List the devices of the IOMMU group of DEVICE",
         .min_args = 1,
         .max_args = 1,
         .run = verb_group,
         .flags = VERB_CLIENT},
        {.name = "explain",
         .args = "DEVICE",
         .summary = "Why DEVICE shares its IOMMU group, what would isolate it, how it can be reset",
         .min_args = 1,
         .max_args = 1,
         .run = verb_explain,
         .flags = VERB_CLIENT},
        /* vfioctl-change.c */
        {.name = "detach",
         .args = "DEVICE",
         .summary = "Bind DEVICE (with --group: its whole group) to vfio-pci",
         .min_args = 1,
         .max_args = 1,
         .verb_options =
                 VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN | VERB_OPTION_FORCE | VERB_OPTION_PERSISTENT,
         .run = verb_detach,
         .flags = VERB_CLIENT | VERB_AGENT},
        {.name = "reattach",
         .args = "DEVICE",
         .summary = "Give DEVICE (with --group: its group) back to the host, and "
                    "forget its persistent assignment",
         .min_args = 1,
         .max_args = 1,
         .verb_options = VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN,
         .run = verb_reattach,
         .flags = VERB_CLIENT | VERB_AGENT},
        {.name = "persistent",
         .summary = "List the persistent assignments and whether each still matches "
                    "its device",
         .run = verb_persistent,
         .flags = VERB_CLIENT},
        /* vfioctl-read.c */
        {.name = "monitor",
         .summary = "Print each change of a device or group, until interrupted",
         .run = verb_monitor,
         .flags = VERB_CLIENT},
        /* vfioctl-use.c */
        {.name = "grant",
         .args = "DEVICE",
         .summary = "Let you open the IOMMU group of detached DEVICE by path (an ACL)",
         .min_args = 1,
         .max_args = 1,
         .run = verb_grant,
         .flags = VERB_CLIENT | VERB_AGENT},
        {.name = "revoke",
         .args = "DEVICE",
         .summary = "Take back what grant gave on the group of DEVICE",
         .min_args = 1,
         .max_args = 1,
         .run = verb_revoke,
         .flags = VERB_CLIENT | VERB_AGENT},
        {.name = "run",
         .args = "DEVICE... -- COMMAND [ARG...]",
         .summary = "Detach, grant (or with --fd-env pass the groups' fds) and raise the locked-memory "
                    "limit, then run COMMAND",
         .min_args = 2,
         .max_args = SIZE_MAX,
         .verb_options = VERB_OPTION_GROUP | VERB_OPTION_FD_ENV | VERB_OPTION_MEMLOCK,
         .check = verb_run_check,
         .run = verb_run,
         .flags = VERB_CLIENT | VERB_AGENT},
        /* here */
        {.name = "help", .summary = "Show this help", .run = verb_help},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void help_print(FILE *f) {
        fprintf(f, "vfioctl [OPTIONS...] COMMAND [DEVICE]\n"
                   "\n"
                   "Hand PCI devices to virtual machines through VFIO, one IOMMU group at a time,\n"
                   "with the vfiod service.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < N_VERBS; i++) {
                char synopsis[128];
                int n = snprintf(synopsis, sizeof(synopsis), "%s", verbs[i].name);
                for (unsigned bit = 1; bit <= _VERB_OPTION_LAST; bit <<= 1)
                        if (verbs[i].verb_options & bit)
                                n += snprintf(synopsis + n, sizeof(synopsis) - (size_t) n, " [%s]",
                                              verb_option_name((VerbOption) bit));
                if (verbs[i].args)
                        snprintf(synopsis + n, sizeof(synopsis) - (size_t) n, " %s", verbs[i].args);
                if (strlen(synopsis) > 26)
                        fprintf(f, "  %s\n  %-26s  %s\n", synopsis, "", verbs[i].summary);
                else
                        fprintf(f, "  %-26s  %s\n", synopsis, verbs[i].summary);
        }
        fprintf(f, "\n"
                   "Options:\n"
                   "  -h --help             Show this help\n"
                   "     --version          Show the version of vfioctl and of the service\n"
                   "     --json             Print JSON, with the keys of the D-Bus dictionaries;\n"
                   "                        monitor: one object per line and change\n"
                   "     --no-ask-password  Never ask for a password: fail when the service\n"
                   "                        needs authentication\n"
                   "     --group            detach, reattach: every device of the IOMMU group\n"
                   "     --dry-run          detach, reattach: print the plan, change nothing\n"
                   "     --force            detach: even devices the host is using\n"
                   "     --persistent       detach: and at every boot, before any host driver, as\n"
                   "                        long as the device is still the one recorded\n"
                   "     --memlock SIZE     run: raise the locked-memory limit to SIZE (e.g. 8G;\n"
                   "                        at least the guest's memory)\n"
                   "     --fd-env           run: pass the groups' /dev/vfio fds to COMMAND, named\n"
                   "                        in VFIOD_GROUP_FD_<group>, instead of granting access\n"
                   "\n"
                   "DEVICE is a PCI address, dddd:bb:dd.f or bb:dd.f (domain 0000), e.g. 03:00.0.\n"
                   "\n"
                   "Exit status:\n"
                   "  0  success\n"
                   "  1  the service refused or failed (its message is printed), or is not\n"
                   "     reachable\n"
                   "  2  usage error: unknown command or option, missing or extra arguments\n");
}

static int verb_help(Vfioctl *ctx, char **args, size_t n_args) {
        help_print(stdout);
        return EXIT_SUCCESS;
}

/* Ours, and the service's when it answers (never an error). */
static int version_print(void) {
        VfiodClient *client = NULL;
        char *version = NULL;

        printf("vfioctl %s\n", VFIOD_VERSION);
        if (vfiod_client_new(&client, NULL) >= 0 && vfiod_client_get_version(client, &version, NULL) >= 0)
                printf("vfiod %s\n", version);
        free(version);
        vfiod_client_free(client);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        Options options;
        Vfioctl ctx = {.options = &options};
        char *message = NULL;
        char **args;
        size_t n_args;
        int r, ret;

        setlocale(LC_ALL, "");

        r = options_parse(argc, argv, &options, &message);
        if (r < 0) {
                fprintf(stderr, "vfioctl: %s\nTry 'vfioctl --help' for more information.\n",
                        message ? message : strerror(-r));
                free(message);
                return r == -EINVAL ? EXIT_USAGE : EXIT_REFUSED;
        }

        if (options.help) {
                help_print(stdout);
                options_clear(&options);
                return EXIT_SUCCESS;
        }
        if (options.version) {
                options_clear(&options);
                return version_print();
        }

        r = options_find_verb(&options, verbs, N_VERBS, &ctx.verb, &message);
        if (r < 0) {
                fprintf(stderr, "vfioctl: %s\nTry 'vfioctl --help' for more information.\n",
                        message ? message : strerror(-r));
                free(message);
                options_clear(&options);
                return EXIT_USAGE;
        }
        args = options.n_args > 0 ? options.args + 1 : options.args;
        n_args = options.n_args > 0 ? options.n_args - 1 : 0;

        ret = ctx.verb->check ? ctx.verb->check(&options, args, n_args) : 0;
        if (ret == 0) {
                output_init();
                ret = vfioctl_open(&ctx);
        }
        if (ret == 0)
                ret = ctx.verb->run(&ctx, args, n_args);

        vfioctl_release(&ctx);
        options_clear(&options);
        return ret;
}
