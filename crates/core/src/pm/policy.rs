//! The spawn and stop rules, as pure functions of counts, settings and time.

use super::wire::ClassLimits;
use std::time::{Duration, Instant};

/// Server-wide settings of the manager (from the main server's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalLimits {
    pub max_processes: u32,
    pub spawn_score: u32,
    pub termination_score: u32,
    pub time_score: u32,
    pub spawn_score_up_limit: u32,
}

impl Default for GlobalLimits {
    fn default() -> Self {
        GlobalLimits {
            max_processes: 1000,
            spawn_score: 1,
            termination_score: 2,
            time_score: 1,
            spawn_score_up_limit: 10,
        }
    }
}

/// A class's spawn score: raised by spawns and deaths, lowered by time.
/// While it is at or over the limit, the class may not spawn.
#[derive(Debug, Clone, Copy)]
pub struct SpawnScore {
    value: u64,
    updated: Instant,
}

impl SpawnScore {
    pub fn new(now: Instant) -> Self {
        SpawnScore {
            value: 0,
            updated: now,
        }
    }

    /// Lowers the score by `time_score` per whole second since the last update.
    pub fn decay(&mut self, now: Instant, time_score: u32) {
        let secs = now.saturating_duration_since(self.updated).as_secs();
        if secs > 0 {
            self.value = self
                .value
                .saturating_sub(secs.saturating_mul(time_score as u64));
            self.updated += Duration::from_secs(secs);
        }
    }

    pub fn add(&mut self, points: u32) {
        self.value += points as u64;
    }

    pub fn value(&self) -> u64 {
        self.value
    }

    /// When the score will have decayed below `limit` (None if it never will).
    pub fn below_limit_at(&self, limit: u32, time_score: u32) -> Option<Instant> {
        if self.value < limit as u64 {
            return Some(self.updated);
        }
        if time_score == 0 {
            return None;
        }
        let excess = self.value - limit as u64 + 1;
        let secs = excess.div_ceil(time_score as u64);
        Some(self.updated + Duration::from_secs(secs))
    }
}

/// Why a class may not spawn now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    ClassFull { limit: u32 },
    ServerFull { limit: u32 },
    SpawnScore { score: u64, limit: u32 },
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::ClassFull { limit } => {
                write!(f, "the class is at FcgidMaxProcessesPerClass {limit}")
            }
            Hold::ServerFull { limit } => write!(f, "the server is at FcgidMaxProcesses {limit}"),
            Hold::SpawnScore { score, limit } => {
                write!(
                    f,
                    "the class's spawn score {score} is at FcgidSpawnScoreUpLimit {limit}"
                )
            }
        }
    }
}

/// May a class with `class_procs` processes spawn one more, with `all_procs`
/// in the whole server?
pub fn may_spawn(
    class_procs: u32,
    all_procs: u32,
    limits: &ClassLimits,
    global: &GlobalLimits,
    score: &SpawnScore,
) -> Result<(), Hold> {
    if class_procs >= limits.max_processes {
        return Err(Hold::ClassFull {
            limit: limits.max_processes,
        });
    }
    if all_procs >= global.max_processes {
        return Err(Hold::ServerFull {
            limit: global.max_processes,
        });
    }
    if score.value() >= global.spawn_score_up_limit as u64 {
        return Err(Hold::SpawnScore {
            score: score.value(),
            limit: global.spawn_score_up_limit,
        });
    }
    Ok(())
}

/// Why a process was stopped or ended; counted per class for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExitReason {
    IdleTimeout,
    LifeTime,
    MaxRequests,
    BusyTimeout,
    /// Its request was cut (the app misbehaved, or the httpd side went away).
    Broken,
    /// Its client hung up while it was still streaming a long answer.
    ClientAbort,
    /// It exited or was killed without being asked to.
    Died,
    Shutdown,
    /// Its class's command, environment or directory changed (a new
    /// configuration after a graceful restart): it was replaced.
    Reconfigured,
    /// Stopped while idle so that another class could have its slot
    /// under FcgidMaxProcesses (it was the one idle longest).
    Evicted,
}

impl ExitReason {
    /// Every reason (the wire protocol sends an index into this).
    pub const ALL: [ExitReason; 10] = [
        ExitReason::IdleTimeout,
        ExitReason::LifeTime,
        ExitReason::MaxRequests,
        ExitReason::BusyTimeout,
        ExitReason::Broken,
        ExitReason::ClientAbort,
        ExitReason::Died,
        ExitReason::Shutdown,
        ExitReason::Reconfigured,
        ExitReason::Evicted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExitReason::IdleTimeout => "idle_timeout",
            ExitReason::LifeTime => "lifetime",
            ExitReason::MaxRequests => "max_requests",
            ExitReason::BusyTimeout => "busy_timeout",
            ExitReason::Broken => "broken",
            ExitReason::ClientAbort => "client_abort",
            ExitReason::Died => "died",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Reconfigured => "reconfigured",
            ExitReason::Evicted => "evicted",
        }
    }
}

