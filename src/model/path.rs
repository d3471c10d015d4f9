//! Paths: the choice of one normalization candidate per random layer.
//!
//! An RNA network with L random layers and k candidates is an ensemble of k^L weight-sharing
//! sub-networks; a [`Path`] names one of them. Layers are numbered in *network order*: the order
//! in which a forward pass meets them (stem first; within a residual block `norm1`, `norm2`, then
//! the shortcut's norm).
//!
//! Text form: one character per layer, the candidate index in base 36 (`0`–`9`, `a`–`z`), with
//! `-` between stages for readability, e.g. `0-011010-100110-...`. Parsing ignores `-`, `_`, `.`
//! and whitespace, so any grouping pastes back.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ModelError;
use super::norm::NormKind;
use crate::rng::SeededRng;

/// One random layer of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Human-readable name, e.g. `stem`, `layer1.0.norm1`, `layer2.0.shortcut`.
    pub name: String,
    /// Key prefix of its parameters in model files (the official PyTorch module path).
    pub key: String,
    pub channels: usize,
    /// Index of the stage the layer belongs to (0 for the stem), for grouping in text and views.
    pub stage: usize,
}

/// A choice of candidate for every random layer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    choices: Vec<u8>,
}

impl Path {
    pub fn new(choices: Vec<u8>) -> Self {
        Self { choices }
    }

    pub fn choices(&self) -> &[u8] {
        &self.choices
    }

    pub fn len(&self) -> usize {
        self.choices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.choices.is_empty()
    }

    pub fn get(&self, layer: usize) -> usize {
        usize::from(self.choices[layer])
    }

    pub fn set(&mut self, layer: usize, candidate: usize) {
        self.choices[layer] = candidate as u8;
    }
}

fn digit(c: u8) -> char {
    std::char::from_digit(u32::from(c), 36).expect("candidate index below 36")
}

impl fmt::Display for Path {
    /// Ungrouped text form; [`PathSpace::format`] adds stage separators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &c in &self.choices {
            write!(f, "{}", digit(c))?;
        }
        Ok(())
    }
}

/// The set of paths of a model: its random layers and its candidate list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSpace {
    pub layers: Vec<LayerInfo>,
    pub candidates: Vec<NormKind>,
}

impl PathSpace {
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn num_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// k^L, or `None` when it does not fit in 128 bits.
    pub fn count(&self) -> Option<u128> {
        (self.num_candidates() as u128).checked_pow(self.num_layers() as u32)
    }

    /// "2^20 = 1,048,576" (or "1" for a network without randomness).
    pub fn describe_count(&self) -> String {
        let k = self.num_candidates();
        let l = self.num_layers();
        let power = if k == 2 {
            format!("2^{l}")
        } else {
            format!("{k}^{l}")
        };
        match self.count() {
            Some(1) => "1 (no random layers)".into(),
            Some(n) => format!("{power} = {}", group_thousands(n)),
            None => format!("{power} ≈ 10^{:.1}", l as f64 * (k as f64).log10()),
        }
    }

    /// Draws each layer's candidate uniformly and independently, as the official code does.
    pub fn sample(&self, rng: &mut SeededRng) -> Path {
        let k = self.num_candidates() as u64;
        Path::new((0..self.num_layers()).map(|_| rng.below(k) as u8).collect())
    }

    /// `n` paths from one seed: the same seed gives the same paths on every platform.
    pub fn sample_many(&self, n: usize, seed: u64) -> Vec<Path> {
        let mut rng = SeededRng::derive(seed, "paths");
        (0..n).map(|_| self.sample(&mut rng)).collect()
    }

    /// A path with `round(share × L)` batch-statistic layers, placed uniformly at random; each
    /// layer draws uniformly among the candidates of its kind. For experiments by composition
    /// (uniform sampling concentrates near the candidates' mean share). `None` when the space
    /// lacks a candidate of a kind the share needs.
    pub fn sample_with_batch_stat_share(&self, share: f64, rng: &mut SeededRng) -> Option<Path> {
        let (batch, other): (Vec<u8>, Vec<u8>) = (0..self.num_candidates() as u8)
            .partition(|&c| self.candidates[usize::from(c)].uses_batch_statistics());
        let layers = self.num_layers();
        let wanted = (share.clamp(0.0, 1.0) * layers as f64).round() as usize;
        if (wanted > 0 && batch.is_empty()) || (wanted < layers && other.is_empty()) {
            return None;
        }
        let mut order: Vec<usize> = (0..layers).collect();
        rng.shuffle(&mut order);
        let mut choices = vec![0u8; layers];
        for (rank, &layer) in order.iter().enumerate() {
            let pool = if rank < wanted { &batch } else { &other };
            choices[layer] = pool[rng.below(pool.len() as u64) as usize];
        }
        Some(Path::new(choices))
    }

