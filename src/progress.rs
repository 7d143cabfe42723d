//! Progress on stderr, the same for every long command (simulate, bench,
//! replay, validate, sweep, figures): work is weighed by what it costs (for
//! simulations, the requests they simulate; for real-time runs, seconds), so
//! that the ETA holds when light and heavy tasks mix. On a terminal an
//! indicatif bar with the elapsed time and the ETA, shown once the work has
//! taken `delay`; otherwise (a log, a batch job) a plain line at every tenth
//! of the work, and at least every minute, once the work has taken `delay`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bar positions per unit of fraction.
const SCALE: f64 = 10_000.0;
/// Longest silence between two plain lines.
const PLAIN_EVERY: Duration = Duration::from_secs(60);

/// Progress of one long command.
pub struct Progress {
    label: String,
    total: f64,
    items: usize,
    delay: Duration,
    terminal: bool,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    done: f64,
    items_done: usize,
    stage: String,
    bar: Option<ProgressBar>,
    /// The next tenth at which a plain line is due, and when the last line was.
    next_tenth: usize,
    last_line: Instant,
}

impl Progress {
    /// Progress of `total` units of work in `items` tasks (0: one task),
    /// reported from `delay` on.
    pub fn new(label: impl Into<String>, total: f64, items: usize, delay: Duration) -> Self {
        Progress::with_terminal(label, total, items, delay, std::io::stderr().is_terminal())
    }

    /// As `new`, saying whether stderr is a terminal (tests).
    pub fn with_terminal(
        label: impl Into<String>,
        total: f64,
        items: usize,
        delay: Duration,
        terminal: bool,
    ) -> Self {
        let now = Instant::now();
        Progress {
            label: label.into(),
            total: if total.is_finite() && total > 0.0 {
                total
            } else {
                1.0
            },
            items,
            delay,
            terminal,
            started: now,
            state: Mutex::new(State {
                done: 0.0,
                items_done: 0,
                stage: String::new(),
                bar: None,
                next_tenth: 1,
                last_line: now,
            }),
        }
    }

    /// `work` more units are done (and one more task if `item`).
    pub fn advance(&self, work: f64, item: bool) {
        let mut s = self.state.lock().expect("not poisoned");
        s.done += work.max(0.0);
        s.items_done += item as usize;
        self.print(&mut s);
    }

    /// `work` units are done in all.
    pub fn set(&self, work: f64) {
        let mut s = self.state.lock().expect("not poisoned");
        s.done = work.max(0.0);
        self.print(&mut s);
    }

    /// Says what runs now (shown after the label).
    pub fn stage(&self, what: &str) {
        let mut s = self.state.lock().expect("not poisoned");
        s.stage = what.to_string();
        self.print(&mut s);
    }

    fn print(&self, s: &mut State) {
        if let Some(line) = self.show(s) {
            eprintln!("{line}");
        }
    }

    fn message(&self, s: &State) -> String {
        let mut m = self.label.clone();
        if self.items > 0 {
            m.push_str(&format!(" {}/{}", s.items_done, self.items));
        }
        if !s.stage.is_empty() {
            m.push_str(&format!(" ({})", s.stage));
        }
        m
    }

    /// Updates the bar, or returns the plain line that is due.
    fn show(&self, s: &mut State) -> Option<String> {
        let fraction = (s.done / self.total).clamp(0.0, 1.0);
        let elapsed = self.started.elapsed();
        if elapsed < self.delay {
            return None;
        }
        if self.terminal {
            if s.bar.is_none() && fraction < 1.0 {
                let bar = ProgressBar::new(SCALE as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {percent:>3}% {elapsed} elapsed, eta {eta}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                s.bar = Some(bar);
            }
            if let Some(b) = &s.bar {
                b.set_message(self.message(s));
                b.set_position((fraction * SCALE) as u64);
            }
            return None;
        }
        let tenth = (fraction * 10.0).floor() as usize;
        let due = tenth >= s.next_tenth || s.last_line.elapsed() >= PLAIN_EVERY;
        due.then(|| {
            s.next_tenth = tenth + 1;
            s.last_line = Instant::now();
            self.line(s, fraction, elapsed)
        })
    }

    /// A plain progress line.
    fn line(&self, s: &State, fraction: f64, elapsed: Duration) -> String {
        let el = elapsed.as_secs_f64();
        let eta = if fraction > 0.0 {
            format!("{:.0} s", el / fraction * (1.0 - fraction))
        } else {
            "?".into()
        };
        format!(
            "{}: {:.0}% done, {el:.0} s elapsed, eta {eta}",
            self.message(s),
            fraction * 100.0
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Ok(s) = self.state.get_mut()
            && let Some(b) = s.bar.take()
        {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain lines of a progress that is not on a terminal.
    fn lines(p: &Progress, steps: &[(f64, bool)]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|&(w, item)| {
                let mut s = p.state.lock().unwrap();
                s.done += w;
                s.items_done += item as usize;
                p.show(&mut s)
            })
            .collect()
    }

    #[test]
    fn plain_lines_come_at_each_tenth_of_the_weighed_work() {
        let p = Progress::with_terminal("sweep t: points", 100.0, 4, Duration::ZERO, false);
        // One heavy point (70% of the work), then three light ones.
        let l = lines(
            &p,
            &[(70.0, true), (10.0, true), (10.0, true), (10.0, true)],
        );
        assert_eq!(l.len(), 4, "{l:?}");
        assert!(l[0].starts_with("sweep t: points 1/4: 70% done, "), "{l:?}");
        assert!(
            l[3].starts_with("sweep t: points 4/4: 100% done, "),
            "{l:?}"
        );
        assert!(l[3].ends_with("eta 0 s"), "{l:?}");
        // Small steps within one tenth print nothing more.
        let p = Progress::with_terminal("x", 1000.0, 0, Duration::ZERO, false);
        assert_eq!(lines(&p, &[(1.0, false); 99]).len(), 0);
        assert_eq!(lines(&p, &[(1.0, false)]).len(), 1);
    }

    #[test]
    fn nothing_before_the_delay() {
        let p = Progress::with_terminal("x", 1.0, 0, Duration::from_secs(3600), false);
        assert!(lines(&p, &[(0.5, false), (0.5, false)]).is_empty());
    }
}
