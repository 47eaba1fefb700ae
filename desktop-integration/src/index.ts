// Public API of the desktop integration of the voice sidecar.
export * from "./protocol";
export { LineSplitter } from "./lineSplitter";
export { parseEventLine, type ParseResult } from "./parseEvent";
export { DEFAULT_RESTART, decideRestart, type RestartOptions, type RestartDecision } from "./restartPolicy";
export {
  INITIAL_SIDECAR_STATE,
  sidecarReducer,
  type FailureReason,
  type ModelDownload,
  type ReadyInfo,
  type SidecarFailure,
  type SidecarPhase,
  type SidecarProblem,
  type SidecarState,
} from "./sidecarState";
export {
  SIDECAR_COMMANDS,
  SidecarController,
  type SidecarControllerOptions,
  type SidecarOutput,
} from "./sidecar";
export { ControlApi, ControlApiError, type ControlApiOptions, type FetchLike } from "./controlApi";
export {
  DEFAULT_RECONNECT,
  MIC_CAPTURE_OPTIONS,
  VoiceSession,
  createLiveKitRoom,
  type ConnectionPhase,
  type ReconnectOptions,
  type RoomLike,
  type VoiceError,
  type VoiceErrorKind,
  type VoiceSessionState,
} from "./livekit";
export type { Speaker, TranscriptMessage } from "./transcript";
export { useSidecar, type UseSidecar } from "./useSidecar";
export { useLiveKit, type UseLiveKit, type UseLiveKitOptions } from "./useLiveKit";
export {
  supportsWebRtc,
  useVoiceFallback,
  type FallbackInfo,
  type FallbackReason,
  type VoiceFallback,
  type VoiceFallbackOptions,
} from "./useVoiceFallback";
export { SAVE_MESSAGE_COMMAND, createTauriMessageSink, toSavedMessage, type SavedVoiceMessage } from "./persistence";
export { stopSidecarOnExit } from "./appExit";
export { LLM_UNREACHABLE_CODE, VoiceRoom, type VoiceRoomProps } from "./VoiceRoom";
export type { PersonaOption } from "./components/PersonaSelect";
