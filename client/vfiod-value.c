/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-value.c: libvfiod's one value model.  Every variant the service
 * sends, a property of the live model or a key of a reply's dictionary,
 * is read here into a VfiodValue, typed for JSON and written out for
 * people (how numbers read comes from the field tables, vfiod-fields.c);
 * object paths as short names.
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
        for (size_t i = 0; v->items && i < v->n_items; i++)
                free(v->items[i]);
        free(v->items);
        free(v->numbers);
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
        case VFIOD_VALUE_NUMBER_LIST:
                return a->n_items == b->n_items &&
                       (a->n_items == 0 ||
                        memcmp(a->numbers, b->numbers, a->n_items * sizeof(uint32_t)) == 0);
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

int value_format_text(const VfiodValue *v, FieldFormat format, char **ret) {
        size_t len = 1;
        char *text;
        int r = 0;

        switch (v->type) {
        case VFIOD_VALUE_NULL: text = strdup(""); break;
        case VFIOD_VALUE_STRING: text = strdup(v->text ? v->text : ""); break;
        case VFIOD_VALUE_BOOLEAN: text = strdup(v->boolean ? "true" : "false"); break;
        case VFIOD_VALUE_NUMBER:
                if (format == FIELD_FORMAT_HEX16)
                        r = asprintf(&text, "0x%04" PRIx64, v->number);
                else if (format == FIELD_FORMAT_HEX24)
                        r = asprintf(&text, "0x%06" PRIx64, v->number);
                else
                        r = asprintf(&text, "%" PRIu64, v->number);
                if (r < 0)
                        text = NULL;
                break;
        case VFIOD_VALUE_LIST:
                for (size_t i = 0; i < v->n_items; i++)
                        len += strlen(v->items[i]) + 1;
                text = calloc(1, len);
                for (size_t i = 0; text && i < v->n_items; i++) {
                        if (i > 0)
                                strcat(text, " ");
                        strcat(text, v->items[i]);
                }
                break;
        case VFIOD_VALUE_NUMBER_LIST:
                text = calloc(1, v->n_items * 11 + 1);
                for (size_t i = 0, n = 0; text && i < v->n_items; i++)
                        n += (size_t) sprintf(text + n, "%s%" PRIu32, i > 0 ? " " : "", v->numbers[i]);
                break;
        default: text = NULL;
        }
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* An object path as a value: "/" is nothing, a group is its number, a
 * device its address, anything else the path itself. */
static int value_from_path(const char *path, VfiodValue *v) {
        VfiodObjectKind kind;
        char *name = NULL;

        if (strcmp(path, "/") == 0) {
                v->type = VFIOD_VALUE_NULL;
                return 0;
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
                free(name);
        } else {
                v->type = VFIOD_VALUE_STRING;
                v->text = name;
        }
        return 0;
}

/* ao / as: every element's short name, NULL-terminated. */
static int value_read_list(sd_bus_message *m, char type, VfiodValue *v) {
        int r;

        v->type = VFIOD_VALUE_LIST;
        v->items = calloc(1, sizeof(char *));
        if (!v->items)
                return -ENOMEM;
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
                items = realloc(v->items, (v->n_items + 2) * sizeof(char *));
                if (!items) {
                        free(item);
                        return -ENOMEM;
                }
                v->items = items;
                v->items[v->n_items++] = item;
                v->items[v->n_items] = NULL;
        }
        return sd_bus_message_exit_container(m);
}

/* au */
static int value_read_numbers(sd_bus_message *m, VfiodValue *v) {
        const void *array;
        size_t size = 0;
        int r;

        v->type = VFIOD_VALUE_NUMBER_LIST;
        r = sd_bus_message_read_array(m, SD_BUS_TYPE_UINT32, &array, &size);
        if (r < 0)
                return r;
        v->n_items = size / sizeof(uint32_t);
        v->numbers = calloc(v->n_items ? v->n_items : 1, sizeof(uint32_t));
        if (!v->numbers)
                return -ENOMEM;
        if (v->n_items)
                memcpy(v->numbers, array, v->n_items * sizeof(uint32_t));
        return 0;
}

bool value_signature_supported(const char *signature) {
        static const char *const supported[] = {"s", "o", "b", "y", "q", "u", "t", "ao", "as", "au"};

        for (size_t i = 0; signature && i < sizeof(supported) / sizeof(supported[0]); i++)
                if (strcmp(signature, supported[i]) == 0)
                        return true;
        return false;
}

/* The typed part of a value of a supported type. */
static int value_read_typed(sd_bus_message *m, const char *contents, VfiodValue *v) {
        int r;

        switch (contents[0]) {
        case 's': {
                const char *s;
                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                v->type = VFIOD_VALUE_STRING;
                v->text = strdup(s);
                return v->text ? 0 : -ENOMEM;
        }
        case 'o': {
                const char *s;
                r = sd_bus_message_read_basic(m, 'o', &s);
                return r < 0 ? r : value_from_path(s, v);
        }
        case 'b': {
                int b;
                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                v->type = VFIOD_VALUE_BOOLEAN;
                v->boolean = b;
                return 0;
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
                if (r < 0)
                        return r;
                v->type = VFIOD_VALUE_NUMBER;
                v->number = contents[0] == 'y'   ? n.y
                            : contents[0] == 'q' ? n.q
                            : contents[0] == 'u' ? n.u
                                                 : n.t;
                return 0;
        }
        case 'a':
                if (contents[1] == 'u')
                        return value_read_numbers(m, v);
                return value_read_list(m, contents[1], v);
        }
        return -EBADMSG; /* not reached: checked by the caller */
}

int value_read_variant(sd_bus_message *m, const char *signature, FieldFormat format, VfiodValue *ret,
                       const char **ret_contents) {
        VfiodValue v = {.type = VFIOD_VALUE_NULL};
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0 || type != SD_BUS_TYPE_VARIANT || !contents)
                return -EBADMSG;
        if (signature && strcmp(contents, signature) != 0) {
                if (ret_contents)
                        *ret_contents = contents;
                return -EBADMSG;
        }

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r < 0)
                return r;

        if (!value_signature_supported(contents)) {
                r = sd_bus_message_skip(m, contents);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                return r < 0 ? r : 0; /* not ours */
        }

        r = value_read_typed(m, contents, &v);
        if (r >= 0 && v.type != VFIOD_VALUE_STRING)
                r = value_format_text(&v, format, &v.text);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                value_clear(&v);
                return r;
        }
        *ret = v;
        return 1;
}

int value_read(sd_bus_message *m, const char *property, VfiodValue *ret) {
        const FieldRow *row = NULL;

        for (size_t i = 0; field_tables[i] && !row; i++)
                row = field_table_find_property(field_tables[i], property);
        return value_read_variant(m, NULL, row ? row->binding->format : FIELD_FORMAT_DECIMAL, ret, NULL);
}
