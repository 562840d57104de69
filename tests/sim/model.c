/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model.c: the simulated PCI bus: topology loading, the sysfs tree built
 * from it, and the kernel's rules for driver_override, bind, unbind,
 * new_id, remove_id, drivers_probe and hot removal.
 */
#include "sim.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

#define PCI_CLASS_BRIDGE_PCI 0x0604
#define PCI_CLASS_DISPLAY_VGA 0x0300

/* PCIe capability device/port types (PCI_EXP_TYPE_*). */
enum {
        PORT_ENDPOINT = 0x0,
        PORT_LEGACY_ENDPOINT = 0x1,
        PORT_ROOT_PORT = 0x4,
        PORT_UPSTREAM = 0x5,
        PORT_DOWNSTREAM = 0x6,
        PORT_PCIE_TO_PCI = 0x7,
        PORT_PCI_TO_PCIE = 0x8,
        PORT_RC_ENDPOINT = 0x9,
};

static bool driver_is_vfio_or_stub(const char *name) {
        return g_str_equal(name, SIM_DRIVER_VFIO_PCI) || g_str_equal(name, SIM_DRIVER_PCI_STUB);
}

/* ---- loading ------------------------------------------------------ */

typedef struct {
        Sim *sim;
        GHashTable *vars; /* placeholder name -> value */
        GError **error;
        int host_counter;
} Loader;

static char *substitute(Loader *l, const char *s) {
        GString *out = g_string_new(NULL);

        while (*s) {
                const char *at = strchr(s, '@');
                const char *end;

                if (!at) {
                        g_string_append(out, s);
                        break;
                }
                end = strchr(at + 1, '@');
                if (end) {
                        g_autofree char *name = g_strndup(at + 1, end - at - 1);
                        const char *v = g_hash_table_lookup(l->vars, name);

                        if (v) {
                                g_string_append_len(out, s, at - s);
                                g_string_append(out, v);
                                s = end + 1;
                                continue;
                        }
                }
                g_string_append_len(out, s, at - s + 1);
                s = at + 1;
        }
        return g_string_free(out, FALSE);
}

/* A string member (placeholders substituted), NULL when absent or null. */
static char *get_str(Loader *l, JsonObject *o, const char *key) {
        JsonNode *n = json_object_get_member(o, key);

        if (!n || JSON_NODE_HOLDS_NULL(n))
                return NULL;
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
                return substitute(l, json_node_get_string(n));
        if (JSON_NODE_HOLDS_VALUE(n))
                return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
        return NULL;
}

/* An integer member given as a number or a string ("0x8086", "5"). */
static bool get_int(Loader *l, JsonObject *o, const char *key, long long *out) {
        JsonNode *n = json_object_get_member(o, key);

        if (!n || JSON_NODE_HOLDS_NULL(n))
                return false;
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
                g_autofree char *s = substitute(l, json_node_get_string(n));
                char *end;

                errno = 0;
                *out = strtoll(s, &end, 0);
                return errno == 0 && end != s && *end == '\0';
        }
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN) {
                *out = json_node_get_boolean(n);
                return true;
        }
        if (JSON_NODE_HOLDS_VALUE(n)) {
                *out = json_node_get_int(n);
                return true;
        }
        return false;
}

static long long get_int_or(Loader *l, JsonObject *o, const char *key, long long dflt) {
        long long v;

        return get_int(l, o, key, &v) ? v : dflt;
}

static bool parse_address(const char *s, unsigned *domain, unsigned *bus, unsigned *slot, unsigned *fn) {
        int n = 0;

        if (sscanf(s, "%x:%x:%x.%x%n", domain, bus, slot, fn, &n) != 4 || s[n])
                return false;
        return *domain <= 0xffffffffu && *bus <= 0xff && *slot <= 0x1f && *fn <= 7;
}

static SimDriver *driver_get(Sim *sim, const char *name) {
        SimDriver *drv = g_hash_table_lookup(sim->by_driver, name);

        if (drv)
                return drv;
        drv = g_new0(SimDriver, 1);
        drv->name = g_strdup(name);
        if (!g_str_equal(name, SIM_DRIVER_PCIEPORT))
                drv->module = g_strdelimit(g_strdup(name), "-", '_');
        drv->loaded = true;
        drv->ids = g_array_new(FALSE, FALSE, sizeof(SimId));
        drv->dynids = g_array_new(FALSE, FALSE, sizeof(SimId));
        g_ptr_array_add(sim->drivers, drv);
        g_hash_table_insert(sim->by_driver, drv->name, drv);
        return drv;
}

static bool ids_contain(GArray *ids, uint16_t vendor, uint16_t device) {
        for (guint i = 0; i < ids->len; i++) {
                SimId *id = &g_array_index(ids, SimId, i);

                if (id->vendor == vendor && id->device == device)
                        return true;
        }
        return false;
}

static void ids_add(GArray *ids, uint16_t vendor, uint16_t device) {
        SimId id = {vendor, device};

        if (!ids_contain(ids, vendor, device))
                g_array_append_val(ids, id);
}

static bool load_drivers(Loader *l, JsonObject *top, const char *key) {
        JsonNode *n = json_object_get_member(top, key);
        JsonArray *a;

        if (!n)
                return true;
        if (!JSON_NODE_HOLDS_ARRAY(n)) {
                g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "\"%s\" must be a list", key);
                return false;
        }
        a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                JsonObject *o;
                g_autofree char *name = NULL;
                SimDriver *drv;
                JsonNode *ids;

                if (JSON_NODE_HOLDS_VALUE(e)) {
                        driver_get(l->sim, json_node_get_string(e));
                        continue;
                }
                o = json_node_get_object(e);
                name = get_str(l, o, "name");
                if (!name) {
                        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "driver without a name");
                        return false;
                }
                drv = driver_get(l->sim, name);
                if (json_object_has_member(o, "module")) {
                        g_free(drv->module);
                        drv->module = get_str(l, o, "module");
                }
                drv->loaded = get_int_or(l, o, "loaded", 1);
                ids = json_object_get_member(o, "ids");
                if (ids && JSON_NODE_HOLDS_ARRAY(ids)) {
                        JsonArray *ia = json_node_get_array(ids);

                        for (guint j = 0; j < json_array_get_length(ia); j++) {
                                unsigned v, d;

                                if (sscanf(json_array_get_string_element(ia, j), "%x:%x", &v, &d) != 2) {
                                        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                                    "driver %s: bad id", name);
                                        return false;
                                }
                                ids_add(drv->ids, v, d);
                        }
                }
        }
        return true;
}

static void block_free(gpointer p) {
        SimBlock *b = p;

        g_free(b->name);
        g_free(b->dev);
        g_strfreev(b->holders);
        if (b->partitions)
                g_ptr_array_unref(b->partitions);
        g_free(b);
}

static char **get_strv(Loader *l, JsonObject *o, const char *key) {
        JsonNode *n = json_object_get_member(o, key);
        GPtrArray *v = g_ptr_array_new();

        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);

                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);

                        if (JSON_NODE_HOLDS_OBJECT(e))
                                g_ptr_array_add(v, get_str(l, json_node_get_object(e), "name"));
                        else
                                g_ptr_array_add(v, substitute(l, json_node_get_string(e)));
                }
        }
        g_ptr_array_add(v, NULL);
        return (char **) g_ptr_array_free(v, FALSE);
}

static SimBlock *load_block(Loader *l, JsonObject *o, int partn) {
        SimBlock *b = g_new0(SimBlock, 1);
        JsonNode *parts = json_object_get_member(o, "partitions");

        b->name = get_str(l, o, "name");
        b->dev = get_str(l, o, "dev");
        b->holders = get_strv(l, o, "holders");
        b->partn = partn;
        b->host = -1;
        b->partitions = g_ptr_array_new_with_free_func(block_free);
        if (!b->name || !b->dev) {
                g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "block device needs \"name\" and \"dev\"");
                block_free(b);
                return NULL;
        }
        if (parts && JSON_NODE_HOLDS_ARRAY(parts)) {
                JsonArray *a = json_node_get_array(parts);

                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonObject *po = json_array_get_object_element(a, i);
                        const char *name;
                        SimBlock *p;
                        int k = (int) i + 1;

                        /* Partition number: trailing digits of the name. */
                        p = load_block(l, po, 0);
                        if (!p) {
                                block_free(b);
                                return NULL;
                        }
                        name = p->name + strlen(p->name);
                        while (name > p->name && g_ascii_isdigit(name[-1]))
                                name--;
                        if (*name)
                                k = atoi(name);
                        p->partn = (int) get_int_or(l, po, "partn", k);
                        g_ptr_array_add(b->partitions, p);
                }
        }
        return b;
}

static void child_node_free(gpointer p) {
        SimChildNode *n = p;

        g_free(n->path);
        g_free(n->subsystem);
        g_free(n->dev);
        g_free(n->devname);
        g_strfreev(n->attrs);
        g_free(n);
}

