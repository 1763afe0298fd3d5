#!/usr/bin/python3
"""Hostile cases (issue 14): what a hostile customer, a careless colleague or a group member
of a shared store can do to tend, each tried against the real binaries (and, where the hole is
in talking to servers, against a real dovecot and SMTP server). Every test here failed before
its fix. The suite runs this file in every build: normal, ASan+UBSan, and with tend and tendd
under valgrind.

The sections follow the items of the issue; keep new cases in their item's section."""

import os

from tendtest import Env, check, eq, run, sample_mail  # noqa: F401


# ---- 1. A forged mail from our own address ---------------------------------------------------


# ---- 2. A Reply-To that redirects a conversation's reply -------------------------------------


# ---- 3. Symlinks and strangers' files in a group-shared store --------------------------------


# ---- 4. Mass recipients ----------------------------------------------------------------------


# ---- 5. Terminal escapes in what a customer wrote --------------------------------------------


# ---- 6. The second person, and agents bound to OS users --------------------------------------

def os_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def reviewed(config):
    """An environment whose queue holds the sample mail's drafts; the thread of one of them."""
    env = Env(config=config)
    env.import_(sample_mail())
    return env, env.json("queue", "--json")[0]["thread"]


def edit_as(env, tid, agent):
    env.tend("edit", tid, env={"TEND_AGENT": agent, "EDITOR": "sed -i 1s/^/Edited./",
                               "VISUAL": ""})
    eq(env.show(tid)["draft"]["body"].startswith("Edited."), True, "the edit was saved")


def draft_state(env, tid):
    return env.show(tid)["draft"]["state"]


def test_second_person_is_not_another_agent_of_one_os_user():
    env, tid = reviewed("store: store\nagents: [{login: alice}, {login: bob}]\n"
                        "review: {require_second_person: true}\n")
    try:
        edit_as(env, tid, "alice")
        want = ("tend: thread %d: OS user %s made the last edit to this draft (as agent alice), "
                "and tend.yaml (review: require_second_person) asks for another person to "
                "approve it, not another agent of the same OS user\n" % (tid, os_user()))
        eq(env.tend("--as", "bob", "approve", tid, rc=1).err, want, "--as bob")
        eq(env.tend("approve", tid, rc=1, env={"TEND_AGENT": "bob"}).err, want, "TEND_AGENT")
        eq(draft_state(env, tid), "proposed", "nothing approved")
        check("approve" not in [e["action"] for e in env.json("log", "--json", tid)],
              "an approval was logged")
    finally:
        env.close()


def test_agents_bound_to_os_users():
    env, tid = reviewed("store: store\nagents:\n  - {login: alice, user: nobody}\n"
                        "  - {login: bob, user: %s}\n" % os_user())
    try:
        want = ('tend: agent "alice" is bound to OS user nobody in %s, and you are %s\n'
                % (env.config, os_user()))
        eq(env.tend("--as", "alice", "approve", tid, rc=1).err, want, "--as alice")
        eq(env.tend("approve", "--as", "alice", tid, rc=1).err, want, "approve --as alice")
        eq(env.tend("approve", tid, rc=1, env={"TEND_AGENT": "alice"}).err, want,
           "TEND_AGENT=alice")
        eq(env.tend("assign", tid, "bob", rc=1, env={"TEND_AGENT": "alice"}).err, want,
           "assign as alice")
        eq(draft_state(env, tid), "proposed", "nothing approved")
        # Unnamed, or named by $USER (which anybody sets), the caller acts as their own agent.
        env.tend("--as", "bob", "assign", tid, "alice")
        env.tend("approve", tid, env={"USER": "alice", "TEND_AGENT": ""})
        d = env.show(tid)["draft"]
        eq((d["state"], d["approved_by"]), ("approved", "bob"), "approved by the caller's agent")
        r = env.tendd("--check-config", ok=False)
        eq(r.rc, 0, "check-config:\n%r" % r)
        env.write("tend.yaml", "store: store\nagents:\n  - {login: alice, user: no-such-user}\n")
        r = env.tendd("--check-config", rc=1)
        check('tend.yaml:3:26: user "no-such-user" does not exist on this system' in r.err,
              r.err)
    finally:
        env.close()


