#!/usr/bin/python3
"""The self-test of tests/smtpserver.py (meson test smtpserver_selftest): smtplib and, when it is there, the
curl tool (libcurl, the client tend sends with) against SmtpServer. Prints TAP.

    /usr/bin/python3 tests/smtpserver_selftest.py [test_name ...]
"""

import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smtpserver import SmtpServer, SmtpServerError  # noqa: E402
from tendtest import Failure, check, eq, run  # noqa: E402

FROM = "support@shop.example"
TO = "customer@customer.example"
BODY = (b"From: Support <support@shop.example>\r\n"
        b"To: customer@customer.example\r\n"
        b"Subject: Re: Where is my order?\r\n"
        b"Message-ID: <reply-1@shop.example>\r\n"
        b"\r\n"
        b"Hello,\r\n"
        b".a line that starts with a dot\r\n"
        b"..and one with two\r\n"
        b"\r\n"
        b"Regards\r\n")


def ctx_for(srv, cafile=None):
    return ssl.create_default_context(cafile=cafile or srv.ca_file)


def starttls_client(srv, login=True, timeout=10):
    s = smtplib.SMTP("localhost", srv.port, timeout=timeout)
    s.ehlo("client.test")
    s.starttls(context=ctx_for(srv))
    s.ehlo("client.test")
    if login:
        s.login("support", "secret")
    return s


def with_server(**kw):
    def deco(fn):
        def wrapper():
            srv = SmtpServer(**kw)
            try:
                fn(srv)
            except Failure as e:
                raise Failure("%s\n%s" % (e, srv.log_tail(15)))
            finally:
                srv.close()
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


@with_server(tls="starttls")
def test_starttls_auth_send(srv):
    eq(srv.url(), "smtp://localhost:%d" % srv.port, "url")
    s = smtplib.SMTP("localhost", srv.port, timeout=10)
    s.ehlo("client.test")
    check(s.has_extn("starttls"), "STARTTLS not advertised")
    check(not s.has_extn("auth"), "AUTH advertised before TLS: %r" % s.esmtp_features)
    s.starttls(context=ctx_for(srv))
    s.ehlo("client.test")
    check(not s.has_extn("starttls"), "STARTTLS advertised again inside TLS")
    auth = s.esmtp_features.get("auth", "").split()
    check("PLAIN" in auth and "LOGIN" in auth, "AUTH mechanisms: %r" % auth)
    code, _ = s.login("support", "secret")
    eq(code, 235, "AUTH PLAIN")
    refused = s.sendmail(FROM, [TO, "cc@customer.example"], BODY)
    eq(refused, {}, "refused recipients")
    s.quit()
    msgs = srv.messages()
    eq(len(msgs), 1, "stored messages")
    m = msgs[0]
    eq(m.mail_from, FROM, "MAIL FROM")
    eq(m.rcpt_tos, [TO, "cc@customer.example"], "RCPT TOs")
    eq(m.login, "support", "login")
    eq(m.tls, True, "tls")
    eq(m.helo, "client.test", "EHLO name")
    eq(m.data, BODY, "data (dot-unstuffed, as sent)")
    eq(m.msg["Subject"], "Re: Where is my order?", "parsed Subject")
    eq(os.path.basename(m.path), "000001.eml", "file name")
    eq(sorted(os.listdir(srv.path("messages", ".tmp"))), [], "leftovers in messages/.tmp")
    eq(srv.connections(), 1, "connections")
    eq(srv.transactions(), 1, "transactions")
    eq([e.get("via") for e in srv.events("tls")], ["starttls"], "tls events")
    eq([e["code"] for e in srv.replies("DATA")], [354, 250], "DATA replies")
    # AUTH LOGIN, and a wrong password.
    s = starttls_client(srv, login=False)
    s.user, s.password = "support", "secret"
    code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    eq(code, 235, "AUTH LOGIN")
    s.quit()
    s = starttls_client(srv, login=False)
    try:
        s.login("support", "wrong")
        raise Failure("a wrong password was accepted")
    except smtplib.SMTPAuthenticationError as e:
        eq(e.smtp_code, 535, "wrong password")
    s.close()
    logins = [(e["mechanism"], e["ok"]) for e in srv.events("login")]
    # smtplib's login() tries LOGIN after PLAIN failed.
    eq(logins, [("PLAIN", True), ("LOGIN", True), ("PLAIN", False), ("LOGIN", False)],
       "login events")
    eq(srv.connections(), 3, "connections")
    # No password in the event log.
    with open(srv.path("events.jsonl")) as f:
        log = f.read()
    check("secret" not in log and "c2VjcmV0" not in log, "a password in the event log")


