#!/usr/bin/python3
"""smtpserver: a throwaway SMTP server for the daemon tests, built on Debian's python3-aiosmtpd.

    srv = SmtpServer(tls="starttls", users={"support": "secret"})   # certificates made, started
    env.write("tend.yaml", dv.config() + srv.config_yaml())          # smtp: beside imap:
    srv.set(reject_rcpt={"gone@customer.example":
                         "550 5.1.1 <gone@customer.example>: Recipient address rejected"})
    msgs = srv.wait_for(1)                                           # [Message], arrival order
    msgs[0].mail_from, msgs[0].rcpt_tos, msgs[0].login, msgs[0].tls, msgs[0].msg["Subject"]
    srv.close()                                                      # stopped, directory removed

The server is a process of its own (`python3 tests/smtpserver.py --serve DIR/config.json`, always
Debian's /usr/bin/python3, which has aiosmtpd), so a test can stop() it and start() it again on
the same port, or kill() it. It listens on 127.0.0.1 only, on a port picked when the object is
made (picked again only if it turned out to be taken at the very first start).

    tls="starttls"  smtp://: STARTTLS advertised; every command but EHLO, NOOP, STARTTLS and QUIT
                    is refused with 530 before TLS; AUTH (PLAIN, LOGIN) only after it.
    tls="implicit"  smtps://: TLS from the first byte.
    tls="none"      smtp:// without TLS at all (for loopback tests); AUTH allowed in the clear.
    users           login -> password; AUTH is then required before MAIL. users=None: no AUTH
                    (not advertised, 502), anybody may send.
    certs           None: a test CA of its own (ca.crt, with a server certificate for localhost
                    and 127.0.0.1, plus bad-ca.crt and wrong.crt as imapserver makes them). A
                    Dovecot (imapserver) or a (ca_file, cert_file, key_file) tuple: those are
                    copied in and served, so that one CA serves both servers of a test.

Everything lives in one temporary directory (srv.dir):

    config.json     what the server process runs with (port, TLS mode, users, certificate)
    control.json    the runtime switches (set()); re-read by the server at every step
    events.jsonl    one JSON object a line, see events()
    messages/       000001.eml (the data exactly as received, dot-unstuffed, CRLF as sent) and
                    000001.json (its envelope), numbered in arrival order across restarts; both
                    are written under messages/.tmp and renamed into place, the .json first
    server.out      the server's stdout and stderr (aiosmtpd warnings, tracebacks)
    ca.crt ...      certificates; USER.pass from password_file()

Switches (set(name=value); value None removes the switch; all off at the start):

    reject_rcpt     {address: "550 5.1.1 <x>: Recipient address rejected"}: the reply to RCPT TO
                    for those addresses (compared without regard to case); others get 250
    mail_reply      "451 4.3.0 ...": the reply to every MAIL FROM instead of 250
    data_reply      "451 4.3.0 Try again later" / "554 5.7.1 Rejected": the reply at the end of
                    DATA instead of 250; the message is NOT stored
    hold_before_data      seconds to wait after the DATA command, before "354"
    hold_before_data_end  seconds to wait after the final ".", before storing (a client that
                    goes away meanwhile leaves nothing stored)
    hold_after_data seconds to wait after the message was stored, before "250" (a client
                    killed meanwhile has delivered a message it never heard about)
    drop_after_data true: store the message, then close the connection without a reply

Events (events(), connections(), transactions(), replies(), wait_event()): "t" (time), "ev",
"conn" (connection number, counted across restarts) and more:

    start {pid, port}  stop  connect  tls {via: starttls|implicit, version}
    tls_error {error}  (a failed TLS handshake, STARTTLS or implicit)
    <command> {arg}    every command line the client sent, named in lower case: ehlo, helo,
                       starttls, auth (arg: the mechanism only), mail, rcpt, data, rset, noop,
                       quit, ... (also those refused before STARTTLS)
    login {mechanism, login, ok}  data_end {size}  stored {n, size}  hold {seconds, what}
    reply {cmd, code, text}  every reply (a multi-line one once, its lines joined by "\\n");
                       cmd is the command it answers (None for the greeting)
    drop  disconnect  error {error}

API:
    SmtpServer(tls="starttls", users={"support": "secret"}, tmpdir=None, start=True,
               certs=None, hostname="localhost", smtputf8=True)
    start(timeout=10) stop(timeout=5) kill() restart(cert=None) running() close()
    url() port host ca_file bad_ca_file dir path(*parts) log_tail(n)
    password_file(user="support", password=None) config_yaml(indent=4, ...)
    set(**switches) reset() switches()
    messages() -> [Message] count() wait_for(n, timeout=10) clear_messages()
    events(ev=None, conn=None) connections() transactions() replies(cmd=None)
    wait_event(ev, n=1, timeout=10, **match)

Failures raise SmtpServerError with the tail of server.out and of the event log. Every
SmtpServer still open when the interpreter exits is closed (atexit), and the server process
gets SIGTERM if the test process dies (PR_SET_PDEATHSIG).
"""

