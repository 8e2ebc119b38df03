// exo run viewer: plain JavaScript, no build step, nothing loaded from elsewhere.
// Data comes from exo's run API on this origin; the session cookie authenticates it (an
// EventSource cannot send headers). Every piece of run data goes into the page as text
// (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const HEADERS = { "X-Exo-Viewer": "1", "Content-Type": "application/json" };

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, body) {
  const options = { credentials: "same-origin", headers: HEADERS };
  if (body !== undefined) Object.assign(options, { method: "POST", body: JSON.stringify(body) });
  const response = await fetch(path, options);
  if (response.status === 401) { location.href = "/"; throw new Error("signed out"); }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((data && data.error && data.error.message) || response.statusText);
  return data;
}

const fmt = {
  int: (n) => (n || 0).toLocaleString("en-US"),
  tokens: (u) => ((u && u.input_tokens) || 0) + ((u && u.output_tokens) || 0),
  time: (iso) => (iso ? new Date(iso).toLocaleString() : ""),
  json: (text) => {
    try { return JSON.stringify(typeof text === "string" ? JSON.parse(text) : text, null, 2); }
    catch (e) { return String(text); }
  },
  content: (content) => {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
      return content.map((b) => (b.type === "text" ? b.text : `[${b.type}]`)).join("\n");
    }
    return JSON.stringify(content);
  },
  money: (v) => (typeof v === "number" ? `$${v.toFixed(v < 0.01 ? 6 : 4)}` : String(v)),
  short: (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text),
};

// ------------------------------------------------------------------ the list of runs

let listTimer = null;

async function showList() {
  $("run-view").hidden = true;
  $("list-view").hidden = false;
  const select = $("new-agent");
  if (!select.options.length) {
    const agents = await api("/agents");
    for (const agent of agents.data) {
      const option = el("option", "", `${agent.name} · ${agent.model}`);
      option.value = agent.name;
      select.appendChild(option);
    }
  }
  await refreshList();
  listTimer = setInterval(refreshList, 2000);
}

async function refreshList() {
  const runs = (await api("/runs?limit=100")).data;
  const body = $("runs-body");
  body.replaceChildren();
  for (const run of runs) {
    const row = el("tr", "run-row");
    row.dataset.id = run.id;
    const link = el("a", "mono", run.id);
    link.href = `#/runs/${run.id}`;
    const cells = [link, el("span", "", run.agent), badge(run.status),
      el("span", "muted", fmt.time(run.created_at)),
      el("span", "", run.usage ? fmt.int(run.usage.total_tokens) : "–"),
      el("span", "task", fmt.short(fmt.content(run.input), 90))];
    for (const cell of cells) { const td = el("td"); td.appendChild(cell); row.appendChild(td); }
    row.addEventListener("click", () => { location.hash = `#/runs/${run.id}`; });
    body.appendChild(row);
  }
  $("runs-empty").hidden = runs.length > 0;
}

function badge(status) { return el("span", `badge ${status}`, status); }

$("new-run").addEventListener("submit", async (event) => {
  event.preventDefault();
  const run = await api("/runs", { agent: $("new-agent").value, input: $("new-input").value, detailed: true });
  $("new-input").value = "";
  location.hash = `#/runs/${run.id}`;
});

// ------------------------------------------------------------------ one run

let source = null;
let view = null;

function newView(id) {
  return { id, items: new Map(), textItem: null, children: new Map(), usage: { execute: zero(), children: zero() },
    plan: null, status: null, events: 0, answers: new Map(), pending: [] };
}

function zero() { return { requests: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 }; }

function addUsage(into, usage) {
  for (const key of ["requests", "input_tokens", "output_tokens"]) into[key] += usage[key] || 0;
  into.total_tokens = into.input_tokens + into.output_tokens;
}

async function showRun(id) {
  $("list-view").hidden = true;
  $("run-view").hidden = false;
  view = newView(id);
  $("timeline").replaceChildren();
  $("children").replaceChildren(el("p", "muted", "No children."));
  $("approvals").hidden = true;
  const run = await api(`/runs/${id}`);
  renderRun(run);
  source = new EventSource(`/runs/${id}/events?detailed=1`);
  source.onopen = () => setConn("live");
  source.onerror = () => setConn(source.readyState === EventSource.CLOSED ? "" : "reconnecting");
  source.onmessage = (message) => apply(JSON.parse(message.data));
}

function setConn(state) { $("conn").className = `conn ${state}`; $("conn").textContent = state; }