@with_server(tls="starttls")
def test_refused_before_starttls(srv):
    s = smtplib.SMTP("localhost", srv.port, timeout=10)
    s.ehlo("client.test")
    code, msg = s.mail(FROM)
    eq(code, 530, "MAIL before STARTTLS")
    check(b"STARTTLS" in msg, "530 text: %r" % msg)
    code, _ = s.docmd("AUTH", "PLAIN AHN1cHBvcnQAc2VjcmV0")
    eq(code, 530, "AUTH before STARTTLS")
    code, _ = s.rcpt(TO)
    eq(code, 530, "RCPT before STARTTLS")
    s.close()
    # TLS but no AUTH: MAIL needs AUTH.
    s = starttls_client(srv, login=False)
    code, msg = s.mail(FROM)
    eq(code, 530, "MAIL without AUTH")
    check(b"Authentication required" in msg, "530 text: %r" % msg)
    s.close()
    eq(srv.messages(), [], "stored messages")
    eq(srv.transactions(), 0, "transactions")
    eq([e["arg"] for e in srv.events("auth")], ["PLAIN"], "AUTH logged without its argument")


@with_server(tls="implicit")
def test_implicit_tls(srv):
    eq(srv.url(), "smtps://localhost:%d" % srv.port, "url")
    s = smtplib.SMTP_SSL("localhost", srv.port, context=ctx_for(srv), timeout=10)
    s.ehlo("client.test")
    check(not s.has_extn("starttls"), "STARTTLS advertised on implicit TLS")
    check("PLAIN" in s.esmtp_features.get("auth", ""), "no AUTH: %r" % s.esmtp_features)
    s.login("support", "secret")
    s.sendmail(FROM, [TO], BODY)
    s.quit()
    m = srv.wait_for(1)[0]
    eq((m.login, m.tls, m.data), ("support", True, BODY), "login, tls, data")
    eq([e.get("via") for e in srv.events("tls")], ["implicit"], "tls events")
    # A client that does not trust the certificate: no session, a tls_error event.
    try:
        smtplib.SMTP_SSL("localhost", srv.port, context=ctx_for(srv, srv.bad_ca_file),
                         timeout=10)
        raise Failure("an untrusted certificate was accepted")
    except ssl.SSLCertVerificationError:
        pass
    errs = srv.wait_event("tls_error", timeout=5)
    eq(errs[0]["conn"], 2, "connection of the failed handshake")
    eq(srv.connections(), 2, "connections")
    # Plain text to the smtps port: a handshake error too, nothing else.
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(b"EHLO plain.test\r\n")
    try:
        sock.recv(100)
    except OSError:
        pass
    sock.close()
    srv.wait_event("tls_error", n=2, timeout=5)


@with_server(tls="starttls")
def test_reject_rcpt(srv):
    bad = "gone@customer.example"
    reply = "550 5.1.1 <%s>: Recipient address rejected" % bad
    srv.set(reject_rcpt={bad: reply})
    s = starttls_client(srv)
    s.mail(FROM)
    code, msg = s.rcpt(bad)
    eq((code, msg.decode()), (550, reply[4:]), "RCPT reply")
    s.rset()
    refused = s.sendmail(FROM, [TO, "Gone@Customer.example"], BODY)
    eq(refused, {"Gone@Customer.example": (550, reply[4:].encode())}, "refused")
    try:
        s.sendmail(FROM, [bad], BODY)
        raise Failure("sendmail to a rejected address only succeeded")
    except smtplib.SMTPRecipientsRefused:
        pass
    s.quit()
    msgs = srv.messages()
    eq([m.rcpt_tos for m in msgs], [[TO]], "stored recipients")
    srv.set(reject_rcpt=None)
    s = starttls_client(srv)
    eq(s.sendmail(FROM, [bad], BODY), {}, "after the switch is off")
    s.quit()
    eq(len(srv.messages()), 2, "stored messages")


