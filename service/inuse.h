/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inuse.h: does the host need a device?  The facts (mounts, swaps, network
 * interfaces) are parsed from text by pure functions and turned into
 * reasons naming the thing ("mounted: / (sda2)").  Pure: probe.c gathers
 * the facts. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
  dev_t devnum;     /* major:minor from mountinfo (0:N for btrfs & co) */
  char *mountpoint; /* unescaped */
  char *source;     /* unescaped, e.g. "/dev/sda2", or a 9p tag */
  char *fstype;
} InUseMount;

typedef struct {
  char *filename; /* as /proc/swaps names it, unescaped */
  dev_t devnum;   /* 0 unless the file is a block device node */
} InUseSwap;

typedef struct {
  char *name;
  bool up;
  char *address; /* the address to name: IPv4 first, else a non
                       * link-local IPv6; NULL when it has none */
} InUseInterface;

/* Where the facts come from.  Each is read whole or marked unreadable:
 * a reason that needs an unreadable source becomes a doubt, and a doubt
 * counts as in use (refuse on doubt). */
typedef enum {
  INUSE_SOURCE_MOUNTS,     /* /proc/self/mountinfo */
  INUSE_SOURCE_SWAPS,      /* /proc/swaps */
  INUSE_SOURCE_INTERFACES, /* getifaddrs() */
  INUSE_N_SOURCES
} InUseSource;

typedef struct {
  GPtrArray *mounts;      /* InUseMount* */
  GPtrArray *swaps;       /* InUseSwap* */
  GHashTable *interfaces; /* name → InUseInterface* */
  /* NULL: read whole; else what went wrong, e.g. "/proc/swaps could not
   * be read (Is a directory)" */
  char *unreadable[INUSE_N_SOURCES];
} InUseFacts;