    /// Resamples every layer except the pinned ones, which keep their candidate from `base`.
    pub fn resample_unpinned(&self, base: &Path, pinned: &[bool], rng: &mut SeededRng) -> Path {
        let mut path = self.sample(rng);
        for (layer, &pin) in pinned.iter().enumerate() {
            if pin {
                path.set(layer, base.get(layer));
            }
        }
        path
    }

    /// The path that uses candidate `c` in every layer.
    pub fn uniform(&self, candidate: usize) -> Path {
        Path::new(vec![candidate as u8; self.num_layers()])
    }

    /// Text form with `-` between stages.
    pub fn format(&self, path: &Path) -> String {
        let mut out = String::with_capacity(path.len() + 8);
        for (i, &c) in path.choices().iter().enumerate() {
            if i > 0 && self.layers[i].stage != self.layers[i - 1].stage {
                out.push('-');
            }
            out.push(digit(c));
        }
        out
    }

    pub fn parse(&self, text: &str) -> Result<Path, ModelError> {
        let mut choices = Vec::with_capacity(self.num_layers());
        for ch in text.chars() {
            if ch.is_whitespace() || matches!(ch, '-' | '_' | '.') {
                continue;
            }
            let c = ch.to_digit(36).ok_or_else(|| {
                ModelError::Path(format!("'{ch}' is not a candidate index (0-9, a-z)"))
            })? as usize;
            if c >= self.num_candidates() {
                return Err(ModelError::Path(format!(
                    "candidate {c} does not exist: this model has {} candidates ({})",
                    self.num_candidates(),
                    self.candidate_list()
                )));
            }
            choices.push(c as u8);
        }
        if choices.len() != self.num_layers() {
            return Err(ModelError::Path(format!(
                "the path has {} layers, this model has {} random layers",
                choices.len(),
                self.num_layers()
            )));
        }
        Ok(Path::new(choices))
    }

    pub fn candidate_list(&self) -> String {
        self.candidates
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of layers on the path whose candidate normalizes with batch statistics.
    pub fn batch_stat_layers(&self, path: &Path) -> usize {
        path.choices()
            .iter()
            .filter(|&&c| self.candidates[usize::from(c)].uses_batch_statistics())
            .count()
    }

    /// Share of layers on the path whose candidate normalizes with batch statistics.
    pub fn batch_stat_share(&self, path: &Path) -> f64 {
        if path.is_empty() {
            return 0.0;
        }
        self.batch_stat_layers(path) as f64 / path.len() as f64
    }
}

/// Per-layer counts of each candidate over a set of paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathMix {
    /// `counts[layer][candidate]`.
    pub counts: Vec<Vec<usize>>,
    pub paths: usize,
}

impl PathMix {
    pub fn from_paths(space: &PathSpace, paths: &[Path]) -> Self {
        let mut counts = vec![vec![0; space.num_candidates()]; space.num_layers()];
        for path in paths {
            for (layer, &c) in path.choices().iter().enumerate() {
                counts[layer][usize::from(c)] += 1;
            }
        }
        Self {
            counts,
            paths: paths.len(),
        }
    }

    pub fn share(&self, layer: usize, candidate: usize) -> f64 {
        if self.paths == 0 {
            0.0
        } else {
            self.counts[layer][candidate] as f64 / self.paths as f64
        }
    }
}

