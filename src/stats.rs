//! Intervals that are honest about what is random. With a path pair per image, every image is
//! an independent trial (a random image under random paths) and an interval over images covers
//! both; with one pair per batch, the images of a batch share their paths, so the batch is the
//! independent unit and the interval is taken over batches.

use serde::{Deserialize, Serialize};

/// A share with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

const Z95: f64 = 1.959_963_984_540_054;

impl Proportion {
    /// Wilson score interval at 95%: well behaved near 0 and 1, unlike Wald.
    pub fn wilson(successes: usize, trials: usize) -> Self {
        if trials == 0 {
            return Self::unknown();
        }
        let z = Z95;
        let n = trials as f64;
        let p = successes as f64 / n;
        let denom = 1.0 + z * z / n;
        let centre = (p + z * z / (2.0 * n)) / denom;
        let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
        Self {
            value: p,
            low: (centre - half).max(0.0),
            high: (centre + half).min(1.0),
        }
    }

    /// The ratio Σ successes / Σ size over independent clusters (`(successes, size)` each,
    /// successes possibly fractional), with a 95% interval from the clusters' spread: the
    /// linearised (ratio-estimator) variance and Student's t with one fewer degree of freedom
    /// than clusters. Fewer than two clusters give the whole range.
    pub fn clustered(clusters: &[(f64, f64)]) -> Self {
        let size: f64 = clusters.iter().map(|c| c.1).sum();
        if size <= 0.0 {
            return Self::unknown();
        }
        let p = clusters.iter().map(|c| c.0).sum::<f64>() / size;
        let b = clusters.len();
        if b < 2 {
            return Self {
                value: p,
                low: 0.0,
                high: 1.0,
            };
        }
        let spread: f64 = clusters.iter().map(|(x, n)| (x - p * n).powi(2)).sum();
        let se = (b as f64 / (b as f64 - 1.0) * spread).sqrt() / size;
        let half = student_t95(b - 1) * se;
        Self {
            value: p,
            low: (p - half).max(0.0),
            high: (p + half).min(1.0),
        }
    }

    fn unknown() -> Self {
        Self {
            value: 0.0,
            low: 0.0,
            high: 1.0,
        }
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom (tabulated to 30, then
/// the normal's, which is within 0.08 of it from there on).
fn student_t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => Z95,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_hand_computed_interval() {
        // 8 of 10, z² = 3.8415: centre (0.8 + 0.1921)/1.3841 = 0.7167, half
        // 1.96·√(0.016 + 0.0096)/1.3841 = 0.2266 → [0.4902, 0.9433].
        let p = Proportion::wilson(8, 10);
        assert!(
            (p.low - 0.4902).abs() < 5e-4 && (p.high - 0.9433).abs() < 5e-4,
            "{p:?}"
        );
    }

    #[test]
    fn clustered_interval_reflects_the_spread_between_clusters() {
        // Two batches of 100 at 20% and 40%: p = 0.3, spread (20−30)² + (40−30)² = 200,
        // se = √(2·200)/200 = 0.1, half = 12.706 · 0.1 → the whole range.
        let wide = Proportion::clustered(&[(20.0, 100.0), (40.0, 100.0)]);
        assert!((wide.value - 0.3).abs() < 1e-12);
        assert_eq!((wide.low, wide.high), (0.0, 1.0));
        // Eight batches that agree exactly: no spread, a zero-width interval.
        let same = Proportion::clustered(&[(30.0, 100.0); 8]);
        assert_eq!((same.low, same.high), (0.3, 0.3));
        // Batches at 25% and 35% alternating (8 of them): spread 8·25 = 200,
        // se = √(8/7·200)/800 = 0.018898, half = 2.365 · se = 0.044694.
        let mixed: Vec<(f64, f64)> = (0..8)
            .map(|i| (if i % 2 == 0 { 25.0 } else { 35.0 }, 100.0))
            .collect();
        let p = Proportion::clustered(&mixed);
        assert!((p.high - p.value - 0.044694).abs() < 1e-5, "{p:?}");
        // Per-image clusters of size 1 with 0/1 outcomes approach the binomial width.
        let images: Vec<(f64, f64)> = (0..1000).map(|i| (f64::from(i % 2 == 0), 1.0)).collect();
        let p = Proportion::clustered(&images);
        let wilson = Proportion::wilson(500, 1000);
        assert!(((p.high - p.low) - (wilson.high - wilson.low)).abs() < 1e-3);
    }
}
