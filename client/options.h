/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * options.h: vfioctl's command line: options, verbs and their checks.
 *
 * Pure functions (no bus, no output), so they are unit-tested directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Options only some verbs take. */
typedef enum VerbOption {
        VERB_OPTION_GROUP = 1 << 0,      /* --group */
        VERB_OPTION_DRY_RUN = 1 << 1,    /* --dry-run */
        VERB_OPTION_FORCE = 1 << 2,      /* --force */
        VERB_OPTION_FD_ENV = 1 << 3,     /* --fd-env */
        VERB_OPTION_MEMLOCK = 1 << 4,    /* --memlock SIZE */
        VERB_OPTION_PERSISTENT = 1 << 5, /* --persistent */
        _VERB_OPTION_LAST = VERB_OPTION_PERSISTENT,
} VerbOption;

typedef struct Options {
        bool help;
        bool version;
        bool json;
        bool ask_password;     /* false with --no-ask-password */
        unsigned verb_options; /* VerbOption mask given */
        uint64_t memlock;      /* --memlock, in bytes */
        char **args;           /* the verb and its arguments (into argv) */
        size_t n_args;
        size_t dashdash; /* args[] index "--" came before (a command
                                         * follows), or SIZE_MAX when none */
} Options;

/* What main() opens for a verb before running it. */
typedef enum VerbFlag {
        VERB_CLIENT = 1 << 0, /* a libvfiod client */
        VERB_AGENT = 1 << 1,  /* and polkit may ask: interactive authorization
                               * (unless --no-ask-password) and, on a
                               * terminal, our text agent */
} VerbFlag;

/* The verbs' context (vfioctl.h). */
typedef struct Vfioctl Vfioctl;

typedef struct Verb {
        const char *name;
        const char *args; /* its arguments, e.g. "DEVICE", or NULL */
        const char *summary;
        size_t min_args, max_args; /* not counting the verb */
        unsigned verb_options;     /* VerbOption mask allowed */
        bool is_default;           /* run when no verb is given */
        int (*run)(Vfioctl *ctx, char **args, size_t n_args);
        unsigned flags; /* VerbFlag mask */
        /* Usage checks of its own, before anything is opened: an exit
         * status, or 0 to go on.  May be NULL. */
        int (*check)(const Options *options, char **args, size_t n_args);
} Verb;

/* Parses argv (argv[0] is the program).  Options may appear anywhere;
 * "--" ends them.  On a usage error returns -EINVAL and an allocated
 * message in *ret_error. */
int options_parse(int argc, char **argv, Options *ret, char **ret_error);

/* Frees what options_parse() allocated. */
void options_clear(Options *options);

/* The verb options->args names (or the default verb), after checking its
 * argument count and verb options.  On a usage error returns -EINVAL and
 * an allocated message in *ret_error. */
int options_find_verb(const Options *options, const Verb *verbs, size_t n_verbs, const Verb **ret,
                      char **ret_error);

/* A size for --memlock: bytes, or with a binary unit K, M, G, T (also
 * "KiB", "MB"...: all are powers of 1024), e.g. "8G", "256MiB".  0 and
 * *ret, or -EINVAL (malformed, zero, or overflowing). */
int parse_size(const char *text, uint64_t *ret);

/* "--group" for VERB_OPTION_GROUP etc. */
const char *verb_option_name(VerbOption option);
