//! Normalization candidates and the random normalization layer that chooses among them.
//!
//! Conventions follow PyTorch, as the official RNA release does: eps 1e-5; BatchNorm momentum
//! 0.1 meaning `running = 0.9 · running + 0.1 · batch`; the running variance is the unbiased
//! batch variance while the batch itself is normalized with the biased one.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::cpu::batch_norm::batch_norm_train;
use super::params::{ParamRole, Parameters, Visitor, join};

pub const EPSILON: f64 = 1e-5;
pub const MOMENTUM: f64 = 0.1;

/// One normalization type a random layer can choose, spelled as on the official command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NormKind {
    /// BatchNorm2d: affine, running statistics.
    Bn,
    /// InstanceNorm2d as PyTorch defaults it: no affine, no running statistics.
    In,
    /// GroupNorm with k groups (`gn_1` is LayerNorm over C,H,W with per-channel affine).
    Gn(usize),
    /// GroupNorm with groups of k channels (`gnr_1` is instance norm *with* affine).
    Gnr(usize),
    /// Batch group norm with k groups: statistics over batch and group, kept as running stats.
    Gbn(usize),
    /// Batch group norm with groups of k channels.
    Gbnr(usize),
}

impl NormKind {
    /// The candidate list of the released RNA models: BatchNorm or instance norm with affine.
    pub const RELEASED: [NormKind; 2] = [NormKind::Bn, NormKind::Gnr(1)];

    /// Whether this norm normalizes with statistics of the batch (and so keeps running
    /// statistics for eval); such layers make a path "BN-type" in composition statistics.
    pub fn uses_batch_statistics(self) -> bool {
        matches!(self, NormKind::Bn | NormKind::Gbn(_) | NormKind::Gbnr(_))
    }

    pub fn has_affine(self) -> bool {
        self != NormKind::In
    }

    /// Number of groups for `channels` channels, or why this norm does not fit them.
    pub fn groups(self, channels: usize) -> Result<usize, ModelError> {
        let bad = |why: String| ModelError::Config(format!("{self} on {channels} channels: {why}"));
        match self {
            NormKind::Bn => Ok(channels),
            NormKind::In => Ok(channels),
            NormKind::Gn(k) | NormKind::Gbn(k) => {
                if k == 0 || !channels.is_multiple_of(k) {
                    Err(bad(format!("{k} groups do not divide the channels")))
                } else {
                    Ok(k)
                }
            }
            NormKind::Gnr(k) | NormKind::Gbnr(k) => {
                if k == 0 || !channels.is_multiple_of(k) {
                    Err(bad(format!(
                        "groups of {k} channels do not divide the channels"
                    )))
                } else {
                    Ok(channels / k)
                }
            }
        }
    }

    /// A short human label for legends ("BN", "IN+affine", ...).
    pub fn label(self) -> String {
        match self {
            NormKind::Bn => "BatchNorm".into(),
            NormKind::In => "InstanceNorm".into(),
            NormKind::Gn(1) => "LayerNorm".into(),
            NormKind::Gn(k) => format!("GroupNorm({k} groups)"),
            NormKind::Gnr(1) => "InstanceNorm+affine".into(),
            NormKind::Gnr(k) => format!("GroupNorm({k} ch/group)"),
            NormKind::Gbn(k) => format!("BatchGroupNorm({k} groups)"),
            NormKind::Gbnr(k) => format!("BatchGroupNorm({k} ch/group)"),
        }
    }
}

impl fmt::Display for NormKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NormKind::Bn => write!(f, "bn"),
            NormKind::In => write!(f, "in"),
            NormKind::Gn(k) => write!(f, "gn_{k}"),
            NormKind::Gnr(k) => write!(f, "gnr_{k}"),
            NormKind::Gbn(k) => write!(f, "gbn_{k}"),
            NormKind::Gbnr(k) => write!(f, "gbnr_{k}"),
        }
    }
}

impl FromStr for NormKind {
    type Err = ModelError;

