//! Attacks against independent references: hand-worked steps, invariants, and re-computation.

use burn::tensor::{Device, Tensor, TensorData};

use rna_lens::attack::apgd;
use rna_lens::attack::loss::{cross_entropy, cw_margin, dlr, one_hot};
use rna_lens::attack::pgd::{self, Norm, Objective, PgdConfig, StepEval};
use rna_lens::attack::policy::eot_evaluate;
use rna_lens::attack::{
    AttackConfig, AttackKind, LossKind, Pairing, PathPolicy, StageAccount, attack_paths, run_attack,
};
use rna_lens::model::{Architecture, ModelConfig, NormKind, RnaModel};
use rna_lens::rng::SeededRng;

fn cpu() -> Device {
    Device::flex()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn model(norms: Vec<NormKind>) -> RnaModel {
    let config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap()).with_norms(norms);
    RnaModel::new(config, 3, &cpu()).unwrap()
}

fn image(seed: u64) -> Tensor<4> {
    let mut rng = SeededRng::new(seed);
    let v: Vec<f32> = (0..3 * 32 * 32).map(|_| rng.next_f32()).collect();
    Tensor::from_data(TensorData::new(v, [1, 3, 32, 32]), &cpu())
}

/// loss(x) = Σ w·x per sample: the gradient is w, so every step can be worked out by hand.
struct Linear(Tensor<4>);

impl Objective for Linear {
    fn evaluate(&mut self, x: Tensor<4>, _: usize) -> StepEval {
        let x = x.autodiff().require_grad();
        let [n, c, h, w] = x.dims();
        let loss = x
            .clone()
            .mul(self.0.clone())
            .reshape([n, c * h * w])
            .sum_dim(1)
            .reshape([n]);
        let grads = loss.clone().sum().backward();
        StepEval {
            loss: loss.inner(),
            grad: x.grad(&grads).unwrap(),
            logits: Tensor::zeros([1, 2], &cpu()),
            per_path_loss: None,
        }
    }
}

#[test]
fn fgsm_on_a_linear_model_is_one_sign_gradient_step() {
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32, 0.2, 0.99], [1, 3, 1, 1]),
        &cpu(),
    );
    let w = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32, -2.0, 3.0], [1, 3, 1, 1]),
        &cpu(),
    );
    let fgsm = PgdConfig {
        eps: 0.1,
        alpha: 0.1,
        steps: 1,
        random_start: false,
        norm: Norm::Linf,
        momentum: 0.0,
        project: true,
        start_radius: None,
    };
    let out = pgd::run(
        &fgsm,
        &x,
        &mut Linear(w.clone()),
        &mut SeededRng::new(0),
        &mut |_, _, _| true,
    );
    // x + 0.1·sign(w) = [0.6, 0.1, 1.09] → clipped to [0, 1]: [0.6, 0.1, 1.0].
    let got = values(out);
    for (g, e) in got.iter().zip([0.6f32, 0.1, 1.0]) {
        assert!((g - e).abs() < 1e-6, "{got:?}");
    }
    // L2: one step of α·g/‖g‖₂ with g = (1, −2, 3), ‖g‖ = √14, ε large enough not to bind.
    let l2 = PgdConfig {
        eps: 1.0,
        alpha: 0.1,
        norm: Norm::L2,
        ..fgsm
    };
    let x0 = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32, 0.5, 0.5], [1, 3, 1, 1]),
        &cpu(),
    );
    let got = values(pgd::run(
        &l2,
        &x0,
        &mut Linear(w),
        &mut SeededRng::new(0),
        &mut |_, _, _| true,
    ));
    let n = 14f32.sqrt();
    for (g, e) in got
        .iter()
        .zip([0.5 + 0.1 / n, 0.5 - 0.2 / n, 0.5 + 0.3 / n])
    {
        assert!((g - e).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn losses_match_hand_computed_values() {
    let logits =
        Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 3.0, 2.0, 0.0], [1, 4]), &cpu());
    let y0 = one_hot(&[0], 4, &cpu());
    // CW: best other (3) − own (1) = 2; DLR: 2 / (z_π1 − z_π3) = 2 / (3 − 1) = 1.
    assert!((values(cw_margin(logits.clone(), y0.clone()))[0] - 2.0).abs() < 1e-6);
    assert!((values(dlr(logits.clone(), y0.clone()))[0] - 1.0).abs() < 1e-6);
    // Targeted DLR, label 0 and target 2: −(1 − 2) / (3 − (1 + 0)/2) = 0.4.
    let signed = rna_lens::attack::loss::label_minus_target(&[0], &[2], 4, &cpu());
    assert!(
        (values(rna_lens::attack::loss::dlr_targeted(logits.clone(), signed))[0] - 0.4).abs()
            < 1e-6
    );
    let y1 = one_hot(&[1], 4, &cpu());
    assert!((values(cw_margin(logits.clone(), y1.clone()))[0] + 1.0).abs() < 1e-6);
    assert!((values(dlr(logits.clone(), y1))[0] + 0.5).abs() < 1e-6);
    // CE: log(e¹ + e³ + e² + e⁰) − 1.
    let lse = (1f64.exp() + 3f64.exp() + 2f64.exp() + 1.0).ln();
    assert!((f64::from(values(cross_entropy(logits, y0))[0]) - (lse - 1.0)).abs() < 1e-5);
}

