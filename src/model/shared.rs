//! Many paths on one image, each distinct path prefix computed once.
//!
//! Paths that agree on their first k random layers have the same activations up to layer k, so
//! the batch holds one row per distinct prefix: one row before the first random layer, at most
//! 2^k after k layers, growing only as far as the paths really differ. For 1,024 paths of
//! ResNet-20 this halves the convolution work of one row per path.

use burn::tensor::{Int, Tensor, TensorData};

use super::Path;
use super::layers::NormPolicy;
use super::norm::{NormLayer, RandomNorm};

/// Eval-mode policy whose batch has one row per distinct prefix of `paths`.
pub(super) struct SharedPrefixPolicy<'p> {
    paths: &'p [Path],
    next_layer: usize,
    /// `layouts[m][i]`: the row that holds path i's activations after the m-th random layer
    /// (`layouts[0]`: before any, all paths in row 0).
    layouts: Vec<Vec<usize>>,
}

impl<'p> SharedPrefixPolicy<'p> {
    pub fn new(paths: &'p [Path]) -> Self {
        Self {
            paths,
            next_layer: 0,
            layouts: vec![vec![0; paths.len()]],
        }
    }

    /// Path i's row in the final batch.
    pub fn final_rows(&self) -> &[usize] {
        self.layouts.last().expect("the first layout always exists")
    }

    /// `x` with rows `rows` (`x[rows[0]], x[rows[1]], ...`); no copy when that is `x` itself.
    fn gather(x: Tensor<4>, rows: &[usize]) -> Tensor<4> {
        if rows.len() == x.dims()[0] && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return x;
        }
        let device = x.device();
        let indices: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let n = indices.len();
        x.select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(indices, [n]), &device),
        )
    }
}

impl NormPolicy for SharedPrefixPolicy<'_> {
    fn random(&mut self, norm: &RandomNorm, x: Tensor<4>) -> Tensor<4> {
        let layer = self.next_layer;
        self.next_layer += 1;
        let current = self.final_rows();
        // New rows: the distinct (choice, current row) pairs, grouped by choice so that each
        // candidate normalizes one contiguous slice.
        let mut keys: Vec<(usize, usize)> = self
            .paths
            .iter()
            .zip(current)
            .map(|(p, &row)| (p.get(layer), row))
            .collect();
        let next: Vec<(usize, usize)> = {
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            unique
        };
        let layout: Vec<usize> = keys
            .drain(..)
            .map(|k| next.binary_search(&k).expect("every key is listed"))
            .collect();
        let sources: Vec<usize> = next.iter().map(|&(_, row)| row).collect();
        let x = Self::gather(x, &sources);
        let mut parts = Vec::new();
        let mut start = 0;
        while start < next.len() {
            let choice = next[start].0;
            let end = start + next[start..].iter().take_while(|k| k.0 == choice).count();
            parts.push(norm.candidates[choice].forward(x.clone().narrow(0, start, end - start)));
            start = end;
        }
        self.layouts.push(layout);
        if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Tensor::cat(parts, 0)
        }
    }

    fn fixed(&mut self, norm: &NormLayer, x: Tensor<4>) -> Tensor<4> {
        norm.forward(x)
    }

    fn mark(&self) -> usize {
        self.layouts.len() - 1
    }

    fn align(&mut self, x: Tensor<4>, mark: usize) -> Tensor<4> {
        if mark == self.mark() {
            return x;
        }
        let current = self.final_rows();
        let rows = current.iter().max().map_or(0, |&m| m + 1);
        let mut sources = vec![0; rows];
        for (i, &row) in current.iter().enumerate() {
            sources[row] = self.layouts[mark][i];
        }
        Self::gather(x, &sources)
    }
}
