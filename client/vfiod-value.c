/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-value.c: the properties of the live model's objects as VfiodValues,
 * typed for JSON and written out for people; object paths as short names.
 *
 * Pure functions over sd-bus messages, unit-tested in
 * client/tests/test-value.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfiod-private.h"

void value_clear(VfiodValue *v) {
        if (!v)
                return;
        free(v->text);
        for (size_t i = 0; i < v->n_items; i++)
                free(v->items[i]);
        free(v->items);
        *v = (VfiodValue){.type = VFIOD_VALUE_NULL};
}

bool value_equal(const VfiodValue *a, const VfiodValue *b) {
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case VFIOD_VALUE_NULL: return true;
        case VFIOD_VALUE_NUMBER: return a->number == b->number;
        case VFIOD_VALUE_BOOLEAN: return a->boolean == b->boolean;
        case VFIOD_VALUE_STRING: return strcmp(a->text ? a->text : "", b->text ? b->text : "") == 0;
        case VFIOD_VALUE_LIST:
                if (a->n_items != b->n_items)
                        return false;
                for (size_t i = 0; i < a->n_items; i++)
                        if (strcmp(a->items[i], b->items[i]) != 0)
                                return false;
                return true;
        }
        return false;
}

/* Suffix of path after prefix "/", when it is one non-empty element. */
static const char *path_element(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        if (strncmp(path, prefix, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
                return NULL;
        if (strchr(path + n + 1, '/'))
                return NULL;
        return path + n + 1;
}

int object_path_parse(const char *path, VfiodObjectKind *ret_kind, char **ret_name) {
        const char *e;
        char *name;

        if (!path)
                return -EINVAL;

        e = path_element(path, VFIOD_DBUS_DEVICE_PATH_PREFIX);
        if (e) {
                /* dddd_bb_dd_f: the last '_' was the '.', the others ':' */
                const char *last = strrchr(e, '_');
                if (!last || last == e || strspn(e, "0123456789abcdefABCDEF_") != strlen(e))
                        return -EINVAL;
                name = strdup(e);
                if (!name)
                        return -ENOMEM;
                for (char *p = name; *p; p++)
                        if (*p == '_')
                                *p = p == name + (last - e) ? '.' : ':';
                *ret_kind = VFIOD_OBJECT_DEVICE;
                *ret_name = name;
                return 0;
        }

        e = path_element(path, VFIOD_DBUS_GROUP_PATH_PREFIX);
        if (e) {
                if (strspn(e, "0123456789") != strlen(e))
                        return -EINVAL;
                name = strdup(e);
                if (!name)
                        return -ENOMEM;
                *ret_kind = VFIOD_OBJECT_GROUP;
                *ret_name = name;
                return 0;
        }

        return -EINVAL;
}

/* Ids and the class code read best in hex, as lspci shows them. */
static int number_format(const char *property, uint64_t n, char **ret) {
        int r;

        if (strcmp(property, VFIOD_PROP_VENDOR_ID) == 0 || strcmp(property, VFIOD_PROP_DEVICE_ID) == 0 ||
            strcmp(property, VFIOD_PROP_SUBSYSTEM_VENDOR_ID) == 0 ||
            strcmp(property, VFIOD_PROP_SUBSYSTEM_DEVICE_ID) == 0)
                r = asprintf(ret, "0x%04" PRIx64, n);
        else if (strcmp(property, VFIOD_PROP_CLASS) == 0)
                r = asprintf(ret, "0x%06" PRIx64, n);
        else
                r = asprintf(ret, "%" PRIu64, n);
        return r < 0 ? -ENOMEM : 0;
}

/* An object path as a value: "/" is nothing, a group is its number, a
 * device its address, anything else the path itself. */
static int value_from_path(const char *path, VfiodValue *v) {
        VfiodObjectKind kind;
        char *name = NULL;

        if (strcmp(path, "/") == 0) {
                v->type = VFIOD_VALUE_NULL;
                v->text = strdup("");
                return v->text ? 0 : -ENOMEM;
        }
        if (object_path_parse(path, &kind, &name) < 0) {
                name = strdup(path);
                if (!name)
                        return -ENOMEM;
                kind = VFIOD_OBJECT_SERVICE;
        }
        if (kind == VFIOD_OBJECT_GROUP) {
                v->type = VFIOD_VALUE_NUMBER;
                v->number = strtoull(name, NULL, 10);
        } else
                v->type = VFIOD_VALUE_STRING;
        v->text = name;
        return 0;
}

/* ao / as: every element's short name; the text joins them with ' '. */
static int value_read_list(sd_bus_message *m, char type, VfiodValue *v) {
        size_t len = 0;
        int r;

        v->type = VFIOD_VALUE_LIST;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, type == 'o' ? "o" : "s");
        if (r < 0)
                return r;
        for (;;) {
                const char *s;
                char *item, **items;
                VfiodObjectKind kind;

                r = sd_bus_message_read_basic(m, type, &s);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (type != 'o' || object_path_parse(s, &kind, &item) < 0)
                        item = strdup(s);
                if (!item)
                        return -ENOMEM;
                items = realloc(v->items, (v->n_items + 1) * sizeof(char *));
                if (!items) {
                        free(item);
                        return -ENOMEM;
                }
                v->items = items;
                v->items[v->n_items++] = item;
                len += strlen(item) + 1;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        v->text = calloc(1, len + 1);
        if (!v->text)
                return -ENOMEM;
        for (size_t i = 0; i < v->n_items; i++) {
                if (i > 0)
                        strcat(v->text, " ");
                strcat(v->text, v->items[i]);
        }
        return 0;
}

int value_read(sd_bus_message *m, const char *property, VfiodValue *ret) {
        VfiodValue v = {.type = VFIOD_VALUE_NULL};
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0 || type != SD_BUS_TYPE_VARIANT)
                return -EBADMSG;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r < 0)
                return r;

        if (strlen(contents) == 1)
                switch (contents[0]) {
                case 's': {
                        const char *s;
                        r = sd_bus_message_read_basic(m, 's', &s);
                        if (r >= 0) {
                                v.type = VFIOD_VALUE_STRING;
                                v.text = strdup(s);
                                r = v.text ? 0 : -ENOMEM;
                        }
                        break;
                }
                case 'o': {
                        const char *s;
                        r = sd_bus_message_read_basic(m, 'o', &s);
                        if (r >= 0)
                                r = value_from_path(s, &v);
                        break;
                }
                case 'b': {
                        int b;
                        r = sd_bus_message_read_basic(m, 'b', &b);
                        if (r >= 0) {
                                v.type = VFIOD_VALUE_BOOLEAN;
                                v.boolean = b;
                                v.text = strdup(b ? "true" : "false");
                                r = v.text ? 0 : -ENOMEM;
                        }
                        break;
                }
                case 'y':
                case 'q':
                case 'u':
                case 't': {
                        union {
                                uint8_t y;
                                uint16_t q;
                                uint32_t u;
                                uint64_t t;
                        } n = {.t = 0};
                        r = sd_bus_message_read_basic(m, contents[0], &n);
                        if (r >= 0) {
                                v.type = VFIOD_VALUE_NUMBER;
                                v.number = contents[0] == 'y'   ? n.y
                                           : contents[0] == 'q' ? n.q
                                           : contents[0] == 'u' ? n.u
                                                                : n.t;
                                r = number_format(property, v.number, &v.text);
                        }
                        break;
                }
                default:
                        r = sd_bus_message_skip(m, contents);
                        if (r >= 0)
                                r = 1; /* not ours */
                }
        else if (strcmp(contents, "ao") == 0 || strcmp(contents, "as") == 0)
                r = value_read_list(m, contents[1], &v);
        else {
                r = sd_bus_message_skip(m, contents);
                if (r >= 0)
                        r = 1;
        }

        if (r < 0) {
                value_clear(&v);
                return r;
        }
        if (r == 1) {
                r = sd_bus_message_exit_container(m);
                return r < 0 ? r : 0;
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                value_clear(&v);
                return r;
        }
        *ret = v;
        return 1;
}
