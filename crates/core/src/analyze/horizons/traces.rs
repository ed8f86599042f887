//! Traces: which line followed which, and how long the hop from one service to the next took.
//!
//! Events that carry a trace id are one request's story across services. For every trace the
//! table keeps only its last line (when, which service, which template, and the first service
//! of the trace that logged an error), so following a trace costs one map entry however long
//! it runs. Each new line of a trace yields the transition from the previous line to it, and,
//! when the two came from different services, a hop: the time from the caller's line to the
//! callee's (or back), which grows when the network or the callee slows down. A trace without a
//! line for `idle` has ended: its last line had no successor.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::miner::{FastBuild, TemplateId};

/// A line's place in the paths: the service that called its service in this trace, its
/// service, and its template. The caller is part of the key because what follows a callee's
/// line is the return to whoever called it: with the caller known, the successor is the path's
/// own, not the traffic mix of its callers.
pub type PathKey = (u32, u32, TemplateId);

/// A successor in the paths: a service and a template. Its own caller is no part of it: the
/// line after a call returns is the same line whoever called the caller.
pub type Next = (u32, TemplateId);

/// Calls followed per trace; deeper ones count as the deepest.
const DEPTH: usize = 8;

/// The services of a trace that are waiting on a call, outermost first. A trace's lines come
/// in the order a synchronous call tree runs: a line of a service not on the stack is a call
/// into it, a line of a service below the top is the return to it.
#[derive(Debug, Clone, Copy)]
struct Calls {
    services: [u32; DEPTH],
    len: u8,
}

impl Calls {
    fn new(service: u32) -> Self {
        let mut services = [0; DEPTH];
        services[0] = service;
        Calls { services, len: 1 }
    }

    fn top(&self) -> u32 {
        self.services[usize::from(self.len) - 1]
    }

    /// The service that called the top one (the top itself at the trace's root).
    fn caller(&self) -> u32 {
        self.services[usize::from(self.len.saturating_sub(2))]
    }