#[test]
fn every_pgd_iterate_stays_in_the_ball_and_the_pixel_range() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = image(1);
    for (kind, eps) in [
        (AttackKind::Pgd, 8.0 / 255.0),
        (AttackKind::PgdL2, 0.5),
        (AttackKind::Mifgsm, 8.0 / 255.0),
    ] {
        let mut config = AttackConfig::preset(kind);
        config.eps = eps;
        config.steps = 6;
        config.policy = PathPolicy::Fixed;
        let norm = kind.norm();
        let mut checked = 0;
        let mut objective = rna_lens::attack::PathObjective::new(
            &m,
            PathPolicy::Fixed,
            Pairing::Image,
            vec![m.path_space().uniform(0)],
            one_hot(&[3], 10, &cpu()),
            LossKind::Ce,
            false,
            SeededRng::new(1),
        );
        let out = pgd::run(
            &config.pgd(),
            &x,
            &mut objective,
            &mut SeededRng::new(2),
            &mut |_, xi, _| {
                let d = values(xi.clone().sub(x.clone()));
                let size = match norm {
                    Norm::Linf => d.iter().fold(0.0f32, |a, v| a.max(v.abs())),
                    Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                };
                assert!(
                    f64::from(size) <= eps + 1e-5,
                    "{kind}: |δ| = {size} > {eps}"
                );
                let v = values(xi.clone());
                assert!(
                    v.iter().all(|p| (0.0..=1.0).contains(p)),
                    "{kind}: outside [0, 1]"
                );
                checked += 1;
                true
            },
        );
        assert_eq!(checked, 6);
        let d = values(out.sub(x.clone()));
        assert!(d.iter().any(|v| v.abs() > 1e-4), "{kind} did not move");
    }
}

#[test]
fn pgd_raises_the_loss_on_a_fixed_path_and_targeted_pgd_lowers_the_targets_loss() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = image(2);
    let mut config = AttackConfig::preset(AttackKind::Pgd);
    config.policy = PathPolicy::Fixed;
    config.steps = 8;
    let result = run_attack(&m, &x, &[3], &config, &mut |_, _, _| true).unwrap();
    let (first, last) = (result.trace.first().unwrap(), result.trace.last().unwrap());
    assert!(
        last.loss > first.loss + 0.05,
        "loss {} → {}",
        first.loss,
        last.loss
    );
    assert_eq!(
        result.trace.len(),
        9,
        "one entry per iterate and the result"
    );
    assert_eq!(result.attack_paths, result.defender_paths);

    config.target = Some(7);
    let targeted = run_attack(&m, &x, &[3], &config, &mut |_, _, _| true).unwrap();
    let target_loss = |x: Tensor<4>| {
        values(cross_entropy(
            m.forward_path(x, &targeted.attack_paths[0]),
            one_hot(&[7], 10, &cpu()),
        ))[0]
    };
    assert!(target_loss(targeted.x_adv) < target_loss(x) - 0.05);
}

