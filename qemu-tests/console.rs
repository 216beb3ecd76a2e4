//! A serial console of a guest, reached over QEMU's UNIX socket, used as an administrator would:
//! wait for the prompt, type a command, read what it printed and its exit status.
//!
//! Everything the guest prints is appended to a log file (kept when a test fails). Every wait has
//! a deadline; a timeout is an error that says what was awaited and shows the tail of the output.

// Shared by the test target and the `make run` example, each of which uses a part.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the reader thread collected so far.
#[derive(Default)]
struct Received {
    data: Vec<u8>,
    closed: bool,
}

type Shared = Arc<(Mutex<Received>, Condvar)>;

/// One guest's serial console.
pub struct Console {
    name: String,
    stream: UnixStream,
    received: Shared,
    reader: Option<JoinHandle<()>>,
    /// Bytes of `received.data` already consumed by waits.
    cursor: usize,
    seq: u32,
    prompt: String,
}

impl Console {
    /// Connects to the console socket at `path` (QEMU creates it shortly after start), logging
    /// everything received to `log`.
    pub fn connect(
        name: &str,
        path: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Result<Console, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("{name}: console {}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let mut log = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let received: Shared = Arc::default();
        let mut input = stream.try_clone().map_err(|e| format!("{name}: {e}"))?;
        let shared = Arc::clone(&received);
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = input.read(&mut chunk).unwrap_or(0);
                let (lock, cond) = &*shared;
                let mut r = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    r.closed = true;
                    cond.notify_all();
                    return;
                }
                let bytes = chunk.get(..n).unwrap_or_default();
                let _ = log.write_all(bytes);
                r.data.extend_from_slice(bytes);
                cond.notify_all();
            }
        });
        Ok(Console {
            name: name.to_string(),
            stream,
            received,
            reader: Some(reader),
            cursor: 0,
            seq: 0,
            prompt: format!("{name}# "),
        })
    }

    /// Waits until `needle` appears after what was consumed; returns the text up to and
    /// including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.received;
        let mut r = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let rest = r.data.get(self.cursor..).unwrap_or_default();
            if let Some(at) = find(rest, needle.as_bytes()) {
                let end = self.cursor + at + needle.len();
                let text =
                    String::from_utf8_lossy(r.data.get(self.cursor..end).unwrap_or_default());
                self.cursor = end;
                return Ok(text.into_owned());
            }
            let now = Instant::now();
            if r.closed || now >= deadline {
                let tail = String::from_utf8_lossy(rest);
                let tail: String = tail
                    .chars()
                    .rev()
                    .take(600)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!(
                    "{}: {} waiting for {needle:?}; last output:\n{tail}",
                    self.name,
                    if r.closed {
                        "console closed"
                    } else {
                        "timed out"
                    }
                ));
            }
            r = cond
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Everything the guest printed so far, from the first byte of its boot.
    pub fn transcript(&self) -> String {
        let (lock, _) = &*self.received;
        let r = lock.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&r.data).replace('\r', "")
    }

    /// Types `text` (no newline added).
    pub fn type_text(&mut self, text: &str) -> Result<(), String> {
        self.stream
            .write_all(text.as_bytes())
            .map_err(|e| format!("{}: typing {text:?}: {e}", self.name))
    }

    /// Waits for the end of the boot and the shell prompt, then turns terminal echo off (which
    /// also turns off ash's line editing) so output is exactly what commands print.
    pub fn login(&mut self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        self.wait_for(" is up", timeout)?;
        let prompt = self.prompt.clone();
        self.wait_for(&prompt, Duration::from_secs(20))?;
        let booted = start.elapsed();
        self.type_text("stty -echo\n")?;
        self.wait_for(&prompt, Duration::from_secs(10))?;
        self.run("true", Duration::from_secs(10))?;
        Ok(booted)
    }

    /// Types `command` and returns its exit status and output (stdout and stderr).
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<(i32, String), String> {
        self.seq += 1;
        let marker = format!("@@{}@@", self.seq);
        // One line, so the shell prints no continuation prompt into the output.
        self.type_text(&format!("{{ {command}; }} 2>&1; echo \"{marker}$?@@\"\n"))?;
        let out = self
            .wait_for(&marker, timeout)
            .map_err(|e| format!("{e}\n(command: {command})"))?;
        let status = self.wait_for("@@", Duration::from_secs(5))?;
        let status = status.trim_end_matches("@@").trim().parse().unwrap_or(-1);
        let out = out
            .trim_end_matches(&marker)
            .replace('\r', "")
            .replace(&self.prompt, "")
            .trim_start_matches('\n')
            .to_string();
        Ok((status, out))
    }

    /// `run` that requires exit status 0.
    pub fn ok(&mut self, command: &str) -> Result<String, String> {
        match self.run(command, Duration::from_secs(30))? {
            (0, out) => Ok(out),
            (rc, out) => Err(format!("{}: `{command}` exited {rc}:\n{out}", self.name)),
        }
    }

    /// Polls `command` until its output contains `needle`; returns that output.
    pub fn until(
        &mut self,
        command: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, out) = self.run(command, Duration::from_secs(30))?;
            if out.contains(needle) {
                return Ok(out);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: `{command}` never showed {needle:?} within {timeout:?}; last:\n{out}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Hands the socket back (QEMU serves one client at a time): ends the reader thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
