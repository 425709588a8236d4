//! Naive forecasters: the seasonal-naive baselines (repeat the last cycle) and the last value.

/// Repeats the last `period` values of `y` for `h` steps. `period == 1` is the naive (last
/// value) forecast. Returns `None` when `y` is shorter than one period or `period == 0`.
pub(crate) fn seasonal_naive(y: &[f64], period: usize, h: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if period == 0 || n < period {
        return None;
    }
    Some((0..h).map(|k| y[n - period + (k % period)]).collect())
}

/// In-sample mean absolute error of the seasonal-naive forecast at lag `period` (the MASE
/// scale), over the pairs whose two values were observed (`observed[i]`; a filled gap is not
/// an error of the naive). `None` when no pair is left.
pub(crate) fn seasonal_naive_mae(y: &[f64], observed: &[bool], period: usize) -> Option<f64> {
    if period == 0 || observed.len() != y.len() {
        return None;
    }
    let (sum, count) = (period..y.len())
        .filter(|&i| observed[i] && observed[i - period])
        .fold((0.0, 0usize), |(s, c), i| {
            (s + (y[i] - y[i - period]).abs(), c + 1)
        });
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_last_cycle() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            seasonal_naive(&y, 2, 5).unwrap(),
            vec![4.0, 5.0, 4.0, 5.0, 4.0]
        );
        assert_eq!(seasonal_naive(&y, 1, 2).unwrap(), vec![5.0, 5.0]);
        assert!(seasonal_naive(&y, 6, 2).is_none());
        assert!(seasonal_naive(&y, 0, 2).is_none());
        let all = [true; 5];
        assert_eq!(seasonal_naive_mae(&y, &all, 1), Some(1.0));
        assert_eq!(seasonal_naive_mae(&y, &all, 5), None);
        // a filled value drops both pairs it is part of
        let z = [1.0, 2.0, 30.0, 4.0, 5.0];
        let gap = [true, true, false, true, true];
        assert_eq!(seasonal_naive_mae(&z, &gap, 1), Some(1.0));
        assert_eq!(seasonal_naive_mae(&z, &gap[..4], 1), None);
    }
}
