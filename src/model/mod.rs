//! RNA networks: configuration, construction, and forward passes along paths.

mod cpu;
pub mod file;
pub mod layers;
pub mod norm;
pub mod params;
pub mod path;
pub mod resnet;
mod shared;
pub mod wide_resnet;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use norm::{LayerRoute, NormKind, NormLayer, RandomNorm};
pub use params::{ParamMut, ParamRole, Parameters, TensorMap, map_tensors};
pub use path::{LayerInfo, Path, PathMix, PathSpace};

use layers::{NormPolicy, TrainPolicy};
use resnet::ResNet;
use wide_resnet::WideResNet;

use crate::base::CIFAR10_CLASSES;
use crate::rng::SeededRng;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("invalid path: {0}")]
    Path(String),
    #[error("{0}")]
    File(String),
    /// The I/O error is part of the message, not a separate source, so that error chains
    /// (`{:#}`) do not print it twice.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// The network family member, with its shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// CIFAR ResNet of post-activation BasicBlocks; the stem has the first stage's width.
    ResNet {
        stage_widths: Vec<usize>,
        blocks_per_stage: Vec<usize>,
    },
    /// Pre-activation WideResNet; depth 6n+4.
    WideResNet { depth: usize, widen_factor: usize },
}

impl Architecture {
    /// Named presets: `resnet18` (the paper's), `resnet18-half` (half its width: a quarter of
    /// the FLOPs, for training on a CPU), `resnet20` (the first small model), `wrn34-10`.
    pub const PRESETS: [&'static str; 4] = ["resnet20", "resnet18", "resnet18-half", "wrn34-10"];

    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name.to_ascii_lowercase().as_str() {
            "resnet18" => Ok(Architecture::ResNet {
                stage_widths: vec![64, 128, 256, 512],
                blocks_per_stage: vec![2, 2, 2, 2],
            }),
            "resnet18-half" => Ok(Architecture::ResNet {
                stage_widths: vec![32, 64, 128, 256],
                blocks_per_stage: vec![2, 2, 2, 2],
            }),
            "resnet20" => Ok(Architecture::ResNet {
                stage_widths: vec![16, 32, 64],
                blocks_per_stage: vec![3, 3, 3],
            }),
            "wrn34-10" | "wrn-34-10" | "wideresnet34-10" => Ok(Architecture::WideResNet {
                depth: 34,
                widen_factor: 10,
            }),
            other => Err(ModelError::Config(format!(
                "unknown architecture '{other}': expected one of {}",
                Self::PRESETS.join(", ")
            ))),
        }
    }

    /// The preset name when the shape is a preset's, else a description of the shape.
    pub fn name(&self) -> String {
        for preset in Self::PRESETS {
            if Self::preset(preset).as_ref() == Ok(self) {
                return preset.to_string();
            }
        }
        match self {
            Architecture::ResNet {
                stage_widths,
                blocks_per_stage,
            } => format!("resnet(widths {stage_widths:?}, blocks {blocks_per_stage:?})"),
            Architecture::WideResNet {
                depth,
                widen_factor,
            } => format!("wrn{depth}-{widen_factor}"),
        }
    }
}

impl PartialEq for ModelError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// What a model file records about how the weights were obtained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// False for a freshly initialised network: its predictions mean nothing.
    pub trained: bool,
    /// Free-form description (recipe, epochs, data), shown in summaries.
    #[serde(default)]
    pub summary: String,
    /// The training configuration, as given to `rna-lens train`.
    #[serde(default)]
    pub training_config: Option<serde_json::Value>,
}

/// Everything needed to rebuild a model around its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub architecture: Architecture,
    /// Candidate list of every random layer, in candidate-index order.
    pub norms: Vec<NormKind>,
    pub class_names: Vec<String>,
    /// Per-channel input normalization applied inside the model to inputs in [0, 1].
    pub input_mean: [f32; 3],
    pub input_std: [f32; 3],
    pub input_size: usize,
    #[serde(default)]
    pub provenance: Provenance,
}

impl ModelConfig {
    /// CIFAR-10 defaults: the released candidate list `[bn, gnr_1]` and CIFAR-10 statistics.
    pub fn cifar10(architecture: Architecture) -> Self {
        Self {
            architecture,
            norms: NormKind::RELEASED.to_vec(),
            class_names: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
            input_mean: [0.4914, 0.4822, 0.4465],
            input_std: [0.2471, 0.2435, 0.2616],
            input_size: 32,
            provenance: Provenance::default(),
        }
    }

