//! Stands in for the frozen `voice-sidecar.exe` when tests run the launcher's Windows code under
//! Wine: it reports what the launcher handed it and exits with the code it is asked for.
//!
//! `sidecar_stand_in CODE [MODE] ...`: prints its arguments, VOICE_SIDECAR_LAUNCHER_DIR and
//! whether it runs inside a job object, then exits with CODE. MODE `sleep` waits a minute
//! first; MODE `spawn` starts a copy of itself in `sleep` mode (outside any job of its own)
//! and then sleeps too, which shows what happens to a child whose parent is killed.

use std::ffi::c_void;
use std::io::Write;
use std::time::Duration;

#[link(name = "kernel32")]
extern "system" {
    fn IsProcessInJob(process: *mut c_void, job: *mut c_void, result: *mut i32) -> i32;
    fn GetCurrentProcess() -> *mut c_void;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut in_job = 0;
    let asked = unsafe { IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut in_job) };
    let mut out = std::io::stdout();
    writeln!(out, "args={args:?}").unwrap();
    writeln!(out, "launcher_dir={}", std::env::var("VOICE_SIDECAR_LAUNCHER_DIR").unwrap_or_default()).unwrap();
    writeln!(out, "in_job={}", asked != 0 && in_job != 0).unwrap();
    let code: i32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0);
    match args.get(1).map(String::as_str) {
        Some("spawn") => {
            let me = std::env::current_exe().unwrap();
            let mut rest: Vec<String> = args[2..].to_vec();
            rest.insert(0, "sleep".into());
            rest.insert(0, "0".into());
            let child = std::process::Command::new(me).args(&rest).spawn().unwrap();
            writeln!(out, "child={}", child.id()).unwrap();
            writeln!(out, "ready").unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        Some("sleep") => {
            writeln!(out, "ready").unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        _ => {}
    }
    out.flush().unwrap();
    std::process::exit(code);
}