def as_nobody(env, *args):
    """Runs tend as the unprivileged user nobody (the tests run as root), like a colleague
    with a shell account in the store's group."""
    import subprocess
    from tendtest import TEND, Result, wrap
    argv = [TEND, "-c", env.config] + [str(a) for a in args]
    e = dict(os.environ, HOME="/", USER="nobody")
    e.pop("TEND_AGENT", None)
    p = subprocess.run(wrap(argv), capture_output=True, env=e, timeout=1800, user="nobody",
                       group="nogroup", extra_groups=[], cwd="/")
    return Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def test_second_person_is_another_os_user():
    check(os.getuid() == 0, "this test runs tend as another user, which takes root")
    env, tid = reviewed("store: store\ngroup: nogroup\nagents:\n"
                        "  - {login: alice, user: %s}\n  - {login: bob, user: nobody}\n"
                        "review: {require_second_person: true}\n" % os_user())
    try:
        os.chmod(env.dir, 0o755)
        edit_as(env, tid, "alice")
        r = env.tend("--as", "bob", "approve", tid, rc=1)
        check('agent "bob" is bound to OS user nobody' in r.err, r.err)
        r = as_nobody(env, "approve", tid)
        check(r.rc == 0, "nobody could not approve:\n%r" % r)
        d = env.show(tid)["draft"]
        eq((d["state"], d["approved_by"]), ("approved", "bob"), "approved by the second person")
        who = [(e["agent"], e["os_user"]) for e in env.json("log", "--json", tid)
               if e["action"] in ("edit", "approve")]
        eq(who, [("alice", os_user()), ("bob", "nobody")], "the audit trail")
    finally:
        env.close()


# ---- 7. The SMTP URL -------------------------------------------------------------------------

def smtp_config(url, user=True):
    cfg = ("store: store\naccounts:\n  - name: support\n    address: support@shop.example\n"
           "    smtp:\n      url: \"%s\"\n" % url)
    if user:
        cfg += "      user: support\n      password_file: smtp.pass\n"
    return cfg


def test_smtp_url_is_read_as_libcurl_reads_it():
    env = Env()
    try:
        env.write("smtp.pass", "secret\n")
        where = "%s:6:12: account \"support\": the smtp url " % env.config
        for url, why in [
                ("smtp://192.0.2.2?@127.0.0.1", 'has a query (from "?" on), which SMTP URLs do '
                 "not take; libcurl reads the host as 192.0.2.2"),
                ("smtp://a@b@127.0.0.1", 'has user info (before "@"), which tend does not '
                 "take there, and libcurl cannot read it (Bad hostname)"),
                ("smtp://user:pw@127.0.0.1", 'has user info (before "@"), which tend does not '
                 'take there: the user goes in "user", the password in password_file or '
                 "password_command"),
                ("smtp://127.0.0.1/#x", 'has a fragment (from "#" on), which SMTP URLs do not '
                 "take"),
                ("smtp://127.0.0.1:2525?", 'has a query (from "?" on), which SMTP URLs do not '
                 "take; libcurl reads the host as 127.0.0.1")]:
            env.write("tend.yaml", smtp_config(url))
            r = env.tendd("--check-config", rc=1)
            eq(r.err, where + why + "\n%s: 1 error\n" % env.config, url)
            check("pw" not in r.err.replace("password", ""), "the password was printed")
            r = env.tendd("--once", rc=1)
            check(where + why in r.err and "has errors: not starting" in r.err, repr(r))
        for url in ["smtp://127.0.0.1:2525", "smtps://smtp.shop.example", "smtp://[::1]:25",
                    "smtp://smtp.shop.example:587"]:
            env.write("tend.yaml", smtp_config(url))
            env.tendd("--check-config")
    finally:
        env.close()


def own_address():
    """An IPv4 address of this machine other than loopback, or None."""
    import subprocess
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    for line in out.splitlines():
        f = line.split()
        if "inet" in f:
            return f[f.index("inet") + 1].split("/")[0]
    return None


