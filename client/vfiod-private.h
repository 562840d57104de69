/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-private.h: internals of libvfiod shared between its files and its
 * unit tests.  Nothing here is exported from the shared library (the
 * project builds with -fvisibility=hidden and libvfiod.sym exports only
 * the public vfiod_* functions marked VFIOD_EXPORT).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "vfiod.h"

#define VFIOD_EXPORT __attribute__((visibility("default")))

struct VfiodClient {
        sd_bus *bus;
        bool allow_interactive_authorization;
};

/* Sets a local error (name NULL) and returns -errnum (errnum > 0). */
int error_set_local(VfiodError *error, int errnum, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Copies a bus error into *error and returns a negative errno for it:
 * a vfiod error name maps to a fixed errno (see error_name_to_errno()),
 * anything else to what sd-bus knows, falling back to `fallback` (< 0).
 * sd-bus's own failures ("System.Error.*" or no name) are local errors. */
int error_set_from_bus(VfiodError *error, const sd_bus_error *bus_error, int fallback);

/* errno (> 0) for a vfiod error name, 0 when it is not one of ours. */
int error_name_to_errno(const char *name);

/* Reads an aa{sv} of device dictionaries at the current position of m.
 * Unknown keys are skipped; a known key with the wrong type, or a device
 * without an address, is -EBADMSG. */
int reply_read_device_list(sd_bus_message *m, VfiodDeviceList **ret, VfiodError *error);

/* Reads an aa{sv} of plan dictionaries, same rules. */
int reply_read_plan(sd_bus_message *m, VfiodPlan **ret, VfiodError *error);
/* Reads an aa{sv} of persistent assignments (ListPersistentAssignments). */
int reply_read_assignment_list(sd_bus_message *m, VfiodAssignmentList **ret, VfiodError *error);
/* Reads the a{sv} of ExplainGroup. */
int reply_read_explanation(sd_bus_message *m, VfiodExplanation **ret, VfiodError *error);
/* Reads an aa{sv} of nodes (GrantAccess, RevokeAccess). */
int reply_read_node_list(sd_bus_message *m, VfiodNodeList **ret, VfiodError *error);

/* ---- the field tables (vfiod-fields.c) ----------------------------- */

/* How a number reads for people (VfiodValue.text): ids and the class code
 * in hex, as lspci shows them. */
typedef enum FieldFormat {
        FIELD_FORMAT_DECIMAL,
        FIELD_FORMAT_HEX16, /* 0x%04x */
        FIELD_FORMAT_HEX24, /* 0x%06x */
} FieldFormat;

struct FieldTable;

/* Where a dictionary key goes in its public struct.  The member's C type
 * follows from the key's signature: s char *, q uint16_t, u uint32_t,
 * b bool, au uint32_t * (and a size_t count), as NULL-terminated char **
 * (and a count), aa{sv} an array of structs of `nested` (and a count). */
typedef struct FieldBinding {
        bool bound; /* false: the row has no decoder (a test fails) */
        size_t offset;
        size_t size; /* sizeof the member, checked against the signature */
        bool has_seen;
        size_t seen_offset; /* of a bool set when the key was present */
        bool has_count;
        size_t count_offset; /* of the lists' size_t length */
        bool required;       /* a reply without it is malformed */
        bool omit_empty;     /* foreach leaves it out when "" or empty */
        FieldFormat format;
        const struct FieldTable *nested;
} FieldBinding;

/* One row of common/vfiod-fields.h. */
typedef struct FieldRow {
        const char *id;
        const char *property; /* NULL: in the dictionaries only */
        const char *property_signature;
        const char *key; /* NULL: on the objects only */
        const char *key_signature;
        int presence; /* VFIOD_FIELD_ALWAYS or VFIOD_FIELD_SPARSE */
        const FieldBinding *binding;
} FieldRow;

typedef struct FieldTable {
        const char *what; /* for messages: "device", "plan entry"... */
        const FieldRow *rows;
        size_t n_rows;
        size_t size; /* of the struct a dictionary is decoded into, 0: none */
} FieldTable;

extern const FieldTable field_table_device, field_table_group, field_table_plan, field_table_explanation,
        field_table_slot, field_table_assignment, field_table_node;
/* Every table, NULL-terminated. */
extern const FieldTable *const field_tables[];

const FieldRow *field_table_find_key(const FieldTable *table, const char *key);
const FieldRow *field_table_find_property(const FieldTable *table, const char *property);

/* ---- the value model (vfiod-value.c) ------------------------------- */

/* Frees what a value holds and makes it VFIOD_VALUE_NULL with text NULL. */
void value_clear(VfiodValue *v);

/* Same type and same content. */
bool value_equal(const VfiodValue *a, const VfiodValue *b);

/* Whether value_read_variant() reads a variant of this signature. */
bool value_signature_supported(const char *signature);

/* Reads the variant at the current position of m into *ret, its numbers
 * written as `format` says.  With `signature`, a variant of another type
 * is -EBADMSG and *ret_contents (when not NULL) its signature, valid
 * until m moves on; without, any supported type is read.  Returns 1 when
 * read, 0 when its type is none the value model has (the variant is
 * skipped, *ret left NULL), -ENOMEM, or another negative errno when m
 * does not hold a variant there. */
int value_read_variant(sd_bus_message *m, const char *signature, FieldFormat format, VfiodValue *ret,
                       const char **ret_contents);

/* The variant at the current position of m as the value of `property`
 * (its format from the field tables), of whatever type it has: see
 * value_read_variant(). */
int value_read(sd_bus_message *m, const char *property, VfiodValue *ret);

/* The text of a value (VfiodValue.text) from its typed part; *ret is
 * freed with free(). */
int value_format_text(const VfiodValue *v, FieldFormat format, char **ret);

/* The kind and short name of a device or group object path:
 * ".../device/0000_03_00_0" is a device "0000:03:00.0", ".../group/12" a
 * group "12".  -EINVAL for any other path, -ENOMEM. */
int object_path_parse(const char *path, VfiodObjectKind *ret_kind, char **ret_name);