@with_server(tls="starttls")
def test_data_reply(srv):
    for reply in ("451 4.3.0 Try again later", "554 5.7.1 Rejected"):
        srv.set(data_reply=reply)
        s = starttls_client(srv)
        try:
            s.sendmail(FROM, [TO], BODY)
            raise Failure("sendmail succeeded against data_reply %r" % reply)
        except smtplib.SMTPDataError as e:
            eq((e.smtp_code, e.smtp_error.decode()), (int(reply[:3]), reply[4:]),
               "DATA reply")
        s.quit()
        eq(srv.messages(), [], "stored messages after %s" % reply[:3])
    srv.reset()
    s = starttls_client(srv)
    s.sendmail(FROM, [TO], BODY)
    s.quit()
    eq(len(srv.messages()), 1, "stored messages after reset()")
    eq([e["code"] for e in srv.replies("DATA") if e["code"] != 354], [451, 554, 250],
       "DATA replies")


@with_server(tls="starttls")
def test_stop_start(srv):
    port = srv.port
    s = starttls_client(srv)
    s.sendmail(FROM, [TO], BODY)
    # stop() drops an open connection.
    srv.stop()
    try:
        s.noop()
        raise Failure("a connection survived stop()")
    except (smtplib.SMTPServerDisconnected, OSError):
        pass
    s.close()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        raise Failure("connected to a stopped server")
    except ConnectionRefusedError:
        pass
    srv.start()
    eq(srv.port, port, "port after start()")
    s = starttls_client(srv)
    s.sendmail(FROM, [TO], BODY)
    s.quit()
    srv.kill()
    check(not srv.running(), "running after kill()")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        raise Failure("connected to a killed server")
    except ConnectionRefusedError:
        pass
    srv.start()
    s = starttls_client(srv)
    s.sendmail(FROM, [TO], BODY)
    s.quit()
    msgs = srv.messages()
    eq([m.n for m in msgs], [1, 2, 3], "message numbers across restarts")
    eq([e["conn"] for e in srv.events("connect")], [1, 2, 3], "connection numbers")
    eq(len(srv.events("start")), 3, "starts")
    # restart(cert="wrong"): the wrong.example certificate, signed by the same CA.
    srv.restart(cert="wrong")
    try:
        starttls_client(srv, login=False)
        raise Failure("wrong.example certificate accepted for localhost")
    except ssl.SSLCertVerificationError:
        pass
    srv.restart(cert="good")
    starttls_client(srv).quit()


