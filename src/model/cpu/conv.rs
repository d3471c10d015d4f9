//! 2-D convolution, forward and both gradients, in the NCHW layout the rest
//! of the network uses: per image (or per band of rows, when the batch is small) an unfolding
//! into patches, then one matrix product.
//!
//! burn-flex's own convolution converts every input to NHWC on one thread, writes its output
//! back element by element, and computes the weight gradient as a convolution whose kernel is
//! the whole output map (a matrix product with 9 columns). Profiles of a training step put
//! those, not the arithmetic, first; here a ResNet-20 training step takes about half the time.

use std::ops::Range;

use burn::tensor::Tensor;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{Flex32, as_flex, flex_tensor, simd_dispatch, values};

/// A bias-free, ungrouped convolution with a square kernel and equal stride and padding on both
/// axes (every convolution of the architectures here).
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let geometry = Geometry::new(x.dims(), weight.dims(), stride, padding);
    match (as_flex(&x), as_flex(&weight)) {
        (Some(Flex32::Plain(x)), Some(Flex32::Plain(w))) => {
            Tensor::from_primitive::<Flex>(flex_tensor(
                forward(&geometry, &values(&x), &values(&w)),
                geometry.output_shape(),
            ))
        }
        (Some(x), Some(w)) => Tensor::from_primitive::<Autodiff<Flex>>(tracked_forward(
            geometry,
            x.tracked(),
            w.tracked(),
        )),
        _ => burn_conv2d(
            x,
            weight,
            None,
            ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
        ),
    }
}

/// Shapes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    inputs: usize,
    height: usize,
    width: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out_height: usize,
    out_width: usize,
}

impl Geometry {
    fn new(x: [usize; 4], weight: [usize; 4], stride: usize, padding: usize) -> Self {
        let [batch, inputs, height, width] = x;
        let [outputs, weight_inputs, kernel, kernel_w] = weight;
        assert!(
            weight_inputs == inputs && kernel == kernel_w && stride > 0,
            "convolution of {x:?} with a {weight:?} kernel"
        );
        let out = |size: usize| (size + 2 * padding - kernel) / stride + 1;
        Self {
            batch,
            inputs,
            height,
            width,
            outputs,
            kernel,
            stride,
            padding,
            out_height: out(height),
            out_width: out(width),
        }
    }

    #[inline(always)]
    fn image_len(&self) -> usize {
        self.inputs * self.height * self.width
    }

    /// Rows of the unfolded image: one per input channel and kernel position.
    #[inline(always)]
    fn patch_len(&self) -> usize {
        self.inputs * self.kernel * self.kernel
    }

    #[inline(always)]
    fn positions(&self) -> usize {
        self.out_height * self.out_width
    }

    fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.outputs, self.out_height, self.out_width]
    }

    /// Stride 1 and an output the input's size (padding (k − 1)/2).
    #[inline(always)]
    fn is_same_size(&self) -> bool {
        self.stride == 1 && (self.out_height, self.out_width) == (self.height, self.width)
    }

    /// For a same-size convolution: kernel tap `tap`'s input channel, and how far its window is
    /// moved in the flattened plane (row shift · width + column shift).
    #[inline(always)]
    fn tap_shift(&self, tap: usize) -> (usize, isize) {
        let k = self.kernel;
        let (c, kh, kw) = (tap / (k * k), tap / k % k, tap % k);
        let pad = self.padding as isize;
        (
            c,
            (kh as isize - pad) * self.width as isize + kw as isize - pad,
        )
    }

    /// For a same-size convolution: zeroes, in each image row of `values`, the entries that tap
    /// `tap`'s column shift took across the row's edge (they belong to the padding).
    #[inline(always)]
    fn zero_wrapped(&self, tap: usize, values: &mut [f32]) {
        let shift = (tap % self.kernel) as isize - self.padding as isize;
        for row in values.chunks_exact_mut(self.width) {
            match shift {
                0 => {}
                s if s > 0 => row[self.width - s as usize..].fill(0.0),
                s => row[..(-s) as usize].fill(0.0),
            }
        }
    }

    /// A 1×1 convolution with stride 1 reads the image as it is: no unfolding.
    #[inline(always)]
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Output columns `lo..hi` whose input column for kernel column `kw` is inside the image.
    #[inline(always)]
    fn valid_columns(&self, kw: usize) -> (usize, usize) {
        let lo = self.padding.saturating_sub(kw).div_ceil(self.stride);
        let hi = (self.width + self.padding)
            .saturating_sub(kw)
            .div_ceil(self.stride)
            .min(self.out_width);
        (lo.min(hi), hi)
    }

    /// Work items of the forward pass and the weight gradient: (image, band of output rows).
    /// A small batch (an attack on one image in the app) is cut into bands so that it still
    /// keeps several threads busy; bands keep at least 128 positions, so the matrix products
    /// stay efficient.
    fn row_bands(&self) -> Vec<(usize, Range<usize>)> {
        let parts = (self.positions() / 128).min(self.out_height);
        self.split(self.out_height, parts)
    }

    /// Work items of the input gradient: (image, block of at least 4 input channels).
    fn channel_blocks(&self) -> Vec<(usize, Range<usize>)> {
        self.split(self.inputs, self.inputs / 4)
    }

    /// Cuts each image into up to `most` parts of `len` while the batch has fewer than
    /// [`MIN_ITEMS`] images. The cut depends on the shapes only, never on the number of
    /// threads, so results are the same on every machine.
    fn split(&self, len: usize, most: usize) -> Vec<(usize, Range<usize>)> {
        let parts = MIN_ITEMS.div_ceil(self.batch.max(1)).min(most).max(1);
        let step = len.div_ceil(parts).max(1);
        (0..self.batch)
            .flat_map(|n| {
                (0..len)
                    .step_by(step)
                    .map(move |r| (n, r..(r + step).min(len)))
            })
            .collect()
    }
}

/// Work items a convolution is cut into at least, when its batch allows: enough for the
/// threads of an ordinary machine.
const MIN_ITEMS: usize = 8;

simd_dispatch! {
    /// Unfolds output rows `rows` of one `[C, H, W]` image into `[C·k·k, rows·OW]` columns
    /// (zeros where the kernel overhangs the border).
    fn im2col = im2col_body(g: &Geometry, image: &[f32], rows: Range<usize>, columns: &mut [f32]);
}

#[inline(always)]
fn im2col_body(g: &Geometry, image: &[f32], rows: Range<usize>, columns: &mut [f32]) {
    if g.is_same_size() {
        return im2col_same(g, image, rows, columns);
    }
    let (k, plane) = (g.kernel, g.height * g.width);
    let band = rows.len() * g.out_width;
    for c in 0..g.inputs {
        let image = &image[c * plane..(c + 1) * plane];
        for kh in 0..k {
            for kw in 0..k {
                let row = ((c * k + kh) * k + kw) * band;
                let (lo, hi) = g.valid_columns(kw);
                for (i, oh) in rows.clone().enumerate() {
                    let out = &mut columns[row + i * g.out_width..row + (i + 1) * g.out_width];
                    let ih = (oh * g.stride + kh).wrapping_sub(g.padding);
                    if ih >= g.height {
                        out.fill(0.0);
                        continue;
                    }
                    let input = &image[ih * g.width..(ih + 1) * g.width];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    if hi == lo {
                        continue;
                    }
                    let start = lo * g.stride + kw - g.padding;
                    if g.stride == 1 {
                        out[lo..hi].copy_from_slice(&input[start..start + hi - lo]);
                    } else {
                        let input = input[start..].iter().step_by(g.stride);
                        for (o, i) in out[lo..hi].iter_mut().zip(input) {
                            *o = *i;
                        }
                    }
                }
            }
        }
    }
}