function renderRun(run) {
  view.run = run;
  $("run-title").textContent = `${run.agent} · ${run.id}`;
  const meta = [`started ${fmt.time(run.created_at)}`];
  if (run.model) meta.push(run.model);
  if (run.steps !== null && run.steps !== undefined) meta.push(`${run.steps} steps`);
  if (run.conversation_id) meta.push(`conversation ${run.conversation_id}`);
  $("run-meta").textContent = meta.join(" · ");
  $("run-input").textContent = fmt.content(run.input);
  setStatus(run.status);
  if (run.plan && run.plan.text) showPlan(run.plan);
  if (run.output !== null && run.output !== undefined && run.status === "completed") {
    $("output-box").hidden = false;
    $("output").textContent = typeof run.output === "string" ? run.output : fmt.json(run.output);
  }
  if (run.usage_by_phase) renderUsage(run.usage_by_phase, run.cost);
  if (run.children && run.children.length) renderChildResults(run.children);
  const error = $("run-error");
  error.hidden = !run.error || run.status === "cancelled" && !run.error;
  if (run.error) error.textContent = `${run.error.type}: ${run.error.message}`;
  if (run.status === "paused") showApprovals(run.pending);
  else $("approvals").hidden = true;
}

function setStatus(status) {
  view.status = status;
  const node = $("run-status");
  node.className = `badge ${status}`;
  node.textContent = status;
  $("cancel").hidden = !(status === "running" || status === "paused");
}

$("cancel").addEventListener("click", async () => {
  renderRun(await api(`/runs/${view.id}/cancel`, {}));
});

function showPlan(plan) {
  if (plan.usage) view.plan_usage = plan.usage;
  $("plan-box").hidden = false;
  $("plan").textContent = plan.text;
  const steps = plan.usage ? `${plan.model} · ${fmt.int(fmt.tokens(plan.usage))} tokens` : plan.model || "";
  $("plan-model").textContent = steps;
}

// ------------------------------------------------------------------ events

function apply(event) {
  view.events = event.seq;
  $("event-count").textContent = `${event.seq} events`;
  if (event.type === "status") return onStatus(event);
  if (event.lineage && event.lineage.length) return childEvent(event);
  const handler = HANDLERS[event.type];
  if (handler) handler(event);
}

function item(kind, title, detail) {
  const node = el("li", `item ${kind}`);
  const head = el("div", "item-head");
  head.appendChild(el("span", "kind", kind.replace("_", " ")));
  head.appendChild(el("span", "title", title));
  node.appendChild(head);
  if (detail !== undefined) node.appendChild(el("pre", "detail", detail));
  $("timeline").appendChild(node);
  view.textItem = null;
  return node;
}

const HANDLERS = {
  plan_start: (e) => item("plan", `planning with ${e.model}…`),
  plan_complete: (e) => { showPlan(e.plan); item("plan", `plan ready · ${fmt.int(fmt.tokens(e.plan.usage))} tokens`); },
  plan_skipped: (e) => item("warning", `the plan was skipped: ${e.reason}`),
  run_start: (e) => item("start", `executor started on ${e.model}`),
  step: (e) => { if (e.status === "started") view.step = item("step", `model call ${e.step}`); },
  usage: (e) => {
    addUsage(view.usage.execute, e.usage);
    if (view.step) view.step.querySelector(".title").textContent +=
      ` · ${fmt.int(e.usage.input_tokens)} in / ${fmt.int(e.usage.output_tokens)} out`;
    renderUsage(liveUsage());
  },
  text: (e) => {
    if (!view.textItem) { const node = item("text", "assistant"); view.textItem = node.appendChild(el("pre", "detail", "")); }
    view.textItem.textContent += e.text;
  },
  reasoning: (e) => item("reasoning", "reasoning", e.text),
  tool_call: (e) => {
    const node = item("tool", e.tool_name, fmt.json(e.arguments));
    node.dataset.callId = e.tool_call_id;
    if (e.tool_name === "retrieve_artifact") node.classList.add("artifact");
    view.items.set(e.tool_call_id, node);
  },
  tool_result: (e) => {
    toolResult(view.items.get(e.tool_call_id), e);
    if (e.tool_name !== "spawn_self") return;
    for (const node of view.children.values()) {  // the children answered: they are done
      if (node.status.textContent === "running") { node.status.className = "badge completed"; node.status.textContent = "done"; }
    }
  },
  warning: (e) => item("warning", e.message),
  error: (e) => item("error", `${e.error_type}: ${e.error}`),
  approval_required: (e) => { item("approval", `waiting for approval (${e.requests.length})`); showApprovals(e.requests); },
  run_complete: (e) => {
    const result = e.result;
    if (result.status !== "paused") item("done", `done · ${fmt.int(fmt.tokens(result.usage))} tokens`);
    if (result.plan && result.plan.text) showPlan(result.plan);
    renderUsage(result.usage_by_phase, result.cost);
    if (result.children.length) renderChildResults(result.children);
    if (result.status === "completed") {
      $("output-box").hidden = false;
      $("output").textContent = typeof result.output === "string" ? result.output : fmt.json(result.output);
    }
  },
};

