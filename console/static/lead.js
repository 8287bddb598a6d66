// Lead page: the evidence graph (Cytoscape.js), the node panel, the time-range filter and the inflow/outflow timeline.
// Data comes from the console's JSON API; every value reaches the page through textContent, never as HTML.
"use strict";

(function () {
  const ROLE_COLOURS = {
    hub: "#d62728", collector: "#ff7f0e", investor: "#1f77b4",
    promoter: "#9467bd", controller: "#2b2b2b", other: "#9aa5b1",
  };
  // Concentric rings: the hub in the middle, ordinary participants outside.
  const ROLE_RING = { hub: 5, controller: 4, collector: 3, promoter: 2, investor: 1, other: 0 };
  const SVG_NS = "http://www.w3.org/2000/svg";

  const container = document.getElementById("graph");
  if (!container) return;
  const leadUrl = container.dataset.api;
  const fromInput = document.getElementById("range-from");
  const toInput = document.getElementById("range-to");
  const detail = document.getElementById("node-detail");
  const summary = document.getElementById("graph-summary");
  let expanded = false;

  const yuan = new Intl.NumberFormat("zh-CN", { style: "currency", currency: "CNY", maximumFractionDigits: 0 });

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function query() {
    const params = new URLSearchParams();
    if (fromInput.value) params.set("start", fromInput.value);
    if (toInput.value) params.set("end", toInput.value);
    if (expanded) params.set("expand", "1");
    return params.toString();
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) { window.location.href = "/login"; throw new Error("login required"); }
    if (!response.ok) {
      // The server's message is Chinese and says what to change (e.g. a reversed date range).
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || body.error || "HTTP " + response.status);
    }
    return response.json();
  }

  function elements(data) {
    const big = data.nodes.length > 300;
    const maxNode = Math.max(1, ...data.nodes.map((n) => n.amount));
    const maxEdge = Math.max(1, ...data.edges.map((e) => e.amount));
    // Thousands of participants on one circle would be a solid ring: spread them over rings of about 250.
    const investorRings = Math.max(1, Math.ceil(data.nodes.filter((n) => n.role === "investor").length / 250));
    let investorIndex = 0;
    const nodes = data.nodes.map((n) => {
      const quiet = big && n.role === "investor" && !n.grouped;
      const ring = n.role === "investor" && !n.grouped ? 10 - (investorIndex++ % investorRings) : (ROLE_RING[n.role] || 0) * 10 + 10;
      return {
        group: "nodes",
        data: Object.assign({}, n, {
          size: quiet ? 6 : 18 + 52 * Math.sqrt(n.amount / maxNode),
          colour: ROLE_COLOURS[n.role] || ROLE_COLOURS.other,
          ring: n.role === "other" ? 0 : ring,
        }),
        classes: (n.grouped ? "grouped " : "") + (quiet ? "quiet" : ""),
      };
    });
    const edges = data.edges.map((e) => ({
      group: "edges",
      data: Object.assign({}, e, {
        width: big ? 0.5 + 2 * Math.sqrt(e.amount / maxEdge) : 1 + 7 * Math.sqrt(e.amount / maxEdge),
        // amounts on the edges of a readable graph; a 2,000-node one would be a blur of numbers
        label: big ? undefined : yuan.format(e.amount) + (e.count > 1 ? `（${e.count}笔）` : ""),
      }),
      classes: big ? "thin" : "",
    }));
    return nodes.concat(edges);
  }

  const style = [
    { selector: "node", style: {
      "background-color": "data(colour)", width: "data(size)", height: "data(size)",
      label: "data(label)", "font-size": 10, "text-wrap": "wrap", "text-valign": "bottom", "text-margin-y": 3,
      color: "#1d2733", "min-zoomed-font-size": 7,
      "text-background-color": "#ffffff", "text-background-opacity": 0.75, "text-background-padding": 1,
    } },
    { selector: "node.quiet", style: { label: "" } },
    { selector: "node.grouped", style: { shape: "round-rectangle", "border-width": 3, "border-color": "#0d3b66" } },
    { selector: "node:selected", style: { "border-width": 4, "border-color": "#f2c200" } },
    { selector: "edge", style: {
      width: "data(width)", "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.8,
      "line-color": "mapData(t, 0, 1, #b9d3ee, #7a1010)", "target-arrow-color": "mapData(t, 0, 1, #b9d3ee, #7a1010)",
      opacity: 0.8,
    } },
    { selector: "edge[label]", style: {
      label: "data(label)", "font-size": 9, color: "#4a5563", "text-rotation": "autorotate",
      "text-background-color": "#ffffff", "text-background-opacity": 0.8, "text-background-padding": 1,
    } },
    { selector: "edge:selected", style: { "line-color": "#f2c200", "target-arrow-color": "#f2c200", opacity: 1 } },
    { selector: "edge.thin", style: { "curve-style": "haystack", "target-arrow-shape": "none", opacity: 0.35 } },
  ];

  const cy = cytoscape({
    container: container, style: style, wheelSensitivity: 0.3, maxZoom: 2.5,
    textureOnViewport: true, hideEdgesOnViewport: true, pixelRatio: 1,
  });
  window.cy = cy;

  function draw(data) {
    const started = performance.now();
    cy.elements().remove();
    cy.add(elements(data));
    // Small graphs get a force layout (readable, instant); large ones concentric rings, hub in the middle.
    const layout = cy.layout(data.nodes.length <= 200
      ? { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 80000, idealEdgeLength: () => 90,
          numIter: 600, padding: 30 }
      : { name: "concentric", concentric: (node) => node.data("ring"), levelWidth: () => 1, minNodeSpacing: 3,
          animate: false, avoidOverlap: false });
    layout.one("layoutstop", () => {
      window.graphDrawMs = performance.now() - started;
      window.graphReadyMs = performance.now();
      container.dataset.ready = "1";
    });
    layout.run();
    summary.textContent = `${data.accounts} 个账户，图中 ${data.nodes.length} 个节点、${data.edges.length} 条资金边` +
      (data.grouped ? `（${data.grouped} 名集资参与人已合并为一个节点，点击可展开）` : "") +
      (data.without_payments ? (data.filtered
        ? `；另有 ${data.without_payments} 个账户在所选时间段内没有证据交易，未画出`
        : `；其中 ${data.without_payments} 个账户没有列出的证据交易`) : "") +
      (data.filtered && !data.edges.length ? "。所选时间段内没有交易" : "");
    drawTimeline(data.timeline, data.range);
  }

  async function load() {
    container.dataset.ready = "0";
    detail.replaceChildren(el("p", "点击图中的节点，查看该账户的收付合计与交易明细。", "muted"));
    const data = await getJson(leadUrl + "/graph?" + query());
    if (!fromInput.value && data.range.start) fromInput.value = data.range.start;
    if (!toInput.value && data.range.end) toInput.value = data.range.end;
    fromInput.min = toInput.min = data.range.first || "";
    fromInput.max = toInput.max = data.range.last || "";
    draw(data);
  }

  function row(cells, numeric) {
    const tr = document.createElement("tr");
    cells.forEach((cell, i) => tr.appendChild(el("td", cell, numeric.includes(i) ? "num" : "")));
    return tr;
  }

  function alsoIn(leadIds) {
    const box = el("p", leadIds.length ? "该账户也在：" : "", "also-in");
    box.id = "also-in";
    leadIds.forEach((id) => {
      const link = el("a", id);
      link.href = "/leads/" + encodeURIComponent(id);
      box.append(link, " ");
    });
    return box;
  }

  async function showNode(node) {
    detail.replaceChildren(el("p", "加载中…", "muted"));
    const d = node.data();
    if (d.grouped) {
      const box = [el("h2", d.label),
        el("p", `流入 ${yuan.format(d.total_in)}，流出 ${yuan.format(d.total_out)}`)];
      const button = el("button", "展开全部参与人");
      button.addEventListener("click", () => { expanded = true; reload(); });
      box.push(button);
      detail.replaceChildren(...box);
      return;
    }
    const info = await getJson(leadUrl + "/accounts/" + encodeURIComponent(d.id) + "?" + query());
    const table = el("table", null, "data");
    const head = document.createElement("tr");
    ["时间", "收/付", "对方", "金额", "附言"].forEach((h, i) => head.appendChild(el("th", h, i === 3 ? "num" : "")));
    table.appendChild(head);
    info.payments.forEach((p) => table.appendChild(
      row([p.time, p.direction_label, p.counterparty, yuan.format(p.amount), p.memo], [3])));
    detail.replaceChildren(
      el("h2", info.name),
      el("p", `${info.account}　${info.role_label}`, "muted"),
      el("p", `流入 ${yuan.format(info.total_in)}（${info.count_in} 笔），流出 ${yuan.format(info.total_out)}（${info.count_out} 笔）`),
      alsoIn(info.also_in || []),
      table,
      el("p", info.truncated ? `仅显示前 ${info.payments.length} 笔` : "", "muted"),
    );
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawTimeline(points, range) {
    const chart = document.getElementById("timeline");
    if (!chart) return;
    const width = chart.clientWidth || 800, height = 200, pad = 34, mid = height / 2;
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    chart.replaceChildren();
    if (!points.length) { chart.appendChild(svg("text", { x: pad, y: mid }, "所选时间段内没有交易")); return; }
    const top = Math.max(1, ...points.map((p) => Math.max(p.inflow, p.outflow)));
    const step = (width - 2 * pad) / points.length;
    const scale = (mid - 16) / top;
    points.forEach((p, i) => {
      const x = pad + i * step;
      const inside = (!range.start || p.day >= range.start) && (!range.end || p.day <= range.end);
      if (inside) chart.appendChild(svg("rect", { x: x, y: 4, width: step, height: height - 8, class: "range" }));
      const inBar = svg("rect", { x: x, y: mid - p.inflow * scale, width: Math.max(step - 1, 1), height: p.inflow * scale, class: "in" });
      inBar.appendChild(svg("title", {}, `${p.day} 流入 ${yuan.format(p.inflow)}`));
      const outBar = svg("rect", { x: x, y: mid, width: Math.max(step - 1, 1), height: p.outflow * scale, class: "out" });
      outBar.appendChild(svg("title", {}, `${p.day} 流出 ${yuan.format(p.outflow)}`));
      chart.append(inBar, outBar);
    });
    chart.append(
      svg("line", { x1: pad, x2: width - pad, y1: mid, y2: mid, class: "axis" }),
      svg("text", { x: pad, y: height - 2 }, points[0].day),
      svg("text", { x: width - pad, y: height - 2, "text-anchor": "end" }, points[points.length - 1].day),
      svg("text", { x: 2, y: 12 }, `流入 ↑ 最高 ${yuan.format(top)}`),
      svg("text", { x: 2, y: height - 16 }, "流出 ↓"),
    );
  }

  async function showEdge(edge) {
    detail.replaceChildren(el("p", "加载中…", "muted"));
    const d = edge.data();
    const params = new URLSearchParams(query());
    params.set("source", d.source);
    params.set("target", d.target);
    const info = await getJson(leadUrl + "/edge?" + params.toString());
    const table = el("table", null, "data");
    table.id = "edge-payments";
    const head = document.createElement("tr");
    ["时间", "付款方", "收款方", "金额", "附言"].forEach((h, i) => head.appendChild(el("th", h, i === 3 ? "num" : "")));
    table.appendChild(head);
    info.payments.forEach((p) => table.appendChild(row([p.time, p.payer, p.payee, yuan.format(p.amount), p.memo], [3])));
    detail.replaceChildren(
      el("h2", "资金边明细"),
      el("p", `${edge.source().data("label").replace("\n", " ")} → ${edge.target().data("label").replace("\n", " ")}`, "muted"),
      el("p", `共 ${info.count} 笔，合计 ${yuan.format(info.total)}`),
      table,
      el("p", info.truncated ? `仅显示前 ${info.payments.length} 笔` : "", "muted"),
    );
  }

  cy.on("tap", "edge", (event) => showEdge(event.target).catch((err) => detail.replaceChildren(el("p", String(err)))));
  cy.on("tap", "node", (event) => showNode(event.target).catch((err) => detail.replaceChildren(el("p", String(err)))));
  function reload() {
    load().catch((err) => { container.dataset.ready = "1"; summary.textContent = "图谱未能绘制：" + err.message; });
  }
  document.getElementById("range-apply").addEventListener("click", reload);
  document.getElementById("range-reset").addEventListener("click", () => {
    fromInput.value = ""; toInput.value = ""; expanded = false; reload();
  });
  reload();
})();
