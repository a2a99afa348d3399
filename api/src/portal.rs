//! The portal: server-rendered pages (minijinja, templates and assets embedded in the binary)
//! over the same data and the same access rules as the API.
//!
//! - Customers: overview with live power and bandwidth (the API's SSE stream), history charts
//!   (day, week, month; uPlot) with the billed 95th and the commitment drawn in, inventory,
//!   invoices with their lines, evidence and PDF, remote-hands tickets.
//! - Staff (admin, billing): the operator dashboard ([`ops`]) and every customer's pages.
//! - A customer asking for another customer's page gets the same 404 page as for a page that
//!   does not exist. Without a session, pages redirect to `/portal/login`.
//!
//! Pages read what the API reads (the same engine calls and role checks); the charts' scripts
//! call the API with the session cookie, which authenticates `GET` requests only.

pub mod assets;
pub mod ops;
pub mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{CACHE_CONTROL, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use engine::access::{Role, TokenHash};
use engine::id::CustomerId;
use engine::inventory::scope;
use engine::time::Timestamp;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};

use crate::app::{AppState, CatalogState, PortalState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::error::ApiError;
use crate::extract::PathParams;

/// The portal's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/portal", get(home))
        .route("/portal/login", get(login_page).post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/customers/{id}", get(overview))
        .route("/portal/customers/{id}/history", get(history))
        .route("/portal/customers/{id}/inventory", get(inventory))
        .route("/portal/customers/{id}/invoices", get(invoices))
        .route("/portal/customers/{id}/tickets", get(tickets))
        .route("/portal/invoices/{id}", get(invoice))
        .route("/portal/invoices/{id}/lines/{n}", get(evidence))
        .route("/portal/ops", get(ops::dashboard))
        .route("/portal/assets/{*path}", get(assets::asset))
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/portal/base.html")),
    ("login.html", include_str!("../templates/portal/login.html")),
    ("error.html", include_str!("../templates/portal/error.html")),
    ("overview.html", include_str!("../templates/portal/overview.html")),
    ("history.html", include_str!("../templates/portal/history.html")),
    ("inventory.html", include_str!("../templates/portal/inventory.html")),
    ("invoices.html", include_str!("../templates/portal/invoices.html")),
    ("invoice.html", include_str!("../templates/portal/invoice.html")),
    ("evidence.html", include_str!("../templates/portal/evidence.html")),
    ("tickets.html", include_str!("../templates/portal/tickets.html")),
    ("ops.html", include_str!("../templates/portal/ops.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary; a broken one fails the portal tests.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "portal template does not parse");
            }
        }
        env
    })
}

/// A page that could not be shown: a redirect to the login page for `401`, else an HTML error
/// page with the API's status (a customer's foreign page is the same 404 as a missing one).
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, ApiError::Unauthorized) {
            return Redirect::to("/portal/login").into_response();
        }
        let (status, _) = self.0.status_and_slug();
        self.0.log("portal");
        let detail = match &self.0 {
            ApiError::NotFound => "There is no such page, or it is not yours.".to_owned(),
            ApiError::Forbidden(_) => "Your role cannot see this page.".to_owned(),
            e => e.to_string(),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        match render("error.html", context! { title, detail, nav => Vec::<NavItem>::new() }) {
            Ok(Html(body)) => (status, Html(body)).into_response(),
            Err(_) => (status, detail).into_response(),
        }
    }
}

/// Result of a page handler.
pub type Page = Result<Response, PageError>;

/// Renders a template with the portal's headers (no caching: pages show live numbers).
fn render(name: &str, ctx: Value) -> Result<Html<String>, PageError> {
    let t = env().get_template(name).map_err(|e| ApiError::internal_in(format!("template {name}"), e))?;
    t.render(ctx).map(Html).map_err(|e| PageError(ApiError::internal_in(format!("template {name}"), e)))
}

