/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim.h: the simulated PCI part of sysfs.
 *
 * One model (devices, drivers, IOMMU groups) and one tree of nodes (the
 * directories, attribute files and links the kernel would show) built from
 * it.  The FUSE front end (fs.c) and the exporter (export.c) both serve that
 * tree.  Every function that touches the model expects the caller to hold
 * sim->lock (the exporter runs single-threaded and does not bother).
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct SimDevice SimDevice;
typedef struct SimDriver SimDriver;
typedef struct SimNode SimNode;

typedef enum {
        NODE_DIR,
        NODE_FILE,
        NODE_LINK,
} NodeType;

/* What a file node shows and what a write to it does. */
typedef enum {
        ATTR_STATIC, /* fixed text in node->text */
        ATTR_VENDOR,
        ATTR_DEVICE,
        ATTR_CLASS,
        ATTR_SUBSYSTEM_VENDOR,
        ATTR_SUBSYSTEM_DEVICE,
        ATTR_REVISION,
        ATTR_CONFIG,
        ATTR_UEVENT,
        ATTR_MODALIAS,
        ATTR_IRQ,
        ATTR_RESOURCE,
        ATTR_DRIVER_OVERRIDE,
        ATTR_ENABLE,
        ATTR_BOOT_VGA,
        ATTR_RESET_METHOD,
        ATTR_SRIOV_NUMVFS,
        ATTR_REMOVE, /* <device>/remove: hot removal */
        ATTR_DRV_BIND,
        ATTR_DRV_UNBIND,
        ATTR_DRV_NEW_ID,
        ATTR_DRV_REMOVE_ID,
        ATTR_DRV_UEVENT,
        ATTR_DRIVERS_PROBE,
        ATTR_IGNORED_WRITE, /* write-only file that accepts anything */
} AttrKind;

struct SimNode {
        char *name;
        NodeType type;
        mode_t mode;
        uint64_t ino;
        SimNode *parent;
        GHashTable *children; /* name -> SimNode*, dirs only */
        GPtrArray *order;     /* children in creation order, dirs only */
        char *target;         /* links: relative target */
        AttrKind kind;
        char *text; /* ATTR_STATIC */
        SimDevice *dev;
        SimDriver *drv;
        bool dead; /* removed from the tree (hot removal) */
};

typedef struct {
        uint16_t vendor, device;
} SimId;

struct SimDriver {
        char *name;
        char *module; /* module name, NULL for built-in */
        bool loaded;
        GArray *ids;         /* SimId: table from the topology */
        GArray *dynids;      /* SimId: added through new_id */
        SimNode *dir;        /* /bus/pci/drivers/<name>, NULL when not loaded */
        SimNode *module_dir; /* /module/<module> */
};

typedef struct {
        char *name;
        char *dev; /* "major:minor" */
        char **holders;
        GPtrArray *partitions; /* SimBlock* */
        int partn;             /* partitions: number, disks: 0 */
        int host;              /* ata<host+1>/host<host>/... (not nvme): -1 until built */
        SimNode *dir;
} SimBlock;

/* A device below a PCI device other than a block device or an interface
 * (a DRM card, a sound PCM, a USB device, an input device and its event
 * node...): a directory at @path below the PCI device's, with its @attrs;
 * with @dev, a device node (dev, uevent, /dev/char link). */
typedef struct {
        char *path;      /* relative to the PCI device's directory */
        char *subsystem; /* class (or bus) name: its subsystem link, NULL: none */
        char *dev;       /* "major:minor", NULL: no node */
        char *devname;   /* the uevent's DEVNAME (default: the basename) */
        char **attrs;    /* name, text, name, text... (names may have a '/') */
} SimChildNode;