    /// Accepts the official spellings (`bn`, `in`, `gn_k`, `gnr_k`, `gbn_k`, `gbnr_k`) and
    /// `bgn_k` / `bgnr_k` as aliases for batch group norm.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let err = || {
            ModelError::Config(format!(
                "unknown normalization '{s}': expected bn, in, gn_K, gnr_K, gbn_K or gbnr_K (K ≥ 1)"
            ))
        };
        match s.as_str() {
            "bn" => return Ok(NormKind::Bn),
            "in" => return Ok(NormKind::In),
            _ => {}
        }
        let (prefix, k) = s.rsplit_once('_').ok_or_else(err)?;
        let k: usize = k.parse().map_err(|_| err())?;
        if k == 0 {
            return Err(err());
        }
        match prefix {
            "gn" => Ok(NormKind::Gn(k)),
            "gnr" => Ok(NormKind::Gnr(k)),
            "gbn" | "bgn" => Ok(NormKind::Gbn(k)),
            "gbnr" | "bgnr" => Ok(NormKind::Gbnr(k)),
            _ => Err(err()),
        }
    }
}

impl Serialize for NormKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for NormKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated candidate list such as `bn,gnr_1`.
pub fn parse_norm_list(text: &str) -> Result<Vec<NormKind>, ModelError> {
    let list = text
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<NormKind>, _>>()?;
    if list.is_empty() {
        return Err(ModelError::Config("the candidate list is empty".into()));
    }
    Ok(list)
}

/// One normalization module: its own affine parameters and, for batch norms, running statistics.
#[derive(Clone, Debug)]
pub struct NormLayer {
    pub kind: NormKind,
    pub channels: usize,
    groups: usize,
    weight: Option<Tensor<1>>,
    bias: Option<Tensor<1>>,
    /// Per channel for BN, per group for batch group norm.
    running_mean: Option<Tensor<1>>,
    running_var: Option<Tensor<1>>,
}

/// New running statistics produced by a training-mode forward pass.
pub struct RunningUpdate {
    mean: Tensor<1>,
    var: Tensor<1>,
}

impl NormLayer {
    pub fn new(kind: NormKind, channels: usize, device: &Device) -> Result<Self, ModelError> {
        let groups = kind.groups(channels)?;
        let affine = kind.has_affine();
        let stats = match kind {
            NormKind::Bn => Some(channels),
            NormKind::Gbn(_) | NormKind::Gbnr(_) => Some(groups),
            _ => None,
        };
        Ok(Self {
            kind,
            channels,
            groups,
            weight: affine.then(|| Tensor::ones([channels], device)),
            bias: affine.then(|| Tensor::zeros([channels], device)),
            running_mean: stats.map(|n| Tensor::zeros([n], device)),
            running_var: stats.map(|n| Tensor::ones([n], device)),
        })
    }

