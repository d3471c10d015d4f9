//! The plain (non-random) layers the networks are built from, initialised from our seeded RNG.

use burn::tensor::{Device, Tensor, TensorData};

use super::norm::{NormLayer, RandomNorm, RunningUpdate};
use super::params::{ParamRole, Parameters, Visitor, join};
use crate::rng::SeededRng;

/// A bias-free convolution, as in the official ResNet and WideResNet code.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor<4>,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// Kaiming-normal initialisation (fan-out, ReLU gain), as torchvision's ResNets use.
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Self {
        let fan_out = outputs * kernel * kernel;
        let std = (2.0 / fan_out as f64).sqrt();
        let n = outputs * inputs * kernel * kernel;
        let values: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
        Self {
            weight: Tensor::from_data(
                TensorData::new(values, [outputs, inputs, kernel, kernel]),
                device,
            ),
            stride,
            padding: kernel / 2,
        }
    }

    /// Floating-point operations (a multiply-add counts 2) on a `size`×`size` input, and the
    /// output size.
    pub fn flops(&self, size: usize) -> (u64, usize) {
        let [outputs, inputs, kernel, _] = self.weight.dims();
        let out = (size + 2 * self.padding - kernel) / self.stride + 1;
        let macs = outputs * inputs * kernel * kernel * out * out;
        (2 * macs as u64, out)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        super::cpu::conv::conv2d(x, self.weight.clone(), self.stride, self.padding)
    }
}

impl Parameters for Conv2d {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        v(
            &join(prefix, "weight"),
            ParamRole::Trainable,
            (&mut self.weight).into(),
        );
    }
}

/// A fully connected layer with PyTorch's weight layout `[out, in]` and default initialisation.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    pub fn new(inputs: usize, outputs: usize, rng: &mut SeededRng, device: &Device) -> Self {
        let bound = 1.0 / (inputs as f64).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let weight = uniform(outputs * inputs);
        let bias = uniform(outputs);
        Self {
            weight: Tensor::from_data(TensorData::new(weight, [outputs, inputs]), device),
            bias: Tensor::from_data(TensorData::new(bias, [outputs]), device),
        }
    }

    pub fn flops(&self) -> u64 {
        let [outputs, inputs] = self.weight.dims();
        2 * (outputs * inputs) as u64
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let outputs = self.bias.dims()[0];
        x.matmul(self.weight.clone().transpose())
            .add(self.bias.clone().reshape([1, outputs]))
    }
}

impl Parameters for Linear {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        v(
            &join(prefix, "weight"),
            ParamRole::Trainable,
            (&mut self.weight).into(),
        );
        v(
            &join(prefix, "bias"),
            ParamRole::Trainable,
            (&mut self.bias).into(),
        );
    }
}

/// Global average pooling: `[N, C, H, W]` → `[N, C]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// How a forward pass applies normalization: eval routing, or train mode with statistics.
/// Networks call it at every norm in network order, so one forward definition serves all modes.
pub trait NormPolicy {
    fn random(&mut self, norm: &RandomNorm, x: Tensor<4>) -> Tensor<4>;
    fn fixed(&mut self, norm: &NormLayer, x: Tensor<4>) -> Tensor<4>;

    /// Identifies the batch's current rows. Only a policy that changes the rows at random
    /// layers (shared path prefixes) has more than one.
    fn mark(&self) -> usize {
        0
    }

    /// `x`, computed when the batch had the rows of `mark` (a residual branch), with the rows of
    /// the current batch, so that branches can be added.
    fn align(&mut self, x: Tensor<4>, _mark: usize) -> Tensor<4> {
        x
    }
}

/// Train-mode policy: one path for the batch; collects new running statistics in network order.
pub struct TrainPolicy<'p> {
    pub path: &'p super::path::Path,
    pub next_layer: usize,
    pub random_updates: Vec<(usize, usize, Option<RunningUpdate>)>,
    pub fixed_updates: Vec<Option<RunningUpdate>>,
}

impl NormPolicy for TrainPolicy<'_> {
    fn random(&mut self, norm: &RandomNorm, x: Tensor<4>) -> Tensor<4> {
        let layer = self.next_layer;
        self.next_layer += 1;
        let candidate = self.path.get(layer);
        let (y, update) = norm.candidates[candidate].forward_train(x);
        self.random_updates.push((layer, candidate, update));
        y
    }

    fn fixed(&mut self, norm: &NormLayer, x: Tensor<4>) -> Tensor<4> {
        let (y, update) = norm.forward_train(x);
        self.fixed_updates.push(update);
        y
    }
}
