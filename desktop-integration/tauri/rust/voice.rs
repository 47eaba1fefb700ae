// Rust side of the desktop integration: copy into src-tauri/src/ and register in lib.rs.
// Compiled and run in this repository as desktop-integration/example-app (a byte-identical
// copy, checked by tests/test_example_app_files.py); see ../../README.md, step 4.
//
// Cargo.toml:
//   tauri-plugin-shell = "~2.4"  # its Rust API starts the sidecar; the page gets no shell permission
//   serde = { version = "1", features = ["derive"] }
//   rusqlite = { version = "0.32", features = ["bundled"] }   # or the app's own SQLite access
//   [target.'cfg(target_os = "linux")'.dependencies]
//   webkit2gtk = { version = "2", features = ["v2_40"] }      # the version wry already links

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_shell::process::{CommandChild, CommandEvent};
use tauri_plugin_shell::ShellExt;

/// The `externalBin` entry's file name (`binaries/voice-sidecar` in tauri.conf.json).
const SIDECAR_NAME: &str = "voice-sidecar";
/// The only line the page may have written to the sidecar's stdin.
const SHUTDOWN_LINE: &[u8] = b"{\"command\": \"shutdown\"}\n";

/// The sidecar this app started, if it still runs. The page never names a program, an
/// argument, an environment variable or a folder: Rust starts `voice-sidecar up
/// --parent-pid <this app>` with the app's own environment, so script in the web view can
/// neither point the backend's LLM calls (and the stored key) elsewhere nor start anything
/// else. Managed with `app.manage(voice::VoiceSidecar::default())`.
#[derive(Default)]
pub struct VoiceSidecar(Arc<Mutex<Option<CommandChild>>>);

/// What the sidecar printed or how it ended, in the shell plugin's message shape:
/// `{"event": "Stdout", "payload": "<one line without its terminator>"}`.
#[derive(Clone, Serialize)]
#[serde(tag = "event", content = "payload")]
pub enum SidecarOutput {
    Stdout(String),
    Stderr(String),
    Terminated {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Error(String),
}

fn line_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

/// Starts the sidecar unless this app's one is still running; returns its pid.
#[tauri::command]
pub fn voice_sidecar_spawn(
    app: AppHandle,
    sidecar: State<'_, VoiceSidecar>,
    on_output: Channel<SidecarOutput>,
) -> Result<u32, String> {
    let mut slot = sidecar.0.lock().map_err(|e| e.to_string())?;
    if let Some(child) = slot.as_ref() {
        return Err(format!(
            "the voice backend is already running (pid {})",
            child.pid()
        ));
    }
    let parent_pid = std::process::id().to_string();
    let (mut events, child) = app
        .shell()
        .sidecar(SIDECAR_NAME)
        .map_err(|e| e.to_string())?
        .args(["up", "--parent-pid", parent_pid.as_str()])
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.pid();
    *slot = Some(child);
    let running = Arc::clone(&sidecar.0);
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            let output = match event {
                CommandEvent::Stdout(bytes) => SidecarOutput::Stdout(line_of(&bytes)),
                CommandEvent::Stderr(bytes) => SidecarOutput::Stderr(line_of(&bytes)),
                CommandEvent::Error(message) => SidecarOutput::Error(message),
                CommandEvent::Terminated(end) => {
                    if let Ok(mut slot) = running.lock() {
                        if slot.as_ref().map(CommandChild::pid) == Some(pid) {
                            *slot = None;
                        }
                    }
                    SidecarOutput::Terminated {
                        code: end.code,
                        signal: end.signal,
                    }
                }
                _ => continue,
            };
            // a page that reloaded dropped its channel; the sidecar watches this app's pid
            let _ = on_output.send(output);
        }
    });
    Ok(pid)
}

