//! The largest requests the engine takes, in one place: the command line's argument ranges, the
//! path-policy parser and the app's sliders all read these, so both accept the same requests.

/// Paths of one ensemble query, and paths judging each point of a budget curve: 4,096 give
/// P(correct) to within ±1.6 points, and the app still draws each one.
pub const MAX_QUERY_PATHS: usize = 4096;

/// Defender paths scoring every adversarial image of an evaluation (`eval --defender-paths`).
pub const MAX_DEFENDER_PATHS: usize = 1024;

/// K of a transfer matrix (K attacks, K² judgements; with `transfer --bn-shares`, paths per
/// share); 16 is what a readable matrix holds.
pub const MAX_TRANSFER_PATHS: usize = 16;

/// Paths averaged at every step of an EOT attack.
pub const MAX_EOT_PATHS: usize = 256;

/// `limit` as the bound of a clap integer range.
pub const fn arg(limit: usize) -> i64 {
    limit as i64
}
