"""The e2e-vfiod section "an unprivileged user uses a detached device" (guest side).

Called by vfiod_e2e.py with the stack it started (dbus-daemon, polkitd, vfiod). Proves on the real
kernel what OpenGroup, GrantAccess, RevokeAccess and SetLockedMemoryLimit, and `vfioctl run`,
`grant`, `revoke`, are for: with them, uid 1000 runs what a VMM does with a VFIO group
(vfio-dma: container, type-1 IOMMU, device fd, a pinned 128 MiB VFIO_IOMMU_MAP_DMA); without
them the kernel says EACCES (the group node is root's, mode 0600) and ENOMEM (the type-1
IOMMU charges the map to RLIMIT_MEMLOCK, 8 MiB for users). uid 1001, whom no rule lets, is
refused by vfiod and nothing changes.

polkit: the project's example rules (polkit/50-vfiod-example.rules: group "kvm" may
detach-device, use-device, lock-memory, reattach-device) installed as its header says; the guest
has no logind, so its `subject.local && subject.active` never holds: first shown (the shipped
file refuses), then the same file with that condition taken out is installed and is what grants.
"""

import grp
import json
import os
import pwd
import struct
import subprocess

import e2elib as L
import vfiobus as V

USER, OTHER = 1000, 1001
KVM = "kvm"
MIB = 1 << 20
MEMLOCK = "256M"
DEFAULT_MEMLOCK = 8 * MIB          # the kernel's MLOCK_LIMIT, what the guest's processes have
RULES = "/etc/polkit-1/rules.d/50-vfiod.rules"     # where the example's header installs it
SESSION_TEST = "subject.local && subject.active &&"
REFUSED = ("org.freedesktop.DBus.Error.AccessDenied",
           "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
ALL_STEPS = ["open_container", "api_version", "check_type1", "open_group", "group_status",
             "set_container", "set_iommu", "get_device_fd", "device_info", "mmap_mib", "map_dma",
             "map_dma_s", "unmap_dma"]


# ---- users and groups in the overlay's /etc -----------------------------------------------

def ensure_user(uid, name):
    """A passwd entry and a personal group for uid (kept if the host has one); its name."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        pass
    with open("/etc/passwd", "a") as f:
        f.write(f"{name}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin\n")
    try:
        grp.getgrgid(uid)
    except KeyError:
        with open("/etc/group", "a") as f:
            f.write(f"{name}:x:{uid}:\n")
    return name


def add_to_group(group, user):
    """Make `user` a member of `group` in /etc/group (the group is created if missing)."""
    with open("/etc/group") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        parts = line.split(":")
        if len(parts) == 4 and parts[0] == group:
            members = [m for m in parts[3].split(",") if m]
            if user not in members:
                parts[3] = ",".join(members + [user])
            lines[i] = ":".join(parts)
            break
    else:
        gid = max(g.gr_gid for g in grp.getgrall() if g.gr_gid < 60000) + 1
        lines.append(f"{group}:x:{gid}:{user}")
    with open("/etc/group", "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- running things as a user -------------------------------------------------------------

def setpriv(uid):
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--init-groups"]


def as_user(uid, argv, timeout=180):
    """argv as uid (its groups from /etc/group), stdin /dev/null (so vfioctl never starts a
    text agent), on the guest's system bus."""
    return subprocess.run(setpriv(uid) + argv, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=L.SYSTEM_BUS_ADDRESS))


def vfioctl_path():
    return L.VFIOCTL


def vfio_dma_path():
    return os.path.join(L.BUILD_DIR, "tests", "e2e", "vfio-dma")


def dma(uid, group, dev, fd_env=False, run=None):
    """vfio-dma as uid, directly or under `vfioctl run RUN... DEV -- vfio-dma ...`.
    Returns (CompletedProcess, its JSON report or None)."""
    argv = [vfio_dma_path()] + (["--fd-env"] if fd_env else []) + [str(group), dev]
    if run is not None:
        argv = [vfioctl_path(), "run"] + list(run) + [dev, "--"] + argv
    p = as_user(uid, argv)
    rep = None
    for line in reversed(p.stdout.splitlines()):
        try:
            rep = json.loads(line)
            break
        except ValueError:
            continue
    return p, rep


