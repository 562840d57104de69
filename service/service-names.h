/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service-names.h: the service's own names: its files, its boot helper,
 * its limits and the environment it reads.  Private to the service. */
#pragma once

/* ---- files the service owns --------------------------------------- */
#define VFIOD_STATE_DIR_DEFAULT "/var/lib/vfiod"
#define VFIOD_STATE_FILE        "transactions.state"
#define VFIOD_GRANTS_FILE       "grants.state"
/* Persistent assignments are configuration: one file per device,
 * "<address>.conf", in VFIOD_PERSIST_DIR (config.h, from sysconfdir:
 * /etc/vfiod/persistent). */
#define VFIOD_PERSIST_SUFFIX ".conf"
/* The daemon's configuration (settings.h): VFIOD_CONFIG_FILE (config.h,
 * from sysconfdir: /etc/vfiod/vfiod.conf), its section and keys. */
#define VFIOD_CONFIG_GROUP_LIMITS      "Limits"
#define VFIOD_CONFIG_MAX_LOCKED_MEMORY "MaxLockedMemory"

/* ---- the boot-time helper (udev runs it on "add" of a recorded device) */
#define VFIOD_BOOT_HELPER "vfiod-boot-bind"
/* Kernel command line: vfiod.persistent=0 turns the helper off for a boot. */
#define VFIOD_CMDLINE_PERSISTENT "vfiod.persistent"
/* Its notes of what it did this boot, one per device ("<address>",
 * bootnote.h): /run survives the switch from the initramfs to the real
 * root.  The daemon reads them. */
#define VFIOD_BOOT_NOTES_DIR "/run/vfiod/boot-bound"
/* systemd's convention for "this is an initramfs" (dracut ships it; the
 * hook and the module also ship VFIOD_INITRAMFS_MARKER, config.h). */
#define VFIOD_INITRD_RELEASE "/etc/initrd-release"

/* ---- limits the daemon keeps ---------------------------------------- */
/* Calls of one caller that may wait for polkit at the same time. */
#define VFIOD_MAX_PENDING_AUTHORIZATIONS 16
/* How long polkit may take to answer, without and with an authentication
 * dialog (a person typing a password). */
#define VFIOD_AUTHZ_TIMEOUT_MS             (25 * 1000)
#define VFIOD_AUTHZ_INTERACTIVE_TIMEOUT_MS (5 * 60 * 1000)
/* How long one sysfs write (an unbind waiting for a driver's remove) may
 * take before the caller is told it is stuck. */
#define VFIOD_WRITE_TIMEOUT_MS (30 * 1000)
/* Threads that read sysfs for the methods, so the main loop never waits
 * on a read; more reads wait in a queue. */
#define VFIOD_READERS 4
/* At a stop, how long reads under way may take to be answered: they
 * change nothing, so one stuck in the kernel does not hold the stop. */
#define VFIOD_STOP_READ_GRACE_MS (3 * 1000)

/* ---- environment the daemon reads (tests shorten the limits) -------- */
#define VFIOD_ENV_AUTHZ_TIMEOUT_MS "VFIOD_AUTHZ_TIMEOUT_MS"
#define VFIOD_ENV_WRITE_TIMEOUT_MS "VFIOD_WRITE_TIMEOUT_MS"
/* Where the persistent assignments are (default VFIOD_PERSIST_DIR). */
#define VFIOD_ENV_PERSIST_DIR "VFIOD_PERSIST_DIR"
/* The configuration file (default VFIOD_CONFIG_FILE). */
#define VFIOD_ENV_CONFIG_FILE "VFIOD_CONFIG_FILE"
/* Where the boot helper's notes are (default VFIOD_BOOT_NOTES_DIR). */
#define VFIOD_ENV_BOOT_NOTES_DIR "VFIOD_BOOT_NOTES_DIR"
/* Where device nodes are looked for by name (default VFIOD_DEV_DIR)
 * and udev's database (default VFIOD_UDEV_DATA_DIR): tests point them
 * at their own. */
#define VFIOD_ENV_DEV_DIR       "VFIOD_DEV_DIR"
#define VFIOD_ENV_UDEV_DATA_DIR "VFIOD_UDEV_DATA_DIR"
/* The program that loads vfio_pci (default: modprobe). */
#define VFIOD_ENV_MODPROBE "VFIOD_MODPROBE"
/* systemd's StateDirectory= (default VFIOD_STATE_DIR_DEFAULT). */
#define VFIOD_ENV_STATE_DIRECTORY "STATE_DIRECTORY"

/* ---- other services vfiod asks (never starts: no auto-start) -------- */
/* logind: which session and seat a process holding a node belongs to */
#define VFIOD_LOGIN1_NAME               "org.freedesktop.login1"
#define VFIOD_LOGIN1_PATH               "/org/freedesktop/login1"
#define VFIOD_LOGIN1_MANAGER_INTERFACE  "org.freedesktop.login1.Manager"
#define VFIOD_LOGIN1_SESSION_INTERFACE  "org.freedesktop.login1.Session"
#define VFIOD_LOGIN1_GET_SESSION_BY_PID "GetSessionByPID"
/* how long logind may take to answer one question (a reason is given
 * without the session when it takes longer) */
#define VFIOD_LOGIN1_TIMEOUT_MS 1000
