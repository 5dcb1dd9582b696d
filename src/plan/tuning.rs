//! A partition's timeouts, retries and concurrency: its defaults, the plan's settings over
//! them, and the command line's `--tune` over those, resolved once into `PartitionDef`.

use std::time::Duration;

use super::types::PartitionEntry;
use crate::partition::Partition;

/// Timeouts and retries for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a read may miss what was just created before "not found" is believed: EC2
    /// says so of its API ("its ID might not have propagated throughout the system", retry
    /// "up to a few minutes": Eventual consistency in the Amazon EC2 API); 2 min by default, as
    /// the Terraform AWS provider waits for a new resource's read (`RetryWhenNewResourceNotFound`).
    pub read_lag: Duration,
    /// Calls at once in this partition; None: the run's default.
    pub concurrency: Option<u32>,
}

impl Tuning {
    /// China endpoints are slow and sometimes hang behind the Great Firewall: give them longer
    /// to connect and answer and more attempts, but still a bound on every call, so that nothing
    /// "sits indefinitely" as the seed's Terraform runs did.
    pub fn default_for(p: Partition) -> Tuning {
        match p {
            Partition::Aws => Tuning {
                connect: Duration::from_secs(5),
                attempt: Duration::from_secs(20),
                operation: Duration::from_secs(90),
                // Ten: under a link that fails a third of the calls (the fault layer's harsh
                // mix), five attempts lost one call in two hundred, enough to fail a teardown.
                max_attempts: 10,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(10),
                read_lag: Duration::from_secs(120),
                concurrency: None,
            },
            Partition::AwsCn => Tuning {
                connect: Duration::from_secs(10),
                attempt: Duration::from_secs(45),
                operation: Duration::from_secs(300),
                max_attempts: 12,
                initial_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(20),
                read_lag: Duration::from_secs(120),
                concurrency: None,
            },
        }
    }

    /// The partition's defaults with the plan's settings applied.
    pub fn planned(p: Partition, spec: &PartitionEntry) -> Tuning {
        let mut t = Tuning::default_for(p);
        let (r, o) = (&spec.retry, &spec.timeouts);
        if let Some(n) = r.max_attempts {
            t.max_attempts = n.max(1);
        }
        // A setting the plan gives replaces the partition's default; one it leaves out keeps it.
        let millis = |field: &mut Duration, ms: Option<u64>| {
            if let Some(ms) = ms {
                *field = Duration::from_millis(ms);
            }
        };
        millis(&mut t.initial_backoff, r.initial_backoff_ms);
        millis(&mut t.max_backoff, r.max_backoff_ms);
        millis(&mut t.connect, o.connect_ms);
        millis(&mut t.attempt, o.attempt_ms);
        millis(&mut t.operation, o.operation_ms);
        millis(&mut t.read_lag, o.read_lag_ms);
        t.concurrency = spec.concurrency;
        t
    }

    /// One `--tune` setting: `setting` is the part after `PARTITION.`; `flag` the whole
    /// `KEY=VALUE`, for messages.
    pub fn set(&mut self, setting: &str, value: &str, flag: &str) -> Result<(), String> {
        let n: u64 = value
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--tune {flag}: expected a positive whole number"))?;
        let small = || u32::try_from(n).map_err(|_| format!("--tune {flag}: too large"));
        let ms = Duration::from_millis(n);
        match setting {
            "max_attempts" => self.max_attempts = small()?.max(1),
            "initial_backoff_ms" => self.initial_backoff = ms,
            "max_backoff_ms" => self.max_backoff = ms,
            "connect_ms" => self.connect = ms,
            "attempt_ms" => self.attempt = ms,
            "operation_ms" => self.operation = ms,
            "read_lag_ms" => self.read_lag = ms,
            "concurrency" => self.concurrency = Some(small()?),
            other => {
                return Err(format!(
                    "--tune {flag}: unknown setting `{other}` (max_attempts, initial_backoff_ms, \
                     max_backoff_ms, connect_ms, attempt_ms, operation_ms, read_lag_ms, concurrency)"
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_is_more_patient_than_commercial() {
        let (a, c) = (
            Tuning::default_for(Partition::Aws),
            Tuning::default_for(Partition::AwsCn),
        );
        assert!(c.connect > a.connect && c.attempt > a.attempt && c.operation > a.operation);
        assert!(c.max_attempts > a.max_attempts);
        // Bounded all the same.
        assert!(c.operation <= Duration::from_secs(300));
    }

    #[test]
    fn the_read_lag_is_set_by_the_plan_and_the_command_line() {
        let mut spec: PartitionEntry = serde_yaml::from_str("region: cn-north-1").unwrap();
        assert_eq!(
            Tuning::planned(Partition::AwsCn, &spec).read_lag,
            Duration::from_secs(120)
        );
        spec.timeouts.read_lag_ms = Some(30_000);
        let mut t = Tuning::planned(Partition::AwsCn, &spec);
        assert_eq!(t.read_lag, Duration::from_secs(30));
        t.set("read_lag_ms", "5000", "china.read_lag_ms=5000")
            .unwrap();
        assert_eq!(t.read_lag, Duration::from_secs(5));
        let e = t.set("read_lag", "5", "china.read_lag=5").unwrap_err();
        assert!(e.contains("read_lag_ms"), "{e}");
    }
}
