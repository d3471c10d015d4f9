//! Train-mode batch normalization: statistics over batch and positions per channel.
//!
//! burn's generic version transposes the activations to put channels first (a copy) for each
//! statistic and again in its backward pass, several passes in all; here the forward pass reads
//! the activations twice (sums, then the affine map) and the backward pass twice (two sums, then
//! the input gradient), plane by plane in the NCHW layout.

use burn::tensor::Tensor;
use burn::tensor::module::batch_norm_train as burn_batch_norm_train;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{Flex32, as_flex, flex_tensor, values};

/// Normalizes `x` `[N, C, H, W]` with its own per-channel mean and (biased) variance, then
/// scales by `gamma` and shifts by `beta`. Returns the output and the statistics (plain
/// tensors: no gradient flows through them).
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let dims = x.dims();
    let parts = (as_flex(&x), as_flex(&gamma), as_flex(&beta));
    let (Some(x), Some(gamma), Some(beta)) = parts else {
        let out = burn_batch_norm_train(x, gamma, beta, epsilon);
        return (out.output, out.mean.inner(), out.variance.inner());
    };
    let shape = Shape::new(dims, epsilon);
    let stats = |x: &FlexTensor| statistics(&shape, &values(x));
    let (output, stats) = match (x, gamma, beta) {
        (Flex32::Plain(x), Flex32::Plain(gamma), Flex32::Plain(beta)) => {
            let stats = stats(&x);
            let y = normalize(&shape, &values(&x), &stats, &values(&gamma), &values(&beta));
            (Tensor::from_primitive::<Flex>(flex_tensor(y, dims)), stats)
        }
        (x, gamma, beta) => {
            let (x, gamma, beta) = (x.tracked(), gamma.tracked(), beta.tracked());
            let prep = BatchNormBackward
                .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
                .compute_bound()
                .stateful();
            let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
            let stats = stats(&xp);
            let y = normalize(
                &shape,
                &values(&xp),
                &stats,
                &values(&gp),
                &values(beta.primitive()),
            );
            let y = flex_tensor(y, dims);
            let y = match prep {
                OpsKind::Tracked(prep) => prep.finish((xp, gp, stats.clone(), shape), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            (Tensor::from_primitive::<Autodiff<Flex>>(y), stats)
        }
    };
    let channels = [shape.channels];
    let mean = stats.iter().map(|s| s.mean as f32).collect();
    let var = stats.iter().map(|s| s.var as f32).collect();
    (
        output,
        Tensor::from_primitive::<Flex>(flex_tensor(mean, channels)),
        Tensor::from_primitive::<Flex>(flex_tensor(var, channels)),
    )
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    dims: [usize; 4],
    batch: usize,
    channels: usize,
    plane: usize,
    epsilon: f64,
}

impl Shape {
    fn new(dims: [usize; 4], epsilon: f64) -> Self {
        let [batch, channels, h, w] = dims;
        Self {
            dims,
            batch,
            channels,
            plane: h * w,
            epsilon,
        }
    }

    /// Values per channel.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// Plane `n, c` of an `[N, C, H, W]` array.
    fn plane<'a>(&self, data: &'a [f32], n: usize, c: usize) -> &'a [f32] {
        let start = (n * self.channels + c) * self.plane;
        &data[start..start + self.plane]
    }
}

#[derive(Clone, Copy, Debug)]
struct Statistics {
    mean: f64,
    var: f64,
}

impl Statistics {
    fn inv_std(&self, epsilon: f64) -> f64 {
        1.0 / (self.var + epsilon).sqrt()
    }
}

/// Mean and biased variance per channel, summed in f64 (a channel can hold millions of values).
fn statistics(s: &Shape, x: &[f32]) -> Vec<Statistics> {
    (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let (mut sum, mut squares) = (0.0f64, 0.0f64);
            for n in 0..s.batch {
                let (a, b) = sums(s.plane(x, n, c), s.plane(x, n, c));
                sum += a;
                squares += b;
            }
            let mean = sum / s.count();
            Statistics {
                mean,
                var: (squares / s.count() - mean * mean).max(0.0),
            }
        })
        .collect()
}

/// `(Σ a, Σ a·b)` over one plane: in vector lanes of f32 (a plane holds at most a few thousand
/// values), each lane's total then added in f64, as are the planes of a channel (a channel can
/// hold millions of values). One f64 chain instead cost four cycles per value.
fn sums(a: &[f32], b: &[f32]) -> (f64, f64) {
    pulp::Arch::new().dispatch(Sums { a, b })
}

struct Sums<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl pulp::WithSimd for Sums<'_> {
    type Output = (f64, f64);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> (f64, f64) {
        let (a_head, a_tail) = S::as_simd_f32s(self.a);
        let (b_head, b_tail) = S::as_simd_f32s(self.b);
        let (mut sum, mut dot) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
        for (&a, &b) in a_head.iter().zip(b_head) {
            sum = simd.add_f32s(sum, a);
            dot = simd.mul_add_f32s(a, b, dot);
        }
        let lanes = |v: S::f32s| -> f64 {
            pulp::bytemuck::cast_slice::<S::f32s, f32>(std::slice::from_ref(&v))
                .iter()
                .map(|&x| f64::from(x))
                .sum()
        };
        a_tail
            .iter()
            .zip(b_tail)
            .fold((lanes(sum), lanes(dot)), |(s, p), (&a, &b)| {
                (s + f64::from(a), p + f64::from(a) * f64::from(b))
            })
    }
}