def brief(p, rep):
    """For a check's detail: the report's steps, or the process's output."""
    if rep:
        return (f"rc={p.returncode} memlock={rep['memlock']} group_fd={rep['group_fd']} "
                f"steps={rep['steps']}")
    return f"rc={p.returncode} stdout={p.stdout.strip()!r} stderr={p.stderr.strip()!r}"


def all_ok(rep):
    return rep is not None and rep["ok"] and list(rep["steps"]) == ALL_STEPS and \
        all(rep["steps"][s] == "ok" for s in ALL_STEPS if s not in
            ("group_status", "device_info", "mmap_mib", "map_dma_s"))


def failed_at(rep, step, errno):
    return rep is not None and not rep["ok"] and rep["failed"] == step and rep["errno"] == errno


# ---- the kernel's view: POSIX ACL of a node (the xattr itself: no acl tools needed) --------

ACL_USER = 0x02


def acl_users(path):
    """{uid: "rw-"} of the named-user entries of path's access ACL ({} without an ACL);
    None if path does not exist."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except FileNotFoundError:
        return None
    except OSError:
        return {} if os.path.exists(path) else None
    out = {}
    for off in range(4, len(raw), 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, off)
        if tag == ACL_USER:
            out[ident] = ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + \
                ("x" if perm & 1 else "-")
    return out


def node_info(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "absent"
    return f"{st.st_uid}:{st.st_gid} {oct(st.st_mode & 0o777)} acl users {acl_users(path)}"


# ---------------------------------------------------------------------------------------------

def run(C, root, pk, dev, section):
    """The section. `root` is a vfiobus.Client of root's, `pk` the running polkitd (restarted
    here: the new one is returned), `dev` an endpoint alone in its group, on its host driver."""
    group = L.group_of(dev)
    node = f"/dev/vfio/{group}"
    host_drv = L.driver(dev)
    vfioctl = vfioctl_path()

    def granted():
        r = root.get_group(dev)
        return [list(d.get("granted_uids", [])) for d in r.value[1]] if r.ok else r.error

    def check_acl(what, want):
        got = acl_users(node)
        return C.check(f"{what}: {node} has {'no user entries' if not want else want}"
                       " in its ACL (the kernel's xattr)", got == want, node_info(node))

    def vfioctl_as(uid, *args):
        return as_user(uid, [vfioctl] + list(args))

    def show(p):
        return f"rc={p.returncode} {(p.stdout + p.stderr).strip()}"

    # -- users, groups, rules --------------------------------------------------------------
    section(f"an unprivileged user uses a detached device: uid {USER} in group {KVM}, "
            f"uid {OTHER} in none")
    user = ensure_user(USER, "e2euser")
    other = ensure_user(OTHER, "e2eother")
    add_to_group(KVM, user)
    kvm_gid = grp.getgrnam(KVM).gr_gid
    p = as_user(USER, ["id", "-G"])
    C.check(f"uid {USER} ({user}) runs with group {KVM} ({kvm_gid}) under setpriv --init-groups",
            p.returncode == 0 and str(kvm_gid) in p.stdout.split(), show(p))
    p = as_user(OTHER, ["id", "-G"])
    C.check(f"uid {OTHER} ({other}) is not in {KVM}",
            p.returncode == 0 and str(kvm_gid) not in p.stdout.split(), show(p))
    C.check(f"{dev} is alone in IOMMU group {group}, on {host_drv}; no {node}",
            sorted(os.listdir(f"{L.GROUPS}/{group}/devices")) == [dev] and host_drv and
            not os.path.exists(node), node_info(node))

    rules_dir = os.path.dirname(RULES)
    os.makedirs(rules_dir, exist_ok=True)
    for f in os.listdir(rules_dir):    # earlier sections' rules: only the example's from here
        if f.startswith("50-vfiod"):
            os.unlink(os.path.join(rules_dir, f))
    example = open(os.path.join(L.SOURCE_DIR, "polkit", "50-vfiod-example.rules")).read()
    L.install_file(os.path.join(L.SOURCE_DIR, "polkit", "50-vfiod-example.rules"), RULES)
    pk.stop()
    pk = C.step(f"polkitd restarted with polkit/50-vfiod-example.rules installed as {RULES}, "
                "as shipped", L.start_polkitd)
    if not pk:
        return pk

    # -- (a) without vfiod: EACCES; with the group but 8 MiB memlock: ENOMEM ---------------
    section("(a) without vfiod: EACCES on the group; with it but 8 MiB of memlock: ENOMEM")
    r = root.detach(dev, 0)
    C.check(f"root: DetachDevice {dev} -> vfio-pci, {node} appears",
            r.ok and L.driver(dev) == "vfio-pci" and os.path.exists(node),
            f"{r.error or 'ok'}; {node_info(node)}")
    C.check(f"{node} is root's, mode 0600 (no udev rule for it), no ACL user entries",
            os.stat(node).st_uid == 0 and os.stat(node).st_mode & 0o777 == 0o600 and
            not acl_users(node), node_info(node))
    p, rep = dma(USER, group, dev)
    C.check(f"uid {USER}: vfio-dma {group} {dev} -> /dev/vfio/vfio opens, the group does not: "
            "EACCES", p.returncode == 1 and failed_at(rep, "open_group", "EACCES") and
            rep["steps"]["open_container"] == "ok", brief(p, rep))
    usr = C.step(f"a D-Bus caller as uid {USER} (vfiobus serve, setpriv --init-groups)",
                 V.Remote, setpriv(USER))
    if usr:
        r = usr.call("GrantAccess", dev, 0)
        C.check(f"shipped example rule, no logind session (subject.local/active false): uid "
                f"{USER} GrantAccess {dev} -> refused (use-device)",
                not r.ok and r.error in REFUSED and "use-device" in (r.message or ""),
                f"{r.error}: {r.message}")
    p = vfioctl_as(USER, "--no-ask-password", "grant", dev)
    C.check(f"shipped example rule: uid {USER} `vfioctl --no-ask-password grant {dev}` -> exit 1",
            p.returncode == 1 and "vfioctl:" in p.stderr, show(p))
    check_acl("after the refusals", {})

    derived = example.replace(SESSION_TEST, "")
    C.check(f"the example without `{SESSION_TEST}` differs only by that (one occurrence)",
            example.count(SESSION_TEST) == 1 and derived != example)
    with open(RULES, "w") as f:
        f.write("// polkit/50-vfiod-example.rules without its session test: the e2e guest has "
                "no logind\n" + derived)
    pk.stop()
    pk = C.step(f"polkitd restarted with the example rules minus `{SESSION_TEST}` "
                "(no logind in the guest)", L.start_polkitd)
    if not pk:
        return pk

    # root detached it: the group is root's, and using another's group is use-device-other,
    # which the example rules do not grant
    p = vfioctl_as(USER, "--no-ask-password", "grant", dev)
    C.check(f"root detached {dev}: uid {USER} `vfioctl --no-ask-password grant` -> exit 1, "
            "not authorized: the group is another's (polkit action use-device-other)",
            p.returncode == 1 and "use-device-other" in p.stderr, show(p))
    check_acl("after the refusal of root's group", {})
    r = root.reattach(dev, 0)
    C.check(f"root: ReattachDevice {dev} -> {host_drv}", r.ok and L.driver(dev) == host_drv,
            r.error)
    p = vfioctl_as(USER, "detach", dev)
    C.check(f"uid {USER}: `vfioctl detach {dev}` -> exit 0 (detach-device), on vfio-pci: "
            "the group is uid {USER}'s now".replace("{USER}", str(USER)),
            p.returncode == 0 and L.driver(dev) == "vfio-pci", show(p))

    p = vfioctl_as(USER, "grant", dev)
    C.check(f"uid {USER}: `vfioctl grant {dev}` of its own group -> exit 0, names {node}",
            p.returncode == 0 and node in p.stdout, show(p))
    check_acl("after the grant", {USER: "rw-"})
    g = granted()
    C.check(f"GetGroup {dev}: granted_uids [{USER}]", g == [[USER]], g)
    p, rep = dma(USER, group, dev)
    C.check(f"uid {USER}, memlock 8 MiB (no vfiod raise): vfio-dma gets the group, container, "
            "type-1 IOMMU, device fd and info; VFIO_IOMMU_MAP_DMA of 128 MiB -> ENOMEM",
            p.returncode == 1 and failed_at(rep, "map_dma", "ENOMEM") and
            rep["memlock"] == [DEFAULT_MEMLOCK, DEFAULT_MEMLOCK] and
            all(rep["steps"][s] == "ok" for s in ("open_group", "set_container", "set_iommu",
                                                  "get_device_fd")) and
            rep["steps"]["device_info"]["pci"], brief(p, rep))
    p = vfioctl_as(USER, "revoke", dev)
    C.check(f"uid {USER}: `vfioctl revoke {dev}` -> exit 0", p.returncode == 0, show(p))
    check_acl("after the revoke", {})
    p, rep = dma(USER, group, dev)
    C.check(f"uid {USER}: vfio-dma after the revoke -> EACCES again",
            failed_at(rep, "open_group", "EACCES"), brief(p, rep))

    # A node another owner has: what a udev rule or libvirt does (libvirt-qemu:kvm, 0660).
    # Setting its ACL takes the owner or CAP_FOWNER: this is the check that fails when the
    # unit loses CAP_FOWNER.
    os.chown(node, 64055, kvm_gid)
    os.chmod(node, 0o660)
    p = vfioctl_as(USER, "grant", dev)
    C.check(f"{node} re-owned to 64055:{KVM} 0660 (as libvirt does): uid {USER} `vfioctl grant` "
            "-> exit 0", p.returncode == 0, show(p))
    check_acl("after the grant on the re-owned node", {USER: "rw-"})
    p = vfioctl_as(USER, "revoke", dev)
    C.check(f"uid {USER}: `vfioctl revoke {dev}` on the re-owned node -> exit 0",
            p.returncode == 0, show(p))
    check_acl("after the revoke on the re-owned node", {})
    r = root.reattach(dev, 0)
    C.check(f"root: ReattachDevice {dev} -> {host_drv}, {node} gone",
            r.ok and L.driver(dev) == host_drv and not os.path.exists(node), r.error)

    # -- (b) vfioctl run --memlock -------------------------------------------------------------
    section(f"(b) uid {USER}: vfioctl run --memlock {MEMLOCK} {dev} -- vfio-dma")
    p, rep = dma(USER, group, dev, run=["--memlock", MEMLOCK])
    C.check(f"uid {USER}: `vfioctl run --memlock {MEMLOCK} {dev} -- vfio-dma {group} {dev}` "
            "detaches, grants, raises memlock: every step ok, 128 MiB mapped and unmapped",
            p.returncode == 0 and all_ok(rep) and rep["group_fd"] == "path", brief(p, rep))
    C.check(f"vfio-dma ran as uid {USER} with memlock {MEMLOCK} (soft and hard), raised by vfiod",
            rep is not None and rep["uid"] == USER and rep["memlock"] == [256 * MIB, 256 * MIB],
            rep and rep["memlock"])
    if rep and "map_dma_s" in rep["steps"]:
        C.data.setdefault("use_device", {})["map_dma_128mib_s"] = rep["steps"]["map_dma_s"]
    C.check(f"{dev} on vfio-pci (detached by run, detach-device)", L.driver(dev) == "vfio-pci",
            L.driver(dev))
    check_acl("after run (grants outlive the command)", {USER: "rw-"})

    # -- (c) --fd-env ------------------------------------------------------------------------
    section(f"(c) uid {USER}: vfioctl run --fd-env: OpenGroup's fd, no ACL needed")
    p = vfioctl_as(USER, "revoke", dev)
    check_acl(f"uid {USER} revoked first (rc={p.returncode})", {})
    p, rep = dma(USER, group, dev, fd_env=True, run=["--fd-env", "--memlock", MEMLOCK])
    C.check(f"uid {USER}: `vfioctl run --fd-env --memlock {MEMLOCK} {dev} -- vfio-dma --fd-env "
            f"{group} {dev}`: the group from VFIOD_GROUP_FD_{group}, every step ok",
            p.returncode == 0 and all_ok(rep) and rep["group_fd"] == f"VFIOD_GROUP_FD_{group}"
            and rep["memlock"] == [256 * MIB, 256 * MIB], brief(p, rep))
    check_acl("after run --fd-env (nothing granted)", {})
    if usr:     # the same caller: its connection outlived polkitd's restart
        r = usr.call("OpenGroup", dev, 0)
        C.check(f"uid {USER}: OpenGroup {dev} -> group {group} and an fd", r.ok and
                r.value == [group, "fd"], r.value if r.ok else f"{r.error}: {r.message}")
        r = usr.call("SetLockedMemoryLimit", V.SELF_PIDFD, 64 * MIB)
        m = usr.call("memlock")
        C.check(f"uid {USER}: SetLockedMemoryLimit(own pidfd, 64 MiB) -> its limit is 64 MiB",
                r.ok and m.value == [64 * MIB, 64 * MIB],
                f"{r.error or 'ok'} {r.message or ''}; memlock {m.value}")
        usr.close()

    # -- (d) reattach takes the grant back -----------------------------------------------------
    section(f"(d) vfioctl reattach: uid {USER}'s access is gone")
    p = vfioctl_as(USER, "grant", dev)
    check_acl(f"uid {USER} granted again (rc={p.returncode})", {USER: "rw-"})
    p = vfioctl_as(USER, "--no-ask-password", "reattach", dev)
    C.check(f"uid {USER}: `vfioctl --no-ask-password reattach {dev}` (reattach-device) -> exit 0, "
            f"{dev} on {host_drv}, {node} gone",
            p.returncode == 0 and L.driver(dev) == host_drv and not os.path.exists(node), show(p))
    g = granted()
    C.check(f"GetGroup {dev}: granted_uids empty", g == [[]], g)
    p, rep = dma(USER, group, dev)
    C.check(f"uid {USER}: vfio-dma -> no group node (ENOENT)",
            failed_at(rep, "open_group", "ENOENT"), brief(p, rep))
    r = root.detach(dev, 0)
    C.check(f"root: DetachDevice {dev} again -> a new {node}",
            r.ok and os.path.exists(node), r.error)
    check_acl("the new node", {})
    p, rep = dma(USER, group, dev)
    C.check(f"uid {USER}: vfio-dma -> EACCES (the grant went with the reattach)",
            failed_at(rep, "open_group", "EACCES"), brief(p, rep))

    # -- (e) uid 1001, no rule: refused, nothing changes ----------------------------------------
    section(f"(e) uid {OTHER}, whom no rule lets: refused, nothing changes")
    before = (L.driver(dev), L.read_attr(dev, "driver_override"), node_info(node), granted())
    oth = C.step(f"a D-Bus caller as uid {OTHER}", V.Remote, setpriv(OTHER))
    if oth:
        for method, args in (("GrantAccess", (dev, 0)), ("OpenGroup", (dev, 0)),
                             ("SetLockedMemoryLimit", (V.SELF_PIDFD, 256 * MIB))):
            r = oth.call(method, *args, interactive=True)
            C.check(f"uid {OTHER}: {method} (interaction allowed, no agent) -> AccessDenied",
                    not r.ok and r.error == ACCESS_DENIED, f"{r.error}: {r.message}")
        m = oth.call("memlock")
        C.check(f"uid {OTHER}: its memlock still 8 MiB", m.value == [DEFAULT_MEMLOCK] * 2,
                m.value)
        oth.close()
    for run_args in (["--memlock", MEMLOCK], ["--fd-env", "--memlock", MEMLOCK]):
        p, rep = dma(OTHER, group, dev, fd_env="--fd-env" in run_args, run=run_args)
        C.check(f"uid {OTHER}: `vfioctl run {' '.join(run_args)} {dev} -- vfio-dma` -> exit 1 "
                "with vfiod's message, vfio-dma never ran",
                p.returncode == 1 and rep is None and "vfioctl:" in p.stderr, brief(p, rep))
    p, rep = dma(OTHER, group, dev)
    C.check(f"uid {OTHER}: vfio-dma -> EACCES", failed_at(rep, "open_group", "EACCES"),
            brief(p, rep))
    after = (L.driver(dev), L.read_attr(dev, "driver_override"), node_info(node), granted())
    C.check(f"uid {OTHER}'s refusals: {dev}'s driver, driver_override, {node}'s owner, mode, "
            "ACL and granted_uids unchanged", before == after, {"before": before,
                                                                "after": after})
    r = root.reattach(dev, 0)
    C.check(f"root: ReattachDevice {dev} -> {host_drv}", r.ok and L.driver(dev) == host_drv,
            r.error)
    return pk
