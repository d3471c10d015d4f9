//! The compute thread: it owns the model and runs one job at a time, so the UI thread only
//! ever draws. Each request returns a [`Task`], the only way its result comes back; jobs report
//! progress through [`Live`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::attack::AttackConfig;
use crate::attack::image::{ImageAttack, attack_image};
use crate::attack::transfer::{TransferMatrix, transfer_matrix};
use crate::budget::{BudgetCurve, CurvePoint, CurveSetup, budget_curve};
use crate::data::batch_to_tensor;
use crate::device::{self, DeviceChoice};
use crate::ensemble::{self, PathPrediction};
use crate::eval::card::CardCurves;
use crate::model::{ModelConfig, Path, PathSpace, RnaModel};

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
    /// The card's accuracy-against-ε curves (its `sanity` row), where it was measured.
    pub card_curves: Option<CardCurves>,
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

/// Progress of the running job, written by the worker and read by the UI every frame.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub task: String,
    pub done: usize,
    pub total: usize,
    /// Loss of every iterate so far (attacks only).
    pub losses: Vec<f32>,
    /// The ε curve being computed and its points so far, drawn while the rest computes.
    pub curve: Option<(CurveSetup, Vec<CurvePoint>)>,
}

fn lock(live: &Mutex<Live>) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request to the compute thread and the only way its result comes back. Dropping it, as
/// clearing the slot that asked does, cancels the job (before it starts, or at its next
/// iteration) and discards its result: a stale result cannot arrive.
pub struct Task<T> {
    result: Receiver<Result<T, String>>,
    cancel: Arc<AtomicBool>,
}

impl<T> Task<T> {
    /// The result, once it is there; `None` while the job runs or waits.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        match self.result.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the compute thread stopped".into())),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// A slot's result once its task has finished; the finished task leaves the slot.
pub(super) fn finished<T>(slot: &mut Option<Task<T>>) -> Option<Result<T, String>> {
    let result = slot.as_mut()?.poll()?;
    *slot = None;
    Some(result)
}

/// A result a view shows and the task computing the next one: the view that asked owns both,
/// so clearing it (a new image or model) drops the task and a stale result cannot arrive.
pub struct Slot<T> {
    value: Option<T>,
    task: Option<Task<T>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            value: None,
            task: None,
        }
    }
}

impl<T> Slot<T> {
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub fn computing(&self) -> bool {
        self.task.is_some()
    }

