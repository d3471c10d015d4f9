//! How a perturbation travels through the network along a path (the layer view): for every
//! random layer in network order, the relative change of its output, ‖a(x+δ) − a(x)‖ / ‖a(x)‖.
//! A perturbation that fools one path but not another should grow along the first and stay
//! small along the second; the uniform paths (all BatchNorm, all instance norm, ...) show how
//! each candidate on its own carries it.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::{Path, PathSpace, RnaModel};

/// The relative change at every random layer along one path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathTravel {
    /// What the path is: "attacker's path", "defender's path", "all BatchNorm", ...
    pub name: String,
    /// The path in text form (stages separated by `-`).
    pub path: String,
    /// The candidate each layer uses on this path, to colour the layer by it.
    pub candidates: Vec<usize>,
    /// ‖a(x+δ) − a(x)‖ / ‖a(x)‖ at each random layer (0 where a(x) is zero and δ changes
    /// nothing there; infinite where a(x) is zero and δ does change it).
    pub relative_change: Vec<f32>,
}

/// The attacker's and defender's paths, then one uniform path per candidate as references.
pub fn layer_view_paths(
    space: &PathSpace,
    attacker: &Path,
    defender: &Path,
) -> Vec<(String, Path)> {
    let mut paths = vec![
        ("attacker's path".to_string(), attacker.clone()),
        ("defender's path".to_string(), defender.clone()),
    ];
    for (c, kind) in space.candidates.iter().enumerate() {
        paths.push((format!("all {}", kind.label()), space.uniform(c)));
    }
    paths
}

/// The relative change along each of `paths` between `clean` and `adversarial` (each
/// `[1, 3, H, W]`), in one batched pass: the clean image under every path, then the
/// adversarial one, and a single readback of all the ratios.
pub fn travel(
    model: &RnaModel,
    clean: &Tensor<4>,
    adversarial: &Tensor<4>,
    paths: &[(String, Path)],
) -> Vec<PathTravel> {
    let n = paths.len();
    if n == 0 {
        return Vec::new();
    }
    let [_, c, h, w] = clean.dims();
    let batch = Tensor::cat(
        vec![
            clean.clone().expand([n, c, h, w]),
            adversarial.clone().expand([n, c, h, w]),
        ],
        0,
    );
    let routing: Vec<Path> = paths.iter().chain(paths).map(|(_, p)| p.clone()).collect();
    let outputs = model.random_layer_outputs(batch, &routing);
    let layers = outputs.len();
    let ratios: Vec<Tensor<2>> = outputs
        .into_iter()
        .map(|a| {
            let [rows, ch, hh, ww] = a.dims();
            let a = a.reshape([rows, ch * hh * ww]);
            let base = a.clone().narrow(0, 0, n);
            let moved = a.narrow(0, n, n).sub(base.clone());
            let norm = |t: Tensor<2>| t.clone().mul(t).sum_dim(1).sqrt();
            norm(moved).div(norm(base))
        })
        .collect();
    // A network without random layers has nothing to show (and nothing to concatenate).
    let values = match ratios.is_empty() {
        true => Vec::new(),
        false => crate::device::to_host(Tensor::cat(ratios, 1)),
    };
    let space = model.path_space();
    paths
        .iter()
        .enumerate()
        .map(|(i, (name, path))| (name, path, &values[i * layers..(i + 1) * layers]))
        .map(|(name, path, row)| PathTravel {
            name: name.clone(),
            path: space.format(path),
            candidates: path.choices().iter().map(|&c| usize::from(c)).collect(),
            // 0/0 (a dead layer δ does not revive) is no change.
            relative_change: row
                .iter()
                .map(|&r| if r.is_nan() { 0.0 } else { r })
                .collect(),
        })
        .collect()
}

