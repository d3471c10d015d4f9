//! The compute thread: it owns the model and runs one job at a time, so the UI thread only
//! ever draws. Jobs report progress through [`Live`] and finish with a [`Reply`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::attack::image::{ImageAttack, attack_image, first_image_bytes};
use crate::attack::transfer::{TransferMatrix, transfer_matrix};
use crate::attack::{AttackConfig, PathPolicy};
use crate::data::batch_to_tensor;
use crate::device::{self, DeviceChoice};
use crate::ensemble::{self, PathPrediction};
use crate::model::{ModelConfig, Path, PathSpace, RnaModel};

use super::session::AttackRun;

pub use crate::assets::ModelSource;

/// What the UI needs to know about the loaded model.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub source: ModelSource,
    pub config: ModelConfig,
    pub space: PathSpace,
    pub parameters: usize,
    pub device: String,
    /// Measured accuracies from the model's card: (protocol, accuracy, images).
    pub card: Vec<(String, f64, usize)>,
}

impl ModelInfo {
    pub fn trained(&self) -> bool {
        self.config.provenance.trained
    }

    pub fn class_name(&self, class: usize) -> &str {
        self.config
            .class_names
            .get(class)
            .map_or("?", String::as_str)
    }
}

/// Ensemble query of one image (and its adversarial version, when there is one).
#[derive(Clone, Debug)]
pub struct EnsembleResult {
    pub paths: Vec<Path>,
    pub clean: Vec<PathPrediction>,
    pub adversarial: Option<Vec<PathPrediction>>,
    /// Which inputs these predictions belong to, so stale results are recognisable.
    pub clean_input: Vec<u8>,
}

/// The same image and budget under two path policies, side by side.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub official: ImageAttack,
    pub eot: ImageAttack,
}

pub enum Job {
    LoadModel(ModelSource),
    Attack {
        input: Vec<u8>,
        label: Option<usize>,
        config: AttackConfig,
        query_paths: usize,
    },
    Ensemble {
        clean: Vec<u8>,
        adversarial: Option<Vec<u8>>,
        paths: usize,
        seed: u64,
    },
    Transfer {
        input: Vec<u8>,
        label: usize,
        paths: Vec<Path>,
        config: AttackConfig,
    },
    Compare {
        input: Vec<u8>,
        label: Option<usize>,
        config: AttackConfig,
        eot_paths: usize,
        query_paths: usize,
    },
}

pub enum Reply {
    ModelLoaded(Result<ModelInfo, String>),
    Attack(Result<AttackRun, String>),
    Ensemble(Result<EnsembleResult, String>),
    Transfer(Result<TransferMatrix, String>),
    Compare(Result<Box<Comparison>, String>),
    /// The engine panicked; the message says where.
    Failed(String),
}

impl Reply {
    fn is_failure(&self) -> bool {
        match self {
            Reply::ModelLoaded(r) => r.is_err(),
            Reply::Attack(r) => r.is_err(),
            Reply::Ensemble(r) => r.is_err(),
            Reply::Transfer(r) => r.is_err(),
            Reply::Compare(r) => r.is_err(),
            Reply::Failed(_) => true,
        }
    }
}

/// Progress of the running job, written by the worker and read by the UI every frame.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub task: String,
    pub done: usize,
    pub total: usize,
    /// Loss of every iterate so far (attacks only).
    pub losses: Vec<f32>,
}

impl Job {
    fn name(&self) -> &'static str {
        match self {
            Job::LoadModel(_) => "loading the model",
            Job::Attack { .. } => "the attack",
            Job::Ensemble { .. } => "the ensemble query",
            Job::Transfer { .. } => "the transfer matrix",
            Job::Compare { .. } => "the comparison",
        }
    }
}

/// A stamp the app gives each job, returned with its reply, so that results computed for an
/// image or model that is no longer shown can be recognised and dropped.
pub type Stamp = u64;

fn lock(live: &Mutex<Live>) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The UI's handle on the compute thread.
pub struct Worker {
    jobs: Sender<(Stamp, Job)>,
    replies: Receiver<(Stamp, Reply)>,
    cancel: Arc<AtomicBool>,
    live: Arc<Mutex<Live>>,
    pending: usize,
}