function toolResult(node, e) {
  if (!node) node = item("tool", e.tool_name);
  const result = el("div", `result${e.is_error ? " failed" : ""}`);
  const text = fmt.content(e.content);
  result.appendChild(el("span", "label", `${e.is_error ? "error" : "result"} · ${Math.round(e.duration_ms)} ms`));
  if (/artifact/i.test(text)) node.classList.add("artifact");
  result.appendChild(el("pre", "detail", text.length > 4000 ? text.slice(0, 4000) + "\n…" : text));
  node.appendChild(result);
  view.textItem = null;
}

function onStatus(event) {
  setStatus(event.status);
  if (event.error && event.status !== "cancelled") {
    $("run-error").hidden = false;
    $("run-error").textContent = `${event.error.type}: ${event.error.message}`;
  }
  if (event.status !== "running") {
    if (event.status === "failed" || event.status === "cancelled") item("status", event.status);
    api(`/runs/${view.id}`).then(renderRun);  // the final numbers, cost and pending requests
  }
  if (event.status === "running") $("approvals").hidden = true;
  if (["completed", "failed", "cancelled"].includes(event.status) && source) source.close(), setConn("");
}

function liveUsage() {
  const plan = view.plan_usage || zero();
  return { plan, execute: view.usage.execute, children: view.usage.children };
}

function renderUsage(phases, cost) {
  const table = $("usage");
  table.replaceChildren();
  const head = el("tr");
  for (const h of ["phase", "calls", "in", "out", "total"]) head.appendChild(el("th", "", h));
  table.appendChild(head);
  for (const [phase, usage] of Object.entries(phases)) {
    const row = el("tr");
    for (const v of [phase, fmt.int(usage.requests), fmt.int(usage.input_tokens), fmt.int(usage.output_tokens), fmt.int(usage.total_tokens)]) {
      row.appendChild(el("td", "", v));
    }
    table.appendChild(row);
  }
  renderCost(cost);
}

function renderCost(cost) {
  const box = $("cost");
  box.replaceChildren();
  box.hidden = cost === null || cost === undefined;
  if (box.hidden) return;
  if (typeof cost !== "object") { box.appendChild(el("div", "cost-total", `cost ${fmt.money(cost)}`)); return; }
  const total = cost.total ?? cost.total_usd ?? cost.usd;
  if (total !== undefined) box.appendChild(el("div", "cost-total", `cost ${fmt.money(total)}`));
  for (const [key, value] of Object.entries(cost.by_phase || cost)) {
    if (["total", "total_usd", "usd", "by_phase"].includes(key) || typeof value === "object") continue;
    box.appendChild(el("div", "cost-line", `${key}: ${fmt.money(value)}`));
  }
}

// ------------------------------------------------------------------ children

function childNode(path) {
  const key = path.join("/");
  let node = view.children.get(key);
  if (node) return node;
  const parentPath = path.slice(0, -1);
  const container = parentPath.length > 1 ? childNode(parentPath).kids : $("children");
  if (view.children.size === 0) $("children").replaceChildren();
  const root = el("details", "child");
  root.open = true;
  const summary = el("summary");
  const name = el("span", "child-name", path[path.length - 1]);
  const status = el("span", "badge running", "running");
  summary.append(name, status);
  const log = el("ol", "timeline mini");
  const kids = el("div", "kids");
  root.append(summary, log, kids);
  container.appendChild(root);
  node = { root, status, log, kids, text: null, calls: new Map() };
  view.children.set(key, node);
  return node;
}

function childEvent(e) {
  const node = childNode([...e.lineage, e.agent_name]);
  const add = (kind, title, detail) => {
    const li = el("li", `item ${kind}`);
    const head = li.appendChild(el("div", "item-head"));
    head.append(el("span", "kind", kind), el("span", "title", title));
    if (detail !== undefined) li.appendChild(el("pre", "detail", detail));
    node.log.appendChild(li);
    node.text = null;
    return li;
  };
  if (e.type === "text") {
    if (!node.text) { add("text", "assistant"); node.text = node.log.lastChild.appendChild(el("pre", "detail", "")); }
    node.text.textContent += e.text;
  } else if (e.type === "tool_call") {
    node.calls.set(e.tool_call_id, add("tool", e.tool_name, fmt.json(e.arguments)));
  } else if (e.type === "tool_result") {
    const li = node.calls.get(e.tool_call_id) || add("tool", e.tool_name);
    li.appendChild(el("pre", `detail${e.is_error ? " failed" : ""}`, fmt.content(e.content)));
  } else if (e.type === "usage") {
    addUsage(view.usage.children, e.usage);
    renderUsage(liveUsage());
  } else if (e.type === "error") {
    add("error", `${e.error_type}: ${e.error}`);
    node.status.className = "badge failed"; node.status.textContent = "failed";
  } else if (e.type === "run_complete") {
    const paused = e.result.status === "paused";
    node.status.className = `badge ${paused ? "paused" : "completed"}`;
    node.status.textContent = paused ? "paused" : `done · ${fmt.int(fmt.tokens(e.result.usage))} tokens`;
  } else if (e.type === "approval_required") {
    add("approval", `waiting for approval (${e.requests.length})`);
  }
}

