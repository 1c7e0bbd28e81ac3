#!/usr/bin/env bash
# Installs what herd needs to build and test on Debian 12, as root.
# Idempotent: asks apt only for the packages that are missing, and runs
# `apt-get update` only when there is something to install.
set -euo pipefail

PACKAGES=(
    # build
    build-essential cmake ninja-build
    libboost-dev nlohmann-json3-dev libfmt-dev libreadline-dev
    # tests: unit tests, golden scripts, libFuzzer + sanitizers, format and
    # tidy checks
    libgtest-dev googletest python3 clang libclang-rt-14-dev clang-format clang-tidy
    # container runtime: seccomp, netlink, capabilities, guest image; `ip` for
    # the network tests' host-side checks
    libseccomp-dev libmnl-dev libcap-dev busybox-static iproute2
    # packet capture (`capture pcap`), and tcpdump to read the files in tests
    libpcap-dev tcpdump
    # the preprocessor: tar: arguments (libarchive), https:// downloads (OpenSSL;
    # the openssl tool makes the test CA of tests/integration/test_preprocess.py)
    libarchive-dev libssl-dev openssl
    # networking: the Open vSwitch backend (userspace datapath, started by the
    # tests), DHCP for guests, tcpdump-free throughput checks
    openvswitch-switch dnsmasq-base
    # guest images: the Debian + sshd image and the ssh login test
    debootstrap openssh-client
    # web page: browser test in headless Chromium (driven by playwright-core)
    chromium
    # many hosts (-cluster): etcd, the cluster's store; the tests start their
    # own etcd server (tests/cluster), etcdctl is for people looking at it
    etcd-server etcd-client
)
# web page: the build bundles xterm.js with npm. Only when npm is missing:
# NodeSource's nodejs ships its own npm, which Debian's npm package conflicts with.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