    /// Moves to a line of `service`: back to it when it waits on the stack, else into it.
    fn enter(&mut self, service: u32) {
        let len = usize::from(self.len);
        match self.services[..len].iter().rposition(|&s| s == service) {
            Some(at) => self.len = (at + 1) as u8,
            None if len < DEPTH => {
                self.services[len] = service;
                self.len += 1;
            }
            None => self.services[DEPTH - 1] = service,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Tail {
    millis: i64,
    calls: Calls,
    template: TemplateId,
    /// The first service of the trace that logged an error or a warning.
    first_error: Option<u32>,
}

/// The time between two lines of one trace from different services.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hop {
    /// The service of the later line.
    pub into: u32,
    pub millis: i64,
}

/// What one line of a trace tells.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Step {
    /// The previous line of its trace, and this one.
    pub transition: Option<(PathKey, Next)>,
    pub hop: Option<Hop>,
    /// The first service of the trace that logged an error before this line.
    pub first_error: Option<u32>,
}

/// The open traces, bounded.
#[derive(Debug)]
pub struct Traces {
    open: HashMap<u64, Tail, FastBuild>,
    /// `(millis, trace)` in the order lines arrived; an entry whose trace has a later line
    /// since is stale and skipped.
    order: VecDeque<(i64, u64)>,
    limit: usize,
    idle: i64,
}

impl Traces {
    /// Traces open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn new(limit: usize, idle: Duration) -> Self {
        Traces {
            open: HashMap::default(),
            order: VecDeque::new(),
            limit: limit.max(1),
            idle: i64::try_from(idle.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Follows a line of `trace`; `bad` when it is an error or a warning.
    pub fn step(
        &mut self,
        trace: u64,
        millis: i64,
        service: u32,
        template: TemplateId,
        bad: bool,
    ) -> Step {
        let step = match self.open.get_mut(&trace) {
            Some(tail) => {
                let gap = millis - tail.millis;
                let from = (tail.calls.caller(), tail.calls.top(), tail.template);
                let other = tail.calls.top() != service;
                tail.calls.enter(service);
                let step = Step {
                    transition: Some((from, (service, template))),
                    hop: (other && gap >= 0).then_some(Hop {
                        into: service,
                        millis: gap,
                    }),
                    first_error: tail.first_error,
                };
                tail.millis = tail.millis.max(millis);
                tail.template = template;
                if bad && tail.first_error.is_none() {
                    tail.first_error = Some(service);
                }
                step
            }
            None => {
                if self.open.len() >= self.limit {
                    self.drop_oldest();
                }
                self.open.insert(
                    trace,
                    Tail {
                        millis,
                        calls: Calls::new(service),
                        template,
                        first_error: bad.then_some(service),
                    },
                );
                Step::default()
            }
        };
        self.order.push_back((millis, trace));
        if self.order.len() > 4 * self.limit {
            self.compact();
        }
        step
    }

    /// Ends the traces idle at `now` (milliseconds); returns their last lines.
    pub fn expire(&mut self, now: i64) -> Vec<PathKey> {
        let mut ended = Vec::new();
        while let Some(&(millis, trace)) = self.order.front() {
            if millis > now - self.idle {
                break;
            }
            self.order.pop_front();
            if let Some(tail) = self.open.get(&trace)
                && tail.millis <= millis
            {
                ended.push((tail.calls.caller(), tail.calls.top(), tail.template));
                self.open.remove(&trace);
            }
        }
        ended
    }

    /// Makes room by forgetting the trace whose last line is oldest (its end is not known).
    fn drop_oldest(&mut self) {
        while let Some((millis, trace)) = self.order.pop_front() {
            if self.open.get(&trace).is_some_and(|t| t.millis <= millis) {
                self.open.remove(&trace);
                return;
            }
        }
    }

    /// Drops the stale entries of `order`.
    fn compact(&mut self) {
        let open = &self.open;
        self.order
            .retain(|(millis, trace)| open.get(trace).is_some_and(|t| t.millis <= *millis));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TemplateId = TemplateId(1);
    const U: TemplateId = TemplateId(2);

    #[test]
    fn a_trace_yields_transitions_hops_and_its_end() {
        let mut traces = Traces::new(16, Duration::from_secs(10));
        assert_eq!(traces.step(7, 1_000, 0, T, false), Step::default());
        let step = traces.step(7, 1_250, 1, U, true);
        assert_eq!(step.transition, Some(((0, 0, T), (1, U))));
        assert_eq!(
            step.hop,
            Some(Hop {
                into: 1,
                millis: 250
            })
        );
        assert_eq!(step.first_error, None);
        let back = traces.step(7, 1_300, 0, T, true);
        assert_eq!(back.first_error, Some(1), "the callee failed first");
        assert_eq!(back.transition, Some(((0, 1, U), (0, T))), "back from 1");
        assert!(traces.expire(5_000).is_empty(), "not idle yet");
        assert_eq!(traces.expire(11_300), vec![(0, 0, T)]);
        assert!(traces.expire(100_000).is_empty(), "ended once");
    }

    #[test]
    fn a_callee_line_keeps_its_caller_across_its_own_calls() {
        let mut traces = Traces::new(16, Duration::from_secs(10));
        // 0 calls 1, which calls 2 and gets its answer: 1's next line is still 0's callee.
        traces.step(9, 0, 0, T, false);
        traces.step(9, 1, 1, T, false);
        traces.step(9, 2, 2, T, false);
        let step = traces.step(9, 3, 1, U, false);
        assert_eq!(step.transition, Some(((1, 2, T), (1, U))));
        let calls = traces.open[&9].calls;
        assert_eq!((calls.caller(), calls.top()), (0, 1));
    }

    #[test]
    fn lines_of_one_service_are_no_hop_and_the_table_stays_bounded() {
        let mut traces = Traces::new(2, Duration::from_secs(10));
        traces.step(1, 0, 0, T, false);
        assert_eq!(traces.step(1, 5, 0, U, false).hop, None);
        for trace in 2..100 {
            traces.step(trace, trace as i64, 0, T, false);
        }
        assert!(traces.open.len() <= 2);
        assert!(traces.order.len() <= 8);
    }
}