fn page(name: &str, ctx: Value) -> Page {
    let mut r = render(name, ctx)?.into_response();
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// One entry of the navigation bar.
#[derive(Debug, Serialize)]
pub struct NavItem {
    href: String,
    label: &'static str,
    current: bool,
}

/// The navigation bar for `caller` on the page `current` (a customer's pages show that
/// customer's sections; staff also see the dashboard).
pub fn nav(caller: &Caller, customer: Option<&CustomerId>, current: &str) -> Vec<NavItem> {
    let mut items = Vec::new();
    if !matches!(caller.role, Role::Customer(_)) {
        items.push(NavItem { href: "/portal/ops".into(), label: "Operations", current: current == "ops" });
    }
    if let Some(c) = customer {
        for (key, label) in [
            ("", "Overview"),
            ("history", "History"),
            ("inventory", "Inventory"),
            ("invoices", "Invoices"),
            ("tickets", "Tickets"),
        ] {
            let href =
                if key.is_empty() { format!("/portal/customers/{c}") } else { format!("/portal/customers/{c}/{key}") };
            items.push(NavItem { href, label, current: current == key || (key.is_empty() && current == "overview") });
        }
    }
    items
}

fn who(caller: &Caller) -> String {
    match &caller.role {
        Role::Customer(c) => format!("customer {c}"),
        r => r.name().to_owned(),
    }
}

/// Roles that read customers' pages.
const READERS: &[Allow] = &[Allow::Admin, Allow::Billing, Allow::Customer];

/// A customer page's viewer and customer (`/portal/customers/{id}/…`): the caller may see that
/// customer (staff, or the customer itself; anyone else gets the 404 page, as if it did not
/// exist). Without a session: the redirect to the login.
pub struct CustomerPage {
    /// Who is looking.
    pub caller: Caller,
    /// The customer shown.
    pub customer: engine::domain::Customer,
    /// The inventory it was read from.
    pub derived: Arc<crate::app::Derived>,
}

impl FromRequestParts<AppState> for CustomerPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(READERS)?;
        let PathParams(id) = PathParams::<String>::from_request_parts(parts, state).await.map_err(PageError)?;
        let id = CustomerId::new(id).map_err(|_| ApiError::NotFound)?;
        caller.see_customer(&id)?;
        let derived = state.metering.derived().await?;
        let customer = derived.inventory.customers.get(&id).cloned().ok_or(ApiError::NotFound)?;
        Ok(Self { caller, customer, derived })
    }
}

impl CustomerPage {
    /// Renders `template` with `ctx` plus the page's title, viewer and navigation (`section`).
    fn render(&self, template: &str, title: &str, section: &str, ctx: Value) -> Page {
        let CustomerPage { caller, customer, .. } = self;
        page(
            template,
            context! { title, customer, who => who(caller), nav => nav(caller, Some(&customer.id), section), ..ctx },
        )
    }
}

async fn home(caller: Result<Caller, ApiError>) -> Page {
    let caller = caller?;
    Ok(match &caller.role {
        Role::Customer(c) => Redirect::to(&format!("/portal/customers/{c}")).into_response(),
        Role::Admin | Role::Billing => Redirect::to("/portal/ops").into_response(),
        Role::Ingest => return Err(ApiError::Forbidden("ingest").into()),
    })
}

