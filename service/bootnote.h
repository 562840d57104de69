/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bootnote.h: the boot helper's notes of what it did this boot, one file
 * per device in VFIOD_BOOT_NOTES_DIR (/run/vfiod/boot-bound/<address>).
 * /run survives the switch from the initramfs to the real root (both
 * initramfs-tools and dracut move it) and is empty at the next boot, so
 * the helper on the real root can tell a device the initramfs bound from
 * one bound by hand or by vfiod, and give back a device that only the
 * initramfs's stale copy of the records wanted; the daemon reports it.
 *
 * Pure and free of GLib: the boot helper links it.  Notes are untrusted
 * input like the records: anything not exactly understood is refused,
 * and a refused note counts as no note (the device is left alone). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"

/* The largest note read. */
#define BOOT_NOTE_MAX_SIZE 1024
/* The longest driver name kept. */
#define BOOT_NOTE_DRIVER_MAX 63

typedef enum {
  BOOT_NOTE_INITRAMFS,  /* "initramfs": bound there; the real root has not looked yet */
  BOOT_NOTE_ROOT,       /* "root": bound by the real root's helper */
  BOOT_NOTE_KEPT,       /* "kept": bound by the initramfs, and the real root's record holds */
  BOOT_NOTE_GIVEN_BACK, /* "given-back": the real root gave it to its host driver */
  BOOT_NOTE_HELD,       /* "held": to be given back, but its group was held: left on vfio-pci */
  BOOT_NOTE_FAILED,     /* "failed": to be given back, but a write failed (the kernel log says) */
  BOOT_NOTE_N_STATES
} BootNoteState;

typedef struct {
  PciAddress address;
  BootNoteState state;
  /* the ids of the device bound (as its record matched them) */
  uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_device_id;
  uint32_t class_code;
  /* given-back: the driver the device went to ("" none); else "" */
  char driver[BOOT_NOTE_DRIVER_MAX + 1];
  /* held: its IOMMU group */
  bool has_group;
  uint32_t group;
} BootNote;

/* "initramfs", "given-back"...; NULL for a value out of range. */
const char *boot_note_state_to_string (BootNoteState state);

/* Whether the note says the initramfs bound a device the real root did
 * not want: given back, held or failed. */
bool boot_note_is_stale (const BootNote *note);

/* Parses a note's text (@size bytes, not necessarily NUL-terminated):
 * 0, or -EBADMSG with @why set ("line 3: unknown state 'x'"). */
int boot_note_parse (const char *text, size_t size, BootNote *out, char *why, size_t why_size);

/* The note's text; malloc()ed, NULL when out of memory. */
char *boot_note_format (const BootNote *note);

/* What the daemon reports of a stale note, the value of a device's
 * "persistent" key (VFIOD_PERSISTENT_STALE_INITRAMFS and what happened),
 * into @buf: "stale-initramfs: given back to e1000e".  NULL when the note
 * is not stale. */
const char *boot_note_describe (const BootNote *note, char *buf, size_t size);
