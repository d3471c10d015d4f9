//! Training augmentation of the official RNA recipe: `RandomCrop(32, padding=pad)` followed by
//! `RandomHorizontalFlip()`, on planar 3×32×32 bytes.
//!
//! The image is zero-padded by `pad` pixels on every side, a 32×32 window is cut at a uniformly
//! random offset (0..=2·pad in each direction, so pad = 4 gives 81 positions) and the window is
//! mirrored left–right with probability ½. Zero padding is black, as in torchvision.

use super::{IMAGE_LEN, IMAGE_SIZE};
use crate::rng::SeededRng;

const PLANE_LEN: usize = IMAGE_SIZE * IMAGE_SIZE;

/// Writes a randomly padded-cropped, possibly mirrored copy of `src` into `dst`.
///
/// Draws, in order: the horizontal offset, the vertical offset, then the flip.
pub fn random_crop_flip(src: &[u8], dst: &mut [u8], pad: usize, rng: &mut SeededRng) {
    let positions = 2 * pad as u64 + 1;
    let dx = rng.below(positions) as usize;
    let dy = rng.below(positions) as usize;
    let flip = rng.bernoulli(0.5);
    crop_flip(src, dst, pad, dx, dy, flip);
}

/// The deterministic core of [`random_crop_flip`]: with `src` zero-padded by `pad`, copies the
/// 32×32 window whose top-left corner is at (`dx`, `dy`) in padded coordinates, mirrored
/// left–right when `flip` is set. `dx = dy = pad` without flip is the identity.
///
/// # Panics
/// If either buffer is not [`IMAGE_LEN`] bytes or an offset exceeds `2·pad`.
pub fn crop_flip(src: &[u8], dst: &mut [u8], pad: usize, dx: usize, dy: usize, flip: bool) {
    assert_eq!(src.len(), IMAGE_LEN, "source is not a 3×32×32 image");
    assert_eq!(dst.len(), IMAGE_LEN, "destination is not a 3×32×32 image");
    assert!(
        dx <= 2 * pad && dy <= 2 * pad,
        "crop offset ({dx}, {dy}) outside 0..={}",
        2 * pad
    );

    // Output column x reads window column x (or 31 − x when mirrored), i.e. source column
    // window_x + dx − pad; likewise for rows without the mirror.
    let source_index = |out: usize, offset: usize| (out + offset).checked_sub(pad);
    for channel in 0..3 {
        let src_plane = &src[channel * PLANE_LEN..(channel + 1) * PLANE_LEN];
        let dst_plane = &mut dst[channel * PLANE_LEN..(channel + 1) * PLANE_LEN];
        for (y, dst_row) in dst_plane.chunks_exact_mut(IMAGE_SIZE).enumerate() {
            let Some(sy) = source_index(y, dy).filter(|&sy| sy < IMAGE_SIZE) else {
                dst_row.fill(0);
                continue;
            };
            let src_row = &src_plane[sy * IMAGE_SIZE..(sy + 1) * IMAGE_SIZE];
            for (x, value) in dst_row.iter_mut().enumerate() {
                let window_x = if flip { IMAGE_SIZE - 1 - x } else { x };
                *value = source_index(window_x, dx)
                    .filter(|&sx| sx < IMAGE_SIZE)
                    .map_or(0, |sx| src_row[sx]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R = x + 1, G = y + 1, B = 7: every in-image pixel is non-zero and says where it came from.
    fn coordinate_image() -> Vec<u8> {
        let mut image = vec![7u8; IMAGE_LEN];
        for y in 0..32 {
            for x in 0..32 {
                image[y * 32 + x] = x as u8 + 1;
                image[1024 + y * 32 + x] = y as u8 + 1;
            }
        }
        image
    }

    fn pixel(image: &[u8], x: usize, y: usize) -> [u8; 3] {
        let offset = y * 32 + x;
        [image[offset], image[1024 + offset], image[2048 + offset]]
    }

    #[test]
    fn centred_window_without_flip_is_the_identity() {
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        crop_flip(&src, &mut dst, 4, 4, 4, false);
        assert_eq!(dst, src);
    }

    #[test]
    fn shifted_window_moves_pixels_and_pads_with_zeros() {
        // pad 4, dx 6, dy 1: output (x, y) reads source (x + 2, y − 3).
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        crop_flip(&src, &mut dst, 4, 6, 1, false);
        // Source (2, 2): R = 3, G = 3.
        assert_eq!(pixel(&dst, 0, 5), [3, 3, 7]);
        // Source (31, 0): R = 32, G = 1.
        assert_eq!(pixel(&dst, 29, 3), [32, 1, 7]);
        // Source (32, 0) is in the padding on the right.
        assert_eq!(pixel(&dst, 30, 3), [0, 0, 0]);
        assert_eq!(pixel(&dst, 31, 20), [0, 0, 0]);
        // Rows 0..3 read source rows −3..−1: padding on top.
        for x in [0, 10, 31] {
            assert_eq!(pixel(&dst, x, 0), [0, 0, 0]);
            assert_eq!(pixel(&dst, x, 2), [0, 0, 0]);
        }
        // Source (30, 28).
        assert_eq!(pixel(&dst, 28, 31), [31, 29, 7]);
    }

    #[test]
    fn corner_windows_reach_the_padding_on_each_side() {
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        // dx = dy = 0: output (x, y) reads source (x − 4, y − 4).
        crop_flip(&src, &mut dst, 4, 0, 0, false);
        assert_eq!(pixel(&dst, 3, 10), [0, 0, 0]);
        assert_eq!(pixel(&dst, 4, 4), [1, 1, 7]);
        assert_eq!(pixel(&dst, 31, 31), [28, 28, 7]);
        // dx = dy = 8: output (x, y) reads source (x + 4, y + 4).
        crop_flip(&src, &mut dst, 4, 8, 8, false);
        assert_eq!(pixel(&dst, 0, 0), [5, 5, 7]);
        assert_eq!(pixel(&dst, 27, 27), [32, 32, 7]);
        assert_eq!(pixel(&dst, 28, 5), [0, 0, 0]);
    }

    #[test]
    fn flip_mirrors_columns() {
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        // No padding: output (x, y) reads source (31 − x, y).
        crop_flip(&src, &mut dst, 0, 0, 0, true);
        assert_eq!(pixel(&dst, 0, 9), [32, 10, 7]);
        assert_eq!(pixel(&dst, 31, 9), [1, 10, 7]);
        assert_eq!(pixel(&dst, 12, 0), [20, 1, 7]);
    }

    #[test]
    fn flip_applies_to_the_cropped_window() {
        // pad 4, dx 6, dy 1, flipped: output (x, y) reads window (31 − x, y), i.e. source
        // (33 − x, y − 3).
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        crop_flip(&src, &mut dst, 4, 6, 1, true);
        assert_eq!(pixel(&dst, 31, 5), [3, 3, 7]);
        assert_eq!(pixel(&dst, 2, 5), [32, 3, 7]);
        assert_eq!(pixel(&dst, 1, 5), [0, 0, 0]);
        assert_eq!(pixel(&dst, 0, 5), [0, 0, 0]);
    }

    #[test]
    fn random_version_draws_offsets_then_flip() {
        let src = coordinate_image();
        let (mut seen_offsets, mut flips) = (std::collections::BTreeSet::new(), 0);
        for seed in 0..200 {
            let mut dst = vec![0; IMAGE_LEN];
            random_crop_flip(&src, &mut dst, 4, &mut SeededRng::new(seed));

            let mut replay = SeededRng::new(seed);
            let dx = replay.below(9) as usize;
            let dy = replay.below(9) as usize;
            let flip = replay.bernoulli(0.5);
            let mut expected = vec![0; IMAGE_LEN];
            crop_flip(&src, &mut expected, 4, dx, dy, flip);
            assert_eq!(dst, expected, "seed {seed}");

            seen_offsets.insert(dx);
            seen_offsets.insert(dy);
            flips += usize::from(flip);
        }
        // Both extremes 0 and 2·pad = 8 occur, and flips are roughly half.
        assert_eq!(
            seen_offsets,
            (0..=8).collect::<std::collections::BTreeSet<usize>>()
        );
        assert!((60..=140).contains(&flips), "{flips} flips in 200");
    }

    #[test]
    #[should_panic(expected = "outside 0..=8")]
    fn offset_beyond_the_padding_panics() {
        let src = coordinate_image();
        let mut dst = vec![0; IMAGE_LEN];
        crop_flip(&src, &mut dst, 4, 9, 0, false);
    }
}