impl Worker {
    /// Starts the thread; `wake` is called whenever there is something new to draw.
    pub fn spawn(device: DeviceChoice, wake: impl Fn() + Send + 'static) -> Self {
        let (jobs, job_rx) = channel::<(Stamp, Job)>();
        let (reply_tx, replies) = channel::<(Stamp, Reply)>();
        let cancel = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Live::default()));
        let (c, l) = (cancel.clone(), live.clone());
        std::thread::Builder::new()
            .name("rna-lens compute".into())
            .spawn(move || {
                let mut engine = Engine {
                    device,
                    model: None,
                    cancel: c,
                    live: l,
                    wake: Box::new(wake),
                };
                while let Ok((stamp, job)) = job_rx.recv() {
                    engine.cancel.store(false, Ordering::SeqCst);
                    let name = job.name();
                    let started = std::time::Instant::now();
                    tracing::debug!(job = name, "job started");
                    // A panic inside the engine must not take the app down: report it instead.
                    let reply =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run(job)))
                            .unwrap_or_else(|panic| {
                                let msg = panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_else(|| "unknown error".into());
                                Reply::Failed(format!("internal error in {name}: {msg}"))
                            });
                    tracing::info!(
                        job = name,
                        seconds = started.elapsed().as_secs_f64(),
                        failed = reply.is_failure(),
                        "job finished"
                    );
                    *lock(&engine.live) = Live::default();
                    if reply_tx.send((stamp, reply)).is_err() {
                        break;
                    }
                    (engine.wake)();
                }
            })
            .expect("spawning the compute thread");
        Self {
            jobs,
            replies,
            cancel,
            live,
            pending: 0,
        }
    }

    pub fn submit(&mut self, stamp: Stamp, job: Job) {
        if self.jobs.send((stamp, job)).is_ok() {
            self.pending += 1;
        }
    }

    pub fn busy(&self) -> bool {
        self.pending > 0
    }

    /// Asks the running job to stop at its next iteration.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub fn live(&self) -> Live {
        lock(&self.live).clone()
    }

    /// Finished jobs since the last call, with their stamps.
    pub fn poll(&mut self) -> Vec<(Stamp, Reply)> {
        let replies: Vec<(Stamp, Reply)> = self.replies.try_iter().collect();
        self.pending -= replies.len().min(self.pending);
        replies
    }
}

impl Drop for Worker {
    /// Closing the app in the middle of a job: the job stops at its next iteration and the
    /// thread ends (its reply has nowhere to go), instead of computing on for nobody.
    fn drop(&mut self) {
        self.cancel();
    }
}

struct Engine {
    device: DeviceChoice,
    model: Option<RnaModel>,
    cancel: Arc<AtomicBool>,
    live: Arc<Mutex<Live>>,
    wake: Box<dyn Fn() + Send>,
}

impl Engine {
    fn begin(&self, task: impl Into<String>, total: usize) {
        *lock(&self.live) = Live {
            task: task.into(),
            total,
            ..Live::default()
        };
        (self.wake)();
    }

    fn model(&self) -> Result<&RnaModel, String> {
        self.model
            .as_ref()
            .ok_or_else(|| "no model is loaded".to_string())
    }

    fn run(&mut self, job: Job) -> Reply {
        match job {
            Job::LoadModel(source) => Reply::ModelLoaded(self.load(source)),
            Job::Attack {
                input,
                label,
                config,
                query_paths,
            } => Reply::Attack(
                self.attack(&input, label, &config, query_paths, "attack")
                    .map(|(result, iterates)| AttackRun { result, iterates }),
            ),
            Job::Ensemble {
                clean,
                adversarial,
                paths,
                seed,
            } => Reply::Ensemble(self.ensemble(clean, adversarial, paths, seed)),
            Job::Transfer {
                input,
                label,
                paths,
                config,
            } => Reply::Transfer(self.transfer(&input, label, &paths, &config)),
            Job::Compare {
                input,
                label,
                config,
                eot_paths,
                query_paths,
            } => Reply::Compare(
                self.compare(&input, label, &config, eot_paths, query_paths)
                    .map(Box::new),
            ),
        }
    }

    fn load(&mut self, source: ModelSource) -> Result<ModelInfo, String> {
        self.begin(format!("loading {}", source.describe()), 0);
        let device = device::select(self.device)?;
        let mut model = source.open(&device.device).map_err(|e| e.to_string())?;
        let card = source
            .card()
            .map(|text| crate::assets::card_accuracies(&text))
            .unwrap_or_default();
        let info = ModelInfo {
            card,
            source,
            config: model.config().clone(),
            space: model.path_space().clone(),
            parameters: model.num_parameters(),
            device: device.description,
        };
        self.model = Some(model);
        Ok(info)
    }

    fn attack(
        &self,
        input: &[u8],
        label: Option<usize>,
        config: &AttackConfig,
        query_paths: usize,
        task: &str,
    ) -> Result<(ImageAttack, Vec<Vec<u8>>), String> {
        let model = self.model()?;
        self.begin(format!("{task}: ensemble on the clean image"), 0);
        let mut first = true;
        let mut iterates = Vec::new();
        let result = attack_image(
            model,
            input,
            label,
            config,
            query_paths,
            &mut |step, x, total| {
                let mut live = lock(&self.live);
                if first {
                    live.task = task.to_string();
                    first = false;
                }
                live.total = total;
                live.done = live.losses.len() + 1;
                live.losses.push(step.loss);
                #[cfg(test)]
                if tests::DEVICE_LOSS_AT
                    .compare_exchange(live.done, 0, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    panic!("device lost (injected at iteration {})", live.done);
                }
                drop(live);
                iterates.push(first_image_bytes(x));
                (self.wake)();
                !self.cancel.load(Ordering::SeqCst)
            },
        )?;
        // One image per trace entry: the iterates, then the (8-bit) result itself.
        iterates.truncate(result.trace.len().saturating_sub(1));
        iterates.push(result.adversarial.clone());
        Ok((result, iterates))
    }

