//! Counts per second of stream time over a fixed span: the sliding horizons count from these.

/// A counter of a ring: `u32`, or `u16` where many rings are kept and a second rarely holds
/// more (a count that would overflow stays at the maximum).
pub trait Count: Copy + Default + Into<u32> {
    fn plus(self, n: u32) -> Self;
}

impl Count for u32 {
    fn plus(self, n: u32) -> Self {
        self.saturating_add(n)
    }
}

impl Count for u16 {
    fn plus(self, n: u32) -> Self {
        u16::try_from(u32::from(self).saturating_add(n)).unwrap_or(u16::MAX)
    }
}

/// Counts per second over the last `len` seconds of stream time. Bounded whatever the rate:
/// one counter per second, however many lines arrive in it.
#[derive(Debug, Clone)]
pub struct Ring<C: Count = u32> {
    counts: Box<[C]>,
    /// The second the newest counter stands for.
    newest: i64,
}

impl<C: Count> Ring<C> {
    /// A ring covering `len` seconds (at least 1), ending at second `now`.
    pub fn new(len: usize, now: i64) -> Self {
        Ring {
            counts: vec![C::default(); len.max(1)].into_boxed_slice(),
            newest: now,
        }
    }

    fn len(&self) -> i64 {
        self.counts.len() as i64
    }

    fn slot(&self, second: i64) -> usize {
        second.rem_euclid(self.len()) as usize
    }

    /// Moves the ring on to `now`, zeroing the seconds it passes; an older `now` changes nothing.
    pub fn advance(&mut self, now: i64) {
        if now <= self.newest {
            return;
        }
        if now - self.newest >= self.len() {
            self.counts.fill(C::default());
        } else {
            for second in self.newest + 1..=now {
                let slot = self.slot(second);
                self.counts[slot] = C::default();
            }
        }
        self.newest = now;
    }

    /// Counts `n` at `second`: a second newer than the ring moves it on, one older than it holds
    /// is dropped (a line that late no longer falls in any horizon).
    pub fn add(&mut self, second: i64, n: u32) {
        self.advance(second);
        if second <= self.newest - self.len() {
            return;
        }
        let slot = self.slot(second);
        self.counts[slot] = self.counts[slot].plus(n);
    }

    /// The sum over the seconds `(from, to]` the ring still holds.
    pub fn sum(&self, from: i64, to: i64) -> u32 {
        let to = to.min(self.newest);
        let from = from.max(self.newest - self.len());
        (from + 1..=to)
            .map(|s| self.counts[self.slot(s)].into())
            .sum()
    }

    /// The sums over the last `h` seconds up to `now`, for each of the `horizons` (shortest
    /// first), in one pass.
    pub fn sums<const N: usize>(&self, now: i64, horizons: [i64; N]) -> [u32; N] {
        let mut sums = [0; N];
        let mut total = 0u32;
        let mut second = now.min(self.newest);
        let oldest = self.newest - self.len();
        for (sum, h) in sums.iter_mut().zip(horizons) {
            let from = (now - h).max(oldest);
            while second > from {
                total = total.saturating_add(self.counts[self.slot(second)].into());
                second -= 1;
            }
            *sum = total;
        }
        sums
    }

    /// The earliest second in `(from, to]` with a count, if any.
    pub fn first_in(&self, from: i64, to: i64) -> Option<i64> {
        let to = to.min(self.newest);
        let from = from.max(self.newest - self.len());
        (from + 1..=to).find(|&s| self.counts[self.slot(s)].into() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_slide_with_time_and_forget_what_left_the_ring() {
        let mut ring: Ring = Ring::new(10, 100);
        ring.add(100, 2);
        ring.add(103, 1);
        ring.add(95, 4);
        assert_eq!(ring.sum(90, 103), 7);
        assert_eq!(ring.sum(100, 103), 1, "(100, 103] leaves out 100");
        assert_eq!(ring.first_in(90, 103), Some(95));
        ring.advance(106);
        assert_eq!(ring.sum(90, 106), 3, "95 left the ten seconds");
        ring.add(80, 5);
        assert_eq!(ring.sum(0, 106), 3, "too late for any horizon");
        assert_eq!(ring.sums(106, [1, 5, 20]), [0, 1, 3]);
        assert_eq!(
            ring.sums(104, [2, 10]),
            [1, 3],
            "now before the newest second"
        );
        ring.advance(1000);
        assert_eq!(ring.sum(0, 1000), 0);
    }

    #[test]
    fn an_older_time_does_not_move_the_ring_back() {
        let mut ring: Ring<u16> = Ring::new(5, 10);
        ring.add(10, 70_000);
        assert_eq!(ring.sum(5, 10), 65_535, "a small counter saturates");
        let mut ring: Ring = Ring::new(5, 10);
        ring.add(10, 1);
        ring.advance(3);
        assert_eq!(ring.sum(5, 10), 1);
    }
}
