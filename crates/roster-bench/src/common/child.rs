//! Running the real `roster` binary as a child process: a command to completion, measured for
//! wall time and peak memory, or the server, kept running until the benchmark stops it.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// GNU time reports the child's peak resident set exactly (from wait4's rusage), which polling
/// cannot promise: a peak in the last few milliseconds before exit would be missed.
const GNU_TIME: &str = "/usr/bin/time";

pub struct Roster {
    pub bin: PathBuf,
    /// Where the data is: `ROSTER_DATA_DIR` or `ROSTER_DATABASE_URL` and its key file.
    pub env: Vec<(String, String)>,
    /// Any one command taking longer is killed and the benchmark fails.
    pub timeout: Duration,
}

pub struct Outcome {
    pub wall: Duration,
    pub peak_rss_kib: Option<u64>,
    pub stdout: String,
    pub stderr: String,
}

impl Roster {
    fn prepare(&self, mut cmd: Command) -> Command {
        // Settings from the caller's environment must not point the child at other data.
        for var in [
            "ROSTER_DATA_DIR",
            "ROSTER_DATABASE_URL",
            "ROSTER_CONFIG",
            "ROSTER_MASTER_KEY",
            "ROSTER_MASTER_KEY_FILE",
            "ROSTER_LISTEN",
            "ROSTER_PUBLIC_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Run `roster ARGS` to completion; a failure carries the child's stderr.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<Outcome> {
        let rss_file = tempfile::NamedTempFile::new()?;
        let timed = Path::new(GNU_TIME).is_file();
        let mut cmd = if timed {
            let mut cmd = Command::new(GNU_TIME);
            cmd.arg("-f").arg("%M").arg("-o").arg(rss_file.path()).arg(&self.bin);
            cmd
        } else {
            Command::new(&self.bin)
        };
        cmd.args(args);
        let mut cmd = self.prepare(cmd);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());

        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {}", self.bin.display()))?;
        let pid = child.id().context("the child has no pid")?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut polled_hwm = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                _ = tick.tick(), if !timed => polled_hwm = polled_hwm.max(vm_hwm_kib(pid).unwrap_or(0)),
                _ = tokio::time::sleep_until(deadline) => {
                    kill_tree(pid, "KILL");
                    let _ = child.kill().await;
                    bail!("roster {} did not finish within {:?} and was killed", args.join(" "), self.timeout);
                }
            }
        };
        let wall = started.elapsed();
        let (stdout, stderr) = (stdout.await??, stderr.await??);
        if !status.success() {
            bail!("roster {} failed ({status}):\n{}", args.join(" "), stderr.trim_end());
        }
        let peak_rss_kib = if timed { time_rss(rss_file.path()) } else { Some(polled_hwm).filter(|&k| k > 0) };
        Ok(Outcome { wall, peak_rss_kib, stdout, stderr })
    }

    /// Start `roster ARGS` in the background, its output going to `log`.
    pub fn spawn(&self, args: &[&str], log: &Path) -> anyhow::Result<Child> {
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = self.prepare(Command::new(&self.bin));
        cmd.args(args).stdout(out.try_clone()?).stderr(out);
        cmd.spawn().with_context(|| format!("starting {}", self.bin.display()))
    }
}

fn drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> tokio::task::JoinHandle<std::io::Result<String>> {
    tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).await?;
        }
        Ok(text)
    })
}

/// GNU time writes `%M` (KiB) as the last line, after a note when the command failed.
fn time_rss(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().rev().find_map(|l| l.trim().parse().ok())
}

/// The peak resident set so far, from `/proc/<pid>/status`, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Signal a child and the processes it started (GNU time's child is `roster`). Only ids this
/// program spawned reach here.
pub fn kill_tree(pid: u32, signal: &str) {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let own = pid.to_string();
    for id in children.split_whitespace().chain(std::iter::once(own.as_str())) {
        let _ = std::process::Command::new("kill").arg(format!("-{signal}")).arg(id).stderr(Stdio::null()).status();
    }
}

/// Stop the server as Ctrl-C would (it shuts down gracefully), or kill it after 10 s.
pub async fn stop(mut child: Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        kill_tree(pid, "INT");
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => {
            status?;
        }
        Err(_) => child.kill().await?,
    }
    Ok(())
}

/// The value after `label` on a line of the child's output, e.g. `Password:` from `org create`.
pub fn field(output: &str, label: &str) -> anyhow::Result<String> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|rest| rest.trim().to_owned()))
        .with_context(|| format!("no '{label}' in:\n{output}"))
}
