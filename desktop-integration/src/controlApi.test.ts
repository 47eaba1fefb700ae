import { ControlApi, ControlApiError } from "./controlApi";

function fakeFetch(status: number, body?: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = vi.fn((url: string, init: RequestInit) => {
    calls.push({ url, init });
    const text = body === undefined ? null : JSON.stringify(body);
    return Promise.resolve(new Response(text, { status, headers: { "Content-Type": "application/json" } }));
  });
  return { fetch, calls };
}

const base = "http://127.0.0.1:53211";

describe("ControlApi", () => {
  it("creates a session with the bearer token and a JSON body", async () => {
    const session = { livekit_url: "ws://127.0.0.1:7880", token: "lk", room: "r1", identity: "user-1" };
    const { fetch, calls } = fakeFetch(200, session);
    const api = new ControlApi({ baseUrl: `${base}/`, token: "tok", fetch });
    const request = { version: 1 as const, persona: { name: "Ada" }, history: [{ role: "user" as const, text: "hi" }] };
    await expect(api.createSession(request)).resolves.toEqual(session);
    expect(calls[0]!.url).toBe(`${base}/session`);
    const headers = new Headers(calls[0]!.init.headers);
    expect(headers.get("Authorization")).toBe("Bearer tok");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual(request);
    expect(calls[0]!.init.method).toBe("POST");
  });

  it("never puts the token in the URL, and sends no body on GET", async () => {
    const { fetch, calls } = fakeFetch(200, { available: true, source: "keyring" });
    await new ControlApi({ baseUrl: base, token: "tok", fetch }).keyStatus();
    expect(calls[0]!.url).toBe(`${base}/key/status`);
    expect(calls[0]!.init.body).toBeUndefined();
    expect(new Headers(calls[0]!.init.headers).get("Content-Type")).toBeNull();
  });

  it.each([
    ["health", (api: ControlApi) => api.health(), "GET", "/health"],
    ["models", (api: ControlApi) => api.models(), "GET", "/models"],
    ["pullModel", (api: ControlApi) => api.pullModel("small.en"), "POST", "/models/small.en/pull"],
    ["putKey", (api: ControlApi) => api.putKey("k"), "PUT", "/key"],
    ["shutdown", (api: ControlApi) => api.shutdown(), "POST", "/shutdown"],
  ] as const)("%s calls %s %s", async (_name, call, method, path) => {
    const { fetch, calls } = fakeFetch(path === "/key" ? 204 : 200, path === "/key" ? undefined : {});
    await call(new ControlApi({ baseUrl: base, token: "tok", fetch }));
    expect(calls[0]!.init.method).toBe(method);
    expect(calls[0]!.url).toBe(`${base}${path}`);
  });

  it("sends PUT /key as {name, key}", async () => {
    const { fetch, calls } = fakeFetch(204);
    await new ControlApi({ baseUrl: base, token: "tok", fetch }).putKey("sk-123");
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual({ name: "nebius", key: "sk-123" });
  });

  it.each([
    [401, "unauthorized"],
    [422, "invalid_key"],
    [503, "keyring_unavailable"],
  ])("turns %i {error} into a ControlApiError", async (status, code) => {
    const { fetch } = fakeFetch(status, { error: { code, message: `msg ${code}` } });
    const error = await new ControlApi({ baseUrl: base, token: "t", fetch }).putKey("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlApiError);
    expect(error).toMatchObject({ status, code, message: `msg ${code}` });
  });

  it("copes with an error without the documented body", async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response("<html>", { status: 502 })));
    await expect(new ControlApi({ baseUrl: base, token: "t", fetch }).health()).rejects.toMatchObject({
      status: 502,
      code: "http_502",
    });
  });

  it("reports an unreachable backend as status 0", async () => {
    const fetch = vi.fn(() => Promise.reject(new TypeError("Failed to fetch")));
    const error = await new ControlApi({ baseUrl: base, token: "t", fetch }).health().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, unreachable: true });
  });

  it("times out a request that never answers", async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(
      (_url: string, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => {
            reject(new DOMException("aborted", "AbortError"));
          });
        }),
    );
    const pending = new ControlApi({ baseUrl: base, token: "t", fetch, timeoutMs: 50 }).health().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await pending).toMatchObject({ status: 0, message: expect.stringContaining("no answer within 50 ms") as unknown });
    vi.useRealTimers();
  });

  it.each(["https://127.0.0.1:1", "http://example.org", "http://192.168.1.2:80"])("refuses the non-loopback URL %s", (url) => {
    expect(() => new ControlApi({ baseUrl: url, token: "t" })).toThrow(/loopback/);
  });
});
