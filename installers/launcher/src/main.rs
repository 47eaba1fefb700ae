//! Tauri sees one sidecar file per platform (`voice-sidecar-<target-triple>`), but the frozen
//! sidecar is a PyInstaller one-dir bundle (an executable plus `_internal/`), which starts in a
//! fraction of a one-file build's time and leaves nothing behind when killed. This launcher is the
//! file Tauri starts: it finds the bundle, which Tauri ships as a resource folder, and runs it.
//!
//! - Unix: `exec` replaces the launcher, so the pid Tauri holds is the sidecar's own and a kill
//!   reaches it directly.
//! - Windows: there is no `exec`. The launcher puts itself in a kill-on-close job object before
//!   starting the bundle, so the sidecar (and everything it starts) dies with the launcher even
//!   when Tauri terminates it without warning; it then waits and returns the sidecar's exit code.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The folder name of the one-dir bundle inside the app's resources.
const BUNDLE_DIR_NAME: &str = "voice-sidecar-bundle";
/// Overrides where the bundle is looked for (development, unusual installs).
const BUNDLE_DIR_VARIABLE: &str = "VOICE_SIDECAR_BUNDLE_DIR";
/// Tells the sidecar where the launcher is: Tauri puts livekit-server beside it.
const LAUNCHER_DIR_VARIABLE: &str = "VOICE_SIDECAR_LAUNCHER_DIR";
/// Exit code when the bundle is missing; docs/sidecar-protocol.md lists it.
const EXIT_BUNDLE_MISSING: u8 = 9;

fn bundle_executable_name() -> &'static str {
    if cfg!(windows) {
        "voice-sidecar.exe"
    } else {
        "voice-sidecar"
    }
}

/// Where Tauri puts resources relative to the sidecar, per platform and packaging.
fn candidate_bundle_dirs(exe_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![
        // Windows installers and `tauri dev`: resources sit beside the executables
        exe_dir.join(BUNDLE_DIR_NAME),
        // installers/build.py output: <out>/binaries and <out>/resources
        exe_dir.join("..").join("resources").join(BUNDLE_DIR_NAME),
        // macOS: Contents/MacOS -> Contents/Resources
        exe_dir.join("..").join("Resources").join(BUNDLE_DIR_NAME),
    ];
    // Linux .deb/.rpm/AppImage: usr/bin -> usr/lib/<product name>
    if let Ok(entries) = std::fs::read_dir(exe_dir.join("..").join("lib")) {
        let mut products: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        products.sort();
        dirs.extend(
            products
                .into_iter()
                .map(|product| product.join(BUNDLE_DIR_NAME)),
        );
    }
    dirs
}

fn find_bundle_executable(
    exe_dir: &Path,
    override_dir: Option<OsString>,
) -> Result<PathBuf, String> {
    let name = bundle_executable_name();
    if let Some(dir) = override_dir {
        let candidate = PathBuf::from(&dir).join(name);
        return if candidate.is_file() {
            Ok(candidate)
        } else {
            Err(format!(
                "{BUNDLE_DIR_VARIABLE} is set to {} but it holds no {name}; point it at the \
                 {BUNDLE_DIR_NAME} folder or unset it",
                PathBuf::from(dir).display()
            ))
        };
    }
    candidate_bundle_dirs(exe_dir)
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "the sidecar bundle ({BUNDLE_DIR_NAME}/) was not found beside {}; reinstall the \
                 app, or set {BUNDLE_DIR_VARIABLE} to its folder",
                exe_dir.display()
            )
        })
}