/* "nodes": [{"path", "subsystem", "dev", "devname", "attrs": {name: text}}] */
static bool load_nodes(Loader *l, JsonObject *o, GPtrArray *out) {
        JsonNode *n = json_object_get_member(o, "nodes");
        JsonArray *a;

        if (!n)
                return true;
        if (!JSON_NODE_HOLDS_ARRAY(n))
                goto bad;
        a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonObject *no = json_array_get_object_element(a, i);
                SimChildNode *c;
                JsonObject *attrs;

                if (!no)
                        goto bad;
                c = g_new0(SimChildNode, 1);
                c->path = get_str(l, no, "path");
                c->subsystem = get_str(l, no, "subsystem");
                c->dev = get_str(l, no, "dev");
                c->devname = get_str(l, no, "devname");
                g_ptr_array_add(out, c);
                if (!c->path || !*c->path || c->path[0] == '/' || strstr(c->path, ".."))
                        goto bad;
                if (!c->devname && c->dev)
                        c->devname = g_path_get_basename(c->path);
                attrs = json_object_has_member(no, "attrs") ? json_object_get_object_member(no, "attrs")
                                                            : NULL;
                if (attrs) {
                        g_autoptr(GList) members = json_object_get_members(attrs);
                        GPtrArray *v = g_ptr_array_new();

                        for (GList *m = members; m; m = m->next) {
                                g_ptr_array_add(v, g_strdup(m->data));
                                g_ptr_array_add(v, get_str(l, attrs, m->data));
                        }
                        g_ptr_array_add(v, NULL);
                        c->attrs = (char **) g_ptr_array_free(v, FALSE);
                }
        }
        return true;
bad:
        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "\"nodes\" is a list of {\"path\" (relative, no ..), \"subsystem\", \"dev\", "
                    "\"devname\", \"attrs\"}");
        return false;
}

static void device_free(gpointer p);
static void child_node_build(Sim *sim, SimDevice *dev, SimChildNode *c);

static SimDevice *load_device(Loader *l, JsonObject *o) {
        g_autofree char *addr = get_str(l, o, "address");
        g_autofree char *header = get_str(l, o, "header_type");
        g_autofree char *driver = get_str(l, o, "driver");
        g_autofree char *host = get_str(l, o, "host_driver");
        g_autofree char *port = get_str(l, o, "port_type");
        long long v;
        JsonNode *n;

        SimDevice *dev;

        if (!addr) {
                g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "device without an address");
                return NULL;
        }
        dev = g_new0(SimDevice, 1);
        dev->vfs = g_ptr_array_new();
        dev->vfio_minor = -1;
        dev->blocks = g_ptr_array_new_with_free_func(block_free);
        dev->nodes = g_ptr_array_new_with_free_func(child_node_free);
        if (!parse_address(addr, &dev->domain, &dev->bus, &dev->slot, &dev->fn)) {
                g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad address %s", addr);
                goto fail;
        }
        dev->address = g_strdup_printf("%04x:%02x:%02x.%x", dev->domain, dev->bus, dev->slot, dev->fn);
#define NEED(key, field)                                                                    \
        do {                                                                                \
                if (!get_int(l, o, key, &v)) {                                              \
                        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,          \
                                    "device %s: missing or bad \"%s\"", dev->address, key); \
                        goto fail;                                                          \
                }                                                                           \
                dev->field = v;                                                             \
        } while (0)
        NEED("vendor", vendor);
        NEED("device", device);
        NEED("class", class);
#undef NEED
        dev->subsystem_vendor = get_int_or(l, o, "subsystem_vendor", dev->vendor);
        dev->subsystem_device = get_int_or(l, o, "subsystem_device", 0);
        dev->revision = get_int_or(l, o, "revision", 0);
        dev->name = get_str(l, o, "name");
        dev->bridge = header ? g_str_equal(header, "bridge") : (dev->class >> 8) == PCI_CLASS_BRIDGE_PCI;
        dev->secondary_bus = get_int_or(l, o, "secondary_bus", -1);
        dev->subordinate_bus = get_int_or(l, o, "subordinate_bus", dev->secondary_bus);
        if (dev->bridge && dev->secondary_bus < 0) {
                g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "bridge %s needs \"secondary_bus\"", dev->address);
                goto fail;
        }
        dev->acs_cap = (int) get_int_or(l, o, "acs_cap", -1);
        dev->acs_ctrl = (int) get_int_or(l, o, "acs_ctrl", dev->acs_cap >= 0 ? (dev->acs_cap & 0x1d) : 0);
        {
                g_autofree char *layout = get_str(l, o, "acs_layout");
                if (layout && !g_str_equal(layout, "standard") && !g_str_equal(layout, "intel-spt")) {
                        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                    "device %s: acs_layout is \"standard\" or \"intel-spt\"", dev->address);
                        goto fail;
                }
                dev->acs_spt = layout && g_str_equal(layout, "intel-spt");
        }
        dev->flr = get_int_or(l, o, "flr", 0) != 0;
        {
                g_autofree char *pm = get_str(l, o, "pm");
                dev->pm = pm && g_str_equal(pm, "no-soft-reset") ? 2 : get_int_or(l, o, "pm", 0) ? 1 : 0;
        }
        dev->reset_method = get_str(l, o, "reset_method");
        dev->slot_name = get_str(l, o, "slot");
        {
                g_autofree char *domain = get_str(l, o, "child_domain");
                dev->child_domain = domain ? strtoll(domain, NULL, 16) : -1;
        }
        dev->multifunction = get_int_or(l, o, "multifunction", -1);
        dev->pcie = get_int_or(l, o, "pcie", -1);
        dev->port_type = -1;
        if (port) {
                static const struct {
                        const char *name;
                        int type;
                } types[] = {
                        {"endpoint", PORT_ENDPOINT},       {"legacy_endpoint", PORT_LEGACY_ENDPOINT},
                        {"root_port", PORT_ROOT_PORT},     {"upstream", PORT_UPSTREAM},
                        {"downstream", PORT_DOWNSTREAM},   {"pcie_to_pci", PORT_PCIE_TO_PCI},
                        {"pci_to_pcie", PORT_PCI_TO_PCIE}, {"rc_endpoint", PORT_RC_ENDPOINT},
                };
                for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
                        if (g_str_equal(port, types[i].name))
                                dev->port_type = types[i].type;
                if (dev->port_type < 0) {
                        g_set_error(l->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                    "device %s: unknown port_type %s", dev->address, port);
                        goto fail;
                }
        }
        dev->iommu_group = get_int_or(l, o, "iommu_group", -1);
        dev->boot_vga = get_int_or(l, o, "boot_vga", (dev->class >> 8) == PCI_CLASS_DISPLAY_VGA ? 0 : -1);
        dev->irq = get_int_or(l, o, "irq", 16 + (dev->slot + dev->fn) % 8);
        dev->physfn_address = get_str(l, o, "physfn");
        dev->override = get_str(l, o, "driver_override");
        dev->initial_override = g_strdup(dev->override);
        dev->nets = get_strv(l, o, "net");
        dev->net_uppers =
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
        n = json_object_get_member(o, "net");
        /* "net": ["eth0", {"name": "eth1", "uppers": ["eth1.100"]}]: VLANs and macvlans on it */
        for (guint i = 0; n && JSON_NODE_HOLDS_ARRAY(n) && i < json_array_get_length(json_node_get_array(n));
             i++) {
                JsonNode *e = json_array_get_element(json_node_get_array(n), i);

                if (JSON_NODE_HOLDS_OBJECT(e) && json_object_has_member(json_node_get_object(e), "uppers"))
                        g_hash_table_insert(dev->net_uppers, get_str(l, json_node_get_object(e), "name"),
                                            get_strv(l, json_node_get_object(e), "uppers"));
        }
        dev->ifindex = g_new0(int, g_strv_length(dev->nets) + 1);

        if (driver) {
                dev->driver = driver_get(l->sim, driver);
                dev->enabled = true;
        }
        if (host)
                dev->host_driver = driver_get(l->sim, host);
        else if (driver && !driver_is_vfio_or_stub(driver))
                dev->host_driver = dev->driver;
        if (dev->host_driver)
                ids_add(dev->host_driver->ids, dev->vendor, dev->device);

        if (!load_nodes(l, o, dev->nodes))
                goto fail;
        n = json_object_get_member(o, "block");
        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);

                for (guint i = 0; i < json_array_get_length(a); i++) {
                        SimBlock *b = load_block(l, json_array_get_object_element(a, i), 0);

                        if (!b)
                                goto fail;
                        g_ptr_array_add(dev->blocks, b);
                }
        }
        return dev;
fail:
        device_free(dev);
        return NULL;
}

/* The bridge whose secondary..subordinate range holds the bus: the
 * narrowest one, so nested bridges win over their ancestors. */
