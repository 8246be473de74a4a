//! CPU time for criterion and the measurement benches: this process's user +
//! system time (`CLOCK_PROCESS_CPUTIME_ID`, nanoseconds), all threads
//! included. On a shared machine wall time counts the other engineers' load;
//! CPU time counts only the work done (a simulation's second thread too).

use std::time::Duration;

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};
use rustix::time::{ClockId, clock_gettime};

/// This process's CPU time so far.
pub fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` and returns its value with the CPU time it took.
pub fn cpu_time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = process_cpu();
    let v = f();
    (v, process_cpu() - start)
}

/// Criterion's measurement by process CPU time (nanoseconds), in place of
/// its wall clock: `Criterion::default().with_measurement(CpuTime)`.
pub struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        process_cpu()
    }

    fn end(&self, start: Duration) -> Duration {
        process_cpu().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds shown as ns/µs/ms/s of CPU.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical_ns < 1e3 {
            (1.0, "ns CPU")
        } else if typical_ns < 1e6 {
            (1e3, "µs CPU")
        } else if typical_ns < 1e9 {
            (1e6, "ms CPU")
        } else {
            (1e9, "s CPU")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        // Per second of CPU, of whatever the throughput counts.
        let per = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n as f64,
            Throughput::Elements(n) | Throughput::Bits(n) => n as f64,
            Throughput::ElementsAndBytes { elements, .. } => elements as f64,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "per CPU s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
