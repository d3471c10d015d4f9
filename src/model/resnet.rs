//! CIFAR-style ResNets with post-activation BasicBlocks (He et al. 2016), every norm random.
//!
//! ResNet-18: 3×3 stem (64), no max-pool, stages 64/128/256/512 × 2 blocks, 1×1 conv + norm
//! shortcut on stride or width change, 4×4 average pool (global at 32×32 input), linear —
//! 20 random layers. ResNet-20: stages 16/32/64 × 3 blocks, same block — 21 random layers.
//! Parameter keys follow the official release (`conv1`, `bn1`, `layer1.0.bn1`, `layer2.0.shortcut.1`,
//! `linear`).

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::ModelError;
use super::layers::{Conv2d, Linear, NormPolicy, global_avg_pool};
use super::norm::{NormKind, NormLayer, RandomNorm};
use super::params::{Parameters, Visitor, join};
use super::path::LayerInfo;
use crate::rng::SeededRng;

#[derive(Clone, Debug)]
struct BasicBlock {
    conv1: Conv2d,
    bn1: RandomNorm,
    conv2: Conv2d,
    bn2: RandomNorm,
    shortcut: Option<(Conv2d, RandomNorm)>,
}

impl BasicBlock {
    fn forward(&self, x: Tensor<4>, norm: &mut dyn NormPolicy) -> Tensor<4> {
        let entry = norm.mark();
        let out = relu(norm.random(&self.bn1, self.conv1.forward(x.clone())));
        let out = norm.random(&self.bn2, self.conv2.forward(out));
        let main = norm.mark();
        let skip = match &self.shortcut {
            Some((conv, bn)) => {
                let shortcut = norm.align(conv.forward(x), entry);
                norm.random(bn, shortcut)
            }
            None => norm.align(x, entry),
        };
        relu(norm.align(out, main).add(skip))
    }
}

#[derive(Clone, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: RandomNorm,
    stages: Vec<Vec<BasicBlock>>,
    linear: Linear,
}

impl ResNet {
    /// Builds the network and lists its random layers in network order.
    pub fn new(
        stage_widths: &[usize],
        blocks_per_stage: &[usize],
        candidates: &[NormKind],
        classes: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Self, Vec<LayerInfo>), ModelError> {
        if stage_widths.is_empty() || stage_widths.len() != blocks_per_stage.len() {
            return Err(ModelError::Config(
                "a ResNet needs one block count per stage width".into(),
            ));
        }
        if stage_widths.contains(&0) || blocks_per_stage.contains(&0) {
            return Err(ModelError::Config(
                "ResNet widths and block counts must be positive".into(),
            ));
        }
        let mut layers = Vec::new();
        let mut info = |name: String, key: &str, channels: usize, stage: usize| {
            layers.push(LayerInfo {
                name,
                key: key.to_string(),
                channels,
                stage,
            })
        };
        let stem = stage_widths[0];
        let conv1 = Conv2d::new(3, stem, 3, 1, rng, device);
        let bn1 = RandomNorm::new(candidates, stem, device)?;
        info("stem".into(), "bn1", stem, 0);

        let mut inputs = stem;
        let mut stages = Vec::new();
        for (s, (&width, &blocks)) in stage_widths.iter().zip(blocks_per_stage).enumerate() {
            let mut stage = Vec::new();
            for b in 0..blocks {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let name = format!("layer{}.{b}", s + 1);
                let conv1 = Conv2d::new(inputs, width, 3, stride, rng, device);
                let bn1 = RandomNorm::new(candidates, width, device)?;
                info(
                    format!("{name}.norm1"),
                    &format!("{name}.bn1"),
                    width,
                    s + 1,
                );
                let conv2 = Conv2d::new(width, width, 3, 1, rng, device);
                let bn2 = RandomNorm::new(candidates, width, device)?;
                info(
                    format!("{name}.norm2"),
                    &format!("{name}.bn2"),
                    width,
                    s + 1,
                );
                let shortcut = if stride != 1 || inputs != width {
                    let conv = Conv2d::new(inputs, width, 1, stride, rng, device);
                    let bn = RandomNorm::new(candidates, width, device)?;
                    info(
                        format!("{name}.shortcut"),
                        &format!("{name}.shortcut.1"),
                        width,
                        s + 1,
                    );
                    Some((conv, bn))
                } else {
                    None
                };
                stage.push(BasicBlock {
                    conv1,
                    bn1,
                    conv2,
                    bn2,
                    shortcut,
                });
                inputs = width;
            }
            stages.push(stage);
        }
        let linear = Linear::new(inputs, classes, rng, device);
        Ok((
            Self {
                conv1,
                bn1,
                stages,
                linear,
            },
            layers,
        ))
    }

    pub fn forward(&self, x: Tensor<4>, norm: &mut dyn NormPolicy) -> Tensor<2> {
        let mut x = relu(norm.random(&self.bn1, self.conv1.forward(x)));
        for block in self.stages.iter().flatten() {
            x = block.forward(x, norm);
        }
        self.linear.forward(global_avg_pool(x))
    }

    /// Convolution and classifier FLOPs of one forward pass on a `size`×`size` image.
    pub fn flops(&self, size: usize) -> u64 {
        let (mut total, mut size) = self.conv1.flops(size);
        for block in self.stages.iter().flatten() {
            let (f1, out) = block.conv1.flops(size);
            let (f2, _) = block.conv2.flops(out);
            let fs = block.shortcut.as_ref().map_or(0, |(c, _)| c.flops(size).0);
            total += f1 + f2 + fs;
            size = out;
        }
        total + self.linear.flops()
    }

    /// Random norms in network order (the order of [`LayerInfo`]s and path entries).
    pub fn random_norms_mut(&mut self) -> Vec<&mut RandomNorm> {
        let mut out = vec![&mut self.bn1];
        for block in self.stages.iter_mut().flatten() {
            out.push(&mut block.bn1);
            out.push(&mut block.bn2);
            if let Some((_, bn)) = block.shortcut.as_mut() {
                out.push(bn);
            }
        }
        out
    }

    pub fn fixed_norms_mut(&mut self) -> Vec<&mut NormLayer> {
        Vec::new()
    }
}

impl Parameters for ResNet {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        self.conv1.visit(&join(prefix, "conv1"), v);
        self.bn1.visit(&join(prefix, "bn1"), v);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (b, block) in stage.iter_mut().enumerate() {
                let p = join(prefix, &format!("layer{}.{b}", s + 1));
                block.conv1.visit(&join(&p, "conv1"), v);
                block.bn1.visit(&join(&p, "bn1"), v);
                block.conv2.visit(&join(&p, "conv2"), v);
                block.bn2.visit(&join(&p, "bn2"), v);
                if let Some((conv, bn)) = block.shortcut.as_mut() {
                    conv.visit(&join(&p, "shortcut.0"), v);
                    bn.visit(&join(&p, "shortcut.1"), v);
                }
            }
        }
        self.linear.visit(&join(prefix, "linear"), v);
    }
}