static SimDevice *find_parent(Sim *sim, SimDevice *dev) {
        SimDevice *best = NULL;

        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *b = sim->devices->pdata[i];

                if (b == dev || !b->bridge || b->domain != dev->domain)
                        continue;
                if ((int) dev->bus < b->secondary_bus || (int) dev->bus > b->subordinate_bus)
                        continue;
                if (!best ||
                    b->subordinate_bus - b->secondary_bus < best->subordinate_bus - best->secondary_bus ||
                    (b->subordinate_bus - b->secondary_bus == best->subordinate_bus - best->secondary_bus &&
                     b->secondary_bus > best->secondary_bus))
                        best = b;
        }
        return best;
}

static void resolve_port_types(Sim *sim, SimDevice *dev) {
        SimDevice *p = dev->parent;

        if (dev->port_type != -1 && dev->pcie != -1)
                return;
        if (p)
                resolve_port_types(sim, p);
        if (dev->pcie == -1)
                dev->pcie = !(p && (p->port_type == PORT_PCIE_TO_PCI || !p->pcie));
        if (dev->port_type != -1)
                return;
        if (!dev->bridge)
                dev->port_type = p ? PORT_ENDPOINT : PORT_RC_ENDPOINT;
        else if (!p)
                dev->port_type = PORT_ROOT_PORT;
        else if (p->port_type == PORT_UPSTREAM)
                dev->port_type = PORT_DOWNSTREAM;
        else
                dev->port_type = PORT_UPSTREAM;
}

/* ---- tree --------------------------------------------------------- */

static char *device_env(const SimDevice *dev);

/* A uevent of a PCI device, with its variables as they are now. */
static void device_uevent(Sim *sim, SimDevice *dev, const char *action) {
        g_autofree char *env = NULL;

        if (sim->uevent_fd < 0)
                return;
        env = device_env(dev);
        uevent_queue(sim, action, dev->dir, "pci", env);
}

static SimNode *group_dir(Sim *sim, int group, bool create) {
        char name[16];
        SimNode *groups = node_lookup(sim->root, "/kernel/iommu_groups");
        SimNode *g;

        snprintf(name, sizeof(name), "%d", group);
        g = node_child(groups, name);
        if (g || !create)
                return g;
        g = node_dir(groups, name);
        node_dir(g, "devices");
        node_text(g, "type", 0444, "DMA\n");
        node_text(g, "reserved_regions", 0444, "0x00000000fee00000 0x00000000feefffff msi\n");
        return g;
}

static void driver_build(Sim *sim, SimDriver *drv) {
        SimNode *drivers = node_lookup(sim->root, "/bus/pci/drivers");
        SimNode *d;

        if (drv->dir)
                return;
        d = drv->dir = node_dir(drivers, drv->name);
        node_attr(d, SIM_ATTR_BIND, 0200, ATTR_DRV_BIND, NULL, drv);
        node_attr(d, SIM_ATTR_UNBIND, 0200, ATTR_DRV_UNBIND, NULL, drv);
        node_attr(d, SIM_ATTR_NEW_ID, 0200, ATTR_DRV_NEW_ID, NULL, drv);
        node_attr(d, SIM_ATTR_REMOVE_ID, 0200, ATTR_DRV_REMOVE_ID, NULL, drv);
        node_attr(d, SIM_ATTR_UEVENT, 0200, ATTR_IGNORED_WRITE, NULL, drv);
        if (drv->module) {
                SimNode *modules = node_lookup(sim->root, "/module");
                SimNode *m = node_child(modules, drv->module);
                g_autofree char *link = g_strdup_printf("pci:%s", drv->name);

                if (!m) {
                        m = node_dir(modules, drv->module);
                        node_text(m, "initstate", 0444, "live\n");
                        node_text(m, "refcnt", 0444, "0\n");
                        node_text(m, "uevent", 0200, "");
                }
                drv->module_dir = m;
                node_link(node_dir(m, "drivers"), link, d);
                node_link(d, "module", m);
        }
}

/* The VFIO device cdev (kernel >= 6.6 with CONFIG_VFIO_DEVICE_CDEV): a
 * device on vfio-pci gets <dev>/vfio-dev/vfio<N>, N the lowest free index
 * (the kernel's IDA), /dev/vfio/devices/vfio<N> in its uevent. */
static void device_add_vfio_cdev(Sim *sim, SimDevice *dev) {
        g_autofree char *name = NULL;
        g_autofree char *devt = NULL;
        g_autofree char *text = NULL;
        g_autofree char *uevent = NULL;
        SimNode *d;
        int n = 0;

        while (g_hash_table_contains(sim->vfio_cdev_minors, GINT_TO_POINTER(n + 1)))
                n++;
        g_hash_table_add(sim->vfio_cdev_minors, GINT_TO_POINTER(n + 1));
        dev->vfio_minor = n;
        name = g_strdup_printf("vfio%d", n);
        devt = g_strdup_printf("%d:%d", SIM_VFIO_CDEV_MAJOR, n);
        text = g_strdup_printf("%s\n", devt);
        uevent = g_strdup_printf("MAJOR=%d\nMINOR=%d\nDEVNAME=vfio/devices/%s\n", SIM_VFIO_CDEV_MAJOR, n,
                                 name);
        d = node_dir(node_dir(dev->dir, "vfio-dev"), name);
        node_text(d, SIM_ATTR_DEV, 0444, text);
        node_text(d, SIM_ATTR_UEVENT, 0644, uevent);
        node_link(d, SIM_ATTR_SUBSYSTEM, node_lookup(sim->root, "/class/vfio-dev"));
        node_link(d, "device", dev->dir);
        node_link(node_lookup(sim->root, "/class/vfio-dev"), name, d);
        node_link(node_lookup(sim->root, "/dev/char"), devt, d);
        uevent_queue(sim, "add", d, "vfio-dev", uevent);
}

static void device_remove_vfio_cdev(Sim *sim, SimDevice *dev) {
        g_autofree char *name = g_strdup_printf("vfio%d", dev->vfio_minor);
        g_autofree char *devt = g_strdup_printf("%d:%d", SIM_VFIO_CDEV_MAJOR, dev->vfio_minor);
        SimNode *d;

        if (dev->vfio_minor < 0)
                return;
        d = node_child(node_child(dev->dir, "vfio-dev"), name);
        if (d)
                uevent_queue(sim, "remove", d, "vfio-dev", node_child(d, SIM_ATTR_UEVENT)->text);
        node_remove_child(node_lookup(sim->root, "/class/vfio-dev"), name);
        node_remove_child(node_lookup(sim->root, "/dev/char"), devt);
        /* The "vfio-dev" glue directory goes with its last child. */
        node_remove_child(dev->dir, "vfio-dev");
        g_hash_table_remove(sim->vfio_cdev_minors, GINT_TO_POINTER(dev->vfio_minor + 1));
        dev->vfio_minor = -1;
}

static void device_link_driver(Sim *sim, SimDevice *dev) {
        node_link(dev->dir, SIM_ATTR_DRIVER, dev->driver->dir);
        node_link(dev->driver->dir, dev->address, dev->dir);
        if (sim->vfio_device_cdev && g_str_equal(dev->driver->name, SIM_DRIVER_VFIO_PCI))
                device_add_vfio_cdev(sim, dev);
}

static void device_bind(Sim *sim, SimDevice *dev, SimDriver *drv) {
        dev->driver = drv;
        dev->enabled = true;
        device_link_driver(sim, dev);
        device_uevent(sim, dev, "bind");
}

static void device_unbind(Sim *sim, SimDevice *dev) {
        if (!dev->driver)
                return;
        device_remove_vfio_cdev(sim, dev);
        node_remove_child(dev->dir, SIM_ATTR_DRIVER);
        node_remove_child(dev->driver->dir, dev->address);
        dev->driver = NULL;
        dev->enabled = false;
        device_uevent(sim, dev, "unbind");
}

static char *block_uevent(const SimBlock *b) {
        unsigned maj = 0, min = 0;

        sscanf(b->dev, "%u:%u", &maj, &min);
        if (b->partn)
                return g_strdup_printf("MAJOR=%u\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=partition\nPARTN=%d\n", maj,
                                       min, b->name, b->partn);
        return g_strdup_printf("MAJOR=%u\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=disk\n", maj, min, b->name);
}

static SimNode *holder_dir(Sim *sim, const char *name) {
        SimNode *vb = node_dir_path(sim->root, "devices/virtual/block");
        SimNode *h = node_child(vb, name);
        unsigned n = 0;
        g_autofree char *dev = NULL;
        g_autofree char *uevent = NULL;

        if (h)
                return h;
        h = node_dir(vb, name);
        sscanf(name + strcspn(name, "0123456789"), "%u", &n);
        dev = g_strdup_printf("%u:%u", g_str_has_prefix(name, "md") ? 9 : 254, n);
        uevent = g_strdup_printf("MAJOR=%s\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=disk\n",
                                 g_str_has_prefix(name, "md") ? "9" : "254", n, name);
        node_text(h, SIM_ATTR_DEV, 0444, dev);
        node_text(h, SIM_ATTR_UEVENT, 0644, uevent);
        node_dir(h, SIM_ATTR_HOLDERS);
        node_dir(h, "slaves");
        node_link(h, SIM_ATTR_SUBSYSTEM, node_lookup(sim->root, "/class/block"));
        node_link(node_lookup(sim->root, "/class/block"), name, h);
        return h;
}

