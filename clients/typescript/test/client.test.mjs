// The client against a running `make dev` (API_URL), over real HTTP on a real database. The
// server is expected to issue 60-second access tokens (JWT_TTL_SECONDS=60), so that refreshing
// across a real expiry is part of the run. `make test` starts it so.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, createClient, memoryStorage, sessionStorageKey } from "../dist/index.js";

const baseUrl = process.env.API_URL ?? "http://127.0.0.1:9000";
const PASSWORD = "correct horse battery";
const email = () => `ts-${crypto.randomUUID()}@example.com`;
const STORAGE_KEY = sessionStorageKey(baseUrl);

/** A client whose every request is recorded as "METHOD /path". */
function client(options = {}) {
  const requests = [];
  const storage = options.storage ?? memoryStorage();
  const api = createClient({
    baseUrl,
    storage,
    ...options,
    fetch: (url, init) => {
      requests.push(`${init?.method ?? "GET"} ${new URL(url).pathname}`);
      return fetch(url, init);
    },
  });
  const refreshes = () => requests.filter((r) => r === "POST /api/auth/refresh").length;
  return { api, storage, requests, refreshes };
}

/** Rewrites the stored session, as time or another tab would. */
function tamper(storage, change) {
  const session = JSON.parse(storage.getItem(STORAGE_KEY));
  storage.setItem(STORAGE_KEY, JSON.stringify({ ...session, ...change }));
}

async function rejects(promise, status, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    return true;
  });
}

test("a new user signs up and uses the five task features", async () => {
  const { api } = client();
  const address = email();
  assert.equal(api.auth.user(), null);
  const user = await api.auth.signUp({ email: address, password: PASSWORD, name: "Ada" });
  assert.equal(user.email, address);
  assert.deepEqual(api.auth.user(), user);
  assert.deepEqual(await api.auth.me(), user);

  const task = await api.tasks.create({ title: "Buy milk", description: "2 litres" });
  assert.equal(task.user_id, user.id);
  assert.deepEqual(await api.tasks.get(task.id), task);
  const renamed = await api.tasks.update(task.id, { title: "Buy oat milk" });
  assert.equal(renamed.title, "Buy oat milk");
  assert.equal(renamed.description, "2 litres");
  assert.equal((await api.tasks.toggle(task.id)).completed, true);
  assert.equal((await api.tasks.toggle(task.id, true)).completed, true);
  assert.deepEqual(
    (await api.tasks.list()).map((t) => t.id),
    [task.id],
  );
  await api.tasks.remove(task.id);
  await rejects(api.tasks.get(task.id), 404, "not_found");

  await api.auth.signOut();
  assert.equal(api.auth.user(), null);
  await rejects(api.tasks.list(), 401, "unauthorized");
  assert.deepEqual(await api.auth.signIn({ email: address, password: PASSWORD }), user);
});

test("list follows the Link pages to the end and pages yields one page at a time", async () => {
  const { api } = client();
  await api.auth.signUp({ email: email(), password: PASSWORD });
  for (const title of ["a", "b", "c", "d", "e"]) await api.tasks.create({ title });
  const sizes = [];
  for await (const page of api.tasks.pages({ limit: 2, sort: "title", order: "asc" })) {
    sizes.push(page.map((t) => t.title).join(""));
  }
  assert.deepEqual(sizes, ["ab", "cd", "e"]);
  const all = await api.tasks.list({ limit: 2, sort: "title", order: "asc" });
  assert.deepEqual(all.map((t) => t.title), ["a", "b", "c", "d", "e"]);
  const pending = await api.tasks.list({ status: "completed" });
  assert.deepEqual(pending, []);
});

test("failures throw one ApiError with the code, message and details, never a token", async () => {
  const { api, storage } = client();
  await api.auth.signUp({ email: email(), password: PASSWORD });
  const { token, refreshToken } = JSON.parse(storage.getItem(STORAGE_KEY));
  await assert.rejects(api.tasks.create({ title: " " }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.equal(error.code, "validation_failed");
    assert.equal(error.message, "title must be 1 to 200 characters");
    assert.deepEqual(error.details, { title: "must be 1 to 200 characters" });
    assert.ok(!JSON.stringify({ ...error, message: error.message }).includes(token));
    assert.ok(!error.message.includes(refreshToken));
    return true;
  });
  await rejects(
    client().api.auth.signUp({ email: "not an email", password: PASSWORD }),
    422,
    "validation_failed",
  );
});

test("retryAfter comes from Retry-After when signins are throttled", async () => {
  const { api } = client();
  const address = email();
  await api.auth.signUp({ email: address, password: PASSWORD });
  // The signup's device token comes with every signin: this device is allowed five attempts,
  // and the fifth blocks it.
  for (let i = 0; i < 5; i++) {
    await rejects(
      api.auth.signIn({ email: address, password: "wrong password" }),
      401,
      "invalid_credentials",
    );
  }
  await assert.rejects(api.auth.signIn({ email: address, password: PASSWORD }), (error) => {
    assert.equal(error.code, "rate_limited");
    assert.ok(error.retryAfter >= 1, String(error.retryAfter));
    return true;
  });
});

