#!/usr/bin/env bash
# `make package`: every function built for Lambda (arm64, provided.al2023) with cargo-lambda and
# zig, as target/lambda/<function>/bootstrap.zip, then each zip checked for its bootstrap.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/tools.sh
ensure_tools

arch=--arm64
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
   && ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  # The deployed stack stays arm64 (template.yaml); this only keeps the build checked.
  echo "package: WARNING: the aarch64 standard library cannot be installed here; checking an x86-64 build instead" >&2
  arch=--x86-64
fi

functions=$(cd functions && ls -d */ | tr -d /)
packages=()
for f in $functions; do packages+=(-p "$f"); done
cargo lambda build --release --locked "$arch" --output-format zip "${packages[@]}"

printf '\n%-8s %12s %12s\n' function binary zip
for f in $functions; do
  zip="target/lambda/$f/bootstrap.zip"
  python3 - "$zip" "$f" <<'PY'
import sys, zipfile
path, name = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as z:
    info = z.getinfo("bootstrap")
    assert info.external_attr >> 16 & 0o111, f"{path}: bootstrap is not executable"
    with z.open(info) as f:
        magic = f.read(20)
    assert magic[:4] == b"\x7fELF", f"{path}: bootstrap is not an ELF binary"
    # Beside its zip, as `make bench` reads the binary's size from there.
    z.extract(info, path.rsplit("/", 1)[0])
    machine = int.from_bytes(magic[18:20], "little")
    print(f"{name:<8} {info.file_size:>12,} {__import__('os').path.getsize(path):>12,}  {'arm64' if machine == 183 else 'x86-64' if machine == 62 else machine}")
PY
done
