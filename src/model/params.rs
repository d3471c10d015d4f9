//! Named parameters: every layer lists its tensors under the key the official PyTorch release
//! uses, so model files, the optimizer and PyTorch interchange all share one naming.

use burn::tensor::Tensor;

/// Trainable parameters get gradients; buffers (running statistics) are saved but not trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    Trainable,
    Buffer,
}

/// A mutable reference to a parameter of any rank used by the models.
pub enum ParamMut<'a> {
    Vector(&'a mut Tensor<1>),
    Matrix(&'a mut Tensor<2>),
    Kernel(&'a mut Tensor<4>),
}

impl<'a> From<&'a mut Tensor<1>> for ParamMut<'a> {
    fn from(t: &'a mut Tensor<1>) -> Self {
        ParamMut::Vector(t)
    }
}
impl<'a> From<&'a mut Tensor<2>> for ParamMut<'a> {
    fn from(t: &'a mut Tensor<2>) -> Self {
        ParamMut::Matrix(t)
    }
}
impl<'a> From<&'a mut Tensor<4>> for ParamMut<'a> {
    fn from(t: &'a mut Tensor<4>) -> Self {
        ParamMut::Kernel(t)
    }
}

impl ParamMut<'_> {
    pub fn dims(&self) -> Vec<usize> {
        match self {
            ParamMut::Vector(t) => t.dims().to_vec(),
            ParamMut::Matrix(t) => t.dims().to_vec(),
            ParamMut::Kernel(t) => t.dims().to_vec(),
        }
    }

    /// The values, flattened in row-major order.
    pub fn to_vec(&self) -> Vec<f32> {
        let data = match self {
            ParamMut::Vector(t) => t.to_data(),
            ParamMut::Matrix(t) => t.to_data(),
            ParamMut::Kernel(t) => t.to_data(),
        };
        data.convert::<f32>()
            .try_into_vec::<f32>()
            .expect("parameters are f32")
    }

    /// Replaces the values, keeping shape and device. The caller checked the length.
    pub fn set(&mut self, values: Vec<f32>) {
        use burn::tensor::TensorData;
        match self {
            ParamMut::Vector(t) => {
                let device = t.device();
                **t = Tensor::from_data(TensorData::new(values, t.dims()), &device);
            }
            ParamMut::Matrix(t) => {
                let device = t.device();
                **t = Tensor::from_data(TensorData::new(values, t.dims()), &device);
            }
            ParamMut::Kernel(t) => {
                let device = t.device();
                **t = Tensor::from_data(TensorData::new(values, t.dims()), &device);
            }
        }
    }

    /// The parameter as a rank-1 view (a plain reshape; for optimizer arithmetic).
    pub fn flat(&self) -> Tensor<1> {
        let n = self.num_elements();
        match self {
            ParamMut::Vector(t) => (*t).clone(),
            ParamMut::Matrix(t) => (*t).clone().reshape([n]),
            ParamMut::Kernel(t) => (*t).clone().reshape([n]),
        }
    }

    /// Replaces the parameter from a rank-1 tensor of the same number of elements.
    pub fn set_flat(&mut self, flat: Tensor<1>) {
        match self {
            ParamMut::Vector(t) => **t = flat,
            ParamMut::Matrix(t) => {
                let dims = t.dims();
                **t = flat.reshape(dims);
            }
            ParamMut::Kernel(t) => {
                let dims = t.dims();
                **t = flat.reshape(dims);
            }
        }
    }

    /// This parameter's gradient, flattened, when it took part in the backward pass.
    pub fn grad_flat(&self, grads: &burn::tensor::Gradients) -> Option<Tensor<1>> {
        let n = self.num_elements();
        match self {
            ParamMut::Vector(t) => t.grad(grads),
            ParamMut::Matrix(t) => t.grad(grads).map(|g| g.reshape([n])),
            ParamMut::Kernel(t) => t.grad(grads).map(|g| g.reshape([n])),
        }
    }

    pub fn num_elements(&self) -> usize {
        self.dims().iter().product()
    }
}

/// Called once per parameter with its full key.
pub type Visitor<'v> = dyn FnMut(&str, ParamRole, ParamMut<'_>) + 'v;

pub trait Parameters {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>);
}

pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A rank-generic transformation of parameters (device moves, autodiff on/off, updates).
pub trait TensorMap {
    fn map<const D: usize>(&mut self, name: &str, role: ParamRole, t: Tensor<D>) -> Tensor<D>;
}

/// Applies `mapper` to every parameter in place.
pub fn map_tensors(module: &mut dyn Parameters, mapper: &mut impl TensorMap) {
    module.visit("", &mut |name, role, param| match param {
        ParamMut::Vector(t) => *t = mapper.map(name, role, t.clone()),
        ParamMut::Matrix(t) => *t = mapper.map(name, role, t.clone()),
        ParamMut::Kernel(t) => *t = mapper.map(name, role, t.clone()),
    });
}
