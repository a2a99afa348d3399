//! Invoice documents: a printable HTML page (minijinja, template embedded in the binary) and a
//! PDF (printpdf, the PDF base-14 Helvetica, so nothing is embedded and the file stays small).

use engine::invoicing::record::InvoiceView;
use printpdf::{BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfLayerReference};
use rust_decimal::Decimal;

const TEMPLATE: &str = include_str!("../templates/invoice.html");

/// Why a document cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The template failed.
    #[error("invoice template: {0}")]
    Template(#[from] minijinja::Error),
    /// The PDF writer failed.
    #[error("invoice pdf: {0}")]
    Pdf(#[from] printpdf::Error),
    /// The invoice does not serialize.
    #[error("invoice: {0}")]
    Json(#[from] serde_json::Error),
}

fn title(v: &InvoiceView) -> String {
    match &v.body.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice {}", v.body.id),
    }
}

/// The printable HTML page.
pub fn html(v: &InvoiceView) -> Result<String, DocumentError> {
    let mut env = minijinja::Environment::new();
    env.add_template("invoice.html", TEMPLATE)?;
    let mut ctx = serde_json::to_value(v)?;
    ctx["title"] = title(v).into();
    ctx["tax_percent"] = (v.body.tax_rate * Decimal::from(100)).normalize().to_string().into();
    Ok(env.get_template("invoice.html")?.render(ctx)?)
}

/// Quantities on paper: 3 decimals (the HTML and JSON keep them exact).
fn short(d: Decimal) -> String {
    let r = d.round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointAwayFromZero).normalize();
    r.to_string()
}

/// Cuts text to `max` characters (PDF lines do not wrap).
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max - 1).collect::<String>() + "…" }
}

struct Pages<'a> {
    doc: &'a printpdf::PdfDocumentReference,
    layer: PdfLayerReference,
    y: f32,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
}

const TOP: f32 = 277.0;
const BOTTOM: f32 = 20.0;

impl Pages<'_> {
    fn line(&mut self, cells: &[(f32, &str)], bold: bool, size: f32) {
        if self.y < BOTTOM {
            let (page, layer) = self.doc.add_page(Mm(210.0), Mm(297.0), "page");
            self.layer = self.doc.get_page(page).get_layer(layer);
            self.y = TOP;
        }
        let font = if bold { &self.bold } else { &self.regular };
        for (x, text) in cells {
            self.layer.use_text(*text, size, Mm(*x), Mm(self.y), font);
        }
        self.y -= size * 0.5;
    }
}

/// The PDF: header, lines, totals, energy and carbon.
pub fn pdf(v: &InvoiceView) -> Result<Vec<u8>, DocumentError> {
    let b = &v.body;
    let (doc, page, layer) = PdfDocument::new(title(v), Mm(210.0), Mm(297.0), "page");
    let regular = doc.add_builtin_font(BuiltinFont::Helvetica)?;
    let bold = doc.add_builtin_font(BuiltinFont::HelveticaBold)?;
    let layer = doc.get_page(page).get_layer(layer);
    let mut p = Pages { doc: &doc, layer, y: TOP, regular, bold };
    p.line(&[(20.0, &title(v)), (160.0, v.status.as_str())], true, 16.0);
    p.line(&[(20.0, &format!("{} ({})", b.customer_name, b.customer))], false, 10.0);
    p.line(&[(20.0, &format!("Period {}: {} to {} (UTC)", b.period, b.from, b.to))], false, 10.0);
    if let Some(at) = b.finalized_at {
        p.line(&[(20.0, &format!("Issued {at}"))], false, 10.0);
    }
    p.y -= 6.0;
    let cols = [20.0, 28.0, 120.0, 140.0, 160.0, 180.0];
    p.line(
        &[
            (cols[0], "#"),
            (cols[1], "Description"),
            (cols[2], "Quantity"),
            (cols[3], "Unit"),
            (cols[4], "Price"),
            (cols[5], &format!("Amount {}", b.currency)),
        ],
        true,
        9.0,
    );
    for l in &b.lines {
        let n = l.n.to_string();
        let (q, price, amount) = (short(l.quantity), l.unit_price.to_string(), l.amount.to_string());
        let text = cut(&l.description, 52);
        p.line(
            &[
                (cols[0], &n),
                (cols[1], &text),
                (cols[2], &q),
                (cols[3], &l.unit),
                (cols[4], &price),
                (cols[5], &amount),
            ],
            false,
            9.0,
        );
    }
    p.y -= 3.0;
    let tax = format!("Tax ({} %)", (b.tax_rate * Decimal::from(100)).normalize());
    for (label, value, strong) in
        [("Subtotal", b.subtotal, false), (tax.as_str(), b.tax, false), ("Total", b.total, true)]
    {
        p.line(&[(cols[3], label), (cols[5], &value.to_string())], strong, 10.0);
    }
    if !v.credited.is_zero() || !v.paid.is_zero() {
        p.line(&[(cols[3], "Credited"), (cols[5], &v.credited.to_string())], false, 10.0);
        p.line(&[(cols[3], "Paid"), (cols[5], &v.paid.to_string())], false, 10.0);
        p.line(&[(cols[3], "Balance"), (cols[5], &v.balance.to_string())], true, 10.0);
    }
    p.y -= 6.0;
    p.line(&[(20.0, "Energy and carbon (location-based)")], true, 11.0);
    p.line(&[(20.0, "Resource"), (90.0, "IT kWh"), (125.0, "Facility kWh"), (165.0, "kgCO2e")], true, 9.0);
    let s = &b.sustainability;
    for r in &s.resources {
        let (it, fac, kg) = (r.it_kwh.to_string(), r.facility_kwh.to_string(), r.kg_co2e.to_string());
        p.line(&[(20.0, &r.resource), (90.0, &it), (125.0, &fac), (165.0, &kg)], false, 9.0);
    }
    let (it, fac, kg) = (s.it_kwh.to_string(), s.facility_kwh.to_string(), s.kg_co2e.to_string());
    p.line(&[(20.0, "Total"), (90.0, &it), (125.0, &fac), (165.0, &kg)], true, 9.0);
    p.y -= 6.0;
    p.line(
        &[(20.0, "Quantities shown to 3 decimals; amounts are exact quantity x unit price, rounded once.")],
        false,
        8.0,
    );
    p.line(&[(20.0, &format!("Evidence per line: /api/v1/invoices/{}/lines/N/evidence", b.id))], false, 8.0);
    drop(p);
    Ok(doc.save_to_bytes()?)
}
