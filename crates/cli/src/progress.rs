//! Progress on standard error for long reads: bytes done, percentage when the size is known,
//! and speed. Shown only when stderr is a terminal, redrawn four times a second by a
//! background thread so the reading loop never pays for it.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `consumed` out of `total` bytes, or does nothing when `enabled` is
    /// false or stderr is not a terminal.
    pub fn start(enabled: bool, consumed: Arc<AtomicU64>, total: Option<u64>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = (enabled && std::io::stderr().is_terminal()).then(|| {
            let done = done.clone();
            std::thread::spawn(move || draw_until(&done, &consumed, total))
        });
        Progress { done, thread }
    }

    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn draw_until(done: &AtomicBool, consumed: &AtomicU64, total: Option<u64>) {
    let started = Instant::now();
    let mut drawn = false;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let bytes = consumed.load(Ordering::Relaxed);
        let line = render(bytes, total, started.elapsed());
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
        drawn = true;
    }
    if drawn {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

fn render(bytes: u64, total: Option<u64>, elapsed: Duration) -> String {
    let mb = bytes as f64 / 1e6;
    let rate = mb / elapsed.as_secs_f64().max(1e-3);
    match total {
        Some(total) if total > 0 => format!(
            "reading: {mb:.0} / {:.0} MB ({:.0}%), {rate:.0} MB/s",
            total as f64 / 1e6,
            100.0 * bytes as f64 / total as f64
        ),
        _ => format!("reading: {mb:.0} MB, {rate:.0} MB/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_percentage_when_size_known() {
        let line = render(50_000_000, Some(200_000_000), Duration::from_secs(1));
        assert_eq!(line, "reading: 50 / 200 MB (25%), 50 MB/s");
        assert_eq!(
            render(3_000_000, None, Duration::from_secs(2)),
            "reading: 3 MB, 2 MB/s"
        );
    }
}
