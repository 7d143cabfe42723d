//! A progress bar on stderr for long runs: shown only when stderr is a
//! terminal and the run has taken more than a second.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Reports the fraction done of one long task.
pub struct Progress {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Progress {
    /// A progress reporter for a task called `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Progress {
            label: label.into(),
            started: Instant::now(),
            bar: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// The task is `fraction` done.
    pub fn update(&mut self, fraction: f64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() > Duration::from_secs(1) && fraction < 1.0 {
            let bar = ProgressBar::new(1000);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% eta {eta}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(self.label.clone());
            self.bar = Some(bar);
        }
        if let Some(b) = &self.bar {
            b.set_position((fraction.clamp(0.0, 1.0) * 1000.0) as u64);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
