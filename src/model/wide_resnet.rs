//! WideResNet (Zagoruyko & Komodakis 2016) as in the TRADES/RNA code: pre-activation blocks,
//! widths 16/16k/32k/64k, (depth − 4)/6 blocks per stage. Both norms of every block are random;
//! the final norm before pooling is a fixed BatchNorm. WRN-34-10 has 30 random layers.
//! Parameter keys follow that code (`block1.layer.0.bn1`, `convShortcut`, `bn1`, `fc`).

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::ModelError;
use super::layers::{Conv2d, Linear, NormPolicy, global_avg_pool};
use super::norm::{NormKind, NormLayer, RandomNorm};
use super::params::{Parameters, Visitor, join};
use super::path::LayerInfo;
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
struct PreActBlock {
    bn1: RandomNorm,
    conv1: Conv2d,
    bn2: RandomNorm,
    conv2: Conv2d,
    /// A 1×1 convolution when the width changes; otherwise the identity.
    conv_shortcut: Option<Conv2d>,
}

impl PreActBlock {
    fn forward(&self, x: Tensor<4>, norm: &mut dyn NormPolicy) -> Tensor<4> {
        let entry = norm.mark();
        let activated = relu(norm.random(&self.bn1, x.clone()));
        let after_bn1 = norm.mark();
        let out = self.conv1.forward(activated.clone());
        let out = self.conv2.forward(relu(norm.random(&self.bn2, out)));
        // As in the reference code: a width change takes the shortcut from the activated input.
        let skip = match &self.conv_shortcut {
            Some(conv) => norm.align(conv.forward(activated), after_bn1),
            None => norm.align(x, entry),
        };
        out.add(skip)
    }
}

#[derive(Clone, Debug)]
pub struct WideResNet {
    conv1: Conv2d,
    stages: Vec<Vec<PreActBlock>>,
    bn1: NormLayer,
    fc: Linear,
}

impl WideResNet {
    pub fn new(
        depth: usize,
        widen_factor: usize,
        candidates: &[NormKind],
        classes: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Self, Vec<LayerInfo>), ModelError> {
        if depth < 10 || !(depth - 4).is_multiple_of(6) || widen_factor == 0 {
            return Err(ModelError::Config(format!(
                "WideResNet depth must be 6n+4 (≥ 10) and the widen factor positive, got depth {depth}, widen {widen_factor}"
            )));
        }
        let blocks = (depth - 4) / 6;
        let widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor];
        let conv1 = Conv2d::new(3, 16, 3, 1, rng, device);
        let mut layers = Vec::new();
        let mut inputs = 16;
        let mut stages = Vec::new();
        for (s, &width) in widths.iter().enumerate() {
            let mut stage = Vec::new();
            for b in 0..blocks {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let key = format!("block{}.layer.{b}", s + 1);
                let name = format!("block{}.{b}", s + 1);
                let bn1 = RandomNorm::new(candidates, inputs, device)?;
                layers.push(LayerInfo {
                    name: format!("{name}.norm1"),
                    key: format!("{key}.bn1"),
                    channels: inputs,
                    stage: s + 1,
                });
                let conv1 = Conv2d::new(inputs, width, 3, stride, rng, device);
                let bn2 = RandomNorm::new(candidates, width, device)?;
                layers.push(LayerInfo {
                    name: format!("{name}.norm2"),
                    key: format!("{key}.bn2"),
                    channels: width,
                    stage: s + 1,
                });
                let conv2 = Conv2d::new(width, width, 3, 1, rng, device);
                let conv_shortcut =
                    (inputs != width).then(|| Conv2d::new(inputs, width, 1, stride, rng, device));
                stage.push(PreActBlock {
                    bn1,
                    conv1,
                    bn2,
                    conv2,
                    conv_shortcut,
                });
                inputs = width;
            }
            stages.push(stage);
        }
        let bn1 = NormLayer::new(NormKind::Bn, inputs, device)?;
        let fc = Linear::new(inputs, classes, rng, device);
        Ok((
            Self {
                conv1,
                stages,
                bn1,
                fc,
            },
            layers,
        ))
    }

    pub fn forward(&self, x: Tensor<4>, norm: &mut dyn NormPolicy) -> Tensor<2> {
        let mut x = self.conv1.forward(x);
        for block in self.stages.iter().flatten() {
            x = block.forward(x, norm);
        }
        let x = relu(norm.fixed(&self.bn1, x));
        self.fc.forward(global_avg_pool(x))
    }

    /// Convolution and classifier FLOPs of one forward pass on a `size`×`size` image.
    pub fn flops(&self, size: usize) -> u64 {
        let (mut total, mut size) = self.conv1.flops(size);
        for block in self.stages.iter().flatten() {
            let (f1, out) = block.conv1.flops(size);
            let (f2, _) = block.conv2.flops(out);
            let fs = block.conv_shortcut.as_ref().map_or(0, |c| c.flops(size).0);
            total += f1 + f2 + fs;
            size = out;
        }
        total + self.fc.flops()
    }

    pub fn random_norms_mut(&mut self) -> Vec<&mut RandomNorm> {
        self.stages
            .iter_mut()
            .flatten()
            .flat_map(|b| [&mut b.bn1, &mut b.bn2])
            .collect()
    }

    pub fn fixed_norms_mut(&mut self) -> Vec<&mut NormLayer> {
        vec![&mut self.bn1]
    }
}

impl Parameters for WideResNet {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        self.conv1.visit(&join(prefix, "conv1"), v);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (b, block) in stage.iter_mut().enumerate() {
                let p = join(prefix, &format!("block{}.layer.{b}", s + 1));
                block.bn1.visit(&join(&p, "bn1"), v);
                block.conv1.visit(&join(&p, "conv1"), v);
                block.bn2.visit(&join(&p, "bn2"), v);
                block.conv2.visit(&join(&p, "conv2"), v);
                if let Some(conv) = block.conv_shortcut.as_mut() {
                    conv.visit(&join(&p, "convShortcut"), v);
                }
            }
        }
        self.bn1.visit(&join(prefix, "bn1"), v);
        self.fc.visit(&join(prefix, "fc"), v);
    }
}
