//! An invoice stored before documents were versioned renders to the same HTML byte for byte
//! (#29): the stored body is the engine's golden version-1 document; the HTML beside this test
//! was rendered from it by the colometer that wrote it (`UPDATE_GOLDEN=1` rewrites it — only
//! when the rendering is meant to change, with the diff reviewed).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use engine::domain::Money;
use engine::invoicing::document;
use engine::invoicing::invoice::Status;
use engine::invoicing::record::InvoiceView;
use rust_decimal::Decimal;

#[test]
fn an_invoice_stored_before_versioning_renders_to_the_same_html() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let stored =
        std::fs::read_to_string(root.join("../engine/tests/golden/documents/invoice.acme.2026-10.v1.json")).unwrap();
    let body = document::read_invoice(&stored).unwrap();
    let view = InvoiceView {
        status: Status::Finalized,
        sent_at: None,
        paid_at: None,
        voided_at: None,
        credit_notes: Vec::new(),
        credited: Money::new(Decimal::ZERO, body.currency),
        paid: Money::new(Decimal::ZERO, body.currency),
        balance: body.total,
        payments: Vec::new(),
        body,
    };
    let html = api::invoice_doc::html(&view).unwrap();
    let path = root.join("tests/golden/invoice.acme.2026-10.html");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &html).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(html, want, "the rendering of a stored invoice changed");
    assert!(html.contains("2026-000001") && html.contains("2068.68"), "the number and the total are shown");
}
