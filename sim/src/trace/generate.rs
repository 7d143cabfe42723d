//! A synthetic Azure-like trace, offline and seeded, in the MAF1 schema, for
//! users without the real files and for tests that need size. It has the
//! statistics that matter for serving (Shahrad et al., "Serverless in the
//! Wild", ATC 2020):
//! - heavy-tailed popularity: a function's mean daily invocations are
//!   log-normal, log10 ~ Normal(1.5, 1.7) (median ~30 a day; ~45% of
//!   functions invoked at most once an hour on average, ~80% at most once a
//!   minute, a few millions of times a day), capped at 10^8;
//! - triggers in the paper's proportions (http 55%, timer 15.6%, queue 15.2%,
//!   orchestration 6.9%, storage 2.8%, event 2.2%, others 2.3%); timer
//!   functions fire once every 1 to 1440 minutes, exactly on schedule;
//! - diurnal variation: each other function's rate follows
//!   1 + a sin(2 pi (minute - peak) / 1440 + pi/2), a ~ U(0.1, 0.7), peaks around 14:00;
//! - per-minute burstiness: half of the other functions alternate between on
//!   periods (mean 2 + Exp(10) minutes, rate 1/q times the mean) and silent
//!   periods, on a fraction q ~ U(0.1, 0.6) of the minutes; each minute's
//!   count is Poisson given the rate; each day has its own level (log-normal, sigma 0.3).
//!
//! Row f of day d depends only on (seed, f, d), so any part can be generated
//! alone, and every pass gives the same rows. A full day (46,400 functions)
//! is ~147 MB, like day 1 of the real trace (~139 MB).

use super::maf1::{ID_COLUMNS, MINUTES_PER_DAY};
use crate::rng::{Rng, splitmix64};
use std::io::Write;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenConfig {
    /// Number of functions.
    pub functions: usize,
    /// Number of days.
    pub days: usize,
    /// Seed of every draw.
    pub seed: u64,
    /// Multiplies every function's rate except timers'.
    pub scale: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            functions: FULL_DAY_FUNCTIONS,
            days: 1,
            seed: 1,
            scale: 1.0,
        }
    }
}

/// Functions in a full-size day (day 1 of the real trace has about this many).
pub const FULL_DAY_FUNCTIONS: usize = 46_400;

/// Trigger names of the MAF1 schema and their shares of functions.
pub const TRIGGERS: [(&str, f64); 7] = [
    ("http", 0.550),
    ("timer", 0.156),
    ("queue", 0.152),
    ("orchestration", 0.069),
    ("storage", 0.028),
    ("event", 0.022),
    ("others", 0.023),
];

const TIMER_PERIODS: [(u32, f64); 9] = [
    (1, 0.20),
    (5, 0.20),
    (10, 0.10),
    (15, 0.10),
    (30, 0.10),
    (60, 0.15),
    (120, 0.05),
    (360, 0.05),
    (1440, 0.05),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Timer {
        period: u32,
        phase: u32,
    },
    Poisson {
        daily: f64,
        amp: f64,
        peak: f64,
        burst: Option<(f64, f64)>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Function {
    owner: u32,
    app: u32,
    trigger: u8,
    kind: Kind,
}

/// The generator: per-function parameters, drawn once; rows on demand.
pub struct Generator {
    cfg: GenConfig,
    functions: Vec<Function>,
    /// sin and cos of 2 pi m / 1440 for each minute m.
    wave: Vec<(f64, f64)>,
}

fn pick<T: Copy>(rng: &mut Rng, table: &[(T, f64)]) -> T {
    let total: f64 = table.iter().map(|x| x.1).sum();
    let mut u = rng.uniform() * total;
    for &(v, w) in table {
        if u < w {
            return v;
        }
        u -= w;
    }
    table[table.len() - 1].0
}

/// ln(k!) for the Poisson sampler.
fn ln_factorial(k: f64) -> f64 {
    if k < 10.0 {
        let mut f = 1.0;
        let mut i = 2.0;
        while i <= k {
            f *= i;
            i += 1.0;
        }
        f.ln()
    } else {
        // Stirling's series; error below 1e-10 for k >= 10.
        let n = k + 1.0;
        (n - 0.5) * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * n)
            - 1.0 / (360.0 * n * n * n)
    }
}

/// A Poisson draw with mean `lam`: inversion below 10, Hörmann's PTRS above.
pub fn poisson(rng: &mut Rng, lam: f64) -> u64 {
    if lam <= 0.0 {
        return 0;
    }
    if lam < 10.0 {
        let l = (-lam).exp();
        let mut p = rng.uniform_pos();
        let mut k = 0;
        while p > l {
            p *= rng.uniform_pos();
            k += 1;
        }
        return k;
    }
    let slam = lam.sqrt();
    let loglam = lam.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.uniform() - 0.5;
        let v = rng.uniform_pos();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lam + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln() <= -lam + k * loglam - ln_factorial(k)
        {
            return k as u64;
        }
    }
}

