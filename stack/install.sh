#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine (Python 3.11, apt) to run crmio's local stack and tests:
# PostgreSQL server binaries, Java 17 and Maven if missing, the repo's .venv with the project and
# its test extras, the Kafka broker's jars (resolved once into ~/.cache/crmio) and helm (for the chart's test).
# Idempotent: a second run only checks, and takes a few seconds.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0

say() { printf '[install] %s\n' "$*"; }

apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

install_postgres() {
    if have_postgres; then return; fi
    # postgresql-common first, so its "create the main cluster" default can be switched off:
    # crmio makes its own cluster; a stray one on 5432 would only waste memory.
    apt_install postgresql-common
    if [ -f /etc/postgresql-common/createcluster.conf ]; then
        $SUDO sed -i 's/^#\?\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
    fi
    apt_install postgresql
    have_postgres || { say "PostgreSQL server binaries still missing after apt-get"; exit 1; }
}

install_java_maven() {
    local need=()
    command -v java >/dev/null || need+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || need+=(maven)
    if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
}

install_chromium() {
    # The web UI's browser tests drive Debian's headless Chromium (Playwright is pointed at it; its
    # own browser downloads are never used).
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then return; fi
    apt_install chromium
}

install_fonts() {
    # PDF exports embed DejaVu Sans, and WenQuanYi Micro Hei for Chinese, Japanese and Korean text.
    local need=()
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
    [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
    if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
}

python_bin() {
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$candidate"; return
        fi
    done
    say "Python 3.11+ not found"; exit 1
}

install_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        local py; py="$(python_bin)"
        if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv; fi
        say "creating $VENV"
        "$py" -m venv "$VENV"
    fi
    install_native
    # Reinstall only when pyproject.toml changed since the last successful install.
    local stamp="$VENV/.crmio-pyproject.sha256" want
    want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "pip install -e '.[test]'"
        (cd "$REPO" && "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]')
        echo "$want" >"$stamp"
    fi
}

have_cargo() {
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null
}

install_native() {
    # crmio_native (native/): the compiled data plane, Rust built by maturin into the venv. Rebuilt only when
    # its sources changed; cargo fetches its crates from crates.io. A machine without Rust gets rustup's
    # minimal stable toolchain in ~/.cargo first.
    local stamp="$VENV/.crmio-native.sha256" want
    want="$(cd "$REPO/native" && cat Cargo.toml Cargo.lock pyproject.toml crmio_native.pyi src/*.rs | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$VENV/bin/python" -c 'import crmio_native' 2>/dev/null; then
        return
    fi
    if ! have_cargo; then
        say "cargo not found: installing Rust (rustup, minimal profile with rustfmt and clippy for make lint) into ~/.cargo"
        local init; init="$(mktemp)"
        curl --proto '=https' --tlsv1.2 -sSf -o "$init" \
            https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init
        chmod +x "$init" && "$init" -y -q --profile minimal -c rustfmt -c clippy && rm -f "$init"
        have_cargo || { say "cargo still missing after rustup: install Rust (https://rustup.rs), then run this again"; exit 1; }
    fi
    say "pip install ./native (cargo build --release: about 20 s)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$REPO/native"
    echo "$want" >"$stamp"
}

HELM_VERSION="v4.3.2"
HELM_DIR="${HOME}/.cache/crmio/bin"

install_helm() {
    # The Helm chart's test (tests/integration/test_deploy_manifests.py) renders and lints deploy/helm/crmio
    # with helm, built from the Go module proxy (no binary download): 5-6 minutes the first time on
    # 2 cores, 30 s with Go's caches warm, nothing once the stamp matches.
    local stamp="$HELM_DIR/helm.version"
    if [ -x "$HELM_DIR/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$HELM_VERSION" ]; then return; fi
    if ! command -v go >/dev/null; then
        say "go not found: the chart's test needs helm, built with go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
        exit 1
    fi
    say "go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION into $HELM_DIR"
    mkdir -p "$HELM_DIR"
    GOBIN="$HELM_DIR" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
    echo "$HELM_VERSION" >"$stamp"
}

resolve_kafka() {
    (cd "$REPO" && "$VENV/bin/python" -c '
from stack import local as stack, s3proxy
from services.core.settings import Settings
print("[install] Kafka jars in", stack.resolve_kafka(Settings()))
print("[install] S3Proxy jar in", s3proxy.resolve_s3proxy(Settings()))
')
}

if [ "${1:-}" = "--python-only" ]; then
    # The fast tier (make test-unit, make lint) needs the project's Python packages only.
    install_venv
    say "done: the Python packages (no PostgreSQL, Java, Kafka or Chromium)"
    exit 0
fi
install_postgres
install_java_maven
install_chromium
install_fonts
install_venv
install_helm
resolve_kafka
say "done: start the stack with: $VENV/bin/crmio stack up (or make stack-up)"
