/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uevent.c: the uevents udevd would pass on, as libudev monitors receive
 * them on the "udev" netlink group (NETLINK_KOBJECT_UEVENT group 2).
 *
 * The kernel's own group cannot be faked from userspace, but libudev (and
 * sd-device) accept a message on the udev group from a root sender in the
 * same network namespace when it carries the libudev header: "libudev\0",
 * magic 0xfeedcafe and a MurmurHash2 of the subsystem (both big-endian: the
 * receiver's socket filter loads them as network-order words), then the
 * properties as NUL-separated KEY=VALUE strings.  The receiver insists on
 * ACTION, DEVPATH, SUBSYSTEM and SEQNUM > 0.
 *
 * The model queues a message (with the properties of that moment) while it
 * holds the model lock; uevent_flush() sends the queue afterwards, in
 * SEQNUM order, without the model lock, and never waits on the socket.
 */
#include "sim.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UEVENT_UDEV_GROUP 2 /* libudev's MONITOR_GROUP_UDEV */
#define UEVENT_MAGIC 0xfeedcafeu

/* The header libudev's sender writes (sd-device's monitor_netlink_header):
 * nine 32-bit words after the prefix; sizes and offsets in host order. */
typedef struct {
        char prefix[8];
        uint32_t magic; /* big-endian */
        uint32_t header_size;
        uint32_t properties_off;
        uint32_t properties_len;
        uint32_t filter_subsystem_hash; /* big-endian */
        uint32_t filter_devtype_hash;   /* big-endian, 0 without DEVTYPE */
        uint32_t filter_tag_bloom_hi;   /* no tags: 0 */
        uint32_t filter_tag_bloom_lo;
} UeventHeader;

/* Austin Appleby's MurmurHash2 (32-bit, public domain), the hash libudev's
 * socket filters compare; 4-byte blocks read little-endian as on x86. */
static uint32_t murmur_hash2(const char *s, size_t len, uint32_t seed) {
        const uint32_t m = 0x5bd1e995;
        const unsigned char *p = (const unsigned char *) s;
        uint32_t h = seed ^ (uint32_t) len;

        for (; len >= 4; len -= 4, p += 4) {
                uint32_t k = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                             (uint32_t) p[3] << 24;

                k *= m;
                k ^= k >> 24;
                k *= m;
                h *= m;
                h ^= k;
        }
        switch (len) {
        case 3:
                h ^= (uint32_t) p[2] << 16;
                /* fall through */
        case 2:
                h ^= (uint32_t) p[1] << 8;
                /* fall through */
        case 1: h ^= p[0]; h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

static uint32_t string_hash(const char *s) {
        return murmur_hash2(s, strlen(s), 0);
}

bool uevent_action_valid(const char *action) {
        static const char *const actions[] = {
                "add", "remove", "change", "move", "online", "offline", "bind", "unbind",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(actions); i++)
                if (g_str_equal(action, actions[i]))
                        return true;
        return false;
}

int uevent_open(Sim *sim) {
        struct sockaddr_nl local = {.nl_family = AF_NETLINK};
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);

        if (fd < 0)
                return -errno;
        /* Bound to no group: the simulator sends, it never listens. */
        if (bind(fd, (struct sockaddr *) &local, sizeof(local)) < 0) {
                int err = errno;

                close(fd);
                return -err;
        }
        sim->uevent_fd = fd;
        sim->uevents = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        return 0;
}

void uevent_close(Sim *sim) {
        if (sim->uevent_fd < 0)
                return;
        close(sim->uevent_fd);
        sim->uevent_fd = -1;
        g_clear_pointer(&sim->uevents, g_ptr_array_unref);
}

void uevent_queue(Sim *sim, const char *action, const SimNode *dir, const char *subsystem, const char *env) {
        g_autofree char *devpath = NULL;
        g_auto(GStrv) lines = NULL;
        GString *props;
        UeventHeader h = {
                .prefix = "libudev",
                .magic = htobe32(UEVENT_MAGIC),
                .header_size = sizeof(h),
                .properties_off = sizeof(h),
                .filter_subsystem_hash = htobe32(string_hash(subsystem)),
        };
        struct timespec now;
        GByteArray *msg;

        if (sim->uevent_fd < 0)
                return;
        assert(dir && dir->parent);
        devpath = node_path(dir);
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* The kernel's order: ACTION, DEVPATH, SUBSYSTEM, the device's own
         * variables (its uevent file), SEQNUM; then what udevd adds. */
        props = g_string_new(NULL);
        g_string_append_printf(props, "ACTION=%s%cDEVPATH=%s%cSUBSYSTEM=%s%c", action, 0, devpath, 0,
                               subsystem, 0);
        lines = g_strsplit(env ? env : "", "\n", -1);
        for (char **l = lines; *l; l++) {
                if (!**l)
                        continue;
                g_string_append(props, *l);
                g_string_append_c(props, '\0');
                if (g_str_has_prefix(*l, "DEVTYPE="))
                        h.filter_devtype_hash = htobe32(string_hash(*l + strlen("DEVTYPE=")));
        }
        g_string_append_printf(props, "SEQNUM=%" G_GUINT64_FORMAT "%c", ++sim->seqnum, 0);
        g_string_append_printf(props, "USEC_INITIALIZED=%" G_GUINT64_FORMAT "%c",
                               (guint64) now.tv_sec * G_USEC_PER_SEC + (guint64) now.tv_nsec / 1000, 0);
        h.properties_len = props->len;

        msg = g_byte_array_sized_new(sizeof(h) + props->len);
        g_byte_array_append(msg, (const guint8 *) &h, sizeof(h));
        g_byte_array_append(msg, (const guint8 *) props->str, props->len);
        g_string_free(props, TRUE);
        g_ptr_array_add(sim->uevents, g_byte_array_free_to_bytes(msg));
}

/* Called without the model lock.  The send lock keeps the order: whoever
 * flushes takes everything queued so far, and one flush sends at a time. */
void uevent_flush(Sim *sim) {
        static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
        struct sockaddr_nl dst = {.nl_family = AF_NETLINK, .nl_groups = UEVENT_UDEV_GROUP};
        g_autoptr(GPtrArray) batch = NULL;

        if (sim->uevent_fd < 0)
                return;
        pthread_mutex_lock(&send_lock);
        pthread_mutex_lock(&sim->lock);
        if (sim->uevents->len) {
                batch = sim->uevents;
                sim->uevents = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        }
        pthread_mutex_unlock(&sim->lock);
        for (guint i = 0; batch && i < batch->len; i++) {
                gsize size;
                const char *data = g_bytes_get_data(batch->pdata[i], &size);
                const char *props = data + sizeof(UeventHeader);

                /* Multicast to the group, unicast to the kernel (nl_pid 0),
                 * which refuses: ECONNREFUSED means the group got it.  A full
                 * receiver drops the message on its side; never wait. */
                if (sendto(sim->uevent_fd, data, size, MSG_DONTWAIT, (struct sockaddr *) &dst, sizeof(dst)) <
                            0 &&
                    errno != ECONNREFUSED)
                        fprintf(stderr, "vfiosim: uevent %s %s dropped: %m\n", props,
                                props + strlen(props) + 1);
        }
        pthread_mutex_unlock(&send_lock);
}
