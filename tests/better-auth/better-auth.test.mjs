// A frontend on Better Auth's JWT plugin, against make dev: each user signs up on a real Better
// Auth server (server.mjs), takes `GET /api/auth/token`, and calls this API with that token as
// a bearer, on every task endpoint in both path forms, and `me`. Our own signup sessions are
// used beside them. API_URL is make dev, BETTER_AUTH_URL the Better Auth server it trusts.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

const api = process.env.API_URL ?? "http://127.0.0.1:9123";
const betterAuth = process.env.BETTER_AUTH_URL ?? "http://127.0.0.1:9125";
const PASSWORD = "correct horse battery staple";

/** Signs up on Better Auth as its client does, and takes a JWT for the session. */
async function betterAuthUser(name = "Ada") {
  const email = `ba-${randomUUID()}@example.com`;
  const signUp = await fetch(`${betterAuth}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: betterAuth },
    body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  assert.equal(signUp.status, 200, await signUp.clone().text());
  const { user } = await signUp.json();
  const cookie = signUp.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const issued = await fetch(`${betterAuth}/api/auth/token`, { headers: { cookie } });
  assert.equal(issued.status, 200);
  const { token } = await issued.json();
  return { id: user.id, email, name, token };
}

/** One call to this API; the parsed body (or null) and the response. */
async function call(method, path, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${api}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, response };
}

function assertError(result, status, code) {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.equal(result.body.error.code, code);
  assert.equal(result.body.detail, result.body.error.message);
}

test("a Better Auth user's token works on every task endpoint, in both path forms, and me", async () => {
  const ada = await betterAuthUser();
  const me = await call("GET", "/api/auth/me", ada.token);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.deepEqual(
    { id: me.body.user.id, email: me.body.user.email, name: me.body.user.name },
    { id: ada.id, email: ada.email, name: ada.name },
  );

  for (const base of ["/api/tasks", `/api/${ada.id}/tasks`]) {
    const created = await call("POST", base, ada.token, { title: "Buy milk", description: "2 litres" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.user_id, ada.id);
    const id = created.body.id;

    const listed = await call("GET", base, ada.token);
    assert.equal(listed.status, 200);
    assert.ok(Array.isArray(listed.body));
    assert.ok(listed.body.some((task) => task.id === id && task.user_id === ada.id));

    const got = await call("GET", `${base}/${id}`, ada.token);
    assert.equal(got.status, 200);
    assert.equal(got.body.title, "Buy milk");

    const updated = await call("PUT", `${base}/${id}`, ada.token, { title: "Buy oat milk" });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.title, "Buy oat milk");

    const toggled = await call("PATCH", `${base}/${id}/complete`, ada.token);
    assert.equal(toggled.status, 200);
    assert.equal(toggled.body.completed, true);

    const deleted = await call("DELETE", `${base}/${id}`, ada.token);
    assert.equal(deleted.status, 204);
    assertError(await call("GET", `${base}/${id}`, ada.token), 404, "not_found");
  }
});

test("two Better Auth users never see or touch each other's tasks", async () => {
  const [ada, bob] = await Promise.all([betterAuthUser("Ada"), betterAuthUser("Bob")]);
  const adas = await call("POST", "/api/tasks", ada.token, { title: "ada's secret" });
  assert.equal(adas.status, 201);

  const bobsList = await call("GET", "/api/tasks", bob.token);
  assert.equal(bobsList.status, 200);
  assert.deepEqual(bobsList.body, []);
  for (const [method, path] of [
    ["GET", `/api/tasks/${adas.body.id}`],
    ["PUT", `/api/tasks/${adas.body.id}`],
    ["PATCH", `/api/tasks/${adas.body.id}/complete`],
    ["DELETE", `/api/tasks/${adas.body.id}`],
  ]) {
    const body = method === "PUT" ? { title: "mine now" } : undefined;
    assertError(await call(method, path, bob.token, body), 404, "not_found");
  }
  // The path form must name the caller: Ada's id in Bob's request is refused.
  assertError(await call("GET", `/api/${ada.id}/tasks`, bob.token), 403, "forbidden");
  assertError(await call("POST", `/api/${ada.id}/tasks`, bob.token, { title: "x" }), 403, "forbidden");

  const still = await call("GET", `/api/tasks/${adas.body.id}`, ada.token);
  assert.equal(still.body.title, "ada's secret");
  assert.equal(still.body.completed, false);
});

test("a new user's first requests, several at once, all succeed on one account", async () => {
  const ada = await betterAuthUser();
  const created = await Promise.all(
    [1, 2, 3, 4, 5].map((n) => call("POST", "/api/tasks", ada.token, { title: `task ${n}` })),
  );
  assert.deepEqual(created.map((c) => c.status), [201, 201, 201, 201, 201]);
  const listed = await call("GET", "/api/tasks", ada.token);
  assert.equal(listed.body.length, 5);
});

test("our own sessions work beside Better Auth's, and Better Auth keeps its users' sessions", async () => {
  const email = `own-${randomUUID()}@example.com`;
  const signup = await fetch(`${api}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD, name: "Own" }),
  });
  assert.equal(signup.status, 201);
  const own = await signup.json();
  const created = await call("POST", "/api/tasks", own.token, { title: "ours" });
  assert.equal(created.status, 201);
  assert.equal(created.body.user_id, own.user.id);
  assert.equal((await call("GET", "/api/auth/sessions", own.token)).status, 200);

  const ada = await betterAuthUser();
  assert.deepEqual((await call("GET", "/api/tasks", ada.token)).body, []);
  for (const [method, path, body] of [
    ["GET", "/api/auth/sessions", undefined],
    ["POST", "/api/auth/signout", undefined],
    ["POST", "/api/auth/password", { current_password: PASSWORD, new_password: "another long password" }],
    ["DELETE", "/api/auth/me", { password: PASSWORD }],
  ]) {
    assertError(await call(method, path, ada.token, body), 403, "forbidden");
  }
  // Signin here knows nothing of Better Auth's passwords.
  const signin = await fetch(`${api}/api/auth/signin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: ada.email, password: PASSWORD }),
  });
  assert.equal(signin.status, 401);
});

test("a Better Auth token that was tampered with is refused", async () => {
  const [ada, bob] = await Promise.all([betterAuthUser("Ada"), betterAuthUser("Bob")]);
  const [header, , signature] = ada.token.split(".");
  const bobsClaims = bob.token.split(".")[1];
  const spliced = `${header}.${bobsClaims}.${signature}`;
  const refused = await call("GET", "/api/tasks", spliced);
  assertError(refused, 401, "unauthorized");
  assert.equal(refused.response.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
});

const inbox = process.env.INBOX_URL ?? "http://127.0.0.1:1080";

test("a Better Auth user has no password here: forgot answers as for anyone and mails nothing", async () => {
  const user = await betterAuthUser();
  // Seen once here, so an account row with this address exists.
  assert.equal((await call("GET", "/api/auth/me", user.token)).response.status, 200);
  const forgot = async (email) => {
    const response = await fetch(`${api}/api/auth/password/forgot`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email }),
    });
    return [response.status, await response.json()];
  };
  assert.deepEqual(await forgot(user.email), await forgot(`nobody-${randomUUID()}@example.com`));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const mails = await (await fetch(`${inbox}/api/email`)).json();
  assert.deepEqual(mails.filter((m) => m.to.some((t) => t.address === user.email)), []);
  for (const [path, body] of [
    ["/api/auth/email/verify/resend", undefined],
    ["/api/auth/email", { new_email: `x-${randomUUID()}@example.com`, password: PASSWORD }],
  ]) {
    const { response, body: answer } = await call("POST", path, user.token, body);
    assert.equal(response.status, 403, JSON.stringify(answer));
    assert.equal(answer.error.code, "forbidden");
  }
});
