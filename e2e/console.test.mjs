// The console in a real browser: an agent signs in and goes available, an
// angry chat customer is handed over by the robot, the agent takes it, sees
// the transcript and context, replies, and the customer's open chat shows
// the reply; supervisor and admin pages render (validation errors in place).
//
// Needs a running server with the demo tenant: TONGHUA_URL and
// TONGHUA_ADMIN_PASSWORD (scripts/e2e.sh starts one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.TONGHUA_URL;
const adminPassword = process.env.TONGHUA_ADMIN_PASSWORD;
const shots = process.env.TONGHUA_SHOTS || "target/e2e-screenshots";
let browser;

before(async () => {
  assert.ok(base && adminPassword, "TONGHUA_URL and TONGHUA_ADMIN_PASSWORD are needed");
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => { await browser?.close(); });

async function signIn(username, password) {
  const ctx = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(base + "/console");
  await page.fill("#login-tenant", "demo");
  await page.fill("#login-user", username);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("header.bar");
  return page;
}

test("an agent takes over an angry chat customer and the reply reaches the chat", async () => {
  const admin = await signIn("admin", adminPassword);
  const created = await admin.evaluate(async () => {
    const r = await fetch("/api/v1/users", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "xiaowang", role: "agent", password: "agent-password-1" }) });
    return r.status;
  });
  assert.equal(created, 201);

  const agent = await signIn("xiaowang", "agent-password-1");
  await agent.waitForSelector("#presence");
  const went = agent.waitForResponse((r) => r.url().endsWith("/api/v1/agents/me") && r.status() === 200);
  await agent.selectOption("#presence", "available");
  await went;

  // The customer, in the demo site's chat, gets angry twice.
  const customer = await (await browser.newContext({ locale: "zh-CN" })).newPage();
  await customer.goto(base + "/");
  await customer.click("#th-btn");
  await customer.waitForSelector(".th-robot");
  for (const text of ["等了半个月还没到货，你们太过分了", "我非常生气，你们一直拖着不处理，气死我了"]) {
    const n = (await customer.$$(".th-robot")).length;
    await customer.fill("#th-input", text);
    await customer.press("#th-input", "Enter");
    await customer.waitForFunction((k) => document.querySelectorAll(".th-robot").length > k, n, { timeout: 15000 });
  }
  // The robot hands over and the agent joins, without the customer doing anything.
  await customer.waitForFunction(() => [...document.querySelectorAll(".th-note")].some((e) => e.textContent.includes("xiaowang")), null, { timeout: 15000 });

  // The agent's queue updates live; the conversation opens with transcript and context.
  await agent.waitForSelector('#queue .item[data-state="assigned"]', { timeout: 15000 });
  await agent.click('#queue .item[data-state="assigned"]');
  await agent.waitForFunction(() => [...document.querySelectorAll("#transcript .msg.customer")].some((e) => e.textContent.includes("气死我了")), null, { timeout: 15000 });
  const context = await agent.textContent("#context");
  assert.ok(context.includes("anger"), context);
  assert.ok(!context.includes("[object"), context);
  assert.ok((await agent.$$("#suggestions .sugg")).length >= 1, "knowledge suggestions shown");
  await agent.screenshot({ path: shots + "/console-agent.png" });

  const words = "您好，我是客服小王，非常抱歉让您久等，马上为您加急处理。";
  await agent.fill("#reply", words);
  await agent.click("#send");
  await customer.waitForFunction((w) => [...document.querySelectorAll(".th-agent")].some((e) => e.textContent === w), words, { timeout: 15000 });
  await agent.waitForFunction((w) => [...document.querySelectorAll("#transcript .msg.agent")].some((e) => e.textContent.includes(w)), words, { timeout: 15000 });
  await customer.screenshot({ path: shots + "/widget-agent-reply.png" });

  await agent.selectOption("#disposition", "resolved");
  await agent.click("#close");
  await customer.waitForFunction(() => [...document.querySelectorAll(".th-note")].some((e) => e.textContent.includes("会话已结束")), null, { timeout: 15000 });

  // Supervisor and admin pages.
  await admin.click("#nav-supervisor");
  await admin.waitForSelector("#agents table");
  assert.ok((await admin.textContent("#agents")).includes("xiaowang"));
  // The live board: the chat just closed is gone, the customer's earlier ones are not live either.
  await admin.waitForSelector("#live-board table");
  await admin.screenshot({ path: shots + "/console-supervisor.png" });
  await admin.click("#nav-admin");
  await admin.waitForSelector("#doc-upload");
  await admin.fill("#doc-name", "broken");
  await admin.fill("#doc-source", "name: 坏话术\nstart: nowhere\nnodes:\n  - id: a\n    type: ask\n    say: 你好\n    branches:\n      - otherwise: true\n        goto: b\n");
  await admin.click("#doc-upload");
  await admin.waitForSelector("#doc-result .err");
  const shown = await admin.textContent("#doc-result");
  assert.ok(shown.includes("nowhere") || shown.includes("unknown_target") || shown.includes("不存在"), shown);
  await admin.screenshot({ path: shots + "/console-admin.png" });

  // A knowledge base from a spreadsheet (CSV as Excel saves it, with a BOM).
  await admin.click("#tab-kbs");
  await admin.waitForSelector("#kb-csv");
  await admin.fill("#doc-name", "faq-table");
  const table = "\ufeffid,question,similar,answer\ninvoice,怎么开发票？,发票怎么开|能开发票吗,在订单详情页申请开票。\n";
  await admin.setInputFiles("#kb-csv", { name: "faq.csv", mimeType: "text/csv", buffer: Buffer.from(table, "utf8") });
  await admin.waitForSelector("#doc-result .ok", { timeout: 15000 });
  assert.ok((await admin.textContent("#doc-result")).includes("v1"));
  // The same from an Excel workbook: the next version.
  await admin.setInputFiles("#kb-csv", { name: "faq.xlsx", mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    buffer: readFileSync(new URL("../crates/server/tests/fixtures/kb.xlsx", import.meta.url)) });
  await admin.waitForFunction(() => document.querySelector("#doc-result").textContent.includes("v2"), null, { timeout: 15000 });
});

