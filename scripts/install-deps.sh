#!/usr/bin/env bash
# Installs the system packages webhook-relay builds and tests against, when they are missing:
# librdkafka (headers and library) and pkg-config to build; Python 3 with aiohttp for the tests
# that run a receiver the project did not write; kcat for those that read topics with a Kafka client
# the project did not write; python3-venv for the test that installs schemathesis from PyPI. Debian/Ubuntu: apt-get (with sudo when not root).
# macOS: prints the Homebrew and pip commands. Anything else: says what is needed.
set -euo pipefail

have_librdkafka() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists rdkafka 2>/dev/null
}

have_aiohttp() {
  for python in /usr/bin/python3 python3; do
    "$python" -c "import aiohttp" 2>/dev/null && return 0
  done
  return 1
}

have_kcat() {
  command -v kcat >/dev/null 2>&1
}

have_venv() {
  /usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null
}

if have_librdkafka && have_aiohttp && have_kcat && have_venv; then
  exit 0
fi

case "$(uname -s)" in
  Linux)
    if command -v apt-get >/dev/null 2>&1; then
      sudo=""
      if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
          echo "error: librdkafka-dev, pkg-config, python3-aiohttp or kcat are missing and this user cannot install them (no root, no sudo)." >&2
          exit 1
        fi
      fi
      packages=()
      have_librdkafka || packages+=(librdkafka-dev pkg-config)
      have_aiohttp || packages+=(python3-aiohttp)
      have_kcat || packages+=(kcat)
      have_venv || packages+=(python3-venv)
      echo "Installing ${packages[*]} with apt-get..." >&2
      export DEBIAN_FRONTEND=noninteractive
      $sudo apt-get update -qq
      $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
      have_librdkafka || { echo "error: librdkafka still not found by pkg-config after installing" >&2; exit 1; }
      have_aiohttp || { echo "error: aiohttp still not importable by python3 after installing python3-aiohttp" >&2; exit 1; }
      have_kcat || { echo "error: kcat still not found after installing it" >&2; exit 1; }
      have_venv || { echo "error: python3 still cannot make a virtualenv after installing python3-venv" >&2; exit 1; }
    else
      echo "error: install librdkafka (>= 2.0, with headers), pkg-config and Python 3 with aiohttp with your package manager." >&2
      exit 1
    fi
    ;;
  Darwin)
    have_librdkafka || echo "librdkafka is missing. Install it with:  brew install librdkafka pkg-config" >&2
    have_aiohttp || echo "aiohttp is missing (for the tests). Install it with:  python3 -m pip install aiohttp" >&2
    have_kcat || echo "kcat is missing (for the tests). Install it with:  brew install kcat" >&2
    exit 1
    ;;
  *)
    echo "error: install librdkafka (>= 2.0, with headers), pkg-config and Python 3 with aiohttp." >&2
    exit 1
    ;;
esac