/// [`im2col`] for a stride-1 convolution whose output has the input's size: each kernel tap's
/// row of columns is the image moved by one fixed offset, so it is one long copy rather than one
/// per image row (the unfolding's share of a training step fell from 15% to 10%). Entries that
/// wrapped into the neighbouring image row belong to the padding and are zeroed after.
#[inline(always)]
fn im2col_same(g: &Geometry, image: &[f32], rows: Range<usize>, columns: &mut [f32]) {
    let plane = g.height * g.width;
    let band = rows.len() * g.width;
    for (tap, out) in columns[..g.patch_len() * band]
        .chunks_exact_mut(band)
        .enumerate()
    {
        let (c, shift) = g.tap_shift(tap);
        let image = &image[c * plane..(c + 1) * plane];
        // out[p] = image[p + offset] wherever that is inside the plane, else 0.
        let offset = (rows.start * g.width) as isize + shift;
        let inside = shifted_inside(offset, band, plane);
        out[..inside.start].fill(0.0);
        out[inside.end..].fill(0.0);
        out[inside.clone()].copy_from_slice(&image[shifted(inside, offset)]);
        g.zero_wrapped(tap, out);
    }
}

simd_dispatch! {
    /// Adds `[C·k·k, OH·OW]` columns back into a `[C, H, W]` image gradient: the adjoint of
    /// [`im2col`] over all rows.
    fn col2im = col2im_body(g: &Geometry, columns: &mut [f32], image: &mut [f32]);
}

#[inline(always)]
fn col2im_body(g: &Geometry, columns: &mut [f32], image: &mut [f32]) {
    if g.is_same_size() {
        return col2im_same(g, columns, image);
    }
    let (k, positions, plane) = (g.kernel, g.positions(), g.height * g.width);
    for c in 0..g.inputs {
        let image = &mut image[c * plane..(c + 1) * plane];
        for kh in 0..k {
            for kw in 0..k {
                let row = ((c * k + kh) * k + kw) * positions;
                let (lo, hi) = g.valid_columns(kw);
                for oh in 0..g.out_height {
                    let ih = (oh * g.stride + kh).wrapping_sub(g.padding);
                    if ih >= g.height || hi == lo {
                        continue;
                    }
                    let col = &columns[row + oh * g.out_width..row + (oh + 1) * g.out_width];
                    let input = &mut image[ih * g.width..(ih + 1) * g.width];
                    let start = lo * g.stride + kw - g.padding;
                    if g.stride == 1 {
                        let input = &mut input[start..start + hi - lo];
                        for (i, c) in input.iter_mut().zip(&col[lo..hi]) {
                            *i += c;
                        }
                    } else {
                        let input = input[start..].iter_mut().step_by(g.stride);
                        for (i, c) in input.zip(&col[lo..hi]) {
                            *i += c;
                        }
                    }
                }
            }
        }
    }
}

/// [`col2im`] for a stride-1 convolution whose output has the input's size: each kernel tap
/// moves a whole plane by one fixed offset, so it is one long add. The entries that would wrap
/// into the neighbouring row are the padding's, whose gradient is dropped: they are zeroed
/// first (`columns` is scratch).
#[inline(always)]
fn col2im_same(g: &Geometry, columns: &mut [f32], image: &mut [f32]) {
    let plane = g.height * g.width;
    for (tap, columns) in columns.chunks_exact_mut(plane).enumerate() {
        let (c, offset) = g.tap_shift(tap);
        g.zero_wrapped(tap, columns);
        let inside = shifted_inside(offset, plane, plane);
        let target = &mut image[c * plane..(c + 1) * plane][shifted(inside.clone(), offset)];
        for (i, c) in target.iter_mut().zip(&columns[inside]) {
            *i += c;
        }
    }
}

/// The positions `p` of `0..len` for which `p + offset` lies in `0..plane`.
#[inline(always)]
fn shifted_inside(offset: isize, len: usize, plane: usize) -> Range<usize> {
    let start = (-offset).clamp(0, len as isize);
    let end = (plane as isize - offset).clamp(start, len as isize);
    start as usize..end as usize
}

/// `range` moved by `offset`.
#[inline(always)]
fn shifted(range: Range<usize>, offset: isize) -> Range<usize> {
    (range.start as isize + offset) as usize..(range.end as isize + offset) as usize
}

