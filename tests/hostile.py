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


# ---- 8. Deeply nested rules ------------------------------------------------------------------


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------


if __name__ == "__main__":
    run(globals())
