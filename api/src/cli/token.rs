//! `colometer token create|list|revoke`.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use engine::access::{self, Role};
use engine::clock::{Clock, SystemClock};
use engine::id::{CustomerId, TokenId};

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it on stdout, alone on its line. Only its hash is stored:
    /// it cannot be shown again.
    Create {
        /// admin, billing, customer or ingest.
        #[arg(long)]
        role: String,
        /// The customer a `customer` token is bound to.
        #[arg(long)]
        customer: Option<String>,
        /// Who or what will use the token.
        #[arg(long)]
        label: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its ID (`tok-…`, from `token list`).
    Revoke {
        /// The token's ID.
        id: String,
    },
}

/// Runs a token subcommand.
pub fn run(cmd: TokenCommand, config: Option<&Path>) -> anyhow::Result<()> {
    let (_, mut catalog) = super::open(config)?;
    match cmd {
        TokenCommand::Create { role, customer, label } => {
            let customer = customer.map(CustomerId::new).transpose().context("--customer")?;
            let role = Role::new(&role, customer)?;
            if let Some(c) = role.customer()
                && !catalog.inventory()?.customers.contains_key(c)
            {
                bail!("unknown customer '{c}' (import it first)");
            }
            let token = access::generate(role, label, SystemClock.now())?;
            catalog.insert_token(&token.record)?;
            tracing::info!(token = %token.record.id, role = token.record.role.name(), "token created");
            outln!("{}", token.secret)?;
            Ok(())
        }
        TokenCommand::List => {
            outln!("{:<18} {:<9} {:<16} {:<22} {:<22} LABEL", "ID", "ROLE", "CUSTOMER", "CREATED", "REVOKED")?;
            for t in catalog.tokens()? {
                outln!(
                    "{:<18} {:<9} {:<16} {:<22} {:<22} {}",
                    t.id,
                    t.role.name(),
                    t.role.customer().map(|c| c.as_str()).unwrap_or("-"),
                    t.created_at.to_string(),
                    t.revoked_at.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    t.label.unwrap_or_default()
                )?;
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            let id = TokenId::new(id).context("token id")?;
            if !catalog.revoke_token(&id, SystemClock.now())? {
                bail!("no live token '{id}'");
            }
            outln!("revoked {id}")?;
            Ok(())
        }
    }
}