@with_server(tls="starttls")
def test_hold_after_data(srv):
    srv.set(hold_after_data=1.5)
    result = {}

    def send():
        t0 = time.monotonic()
        try:
            s = starttls_client(srv)
            result["refused"] = s.sendmail(FROM, [TO], BODY)
            s.quit()
        except Exception as e:
            result["error"] = e
        result["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=send)
    th.start()
    msgs = srv.wait_for(1, timeout=5)
    check(th.is_alive(), "the client got its reply before the message was seen stored")
    eq(msgs[0].data, BODY, "stored data")
    th.join(10)
    check("error" not in result, "client error: %r" % result.get("error"))
    eq(result.get("refused"), {}, "sendmail result")
    check(result["elapsed"] >= 1.4, "the 250 came after %.2f s" % result["elapsed"])
    # A client that gives up while the server holds: the message is stored all the same, and
    # the server never replies 250 to it.
    s = starttls_client(srv, timeout=0.5)
    try:
        s.sendmail(FROM, [TO], BODY)
        raise Failure("sendmail returned within the hold")
    except (smtplib.SMTPServerDisconnected, OSError):
        pass
    s.close()
    srv.wait_for(2, timeout=5)
    srv.wait_event("disconnect", timeout=5, conn=2)
    time.sleep(1.5)
    eq([e["code"] for e in srv.replies("DATA") if e["conn"] == 2], [354],
       "DATA replies to the client that gave up")
    srv.reset()


@with_server(tls="starttls")
def test_drop_and_hold_before_data_end(srv):
    srv.set(drop_after_data=True)
    s = starttls_client(srv)
    try:
        s.sendmail(FROM, [TO], BODY)
        raise Failure("sendmail succeeded against drop_after_data")
    except (smtplib.SMTPServerDisconnected, OSError):
        pass
    s.close()
    eq(len(srv.messages()), 1, "stored despite the drop")
    srv.reset()
    srv.set(hold_before_data_end=1.5)
    s = starttls_client(srv, timeout=0.5)
    try:
        s.sendmail(FROM, [TO], BODY)
        raise Failure("sendmail returned within the hold")
    except (smtplib.SMTPServerDisconnected, OSError):
        pass
    s.close()
    time.sleep(2)
    eq(len(srv.messages()), 1, "stored after the client left before the end of DATA")


@with_server(tls="none", users=None)
def test_plain_no_auth(srv):
    s = smtplib.SMTP("localhost", srv.port, timeout=10)
    s.ehlo("client.test")
    check(not s.has_extn("auth") and not s.has_extn("starttls"),
          "features: %r" % s.esmtp_features)
    code, _ = s.docmd("AUTH", "PLAIN AHN1cHBvcnQAc2VjcmV0")
    eq(code, 502, "AUTH without users")
    s.sendmail(FROM, [TO], BODY)
    s.quit()
    m = srv.wait_for(1)[0]
    eq((m.login, m.tls), (None, False), "login, tls")
    eq(srv.config_yaml(), "    smtp:\n      url: smtp://localhost:%d\n      ca_file: %s\n" % (
        srv.port, srv.ca_file), "config_yaml without users")


@with_server(tls="starttls")
def test_config_yaml(srv):
    y = srv.config_yaml(indent=2)
    pw = srv.path("support.pass")
    eq(y, "  smtp:\n    url: smtp://localhost:%d\n    ca_file: %s\n    user: support\n"
          "    password_file: %s\n" % (srv.port, srv.ca_file, pw), "config_yaml")
    with open(pw) as f:
        eq(f.read(), "secret\n", "password file")
    eq(os.stat(pw).st_mode & 0o777, 0o600, "password file mode")
    tendd = os.environ.get("TENDD_BIN") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "src", "tendd")
    if not os.path.exists(tendd):
        print("# no tendd at %s: config not checked by tendd" % tendd)
        return
    from imapserver import Dovecot
    dv = Dovecot(start=False)
    try:
        conf = srv.path("tend.yaml")
        with open(conf, "w") as f:
            f.write(dv.config(store=srv.path("store")) + srv.config_yaml())
        p = subprocess.run([tendd, "-c", conf, "--check-config"], capture_output=True,
                           timeout=60)
        check(p.returncode == 0, "tendd --check-config refuses:\n%s\n%s" % (
            open(conf).read(), (p.stdout + p.stderr).decode("utf-8", "replace")))
    finally:
        dv.close()


def test_shared_ca_with_dovecot():
    from imapserver import Dovecot
    dv = Dovecot(start=False)
    srv = None
    try:
        srv = SmtpServer(tls="implicit", certs=dv)
        s = smtplib.SMTP_SSL("localhost", srv.port, context=ctx_for(srv, dv.ca_file),
                             timeout=10)
        s.login("support", "secret")
        s.quit()
        srv.restart(cert="wrong")
        try:
            smtplib.SMTP_SSL("localhost", srv.port, context=ctx_for(srv, dv.ca_file),
                             timeout=10)
            raise Failure("wrong.example certificate accepted")
        except ssl.SSLCertVerificationError:
            pass
    finally:
        if srv is not None:
            srv.close()
        dv.close()


