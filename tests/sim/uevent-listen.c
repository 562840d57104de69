/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uevent-listen: what a libudev monitor on the "udev" group receives, one
 * line per event, for vfiosim's tests:
 *
 *   ACTION SUBSYSTEM SYSNAME DRIVER      (DRIVER "-" when the event has none)
 *
 * uevent-listen [SUBSYSTEM...]   (default: pci net block; filters as vfiod's)
 *
 * Prints "ready" once the monitor receives.  libudev only subscribes when
 * /run/udev/control exists; DRIVER is the event's property, never a sysfs
 * read, so a line shows what the message carried.
 */
#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *or_dash(const char *s) {
        return s && *s ? s : "-";
}

int main(int argc, char **argv) {
        static const char *const default_subsystems[] = {"pci", "net", "block", NULL};
        const char *const *subsystems = argc > 1 ? (const char *const *) argv + 1 : default_subsystems;
        struct udev *udev = udev_new();
        struct udev_monitor *mon;
        struct pollfd pfd;

        if (!udev) {
                fprintf(stderr, "uevent-listen: udev_new failed\n");
                return 1;
        }
        mon = udev_monitor_new_from_netlink(udev, "udev");
        if (!mon) {
                fprintf(stderr, "uevent-listen: no monitor\n");
                return 1;
        }
        for (const char *const *s = subsystems; *s; s++)
                if (udev_monitor_filter_add_match_subsystem_devtype(mon, *s, NULL) < 0) {
                        fprintf(stderr, "uevent-listen: filter %s failed\n", *s);
                        return 1;
                }
        if (udev_monitor_enable_receiving(mon) < 0) {
                fprintf(stderr, "uevent-listen: cannot receive\n");
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        pfd = (struct pollfd){.fd = udev_monitor_get_fd(mon), .events = POLLIN};
        for (;;) {
                struct udev_device *dev;

                if (poll(&pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("uevent-listen: poll");
                        return 1;
                }
                dev = udev_monitor_receive_device(mon);
                if (!dev)
                        continue;
                printf("%s %s %s %s\n", or_dash(udev_device_get_action(dev)),
                       or_dash(udev_device_get_subsystem(dev)), or_dash(udev_device_get_sysname(dev)),
                       or_dash(udev_device_get_property_value(dev, "DRIVER")));
                fflush(stdout);
                udev_device_unref(dev);
        }
}
