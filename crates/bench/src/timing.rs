//! Small helpers of time shared by the benches: a bounded poll, and how durations print.

use std::time::Duration;

pub use ovn_ha_local::poll::poll;

/// Seconds with two decimals, or a dash for none.
pub fn secs(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// Median (the upper one of an even count) and max of the values present.
pub fn median_max(mut v: Vec<Duration>) -> (Option<Duration>, Option<Duration>) {
    v.sort();
    (v.get(v.len() / 2).copied(), v.last().copied())
}

/// `1m05s`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_and_medians_pick_the_upper_middle() {
        let d = Duration::from_millis;
        assert_eq!(median_max(vec![d(3), d(1), d(2)]), (Some(d(2)), Some(d(3))));
        assert_eq!(median_max(vec![d(4), d(1)]), (Some(d(4)), Some(d(4))));
        assert_eq!(median_max(vec![]), (None, None));
        assert_eq!(secs(Some(d(1234))), "1.23");
        assert_eq!(secs(None), "–");
        assert_eq!(clock(Duration::from_secs(65)), "1m05s");
        assert!(
            poll(Duration::from_secs(1), || true).is_some_and(|t| t < Duration::from_millis(50))
        );
        assert_eq!(poll(Duration::from_millis(250), || false), None);
    }
}