@with_server(tls="starttls")
def test_curl(srv):
    """libcurl, as tend uses it: STARTTLS required, AUTH, verified certificate."""
    if not shutil.which("curl"):
        print("# no curl: skipped")
        return
    body = srv.path("body.eml")
    with open(body, "wb") as f:
        f.write(BODY)

    def curl(url, *extra):
        return subprocess.run(["curl", "-sS", "-w", "%{response_code}", "--url", url,
                               "--ssl-reqd", "--cacert",
                               srv.ca_file, "--user", "support:secret", "--mail-from", FROM,
                               "--mail-rcpt", TO, "--upload-file", body] + list(extra),
                              capture_output=True, timeout=30)
    p = curl(srv.url())
    check(p.returncode == 0, "curl failed: %r" % p)
    m = srv.wait_for(1)[0]
    eq((m.mail_from, m.rcpt_tos, m.login, m.tls, m.data), (FROM, [TO], "support", True, BODY),
       "message sent by curl")
    srv.set(data_reply="451 4.3.0 Try again later")
    p = curl(srv.url())
    # libcurl ends with CURLE_WEIRD_SERVER_REPLY (8) on anything but 250 after DATA; the
    # code itself is CURLINFO_RESPONSE_CODE.
    check(p.returncode == 8 and p.stdout == b"451", "curl against 451: %r" % p)
    eq(len(srv.messages()), 1, "stored messages after the 451")
    srv.reset()
    imp = SmtpServer(tls="implicit")
    try:
        p = subprocess.run(["curl", "-sS", "--url", imp.url(), "--cacert", imp.ca_file,
                            "--user", "support:secret", "--mail-from", FROM, "--mail-rcpt",
                            TO, "--upload-file", body], capture_output=True, timeout=30)
        check(p.returncode == 0, "curl smtps failed: %r" % p)
        eq(imp.wait_for(1)[0].data, BODY, "smtps data")
    finally:
        imp.close()


def test_cleanup_and_startup_failure():
    srv = SmtpServer(start=False)
    d = srv.dir
    # A port someone else holds, after the first start: start() fails with the server's output.
    srv.start()
    srv.stop()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", srv.port))
    blocker.listen(1)
    try:
        srv.start()
        raise Failure("started on a taken port")
    except SmtpServerError as e:
        check("taken" in str(e) or "in use" in str(e), "error: %s" % e)
    finally:
        blocker.close()
    srv.start()
    pid = srv.proc.pid
    srv.close()
    check(not os.path.exists(d), "directory left after close()")
    try:
        os.kill(pid, 0)
        raise Failure("server process %d alive after close()" % pid)
    except ProcessLookupError:
        pass
    # The atexit hook and PR_SET_PDEATHSIG: a child python that makes a server and dies.
    code = ("import sys, os; sys.path.insert(0, %r)\n"
            "from smtpserver import SmtpServer\n"
            "a = SmtpServer(); b = SmtpServer(tls='implicit')\n"
            "print(a.dir, a.proc.pid, b.dir, b.proc.pid, flush=True)\n"
            "if sys.argv[1] == 'kill': os.kill(os.getpid(), 9)\n"
            % os.path.dirname(os.path.abspath(__file__)))
    for how in ("exit", "kill"):
        p = subprocess.run([sys.executable, "-c", code, how], capture_output=True, timeout=60)
        ad, apid, bd, bpid = p.stdout.decode().split()
        deadline = time.monotonic() + 5
        alive = [int(apid), int(bpid)]
        while alive and time.monotonic() < deadline:
            for x in list(alive):
                try:
                    os.kill(x, 0)
                    with open("/proc/%d/stat" % x) as f:
                        if f.read().split(") ")[1].startswith("Z"):
                            alive.remove(x)
                except (ProcessLookupError, FileNotFoundError):
                    alive.remove(x)
            time.sleep(0.05)
        eq(alive, [], "servers alive after the test process ended (%s)" % how)
        if how == "exit":
            check(not os.path.exists(ad) and not os.path.exists(bd),
                  "directories left after exit")
        else:
            shutil.rmtree(ad, ignore_errors=True)
            shutil.rmtree(bd, ignore_errors=True)


if __name__ == "__main__":
    run(globals(), needs_localhost=True)
