# Sourced by the other scripts: puts the project's tools on PATH, installing what is missing
# into a project-local Python venv (.venv, git-ignored).
CARGO_LAMBDA_VERSION=1.9.2

ensure_cargo_lambda() {
  export PATH="$root/.venv/bin:$PATH"
  if cargo lambda --version >/dev/null 2>&1; then return; fi
  echo "tools: installing cargo-lambda $CARGO_LAMBDA_VERSION into .venv" >&2
  [ -x "$root/.venv/bin/pip" ] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
}