/// `y = (x − mean)·γ/σ + β`, plane by plane.
fn normalize(s: &Shape, x: &[f32], stats: &[Statistics], gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(s.plane)
        .zip(x.par_chunks(s.plane))
        .enumerate()
        .for_each(|(i, (y, x))| {
            let c = i % s.channels;
            let scale = f64::from(gamma[c]) * stats[c].inv_std(s.epsilon);
            let shift = f64::from(beta[c]) - stats[c].mean * scale;
            let (scale, shift) = (scale as f32, shift as f32);
            for (y, x) in y.iter_mut().zip(x) {
                *y = x * scale + shift;
            }
        });
    y
}

/// With x̂ the normalized input and M the values per channel:
/// `dβ = Σ dy`, `dγ = Σ dy·x̂`, `dx = γ/σ · (dy − dβ/M − x̂·dγ/M)`.
#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = (FlexTensor, FlexTensor, Vec<Statistics>, Shape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, stats, s) = ops.state;
        let (dy, x, gamma) = (values(&dy), values(&x), values(&gamma));
        // Per channel: Σ dy and Σ dy·x (then Σ dy·x̂ = (Σ dy·x − mean·Σ dy)/σ).
        let sums: Vec<(f64, f64)> = (0..s.channels)
            .into_par_iter()
            .map(|c| {
                (0..s.batch).fold((0.0, 0.0), |(a, b), n| {
                    let (da, db) = sums(s.plane(&dy, n, c), s.plane(&x, n, c));
                    (a + da, b + db)
                })
            })
            .collect();
        let d_beta: Vec<f64> = sums.iter().map(|&(sum, _)| sum).collect();
        let d_gamma: Vec<f64> = sums
            .iter()
            .zip(&stats)
            .map(|(&(sum, dot), st)| (dot - st.mean * sum) * st.inv_std(s.epsilon))
            .collect();
        let to_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        if let Some(node) = x_node {
            let mut dx = vec![0.0f32; x.len()];
            dx.par_chunks_mut(s.plane)
                .zip(dy.par_chunks(s.plane).zip(x.par_chunks(s.plane)))
                .enumerate()
                .for_each(|(i, (dx, (dy, x)))| {
                    let c = i % s.channels;
                    let inv_std = stats[c].inv_std(s.epsilon);
                    // dx = a·dy + b·x + d, from expanding x̂ = (x − mean)/σ.
                    let k = f64::from(gamma[c]) * inv_std;
                    let g = d_gamma[c] / s.count() * inv_std;
                    let a = k as f32;
                    let b = (-k * g) as f32;
                    let d = (k * (g * stats[c].mean - d_beta[c] / s.count())) as f32;
                    for ((dx, dy), x) in dx.iter_mut().zip(dy).zip(x) {
                        *dx = a * dy + b * x + d;
                    }
                });
            grads.register::<Flex>(node.id, flex_tensor(dx, s.dims));
        }
        if let Some(node) = gamma_node {
            grads.register::<Flex>(node.id, flex_tensor(to_f32(&d_gamma), [s.channels]));
        }
        if let Some(node) = beta_node {
            grads.register::<Flex>(node.id, flex_tensor(to_f32(&d_beta), [s.channels]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn random<const D: usize>(shape: [usize; D], seed: u64, offset: f32) -> Tensor<D> {
        let mut rng = crate::rng::SeededRng::new(seed);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| rng.next_f32() * 2.0 - 1.0 + offset)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    fn assert_close<const D: usize>(ours: Tensor<D>, reference: Tensor<D>, what: &str) {
        assert_eq!(ours.dims(), reference.dims(), "{what}");
        let (a, b) = (values(ours), values(reference));
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!((a - b).abs() <= 2e-5 * scale, "{what}[{i}]: {a} vs {b}");
        }
    }

    /// burn's own train-mode batch norm, which this replaces on the CPU, is the reference:
    /// output, statistics, and the gradients of a weighted sum of the output.
    #[test]
    fn matches_burns_batch_norm_and_its_gradients() {
        for (i, &(dims, offset)) in [
            ([4, 3, 5, 5], 0.0),
            ([2, 16, 8, 8], 3.0),
            ([1, 2, 3, 7], -1.0),
        ]
        .iter()
        .enumerate()
        {
            let seed = 10 * i as u64;
            let x = random(dims, seed, offset);
            let gamma = random([dims[1]], seed + 1, 1.0);
            let beta = random([dims[1]], seed + 2, 0.0);
            let r = random(dims, seed + 3, 0.0);
            assert!(matches!(as_flex(&x), Some(Flex32::Plain(_))));

            let (y, mean, var) = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
            let reference = burn_batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
            assert_close(y, reference.output, &format!("{i} output"));
            assert_close(mean, reference.mean, &format!("{i} mean"));
            assert_close(var, reference.variance, &format!("{i} variance"));

            let grads = |ours: bool| {
                let x = x.clone().autodiff().require_grad();
                let gamma = gamma.clone().autodiff().require_grad();
                let beta = beta.clone().autodiff().require_grad();
                let y = if ours {
                    batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5).0
                } else {
                    burn_batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5).output
                };
                let g = y.mul(r.clone()).sum().backward();
                (
                    x.grad(&g).unwrap(),
                    gamma.grad(&g).unwrap(),
                    beta.grad(&g).unwrap(),
                )
            };
            let (ours, theirs) = (grads(true), grads(false));
            assert_close(ours.0, theirs.0, &format!("{i} input gradient"));
            assert_close(ours.1, theirs.1, &format!("{i} γ gradient"));
            assert_close(ours.2, theirs.2, &format!("{i} β gradient"));
        }
    }
}
