/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolation.h: why the devices of one reading share their IOMMU groups,
 * what would isolate a device, and whether its reset reaches other
 * groups, in words for people.  Pure: builds acs.h's tree from Devices
 * (their syspath gives the tree, their config space the rest) and the
 * slots sysfs.c read; the model and the Manager show the result. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "address.h"
#include "device.h"

typedef struct {
  uint32_t group;
  const char *cause;  /* a VFIOD_CAUSE_* */
  char *cause_device; /* the address of the bridge or device responsible, or "" */
  char *explanation;  /* one or two sentences naming the devices */
} GroupCause;

void group_cause_free (GroupCause *cause);

/* A PCI slot (/sys/bus/pci/slots/NAME/address: "dddd:bb:ss", or
 * "dddd:bb" when its number is unknown): the devices on @bus of @domain
 * are in it. */
typedef struct {
  char *name;
  uint32_t domain;
  uint8_t bus;
} PciSlot;

void pci_slot_free (PciSlot *slot);

/* Parses a slot's address file; FALSE when it is not one of the two forms. */
gboolean pci_slot_parse_address (const char *text, PciSlot *slot);

/* A place whose devices get an IOMMU group of their own. */
typedef struct {
  char *slot;       /* its name, "" for a port no slot names */
  char *port;       /* the bridge above it */
  char **occupants; /* the devices below the port now; empty: free */
} IsolatingSlot;

void isolating_slot_free (IsolatingSlot *slot);

typedef struct Isolation Isolation;

/* The grouping rules over @devices (Device*, borrowed: they must outlive
 * the result; the names hwdb gave them are used in the sentences). */
Isolation *isolation_new (GPtrArray *devices);
void isolation_free (Isolation *isolation);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Isolation, isolation_free)

/* Group @group's cause, NULL when no device is in it. */
const GroupCause *isolation_group (Isolation *isolation, uint32_t group);

/* What would give @device a group of its own (a sentence), with the
 * slots and ports that would (IsolatingSlot*; @slots: PciSlot*, what
 * the machine has), and a sentence when its only reset also resets
 * devices of other groups ("" when not).  NULL when @device is not in
 * the reading. */
typedef struct {
  char *advice;
  GPtrArray *isolating; /* IsolatingSlot* */
  char *reset_warning;
} IsolationAdvice;

void isolation_advice_free (IsolationAdvice *advice);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IsolationAdvice, isolation_advice_free)

IsolationAdvice *isolation_advise (Isolation *isolation, const char *device, GPtrArray *slots);