class PlainSmtp:
    """An SMTP server without TLS that offers AUTH: it records every line a client sends."""

    def __init__(self, host, port=0):
        import socket
        import threading
        self.lines, self.conns = [], 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import socket
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns += 1
            with c:
                self.talk(c.makefile("rwb"))

    def talk(self, f):
        f.write(b"220 plain.example ESMTP\r\n")
        f.flush()
        state = None  # "data" inside DATA, "auth" when the credentials come next
        for line in f:
            self.lines.append(line.decode("latin-1").rstrip("\r\n"))
            words = line.upper().split()
            verb = words[0] if words else b""
            if state == "data":
                state, out = (None, b"250 queued") if line == b".\r\n" else ("data", None)
            elif state == "auth" or (verb == b"AUTH" and len(words) > 2):
                state, out = None, b"235 ok"
            elif verb == b"AUTH":
                state, out = "auth", b"334 "
            elif verb == b"EHLO":
                out = b"250-plain.example\r\n250 AUTH PLAIN LOGIN"
            elif verb == b"DATA":
                state, out = "data", b"354 go on"
            else:
                out = b"221 bye" if verb == b"QUIT" else b"250 ok"
            if out is not None:
                f.write(out + b"\r\n")
                f.flush()
            if verb == b"QUIT" and state is None:
                return

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def approved_reply(env):
    env.json("import", "--json", sample_mail())
    tid = env.json("queue", "--json")[0]["thread"]
    env.tend("approve", tid, env={"TEND_AGENT": "alice"})
    return tid


def test_plain_smtp_never_to_another_host():
    addr = own_address()
    if addr is None:  # no address but loopback: nothing to listen on but what is allowed
        return
    # The disguise of the issue: a URL without a port, so libcurl goes to port 25 of addr
    # while tend used to read the host as 127.0.0.1 and allow plain text. Port 25 takes root
    # and a free port; without them only the second half runs.
    try:
        srv = PlainSmtp(addr, 25)
    except OSError:
        srv = None
    env = Env(config=smtp_config("smtp://%s?@127.0.0.1" % addr))
    try:
        env.write("smtp.pass", "secret\n")
        approved_reply(env)
        if srv is not None:
            env.tendd("--once", ok=False)
            eq((srv.conns, srv.lines), (0, []), "what the server at %s:25 heard" % addr)
            srv.close()
        # Without the disguise the host is not loopback: STARTTLS or nothing, never AUTH.
        srv = PlainSmtp(addr)
        env.write("tend.yaml", smtp_config("smtp://%s:%d" % (addr, srv.port)))
        env.tendd("--once", ok=False)
        check(srv.conns >= 1, "tendd did not try to send at all")
        check(not [ln for ln in srv.lines if ln.upper().startswith(("AUTH", "MAIL"))],
              "sent in the clear to %s: %r" % (addr, srv.lines))
    finally:
        if srv is not None:
            srv.close()
        env.close()


# ---- 8. Deeply nested rules ------------------------------------------------------------------

def nested_rules(kind, n, leaf="{subject: '(?i)voucher'}"):
    """A rules file whose one rule nests kind (not, any or all) n deep around leaf, written in
    flow style on line 4, as an attacker would (block style needs n*n bytes of indentation)."""
    if kind == "not":
        match = "{not: " * n + leaf + "}" * n
    else:
        match = ("{%s: [" % kind) * n + leaf + "]}" * n
    return ("version: 1\nrules:\n  - name: deep\n    match: %s\n    tags: [deep]\n" % match)


YAML_DEPTH = r"rules\.yaml:4:\d+: mappings and lists nest deeper than 200 levels here\n"


def test_deep_rules_are_refused_with_their_place():
    import re
    env = Env()
    try:
        for kind in ("not", "any", "all"):
            env.write("rules.yaml", nested_rules(kind, 30000))
            r = env.tend("rules", "check", rc=1)
            check(re.search(YAML_DEPTH, r.err), "%s 30000 deep:\n%r" % (kind, r))
            # Deep enough to be read, too deep to be a rule: the 65th level is refused.
            env.write("rules.yaml", nested_rules(kind, 65))
            col = 12 + (6 if kind == "not" else 7) * 64 + 1
            r = env.tend("rules", "check", rc=1)
            eq(r.err, "%s:4:%d: \"%s\" in rule \"deep\" nests conditions deeper than 64 "
               "levels (any, all and not inside one another)\n%s: 1 error\n"
               % (env.path("rules.yaml"), col, kind, env.path("rules.yaml")), kind + " 65")
        # An alias that holds itself nests without end.
        env.write("rules.yaml", "version: 1\nrules:\n  - name: loop\n"
                  "    match: &m {any: [{subject: x}, {not: *m}]}\n")
        r = env.tend("rules", "check", rc=1)
        check("rules.yaml:4:16: \"any\" in rule \"loop\" nests conditions deeper than 64 "
              "levels" in r.err, repr(r))
        env.write("rules.yaml", nested_rules("not", 30000))
        r = env.tend("import", sample_mail(), rc=1)
        check(re.search(YAML_DEPTH, r.err), repr(r))
        eq(env.threads(), [], "threads imported with rules that were refused")
    finally:
        env.close()


