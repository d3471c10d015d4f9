//! What the app remembers between runs (eframe storage).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_QUERY_PATHS;

use crate::attack::{AttackConfig, AttackKind, PathPolicy};
use crate::colormap::HeatmapParams;

/// The central views' tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tab {
    #[default]
    Attack,
    Layers,
    Paths,
    Ensemble,
    Transfer,
    Compare,
    Budget,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Attack,
        Tab::Layers,
        Tab::Paths,
        Tab::Ensemble,
        Tab::Transfer,
        Tab::Compare,
        Tab::Budget,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Attack => "Attack",
            Tab::Layers => "Layers",
            Tab::Paths => "Paths",
            Tab::Ensemble => "Ensemble",
            Tab::Transfer => "Transfer",
            Tab::Compare => "Compare",
            Tab::Budget => "Budget",
        }
    }
}

impl std::str::FromStr for Tab {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tab::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown view '{s}': expected attack, layers, paths, ensemble, transfer, compare or budget")
            })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub attack: AttackConfig,
    pub heatmap: HeatmapParams,
    /// Paths of the ensemble query (the default 256, at most 4,096).
    pub ensemble_paths: usize,
    pub view: Tab,
    /// Zoom and theme.
    pub presentation: super::presentation::Presentation,
    /// The guided lesson's step, kept when it is left.
    pub lesson: super::lesson::LessonProgress,
    /// The model last opened: a file's path, or a shipped model's file name (see
    /// [`crate::assets::ModelSource::remembered`]); the default shipped model when absent.
    pub model: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            attack: paper_protocol(),
            heatmap: HeatmapParams::default(),
            ensemble_paths: 256,
            view: Tab::Attack,
            presentation: Default::default(),
            lesson: Default::default(),
            model: None,
        }
    }
}

/// The paper's evaluation: PGD-20, ε 8/255, α 2/255, random start, `official` paths.
pub fn paper_protocol() -> AttackConfig {
    AttackConfig::preset(AttackKind::Pgd)
}

/// The adaptive attack: the same PGD-20 with gradients averaged over 10 paths per step.
pub fn adaptive_protocol() -> AttackConfig {
    let mut c = AttackConfig::preset(AttackKind::Pgd);
    c.policy = PathPolicy::Eot(10);
    c
}

impl Settings {
    /// Brings values from an older or edited store back into range.
    pub fn sanitized(mut self) -> Self {
        self.ensemble_paths = self.ensemble_paths.clamp(1, MAX_QUERY_PATHS);
        self.presentation.sanitize();
        if self.attack.validate(usize::MAX).is_err() {
            self.attack = paper_protocol();
        }
        if self.attack.kind == AttackKind::Fgsm {
            self.attack.steps = 1;
            self.attack.alpha = self.attack.eps;
        }
        let h = &mut self.heatmap;
        h.amplification = if h.amplification.is_finite() {
            h.amplification.clamp(1.0, 16.0)
        } else {
            1.0
        };
        h.opacity = if h.opacity.is_finite() {
            h.opacity.clamp(0.0, 1.0)
        } else {
            1.0
        };
        if !(h.eps.is_finite() && h.eps > 0.0) {
            h.eps = HeatmapParams::default().eps;
        }
        if let crate::colormap::HeatmapMode::Channel(c) = &mut h.mode {
            *c = (*c).min(2);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::HeatmapMode;

    #[test]
    fn stale_or_edited_settings_come_back_into_range() {
        let mut s = Settings {
            ensemble_paths: 0,
            ..Settings::default()
        };
        let mut views = crate::app::view::Views::default();
        views.transfer.paths = 99;
        views.compare.eot_paths = 0;
        views.sanitize();
        s.attack.eps = f64::NAN;
        s.heatmap.amplification = 0.0;
        s.heatmap.opacity = f32::NAN;
        s.heatmap.eps = -1.0;
        s.heatmap.mode = HeatmapMode::Channel(7);
        let s = s.sanitized();
        assert_eq!(s.ensemble_paths, 1);
        assert_eq!(views.transfer.paths, crate::limits::MAX_TRANSFER_PATHS);
        assert_eq!(views.compare.eot_paths, 1);
        assert_eq!(s.attack, paper_protocol());
        assert_eq!(s.heatmap.amplification, 1.0);
        assert_eq!(s.heatmap.opacity, 1.0);
        assert!(s.heatmap.eps > 0.0);
        assert_eq!(s.heatmap.mode, HeatmapMode::Channel(2));

        let mut fgsm = Settings {
            attack: AttackConfig::preset(AttackKind::Fgsm),
            ..Settings::default()
        };
        fgsm.attack.steps = 9;
        fgsm.attack.eps = 4.0 / 255.0;
        let fgsm = fgsm.sanitized();
        assert_eq!((fgsm.attack.steps, fgsm.attack.alpha), (1, 4.0 / 255.0));
    }
}