    fn ensemble(
        &self,
        clean: Vec<u8>,
        adversarial: Option<Vec<u8>>,
        n: usize,
        seed: u64,
    ) -> Result<EnsembleResult, String> {
        let model = self.model()?;
        self.begin(format!("querying {n} paths"), 0);
        let device = model.device().clone();
        let paths = model.path_space().sample_many(n, seed);
        let query = |bytes: &[u8]| {
            ensemble::query(
                model,
                &batch_to_tensor(bytes, &device).squeeze_dim(0),
                &paths,
            )
        };
        let clean_predictions = query(&clean);
        let adversarial = adversarial.as_deref().map(query);
        Ok(EnsembleResult {
            clean: clean_predictions,
            adversarial,
            paths,
            clean_input: clean,
        })
    }

    fn transfer(
        &self,
        input: &[u8],
        label: usize,
        paths: &[Path],
        config: &AttackConfig,
    ) -> Result<TransferMatrix, String> {
        let model = self.model()?;
        let k = paths.len();
        self.begin(format!("transfer: attacking each of {k} paths"), k);
        let x = batch_to_tensor(input, model.device());
        transfer_matrix(model, &x, &[label], paths, config, &mut |done, total| {
            {
                let mut live = lock(&self.live);
                live.done = done;
                live.total = total;
            }
            (self.wake)();
            !self.cancel.load(Ordering::SeqCst)
        })
    }

    fn compare(
        &self,
        input: &[u8],
        label: Option<usize>,
        config: &AttackConfig,
        eot_paths: usize,
        query_paths: usize,
    ) -> Result<Comparison, String> {
        let mut official = config.clone();
        official.policy = PathPolicy::Official;
        let mut eot = config.clone();
        eot.policy = PathPolicy::Eot(eot_paths);
        let (official, _) = self.attack(
            input,
            label,
            &official,
            query_paths,
            "compare 1/2: official",
        )?;
        if self.cancel.load(Ordering::SeqCst) {
            return Err("cancelled".into());
        }
        let (eot, _) = self.attack(
            input,
            Some(official.label),
            &eot,
            query_paths,
            &format!("compare 2/2: eot:{eot_paths}"),
        )?;
        Ok(Comparison { official, eot })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::attack::AttackKind;
    use crate::data::IMAGE_LEN;

    /// The attack iteration at which the next attack loses its device (0: never). Faults of a
    /// real GPU reach the engine as panics from inside burn, which this imitates.
    pub static DEVICE_LOSS_AT: AtomicUsize = AtomicUsize::new(0);

    /// The fault above reaches every worker in the process: one worker test at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn next_reply(worker: &mut Worker) -> Reply {
        let started = Instant::now();
        loop {
            if let Some((_, reply)) = worker.poll().pop() {
                return reply;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "no reply");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A worker with an untrained ResNet-20 loaded.
    fn loaded_worker() -> Worker {
        let mut worker = Worker::spawn("cpu".parse().unwrap(), || {});
        worker.submit(1, Job::LoadModel(ModelSource::Untrained("resnet20".into())));
        assert!(matches!(next_reply(&mut worker), Reply::ModelLoaded(Ok(_))));
        worker
    }

    /// PGD with `steps` steps on a plain grey image.
    fn attack(steps: usize) -> Job {
        let mut config = AttackConfig::preset(AttackKind::Pgd);
        config.steps = steps;
        Job::Attack {
            input: vec![100; IMAGE_LEN],
            label: Some(3),
            config,
            query_paths: 8,
        }
    }

    #[test]
    fn closing_during_an_attack_stops_the_compute_thread() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let mut worker = loaded_worker();
        worker.submit(2, attack(100_000));
        let started = Instant::now();
        while worker.live().done == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The thread holds the other reference to the progress it reports.
        let live = worker.live.clone();
        drop(worker);
        let dropped = Instant::now();
        while Arc::strong_count(&live) > 1 {
            assert!(
                dropped.elapsed() < Duration::from_secs(10),
                "the compute thread is still running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_device_lost_mid_attack_fails_that_attack_and_the_worker_goes_on() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let mut worker = loaded_worker();
        DEVICE_LOSS_AT.store(3, Ordering::SeqCst);
        worker.submit(2, attack(6));
        match next_reply(&mut worker) {
            Reply::Failed(msg) => {
                assert!(
                    msg.contains("the attack") && msg.contains("device lost"),
                    "{msg}"
                )
            }
            Reply::Attack(Err(e)) => panic!("the attack failed on its own: {e}"),
            _ => panic!("the attack should have failed"),
        }
        assert!(!worker.busy());
        assert_eq!(worker.live().total, 0, "progress is cleared");
        // The model is still loaded and the next attack runs to the end.
        worker.submit(3, attack(6));
        match next_reply(&mut worker) {
            Reply::Attack(Ok(run)) => assert_eq!(run.iterates.len(), run.result.trace.len()),
            _ => panic!("the second attack should succeed"),
        }
    }
}