/// Asks the running sidecar to stop: the shutdown line on its stdin.
#[tauri::command]
pub fn voice_sidecar_request_stop(sidecar: State<'_, VoiceSidecar>) -> Result<(), String> {
    let mut slot = sidecar.0.lock().map_err(|e| e.to_string())?;
    match slot.as_mut() {
        Some(child) => child.write(SHUTDOWN_LINE).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// Kills the running sidecar (its supervisor's keeper then ends the services it started).
#[tauri::command]
pub fn voice_sidecar_kill(sidecar: State<'_, VoiceSidecar>) -> Result<(), String> {
    let child = sidecar.0.lock().map_err(|e| e.to_string())?.take();
    match child {
        Some(child) => child.kill().map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// One final transcript message, as `createTauriMessageSink` sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedVoiceMessage {
    pub room: String,
    pub segment_id: String,
    pub role: String, // "user" | "assistant"
    pub text: String,
    pub interrupted: bool,
    pub started_at: i64, // ms since the Unix epoch
}

pub struct VoiceDb(pub Mutex<rusqlite::Connection>);

pub const VOICE_MESSAGES_SCHEMA: &str = include_str!("../sqlite/voice_messages.sql");

/// Opens (or creates) the SQLite file at `path` and applies `VOICE_MESSAGES_SCHEMA`. An app
/// with its own database applies the schema with its migrations and builds `VoiceDb` itself.
pub fn open_voice_db(path: &std::path::Path) -> Result<VoiceDb, Box<dyn std::error::Error>> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(VOICE_MESSAGES_SCHEMA)?;
    Ok(VoiceDb(Mutex::new(conn)))
}

/// Stores one message; a repeated (room, segment_id) is ignored, so a retry is harmless.
#[tauri::command]
pub fn voice_save_message(
    db: State<'_, VoiceDb>,
    message: SavedVoiceMessage,
) -> Result<(), String> {
    if message.role != "user" && message.role != "assistant" {
        return Err(format!("unknown role {:?}", message.role));
    }
    let conn = db.0.lock().map_err(|e| e.to_string())?;
    conn.execute(
        "INSERT INTO voice_messages (room, segment_id, role, text, interrupted, started_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (room, segment_id) DO NOTHING",
        rusqlite::params![
            message.room,
            message.segment_id,
            message.role,
            message.text,
            message.interrupted,
            message.started_at
        ],
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Linux: WebKitGTK turns WebRTC off (`enable-webrtc` defaults to false) and denies every
/// permission request nobody answers. Enable WebRTC and media streams, and allow microphone
/// requests from the app's own pages only. A WebKitGTK built without WebRTC (Debian 12's)
/// still has no `RTCPeerConnection` afterwards: see ../../README.md, step 5.
#[cfg(target_os = "linux")]
pub fn allow_microphone_on_linux(window: &tauri::WebviewWindow) -> tauri::Result<()> {
    use webkit2gtk::glib::prelude::ObjectExt;
    use webkit2gtk::{PermissionRequestExt, SettingsExt, UserMediaPermissionRequest, WebViewExt};
    window.with_webview(|webview| {
        let view = webview.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_webrtc(true);
            settings.set_enable_media_stream(true);
        }
        view.connect_permission_request(|view, request| {
            let ours = view
                .uri()
                .map(|uri| uri.starts_with("tauri://") || uri.starts_with("http://tauri.localhost"))
                .unwrap_or(false);
            if ours && request.is::<UserMediaPermissionRequest>() {
                request.allow();
                return true;
            }
            false // everything else: WebKit's default, deny
        });
    })
}

// lib.rs (desktop-integration/example-app/src-tauri/src/lib.rs is this, built and tested):
//
// tauri::Builder::default()
//     .plugin(tauri_plugin_shell::init())
//     .manage(voice::VoiceSidecar::default())
//     .invoke_handler(tauri::generate_handler![
//         voice::voice_sidecar_spawn,
//         voice::voice_sidecar_request_stop,
//         voice::voice_sidecar_kill,
//         voice::voice_save_message
//     ])
//     .setup(|app| {
//         let db = app.path().app_data_dir()?.join("voice.sqlite3");
//         app.manage(voice::open_voice_db(&db)?);
//         #[cfg(target_os = "linux")]
//         voice::allow_microphone_on_linux(&app.get_webview_window("main").unwrap())?;
//         Ok(())
//     })
