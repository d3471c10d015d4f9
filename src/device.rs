//! Choosing where tensors live: wgpu on a real GPU, else burn's `flex` CPU backend.
//!
//! On a machine without a GPU, wgpu still finds a software adapter (lavapipe/llvmpipe), which is
//! far slower than `flex` for our small convolutions; `auto` therefore only picks wgpu when an
//! adapter is real hardware, and always says which backend is in use.

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind, Tensor, TensorData};

/// What the user asked for (`--device auto|cpu|wgpu|wgpu:N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A real GPU through wgpu if one exists, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// wgpu's default adapter (a software one is accepted), or the N-th listed adapter.
    Wgpu(Option<usize>),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" | "gpu" => Ok(Self::Wgpu(None)),
            other => other
                .strip_prefix("wgpu:")
                .and_then(|n| n.parse().ok())
                .map(|n| Self::Wgpu(Some(n)))
                .ok_or_else(|| format!("unknown device '{s}': expected auto, cpu, wgpu or wgpu:N")),
        }
    }
}

/// A wgpu adapter as the system lists it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: wgpu::DeviceType,
}

impl AdapterSummary {
    /// Software adapters (lavapipe, llvmpipe, WARP) report the `Cpu` device type.
    pub fn is_hardware(&self) -> bool {
        !matches!(self.device_type, wgpu::DeviceType::Cpu)
    }
}

/// Lists wgpu adapters once per process (it opens drivers, which takes a while).
pub fn adapters() -> &'static [AdapterSummary] {
    static ADAPTERS: OnceLock<Vec<AdapterSummary>> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let started = std::time::Instant::now();
        let found: Vec<AdapterSummary> = block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .map(|a| {
                let info = a.get_info();
                AdapterSummary {
                    name: info.name,
                    backend: format!("{:?}", info.backend),
                    device_type: info.device_type,
                }
            })
            .collect();
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            adapters = ?found.iter().map(|a| format!("{} ({}, {:?})", a.name, a.backend, a.device_type)).collect::<Vec<_>>(),
            "wgpu adapters"
        );
        found
    })
}

/// A tiny executor for wgpu's futures (adapter and device requests, buffer mapping), which
/// complete without real waiting on native.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The device in use and how to describe it to the user.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    pub description: String,
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl ComputeDevice {
    pub fn cpu() -> Self {
        Self {
            device: Device::flex(),
            description: format!(
                "CPU (burn flex backend, {} threads)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
        }
    }
}

thread_local! {
    static READBACKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Reads `t` back to the host. On a GPU every read is a sync (the queue drains first), so the
/// engine reads results only through here, and counts them: [`readbacks`] gives the syncs of a
/// workload on any device, the software adapter and the CPU included.
pub fn read_back<const D: usize, K: burn::tensor::kind::Basic>(t: Tensor<D, K>) -> TensorData {
    READBACKS.with(|n| n.set(n.get() + 1));
    t.into_data()
}

/// A float tensor's values on the host, through [`read_back`]: the one way results reach the CPU.
pub fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    read_back(t)
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
}

/// Host readbacks made by this thread so far (per thread, so concurrent work is not mixed in).
pub fn readbacks() -> u64 {
    READBACKS.with(std::cell::Cell::get)
}

/// Why the device asked for cannot be used; each message is one line, as the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no wgpu adapter {index}: {found} adapter(s) found")]
    NoSuchAdapter { index: usize, found: usize },
    #[error("no wgpu adapter found (no GPU driver, no Vulkan/Metal/DX12)")]
    NoAdapter,
    #[error("wgpu initialisation failed: {0}")]
    Init(String),
}

/// Resolves a choice to a device. `Auto` never fails: without a hardware adapter it falls back
/// to the CPU and says so in the description.
pub fn select(choice: DeviceChoice) -> Result<ComputeDevice, DeviceError> {
    let chosen = choose(choice);
    match &chosen {
        Ok(d) => tracing::info!(asked = ?choice, device = %d.description, "device chosen"),
        Err(e) => tracing::info!(asked = ?choice, error = %e, "no device"),
    }
    chosen
}

fn choose(choice: DeviceChoice) -> Result<ComputeDevice, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(ComputeDevice::cpu()),
        DeviceChoice::Auto => {
            let hardware = adapters().iter().position(AdapterSummary::is_hardware);
            match hardware {
                Some(i) => choose(DeviceChoice::Wgpu(Some(i))).or_else(|e| {
                    let mut cpu = ComputeDevice::cpu();
                    cpu.description = format!("{} — GPU unavailable: {e}", cpu.description);
                    Ok(cpu)
                }),
                None => {
                    let mut cpu = ComputeDevice::cpu();
                    cpu.description =
                        format!("{} — CPU fallback, no GPU adapter found", cpu.description);
                    Ok(cpu)
                }
            }
        }
        DeviceChoice::Wgpu(index) => {
            let list = adapters();
            let (kind, adapter) = match index {
                None => (DeviceKind::DefaultDevice, list.first()),
                Some(i) => {
                    let adapter = list.get(i).ok_or(DeviceError::NoSuchAdapter {
                        index: i,
                        found: list.len(),
                    })?;
                    // burn numbers adapters within their type; translate the overall index.
                    let nth = list[..i]
                        .iter()
                        .filter(|a| a.device_type == adapter.device_type)
                        .count();
                    let kind = match adapter.device_type {
                        wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(nth),
                        wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(nth),
                        wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(nth),
                        _ => DeviceKind::Cpu,
                    };
                    (kind, Some(adapter))
                }
            };
            let adapter = adapter.ok_or(DeviceError::NoAdapter)?;
            let device = init_wgpu(kind)?;
            Ok(ComputeDevice {
                device,
                description: format!("GPU: {} ({}, wgpu)", adapter.name, adapter.backend),
            })
        }
    }
}

/// burn's wgpu runtime can be initialised once per adapter; later requests reuse it.
fn init_wgpu(kind: DeviceKind) -> Result<Device, DeviceError> {
    static INITIALISED: Mutex<Vec<(DeviceKind, Device)>> = Mutex::new(Vec::new());
    let mut done = INITIALISED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, d)) = done.iter().find(|(k, _)| *k == kind) {
        return Ok(d.clone());
    }
    let device = Device::wgpu_options()
        .device_kind(kind.clone())
        .init()
        .map_err(|e| DeviceError::Init(e.to_string()))?;
    done.push((kind, device.clone()));
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_parse() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("wgpu".parse(), Ok(DeviceChoice::Wgpu(None)));
        assert_eq!("wgpu:2".parse(), Ok(DeviceChoice::Wgpu(Some(2))));
        assert!("cuda".parse::<DeviceChoice>().is_err());
        assert!("wgpu:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_without_a_gpu_falls_back_to_the_cpu_and_says_so() {
        let device = select(DeviceChoice::Auto).expect("auto never fails");
        if adapters().iter().any(AdapterSummary::is_hardware) {
            return; // a machine with a GPU: nothing to fall back from
        }
        assert!(
            device
                .description
                .starts_with(&ComputeDevice::cpu().description),
            "{device}"
        );
        assert!(device.description.contains("CPU fallback"), "{device}");
        // An adapter index that does not exist is an error that says how many there are.
        let err = select(DeviceChoice::Wgpu(Some(99)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no wgpu adapter 99"), "{err}");
    }
}
