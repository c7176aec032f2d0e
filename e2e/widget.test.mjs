// The web chat widget in a real browser: a visitor opens the chat on the
// demo landing page, asks a question, gets answered, reloads the page and
// finds the same conversation with nothing lost or doubled.
//
// Needs a running server with the demo tenant: TONGHUA_URL (scripts/e2e.sh
// starts one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.TONGHUA_URL;
const shots = process.env.TONGHUA_SHOTS || "target/e2e-screenshots";
let browser;

before(async () => {
  assert.ok(base, "TONGHUA_URL must point at a running tonghua");
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => { await browser?.close(); });

const lines = (page) => page.$$eval(".th-m", (els) => els.map((e) => [e.className.replace("th-m th-", ""), e.textContent]));

test("a visitor chats with the demo robot and a reload keeps the conversation", async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, locale: "zh-CN" });
  await page.goto(base + "/");
  await page.click("#th-btn");
  await page.waitForSelector(".th-robot");
  const greeting = await lines(page);
  assert.ok(greeting.every(([who]) => who === "robot"), JSON.stringify(greeting));

  await page.fill("#th-input", "退货运费谁承担");
  await page.press("#th-input", "Enter");
  await page.waitForFunction((n) => document.querySelectorAll(".th-robot").length > n, greeting.length, { timeout: 15000 });
  await page.waitForTimeout(300);
  const chat = await lines(page);
  const asked = chat.findIndex(([who, text]) => who === "customer" && text === "退货运费谁承担");
  assert.ok(asked >= 0, JSON.stringify(chat));
  assert.ok(chat.slice(asked + 1).some(([who, text]) => who === "robot" && text.includes("运费")), "answered: " + JSON.stringify(chat));
  await page.screenshot({ path: shots + "/widget-chat.png" });

  await page.reload();
  await page.click("#th-btn");
  await page.waitForFunction((n) => document.querySelectorAll(".th-m").length >= n, chat.length, { timeout: 15000 });
  await page.waitForTimeout(500);
  const reloaded = await lines(page);
  assert.deepEqual(reloaded, chat, "the same transcript, nothing lost or doubled");
  await page.close();
});

test("the widget fits a phone screen and speaks English to English browsers", async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, locale: "en-US" });
  await page.goto(base + "/");
  assert.equal(await page.textContent("#th-btn"), "Chat with us");
  await page.click("#th-btn");
  await page.waitForSelector(".th-robot");
  const box = await page.$eval("#th-panel", (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; });
  assert.ok(box[0] <= 390 && box[0] >= 380, "full width on a phone: " + box);
  assert.equal(await page.getAttribute("#th-input", "placeholder"), "Type your question…");
  await page.screenshot({ path: shots + "/widget-phone.png" });
  // Full screen on a phone, so it must be closable from inside.
  assert.equal(await page.getAttribute("#th-close", "aria-label"), "Close");
  await page.click("#th-close");
  assert.equal(await page.isVisible("#th-panel"), false);
  await page.close();
});

test("quick replies are buttons, and a knowledge answer shows its link", async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, locale: "zh-CN" });
  await page.goto(base + "/");
  await page.click("#th-btn");
  // The demo's menu question offers its options as buttons.
  await page.waitForSelector(".th-opt");
  const options = await page.$$eval(".th-opt", (els) => els.map((e) => e.textContent));
  assert.ok(options.includes("快递多久能到？"), JSON.stringify(options));
  const robots = (await page.$$(".th-robot")).length;
  await page.click(".th-opt >> text=快递多久能到？");
  await page.waitForFunction((n) => document.querySelectorAll(".th-robot").length > n, robots, { timeout: 15000 });
  const chat = await lines(page);
  assert.ok(chat.some(([who, text]) => who === "customer" && text === "快递多久能到？"), JSON.stringify(chat));
  assert.ok(chat.some(([who, text]) => who === "robot" && text.includes("送达")), JSON.stringify(chat));

  await page.fill("#th-input", "物流怎么查");
  await page.press("#th-input", "Enter");
  await page.waitForSelector(".th-rich a", { timeout: 15000 });
  const link = await page.$eval(".th-rich a", (a) => [a.textContent, a.href, a.rel]);
  assert.deepEqual(link, ["我的订单", "https://shop.example.com/orders", "noopener noreferrer"]);
  // The buttons come back with the next question, and the typing note is gone.
  await page.waitForSelector(".th-opt");
  assert.equal(await page.isVisible("#th-typing"), false);
  await page.screenshot({ path: shots + "/widget-quick-replies.png" });
  await page.close();
});
