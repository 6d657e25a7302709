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
# The functions that send mail (their main.rs runs shared::mail::deliver); only they may link
# the mail code: lettre, the SES client and the Lambda extension.
mail_functions=$(grep -l "mail::deliver::run" functions/*/src/main.rs | cut -d/ -f2 | tr '\n' ' ')
packages=()
for f in $functions; do packages+=(-p "$f"); done
cargo lambda build --release --locked "$arch" --output-format zip "${packages[@]}"

printf '\n%-8s %12s %12s\n' function binary zip
for f in $functions; do
  zip="target/lambda/$f/bootstrap.zip"
  python3 - "$zip" "$f" "$mail_functions" <<'PY'
import os, sys, zipfile
path, name, mail_functions = sys.argv[1], sys.argv[2], sys.argv[3].split()
# The size the issue set for a function's zip (Lambda's own limit is 50 MB).
assert os.path.getsize(path) <= 6 * 1024 * 1024, f"{path}: over 6 MB"
with zipfile.ZipFile(path) as z:
    info = z.getinfo("bootstrap")
    assert info.external_attr >> 16 & 0o111, f"{path}: bootstrap is not executable"
    binary = z.read(info)
    magic = binary[:20]
    assert magic[:4] == b"\x7fELF", f"{path}: bootstrap is not an ELF binary"
    # The crates' own source paths (in panic locations) and the Extensions API's; "lettre" alone
    # is also a word in zxcvbn's dictionaries.
    mail_code = any(m in binary for m in (b"lettre-0.", b"aws-sdk-sesv2", b"2020-01-01/extension"))
    assert mail_code == (name in mail_functions), \
        f"{path}: {'links' if mail_code else 'lacks'} the mail code, which only {mail_functions} send"
    # Beside its zip, as `make bench` reads the binary's size from there.
    z.extract(info, path.rsplit("/", 1)[0])
    machine = int.from_bytes(magic[18:20], "little")
    print(f"{name:<8} {info.file_size:>12,} {os.path.getsize(path):>12,}  {'arm64' if machine == 183 else 'x86-64' if machine == 62 else machine}")
PY
done