static void block_build(Sim *sim, SimNode *parent, SimBlock *b) {
        SimNode *d = b->dir = node_dir(parent, b->name);
        g_autofree char *uevent = block_uevent(b);
        g_autofree char *dev = g_strdup_printf("%s\n", b->dev);
        SimNode *holders;
        SimNode *devblock = node_lookup(sim->root, "/dev/block");

        node_text(d, SIM_ATTR_DEV, 0444, dev);
        node_text(d, SIM_ATTR_UEVENT, 0644, uevent);
        node_text(d, "size", 0444, "2097152\n");
        node_text(d, "ro", 0444, "0\n");
        if (b->partn) {
                g_autofree char *pn = g_strdup_printf("%d\n", b->partn);

                node_text(d, "partition", 0444, pn);
        } else {
                node_text(d, "removable", 0444, "0\n");
                node_dir(d, "slaves");
        }
        holders = node_dir(d, SIM_ATTR_HOLDERS);
        for (char **h = b->holders; h && *h; h++) {
                SimNode *hd = holder_dir(sim, *h);

                node_link(holders, *h, hd);
                if (!node_child(node_child(hd, "slaves"), b->name))
                        node_link(node_child(hd, "slaves"), b->name, d);
        }
        node_link(d, SIM_ATTR_SUBSYSTEM, node_lookup(sim->root, "/class/block"));
        node_link(node_lookup(sim->root, "/class/block"), b->name, d);
        if (!node_child(devblock, b->dev))
                node_link(devblock, b->dev, d);
        for (guint i = 0; i < b->partitions->len; i++)
                block_build(sim, d, b->partitions->pdata[i]);
}

static void block_unlink(Sim *sim, SimBlock *b) {
        SimNode *devblock = node_lookup(sim->root, "/dev/block");
        SimNode *l = node_child(devblock, b->dev);

        node_remove_child(node_lookup(sim->root, "/class/block"), b->name);
        if (l)
                node_remove(l);
        for (guint i = 0; i < b->partitions->len; i++)
                block_unlink(sim, b->partitions->pdata[i]);
}

static char *net_env(const SimDevice *dev, guint i) {
        return g_strdup_printf("INTERFACE=%s\nIFINDEX=%d\n", dev->nets[i], dev->ifindex[i]);
}

static void device_build(Sim *sim, SimDevice *dev) {
        SimNode *parent_dir;
        SimNode *d;
        char rootname[32];

        if (dev->dir)
                return;
        if (dev->parent) {
                device_build(sim, dev->parent);
                parent_dir = dev->parent->dir;
        } else {
                SimNode *devices = node_child(sim->root, "devices");

                /* a domain a VMD hosts: its root buses sit below the VMD */
                for (guint i = 0; i < sim->devices->len; i++) {
                        SimDevice *host = sim->devices->pdata[i];
                        if (host != dev && host->child_domain == (long long) dev->domain) {
                                device_build(sim, host);
                                devices = host->dir;
                                break;
                        }
                }
                snprintf(rootname, sizeof(rootname), "pci%04x:%02x", dev->domain, dev->bus);
                parent_dir = node_child(devices, rootname);
                if (!parent_dir) {
                        parent_dir = node_dir(devices, rootname);
                        node_text(parent_dir, SIM_ATTR_UEVENT, 0644, "");
                }
        }
        d = dev->dir = node_dir(parent_dir, dev->address);
        node_attr(d, SIM_ATTR_VENDOR, 0444, ATTR_VENDOR, dev, NULL);
        node_attr(d, SIM_ATTR_DEVICE, 0444, ATTR_DEVICE, dev, NULL);
        node_attr(d, SIM_ATTR_CLASS, 0444, ATTR_CLASS, dev, NULL);
        node_attr(d, SIM_ATTR_SUBSYSTEM_VENDOR, 0444, ATTR_SUBSYSTEM_VENDOR, dev, NULL);
        node_attr(d, SIM_ATTR_SUBSYSTEM_DEVICE, 0444, ATTR_SUBSYSTEM_DEVICE, dev, NULL);
        node_attr(d, SIM_ATTR_REVISION, 0444, ATTR_REVISION, dev, NULL);
        node_attr(d, SIM_ATTR_CONFIG, 0644, ATTR_CONFIG, dev, NULL);
        node_attr(d, SIM_ATTR_UEVENT, 0644, ATTR_UEVENT, dev, NULL);
        node_attr(d, "modalias", 0444, ATTR_MODALIAS, dev, NULL);
        node_attr(d, "irq", 0444, ATTR_IRQ, dev, NULL);
        node_attr(d, "resource", 0444, ATTR_RESOURCE, dev, NULL);
        node_attr(d, SIM_ATTR_DRIVER_OVERRIDE, 0644, ATTR_DRIVER_OVERRIDE, dev, NULL);
        node_attr(d, SIM_ATTR_ENABLE, 0644, ATTR_ENABLE, dev, NULL);
        node_attr(d, "remove", 0200, ATTR_REMOVE, dev, NULL);
        node_attr(d, "rescan", 0200, ATTR_IGNORED_WRITE, dev, NULL);
        node_text(d, "numa_node", 0644, "-1\n");
        node_text(d, "local_cpulist", 0444, "0-1\n");
        node_text(d, "dma_mask_bits", 0444, "64\n");
        if (dev->boot_vga >= 0)
                node_attr(d, SIM_ATTR_BOOT_VGA, 0444, ATTR_BOOT_VGA, dev, NULL);
        if (dev->reset_method)
                node_attr(d, SIM_ATTR_RESET_METHOD, 0644, ATTR_RESET_METHOD, dev, NULL);
        if (dev->slot_name && dev->bridge &&
            !node_child(node_lookup(sim->root, "/bus/pci/slots"), dev->slot_name)) {
                SimNode *slot = node_dir(node_lookup(sim->root, "/bus/pci/slots"), dev->slot_name);
                g_autofree char *address =
                        g_strdup_printf("%04x:%02x:00\n", dev->domain, dev->secondary_bus);
                node_text(slot, "address", 0444, address);
        }
        node_link(d, SIM_ATTR_SUBSYSTEM, node_lookup(sim->root, "/bus/pci"));
        node_link(node_lookup(sim->root, "/bus/pci/devices"), dev->address, d);
        if (dev->iommu_group >= 0) {
                SimNode *g = group_dir(sim, dev->iommu_group, true);

                node_link(d, SIM_ATTR_IOMMU_GROUP, g);
                node_link(node_child(g, "devices"), dev->address, d);
        }
        if (dev->driver)
                device_link_driver(sim, dev);

        for (guint i = 0; i < dev->blocks->len; i++) {
                SimBlock *b = dev->blocks->pdata[i];
                g_autofree char *sub = NULL;

                if (g_str_has_prefix(b->name, "nvme")) {
                        unsigned ctrl = 0;

                        sscanf(b->name, "nvme%u", &ctrl);
                        sub = g_strdup_printf("nvme/nvme%u", ctrl);
                } else {
                        int h = b->host;

                        /* Numbered once: a re-plugged disk comes back at its old path. */
                        if (h < 0)
                                h = b->host = sim->host_counter++;
                        sub = g_strdup_printf("ata%d/host%d/target%d:0:0/%d:0:0:0/block", h + 1, h, h, h);
                }
                block_build(sim, node_dir_path(d, sub), b);
        }
        for (guint i = 0; dev->nets[i]; i++) {
                SimNode *nd = node_dir(node_dir(d, "net"), dev->nets[i]);
                g_autofree char *uevent = NULL;
                g_autofree char *ifindex = NULL;

                /* A registered net device gets a new index every time. */
                dev->ifindex[i] = sim->next_ifindex++;
                uevent = net_env(dev, i);
                ifindex = g_strdup_printf("%d\n", dev->ifindex[i]);
                node_text(nd, SIM_ATTR_UEVENT, 0644, uevent);
                node_text(nd, "ifindex", 0444, ifindex);
                node_text(nd, "operstate", 0444, "unknown\n");
                for (char **u = g_hash_table_lookup(dev->net_uppers, dev->nets[i]); u && *u; u++) {
                        g_autofree char *vpath = g_strdup_printf("devices/virtual/net/%s", *u);
                        g_autofree char *link = g_strdup_printf("upper_%s", *u);

                        node_link(nd, link, node_dir_path(sim->root, vpath));
                }
                node_link(nd, SIM_ATTR_SUBSYSTEM, node_lookup(sim->root, "/class/net"));
                node_link(node_lookup(sim->root, "/class/net"), dev->nets[i], nd);
        }
        for (guint i = 0; i < dev->nodes->len; i++)
                child_node_build(sim, dev, dev->nodes->pdata[i]);
}

