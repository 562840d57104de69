/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* settings.h: the daemon's configuration file, VFIOD_CONFIG_FILE
 * (/etc/vfiod/vfiod.conf), read once at start:
 *
 *   [Limits]
 *   MaxLockedMemory=16G        bytes, or with K, M, G, T (binary: 1024),
 *                              or N% of the machine's memory (1..100)
 *
 * MaxLockedMemory= caps the RLIMIT_MEMLOCK one SetLockedMemoryLimit call
 * may give one process.  Default, and whenever the file or the value is
 * not valid (a warning says which): the machine's memory less a reserve
 * of max(1 GiB, 10 %), at most half of it.  A bad file never gives a
 * larger cap than the default; a valid value above the machine's memory
 * counts as the machine's memory.  The file is untrusted text: strict
 * parsing, no crash on any input. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct {
  uint64_t max_locked_memory; /* bytes, > 0 */
  gboolean max_locked_memory_default;
} Settings;

/* The default cap for a machine of @memory bytes (0: unknown, then
 * G_MAXUINT64: only the machine's memory bounds). */
uint64_t settings_default_max_locked_memory (uint64_t memory);

/* Parses a size: "1048576", "512M", "16G", "2T", or "50%" of @memory.
 * FALSE (with *@why, static, saying what is wrong) for anything else: a
 * sign, spaces, 0, an overflow, an unknown unit, a percentage outside
 * 1..100 or without @memory. */
gboolean settings_parse_size (const char *text, uint64_t memory, uint64_t *bytes, const char **why);

/* The settings from @text (@length bytes) of file @path (for messages),
 * for a machine of @memory bytes.  Never fails: what does not validate
 * is warned about and left at its default. */
void settings_parse (Settings *settings, const char *text, gsize length, const char *path,
                     uint64_t memory);

/* Reads @path (missing: the defaults, silently). */
void settings_load (Settings *settings, const char *path, uint64_t memory);

/* $VFIOD_CONFIG_FILE or the built-in file. */
const char *settings_default_path (void);
