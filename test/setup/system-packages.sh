#!/usr/bin/env bash
# Installs the system packages the network tests and the benchmark need, when they are missing:
#   iproute2 (ip netns, veth, tc), iptables (DROP / REJECT rules inside test namespaces),
#   ethtool and procps (veth offloads and ICMP sysctls in the lab), nmap (the benchmark's peer),
#   openssl (certificates for the service-identification tests), chromium (the dashboard's browser test).
# The tests create their own network namespaces, which needs root; they fail (never skip) without it.
set -euo pipefail
missing=()
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v tc >/dev/null 2>&1 || [ -x /usr/sbin/tc ] || [ -x /sbin/tc ] || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || [ -x /sbin/iptables ] || missing+=(iptables)
command -v ethtool >/dev/null 2>&1 || [ -x /usr/sbin/ethtool ] || [ -x /sbin/ethtool ] || missing+=(ethtool)
command -v sysctl >/dev/null 2>&1 || [ -x /usr/sbin/sysctl ] || [ -x /sbin/sysctl ] || missing+=(procps)
command -v nmap >/dev/null 2>&1 || missing+=(nmap)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "preflight tests need these system packages: ${missing[*]}; install them as root (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "test setup: installing ${missing[*]} from Debian's packages (needed by the network-namespace, service-identification and browser tests and the benchmark)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test setup: installed ${missing[*]}" >&2
