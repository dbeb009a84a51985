#!/usr/bin/env bash
# Installs the system packages webhook-relay builds against, when they are missing:
# librdkafka (headers and library) and pkg-config. Debian/Ubuntu: apt-get (with sudo when not
# root). macOS: prints the Homebrew command. Anything else: says what is needed.
set -euo pipefail

have_librdkafka() {
  pkg-config --exists rdkafka 2>/dev/null
}

if command -v pkg-config >/dev/null 2>&1 && have_librdkafka; then
  exit 0
fi

case "$(uname -s)" in
  Linux)
    if command -v apt-get >/dev/null 2>&1; then
      sudo=""
      if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
          echo "error: librdkafka-dev and pkg-config are missing and this user cannot install them (no root, no sudo)." >&2
          exit 1
        fi
      fi
      echo "Installing librdkafka-dev and pkg-config with apt-get..." >&2
      export DEBIAN_FRONTEND=noninteractive
      $sudo apt-get update -qq
      $sudo apt-get install -y -qq librdkafka-dev pkg-config >/dev/null
      have_librdkafka || { echo "error: librdkafka still not found by pkg-config after installing" >&2; exit 1; }
    else
      echo "error: install librdkafka (>= 2.0, with headers) and pkg-config with your package manager." >&2
      exit 1
    fi
    ;;
  Darwin)
    echo "librdkafka is missing. Install it with:  brew install librdkafka pkg-config" >&2
    exit 1
    ;;
  *)
    echo "error: install librdkafka (>= 2.0, with headers) and pkg-config." >&2
    exit 1
    ;;
esac
