/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-watch.c: VfiodWatch, a non-blocking follower of the service's live
 * model (the device and group objects under its ObjectManager).
 *
 * It keeps a copy of every object's properties, so that each signal can be
 * told as old -> new and a restarted service as the differences to the
 * last known objects.  Loading (GetManagedObjects) is asynchronous; the
 * service's signals that arrive while a load is pending are dropped: the
 * bus delivers a sender's messages in order, so whatever they say was sent
 * before the reply and is already in it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfiod-private.h"

#define DBUS_OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
#define DBUS_PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

typedef struct Property {
        char *name;
        unsigned rank; /* position in the contract's order */
        VfiodValue value;
} Property;

typedef struct Object {
        char *path;
        char *name;
        VfiodObjectKind kind;
        Property *properties;
        size_t n_properties;
} Object;

struct VfiodWatch {
        VfiodClient *client;
        sd_bus *bus;
        VfiodChangeFunc callback;
        void *userdata;

        sd_bus_slot *match_properties;
        sd_bus_slot *match_added;
        sd_bus_slot *match_removed;
        sd_bus_slot *match_owner;
        sd_bus_slot *load; /* GetManagedObjects pending */

        bool initial; /* in vfiod_watch_new(): nothing is reported */
        bool running; /* the service has an owner */
        char *owner;  /* its unique name, once known */

        Object **objects; /* sorted: groups by number, then devices */
        size_t n_objects;

        int failure; /* < 0: a load failed, told by the next process */
        VfiodError failure_error;
};

static const VfiodValue value_null = {.type = VFIOD_VALUE_NULL, .text = (char *) ""};

/* ---- the model ---------------------------------------------------- */

/* The position of a property in the contract's order (the field table
 * of the object's interface), used for reporting a restart's
 * differences; properties the contract does not name come last. */
static unsigned property_rank(VfiodObjectKind kind, const char *name) {
        const FieldTable *table = kind == VFIOD_OBJECT_DEVICE ? &field_table_device : &field_table_group;
        const FieldRow *row = field_table_find_property(table, name);

        return (unsigned) (row ? (size_t) (row - table->rows) : table->n_rows);
}

static int property_compare(const void *a, const void *b) {
        const Property *x = a, *y = b;
        if (x->rank != y->rank)
                return x->rank < y->rank ? -1 : 1;
        return strcmp(x->name, y->name);
}

static void object_free(Object *o) {
        if (!o)
                return;
        for (size_t i = 0; i < o->n_properties; i++) {
                free(o->properties[i].name);
                value_clear(&o->properties[i].value);
        }
        free(o->properties);
        free(o->path);
        free(o->name);
        free(o);
}

static void objects_free(Object **objects, size_t n) {
        for (size_t i = 0; i < n; i++)
                object_free(objects[i]);
        free(objects);
}

static Property *object_find_property(const Object *o, const char *name) {
        for (size_t i = 0; i < o->n_properties; i++)
                if (strcmp(o->properties[i].name, name) == 0)
                        return &o->properties[i];
        return NULL;
}

/* Groups by number, then devices by address. */
static int object_compare(const void *a, const void *b) {
        const Object *x = *(Object *const *) a, *y = *(Object *const *) b;

        if (x->kind != y->kind)
                return x->kind == VFIOD_OBJECT_GROUP ? -1 : 1;
        if (x->kind == VFIOD_OBJECT_GROUP) {
                unsigned long long i = strtoull(x->name, NULL, 10), j = strtoull(y->name, NULL, 10);
                if (i != j)
                        return i < j ? -1 : 1;
        }
        return strcmp(x->name, y->name);
}

static Object *watch_find_object(const VfiodWatch *w, const char *path) {
        for (size_t i = 0; i < w->n_objects; i++)
                if (strcmp(w->objects[i]->path, path) == 0)
                        return w->objects[i];
        return NULL;
}

static int watch_add_object(VfiodWatch *w, Object *o) {
        Object **objects = realloc(w->objects, (w->n_objects + 1) * sizeof(Object *));
        if (!objects)
                return -ENOMEM;
        w->objects = objects;
        w->objects[w->n_objects++] = o;
        qsort(w->objects, w->n_objects, sizeof(Object *), object_compare);
        return 0;
}

static void watch_remove_object(VfiodWatch *w, Object *o) {
        for (size_t i = 0; i < w->n_objects; i++)
                if (w->objects[i] == o) {
                        memmove(w->objects + i, w->objects + i + 1,
                                (w->n_objects - i - 1) * sizeof(Object *));
                        w->n_objects--;
                        break;
                }
        object_free(o);
}

