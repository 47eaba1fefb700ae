import { useEffect, useState, useSyncExternalStore } from "react";

import { ControlApiError } from "./controlApi";
import {
  VoiceSession,
  type ReconnectOptions,
  type RoomLike,
  type SessionApi,
  type VoiceSessionOptions,
  type VoiceSessionState,
} from "./livekit";
import type { SessionRequest } from "./protocol";

export interface UseLiveKitOptions {
  /** The control API once the sidecar is ready, else null. Its changes (a restarted
   * sidecar has a new URL and token) reach the next session request and retry. */
  api: SessionApi | null;
  onMessage?: VoiceSessionOptions["onMessage"];
  createRoom?: () => RoomLike;
  reconnect?: ReconnectOptions;
}

export interface UseLiveKit extends VoiceSessionState {
  start: (request: SessionRequest) => Promise<void>;
  stop: () => Promise<void>;
  setMuted: (muted: boolean) => Promise<void>;
  toggleMute: () => Promise<void>;
  retryMicrophone: () => Promise<void>;
  dismissError: () => void;
  session: VoiceSession;
}

/** React binding of VoiceSession; the conversation ends when the component unmounts. */
const NOT_READY: SessionApi = {
  createSession: () => Promise.reject(new ControlApiError(0, "not_ready", "the voice backend is not ready")),
};

export function useLiveKit(options: UseLiveKitOptions): UseLiveKit {
  const [session] = useState(
    () =>
      new VoiceSession({
        api: options.api ?? NOT_READY,
        ...(options.createRoom ? { createRoom: options.createRoom } : {}),
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      }),
  );
  const { api, onMessage } = options;
  useEffect(() => {
    session.configure({ api: api ?? NOT_READY, ...(onMessage ? { onMessage } : {}) });
  }, [session, api, onMessage]);
  useEffect(
    () => () => {
      void session.stop();
    },
    [session],
  );

  const state = useSyncExternalStore(session.subscribe, session.getState, session.getState);
  return {
    ...state,
    start: (request) => session.start(request),
    stop: () => session.stop(),
    setMuted: (muted) => session.setMuted(muted),
    toggleMute: () => session.setMuted(!session.getState().micMuted),
    retryMicrophone: () => session.retryMicrophone(),
    dismissError: () => {
      session.dismissError();
    },
    session,
  };
}
