//! Counters the collector keeps about itself, printed by `--gc-stats` and answered by
//! `System>>gcStats`. Must never: influence collection decisions.

use std::time::Duration;

#[derive(Default, Debug, Clone)]
pub struct GcStats {
    pub minor_collections: u64,
    pub major_collections: u64,
    pub minor_pause: Duration,
    pub major_pause: Duration,
    pub max_pause: Duration,
    pub bytes_allocated: u64,
    pub bytes_promoted: u64,
    pub bytes_freed_by_major: u64,
    pub peak_old_bytes: u64,
    pub peak_nursery_bytes: u64,
}

impl GcStats {
    pub fn collections(&self) -> u64 {
        self.minor_collections + self.major_collections
    }
    pub fn total_pause(&self) -> Duration {
        self.minor_pause + self.major_pause
    }
    /// The report `--gc-stats` prints at exit.
    pub fn report(&self, old_bytes_now: u64) -> String {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "gc: minor collections      {}\n\
             gc: major collections      {}\n\
             gc: pause total            {:.3} ms (minor {:.3} ms, major {:.3} ms)\n\
             gc: pause max              {:.3} ms\n\
             gc: allocated              {:.1} MiB\n\
             gc: promoted               {:.1} MiB\n\
             gc: freed by major         {:.1} MiB\n\
             gc: old space now / peak   {:.1} MiB / {:.1} MiB\n\
             gc: nursery peak           {:.1} MiB\n",
            self.minor_collections,
            self.major_collections,
            ms(self.total_pause()),
            ms(self.minor_pause),
            ms(self.major_pause),
            ms(self.max_pause),
            mib(self.bytes_allocated),
            mib(self.bytes_promoted),
            mib(self.bytes_freed_by_major),
            mib(old_bytes_now),
            mib(self.peak_old_bytes),
            mib(self.peak_nursery_bytes),
        )
    }
}