    /// Eval mode: batch norms use their running statistics, so every sample is normalized
    /// independently of the others (the property that per-sample paths rely on).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = self.scale_shift(&x);
        apply(x, scale, shift)
    }

    /// Eval mode as one scale and one shift per channel: `[1, C]` for norms with running
    /// statistics, `[N, C]` for per-sample norms. Statistics and affine parameters fold into
    /// them, and a layer whose samples take different candidates mixes them before applying.
    fn scale_shift(&self, x: &Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        match self.kind {
            NormKind::Bn => self.with_running_statistics(
                self.running_mean.clone().unwrap(),
                self.running_var.clone().unwrap(),
            ),
            NormKind::Gbn(_) | NormKind::Gbnr(_) => {
                let per_channel = |t: &Tensor<1>| {
                    t.clone()
                        .reshape([self.groups, 1])
                        .repeat_dim(1, self.channels / self.groups)
                        .reshape([self.channels])
                };
                self.with_running_statistics(
                    per_channel(self.running_mean.as_ref().unwrap()),
                    per_channel(self.running_var.as_ref().unwrap()),
                )
            }
            NormKind::In | NormKind::Gn(_) | NormKind::Gnr(_) => self.group_statistics(x),
        }
    }

    /// Per-channel running statistics folded with the affine parameters.
    fn with_running_statistics(&self, mean: Tensor<1>, var: Tensor<1>) -> (Tensor<2>, Tensor<2>) {
        let c = self.channels;
        let inv_std = var.add_scalar(EPSILON).sqrt().recip();
        let scale = self.weight.clone().unwrap().mul(inv_std);
        let shift = self.bias.clone().unwrap().sub(mean.mul(scale.clone()));
        (scale.reshape([1, c]), shift.reshape([1, c]))
    }

    /// Train mode: batch norms normalize with batch statistics and return their new running
    /// statistics; per-sample norms behave as in eval mode.
    pub fn forward_train(&self, x: Tensor<4>) -> (Tensor<4>, Option<RunningUpdate>) {
        match self.kind {
            NormKind::Bn => {
                let [n, _, h, w] = x.dims();
                let (output, mean, variance) = batch_norm_train(
                    x,
                    self.weight.clone().unwrap(),
                    self.bias.clone().unwrap(),
                    EPSILON,
                );
                let update = self.momentum_update(mean, variance, n * h * w);
                (output, Some(update))
            }
            NormKind::Gbn(_) | NormKind::Gbnr(_) => {
                let [n, c, h, w] = x.dims();
                let g = self.groups;
                let per_group = n * (c / g) * h * w;
                // [N, G, C/G·H·W] → [G, N·C/G·H·W]: one row of statistics per group.
                let grouped = x.reshape([n, g, per_group / n]);
                let rows = grouped.clone().swap_dims(0, 1).reshape([g, per_group]);
                let (var, mean) = rows.var_mean_bias(1);
                let mean3 = mean.clone().reshape([1, g, 1]);
                let std3 = var.clone().add_scalar(EPSILON).sqrt().reshape([1, g, 1]);
                let normalized = grouped.sub(mean3).div(std3).reshape([n, c, h, w]);
                let update = self.momentum_update(
                    mean.reshape([g]).detach(),
                    var.reshape([g]).detach(),
                    per_group,
                );
                (self.affine(normalized), Some(update))
            }
            _ => (self.group_norm(x), None),
        }
    }

    pub fn apply_update(&mut self, update: RunningUpdate) {
        self.running_mean = Some(update.mean);
        self.running_var = Some(update.var);
    }

    /// PyTorch's update: the running variance takes the unbiased batch variance.
    fn momentum_update(
        &self,
        mean: Tensor<1>,
        biased_var: Tensor<1>,
        count: usize,
    ) -> RunningUpdate {
        assert!(
            count > 1,
            "train-mode batch normalization needs more than one value per channel"
        );
        let unbiased = biased_var.mul_scalar(count as f64 / (count as f64 - 1.0));
        let old_mean = self.running_mean.clone().unwrap().inner();
        let old_var = self.running_var.clone().unwrap().inner();
        RunningUpdate {
            mean: old_mean
                .mul_scalar(1.0 - MOMENTUM)
                .add(mean.inner().mul_scalar(MOMENTUM)),
            var: old_var
                .mul_scalar(1.0 - MOMENTUM)
                .add(unbiased.inner().mul_scalar(MOMENTUM)),
        }
    }

    /// Per-sample normalization over groups of channels (IN, GN, LN). Statistics and affine
    /// parameters fold into one scale and one shift per sample and channel: two passes over
    /// the activations instead of four (normalizing is memory-bound on a CPU).
    fn group_norm(&self, x: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = self.group_statistics(&x);
        apply(x, scale, shift)
    }

    /// Each sample's group statistics folded with the affine parameters, `[N, C]` each.
    fn group_statistics(&self, x: &Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let [n, c, h, w] = x.dims();
        let g = self.groups;
        let (var, mean) = x.clone().reshape([n, g, (c / g) * h * w]).var_mean_bias(2);
        let per_channel = |t: Tensor<3>| t.repeat_dim(2, c / g).reshape([n, c]);
        let inv_std = per_channel(var.add_scalar(EPSILON).sqrt().recip());
        let mean = per_channel(mean);
        match (&self.weight, &self.bias) {
            (Some(weight), Some(bias)) => {
                let scale = inv_std.mul(weight.clone().reshape([1, c]));
                let shift = bias.clone().reshape([1, c]).sub(mean.mul(scale.clone()));
                (scale, shift)
            }
            _ => (inv_std.clone(), mean.mul(inv_std).neg()),
        }
    }

    fn affine(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => {
                let c = self.channels;
                x.mul(w.clone().reshape([1, c, 1, 1]))
                    .add(b.clone().reshape([1, c, 1, 1]))
            }
            _ => x,
        }
    }
}