test("a refused access token is refreshed once and the call retried", async () => {
  const { api, storage, refreshes } = client();
  await api.auth.signUp({ email: email(), password: PASSWORD });
  tamper(storage, { token: "no.longer.valid" });
  assert.deepEqual(await api.tasks.list(), []);
  assert.equal(refreshes(), 1);
  assert.deepEqual(await api.tasks.list(), []);
  assert.equal(refreshes(), 1, "the new token is used from then on");
});

test("many concurrent calls across a real expiry share one refresh and the session survives", async () => {
  const { api, storage, refreshes } = client({ refreshMarginSeconds: 0 });
  await api.auth.signUp({ email: email(), password: PASSWORD });
  const { expiresAt } = JSON.parse(storage.getItem(STORAGE_KEY));
  assert.ok(expiresAt - Date.now() <= 61_000, "the server issues 60-second access tokens");
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 1500));
  const calls = Array.from({ length: 20 }, (_, i) =>
    i % 2 ? api.tasks.list() : api.tasks.create({ title: `after expiry ${i}` }),
  );
  await Promise.all(calls);
  assert.equal(refreshes(), 1, "one refresh for all of them");
  // A refresh token spent twice would have ended the session: it goes on.
  assert.equal((await api.tasks.list()).length, 10);
  assert.equal((await api.auth.sessions()).length, 1);
});

test("a session that has ended clears the storage and calls onSessionEnd once", async () => {
  let ended = 0;
  const storage = memoryStorage();
  const { api, refreshes } = client({ storage, onSessionEnd: () => ended++ });
  await api.auth.signUp({ email: email(), password: PASSWORD });
  // The same session signed out elsewhere: its access and refresh tokens are refused.
  const elsewhere = client({ storage: memoryStorage() });
  elsewhere.storage.setItem(STORAGE_KEY, storage.getItem(STORAGE_KEY));
  await elsewhere.api.auth.signOut();

  const calls = [api.tasks.list(), api.tasks.create({ title: "x" }), api.auth.me()];
  for (const result of await Promise.allSettled(calls)) {
    assert.equal(result.status, "rejected");
    assert.equal(result.reason.code, "unauthorized");
  }
  assert.equal(refreshes(), 1);
  assert.equal(ended, 1);
  assert.equal(storage.getItem(STORAGE_KEY), null);
  assert.equal(api.auth.user(), null);
  await rejects(api.tasks.list(), 401, "unauthorized");
  assert.equal(ended, 1, "once");
});

test("signing in again sends the device token the account's last signup or signin returned", async () => {
  const sent = [];
  const storage = memoryStorage();
  const api = createClient({
    baseUrl,
    storage,
    fetch: (url, init) => {
      if (new URL(url).pathname === "/api/auth/signin") sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  const address = email();
  await api.auth.signUp({ email: address, password: PASSWORD });
  const devices = JSON.parse(storage.getItem(`todo-auth-client.devices@${baseUrl}`));
  assert.equal(devices[address].length, 43);
  await api.auth.signOut();
  await api.auth.signIn({ email: address.toUpperCase(), password: PASSWORD });
  assert.equal(sent[0].device_token, devices[address]);
  // The API keeps the device's token; another account on this device has none yet.
  assert.deepEqual(JSON.parse(storage.getItem(`todo-auth-client.devices@${baseUrl}`)), devices);
  await api.auth.signIn({ email: email(), password: PASSWORD }).catch(() => {});
  assert.equal(sent[1].device_token, undefined);
});

/** The second review's finding: sessions were stored under one key for every API, so a client
 * pointed at another host (by a page that took the URL from its link) sent it the tokens. */
test("a session is only ever sent to the API that issued it", async () => {
  const storage = memoryStorage();
  const { api } = client({ storage });
  await api.auth.signUp({ email: email(), password: PASSWORD });
  const sent = [];
  const other = createClient({
    baseUrl: "http://127.0.0.1:9/other-api",
    storage,
    fetch: async (url, init) => {
      sent.push(`${url} ${new Headers(init?.headers).get("authorization") ?? ""}`);
      throw new TypeError("no such API");
    },
  });
  assert.equal(other.auth.user(), null, "the other API's client finds no session");
  await assert.rejects(other.tasks.list());
  assert.deepEqual(
    sent.filter((request) => !request.endsWith(" ")),
    [],
    "and sends no token",
  );
  // A session stored by an older client, under a key of no API, is removed unread.
  storage.setItem("todo-auth-client.session", storage.getItem(STORAGE_KEY));
  createClient({ baseUrl, storage });
  assert.equal(storage.getItem("todo-auth-client.session"), null);
  assert.ok(api.auth.user(), "the API's own session stays");
});
