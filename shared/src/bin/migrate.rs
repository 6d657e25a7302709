//! `migrate`: applies `migrations/` to the database in `MIGRATION_DATABASE_URL`, or else
//! `DATABASE_URL` (local or Neon), taking over an older backend's tasks table on the way; and
//! hands the tasks it took over to their owners. Migrations need the owner role; the functions
//! do not have it.
//!
//!   migrate                                  apply what is pending (one transaction)
//!   migrate legacy                           old owner keys whose tasks await an owner
//!   migrate adopt --from KEY --to EMAIL      those tasks become that account's (its address
//!                                            verified, or --unverified when you know it is theirs)
//!   migrate adopt --unowned --to EMAIL       the same for a single-user table's tasks

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use shared::migrate::legacy::{self, Key, Proof};
use shared::migrate::{self, Settings};
use shared::users::Email;
use tokio_postgres::Client;

const USAGE: &str =
    "usage: migrate [legacy | adopt (--from KEY | --unowned) --to EMAIL [--unverified]]";

/// BSD's EX_TEMPFAIL: a lock was not granted in time, and running again is the remedy.
const TRY_AGAIN: u8 = 75;

enum Command {
    Migrate,
    Legacy,
    Adopt {
        key: Key,
        email: Email,
        proof: Proof,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = match parse(std::env::args().skip(1).collect()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("migrate: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut client = match connect().await {
        Ok(client) => client,
        Err(message) => {
            eprintln!("migrate: {message}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Migrate => apply(&mut client).await,
        Command::Legacy => list(&client).await,
        Command::Adopt { key, email, proof } => adopt(&mut client, &key, &email, proof).await,
    }
}

fn parse(args: Vec<String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let command = match args.next().as_deref() {
        None => Command::Migrate,
        Some("legacy") => Command::Legacy,
        Some("adopt") => {
            let (mut key, mut email, mut proof) = (None, None, Proof::Verified);
            while let Some(flag) = args.next() {
                let mut value = || args.next().ok_or(format!("{flag} needs a value"));
                match flag.as_str() {
                    "--from" => key = Some(Key::Named(value()?)),
                    "--unowned" => key = Some(Key::Unowned),
                    "--unverified" => proof = Proof::Vouched,
                    "--to" => {
                        let raw = value()?;
                        email =
                            Some(Email::parse(&raw).map_err(|why| format!("--to {raw:?}: {why}"))?);
                    }
                    other => return Err(format!("unknown option {other:?}")),
                }
            }
            match (key, email) {
                (Some(key), Some(email)) => Command::Adopt { key, email, proof },
                (None, _) => return Err("adopt needs --from KEY or --unowned".into()),
                (_, None) => return Err("adopt needs --to EMAIL".into()),
            }
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(command),
    }
}

async fn connect() -> Result<Client, String> {
    let (name, url) = ["MIGRATION_DATABASE_URL", "DATABASE_URL"]
        .into_iter()
        .find_map(|name| Some((name, std::env::var(name).ok().filter(|v| !v.is_empty())?)))
        .ok_or("neither MIGRATION_DATABASE_URL nor DATABASE_URL is set")?;
    let config = tokio_postgres::Config::from_str(&url)
        .map_err(|_| format!("{name} is not a PostgreSQL connection URL"))?;
    let db = shared::db::Db::new(config).map_err(|e| format!("TLS set-up failed: {e}"))?;
    db.dedicated_client()
        .await
        .map_err(|e| format!("cannot connect: {}", migrate::postgres_words(&e)))
}

async fn apply(client: &mut Client) -> ExitCode {
    let mut settings = Settings::default();
    if let Ok(ms) = std::env::var("MIGRATION_LOCK_TIMEOUT_MS") {
        match ms.parse() {
            Ok(ms) => settings.lock_timeout = Duration::from_millis(ms),
            Err(_) => {
                eprintln!("migrate: MIGRATION_LOCK_TIMEOUT_MS must be a number of milliseconds");
                return ExitCode::from(2);
            }
        }
    }
    match migrate::run_with(client, settings).await {
        Ok(applied) => {
            if applied.migrations.is_empty() {
                eprintln!("migrate: schema is up to date");
            }
            for name in &applied.migrations {
                eprintln!("migrate: applied {name}");
            }
            if let Some((table, kept)) = &applied.taken_over {
                eprintln!(
                    "migrate: took over the old table \"{table}\": {kept} tasks kept, each \
                     awaiting its owner (`make legacy` lists them)"
                );
            }
            warn_of_stranded(client).await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            eprintln!("migrate: nothing was changed (a run is one transaction)");
            if error.is_lock_timeout() {
                return ExitCode::from(TRY_AGAIN);
            }
            ExitCode::FAILURE
        }
    }
}

/// One line per key on stdout, tab-separated for scripts: the task count, the key (or
/// `(unowned)`), and for a Better Auth user's id a note that nobody needs to adopt them.
async fn list(client: &Client) -> ExitCode {
    warn_of_stranded(client).await;
    match legacy::waiting(client).await {
        Ok(waiting) if waiting.is_empty() => {
            eprintln!("migrate: no task awaits an owner");
            ExitCode::SUCCESS
        }
        Ok(waiting) => {
            eprintln!("tasks\towner key (adopt with --from KEY, or --unowned)");
            let mut out = String::new();
            for entry in waiting {
                let key = match &entry.key {
                    Key::Named(key) => key.as_str(),
                    Key::Unowned => "(unowned)",
                };
                out.push_str(&format!("{}\t{key}", entry.tasks));
                if entry.better_auth_user {
                    out.push_str("\t(a Better Auth user's id: theirs at their first request)");
                }
                out.push('\n');
            }
            print(&out);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn adopt(client: &mut Client, key: &Key, email: &Email, proof: Proof) -> ExitCode {
    match legacy::adopt(client, key, email, proof).await {
        Ok(moved) => {
            print(&format!(
                "moved {moved} tasks of {key} to {}\n",
                email.as_str()
            ));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Says so when an old tasks table sits beside ours untaken (see [`legacy::Stranded`]).
async fn warn_of_stranded(client: &Client) {
    match legacy::stranded(client).await {
        Ok(Some(stranded)) => eprintln!("migrate: warning: {stranded}"),
        Ok(None) => {}
        Err(error) => eprintln!("migrate: could not look for an old tasks table: {error}"),
    }
}

/// The command's answer, on stdout (the workspace keeps `println!` out of the functions).
fn print(text: &str) {
    use std::io::Write;
    // A closed stdout (`| head`) is not worth a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
}
