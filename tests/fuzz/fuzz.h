/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz.h: what every fuzz harness shares.
 *
 * A harness is one file, fuzz-<target>.c, that defines
 * LLVMFuzzerTestOneInput() and feeds the bytes to one parser of the
 * service's static library, then checks what the parser promises in its
 * header.  It is linked either with libFuzzer (clang, -Dfuzzing=true, see
 * tools/fuzz) or with fuzz-main.c, a plain main that runs every file of the
 * seed corpus once (the meson suite "fuzz", in every build).
 *
 * A failed check is an abort, and so is a failed GLib precondition check
 * (g_return_if_fail and friends) or g_error(): to a fuzzer, all are crashes.
 * Other messages, criticals included, are dropped. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The input as the daemon would hold it after g_file_get_contents(): a
 * heap copy of exactly @size bytes plus a terminating NUL (so ASan sees a
 * read past the text).  A NUL inside the input ends the text early, as it
 * does for the daemon. */
char *fuzz_text (const uint8_t *data, size_t size);

#define fuzz_check(expr)                     \
  G_STMT_START                               \
  {                                          \
    if (G_UNLIKELY (!(expr)))                \
      fuzz_fail (__FILE__, __LINE__, #expr); \
  }                                          \
  G_STMT_END

G_NORETURN void fuzz_fail (const char *file, int line, const char *expr);