import atexit
import email
import email.policy
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

from imapserver import free_port, localhost_problem, port_free
from imapserver import yaml_scalar as _yaml_scalar
from reaper import die_with_parent

# The server process needs aiosmtpd, which only Debian's python has; the test process need not.
PYTHON = os.environ.get("SMTPSERVER_PYTHON") or (
    "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
SLOW = 4 if os.environ.get("TEND_VALGRIND") == "1" else 1  # as in tendtest: wait_for scales
HOST = "127.0.0.1"

SWITCHES = ("reject_rcpt", "mail_reply", "data_reply", "hold_before_data",
            "hold_before_data_end", "hold_after_data", "drop_after_data")

_live = set()  # every SmtpServer not yet closed, for the atexit hook

_URLISH = re.compile(r"^[A-Za-z0-9_./@+-][A-Za-z0-9_./@:+-]*$")


def yaml_scalar(s):
    """imapserver's yaml_scalar, but smtp://host:port and paths stay unquoted (a colon not
    followed by a space is fine in a plain YAML scalar)."""
    s = str(s)
    if _URLISH.match(s) and not s.endswith(":") and s.lower() not in (
            "yes", "no", "true", "false", "null", "on", "off", "y", "n"):
        return s
    return _yaml_scalar(s)


@atexit.register
def _close_all():
    for srv in list(_live):
        try:
            srv.close()
        except Exception:
            pass


class SmtpServerError(Exception):
    pass


class _PortBusy(Exception):
    pass


def _write_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.rename(tmp, path)


def _read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class Message:
    """One stored message: .n (its number), .mail_from, .rcpt_tos, .data (bytes exactly as
    received after dot-unstuffing), .login (None without AUTH), .tls, .helo, .mail_options,
    .rcpt_options, .smtp_utf8, .conn, .time, .path, and .msg (parsed with policy default)."""

    def __init__(self, path, envelope, data):
        self.path = path
        self.envelope = envelope
        self.data = data
        self.n = envelope.get("n")
        self.mail_from = envelope.get("mail_from")
        self.rcpt_tos = list(envelope.get("rcpt_tos") or [])
        self.login = envelope.get("login")
        self.tls = bool(envelope.get("tls"))
        self.helo = envelope.get("helo")
        self.mail_options = envelope.get("mail_options") or []
        self.rcpt_options = envelope.get("rcpt_options") or []
        self.smtp_utf8 = bool(envelope.get("smtp_utf8"))
        self.conn = envelope.get("conn")
        self.time = envelope.get("time")
        self._msg = None

    @property
    def msg(self):
        if self._msg is None:
            self._msg = email.message_from_bytes(self.data, policy=email.policy.default)
        return self._msg

    def __repr__(self):
        return "<Message %s from %r to %r, %d bytes, login %r, tls %r>" % (
            self.n, self.mail_from, self.rcpt_tos, len(self.data), self.login, self.tls)


# ---------------------------------------------------------------------------------------------
# The test side
# ---------------------------------------------------------------------------------------------

class SmtpServer:
    """An SMTP server of its own in a temporary directory; started by the constructor unless
    start=False. See the module documentation."""

    def __init__(self, tls="starttls", users={"support": "secret"}, tmpdir=None, start=True,
                 certs=None, hostname="localhost", smtputf8=True):
        if tls not in ("starttls", "implicit", "none"):
            raise ValueError("tls must be starttls, implicit or none, not %r" % (tls,))
        self.tls = tls
        self.users = dict(users) if users is not None else None
        self.hostname = hostname
        self.smtputf8 = smtputf8
        self.host = "localhost"
        self.dir = tempfile.mkdtemp(prefix="tend-smtp-", dir=tmpdir)
        self.proc = None
        self.cert = "good"
        self._started = False
        _live.add(self)
        try:
            os.makedirs(self.path("messages", ".tmp"))
            self._make_certs(certs)
            self._write_control({})
            self.port = free_port()
            self._write_conf()
            if start:
                self.start()
        except BaseException:
            self.close()
            raise

    # ---- paths ----

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def conf(self):
        return self.path("config.json")

    @property
    def out(self):
        return self.path("server.out")

    @property
    def ca_file(self):
        return self.path("ca.crt")

    @property
    def bad_ca_file(self):
        return self.path("bad-ca.crt")

    def url(self):
        if self.host == "localhost" and localhost_problem():
            raise SmtpServerError(localhost_problem())
        return "%s://%s:%d" % ("smtps" if self.tls == "implicit" else "smtp", self.host,
                               self.port)

    def log_tail(self, n=30):
        """The last lines of server.out and of the event log, for failure messages."""
        def tail(p):
            try:
                with open(p, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
                return "\n".join(lines[-n:]) or "(empty)"
            except OSError:
                return "(none)"
        return "--- %s:\n%s\n--- %s:\n%s" % (self.out, tail(self.out),
                                              self.path("events.jsonl"),
                                              tail(self.path("events.jsonl")))

    def _fail(self, msg):
        raise SmtpServerError("%s\n%s" % (msg, self.log_tail()))

    # ---- setup ----

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True,
                           timeout=120)
        if p.returncode != 0:
            raise SmtpServerError("openssl %s failed (exit %d):\n%s" % (
                " ".join(args), p.returncode,
                (p.stdout + p.stderr).decode("utf-8", "replace")))

    def _ca(self, name, cn):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
                      "-out", name + ".crt", "-days", "3650", "-subj", "/CN=" + cn,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _leaf(self, name, cn, san):
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
                      "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(self.path(name + ".ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n"
                    "subjectAltName=%s\n" % san)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
                      "ca.key", "-CAcreateserial", "-out", name + ".crt", "-days", "365",
                      "-extfile", name + ".ext")

    def _make_certs(self, certs):
        if certs is None:
            self._ca("ca", "tend test CA")
            self._ca("bad-ca", "tend unrelated CA")
            self._leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1")
            self._leaf("wrong", "wrong.example", "DNS:wrong.example")
        elif hasattr(certs, "ca_file") and hasattr(certs, "path"):  # a Dovecot
            for name in ("ca.crt", "server.crt", "server.key", "bad-ca.crt", "wrong.crt",
                         "wrong.key"):
                if os.path.exists(certs.path(name)):
                    shutil.copyfile(certs.path(name), self.path(name))
        else:
            ca, crt, key = certs
            shutil.copyfile(ca, self.path("ca.crt"))
            shutil.copyfile(crt, self.path("server.crt"))
            shutil.copyfile(key, self.path("server.key"))
        for k in ("ca.key", "bad-ca.key", "server.key", "wrong.key"):
            if os.path.exists(self.path(k)):
                os.chmod(self.path(k), 0o600)

    def _write_conf(self):
        name = "server" if self.cert == "good" else self.cert
        cfg = {"dir": self.dir, "host": HOST, "port": self.port, "tls": self.tls,
               "users": self.users, "hostname": self.hostname, "smtputf8": self.smtputf8,
               "cert_file": self.path(name + ".crt"), "key_file": self.path(name + ".key")}
        _write_atomic(self.conf, json.dumps(cfg, indent=2) + "\n")

    def _write_control(self, ctl):
        _write_atomic(self.path("control.json"), json.dumps(ctl, indent=2) + "\n")

    # ---- running ----

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        """Starts the server and returns once it listens. When the port turned out to be
        taken at the first start, a new one is picked (up to 3 times); later starts keep it."""
        if self.running():
            return
        for attempt in range(3):
            try:
                self._start(timeout)
                self._started = True
                return
            except _PortBusy as e:
                if self._started or attempt == 2:
                    self._fail(str(e))
                self.port = free_port()
                self._write_conf()

    def _listening(self):
        """True when /proc/net/tcp shows our port listening on 127.0.0.1 (checked without
        connecting, so that the event log only holds the connections of the test)."""
        want = "0100007F:%04X" % self.port
        try:
            with open("/proc/net/tcp") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[1] == want and fields[3] == "0A":
                        return True
            return False
        except OSError:
            return True  # no /proc: the ready file has to do

    def _start(self, timeout):
        if not port_free(self.port):
            raise _PortBusy("port %d is taken" % self.port)
        ready = self.path("ready")
        if os.path.exists(ready):
            os.unlink(ready)
        with open(self.out, "ab") as out:
            offset = out.tell()
            self.proc = subprocess.Popen(
                [PYTHON, os.path.abspath(__file__), "--serve", self.conf], cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))

        def output():
            with open(self.out, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                text = output()
                if "in use" in text:
                    raise _PortBusy("the SMTP server could not listen:\n" + text)
                raise SmtpServerError("the SMTP server exited at start (status %d):\n%s" % (
                    rc, text))
            try:
                with open(ready) as f:
                    pid = f.read().strip()
            except OSError:
                pid = None
            if pid == str(self.proc.pid) and self._listening():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise SmtpServerError(
                    "the SMTP server did not listen on %s:%d within %g s:\n%s" % (
                        HOST, self.port, timeout, output()))
            time.sleep(0.02)

    def _reap(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout=5):
        """Stops the server (SIGTERM): it stops listening and drops every connection at once,
        without a reply, even in the middle of a transaction. After timeout seconds: kill()."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not self._reap(timeout):
                self.kill()
                return
        self.proc = None

    def kill(self):
        """Kills the server (SIGKILL): connections drop without a word, nothing is cleaned up
        (a message being written stays in messages/.tmp)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._reap(10)
        self.proc = None

    def restart(self, cert=None):
        """Stops and starts on the same port; cert="wrong" serves the wrong.example
        certificate (signed by the good CA), cert="good" the localhost one again."""
        self.stop()
        if cert is not None and cert != self.cert:
            if not os.path.exists(self.path(("server" if cert == "good" else cert) + ".crt")):
                raise SmtpServerError("no %s certificate in %s" % (cert, self.dir))
            self.cert = cert
            self._write_conf()
        self.start()

    def close(self):
        """Stops the server and removes the directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            _live.discard(self)

    # ---- switches ----

    def switches(self):
        return _read_json(self.path("control.json"), {})

    def set(self, **switches):
        """Turns switches on (or off with None); they apply from the server's next step on."""
        for k in switches:
            if k not in SWITCHES:
                raise ValueError("unknown switch %r (known: %s)" % (k, ", ".join(SWITCHES)))
        ctl = self.switches()
        for k, v in switches.items():
            if v is None:
                ctl.pop(k, None)
            else:
                ctl[k] = v
        self._write_control(ctl)

    def reset(self):
        """Every switch off."""
        self._write_control({})

    # ---- messages ----

    def messages(self):
        """Every stored message, in arrival order."""
        d = self.path("messages")
        out = []
        for name in sorted(os.listdir(d)):
            if not name.endswith(".eml"):
                continue
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                data = f.read()
            env = _read_json(p[:-4] + ".json", {})
            out.append(Message(p, env, data))
        return out

    def count(self):
        return len([n for n in os.listdir(self.path("messages")) if n.endswith(".eml")])

    def wait_for(self, n, timeout=10):
        """Waits until at least n messages were stored (timeout times SLOW, as tendtest's
        wait_until) and returns messages()."""
        deadline = time.monotonic() + timeout * SLOW
        while self.count() < n:
            if time.monotonic() > deadline:
                self._fail("timed out after %g s waiting for %d message(s); %d stored" % (
                    timeout * SLOW, n, self.count()))
            if self.proc is not None and self.proc.poll() is not None:
                self._fail("the SMTP server exited (status %d) while waiting for %d "
                           "message(s)" % (self.proc.returncode, n))
            time.sleep(0.02)
        return self.messages()

    def clear_messages(self):
        """Removes the stored messages (numbering goes on)."""
        d = self.path("messages")
        for name in os.listdir(d):
            if name.endswith((".eml", ".json")):
                os.unlink(os.path.join(d, name))

    # ---- events ----

    def events(self, ev=None, conn=None):
        """The event log as a list of dicts, oldest first, optionally only those named ev
        (a name or a tuple of names) and/or of connection conn."""
        try:
            with open(self.path("events.jsonl"), "rb") as f:
                raw = f.read()
        except OSError:
            return []
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line being written
            if ev is not None and e.get("ev") not in ((ev,) if isinstance(ev, str) else ev):
                continue
            if conn is not None and e.get("conn") != conn:
                continue
            out.append(e)
        return out

    def connections(self):
        """How many connections the server accepted (TLS handshake or not), restarts included."""
        return len(self.events("connect"))

    def replies(self, cmd=None):
        """The reply events, optionally only those answering cmd ("MAIL", "DATA", ...)."""
        return [e for e in self.events("reply")
                if cmd is None or (e.get("cmd") or "").upper() == cmd.upper()]

    def transactions(self):
        """How many MAIL FROM commands the server accepted (2xx)."""
        return len([e for e in self.replies("MAIL") if 200 <= (e.get("code") or 0) < 300])

    def wait_event(self, ev, n=1, timeout=10, **match):
        """Waits until at least n events named ev whose fields equal match are logged;
        returns them."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            got = [e for e in self.events(ev)
                   if all(e.get(k) == v for k, v in match.items())]
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                self._fail("timed out after %g s waiting for %d %s event(s) %r" % (
                    timeout * SLOW, n, ev, match))
            time.sleep(0.02)

    # ---- tend.yaml ----

    def password_file(self, user="support", password=None):
        """Writes USER.pass (mode 0600) holding the password (users[user] unless given)."""
        if password is None:
            password = (self.users or {}).get(user)
            if password is None:
                raise SmtpServerError("no password for %r" % (user,))
        p = self.path("%s.pass" % user)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        os.chmod(p, 0o600)
        return p

    def config_yaml(self, indent=4, user=None, ca_file=None, url=None, password="file",
                    extra=None):
        """The smtp: block of an account in tend.yaml, "smtp:" indented by indent spaces
        (4: beside the imap: block of imapserver's Dovecot.config(), which it may follow):

            smtp:
              url: smtp://localhost:PORT
              ca_file: DIR/ca.crt
              user: support
              password_file: DIR/support.pass

        user: default the first of users (none without users); ca_file=False leaves it out;
        password: "file", "command" (password_command: [cat, FILE]) or None; extra: more keys
        (a value None removes a key)."""
        if user is None and self.users:
            user = next(iter(self.users))
        keys = [("url", url or self.url())]
        if ca_file is not False:
            keys.append(("ca_file", ca_file or self.ca_file))
        if user:
            keys.append(("user", user))
            if password == "file":
                keys.append(("password_file", self.password_file(user)))
            elif password == "command":
                keys.append(("password_command", ["cat", self.password_file(user)]))
        for k, v in (extra or {}).items():
            keys = [(a, b) for a, b in keys if a != k]
            if v is not None:
                keys.append((k, v))
        pad = " " * indent
        lines = [pad + "smtp:"]
        for k, v in keys:
            if isinstance(v, (list, tuple)):
                v = "[" + ", ".join(yaml_scalar(x) for x in v) + "]"
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int):
                v = str(v)
            else:
                v = yaml_scalar(v)
            lines.append("%s  %s: %s" % (pad, k, v))
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The server side: `smtpserver.py --serve CONFIG.json`, run by SmtpServer.start()
# ---------------------------------------------------------------------------------------------

class _State:
    """What the connections of one server process share: counters, the event log, the
    switches and the message store."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = cfg["dir"]
        self.users = cfg["users"]
        self.live = set()
        events = os.path.join(self.dir, "events.jsonl")
        self.conns = 0
        try:
            with open(events, "rb") as f:
                for line in f:
                    if b'"ev": "connect"' in line:
                        self.conns += 1
        except OSError:
            pass
        self.events_fd = os.open(events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.msgdir = os.path.join(self.dir, "messages")
        self.tmpdir = os.path.join(self.msgdir, ".tmp")
        os.makedirs(self.tmpdir, exist_ok=True)
        self.msgs = 0
        for name in os.listdir(self.msgdir):
            stem = name.split(".")[0]
            if stem.isdigit():
                self.msgs = max(self.msgs, int(stem))

    def next_conn(self):
        self.conns += 1
        return self.conns

    def log(self, ev, conn=None, **kw):
        e = {"t": round(time.time(), 3), "ev": ev, "conn": conn}
        e.update(kw)
        os.write(self.events_fd, (json.dumps(e) + "\n").encode())

    def control(self):
        ctl = _read_json(os.path.join(self.dir, "control.json"), {})
        return ctl if isinstance(ctl, dict) else {}

    def store(self, server, session, envelope):
        self.msgs += 1
        n = self.msgs
        name = "%06d" % n
        data = envelope.original_content or b""
        login = None
        if session.authenticated and session.auth_data is not None:
            lg = getattr(session.auth_data, "login", None)
            if isinstance(lg, bytes):
                lg = lg.decode("utf-8", "replace")
            login = lg
        meta = {"n": n, "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "smtp_utf8": bool(envelope.smtp_utf8), "login": login,
                "tls": _is_tls(server.transport), "helo": session.host_name,
                "conn": server.conn, "time": round(time.time(), 3), "size": len(data)}
        for ext, blob in ((".json", (json.dumps(meta, indent=2) + "\n").encode()),
                          (".eml", data)):
            tmp = os.path.join(self.tmpdir, name + ext)
            with open(tmp, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.msgdir, name + ext))
        self.log("stored", server.conn, n=n, size=len(data))
        return n


def _is_tls(transport):
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _tls_version(transport):
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    return obj.version() if obj is not None else None


class _Handler:
    """aiosmtpd handler hooks: the switches, the message store."""

    def __init__(self, state):
        self.state = state

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With a 5-argument handle_EHLO, aiosmtpd 1.4 leaves session.host_name to the hook:
        # without this, MAIL gets "503 Error: send HELO first".
        session.host_name = hostname
        if self.state.users is None:  # aiosmtpd always advertises its built-in mechanisms
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.state.control().get("mail_reply")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rejects = self.state.control().get("reject_rcpt") or {}
        for addr, reply in rejects.items():
            if addr.lower() == address.lower() and reply:
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        st = self.state
        st.log("data_end", server.conn, size=len(envelope.original_content or b""))
        ctl = st.control()
        hold = ctl.get("hold_before_data_end")
        if hold:
            st.log("hold", server.conn, seconds=hold, what="before_data_end")
            await asyncio.sleep(float(hold))
            ctl = st.control()
        reply = ctl.get("data_reply")
        if reply:
            return reply
        n = st.store(server, session, envelope)
        hold = ctl.get("hold_after_data")
        if hold:
            st.log("hold", server.conn, seconds=hold, what="after_data")
            await asyncio.sleep(float(hold))
        if ctl.get("drop_after_data"):
            st.log("drop", server.conn)
            server.transport.abort()
            await asyncio.sleep(3600)  # connection_lost() cancels this
        return "250 2.0.0 Ok: queued as %d" % n

    async def handle_exception(self, error):
        from aiosmtpd.smtp import TLSSetupException
        if isinstance(error, TLSSetupException):
            cause = error.__cause__ or error
            self.state.log("tls_error", None, error="%s: %s" % (type(cause).__name__, cause))
            return "454 4.7.0 TLS handshake failed"
        self.state.log("error", None, error="%s: %s" % (type(error).__name__, error))
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        return "500 Error: (%s) %s" % (type(error).__name__, error)


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult
    st = server._state
    login = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    ok = st.users is not None and login in st.users and st.users[login] == password
    st.log("login", server.conn, mechanism=mechanism, login=login, ok=ok)
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)  # 535 5.7.8


_DEFAULT = object()


def _smtp_class():
    """aiosmtpd's SMTP with the event log, the connection number and hold_before_data."""
    import asyncio
    from aiosmtpd.smtp import SMTP, syntax

    class _SMTP(SMTP):
        def __init__(self, handler, state, implicit, **kw):
            self._state = state
            self._implicit = implicit
            self.conn = state.next_conn()
            self._cmd = None
            self._reply_lines = []
            self._gone = False
            self._overrun = False
            super().__init__(handler, **kw)
            if state.users is None:
                self._smtp_methods["AUTH"] = self._no_auth
            state.live.add(self)
            # Called when the connection is accepted, before any TLS handshake.
            state.log("connect", self.conn)

        async def _no_auth(self, arg):
            await self.push("502 5.5.1 AUTH not available")

        def _client_connected_cb(self, reader, writer):
            super()._client_connected_cb(reader, writer)
            orig = reader.readuntil
            proto = self

            # aiosmtpd reads command lines with readuntil() (no argument), DATA lines with
            # readuntil(b"\r\n") and AUTH responses with readline(), which calls
            # readuntil(b"\n"): only the first are logged, so no password is.
            async def readuntil(separator=_DEFAULT):
                if separator is not _DEFAULT:
                    return await orig(separator)
                try:
                    line = await orig()
                except asyncio.LimitOverrunError:
                    proto._overrun = True
                    raise
                if proto._overrun:  # the end of a line too long for a command
                    proto._overrun = False
                    proto._cmd = "TOOLONG"
                    proto._state.log("toolong", proto.conn)
                    return line
                proto._log_command(line)
                return line

            reader.readuntil = readuntil

        def _log_command(self, line):
            verb, _, arg = line.rstrip(b"\r\n").partition(b" ")
            verb = verb.decode("ascii", "replace").upper()
            arg = arg.decode("utf-8", "replace").strip()
            if verb == "AUTH":
                arg = arg.split(" ")[0] if arg else ""  # never the initial response
            self._cmd = verb
            self._state.log(verb.lower() or "empty", self.conn, arg=arg)

        def connection_made(self, transport):
            starttls_done = self._original_transport is not None and self.transport is not None
            super().connection_made(transport)
            if starttls_done:
                self._state.log("tls", self.conn, via="starttls",
                                version=_tls_version(transport))
            elif self._implicit:
                self._state.log("tls", self.conn, via="implicit",
                                version=_tls_version(transport))

        def connection_lost(self, error):
            if not self._gone:
                self._gone = True
                self._state.live.discard(self)
                self._state.log("disconnect", self.conn)
            super().connection_lost(error)

        async def push(self, status):
            text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
            for line in text.split("\r\n"):
                if len(line) > 3 and line[3] == "-":
                    self._reply_lines.append(line)
                    continue
                full = self._reply_lines + [line]
                self._reply_lines = []
                code = int(line[:3]) if line[:3].isdigit() else None
                self._state.log("reply", self.conn, cmd=self._cmd, code=code,
                                text="\n".join(full))
            await super().push(status)

        @syntax("DATA")
        async def smtp_DATA(self, arg):
            hold = self._state.control().get("hold_before_data")
            if hold:
                self._state.log("hold", self.conn, seconds=hold, what="before_data")
                await asyncio.sleep(float(hold))
            await super().smtp_DATA(arg)

    return _SMTP


class _QuietFilter:
    """Drops aiosmtpd's warnings about its own deprecated attributes and about what this
    harness does on purpose (AUTH without STARTTLS on implicit TLS and tls=none)."""

    NOISE = ("Session.login_data is deprecated", "auth_required == True but",
             "tls_context.verify_mode")

    def filter(self, record):
        msg = record.getMessage()
        return not any(n in msg for n in self.NOISE)


def serve(conf_path):
    import asyncio
    import asyncio.sslproto as sslproto
    import logging
    import warnings

    with open(conf_path) as f:
        cfg = json.load(f)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("mail.log").addFilter(_QuietFilter())
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    state = _State(cfg)
    mode = cfg["tls"]
    users = cfg["users"]
    ctx = None
    if mode != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cfg["cert_file"], cfg["key_file"])

    kw = dict(hostname=cfg.get("hostname") or "localhost",  # not socket.getfqdn(): DNS
              ident="tend test SMTP", enable_SMTPUTF8=bool(cfg.get("smtputf8", True)),
              decode_data=False, authenticator=_authenticator,
              auth_required=users is not None)
    if mode == "starttls":
        kw.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    else:
        # Implicit TLS: aiosmtpd only knows of STARTTLS (tls_context would advertise it inside
        # TLS, and auth_require_tls would refuse AUTH with 538 since no STARTTLS happened):
        # the listener does TLS and SMTP is told neither.
        kw.update(tls_context=None, require_starttls=False, auth_require_tls=False)

    SMTPClass = _smtp_class()
    handler = _Handler(state)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def on_loop_error(loop, context):
        exc = context.get("exception")
        state.log("error", None, error="%s: %s" % (context.get("message"), exc))
        loop.default_exception_handler(context)

    loop.set_exception_handler(on_loop_error)

    def factory():
        smtp = SMTPClass(handler, state=state, implicit=(mode == "implicit"), loop=loop, **kw)
        if mode != "implicit":
            return smtp
        # Implicit TLS done as loop.create_server(ssl=...) does, but with a waiter of our own:
        # asyncio says nothing (outside debug mode) when a handshake fails, the test may want
        # to see it (tls_error).
        waiter = loop.create_future()

        def handshake_done(fut):
            exc = fut.exception() if not fut.cancelled() else None
            if exc is not None:
                state.log("tls_error", smtp.conn, error="%s: %s" % (type(exc).__name__, exc))
        waiter.add_done_callback(handshake_done)
        return sslproto.SSLProtocol(loop, smtp, ctx, waiter, server_side=True)

    try:
        server = loop.run_until_complete(loop.create_server(
            factory, host=cfg["host"], port=cfg["port"], reuse_address=True))
    except OSError as e:
        print("smtpserver: cannot listen on %s:%d: %s" % (cfg["host"], cfg["port"], e),
              file=sys.stderr, flush=True)
        sys.exit(2)
    state.log("start", None, pid=os.getpid(), port=cfg["port"], tls=mode)
    _write_atomic(os.path.join(state.dir, "ready"), str(os.getpid()))

    done = loop.create_future()

    def shutdown():
        if not done.done():
            done.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, shutdown)
    loop.add_signal_handler(signal.SIGINT, shutdown)
    loop.run_until_complete(done)

    server.close()
    for proto in list(state.live):
        t = proto.transport
        if t is not None:
            t.abort()  # no close_notify, no waiting on the client: the connection drops
        orig = getattr(proto, "_original_transport", None)
        if orig is not None:
            orig.abort()
    loop.run_until_complete(asyncio.sleep(0.05))
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(server.wait_closed())
    state.log("stop", None)
    loop.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        print("usage: smtpserver.py --serve CONFIG.json   (run by SmtpServer)", file=sys.stderr)
        sys.exit(2)
