/**
 * A typed client for the todo-auth-lambda API. Its types come from the API's `openapi.yaml`
 * (`npm run generate`); its runtime is `fetch` alone.
 *
 * Sessions are handled for the caller: the access token is refreshed shortly before it expires
 * and when the API refuses it, and the call is retried once; concurrent calls share one refresh;
 * tabs sharing a storage coordinate through the Web Locks API so that two tabs never present
 * the same refresh token (past a 10-second grace, the API ends a session whose refresh token is
 * spent twice). When the session has definitely ended, the storage is cleared and `onSessionEnd`
 * fires once.
 */
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Task = Schemas["Task"];
export type NewTask = Schemas["NewTask"];
export type TaskChanges = Schemas["TaskChanges"];
export type SessionInfo = Schemas["SessionInfo"];
export type ListQuery = NonNullable<paths["/api/tasks"]["get"]["parameters"]["query"]>;
type SessionBody = Schemas["Session"];
type ErrorBody = Schemas["Error"];

/** Where the session's tokens are kept. Synchronous, like `localStorage`. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Keeps the session in this JavaScript context only (the default; right on a server). */
export function memoryStorage(): TokenStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/**
 * Keeps the session in the browser's `localStorage`: shared by the page origin's tabs and kept
 * across restarts, and readable by any script that runs on the page's origin (an XSS reads the
 * refresh token and can use it from anywhere until the session ends). Prefer
 * `sessionStorageAdapter()` or `memoryStorage()` unless staying signed in across restarts is
 * worth that.
 */
export function localStorageAdapter(): TokenStorage {
  return globalThis.localStorage;
}

/**
 * Keeps the session in the browser's `sessionStorage`: this tab only, gone when it closes. An
 * XSS can still read it while the tab is open, but no session outlives the tab.
 */
export function sessionStorageAdapter(): TokenStorage {
  return globalThis.sessionStorage;
}

