//! Kernels of our own for burn's CPU backend (flex), where its generic ones cost most of a
//! training step: the convolution and train-mode batch normalization, each one autodiff node
//! with a hand-written backward pass. Tensors on any other backend (wgpu), or of another float
//! type, go to burn's own operations unchanged.

pub mod batch_norm;
pub mod conv;

use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};

/// Defines `fn $name(args)` that runs `$body(args)` compiled for AVX-512, or else AVX2, where
/// the processor has it: the binary targets baseline x86-64, so our own loops would otherwise get
/// SSE2 only. `$body` (and what it calls) must be `#[inline(always)]` to be compiled that way.
/// (Batch norm's sums use `pulp` instead: explicit vector code rather than loops the compiler
/// vectorizes.)
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?);) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if has!("avx512f") && has!("avx512vl") && has!("avx2") && has!("fma") {
                    // SAFETY: the processor was just found to have every feature `v4` needs.
                    return unsafe { v4($($arg),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: likewise for `v3`.
                    return unsafe { v3($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

/// A float-32 tensor on the CPU backend, plain or tracked by autodiff.
enum Flex32 {
    Plain(FlexTensor),
    Tracked(FloatTensor<Autodiff<Flex>>),
}

impl Flex32 {
    /// As an autodiff tensor; a plain one becomes a constant (no gradient flows to it).
    fn tracked(self) -> FloatTensor<Autodiff<Flex>> {
        match self {
            Flex32::Plain(t) => FloatTensor::<Autodiff<Flex>>::new(t),
            Flex32::Tracked(t) => t,
        }
    }
}

fn as_flex<const D: usize>(t: &Tensor<D>) -> Option<Flex32> {
    let f32_only = |t: FlexTensor| (t.dtype() == DType::F32).then_some(t);
    if let Ok(t) = t.clone().try_into_primitive::<Flex>() {
        return f32_only(t).map(Flex32::Plain);
    }
    let t = t.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    (t.primitive().dtype() == DType::F32).then_some(Flex32::Tracked(t))
}

/// The values in row-major order, borrowed when the tensor is laid out that way already.
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
    }
}

fn flex_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
