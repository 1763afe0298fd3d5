#!/usr/bin/python3
"""The systemd units in contrib/systemd, read as systemd would: tendd@.service (one tendd per
shop) points each shop at its own configuration, store and user, and keeps every hardening
line of tendd.service; both units pass `systemd-analyze verify` and expose no more than 2.0 in
`systemd-analyze security`, where this machine has systemd-analyze (a container cannot start
them, so nothing here runs a daemon)."""

import os
import re
import shutil
import subprocess
import tempfile

from tendtest import SRC, Skip, check, eq, run

UNITS = os.path.join(SRC, "contrib", "systemd")
# Lines that are the instance's own; every other [Service] line is the same in both units.
PER_SHOP = {"ExecStart", "User", "Group", "StateDirectory", "ReadWritePaths", "SyslogIdentifier"}


def directives(name):
    """{section: {key: [values]}} of a unit file, comments left out."""
    out, section = {}, None
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                section = out.setdefault(m.group(1), {})
                continue
            key, _, value = line.partition("=")
            section.setdefault(key, []).append(value)
    return out


def one(unit, section, key):
    values = unit.get(section, {}).get(key, [])
    eq(len(values), 1, "number of %s= lines in [%s]" % (key, section))
    return values[0]


def test_template_is_per_shop():
    u = directives("tendd@.service")
    eq(one(u, "Service", "ExecStart"), "/usr/local/sbin/tendd -c /etc/tend/%i/tend.yaml",
       "ExecStart")
    eq(one(u, "Service", "User"), "tend-%i", "User")
    eq(one(u, "Service", "Group"), "tend-%i", "Group")
    eq(one(u, "Service", "StateDirectory"), "tend/%i", "StateDirectory")
    eq(one(u, "Service", "ReadWritePaths"), "/var/lib/tend/%i", "ReadWritePaths")
    eq(one(u, "Service", "SyslogIdentifier"), "tendd@%i", "SyslogIdentifier")
    check("%i" in one(u, "Unit", "Description"), "the description names the shop")


def test_template_hardened_as_single_unit():
    single, shop = directives("tendd.service"), directives("tendd@.service")
    for section in ("Unit", "Service", "Install"):
        for key, values in single[section].items():
            if section == "Service" and key in PER_SHOP:
                continue
            if section == "Unit" and key == "Description":
                continue
            eq(shop[section].get(key), values, "[%s] %s= in tendd@.service" % (section, key))
    extra = set(shop["Service"]) - set(single["Service"]) - PER_SHOP
    eq(sorted(extra), [], "[Service] lines only tendd@.service has")


def analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        raise Skip("no systemd-analyze on this machine")
    return exe


def copies(tmp):
    """The units in tmp, tendd@.service as the instance tendd@acme, with an ExecStart that
    exists here (verify checks it) and the rest as shipped."""
    names = {"tendd.service": "tendd.service", "tendd@.service": "tendd@acme.service"}
    for src, dst in names.items():
        with open(os.path.join(UNITS, src)) as f:
            text = f.read().replace("/usr/local/sbin/tendd ", "/bin/true ")
        for name in {src, dst}:
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
    return [os.path.join(tmp, n) for n in names.values()]


def test_units_verify():
    exe = analyze()
    with tempfile.TemporaryDirectory(prefix="tend-units-") as tmp:
        for path in copies(tmp):
            p = subprocess.run([exe, "verify", "--man=no", path], capture_output=True,
                               text=True)
            eq((p.returncode, p.stdout + p.stderr), (0, ""), "systemd-analyze verify " + path)


def test_units_security_ok():
    exe = analyze()
    with tempfile.TemporaryDirectory(prefix="tend-units-") as tmp:
        for path in copies(tmp):
            p = subprocess.run([exe, "security", "--offline=true", "--no-pager", path],
                               capture_output=True, text=True)
            if p.returncode != 0 and "offline" in p.stderr:
                raise Skip("this systemd-analyze has no --offline")
            m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", p.stdout)
            check(m is not None, "no exposure level in:\n" + p.stdout[-500:] + p.stderr)
            check(float(m.group(1)) <= 2.0, "%s rates %s %s, worse than tendd.service's 1.9"
                  % (os.path.basename(path), m.group(1), m.group(2)))


if __name__ == "__main__":
    run(globals())
