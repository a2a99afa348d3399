//! Invoicing: billing runs turn rated usage into draft invoices; drafts are finalized (numbered,
//! immutable), sent, paid, credited or voided through credit notes; every change is audited in a
//! hash chain. The SQLite ledger (`catalog::sqlite::ledger`) keeps them.

pub mod audit;
pub mod compare;
pub mod credit_note;
pub mod invoice;
pub mod record;
pub mod run;
