#!/usr/bin/env bash
# Task script for zarish-obs. Every task installs what it needs first (Debian packages, venv, pip).
#   ./run.sh demo     generate everything for the built-in catalog and run the local stack demo
#   ./run.sh test     ruff + the whole test suite (real promtool/Prometheus/Alertmanager/...)
#   ./run.sh bench    the benchmarks (bench/), printing their ratios
#   ./run.sh golden   regenerate the golden files after an intended change
#   ./run.sh setup    only install
set -euo pipefail
cd "$(dirname "$0")"

DEB_PACKAGES=(prometheus prometheus-alertmanager prometheus-pushgateway prometheus-blackbox-exporter victoria-metrics)
# The report's browser test opens the HTML report in headless Chromium.
TEST_DEB_PACKAGES=(chromium chromium-driver)
VENV=.venv

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing Debian packages: ${missing[*]}" >&2
  # Keep the packages' init scripts from starting daemons on 0.0.0.0: we start our own on 127.0.0.1.
  local added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$added_policy" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import zarish_obs.stack.main' # fail here, clearly, if the install did not work
}

setup() { install_debian; install_python; }

case "${1:-}" in
  setup) setup ;;
  demo) setup; shift; exec "$VENV/bin/zarish-obs" demo "$@" ;;
  test)
    install_debian "${TEST_DEB_PACKAGES[@]}"; install_python
    "$VENV/bin/ruff" check .
    shift
    exec "$VENV/bin/pytest" -p no:cacheprovider --durations=15 "$@" ;;
  bench) setup; shift; for b in bench/bench_*.py bench/soak.py; do nice "$VENV/bin/python" "$b" "$@"; done ;;
  golden) setup; ZARISH_UPDATE_GOLDEN=1 exec "$VENV/bin/pytest" -q -k golden ;;
  *) sed -n '2,8p' "$0"; exit 64 ;;
esac