/// 64 hex digits derived from (seed, kind, id): an id that looks like the trace's HMACs.
fn push_hash(out: &mut Vec<u8>, seed: u64, kind: u64, id: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut st = seed ^ kind.rotate_left(32) ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4 {
        let x = splitmix64(&mut st);
        for i in (0..16).rev() {
            out.push(HEX[((x >> (i * 4)) & 15) as usize]);
        }
    }
}

fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    while v > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&tmp[i..]);
}

impl Generator {
    /// Draws the functions' parameters.
    pub fn new(cfg: GenConfig) -> Generator {
        let mut rng = Rng::derive(cfg.seed, "gen/functions");
        let mut functions = Vec::with_capacity(cfg.functions);
        let (mut owner, mut app) = (0u32, 0u32);
        let (mut app_left, mut owner_left) = (0u32, 0u32);
        for _ in 0..cfg.functions {
            if app_left == 0 {
                // A new app with a geometric number of functions (mean 2.5),
                // owned by a new owner with a geometric number of apps (mean 1.5).
                app += 1;
                app_left = 1 + (rng.exp(1.0) * 1.5) as u32;
                if owner_left == 0 {
                    owner += 1;
                    owner_left = 1 + (rng.exp(1.0) * 0.5) as u32;
                }
                owner_left -= 1;
            }
            app_left -= 1;
            let trigger = pick(
                &mut rng,
                &TRIGGERS
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (i as u8, t.1))
                    .collect::<Vec<_>>(),
            );
            let kind = if TRIGGERS[trigger as usize].0 == "timer" {
                let period = pick(&mut rng, &TIMER_PERIODS);
                Kind::Timer {
                    period,
                    phase: rng.below(period as u64) as u32,
                }
            } else {
                let daily = 10f64.powf(1.5 + 1.7 * rng.normal()).min(1e8);
                let amp = 0.1 + 0.6 * rng.uniform();
                let peak = 840.0 + 120.0 * rng.normal();
                let burst = (rng.uniform() < 0.5).then(|| {
                    let q = 0.1 + 0.5 * rng.uniform();
                    let on_len = 2.0 + rng.exp(10.0);
                    (q, on_len)
                });
                Kind::Poisson {
                    daily,
                    amp,
                    peak,
                    burst,
                }
            };
            functions.push(Function {
                owner,
                app,
                trigger,
                kind,
            });
        }
        let wave = (0..MINUTES_PER_DAY)
            .map(|m| (2.0 * std::f64::consts::PI * m as f64 / MINUTES_PER_DAY as f64).sin_cos())
            .collect();
        Generator {
            cfg,
            functions,
            wave,
        }
    }

    /// The configuration.
    pub fn config(&self) -> GenConfig {
        self.cfg
    }

    /// Fills `out` (1440 minutes) with function `f`'s counts on day `day`.
    pub fn fill_row(&self, f: usize, day: usize, out: &mut [u32]) {
        let func = &self.functions[f];
        match func.kind {
            Kind::Timer { period, phase } => {
                for (m, c) in out.iter_mut().enumerate() {
                    *c = u32::from((day * MINUTES_PER_DAY + m) as u32 % period == phase);
                }
            }
            Kind::Poisson {
                daily,
                amp,
                peak,
                burst,
            } => {
                let mut rng = Rng::derive(self.cfg.seed, &format!("gen/{f}/{day}"));
                let level = (0.3 * rng.normal() - 0.045).exp();
                let base = daily / MINUTES_PER_DAY as f64 * self.cfg.scale * level;
                // sin(x - p + pi/2) = cos(x - p) = cos x cos p + sin x sin p
                let phi = 2.0 * std::f64::consts::PI * peak / MINUTES_PER_DAY as f64;
                let (sp, cp) = phi.sin_cos();
                let (mut on, p_off, p_on, mult) = match burst {
                    Some((q, on_len)) => {
                        let p_off = 1.0 / on_len;
                        let p_on = (q / (1.0 - q) * p_off).min(1.0);
                        (rng.uniform() < q, p_off, p_on, 1.0 / q)
                    }
                    None => (true, 0.0, 0.0, 1.0),
                };
                for (m, c) in out.iter_mut().enumerate() {
                    if burst.is_some() {
                        let u = rng.uniform();
                        on = if on { u >= p_off } else { u < p_on };
                    }
                    if !on {
                        *c = 0;
                        continue;
                    }
                    let (s, co) = self.wave[m];
                    let lam = base * mult * (1.0 + amp * (co * cp + s * sp));
                    *c = poisson(&mut rng, lam).min(u32::MAX as u64) as u32;
                }
            }
        }
    }

    /// Writes day `day` in the MAF1 schema (`invocations_per_function_md.anon.dNN.csv`).
    pub fn write_day(&self, day: usize, w: &mut dyn Write) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(1 << 14);
        line.extend_from_slice(ID_COLUMNS.join(",").as_bytes());
        for m in 1..=MINUTES_PER_DAY as u32 {
            line.push(b',');
            push_u32(&mut line, m);
        }
        line.push(b'\n');
        w.write_all(&line)?;
        let mut row = vec![0u32; MINUTES_PER_DAY];
        for (f, func) in self.functions.iter().enumerate() {
            line.clear();
            push_hash(&mut line, self.cfg.seed, 1, func.owner as u64);
            line.push(b',');
            push_hash(&mut line, self.cfg.seed, 2, func.app as u64);
            line.push(b',');
            push_hash(&mut line, self.cfg.seed, 3, f as u64);
            line.push(b',');
            line.extend_from_slice(TRIGGERS[func.trigger as usize].0.as_bytes());
            self.fill_row(f, day, &mut row);
            for &c in &row {
                line.push(b',');
                push_u32(&mut line, c);
            }
            line.push(b'\n');
            w.write_all(&line)?;
        }
        Ok(())
    }

    /// The standard file name of day `day` (0-based): `invocations_per_function_md.anon.d01.csv` for day 0.
    pub fn day_file_name(day: usize) -> String {
        format!("invocations_per_function_md.anon.d{:02}.csv", day + 1)
    }
}

