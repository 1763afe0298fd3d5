"""imapserver: a throwaway dovecot for the daemon tests.

    dv = Dovecot(users={"support": "secret"})   # certificates made, dovecot started
    dv.append("INBOX", b"From: ...")
    env.write("tend.yaml", dv.config(tls="implicit"))
    ...
    dv.close()                                   # stopped, temporary directory removed

Everything lives in one temporary directory: a test CA and a server certificate for
localhost/127.0.0.1, a second, unrelated CA (for "certificate not trusted" tests), a certificate
for wrong.example signed by the good CA (restart(cert="wrong") serves it, for host-name tests),
dovecot.conf, the runtime, state and log directories and the maildirs. dovecot runs in the
foreground (`dovecot -F -c FILE`, never the system configuration), in its own process group,
listening only on 127.0.0.1 on two ports picked when the object is made: port_imap (plain, with
STARTTLS) and port_imaps (implicit TLS); they stay the same across restarts.

As root, dovecot's login processes run as dovenull, its internal processes as dovecot, and the
mail belongs to the `mail` user. As anyone else, everything runs as the current user.

Helpers talk IMAP (over TLS, verified with the test CA) through imaplib, except bulk_append,
which pipelines MULTIAPPEND with LITERAL+ and so stores thousands of messages a second.

    start() stop() restart(cert=None) kill() close()       the server (stop: SIGTERM, kill: -9)
    append(folder, data, flags=(), internaldate=None) -> UID; bulk_append(folder, [data...])
    uids(folder) count(folder) fetch_flags(folder) set_seen(folder, uids) store_flags(...)
    uidvalidity(folder) change_uidvalidity(folder)        (doveadm mailbox update --uid-validity)
    create(folder) doveadm(*args) connect() -> imaplib connection, logged in
    config(...) -> tend.yaml text; password_file(user)
    port_imap port_imaps ca_file bad_ca_file log log_tail() dir path()
    prelogin_rawlog() clear_rawlog()                      (Dovecot(rawlog=True))
    introspection_requests                                (Dovecot(oauth2_tokens={...}))

Failures raise DovecotError with the tail of dovecot's log. Every Dovecot still open when the
interpreter exits is closed (atexit), and dovecot gets SIGTERM if the test process dies.

tend reaches the servers as "localhost" (their certificates name it): config() fails at once,
with localhost_problem()'s one line, on a machine where that name does not lead to 127.0.0.1.
"""

import atexit
import datetime
import glob
import grp
import http.server
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from reaper import die_with_parent, processes, reap_orphans

DOVECOT = os.environ.get("DOVECOT_BIN", "/usr/sbin/dovecot")
DOVEADM = os.environ.get("DOVEADM_BIN", "/usr/bin/doveadm")
DH_FILE = "/usr/share/dovecot/dh.pem"

_live = set()  # every Dovecot not yet closed, for the atexit hook


@atexit.register
def _close_all():
    for dv in list(_live):
        try:
            dv.close()
        except Exception:
            pass


class DovecotError(Exception):
    pass