function renderChildResults(children) {
  for (const child of children) {
    const key = [...view.children.keys()].find((k) => k.endsWith("/" + child.name));
    const node = key ? view.children.get(key) : childNode([view.run.agent, child.name]);
    node.status.className = `badge ${child.error ? "failed" : "completed"}`;
    node.status.textContent = child.error ? "failed" : `done · ${fmt.int(child.usage.total_tokens)} tokens`;
    if (!node.root.querySelector(".child-task")) {
      node.root.insertBefore(el("div", "child-task muted", `task: ${child.task}`), node.log);
    }
  }
}

// ------------------------------------------------------------------ approvals

function showApprovals(requests) {
  const box = $("approvals");
  const key = (requests || []).map((r) => r.call_id).join(",");
  if (key && key === view.pendingKey && !box.hidden) return;  // keep what the person typed
  view.pendingKey = key;
  view.pending = requests || [];
  view.answers = new Map();
  box.replaceChildren(el("h2", "", "Waiting for your answer"));
  box.hidden = view.pending.length === 0;
  for (const request of view.pending) box.appendChild(request.kind === "plan" ? planRequest(request) : toolRequest(request));
}

function toolRequest(request) {
  const node = el("div", "request");
  node.dataset.callId = request.call_id;
  const who = request.lineage.length ? `${request.lineage.join(" › ")} › ${request.agent_name}` : request.agent_name;
  node.appendChild(el("div", "", `${who} wants to call `)).appendChild(el("strong", "mono", request.tool_name));
  node.appendChild(el("pre", "detail", fmt.json(request.arguments)));
  const reason = el("input", "reason");
  reason.placeholder = "reason, if you deny (the model reads it)";
  const approve = el("button", "approve", "Approve");
  const deny = el("button", "deny secondary", "Deny");
  approve.addEventListener("click", () => answer(request.call_id, true, node));
  deny.addEventListener("click", () => answer(request.call_id, reason.value.trim() || false, node));
  const row = el("div", "actions");
  row.append(approve, deny, reason);
  node.appendChild(row);
  return node;
}

function planRequest(request) {
  const node = el("div", "request plan-request");
  node.appendChild(el("div", "", `${request.agent_name} made a plan. Approve it, edit it, or run without it.`));
  const text = el("textarea", "plan-edit");
  text.value = request.plan;
  text.rows = Math.min(14, request.plan.split("\n").length + 1);
  const approve = el("button", "approve", "Approve");
  const edited = el("button", "secondary edit", "Approve edited");
  const reject = el("button", "deny secondary", "Run without plan");
  approve.addEventListener("click", () => send({ plan: true }));
  edited.addEventListener("click", () => send({ plan: text.value }));
  reject.addEventListener("click", () => send({ plan: false }));
  const row = el("div", "actions");
  row.append(approve, edited, reject);
  node.append(text, row);
  return node;
}

function answer(callId, value, node) {
  view.answers.set(callId, value);
  node.classList.add("answered");
  for (const b of node.querySelectorAll("button")) b.disabled = true;
  const tools = view.pending.filter((r) => r.kind !== "plan");
  if (tools.every((r) => view.answers.has(r.call_id))) send({ approvals: Object.fromEntries(view.answers) });
}

async function send(body) {
  try {
    $("approvals").hidden = true;
    renderRun(await api(`/runs/${view.id}/approvals`, body));
  } catch (error) {
    $("approvals").hidden = false;
    $("approvals").appendChild(el("p", "failed", error.message));
  }
}

// ------------------------------------------------------------------ routing

async function route() {
  if (source) { source.close(); source = null; }
  if (listTimer) { clearInterval(listTimer); listTimer = null; }
  const match = location.hash.match(/^#\/runs\/([\w-]+)$/);
  try {
    if (match) await showRun(match[1]);
    else await showList();
  } catch (error) {
    $("main").prepend(el("p", "card error", error.message));
  }
}

window.addEventListener("hashchange", route);
route();