InUseFacts *inuse_facts_new (void);
void inuse_facts_free (InUseFacts *facts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (InUseFacts, inuse_facts_free)

/* Parse /proc/self/mountinfo text into @facts.  A line that cannot be
 * parsed is skipped and makes the source unreadable: it may have been the
 * mount that matters. */
void inuse_parse_mountinfo (InUseFacts *facts, const char *text);
/* Parse /proc/swaps text; devnum is left 0 (see probe_facts_load).  Lines
 * that cannot be parsed: as for mountinfo. */
void inuse_parse_swaps (InUseFacts *facts, const char *text);
void inuse_add_interface (InUseFacts *facts, const char *name, bool up, const char *address);

/* Marks @source unreadable: @what (a path, or what was asked) failed with
 * @errsv (an errno; 0: its contents were not understood).  The first
 * problem of a source is kept. */
void inuse_facts_set_unreadable (InUseFacts *facts, InUseSource source, const char *what,
                                 int errsv);

/* "cannot tell whether it is in use: " + @what: a doubt, as
 * device_add_in_use_doubt() takes it.  Newly allocated. */
char *inuse_doubt (const char *what);
/* "@path could not be read (strerror(@errsv))".  Newly allocated. */
char *inuse_unreadable (const char *path, int errsv);
/* What @source is called in those messages ("/proc/swaps"). */
const char *inuse_source_name (InUseSource source);

/* The doubt a block device / network interface / virtio transport with a
 * mount tag gets when a source its reason needs is unreadable (a block
 * device needs the mounts and the swaps, an interface the interfaces, a
 * tag the mounts): NULL when all were read.  Newly allocated. */
char *inuse_block_doubt (const InUseFacts *facts);
char *inuse_net_doubt (const InUseFacts *facts);
char *inuse_tag_doubt (const InUseFacts *facts);

/* Why the host needs block device @name (major:minor @devnum, with
 * @holders the names in its holders/ directory, may be NULL): NULL if it
 * does not.  Newly allocated. */
char *inuse_block_reason (const InUseFacts *facts, const char *name, dev_t devnum,
                          const char *const *holders);
/* Why the host needs block device @name, a member of the btrfs file
 * system @label (or @uuid, when it has no label) with @members (its
 * /sys/fs/btrfs/UUID/devices/, which the kernel has only while it is
 * mounted): "member of btrfs data mounted at /srv (sdb1)", or NULL when
 * the mount that names @name itself says it already.  Newly allocated. */
char *inuse_btrfs_reason (const InUseFacts *facts, const char *name, const char *label,
                          const char *uuid, const char *const *members);
/* Why the host needs the virtio transport whose mount tag is @tag (9p
 * or virtiofs, mounted by tag): NULL if nothing is mounted from it. */
char *inuse_tag_reason (const InUseFacts *facts, const char *tag);
/* Why the host needs network interface @name, a port of @master (or
 * NULL), the lower device of @uppers (its upper_* links: VLANs, macvlans;
 * NULL or empty for none). */
char *inuse_net_reason (const InUseFacts *facts, const char *name, const char *master,
                        const char *const *uppers);

/* ---- device nodes below a device: what is plugged in, who holds it ---- */

/* @text (a process's comm, a device's name: anybody's choice) made safe
 * to put in a reason: printable ASCII only, ';' (which separates reasons)
 * and anything else replaced by '?', at most @max characters.  Newly
 * allocated; "?" for NULL or empty. */
char *inuse_sanitize (const char *text, gsize max);

/* Whether bit @bit is set in @bitmap, a sysfs capability bitmap
 * ("capabilities/key": hex words of @word_bits bits, most significant
 * first, separated by spaces).  FALSE for text that is no bitmap. */
bool inuse_bitmap_test (const char *bitmap, unsigned bit, unsigned word_bits);
/* Whether @bitmap parses as one. */
bool inuse_bitmap_valid (const char *bitmap);

typedef enum {
  INUSE_INPUT_OTHER,    /* a button, a sensor, a joystick: only if open */
  INUSE_INPUT_KEYBOARD, /* the host's keyboard: in use while it is there */
  INUSE_INPUT_POINTER,  /* a mouse or touchpad: the same */
} InUseInputKind;

/* What kind of input device an event node is: from udev's database
 * entry @udev_data ("E:ID_INPUT_KEYBOARD=1" lines; hwdb and rules may
 * override the kernel) when there is one, else as udev's input_id tells
 * it from the kernel's capability bitmaps @ev, @key and @rel of the input
 * device (NULL: unreadable; a keyboard has EV_KEY and all keys from
 * KEY_ESC to KEY_D, a mouse EV_REL with REL_X, REL_Y and BTN_MOUSE). */
InUseInputKind inuse_input_kind (const char *udev_data, const char *ev, const char *key,
                                 const char *rel, unsigned word_bits);

/* "keyboard NAME (input event3)", "mouse NAME (input event5)": NULL for
 * INUSE_INPUT_OTHER. */
char *inuse_input_reason (InUseInputKind kind, const char *name, const char *node);

/* Why process @comm (@pid) holding @node (a device node of subsystem
 * @subsystem, the last part of its subsystem link) open makes its
 * device in use: "display: gnome-shell pid 1234 (card0)", "sound:
 * pipewire pid 88 (pcmC0D0p)", "open by qemu-system-x86 pid 77 (sda)";
 * with @session (inuse_session_text, NULL: none) after the pid:
 * "display: gnome-shell pid 1234, session 2 of alice on seat0 (card0)". */
char *inuse_opener_reason (const char *subsystem, const char *node, const char *comm,
                           const char *pid, const char *session);
/* "session 2 of alice on seat0" from logind's Id, Name and seat Id (each
 * may be NULL or empty), NULL without an Id.  Newly allocated. */
char *inuse_session_text (const char *id, const char *user, const char *seat);

/* The framebuffer console is on: one of the vtconsoles' @names (as their
 * name files say, "(M) frame buffer device") is bound (@binds, "1"). */
bool inuse_fbcon_bound (const char *const *names, const char *const *binds);
/* Whether the framebuffer console draws on framebuffer fb@fb: the
 * consoles go to the framebuffers of "fbcon=map:NNNN" on the kernel's
 * command line @cmdline, and without one to the first framebuffer
 * registered, which is the lowest-numbered there is (@first_fb). */
bool inuse_fbcon_uses (const char *cmdline, unsigned fb, unsigned first_fb);
/* "framebuffer console (fb0)". */
char *inuse_fbcon_reason (const char *node);
