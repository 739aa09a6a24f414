//! Rules (matcher + fault + schedule) and the ordered set the proxy consults.

use http::request::Parts;

use super::fault::Fault;
use super::matcher::Matcher;
use super::s3op::S3Op;

/// Identifies a rule added to a proxy, for [`super::FaultProxy::hits`] and removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u64);

/// Which of a rule's matching requests it fires on; counts are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// Every matching request.
    Always,
    /// The first `n` matching requests.
    First(usize),
    /// The `n`th, `2n`th, `3n`th ... matching request; never when `n` is 0.
    EveryNth(usize),
    /// Only the `n`th matching request.
    Nth(usize),
    /// The first `n` matching requests for each path (each key): e.g. the
    /// first `CreateMultipartUpload` of every copy, whatever their order.
    FirstPerPath(usize),
}

impl Times {
    /// True when the rule fires on its `count`th matching request.
    pub fn allows(self, count: usize) -> bool {
        match self {
            Times::Always => true,
            Times::First(n) => count <= n,
            Times::EveryNth(n) => n != 0 && count.is_multiple_of(n),
            Times::Nth(n) => count == n,
            Times::FirstPerPath(n) => count <= n,
        }
    }
}

/// A fault to inject into the requests a matcher selects, on a schedule.
#[derive(Debug, Clone)]
pub struct Rule {
    matcher: Matcher,
    fault: Fault,
    times: Times,
}

impl Rule {
    /// A rule that injects `fault` into every request `matcher` selects.
    pub fn new(matcher: Matcher, fault: Fault) -> Self {
        Self {
            matcher,
            fault,
            times: Times::Always,
        }
    }

    /// Restricts which matching requests the rule fires on.
    pub fn times(mut self, times: Times) -> Self {
        self.times = times;
        self
    }
}

/// One installed rule with its counters.
#[derive(Debug)]
struct Installed {
    id: RuleId,
    rule: Rule,
    matched: usize,
    fired: usize,
    /// Matches by request path, for [`Times::FirstPerPath`].
    matched_per_path: std::collections::HashMap<String, usize>,
}

/// The rules of one proxy, consulted in the order they were added.
#[derive(Debug, Default)]
pub(super) struct RuleSet {
    next_id: u64,
    rules: Vec<Installed>,
}

impl RuleSet {
    /// Installs a rule after the existing ones.
    pub(super) fn add(&mut self, rule: Rule) -> RuleId {
        let id = RuleId(self.next_id);
        self.next_id += 1;
        self.rules.push(Installed {
            id,
            rule,
            matched: 0,
            fired: 0,
            matched_per_path: Default::default(),
        });
        id
    }

    /// Removes a rule; false when it was not installed.
    pub(super) fn remove(&mut self, id: RuleId) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Removes every rule.
    pub(super) fn clear(&mut self) {
        self.rules.clear();
    }

    /// How many times the rule has fired; 0 for a rule not installed.
    pub(super) fn hits(&self, id: RuleId) -> usize {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.fired)
    }

    /// Picks the fault for a request: the first rule that matches and whose schedule allows.
    ///
    /// A rule counts a match only when the request reaches it, i.e. no earlier rule fired.
    pub(super) fn select(&mut self, parts: &Parts, op: S3Op) -> Option<(RuleId, Fault)> {
        for installed in &mut self.rules {
            if !installed.rule.matcher.matches(parts, op) {
                continue;
            }
            installed.matched += 1;
            let count = match installed.rule.times {
                Times::FirstPerPath(_) => {
                    let path = installed
                        .matched_per_path
                        .entry(parts.uri.path().to_owned())
                        .or_default();
                    *path += 1;
                    *path
                }
                _ => installed.matched,
            };
            if installed.rule.times.allows(count) {
                installed.fired += 1;
                return Some((installed.id, installed.rule.fault.clone()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;
    use std::time::Duration;

    #[test]
    fn times_schedules() {
        let fired = |t: Times| (1..=6).filter(|&c| t.allows(c)).collect::<Vec<_>>();
        assert_eq!(fired(Times::Always), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(fired(Times::First(2)), vec![1, 2]);
        assert_eq!(fired(Times::EveryNth(2)), vec![2, 4, 6]);
        assert_eq!(fired(Times::EveryNth(0)), Vec::<usize>::new());
        assert_eq!(fired(Times::Nth(3)), vec![3]);
    }

    #[test]
    fn first_allowed_rule_fires_and_later_rules_see_the_rest() {
        let mut set = RuleSet::default();
        let delay = Fault::Delay(Duration::from_millis(1));
        let first = set.add(Rule::new(Matcher::any(), delay.clone()).times(Times::First(1)));
        let second = set.add(Rule::new(Matcher::any(), delay));
        let (parts, ()) = Request::builder()
            .uri("/b/k")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            set.select(&parts, S3Op::GetObject).map(|s| s.0),
            Some(first)
        );
        assert_eq!(
            set.select(&parts, S3Op::GetObject).map(|s| s.0),
            Some(second)
        );
        assert_eq!((set.hits(first), set.hits(second)), (1, 1));
        assert!(set.remove(second));
        assert!(set.select(&parts, S3Op::GetObject).is_none());
        assert_eq!(set.hits(second), 0);
    }
}