    pub fn with_norms(mut self, norms: Vec<NormKind>) -> Self {
        self.norms = norms;
        self
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.norms.is_empty() {
            return bad("the candidate list is empty".into());
        }
        if self.norms.len() > 36 {
            return bad(format!(
                "{} candidates; at most 36 are supported",
                self.norms.len()
            ));
        }
        if self.class_names.len() < 2 {
            return bad("a classifier needs at least two classes".into());
        }
        // Bounds that keep a crafted file from asking for absurd allocations.
        match &self.architecture {
            Architecture::ResNet {
                stage_widths,
                blocks_per_stage,
            } if stage_widths.len() > 8
                || stage_widths.iter().any(|&w| w > 4096)
                || blocks_per_stage.iter().any(|&b| b > 64) =>
            {
                return bad(format!(
                    "ResNet too large: widths {stage_widths:?}, blocks {blocks_per_stage:?}"
                ));
            }
            Architecture::WideResNet {
                depth,
                widen_factor,
            } if *depth > 202 || *widen_factor > 32 => {
                return bad(format!(
                    "WideResNet too large: depth {depth}, widen {widen_factor}"
                ));
            }
            _ => {}
        }
        if self.class_names.len() > 100_000 {
            return bad(format!(
                "{} classes is beyond any classifier here",
                self.class_names.len()
            ));
        }
        if self.input_size != 32 {
            return bad(format!(
                "input size {} (only 32×32 is supported)",
                self.input_size
            ));
        }
        if self.input_std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.input_mean.iter().any(|m| !m.is_finite())
        {
            return bad("input mean/std must be finite with std > 0".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Network {
    ResNet(Box<ResNet>),
    WideResNet(Box<WideResNet>),
}

impl Network {
    fn forward(&self, x: Tensor<4>, norm: &mut dyn NormPolicy) -> Tensor<2> {
        match self {
            Network::ResNet(n) => n.forward(x, norm),
            Network::WideResNet(n) => n.forward(x, norm),
        }
    }

    fn flops(&self, size: usize) -> u64 {
        match self {
            Network::ResNet(n) => n.flops(size),
            Network::WideResNet(n) => n.flops(size),
        }
    }

    fn random_norms_mut(&mut self) -> Vec<&mut RandomNorm> {
        match self {
            Network::ResNet(n) => n.random_norms_mut(),
            Network::WideResNet(n) => n.random_norms_mut(),
        }
    }

    fn fixed_norms_mut(&mut self) -> Vec<&mut NormLayer> {
        match self {
            Network::ResNet(n) => n.fixed_norms_mut(),
            Network::WideResNet(n) => n.fixed_norms_mut(),
        }
    }
}

impl Parameters for Network {
    fn visit(&mut self, prefix: &str, v: &mut params::Visitor<'_>) {
        match self {
            Network::ResNet(n) => n.visit(prefix, v),
            Network::WideResNet(n) => n.visit(prefix, v),
        }
    }
}

/// Eval-mode policy: each random layer follows its precomputed route.
struct EvalPolicy<'r> {
    routes: &'r [LayerRoute],
    next_layer: usize,
}

impl NormPolicy for EvalPolicy<'_> {
    fn random(&mut self, norm: &RandomNorm, x: Tensor<4>) -> Tensor<4> {
        let route = &self.routes[self.next_layer];
        self.next_layer += 1;
        norm.forward(x, route)
    }

    fn fixed(&mut self, norm: &NormLayer, x: Tensor<4>) -> Tensor<4> {
        norm.forward(x)
    }
}

/// Eval routing that keeps every random layer's output.
struct RecordingPolicy<'r> {
    eval: EvalPolicy<'r>,
    outputs: Vec<Tensor<4>>,
}

impl NormPolicy for RecordingPolicy<'_> {
    fn random(&mut self, norm: &RandomNorm, x: Tensor<4>) -> Tensor<4> {
        let y = self.eval.random(norm, x);
        self.outputs.push(y.clone());
        y
    }

    fn fixed(&mut self, norm: &NormLayer, x: Tensor<4>) -> Tensor<4> {
        self.eval.fixed(norm, x)
    }
}

/// An RNA network with its configuration and path space.
#[derive(Clone, Debug)]
pub struct RnaModel {
    config: ModelConfig,
    space: PathSpace,
    network: Network,
    device: Device,
}

