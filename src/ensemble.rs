//! What many sampled paths say about one input, each distinct path prefix computed once.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::{Path, RnaModel};

/// Paths per pass on the CPU: few enough that passes run side by side and memory stays bounded,
/// enough to share prefixes (64 measured fastest; see README, Performance).
const CPU_CHUNK: usize = 64;

/// Paths per pass on a GPU: kernel launches, not arithmetic, bound the time there, so one wide
/// pass beats many narrow ones (bounded so that activations stay a few hundred MB).
const GPU_CHUNK: usize = 1024;

/// Paths per pass on `device`.
fn chunk_for(device: &Device) -> usize {
    if *device == Device::flex() {
        CPU_CHUNK
    } else {
        GPU_CHUNK
    }
}

/// Each path's prediction for one input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathPrediction {
    pub path: String,
    pub label: usize,
    pub probabilities: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSummary {
    pub paths: usize,
    /// `histogram[c]`: number of paths predicting class c.
    pub histogram: Vec<usize>,
    pub majority: usize,
    /// Share of paths that predict the majority label.
    pub agreement: f64,
    /// With a known true label: share of paths that are right, and its 95% Wilson interval.
    pub p_correct: Option<Proportion>,
}

pub use crate::stats::Proportion;

/// Logits of `image` (`[3, H, W]`, in [0, 1]) under every path. Paths are evaluated in sorted
/// order, [`chunk_for`] the device per pass, so that each pass shares as many path prefixes as
/// possible.
pub fn path_logits(model: &RnaModel, image: &Tensor<3>, paths: &[Path]) -> Tensor<2> {
    path_logits_in_chunks(model, image, paths, chunk_for(&image.device()))
}

fn path_logits_in_chunks(
    model: &RnaModel,
    image: &Tensor<3>,
    paths: &[Path],
    chunk: usize,
) -> Tensor<2> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by(|&a, &b| paths[a].choices().cmp(paths[b].choices()));
    let x = image.clone().unsqueeze_dim::<4>(0);
    // Chunks run side by side: much of a pass is single-threaded work between convolutions.
    let chunks: Vec<Tensor<2>> = order
        .par_chunks(chunk)
        .map(|chunk| {
            let sorted: Vec<Path> = chunk.iter().map(|&i| paths[i].clone()).collect();
            model.forward_shared(x.clone(), &sorted)
        })
        .collect();
    // Row j of the sorted result belongs to path order[j], so path i's logits are row position[i].
    let mut position = vec![0i64; paths.len()];
    for (j, &i) in order.iter().enumerate() {
        position[i] = j as i64;
    }
    let device = image.device();
    let n = position.len();
    Tensor::cat(chunks, 0).select(
        0,
        Tensor::<1, Int>::from_data(TensorData::new(position, [n]), &device),
    )
}

/// Per-path predictions of one input.
pub fn query(model: &RnaModel, image: &Tensor<3>, paths: &[Path]) -> Vec<PathPrediction> {
    if paths.is_empty() {
        return Vec::new();
    }
    let probs = softmax(path_logits(model, image, paths), 1);
    let k = probs.dims()[1];
    let values = crate::device::to_host(probs);
    let space = model.path_space();
    paths
        .iter()
        .zip(values.chunks_exact(k))
        .map(|(path, p)| PathPrediction {
            path: space.format(path),
            label: argmax(p),
            probabilities: p.to_vec(),
        })
        .collect()
}

pub fn summarize(
    predictions: &[PathPrediction],
    classes: usize,
    truth: Option<usize>,
) -> EnsembleSummary {
    let mut histogram = vec![0; classes];
    for p in predictions {
        histogram[p.label] += 1;
    }
    // Ties go to the lower class index, so the vote is deterministic.
    let majority = (0..classes)
        .max_by_key(|&c| (histogram[c], std::cmp::Reverse(c)))
        .unwrap_or(0);
    let n = predictions.len();
    EnsembleSummary {
        paths: n,
        agreement: if n == 0 {
            0.0
        } else {
            histogram[majority] as f64 / n as f64
        },
        p_correct: truth.map(|t| Proportion::wilson(histogram.get(t).copied().unwrap_or(0), n)),
        histogram,
        majority,
    }
}

pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_hand_computation() {
        // 8 of 10: p = 0.8, z² = 3.8415; centre = (0.8 + 0.19207)/1.38415 = 0.71673;
        // half = 1.96·sqrt(0.016 + 0.0096037)/1.38415 = 0.22659 → [0.4902, 0.9433].
        let p = Proportion::wilson(8, 10);
        assert!((p.low - 0.4902).abs() < 1e-3, "{p:?}");
        assert!((p.high - 0.9433).abs() < 1e-3, "{p:?}");
        let all = Proportion::wilson(20, 20);
        assert_eq!(all.high, 1.0);
        assert!(all.low > 0.83 && all.low < 0.84, "{all:?}");
    }

    /// Sorting, chunking and putting back in order must not change what each path says: narrow
    /// CPU chunks and one wide GPU-sized pass both match one forward pass per path.
    #[test]
    fn chunking_keeps_each_paths_logits() {
        use crate::model::{Architecture, ModelConfig};
        let architecture = Architecture::ResNet {
            stage_widths: vec![4, 8],
            blocks_per_stage: vec![1, 1],
        };
        let device = Device::flex();
        let model = RnaModel::new(ModelConfig::cifar10(architecture), 1, &device).unwrap();
        let mut rng = crate::rng::SeededRng::new(2);
        let pixels: Vec<f32> = (0..3 * 32 * 32).map(|_| rng.next_f32()).collect();
        let image = Tensor::<3>::from_data(TensorData::new(pixels, [3, 32, 32]), &device);
        let paths = model.path_space().sample_many(40, 3);
        let narrow = path_logits_in_chunks(&model, &image, &paths, 3);
        let wide = path_logits_in_chunks(&model, &image, &paths, GPU_CHUNK);
        let mut spread = 0.0f32;
        for (i, path) in paths.iter().enumerate() {
            let single = model.forward_path(image.clone().unsqueeze_dim(0), path);
            for (name, logits) in [("narrow", &narrow), ("wide", &wide)] {
                let diff = (logits.clone().narrow(0, i, 1) - single.clone())
                    .abs()
                    .max()
                    .into_scalar::<f32>();
                assert!(diff < 1e-4, "{name} chunks: path {i} differs by {diff}");
            }
            let first = narrow.clone().narrow(0, 0, 1);
            spread = spread.max((first - single).abs().max().into_scalar::<f32>());
        }
        assert!(spread > 1e-3, "all paths gave the same logits");
    }

    #[test]
    fn summary_counts_votes() {
        let pred = |label| PathPrediction {
            path: String::new(),
            label,
            probabilities: vec![],
        };
        let s = summarize(&[pred(2), pred(1), pred(2), pred(0)], 3, Some(1));
        assert_eq!(s.histogram, vec![1, 1, 2]);
        assert_eq!(s.majority, 2);
        assert_eq!(s.agreement, 0.5);
        assert_eq!(s.p_correct.unwrap().value, 0.25);
        // A tie goes to the lowest class.
        let tie = summarize(&[pred(2), pred(1)], 3, None);
        assert_eq!(tie.majority, 1);
    }
}