pub fn group_thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(layers: usize, candidates: Vec<NormKind>) -> PathSpace {
        PathSpace {
            layers: (0..layers)
                .map(|i| LayerInfo {
                    name: format!("l{i}"),
                    key: format!("k{i}"),
                    channels: 4,
                    stage: i / 3,
                })
                .collect(),
            candidates,
        }
    }

    #[test]
    fn text_form_round_trips_with_and_without_grouping() {
        let s = space(7, NormKind::RELEASED.to_vec());
        let path = Path::new(vec![0, 1, 1, 0, 1, 0, 0]);
        assert_eq!(s.format(&path), "011-010-0");
        assert_eq!(path.to_string(), "0110100");
        assert_eq!(s.parse("011-010-0").unwrap(), path);
        assert_eq!(s.parse(" 0110100 ").unwrap(), path);
    }

    #[test]
    fn parse_rejects_wrong_length_and_unknown_candidates() {
        let s = space(4, NormKind::RELEASED.to_vec());
        let err = s.parse("010").unwrap_err().to_string();
        assert!(
            err.contains("3 layers") && err.contains("4 random layers"),
            "{err}"
        );
        let err = s.parse("0120").unwrap_err().to_string();
        assert!(err.contains("candidate 2 does not exist"), "{err}");
        assert!(s.parse("01x0").is_err());
        assert!(s.parse("01?0").is_err());
    }

    #[test]
    fn path_count_and_description() {
        let s = space(20, NormKind::RELEASED.to_vec());
        assert_eq!(s.count(), Some(1_048_576));
        assert_eq!(s.describe_count(), "2^20 = 1,048,576");
        let s3 = space(3, vec![NormKind::Bn, NormKind::In, NormKind::Gn(1)]);
        assert_eq!(s3.count(), Some(27));
        let huge = space(200, NormKind::RELEASED.to_vec());
        assert_eq!(huge.count(), None);
        assert!(huge.describe_count().starts_with("2^200"));
    }

    #[test]
    fn sampling_is_reproducible() {
        let s = space(21, NormKind::RELEASED.to_vec());
        assert_eq!(s.sample_many(50, 3), s.sample_many(50, 3));
        assert_ne!(s.sample_many(50, 3), s.sample_many(50, 4));
    }

    #[test]
    fn sampling_is_uniform_chi_square() {
        // 10,000 draws; per layer the candidate counts must fit a uniform distribution, and the
        // joint distribution of two layers must fit independence. Critical values at
        // p = 1e-4 (a deterministic test should essentially never flag a correct sampler):
        // chi-square with 2 dof 18.42, with 8 dof 33.72.
        let s = space(6, vec![NormKind::Bn, NormKind::Gnr(1), NormKind::In]);
        let paths = s.sample_many(10_000, 2024);
        let mix = PathMix::from_paths(&s, &paths);
        let expected = 10_000.0 / 3.0;
        for layer in 0..6 {
            let chi: f64 = mix.counts[layer]
                .iter()
                .map(|&o| (o as f64 - expected).powi(2) / expected)
                .sum();
            assert!(chi < 18.42, "layer {layer}: chi-square {chi}");
        }
        let mut joint = [[0usize; 3]; 3];
        for p in &paths {
            joint[p.get(0)][p.get(5)] += 1;
        }
        let e = 10_000.0 / 9.0;
        let chi: f64 = joint
            .iter()
            .flatten()
            .map(|&o| (o as f64 - e).powi(2) / e)
            .sum();
        assert!(chi < 33.72, "joint chi-square {chi}");
    }

    #[test]
    fn mix_shares_count_candidates_per_layer() {
        let s = space(2, NormKind::RELEASED.to_vec());
        let paths = vec![
            Path::new(vec![0, 1]),
            Path::new(vec![0, 0]),
            Path::new(vec![1, 1]),
            Path::new(vec![0, 1]),
        ];
        let mix = PathMix::from_paths(&s, &paths);
        assert_eq!(mix.counts, vec![vec![3, 1], vec![1, 3]]);
        assert_eq!(mix.share(0, 0), 0.75);
        assert_eq!(s.batch_stat_share(&Path::new(vec![0, 1])), 0.5);
    }

    #[test]
    fn a_path_of_given_composition_has_that_many_batch_stat_layers_in_varying_places() {
        // bn and gbn_2 use batch statistics; in and gnr_1 do not.
        let s = space(
            20,
            vec![
                NormKind::Bn,
                NormKind::In,
                NormKind::Gbn(2),
                NormKind::Gnr(1),
            ],
        );
        let mut rng = SeededRng::new(3);
        let mut first_layer_batch = 0;
        let mut used = [false; 4];
        for _ in 0..200 {
            let p = s.sample_with_batch_stat_share(0.25, &mut rng).unwrap();
            let batch: Vec<bool> = p.choices().iter().map(|&c| c == 0 || c == 2).collect();
            assert_eq!(batch.iter().filter(|&&b| b).count(), 5);
            first_layer_batch += usize::from(batch[0]);
            for &c in p.choices() {
                used[usize::from(c)] = true;
            }
        }
        // 5 of 20 places: layer 0 is batch-statistic in about a quarter of the draws.
        assert!(
            (25..=75).contains(&first_layer_batch),
            "{first_layer_batch}"
        );
        assert_eq!(used, [true; 4]);
        assert_eq!(
            s.sample_with_batch_stat_share(1.0, &mut rng)
                .unwrap()
                .choices()
                .iter()
                .filter(|&&c| c == 1 || c == 3)
                .count(),
            0
        );
        let bn_only = space(4, vec![NormKind::Bn]);
        assert!(
            bn_only
                .sample_with_batch_stat_share(0.5, &mut rng)
                .is_none()
        );
        assert_eq!(
            bn_only.sample_with_batch_stat_share(1.0, &mut rng),
            Some(bn_only.uniform(0))
        );
    }

    #[test]
    fn resample_keeps_pinned_layers() {
        let s = space(8, NormKind::RELEASED.to_vec());
        let base = s.uniform(1);
        let pinned = [true, false, false, true, false, false, false, true];
        let mut rng = SeededRng::new(1);
        for _ in 0..20 {
            let p = s.resample_unpinned(&base, &pinned, &mut rng);
            assert_eq!((p.get(0), p.get(3), p.get(7)), (1, 1, 1));
        }
    }
}
