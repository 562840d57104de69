/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiosim: a simulated PCI sysfs for vfiod's tests and benchmarks.
 *
 *   vfiosim --topology FILE --control DIR [--uevents] MOUNTPOINT   serve it over FUSE
 *   vfiosim --topology FILE --export DIR               write it as plain files
 *
 * See tests/sim/README.md.
 */
#include "sim.h"

#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
        fprintf(f,
                "Usage: vfiosim --topology FILE [--set NAME=VALUE]... --control DIR [--uevents] MOUNTPOINT\n"
                "       vfiosim --topology FILE [--set NAME=VALUE]... --export DIR\n"
                "\n"
                "  -t, --topology FILE  devices to simulate (JSON, see tests/sim/README.md)\n"
                "  -c, --control DIR    control file and audit log directory (FUSE mode)\n"
                "  -e, --export DIR     write the tree as plain files into DIR and exit\n"
                "  -s, --set NAME=VALUE fill the topology placeholder @NAME@\n"
                "  -u, --uevents        send uevents to libudev monitors (netlink group 2)\n"
                "      --die-with-parent  exit (unmounting) when the parent process dies\n"
                "  -h, --help           this text\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"topology", required_argument, NULL, 't'}, {"control", required_argument, NULL, 'c'},
                {"export", required_argument, NULL, 'e'},   {"set", required_argument, NULL, 's'},
                {"uevents", no_argument, NULL, 'u'},        {"die-with-parent", no_argument, NULL, 'd'},
                {"help", no_argument, NULL, 'h'},           {},
        };
        g_autoptr(GHashTable) vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GError) error = NULL;
        const char *topology = NULL, *control = NULL, *export_dir = NULL;
        bool uevents = false;
        Sim *sim;
        int c, r;

        while ((c = getopt_long(argc, argv, "t:c:e:s:udh", options, NULL)) >= 0) {
                switch (c) {
                case 't': topology = optarg; break;
                case 'c': control = optarg; break;
                case 'e': export_dir = optarg; break;
                case 's': {
                        const char *eq = strchr(optarg, '=');

                        if (!eq) {
                                fprintf(stderr, "vfiosim: --set needs NAME=VALUE\n");
                                return 2;
                        }
                        g_hash_table_insert(vars, g_strndup(optarg, eq - optarg), g_strdup(eq + 1));
                        break;
                }
                case 'u': uevents = true; break;
                case 'd':
                        /* A test killed hard must not leave a server (and
                         * its mount namespace) behind. */
                        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() == 1)
                                return 1;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!topology || (!export_dir == !control) || (control && optind != argc - 1) ||
            (export_dir && optind != argc) || (export_dir && uevents)) {
                usage(stderr);
                return 2;
        }
        sim = sim_load(topology, vars, &error);
        if (!sim) {
                fprintf(stderr, "vfiosim: %s: %s\n", topology, error ? error->message : "cannot load");
                return 1;
        }
        if (export_dir) {
                r = sim_export(sim, export_dir);
                if (r < 0)
                        fprintf(stderr, "vfiosim: export to %s: %s\n", export_dir, g_strerror(-r));
                r = r < 0 ? 1 : 0;
        } else if (uevents && (r = uevent_open(sim)) < 0) {
                fprintf(stderr, "vfiosim: uevent socket: %s\n", g_strerror(-r));
                r = 1;
        } else {
                r = sim_serve(sim, control, argv[optind]);
        }
        sim_free(sim);
        return r;
}