def test_rules_nested_64_deep_still_work():
    env = Env()
    try:
        env.use_sample_rules()
        rules = env.path("rules.yaml")
        with open(rules) as f:
            sample = f.read()
        # 64 levels of not (an even number) around the subject: the subject is what counts.
        extra = ["  - name: deep_%s\n    match: %s\n    tags: [deep_%s]\n"
                 % (kind, nested_rules(kind, 64).split("match: ")[1].split("\n")[0], kind)
                 for kind in ("not", "any", "all")]
        env.write("rules.yaml", sample.rstrip("\n") + "\n" + "".join(extra))
        r = env.tend("rules", "check")
        check(r.out.endswith("OK (%d rules)\n" % (sample.count("\n  - name:") + 3)), r.out)
        env.import_(sample_mail())
        tags = [t["tags"] for t in env.threads() if "voucher" in t["tags"]]
        check(tags and all({"deep_not", "deep_any", "deep_all"} <= set(t) for t in tags),
              "voucher threads: %r" % tags)
    finally:
        env.close()


def test_aliases_that_multiply_conditions_are_refused():
    # Each rule's match is twice the one before, by alias: rule r16 alone stands for 131,071
    # conditions, and 40 rules would stand for two trillion.
    text = "version: 1\nrules:\n  - name: r0\n    match: &a0 {subject: x}\n"
    for i in range(1, 17):
        text += "  - name: r%d\n    match: &a%d {any: [*a%d, *a%d]}\n" % (i, i, i - 1, i - 1)
    env = Env()
    try:
        env.write("rules.yaml", text)
        r = env.tend("rules", "check", rc=1)
        eq(r.err, "%s:4:17: more than 100000 conditions in the file by rule \"r15\" (aliases "
           "repeat the conditions they name)\n%s: 1 error\n"
           % (env.path("rules.yaml"), env.path("rules.yaml")), "rules check")
    finally:
        env.close()


def test_deep_tend_yaml_is_refused_with_its_place():
    env = Env()
    try:
        for text, pos in [("store: store\nagents: " + "[" * 30000 + "]" * 30000 + "\n", "2:208"),
                          ("store: store\nlimits:\n  " + "- " * 30000 + "x\n", "3:401")]:
            env.write("tend.yaml", text)
            r = env.tendd("--check-config", rc=1)
            eq(r.err, "%s:%s: mappings and lists nest deeper than 200 levels here\n"
               "%s: 1 error\n" % (env.config, pos, env.config), "tendd --check-config")
            r = env.tend("queue", rc=1)
            check("%s:%s: mappings and lists nest" % (env.config, pos) in r.err, repr(r))
    finally:
        env.close()


def test_deep_rules_on_sighup_keep_the_old_ones():
    import signal
    from daemon_rules import mail, relabel, wait_for_subject
    from imapserver import Dovecot
    from tendtest import Daemon
    dv = Dovecot()
    env = daemon = None
    try:
        env = Env(config=dv.config(poll_interval="300s"))
        env.use_sample_rules()
        daemon = Daemon(env)
        voucher = mail("01-voucher-expired.eml")
        for i, (kind, n) in enumerate([("not", 30000), ("any", 65)]):
            env.write("rules.yaml", nested_rules(kind, n))
            daemon.signal(signal.SIGHUP)
            want = "has errors: keeping the rules loaded before"
            daemon.wait_until(lambda: daemon.stderr().count(want) == i + 1, 10, repr(want))
            check(("rules.yaml:4:" in daemon.stderr()) and "deeper than" in daemon.stderr(),
                  "no place or reason in the log:\n" + daemon.tail())
            subject = "Voucher %d" % i
            dv.append("INBOX", relabel(voucher, subject, "v%d@example.com" % i))
            tags = wait_for_subject(daemon, env, subject)
            check("voucher" in tags and "deep" not in tags, "the old rules: %r" % tags)
        check("nests conditions deeper than 64 levels" in daemon.stderr(), daemon.tail())
        eq(daemon.stop(), 0, "exit status after SIGTERM")
    finally:
        if daemon is not None:
            daemon.close()
        if env is not None:
            env.close()
        dv.close()


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------


if __name__ == "__main__":
    run(globals())