#[test]
fn eot_averages_the_gradients_of_its_paths() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = image(3).repeat_dim(0, 2);
    let y = one_hot(&[1, 4], 10, &cpu());
    let paths = m.path_space().sample_many(5, 8);
    // Each path for both images: copy c runs paths[c] on the whole batch.
    let copies: Vec<Vec<_>> = paths.iter().map(|p| vec![p.clone(); 2]).collect();
    let eot = eot_evaluate(&m, x.clone(), &copies, &y, LossKind::Ce, 1.0);
    let mut sum = Tensor::<4>::zeros([2, 3, 32, 32], &cpu());
    let mut losses = Vec::new();
    for p in &paths {
        let one = eot_evaluate(&m, x.clone(), &[vec![p.clone(); 2]], &y, LossKind::Ce, 1.0);
        sum = sum.add(one.grad);
        losses.push(values(one.loss));
    }
    let mean = sum.div_scalar(paths.len() as f64);
    let diff = eot.grad.sub(mean.clone()).abs().max().into_scalar::<f32>();
    let scale = mean.abs().max().into_scalar::<f32>();
    assert!(
        diff <= 1e-4 * scale.max(1e-3),
        "EOT gradient differs by {diff} (scale {scale})"
    );
    let expected = (losses.iter().map(|l| l[0]).sum::<f32>()) / 5.0;
    assert!((values(eot.loss)[0] - expected).abs() < 1e-4);
}

#[test]
fn eot_1_on_a_single_path_space_equals_the_fixed_policy() {
    let m = model(vec![NormKind::Bn]);
    let x = image(4);
    let mut config = AttackConfig::preset(AttackKind::Pgd);
    config.steps = 5;
    config.policy = PathPolicy::Fixed;
    let fixed = run_attack(&m, &x, &[2], &config, &mut |_, _, _| true).unwrap();
    config.policy = PathPolicy::Eot(1);
    let eot = run_attack(&m, &x, &[2], &config, &mut |_, _, _| true).unwrap();
    assert_eq!(values(fixed.x_adv), values(eot.x_adv));
}

