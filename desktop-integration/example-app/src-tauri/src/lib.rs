// Step 4 of ../../../README.md: the shell plugin, the sidecar and transcript commands, and the microphone hook.
mod voice;

use tauri::Manager;

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_shell::init())
        .manage(voice::VoiceSidecar::default())
        .invoke_handler(tauri::generate_handler![
            voice::voice_sidecar_spawn,
            voice::voice_sidecar_request_stop,
            voice::voice_sidecar_kill,
            voice::voice_save_message
        ])
        .setup(|app| {
            let db = app.path().app_data_dir()?.join("voice.sqlite3");
            app.manage(voice::open_voice_db(&db)?);
            #[cfg(target_os = "linux")]
            voice::allow_microphone_on_linux(&app.get_webview_window("main").unwrap())?;
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("error while running the voice example app");
}
