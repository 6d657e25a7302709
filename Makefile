# The README's verbs. Each is a script in scripts/, so CI and people run the same thing.
.PHONY: dev test bench package deploy migrate legacy adopt db-start db-stop

## Run everything locally: the API at http://127.0.0.1:9000, the web app at :8080, a mail inbox at
## :1080 (a private PostgreSQL if DATABASE_URL is unset).
dev:
	scripts/dev.sh

## Run every check CI runs: fmt, clippy, unit, integration, end-to-end, template lint, package.
test:
	scripts/test.sh

## Measure the functions against the floor (release builds, up to 1 M rows) into BENCHMARKS.md.
bench:
	scripts/bench.sh

## Build every function for Lambda (arm64) into target/lambda/<function>/bootstrap.zip.
package:
	scripts/package.sh

## Build with SAM and deploy the stack (samconfig.toml; run `sam deploy --guided` the first time).
deploy:
	. scripts/tools.sh && root=$(CURDIR) && ensure_tools && sam build && sam deploy

## Apply migrations/ to the database in MIGRATION_DATABASE_URL, else DATABASE_URL (local or Neon),
## taking over an older backend's tasks table (docs/database.md, "Moving your database over").
migrate:
	. scripts/tools.sh && cargo run -q -p shared --bin migrate

## After a take-over: each old owner key whose tasks await an owner, with their count.
legacy:
	. scripts/tools.sh && cargo run -q -p shared --bin migrate -- legacy

## Hand a key's tasks to an account: make adopt FROM=KEY TO=EMAIL, or UNOWNED=1 TO=EMAIL; the
## account's address must be verified, unless UNVERIFIED=1 (you know it is theirs). The shell
## reads FROM and TO from the environment (make exports them), so any quote in them is kept.
adopt:
	@[ -n "$$TO" ] && [ -n "$$FROM$$UNOWNED" ] || { echo "usage: make adopt FROM=KEY TO=EMAIL [UNVERIFIED=1], or make adopt UNOWNED=1 TO=EMAIL [UNVERIFIED=1]" >&2; exit 2; }
	. scripts/tools.sh && cargo run -q -p shared --bin migrate -- adopt $(if $(UNOWNED),--unowned,--from "$$FROM") --to "$$TO" $(if $(UNVERIFIED),--unverified)

## Start or stop the private PostgreSQL in .local/ by hand.
db-start:
	@scripts/local-db.sh start
db-stop:
	@scripts/local-db.sh stop