impl RnaModel {
    /// A freshly initialised model; the same seed gives the same weights on every platform.
    pub fn new(config: ModelConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = SeededRng::derive(seed, "init");
        let classes = config.num_classes();
        let (network, layers) = match &config.architecture {
            Architecture::ResNet {
                stage_widths,
                blocks_per_stage,
            } => {
                let (n, l) = ResNet::new(
                    stage_widths,
                    blocks_per_stage,
                    &config.norms,
                    classes,
                    &mut rng,
                    device,
                )?;
                (Network::ResNet(Box::new(n)), l)
            }
            Architecture::WideResNet {
                depth,
                widen_factor,
            } => {
                let (n, l) = WideResNet::new(
                    *depth,
                    *widen_factor,
                    &config.norms,
                    classes,
                    &mut rng,
                    device,
                )?;
                (Network::WideResNet(Box::new(n)), l)
            }
        };
        let space = PathSpace {
            layers,
            candidates: config.norms.clone(),
        };
        Ok(Self {
            config,
            space,
            network,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn provenance_mut(&mut self) -> &mut Provenance {
        &mut self.config.provenance
    }

    pub fn path_space(&self) -> &PathSpace {
        &self.space
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn num_classes(&self) -> usize {
        self.config.num_classes()
    }

    /// FLOPs of one image's forward pass (convolutions and classifier; a multiply-add is 2;
    /// norms and activations, a few percent, are left out as FLOP counters usually do).
    pub fn flops_per_image(&self) -> u64 {
        self.network.flops(self.config.input_size)
    }

    /// Number of trainable scalars (running statistics excluded).
    pub fn num_parameters(&mut self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |_, role, p| {
            if role == ParamRole::Trainable {
                n += p.num_elements();
            }
        });
        n
    }

    /// Every parameter and buffer under its official key.
    pub fn visit_params(&mut self, v: &mut params::Visitor<'_>) {
        self.network.visit("", v);
    }

    /// Applies a rank-generic transformation to every parameter (device moves, autodiff).
    pub fn map_params(&mut self, mapper: &mut impl TensorMap) {
        map_tensors(&mut self.network, mapper);
    }

    /// The same weights on another device (autodiff context included in `device`).
    pub fn to_device(&self, device: &Device) -> Self {
        struct Move<'d>(&'d Device);
        impl TensorMap for Move<'_> {
            fn map<const D: usize>(&mut self, _: &str, _: ParamRole, t: Tensor<D>) -> Tensor<D> {
                let t = t.to_device(self.0);
                if self.0.is_autodiff() {
                    t.autodiff()
                } else {
                    t.inner()
                }
            }
        }
        let mut model = self.clone();
        model.map_params(&mut Move(device));
        model.device = device.clone();
        model
    }

    fn normalize_input(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let mean = Tensor::<1>::from_data(
            TensorData::new(self.config.input_mean.to_vec(), [3]),
            &device,
        )
        .reshape([1, 3, 1, 1]);
        let std = Tensor::<1>::from_data(
            TensorData::new(self.config.input_std.to_vec(), [3]),
            &device,
        )
        .reshape([1, 3, 1, 1]);
        x.sub(mean).div(std)
    }

    fn check_input(&self, x: &Tensor<4>) {
        let [_, c, h, w] = x.dims();
        let s = self.config.input_size;
        assert!(
            c == 3 && h == s && w == s,
            "model input must be [N, 3, {s}, {s}], got [_, {c}, {h}, {w}]"
        );
    }

    /// Eval mode, one path for the whole batch (the official protocol). Input in [0, 1].
    pub fn forward_path(&self, x: Tensor<4>, path: &Path) -> Tensor<2> {
        let routes: Vec<LayerRoute> = path
            .choices()
            .iter()
            .map(|&c| LayerRoute::All(c.into()))
            .collect();
        self.forward_routes(x, &routes)
    }

    /// Eval mode, one path per sample: `paths[i]` classifies `x[i]`, all in one batched pass.
    pub fn forward_paths(&self, x: Tensor<4>, paths: &[Path]) -> Tensor<2> {
        let routes = self.per_sample_routes(&x, paths);
        self.forward_routes(x, &routes)
    }

    /// Every random layer's output, in network order, with `paths[i]` routing `x[i]` as in
    /// [`forward_paths`](Self::forward_paths): what the layer view compares between an image
    /// and its adversarial version.
    pub fn random_layer_outputs(&self, x: Tensor<4>, paths: &[Path]) -> Vec<Tensor<4>> {
        self.check_input(&x);
        let routes = self.per_sample_routes(&x, paths);
        let mut policy = RecordingPolicy {
            eval: EvalPolicy {
                routes: &routes,
                next_layer: 0,
            },
            outputs: Vec::with_capacity(routes.len()),
        };
        self.network.forward(self.normalize_input(x), &mut policy);
        policy.outputs
    }

    fn per_sample_routes(&self, x: &Tensor<4>, paths: &[Path]) -> Vec<LayerRoute> {
        let n = x.dims()[0];
        assert_eq!(paths.len(), n, "one path per sample");
        let device = x.device();
        (0..self.space.num_layers())
            .map(|layer| {
                let first = paths[0].get(layer);
                if paths.iter().all(|p| p.get(layer) == first) {
                    return LayerRoute::All(first);
                }
                let masks = (0..self.space.num_candidates())
                    .filter_map(|c| {
                        let mask: Vec<f32> = paths
                            .iter()
                            .map(|p| if p.get(layer) == c { 1.0 } else { 0.0 })
                            .collect();
                        mask.contains(&1.0).then(|| {
                            (
                                c,
                                Tensor::from_data(TensorData::new(mask, [n, 1, 1, 1]), &device),
                            )
                        })
                    })
                    .collect();
                LayerRoute::PerSample(masks)
            })
            .collect()
    }

    /// Eval mode, every path on the single image `x` (`[1, 3, H, W]`): the logits of `paths[i]`
    /// in row i, as [`forward_paths`](Self::forward_paths) gives them for a replicated image,
    /// but with each distinct path prefix computed once.
    pub fn forward_shared(&self, x: Tensor<4>, paths: &[Path]) -> Tensor<2> {
        self.check_input(&x);
        assert_eq!(x.dims()[0], 1, "one image");
        let mut policy = shared::SharedPrefixPolicy::new(paths);
        let logits = self.network.forward(self.normalize_input(x), &mut policy);
        let rows: Vec<i64> = policy.final_rows().iter().map(|&r| r as i64).collect();
        let n = rows.len();
        let device = logits.device();
        logits.select(
            0,
            Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(rows, [n]), &device),
        )
    }

