// The example web app in headless Chromium (Debian's, through playwright-core: no browser
// download), as `make dev` serves it (WEB_URL) against its API (API_URL). The app's origin is not
// the API's, so every call is a real cross-origin request with its CORS preflight.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { sessionStorageKey } from "../dist/index.js";

const api = process.env.API_URL ?? "http://127.0.0.1:9000";
const web = process.env.WEB_URL ?? "http://127.0.0.1:8080";
// make dev's MailDev inbox for that API (scripts/dev.sh: 1080, or PORT+20000).
const inbox = process.env.INBOX_URL ?? "http://127.0.0.1:1080";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PASSWORD = "correct horse battery";
const STORAGE_KEY = sessionStorageKey(api);

let browser;
let page;

const exampleUrl = () => `${web}/`;
/** A page an emailed link opens: `{APP_URL}/<name>?token=...`. */
const linkPage = (name, token) => `${web}/${name}?token=${token}`;

before(async () => {
  browser = await chromium.launch({
    executablePath,
    // As root Chromium needs --no-sandbox; the rest keeps it off the network this machine lacks.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

const titles = (tab) => tab.locator("#tasks li .title").evaluateAll((inputs) => inputs.map((i) => i.value));

test("a person signs up, adds, lists, edits, toggles, deletes and signs out", async () => {
  const context = await browser.newContext();
  page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(exampleUrl());

  const email = `browser-${crypto.randomUUID()}@example.com`;
  await page.fill("#auth [name=email]", email);
  await page.fill("#auth [name=password]", PASSWORD);
  await page.click("#signup");
  await page.waitForSelector("#app:not([hidden])");
  assert.equal(await page.textContent("#who"), email);

  for (const title of ["Buy milk", "Call mum"]) {
    await page.fill("#add [name=title]", title);
    await page.click("#add button");
    await page.waitForFunction((n) => document.querySelectorAll("#tasks li").length === n, title === "Buy milk" ? 1 : 2);
  }
  assert.deepEqual(await titles(page), ["Call mum", "Buy milk"]);

  // The API's message, not "[object Object]".
  await page.fill("#add [name=title]", "   ");
  await page.click("#add button");
  await page.waitForFunction(() => document.querySelector("#error").textContent !== "");
  assert.equal(await page.textContent("#error"), "title must be 1 to 200 characters");

  // Newest first: "Buy milk" is the second.
  const milk = page.locator("#tasks li").nth(1);
  assert.equal(await milk.locator(".title").inputValue(), "Buy milk");
  await milk.locator(".title").fill("Buy oat milk");
  await milk.locator(".save").click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#tasks .title")].some((i) => i.value === "Buy oat milk"),
  );
  const oat = page.locator("#tasks li").filter({ has: page.locator(".title") }).nth(1);
  await oat.locator(".toggle").click();
  await page.waitForSelector("#tasks li.done");
  assert.equal(await page.locator("#tasks li.done .title").inputValue(), "Buy oat milk");

  await page.locator("#tasks li.done .delete").click();
  await page.waitForFunction(() => document.querySelectorAll("#tasks li").length === 1);
  assert.deepEqual(await titles(page), ["Call mum"]);

  // The pending/completed filter.
  await page.getByLabel("New task").fill("Water plants");
  await page.getByRole("button", { name: "Add" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#tasks li").length === 2);
  await page.getByRole("button", { name: "Mark done: “Water plants”" }).click();
  await page.waitForSelector("#tasks li.done");
  for (const [show, expected] of [["completed", ["Water plants"]], ["pending", ["Call mum"]], ["all", ["Water plants", "Call mum"]]]) {
    await page.getByLabel("Show").selectOption(show);
    await page.waitForFunction((n) => document.querySelectorAll("#tasks li").length === n, expected.length);
    assert.deepEqual(await titles(page), expected, show);
  }

  await page.click("#signout");
  await page.waitForSelector("#auth:not([hidden])");
  assert.equal(await page.evaluate((key) => localStorage.getItem(key), STORAGE_KEY), null);
  assert.deepEqual(errors, []);
  await context.close();
});

test("two tabs refreshing at once spend the refresh token once and both go on", async () => {
  const context = await browser.newContext();
  const [first, second] = [await context.newPage(), await context.newPage()];
  const refreshes = [];
  for (const tab of [first, second]) {
    tab.on("request", (request) => {
      if (request.url().endsWith("/api/auth/refresh")) refreshes.push(request.url());
    });
    tab.on("response", async (response) => {
      if (process.env.DEBUG_TABS) console.error(response.request().method(), response.url(), response.status());
    });
    tab.on("console", (m) => process.env.DEBUG_TABS && console.error("console:", m.text()));
  }
  await first.goto(exampleUrl());
  await first.evaluate(
    ([email, password]) => window.todo.auth.signUp({ email, password }),
    [`tabs-${crypto.randomUUID()}@example.com`, PASSWORD],
  );
  await first.evaluate(() => window.todo.tasks.create({ title: "shared" }));
  // The second tab finds the session in localStorage.
  await second.goto(exampleUrl());
  await second.waitForSelector("#app:not([hidden])");

  // The access token is due in both tabs (they share the storage): both refresh at once.
  await first.evaluate((key) => {
    const session = JSON.parse(localStorage.getItem(key));
    localStorage.setItem(key, JSON.stringify({ ...session, expiresAt: Date.now() - 1000 }));
  }, STORAGE_KEY);
  const [a, b] = await Promise.all(
    [first, second].map((tab) => tab.evaluate(() => window.todo.tasks.list().then((l) => l.length))),
  );
  assert.deepEqual([a, b], [1, 1]);
  assert.equal(refreshes.length, 1, "the Web Lock let one tab refresh; the other used its result");
  // A refresh token spent twice would have ended the session; it goes on in both tabs.
  for (const tab of [first, second]) {
    assert.equal(await tab.evaluate(() => window.todo.tasks.list().then((l) => l.length)), 1);
  }
  await context.close();
});

/** The second review's finding: the example took the API's URL from `?api=`, so a link to it
 * naming another host made the page send that host the stored access and refresh tokens. */
test("a link naming another API sends it nothing: the page talks to its configured API only", async () => {
  const seen = [];
  const elsewhere = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
    res.writeHead(204, { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*" }).end();
  });
  await new Promise((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  const evil = `http://127.0.0.1:${elsewhere.address().port}`;
  const context = await browser.newContext();
  const tab = await context.newPage();
  await tab.goto(exampleUrl());
  await tab.evaluate(
    ([email, password]) => window.todo.auth.signUp({ email, password }),
    [`link-${crypto.randomUUID()}@example.com`, PASSWORD],
  );
  // The crafted link: the stored session is there, the page loads with another API named.
  await tab.goto(`${exampleUrl()}?api=${encodeURIComponent(evil)}`);
  await tab.waitForSelector("#app:not([hidden])");
  await tab.evaluate(() => window.todo.tasks.list());
  assert.deepEqual(seen, []);
  await context.close();
  elsewhere.close();
});

/** The token of the newest mail to `address` with `subject`, once it has arrived. */
async function mailedToken(address, subject) {
  for (let tries = 0; tries < 100; tries++) {
    const mails = await (await fetch(`${inbox}/api/email`)).json();
    const mail = mails.filter((m) => m.subject === subject && m.to.some((t) => t.address === address)).at(-1);
    const token = mail?.text.match(/\?token=([A-Za-z0-9_-]+)/)?.[1];
    if (token) return token;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no mail "${subject}" to ${address} in ${inbox}`);
}

test("a person confirms their address and resets a forgotten password through the mailed links", async () => {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const errors = [];
  tab.on("pageerror", (error) => errors.push(error.message));
  await tab.goto(exampleUrl());
  const email = `links-${crypto.randomUUID()}@example.com`;
  await tab.fill("#auth [name=email]", email);
  await tab.fill("#auth [name=password]", PASSWORD);
  await tab.click("#signup");
  await tab.waitForSelector("#unverified:not([hidden])");

  // The link only opens the page; the button spends the token.
  const verification = await mailedToken(email, "Confirm your email address");
  await tab.goto(linkPage("verify-email", verification));
  assert.equal(await tab.textContent("#status"), "Confirm that this address is yours.");
  await tab.getByRole("button", { name: "Confirm my address" }).click();
  await tab.waitForFunction(() => document.querySelector("#status").textContent === "Your address is confirmed.");
  await tab.goto(exampleUrl());
  await tab.waitForSelector("#app:not([hidden])");
  assert.equal(await tab.isHidden("#unverified"), true);
  // A link used once does nothing the second time, and says so.
  await tab.goto(linkPage("verify-email", verification));
  await tab.click("#confirm");
  await tab.waitForFunction(() => document.querySelector("#error").textContent !== "");
  assert.match(await tab.textContent("#error"), /ask for a new link/);

  await tab.goto(exampleUrl());
  await tab.click("#signout");
  await tab.waitForSelector("#forgot:not([hidden])");
  await tab.getByLabel("Forgot your password?").fill(email);
  await tab.click("#forgot button");
  await tab.waitForFunction(() => document.querySelector("#notice").textContent !== "");
  assert.match(await tab.textContent("#notice"), /if an account uses this address/);

  const reset = await mailedToken(email, "Reset your password");
  await tab.goto(linkPage("reset-password", reset));
  const newPassword = "a fresh passphrase for the browser";
  await tab.getByLabel("New password").fill(newPassword);
  await tab.getByRole("button", { name: "Set the new password" }).click();
  await tab.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Your password is set"));

  await tab.goto(exampleUrl());
  await tab.fill("#auth [name=email]", email);
  await tab.fill("#auth [name=password]", newPassword);
  await tab.click("#signin");
  await tab.waitForSelector("#app:not([hidden])");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a person changes their password, ends another session and deletes their account, by keyboard", async () => {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const errors = [];
  tab.on("pageerror", (error) => errors.push(error.message));
  await tab.goto(exampleUrl());
  const email = `account-${crypto.randomUUID()}@example.com`;
  // By keyboard alone: labels name every field, Enter submits, focus lands on the tasks.
  await tab.getByLabel("Email", { exact: true }).focus();
  await tab.keyboard.type(email);
  await tab.keyboard.press("Tab");
  await tab.keyboard.type(PASSWORD);
  await tab.getByRole("button", { name: "Sign up" }).focus();
  await tab.keyboard.press("Enter");
  await tab.waitForSelector("#app:not([hidden])");
  await tab.waitForFunction(() => document.activeElement?.id === "tasks-heading");

  // A wrong current password: the API's message, announced.
  await tab.getByLabel("Current password").fill("not the password");
  await tab.getByLabel("New password").fill("a new passphrase for the account");
  await tab.getByRole("button", { name: "Change password" }).click();
  await tab.waitForFunction(() => document.querySelector("#error").textContent !== "");
  assert.equal(await tab.getByRole("alert").textContent(), "email or password is incorrect");
  const newPassword = "a new passphrase for the account";
  await tab.getByLabel("Current password").fill(PASSWORD);
  await tab.getByLabel("New password").fill(newPassword);
  await tab.getByRole("button", { name: "Change password" }).click();
  await tab.waitForFunction(() => document.querySelector("#notice").textContent.startsWith("Your password is changed"));

  // A second device signs in; the first sees it and ends it.
  const other = await browser.newContext();
  const second = await other.newPage();
  await second.goto(exampleUrl());
  await second.getByLabel("Email", { exact: true }).fill(email);
  await second.getByLabel("Password", { exact: true }).fill(newPassword);
  await second.getByRole("button", { name: "Sign in" }).click();
  await second.waitForSelector("#app:not([hidden])");
  await tab.getByLabel("Show").selectOption("all");
  await tab.waitForFunction(() => document.querySelectorAll("#sessions li").length === 2);
  await tab.locator("#sessions li button.end").click();
  await tab.waitForFunction(() => document.querySelectorAll("#sessions li").length === 1);
  await second.getByLabel("New task").fill("from the ended session");
  await second.getByRole("button", { name: "Add" }).click();
  await second.waitForSelector("#signed-out:not([hidden])");
  assert.match(await second.textContent("#error"), /session has ended/);
  await other.close();

  await tab.getByLabel("Your password, to confirm").fill(newPassword);
  await tab.getByRole("button", { name: "Delete my account and all my tasks" }).click();
  await tab.waitForSelector("#signed-out:not([hidden])");
  assert.equal(await tab.getByRole("status").textContent(), "Your account and its tasks are deleted.");
  await tab.getByLabel("Email", { exact: true }).fill(email);
  await tab.getByLabel("Password", { exact: true }).fill(newPassword);
  await tab.getByRole("button", { name: "Sign in" }).click();
  await tab.waitForFunction(() => document.querySelector("#error").textContent !== "");
  assert.equal(await tab.textContent("#error"), "email or password is incorrect");
  assert.deepEqual(errors, []);
  await context.close();
});
