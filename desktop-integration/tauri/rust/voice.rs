// Rust side of the desktop integration: copy into src-tauri/src/ and register in lib.rs.
// Compiled and run in this repository as desktop-integration/example-app (a byte-identical
// copy, checked by tests/test_example_app_files.py); see ../../README.md, step 4.
//
// Cargo.toml:
//   tauri-plugin-shell = "~2.4"  # the npm package's minor version: `tauri build` checks
//   serde = { version = "1", features = ["derive"] }
//   rusqlite = { version = "0.32", features = ["bundled"] }   # or the app's own SQLite access
//   [target.'cfg(target_os = "linux")'.dependencies]
//   webkit2gtk = { version = "2", features = ["v2_40"] }      # the version wry already links

use std::sync::Mutex;

use serde::Deserialize;
use tauri::State;

/// The app's own process id, passed to `voice-sidecar up --parent-pid`.
#[tauri::command]
pub fn voice_app_pid() -> u32 {
    std::process::id()
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
pub fn voice_save_message(db: State<'_, VoiceDb>, message: SavedVoiceMessage) -> Result<(), String> {
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
//     .invoke_handler(tauri::generate_handler![voice::voice_app_pid, voice::voice_save_message])
//     .setup(|app| {
//         let db = app.path().app_data_dir()?.join("voice.sqlite3");
//         app.manage(voice::open_voice_db(&db)?);
//         #[cfg(target_os = "linux")]
//         voice::allow_microphone_on_linux(&app.get_webview_window("main").unwrap())?;
//         Ok(())
//     })
