//! SGD as PyTorch computes it (see the module docs of [`super`] for what a candidate off the
//! step's path receives).

use std::collections::HashMap;

use burn::tensor::Tensor;

use crate::model::{ParamRole, RnaModel};

/// SGD with momentum and L2 weight decay, as PyTorch's `torch.optim.SGD` computes them.
pub(super) struct Sgd {
    pub(super) momentum: f64,
    pub(super) weight_decay: f64,
    pub(super) buffers: HashMap<String, Tensor<1>>,
}

impl Sgd {
    /// Updates `model` from the gradients of `tracked` (the same weights, tracked by autodiff),
    /// and takes over the running statistics `tracked` computed in its forward pass.
    pub(super) fn step(
        &mut self,
        model: &mut RnaModel,
        tracked: &mut RnaModel,
        grads: &burn::tensor::Gradients,
        lr: f64,
    ) {
        let mut from_tracked: HashMap<String, (Option<Tensor<1>>, Tensor<1>)> = HashMap::new();
        tracked.visit_params(&mut |name, role, p| {
            let grad = (role == ParamRole::Trainable)
                .then(|| p.grad_flat(grads))
                .flatten();
            from_tracked.insert(name.to_string(), (grad, p.flat().inner()));
        });
        model.visit_params(&mut |name, role, mut p| {
            let (grad, value) = from_tracked.remove(name).expect("same parameters");
            match role {
                ParamRole::Buffer => p.set_flat(value),
                ParamRole::Trainable => {
                    let Some(grad) = grad else { return };
                    let w = p.flat();
                    let g = grad.add(w.clone().mul_scalar(self.weight_decay));
                    let buf = match self.buffers.remove(name) {
                        Some(b) => b.mul_scalar(self.momentum).add(g),
                        None => g,
                    };
                    p.set_flat(w.sub(buf.clone().mul_scalar(lr)));
                    self.buffers.insert(name.to_string(), buf);
                }
            }
        });
    }
}