static void child_node_build(Sim *sim, SimDevice *dev, SimChildNode *c) {
        SimNode *d = node_dir_path(dev->dir, c->path);

        for (char **a = c->attrs; a && a[0] && a[1]; a += 2) {
                g_autofree char *dir = g_path_get_dirname(a[0]);
                g_autofree char *base = g_path_get_basename(a[0]);
                SimNode *at = strcmp(dir, ".") ? node_dir_path(d, dir) : d;

                node_text(at, base, 0444, a[1]);
        }
        if (c->subsystem) {
                g_autofree char *cls = g_strdup_printf("class/%s", c->subsystem);
                SimNode *cd = node_dir_path(sim->root, cls);
                g_autofree char *base = g_path_get_basename(c->path);

                node_link(d, SIM_ATTR_SUBSYSTEM, cd);
                if (!node_child(cd, base))
                        node_link(cd, base, d);
        }
        if (c->dev) {
                unsigned maj = 0, min = 0;
                g_autofree char *devtext = g_strdup_printf("%s\n", c->dev);
                g_autofree char *uevent = NULL;
                SimNode *devchar = node_lookup(sim->root, "/dev/char");

                sscanf(c->dev, "%u:%u", &maj, &min);
                uevent = g_strdup_printf("MAJOR=%u\nMINOR=%u\nDEVNAME=%s\n", maj, min, c->devname);
                node_text(d, SIM_ATTR_DEV, 0444, devtext);
                node_text(d, SIM_ATTR_UEVENT, 0644, uevent);
                if (!node_child(devchar, c->dev))
                        node_link(devchar, c->dev, d);
        }
}

static void child_node_unlink(Sim *sim, SimChildNode *c) {
        if (c->subsystem) {
                g_autofree char *cls = g_strdup_printf("/class/%s", c->subsystem);
                g_autofree char *base = g_path_get_basename(c->path);

                node_remove_child(node_lookup(sim->root, cls), base);
        }
        if (c->dev)
                node_remove_child(node_lookup(sim->root, "/dev/char"), c->dev);
}

/* SR-IOV links once both ends exist: a VF's physfn and the PF's virtfnN,
 * a PF's sriov_* attributes. */
static void device_link_sriov(Sim *sim, SimDevice *dev) {
        if (dev->physfn && !dev->physfn->removed) {
                g_autofree char *name = g_strdup_printf("virtfn%d", dev->vf_index);

                node_link(dev->dir, SIM_ATTR_PHYSFN, dev->physfn->dir);
                if (!node_child(dev->physfn->dir, name))
                        node_link(dev->physfn->dir, name, dev->dir);
        }
        if (dev->vfs->len && !node_child(dev->dir, "sriov_totalvfs")) {
                g_autofree char *total = g_strdup_printf("%u\n", dev->vfs->len);

                node_text(dev->dir, "sriov_totalvfs", 0444, total);
                node_attr(dev->dir, "sriov_numvfs", 0644, ATTR_SRIOV_NUMVFS, dev, NULL);
        }
}

static SimBlock *block_named(GPtrArray *blocks, const char *name) {
        for (guint i = 0; blocks && i < blocks->len; i++) {
                SimBlock *b = blocks->pdata[i];
                SimBlock *p = strcmp(b->name, name) == 0 ? b : block_named(b->partitions, name);

                if (p)
                        return p;
        }
        return NULL;
}

/* fs/btrfs/UUID/{label,devices/NAME}: the topology's mounted btrfs */
static void btrfs_build(Sim *sim) {
        for (guint i = 0; sim->btrfs && sim->btrfs[i]; i += 3) {
                g_autofree char *path = g_strdup_printf("fs/btrfs/%s", sim->btrfs[i]);
                g_autofree char *label = g_strdup_printf("%s\n", sim->btrfs[i + 1]);
                g_auto(GStrv) members = g_strsplit(sim->btrfs[i + 2], " ", -1);
                SimNode *fs = node_dir_path(sim->root, path);
                SimNode *devs = node_dir(fs, "devices");

                node_text(fs, "label", 0444, label);
                for (char **m = members; *m; m++)
                        for (guint j = 0; j < sim->devices->len; j++) {
                                SimBlock *b =
                                        block_named(((SimDevice *) sim->devices->pdata[j])->blocks, *m);

                                if (b && b->dir && !node_child(devs, *m))
                                        node_link(devs, *m, b->dir);
                        }
        }
}

static void tree_build(Sim *sim) {
        SimNode *pci;

        sim->root = node_new_root();
        node_dir(sim->root, "devices");
        pci = node_dir_path(sim->root, "bus/pci");
        node_dir(pci, "devices");
        node_dir(pci, "drivers");
        node_dir(pci, "slots");
        node_attr(pci, "drivers_probe", 0200, ATTR_DRIVERS_PROBE, NULL, NULL);
        node_text(pci, "drivers_autoprobe", 0644, "1\n");
        node_attr(pci, "rescan", 0200, ATTR_IGNORED_WRITE, NULL, NULL);
        node_attr(pci, "uevent", 0200, ATTR_IGNORED_WRITE, NULL, NULL);
        node_dir_path(sim->root, "kernel/iommu_groups");
        node_dir_path(sim->root, "class/block");
        node_dir_path(sim->root, "class/net");
        node_dir_path(sim->root, "dev/block");
        node_dir_path(sim->root, "dev/char");
        for (guint i = 0; sim->vtconsoles && sim->vtconsoles[2 * i]; i++) {
                g_autofree char *path = g_strdup_printf("devices/virtual/vtconsole/vtcon%u", i);
                g_autofree char *name = g_strdup_printf("%s\n", sim->vtconsoles[2 * i]);
                g_autofree char *bind = g_strdup_printf("%s\n", sim->vtconsoles[2 * i + 1]);
                SimNode *vt = node_dir_path(sim->root, path);

                node_text(vt, "name", 0444, name);
                node_text(vt, "bind", 0644, bind);
                node_link(vt, SIM_ATTR_SUBSYSTEM, node_dir_path(sim->root, "class/vtconsole"));
                node_link(node_dir_path(sim->root, "class/vtconsole"),
                          path + strlen("devices/virtual/vtconsole/"), vt);
        }
        if (sim->vfio_device_cdev)
                node_dir_path(sim->root, "class/vfio-dev");
        node_dir(sim->root, "module");
        node_dir(sim->root, "firmware");
        node_dir_path(sim->root, "fs/cgroup");

        for (guint i = 0; i < sim->drivers->len; i++) {
                SimDriver *drv = sim->drivers->pdata[i];

                if (drv->loaded)
                        driver_build(sim, drv);
        }
        for (guint i = 0; i < sim->devices->len; i++)
                device_build(sim, sim->devices->pdata[i]);
        for (guint i = 0; i < sim->devices->len; i++)
                device_link_sriov(sim, sim->devices->pdata[i]);
        btrfs_build(sim);
}

static int driver_order(gconstpointer a, gconstpointer b) {
        const SimDriver *da = *(SimDriver **) a, *db = *(SimDriver **) b;

        /* Host drivers are registered before vfio-pci and pci-stub. */
        return (int) driver_is_vfio_or_stub(da->name) - (int) driver_is_vfio_or_stub(db->name);
}

