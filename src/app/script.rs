//! Scripted runs (`--attack-on-start`, `--screenshot`, `--exit`): what screenshots and the
//! empty-directory test drive, stepped once per frame.

use super::RnaLensApp;
use super::session::Action;
use super::settings::Tab;

/// Progress through `--attack-on-start`, `--screenshot` and `--exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Script {
    WaitForModel,
    StartJob,
    /// An attack is running; query the ensemble when it ends.
    ThenEnsemble,
    WaitForJob,
    Settle(u32),
    Done,
}

impl RnaLensApp {
    pub(super) fn scripted(&self) -> bool {
        self.options.attack_on_start || self.options.screenshot.is_some() || self.options.exit
    }

    /// Steps `--attack-on-start`, `--screenshot` and `--exit`.
    pub(super) fn run_script(&mut self, ctx: &egui::Context) {
        if !self.scripted() {
            return;
        }
        self.script = match self.script {
            Script::WaitForModel if self.session.model.is_some() && !self.worker.busy() => {
                Script::StartJob
            }
            Script::WaitForModel => Script::WaitForModel,
            Script::StartJob => {
                if self.options.attack_on_start {
                    let paths = self.settings.ensemble_paths;
                    let job = self.views.get(self.settings.view).job(paths);
                    // The ensemble and path views show clean and adversarial: attack first.
                    if matches!(self.settings.view, Tab::Ensemble | Tab::Paths) {
                        self.apply(Action::RunAttack);
                        return self.script_continue(ctx, Script::ThenEnsemble);
                    }
                    self.apply(job);
                }
                Script::WaitForJob
            }
            Script::ThenEnsemble if self.worker.busy() => Script::ThenEnsemble,
            Script::ThenEnsemble => {
                self.apply(Action::QueryEnsemble {
                    paths: self.settings.ensemble_paths,
                });
                Script::WaitForJob
            }
            Script::WaitForJob if self.worker.busy() => Script::WaitForJob,
            Script::WaitForJob => Script::Settle(5),
            Script::Settle(0) => {
                match self.options.screenshot.clone() {
                    Some(path) => {
                        let exit = self.options.exit;
                        let ctx2 = ctx.clone();
                        ctx.request_screenshot(move |image| {
                            match super::export::save_screenshot(&image, &path) {
                                Ok(()) => eprintln!("screenshot saved to {}", path.display()),
                                Err(e) => eprintln!("error: screenshot {}: {e}", path.display()),
                            }
                            if exit {
                                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                            }
                            ctx2.request_repaint();
                        });
                    }
                    None if self.options.exit => {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close)
                    }
                    None => {}
                }
                Script::Done
            }
            Script::Settle(n) => Script::Settle(n - 1),
            Script::Done => Script::Done,
        };
        // Step again until done; then the window is as quiet as an unscripted one.
        if self.script != Script::Done {
            ctx.request_repaint();
        }
    }

    fn script_continue(&mut self, ctx: &egui::Context, next: Script) {
        self.script = next;
        ctx.request_repaint();
    }
}