/** Every failure of a call: the API's error code and message, or a network failure. */
export class ApiError extends Error {
  /** The HTTP status; 0 when no answer came (network failure). */
  readonly status: number;
  /** The API's machine code, e.g. `validation_failed`, `unauthorized`, `rate_limited`. */
  readonly code: string;
  /** For `validation_failed`: what is wrong with each field. */
  readonly details: Record<string, string> | undefined;
  /** For 429 and 503: seconds to wait before trying again (from `Retry-After`). */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    details?: Record<string, string>,
    retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

export interface ClientOptions {
  /** The API's base URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`. */
  baseUrl: string;
  /** Where tokens are kept: `memoryStorage()` (default) or `localStorageAdapter()`. */
  storage?: TokenStorage;
  /** Called once when the session has definitely ended (its refresh was refused). */
  onSessionEnd?: () => void;
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshMarginSeconds?: number;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof globalThis.fetch;
}

/** What is kept in storage: the tokens, when the access token expires, and the account. */
interface StoredSession {
  token: string;
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  user: User;
  /** This signin's own id and how many refreshes it has had: names a refresh token. */
  id: string;
  generation: number;
}

/** Storage keys and lock names carry the API's base URL: a session is only ever read by a
 * client of the API that issued it, so a page pointed at another API (a mistake, or a link
 * crafted to make it one) never sends it there. */
const STORAGE_KEY = "todo-auth-client.session";
/** Device tokens by account email: sent back at signin, they keep the account-wide signin
 * throttle (which anyone who knows the email can trip) from holding this device. */
const DEVICES_KEY = "todo-auth-client.devices";
const LOCK_NAME = "todo-auth-client.refresh";

/** The storage key of the session a client of `baseUrl` keeps. */
export function sessionStorageKey(baseUrl: string): string {
  return `${STORAGE_KEY}@${normalizedBaseUrl(baseUrl)}`;
}

/** `baseUrl` as an absolute URL without trailing slashes, one spelling per API (a relative one
 * is the page's). */
function normalizedBaseUrl(baseUrl: string): string {
  const url = new URL(baseUrl, (globalThis as { location?: { href: string } }).location?.href);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
/** How long a tab that spent a refresh token says so to the others (see `fresh`). */
const SPENT_MARK_MS = 30_000;
/** How long a tab waits for another tab's new tokens to reach its storage. */
const ARRIVAL_WAIT_MS = 5_000;

/** The Web Locks API where the platform has it (browsers); Node has none. */
const lockManager = (): LockManager | undefined =>
  (globalThis.navigator as Navigator | undefined)?.locks;

/** The name of the lock that marks `session`'s refresh token as spent. */
const spentMark = (session: StoredSession) =>
  `${LOCK_NAME}.spent.${session.id}.${session.generation}`;

/** What older versions kept under keys of no API: a session they would have sent to whatever
 * API the page named. Removed unread. */
const UNSCOPED_KEYS = [STORAGE_KEY, DEVICES_KEY];

/**
 * Holds the mark that `session`'s refresh token was spent, for a while; resolves once held.
 * Lock state lives in the browser, so every tab sees the mark at once, whereas a
 * `localStorage` write reaches the other tabs a moment later.
 */
function markSpent(session: StoredSession): Promise<void> {
  const locks = lockManager();
  if (!locks) return Promise.resolve();
  return new Promise((held) => {
    void locks.request(spentMark(session), () => {
      held();
      return new Promise((release) => setTimeout(release, SPENT_MARK_MS));
    });
  });
}

async function spentElsewhere(session: StoredSession): Promise<boolean> {
  const locks = lockManager();
  if (!locks) return false;
  const { held = [] } = await locks.query();
  return held.some((lock) => lock.name === spentMark(session));
}

interface CallOptions {
  body?: unknown;
  /** Send the access token (refreshing it first when due). */
  auth?: boolean;
}

export function createClient(options: ClientOptions) {
  const baseUrl = normalizedBaseUrl(options.baseUrl);
  const storage = options.storage ?? memoryStorage();
  const sessionKey = sessionStorageKey(baseUrl);
  const devicesKey = `${DEVICES_KEY}@${baseUrl}`;
  const lockName = `${LOCK_NAME}@${baseUrl}`;
  for (const key of UNSCOPED_KEYS) storage.removeItem(key);
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
  let ended = false;
  let refreshing: Promise<StoredSession | null> | null = null;

  const load = (): StoredSession | null => {
    const raw = storage.getItem(sessionKey);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as StoredSession;
    } catch {
      return null;
    }
  };

  const devices = (): Record<string, string> => {
    try {
      return JSON.parse(storage.getItem(devicesKey) ?? "{}") as Record<string, string>;
    } catch {
      return {};
    }
  };
  const deviceKey = (email: string) => email.trim().toLowerCase();

  /** Stores a session the API answered: a new signin's, or the next of `refreshed`. */
  const keep = (body: SessionBody, refreshed?: StoredSession): StoredSession => {
    if (body.device_token && body.user.email) {
      storage.setItem(
        devicesKey,
        JSON.stringify({ ...devices(), [deviceKey(body.user.email)]: body.device_token }),
      );
    }
    const session: StoredSession = {
      token: body.token,
      refreshToken: body.refresh_token,
      expiresAt: Date.now() + body.expires_in * 1000,
      user: body.user,
      id: refreshed?.id ?? crypto.randomUUID(),
      generation: refreshed ? refreshed.generation + 1 : 0,
    };
    storage.setItem(sessionKey, JSON.stringify(session));
    ended = false;
    return session;
  };

  const endSession = () => {
    storage.removeItem(sessionKey);
    if (!ended) {
      ended = true;
      options.onSessionEnd?.();
    }
  };

  const due = (session: StoredSession) => session.expiresAt - Date.now() <= marginMs;

  /** One fetch, with the API's errors thrown as `ApiError`. */
  async function send(method: string, url: string, body: unknown, token?: string) {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw new ApiError(0, "network_error", `the API could not be reached: ${String(cause)}`);
    }
    if (response.ok) return response;
    let error: ErrorBody["error"] | undefined;
    try {
      error = ((await response.json()) as ErrorBody).error;
    } catch {
      error = undefined;
    }
    const retryAfter = Number(response.headers.get("Retry-After") ?? NaN);
    throw new ApiError(
      response.status,
      error?.code ?? "unknown",
      error?.message ?? `the API answered ${response.status}`,
      error?.details,
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    );
  }

  /** Runs `work` holding the origin-wide refresh lock where the platform has Web Locks. */
  async function exclusively<T>(work: () => Promise<T>): Promise<T> {
    const locks = lockManager();
    return locks ? locks.request(lockName, work) : work();
  }

