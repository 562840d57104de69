/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * options.c: see options.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "options.h"

static const struct {
        const char *name;
        VerbOption option;
} verb_options[] = {
        {"--group", VERB_OPTION_GROUP},           {"--dry-run", VERB_OPTION_DRY_RUN},
        {"--force", VERB_OPTION_FORCE},           {"--fd-env", VERB_OPTION_FD_ENV},
        {"--memlock", VERB_OPTION_MEMLOCK}, /* takes a value */
        {"--persistent", VERB_OPTION_PERSISTENT},
};

#define N_VERB_OPTIONS (sizeof(verb_options) / sizeof(verb_options[0]))

const char *verb_option_name(VerbOption option) {
        for (size_t i = 0; i < N_VERB_OPTIONS; i++)
                if (verb_options[i].option == option)
                        return verb_options[i].name;
        return NULL;
}

__attribute__((format(printf, 2, 3))) static int usage_error(char **ret_error, const char *format, ...) {
        va_list ap;
        char *message;

        va_start(ap, format);
        message = format_message_v(format, ap);
        va_end(ap);

        if (ret_error)
                *ret_error = message;
        else
                free(message);
        return -EINVAL;
}

int parse_size(const char *text, uint64_t *ret) {
        static const char units[] = "KMGT";
        unsigned long long value;
        const char *unit;
        char *end;
        unsigned shift = 0;

        if (!text || !*text || *text == '-' || *text == '+' || *text == ' ')
                return -EINVAL;
        errno = 0;
        value = strtoull(text, &end, 10);
        if (errno != 0 || end == text)
                return -EINVAL;
        if (*end) {
                unit = strchr(units, end[0] >= 'a' ? end[0] - 'a' + 'A' : end[0]);
                if (!unit || !end[0])
                        return -EINVAL;
                shift = 10 * (unsigned) (unit - units + 1);
                end++;
                if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 && strcmp(end, "iB") != 0)
                        return -EINVAL;
        }
        if (value == 0 || value > (UINT64_MAX >> shift))
                return -EINVAL;
        *ret = (uint64_t) value << shift;
        return 0;
}

/* --memlock's value: @value, or NULL when it was not given. */
static int memlock_parse(const char *value, Options *o, char **ret_error) {
        if (!value)
                return usage_error(ret_error, "option '--memlock' needs a size, e.g. --memlock 8G");
        if (parse_size(value, &o->memlock) < 0)
                return usage_error(ret_error,
                                   "'%s' is not a size: give bytes or a number with "
                                   "K, M, G or T (powers of 1024), e.g. 8G",
                                   value);
        o->verb_options |= VERB_OPTION_MEMLOCK;
        return 0;
}

static int option_parse(const char *arg, Options *o, char **ret_error) {
        const char *eq = strchr(arg, '=');
        if (eq && strncmp(arg, "--memlock=", 10) == 0)
                return memlock_parse(eq + 1, o, ret_error);
        if (eq)
                return usage_error(ret_error, "option '%.*s' takes no value", (int) (eq - arg), arg);

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
                o->help = true;
        else if (strcmp(arg, "--version") == 0)
                o->version = true;
        else if (strcmp(arg, "--json") == 0)
                o->json = true;
        else if (strcmp(arg, "--no-ask-password") == 0)
                o->ask_password = false;
        else {
                for (size_t i = 0; i < N_VERB_OPTIONS; i++)
                        if (strcmp(arg, verb_options[i].name) == 0) {
                                o->verb_options |= verb_options[i].option;
                                return 0;
                        }
                return usage_error(ret_error, "unknown option '%s'", arg);
        }
        return 0;
}

int options_parse(int argc, char **argv, Options *ret, char **ret_error) {
        Options o = {.ask_password = true, .dashdash = SIZE_MAX};
        bool options_done = false;
        int r;

        if (ret_error)
                *ret_error = NULL;

        o.args = calloc(argc > 0 ? (size_t) argc : 1, sizeof(char *));
        if (!o.args)
                return -ENOMEM;

        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i];

                if (!options_done && strcmp(arg, "--") == 0) {
                        options_done = true;
                        o.dashdash = o.n_args;
                } else if (!options_done && strcmp(arg, "--memlock") == 0) {
                        r = memlock_parse(i + 1 < argc ? argv[++i] : NULL, &o, ret_error);
                        if (r < 0) {
                                free(o.args);
                                return r;
                        }
                } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
                        r = option_parse(arg, &o, ret_error);
                        if (r < 0) {
                                free(o.args);
                                return r;
                        }
                } else
                        o.args[o.n_args++] = argv[i];
        }

        *ret = o;
        return 0;
}

void options_clear(Options *options) {
        if (!options)
                return;
        free(options->args);
        options->args = NULL;
        options->n_args = 0;
}

int options_find_verb(const Options *options, const Verb *verbs, size_t n_verbs, const Verb **ret,
                      char **ret_error) {
        const Verb *verb = NULL;
        const char *name;
        size_t n_args;

        if (ret_error)
                *ret_error = NULL;

        if (options->n_args == 0) {
                for (size_t i = 0; i < n_verbs; i++)
                        if (verbs[i].is_default)
                                verb = &verbs[i];
                if (!verb)
                        return usage_error(ret_error, "missing command");
                name = verb->name;
                n_args = 0;
        } else {
                name = options->args[0];
                n_args = options->n_args - 1;
                for (size_t i = 0; i < n_verbs; i++)
                        if (strcmp(verbs[i].name, name) == 0)
                                verb = &verbs[i];
                if (!verb)
                        return usage_error(ret_error, "unknown command '%s'", name);
        }

        for (size_t i = 0; i < N_VERB_OPTIONS; i++)
                if ((options->verb_options & verb_options[i].option) &&
                    !(verb->verb_options & verb_options[i].option))
                        return usage_error(ret_error, "option '%s' is not valid for '%s'",
                                           verb_options[i].name, name);

        if (n_args < verb->min_args)
                return usage_error(ret_error, "missing %s for '%s'", verb->args ? verb->args : "arguments",
                                   name);
        if (n_args > verb->max_args)
                return usage_error(ret_error, "too many arguments for '%s'", name);

        *ret = verb;
        return 0;
}