/* ---- reporting ---------------------------------------------------- */

static void watch_report(VfiodWatch *w, VfiodChangeKind kind, const Object *o, const char *property,
                         const VfiodValue *old_value, const VfiodValue *new_value) {
        VfiodChange change = {
                .kind = kind,
                .object = o ? o->kind : VFIOD_OBJECT_SERVICE,
                .path = o ? o->path : VFIOD_DBUS_PATH,
                .name = o ? o->name : VFIOD_DBUS_NAME,
                .property = property,
                .old_value = old_value,
                .new_value = new_value,
        };

        if (w->initial || !w->callback)
                return;
        w->callback(w, &change, w->userdata);
}

/* Sets a property of o to *value (taken over), reporting a change. */
static int object_set_property(VfiodWatch *w, Object *o, const char *name, VfiodValue *value, bool report) {
        Property *p = object_find_property(o, name);
        VfiodValue old;

        if (!p) {
                Property *properties = realloc(o->properties, (o->n_properties + 1) * sizeof(Property));
                char *copy = strdup(name);
                if (properties)
                        o->properties = properties;
                if (!properties || !copy) {
                        free(copy);
                        value_clear(value);
                        return -ENOMEM;
                }
                o->properties[o->n_properties++] = (Property){
                        .name = copy,
                        .rank = property_rank(o->kind, name),
                        .value = *value,
                };
                *value = (VfiodValue){.type = VFIOD_VALUE_NULL};
                qsort(o->properties, o->n_properties, sizeof(Property), property_compare);
                if (report)
                        watch_report(w, VFIOD_CHANGE_PROPERTY, o, name, &value_null,
                                     &object_find_property(o, name)->value);
                return 0;
        }

        if (value_equal(&p->value, value)) {
                value_clear(value);
                return 0;
        }
        old = p->value;
        p->value = *value;
        *value = (VfiodValue){.type = VFIOD_VALUE_NULL};
        if (report)
                watch_report(w, VFIOD_CHANGE_PROPERTY, o, p->name, &old, &p->value);
        value_clear(&old);
        return 0;
}

/* Reads an a{sv} of properties into o.  Values of types the contract does
 * not use are skipped. */
static int object_read_properties(VfiodWatch *w, Object *o, sd_bus_message *m, bool report) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                VfiodValue value = {.type = VFIOD_VALUE_NULL};
                const char *name;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &name);
                if (r < 0)
                        return r;
                r = value_read(m, name, &value);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = object_set_property(w, o, name, &value, report);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

static const char *object_kind_interface(VfiodObjectKind kind) {
        return kind == VFIOD_OBJECT_DEVICE ? VFIOD_DBUS_DEVICE_INTERFACE : VFIOD_DBUS_GROUP_INTERFACE;
}

/* Reads the a{sa{sv}} of one object at path; *ret is NULL when it is no
 * device or group of ours. */
static int object_read(VfiodWatch *w, const char *path, sd_bus_message *m, Object **ret) {
        Object *o = NULL;
        VfiodObjectKind kind;
        char *name = NULL;
        int r;

        *ret = NULL;
        r = object_path_parse(path, &kind, &name);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                o = calloc(1, sizeof(Object));
                if (!o || !(o->path = strdup(path))) {
                        free(o);
                        free(name);
                        return -ENOMEM;
                }
                o->name = name;
                o->kind = kind;
        }

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}");
        if (r < 0)
                goto fail;
        for (;;) {
                const char *interface;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}");
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &interface);
                if (r < 0)
                        goto fail;
                if (o && strcmp(interface, object_kind_interface(o->kind)) == 0) {
                        r = object_read_properties(w, o, m, false);
                        if (r < 0)
                                goto fail;
                        /* the interface is there: keep the object */
                        *ret = o;
                } else {
                        r = sd_bus_message_skip(m, "a{sv}");
                        if (r < 0)
                                goto fail;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;

        if (!*ret)
                object_free(o);
        return 0;

fail:
        *ret = NULL;
        object_free(o);
        return r;
}

/* Moves the properties of `from` into `to`, reporting each difference. */
static int object_update(VfiodWatch *w, Object *to, Object *from) {
        int r = 0;

        for (size_t i = 0; i < from->n_properties && r >= 0; i++)
                r = object_set_property(w, to, from->properties[i].name, &from->properties[i].value, true);
        return r;
}

/* ---- the service's signals ------------------------------------------ */

/* Signals of the service are ours when it sent them and no load is
 * pending (see the top of the file). */