Sim *sim_load(const char *topology, GHashTable *overrides, GError **error) {
        g_autoptr(JsonParser) parser = json_parser_new();
        Loader l = {.error = error};
        JsonObject *top;
        JsonNode *n;
        JsonArray *devs;
        Sim *sim;
        int vfio_loaded;

        if (!json_parser_load_from_file(parser, topology, error))
                return NULL;
        if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "topology is not an object");
                return NULL;
        }
        top = json_node_get_object(json_parser_get_root(parser));

        sim = g_new0(Sim, 1);
        pthread_mutex_init(&sim->lock, NULL);
        sim->devices = g_ptr_array_new();
        sim->by_address = g_hash_table_new(g_str_hash, g_str_equal);
        sim->drivers = g_ptr_array_new();
        sim->by_driver = g_hash_table_new(g_str_hash, g_str_equal);
        sim->vfio_cdev_minors = g_hash_table_new(g_direct_hash, g_direct_equal);
        sim->uevent_fd = -1;
        sim->next_ifindex = 2; /* 1 is lo */
        l.sim = sim;
        l.vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        n = json_object_get_member(top, "placeholders");
        if (n && JSON_NODE_HOLDS_OBJECT(n)) {
                JsonObject *p = json_node_get_object(n);
                g_autoptr(GList) names = json_object_get_members(p);

                for (GList *it = names; it; it = it->next)
                        g_hash_table_insert(l.vars, g_strdup(it->data),
                                            g_strdup(json_object_get_string_member(p, it->data)));
        }
        if (overrides) {
                GHashTableIter it;
                gpointer k, v;

                g_hash_table_iter_init(&it, overrides);
                while (g_hash_table_iter_next(&it, &k, &v))
                        g_hash_table_insert(l.vars, g_strdup(k), g_strdup(v));
        }

        if (!load_drivers(&l, top, "drivers") || !load_drivers(&l, top, "modules"))
                goto fail;
        vfio_loaded = get_int_or(&l, top, "vfio_pci_loaded", 1);
        sim->vfio_device_cdev = get_int_or(&l, top, "vfio_device_cdev", 0);
        n = json_object_get_member(top, "btrfs");
        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);
                GPtrArray *v = g_ptr_array_new();

                /* [{"uuid", "label", "devices": [block names]}]: uuid, label, "a b" triples */
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonObject *bo = json_array_get_object_element(a, i);
                        char *uuid = bo ? get_str(&l, bo, "uuid") : NULL;
                        g_auto(GStrv) members = bo ? get_strv(&l, bo, "devices") : NULL;

                        if (!uuid) {
                                g_ptr_array_add(v, NULL);
                                g_strfreev((char **) g_ptr_array_free(v, FALSE));
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                            "\"btrfs\" is a list of {\"uuid\", \"label\", \"devices\"}");
                                goto fail;
                        }
                        g_ptr_array_add(v, uuid);
                        g_ptr_array_add(v, bo && json_object_has_member(bo, "label")
                                                   ? get_str(&l, bo, "label")
                                                   : g_strdup(""));
                        g_ptr_array_add(v, g_strjoinv(" ", members));
                }
                g_ptr_array_add(v, NULL);
                sim->btrfs = (char **) g_ptr_array_free(v, FALSE);
        }
        n = json_object_get_member(top, "vtconsoles");
        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);
                GPtrArray *v = g_ptr_array_new();

                /* [{"name": "(M) frame buffer device", "bind": 1}]: /sys/class/vtconsole/vtconN */
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonObject *vo = json_array_get_object_element(a, i);

                        g_ptr_array_add(v, vo ? get_str(&l, vo, "name") : NULL);
                        g_ptr_array_add(v, g_strdup_printf("%lld", vo ? get_int_or(&l, vo, "bind", 0) : 0));
                        if (!v->pdata[v->len - 2]) {
                                g_ptr_array_add(v, NULL);
                                g_strfreev((char **) g_ptr_array_free(v, FALSE));
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                            "\"vtconsoles\" is a list of {\"name\", \"bind\"}");
                                goto fail;
                        }
                }
                g_ptr_array_add(v, NULL);
                sim->vtconsoles = (char **) g_ptr_array_free(v, FALSE);
        }
        driver_get(sim, SIM_DRIVER_VFIO_PCI)->loaded = vfio_loaded;
        driver_get(sim, SIM_DRIVER_PCI_STUB);

        n = json_object_get_member(top, "devices");
        if (!n || !JSON_NODE_HOLDS_ARRAY(n)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "topology has no \"devices\" list");
                goto fail;
        }
        devs = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(devs); i++) {
                SimDevice *dev = load_device(&l, json_array_get_object_element(devs, i));

                if (!dev)
                        goto fail;
                g_ptr_array_add(sim->devices, dev);
                if (g_hash_table_contains(sim->by_address, dev->address)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "device %s listed twice",
                                    dev->address);
                        goto fail;
                }
                if (dev->driver && !dev->driver->loaded) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                    "device %s is bound to %s, which is not loaded", dev->address,
                                    dev->driver->name);
                        goto fail;
                }
                g_hash_table_insert(sim->by_address, dev->address, dev);
        }
        g_ptr_array_sort(sim->drivers, driver_order);

        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *dev = sim->devices->pdata[i];

                dev->parent = find_parent(sim, dev);
                if (dev->physfn_address) {
                        dev->physfn = g_hash_table_lookup(sim->by_address, dev->physfn_address);
                        if (!dev->physfn) {
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                            "device %s: physfn %s is not in the topology", dev->address,
                                            dev->physfn_address);
                                goto fail;
                        }
                        dev->vf_index = (int) dev->physfn->vfs->len;
                        g_ptr_array_add(dev->physfn->vfs, dev);
                }
        }
        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *dev = sim->devices->pdata[i];

                resolve_port_types(sim, dev);
                if (dev->multifunction != -1)
                        continue;
                /* Default: another function shares the slot (VFs aside). */
                dev->multifunction = 0;
                for (guint j = 0; j < sim->devices->len && !dev->physfn; j++) {
                        SimDevice *o = sim->devices->pdata[j];

                        if (o != dev && !o->physfn_address && o->domain == dev->domain &&
                            o->bus == dev->bus && o->slot == dev->slot)
                                dev->multifunction = 1;
                }
        }
        tree_build(sim);
        g_hash_table_unref(l.vars);
        return sim;
fail:
        g_hash_table_unref(l.vars);
        sim_free(sim);
        return NULL;
}

/* ---- reads -------------------------------------------------------- */

static GByteArray *config_space(const SimDevice *dev) {
        size_t size = dev->pcie ? 4096 : 256;
        GByteArray *b = g_byte_array_sized_new(size);
        uint8_t *c;
        uint8_t cap = 0x40;

        g_byte_array_set_size(b, size);
        c = b->data;
        memset(c, 0, size);
#define W16(off, v)                               \
        do {                                      \
                c[(off)] = (v) &0xff;             \
                c[(off) + 1] = ((v) >> 8) & 0xff; \
        } while (0)
        W16(0x00, dev->vendor);
        W16(0x02, dev->device);
        W16(0x04, dev->driver ? 0x0006 : 0x0000);
        c[0x08] = dev->revision;
        c[0x09] = dev->class & 0xff;
        c[0x0a] = (dev->class >> 8) & 0xff;
        c[0x0b] = (dev->class >> 16) & 0xff;
        c[0x0e] = (dev->bridge ? 0x01 : 0x00) | (dev->multifunction ? 0x80 : 0x00);
        c[0x3c] = dev->irq & 0xff;
        c[0x3d] = 0x01;
        if (dev->bridge) {
                c[0x18] = dev->bus;
                c[0x19] = dev->secondary_bus;
                c[0x1a] = dev->subordinate_bus;
        } else {
                W16(0x2c, dev->subsystem_vendor);
                W16(0x2e, dev->subsystem_device);
        }
        if (dev->bridge || dev->pcie) {
                W16(0x06, 0x0010); /* capability list */
                c[0x34] = cap;
        }
        if (dev->bridge) {
                /* Bridges carry their subsystem IDs in a capability. */
                c[cap] = 0x0d;
                c[cap + 1] = dev->pcie || dev->pm ? cap + 0x10 : 0;
                W16(cap + 4, dev->subsystem_vendor);
                W16(cap + 6, dev->subsystem_device);
                cap += 0x10;
        }
        if (dev->pm && !dev->bridge && !dev->pcie) {
                /* conventional PCI: the capability list starts here */
                W16(0x06, 0x0010);
                c[0x34] = cap;
        }
        if (dev->pm) {
                /* PM capability; PMCSR bit 3: No_Soft_Reset */
                c[cap] = 0x01;
                c[cap + 1] = dev->pcie ? cap + 0x10 : 0;
                W16(cap + 2, 0x0003);
                W16(cap + 4, dev->pm == 2 ? 0x0008 : 0x0000);
                cap += 0x10;
        }
        if (dev->pcie) {
                uint16_t flags = 0x0002 | (dev->port_type << 4);

                if (dev->port_type == PORT_ROOT_PORT || dev->port_type == PORT_DOWNSTREAM)
                        flags |= 0x0100; /* slot implemented */
                c[cap] = 0x10;
                c[cap + 1] = 0;
                W16(cap + 2, flags);
                if (dev->flr) /* Device Capabilities bit 28 */
                        c[cap + 7] |= 0x10;
        }
        if (dev->pcie && dev->acs_cap >= 0) {
                /* ACS extended capability at 0x100, the only one: id 0x000d,
                 * version 1, next 0 */
                W16(0x100, 0x000d);
                W16(0x102, 0x0001);
                W16(0x104, dev->acs_cap);
                if (dev->acs_spt) {
                        W16(0x108, dev->acs_ctrl);
                } else {
                        W16(0x106, dev->acs_ctrl);
                }
        }
#undef W16
        return b;
}

static char *modalias(const SimDevice *dev) {
        return g_strdup_printf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", dev->vendor, dev->device,
                               dev->subsystem_vendor, dev->subsystem_device, (dev->class >> 16) & 0xff,
                               (dev->class >> 8) & 0xff, dev->class & 0xff);
}