async fn login_page() -> Page {
    page("login.html", context! { title => "Log in", nav => Vec::<NavItem>::new() })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

/// Whether a browser's form post comes from another site (its `Origin` names another host):
/// such a login is refused, so no other site can log a visitor into an account of its choosing.
fn cross_site(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").map(|(_, h)| h) != Some(host)
}

async fn login(
    State(catalog): State<CatalogState>,
    State(portal): State<PortalState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Page {
    if cross_site(&headers) {
        return Err(ApiError::Forbidden("cross-site login").into());
    }
    let hash = TokenHash::of(form.token.trim());
    let probe = hash.clone();
    let record = catalog.catalog(move |c| c.token_by_hash(&probe)).await?;
    match record {
        Some(r) if !matches!(r.role, Role::Ingest) => {
            let id = portal.sessions.open(hash);
            tracing::info!(token = %r.id, "portal login");
            let mut resp = Redirect::to("/portal").into_response();
            let cookie = HeaderValue::from_str(&session::set_cookie(&id))
                .map_err(|e| ApiError::internal_in("session cookie", e))?;
            resp.headers_mut().insert(SET_COOKIE, cookie);
            Ok(resp)
        }
        _ => {
            let mut r = render(
                "login.html",
                context! { title => "Log in", error => "That token is not valid for the portal.", nav => Vec::<NavItem>::new() },
            )?
            .into_response();
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

async fn logout(State(portal): State<PortalState>, headers: HeaderMap) -> Response {
    if let Some(id) = session::cookie(&headers) {
        portal.sessions.close(&id);
    }
    let mut resp = Redirect::to("/portal/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

async fn overview(p: CustomerPage) -> Page {
    // Outlet → rack, for the live per-rack power (outlets held now or earlier: the live view
    // lists only those held now).
    let racks: std::collections::BTreeMap<String, String> =
        scope::billed_resources(&p.derived.inventory, &p.customer.id)
            .into_iter()
            .filter(|r| r.kind == "outlet")
            .filter_map(|r| Some((r.resource, r.rack?.to_string())))
            .collect();
    let racks = serde_json::to_string(&racks).map_err(ApiError::internal)?;
    p.render("overview.html", "Overview", "overview", context! { racks })
}

#[derive(Debug, Deserialize)]
struct RangeParam {
    range: Option<String>,
}

/// The history ranges: key, label, length in days.
const RANGES: [(&str, &str, i64); 3] = [("day", "Day", 1), ("week", "Week", 7), ("month", "Month", 30)];

async fn history(State(clock): State<SharedClock>, p: CustomerPage, Query(q): Query<RangeParam>) -> Page {
    let key = q.range.unwrap_or_else(|| "week".into());
    let &(_, _, days) = RANGES
        .iter()
        .find(|r| r.0 == key)
        .ok_or_else(|| ApiError::BadRequest(format!("range {key:?}: expected day, week or month")))?;
    // Whole 5-minute buckets up to now.
    let step = 300 * 1_000_000_000;
    let to = (clock.now().as_nanos() / step + 1) * step;
    let from = to - days * 86_400 * 1_000_000_000;
    let inv = &p.derived.inventory;
    // Summed over the customer's services, as the history's line is.
    let commit_mbps = inv
        .services
        .values()
        .filter(|s| s.customer == p.customer.id)
        .filter_map(|s| inv.rate_plans.get(&s.plan))
        .flat_map(|p| p.charges.iter())
        .filter_map(|c| match c {
            engine::domain::rate_plan::Charge::BandwidthP95 { commit_mbps, .. } => Some(*commit_mbps),
            _ => None,
        })
        .reduce(|a, b| a + b)
        .map(|d| d.normalize().to_string());
    let ranges: Vec<Value> =
        RANGES.iter().map(|r| context! { key => r.0, label => r.1, current => r.0 == key }).collect();
    let (from, to) = (Timestamp::from_nanos(from).to_string(), Timestamp::from_nanos(to).to_string());
    p.render("history.html", "History", "history", context! { ranges, commit_mbps, from, to })
}

async fn inventory(p: CustomerPage) -> Page {
    let resources = scope::billed_resources(&p.derived.inventory, &p.customer.id);
    p.render("inventory.html", "Inventory", "inventory", context! { resources })
}

async fn invoices(State(catalog): State<CatalogState>, p: CustomerPage) -> Page {
    let filter = engine::invoicing::record::InvoiceFilter {
        customer: Some(p.customer.id.to_string()),
        period: None,
        status: None,
        after: None,
        limit: 1_000,
    };
    let (mut invoices, _) = catalog.ledger(move |c| c.invoices(&filter)).await?;
    invoices.sort_by(|a, b| b.body.period.cmp(&a.body.period).then(a.body.id.cmp(&b.body.id)));
    p.render("invoices.html", "Invoices", "invoices", context! { invoices })
}

async fn tickets(p: CustomerPage) -> Page {
    let mut tickets: Vec<Value> = p
        .derived
        .inventory
        .tickets
        .values()
        .filter(|t| t.customer == p.customer.id)
        .map(|t| {
            context! {
                id => t.id.to_string(), from => t.work.from.to_string(), to => t.work.to.map(|x| x.to_string()),
                rack => t.rack.as_ref().map(ToString::to_string), asset => t.asset.as_ref().map(ToString::to_string),
                description => t.description.clone(),
            }
        })
        .collect();
    tickets.reverse();
    p.render("tickets.html", "Tickets", "tickets", context! { tickets })
}

async fn invoice(
    State(catalog): State<CatalogState>,
    caller: Result<Caller, ApiError>,
    PathParams(id): PathParams<String>,
) -> Page {
    let caller = caller?;
    caller.require(READERS)?;
    let inv = crate::routes::invoices::visible(&catalog, &caller, id).await?;
    let customer = inv.body.customer.clone();
    let title = match &inv.body.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice {}", inv.body.id),
    };
    page("invoice.html", context! { title, inv, who => who(&caller), nav => nav(&caller, Some(&customer), "invoices") })
}

async fn evidence(
    State(catalog): State<CatalogState>,
    caller: Result<Caller, ApiError>,
    PathParams((id, n)): PathParams<(String, String)>,
) -> Page {
    let caller = caller?;
    caller.require(READERS)?;
    let n: u32 = n.parse().map_err(|_| ApiError::NotFound)?;
    let inv = crate::routes::invoices::visible(&catalog, &caller, id.clone()).await?;
    let key = id.clone();
    let key = crate::routes::invoices::invoice_id(key)?;
    let ev = catalog.ledger(move |c| c.line_evidence(&key, n)).await?;
    let summary: Vec<Value> = summary(&ev.evidence);
    let title = format!("Line {n}: {}", ev.line.description);
    page(
        "evidence.html",
        context! {
            title, invoice => id, n, summary,
            evidence => serde_json::to_string_pretty(&ev).unwrap_or_default(),
            who => who(&caller), nav => nav(&caller, Some(&inv.body.customer), "invoices"),
        },
    )
}

/// The evidence's top-level scalars (quantities, ranks, factors), shown before the full document.
fn summary(evidence: &serde_json::Value) -> Vec<Value> {
    let Some(map) = evidence.as_object() else { return Vec::new() };
    map.iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array() && !v.is_null())
        .map(|(k, v)| context! { key => k.replace('_', " "), value => v.as_str().map_or_else(|| v.to_string(), str::to_owned) })
        .collect()
}
