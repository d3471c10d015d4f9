//! Frame-time statistics for `--frame-stats`.

use std::time::{Duration, Instant};

/// Frame intervals (what the user sees) and the part of each frame spent building the UI (the
/// rest is rendering and waiting), split by whether the worker was computing.
#[derive(Default)]
pub(super) struct FrameStats {
    last: Option<Instant>,
    busy: Vec<Duration>,
    idle: Vec<Duration>,
    build: Vec<Duration>,
}

impl FrameStats {
    pub(super) fn tick(&mut self, busy: bool) {
        let now = Instant::now();
        if let Some(last) = self.last.replace(now) {
            let bucket = if busy { &mut self.busy } else { &mut self.idle };
            bucket.push(now - last);
        }
    }

    pub(super) fn built(&mut self, started: Instant) {
        self.build.push(started.elapsed());
    }

    pub(super) fn report(&self) -> String {
        let line = |name: &str, v: &[Duration]| {
            if v.is_empty() {
                return format!("{name}: no frames");
            }
            let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
            ms.sort_by(f64::total_cmp);
            let mean = ms.iter().sum::<f64>() / ms.len() as f64;
            let p95 = ms[(ms.len() * 95 / 100).min(ms.len() - 1)];
            format!(
                "{name}: {} frames, mean {mean:.1} ms ({:.0} fps), p95 {p95:.1} ms",
                ms.len(),
                1e3 / mean
            )
        };
        format!(
            "frame times — {}; {}; UI build — {}",
            line("while computing", &self.busy),
            line("idle", &self.idle),
            line("all", &self.build)
        )
    }
}
