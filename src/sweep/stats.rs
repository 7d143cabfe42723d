//! Means and 95% confidence intervals over seeds: Student's t interval
//! mean ± t(0.975, n-1) · s / √n, with s the sample standard deviation
//! (n - 1 in the denominator). With one value there is no interval.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean over n values and the half-width of its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    /// Number of values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Half-width of the 95% t interval (`None` for a single value).
    pub half_width: Option<f64>,
}

impl MeanCi {
    /// Lower and upper ends of the interval (the mean twice without one).
    pub fn bounds(&self) -> (f64, f64) {
        let h = self.half_width.unwrap_or(0.0);
        (self.mean - h, self.mean + h)
    }
}

/// The t quantile t(0.975, df).
pub fn t975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64)
        .expect("df >= 1 is a valid Student t")
        .inverse_cdf(0.975)
}

/// Mean and 95% confidence interval of `values` (`None` when empty). An
/// infinite value makes the mean infinite and leaves no interval.
pub fn mean_ci95(values: &[f64]) -> Option<MeanCi> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if !mean.is_finite() || n < 2 {
        return Some(MeanCi {
            n,
            mean,
            half_width: None,
        });
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    Some(MeanCi {
        n,
        mean,
        half_width: Some(t975(n - 1) * var.sqrt() / (n as f64).sqrt()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_t_quantiles() {
        // Tables of Student's t: t(0.975, 1) = 12.706, t(0.975, 2) = 4.303, t(0.975, 4) = 2.776.
        assert!((t975(1) - 12.7062).abs() < 1e-3);
        assert!((t975(2) - 4.3027).abs() < 1e-3);
        assert!((t975(4) - 2.7764).abs() < 1e-3);
    }

    #[test]
    fn one_value_has_no_interval_and_equal_values_a_zero_one() {
        assert_eq!(mean_ci95(&[]), None);
        assert_eq!(mean_ci95(&[3.0]).unwrap().half_width, None);
        let c = mean_ci95(&[2.0, 2.0, 2.0]).unwrap();
        assert_eq!((c.mean, c.half_width), (2.0, Some(0.0)));
    }
}