static bool watch_accepts(const VfiodWatch *w, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);

        if (w->load || !w->running)
                return false;
        return !w->owner || (sender && strcmp(sender, w->owner) == 0);
}

/* Signal handlers return 0 whatever happens: a malformed signal must not
 * end the watch (sd_bus_process() would return the error). */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfiodWatch *w = userdata;
        const char *interface;
        Object *o;

        if (!watch_accepts(w, m))
                return 0;
        o = watch_find_object(w, sd_bus_message_get_path(m));
        if (!o)
                return 0;
        if (sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &interface) <= 0 ||
            strcmp(interface, object_kind_interface(o->kind)) != 0)
                return 0;
        /* Invalidated properties are not used by the contract: every
         * PropertiesChanged carries the new values. */
        (void) object_read_properties(w, o, m, true);
        return 0;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfiodWatch *w = userdata;
        const char *path;
        Object *o = NULL, *known;

        if (!watch_accepts(w, m))
                return 0;
        if (sd_bus_message_read_basic(m, SD_BUS_TYPE_OBJECT_PATH, &path) <= 0)
                return 0;
        if (object_read(w, path, m, &o) < 0 || !o)
                return 0;

        known = watch_find_object(w, path);
        if (known) {
                (void) object_update(w, known, o);
                object_free(o);
                return 0;
        }
        if (watch_add_object(w, o) < 0) {
                object_free(o);
                return 0;
        }
        watch_report(w, VFIOD_CHANGE_ADDED, o, NULL, NULL, NULL);
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfiodWatch *w = userdata;
        const char *path, *interface;
        bool ours = false;
        Object *o;

        if (!watch_accepts(w, m))
                return 0;
        if (sd_bus_message_read_basic(m, SD_BUS_TYPE_OBJECT_PATH, &path) <= 0)
                return 0;
        o = watch_find_object(w, path);
        if (!o)
                return 0;
        if (sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s") <= 0)
                return 0;
        while (sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &interface) > 0)
                if (strcmp(interface, object_kind_interface(o->kind)) == 0)
                        ours = true;
        if (!ours)
                return 0;

        watch_report(w, VFIOD_CHANGE_REMOVED, o, NULL, NULL, NULL);
        watch_remove_object(w, o);
        return 0;
}

/* ---- loading ------------------------------------------------------ */

static void watch_fail(VfiodWatch *w, int r, const sd_bus_error *bus_error, const char *what) {
        if (w->failure < 0)
                return;
        if (bus_error && sd_bus_error_is_set(bus_error))
                w->failure = error_set_from_bus(&w->failure_error, bus_error, r);
        else
                w->failure = error_set_local(&w->failure_error, r < 0 ? -r : EBADMSG,
                                             "Unexpected %s from the vfio service: %s", what,
                                             strerror(r < 0 ? -r : EBADMSG));
}

/* The service is not (or no longer) there to answer. */
static bool bus_error_is_gone(const sd_bus_error *e) {
        return sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
               sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
               sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) ||
               sd_bus_error_has_name(e, SD_BUS_ERROR_DISCONNECTED);
}

static int load_read(VfiodWatch *w, sd_bus_message *m, Object ***ret, size_t *ret_n) {
        Object **objects = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}");
        if (r < 0)
                goto fail;
        for (;;) {
                const char *path;
                Object *o, **more;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "oa{sa{sv}}");
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_OBJECT_PATH, &path);
                if (r < 0)
                        goto fail;
                r = object_read(w, path, m, &o);
                if (r < 0)
                        goto fail;
                if (o) {
                        more = realloc(objects, (n + 1) * sizeof(Object *));
                        if (!more) {
                                object_free(o);
                                r = -ENOMEM;
                                goto fail;
                        }
                        objects = more;
                        objects[n++] = o;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;

        if (n > 0)
                qsort(objects, n, sizeof(Object *), object_compare);
        *ret = objects;
        *ret_n = n;
        return 0;

fail:
        objects_free(objects, n);
        return r;
}

/* Replaces the known objects with the loaded ones, reporting what was
 * removed, what was added, and every property that differs. */
