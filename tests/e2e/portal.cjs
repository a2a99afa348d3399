// The portal in headless Chromium (Debian's), driven by Playwright (playwright-core, no browser
// download). Started by tests/tests/portal_e2e.rs against a running `colometer demo`; every
// step asserts, and the first failure exits non-zero with its reason. Screenshots go to
// $SHOTS (the test's artefacts).
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
// axe-core (npm, beside playwright-core): the accessibility audit run on every page visited.
const axeSource = fs.readFileSync(path.join(path.dirname(process.env.PLAYWRIGHT_CORE), "axe-core", "axe.min.js"), "utf8");

const url = process.env.COLOMETER_URL;
const customer = process.env.CUSTOMER_TOKEN;
const admin = process.env.ADMIN_TOKEN;
const other = process.env.OTHER_CUSTOMER;
const failing = process.env.FAILING_DEVICE;
const shots = process.env.SHOTS;

// A figure as the page prints it ("2,142.017") as a number.
const figure = (s) => Number(String(s).trim().replace(/,/g, ""));

function check(ok, what) {
  if (!ok) throw new Error(`portal e2e: ${what}`);
  console.log(`ok - ${what}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  // Every page screenshotted is also audited: no serious or critical WCAG violation.
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`));
  audits.push(...found.map((f) => `${name}: ${f}`));
}

const audits = [];

async function login(page, token) {
  await page.goto(`${url}/portal/login`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForLoadState("domcontentloaded");
}

(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));

    // Without a session, the portal asks to log in; a wrong token is refused.
    await page.goto(`${url}/portal`);
    check(page.url().endsWith("/portal/login"), "an anonymous visitor is sent to the login page");
    await login(page, "colo_not_a_token");
    check((await page.getByRole("alert").textContent()).includes("not valid"), "a wrong token is refused");

    // The customer's overview: live data that updates without reloading.
    await login(page, customer);
    check(page.url().endsWith("/portal/customers/acme"), `the customer lands on its overview (${page.url()})`);
    await page.waitForFunction(() => Number(document.getElementById("live-chart").dataset.points || 0) >= 1, null, { timeout: 20000 });
    const first = await page.textContent("#power-now");
    check(first !== "–" && figure(first) > 0, `live power is shown (${first} kW)`);
    check(figure(await page.textContent("#mtd-kwh")) > 0, "month-to-date kWh is shown");
    await page.waitForFunction(() => Number(document.getElementById("live-chart").dataset.points || 0) >= 2, null, { timeout: 30000 });
    check(true, "the live chart received a second point without a reload");
    check((await page.locator("#live-chart canvas").count()) > 0, "the live chart is drawn (uPlot canvas)");
    check((await page.locator("#outlets tbody tr").count()) === 3, "the customer's three outlets are listed live");
    check((await page.textContent("#racks tbody tr td")) === "ams1-r101", "live power is summed per rack");
    await shot(page, "1-overview");

    // History: a month of backfilled data, with the billed 95th.
    await page.getByRole("link", { name: "History" }).click();
    await page.getByRole("link", { name: "Month" }).click();
    await page.waitForFunction(() => Number(document.getElementById("history").dataset.points || 0) > 8000, null, { timeout: 30000 });
    const p95 = await page.textContent("#p95-line");
    check(figure(p95) > 0, `the history shows the 95th (${p95} Mbps) over a month of buckets`);
    check((await page.locator("#bw-chart canvas").count()) > 0 && (await page.locator("#power-chart canvas").count()) > 0, "both history charts are drawn");
    await shot(page, "2-history-month");

    // Invoices: the demo's draft, its lines, a line's evidence, the PDF.
    await page.getByRole("link", { name: "Invoices" }).click();
    await page.locator("table a", { hasText: "Draft" }).first().click();
    const lines = await page.locator("#lines tbody tr").count();
    check(lines >= 3, `the invoice has its lines (${lines})`);
    check(figure(await page.textContent("#total")) > 0, "the invoice has a total");
    await shot(page, "3-invoice");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#pdf")]);
    const pdf = await download.path();
    const head = fs.readFileSync(pdf).subarray(0, 5).toString();
    check(head === "%PDF-", "the invoice downloads as a PDF");
    fs.copyFileSync(pdf, path.join(shots, "invoice.pdf"));
    await page.locator("#lines a", { hasText: "evidence" }).first().click();
    const evidence = await page.textContent("#evidence");
    check(evidence.includes('"evidence"') && evidence.includes('"line"'), "a line's evidence is shown");
    await shot(page, "4-evidence");

    // Isolation: another customer's pages do not exist for this customer.
    for (const p of [`/portal/customers/${other}`, `/portal/customers/${other}/invoices`, `/portal/invoices/${other}.${process.env.PERIOD}`]) {
      const r = await page.goto(`${url}${p}`);
      check(r.status() === 404, `${p} answers 404 to another customer`);
    }
    const ops = await page.goto(`${url}/portal/ops`);
    check(ops.status() === 403, "the operator dashboard is closed to customers");
    await shot(page, "5-foreign-404");

    // The operator: the dashboard shows the device the test stopped as failing.
    await page.goto(`${url}/portal/customers/acme`);
    await page.getByRole("button", { name: "Log out" }).click();
    check(page.url().endsWith("/portal/login"), "logging out ends the session");
    await login(page, admin);
    check(page.url().endsWith("/portal/ops"), "staff land on the operator dashboard");
    const row = page.locator(`#devices tr[data-device="${failing}"]`);
    check((await row.getAttribute("data-state")) === "failing", `${failing} is shown failing`);
    check((await page.locator(".capacity tbody tr").count()) === 12, "capacity lists the twelve racks");
    const states = (await page.textContent("#invoice-states")).replace(/\s+/g, " ");
    check(states.includes("draft 3"), `the dashboard counts the demo's three drafts (${states})`);
    check((await page.textContent("#runs tbody tr td:nth-child(2)")) === process.env.PERIOD, "the latest billing run is listed");
    await shot(page, "6-operator");

    // A phone-sized screen still shows the overview without sideways scrolling.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${url}/portal/customers/acme`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 390, `the overview fits a phone's width (${wide}px)`);
    await shot(page, "7-phone");
    check(problems.length === 0, `no script errors (${problems.join("; ")})`);
    check(audits.length === 0, `axe finds no serious or critical accessibility problem on the 7 pages (${audits.join("; ")})`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