#[test]
fn apgd_checkpoints_follow_the_paper() {
    // p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06):
    // 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 → ×100.
    assert_eq!(apgd::checkpoints(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
}

/// A loss that never changes: APGD must halve its step size at every checkpoint.
struct Flat;
impl Objective for Flat {
    fn evaluate(&mut self, x: Tensor<4>, _: usize) -> StepEval {
        let n = x.dims()[0];
        StepEval {
            loss: Tensor::zeros([n], &cpu()),
            grad: Tensor::ones(x.dims(), &cpu()),
            logits: Tensor::zeros([n, 2], &cpu()),
            per_path_loss: None,
        }
    }
}

#[test]
fn apgd_halves_its_step_size_exactly_at_the_checkpoints_when_progress_stalls() {
    let x = Tensor::<4>::full([1, 3, 2, 2], 0.5, &cpu());
    let eps = 8.0 / 255.0;
    let out = apgd::run(
        &x,
        eps,
        100,
        &mut Flat,
        &|l: &Tensor<2>| vec![false; l.dims()[0]],
        &mut SeededRng::new(1),
        &mut |_, _, _| true,
    );
    let eta0 = (2.0 * eps) as f32;
    let checks = apgd::checkpoints(100);
    for (k, sizes) in out.step_sizes.iter().enumerate() {
        let halvings = checks.iter().filter(|&&c| c <= k + 1).count();
        let expected = eta0 / 2f32.powi(halvings as i32);
        assert!(
            (sizes[0] - expected).abs() < 1e-9,
            "iteration {}: step {} expected {expected}",
            k + 1,
            sizes[0]
        );
    }
}

#[test]
fn attacks_are_deterministic_for_a_seed_and_cancel_between_iterations() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = image(5);
    let mut config = AttackConfig::preset(AttackKind::Pgd);
    config.steps = 4;
    config.policy = PathPolicy::Eot(3);
    config.seed = 11;
    let a = run_attack(&m, &x, &[0], &config, &mut |_, _, _| true).unwrap();
    let b = run_attack(&m, &x, &[0], &config, &mut |_, _, _| true).unwrap();
    assert_eq!(values(a.x_adv), values(b.x_adv));
    assert_eq!(a.trace, b.trace);
    assert!(
        a.trace[0].loss_low < a.trace[0].loss_high,
        "EOT spread missing"
    );
    let mut seen = 0;
    let c = run_attack(&m, &x, &[0], &config, &mut |_, _, _| {
        seen += 1;
        seen < 2
    })
    .unwrap();
    assert!(c.cancelled);
    assert_eq!(seen, 2);
}

/// Logits that say "class 1" at one evaluation only, with a loss that never improves.
struct AdversarialOnce(usize);
impl Objective for AdversarialOnce {
    fn evaluate(&mut self, x: Tensor<4>, step: usize) -> StepEval {
        let row = if step == self.0 {
            [0.0f32, 1.0]
        } else {
            [1.0, 0.0]
        };
        StepEval {
            loss: Tensor::zeros([1], &cpu()),
            grad: Tensor::ones(x.dims(), &cpu()),
            logits: Tensor::from_data(TensorData::new(row.to_vec(), [1, 2]), &cpu()),
            per_path_loss: None,
        }
    }
}

#[test]
fn apgd_returns_the_adversarial_iterate_not_the_highest_loss_one() {
    let x = Tensor::<4>::full([1, 3, 2, 2], 0.5, &cpu());
    let mut seen = Vec::new();
    let out = apgd::run(
        &x,
        8.0 / 255.0,
        100,
        &mut AdversarialOnce(5),
        &|l: &Tensor<2>| vec![values(l.clone().argmax(1).float())[0] != 0.0],
        &mut SeededRng::new(3),
        &mut |_, xi, _| {
            seen.push(values(xi.clone()));
            true
        },
    );
    assert_eq!(values(out.x), seen[5]);
    assert_ne!(seen[5], seen[0]);
}

#[test]
fn image_pairing_draws_a_distinct_pair_per_image_and_reproduces_with_the_seed() {
    let m = model(NormKind::RELEASED.to_vec());
    let mut config = AttackConfig::preset(AttackKind::Pgd);
    config.seed = 21;
    let (attack, defend) = attack_paths(&m, &config, 8).unwrap();
    assert_eq!((attack.len(), defend.len()), (8, 8));
    let distinct = |paths: &[rna_lens::model::Path]| {
        let mut v: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    // 2^21 paths: eight draws are all different, and no image is defended on its attack path.
    assert_eq!(distinct(&attack), 8);
    assert_eq!(distinct(&defend), 8);
    assert!(attack.iter().zip(&defend).all(|(a, d)| a != d));
    assert_eq!(
        attack_paths(&m, &config, 8).unwrap(),
        (attack.clone(), defend.clone())
    );
    config.seed = 22;
    assert_ne!(attack_paths(&m, &config, 8).unwrap().0, attack);

    // Batch pairing: one pair for all, the same as image pairing's first image.
    config.seed = 21;
    config.pairing = Pairing::Batch;
    let (batch_attack, batch_defend) = attack_paths(&m, &config, 8).unwrap();
    assert_eq!(distinct(&batch_attack), 1);
    assert_eq!(distinct(&batch_defend), 1);
    assert_eq!(
        (&batch_attack[0], &batch_defend[0]),
        (&attack[0], &defend[0])
    );
}

#[test]
fn a_point_broken_at_any_autoattack_stage_stays_broken() {
    let x = Tensor::<4>::zeros([4, 1, 1, 1], &cpu());
    let stage = |v: f32| Tensor::<4>::full([4, 1, 1, 1], v, &cpu());
    // Image 3 is wrong when clean; image 1 breaks at stage 1 and is right again at stage 2;
    // image 2 breaks at stage 2; image 0 is never broken.
    let mut account = StageAccount::new(&x, vec![true, true, true, false]);
    account.record(stage(1.0), &[true, false, true, true]);
    account.record(stage(2.0), &[true, true, false, true]);
    assert_eq!(account.robust, vec![true, false, false, false]);
    // The iterate that first broke a point is kept; the others keep the clean image.
    assert_eq!(values(account.x_adv), vec![0.0, 1.0, 2.0, 0.0]);
}

#[test]
fn autoattack_rand_reports_its_own_verdict_per_image() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = Tensor::cat(vec![image(6), image(7)], 0);
    let mut config = AttackConfig::preset(AttackKind::AutoattackRand);
    config.steps = 3;
    config.policy = PathPolicy::Eot(2);
    let result = run_attack(&m, &x, &[1, 2], &config, &mut |_, _, _| true).unwrap();
    let verdict = result
        .robust_by_stages
        .expect("autoattack-rand judges per stage");
    assert_eq!(verdict.len(), 2);
    // A point judged robust keeps its clean image.
    let (clean, adv) = (values(x.clone()), values(result.x_adv));
    let per = 3 * 32 * 32;
    for (i, &robust) in verdict.iter().enumerate() {
        if robust {
            assert_eq!(clean[i * per..(i + 1) * per], adv[i * per..(i + 1) * per]);
        }
    }
    config.kind = AttackKind::ApgdCe;
    let apgd = run_attack(&m, &x, &[1, 2], &config, &mut |_, _, _| true).unwrap();
    assert!(apgd.robust_by_stages.is_none());
}

#[test]
fn the_l2_random_start_fills_the_ball_not_its_sphere() {
    let eps = 0.5;
    let noise = pgd::l2_ball_noise([400, 3, 4, 4], eps, &mut SeededRng::new(5), &cpu());
    let v = values(noise);
    let norms: Vec<f64> = v
        .chunks(48)
        .map(|c| c.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt())
        .collect();
    assert!(norms.iter().all(|&r| r <= eps + 1e-6));
    // Radius uniform in [0, ε] (torchattacks' PGDL2): mean ε/2, some well inside.
    let mean = norms.iter().sum::<f64>() / norms.len() as f64;
    assert!((mean - eps / 2.0).abs() < 0.05, "mean radius {mean}");
    assert!(norms.iter().filter(|&&r| r < eps / 4.0).count() > 40);
}

#[test]
fn n_fgsm_steps_from_wide_noise_and_is_not_projected_back() {
    // x = 0.5 everywhere, gradient +1 everywhere: one step of α = ε from noise of radius 2ε.
    let x = Tensor::<4>::full([1, 3, 8, 8], 0.5, &cpu());
    let eps = 8.0 / 255.0;
    let config = PgdConfig {
        eps,
        alpha: eps,
        steps: 1,
        random_start: true,
        norm: Norm::Linf,
        momentum: 0.0,
        project: false,
        start_radius: Some(2.0 * eps),
    };
    let w = Tensor::<4>::ones([1, 3, 8, 8], &cpu());
    let out = values(pgd::run(
        &config,
        &x,
        &mut Linear(w),
        &mut SeededRng::new(9),
        &mut |_, _, _| true,
    ));
    let noise = values(pgd::uniform_noise(
        [1, 3, 8, 8],
        2.0 * eps,
        &mut SeededRng::new(9),
        &cpu(),
    ));
    for (o, n) in out.iter().zip(&noise) {
        let expected = (0.5 + n + eps as f32).clamp(0.0, 1.0);
        assert!((o - expected).abs() < 1e-6, "{o} vs {expected}");
    }
    // Some coordinates end beyond ε: nothing projected them back.
    assert!(out.iter().any(|o| (o - 0.5).abs() > eps as f32 + 1e-4));
}

#[test]
fn apgd_t_and_fab_t_run_through_their_targets_with_autoattacks_verdict() {
    let m = model(NormKind::RELEASED.to_vec());
    let x = Tensor::cat(vec![image(8), image(9)], 0);
    let eps = 8.0 / 255.0;
    for kind in [AttackKind::ApgdT, AttackKind::FabT] {
        let mut config = AttackConfig::preset(kind);
        config.steps = 2;
        config.policy = PathPolicy::Fixed;
        // Labels the model has right when clean, so every stage has work to do.
        let (paths, _) = attack_paths(&m, &config, 2).unwrap();
        let labels = rna_lens::model::predictions(m.forward_paths(x.clone(), &paths));
        let mut seen = 0;
        let result = run_attack(&m, &x, &labels, &config, &mut |_, _, _| {
            seen += 1;
            true
        })
        .unwrap();
        assert!(seen > 0, "{kind} reported no progress");
        assert_eq!(
            result.robust_by_stages.as_ref().map(Vec::len),
            Some(2),
            "{kind}"
        );
        let d = values(result.x_adv.sub(x.clone()));
        assert!(
            d.iter().all(|v| f64::from(v.abs()) <= eps + 1e-5),
            "{kind} left the ball"
        );
    }
}