static void watch_replace_objects(VfiodWatch *w, Object **objects, size_t n) {
        Object **old = w->objects;
        size_t n_old = w->n_objects;

        for (size_t i = 0; i < n_old; i++) {
                bool found = false;
                for (size_t j = 0; j < n && !found; j++)
                        found = strcmp(old[i]->path, objects[j]->path) == 0;
                if (!found)
                        watch_report(w, VFIOD_CHANGE_REMOVED, old[i], NULL, NULL, NULL);
        }

        /* The new list becomes the model; a known object keeps its values
         * until updated, so that differences are reported against them. */
        w->objects = objects;
        w->n_objects = n;
        for (size_t j = 0; j < n; j++) {
                Object *before = NULL;
                for (size_t i = 0; i < n_old && !before; i++)
                        if (old[i] && strcmp(old[i]->path, objects[j]->path) == 0)
                                before = old[i];
                if (!before) {
                        watch_report(w, VFIOD_CHANGE_ADDED, objects[j], NULL, NULL, NULL);
                        continue;
                }
                /* swap: before's values go into the model, the loaded ones
                 * are set on top of them */
                Object *loaded = objects[j];
                objects[j] = before;
                for (size_t i = 0; i < n_old; i++)
                        if (old[i] == before)
                                old[i] = loaded;
                (void) object_update(w, before, loaded);
        }
        objects_free(old, n_old);
}

static int on_load_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfiodWatch *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Object **objects = NULL;
        size_t n = 0;
        int r;

        w->load = sd_bus_slot_unref(w->load);

        if (e) {
                if (bus_error_is_gone(e)) {
                        /* gone again: NameOwnerChanged tells when it is back */
                        w->running = false;
                        return 0;
                }
                watch_fail(w, sd_bus_message_get_errno(m) > 0 ? -sd_bus_message_get_errno(m) : -EIO, e,
                           "answer");
                return 0;
        }

        r = load_read(w, m, &objects, &n);
        if (r < 0) {
                watch_fail(w, r, NULL, "list of objects");
                return 0;
        }

        w->running = true;
        if (!w->owner) {
                w->owner = strdup(sd_bus_message_get_sender(m) ?: "");
                if (!w->owner) {
                        objects_free(objects, n);
                        watch_fail(w, -ENOMEM, NULL, "answer");
                        return 0;
                }
        }
        watch_replace_objects(w, objects, n);
        return 0;
}

/* Asks for every object again; a pending load is dropped. */
static int watch_load(VfiodWatch *w) {
        w->load = sd_bus_slot_unref(w->load);
        return sd_bus_call_method_async(w->bus, &w->load, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH,
                                        DBUS_OBJECT_MANAGER_INTERFACE, "GetManagedObjects", on_load_reply, w,
                                        NULL);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfiodWatch *w = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            strcmp(name, VFIOD_DBUS_NAME) != 0)
                return 0;

        if (*old_owner && (!w->owner || strcmp(old_owner, w->owner) == 0)) {
                bool was_running = w->running;
                w->load = sd_bus_slot_unref(w->load);
                w->running = false;
                free(w->owner);
                w->owner = NULL;
                if (was_running)
                        watch_report(w, VFIOD_CHANGE_SERVICE_STOPPED, NULL, NULL, NULL, NULL);
        }

        if (*new_owner && !(w->owner && strcmp(new_owner, w->owner) == 0)) {
                free(w->owner);
                w->owner = strdup(new_owner);
                if (!w->owner) {
                        watch_fail(w, -ENOMEM, NULL, "owner");
                        return 0;
                }
                w->running = true;
                watch_report(w, VFIOD_CHANGE_SERVICE_STARTED, NULL, NULL, NULL, NULL);
                r = watch_load(w);
                if (r < 0)
                        watch_fail(w, r, NULL, "load");
        }
        return 0;
}

/* ---- the API ------------------------------------------------------ */

VFIOD_EXPORT void vfiod_watch_free(VfiodWatch *w) {
        if (!w)
                return;
        sd_bus_slot_unref(w->load);
        sd_bus_slot_unref(w->match_properties);
        sd_bus_slot_unref(w->match_added);
        sd_bus_slot_unref(w->match_removed);
        sd_bus_slot_unref(w->match_owner);
        objects_free(w->objects, w->n_objects);
        free(w->owner);
        vfiod_error_clear(&w->failure_error);
        free(w);
}