/// What the layer view shows, in one sentence computed from its numbers (the attacker's path
/// first, the defender's second, as [`layer_view_paths`] orders them).
pub fn travel_sentence(travel: &[PathTravel]) -> Option<String> {
    let last = |t: &PathTravel| t.relative_change.last().copied();
    let (attacker, defender) = (travel.first()?, travel.get(1)?);
    let (a, d) = (last(attacker)?, last(defender)?);
    let comparison = if a > 1.2 * d {
        "the attacker's path carries it further"
    } else if d > 1.2 * a {
        "the defender's path carries it further"
    } else {
        "both paths carry it about as far"
    };
    Some(format!(
        "At the last random layer the perturbation moves the attacker's path's activations by \
         {:.0}% of their size and the defender's by {:.0}%: {comparison}.",
        100.0 * a,
        100.0 * d
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::{layer_view_paths, travel};
    use crate::model::{NormKind, Path, tiny_for_tests};
    use crate::rng::SeededRng;

    const SIDE: usize = 32;

    fn image(values: &[f32]) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, 3, SIDE, SIDE]),
            &Device::flex(),
        )
    }

    /// The stem by hand: input normalization, a 3×3 convolution with zero padding, then the
    /// candidate's normalization: `[channel][pixel]`.
    fn stem_by_hand(
        x: &[f32],
        weight: &[f32],
        mean: [f32; 3],
        std: [f32; 3],
        norm: &dyn Fn(usize, &[f32]) -> Vec<f32>,
    ) -> Vec<Vec<f32>> {
        let outputs = weight.len() / 27;
        let at = |c: usize, i: isize, j: isize| -> f32 {
            if i < 0 || j < 0 || i >= SIDE as isize || j >= SIDE as isize {
                return 0.0;
            }
            (x[c * SIDE * SIDE + i as usize * SIDE + j as usize] - mean[c]) / std[c]
        };
        (0..outputs)
            .map(|o| {
                let mut conv = vec![0f32; SIDE * SIDE];
                for i in 0..SIDE {
                    for j in 0..SIDE {
                        let mut sum = 0.0;
                        for c in 0..3 {
                            for di in 0..3 {
                                for dj in 0..3 {
                                    let w = weight[((o * 3 + c) * 3 + di) * 3 + dj];
                                    sum += w * at(
                                        c,
                                        i as isize + di as isize - 1,
                                        j as isize + dj as isize - 1,
                                    );
                                }
                            }
                        }
                        conv[i * SIDE + j] = sum;
                    }
                }
                norm(o, &conv)
            })
            .collect()
    }

    fn relative_change(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        let (mut moved, mut base) = (0f64, 0f64);
        for (ra, rb) in a.iter().zip(b) {
            for (&va, &vb) in ra.iter().zip(rb) {
                moved += f64::from(vb - va).powi(2);
                base += f64::from(va).powi(2);
            }
        }
        (moved.sqrt() / base.sqrt()) as f32
    }

    #[test]
    fn the_first_layer_matches_a_hand_computation_for_both_candidates() {
        let mut model = tiny_for_tests(3, vec![NormKind::Bn, NormKind::Gnr(1)]);
        // Running statistics and affine parameters away from their initial 0/1, so that every
        // term of the normalization matters.
        let mut rng = SeededRng::new(11);
        let mut params = std::collections::HashMap::new();
        model.visit_params(&mut |name, _, mut p| {
            if name.starts_with("bn1.norm.") {
                let n = p.num_elements();
                let values: Vec<f32> = (0..n).map(|_| 0.3 + rng.next_f64() as f32).collect();
                p.set(values);
            }
            if name == "conv1.weight" || name.starts_with("bn1.norm.") {
                params.insert(name.to_string(), p.to_vec());
            }
        });
        for key in ["conv1.weight", "bn1.norm.0.running_var", "bn1.norm.1.bias"] {
            assert!(params.contains_key(key), "the stem's {key} was not found");
        }
        let x: Vec<f32> = (0..3 * SIDE * SIDE)
            .map(|_| rng.next_f64() as f32)
            .collect();
        let x_adv: Vec<f32> = x
            .iter()
            .map(|v| (v + (rng.next_f64() as f32 - 0.5) * 16.0 / 255.0).clamp(0.0, 1.0))
            .collect();
        let config = model.config().clone();
        let space = model.path_space().clone();
        let paths = layer_view_paths(&space, &space.uniform(1), &space.uniform(0));
        let result = travel(&model, &image(&x), &image(&x_adv), &paths);

        let p = |k: &str| params[k].clone();
        let eps = crate::model::norm::EPSILON as f32;
        let batch_norm = |o: usize, conv: &[f32]| -> Vec<f32> {
            let (m, v) = (
                p("bn1.norm.0.running_mean")[o],
                p("bn1.norm.0.running_var")[o],
            );
            let (g, b) = (p("bn1.norm.0.weight")[o], p("bn1.norm.0.bias")[o]);
            conv.iter()
                .map(|&y| (y - m) / (v + eps).sqrt() * g + b)
                .collect()
        };
        let instance_norm = |o: usize, conv: &[f32]| -> Vec<f32> {
            let n = conv.len() as f32;
            let m = conv.iter().sum::<f32>() / n;
            let v = conv.iter().map(|y| (y - m).powi(2)).sum::<f32>() / n;
            let (g, b) = (p("bn1.norm.1.weight")[o], p("bn1.norm.1.bias")[o]);
            conv.iter()
                .map(|&y| (y - m) / (v + eps).sqrt() * g + b)
                .collect()
        };
        let stem = |x: &[f32], norm: &dyn Fn(usize, &[f32]) -> Vec<f32>| {
            stem_by_hand(
                x,
                &p("conv1.weight"),
                config.input_mean,
                config.input_std,
                norm,
            )
        };
        let bn = relative_change(&stem(&x, &batch_norm), &stem(&x_adv, &batch_norm));
        let inorm = relative_change(&stem(&x, &instance_norm), &stem(&x_adv, &instance_norm));
        assert!(bn > 0.0 && inorm > 0.0);
        // Rows: attacker (all instance norm), defender (all BN), all BN, all instance norm.
        for (row, expected) in [(0, inorm), (1, bn), (2, bn), (3, inorm)] {
            let got = result[row].relative_change[0];
            assert!(
                (got - expected).abs() <= 1e-4 * expected.max(1e-3),
                "{}: {got} against {expected} by hand",
                result[row].name
            );
        }
        assert_eq!(result[2].name, "all BatchNorm");
        assert_eq!(result[0].candidates, vec![1; space.num_layers()]);
    }

    #[test]
    fn no_perturbation_changes_nothing_and_paths_agree_until_they_differ() {
        let model = tiny_for_tests(5, vec![NormKind::Bn, NormKind::Gnr(1)]);
        let space = model.path_space().clone();
        let layers = space.num_layers();
        let mut rng = SeededRng::new(2);
        let x: Vec<f32> = (0..3 * SIDE * SIDE)
            .map(|_| rng.next_f64() as f32)
            .collect();
        let x_adv: Vec<f32> = x.iter().map(|v| (v + 0.03).min(1.0)).collect();
        let still = travel(
            &model,
            &image(&x),
            &image(&x),
            &layer_view_paths(&space, &space.uniform(0), &space.uniform(1)),
        );
        assert!(
            still
                .iter()
                .all(|t| t.relative_change.iter().all(|&r| r == 0.0))
        );

        // Two paths equal on every layer but the last: equal changes before it, not at it.
        let mut a = Path::new(vec![0; layers]);
        let mut b = a.clone();
        a.set(layers - 1, 0);
        b.set(layers - 1, 1);
        let named = vec![("a".to_string(), a), ("b".to_string(), b)];
        let moved = travel(&model, &image(&x), &image(&x_adv), &named);
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0].relative_change.len(), layers);
        let (ra, rb) = (&moved[0].relative_change, &moved[1].relative_change);
        for layer in 0..layers - 1 {
            assert!(
                (ra[layer] - rb[layer]).abs() <= 1e-6 * ra[layer],
                "layer {layer}"
            );
        }
        assert!((ra[layers - 1] - rb[layers - 1]).abs() > 1e-3 * ra[layers - 1]);
        assert!(
            moved
                .iter()
                .all(|t| t.relative_change.iter().all(|&r| r.is_finite() && r > 0.0))
        );
    }
}
