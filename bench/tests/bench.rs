//! Smoke tests of `clamator-bench`, the tool behind docs/benchmarks.md: each mode runs and
//! prints one JSON line with every figure, all calls answered. The figures themselves are
//! never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use clamator_testkit::process::output_within;
use serde_json::Value;

/// The longest one benchmark run may take before it is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(300);

/// `clamator-bench` in each mode (clamator-rs, `--baseline`, `--peer-python`) prints one JSON
/// line with every figure, all calls answered.
#[test]
fn the_benchmark_runs_in_each_mode() {
    let py = clamator_testkit::python_peer::python().unwrap_or_else(|e| panic!("{e}"));
    for mode in [None, Some("--baseline"), Some("--peer-python")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clamator-bench"));
        cmd.args([
            "--concurrency",
            "4",
            "--calls",
            "40",
            "--server-concurrency",
            "2",
        ])
        .arg("--python")
        .arg(&py);
        if let Some(flag) = mode {
            cmd.arg(flag);
        }
        let out = output_within(&mut cmd, None, LIMIT).unwrap();
        assert!(
            out.status.success(),
            "{mode:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let figures: Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected_mode = match mode {
            None => "clamator-rs",
            Some("--baseline") => "baseline",
            _ => "python-peer",
        };
        assert_eq!(figures["mode"], expected_mode);
        assert_eq!(figures["calls"], 40, "{mode:?}: {figures}");
        assert_eq!(figures["failed"], 0, "{mode:?}: {figures}");
        for key in [
            "seconds",
            "calls_per_sec",
            "p50_us",
            "p90_us",
            "p99_us",
            "max_us",
            "client_peak_rss_kib",
            "server_peak_rss_kib",
        ] {
            assert!(
                figures[key].as_f64().is_some_and(|v| v > 0.0),
                "{mode:?}: {key} missing or zero in {figures}"
            );
        }
        assert!(figures["p50_us"].as_u64() <= figures["p99_us"].as_u64());
        // CPU per call is measured in every mode (40 calls may take under a clock tick).
        let cpu = &figures["cpu_s_per_10k_calls"];
        for part in ["client", "server", "redis", "total"] {
            assert!(
                cpu[part].as_f64().is_some_and(|v| v >= 0.0),
                "{mode:?}: cpu_s_per_10k_calls.{part} missing in {figures}"
            );
        }
    }
}

/// `clamator-bench --cluster --services 2 --partitions 2` starts its own cluster, runs two
/// services over two partitions each, sums them, and reports each redis-server's CPU.
#[test]
fn the_benchmark_runs_on_a_cluster_with_services_and_partitions() {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_clamator-bench"))
            .args(["--cluster", "--cluster-masters", "3", "--services", "2"])
            .args(["--partitions", "2", "--concurrency", "4", "--calls", "40"]),
        None,
        LIMIT,
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["deployment"], "cluster", "{figures}");
    assert_eq!(figures["services"], 2, "{figures}");
    assert_eq!(figures["calls"], 80.0, "{figures}");
    assert_eq!(figures["failed"], 0.0, "{figures}");
    let per_service = figures["per_service"].as_array().unwrap();
    assert!(
        per_service.iter().all(|s| s["partitions"] == 2),
        "{figures}"
    );
    let cpu = figures["redis_cpu_s"].as_array().unwrap();
    assert_eq!(cpu.len(), 3, "{figures}");
}

/// `clamator-bench --events N` publishes to N subscriber processes and reports each one's
/// deliveries.
#[test]
fn the_benchmark_measures_events_to_each_subscriber() {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_clamator-bench")).args([
            "--events",
            "2",
            "--calls",
            "60",
            "--concurrency",
            "4",
        ]),
        None,
        LIMIT,
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["mode"], "events", "{figures}");
    assert_eq!(figures["calls"], 60, "{figures}");
    let per = figures["per_subscriber"].as_array().unwrap();
    assert_eq!(per.len(), 2, "{figures}");
    for s in per {
        assert_eq!(s["delivered"], 60, "{figures}");
        assert!(s["e2e_p50_us"].as_u64().is_some(), "{figures}");
    }
    assert!(figures["cpu_s_per_10k_calls"]["total"].as_f64().is_some());
}
