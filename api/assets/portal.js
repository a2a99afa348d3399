// colometer portal: live view (Server-Sent Events) and history charts (uPlot).
// Numbers arrive as exact decimal strings; they become JavaScript numbers only to be drawn.
"use strict";
window.colometer = (() => {
  const num = (s) => (s === null || s === undefined || s === "" ? null : Number(s));
  const fmt = (x, digits) =>
    x === null || Number.isNaN(x)
      ? "–"
      : x.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const set = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  const size = (el) => ({ width: Math.max(280, el.clientWidth || 600), height: 260 });
  const cell = (text, numeric) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  };
  const fill = (id, rows) => {
    const body = document.querySelector(`#${id} tbody`);
    if (!body) return;
    body.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement("tr");
        tr.append(...cells);
        return tr;
      }),
    );
  };

  function live(el) {
    const id = el.dataset.customer;
    const rackOf = JSON.parse(el.dataset.racks || "{}");
    const data = [[], [], [], []];
    const plot = new uPlot(
      {
        ...size(el),
        series: [
          {},
          { label: "Power (kW)", stroke: "#a33b00", scale: "kw", width: 2 },
          { label: "In (Mbps)", stroke: "#0b5cad", scale: "mbps", width: 2 },
          { label: "Out (Mbps)", stroke: "#17692e", scale: "mbps", width: 2 },
        ],
        axes: [{}, { scale: "kw", label: "kW" }, { scale: "mbps", side: 1, label: "Mbps", grid: { show: false } }],
      },
      data,
      el,
    );
    const status = document.getElementById("live-status");
    const source = new EventSource(`/api/v1/customers/${encodeURIComponent(id)}/live`);
    source.addEventListener("live", (ev) => {
      const v = JSON.parse(ev.data);
      const watts = v.power.reduce((a, o) => a + (num(o.power_w) || 0), 0);
      const rx = v.bandwidth.reduce((a, p) => a + (num(p.in_mbps) || 0), 0);
      const tx = v.bandwidth.reduce((a, p) => a + (num(p.out_mbps) || 0), 0);
      const t = Date.parse(v.at) / 1000;
      if (!data[0].length || t > data[0][data[0].length - 1]) {
        data[0].push(t);
        data[1].push(watts / 1000);
        data[2].push(rx);
        data[3].push(tx);
        if (data[0].length > 720) data.forEach((s) => s.shift());
        plot.setData(data);
      }
      el.dataset.points = String(data[0].length);
      const m = v.month_to_date;
      set("power-now", fmt(watts / 1000, 3));
      set("bw-now", `${fmt(rx, 1)} / ${fmt(tx, 1)}`);
      set("mtd-kwh", fmt(num(m.usage.energy.it_kwh), 3));
      set("mtd-fkwh", fmt(num(m.usage.energy.facility_kwh), 3));
      set("mtd-co2", fmt(num(m.usage.carbon.kg_co2e), 3));
      set("p95", fmt(num(m.usage.bandwidth.p95_mbps), 3));
      set("proj-kwh", fmt(num(m.projected.it_kwh), 1));
      set("commit", fmt(num(m.projected.commit_mbps), 0));
      set("overage", fmt(num(m.projected.overage_mbps), 3));
      const racks = new Map();
      for (const o of v.power) {
        const r = rackOf[o.outlet] || "(no rack)";
        const sum = racks.get(r) || { watts: 0, outlets: 0 };
        sum.watts += num(o.power_w) || 0;
        sum.outlets += 1;
        racks.set(r, sum);
      }
      fill("racks", [...racks].sort().map(([r, s]) => [cell(r), cell(fmt(s.watts / 1000, 3), true), cell(String(s.outlets), true)]));
      fill("outlets", v.power.map((o) => [cell(o.outlet), cell(rackOf[o.outlet] || ""), cell(fmt(num(o.power_w), 1), true), cell(o.at || "none recent")]));
      fill("ports", v.bandwidth.map((p) => [cell(p.port), cell(fmt(num(p.in_mbps), 3), true), cell(fmt(num(p.out_mbps), 3), true)]));
      if (status) status.textContent = `live, updated ${new Date(v.at).toLocaleTimeString()}`;
    });
    source.addEventListener("error", () => {
      if (status) status.textContent = "reconnecting…";
    });
    window.addEventListener("resize", () => plot.setSize(size(el)));
  }

  const flat = (n, v) => (v === null ? Array(n).fill(null) : Array(n).fill(v));

  async function history(el) {
    const id = encodeURIComponent(el.dataset.customer);
    const q = `from=${encodeURIComponent(el.dataset.from)}&to=${encodeURIComponent(el.dataset.to)}`;
    const get = async (path) => {
      const r = await fetch(path, { credentials: "same-origin" });
      if (!r.ok) throw new Error(`${path}: ${r.status}`);
      return r.json();
    };
    let h;
    let u;
    try {
      [h, u] = await Promise.all([get(`/api/v1/customers/${id}/history?${q}`), get(`/api/v1/customers/${id}/usage?${q}`)]);
    } catch (e) {
      set("p95-line", `unavailable (${e.message})`);
      return;
    }
    const n = h.ts.length;
    const p95 = num(u.bandwidth && u.bandwidth.p95_mbps);
    set("p95-line", fmt(p95, 3));
    const bw = document.getElementById("bw-chart");
    const pw = document.getElementById("power-chart");
    const sync = { key: "history", setSeries: true };
    new uPlot(
      {
        ...size(bw),
        cursor: { sync },
        series: [
          {},
          { label: "In (Mbps)", stroke: "#0b5cad", width: 1 },
          { label: "Out (Mbps)", stroke: "#17692e", width: 1 },
          { label: "95th (Mbps)", stroke: "#7a1fa2", width: 2, dash: [6, 4] },
          { label: "Commit (Mbps)", stroke: "#444", width: 2, dash: [2, 4] },
        ],
        axes: [{}, { label: "Mbps" }],
      },
      [h.ts, h.in_mbps.map(num), h.out_mbps.map(num), flat(n, p95), flat(n, num(h.commit_mbps))],
      bw,
    );
    new uPlot(
      {
        ...size(pw),
        cursor: { sync },
        series: [
          {},
          { label: "Power (kW)", stroke: "#a33b00", width: 1 },
          { label: "Committed (kW)", stroke: "#444", width: 2, dash: [2, 4] },
        ],
        axes: [{}, { label: "kW" }],
      },
      [h.ts, h.power_w.map((w) => (w === null ? null : num(w) / 1000)), flat(n, num(h.committed_kw))],
      pw,
    );
    el.dataset.points = String(n);
  }

  return { live, history };
})();