simd_dispatch! {
    /// Unfolds output rows `rows` of one `[C, H, W]` image into `[rows·OW, C·k·k]`: one patch per
    /// row, in the weights' order. The transpose of [`im2col`], for products that want the
    /// positions as their long, column-major side.
    fn im2row = im2row_body(g: &Geometry, image: &[f32], rows: Range<usize>, patches: &mut [f32]);
}

#[inline(always)]
fn im2row_body(g: &Geometry, image: &[f32], rows: Range<usize>, patches: &mut [f32]) {
    let (k, plane, patch) = (g.kernel, g.height * g.width, g.patch_len());
    for (i, oh) in rows.enumerate() {
        for ow in 0..g.out_width {
            let out = &mut patches[(i * g.out_width + ow) * patch..][..patch];
            let top = (oh * g.stride) as isize - g.padding as isize;
            let left = (ow * g.stride) as isize - g.padding as isize;
            let inside = top >= 0
                && left >= 0
                && top as usize + k <= g.height
                && left as usize + k <= g.width;
            if inside {
                let corner = top as usize * g.width + left as usize;
                // A 3×3 kernel (nearly every convolution) with the row length known here, so
                // each kernel row is three moves, not a call to memcpy.
                match k {
                    3 => copy_window::<3>(out, &image[corner..], plane, g.width),
                    _ => {
                        for (c, out) in out.chunks_exact_mut(k * k).enumerate() {
                            let image = &image[c * plane + corner..];
                            for (kh, out) in out.chunks_exact_mut(k).enumerate() {
                                out.copy_from_slice(&image[kh * g.width..kh * g.width + k]);
                            }
                        }
                    }
                }
                continue;
            }
            for (c, out) in out.chunks_exact_mut(k * k).enumerate() {
                let image = &image[c * plane..(c + 1) * plane];
                for (kh, out) in out.chunks_exact_mut(k).enumerate() {
                    let ih = (top + kh as isize) as usize;
                    for (kw, o) in out.iter_mut().enumerate() {
                        let iw = (left + kw as isize) as usize;
                        *o = if ih < g.height && iw < g.width {
                            image[ih * g.width + iw]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// The `K×K` window at the start of `image` in every channel (channels `plane` apart, rows
/// `width` apart), channel by channel, row by row.
#[inline(always)]
fn copy_window<const K: usize>(out: &mut [f32], image: &[f32], plane: usize, width: usize) {
    for (c, out) in out.chunks_exact_mut(K * K).enumerate() {
        for (kh, out) in out.chunks_exact_mut(K).enumerate() {
            let start = c * plane + kh * width;
            let row: &[f32; K] = image[start..start + K].try_into().expect("K values");
            out.copy_from_slice(row);
        }
    }
}

/// A matrix product `lhs·rhs` of shape `m×n`; each factor is given with its row and column
/// strides, so transposes and bands of a larger matrix need no copy.
struct Product<'a> {
    m: usize,
    n: usize,
    k: usize,
    lhs: (&'a [f32], usize, usize),
    rhs: (&'a [f32], usize, usize),
}

impl Product<'_> {
    /// `dst = lhs·rhs`, or `dst += lhs·rhs` when `accumulate`; element (r, c) of the result
    /// is `dst[r·rs + c·cs]` for `strides` (rs, cs).
    fn into(self, dst: &mut [f32], strides: (usize, usize), accumulate: bool) {
        assert!(
            self.m * self.n == 0 || (self.m - 1) * strides.0 + (self.n - 1) * strides.1 < dst.len()
        );
        // SAFETY: the destination was just checked to hold every element of the result.
        unsafe { self.into_raw(dst.as_mut_ptr(), strides, accumulate) }
    }

    /// Like [`Product::into`] through a pointer.
    ///
    /// # Safety
    /// `dst` must be valid for writes at `r·rs + c·cs` for every row `r < m` and column
    /// `c < n`, and no other thread may access those elements meanwhile.
    unsafe fn into_raw(self, dst: *mut f32, strides: (usize, usize), accumulate: bool) {
        let Product { m, n, k, lhs, rhs } = self;
        let last = |(_, rs, cs): (&[f32], usize, usize), rows: usize, cols: usize| {
            (rows - 1) * rs + (cols - 1) * cs
        };
        if m * n == 0 {
            return;
        }
        assert!(k == 0 || last(lhs, m, k) < lhs.0.len());
        assert!(k == 0 || last(rhs, k, n) < rhs.0.len());
        // SAFETY: the asserts keep every read inside the factors; the caller vouches for `dst`,
        // which cannot alias the factors (they are shared borrows).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                strides.1 as isize,
                strides.0 as isize,
                accumulate,
                lhs.0.as_ptr(),
                lhs.2 as isize,
                lhs.1 as isize,
                rhs.0.as_ptr(),
                rhs.2 as isize,
                rhs.1 as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Output rows `rows` of one image as columns, and the row stride of those columns: the image
/// itself for a pointwise convolution, else unfolded into `buffer`.
fn unfold<'a>(
    g: &Geometry,
    image: &'a [f32],
    rows: Range<usize>,
    buffer: &'a mut Vec<f32>,
) -> (&'a [f32], usize) {
    if g.is_pointwise() {
        return (&image[rows.start * g.out_width..], g.positions());
    }
    let band = rows.len() * g.out_width;
    buffer.resize(g.patch_len() * band, 0.0);
    im2col(g, image, rows, buffer);
    (buffer, band)
}

/// A pointer that may cross threads; what each thread writes through it is disjoint.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: only used for writes to disjoint elements (see `forward`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The element `offset` places on (a method, so closures capture the `Send` wrapper and
    /// not the bare pointer).
    ///
    /// # Safety
    /// As for `pointer::add`: `offset` must stay inside the allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: passed on to the caller.
        unsafe { self.0.add(offset) }
    }
}

/// `y[n] = W · im2col(x[n])`, image by image or band by band, side by side.
fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (patch, positions) = (g.patch_len(), g.positions());
    // Left uninitialised: every element is written below, and zeroing first cost ~3% of a
    // training step.
    let len = g.batch * g.outputs * positions;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Shared(y.as_mut_ptr());
    g.row_bands()
        .into_par_iter()
        .for_each_init(Vec::new, |buffer, (n, rows)| {
            let image = &x[n * g.image_len()..(n + 1) * g.image_len()];
            let offset = n * g.outputs * positions + rows.start * g.out_width;
            let band = rows.len() * g.out_width;
            let (columns, row_stride) = unfold(g, image, rows, buffer);
            // As yᵀ = columnsᵀ·Wᵀ: the long side (positions) is the one the matrix kernels
            // tile best.
            let product = Product {
                m: band,
                n: g.outputs,
                k: patch,
                lhs: (columns, 1, row_stride),
                rhs: (w, 1, patch),
            };
            assert!(offset + band + (g.outputs - 1) * positions <= len);
            // SAFETY: this band is rows `rows` of every output channel of image `n`: inside
            // `y`'s allocation (checked above), and no other work item's. The product only
            // writes it (not accumulating), so its being uninitialised is fine.
            unsafe { product.into_raw(out.at(offset), (1, positions), false) }
        });
    // SAFETY: the bands cover every output row of every image, so each of the `len` elements
    // was written by one product above.
    unsafe { y.set_len(len) };
    y
}

/// `dx[n] = col2im(Wᵀ · dy[n])`, by image or by block of input channels, side by side.
fn input_gradient(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (patch, positions, plane) = (g.patch_len(), g.positions(), g.height * g.width);
    let taps = g.kernel * g.kernel;
    let mut dx = vec![0.0f32; g.batch * g.image_len()];
    // Each block's planes are contiguous in dx: hand every work item its own slice.
    let mut rest: &mut [f32] = &mut dx;
    let mut items = Vec::new();
    for (n, channels) in g.channel_blocks() {
        let (mine, tail) = rest.split_at_mut(channels.len() * plane);
        items.push((n, channels, mine));
        rest = tail;
    }
    items
        .into_par_iter()
        .for_each_init(Vec::new, |columns: &mut Vec<f32>, (n, channels, dx)| {
            let block = Geometry {
                inputs: channels.len(),
                ..*g
            };
            let product = Product {
                m: block.patch_len(),
                n: positions,
                k: g.outputs,
                lhs: (&w[channels.start * taps..], 1, patch),
                rhs: (&dy[n * g.outputs * positions..], positions, 1),
            };
            if g.is_pointwise() {
                product.into(dx, (positions, 1), false);
            } else {
                columns.resize(block.patch_len() * positions, 0.0);
                product.into(columns, (positions, 1), false);
                col2im(&block, columns, dx);
            }
        });
    dx
}

/// `dW = Σₙ dy[n] · im2row(x[n])`, as `dWᵀ = im2row(x[n])ᵀ · dy[n]ᵀ` so that the matrix kernels
/// read the patches as they are (with `im2col` they would repack them, a transpose, and with
/// 16 channels that repacking costs three times the arithmetic). The work items are summed in
/// [`MIN_ITEMS`] shares, side by side, and the shares then added.
fn weight_gradient(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (patch, positions) = (g.patch_len(), g.positions());
    let items = g.row_bands();
    let shares: Vec<Vec<f32>> = items
        .par_chunks(items.len().div_ceil(MIN_ITEMS).max(1))
        .map(|share| {
            let mut dw = vec![0.0f32; g.outputs * patch];
            let mut patches = Vec::new();
            for (n, rows) in share {
                let image = &x[n * g.image_len()..(n + 1) * g.image_len()];
                let offset = n * g.outputs * positions + rows.start * g.out_width;
                let band = rows.len() * g.out_width;
                patches.resize(band * patch, 0.0);
                im2row(g, image, rows.clone(), &mut patches);
                Product {
                    m: patch,
                    n: g.outputs,
                    k: band,
                    lhs: (&patches, 1, patch),
                    rhs: (&dy[offset..], 1, positions),
                }
                .into(&mut dw, (1, patch), true);
            }
            dw
        })
        .collect();
    // Added in a fixed order: the same sum whichever thread finished first.
    let mut dw = vec![0.0f32; g.outputs * patch];
    for share in shares {
        dw.iter_mut().zip(&share).for_each(|(a, b)| *a += b);
    }
    dw
}

/// The convolution as one autodiff node whose backward pass is [`input_gradient`] and
/// [`weight_gradient`], each computed only when its input needs it.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (FlexTensor, FlexTensor, Geometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, w_node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, g) = ops.state;
        let dy = values(&dy);
        if let Some(node) = x_node {
            let dx = input_gradient(&g, &dy, &values(&w));
            grads.register::<Flex>(
                node.id,
                flex_tensor(dx, [g.batch, g.inputs, g.height, g.width]),
            );
        }
        if let Some(node) = w_node {
            let dw = weight_gradient(&g, &values(&x), &dy);
            grads.register::<Flex>(
                node.id,
                flex_tensor(dw, [g.outputs, g.inputs, g.kernel, g.kernel]),
            );
        }
    }
}

fn tracked_forward(
    g: Geometry,
    x: FloatTensor<Autodiff<Flex>>,
    w: FloatTensor<Autodiff<Flex>>,
) -> FloatTensor<Autodiff<Flex>> {
    let prep = ConvBackward
        .prepare::<NoCheckpointing>([x.node(), w.node()])
        .compute_bound()
        .stateful();
    let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
    let y = flex_tensor(forward(&g, &values(&xp), &values(&wp)), g.output_shape());
    match prep {
        OpsKind::Tracked(prep) => prep.finish((xp, wp, g), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn random(shape: [usize; 4], seed: u64) -> Tensor<4> {
        let mut rng = crate::rng::SeededRng::new(seed);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    fn assert_close(ours: Tensor<4>, reference: Tensor<4>, what: &str) {
        assert_eq!(ours.dims(), reference.dims(), "{what}");
        let (a, b) = (values(ours), values(reference));
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale, "{what}[{i}]: {a} vs {b}");
        }
    }

    /// burn's own convolution, which this module replaces on the CPU: the reference.
    fn reference(x: Tensor<4>, w: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
        burn_conv2d(
            x,
            w,
            None,
            ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
        )
    }

    /// Batches of 1 to 5 cut into bands and blocks, some uneven; the same on 3 threads.
    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(check_against_burn);
        check_against_burn();
    }

    fn check_against_burn() {
        // (batch, inputs, size, outputs, kernel, stride, padding)
        let cases = [
            (2, 3, 8, 4, 3, 1, 1),
            (1, 5, 7, 6, 3, 2, 1),
            (3, 4, 8, 5, 1, 2, 0),
            (2, 4, 6, 3, 1, 1, 0),
            (1, 2, 5, 3, 3, 1, 0),
            (5, 3, 6, 2, 5, 1, 2),
            (1, 16, 32, 16, 3, 1, 1),
            (2, 9, 20, 4, 3, 1, 1),
            (1, 8, 33, 6, 3, 2, 1),
        ];
        for (i, &(batch, inputs, size, outputs, kernel, stride, padding)) in
            cases.iter().enumerate()
        {
            let what = format!("case {i}");
            let seed = 10 * i as u64;
            let x = random([batch, inputs, size, size], seed);
            let w = random([outputs, inputs, kernel, kernel], seed + 1);
            // The tensors take this module's path, not the fallback to burn's convolution.
            assert!(matches!(as_flex(&x), Some(Flex32::Plain(_))));
            assert!(matches!(
                as_flex(&x.clone().autodiff()),
                Some(Flex32::Tracked(_))
            ));
            let plain = conv2d(x.clone(), w.clone(), stride, padding);
            let expected = reference(x.clone(), w.clone(), stride, padding);
            let r = random(expected.dims(), seed + 2);
            assert_close(plain, expected, &format!("{what} forward"));

            // Gradients of Σ r·conv(x, w), with x, w or both tracked.
            let grads = |conv: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>, track: (bool, bool)| {
                let x = x.clone().autodiff();
                let w = w.clone().autodiff();
                let x = if track.0 { x.require_grad() } else { x };
                let w = if track.1 { w.require_grad() } else { w };
                let y = conv(x.clone(), w.clone());
                let g = y.mul(r.clone()).sum().backward();
                (x.grad(&g), w.grad(&g), ())
            };
            for track in [(true, true), (true, false), (false, true)] {
                let ours = grads(&|x, w| conv2d(x, w, stride, padding), track);
                let theirs = grads(&|x, w| reference(x, w, stride, padding), track);
                assert_eq!(ours.0.is_some(), track.0, "{what} {track:?}");
                assert_eq!(ours.1.is_some(), track.1, "{what} {track:?}");
                if let (Some(a), Some(b)) = (ours.0, theirs.0) {
                    assert_close(a, b, &format!("{what} input gradient {track:?}"));
                }
                if let (Some(a), Some(b)) = (ours.1, theirs.1) {
                    assert_close(a, b, &format!("{what} weight gradient {track:?}"));
                }
            }
        }
    }

    /// The work is cut by shapes alone and partial sums are added in a fixed order, so the
    /// bits do not depend on the number of threads.
    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let x = random([1, 16, 32, 32], 1);
        let w = random([16, 16, 3, 3], 2);
        let r = random([1, 16, 32, 32], 3);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (x, w) = (
                    x.clone().autodiff().require_grad(),
                    w.clone().autodiff().require_grad(),
                );
                let y = conv2d(x.clone(), w.clone(), 1, 1);
                let g = y.clone().mul(r.clone()).sum().backward();
                [y.inner(), x.grad(&g).unwrap(), w.grad(&g).unwrap()].map(values)
            })
        };
        assert_eq!(run(1), run(3));
    }
}
