import type {
  ApiErrorBody,
  HealthResponse,
  KeyStatusResponse,
  ModelsResponse,
  SessionRequest,
  SessionResponse,
} from "./protocol";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ControlApiOptions {
  /** `control_url` of the `ready` event, e.g. `http://127.0.0.1:53211`. */
  baseUrl: string;
  /** `token` of the `ready` event. */
  token: string;
  /** Defaults to the global `fetch`; Tauri apps may pass `@tauri-apps/plugin-http`'s. */
  fetch?: FetchLike;
  /** Per request; the default suits a loopback server. */
  timeoutMs?: number;
}

/** A non-2xx answer of the control API, or no answer at all (`status` 0). */
export class ControlApiError extends Error {
  override readonly name = "ControlApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  get unreachable(): boolean {
    return this.status === 0;
  }
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = value.error;
  return (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    "message" in error &&
    typeof error.code === "string" &&
    typeof error.message === "string"
  );
}

/** Typed client of the sidecar's loopback control API (docs/sidecar-protocol.md). */
export class ControlApi {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;

  constructor(options: ControlApiOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== "http:" || !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
      throw new Error("the control API is only reached on a loopback address over http");
    }
    this.baseUrl = url.origin;
    this.token = options.token;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  health(): Promise<HealthResponse> {
    return this.request<HealthResponse>("GET", "/health");
  }

  createSession(request: SessionRequest): Promise<SessionResponse> {
    return this.request<SessionResponse>("POST", "/session", request);
  }

  models(): Promise<ModelsResponse> {
    return this.request<ModelsResponse>("GET", "/models");
  }

  pullModel(name: string): Promise<{ status: string }> {
    return this.request<{ status: string }>("POST", `/models/${encodeURIComponent(name)}/pull`, {});
  }

  keyStatus(): Promise<KeyStatusResponse> {
    return this.request<KeyStatusResponse>("GET", "/key/status");
  }

  /** Stores the Nebius key in the OS keyring. 422: wrong shape; 503: no keyring works. */
  async putKey(key: string, name = "nebius"): Promise<void> {
    await this.request<undefined>("PUT", "/key", { name, key });
  }

  async shutdown(): Promise<void> {
    await this.request<undefined>("POST", "/shutdown", {});
  }

  private async request<T>(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      Accept: "application/json",
    };
    const init: RequestInit = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort();
    }, this.timeoutMs);
    init.signal = controller.signal;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    } catch (error) {
      const reason = controller.signal.aborted ? `no answer within ${this.timeoutMs} ms` : String(error);
      throw new ControlApiError(0, "unreachable", `the voice backend did not answer ${method} ${path}: ${reason}`);
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!response.ok) {
      if (isErrorBody(parsed)) throw new ControlApiError(response.status, parsed.error.code, parsed.error.message);
      throw new ControlApiError(response.status, `http_${response.status}`, `${method} ${path} failed (${response.status})`);
    }
    return parsed as T;
  }
}