impl ExitReason {
    /// Does such an exit raise the class's spawn score? A stop caused by a
    /// client says nothing about the app, and counting it let a storm of
    /// aborted downloads throttle a healthy class down to no process at all.
    /// An eviction is the server's doing, not the app's.
    pub fn counts_toward_spawn_score(self) -> bool {
        !matches!(
            self,
            ExitReason::ClientAbort | ExitReason::Reconfigured | ExitReason::Evicted
        )
    }
}

/// Should an idle process be stopped? `class_procs` counts the class's live
/// processes: idle ones are never stopped below the class minimum.
pub fn idle_verdict(
    now: Instant,
    started: Instant,
    idle_since: Instant,
    limits: &ClassLimits,
    class_procs: u32,
) -> Option<ExitReason> {
    if class_procs <= limits.min_processes {
        return None;
    }
    if now.saturating_duration_since(idle_since) >= limits.idle_timeout {
        return Some(ExitReason::IdleTimeout);
    }
    if now.saturating_duration_since(started) >= limits.lifetime {
        return Some(ExitReason::LifeTime);
    }
    None
}

/// Has a process served its last request?
pub fn retire_after(requests: u32, limits: &ClassLimits) -> bool {
    limits.max_requests > 0 && requests >= limits.max_requests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ClassLimits {
        ClassLimits {
            max_processes: 2,
            min_processes: 1,
            idle_timeout: Duration::from_secs(10),
            lifetime: Duration::from_secs(100),
            busy_timeout: Duration::from_secs(5),
            max_requests: 3,
        }
    }

    #[test]
    fn score_blocks_at_limit_and_decays_per_second() {
        let t0 = Instant::now();
        let g = GlobalLimits {
            spawn_score_up_limit: 3,
            ..Default::default()
        };
        let mut s = SpawnScore::new(t0);
        s.add(2);
        assert_eq!(
            may_spawn(
                0,
                0,
                &ClassLimits {
                    max_processes: 9,
                    ..limits()
                },
                &g,
                &s
            ),
            Ok(())
        );
        s.add(2);
        assert_eq!(
            may_spawn(
                0,
                0,
                &ClassLimits {
                    max_processes: 9,
                    ..limits()
                },
                &g,
                &s
            ),
            Err(Hold::SpawnScore { score: 4, limit: 3 })
        );
        assert_eq!(s.below_limit_at(3, 1), Some(t0 + Duration::from_secs(2)));
        s.decay(t0 + Duration::from_millis(1999), 1);
        assert_eq!(s.value(), 3, "only whole seconds count");
        s.decay(t0 + Duration::from_millis(2000), 1);
        assert_eq!(s.value(), 2);
        s.decay(t0 + Duration::from_secs(60), 1);
        assert_eq!(s.value(), 0, "floored at zero");
    }

    #[test]
    fn class_limit_is_checked_before_server_limit() {
        let s = SpawnScore::new(Instant::now());
        let g = GlobalLimits {
            max_processes: 2,
            ..Default::default()
        };
        assert_eq!(
            may_spawn(2, 2, &limits(), &g, &s),
            Err(Hold::ClassFull { limit: 2 })
        );
        assert_eq!(
            may_spawn(1, 2, &limits(), &g, &s),
            Err(Hold::ServerFull { limit: 2 })
        );
        assert_eq!(may_spawn(1, 1, &limits(), &g, &s), Ok(()));
    }

    #[test]
    fn idle_processes_stop_after_timeout_but_not_below_minimum() {
        let t0 = Instant::now();
        let l = limits();
        assert_eq!(
            idle_verdict(t0 + Duration::from_secs(9), t0, t0, &l, 2),
            None
        );
        assert_eq!(
            idle_verdict(t0 + Duration::from_secs(10), t0, t0, &l, 2),
            Some(ExitReason::IdleTimeout)
        );
        assert_eq!(
            idle_verdict(t0 + Duration::from_secs(10), t0, t0, &l, 1),
            None,
            "at the minimum"
        );
        let recent = t0 + Duration::from_secs(99);
        assert_eq!(
            idle_verdict(t0 + Duration::from_secs(100), t0, recent, &l, 2),
            Some(ExitReason::LifeTime)
        );
    }

    #[test]
    fn max_requests_zero_means_unlimited() {
        assert!(!retire_after(
            1_000_000,
            &ClassLimits {
                max_requests: 0,
                ..limits()
            }
        ));
        assert!(!retire_after(2, &limits()));
        assert!(retire_after(3, &limits()));
    }
}
