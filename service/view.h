/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* view.h: one reading of the machine as the bus shows it (devices, and
 * the IOMMU groups they make up), and what changed between two readings.
 * Pure: the model (model.c) reads sysfs and publishes; this decides. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "isolation.h"

typedef struct {
  uint32_t number;
  GPtrArray *members; /* Device*, borrowed from the view, by address */
  bool viable;        /* group_viable() */
  const char *in_use; /* the first member's in-use reason, or "" */
  GroupCause *cause;  /* why these members (isolation.h), owned */
} ViewGroup;

/* Never changed once made: a reference can be read on any thread. */
typedef struct {
  gint ref_count;
  GPtrArray *devices;   /* Device*, owned, sorted by address */
  GHashTable *by_name;  /* device name → Device* */
  GHashTable *groups;   /* GUINT_TO_POINTER (number) → ViewGroup* */
  Isolation *isolation; /* the grouping rules over @devices (ExplainGroup's advice) */
} View;

/* Consumes @devices (Device*, described: names and in_use set).  Runs
 * the grouping rules over all of them: build it on a worker. */
View *view_new (GPtrArray *devices);
View *view_new_empty (void);
View *view_ref (View *view);
/* Drops a reference; the last frees it. */
void view_free (View *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (View, view_free)

Device *view_device (const View *view, const char *name);
ViewGroup *view_group (const View *view, uint32_t number);

/* Object paths: VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_0" and
 * VFIOD_DBUS_GROUP_PATH_PREFIX "/12".  Newly allocated. */
char *view_device_path (const char *name);
char *view_group_path (uint32_t number);
/* The device name / group number a path names, exactly as the two above
 * make them (anything else, "012" or "0000_3_0_0", is no object). */
bool view_device_name_from_path (const char *path, char name[ADDRESS_STRLEN]);
bool view_group_number_from_path (const char *path, uint32_t *number);

typedef enum {
  VIEW_REMOVED,
  VIEW_ADDED,
  VIEW_CHANGED,
} ViewChangeKind;

typedef struct {
  ViewChangeKind kind;
  char *path;
  const char *interface; /* VFIOD_DBUS_DEVICE_INTERFACE or _GROUP_ */
  GStrv properties;      /* VIEW_CHANGED: the properties whose value changed */
} ViewChange;

void view_change_free (ViewChange *change);

/* What a subscriber must be told for @old to become @new: ViewChange*,
 * removals first (while the old objects still answer), then additions,
 * then the changed properties of objects in both, one change per object
 * listing all its changed properties.  Empty when nothing differs. */
GPtrArray *view_diff (const View *old, const View *new);
