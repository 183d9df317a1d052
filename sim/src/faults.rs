//! Fault injection per endpoint, decided by a seeded generator so a run can be replayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::calls::lock;
use crate::ids::{seed_for, SplitMix64};

/// What goes wrong with a call. Every fault happens before the endpoint changes any state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// `{"errcode": -1, "errmsg": "system error"}`.
    Busy,
    /// HTTP 500 with no JSON.
    Http5xx,
    /// Hold the request for `fault_hold` (far beyond a client timeout), then answer busy.
    Timeout,
    /// Close the connection without any response.
    Drop,
    /// Answer normally after this much added delay.
    Latency(#[serde(with = "millis")] Duration),
}

impl Fault {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Busy => "busy",
            Fault::Http5xx => "http5xx",
            Fault::Timeout => "timeout",
            Fault::Drop => "drop",
            Fault::Latency(_) => "latency",
        }
    }
}

/// A fault and the share of calls (0.0..=1.0) it hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub rate: f64,
    pub kind: Fault,
}

pub(crate) struct Faults {
    seed: u64,
    any: AtomicBool,
    specs: Mutex<HashMap<String, (FaultSpec, SplitMix64)>>,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Faults {
            seed,
            any: AtomicBool::new(false),
            specs: Mutex::new(HashMap::new()),
        }
    }

    /// Set (or replace) the fault of an endpoint path, or `*` for every endpoint
    /// without its own. The decision sequence restarts from the seed.
    pub(crate) fn set(&self, endpoint: &str, spec: FaultSpec) {
        let rng = SplitMix64::new(seed_for(self.seed, endpoint));
        lock(&self.specs).insert(endpoint.to_owned(), (spec, rng));
        self.any.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        lock(&self.specs).clear();
        self.any.store(false, Ordering::Release);
    }

    /// Whether this call of `endpoint` gets a fault.
    pub(crate) fn decide(&self, endpoint: &str) -> Option<Fault> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut specs = lock(&self.specs);
        let key = if specs.contains_key(endpoint) {
            endpoint
        } else {
            "*"
        };
        let (spec, rng) = specs.get_mut(key)?;
        (rng.next_f64() < spec.rate).then(|| spec.kind.clone())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(f: &Faults) -> Vec<bool> {
        (0..50).map(|_| f.decide("/x").is_some()).collect()
    }

    #[test]
    fn same_seed_gives_the_same_fault_pattern() {
        let spec = FaultSpec {
            rate: 0.5,
            kind: Fault::Busy,
        };
        let a = Faults::new(9);
        a.set("/x", spec.clone());
        let b = Faults::new(9);
        b.set("/x", spec);
        let pa = pattern(&a);
        assert_eq!(pa, pattern(&b));
        assert!(pa.iter().any(|x| *x) && pa.iter().any(|x| !*x));
    }

    #[test]
    fn wildcard_applies_when_no_specific_fault() {
        let f = Faults::new(1);
        f.set(
            "*",
            FaultSpec {
                rate: 1.0,
                kind: Fault::Drop,
            },
        );
        assert_eq!(f.decide("/anything"), Some(Fault::Drop));
        f.clear();
        assert_eq!(f.decide("/anything"), None);
    }
}
