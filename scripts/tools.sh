# Sourced by the other scripts: puts the project's tools on PATH, installing what is missing into
# a project-local Python venv (.venv, git-ignored) from tools/requirements.txt (pinned versions).
export SAM_CLI_TELEMETRY=0

ensure_tools() {
  export PATH="$root/.venv/bin:$PATH"
  local stamp="$root/.venv/.requirements"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$root/tools/requirements.txt"; then return; fi
  echo "tools: installing tools/requirements.txt into .venv (cargo-lambda, zig, SAM CLI, cfn-lint, moto, actionlint, schemathesis)" >&2
  [ -x "$root/.venv/bin/pip" ] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/tools/requirements.txt"
  cp "$root/tools/requirements.txt" "$stamp"
}

# The FastAPI backend the benchmark compares against, in a venv of its own (.local/fastapi) from
# bench/fastapi/requirements.txt (pinned); exports FASTAPI_PYTHON for the bench.
ensure_fastapi() {
  local venv="$root/.local/fastapi" stamp="$root/.local/fastapi/.requirements"
  export FASTAPI_PYTHON="$venv/bin/python"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$root/bench/fastapi/requirements.txt"; then return; fi
  echo "tools: installing bench/fastapi/requirements.txt into .local/fastapi (FastAPI, SQLModel, Mangum, awslambdaric)" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/bench/fastapi/requirements.txt"
  cp "$root/bench/fastapi/requirements.txt" "$stamp"
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
