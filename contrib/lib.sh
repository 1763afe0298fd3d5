# shellcheck shell=bash
# Shared by contrib/quickstart and contrib/check; source it, do not run it.
# Targets Debian 12 (bookworm). The package lists are bash arrays:
#   ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
#   build_tend build

# What it takes to build tend (libsasl2-modules: the SASL PLAIN mechanism libetpan uses
# for `auth: plain`). The curl flavour must be gnutls: installing
# libcurl4-openssl-dev would remove libetpan-dev, which depends on the gnutls one.
# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD_PACKAGES=(
	gcc meson ninja-build pkg-config
	libetpan-dev libdpkg-perl liblmdb-dev libyaml-dev libmsgpack-dev libxml2-dev
	nettle-dev libgnutls28-dev libcurl4-gnutls-dev libpcre2-dev libmimalloc-dev libsqlite3-dev
	libexttextcat-dev
	libsasl2-modules
	clang-format
)

# What contrib/demo (run by contrib/quickstart) needs on top: Debian's python3
# (/usr/bin/python3, with aiosmtpd as the SMTP server), dovecot as the IMAP
# server, openssl for the servers' certificates.
# shellcheck disable=SC2034
DEMO_PACKAGES=(
	python3 python3-aiosmtpd dovecot-imapd openssl
)

# What the tests need on top: the demo's servers, valgrind, mdb_* tools for
# looking into a store.
# shellcheck disable=SC2034
TEST_PACKAGES=(
	"${DEMO_PACKAGES[@]}" valgrind lmdb-utils
)

# contrib/fuzz and the fuzz build contrib/check makes: clang with libFuzzer.
# shellcheck disable=SC2034
FUZZ_PACKAGES=(
	clang libclang-rt-14-dev
)

_tend_apt_updated=0

# The name of the running script, for messages.
_tend_me()
{
	printf '%s' "${0##*/}"
}

# True when dpkg says the package is installed (not merely known, not config-files).
_tend_installed()
{
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

# ensure_packages PKG...: install whichever of PKG... is not installed yet.
# Runs apt-get update first, once per run, and only when something is missing.
# Not root and something missing: prints the command to run, exits 1.
ensure_packages()
{
	local pkg missing=()

	for pkg in "$@"; do
		_tend_installed "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0

	if ((EUID != 0)); then
		{
			printf '%s: these packages are missing: %s\n' "$(_tend_me)" "${missing[*]}"
			printf 'Install them as root (or with sudo), then run %s again:\n' "$0"
			printf '  apt-get update && apt-get install -y --no-install-recommends %s\n' \
				"${missing[*]}"
		} >&2
		exit 1
	fi

	export DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-noninteractive}"
	printf '%s: installing %s\n' "$(_tend_me)" "${missing[*]}"
	if ((!_tend_apt_updated)); then
		if ! apt-get update; then
			printf '%s: apt-get update failed\n' "$(_tend_me)" >&2
			exit 1
		fi
		_tend_apt_updated=1
	fi
	if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
		printf '%s: apt-get install failed\n' "$(_tend_me)" >&2
		exit 1
	fi
}

# build_tend DIR [MESON_ARG...]: configure DIR (or reconfigure it with the
# arguments given) and build everything in it. Keeps going past the first
# error so that one run shows them all. Silent on success; on failure prints
# the whole meson and ninja output and returns non-zero.
build_tend()
{
	local dir=$1 log rc=0
	shift
	log=$(mktemp) || return 1

	if [[ -f $dir/meson-private/coredata.dat ]]; then
		meson setup --reconfigure "$dir" "$@" >"$log" 2>&1 || rc=$?
	else
		meson setup "$dir" "$@" >"$log" 2>&1 || rc=$?
	fi
	if ((rc == 0)); then
		ninja -C "$dir" -k 0 >>"$log" 2>&1 || rc=$?
	fi
	if ((rc != 0)); then
		cat "$log"
		printf '%s: building in %s failed (exit %d)\n' "$(_tend_me)" "$dir" "$rc" >&2
	fi
	rm -f "$log"
	return "$rc"
}

# fetch_promtool DIR: prints the path of promtool, Prometheus's linter of the text format
# (tests/daemon_metrics.py runs `promtool check metrics` on tendd's metrics file). It comes
# from Debian's prometheus package, downloaded into DIR with `apt-get download` and unpacked
# there with `dpkg-deb -x`, never installed: installing it would start a Prometheus server.
# Kept in DIR for the next run. Prints why and returns 1 when it cannot be had (no network,
# no package lists): the test then skips, saying so.
fetch_promtool()
{
	local dir=$1 tool=$1/x/usr/bin/promtool deb

	if [[ -x $tool ]]; then
		printf '%s\n' "$(readlink -f "$tool")"
		return 0
	fi
	mkdir -p "$dir" || return 1
	rm -rf "$dir/x" "$dir"/prometheus_*.deb
	if ! (cd "$dir" && apt-get download prometheus) >"$dir/download.log" 2>&1; then
		printf '%s: cannot download the prometheus package for promtool (see %s)\n' \
			"$(_tend_me)" "$dir/download.log" >&2
		return 1
	fi
	deb=$(find "$dir" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)
	if [[ -z $deb ]] || ! dpkg-deb -x "$deb" "$dir/x" || [[ ! -x $tool ]]; then
		printf '%s: no promtool in %s\n' "$(_tend_me)" "${deb:-the download}" >&2
		return 1
	fi
	rm -f "$deb"
	printf '%s\n' "$(readlink -f "$tool")"
}