/* The variables pci_uevent() adds (the device's uevent file). */
static char *device_env(const SimDevice *d) {
        g_autofree char *alias = modalias(d);
        g_autofree char *drv =
                d->driver ? g_strdup_printf(SIM_UEVENT_DRIVER "=%s\n", d->driver->name) : g_strdup("");

        return g_strdup_printf("%s" SIM_UEVENT_PCI_CLASS "=%X\n" SIM_UEVENT_PCI_ID
                               "=%04X:%04X\n" SIM_UEVENT_PCI_SUBSYS_ID
                               "=%04X:%04X\n" SIM_UEVENT_PCI_SLOT_NAME "=%s\n"
                               "MODALIAS=%s\n",
                               drv, d->class, d->vendor, d->device, d->subsystem_vendor, d->subsystem_device,
                               d->address, alias);
}

static unsigned vfs_present(const SimDevice *dev) {
        unsigned n = 0;

        for (guint i = 0; i < dev->vfs->len; i++)
                n += !((SimDevice *) dev->vfs->pdata[i])->removed;
        return n;
}

static char *resource(const SimDevice *dev) {
        GString *s = g_string_new(NULL);
        int n = dev->bridge ? 17 : 13;

        for (int i = 0; i < n; i++)
                g_string_append(s, "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
        return g_string_free(s, FALSE);
}

GByteArray *sim_read(Sim *sim, SimNode *node) {
        SimDevice *d = node->dev;
        g_autofree char *text = NULL;
        GByteArray *b;

        switch (node->kind) {
        case ATTR_STATIC: text = g_strdup(node->text); break;
        case ATTR_VENDOR: text = g_strdup_printf("0x%04x\n", d->vendor); break;
        case ATTR_DEVICE: text = g_strdup_printf("0x%04x\n", d->device); break;
        case ATTR_CLASS: text = g_strdup_printf("0x%06x\n", d->class); break;
        case ATTR_SUBSYSTEM_VENDOR: text = g_strdup_printf("0x%04x\n", d->subsystem_vendor); break;
        case ATTR_SUBSYSTEM_DEVICE: text = g_strdup_printf("0x%04x\n", d->subsystem_device); break;
        case ATTR_REVISION: text = g_strdup_printf("0x%02x\n", d->revision); break;
        case ATTR_CONFIG: return config_space(d);
        case ATTR_UEVENT: text = device_env(d); break;
        case ATTR_MODALIAS: {
                g_autofree char *alias = modalias(d);

                text = g_strdup_printf("%s\n", alias);
                break;
        }
        case ATTR_IRQ: text = g_strdup_printf("%d\n", d->irq); break;
        case ATTR_RESOURCE: text = resource(d); break;
        case ATTR_DRIVER_OVERRIDE:
                text = g_strdup_printf("%s\n", d->override ? d->override : SIM_OVERRIDE_UNSET);
                break;
        case ATTR_ENABLE: text = g_strdup_printf("%d\n", d->enabled ? 1 : 0); break;
        case ATTR_BOOT_VGA: text = g_strdup_printf("%d\n", d->boot_vga); break;
        case ATTR_RESET_METHOD: text = g_strdup_printf("%s\n", d->reset_method); break;
        case ATTR_SRIOV_NUMVFS: text = g_strdup_printf("%u\n", vfs_present(d)); break;
        default: text = g_strdup(""); break;
        }
        b = g_byte_array_new();
        g_byte_array_append(b, (const guint8 *) text, strlen(text));
        return b;
}

/* ---- kernel rules ------------------------------------------------- */

/* pci_match_device(): driver_override first, then dynamic ids, then the
 * static table; a matching override alone is a match. */
static bool driver_matches(const SimDriver *drv, const SimDevice *dev) {
        if (!drv->dir)
                return false;
        if (dev->override && !g_str_equal(dev->override, drv->name))
                return false;
        if (ids_contain(drv->dynids, dev->vendor, dev->device) ||
            ids_contain(drv->ids, dev->vendor, dev->device))
                return true;
        return dev->override != NULL;
}

/* The driver's probe(): vfio-pci refuses anything but a normal header. */
static int driver_probe(Sim *sim, SimDriver *drv, SimDevice *dev) {
        if (g_str_equal(drv->name, SIM_DRIVER_VFIO_PCI) && dev->bridge)
                return EINVAL;
        device_bind(sim, dev, drv);
        return 0;
}

/* device_attach(): first matching driver whose probe succeeds. */
static void device_attach(Sim *sim, SimDevice *dev) {
        if (dev->driver || dev->removed)
                return;
        for (guint i = 0; i < sim->drivers->len; i++) {
                SimDriver *drv = sim->drivers->pdata[i];

                if (driver_matches(drv, dev) && driver_probe(sim, drv, dev) == 0)
                        return;
        }
}

/* driver_attach(): the driver tries every unbound device. */
static void driver_attach(Sim *sim, SimDriver *drv) {
        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *dev = sim->devices->pdata[i];

                if (!dev->driver && !dev->removed && driver_matches(drv, dev))
                        driver_probe(sim, drv, dev);
        }
}

/* bus_find_device_by_name() with sysfs_streq(): one trailing newline ok. */
static SimDevice *find_device(Sim *sim, const char *data, size_t size) {
        g_autofree char *name = g_strndup(data, size);
        size_t len = strlen(name);
        SimDevice *dev;

        if (len && name[len - 1] == '\n')
                name[len - 1] = '\0';
        dev = g_hash_table_lookup(sim->by_address, name);
        return dev && !dev->removed ? dev : NULL;
}

static bool parse_ulong(const char *data, size_t size, unsigned long *out) {
        g_autofree char *s = g_strndup(data, size);
        char *end;

        errno = 0;
        *out = strtoul(s, &end, 0);
        if (end == s || errno)
                return false;
        if (*end == '\n')
                end++;
        return *end == '\0';
}

int sim_write(Sim *sim, SimNode *node, const char *data, size_t size) {
        SimDevice *dev = node->dev;
        SimDriver *drv = node->drv;
        unsigned long val;

        if (node->dead || (dev && dev->removed))
                return ENODEV;
        switch (node->kind) {
        case ATTR_DRIVER_OVERRIDE: {
                g_autofree char *s = NULL;
                char *nl;

                if (size >= 4096 - 1)
                        return EINVAL;
                s = g_strndup(data, size);
                nl = strchr(s, '\n');
                if (nl)
                        *nl = '\0';
                g_clear_pointer(&dev->override, g_free);
                if (*s)
                        dev->override = g_steal_pointer(&s);
                return 0;
        }
        case ATTR_DRV_BIND:
                dev = find_device(sim, data, size);
                if (!dev || !driver_matches(drv, dev))
                        return ENODEV;
                if (dev->driver)
                        return EBUSY;
                return driver_probe(sim, drv, dev);
        case ATTR_DRV_UNBIND:
                dev = find_device(sim, data, size);
                if (!dev || dev->driver != drv)
                        return ENODEV;
                device_unbind(sim, dev);
                return 0;
        case ATTR_DRV_NEW_ID:
        case ATTR_DRV_REMOVE_ID: {
                g_autofree char *s = g_strndup(data, size);
                unsigned v, d, sv, sd, cl, clm;
                unsigned long drvdata;
                int fields = sscanf(s, "%x %x %x %x %x %x %lx", &v, &d, &sv, &sd, &cl, &clm, &drvdata);

                if (fields < 2)
                        return EINVAL;
                if (node->kind == ATTR_DRV_REMOVE_ID) {
                        for (guint i = 0; i < drv->dynids->len; i++) {
                                SimId *id = &g_array_index(drv->dynids, SimId, i);

                                if (id->vendor == v && id->device == d) {
                                        g_array_remove_index(drv->dynids, i);
                                        return 0;
                                }
                        }
                        return ENODEV;
                }
                if (fields != 7 && (ids_contain(drv->dynids, v, d) || ids_contain(drv->ids, v, d)))
                        return EEXIST;
                ids_add(drv->dynids, v, d);
                driver_attach(sim, drv);
                return 0;
        }
        case ATTR_DRIVERS_PROBE:
                dev = find_device(sim, data, size);
                if (!dev)
                        return ENODEV;
                device_attach(sim, dev);
                return 0;
        case ATTR_REMOVE:
                if (!parse_ulong(data, size, &val))
                        return EINVAL;
                if (val)
                        sim_remove_device(sim, dev->address);
                return 0;
        case ATTR_ENABLE:
        case ATTR_SRIOV_NUMVFS: return parse_ulong(data, size, &val) ? 0 : EINVAL;
        case ATTR_UEVENT: {
                /* kobject_synth_uevent(): "ACTION [UUID [KEY=VALUE...]]". */
                g_autofree char *s = g_strndup(data, size);
                g_auto(GStrv) words = g_strsplit_set(g_strstrip(s), " \t\n", -1);
                g_autofree char *env = NULL;
                g_autofree char *synth = NULL;

                if (!words[0] || !uevent_action_valid(words[0]))
                        return EINVAL;
                env = device_env(dev);
                synth = g_strdup_printf("%sSYNTH_UUID=%s\n", env, words[1] && *words[1] ? words[1] : "0");
                uevent_queue(sim, words[0], dev->dir, "pci", synth);
                return 0;
        }
        case ATTR_STATIC:
        case ATTR_IGNORED_WRITE:
        case ATTR_CONFIG: return 0;
        default: return EACCES;
        }
}