test("the supervisor page lists 200 live handed-over conversations and stays usable", async () => {
  const admin = await signIn("admin", adminPassword);
  const made = await admin.evaluate(async () => {
    const post = (path, body) => fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    let ok = 0;
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 20 }, async () => {
        const c = await (await post("/api/v1/conversations", { channel: "app", script: "service" })).json();
        const r = await post(`/api/v1/conversations/${c.id}/input`, { type: "user_said", text: "转人工客服" });
        if (r.ok) ok++;
      }));
    }
    return ok;
  });
  assert.equal(made, 200);
  const started = Date.now();
  await admin.click("#nav-supervisor");
  await admin.waitForFunction(() => document.querySelectorAll("#open-handoffs tr").length >= 200, null, { timeout: 30000 });
  // Every one of them is on the live board too, waiting for a person or with one.
  await admin.waitForFunction(() => document.querySelectorAll('#live-board tr.item[data-handoff]').length >= 200, null, { timeout: 30000 });
  const rendered = Date.now() - started;
  // Still usable: a click opens that conversation's transcript.
  await admin.click("#open-handoffs tr:nth-child(150) td");
  await admin.waitForFunction(() => document.querySelectorAll(".log .msg").length > 0, null, { timeout: 15000 });
  console.log(`# supervisor page with 200 open handoffs rendered in ${rendered} ms`);
  await admin.screenshot({ path: shots + "/console-supervisor-200.png" });
});

test("an admin adds a carrier trunk in place, sees its errors and deletes it", async () => {
  const admin = await signIn("admin", adminPassword);
  admin.on("dialog", (d) => d.accept());
  await admin.click("#nav-admin");
  await admin.click("#tab-trunks");
  await admin.waitForSelector("#trunk-form");
  await admin.fill("#trunk-name", "carrier-e2e");
  await admin.fill("#trunk-host", "sip carrier");
  await admin.fill("#trunk-password", "trunk-secret-1");
  await admin.click("#trunk-save");
  await admin.waitForSelector("#trunk-result .err");
  assert.ok((await admin.textContent("#trunk-result")).includes("host"), "the bad field is named");

  await admin.fill("#trunk-host", "sip.carrier.example");
  await admin.fill("#trunk-username", "075583001234");
  await admin.fill("#trunk-max-calls", "12");
  await admin.fill("#trunk-numbers", "075583001234, 075583001235");
  await admin.fill("#trunk-script", "service");
  await admin.click("#trunk-save");
  await admin.waitForSelector('#trunks tr[data-name="carrier-e2e"]');
  const row = await admin.textContent('#trunks tr[data-name="carrier-e2e"]');
  assert.ok(row.includes("0/12") && row.includes("075583001235") && row.includes("不注册"), row);
  assert.ok(!(await admin.content()).includes("trunk-secret-1"), "the password is never shown");
  await admin.screenshot({ path: shots + "/console-trunks.png" });

  await admin.click('#trunks tr[data-name="carrier-e2e"] .trunk-delete');
  await admin.waitForFunction(() => !document.querySelector('#trunks tr[data-name="carrier-e2e"]'), null, { timeout: 15000 });
});

test("an admin changes a role, disables and re-enables a user in place; the last admin stays", async () => {
  const admin = await signIn("admin", adminPassword);
  admin.on("dialog", (d) => d.accept());
  const created = await admin.evaluate(async () => (await fetch("/api/v1/users", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "xiaoli", role: "agent", password: "agent-password-2" }) })).status);
  assert.equal(created, 201);
  await admin.click("#nav-admin");
  await admin.click("#tab-users");
  const row = '#users tr[data-username="xiaoli"]';
  await admin.waitForSelector(row);
  await admin.selectOption(row + " .user-role", "supervisor");
  await admin.click(row + " .user-toggle");
  await admin.waitForFunction((r) => document.querySelector(r)?.textContent.includes("已停用"), row, { timeout: 15000 });
  const me = await admin.evaluate(async () => (await (await fetch("/api/v1/users")).json()).users.find((u) => u.username === "xiaoli"));
  assert.equal(me.role, "supervisor");
  assert.equal(me.disabled, true);
  const login = await admin.evaluate(async () => (await fetch("/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenant: "demo", username: "xiaoli", password: "agent-password-2" }) })).status);
  assert.notEqual(login, 200, "a disabled user cannot sign in");
  await admin.click(row + " .user-toggle");
  await admin.waitForFunction((r) => document.querySelector(r)?.textContent.includes("正常"), row, { timeout: 15000 });
  // Demoting the only admin is refused, with the reason shown in place.
  await admin.selectOption('#users tr[data-username="admin"] .user-role', "agent");
  await admin.waitForFunction(() => document.querySelector("#users-error")?.textContent.length > 0, null, { timeout: 15000 });
  await admin.screenshot({ path: shots + "/console-users.png" });
  const still = await admin.evaluate(async () => (await (await fetch("/api/v1/users")).json()).users.find((u) => u.username === "admin").role);
  assert.equal(still, "admin");
});