impl super::mapping::MinuteSource for Generator {
    fn minutes(&self) -> usize {
        self.cfg.days * MINUTES_PER_DAY
    }

    fn pass(&mut self, f: &mut super::mapping::RowFn<'_>) -> crate::Result<usize> {
        let mut row = vec![0u32; MINUTES_PER_DAY];
        for day in 0..self.cfg.days {
            for func in 0..self.functions.len() {
                self.fill_row(func, day, &mut row);
                f(func, day * MINUTES_PER_DAY, &row)?;
            }
        }
        Ok(self.functions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::maf1::Reader;
    use std::path::Path;

    #[test]
    fn poisson_has_its_mean_and_variance() {
        let mut rng = Rng::new(5);
        for lam in [0.02, 0.7, 4.0, 25.0, 900.0] {
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lam) as f64).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
            let se = (lam / n as f64).sqrt();
            assert!((m - lam).abs() < 5.0 * se, "mean {m} for {lam}");
            assert!((v / lam - 1.0).abs() < 0.06, "variance {v} for {lam}");
        }
    }

    #[test]
    fn rows_are_reproducible_and_the_file_parses() {
        let g = Generator::new(GenConfig {
            functions: 300,
            days: 1,
            seed: 3,
            scale: 1.0,
        });
        let mut a = vec![0; MINUTES_PER_DAY];
        let mut b = vec![0; MINUTES_PER_DAY];
        g.fill_row(17, 0, &mut a);
        Generator::new(g.config()).fill_row(17, 0, &mut b);
        assert_eq!(a, b);
        let mut bytes = Vec::new();
        g.write_day(0, &mut bytes).unwrap();
        let mut r =
            Reader::new(Box::new(std::io::Cursor::new(bytes)), Path::new("gen.csv")).unwrap();
        let mut n = 0;
        let mut triggers = std::collections::BTreeSet::new();
        while let Some(row) = r.next_row().unwrap() {
            assert_eq!(row.function.len(), 64);
            triggers.insert(row.trigger.to_string());
            if n == 17 {
                assert_eq!(row.counts, &a[..]);
            }
            n += 1;
        }
        assert_eq!(n, 300);
        assert!(
            triggers.contains("http") && triggers.contains("timer"),
            "{triggers:?}"
        );
    }
}
