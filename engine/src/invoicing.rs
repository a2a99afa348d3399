//! Invoicing: billing runs turn rated usage into draft invoices; drafts are finalized (numbered,
//! immutable), sent, paid, credited or voided through credit notes; every change is audited in a
//! hash chain. The catalog's ledger (`catalog::ledger`, on SQLite or PostgreSQL) keeps them;
//! `service` is the billing run's one path for the API and the CLI.

pub mod audit;
pub mod compare;
pub mod credit_note;
pub mod document;
pub mod invoice;
pub mod record;
pub mod run;