    fn forward_routes(&self, x: Tensor<4>, routes: &[LayerRoute]) -> Tensor<2> {
        self.check_input(&x);
        assert_eq!(
            routes.len(),
            self.space.num_layers(),
            "one route per random layer"
        );
        let mut policy = EvalPolicy {
            routes,
            next_layer: 0,
        };
        let x = self.normalize_input(x);
        self.network.forward(x, &mut policy)
    }

    /// Train mode along one path for the whole batch, as the official code trains: batch norms
    /// on the path use batch statistics and update their running statistics.
    pub fn forward_train(&mut self, x: Tensor<4>, path: &Path) -> Tensor<2> {
        self.check_input(&x);
        let mut policy = TrainPolicy {
            path,
            next_layer: 0,
            random_updates: Vec::new(),
            fixed_updates: Vec::new(),
        };
        let x = self.normalize_input(x);
        let logits = self.network.forward(x, &mut policy);
        let TrainPolicy {
            random_updates,
            fixed_updates,
            ..
        } = policy;
        let mut norms = self.network.random_norms_mut();
        for (layer, candidate, update) in random_updates {
            if let Some(update) = update {
                norms[layer].candidates[candidate].apply_update(update);
            }
        }
        for (norm, update) in self
            .network
            .fixed_norms_mut()
            .into_iter()
            .zip(fixed_updates)
        {
            if let Some(update) = update {
                norm.apply_update(update);
            }
        }
        logits
    }
}

/// The predicted class of every row of `[N, K]` logits.
pub fn predictions(logits: Tensor<2>) -> Vec<usize> {
    let labels: Vec<i64> = crate::device::read_back(logits.inner().argmax(1))
        .convert::<i64>()
        .try_into_vec()
        .expect("argmax gives integers");
    labels.into_iter().map(|l| l as usize).collect()
}

/// How many rows of `logits` predict their label.
pub fn count_correct(logits: Tensor<2>, labels: &[usize]) -> usize {
    predictions(logits)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}

#[cfg(test)]
mod tests;

/// A two-stage ResNet of widths 4 and 8 with `norms` as candidates: small enough for tests of
/// everything that runs a model.
#[cfg(test)]
pub(crate) fn tiny_for_tests(seed: u64, norms: Vec<norm::NormKind>) -> RnaModel {
    let architecture = Architecture::ResNet {
        stage_widths: vec![4, 8],
        blocks_per_stage: vec![1, 1],
    };
    RnaModel::new(
        ModelConfig::cifar10(architecture).with_norms(norms),
        seed,
        &Device::flex(),
    )
    .expect("a valid tiny model")
}