    /// Replaces the work in flight; the value shown stays until the new one arrives.
    pub fn start(&mut self, task: Task<T>) {
        self.task = Some(task);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Takes in the task's result once it is there: a value replaces the shown one, an error
    /// comes back for the status line.
    pub fn poll(&mut self) -> Option<Result<&T, String>> {
        match finished(&mut self.task)? {
            Ok(value) => Some(Ok(self.value.insert(value))),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Work for the compute thread: it runs on the engine and sends its own result to its task.
type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// The UI's handle on the compute thread.
pub struct Worker {
    jobs: Sender<(Job, Arc<AtomicBool>)>,
    /// The cancel flag of the job in flight.
    running: Arc<Mutex<Arc<AtomicBool>>>,
    /// Jobs submitted and not yet finished.
    pending: Arc<AtomicUsize>,
    live: Arc<Mutex<Live>>,
}

impl Worker {
    /// Starts the thread; `wake` is called whenever there is something new to draw.
    pub fn spawn(device: DeviceChoice, wake: impl Fn() + Send + 'static) -> Self {
        let (jobs, job_rx) = channel::<(Job, Arc<AtomicBool>)>();
        let running = Arc::new(Mutex::new(Arc::new(AtomicBool::new(false))));
        let pending = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(Mutex::new(Live::default()));
        let (r, p, l) = (running.clone(), pending.clone(), live.clone());
        std::thread::Builder::new()
            .name("rna-lens compute".into())
            .spawn(move || {
                let mut engine = Engine {
                    device,
                    model: None,
                    cancel: Arc::new(AtomicBool::new(false)),
                    live: l,
                    wake: Box::new(wake),
                };
                while let Ok((job, cancel)) = job_rx.recv() {
                    // A job whose task is gone before it starts is not run at all.
                    if !cancel.load(Ordering::SeqCst) {
                        *r.lock().unwrap_or_else(PoisonError::into_inner) = cancel.clone();
                        engine.cancel = cancel;
                        #[cfg(test)]
                        tests::JOBS_RUN.fetch_add(1, Ordering::SeqCst);
                        job(&mut engine);
                        // Progress ends with the job; the curve's points stay until its task is
                        // polled, so the plot does not blink empty in between.
                        let mut live = lock(&engine.live);
                        *live = Live {
                            curve: live.curve.take(),
                            ..Live::default()
                        };
                    }
                    p.fetch_sub(1, Ordering::SeqCst);
                    (engine.wake)();
                }
            })
            .expect("spawning the compute thread");
        Self {
            jobs,
            running,
            pending,
            live,
        }
    }

    pub fn load_model(&self, source: ModelSource) -> Task<ModelInfo> {
        self.submit("loading the model", move |engine| engine.load(source))
    }

    /// An attack on one image, with every iterate for replay and the `query_paths` ensemble
    /// before and after.
    pub fn attack(
        &self,
        input: Vec<u8>,
        label: Option<usize>,
        config: AttackConfig,
        query_paths: usize,
    ) -> Task<ImageAttack> {
        self.submit("the attack", move |engine| {
            engine.attack(&input, label, &config, query_paths, "attack")
        })
    }

    pub fn ensemble(
        &self,
        clean: Vec<u8>,
        adversarial: Option<Vec<u8>>,
        paths: usize,
        seed: u64,
    ) -> Task<EnsembleResult> {
        self.submit("the ensemble query", move |engine| {
            engine.ensemble(clean, adversarial, paths, seed)
        })
    }

    pub fn transfer(
        &self,
        input: Vec<u8>,
        label: usize,
        paths: Vec<Path>,
        config: AttackConfig,
    ) -> Task<TransferMatrix> {
        self.submit("the transfer matrix", move |engine| {
            engine.transfer(&input, label, &paths, &config)
        })
    }

    pub fn compare(
        &self,
        input: Vec<u8>,
        label: Option<usize>,
        config: AttackConfig,
        eot_paths: usize,
        query_paths: usize,
    ) -> Task<Comparison> {
        self.submit("the comparison", move |engine| {
            engine.compare(&input, label, &config, eot_paths, query_paths)
        })
    }

    /// The ε curve of one image; its points appear in [`Live::curve`] as they are done.
    pub fn budget_curve(&self, input: Vec<u8>, setup: CurveSetup) -> Task<BudgetCurve> {
        // The previous curve's points must not show as this one's before it starts.
        lock(&self.live).curve = None;
        self.submit("the ε curve", move |engine| {
            engine.budget_curve(&input, setup)
        })
    }

    /// Queues `work`; a panic inside it (a GPU fault surfaces as one from inside burn) fails
    /// that task with the panic's message and the worker goes on.
    fn submit<T: Send + 'static>(
        &self,
        name: &'static str,
        work: impl FnOnce(&mut Engine) -> Result<T, String> + Send + 'static,
    ) -> Task<T> {
        let (tx, result) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job: Job = Box::new(move |engine| {
            let started = Instant::now();
            tracing::debug!(job = name, "job started");
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(engine)))
                .unwrap_or_else(|panic| {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown error".into());
                    Err(format!("internal error in {name}: {msg}"))
                });
            tracing::info!(
                job = name,
                seconds = started.elapsed().as_secs_f64(),
                failed = outcome.is_err(),
                "job finished"
            );
            let _ = tx.send(outcome);
        });
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.jobs.send((job, cancel.clone())).is_err() {
            // The thread is gone; the task reports it when polled.
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
        Task { result, cancel }
    }

    pub fn busy(&self) -> bool {
        self.pending.load(Ordering::SeqCst) > 0
    }

    /// Asks the running job to stop at its next iteration.
    pub fn cancel(&self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .store(true, Ordering::SeqCst);
    }

    pub fn live(&self) -> Live {
        lock(&self.live).clone()
    }
}

impl Drop for Worker {
    /// Closing the app in the middle of a job: the job stops at its next iteration and the
    /// thread ends (its result has nowhere to go), instead of computing on for nobody.
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

    fn load(&mut self, source: ModelSource) -> Result<ModelInfo, String> {
        self.begin(format!("loading {}", source.describe()), 0);
        let device = device::select(self.device).map_err(|e| e.to_string())?;
        let mut model = source.open(&device.device).map_err(|e| e.to_string())?;
        let card = source.card().unwrap_or_default();
        let info = ModelInfo {
            card: crate::eval::card::card_accuracies(&card),
            card_curves: crate::eval::card::card_curves(&card),
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
    ) -> Result<ImageAttack, String> {
        let model = self.model()?;
        self.begin(format!("{task}: ensemble on the clean image"), 0);
        let mut first = true;
        attack_image(
            model,
            input,
            label,
            config,
            query_paths,
            &mut |step, _, total| {
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
                (self.wake)();
                !self.cancel.load(Ordering::SeqCst)
            },
        )
        .map_err(|e| e.to_string())
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
        .map_err(|e| e.to_string())
    }

    fn budget_curve(&self, input: &[u8], setup: CurveSetup) -> Result<BudgetCurve, String> {
        let model = self.model()?;
        let points = setup.eps.len() * setup.policies.len();
        self.begin("the ε curve", points);
        lock(&self.live).curve = Some((setup.clone(), Vec::new()));
        budget_curve(
            model,
            input,
            setup,
            &mut |point| {
                {
                    let mut live = lock(&self.live);
                    if let Some((_, points)) = &mut live.curve {
                        points.push(point.clone());
                        live.done = points.len();
                    }
                }
                (self.wake)();
                !self.cancel.load(Ordering::SeqCst)
            },
            &|| !self.cancel.load(Ordering::SeqCst),
        )
        .map_err(|e| e.to_string())
    }

    fn compare(
        &self,
        input: &[u8],
        label: Option<usize>,
        config: &AttackConfig,
        eot_paths: usize,
        query_paths: usize,
    ) -> Result<Comparison, String> {
        let [official, eot] = crate::attack::protocol_pair(config, eot_paths);
        let official = self.attack(
            input,
            label,
            &official,
            query_paths,
            "compare 1/2: official",
        )?;
        if self.cancel.load(Ordering::SeqCst) {
            return Err("cancelled".into());
        }
        let eot = self.attack(
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

    /// Jobs the compute threads of this process started (dropped tasks are not started).
    pub static JOBS_RUN: AtomicUsize = AtomicUsize::new(0);

    /// The fault above reaches every worker in the process: one worker test at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn wait<T>(mut task: Task<T>) -> Result<T, String> {
        let started = Instant::now();
        loop {
            if let Some(result) = task.poll() {
                return result;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "no reply");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls `slot` until its task has finished: `Err` if it failed.
    fn settle<T>(slot: &mut Slot<T>) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(result) = slot.poll() {
                return result.map(|_| ());
            }
            assert!(started.elapsed() < Duration::from_secs(120), "no reply");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_slot_shows_its_value_until_the_next_arrives_and_keeps_it_on_an_error() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let worker = Worker::spawn("cpu".parse().unwrap(), || {});
        let mut slot = Slot::default();
        slot.start(worker.submit("one", |_| Ok(1)));
        settle(&mut slot).unwrap();
        assert_eq!(slot.get(), Some(&1));
        let (go, wait_for_go) = channel::<()>();
        slot.start(worker.submit("two", move |_| {
            wait_for_go.recv().unwrap();
            Ok(2)
        }));
        assert!(slot.poll().is_none() && slot.computing());
        assert_eq!(
            slot.get(),
            Some(&1),
            "the old value shows while the next computes"
        );
        go.send(()).unwrap();
        settle(&mut slot).unwrap();
        assert_eq!(slot.get(), Some(&2));
        slot.start(worker.submit("three", |_| Err("no".to_string())));
        assert_eq!(settle(&mut slot), Err("no".to_string()));
        assert_eq!(slot.get(), Some(&2), "an error keeps the value shown");
        assert!(!slot.computing());
        slot.clear();
        assert!(slot.get().is_none() && !slot.computing());
    }

    /// A worker with an untrained ResNet-20 loaded.
    fn loaded_worker() -> Worker {
        let worker = Worker::spawn("cpu".parse().unwrap(), || {});
        assert!(wait(worker.load_model(ModelSource::Untrained("resnet20".into()))).is_ok());
        worker
    }

    /// PGD with `steps` steps on a plain grey image.
    fn attack(worker: &Worker, steps: usize) -> Task<ImageAttack> {
        let mut config = AttackConfig::preset(AttackKind::Pgd);
        config.steps = steps;
        worker.attack(vec![100; IMAGE_LEN], Some(3), config, 8)
    }

    #[test]
    fn closing_during_an_attack_stops_the_compute_thread() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let worker = loaded_worker();
        let _task = attack(&worker, 100_000);
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
        let worker = loaded_worker();
        DEVICE_LOSS_AT.store(3, Ordering::SeqCst);
        match wait(attack(&worker, 6)) {
            Err(msg) => assert!(
                msg.contains("internal error in the attack") && msg.contains("device lost"),
                "the attack should have failed with the fault, not on its own: {msg}"
            ),
            Ok(_) => panic!("the attack should have failed"),
        }
        let settled = Instant::now();
        while worker.busy() {
            assert!(settled.elapsed() < Duration::from_secs(10), "still busy");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(worker.live().total, 0, "progress is cleared");
        // The model is still loaded and the next attack runs to the end.
        match wait(attack(&worker, 6)) {
            Ok(run) => assert_eq!(run.iterates.len(), run.trace.len()),
            Err(e) => panic!("the second attack should succeed: {e}"),
        }
    }

    #[test]
    fn a_dropped_task_never_delivers_and_its_job_stops() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let worker = loaded_worker();
        // Queued behind a long attack, then dropped: it must not run at all.
        let ran_before = JOBS_RUN.load(Ordering::SeqCst);
        let long = attack(&worker, 100_000);
        let queued = attack(&worker, 5);
        drop(queued);
        let started = Instant::now();
        while worker.live().done == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Dropping the running task cancels it at its next iteration.
        drop(long);
        let dropped = Instant::now();
        while worker.busy() {
            assert!(
                dropped.elapsed() < Duration::from_secs(10),
                "the dropped attack ran on"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            JOBS_RUN.load(Ordering::SeqCst) - ran_before,
            1,
            "only the long attack ran"
        );
        // The worker takes new work afterwards, and it delivers.
        assert!(wait(attack(&worker, 2)).is_ok());
    }
}