  /** The stored session once it is a later one than `session`, or null after a while. */
  async function successorOf(session: StoredSession): Promise<StoredSession | null> {
    const deadline = Date.now() + ARRIVAL_WAIT_MS;
    while (Date.now() < deadline) {
      const stored = load();
      if (!stored || stored.id !== session.id || stored.generation > session.generation) {
        return stored;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return null;
  }

  /**
   * A session whose access token is good for a while, refreshing it when it is due or when
   * `refused` (a token the API just refused) is still the stored one. Concurrent calls share
   * one refresh. Tabs take turns under a Web Lock and read the storage again inside it; a tab
   * that finds its refresh token marked spent by another tab waits for that tab's new tokens
   * instead of presenting the spent one (which the API would take for a stolen token).
   */
  function fresh(refused?: string): Promise<StoredSession | null> {
    refreshing ??= exclusively(async () => {
      let current = load();
      if (!current) return null;
      const stale = (session: StoredSession) =>
        refused !== undefined ? session.token === refused : due(session);
      if (!stale(current)) return current;
      if (await spentElsewhere(current)) {
        const successor = await successorOf(current);
        if (!successor) return null;
        if (!stale(successor)) return successor;
        current = successor;
      }
      try {
        const response = await send("POST", `${baseUrl}/api/auth/refresh`, {
          refresh_token: current.refreshToken,
        });
        const next = keep((await response.json()) as SessionBody, current);
        await markSpent(current);
        return next;
      } catch (error) {
        // Refused: the session has ended (signed out, expired, or its token reused).
        if (error instanceof ApiError && error.status === 401) {
          endSession();
          return null;
        }
        throw error;
      }
    }).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function signedIn(): Promise<StoredSession> {
    let session = load();
    if (session && due(session)) session = await fresh();
    if (!session) {
      throw new ApiError(401, "unauthorized", "not signed in");
    }
    return session;
  }

  /** A call to the API: with the access token when `auth`, retried once after a refresh. */
  async function call(method: string, path: string, { body, auth = true }: CallOptions = {}) {
    const url = path.startsWith("http") ? path : `${baseUrl}${path}`;
    if (!auth) return send(method, url, body);
    const session = await signedIn();
    try {
      return await send(method, url, body, session.token);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      const renewed = await fresh(session.token);
      if (!renewed) throw error;
      return send(method, url, body, renewed.token);
    }
  }

  const json = async <T>(response: Response) => (await response.json()) as T;

  /** The `rel="next"` target of a `Link` header, as an absolute URL. */
  const nextPage = (response: Response): string | null => {
    const link = response.headers.get("Link");
    const target = link?.match(/<([^>]+)>\s*;\s*rel="next"/)?.[1];
    return target ? new URL(target, `${baseUrl}/`).toString() : null;
  };

  const queryString = (query: ListQuery = {}) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(name, String(value));
    }
    const text = params.toString();
    return text ? `?${text}` : "";
  };

  async function* pages(query?: ListQuery): AsyncGenerator<Task[]> {
    let url: string | null = `${baseUrl}/api/tasks${queryString(query)}`;
    while (url) {
      const response: Response = await call("GET", url);
      yield await json<Task[]>(response);
      url = nextPage(response);
    }
  }

  const task = (id: number) => `/api/tasks/${encodeURIComponent(id)}`;

  return {
    auth: {
      /** Creates an account and signs in. */
      async signUp(input: { email: string; password: string; name?: string }): Promise<User> {
        const response = await call("POST", "/api/auth/signup", { body: input, auth: false });
        return keep(await json<SessionBody>(response)).user;
      },
      async signIn(input: { email: string; password: string }): Promise<User> {
        const device_token = devices()[deviceKey(input.email)];
        const body = device_token ? { ...input, device_token } : input;
        const response = await call("POST", "/api/auth/signin", { body, auth: false });
        return keep(await json<SessionBody>(response)).user;
      },
      /** Ends the session on the API (if it is still live) and forgets it here. */
      async signOut(): Promise<void> {
        const session = load();
        storage.removeItem(sessionKey);
        if (!session) return;
        try {
          await send("POST", `${baseUrl}/api/auth/signout`, undefined, session.token);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status !== 401) throw error;
        }
      },
      /** The signed-in account, from the API; keeps the stored copy current. */
      async me(): Promise<User> {
        const { user } = await json<{ user: User }>(await call("GET", "/api/auth/me"));
        const session = load();
        if (session) storage.setItem(sessionKey, JSON.stringify({ ...session, user }));
        return user;
      },
      /** The signed-in account as stored, or `null`; no request. */
      user(): User | null {
        return load()?.user ?? null;
      },
      /** The caller's live sessions. */
      async sessions(): Promise<SessionInfo[]> {
        return json<SessionInfo[]>(await call("GET", "/api/auth/sessions"));
      },
      /** Ends one of the caller's other sessions, by its id from `sessions()` (the `current`
       * one ends with `signOut()`). */
      async endSession(id: string): Promise<void> {
        await call("DELETE", `/api/auth/sessions/${encodeURIComponent(id)}`);
      },
      /** Ends every session of the caller's but this one. */
      async endOtherSessions(): Promise<void> {
        await call("DELETE", "/api/auth/sessions");
      },
      /** Changes the password; every other session ends, this one stays. */
      async changePassword(input: { currentPassword: string; newPassword: string }): Promise<void> {
        const body = { current_password: input.currentPassword, new_password: input.newPassword };
        await call("POST", "/api/auth/password", { body });
      },
      /** Deletes the account and everything it owns, and forgets the session. */
      async deleteAccount(password: string): Promise<void> {
        await call("DELETE", "/api/auth/me", { body: { password } });
        storage.removeItem(sessionKey);
      },
      /** Asks for a reset link for `email`. The answer is the same whoever has the address
       * (its `detail` is what to tell the person); no session needed. */
      async forgotPassword(email: string): Promise<string> {
        const response = await call("POST", "/api/auth/password/forgot", { body: { email }, auth: false });
        return (await json<{ detail: string }>(response)).detail;
      },
      /** Sets a new password with the `token` of a reset link's URL. Every session of the
       * account ends, this one's included: sign in again with the new password. */
      async resetPassword(input: { token: string; newPassword: string }): Promise<void> {
        const body = { token: input.token, new_password: input.newPassword };
        await call("POST", "/api/auth/password/reset", { body, auth: false });
        storage.removeItem(sessionKey);
      },
      /** Proves an address with the `token` of a verification (or address-change) link's URL;
       * no session needed. When signed in, the stored account is brought up to date. */
      async verifyEmail(token: string): Promise<void> {
        await call("POST", "/api/auth/email/verify", { body: { token }, auth: false });
        if (load()) {
          await this.me().catch(() => undefined);
        }
      },
      /** Mails the signed-in account another verification link (unless it is verified). */
      async resendVerification(): Promise<string> {
        const response = await call("POST", "/api/auth/email/verify/resend");
        return (await json<{ detail: string }>(response)).detail;
      },
      /** Mails a link to `newEmail` that moves the account there when used; the password
       * confirms it is the owner asking. */
      async changeEmail(input: { newEmail: string; password: string }): Promise<string> {
        const body = { new_email: input.newEmail, password: input.password };
        return (await json<{ detail: string }>(await call("POST", "/api/auth/email", { body }))).detail;
      },
    },
    tasks: {
      /** Every task matching `query`, following the `Link` pages to the end. */
      async list(query?: ListQuery): Promise<Task[]> {
        const all: Task[] = [];
        for await (const page of pages(query)) all.push(...page);
        return all;
      },
      /** The tasks one page at a time (`limit` sets the page size). */
      pages,
      async create(input: NewTask): Promise<Task> {
        return json<Task>(await call("POST", "/api/tasks", { body: input }));
      },
      async get(id: number): Promise<Task> {
        return json<Task>(await call("GET", task(id)));
      },
      async update(id: number, patch: TaskChanges): Promise<Task> {
        return json<Task>(await call("PATCH", task(id), { body: patch }));
      },
      /** Flips `completed`, or sets it to `completed` when given. */
      async toggle(id: number, completed?: boolean): Promise<Task> {
        const body = completed === undefined ? undefined : { completed };
        return json<Task>(await call("PATCH", `${task(id)}/complete`, { body }));
      },
      async remove(id: number): Promise<void> {
        await call("DELETE", task(id));
      },
    },
  };
}

export type Client = ReturnType<typeof createClient>;