/// `x · scale + shift` per channel, with `[1, C]` or `[N, C]` scale and shift.
fn apply(x: Tensor<4>, scale: Tensor<2>, shift: Tensor<2>) -> Tensor<4> {
    let ([rows, c], shift_rows) = (scale.dims(), shift.dims()[0]);
    x.mul(scale.reshape([rows, c, 1, 1]))
        .add(shift.reshape([shift_rows, c, 1, 1]))
}

impl Parameters for NormLayer {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        if let Some(t) = self.weight.as_mut() {
            v(&join(prefix, "weight"), ParamRole::Trainable, t.into());
        }
        if let Some(t) = self.bias.as_mut() {
            v(&join(prefix, "bias"), ParamRole::Trainable, t.into());
        }
        if let Some(t) = self.running_mean.as_mut() {
            v(&join(prefix, "running_mean"), ParamRole::Buffer, t.into());
        }
        if let Some(t) = self.running_var.as_mut() {
            v(&join(prefix, "running_var"), ParamRole::Buffer, t.into());
        }
    }
}

/// How one random layer routes a batch in eval mode.
#[derive(Clone, Debug)]
pub enum LayerRoute {
    /// Every sample uses this candidate.
    All(usize),
    /// Samples use different candidates: for each candidate in use, a `[N,1,1,1]` 0/1 mask.
    PerSample(Vec<(usize, Tensor<4>)>),
}

/// A normalization layer that holds several candidates and uses one of them per forward pass
/// (or, in eval mode, one per sample). Candidates share nothing but their position.
#[derive(Clone, Debug)]
pub struct RandomNorm {
    pub candidates: Vec<NormLayer>,
}

impl RandomNorm {
    pub fn new(kinds: &[NormKind], channels: usize, device: &Device) -> Result<Self, ModelError> {
        let candidates = kinds
            .iter()
            .map(|&k| NormLayer::new(k, channels, device))
            .collect::<Result<_, _>>()?;
        Ok(Self { candidates })
    }

    pub fn forward(&self, x: Tensor<4>, route: &LayerRoute) -> Tensor<4> {
        match route {
            LayerRoute::All(c) => self.candidates[*c].forward(x),
            LayerRoute::PerSample(masks) => {
                // Each sample's scale and shift from its own candidate, then one pass over x.
                let n = x.dims()[0];
                let (scale, shift) = masks
                    .iter()
                    .map(|(c, mask)| {
                        let (scale, shift) = self.candidates[*c].scale_shift(&x);
                        let mask = mask.clone().reshape([n, 1]);
                        (scale.mul(mask.clone()), shift.mul(mask))
                    })
                    .reduce(|(a, b), (c, d)| (a.add(c), b.add(d)))
                    .expect("a per-sample route uses at least one candidate");
                apply(x, scale, shift)
            }
        }
    }
}

impl Parameters for RandomNorm {
    /// Official key layout: `<layer>.norm.<candidate index>.<param>`.
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        for (i, cand) in self.candidates.iter_mut().enumerate() {
            cand.visit(&join(prefix, &format!("norm.{i}")), v);
        }
    }
}
