import type { SessionResponse } from "../protocol";

export interface Route {
  status: number;
  body?: unknown;
}

/**
 * A fetch for the control API's routes, recording every request. Routes are
 * "METHOD /path" → answer; a missing route answers 404 with the documented error body.
 */
export function fakeControlFetch(routes: Record<string, Route | (() => Route)>) {
  const requests: { method: string; path: string; headers: Headers; body: unknown }[] = [];
  const fetch = (url: string, init: RequestInit): Promise<Response> => {
    const path = new URL(url).pathname;
    const method = init.method ?? "GET";
    requests.push({
      method,
      path,
      headers: new Headers(init.headers),
      body: typeof init.body === "string" ? (JSON.parse(init.body) as unknown) : undefined,
    });
    const route = routes[`${method} ${path}`];
    const answer = typeof route === "function" ? route() : (route ?? { status: 404, body: { error: { code: "not_found", message: "no route" } } });
    const text = answer.body === undefined ? null : JSON.stringify(answer.body);
    return Promise.resolve(new Response(text, { status: answer.status }));
  };
  return { fetch, requests };
}

export const SESSION_RESPONSE: SessionResponse = {
  livekit_url: "ws://127.0.0.1:7880",
  token: "lk-token",
  room: "pa-room-1",
  identity: "user-1",
};
