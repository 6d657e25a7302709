// A Better Auth server as a Next.js frontend on the JWT plugin runs it, minus Next.js: email and
// password sign-up, and `jwt()`, which serves `GET /api/auth/token` (a JWT for the session) and
// `GET /api/auth/jwks` (the keys to verify it). Listens on BETTER_AUTH_PORT (9125); its base URL,
// and so its tokens' issuer, is BETTER_AUTH_URL. In memory, or with BETTER_AUTH_DATABASE_URL on
// PostgreSQL, as a Phase II app keeps it beside its tasks: its own migrations make its tables
// (`user`, `session`, `account`, `verification`, `jwks`) at start.
import { createServer } from "node:http";

import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";
import pg from "pg";

const port = Number(process.env.BETTER_AUTH_PORT ?? 9125);
const baseURL = process.env.BETTER_AUTH_URL ?? `http://127.0.0.1:${port}`;

export const auth = betterAuth({
  baseURL,
  // A throwaway server: a fresh secret each start is fine, nothing outlives the process.
  secret: process.env.BETTER_AUTH_SECRET ?? crypto.randomUUID() + crypto.randomUUID(),
  database: process.env.BETTER_AUTH_DATABASE_URL
    ? new pg.Pool({ connectionString: process.env.BETTER_AUTH_DATABASE_URL })
    : memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
  emailAndPassword: { enabled: true },
  plugins: [jwt()],
  // The tests sign up many users from one address.
  rateLimit: { enabled: false },
});

if (process.env.BETTER_AUTH_DATABASE_URL) {
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
}

createServer(toNodeHandler(auth)).listen(port, "127.0.0.1", () => {
  console.log(`better-auth: listening at ${baseURL}`);
});