struct SimDevice {
        char *address;
        unsigned domain, bus, slot, fn;
        uint16_t vendor, device, subsystem_vendor, subsystem_device;
        uint32_t class;
        uint8_t revision;
        char *name;
        bool bridge;
        int secondary_bus, subordinate_bus; /* -1 when absent */
        int multifunction;                  /* 0/1 (-1 while loading: derive) */
        int pcie;                           /* 0/1 (-1 while loading: derive) */
        int port_type;                      /* PCIe capability port type */
        int iommu_group;                    /* -1: none */
        int boot_vga;                       /* -1: not a VGA device */
        int irq;
        char *physfn_address;
        SimDevice *physfn;
        GPtrArray *vfs;    /* SimDevice* */
        SimDriver *driver; /* bound driver */
        SimDriver *host_driver;
        char *override;         /* driver_override, NULL when unset */
        char *initial_override; /* the topology's, again after a re-plug */
        bool enabled;
        SimDevice *parent;
        GPtrArray *blocks; /* SimBlock* */
        char **nets;
        GPtrArray *nodes;       /* SimChildNode* */
        GHashTable *net_uppers; /* interface name -> char **: its upper_<name> links */
        int *ifindex;           /* of each net interface */
        SimNode *dir;           /* NULL while removed */
        bool removed;
        int vf_index;   /* VFs: N of the PF's virtfnN */
        int vfio_minor; /* vfio-dev/vfio<N> while on vfio-pci (cdev on), else -1 */
        /* isolation and reset (config space, reset_method, slots) */
        int acs_cap;            /* ACS capability bits, -1: no ACS capability */
        int acs_ctrl;           /* ACS control bits */
        bool acs_spt;           /* control as a dword at cap + 8 (Intel SPT PCH) */
        bool flr;               /* PCIe Device Capabilities FLR */
        int pm;                 /* 0 none, 1 PM capability, 2 with No_Soft_Reset */
        char *reset_method;     /* the reset_method file's text, NULL: no file */
        char *slot_name;        /* bridges: the name of the slot behind it */
        long long child_domain; /* VMD: the PCI domain it hosts, -1 */
};

typedef struct {
        pthread_mutex_t lock;
        SimNode *root;
        GPtrArray *devices;           /* SimDevice*, topology order */
        GHashTable *by_address;       /* address -> SimDevice* */
        GPtrArray *drivers;           /* SimDriver*, probe order */
        GHashTable *by_driver;        /* name -> SimDriver* */
        bool vfio_device_cdev;        /* topology "vfio_device_cdev": kernel >= 6.6 cdev */
        char **vtconsoles;            /* topology "vtconsoles": name, bind, name, bind... */
        char **btrfs;                 /* topology "btrfs": uuid, label, "member member", ... */
        GHashTable *vfio_cdev_minors; /* set of minor + 1 in use */
        int host_counter;             /* SCSI hosts numbered so far */
        int next_ifindex;
        int uevent_fd;      /* --uevents: the netlink socket, else -1 */
        GPtrArray *uevents; /* GBytes*: messages queued, not sent yet */
        uint64_t seqnum;
} Sim;

/* The kernel allocates it dynamically ("vfio-dev" in /proc/devices). */
#define SIM_VFIO_CDEV_MAJOR 511

/* tree.c */
SimNode *node_new_root(void);
SimNode *node_child(SimNode *dir, const char *name);
SimNode *node_dir(SimNode *parent, const char *name);
SimNode *node_dir_path(SimNode *parent, const char *relpath);
SimNode *node_attr(SimNode *dir, const char *name, mode_t mode, AttrKind kind, SimDevice *dev,
                   SimDriver *drv);
SimNode *node_text(SimNode *dir, const char *name, mode_t mode, const char *text);
SimNode *node_link(SimNode *dir, const char *name, const SimNode *target);
char *node_path(const SimNode *node);
void node_remove(SimNode *node);
void node_remove_child(SimNode *dir, const char *name);
SimNode *node_lookup(SimNode *root, const char *path);
void node_free_all(SimNode *root);

/* model.c */
Sim *sim_load(const char *topology, GHashTable *substitute, GError **error);
void sim_free(Sim *sim);
/* Reads: the content of a file node into a new buffer. */
GByteArray *sim_read(Sim *sim, SimNode *node);
/* Writes: 0 or a positive errno. */
int sim_write(Sim *sim, SimNode *node, const char *data, size_t size);
int sim_remove_device(Sim *sim, const char *address);
/* Re-plug a hot-removed device and what went with it; 0 or a positive errno. */
int sim_add_device(Sim *sim, const char *address);
/* Queue a uevent of a present device; 0 or a positive errno. */
int sim_device_uevent(Sim *sim, const char *address, const char *action);
int sim_load_driver(Sim *sim, const char *name);
/* drivers_probe of @address that binds @driver (NULL: nothing) whatever the
 * matching rules say; false (nothing done) unless the device is there and
 * unbound, i.e. unless a real probe would have tried. */
bool sim_probe_diverted(Sim *sim, const char *address, const char *driver);

/* uevent.c: messages as udevd sends them to libudev monitors (README.md).
 * uevent_queue() with the model lock held (a no-op unless uevent_open()
 * succeeded); uevent_flush() without it. */
int uevent_open(Sim *sim);
void uevent_close(Sim *sim);
bool uevent_action_valid(const char *action);
void uevent_queue(Sim *sim, const char *action, const SimNode *dir, const char *subsystem, const char *env);
void uevent_flush(Sim *sim);

/* export.c */
int sim_export(Sim *sim, const char *dir);

/* fs.c */
int sim_serve(Sim *sim, const char *control_dir, const char *mountpoint);