def free_port():
    """A port on 127.0.0.1 that nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class _PortBusy(Exception):
    pass


_localhost = []  # localhost_problem()'s answer, once known


def localhost_problem():
    """None when "localhost" resolves to 127.0.0.1, where the test servers listen; otherwise
    one line saying what is wrong (without /etc/hosts naming it, tendd would retry its login
    for ever and every daemon test would time out)."""
    if not _localhost:
        fix = 'the daemon tests need it: add "127.0.0.1 localhost" to /etc/hosts'
        try:
            addrs = {a[4][0] for a in socket.getaddrinfo("localhost", None,
                                                         type=socket.SOCK_STREAM)}
            problem = None if "127.0.0.1" in addrs else (
                '"localhost" resolves to %s, not 127.0.0.1; %s' % (", ".join(sorted(addrs)), fix))
        except socket.gaierror as e:
            problem = '"localhost" does not resolve on this machine (%s); %s' % (e.strerror, fix)
        _localhost.append(problem)
    return _localhost[0]


def _run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    if p.returncode != 0:
        raise DovecotError("%s failed (exit %d):\n%s%s" % (
            " ".join(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8", "replace")


def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Introspection(http.server.BaseHTTPRequestHandler):
    """OAuth2 token introspection (RFC 7662) for dovecot's oauth2 passdb: POST token=...;
    the tokens dict of the server maps a valid token to its user name."""

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        token = None
        for part in body.split("&"):
            k, _, v = part.partition("=")
            if k == "token":
                from urllib.parse import unquote_plus
                token = unquote_plus(v)
        auth = self.headers.get("Authorization") or ""
        if token is None and auth.startswith("Bearer "):
            token = auth[7:]
        self._answer(token)

    def do_GET(self):
        auth = self.headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is None and "=" in self.path:
            from urllib.parse import unquote_plus
            token = unquote_plus(self.path.rsplit("=", 1)[1])
        self._answer(token)

    def _answer(self, token):
        users = self.server.tokens
        self.server.requests.append(token)
        if token in users:
            doc = {"active": True, "username": users[token]}
        else:
            doc = {"active": False}
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _IMAP4_SSL(imaplib.IMAP4_SSL):
    """Connects to 127.0.0.1 whatever name the certificate is checked against."""

    def _create_socket(self, timeout):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class Dovecot:
    """A dovecot of its own in a temporary directory; started by the constructor unless
    start=False. users maps login to password. oauth2_tokens (token -> login) turns on
    XOAUTH2 and OAUTHBEARER, checked against an introspection server in this process.
    idle_notify is imap_idle_notify_interval (how often an IDLE client hears "OK Still
    here"); new mail reaches IDLE clients about 0.5 s after it arrives whatever it is.
    rawlog=True records what clients send before they log in (dovecot's pre-login rawlog,
    readable only for connections without TLS): see prelogin_rawlog(). conf: more lines for
    dovecot.conf, appended as they are ({d} is the directory)."""

    def __init__(self, tmpdir=None, users=None, start=True, oauth2_tokens=None,
                 idle_notify="1 secs", rawlog=False, conf=""):
        self.users = dict(users or {"support": "secret"})
        self.rawlog = rawlog
        self.extra_conf = conf
        self.oauth2_tokens = dict(oauth2_tokens) if oauth2_tokens else None
        self.idle_notify = idle_notify
        self.dir = tempfile.mkdtemp(prefix="tend-dovecot-", dir=tmpdir)
        self.proc = None
        self.cert = "good"
        self._http = None
        _live.add(self)
        try:
            self.root = os.geteuid() == 0
            if self.root:
                m = pwd.getpwnam("mail")
                self.mail_uid, self.mail_gid = m.pw_uid, m.pw_gid
                self.login_user, self.internal_user = "dovenull", "dovecot"
                self.internal_group = "dovecot"
            else:
                me = pwd.getpwuid(os.geteuid())
                self.mail_uid, self.mail_gid = me.pw_uid, me.pw_gid
                self.login_user = self.internal_user = me.pw_name
                self.internal_group = grp.getgrgid(os.getegid()).gr_name
            os.chmod(self.dir, 0o755)  # dovecot's users must reach their files inside
            self.port_imap = free_port()
            self.port_imaps = free_port()
            self._make_certs()
            self._make_mail()
            if self.oauth2_tokens is not None:
                self._start_introspection()
            if rawlog:
                os.mkdir(self.path("rawlog"))
                os.chmod(self.path("rawlog"), 0o777)  # written by the login user
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
        return self.path("dovecot.conf")

    @property
    def log(self):
        return self.path("dovecot.log")

    @property
    def ca_file(self):
        return self.path("ca.crt")

    @property
    def bad_ca_file(self):
        return self.path("bad-ca.crt")

    def log_tail(self, n=40):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no dovecot log)"

    def _fail(self, msg):
        raise DovecotError("%s\n--- dovecot log (%s), last lines:\n%s" % (
            msg, self.log, self.log_tail()))

    # ---- setup ----

    def _openssl(self, *args):
        _run(["openssl"] + list(args), cwd=self.dir)

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

    def _make_certs(self):
        self._ca("ca", "tend test CA")
        self._ca("bad-ca", "tend unrelated CA")
        self._leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1")
        self._leaf("wrong", "wrong.example", "DNS:wrong.example")
        for k in ("ca.key", "bad-ca.key", "server.key", "wrong.key"):
            os.chmod(self.path(k), 0o600)

    def _make_mail(self):
        os.mkdir(self.path("mail"), 0o700)
        os.chown(self.path("mail"), self.mail_uid, self.mail_gid)
        with open(self.path("passwd"), "w") as f:
            for user, pw in self.users.items():
                f.write("%s:{PLAIN}%s\n" % (user, pw))
        # Read by dovecot's auth process, which runs as the internal user: test passwords only.
        os.chmod(self.path("passwd"), 0o644)
        for user, pw in self.users.items():
            p = self.path("%s.pass" % user)
            with open(p, "w") as f:
                f.write(pw + "\n")
            os.chmod(p, 0o600)

    def _start_introspection(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Introspection)
        srv.daemon_threads = True
        srv.tokens = self.oauth2_tokens
        srv.requests = []
        self._http = srv
        self.oauth2_port = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        with open(self.path("oauth2.conf.ext"), "w") as f:
            f.write("introspection_mode = post\n"
                    "introspection_url = http://127.0.0.1:%d/introspect\n"
                    "force_introspection = yes\n"
                    "username_attribute = username\n"
                    "active_attribute = active\n"
                    "active_value = true\n"
                    "timeout_msecs = 5000\n" % self.oauth2_port)
        os.chmod(self.path("oauth2.conf.ext"), 0o644)

    def prelogin_rawlog(self):
        """What clients sent to the login process, all connections together (rawlog=True)."""
        out = b""
        for p in sorted(glob.glob(self.path("rawlog", "*.in"))):
            with open(p, "rb") as f:
                out += f.read()
        return out.decode("utf-8", "replace")

    def clear_rawlog(self):
        for p in glob.glob(self.path("rawlog", "*")):
            os.unlink(p)

    @property
    def introspection_requests(self):
        """The tokens the introspection server was asked about, oldest first."""
        return list(self._http.requests) if self._http else []

    def _write_conf(self):
        d = self.dir
        mechs = "plain login"
        oauth = ""
        if self.oauth2_tokens is not None:
            mechs += " xoauth2 oauthbearer"
            oauth = ("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                     "  args = %s/oauth2.conf.ext\n}\n" % d)
        conf = """# Written by tests/imapserver.py; nothing of /etc/dovecot is read.
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
ssl = yes
ssl_cert = <{d}/{cert}.crt
ssl_key = <{d}/{cert}.key
{dh}
disable_plaintext_auth = no
auth_mechanisms = {mechs}
auth_verbose = yes
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = {idle_notify}
passdb {{
  driver = passwd-file
{pwmechs}  args = scheme=PLAIN username_format=%u {d}/passwd
}}
{oauth}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
{rawlog}  inet_listener imap {{
    address = 127.0.0.1
    port = {port_imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port_imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: a test's failed login must not slow the next ones down.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
service imap-urlauth-login {{
  chroot =
}}
service managesieve-login {{
  chroot =
}}
""".format(d=d, login_user=self.login_user, internal_user=self.internal_user,
           internal_group=self.internal_group,
           uid=self.mail_uid, gid=self.mail_gid, cert="server" if self.cert == "good" else "wrong",
           dh=("ssl_dh = <%s" % DH_FILE) if os.path.exists(DH_FILE) else "",
           mechs=mechs, oauth=oauth,
           pwmechs="  mechanisms = plain login\n" if oauth else "", idle_notify=self.idle_notify,
           port_imap=self.port_imap, port_imaps=self.port_imaps,
           rawlog=("  executable = imap-login -R %s/rawlog\n" % d) if self.rawlog else "")
        conf += self.extra_conf.replace("{d}", d)
        with open(self.conf, "w") as f:
            f.write(conf)
        os.chmod(self.conf, 0o644)

    # ---- running ----

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15):
        """Starts dovecot and returns once both ports accept connections. When a port
        turned out to be taken at the first start, new ports are picked (up to 3 times);
        later starts keep the ports."""
        if self.running():
            return
        # Services that this dovecot build lacks cannot take "chroot =": drop their sections.
        self._trim_unknown_services()
        for attempt in range(3):
            try:
                self._start(timeout)
                self._started = True
                return
            except _PortBusy as e:
                if getattr(self, "_started", False) or attempt == 2:
                    self._fail(str(e))
                self.port_imap, self.port_imaps = free_port(), free_port()
                self._write_conf()
                self._trimmed = False
                self._trim_unknown_services()

    def _start(self, timeout):
        for port in (self.port_imap, self.port_imaps):
            if not port_free(port):
                raise _PortBusy("port %d is taken" % port)
        out = open(self.path("dovecot.out"), "ab")
        try:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_parent(signal.SIGTERM))
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        waiting = {self.port_imap, self.port_imaps}
        while waiting:
            if self.proc.poll() is not None:
                self.proc = None
                with open(self.path("dovecot.out"), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                if "in use" in text or "in use" in self.log_tail(5):
                    raise _PortBusy("dovecot could not listen:\n" + text)
                self._fail("dovecot exited at start:\n" + text)
            for port in list(waiting):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    waiting.discard(port)
                except OSError:
                    pass
            if waiting:
                if time.monotonic() > deadline:
                    self.kill()
                    self._fail("dovecot did not listen on %s within %d s" % (
                        sorted(waiting), timeout))
                time.sleep(0.02)

    def _trim_unknown_services(self):
        if getattr(self, "_trimmed", False):
            return
        self._trimmed = True
        p = subprocess.run(["doveconf", "-c", self.conf, "-n"], capture_output=True)
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode == 0:
            return
        # "Unknown section name: service managesieve-login" and the like.
        with open(self.conf) as f:
            conf = f.read()
        for name in ("pop3-login", "submission-login", "imap-urlauth-login",
                     "managesieve-login"):
            conf = conf.replace("service %s {\n  chroot =\n}\n" % name, "")
        with open(self.conf, "w") as f:
            f.write(conf)
        p = subprocess.run(["doveconf", "-c", self.conf, "-n"], capture_output=True)
        if p.returncode != 0:
            raise DovecotError("doveconf refuses %s: %s%s" % (self.conf, err,
                               p.stderr.decode("utf-8", "replace")))

    def _group_alive(self):
        """True while a process of dovecot's group is alive (zombies waiting to be reaped
        by init do not count)."""
        if self.proc is None:
            return False
        return any(pgid == self.proc.pid and state != b"Z"
                   for _, state, pgid in processes().values())

    def _wait_group(self, timeout):
        deadline = time.monotonic() + timeout
        while self._group_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _reap(self):
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        reap_orphans()  # the children that outlived the master were handed to the test

    def stop(self, timeout=3):
        """Stops dovecot as an administrator would (SIGTERM): its processes end and clients
        lose their connections at once. The master itself may linger a while (flushing its
        log); after timeout seconds what is left of the group is killed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # The master is gone (or slow); its children leave when they notice. Make sure.
        if self.proc.poll() is not None:
            self._wait_group(timeout)
        if self._group_alive():
            self._killpg()
        self._reap()
        self.proc = None

    def _killpg(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._wait_group(10)

    def kill(self):
        """Kills every dovecot process at once (SIGKILL): connections drop without a word."""
        if self.proc is None:
            return
        self._killpg()
        self._reap()
        self.proc = None

    def restart(self, cert=None):
        """Stops and starts on the same ports; cert="wrong" serves the wrong.example
        certificate, cert="good" the localhost one again."""
        self.stop()
        if cert is not None and cert != self.cert:
            self.cert = cert
            self._write_conf()
            self._trimmed = False
        self.start()

    def close(self):
        """Stops dovecot (and the introspection server) and removes the directory."""
        try:
            self.stop()
        finally:
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
                self._http = None
            shutil.rmtree(self.dir, ignore_errors=True)
            _live.discard(self)

    # ---- tend.yaml ----

    def password_file(self, user="support"):
        return self.path("%s.pass" % user)

    def config(self, store="store", tls="implicit", host="localhost", user="support",
               ca_file=None, port=None, folders=("INBOX",), idle=True, poll_interval="60s",
               timeout="10s", password="file", extra=None, name="support",
               address="support@shop.example", top=""):
        """tend.yaml text with store and one account for this server. password: "file"
        (password_file), "command" (password_command: [cat, FILE]) or None (neither: give
        what is needed in extra). extra: more imap keys, written as given (a value may be a
        str, int, bool or list). top: more top-level YAML, appended as is."""
        if host == "localhost" and localhost_problem():
            raise DovecotError(localhost_problem())
        if port is None:
            port = self.port_imaps if tls == "implicit" else self.port_imap
        if ca_file is None:
            ca_file = self.ca_file
        imap = [("host", host), ("port", port), ("tls", tls), ("ca_file", ca_file),
                ("user", user)]
        if password == "file":
            imap.append(("password_file", self.password_file(user)))
        elif password == "command":
            imap.append(("password_command", ["cat", self.password_file(user)]))
        imap += [("folders", list(folders)), ("idle", idle), ("poll_interval", poll_interval),
                 ("timeout", timeout)]
        for k, v in (extra or {}).items():
            imap = [(a, b) for a, b in imap if a != k]
            if v is not None:
                imap.append((k, v))
        lines = ["store: %s" % yaml_scalar(store), "accounts:",
                 "  - name: %s" % yaml_scalar(name),
                 "    address: %s" % yaml_scalar(address), "    imap:"]
        for k, v in imap:
            lines.append("      %s: %s" % (k, yaml_value(v)))
        text = "\n".join(lines) + "\n"
        if top:
            text += top if top.endswith("\n") else top + "\n"
        return text

    # ---- IMAP helpers ----

    @property
    def tls_name(self):
        """The name the helpers verify the served certificate against."""
        return "localhost" if self.cert == "good" else "wrong.example"

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def connect(self, user="support", password=None):
        """An imaplib connection over implicit TLS, logged in."""
        if password is None:
            password = self.users[user]
        try:
            im = _IMAP4_SSL(self.tls_name, self.port_imaps, ssl_context=self.ssl_context(),
                            timeout=30)
            im.login(user, password)
        except (OSError, imaplib.IMAP4.error) as e:
            self._fail("IMAP login to the test dovecot failed: %s" % e)
        return im

    def _check(self, what, typ, data):
        if typ != "OK":
            self._fail("%s: %s %r" % (what, typ, data))
        return data

    def create(self, folder, user="support"):
        im = self.connect(user)
        try:
            self._check("CREATE %s" % folder, *im.create(imap_quote(folder)))
        finally:
            im.logout()

    def append(self, folder, data, flags=(), internaldate=None, user="support"):
        """APPENDs one message; returns its UID (from APPENDUID)."""
        if isinstance(data, str):
            data = data.encode()
        data = crlf(data)
        fl = "(%s)" % " ".join(flags) if flags else None
        if internaldate is None:
            date = None
        elif isinstance(internaldate, str):
            date = internaldate
        else:
            date = imaplib.Time2Internaldate(internaldate)
        im = self.connect(user)
        try:
            typ, resp = im.append(imap_quote(folder), fl, date, data)
            self._check("APPEND to %s" % folder, typ, resp)
            m = re.search(rb"APPENDUID \d+ (\d+)", resp[0] or b"")
            return int(m.group(1)) if m else None
        finally:
            im.logout()

    def bulk_append(self, folder, messages, user="support", batch=500):
        """APPENDs many messages over one connection: MULTIAPPEND with LITERAL+ literals,
        pipelined, batch messages per command. Returns how many the server accepted."""
        ctx = self.ssl_context()
        raw = socket.create_connection(("127.0.0.1", self.port_imaps), timeout=60)
        s = ctx.wrap_socket(raw, server_hostname=self.tls_name)
        f = s.makefile("rb")
        try:
            def expect(tag):
                while True:
                    line = f.readline()
                    if not line:
                        self._fail("bulk append: connection closed")
                    if line.startswith(tag.encode() + b" "):
                        if not line.startswith(tag.encode() + b" OK"):
                            self._fail("bulk append: %r" % line)
                        return line

            f.readline()  # greeting
            pw = self.users[user]
            s.sendall(b"L LOGIN " + imap_quote(user).encode() + b" " +
                      imap_quote(pw).encode() + b"\r\n")
            expect("L")
            msgs = [crlf(m.encode() if isinstance(m, str) else m) for m in messages]
            tags = []
            for i in range(0, len(msgs), batch):
                tag = "B%d" % i
                out = [("%s APPEND %s" % (tag, imap_quote(folder))).encode()]
                for m in msgs[i:i + batch]:
                    out.append((" {%d+}\r\n" % len(m)).encode())
                    out.append(m)
                out.append(b"\r\n")
                s.sendall(b"".join(out))
                tags.append(tag)
            for tag in tags:
                expect(tag)
            s.sendall(b"Z LOGOUT\r\n")
            return len(msgs)
        finally:
            f.close()
            s.close()

    def uids(self, folder="INBOX", user="support"):
        im = self.connect(user)
        try:
            self._check("EXAMINE", *im.select(imap_quote(folder), readonly=True))
            data = self._check("UID SEARCH", *im.uid("SEARCH", None, "ALL"))
            return [int(x) for x in (data[0] or b"").split()]
        finally:
            im.logout()

    def fetch_flags(self, folder="INBOX", user="support"):
        """{uid: set of flags} of every message, read without changing anything."""
        im = self.connect(user)
        try:
            self._check("EXAMINE", *im.select(imap_quote(folder), readonly=True))
            data = self._check("UID FETCH", *im.uid("FETCH", "1:*", "(UID FLAGS)"))
            out = {}
            for item in data:
                if not item:
                    continue
                if isinstance(item, tuple):
                    item = item[0]
                m = re.search(rb"UID (\d+)", item)
                fl = re.search(rb"FLAGS \(([^)]*)\)", item)
                if m:
                    out[int(m.group(1))] = set(fl.group(1).decode().split()) if fl else set()
            return out
        finally:
            im.logout()

    def store_flags(self, folder, uids, flags, op="+FLAGS.SILENT", user="support"):
        im = self.connect(user)
        try:
            self._check("SELECT", *im.select(imap_quote(folder)))
            uidset = ",".join(str(u) for u in uids) if uids else "1:*"
            self._check("UID STORE", *im.uid("STORE", uidset, op, "(%s)" % " ".join(flags)))
        finally:
            im.logout()

    def set_seen(self, folder="INBOX", uids=None, user="support"):
        """Marks the given UIDs (all when None) \\Seen."""
        self.store_flags(folder, uids, ["\\Seen"], user=user)

    def count(self, folder="INBOX", user="support"):
        im = self.connect(user)
        try:
            typ, data = im.select(imap_quote(folder), readonly=True)
            self._check("EXAMINE", typ, data)
            return int(data[0])
        finally:
            im.logout()

    def uidvalidity(self, folder="INBOX", user="support"):
        """UIDVALIDITY as an IMAP client sees it when it opens the folder."""
        im = self.connect(user)
        try:
            self._check("EXAMINE", *im.select(imap_quote(folder), readonly=True))
            typ, data = im.response("UIDVALIDITY")
            return int(data[0])
        finally:
            im.logout()

    def doveadm(self, *args):
        return _run([DOVEADM, "-c", self.conf] + list(args))

    def change_uidvalidity(self, folder="INBOX", value=None, user="support"):
        """Gives folder a new UIDVALIDITY (different from the old one), as a server does when
        it rebuilds a mailbox; the messages stay. Returns the new value."""
        old = self.uidvalidity(folder, user)
        new = value if value is not None else old + 1000
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(new), folder)
        got = self.uidvalidity(folder, user)
        if got != new:
            self._fail("UIDVALIDITY of %s is %d after doveadm set %d (was %d)" % (
                folder, got, new, old))
        return new


def crlf(data):
    """Normalises line ends to CRLF, as IMAP wants."""
    return re.sub(rb"\r?\n", b"\r\n", data)


_PLAIN = re.compile(r"^[A-Za-z0-9_./@-][A-Za-z0-9_./@ -]*$")


def yaml_scalar(s):
    s = str(s)
    if _PLAIN.match(s) and not s.endswith(" ") and s not in ("yes", "no", "true", "false",
                                                                "null", "on", "off"):
        return s
    return json.dumps(s)


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(x) for x in v) + "]"
    return yaml_scalar(v)


def make_message(i, size=0, msgid=None, subject=None, sender=None, date=None):
    """A distinct small customer message number i (bytes, LF line ends); size pads the body
    to about that many bytes."""
    msgid = msgid or "bulk-%06d@customer.example" % i
    sender = sender or "Customer %d <customer%d@customer.example>" % (i, i)
    subject = subject or "Question number %d" % i
    if date is None:
        date = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc) + \
            datetime.timedelta(minutes=i)
    head = ("From: %s\nTo: support@shop.example\nSubject: %s\nDate: %s\nMessage-ID: <%s>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" % (
                sender, subject, date.strftime("%a, %d %b %Y %H:%M:%S +0000"), msgid))
    body = "Hello,\n\nthis is question %d. Where is my order?\n\nRegards\n" % i
    data = head + body
    if size > len(data):
        line = "padding padding padding padding padding padding padding padding pad\n"
        data += line * ((size - len(data)) // len(line) + 1)
    return data.encode()