VFIOD_EXPORT int vfiod_watch_new(VfiodClient *client, VfiodChangeFunc callback, void *userdata,
                                 VfiodWatch **ret, VfiodError *error) {
        static const char rule_properties[] =
                "type='signal',sender='" VFIOD_DBUS_NAME "',"
                "interface='" DBUS_PROPERTIES_INTERFACE "',member='PropertiesChanged',"
                "path_namespace='" VFIOD_DBUS_PATH "'";
        static const char rule_added[] =
                "type='signal',sender='" VFIOD_DBUS_NAME "',"
                "interface='" DBUS_OBJECT_MANAGER_INTERFACE "',member='InterfacesAdded',"
                "path='" VFIOD_DBUS_PATH "'";
        static const char rule_removed[] =
                "type='signal',sender='" VFIOD_DBUS_NAME "',"
                "interface='" DBUS_OBJECT_MANAGER_INTERFACE "',member='InterfacesRemoved',"
                "path='" VFIOD_DBUS_PATH "'";
        static const char rule_owner[] =
                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                "arg0='" VFIOD_DBUS_NAME "'";
        VfiodWatch *w;
        int r;

        if (!client || !ret)
                return error_set_local(error, EINVAL, "Invalid arguments");

        w = calloc(1, sizeof(VfiodWatch));
        if (!w)
                return error_set_local(error, ENOMEM, "Out of memory");
        w->client = client;
        w->bus = client->bus;
        w->callback = callback;
        w->userdata = userdata;
        w->initial = true;

        /* Subscribe first, then load: no change can fall between the two. */
        r = sd_bus_add_match(w->bus, &w->match_owner, rule_owner, on_name_owner_changed, w);
        if (r >= 0)
                r = sd_bus_add_match(w->bus, &w->match_properties, rule_properties, on_properties_changed,
                                     w);
        if (r >= 0)
                r = sd_bus_add_match(w->bus, &w->match_added, rule_added, on_interfaces_added, w);
        if (r >= 0)
                r = sd_bus_add_match(w->bus, &w->match_removed, rule_removed, on_interfaces_removed, w);
        if (r < 0) {
                vfiod_watch_free(w);
                return error_set_local(error, -r, "Cannot subscribe to the vfio service's signals: %s",
                                       strerror(-r));
        }

        w->running = true; /* until the load says otherwise */
        r = watch_load(w);
        while (r >= 0 && w->load && w->failure == 0) {
                r = sd_bus_process(w->bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(w->bus, UINT64_MAX);
        }
        if (r < 0) {
                vfiod_watch_free(w);
                return error_set_local(error, -r, "Cannot talk to the vfio service on the system bus: %s",
                                       strerror(-r));
        }
        if (w->failure < 0) {
                r = w->failure;
                if (error) {
                        vfiod_error_clear(error);
                        *error = w->failure_error;
                        w->failure_error = (VfiodError) VFIOD_ERROR_INIT;
                }
                vfiod_watch_free(w);
                return r;
        }

        w->initial = false;
        *ret = w;
        return 0;
}

VFIOD_EXPORT int vfiod_watch_get_fd(VfiodWatch *w) {
        return w ? sd_bus_get_fd(w->bus) : -EINVAL;
}

VFIOD_EXPORT int vfiod_watch_get_events(VfiodWatch *w) {
        return w ? sd_bus_get_events(w->bus) : -EINVAL;
}

VFIOD_EXPORT int vfiod_watch_get_timeout(VfiodWatch *w, uint64_t *ret_usec) {
        int r;

        if (!w || !ret_usec)
                return -EINVAL;
        r = sd_bus_get_timeout(w->bus, ret_usec);
        if (r < 0)
                return r;
        if (w->failure < 0)
                *ret_usec = 0; /* to report it */
        return 0;
}

VFIOD_EXPORT int vfiod_watch_process(VfiodWatch *w, VfiodError *error) {
        int r, did = 0;

        if (!w)
                return error_set_local(error, EINVAL, "No watch given");

        for (;;) {
                if (w->failure < 0) {
                        if (error) {
                                vfiod_error_clear(error);
                                error->name = w->failure_error.name ? strdup(w->failure_error.name) : NULL;
                                error->message =
                                        w->failure_error.message ? strdup(w->failure_error.message) : NULL;
                        }
                        return w->failure;
                }
                r = sd_bus_process(w->bus, NULL);
                if (r < 0)
                        return error_set_local(error, -r, "Lost the connection to the system bus: %s",
                                               strerror(-r));
                if (r == 0)
                        return did;
                did = 1;
        }
}

VFIOD_EXPORT bool vfiod_watch_service_running(const VfiodWatch *w) {
        return w && w->running;
}

VFIOD_EXPORT const VfiodValue *vfiod_watch_get_value(const VfiodWatch *w, const char *path,
                                                     const char *property) {
        const Object *o;
        const Property *p;

        if (!w || !path || !property)
                return NULL;
        o = watch_find_object(w, path);
        if (!o)
                return NULL;
        p = object_find_property(o, property);
        return p ? &p->value : NULL;
}
