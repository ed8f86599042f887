//! Tail probabilities of the counts the analyzer tests: how surprising an observation is under
//! the usual behaviour. Computed in log space so that the tiny probabilities of a real outage
//! (1e-40 and below) are exact enough to rank, and never by a sum longer than the count.

/// `ln(n!)`: exact below 32, Stirling's series (error under 1e-10) above.
pub fn ln_factorial(n: u32) -> f64 {
    if n < 32 {
        return (2..=n).map(|k| f64::from(k).ln()).sum();
    }
    let n = f64::from(n);
    n * n.ln() - n + 0.5 * (std::f64::consts::TAU * n).ln() + 1.0 / (12.0 * n)
        - 1.0 / (360.0 * n * n * n)
}

/// Terms of a tail, summed from its largest term outward until they no longer matter.
fn tail_sum(first_log_term: f64, mut ratio: impl FnMut(u32) -> f64, terms: u32) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 0..terms {
        term *= ratio(i);
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    (first_log_term + sum.ln()).exp().min(1.0)
}

/// `P(N >= n)` for `N ~ Poisson(mu)`.
pub fn poisson_at_least(n: u32, mu: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // Nothing is expected: any line is a surprise; an expectation that is no number (or
    // infinite) surprises by nothing.
    if mu <= 0.0 {
        return 0.0;
    }
    if !mu.is_finite() {
        return 1.0;
    }
    if f64::from(n) <= mu {
        return (1.0 - poisson_at_most(n - 1, mu)).max(0.0);
    }
    let log_first = -mu + f64::from(n) * mu.ln() - ln_factorial(n);
    // term(n + i + 1) / term(n + i) = mu / (n + i + 1) < 1: a geometric-like tail.
    tail_sum(
        log_first,
        |i| mu / (f64::from(n) + f64::from(i) + 1.0),
        10_000,
    )
}

/// `P(N <= n)` for `N ~ Poisson(mu)`.
pub fn poisson_at_most(n: u32, mu: f64) -> f64 {
    if mu <= 0.0 || !mu.is_finite() {
        return 1.0;
    }
    if f64::from(n) >= mu {
        return (1.0 - poisson_at_least(n.saturating_add(1), mu)).max(0.0);
    }
    let log_first = -mu + f64::from(n) * mu.ln() - ln_factorial(n);
    // term(n - i - 1) / term(n - i) = (n - i) / mu < 1.
    tail_sum(log_first, |i| f64::from(n - i) / mu, n)
}

/// `P(K <= k)` for `K ~ Binomial(n, p)`, for `k` below the mean (the only case the analyzer
/// asks about: a share that fell).
pub fn binomial_at_most(k: u32, n: u32, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let log_first = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
        + f64::from(k) * p.ln()
        + f64::from(n - k) * (1.0 - p).ln();
    let odds = (1.0 - p) / p;
    // term(j - 1) / term(j) = j / (n - j + 1) · (1 - p) / p, for j = k, k - 1, …
    tail_sum(
        log_first,
        |i| f64::from(k - i) / f64::from(n - k + i + 1) * odds,
        k,
    )
}

/// `P(Z >= z)` for a standard normal `Z`.
pub fn normal_above(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, by the Chebyshev fit of Numerical Recipes (`erfcc`):
/// relative error under 1.2e-7 everywhere, including far in the tail.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// How surprising a probability is, in decimal orders of magnitude (`p = 1e-7` is 7), capped so
/// that one overwhelming signal cannot hide every other.
pub fn surprise(p: f64, cap: f64) -> f64 {
    if p <= 0.0 {
        return cap;
    }
    (-p.log10()).clamp(0.0, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-300)
    }

    /// Direct sums, for small arguments.
    fn poisson_pmf(k: u32, mu: f64) -> f64 {
        (-mu + f64::from(k) * mu.ln() - ln_factorial(k)).exp()
    }

    #[test]
    fn factorials_are_exact_and_stirling_joins_them() {
        assert_eq!(ln_factorial(0), 0.0);
        assert!(close(ln_factorial(5), 120f64.ln()));
        let exact: f64 = (2..=40).map(|k| f64::from(k).ln()).sum();
        assert!(close(ln_factorial(40), exact));
    }

    #[test]
    fn poisson_tails_match_direct_sums() {
        for mu in [0.01, 0.5, 3.0, 12.0, 40.0] {
            for n in [0u32, 1, 2, 5, 10, 30, 60] {
                let below: f64 = (0..=n).map(|k| poisson_pmf(k, mu)).sum();
                let above: f64 = (n..n + 400).map(|k| poisson_pmf(k, mu)).sum();
                assert!(
                    close(poisson_at_most(n, mu), below.min(1.0)),
                    "mu {mu} n {n}"
                );
                assert!(
                    (poisson_at_least(n, mu) - above.min(1.0)).abs() < 1e-9
                        || close(poisson_at_least(n, mu), above),
                    "mu {mu} n {n}: {} vs {above}",
                    poisson_at_least(n, mu)
                );
            }
        }
    }

    #[test]
    fn far_tails_stay_exact_where_a_complement_would_round_to_zero() {
        // Three lines where 0.001 were expected: about mu^3 / 6.
        assert!(close(poisson_at_least(3, 0.001), 1.665_417_166_527_8e-10));
        // Nothing where 30 were expected: e^-30.
        assert!(close(poisson_at_most(0, 30.0), (-30f64).exp()));
        assert!(poisson_at_least(60, 1.0) > 0.0, "1/60! is still a number");
        assert!(
            poisson_at_least(u32::MAX, 5.0) < 1e-300,
            "no overflow at the largest count"
        );
        assert_eq!(poisson_at_least(3, f64::NAN), 1.0, "no number: no surprise");
        assert_eq!(poisson_at_least(3, f64::INFINITY), 1.0);
    }

    #[test]
    fn binomial_lower_tail_matches_a_direct_sum() {
        let pmf = |i: u32, n: u32, p: f64| {
            (ln_factorial(n) - ln_factorial(i) - ln_factorial(n - i)
                + f64::from(i) * p.ln()
                + f64::from(n - i) * (1.0 - p).ln())
            .exp()
        };
        for (k, n, p) in [(0, 10, 0.9), (2, 20, 0.95), (5, 40, 0.5), (1, 3, 0.2)] {
            let direct: f64 = (0..=k).map(|i| pmf(i, n, p)).sum();
            assert!(close(binomial_at_most(k, n, p), direct), "{k} {n} {p}");
        }
        assert_eq!(binomial_at_most(10, 10, 0.5), 1.0);
    }

    #[test]
    fn normal_tail_is_accurate_far_out() {
        assert!((normal_above(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_above(1.959_964) - 0.025).abs() < 1e-7);
        // 1 - Phi(8) = 6.22e-16
        assert!((normal_above(8.0) / 6.220_960_574_271_785e-16 - 1.0).abs() < 1e-6);
        assert!((normal_above(-3.0) - 0.998_650_1).abs() < 1e-6);
    }

    #[test]
    fn surprise_is_capped_orders_of_magnitude() {
        assert!((surprise(1e-7, 50.0) - 7.0).abs() < 1e-9);
        assert_eq!(surprise(0.0, 50.0), 50.0);
        assert_eq!(surprise(1e-80, 50.0), 50.0);
        assert_eq!(surprise(1.0, 50.0), 0.0);
    }
}
