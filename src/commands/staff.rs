//! `crossdesk staff`: create and manage staff accounts.

use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::language::Language;
use crate::staff::accounts::{self, NewAccount};
use crate::storage::{StaffRole, Store};

#[derive(Debug, Args)]
pub struct StaffArgs {
    #[command(subcommand)]
    pub command: StaffCommand,
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account; the password is read from the terminal or stdin.
    Add(AddArgs),
    /// List the accounts.
    List,
    /// Set a new password; the account's sessions end.
    Password(PasswordArgs),
    /// Disable an account; its sessions end at once.
    Disable(NameArgs),
    /// Enable a disabled account.
    Enable(NameArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Sign-in name: letters, digits, '.', '_' and '-'.
    pub name: String,
    /// `staff` serves chats; `admin` also edits the glossary.
    #[arg(long, default_value = "staff")]
    pub role: StaffRole,
    /// Working language (a code such as zh, en or es): buyer messages are
    /// shown in it and replies are written in it.
    #[arg(long, default_value = "en")]
    pub language: Language,
    /// Name buyers see when this person joins a chat [default: the sign-in name].
    #[arg(long)]
    pub display_name: Option<String>,
    /// Chats this person may own at once [default: staff.max_chats].
    #[arg(long)]
    pub max_chats: Option<i64>,
    /// Read the password from the first line of stdin instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    pub name: String,
    /// Read the password from the first line of stdin instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
}

pub async fn run(config: Config, args: StaffArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let store = Store::open(&config.database_path())
        .await
        .with_context(|| format!("cannot open store {}", config.database_path().display()))?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match args.command {
        StaffCommand::Add(add) => {
            let password = read_password(add.password_stdin)?;
            let display_name = add.display_name.clone().unwrap_or_else(|| add.name.clone());
            let account = accounts::add_account(
                &store,
                NewAccount {
                    name: &add.name,
                    display_name: &display_name,
                    role: add.role,
                    language: add.language,
                    password: &password,
                    max_chats: add.max_chats.unwrap_or(config.staff.max_chats),
                },
            )
            .await?;
            writeln!(
                out,
                "created {} ({}, {}, language {}, up to {} chats)",
                account.name,
                account.display_name,
                account.role.as_str(),
                account.language,
                account.max_chats
            )?;
        }
        StaffCommand::List => {
            writeln!(out, "name\tdisplay name\trole\tlanguage\tmax chats\tstatus")?;
            for account in store.staff_accounts().await? {
                let status = if account.disabled {
                    "disabled"
                } else {
                    "active"
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{status}",
                    account.name,
                    account.display_name,
                    account.role.as_str(),
                    account.language,
                    account.max_chats
                )?;
            }
        }
        StaffCommand::Password(change) => {
            let password = read_password(change.password_stdin)?;
            accounts::set_password(&store, &change.name, &password).await?;
            writeln!(
                out,
                "password of {} changed; its sessions ended",
                change.name
            )?;
        }
        StaffCommand::Disable(NameArgs { name }) => {
            set_disabled(&store, &name, true).await?;
            writeln!(out, "disabled {name}; its sessions ended")?;
        }
        StaffCommand::Enable(NameArgs { name }) => {
            set_disabled(&store, &name, false).await?;
            writeln!(out, "enabled {name}")?;
        }
    }
    Ok(())
}

async fn set_disabled(store: &Store, name: &str, disabled: bool) -> anyhow::Result<()> {
    if store.set_staff_disabled(name, disabled).await? {
        Ok(())
    } else {
        Err(accounts::AccountError::UnknownName(name.to_owned()).into())
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")
        .context("cannot read the password from the terminal; use --password-stdin")?;
    let second = rpassword::prompt_password("Repeat the password: ")
        .context("cannot read the password from the terminal; use --password-stdin")?;
    anyhow::ensure!(
        first == second,
        "the two passwords differ; run the command again"
    );
    Ok(first)
}