/* Uevents of a device's block and net children (the driver unregisters
 * them in its remove(): partitions before their disk). */
static void block_uevents(Sim *sim, SimBlock *b, const char *action) {
        g_autofree char *env = NULL;

        if (sim->uevent_fd < 0)
                return;
        if (g_str_equal(action, "add")) {
                env = block_uevent(b);
                uevent_queue(sim, action, b->dir, "block", env);
        }
        for (guint i = 0; i < b->partitions->len; i++)
                block_uevents(sim, b->partitions->pdata[i], action);
        if (!g_str_equal(action, "add")) {
                env = block_uevent(b);
                uevent_queue(sim, action, b->dir, "block", env);
        }
}

static void children_uevents(Sim *sim, SimDevice *dev, const char *action) {
        if (sim->uevent_fd < 0)
                return;
        for (guint i = 0; i < dev->blocks->len; i++)
                block_uevents(sim, dev->blocks->pdata[i], action);
        for (guint i = 0; dev->nets[i]; i++) {
                g_autofree char *env = net_env(dev, i);

                uevent_queue(sim, action, node_child(node_child(dev->dir, "net"), dev->nets[i]), "net", env);
        }
}

static void device_del(Sim *sim, SimDevice *dev);

/* pci_stop_bus_device(): what is behind a bridge first (last device first),
 * then the device's own driver goes.  A PF's driver disables SR-IOV in its
 * remove(): its VFs go entirely (last first), then its block and net
 * children, then "unbind". */
static void device_stop(Sim *sim, SimDevice *dev) {
        for (guint i = sim->devices->len; i > 0; i--) {
                SimDevice *c = sim->devices->pdata[i - 1];

                if (c->parent == dev && !c->removed)
                        device_stop(sim, c);
        }
        for (guint i = dev->vfs->len; i > 0; i--) {
                SimDevice *vf = dev->vfs->pdata[i - 1];

                if (!vf->removed) {
                        device_stop(sim, vf);
                        device_del(sim, vf);
                }
        }
        children_uevents(sim, dev, "remove");
        device_unbind(sim, dev);
}

/* pci_remove_bus_device(): children first, then the device itself goes
 * with every link to it and its "remove" uevent. */
static void device_del(Sim *sim, SimDevice *dev) {
        for (guint i = sim->devices->len; i > 0; i--) {
                SimDevice *c = sim->devices->pdata[i - 1];

                if (c->parent == dev && !c->removed)
                        device_del(sim, c);
        }
        node_remove_child(node_lookup(sim->root, "/bus/pci/devices"), dev->address);
        /* its hotplug slot goes with the port (pci_destroy_slot) */
        if (dev->slot_name && dev->bridge)
                node_remove_child(node_lookup(sim->root, "/bus/pci/slots"), dev->slot_name);
        if (dev->iommu_group >= 0) {
                SimNode *g = group_dir(sim, dev->iommu_group, false);

                node_remove_child(node_child(g, "devices"), dev->address);
                if (g && g_hash_table_size(node_child(g, "devices")->children) == 0)
                        node_remove(g);
        }
        for (guint i = 0; i < dev->blocks->len; i++)
                block_unlink(sim, dev->blocks->pdata[i]);
        for (char **n = dev->nets; n && *n; n++)
                node_remove_child(node_lookup(sim->root, "/class/net"), *n);
        for (guint i = 0; i < dev->nodes->len; i++)
                child_node_unlink(sim, dev->nodes->pdata[i]);
        if (dev->physfn && !dev->physfn->removed) {
                g_autofree char *name = g_strdup_printf("virtfn%d", dev->vf_index);

                node_remove_child(dev->physfn->dir, name);
        }
        device_uevent(sim, dev, "remove");
        node_remove(dev->dir);
        dev->dir = NULL;
        dev->removed = true;
        g_hash_table_remove(sim->by_address, dev->address);
}

int sim_remove_device(Sim *sim, const char *address) {
        SimDevice *dev = g_hash_table_lookup(sim->by_address, address);

        if (!dev || dev->removed)
                return ENODEV;
        device_stop(sim, dev);
        device_del(sim, dev);
        return 0;
}

static SimDevice *removed_device(Sim *sim, const char *address) {
        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *dev = sim->devices->pdata[i];

                if (dev->removed && g_str_equal(dev->address, address))
                        return dev;
        }
        return NULL;
}

/* pci_device_add() of a device found again: a fresh struct pci_dev (the
 * topology's override, no dynamic state), the "add" uevent, then the same
 * for what a rescan finds behind it (devices behind a bridge; VFs, which
 * the kernel would create when the PF's driver enables SR-IOV).  @added
 * collects them, parents first. */
static void device_readd(Sim *sim, SimDevice *dev, GPtrArray *added) {
        dev->removed = false;
        dev->enabled = false;
        g_free(dev->override);
        dev->override = g_strdup(dev->initial_override);
        g_hash_table_insert(sim->by_address, dev->address, dev);
        device_build(sim, dev);
        device_link_sriov(sim, dev);
        g_ptr_array_add(added, dev);
        device_uevent(sim, dev, "add");
        for (guint i = 0; i < sim->devices->len; i++) {
                SimDevice *c = sim->devices->pdata[i];

                if (c->removed && (c->parent == dev || c->physfn == dev))
                        device_readd(sim, c, added);
        }
}

int sim_add_device(Sim *sim, const char *address) {
        SimDevice *dev = removed_device(sim, address);
        g_autoptr(GPtrArray) added = g_ptr_array_new();

        if (!dev)
                return g_hash_table_contains(sim->by_address, address) ? EEXIST : ENODEV;
        if ((dev->parent && dev->parent->removed) || (dev->physfn && dev->physfn->removed))
                return ENODEV; /* nothing to plug it into */
        /* Every device is added before drivers probe any (pci_bus_add_devices()):
         * a driver's probe() registers its block and net children, then "bind". */
        device_readd(sim, dev, added);
        for (guint i = 0; i < added->len; i++) {
                SimDevice *d = added->pdata[i];

                children_uevents(sim, d, "add");
                device_attach(sim, d);
        }
        return 0;
}

int sim_device_uevent(Sim *sim, const char *address, const char *action) {
        SimDevice *dev = g_hash_table_lookup(sim->by_address, address);

        if (!dev || dev->removed)
                return ENODEV;
        if (!uevent_action_valid(action))
                return EINVAL;
        device_uevent(sim, dev, action);
        return 0;
}

int sim_load_driver(Sim *sim, const char *name) {
        SimDriver *drv = driver_get(sim, name);

        g_ptr_array_sort(sim->drivers, driver_order);
        if (drv->dir)
                return 0;
        drv->loaded = true;
        driver_build(sim, drv);
        driver_attach(sim, drv);
        return 0;
}

bool sim_probe_diverted(Sim *sim, const char *address, const char *driver) {
        SimDevice *dev = g_hash_table_lookup(sim->by_address, address);
        SimDriver *drv = driver ? g_hash_table_lookup(sim->by_driver, driver) : NULL;

        if (!dev || dev->removed || dev->driver)
                return false;
        /* Like a probe that succeeded: no ID match, override or probe()
         * refusal stands in the way.  A driver that is not loaded binds
         * nothing. */
        if (drv && drv->dir)
                device_bind(sim, dev, drv);
        return true;
}

static void device_free(gpointer p) {
        SimDevice *d = p;

        g_free(d->address);
        g_free(d->name);
        g_free(d->physfn_address);
        g_free(d->override);
        g_free(d->initial_override);
        g_free(d->ifindex);
        g_ptr_array_unref(d->vfs);
        g_ptr_array_unref(d->blocks);
        g_ptr_array_unref(d->nodes);
        if (d->net_uppers)
                g_hash_table_unref(d->net_uppers);
        g_strfreev(d->nets);
        g_free(d->reset_method);
        g_free(d->slot_name);
        g_free(d);
}

static void driver_free(gpointer p) {
        SimDriver *drv = p;

        g_free(drv->name);
        g_free(drv->module);
        g_array_unref(drv->ids);
        g_array_unref(drv->dynids);
        g_free(drv);
}

void sim_free(Sim *sim) {
        if (!sim)
                return;
        uevent_close(sim);
        if (sim->root)
                node_free_all(sim->root);
        g_hash_table_unref(sim->by_address);
        g_strfreev(sim->vtconsoles);
        g_strfreev(sim->btrfs);
        g_hash_table_unref(sim->by_driver);
        g_hash_table_unref(sim->vfio_cdev_minors);
        g_ptr_array_set_free_func(sim->devices, device_free);
        g_ptr_array_unref(sim->devices);
        g_ptr_array_set_free_func(sim->drivers, driver_free);
        g_ptr_array_unref(sim->drivers);
        pthread_mutex_destroy(&sim->lock);
        g_free(sim);
}
