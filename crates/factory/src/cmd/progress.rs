//! How a running engine looks in a terminal: one progress bar per wave with the builds
//! running in its message, failures as they happen, and each wave's report at its end.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use factory_engine::{BuildReport, Observer, WaveReport};
use factory_store::{BuildState, WaveId};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Progress bars, one per wave, with the builds running in its message.
pub(super) struct Progress {
    bars: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
    running: Mutex<BTreeSet<String>>,
}

impl Progress {
    pub(super) fn new() -> Arc<Progress> {
        Arc::new(Progress {
            bars: MultiProgress::new(),
            current: Mutex::new(None),
            running: Mutex::new(BTreeSet::new()),
        })
    }

    fn refresh(&self) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            let names: Vec<&str> = running.iter().map(String::as_str).collect();
            bar.set_message(names.join(" "));
        }
    }

    pub(super) fn println(&self, line: &str) {
        let _ = self.bars.println(line);
    }
}

impl Observer for Progress {
    fn wave_planned(&self, wave: WaveId, jobs: &[String]) {
        let bar = self.bars.add(ProgressBar::new(jobs.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("wave {wave}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(bar)
        {
            old.finish();
        }
    }

    fn build_started(&self, job: &str) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.to_owned());
        self.refresh();
    }

    fn build_finished(&self, report: &BuildReport) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&report.job);
        if let Some(bar) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(1);
        }
        if matches!(report.state, BuildState::Failed | BuildState::Blocked) {
            self.println(&format!(
                "{} {} {}: {}",
                report.build,
                report.job,
                report.state,
                report.detail.as_deref().unwrap_or("")
            ));
        }
        self.refresh();
    }

    fn wave_finished(&self, report: &WaveReport) {
        print_wave(report);
    }

    fn note(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// Prints one line per build of a wave.
pub(super) fn print_wave(report: &WaveReport) {
    println!(
        "wave {}: {} job(s) affected, {} ran, {} ({:.2?})",
        report.wave,
        report.affected.len(),
        report.ran(),
        report.summary(),
        report.duration
    );
    for build in report.builds.iter().filter(|b| !b.up_to_date) {
        let took = build
            .duration
            .map(|d| format!(" in {d:.2?}"))
            .unwrap_or_default();
        println!(
            "  {:<6} {:<18} {:<10}{took}  — {}",
            build.build.to_string(),
            build.job,
            build.state.as_str(),
            build.reason
        );
        if let Some(detail) = &build.detail {
            println!("  {:<6} {:<18} {:<10}    {detail}", "", "", "");
        }
    }
    if let Some(stop) = &report.stopped {
        println!("  stopped: {stop:?}");
    }
}
