# Sourced by the other scripts: puts the project's tools on PATH, installing what is missing into
# a project-local Python venv (.venv, git-ignored) from tools/requirements.txt (pinned versions).
export SAM_CLI_TELEMETRY=0

# rust-toolchain.toml pins the Rust release; rustup installs it on first use. A machine that
# cannot download it but whose stable toolchain is that very release (these build machines:
# one toolchain, no network to fetch another) gets the stable one under the pinned name, with
# its components and targets, before anything runs cargo.
ensure_toolchain() {
  local pinned home stable
  pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' "${root:-$PWD}/rust-toolchain.toml")
  RUSTUP_AUTO_INSTALL=0 rustup run "$pinned" rustc --version >/dev/null 2>&1 && return
  stable=$(RUSTUP_AUTO_INSTALL=0 rustup run stable rustc --version 2>/dev/null | cut -d' ' -f2)
  [ "$stable" = "$pinned" ] || return 0 # rustup downloads the pinned release on first use
  home=$(rustup show home)
  echo "tools: Rust $pinned is this machine's stable toolchain; registering it under that name" >&2
  ln -sfn "$home/toolchains/stable-$(rustc +stable -vV | sed -n 's/^host: //p')" \
    "$home/toolchains/$pinned-$(rustc +stable -vV | sed -n 's/^host: //p')"
}
ensure_toolchain

# A venv at $1 with the pinned packages of requirements file $2, reinstalled when the file
# changes; $3 says what it holds.
ensure_venv() {
  local venv=$1 requirements=$2 stamp="$1/.requirements"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then return; fi
  echo "tools: installing ${requirements#"$root/"} into ${venv#"$root/"} ($3)" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

ensure_tools() {
  export PATH="$root/.venv/bin:$PATH"
  ensure_venv "$root/.venv" "$root/tools/requirements.txt" \
    "cargo-lambda, zig, SAM CLI, cfn-lint, moto, actionlint, schemathesis"
}

# The FastAPI backend the benchmark compares against, in a venv of its own (.local/fastapi) from
# bench/fastapi/requirements.txt (pinned); exports FASTAPI_PYTHON for the bench.
ensure_fastapi() {
  export FASTAPI_PYTHON="$root/.local/fastapi/bin/python"
  ensure_venv "$root/.local/fastapi" "$root/bench/fastapi/requirements.txt" \
    "FastAPI, SQLModel, Mangum, awslambdaric"
}

# The old backend's SQLModel and psycopg2 (tests/takeover/requirements.txt, pinned), which make the
# FastAPI-era tables the take-over test starts from, in .local/takeover; exports TAKEOVER_PYTHON.
ensure_takeover() {
  export TAKEOVER_PYTHON="$root/.local/takeover/bin/python"
  ensure_venv "$root/.local/takeover" "$root/tests/takeover/requirements.txt" "SQLModel 0.0.31, psycopg2"
}

# Debian packages the tests need (Node, Chromium, PgBouncer), installed when missing (as root, or
# with sudo).
apt_install() {
  echo "tools: installing $* (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "$@" >/dev/null; fi
}
ensure_node() { command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm; }
# Debian's own Chromium: test tools' browser downloads do not work on these machines.
ensure_chromium() { command -v chromium >/dev/null || apt_install chromium; }

# MailDev (npm, pinned in tools/maildev): the SMTP server and web inbox `make dev` sends mail to.
ensure_maildev() {
  ensure_node
  local dir="$root/tools/maildev"
  if [ ! -x "$dir/node_modules/.bin/maildev" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "tools: installing MailDev into tools/maildev (npm)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