/// `canonicalize` on Windows returns a verbatim path (`\\?\C:\...`). Windows resolves no `..`
/// inside one, so the `..\resources` candidate would never match, and the sidecar would get
/// that form in VOICE_SIDECAR_LAUNCHER_DIR. The plain form names the same file.
fn without_verbatim_prefix(path: &str) -> Option<String> {
    if let Some(share) = path.strip_prefix(r"\\?\UNC\") {
        return Some(format!(r"\\{share}"));
    }
    let rest = path.strip_prefix(r"\\?\")?;
    let bytes = rest.as_bytes();
    let is_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    is_drive.then(|| rest.to_string())
}

fn plain_path(path: PathBuf) -> PathBuf {
    if !cfg!(windows) {
        return path;
    }
    match path.to_str().and_then(without_verbatim_prefix) {
        Some(plain) => PathBuf::from(plain),
        None => path,
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("voice-sidecar: error: {message}");
    ExitCode::from(EXIT_BUNDLE_MISSING)
}

fn main() -> ExitCode {
    let exe = match env::current_exe().and_then(|path| path.canonicalize()) {
        Ok(path) => plain_path(path),
        Err(error) => return fail(&format!("cannot tell where this launcher is: {error}")),
    };
    let exe_dir = exe.parent().unwrap_or(Path::new("."));
    let target = match find_bundle_executable(exe_dir, env::var_os(BUNDLE_DIR_VARIABLE)) {
        Ok(target) => target,
        Err(message) => return fail(&message),
    };
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    env::set_var(LAUNCHER_DIR_VARIABLE, exe_dir);
    platform::run(&target, &args)
}

#[cfg(unix)]
mod platform {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{Command, ExitCode};

    pub fn run(target: &Path, args: &[OsString]) -> ExitCode {
        // only returns on failure
        let error = Command::new(target).args(args).exec();
        if error.kind() == std::io::ErrorKind::PermissionDenied {
            // seen when an installer copies resources without their executable bit
            return super::fail(&format!(
                "{} is not executable (the installer dropped its permissions); reinstall the app",
                target.display()
            ));
        }
        super::fail(&format!("cannot start {}: {error}", target.display()))
    }
}

#[cfg(windows)]
mod platform {
    use std::ffi::{c_void, OsString};
    use std::os::windows::process::CommandExt;
    use std::path::Path;
    use std::process::{Command, ExitCode};

    type Handle = *mut c_void;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: u32 = 0x0000_2000;
    const JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS: i32 = 9;

    #[repr(C)]
    #[derive(Default)]
    struct BasicLimitInformation {
        per_process_user_time_limit: i64,
        per_job_user_time_limit: i64,
        limit_flags: u32,
        minimum_working_set_size: usize,
        maximum_working_set_size: usize,
        active_process_limit: u32,
        affinity: usize,
        priority_class: u32,
        scheduling_class: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct IoCounters {
        read_operation_count: u64,
        write_operation_count: u64,
        other_operation_count: u64,
        read_transfer_count: u64,
        write_transfer_count: u64,
        other_transfer_count: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct ExtendedLimitInformation {
        basic: BasicLimitInformation,
        io: IoCounters,
        process_memory_limit: usize,
        job_memory_limit: usize,
        peak_process_memory_used: usize,
        peak_job_memory_used: usize,
    }

    #[link(name = "kernel32")]
    extern "system" {
        fn CreateJobObjectW(attributes: *mut c_void, name: *const u16) -> Handle;
        fn SetInformationJobObject(job: Handle, class: i32, info: *mut c_void, length: u32) -> i32;
        fn AssignProcessToJobObject(job: Handle, process: Handle) -> i32;
        fn GetCurrentProcess() -> Handle;
    }

    /// Puts this process in a job that kills every member when its last handle closes: the
    /// handle is never closed, so it closes when this process ends, however it ends.
    fn join_kill_on_close_job() -> bool {
        unsafe {
            let job = CreateJobObjectW(std::ptr::null_mut(), std::ptr::null());
            if job.is_null() {
                return false;
            }
            let mut info = ExtendedLimitInformation::default();
            info.basic.limit_flags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            let set = SetInformationJobObject(
                job,
                JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
                (&mut info as *mut ExtendedLimitInformation).cast(),
                std::mem::size_of::<ExtendedLimitInformation>() as u32,
            );
            set != 0 && AssignProcessToJobObject(job, GetCurrentProcess()) != 0
        }
    }

    pub fn run(target: &Path, args: &[OsString]) -> ExitCode {
        if !join_kill_on_close_job() {
            // still usable: the sidecar also watches the app's pid (`up --parent-pid`)
            eprintln!("voice-sidecar: warning: no job object; the sidecar relies on --parent-pid");
        }
        // a console program started by a console-less parent would open a console window
        let status = Command::new(target)
            .args(args)
            .creation_flags(CREATE_NO_WINDOW)
            .status();
        match status {
            Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
            Err(error) => super::fail(&format!("cannot start {}: {error}", target.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = env::temp_dir().join(format!("launcher-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn place_bundle(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(bundle_executable_name()), b"").unwrap();
    }

    #[test]
    fn finds_bundle_beside_the_launcher() {
        let root = temp_dir("beside");
        place_bundle(&root.join(BUNDLE_DIR_NAME));
        let found = find_bundle_executable(&root, None).unwrap();
        assert_eq!(
            found,
            root.join(BUNDLE_DIR_NAME).join(bundle_executable_name())
        );
    }

    #[test]
    fn finds_bundle_in_linux_package_layout() {
        let root = temp_dir("linux");
        fs::create_dir_all(root.join("bin")).unwrap();
        place_bundle(
            &root
                .join("lib")
                .join("Private Assistant")
                .join(BUNDLE_DIR_NAME),
        );
        let found = find_bundle_executable(&root.join("bin"), None).unwrap();
        assert!(found.ends_with(
            Path::new("Private Assistant")
                .join(BUNDLE_DIR_NAME)
                .join(bundle_executable_name())
        ));
    }

    #[test]
    fn finds_bundle_in_macos_resources() {
        let root = temp_dir("macos");
        fs::create_dir_all(root.join("MacOS")).unwrap();
        place_bundle(&root.join("Resources").join(BUNDLE_DIR_NAME));
        assert!(find_bundle_executable(&root.join("MacOS"), None).is_ok());
    }

    #[test]
    fn missing_bundle_names_the_fix() {
        let root = temp_dir("missing");
        let error = find_bundle_executable(&root, None).unwrap_err();
        assert!(error.contains(BUNDLE_DIR_NAME) && error.contains(BUNDLE_DIR_VARIABLE));
    }

    #[test]
    fn verbatim_windows_paths_become_plain() {
        assert_eq!(
            without_verbatim_prefix(r"\\?\C:\Program Files\App").as_deref(),
            Some(r"C:\Program Files\App")
        );
        assert_eq!(
            without_verbatim_prefix(r"\\?\UNC\server\share\App").as_deref(),
            Some(r"\\server\share\App")
        );
        // device and volume paths have no plain form: they stay as they are
        assert_eq!(without_verbatim_prefix(r"\\?\Volume{1234}\App"), None);
        assert_eq!(without_verbatim_prefix(r"C:\already\plain"), None);
        assert_eq!(without_verbatim_prefix("/usr/bin"), None);
    }

    #[test]
    fn override_must_hold_the_executable() {
        let root = temp_dir("override");
        let error = find_bundle_executable(&root, Some(root.clone().into_os_string())).unwrap_err();
        assert!(error.contains(BUNDLE_DIR_VARIABLE));
        place_bundle(&root);
        assert!(find_bundle_executable(&root, Some(root.clone().into_os_string())).is_ok());
    }
}
